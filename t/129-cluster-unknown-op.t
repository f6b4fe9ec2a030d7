#!/usr/bin/perl

# Cluster mode (issue 15, docs/cluster.md "Upgrades"): a command whose op
# this node does not know (a newer node wrote it) is not applied as
# nothing, which would make this node's store differ from the others for
# good: the node stops at it, says so in its log, answers writes 503 and
# keeps serving reads, and after a restart it stops at the same command
# again (its seq was not skipped).

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use IO::Socket::INET;
use Test::More;
use Time::HiRes qw(time sleep);

use Chatvisor::Cluster;
use Chatvisor::API;

Chatvisor::Cluster::skip_unless_nats();

my $WAIT = 30;      # s for a node to take writes, or to meet the command

my $c = Chatvisor::Cluster->new(servers => 3);
$c->skip_unless_core;
$c->start;

my @n = $c->nodes(2, args => 'replicas=3');
$_->run for @n;
my ($A, $B) = @n;
ok($c->wait_writable($_, timeout => $WAIT), 'node ' . $_->port . ' takes writes')
    for @n;

my $LINE = qr/cluster: seq (\d+) is a command this node does not know \(op "future\.op"\)/;
$_->allow_log($LINE) for @n;

my $v = Chatvisor::API::Visitor->new($A, port => $A->port);
my $r = $v->post('before the newer command');
is($r->{status}, 201, 'a visitor writes on A');
my $api = $c->api($A);

# a newer node's command, straight onto the stream's subject
my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                              PeerPort => $c->client_port(0))
    or die "nats: $!";
my $info = <$s>;
print $s "CONNECT {\"verbose\":false}\r\n";
my $cmd = '{"op":"future.op","seed":"' . ('ab' x 16) . '","now":'
        . int(time * 1000) . '}';
print $s 'PUB chatvisor.cmd ' . length($cmd) . "\r\n$cmd\r\nPING\r\n";
while (my $l = <$s>) { last if $l =~ /PONG/ }
close $s;

sub wait_line {
    my ($node, $since) = @_;
    my $deadline = time + $WAIT;
    while (time < $deadline) {
        my $log = substr($node->error_log, $since);
        return $1 if $log =~ $LINE;
        sleep 0.1;
    }
    return undef;
}

my %seq;
for my $node (@n) {
    $seq{ $node->port } = wait_line($node, 0);
    ok($seq{ $node->port }, 'node ' . $node->port . ' stops at the unknown op'
                            . ' and says so');
}

# writes: refused, with the cluster's JSON error; reads: served
my $w;
my $deadline = time + 5;
do { $w = $v->post('after the newer command'); sleep 0.1 }
    while $w->{status} != 503 && time < $deadline;
is($w->{status}, 503, 'a write on A answers 503');
like($w->{content}, qr/"error"/, 'with a JSON error');
my $g = $api->call(GET => 'conversations', undef, spec_check => 0);
is($g->{status}, 200, 'a read on A answers 200');
like($g->{content}, qr/\Q$r->{json}{conversation_id}\E/,
     'with what was applied before');

# a restart does not skip it
my $since = length $A->error_log;
$A->stop;
$A->run;
my $again = wait_line($A, $since);
is($again, $seq{ $A->port }, 'after a restart A stops at the same seq');

done_testing;
