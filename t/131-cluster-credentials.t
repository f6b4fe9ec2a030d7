#!/usr/bin/perl

# Cluster mode with credentials (docs/cluster.md, "Credentials"): three
# nats-servers in operator mode (NATS's decentralized JWT authentication:
# an operator, a system account and the chat's account, JetStream enabled
# in its JWT, kept in the servers' config with resolver MEMORY), and nginx
# nodes with `chatvisor_cluster ... credentials=FILE`. Debian has no `nsc`:
# the keys, JWTs and .creds files are made here (Chatvisor::NatsJWT, with
# the openssl command).
#
# - Nodes A and B, each with its own user's .creds file (readable by the
#   workers' user only): a visitor's message on A is acknowledged and B
#   lists it; each node is connected as its own user of the account.
# - Nodes whose .creds file holds a user of an account the servers do not
#   know, a user the account revoked, or an expired user JWT: writes
#   answer 503 with a JSON error, all along, and the error log says why
#   (the servers' authorization violation).
# - B's user revoked while B runs (the account's JWT changed on the
#   servers, a reload of theirs): B's writes answer 503 with a JSON error,
#   its reads still answer 200 with what it had, A goes on writing. A new
#   JWT for B's user written into its .creds file: B reconnects by itself
#   (libnats reads the file at each connect) and catches up.
# - A credentials file that is missing, unreadable by the workers' user,
#   or not a .creds file fails `nginx -t` with a message naming it; a
#   reload of A with one keeps A's old configuration, and A writes on.
# - No nginx log (error, access, nginx -t's output) holds any user's NKey
#   seed or JWT.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(time sleep);
use JSON::PP ();

use Chatvisor::Cluster qw(refused_ok);
use Chatvisor::NatsJWT;
use Chatvisor::API;

Chatvisor::Cluster::skip_unless_nats();
plan(skip_all => 'no openssl command with Ed25519 (scripts/install-deps.sh'
                 . ' test installs it)')
    unless Chatvisor::NatsJWT::have_openssl();

my $READY_MAX = 30;     # seconds for a node to take writes
my $REFUSED_FOR = 5;    # seconds a node with bad credentials is watched
my $SEEN_MAX = 5;       # seconds for a message to reach another node

my $c = Chatvisor::Cluster->new(servers => 3);
$c->skip_unless_core;
my $d = $c->dir;

# ---- the operator, its accounts, the users ----

my $kd = "$d/keys";
mkdir $kd, 0700 or die "mkdir $kd: $!\n";
sub key { Chatvisor::NatsJWT::Key->new($kd, $_[0]) }

my $op = key('operator');
my $sys = key('account');
my $app = key('account');
my $unknown = key('account');         # never given to the servers
my %user = map { $_ => key('user') } qw(a b stranger revoked expired);

my $now = int time;
my %jwt = (
    a        => Chatvisor::NatsJWT::user_jwt($app, $user{a}, name => 'node-a'),
    b        => Chatvisor::NatsJWT::user_jwt($app, $user{b}, name => 'node-b'),
    stranger => Chatvisor::NatsJWT::user_jwt($unknown, $user{stranger},
                                             name => 'stranger'),
    revoked  => Chatvisor::NatsJWT::user_jwt($app, $user{revoked},
                                             name => 'revoked',
                                             iat => $now - 120),
    expired  => Chatvisor::NatsJWT::user_jwt($app, $user{expired},
                                             name => 'expired',
                                             iat => $now - 120,
                                             exp => $now - 60),
);
my $op_jwt = Chatvisor::NatsJWT::operator_jwt($op, system_account => $sys);

# the servers' operator-mode config; REVOKED: {user key => time}
sub servers_config {
    my (%revoked) = @_;
    my %acc = (
        $sys->public => Chatvisor::NatsJWT::account_jwt($op, $sys,
                                                        name => 'SYS'),
        $app->public => Chatvisor::NatsJWT::account_jwt($op, $app,
            name => 'CHAT', jetstream => 1,
            revoked => { $user{revoked}->public => $now - 60, %revoked }),
    );
    return Chatvisor::NatsJWT::server_config($op_jwt, $sys, \%acc);
}

