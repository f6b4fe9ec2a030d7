#!/usr/bin/perl

# Cluster mode across a binary upgrade of a node (issue 15: "reloads and
# binary upgrades keep working"): USR2 starts a new master from the
# binary with the old one's listening sockets, WINCH stops the old
# workers gracefully, QUIT the old master. The new workers connect to the
# cluster and read the stream while the old ones still answer; a visitor
# writes on that node throughout: every write acknowledged before, during
# and after the upgrade is on the other node too, and none is refused
# with anything but a 503 (the cluster's "try again").

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(time sleep);

use Chatvisor::Cluster;
use Chatvisor::API;

Chatvisor::Cluster::skip_unless_nats();

my $WAIT = 30;

my $c = Chatvisor::Cluster->new(servers => 1);
$c->skip_unless_core;
$c->start;

my @n = $c->nodes(2, args => 'replicas=1');
my ($A, $B) = @n;
$A->run(daemon => 1);       # USR2 and WINCH need a daemonized master
$B->run;
ok($c->wait_writable($_, timeout => $WAIT), 'node ' . $_->port . ' takes writes')
    for @n;

my $v = Chatvisor::API::Visitor->new($A, port => $A->port);
my $r = $v->post('before the upgrade');
is($r->{status}, 201, 'a visitor writes on A');
my $conv = $r->{json}{conversation_id};
my $w = $c->start_writer($A, cookie => $v->cookie, prefix => 'up', pause => 0.01);
ok($w->wait_acked(10, $WAIT), '10 writes acknowledged before the upgrade');

# USR2, WINCH, QUIT; between the new master's start and WINCH, its
# workers must read the stream beside the old ones
my $mark = length $A->error_log;
my $before;
my $reading;
my $err = $A->upgrade(between => sub {
    my ($new) = @_;
    my @fresh = do { local $A->{pid} = $new; $A->worker_pids };
    my $deadline = time + $WAIT;
    while (time < $deadline) {
        my %r = map { $_ => 1 } substr($A->error_log, $mark)
            =~ /\] (\d+)#\d+: chatvisor: cluster: reading the stream/g;
        last if $reading = !grep { !$r{$_} } @fresh;
        sleep 0.05;
    }
    $before = @{ $w->acked };
});
is($err, undef, 'a binary upgrade of A (USR2, WINCH, QUIT)');
ok($reading, 'the new workers read the stream beside the old ones');

ok($w->wait_acked(($before // 0) + 20, $WAIT), '20 more writes acknowledged after it');
$w->stop;
my $acked = $w->acked;
my @fails = @{ $w->failed };
ok(!grep({ $_->[1] != 503 } @fails),
   'a write refused meanwhile is a 503, never another error')
    or diag(explain \@fails);
note(scalar(@fails) . ' write(s) refused during the upgrade') if @fails;

my $api = $c->api($B);
my $m = $c->wait_texts($B, $api, $conv, $acked, timeout => 10);
my %on_b = map { ($_->{text} // '') => 1 } @$m;
my @missing = grep { !$on_b{$_} } @$acked;
is_deeply(\@missing, [], 'B has every write A acknowledged ('
                         . scalar(@$acked) . ')');

$r = $v->post('after the upgrade');
is($r->{status}, 201, 'A, upgraded, takes a write');
$m = $c->wait_texts($B, $api, $conv, ['after the upgrade'], timeout => 10);
ok((grep { ($_->{text} // '') eq 'after the upgrade' } @$m), 'which B has');

done_testing;
