#!/usr/bin/perl

# Cluster mode and chatvisor_retention (docs/cluster.md "Disk"): the
# stream keeps commands for the retention (its maximum age), so what the
# stores purge leaves the stream too and the stream stays bounded. A node
# whose next command may have aged out of the stream (a new node on an
# old stream, or one away for longer than the retention) stops, says how
# to restore it, answers writes 503 and serves reads, rather than apply
# what is left and differ from the others; restored from another node's
# store (chatvisorctl backup) it catches up. A node away for less than the
# retention catches up as always.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(time sleep);

use Chatvisor::Cluster;
use Chatvisor::API;
use Chatvisor::Chat;

Chatvisor::Cluster::skip_unless_nats();

my $WAIT = 30;      # s for a node to take writes, or to say it stops
my $AGE  = 4;       # s: chatvisor_retention, the stream's maximum age

my $c = Chatvisor::Cluster->new(servers => 1);
$c->skip_unless_core;
$c->start;

sub template {
    my ($retention) = @_;
    my $t = Chatvisor::Cluster::node_template();
    $t =~ s/(chatvisor_cluster [^\n]*\n)/$1    chatvisor_retention $retention;\n/
        or die "no chatvisor_cluster line in the template\n";
    return $t;
}

my $BEHIND = qr/cluster: this node's store is behind what the stream keeps/;

sub wait_behind {
    my ($node, $since) = @_;
    my $deadline = time + $WAIT;
    while (time < $deadline) {
        return 1 if substr($node->error_log, $since) =~ $BEHIND;
        sleep 0.1;
    }
    return 0;
}

# the stream's first seq once it passed SEQ (what aged out is gone)
sub wait_aged {
    my ($seq) = @_;
    my $deadline = time + $AGE + $WAIT;
    while (time < $deadline) {
        my $st = $c->stream(0, 'chatvisor');
        return $st->{first_seq} if $st && ($st->{first_seq} // 0) > $seq;
        sleep 0.2;
    }
    return 0;
}

sub last_seq {
    my $st = $c->stream(0, 'chatvisor') or return 0;
    return $st->{last_seq} // 0;
}

my $A = $c->node(template => template("${AGE}s"), args => 'replicas=1');
$A->run;
ok($c->wait_writable($A, timeout => $WAIT), 'node A takes writes');

my $st = $c->stream(0, 'chatvisor');
is($st && $st->{config}{max_age}, $AGE * 1_000_000_000,
   "the stream keeps commands for chatvisor_retention (${AGE}s)");

my $v = Chatvisor::API::Visitor->new($A, port => $A->port);
my $r = $v->post('old-1');
is($r->{status}, 201, 'a visitor writes on A');
my $conv = $r->{json}{conversation_id};
my $old_seq = last_seq();
ok($old_seq > 0, "the stream holds it (seq $old_seq)");

my $first = wait_aged($old_seq);
ok($first, "after ${AGE}s it aged out of the stream (first seq $first)");

my $api = $c->api($A);
my $m = $c->messages($A, $api, $conv);
ok((grep { ($_->{text} // '') eq 'old-1' } @$m),
   'A still has it (its store purges by its own rule)');

# a new node on a stream that aged: it would miss old-1 and the agents
# and settings before it for good
my $B = $c->node(template => template("${AGE}s"), args => 'replicas=1');
$B->allow_log($BEHIND);
$B->run;
ok(wait_behind($B, 0), 'a new node on an aged stream stops and says so');
like($B->error_log, qr/\[crit\].*restore its store from a running node's/,
     'at crit, with what to do');

my $vb = Chatvisor::API::Visitor->new($B, port => $B->port);
my $w;
my $deadline = time + 5;
do { $w = $vb->post('on the new node'); sleep 0.1 }
    while $w->{status} != 503 && time < $deadline;
is($w->{status}, 503, 'a write on the new node answers 503');
like($w->{content}, qr/"error"/, 'with a JSON error');
my $g = $B->get('/chatvisor/v1/visitor/availability');
is($g->{status}, 200, 'a read on it answers 200');

# restored from A's store, it catches up
$B->stop;
my $store = $B->testdir . '/store';
system('rm', '-rf', $store) == 0 && mkdir($store) or die "$store: $!\n";
my $ctl = Chatvisor::Chat::ctl_path();
my $out = `$ctl backup --store ${\ $A->testdir}/store $store 2>&1`;
is($?, 0, 'chatvisorctl backup of A into B') or diag($out);
my $log_at = length $B->error_log;
$B->run;
ok($c->wait_writable($B, timeout => $WAIT), 'restored, B takes writes');
unlike(substr($B->error_log, $log_at), $BEHIND, 'and does not stop');
my $apib = $c->api($B);
$r = $v->post('new-1');
is($r->{status}, 201, 'A writes again');
$m = $c->wait_texts($B, $apib, $conv, [ 'old-1', 'new-1' ], timeout => 10);
is_deeply([ grep { /^(?:old|new)-1$/ } map { $_->{text} // '' } @$m ],
          [ 'old-1', 'new-1' ], 'B has the old message and the new one');

# away for less than the retention: B catches up as always
$B->stop;
$r = $v->post('while-away');
is($r->{status}, 201, 'A writes while B is stopped');
$log_at = length $B->error_log;
$B->run;
ok($c->wait_writable($B, timeout => $WAIT), 'B back within the retention'
                                            . ' takes writes');
$m = $c->wait_texts($B, $apib, $conv, ['while-away'], timeout => 10);
ok((grep { ($_->{text} // '') eq 'while-away' } @$m),
   'and has what it missed');
unlike(substr($B->error_log, $log_at), $BEHIND, 'without stopping');

# away for longer: what it missed aged out, it stops again
$B->stop;
$r = $v->post('lost-1');
is($r->{status}, 201, 'A writes while B is stopped');
my $lost_seq = last_seq();
ok(wait_aged($lost_seq), 'what B missed aged out of the stream');
$log_at = length $B->error_log;
$B->run;
ok(wait_behind($B, $log_at), 'B back after the retention stops and says so');

# retention off on a node: the stream keeps everything again
my $C = $c->node(args => 'replicas=1');
$C->run;
ok($c->wait_writable($C, timeout => $WAIT), 'a node without retention'
                                            . ' takes writes');
$st = $c->stream(0, 'chatvisor');
is($st && $st->{config}{max_age}, 0,
   'the stream keeps commands for ever again');
like($C->error_log, qr/cluster: the stream keeps commands for 0s now/,
     'which its log says');

done_testing;
