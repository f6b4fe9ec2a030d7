#!/usr/bin/perl

# Cluster mode: co-browsing across nodes (docs/cluster.md, docs/cobrowse.md).
# Three nats-servers, two nginx nodes A and B of one cluster, each with its
# own store and its own co-browsing table; a session's changes cross on a
# core NATS subject. The visitor is on A, the agent's console on B:
#   - the agent asks on B: the visitor's chat poll on A hears the request;
#   - the visitor allows on A: the agent's view held on B hears "active";
#   - the recorder's chunks posted on A reach the agent's view on B, in
#     order, byte for byte, with the same cursors, a held view woken;
#   - chunks posted at once on many connections to A (spread over its
#     workers, each publishing on its own NATS connection) reach B in the
#     order A numbered them, none lost, though some came early to B (B's
#     chatvisor_cobrowse_chunks_reordered_total{outcome="waited"});
#   - the agent's pointer and click on B reach the visitor's poll on A;
#   - B's NATS connection cut (its server killed and started again):
#     the chunks of the meanwhile never reach B, and after the hold
#     (400 ms) the gap is taken for a loss: B's view resets, the
#     recorder on A is asked for a full snapshot, and B goes on from it;
#   - a chunk over the servers' max_payload (1 MB by default) is refused
#     on A like an over-bound chunk (413 too_large, the session ends), and
#     B hears the end;
#   - the agent polling on B keeps the session alive on A past the 30 s
#     after which A would end it (agent_gone);
#   - stop from the visitor on A ends it on B, stop from the agent on B
#     ends it on A.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(time sleep);
use JSON::PP;

use Chatvisor::Cluster qw(until_ok);
use Chatvisor::Chat;
use Chatvisor::Cobrowse qw(:all);

Chatvisor::Cluster::skip_unless_nats();

my $CROSS_MAX = 3;      # seconds for a change on one node to show on the other
my $AGENT_TIMEOUT = 30; # NGX_CHATVISOR_COBROWSE_AGENT_TIMEOUT, s

my $c = Chatvisor::Cluster->new(servers => 3);
$c->start;

# reuseport: each worker its own socket, so connections spread over both
(my $template = Chatvisor::Cluster::node_template())
    =~ s/(listen [^;\n]*);\n/$1 reuseport;\n        chatvisor_cobrowse on;\n        location = \/metrics { chatvisor_status; }\n/;
# B on server 2 alone, so that its NATS connection can be cut (below)
my @n = map { $c->node(args => 'replicas=3', template => $template,
                       servers => $_) } [ 0, 1 ], [ 2 ];
$_->run for @n;
my ($A, $B) = @n;
my @store = map { $_->testdir . '/store' } @n;

ok($c->wait_writable($_, timeout => 60), 'node ' . $_->port . ' takes writes')
    for @n;

# the agent, through the stream (chatvisorctl refuses a cluster node's store)
my $api_a = $c->api($A);
{
    my $p = $api_a->call(PUT => 'agents/ann', { name => 'Ann' }, spec_check => 0);
    die "PUT agents/ann: $p->{status} $p->{content}\n"
        unless $p->{status} == 200 || $p->{status} == 201;
}


sub cobrowse_events {
    my ($res) = @_;
    return [ grep { $_->{type} =~ /^(cobrowse|cobrowse_request|pointer)$/ }
             @{ ($res->{json} && $res->{json}{events}) || [] } ];
}

my $ann = $c->console($B, 'ann');
my ($v, $conv) = conversation($A);
my $cursor = $v->events(after => 0, wait => 0)->{json}{cursor};

# B has the conversation once it applied the stream
ok(until_ok(10, sub {
       $ann->get("conversations/$conv")->{status} == 200 }),
   'the conversation made on A is on B');

# ---- the agent asks on B: the visitor's poll on A hears it ----

