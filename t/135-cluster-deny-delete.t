#!/usr/bin/perl

# Cluster mode (issue 15, docs/cluster.md "What fails how"): a stream made
# beforehand with deny_delete, which JetStream does not let an update
# change, cannot lose an erased customer's commands. The node works with
# it (it takes writes) and says at error, naming the remedy, that erasure
# is not complete there; an erasure's commands stay in the stream and the
# node says that too.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use JSON::PP ();
use Test::More;
use Time::HiRes qw(time sleep);

use Chatvisor::Cluster;
use Chatvisor::API;
use Chatvisor::NatsStream;

Chatvisor::Cluster::skip_unless_nats();

my $WAIT = 30;      # s for a node to take writes, or to log a line

my $c = Chatvisor::Cluster->new(servers => 1);
$c->skip_unless_core;
$c->start;

# the stream, made as an operator might, before any node
my $s = Chatvisor::NatsStream->new(port => $c->client_port(0));
my $made = $s->request('$JS.API.STREAM.CREATE.chatvisor', {
    name => 'chatvisor', subjects => ['chatvisor.cmd'], storage => 'file',
    num_replicas => 1, deny_delete => JSON::PP::true });
ok(!$made->{error}, 'a stream with deny_delete made beforehand')
    or diag(JSON::PP->new->encode($made));

my ($A) = $c->nodes(1, args => 'replicas=1');
$A->run;
ok($c->wait_writable($A, timeout => $WAIT), 'the node takes writes');

sub wait_log {
    my ($re) = @_;
    my $deadline = time + $WAIT;
    while (time < $deadline) {
        return 1 if $A->error_log =~ $re;
        sleep 0.1;
    }
    return 0;
}

ok(wait_log(qr/\[error\].*the stream denies deletes \(deny_delete\).*erasure is not complete.*without deny_delete/),
   'its log says at error that erasure is not complete, and the remedy');

# an erasure: the store forgets, the stream cannot
my $v = Chatvisor::API::Visitor->new($A, port => $A->port);
my $mark = 'forget-me-' . int(rand 1e9);
my $r = $v->post($mark);
is($r->{status}, 201, 'a visitor writes') or diag($r->{content});
my $api = $c->api($A);
my $d = $api->call(DELETE => 'customers/' . $v->customer_id, undef,
                   spec_check => 0);
is($d->{status}, 204, 'DELETE customers/{id} answers 204') or diag($d->{content});
ok(wait_log(qr/some erased commands are not removed from the stream yet/),
   'the node says the stream still holds them');
ok((grep { $_->{data} =~ /\Q$mark\E/ } $s->messages('chatvisor')),
   'and the stream does: deny_delete kept them');

done_testing;
