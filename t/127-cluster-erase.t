#!/usr/bin/perl

# A customer's erasure in cluster mode (docs/cluster.md "Erasure"): the
# stream is the truth that new nodes replay, so erasing a customer must
# take their data out of it too, not only out of each node's store.
#
# Three nats-servers (replicas=3) and three nginx nodes A, B, C. Customer
# X writes through A (two conversations), an agent's API reply and X's
# email go through C and B, another customer Y writes before, between and
# after; C's nginx is stopped halfway, so it misses some of X's commands
# and the erasure. DELETE customers/X on B; B is killed (kill -9) right
# after its 204, so the other nodes must finish the removal. Then:
# - no message of the stream (read with JetStream's API, message by
#   message) holds X's text or email, and every one of Y's is still there;
# - A, and C started again (it replays across the removed seqs), have
#   nothing of X and every message of Y; B too once restarted;
# - a fourth node D with an empty store replays the whole stream: it
#   catches up without a gap taken for a loss (no "reading the stream
#   again"), holds none of X's text (its store file has no byte of it),
#   has all of Y's, and its REST cursor and conversations equal A's.
# Bad input: DELETE of a customer that is not there is 404 and removes
# nothing.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(time sleep);

use Chatvisor::Cluster qw(until_ok);
use Chatvisor::Chat qw(ctl);
use Chatvisor::API;
use Chatvisor::NatsStream;

Chatvisor::Cluster::skip_unless_nats();

my $READY_MAX = 30;     # seconds for a node to take writes
my $GONE_MAX = 15;      # seconds for the stream to lose X's commands
my $STREAM = 'chatvisor';

my @chars = ('a' .. 'z', '0' .. '9');
my $mark = 'forget-me-' . join '', map { $chars[rand @chars] } 1 .. 12;
my $keep = 'keep-me-' . join '', map { $chars[rand @chars] } 1 .. 12;
note("X's mark: $mark");

my $c = Chatvisor::Cluster->new(servers => 3);
$c->start;

my @n = $c->nodes(3, args => 'replicas=3');
$_->run for @n;
my ($A, $B, $C) = @n;

for my $node (@n) {
    ok($c->wait_writable($node, timeout => $READY_MAX),
       'node ' . $node->port . ' takes writes');
}

my %api = map { $_ => $c->api($n[$_]) } 0 .. 2;


# ---- X and Y write; C's nginx misses the second half ----

my $y = Chatvisor::Chat::Visitor->new($A);
my $r = $y->post("$keep 1", client_msg_id => 'y1');
is($r->{status}, 201, 'Y writes on A');
my $yconv = $r->{json}{conversation_id};
my @ytexts = ("$keep 1");

my $x = Chatvisor::Chat::Visitor->new($A);
$r = $x->post("$mark one", client_msg_id => 'x1');
is($r->{status}, 201, 'X writes on A');
my $xconv1 = $r->{json}{conversation_id};
my $xcus = $x->customer_id;
ok($xcus, "X is $xcus");

$r = $api{2}->call(POST => "conversations/$xconv1/messages",
                   { text => "answer to $mark" }, spec_check => 0);
is($r->{status}, 201, 'an API reply to X on C') or diag($r->{content});

$r = $y->post("$keep 2", client_msg_id => 'y2');
is($r->{status}, 201, 'Y writes again');
push @ytexts, "$keep 2";

ok($c->wait_texts($C, $api{2}, $xconv1, ["$mark one", "answer to $mark"]),
   'C has X\'s first conversation');
$C->stop;

$r = $api{1}->call(PUT => "customers/$xcus",
                   { email => "$mark\@example.com", firstname => 'Xavier' },
                   spec_check => 0);
is($r->{status}, 200, "X's email through B") or diag($r->{content});

$r = $api{0}->call(POST => "conversations/$xconv1/close", {},
                   spec_check => 0);
is($r->{status}, 200, 'X\'s conversation is closed through A');

my $x_on_b = Chatvisor::Chat::Visitor->new($B, cookie => $x->cookie);
$r = $x_on_b->post("$mark two", client_msg_id => 'x2');
is($r->{status}, 201, 'X writes on B: a second conversation');
my $xconv2 = $r->{json}{conversation_id};
isnt($xconv2, $xconv1, 'another conversation');

$r = $y->post("$keep 3", client_msg_id => 'y3');
is($r->{status}, 201, 'Y writes between');
push @ytexts, "$keep 3";

ok($c->wait_texts($A, $api{0}, $xconv2, ["$mark two"]),
   'A has X\'s second conversation');

# what the stream holds before: X's commands are there
my $ns = Chatvisor::NatsStream->new(port => $c->client_port(0));
my @before = grep { index($_->{data}, $mark) >= 0 } $ns->messages($STREAM);
cmp_ok(scalar @before, '>=', 4,
       'before: the stream holds ' . scalar(@before) . " commands with X's data");

