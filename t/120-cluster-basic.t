#!/usr/bin/perl

# Cluster mode's basic path (docs/cluster.md): three nats-servers in one
# JetStream cluster (replicas=3) and three nginx nodes, each on its own
# store. A visitor writes on node A, the agent's console is on node B, a
# REST client reads on node C: each sees every message, in the same order,
# within a second; the ids, the log and the REST cursor (next_cursor) are
# the same on every node; a retried client_msg_id on another node gives
# the first message; a REST access token made on one node works on the
# others; typing on one node reaches the polls of another, and
# a new conversation on C goes to the agent available on B. A
# console login URL made on C logs in once (on A,
# then B refuses it), the session is good on B, and a logout on B ends it
# on A. Without the cluster (every nats-server stopped) a
# write answers 503 with a JSON error and changes nothing, reads answer
# 200; with it back, writes work and every node catches up, and a node
# whose nginx was down meanwhile catches up when it starts again; after a
# reload a node's new workers take writes.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(time sleep);
use JSON::PP ();

use Chatvisor::Cluster;
use Chatvisor::Chat qw(ctl);
use Chatvisor::API;

Chatvisor::Cluster::skip_unless_nats();

my $SEEN_MAX = 1.0;     # seconds from a 201 to every node showing it
my $READY_MAX = 30;     # seconds for a node to take writes (start, back)

my $c = Chatvisor::Cluster->new(servers => 3);
$c->start;

# (the template turns the abuse limits off: the retries below, 503 until
# a node has joined, are not abuse)
# round_robin: a new conversation goes to an agent available on any node
(my $template = Chatvisor::Cluster::node_template())
    =~ s/(chatvisor_api_client [^\n]*\n)/$1    chatvisor_routing round_robin;\n/;
my @n = $c->nodes(3, args => 'replicas=3', template => $template);
$_->run for @n;
my ($A, $B, $C) = @n;
my @store = map { $_->testdir . '/store' } @n;

