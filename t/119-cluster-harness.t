#!/usr/bin/perl

# The cluster harness itself (t/lib/Chatvisor/Cluster.pm): three
# nats-servers form one JetStream cluster (every server sees the same meta
# leader, the meta group has three peers); kill -9 of one leaves the other
# two with a leader (the leader itself is the one killed, so a new one is
# elected); the killed one comes back on its store and rejoins; an
# isolated server has no leader while the other two keep theirs, and
# rejoins; nginx nodes get the servers' urls in their config; a node's
# kill9 ends master and workers at once and run starts it again.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;

use Chatvisor::Cluster;
use Chatvisor::Port;

Chatvisor::Cluster::skip_unless_nats();

my $c = Chatvisor::Cluster->new(servers => 3);
$c->start;

my %name_of = map { $c->name($_) => $_ } 0 .. 2;
my $leader = $c->wait_leader;
ok(defined $leader && exists $name_of{$leader},
   'the three servers agree on a meta leader, one of them')
    or diag(join "\n", map { "$_: " . ($c->meta_leader($_) // 'none') } 0 .. 2);

{
    my $j = $c->monitor($name_of{$leader}, 'jsz');
    is($j->{meta_cluster}{cluster_size}, 3, 'the meta group has three peers');
    my @peers = sort map { $_->{name} } @{ $j->{meta_cluster}{replicas} || [] };
    my @others = sort grep { $_ ne $leader } map { $c->name($_) } 0 .. 2;
    is_deeply(\@peers, \@others, 'the leader reports the other two as replicas');
    my $v = $c->monitor(1, 'varz');
    is($v->{server_name}, 's1', 'server 1 answers as s1');
    is(scalar(@{ $v->{cluster}{urls} || [] }), 2,
       'server 1 routes to the other two');
    my $h = $c->monitor(2, 'healthz?js-enabled-only=true');
    is($h->{_status}, 200, 'server 2 says JetStream is healthy');
}

like($c->urls, qr{^nats://127\.0\.0\.1:\d+(?:,nats://127\.0\.0\.1:\d+){2}$},
     'urls: the three client urls, comma-joined');
is($c->urls(2), $c->url(2), 'urls(I): that server only');

# kill -9 the leader: the other two elect one of themselves
my $dead = $name_of{$leader};
my @alive = grep { $_ != $dead } 0 .. 2;
$c->kill($dead);
ok(!$c->running($dead), 'the killed server is gone');
my $new = $c->wait_leader(among => \@alive, timeout => 30);
ok(defined $new && $new ne $leader && grep({ $c->name($_) eq $new } @alive),
   "after kill -9 of the leader ($leader) the other two have a new one")
    or diag(join "\n", map { "$_: " . ($c->meta_leader($_) // 'none') } @alive);

# back on its store: the three agree again
$c->start_server($dead);
my $back = $c->wait_leader(timeout => 30);
ok(defined $back, 'the restarted server rejoins: the three agree on a leader');

# isolated: no leader there, the other two keep one
my $lone = $alive[0];
my @rest = grep { $_ != $lone } 0 .. 2;
$c->isolate($lone);
ok($c->running($lone), 'the isolated server runs');
ok(defined $c->wait_leader(among => \@rest, timeout => 30),
   'the two others keep a leader');
my $seen;
for (1 .. 50) {    # its own meta state may name the old leader for a moment
    $seen = $c->meta_leader($lone);
    last unless defined $seen;
    select undef, undef, undef, 0.2;
}
ok(!defined $seen, 'the isolated server has no leader')
    or diag("it sees $seen");
$c->rejoin($lone);
is(scalar(grep { defined $c->meta_leader($_) } 0 .. 2), 3,
   'after rejoin every server sees a leader');

# nginx nodes: the template gets the urls (not run: that needs the core)
{
    my $n = $c->node(servers => [1, 2], args => 'replicas=3');
    my $conf = $n->_write_conf('error.log');
    my $want = 'chatvisor_cluster ' . $c->urls(1, 2) . ' replicas=3;';
    like($conf, qr/\Q$want\E/, 'a node names the servers it was given');
    like($conf, qr/chatvisor_api_client crm \Q${\ $c->api_secret_file}\E;/,
         'every node shares the API client secret file');
    my @two = $c->nodes(2);
    isnt($two[0]->testdir, $two[1]->testdir, 'each node has its own dir');
    isnt($two[0]->port, $two[1]->port, 'and its own port');
}

# kill9 ends master and workers at once; run starts the node again
{
    my $n = $c->node(template => <<'CONF');
worker_processes 2;
http {
    chatvisor_store %%TESTDIR%%/store size=16m;
    server {
        listen 127.0.0.1:%%PORT%%;
        location /chatvisor/ { chatvisor on; }
    }
}
CONF
    $n->run;
    my $master = $n->pid;
    my @workers = $n->worker_pids;
    is(scalar @workers, 2, 'a node runs its two workers');
    $n->kill9;
    ok(!kill(0, $master) && !grep({ kill 0, $_ } @workers),
       'kill9: master and workers are gone');
    ok(!Chatvisor::Port::port_open($n->port), 'kill9: nothing listens');
    $n->run;
    is($n->get('/chatvisor/nowhere')->{status}, 404,
       'run after kill9: the node answers again');
}

done_testing;
