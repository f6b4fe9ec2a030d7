package Chatvisor::Cluster;

# A JetStream cluster of nats-servers on loopback ports, and nginx nodes
# (Chatvisor::Test objects) that use it through `chatvisor_cluster`, for
# the tests of several nodes (issue 15, docs/cluster.md).
#
#   use Chatvisor::Cluster;
#   Chatvisor::Cluster::skip_unless_nats();   # skip_all without nats-server
#   my $c = Chatvisor::Cluster->new(servers => 3);
#   $c->start;                     # every server; waits for a meta leader
#   my @n = $c->nodes(3);          # 3 nginx nodes, each on its own store
#   $_->run for @n;                #   (Chatvisor::Test objects, not run)
#   $c->kill(1);                   # kill -9 server 1 (0-based)
#   $c->wait_leader(among => [0, 2]) or die;
#   $c->start_server(1);           # again, on its store
#   $n[0]->kill9; $n[0]->run;      # kill -9 of a whole nginx node, restart
#   $c->isolate(2); ...; $c->rejoin(2);
#
# Servers (0-based index I; each has a name sI, a client, a cluster and a
# monitoring port from Chatvisor::Port, a store_dir and a log in the
# cluster's temp dir):
#   new(servers => K, cluster_name =>, extra => TEXT, extra_server => sub)
#                     K servers (default 3; 1: JetStream without a
#                     cluster block), not started; extra: text added
#                     to every server's config (accounts, tls, ...);
#                     extra_server: sub(I) giving more text for server I
#   start             starts every server that is not running, then
#                     wait_ready (dies with the logs when they do not form)
#   start_server(I)   starts server I on its own store (again, after kill
#                     or stop); waits for its client and monitoring ports
#   kill(I)           kill -9, reaped
#   stop(I)           SIGTERM (nats-server's clean shutdown), reaped
#   restart(I)        stop then start_server
#   reload(I)         writes I's config again (after a change of extra or
#                     extra_server) and sends it SIGHUP (nats-server's
#                     reload: accounts, resolver_preload, ...)
#   isolate(I)        restarts I on its store with a new cluster port and
#                     a route to nowhere, so that no peer reaches it nor it them:
#                     a lone minority (no JetStream quorum) whose client
#                     port still answers; clients of I only ever talk to I
#                     (servers do not advertise each other to clients)
#   rejoin(I)         restarts I with its routes back; waits for a leader
#   running(I)        whether server I is running; pid(I)
#   url(I)            nats://127.0.0.1:CLIENT_PORT of server I
#   urls(I, ...)      comma-joined urls of those servers (all by default),
#                     the argument chatvisor_cluster takes
#   client_port(I) cluster_port(I) monitor_port(I) name(I)
#   monitor(I, PATH)  GET http://127.0.0.1:MONITOR/PATH decoded (undef
#                     when it does not answer): varz, jsz, healthz, ...
#   meta_leader(I)    the JetStream meta leader's name as server I sees it
#                     (undef: none, or I does not answer)
#   wait_leader(among => [I...], timeout => S)   the leader's name once
#                     every server named (default: every running one) sees
#                     the same leader and it is one of them; undef after
#                     the timeout (default 30 s)
#   wait_ready(timeout => S)   wait_leader over every running server and
#                     every one of them saying JetStream is healthy; dies
#   stream(I, NAME)   the stream's state as server I reports it (jsz with
#                     streams): {messages, first_seq, last_seq, ...} or
#                     undef
#   log(I)            the server's log; dir: the cluster's temp dir
#
# nginx nodes:
#   node(template => TMPL, servers => [I...], vars => {...}, args => STR)
#                     a new Chatvisor::Test with TMPL (default:
#                     node_template) written; %%NATS_URLS%% is urls(I...)
#                     (every server by default), %%CLUSTER_ARGS%% is args
#                     (default ''), %%API_SECRET_FILE%% a file holding
#                     api_secret (the same on every node, client "crm")
#   nodes(N, %o)      N of them
#   node_template     the default: 2 workers, a store in the node's dir,
#                     `chatvisor_cluster %%NATS_URLS%% %%CLUSTER_ARGS%%;`,
#                     the API client crm, no abuse limits (the tests'
#                     writers are fast), /chatvisor/ with a 2 s long-poll
#   api_secret        the shared secret of API client crm
#
# Helpers of the tests of several nodes (REST calls are not checked
# against the spec here; the single-node tests do that):
#   skip_unless_core  skip_all when this build's module does not know
#                     chatvisor_cluster (nginx -t of a node says so)
#   api(T, timeout => S)        a Chatvisor::API on node T, logged in as
#                     crm (retried while the node is not ready); dies
#   wait_writable(T, timeout => S)   true once every worker of node T
#                     logged that it reads the stream, and T answers 2xx
#                     to a visitor's message (a probe visitor of its own)
#                     and to a REST write (PUT agents/cluster-probe)
#   console(T, ID, api => API)  agent ID's console logged in on node T: a
#                     login URL from the REST API (API, or one on T) used
#                     on T (chatvisorctl refuses a cluster node's store);
#                     a Chatvisor::Chat::Agent; dies
#   until_ok(MAX, CODE)         CODE's first true answer, asked every
#                     50 ms for MAX seconds (undef after); exported on
#                     request: use Chatvisor::Cluster qw(until_ok)
#   refused_ok(R, NAME)         a subtest: answer R is the cluster's 503
#                     with a JSON error {code, message}; exported on
#                     request
#   messages(T, API, CONV)      every message of CONV as node T lists it
#                     (GET conversations/CONV/messages, paged): [{...}]
#   wait_texts(T, API, CONV, [TEXT...], timeout => S)   the messages once
#                     every TEXT is among them (or at the timeout)
#   start_writer(T, cookie => C, prefix => P, max => N, pause => S)
#                     a child process posting visitor messages "P-1",
#                     "P-2", ... (client_msg_id the same) on node T with
#                     the visitor cookie C, one at a time, each attempt
#                     once, until stopped or N; a Chatvisor::Cluster::Writer:
#                     ->acked (texts answered 2xx, in order), ->failed
#                     ([text, status]), ->attempts, ->stop, ->wait_acked(N,
#                     S), ->longest_gap (seconds between two acks)