# Every worker of a node takes writes once its own reader of the stream
# runs (it says so in the error log); before, a write answers 503.
# since: the error log's length to look after (a reader made again).
sub wait_readers {
    my ($node, $since) = @_;
    my $start = time;
    while (time - $start < $READY_MAX) {
        my $log = substr($node->error_log, $since // 0);
        my %pids = map { $_ => 1 }
            $log =~ /\[notice\] (\d+)#\d+: chatvisor: cluster: reading the stream/g;
        return 1 if keys %pids >= 2;     # the template's 2 workers
        sleep 0.1;
    }
    return 0;
}

ok(wait_readers($_), 'node ' . $_->port . ': both workers read the stream')
    for @n;

# the agent, through the stream (a write of chatvisorctl into a node's
# store would reach that node only: it refuses, below)
{
    my $api = $c->api($A);
    my $p = $api->call(PUT => 'agents/ann', { name => 'Ann' }, spec_check => 0);
    ok($p->{status} == 201 || $p->{status} == 200, 'ann made on A (REST)')
        or diag($p->{content});
    for my $node ($B, $C) {
        my $api_n = $c->api($node);
        my ($got) = grep { $_ } map {
            my $g = $api_n->call(GET => 'agents/ann', undef, spec_check => 0);
            $g->{status} == 200 ? 1 : do { sleep 0.05; 0 };
        } 1 .. 100;
        ok($got, 'and on node ' . $node->port);
    }
    my ($st, $out) = Chatvisor::Chat::ctl_status('agent-put', '--store',
                                                 $store[1], '--id', 'bob');
    isnt($st, 0, "chatvisorctl agent-put refuses a cluster node's store");
    like($out, qr/a cluster node's .*REST API/, 'and says to use the REST API');

    # a store that left its cluster for good (here a backup of B's):
    # --standalone writes to it
    my $copy = $n[1]->testdir . '/left-the-cluster';
    mkdir $copy or die "$copy: $!";
    ctl('backup', '--store', $store[1], $copy);
    ($st, $out) = Chatvisor::Chat::ctl_status('login-url', '--store', $copy,
                                              '--agent', 'ann');
    isnt($st, 0, 'login-url refuses it too without --standalone');
    like($out, qr/--standalone/, 'and names --standalone');
    ($st, $out) = Chatvisor::Chat::ctl_status('agent-put', '--store', $copy,
                                              '--id', 'bob', '--standalone');
    is($st, 0, 'agent-put --standalone writes to it') or diag($out);
    ($st, $out) = Chatvisor::Chat::ctl_status('login-url', '--store', $copy,
                                              '--agent', 'bob', '--standalone');
    is($st, 0, 'login-url --standalone for the agent it made') or diag($out);
    like($out, qr{/join#\S+}, 'a one-time login URL');
    ($st, $out) = Chatvisor::Chat::ctl_status('login-url', '--store', $copy,
                                              '--agent', 'nobody', '--standalone');
    isnt($st, 0, 'an agent it does not have: refused');
}

# ---- the first write ----

my $v = Chatvisor::Chat::Visitor->new($A);
my ($r, $t0) = (undef, time);
while (time - $t0 < $READY_MAX) {
    $r = $v->post('hello', client_msg_id => 'c0');
    last if $r->{status} == 201;
    last unless $r->{status} == 503;
    sleep 0.25;
}
is($r->{status}, 201, 'node A takes a visitor message once it joined')
    or diag($r->{content});
my $conv = $r->{json}{conversation_id};
my @written = ($r->{json}{id});

# ---- every node sees it, the same ----

sub until_ok {
    my ($max, $code) = @_;
    my $start = time;
    while (1) {
        my $got = $code->();
        return (time - $start, $got) if $got;
        return (undef, undef) if time - $start > $max;
        sleep 0.02;
    }
}

my %api;
for my $i (0 .. 2) {
    $api{$i} = Chatvisor::API->new($n[$i], client => 'crm',
                                   secret => $c->api_secret, quiet => 1);
    $api{$i}->login;
}

sub messages_on {
    my ($i) = @_;
    my $m = $api{$i}->call(GET => "conversations/$conv/messages?limit=100",
                           undef, spec_check => 0);
    return undef unless $m->{status} == 200;
    return [ map { $_->{id} } @{ $m->{json}{items} } ];
}

for my $i (1, 2) {
    my ($took) = until_ok(5, sub {
        my $ids = messages_on($i);
        $ids && @$ids == 1 ? $ids : undef;
    });
    ok(defined $took, "node $i has the first message") or diag('not seen');
}

my $agent = $c->console($B, 'ann', api => $api{1});

# the console on B waits; the visitor writes on A
my $ev = $agent->events(after => 0);
is($ev->{status}, 200, 'the console on B reads its events');
my $cursor = $ev->{json}{cursor};
ok(grep({ ($_->{message}{id} // '') eq $written[0] }
        @{ $ev->{json}{events} }), 'the console on B has the first message');

my $held = $agent->start_events(after => $cursor);
sleep 0.2;
# (timed from the write's start: the poll may answer before the writer)
my $posted = time;
$r = $v->post('are you there?', client_msg_id => 'c1');
is($r->{status}, 201, 'a second visitor message on A');
push @written, $r->{json}{id};
my $res = $held->result(timeout => 5);
my $woke = ($res->{at} // time) - $posted;
is($res->{status}, 200, 'the console poll on B answers');
ok(grep({ ($_->{message}{id} // '') eq $written[1] }
        @{ $res->{json}{events} || [] }),
   'with the message written on A');
cmp_ok($woke, '<', $SEEN_MAX, "within ${SEEN_MAX}s (${\ sprintf '%.3f', $woke}s)");

# the agent replies on B; the visitor's poll on A hears it
my $vpoll = $v->start_poll(after => 2);
sleep 0.2;
$posted = time;
$r = $agent->reply($conv, 'yes, how can I help?', client_msg_id => 'r1');
is($r->{status}, 201, 'the agent replies on B') or diag($r->{content});
push @written, $r->{json}{id};
$res = $vpoll->result(timeout => 5);
$woke = ($res->{at} // time) - $posted;
is($res->{status}, 200, 'the visitor poll on A answers');
ok(grep({ ($_->{message}{id} // '') eq $written[2] } @{ $res->{json}{events} || [] }),
   'with the reply written on B');
cmp_ok($woke, '<', $SEEN_MAX, "within ${SEEN_MAX}s (${\ sprintf '%.3f', $woke}s)");

# more of both, back to back; then C has every one of them in that order
for my $k (1 .. 3) {
    $r = $v->post("visitor $k", client_msg_id => "c1$k");
    is($r->{status}, 201, "visitor message $k on A");
    push @written, $r->{json}{id};
    $r = $agent->reply($conv, "agent $k", client_msg_id => "r1$k");
    is($r->{status}, 201, "agent reply $k on B");
    push @written, $r->{json}{id};
}

for my $i (2, 0, 1) {
    my ($took, $ids) = until_ok(5, sub {
        my $ids = messages_on($i);
        $ids && @$ids == @written ? $ids : undef;
    });
    ok(defined $took && $took < $SEEN_MAX,
       "node $i (REST) has every message within a second"
       . (defined $took ? sprintf(' (%.3fs)', $took) : ''));
    is_deeply($ids, \@written, "node $i: in the order they were written");
}

# typing crosses nodes (core NATS, not the stream): the agent on B types,
# the visitor's poll on A hears it; the visitor types on A, the console
# on B hears it
{
    my $vcur = $v->events(after => 0, wait => 0)->{json}{cursor};
    my $p = $v->start_poll(after => $vcur);
    sleep 0.2;
    my $ty = $agent->write(POST => "conversations/$conv/typing",
                           { typing => JSON::PP::true() });
    is($ty->{status}, 204, 'the agent types on B');
    my $at = time;
    my $res = $p->result(timeout => 5);
    my ($e) = grep { $_->{type} eq 'typing' } @{ $res->{json}{events} || [] };
    ok($e && ($e->{author}{name} // '') eq 'Ann',
       'the visitor on A sees the agent typing') or diag($res->{content});
    cmp_ok(($res->{at} // time) - $at, '<', $SEEN_MAX, 'within a second');

    my $gcur = $agent->events(after => 0)->{json}{cursor};
    my $ap = $agent->start_events(after => $gcur);
    sleep 0.2;
    is($v->typing->{status}, 204, 'the visitor types on A');
    $at = time;
    $res = $ap->result(timeout => 5);
    ($e) = grep { $_->{type} eq 'typing' } @{ $res->{json}{events} || [] };
    ok($e && ($e->{conversation_id} // '') eq $conv,
       'the console on B sees the visitor typing') or diag($res->{content});
    cmp_ok(($res->{at} // time) - $at, '<', $SEEN_MAX, 'within a second');
}

# routing sees the agents available on every node: ann's console polls
# on B, a new visitor writes on C, its conversation is ann's
{
    $agent->events(after => 0);     # ann is seen polling on B
    my ($assigned, $conv2);
    my ($took) = until_ok(10, sub {
        my $v2 = Chatvisor::Chat::Visitor->new($C);
        my $w = $v2->post('hello from C');
        return undef unless $w->{status} == 201;
        $conv2 = $w->{json}{conversation_id};
        my $g = $api{2}->call(GET => "conversations/$conv2", undef,
                              spec_check => 0);
        $assigned = $g->{json}{assigned_agent_id};
        return defined $assigned;
    });
    is($assigned, 'ann', "a new visitor's conversation on C goes to ann, "
                         . 'available on B');
    $r = $agent->write(POST => "conversations/$conv2/close");
    is($r->{status}, 200, 'ann closes it on B');
}

# a retried client_msg_id on another node: the first message, once
my $v_on_c = Chatvisor::Chat::Visitor->new($C, cookie => $v->cookie);
$r = $v_on_c->post('are you there?', client_msg_id => 'c1');
is($r->{status}, 200, 'the visitor retries c1 on C: 200');
is($r->{json}{id}, $written[1], 'with the first message');
is_deeply(messages_on(2), \@written, 'nothing was added');

# ---- the same log everywhere: the REST cursor is the same ----

sub since_on {
    my ($i) = @_;
    my $s = $api{$i}->call(GET => 'conversations?since=0&limit=100', undef,
                           spec_check => 0);
    return $s->{json};
}

my @since = map { since_on($_) } 0 .. 2;
ok(defined $since[0]{next_cursor}, 'A answers conversations?since=0');
is($since[1]{next_cursor}, $since[0]{next_cursor}, 'next_cursor: B = A');
is($since[2]{next_cursor}, $since[0]{next_cursor}, 'next_cursor: C = A');
is_deeply($since[1]{items}, $since[0]{items}, 'the conversations: B = A');
is_deeply($since[2]{items}, $since[0]{items}, 'the conversations: C = A');

# ---- a REST access token from C works on A and B (an integrator fails
#      over without logging in again) ----

for my $i (0, 1) {
    my $other = Chatvisor::API->new($n[$i], client => 'crm',
                                    token => $api{2}->token, quiet => 1);
    my $g = $other->call(GET => 'conversations?since=0&limit=100', undef,
                         spec_check => 0);
    is($g->{status}, 200, "C's access token works on node $i");
}

# ---- the console's login: a URL made on C, used once on A, the session
#      good on B, a logout on B ends it on A ----

my $url = $api{2}->call(POST => 'agents/ann/login-url', { ttl_seconds => 600 },
                        spec_check => 0);
is($url->{status}, 201, 'C makes a login URL for ann');
my ($token) = ($url->{json}{url} // '') =~ m{/join#(\S+)};
ok($token, 'with a token');
my $j = Chatvisor::Chat::Agent->join($A, $token);
is($j->{status}, 200, 'the token logs in on A');
my $ann = $j->{agent};
my $j2 = Chatvisor::Chat::Agent->join($B, $token);
is($j2->{status}, 403, 'used: B refuses it');
is($j2->{json}{error}{code}, 'invalid_token', 'as an invalid token');

SKIP: {
    skip 'no session', 4 unless $ann;
    my $on_b = bless { %$ann, t => $B }, ref $ann;
    my $me = $on_b->get('me');
    is($me->{status}, 200, "A's console session is good on B");
    is($me->{json}{id} // $me->{json}{agent}{id}, 'ann', 'as ann')
        or diag($me->{content});
    my $out = $on_b->write(POST => 'logout');
    is($out->{status}, 204, 'ann logs out on B');
    my ($gone) = until_ok(5, sub { $ann->get('me')->{status} == 401 });
    ok(defined $gone, 'the session is gone on A too');
}

# ---- no cluster: writes 503, reads 200 ----

$c->stop($_) for 0 .. 2;

$t0 = time;
$r = $v->post('anyone?', client_msg_id => 'c2');
is($r->{status}, 503, 'without the cluster a write answers 503');
like($r->{headers}{'content-type'} // '', qr{application/json},
     'as JSON');
is($r->{json}{error}{code}, 'no_quorum', 'error code no_quorum');
cmp_ok(time - $t0, '<', 10, 'at once, not after a long wait');
$r = $agent->reply($conv, 'still here', client_msg_id => 'r2');
is($r->{status}, 503, 'an agent reply too');

is_deeply(messages_on(0), \@written, 'A reads (200), and nothing was added');
is_deeply(messages_on(2), \@written, 'C reads');
$r = $agent->get("conversations/$conv/events");
is($r->{status}, 200, 'the console on B reads');
$r = $v->events(after => 0, wait => 0);
is($r->{status}, 200, 'the visitor reads on A');
is(scalar(grep { $_->{type} eq 'message' } @{ $r->{json}{events} }),
   scalar @written, 'every message, no more');

# ---- the cluster is back: writes work, every node catches up ----

my @mark = map { length $_->error_log } @n;
# (three servers started at once on a loaded machine have been seen to
# take more than 30 s to elect their meta leader)
$c->start(timeout => 90);
ok(wait_readers($n[$_], $mark[$_]),
   "node $_: both workers read the stream again") for 0 .. 2;

$t0 = time;
while (time - $t0 < $READY_MAX) {
    $r = $v->post('anyone?', client_msg_id => 'c2');
    last if $r->{status} == 201 || $r->{status} == 200;
    last unless $r->{status} == 503;
    sleep 0.25;
}
ok($r->{status} == 201 || $r->{status} == 200,
   "writes work again once the cluster is back ($r->{status})")
    or diag($r->{content});
push @written, $r->{json}{id};

my ($took) = until_ok(10, sub {
    my $all = 1;
    for my $i (0 .. 2) {
        my $ids = messages_on($i);
        $all = 0 unless $ids && @$ids == @written;
    }
    $all;
});
ok(defined $took, 'every node has it');
is_deeply(messages_on($_), \@written, "node $_: every message in order")
    for 0 .. 2;

# ---- a node that was down catches up when it starts ----

my $c_mark = length $C->error_log;
$C->stop;
$r = $v->post('while C is down', client_msg_id => 'c3');
is($r->{status}, 201, 'a write while C is down');
push @written, $r->{json}{id};
$C->run;
ok(wait_readers($C, $c_mark), 'C: both workers read the stream');
$api{2}->login;
($took) = until_ok(10, sub {
    my $ids = messages_on(2);
    $ids && @$ids == @written ? 1 : undef;
});
ok(defined $took, 'C, started again, catches up');
is_deeply(messages_on(2), \@written, 'C: every message in order');
@since = map { since_on($_) } 0 .. 2;
is($since[2]{next_cursor}, $since[0]{next_cursor}, 'next_cursor: C = A');
is($since[1]{next_cursor}, $since[0]{next_cursor}, 'next_cursor: B = A');

# ---- a reload: new workers, new connections, writes go on ----

my $mark = length $A->error_log;
$A->reload;
ok(wait_readers($A, $mark), "A's new workers read the stream after a reload");
$r = $v->post('after a reload', client_msg_id => 'c4');
is($r->{status}, 201, 'a write on A after its reload');
push @written, $r->{json}{id};
my ($synced) = until_ok(5, sub {
    my $ids = messages_on(1);
    $ids && @$ids == @written ? 1 : undef;
});
ok(defined $synced, 'B has it');

done_testing;