$c->{extra} = servers_config();
$c->start;

# ---- the .creds files: the workers' user's alone ----

my $cd = "$d/creds";
mkdir $cd, 0755 or die "mkdir $cd: $!\n";
# the workers run as nginx's default user when the tests run as root
my ($wuid, $wgid) = $> == 0 ? (getpwnam('nobody'))[2, 3] : ($>, $));
sub creds_file {
    my ($name, $text) = @_;
    my $f = "$cd/$name.creds";
    open my $fh, '>', $f or die "write $f: $!\n";
    print $fh $text;
    close $fh or die "write $f: $!\n";
    chown $wuid, $wgid, $f if $> == 0;
    chmod 0400, $f;
    return $f;
}
my %creds = map { $_ => creds_file($_, Chatvisor::NatsJWT::creds($jwt{$_},
                                                                  $user{$_})) }
            keys %jwt;

sub node_with {
    my ($file, %o) = @_;
    my $tmpl = Chatvisor::Cluster::node_template();
    $tmpl =~ s/^worker_processes 2;/worker_processes 1;/m or die
        if $o{one_worker};
    return $c->node(template => $tmpl,
                    args => "replicas=3 credentials=$file");
}

# ---- helpers ----

sub visitor_post {
    my ($t, $v, $text) = @_;
    return $v->post($text, client_msg_id => $text, timeout => 20);
}


# every visitor's write on T for S seconds: the answers' statuses, and
# the last answer
sub watch_writes {
    my ($t, $v, $tag, $s) = @_;
    my (%st, $r);
    my $end = time + $s;
    for (my $i = 1; time < $end; $i++) {
        $r = visitor_post($t, $v, "$tag-$i");
        $st{ $r->{status} }++;
        sleep 0.25;
    }
    return (\%st, $r);
}

sub wait_status {
    my ($t, $v, $tag, $want, $max) = @_;
    my $start = time;
    my $r;
    for (my $i = 1; ; $i++) {
        $r = visitor_post($t, $v, "$tag-$i");
        return ($r, time - $start) if $r->{status} == $want;
        return ($r, undef) if time - $start > $max;
        sleep 0.25;
    }
}

sub log_says {
    my ($t, $re, $max) = @_;
    my $end = time + $max;
    while (1) {
        return 1 if $t->error_log =~ $re;
        return 0 if time > $end;
        sleep 0.1;
    }
}

# the connections the servers have, with their users and accounts
sub connections {
    my @all;
    for my $i (0 .. $c->size - 1) {
        my $z = $c->monitor($i, 'connz?auth=true&limit=1024') or next;
        push @all, @{ $z->{connections} || [] };
    }
    return @all;
}

# (the servers answer "Authorization Violation", or "User Authentication
# Revoked" to a connection whose user they revoke)
my $WHY = qr/\[error\][^\n]*chatvisor:\ cluster:\ not\ connected\ to\ the
             \ cluster,\ writes\ answer\ 503:\ [^\n]*(?:authoriz|authenticat)/xi;

# ---- A and B: their own users, a write on A read on B ----

my $A = node_with($creds{a});
my $B = node_with($creds{b});
$_->run for $A, $B;

ok($c->wait_writable($A, timeout => $READY_MAX), 'node A takes writes');
ok($c->wait_writable($B, timeout => $READY_MAX), 'node B takes writes');

my $va = Chatvisor::API::Visitor->new($A, port => $A->port);
my $r = visitor_post($A, $va, 'hello with credentials');
is($r->{status}, 201, 'a visitor message on A is acknowledged')
    or diag($r->{content});
my $conv = $r->{json}{conversation_id};

my %api = (A => $c->api($A), B => $c->api($B));
my $seen = $c->wait_texts($B, $api{B}, $conv, ['hello with credentials'],
                          timeout => $SEEN_MAX);