# Every process dies with the test (Chatvisor::Proc), servers are killed
# when the object goes, and the temp dir is removed unless
# CHATVISOR_TEST_KEEP=1 (or the test failed and CHATVISOR_TEST_KEEP is
# unset: then the servers' log tails are printed as diagnostics).

use strict;
use warnings;

use File::Path ();
use File::Temp ();
use HTTP::Tiny ();
use JSON::PP ();
use POSIX ();
use Test::More ();
use Time::HiRes ();

use Chatvisor::Port ();
use Chatvisor::Proc ();
use Chatvisor::Test ();

use Exporter 'import';
our @EXPORT_OK = qw(until_ok refused_ok);

our $NATS_SERVER = $ENV{CHATVISOR_NATS_SERVER} || 'nats-server';

my $JSON = JSON::PP->new->utf8->canonical;

# The nats-server binary's path, or undef.
sub nats_server {
    return -x $NATS_SERVER ? $NATS_SERVER : undef if $NATS_SERVER =~ m{/};
    for my $d (split /:/, $ENV{PATH} // '', -1) {
        my $p = ($d eq '' ? '.' : $d) . "/$NATS_SERVER";
        return $p if -x $p && !-d $p;
    }
    for my $p ("/usr/bin/$NATS_SERVER", "/usr/sbin/$NATS_SERVER") {
        return $p if -x $p;
    }
    return undef;
}

# skip_all unless nats-server is installed (scripts/install-deps.sh test
# installs it)
sub skip_unless_nats {
    Test::More::plan(skip_all => 'nats-server is not installed'
                                 . ' (scripts/install-deps.sh test)')
        unless nats_server();
}