# ---- the erasure on B; B dies right after ----

$r = $api{1}->call(DELETE => 'customers/cus_nobody_here', undef,
                   spec_check => 0);
is($r->{status}, 404, 'DELETE of no such customer: 404');

$r = $api{1}->call(DELETE => "customers/$xcus", undef, spec_check => 0);
is($r->{status}, 204, 'DELETE customers/X on B: 204') or diag($r->{content});
$B->kill9;

$r = $y->post("$keep 4", client_msg_id => 'y4');
is($r->{status}, 201, 'Y writes after the erasure (on A)');
push @ytexts, "$keep 4";

my @left = ();
my $erased_at = time;
my $gone = until_ok($GONE_MAX, sub {
    @left = grep { index($_->{data}, $mark) >= 0 } $ns->messages($STREAM);
    !@left;
});
ok($gone, "no message of the stream holds X's text or email")
    or diag(join "\n", map { "seq $_->{seq}: $_->{data}" } @left);
note(sprintf 'the stream lost them %.2fs after the 204', time - $erased_at);

my @all = $ns->messages($STREAM);
for my $text (@ytexts) {
    ok(scalar(grep { index($_->{data}, $text) >= 0 } @all),
       "the stream still has Y's \"$text\"");
}

# ---- every node: nothing of X, all of Y ----

sub check_node {
    my ($name, $node, $api) = @_;
    my $m = $c->wait_texts($node, $api, $yconv, \@ytexts, timeout => 15);
    is_deeply([ map { $_->{text} } @$m ], \@ytexts,
              "$name has Y's messages, in order");
    is($api->call(GET => "customers/$xcus", undef, spec_check => 0)->{status},
       404, "$name: X is not there");
    for my $conv ($xconv1, $xconv2) {
        is($api->call(GET => "conversations/$conv", undef,
                      spec_check => 0)->{status},
           404, "$name: X's conversation $conv is not there");
    }
    my $since = $api->call(GET => 'conversations?since=0&limit=100', undef,
                           spec_check => 0);
    unlike($since->{content}, qr/\Q$mark\E/, "$name: the REST poll from 0 "
                                             . "has none of X's text");
    return $since->{json};
}

# A's REST poll from 0 once it has what the other node has (that node's
# probe message, written there just before, takes a moment to reach A)
sub a_at {
    my ($other) = @_;
    my $sa;
    until_ok(5, sub {
        $sa = $api{0}->call(GET => 'conversations?since=0&limit=100', undef,
                            spec_check => 0)->{json};
        $sa && ($sa->{next_cursor} // '') eq ($other->{next_cursor} // '');
    });
    check_node('A', $A, $api{0});
    return $sa;
}

my $sa;

$C->run;
ok($c->wait_writable($C, timeout => $READY_MAX), 'C runs again');
my $sc = check_node('C (replayed across the removed seqs)', $C,
                    $c->api($C));
$sa = a_at($sc);     # (C's probe message, written on C, reaches A)
is($sc->{next_cursor}, $sa->{next_cursor}, 'next_cursor: C = A');
is_deeply($sc->{items}, $sa->{items}, 'the conversations: C = A');

$B->run;
ok($c->wait_writable($B, timeout => $READY_MAX), 'B runs again');
my $sb = check_node('B (killed after its 204)', $B, $c->api($B));
$sa = a_at($sb);
is($sb->{next_cursor}, $sa->{next_cursor}, 'next_cursor: B = A');
is_deeply($sb->{items}, $sa->{items}, 'the conversations: B = A');

# ---- a new node replays the whole stream ----

my $D = $c->node(vars => {}, args => 'replicas=3');
$D->run;
ok($c->wait_writable($D, timeout => $READY_MAX), 'a new node D takes writes');
my $apid = $c->api($D);
my $sd = check_node('D (a new store)', $D, $apid);
$sa = a_at($sd);
is($sd->{next_cursor}, $sa->{next_cursor}, 'next_cursor: D = A');
is_deeply($sd->{items}, $sa->{items}, 'the conversations: D = A');

unlike($D->error_log, qr/reading the stream again/,
       'D took no removed seq for a lost one');

{
    my $file = $D->testdir . '/store/data.mdb';
    open my $fh, '<:raw', $file or die "$file: $!";
    local $/;
    my $bytes = <$fh>;
    close $fh;
    ok(length $bytes, "D's store file is there");
    is(index($bytes, $mark), -1, "D's store holds no byte of X's text");
    isnt(index($bytes, "$keep 4"), -1, 'and has Y\'s');
}

for my $node ($A, $B, $C, $D) {
    unlike($node->error_log, qr/not removed from the stream yet/,
           'node ' . $node->port . ': every removal went through');
    unlike($node->error_log, qr/denies deletes/,
           'and it did not take its own stream for one that denies them');
}

done_testing();
