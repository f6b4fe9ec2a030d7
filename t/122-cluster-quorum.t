#!/usr/bin/perl

# Cluster mode (issue 15, docs/cluster.md) when a node cannot reach a
# JetStream quorum: three nats-servers, nodes A and B use servers 0 and 1,
# node C only server 2.
#
# 1. Server 2 cut off from the other two (restarted on its store without
#    routes, so its client port still answers but it is a lone minority):
#    node C answers writes (a visitor's message, a REST write) 503 with a
#    JSON error and keeps serving reads; A and B go on writing. When server
#    2 rejoins, C takes writes again by itself (nginx untouched) and has
#    what A wrote meanwhile.
# 2. Server 2 stopped (C reaches no server at all): the same, and C
#    recovers when it starts again.
# 3. Every server stopped: every node answers writes 503 and reads 200;
#    all back, all write again.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(time sleep);

use Chatvisor::Cluster qw(refused_ok);
use Chatvisor::API;

Chatvisor::Cluster::skip_unless_nats();

my $REFUSE_MAX = 15;    # s until a cut-off node refuses writes
my $RECOVER_MAX = 30;   # s until it takes them again once the quorum is back

my $c = Chatvisor::Cluster->new(servers => 3);
$c->skip_unless_core;
$c->start;

my ($A, $B) = $c->nodes(2, servers => [0, 1]);
my $C = $c->node(servers => [2]);
my @n = ($A, $B, $C);
$_->run for @n;
ok($c->wait_writable($_, timeout => 30), 'node ' . $_->port . ' takes writes')
    for @n;
my @api = map { $c->api($_) } @n;

my $v = Chatvisor::API::Visitor->new($A, port => $A->port);
{
    my $r = $v->post('hello');
    is($r->{status}, 201, 'a visitor starts a conversation on A')
        or do { diag("$r->{status} $r->{content}"); done_testing; exit };
}
my $conv = $v->conversation_id;
my $cookie = $v->cookie;
my $seen = $c->wait_texts($C, $api[2], $conv, ['hello'], timeout => 10);
ok(grep({ $_->{text} eq 'hello' } @$seen), 'node C has it');

my $k = 0;

# a visitor's message on node T: the answer
sub visitor_post {
    my ($t, $text) = @_;
    my $w = Chatvisor::API::Visitor->new($t, port => $t->port);
    $w->{cookie} = $cookie;
    return $w->post($text, client_msg_id => $text, timeout => 20);
}

# the answer of a REST write on node T (an agent's profile)
sub rest_write {
    my ($i) = @_;
    return $api[$i]->call(PUT => 'agents/quorum-' . ++$k, { name => "Q $k" },
                          spec_check => 0, request_check => 0, timeout => 20);
}


# waits until a visitor's write on T is refused (503); the last answer
sub wait_refused {
    my ($t, $tag) = @_;
    my $deadline = time + $REFUSE_MAX;
    my $r;
    for (my $i = 1; ; $i++) {
        $r = visitor_post($t, "$tag-probe-$i");
        return $r if $r->{status} == 503 || time > $deadline;
        sleep 0.2;
    }
}

# waits until a visitor's write on T is acknowledged again; seconds taken
sub wait_recovered {
    my ($t, $tag) = @_;
    my $start = time;
    for (my $i = 1; time < $start + $RECOVER_MAX; $i++) {
        my $r = visitor_post($t, "$tag-back-$i");
        return time - $start if $r->{status} == 201 || $r->{status} == 200;
        sleep 0.2;
    }
    return undef;
}

sub cut_off_checks {
    my ($tag) = @_;
    my $r = wait_refused($C, $tag);
    refused_ok($r, "$tag: node C refuses a visitor's message");
    {
            refused_ok(rest_write(2), "$tag: node C refuses a REST write");
    }
    my $read = $api[2]->call(GET => "conversations/$conv/messages?limit=100",
                             undef, spec_check => 0);
    is($read->{status}, 200, "$tag: node C still serves reads");
    ok(grep({ $_->{text} eq 'hello' } @{ $read->{json}{items} || [] }),
       "$tag: with what it had");

    # the majority goes on (after electing a new stream leader when the
    # cut-off server led the stream)
    my @wrote;
    my $took = wait_recovered($A, "$tag-a0");
    ok(defined $took, "$tag: node A takes writes meanwhile")
        and note(sprintf '%s: node A wrote after %.1fs', $tag, $took);
    # both workers of A: five writes in a row answered 201 (a worker whose
    # reader of the stream restarts answers 503 meanwhile)
    my ($run, @st) = (0);
    my $deadline = time + $RECOVER_MAX;
    for (my $i = 1; $run < 5 && time < $deadline; $i++) {
        my $w = visitor_post($A, "$tag-a-$i");
        push @st, $w->{status};
        if ($w->{status} == 201) { push @wrote, "$tag-a-$i"; $run++ }
        else { $run = 0; sleep 0.2 }
    }
    is($run, 5, "$tag: and goes on taking them (five in a row)")
        or diag("answers: @st");
    note("$tag: node A's answers: @st") if grep { $_ != 201 } @st;
    # B too, once its workers read the stream again (a worker whose reader
    # is being made again answers 503, safe to retry, as A's did above)
    my ($rb, @bst);
    $deadline = time + $RECOVER_MAX;
    while (1) {
        $rb = rest_write(1);
        push @bst, $rb->{status};
        last if $rb->{status} =~ /^20[01]$/ || time > $deadline;
        sleep 0.2;
    }
    like($rb->{status}, qr/^20[01]$/, "$tag: node B takes REST writes meanwhile")
        or diag("answers: @bst; last: $rb->{content}");
    note("$tag: node B's answers: @bst") if @bst > 1;
    return \@wrote;
}

sub recovered_checks {
    my ($tag, $wrote) = @_;
    my $took = wait_recovered($C, $tag);
    ok(defined $took, "$tag: node C takes writes again by itself")
        and note(sprintf '%s: recovered in %.1fs', $tag, $took);
    my $m = $c->wait_texts($C, $api[2], $conv, $wrote, timeout => 10);
    my %have = map { $_->{text} => 1 } @$m;
    is(scalar(grep { !$have{$_} } @$wrote), 0,
       "$tag: node C has what node A wrote meanwhile");
    my $ma = $c->wait_texts($A, $api[0], $conv, [ map { $_->{text} } @$m ],
                            timeout => 10);
    is_deeply([ map { $_->{id} } @$m ],
              [ map { $_->{id} } @$ma[0 .. $#$m] ],
              "$tag: C lists the conversation as A does");
}

# ---- 1. its server isolated ----
$c->isolate(2);
my $wrote = cut_off_checks('isolated');
$c->rejoin(2);
recovered_checks('isolated', $wrote);

# ---- 2. its server stopped ----
$c->stop(2);
$wrote = cut_off_checks('stopped');
$c->start_server(2);
recovered_checks('stopped', $wrote);

# ---- 3. no quorum anywhere ----
$c->stop($_) for 0 .. 2;
for my $i (0 .. 2) {
    refused_ok(wait_refused($n[$i], "none$i"),
               "no server: node $i refuses a visitor's message");
    my $read = $api[$i]->call(GET => "conversations/$conv/messages?limit=10",
                              undef, spec_check => 0);
    is($read->{status}, 200, "no server: node $i still serves reads");
}
$c->start;
for my $i (0 .. 2) {
    ok(defined wait_recovered($n[$i], "all$i"),
       "servers back: node $i takes writes again");
}

done_testing;