sub new {
    my ($class, %o) = @_;
    my $bin = nats_server() or die "Chatvisor::Cluster: no nats-server\n";
    my $k = $o{servers} // 3;
    my $dir = File::Temp::tempdir('chatvisor-nats-XXXXXXXX', TMPDIR => 1,
                                  CLEANUP => 0);
    chmod 0755, $dir;
    my @chars = ('a' .. 'z', 'A' .. 'Z', '0' .. '9');
    my $self = bless {
        bin     => $bin,
        dir     => $dir,
        name    => $o{cluster_name} // 'chatvisor-test',
        extra   => $o{extra} // '',
        extra_server => $o{extra_server},
        owner   => $$,
        keep    => $ENV{CHATVISOR_TEST_KEEP} ? 1 : 0,
        servers => [],
        secret  => join('', map { $chars[rand @chars] } 1 .. 48),
    }, $class;
    for my $i (0 .. $k - 1) {
        push @{ $self->{servers} }, {
            name    => "s$i",
            client  => Chatvisor::Port::free_port(),
            cluster => Chatvisor::Port::free_port(),
            monitor => Chatvisor::Port::free_port(),
        };
        File::Path::make_path("$dir/s$i/js", { mode => 0755 });
    }
    open my $fh, '>', "$dir/crm.secret" or die "write $dir/crm.secret: $!\n";
    print $fh "$self->{secret}\n";
    close $fh;
    chmod 0600, "$dir/crm.secret";
    return $self;
}