my $gen;
{
    my $p = cb_visitor_poll($v, after => $cursor);
    sleep 0.1;
    my $t0 = time;
    my $r = cb_start($ann, $conv);
    is($r->{status}, 201, 'B: POST conversations/ID/cobrowse: 201')
        or diag $r->{content};
    is($r->{json}{state}, 'requested', 'B: requested');

    my $res = $p->result(timeout => 10);
    my ($ev) = @{ cobrowse_events($res) };
    ok($ev, 'A: the visitor\'s held poll carries a co-browsing event')
        or diag $res->{content};
    ok($res->{at} - $t0 < $CROSS_MAX,
       sprintf('A: woken across nodes (%.3f s)', $res->{at} - $t0));
    is($ev && $ev->{type}, 'cobrowse_request', 'A: cobrowse_request');
    is($ev && $ev->{state}, 'requested', 'A: state requested');
    is_deeply($ev && $ev->{agent}, { name => 'Ann' }, 'A: the agent\'s name');
    $gen = $ev && $ev->{generation};

    my $s = cb_state($v);
    is($s->{json}{state}, 'requested', 'A: GET cobrowse: requested');
}

# ---- the visitor allows on A: the agent's view on B hears it ----

{
    my $view = cb_start_view($ann, $conv, after => 0);
    sleep 0.2;
    ok(!$view->ready(0), 'B: the agent\'s view waits for the visitor');
    my $t0 = time;
    my $r = cb_decide($v, 'allow');
    is($r->{status}, 200, 'A: allow: 200') or diag $r->{content};
    is($r->{json}{state}, 'active', 'A: active');
    my $res = $view->result(timeout => 10);
    is($res->{status}, 200, 'B: the view answers 200');
    is($res->{json}{state}, 'active', 'B: the view hears: active');
    ok($res->{at} - $t0 < $CROSS_MAX,
       sprintf('B: told across nodes (%.3f s)', $res->{at} - $t0));
}

# ---- chunks posted on A reach the agent's view on B, in order ----

my @sent;
my $full = full_snapshot(bytes => 3000, mark => 'cluster page');
{
    my $view = cb_start_view($ann, $conv, after => 0);
    sleep 0.2;
    my $t0 = time;
    my $r = cb_send($v, $full, recorder => 'tab1', full => 1);
    is($r->{status}, 204, 'A: the full snapshot: 204') or diag $r->{content};
    push @sent, @{ decode($full) };
    my $res = $view->result(timeout => 10);
    ok($res->{at} - $t0 < $CROSS_MAX,
       sprintf('B: the held view has it (%.3f s)', $res->{at} - $t0));
    ok($res->{json}{reset}, 'B: reset: it starts a view');
    is_deeply($res->{json}{events}, decode($full), 'B: the snapshot as sent');
    is($res->{json}{cursor}, 1, 'B: cursor 1, as on A');
}

