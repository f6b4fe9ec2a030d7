#!/usr/bin/perl

# A customer's erasure in cluster mode when JetStream refuses to remove
# messages at that moment (docs/cluster.md "What fails how"): the nodes
# keep what they must remove in their stores and try again, across
# restarts, until it is done.
#
# Three nats-servers whose user for the nginx nodes may not publish to
# $JS.API.STREAM.MSG.DELETE.> (so every js_EraseMsg is refused, as when
# the stream cannot be reached), two nginx nodes A and B. Customer X and
# customer Y write; DELETE customers/X on A answers 204 and X is gone from
# both stores at once, but the stream still holds X's commands and each
# node says so in its error log. Both nginx nodes are stopped; the
# servers are restarted one by one with the permission given; the nodes
# are started again and, from the to-do kept in their stores, take X's
# commands out of the stream; Y's are all still there.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(time sleep);

use Chatvisor::Cluster qw(until_ok);
use Chatvisor::Chat ();
use Chatvisor::NatsStream;

Chatvisor::Cluster::skip_unless_nats();

my $READY_MAX = 30;     # seconds for a node to take writes
my $GONE_MAX = 20;      # seconds for the stream to lose X's commands
my $STREAM = 'chatvisor';
my ($USER, $PASS) = ('cv', 'cv-' . join '', map { int rand 10 } 1 .. 12);
my ($ADMIN, $APASS) = ('admin', 'ad-' . join '', map { int rand 10 } 1 .. 12);

my @chars = ('a' .. 'z', '0' .. '9');
my $mark = 'forget-me-' . join '', map { $chars[rand @chars] } 1 .. 12;
my $keep = 'keep-me-' . join '', map { $chars[rand @chars] } 1 .. 12;

# the nodes' user, without (deny => 1) or with the right to remove messages
sub auth {
    my (%o) = @_;
    my $deny = $o{deny}
        ? q{, deny: ["$JS.API.STREAM.MSG.DELETE.>"]} : '';
    return <<"EOF";
authorization {
    users: [
        { user: "$USER", password: "$PASS",
          permissions: { publish: { allow: [">"]$deny },
                         subscribe: { allow: [">"] } } }
        { user: "$ADMIN", password: "$APASS" }
    ]
}
EOF
}

my $c = Chatvisor::Cluster->new(servers => 3, extra => auth(deny => 1));
$c->start;

my $urls = join ',', map { "nats://$USER:$PASS\@127.0.0.1:" . $c->client_port($_) }
                     0 .. 2;
my @n = $c->nodes(2, args => 'replicas=3', vars => { NATS_URLS => $urls });
$_->run for @n;
my ($A, $B) = @n;

for my $node (@n) {
    ok($c->wait_writable($node, timeout => $READY_MAX),
       'node ' . $node->port . ' takes writes');
}
my %api = map { $_ => $c->api($n[$_]) } 0 .. 1;


# the stream's messages holding text (asked again while the stream has no
# leader yet, after the servers' restarts)
sub stream_with {
    my ($text) = @_;
    my $deadline = time + 30;
    while (1) {
        my @m = eval {
            my $ns = Chatvisor::NatsStream->new(port => $c->client_port(0),
                                                user => $ADMIN, pass => $APASS);
            my @all = $ns->messages($STREAM);
            grep { index($_->{data}, $text) >= 0 } @all;
        };
        return @m unless $@;
        die "the stream: $@" if time > $deadline;
        sleep 0.5;
    }
}

my $y = Chatvisor::Chat::Visitor->new($A);
is($y->post("$keep 1", client_msg_id => 'y1')->{status}, 201, 'Y writes');
my $x = Chatvisor::Chat::Visitor->new($A);
my $r = $x->post("$mark one", client_msg_id => 'x1');
is($r->{status}, 201, 'X writes');
my $xconv = $r->{json}{conversation_id};
my $xcus = $x->customer_id;
my $x_on_b = Chatvisor::Chat::Visitor->new($B, cookie => $x->cookie);
is($x_on_b->post("$mark two", client_msg_id => 'x2')->{status}, 201,
   'X writes on B');
is($y->post("$keep 2", client_msg_id => 'y2')->{status}, 201, 'Y again');
ok($c->wait_texts($B, $api{1}, $xconv, ["$mark one", "$mark two"]),
   'B has X\'s messages');

$r = $api{0}->call(DELETE => "customers/$xcus", undef, spec_check => 0);
is($r->{status}, 204, 'DELETE customers/X on A: 204') or diag($r->{content});

for my $i (0, 1) {
    my $name = $i ? 'B' : 'A';
    my $gone = until_ok(5, sub {
        $api{$i}->call(GET => "customers/$xcus", undef,
                       spec_check => 0)->{status} == 404;
    });
    ok($gone, "$name: X is gone from the store");
    is($api{$i}->call(GET => "conversations/$xconv", undef,
                      spec_check => 0)->{status}, 404,
       "$name: X's conversation too");
}

# each node tried, was refused, and says it will try again
for my $node (@n) {
    ok(until_ok(10, sub {
        $node->error_log =~ /not removed from the stream yet, again later/;
    }), 'node ' . $node->port . ': the removal was refused, to be retried');
}
cmp_ok(scalar(stream_with($mark)), '==', 2,
       'the stream still holds X\'s two messages');

# both nodes down; the servers let the nodes remove messages now
$_->stop for @n;
$c->{extra} = auth(deny => 0);
for my $i (0 .. 2) {
    $c->restart($i);
    $c->wait_ready;
}
cmp_ok(scalar(stream_with($mark)), '==', 2,
       'with the nodes down, nothing removed them meanwhile');

$_->run for @n;
my @left;
my $gone = until_ok($GONE_MAX, sub {
    @left = stream_with($mark);
    !@left;
});
ok($gone, 'the nodes, started again, took X\'s commands out of the stream '
          . 'from the to-do kept in their stores')
    or diag(join "\n", map { "seq $_->{seq}: $_->{data}" } @left);
is(scalar(stream_with($keep)), 2, 'Y\'s two messages are still there');

for my $node (@n) {
    ok($c->wait_writable($node, timeout => $READY_MAX),
       'node ' . $node->port . ' takes writes again');
}
is($y->post("$keep 3", client_msg_id => 'y3')->{status}, 201,
   'Y writes after it');

done_testing();