ok(grep({ $_->{text} eq 'hello with credentials' } @$seen),
   'node B lists it');

{
    my %by = map { ($_->{authorized_user} // '') => $_ } connections();
    for my $n (qw(a b)) {
        my $conn = $by{ $user{$n}->public };
        ok($conn, "node \U$n\E is connected as its own user")
            or diag(explain [ connections() ]);
        is($conn && $conn->{account}, $app->public,
           "node \U$n\E: in the chat's account");
    }
}

# ---- users the servers refuse ----

my %bad = (stranger => 'a user of an account the servers do not know',
           revoked  => 'a user the account revoked',
           expired  => 'an expired user JWT');
my %badnode = map { $_ => node_with($creds{$_}, one_worker => 1) } keys %bad;
$_->run for values %badnode;

for my $n (sort keys %bad) {
    my $t = $badnode{$n};
    my $v = Chatvisor::API::Visitor->new($t, port => $t->port);
    ok(log_says($t, $WHY, $READY_MAX),
       "$bad{$n}: the error log says the servers refuse it")
        or diag($t->error_log);
    my ($st, $last) = watch_writes($t, $v, "bad-$n", $REFUSED_FOR);
    is_deeply([ sort keys %$st ], [503],
              "$bad{$n}: every write for ${REFUSED_FOR}s answers 503")
        or diag(explain $st);
    refused_ok($last, "$bad{$n}: a JSON error");
    ok(!grep({ ($_->{authorized_user} // '') eq $user{$n}->public }
             connections()),
       "$bad{$n}: no server has a connection of that user");
}
$_->stop for values %badnode;

# ---- B's user revoked while B runs, then given a new JWT ----

my $revoked_at = int time;
$c->{extra} = servers_config($user{b}->public => $revoked_at);
$c->reload($_) for 0 .. $c->size - 1;

my $vb = Chatvisor::API::Visitor->new($B, port => $B->port);
my ($rb, $took) = wait_status($B, $vb, 'b-revoked', 503, $READY_MAX);
ok(defined $took, 'B revoked: its writes are refused')
    or diag("$rb->{status} $rb->{content}");
refused_ok($rb, 'B revoked: a write answers 503 with a JSON error');
ok(log_says($B, $WHY, $READY_MAX), 'B revoked: its error log says why')
    or diag($B->error_log);
my ($st) = watch_writes($B, $vb, 'b-still', 2);
is_deeply([ sort keys %$st ], [503], 'B revoked: its writes stay refused')
    or diag(explain $st);

my $read = $api{B}->call(GET => "conversations/$conv/messages?limit=100",
                         undef, spec_check => 0);
is($read->{status}, 200, 'B revoked: it still serves reads');
ok(grep({ $_->{text} eq 'hello with credentials' } @{ $read->{json}{items} || [] }),
   'B revoked: with what it had');

$r = visitor_post($A, $va, 'while B is out');
is($r->{status}, 201, 'A goes on writing') or diag($r->{content});

# a new JWT for B's user, issued after the revocation, into its file
my $new_jwt = Chatvisor::NatsJWT::user_jwt($app, $user{b}, name => 'node-b',
                                           iat => $revoked_at + 1);
sleep 0.1 while time < $revoked_at + 1;
$jwt{b_new} = $new_jwt;
chmod 0600, $creds{b};
creds_file('b', Chatvisor::NatsJWT::creds($new_jwt, $user{b}));
($rb, $took) = wait_status($B, $vb, 'b-back', 201, $READY_MAX);
ok(defined $took, 'B with a new JWT in its file: writes again, no reload')
    or diag("$rb->{status} $rb->{content}");
$seen = $c->wait_texts($B, $api{B}, $conv, ['while B is out'],
                       timeout => $SEEN_MAX);
ok(grep({ $_->{text} eq 'while B is out' } @$seen),
   'B caught up with what A wrote meanwhile');

# ---- credentials files nginx refuses ----

my %nginx_t;    # name => nginx -t's output
{
    my $missing = "$cd/missing.creds";
    my $t = node_with($missing);
    my ($status, $out) = $t->test_config;
    $nginx_t{missing} = $out;
    isnt($status, 0, 'a missing credentials file: nginx -t fails');
    like($out, qr/credentials file "\Q$missing\E" of "chatvisor_cluster".*No such file/,
         'and says which file and why') or diag($out);

    # the master (root) can read it, the workers' user cannot; without
    # root, no one can
    my $locked = creds_file('locked', Chatvisor::NatsJWT::creds($jwt{a},
                                                                $user{a}));
    chown 0, 0, $locked if $> == 0;
    chmod $> == 0 ? 0600 : 0000, $locked;
    $t = node_with($locked);
    ($status, $out) = $t->test_config;
    $nginx_t{locked} = $out;
    isnt($status, 0, 'a credentials file the workers cannot read: nginx -t fails');
    like($out, $> == 0
         ? qr/the workers' user "nobody" cannot read the credentials file "\Q$locked\E".*Permission denied/
         : qr/cannot read the credentials file "\Q$locked\E".*Permission denied/,
         'and says whose read fails') or diag($out);

    my $junk = creds_file('junk', "not a creds file\n");
    $t = node_with($junk);
    ($status, $out) = $t->test_config;
    $nginx_t{junk} = $out;
    isnt($status, 0, 'a file that is no .creds file: nginx -t fails');
    like($out, qr/"\Q$junk\E" of "chatvisor_cluster" is not a NATS \.creds file/,
         'and says so') or diag($out);

    # a seed but no JWT block first
    my $swapped = creds_file('swapped', join "\n",
        '-----BEGIN USER NKEY SEED-----', $user{a}->seed,
        '------END USER NKEY SEED------', '');
    $t = node_with($swapped);
    ($status, $out) = $t->test_config;
    $nginx_t{swapped} = $out;
    isnt($status, 0, 'a seed without a JWT: nginx -t fails');
    like($out, qr/is not a NATS \.creds file/, 'and says so') or diag($out);

    # a reload of A onto a missing file: A keeps its configuration
    $A->{vars}{CLUSTER_ARGS} = "replicas=3 credentials=$missing";
    $A->allow_log(qr/credentials file "\Q$missing\E"/);
    ok(!$A->reload(timeout => 5), 'a reload of A onto a missing file fails');
    like($A->error_log, qr/\[emerg\].*credentials file "\Q$missing\E"/,
         "A's error log says why");
    $r = visitor_post($A, $va, 'after a failed reload');
    is($r->{status}, 201, 'A writes on, with its old configuration')
        or diag($r->{content});
}

# ---- no seed, no JWT in any log ----

$_->stop for $A, $B;
{
    my @logs;
    for my $t ($A, $B, values %badnode) {
        for my $f (qw(error.log access.log stderr.log)) {
            my $p = $t->testdir . "/$f";
            next unless -e $p;
            open my $fh, '<', $p or die "read $p: $!\n";
            local $/;
            push @logs, [ $p, scalar <$fh> // '' ];
        }
    }
    push @logs, map { [ "nginx -t ($_)", $nginx_t{$_} ] } sort keys %nginx_t;
    my @secrets = (map({ [ "$_ seed", $user{$_}->seed ] } sort keys %user),
                   map({ [ "$_ JWT", $jwt{$_} ] } sort keys %jwt),
                   # a JWT's signature alone, too
                   map({ [ "$_ JWT signature", (split /\./, $jwt{$_})[2] ] }
                       sort keys %jwt));
    my @found;
    for my $l (@logs) {
        for my $s (@secrets) {
            push @found, "$s->[0] in $l->[0]"
                if index($l->[1], $s->[1]) >= 0;
        }
    }
    ok(@logs >= 5, scalar(@logs) . ' logs looked at');
    is_deeply(\@found, [], 'no NKey seed and no JWT in any nginx log');
}

done_testing;