{
    # many in a row: posts land on either worker of A (each its own NATS
    # connection); B keeps them in their order
    for my $i (1 .. 20) {
        my $inc = incremental(n => 2, mark => "step $i", bytes => 50);
        my $r = cb_send($v, $inc, recorder => 'tab1');
        is($r->{status}, 204, "A: chunk $i: 204") or diag $r->{content};
        push @sent, @{ decode($inc) };
    }

    my (@got, $vc);
    $vc = 0;
    my $done = until_ok(10, sub {
        my $res = cb_view($ann, $conv, after => $vc, wait => 0);
        return 0 unless $res->{status} == 200 && $res->{json};
        @got = () if $res->{json}{reset};
        push @got, @{ $res->{json}{events} || [] };
        $vc = $res->{json}{cursor};
        return $vc == 21;
    });
    ok($done, "B: the view reaches cursor 21 (at $vc)");
    is(scalar @got, scalar @sent, 'B: every event, none twice');
    is_deeply(\@got, \@sent, 'B: the events in the order A took them');

    # a view (re)opening on B asks the recorder on A for a new snapshot
    my $res = cb_view($ann, $conv, after => 0);
    ok($res->{json}{reset}, 'B: a view that opens starts from the snapshot');
    ok(until_ok($CROSS_MAX, sub { cb_state($v)->{json}{snapshot} }),
       'A: the visitor is asked for a new full snapshot');
    is(cb_send($v, full_snapshot(mark => 'again'), recorder => 'tab1',
               full => 1)->{status}, 204, 'A: the asked-for snapshot: 204');
    ok(until_ok($CROSS_MAX, sub {
           my $x = cb_view($ann, $conv, after => 21, wait => 0);
           ($x->{json}{cursor} // 0) == 22 && $x->{json}{reset} }),
       'B: the new snapshot, cursor 22');
}

# ---- the agent's pointer on B reaches the visitor's poll on A ----

{
    my $g = cb_state($v)->{json}{generation};
    my $p = cb_visitor_poll($v, after => $cursor, cobrowse => $g);
    sleep 0.2;
    my $t0 = time;
    my $r = cb_pointer($ann, $conv, x => 120, y => 340);
    is($r->{status}, 204, 'B: pointer: 204') or diag $r->{content};
    my $res = $p->result(timeout => 10);
    ok($res->{at} - $t0 < $CROSS_MAX,
       sprintf('A: the poll is woken (%.3f s)', $res->{at} - $t0));
    my @ev = @{ cobrowse_events($res) };
    is(scalar @ev, 1, 'A: one event') or diag $res->{content};
    is($ev[0] && $ev[0]{type}, 'pointer', 'A: type pointer');
    is_deeply([ @{ $ev[0] || {} }{qw(x y)} ], [ 120, 340 ],
              'A: its page coordinates');
    my $pc = $ev[0] && $ev[0]{pointer};

    $r = cb_pointer($ann, $conv, x => 50, y => 60, click => 1);
    is($r->{status}, 204, 'B: a click: 204');
    my $clicked = until_ok($CROSS_MAX, sub {
        my @e = @{ cobrowse_events($v->events(after => $cursor, cobrowse => $g,
                                              pointer => $pc, wait => 0)) };
        @e && $e[-1]{click} ? $e[-1] : undef });
    ok($clicked, 'A: the click is seen');
    is_deeply([ @{ $clicked || {} }{qw(x y)} ], [ 50, 60 ], 'A: at its place');
}

# ---- chunks posted at once on many connections to A: in A's order on B ----

# B's chatvisor_cobrowse_chunks_reordered_total{outcome="..."}
sub reordered {
    my ($t, $outcome) = @_;
    my $r = $t->get('/metrics');
    return ($r->{content} =~ /^chatvisor_cobrowse_chunks_reordered_total
                              \{outcome="$outcome"\}\s+(\d+)$/mx)[0];
}
my $reordered = \&reordered;

my $vcur = 22;
{
    my $BURST = 16;         # chunks posted at once, each its own connection
    my $ROUNDS_MAX = 10;    # bursts until one came out of order to B

    my $ann_a = $c->console($A, 'ann', api => $api_a);
    my $waited = sub { $reordered->($_[0], 'waited') };
    # the events of the view from $after to $want, reset or not
    my $read = sub {
        my ($agent, $after, $want) = @_;
        my (@ev, $resets);
        $resets = 0;
        my $done = until_ok(10, sub {
            my $res = cb_view($agent, $conv, after => $after, wait => 0);
            return 0 unless $res->{status} == 200 && $res->{json};
            $resets++ if $res->{json}{reset};
            push @ev, @{ $res->{json}{events} || [] };
            # (a view asked with no cursor would be one that opens, and
            # ask the recorder for a snapshot)
            $after = $res->{json}{cursor} // $after;
            return $after == $want;
        });
        return ($done, \@ev, $resets);
    };

    # events as a bag (their order aside): their canonical texts, sorted
    my $canon = JSON::PP->new->canonical;
    my $bag = sub { join "\n", sort map { $canon->encode($_) } @{ $_[0] } };

    my $before = $waited->($B);
    my $lost_before = $reordered->($B, 'lost');
    ok(defined $before && defined $lost_before,
       "B: the metric is there ($before waited, $lost_before lost)");
    my ($rounds, $all_204, $all_same, $after_b) = (0, 1, 1, $before);
    while ($rounds < $ROUNDS_MAX) {
        $rounds++;
        my @sent;
        my @p = map {
            my $inc = incremental(n => 1, mark => "burst $rounds.$_");
            push @sent, @{ decode($inc) };
            $A->start_request(method => 'POST',
                path => $Chatvisor::Chat::PREFIX
                        . 'v1/visitor/cobrowse/events?recorder=tab1',
                headers => [ %{ $v->headers(
                    'Content-Type' => 'application/json') } ],
                body => $inc);
        } 1 .. $BURST;
        my @st = map { $_->finish(timeout => 10)->status } @p;
        $all_204 &&= !grep { $_ != 204 } @st;
        my $want = $vcur + $BURST;
        my ($a_done, $a_ev) = $read->($ann_a, $vcur, $want);
        my ($b_done, $b_ev, $b_resets) = $read->($ann, $vcur, $want);
        my $same = $a_done && $b_done && !$b_resets
                   && @$b_ev == $BURST
                   && $bag->($b_ev) eq $bag->(\@sent)
                   && Test::More::eq_array($b_ev, $a_ev);
        diag("burst $rounds: A at cursor " . ($a_done ? $want : '?')
             . ', B at ' . ($b_done ? $want : '?')
             . ", B reset $b_resets, " . scalar(@$b_ev) . ' events; '
             . join(' / ', map { my $e = $_;
                   join(',', map { $_->{data}{mark} // '?' } @$e) }
                   \@sent, $a_ev, $b_ev))
            unless $same;
        $all_same &&= $same;
        $vcur = $want;
        $after_b = $waited->($B);
        last if $after_b > $before;
    }
    ok($all_204, "A: every chunk of $rounds bursts of $BURST: 204");
    ok($all_same, "B: each burst whole, no reset, in the order A numbered "
                  . "its chunks (A's view and B's alike)");
    ok($after_b > $before, sprintf('B: %d chunks came early and waited '
       . '(%d bursts)', $after_b - $before, $rounds));
    is($reordered->($B, 'lost'), $lost_before, 'B: no gap taken for a loss');
}

# ---- B's NATS connection cut: a loss, a snapshot asked of A's recorder ----

{
    my $lost0 = $reordered->($B, 'lost');
    my $st0 = cb_state($v);
    ok(!$st0->{json}{snapshot}, 'A: no snapshot wanted before')
        or diag(explain $st0->{json});
    my $b_cursor = $vcur;

    $c->kill(2);
    my $i = 0;
    # chunks on A until B, reconnected, has taken the gap for a loss
    my $lost = until_ok(60, sub {
        my $r = cb_send($v, incremental(mark => 'cut ' . ++$i),
                        recorder => 'tab1');
        $vcur++ if $r->{status} == 204;
        $c->start_server(2) if $i == 5;
        sleep 0.2;
        return $reordered->($B, 'lost') > $lost0;
    });
    ok($lost, "B: the gap after its server came back is a loss ($i chunks "
              . 'posted on A)');
    ok(until_ok($CROSS_MAX, sub { cb_state($v)->{json}{snapshot} }),
       'A: the recorder is asked for a full snapshot');

    my $snap = full_snapshot(mark => 'after the cut');
    is(cb_send($v, $snap, recorder => 'tab1', full => 1)->{status}, 204,
       'A: the snapshot: 204');
    $vcur++;
    my $x = until_ok($CROSS_MAX, sub {
        my $res = cb_view($ann, $conv, after => $b_cursor, wait => 0);
        ($res->{json}{cursor} // 0) == $vcur ? $res : undef });
    ok($x && $x->{json}{reset}, "B: its view resets to A's snapshot, "
                                . "cursor $vcur as on A");
    is_deeply($x && $x->{json}{events}, decode($snap),
              'B: the snapshot as sent');
    my $inc = incremental(mark => 'after the snapshot');
    is(cb_send($v, $inc, recorder => 'tab1')->{status}, 204,
       'A: the next chunk: 204');
    $vcur++;
    my $y = until_ok($CROSS_MAX, sub {
        my $res = cb_view($ann, $conv, after => $vcur - 1, wait => 0);
        ($res->{json}{cursor} // 0) == $vcur ? $res : undef });
    is_deeply($y && $y->{json}{events}, decode($inc),
              'B: and goes on from it');
    ok(!cb_state($v)->{json}{snapshot}, 'A: no snapshot wanted any more');
}

# ---- over the servers' max_payload: refused like an over-bound chunk ----

{
    my $view = cb_start_view($ann, $conv, after => $vcur);
    sleep 0.2;
    my $big = full_snapshot(bytes => 1_100_000, mark => 'too big');
    my $r = cb_send($v, $big, recorder => 'tab1', full => 1);
    is($r->{status}, 413, 'A: a chunk over max_payload: 413');
    is($r->{json}{error}{code}, 'too_large', 'A: too_large');
    my $res = $view->result(timeout => 10);
    is($res->{json}{state}, 'ended', 'B: the view hears: ended');
    is($res->{json}{reason}, 'too_large', 'B: reason too_large');
}

# ---- stop from the visitor on A ends it on B ----

sub ask_and_allow {
    my $p = cb_visitor_poll($v, after => $cursor,
                            cobrowse => cb_state($v)->{json}{generation});
    my $r = cb_start($ann, $conv);
    is($r->{status}, 201, 'B: asked again: 201') or diag $r->{content};
    $p->result(timeout => 10);
    ok(until_ok($CROSS_MAX, sub {
           (cb_state($v)->{json}{state} // '') eq 'requested' }),
       'A: requested');
    is(cb_decide($v, 'allow')->{status}, 200, 'A: allowed');
    ok(until_ok($CROSS_MAX, sub {
           (cb_view($ann, $conv, wait => 0)->{json}{state} // '') eq 'active' }),
       'B: active');
}

{
    ask_and_allow();
    my $view = cb_start_view($ann, $conv, after => 0);
    sleep 0.2;
    my $t0 = time;
    my $r = cb_vstop($v);
    is($r->{status}, 200, 'A: the visitor stops: 200');
    my $res = $view->result(timeout => 10);
    ok($res->{at} - $t0 < $CROSS_MAX,
       sprintf('B: the view is told (%.3f s)', $res->{at} - $t0));
    is($res->{json}{state}, 'ended', 'B: ended');
    is($res->{json}{reason}, 'visitor', 'B: by the visitor');
    is(cb_pointer($ann, $conv, x => 1, y => 1)->{status}, 410,
       'B: no pointer after the end');
}

# ---- the agent's console on B keeps the session alive on A ----
# (a node ends a session whose agent it has not seen for 30 s: A hears of
# the agent's polls on B, told every 5 s)

{
    ask_and_allow();
    my $t0 = time;
    while (time - $t0 < $AGENT_TIMEOUT + 8) {
        cb_view($ann, $conv, after => 0);       # held up to 2 s
    }
    is(cb_state($v)->{json}{state}, 'active',
       sprintf('A: still active %.0f s later, the agent polling on B',
               time - $t0));
}

# ---- stop from the agent on B ends it on A ----

{
    my $g = cb_state($v)->{json}{generation};
    my $p = cb_visitor_poll($v, after => $cursor, cobrowse => $g);
    sleep 0.2;
    my $t0 = time;
    my $r = cb_astop($ann, $conv);
    is($r->{status}, 200, 'B: the agent stops: 200');
    is($r->{json}{reason}, 'agent', 'B: reason agent');
    my $res = $p->result(timeout => 10);
    ok($res->{at} - $t0 < $CROSS_MAX,
       sprintf('A: the poll is told (%.3f s)', $res->{at} - $t0));
    my ($ev) = @{ cobrowse_events($res) };
    is($ev && $ev->{state}, 'ended', 'A: the visitor\'s poll: ended');
    is($ev && $ev->{reason}, 'agent', 'A: by the agent');
    is(cb_state($v)->{json}{reason}, 'agent', 'A: GET cobrowse: ended by the agent');
    my $s = cb_send($v, incremental(), recorder => 'tab1');
    is($s->{status}, 410, 'A: events after the end: 410');
}

done_testing();