sub dir { $_[0]{dir} }
sub size { scalar @{ $_[0]{servers} } }
sub api_secret { $_[0]{secret} }
sub api_secret_file { "$_[0]{dir}/crm.secret" }
sub _s { $_[0]{servers}[$_[1]] // die "no server $_[1]\n" }
sub name { $_[0]->_s($_[1])->{name} }
sub client_port { $_[0]->_s($_[1])->{client} }
sub cluster_port { $_[0]->_s($_[1])->{cluster} }
sub monitor_port { $_[0]->_s($_[1])->{monitor} }
sub pid { $_[0]->_s($_[1])->{pid} }
sub url { 'nats://127.0.0.1:' . $_[0]->client_port($_[1]) }

sub urls {
    my ($self, @i) = @_;
    @i = (0 .. $self->size - 1) unless @i;
    return join ',', map { $self->url($_) } @i;
}

sub log {
    my ($self, $i) = @_;
    open my $fh, '<', "$self->{dir}/s$i.log" or return '';
    local $/;
    return scalar <$fh> // '';
}

# The server's config. isolated: no routes and a cluster port no peer
# knows, so it is alone with its store (a minority of the meta group).
sub _config {
    my ($self, $i, %o) = @_;
    my $s = $self->_s($i);
    my $dir = $self->{dir};
    my $cport = $s->{cluster};
    my @routes;
    if ($o{isolated}) {
        $cport = $s->{isolated_port} //= Chatvisor::Port::free_port();
        # a JetStream cluster must have routes to start: one to a port
        # nothing listens on
        $s->{dead_route} //= Chatvisor::Port::free_port();
        @routes = ("nats-route://127.0.0.1:$s->{dead_route}");
    } else {
        @routes = map { 'nats-route://127.0.0.1:' . $self->cluster_port($_) }
                  grep { $_ != $i } 0 .. $self->size - 1;
    }
    my $routes = join ', ', map { "\"$_\"" } @routes;
    my $extra = $self->{extra};
    $extra .= "\n" . $self->{extra_server}->($i) if $self->{extra_server};
    # no_advertise: a client (an nginx node) only ever uses the servers it
    # was given, so that stopping those cuts it off (servers otherwise
    # tell clients about every other server)
    # one server: JetStream on its own, no cluster block
    my $cluster = $self->size == 1 ? '' : <<"EOF";
cluster {
    name: "$self->{name}"
    listen: "127.0.0.1:$cport"
    no_advertise: true
    routes: [ $routes ]
}
EOF
    return <<"EOF";
server_name: "$s->{name}"
listen: "127.0.0.1:$s->{client}"
http: "127.0.0.1:$s->{monitor}"
jetstream {
    store_dir: "$dir/s$i/js"
}
$cluster
$extra
EOF
}

sub running {
    my ($self, $i) = @_;
    my $pid = $self->_s($i)->{pid} or return 0;
    return waitpid($pid, POSIX::WNOHANG()) == 0 ? 1 : 0;
}

sub start_server {
    my ($self, $i, %o) = @_;
    my $s = $self->_s($i);
    die "server $i is running\n" if $s->{pid} && $self->running($i);
    my $dir = $self->{dir};
    my $conf = "$dir/s$i.conf";
    open my $fh, '>', $conf or die "write $conf: $!\n";
    print $fh $self->_config($i, %o);
    close $fh;
    $s->{isolated} = $o{isolated} ? 1 : 0;
    my $pid = fork // die "fork: $!\n";
    if ($pid == 0) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', "$dir/s$i.log";
        open STDERR, '>&', \*STDOUT;
        setpgrp(0, 0);
        Chatvisor::Proc::die_with_parent();
        exec $self->{bin}, '-c', $conf or POSIX::_exit(127);
    }
    $s->{pid} = $pid;
    my $alive = sub { waitpid($pid, POSIX::WNOHANG()) == 0 };
    for my $port ($s->{client}, $s->{monitor}) {
        next if Chatvisor::Port::wait_port($port, $o{timeout} // 15, $alive);
        $self->kill($i);
        die "nats-server $i did not start (port $port)\n"
            . _tail($self->log($i), 30);
    }
    return $self;
}

sub start {
    my ($self, %o) = @_;
    for my $i (0 .. $self->size - 1) {
        $self->start_server($i) unless $self->running($i);
    }
    $self->wait_ready(%o);
    return $self;
}

sub _reap {
    my ($self, $i, $sig, $timeout) = @_;
    my $s = $self->_s($i);
    my $pid = delete $s->{pid} or return;
    return unless $self->{owner} == $$;
    CORE::kill($sig, $pid);
    my $deadline = Time::HiRes::time() + $timeout;
    while (Time::HiRes::time() < $deadline) {
        my $r = waitpid($pid, POSIX::WNOHANG());
        return if $r == $pid || $r < 0;
        Time::HiRes::sleep(0.02);
    }
    CORE::kill('KILL', $pid);
    waitpid($pid, 0);
}

sub kill { $_[0]->_reap($_[1], 'KILL', 5); $_[0] }
sub stop { $_[0]->_reap($_[1], 'TERM', 15); $_[0] }

sub restart {
    my ($self, $i, %o) = @_;
    $self->stop($i);
    return $self->start_server($i, %o);
}

sub reload {
    my ($self, $i) = @_;
    my $s = $self->_s($i);
    die "server $i is not running\n" unless $self->running($i);
    my $conf = "$self->{dir}/s$i.conf";
    open my $fh, '>', $conf or die "write $conf: $!\n";
    print $fh $self->_config($i, isolated => $s->{isolated});
    close $fh;
    CORE::kill('HUP', $s->{pid});
    return $self;
}

sub isolate {
    my ($self, $i) = @_;
    $self->stop($i);
    return $self->start_server($i, isolated => 1);
}

sub rejoin {
    my ($self, $i, %o) = @_;
    $self->stop($i);
    $self->start_server($i);
    $self->wait_leader(timeout => $o{timeout} // 30)
        // die "no meta leader after server $i rejoined\n" . $self->_diag;
    return $self;
}

# GET a monitoring endpoint of server I, decoded
sub monitor {
    my ($self, $i, $path) = @_;
    my $r = HTTP::Tiny->new(timeout => 3)->get(
        'http://127.0.0.1:' . $self->monitor_port($i) . '/' . ($path // 'varz'));
    return undef unless $r->{content} && $r->{content} =~ /^\s*[\{\[]/;
    my $d = eval { $JSON->decode($r->{content}) };
    return undef unless ref $d;
    $d->{_status} = $r->{status} if ref $d eq 'HASH';
    return $d;
}

sub meta_leader {
    my ($self, $i) = @_;
    my $j = $self->monitor($i, 'jsz') or return undef;
    my $m = $j->{meta_cluster} or return undef;
    my $l = $m->{leader};
    return defined $l && $l ne '' ? $l : undef;
}

sub wait_leader {
    my ($self, %o) = @_;
    my @among = $o{among} ? @{ $o{among} }
                          : grep { $self->running($_) } 0 .. $self->size - 1;
    my %names = map { $self->name($_) => 1 } @among;
    my $deadline = Time::HiRes::time() + ($o{timeout} // 30);
    while (1) {
        my %seen;
        for my $i (@among) {
            my $l = $self->meta_leader($i);
            $seen{ $l // '' }++;
        }
        my @l = keys %seen;
        return $l[0] if @l == 1 && $names{ $l[0] };
        return undef if Time::HiRes::time() > $deadline;
        Time::HiRes::sleep(0.1);
    }
}

sub wait_ready {
    my ($self, %o) = @_;
    my $timeout = $o{timeout} // 30;
    my $deadline = Time::HiRes::time() + $timeout;
    # a lone server (no cluster block) has no meta group
    my $leader = $self->size == 1 ? $self->name(0)
        : $self->wait_leader(timeout => $timeout)
        // die "nats-servers formed no JetStream meta leader in ${timeout}s\n"
              . $self->_diag;
    my @run = grep { $self->running($_) } 0 .. $self->size - 1;
    for my $i (@run) {
        while (1) {
            my $h = $self->monitor($i, 'healthz?js-enabled-only=true');
            last if $h && ($h->{_status} // 0) == 200;
            die "nats-server $i: JetStream is not healthy\n" . $self->_diag
                if Time::HiRes::time() > $deadline;
            Time::HiRes::sleep(0.1);
        }
    }
    return $leader;
}

# The stream NAME as server I sees it: its state plus {leader, replicas}
sub stream {
    my ($self, $i, $name) = @_;
    my $j = $self->monitor($i, 'jsz?streams=true&config=true') or return undef;
    for my $acc (@{ $j->{account_details} || [] }) {
        for my $st (@{ $acc->{stream_detail} || [] }) {
            next unless ($st->{name} // '') eq $name;
            my %r = (%{ $st->{state} || {} }, config => $st->{config});
            $r{leader} = $st->{cluster}{leader} if $st->{cluster};
            $r{replicas} = $st->{cluster}{replicas} if $st->{cluster};
            return \%r;
        }
    }
    return undef;
}

# ---- nginx nodes ----

sub node_template {
    return <<'EOF';
worker_processes 2;
http {
    chatvisor_store %%TESTDIR%%/store size=64m;
    chatvisor_cluster %%NATS_URLS%% %%CLUSTER_ARGS%%;
    chatvisor_api_client crm %%API_SECRET_FILE%%;
    chatvisor_limit_messages off;
    chatvisor_limit_new_visitors off;
    server {
        listen 127.0.0.1:%%PORT%%;
        location /chatvisor/ { chatvisor on; chatvisor_poll_timeout 2s; }
    }
}
EOF
}

sub node {
    my ($self, %o) = @_;
    my $t = Chatvisor::Test->new;
    my @servers = @{ $o{servers} || [] };
    $t->write_config($o{template} // node_template(),
                     NATS_URLS => $self->urls(@servers),
                     CLUSTER_ARGS => $o{args} // '',
                     API_SECRET_FILE => $self->api_secret_file,
                     %{ $o{vars} || {} });
    push @{ $self->{nodes} }, $t;
    return $t;
}

sub nodes {
    my ($self, $n, %o) = @_;
    return map { $self->node(%o) } 1 .. $n;
}

# ---- helpers of the tests ----

sub skip_unless_core {
    my ($self) = @_;
    my $t = Chatvisor::Test->new;
    $t->write_config(node_template(), NATS_URLS => $self->urls,
                     CLUSTER_ARGS => '', API_SECRET_FILE => $self->api_secret_file);
    my ($st, $out) = $t->test_config;
    Test::More::plan(skip_all => 'TODO issue 15: this module has no'
                                 . ' chatvisor_cluster directive yet')
        if $st && $out =~ /unknown directive "chatvisor_cluster"/;
    return 1;
}

sub api {
    my ($self, $t, %o) = @_;
    require Chatvisor::API;
    my $api = Chatvisor::API->new($t, client => 'crm', secret => $self->{secret});
    my $deadline = Time::HiRes::time() + ($o{timeout} // 30);
    my $r;
    while (1) {
        $r = $api->token_request(spec_check => 0);
        if ($r->{status} == 200 && $r->{json} && $r->{json}{access_token}) {
            $api->set_token($r->{json}{access_token});
            return $api;
        }
        last if Time::HiRes::time() > $deadline;
        Time::HiRes::sleep(0.2);
    }
    die "no API token from node " . $t->port . ": $r->{status} $r->{content}\n";
}

sub wait_writable {
    my ($self, $t, %o) = @_;
    my $deadline = Time::HiRes::time() + ($o{timeout} // 30);
    # a visitor's message: it goes through the stream (a REST write might
    # not yet); one probe visitor per node
    require Chatvisor::API;
    my $v = $self->{probe}{ $t->port } //=
        Chatvisor::API::Visitor->new($t, port => $t->port);
    # a worker takes writes once its reader of the stream runs, which it
    # logs: every live worker of the node (a probe lands on one of them)
    while (1) {
        my %reading = map { $_ => 1 } $t->error_log
            =~ /\] (\d+)#\d+: chatvisor: cluster: reading the stream/g;
        my @w = $t->worker_pids;
        last if @w && !grep { !$reading{$_} } @w;
        return 0 if Time::HiRes::time() > $deadline;
        Time::HiRes::sleep(0.1);
    }
    while (1) {
        my $r = $v->post('cluster probe', timeout => 10);
        last if $r->{status} == 201 || $r->{status} == 200;
        return 0 if Time::HiRes::time() > $deadline;
        Time::HiRes::sleep(0.2);
    }
    my $left = $deadline - Time::HiRes::time();
    my $api = eval { $self->api($t, timeout => $left > 1 ? $left : 1) }
        or return 0;
    my $n = 0;
    while (1) {
        my $r = $api->call(PUT => 'agents/cluster-probe',
                           { name => 'Probe ' . ++$n },
                           spec_check => 0, request_check => 0);
        return 1 if $r->{status} >= 200 && $r->{status} < 300;
        return 0 if Time::HiRes::time() > $deadline;
        Time::HiRes::sleep(0.2);
    }
}

sub console {
    my ($self, $t, $id, %o) = @_;
    require Chatvisor::Chat;
    my $api = $o{api} // $self->api($t);
    # the agent may not be applied on this node yet (404), or its worker
    # not reading yet (503)
    my ($u, $deadline) = (undef, Time::HiRes::time() + 10);
    while (1) {
        $u = $api->call(POST => "agents/$id/login-url", { ttl_seconds => 600 },
                        spec_check => 0);
        last unless $u->{status} == 404 || $u->{status} == 503;
        last if Time::HiRes::time() > $deadline;
        Time::HiRes::sleep(0.1);
    }
    my ($token) = ($u->{json}{url} // '') =~ m{/join#(\S+)}
        or die "login-url for $id: $u->{status} $u->{content}\n";
    my $j = Chatvisor::Chat::Agent->join($t, $token);
    $j->{agent} or die "join as $id on " . $t->port
                       . ": $j->{status} $j->{content}\n";
    return $j->{agent};
}

sub until_ok {
    my ($max, $code) = @_;
    my $start = Time::HiRes::time();
    while (1) {
        my $got = $code->();
        return $got if $got;
        return undef if Time::HiRes::time() - $start > $max;
        Time::HiRes::sleep(0.05);
    }
}

sub refused_ok {
    my ($r, $what) = @_;
    Test::More::subtest($what => sub {
        Test::More::is($r->{status}, 503, 'status 503');
        Test::More::like($r->{headers}{'content-type'} // '',
                         qr{^application/json\b}, 'JSON');
        my $j = eval { JSON::PP->new->utf8->decode($r->{content}) };
        Test::More::ok(ref $j eq 'HASH' && ref $j->{error} eq 'HASH'
                       && ($j->{error}{code} // '') =~ /\S/
                       && ($j->{error}{message} // '') =~ /\S/,
                       'an error {code, message}')
            or Test::More::diag($r->{content});
    });
}

sub messages {
    my ($self, $t, $api, $conv) = @_;
    my ($after, @all) = (0);
    for (1 .. 1000) {
        my $r = $api->call(GET => "conversations/$conv/messages?after=$after&limit=100",
                           undef, spec_check => 0);
        die "GET conversations/$conv/messages on " . $t->port
            . ": $r->{status} $r->{content}\n"
            unless $r->{status} == 200 && $r->{json};
        my @items = @{ $r->{json}{items} || [] };
        push @all, @items;
        last if @items < 100;
        $after = $items[-1]{seq};
    }
    return \@all;
}

sub wait_texts {
    my ($self, $t, $api, $conv, $texts, %o) = @_;
    my $deadline = Time::HiRes::time() + ($o{timeout} // 10);
    while (1) {
        my $m = eval { $self->messages($t, $api, $conv) } || [];
        my %have = map { ($_->{text} // '') => 1 } @$m;
        return $m if !grep { !$have{$_} } @$texts;
        return $m if Time::HiRes::time() > $deadline;
        Time::HiRes::sleep(0.1);
    }
}

sub start_writer {
    my ($self, $t, %o) = @_;
    return Chatvisor::Cluster::Writer->start($self, $t, %o);
}

sub _tail {
    my ($text, $n) = @_;
    my @l = split /\n/, $text // '';
    @l = @l[-$n .. -1] if @l > $n;
    return join("\n", @l) . "\n";
}

sub _diag {
    my ($self) = @_;
    my $s = '';
    for my $i (0 .. $self->size - 1) {
        $s .= "--- nats-server $i (" . ($self->running($i) ? 'running'
                                                            : 'not running')
              . "), log tail:\n" . _tail($self->log($i), 15);
    }
    return $s;
}

sub DESTROY {
    my ($self) = @_;
    local ($?, $@);
    return unless $self->{owner} && $self->{owner} == $$;
    my $ok = eval { Test::More->builder->is_passing } // 1;
    eval { Test::More::diag($self->_diag) } if !$ok && !$self->{keep};
    $self->kill($_) for 0 .. $self->size - 1;
    if ($self->{keep}) {
        eval { Test::More::diag("CHATVISOR_TEST_KEEP: kept $self->{dir}") };
    } else {
        File::Path::remove_tree($self->{dir}) if -d $self->{dir};
    }
}

# ---------------------------------------------------------------------------

package Chatvisor::Cluster::Writer;

# A child that posts visitor messages one at a time and writes one line per
# attempt to a file: "ok TEXT TIME" or "err TEXT STATUS TIME".

use strict;
use warnings;

use JSON::PP ();
use POSIX ();
use Time::HiRes ();

use Chatvisor::HTTP ();
use Chatvisor::Proc ();

my $WJSON = JSON::PP->new->utf8->canonical;

sub start {
    my ($class, $cluster, $t, %o) = @_;
    my $prefix = $o{prefix} // 'w';
    my $file = "$cluster->{dir}/writer-$prefix.log";
    unlink $file, "$file.stop";
    my $port = $t->port;
    my $pid = fork // die "fork: $!\n";
    if ($pid == 0) {
        Chatvisor::Proc::die_with_parent();
        open my $log, '>>', $file or POSIX::_exit(1);
        $log->autoflush(1);
        my $max = $o{max} // 1_000_000;
        for my $i (1 .. $max) {
            last if -e "$file.stop";
            my $text = "$prefix-$i";
            my $r = Chatvisor::HTTP::http_request($port, 'POST',
                '/chatvisor/v1/visitor/messages',
                headers => { 'Content-Type' => 'application/json',
                             Accept => 'application/json',
                             Cookie => "cv_visitor=$o{cookie}" },
                content => $WJSON->encode({ text => $text,
                                            client_msg_id => $text }),
                timeout => $o{timeout} // 15);
            my $now = sprintf '%.3f', Time::HiRes::time();
            if ($r->{status} == 201 || $r->{status} == 200) {
                print $log "ok $text $now\n";
            } else {
                print $log "err $text $r->{status} $now\n";
                # a node that is gone or without a quorum: do not spin
                Time::HiRes::sleep(0.05);
            }
            Time::HiRes::sleep($o{pause}) if $o{pause};
        }
        POSIX::_exit(0);
    }
    return bless { pid => $pid, file => $file, owner => $$ }, $class;
}

sub _lines {
    my ($self) = @_;
    open my $fh, '<', $self->{file} or return ();
    return map { [ split ' ' ] } grep { /\n\z/ } <$fh>;
}

sub acked    { [ map { $_->[1] } grep { $_->[0] eq 'ok' } $_[0]->_lines ] }
sub ack_times { [ map { $_->[2] } grep { $_->[0] eq 'ok' } $_[0]->_lines ] }
sub failed   { [ map { [ $_->[1], $_->[2] ] } grep { $_->[0] eq 'err' } $_[0]->_lines ] }
sub attempts { [ map { $_->[1] } $_[0]->_lines ] }

sub wait_acked {
    my ($self, $n, $timeout) = @_;
    my $deadline = Time::HiRes::time() + ($timeout // 30);
    while (Time::HiRes::time() < $deadline) {
        return 1 if @{ $self->acked } >= $n;
        return 0 if waitpid($self->{pid}, POSIX::WNOHANG()) != 0;
        Time::HiRes::sleep(0.05);
    }
    return @{ $self->acked } >= $n ? 1 : 0;
}

# the longest time between two acknowledged writes
sub longest_gap {
    my ($self) = @_;
    my @t = @{ $self->ack_times };
    my $gap = 0;
    for my $i (1 .. $#t) { $gap = $t[$i] - $t[$i - 1] if $t[$i] - $t[$i - 1] > $gap }
    return $gap;
}

# stops after the write in flight (waits for it, up to its timeout)
sub stop {
    my ($self) = @_;
    my $pid = delete $self->{pid} or return $self;
    open my $fh, '>', "$self->{file}.stop";
    close $fh;
    my $deadline = Time::HiRes::time() + 20;
    while (Time::HiRes::time() < $deadline) {
        my $r = waitpid($pid, POSIX::WNOHANG());
        return $self if $r == $pid || $r < 0;
        Time::HiRes::sleep(0.02);
    }
    kill 'KILL', $pid;
    waitpid($pid, 0);
    return $self;
}

sub DESTROY {
    my ($self) = @_;
    local ($?, $@);
    return unless $self->{pid} && $self->{owner} == $$;
    kill 'KILL', $self->{pid};
    waitpid($self->{pid}, 0);
}

1;
