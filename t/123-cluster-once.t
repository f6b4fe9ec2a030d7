#!/usr/bin/perl

# Cluster mode (issue 15, docs/cluster.md): what must happen once across
# nodes, with three nginx nodes on a three-server JetStream cluster.
#
# 1. A one-time agent login URL works once across all nodes: made on one
#    node, posted to all three at the same moment: one join is 200, the
#    others 403 invalid_token, and it never works again anywhere.
# 2. A visitor's client_msg_id retried on another node gives the one
#    message (200 with it), and the same client_msg_id sent to all three
#    nodes at the same moment gives one message: one 201, the others 200
#    with the same id, and every node lists it once.
# 3. The same for a REST POST conversations/{id}/messages.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use JSON::PP ();
use Time::HiRes qw(time sleep);

use Chatvisor::Cluster;
use Chatvisor::API;
use Chatvisor::HTTP ();

Chatvisor::Cluster::skip_unless_nats();

my $SPREAD = 1;    # s for a write on one node to be applied on the others

my $c = Chatvisor::Cluster->new(servers => 3);
$c->skip_unless_core;
$c->start;
my @n = $c->nodes(3);
$_->run for @n;
ok($c->wait_writable($_, timeout => 30), 'node ' . $_->port . ' takes writes')
    for @n;
my @api = map { $c->api($_) } @n;
my $json = JSON::PP->new->utf8->canonical;

# the same request to every node at (nearly) the same moment: the answers
sub all_at_once {
    my (%o) = @_;
    my $body = $json->encode($o{data});
    my @p = map {
        Chatvisor::HTTP::start_request($_->port, method => 'POST',
            path => $o{path}, body => $body,
            headers => [ Host => '127.0.0.1', 'Content-Type' => 'application/json',
                         Accept => 'application/json', @{ $o{headers} || [] } ])
    } @n;
    my @r = map { $_->finish(timeout => 20) } @p;
    for my $r (@r) {
        $r->{json} = eval { $json->decode($r->body) };
    }
    return @r;
}

# ---- 1. one-time login URLs ----

is($api[0]->call(PUT => 'agents/ann', { name => 'Ann' }, spec_check => 0)
   ->{status} =~ /^20[01]$/ ? 1 : 0, 1, 'agent ann created on node A');
sleep $SPREAD;

for my $round (1 .. 5) {
    my $maker = $round % 3;
    my $r = $api[$maker]->call(POST => 'agents/ann/login-url', {},
                               spec_check => 0);
    my ($token) = ($r->{json}{url} // '') =~ m{/join#(\S+)};
    ok($r->{status} == 201 && $token, "round $round: a login URL from node $maker")
        or do { diag("$r->{status} $r->{content}"); next };
    sleep $SPREAD;
    my @a = all_at_once(path => '/chatvisor/v1/agent/join',
                        data => { token => $token });
    my @ok = grep { $a[$_]->status == 200 } 0 .. 2;
    is(scalar @ok, 1, "round $round: the token logs in on exactly one node")
        or diag(join ', ', map { $_->status } @a);
    my @no = grep { $_->status == 403 } @a;
    is(scalar @no, 2, "round $round: the others answer 403");
    is(scalar(grep { ($_->{json}{error}{code} // '') eq 'invalid_token' } @no),
       scalar @no, "round $round: invalid_token");
    ok(@ok && grep({ /^cv_agent=/ } $a[$ok[0]]->header_all('Set-Cookie')),
       "round $round: the one that logged in sets cv_agent");
    for my $i (0 .. 2) {
        my $again = Chatvisor::HTTP::http_json($n[$i]->port, 'POST',
            '/chatvisor/v1/agent/join', { token => $token });
        is($again->{status}, 403, "round $round: used, it fails on node $i");
    }
}

# ---- 2. a visitor's client_msg_id across nodes ----

my $v = Chatvisor::API::Visitor->new($n[0], port => $n[0]->port);
{
    my $r = $v->post('hello');
    is($r->{status}, 201, 'a visitor starts a conversation on A')
        or do { diag("$r->{status} $r->{content}"); done_testing; exit };
}
my $conv = $v->conversation_id;
my $cookie = $v->cookie;
sleep $SPREAD;

sub visitor_post {
    my ($i, $text, $cmid) = @_;
    my $w = Chatvisor::API::Visitor->new($n[$i], port => $n[$i]->port);
    $w->{cookie} = $cookie;
    return $w->post($text, client_msg_id => $cmid, timeout => 20);
}

{
    my $first = visitor_post(0, 'retried', 'cm-retry');
    is($first->{status}, 201, 'client_msg_id cm-retry: 201 on A');
    for my $i (1, 2) {
        my $r = visitor_post($i, 'retried', 'cm-retry');
        is($r->{status}, 200, "retried on node $i: 200");
        is($r->{json}{id}, $first->{json}{id}, "retried on node $i: the same message");
    }
}

my @cmids;
for my $k (1 .. 5) {
    my $cmid = "cm-race-$k";
    push @cmids, $cmid;
    my @a = all_at_once(path => '/chatvisor/v1/visitor/messages',
                        data => { text => $cmid, client_msg_id => $cmid },
                        headers => [ Cookie => "cv_visitor=$cookie" ]);
    my @st = map { $_->status } @a;
    is(scalar(grep { $_ == 201 } @st), 1, "$cmid on 3 nodes at once: one 201")
        or diag("@st");
    is(scalar(grep { $_ == 200 } @st), 2, "$cmid: the others 200");
    my %ids = map { ($_->{json}{id} // 'none') => 1 } @a;
    is(scalar keys %ids, 1, "$cmid: one message id in the three answers")
        or diag(join ', ', keys %ids);
}

for my $i (0 .. 2) {
    my $m = $c->wait_texts($n[$i], $api[$i], $conv, [ 'retried', @cmids ],
                           timeout => 10);
    my %count;
    $count{ $_->{text} }++ for @$m;
    is_deeply([ map { $count{$_} // 0 } 'retried', @cmids ],
              [ (1) x (1 + @cmids) ],
              "node $i lists each retried message once");
}

# ---- 3. REST messages with a client_msg_id ----

for my $k (1 .. 3) {
    my $cmid = "rest-race-$k";
    # each node with its own token
    my @a = do {
        my $body = $json->encode({ text => $cmid, client_msg_id => $cmid });
        my @p = map {
            Chatvisor::HTTP::start_request($n[$_]->port, method => 'POST',
                path => "/chatvisor/api/v1/conversations/$conv/messages",
                body => $body,
                headers => [ Host => '127.0.0.1',
                             'Content-Type' => 'application/json',
                             Accept => 'application/json',
                             Authorization => 'Bearer ' . $api[$_]->token ])
        } 0 .. 2;
        map { my $r = $_->finish(timeout => 20);
              $r->{json} = eval { $json->decode($r->body) }; $r } @p;
    };
    my @st = map { $_->status } @a;
    is(scalar(grep { $_ == 201 } @st), 1, "REST $cmid on 3 nodes at once: one 201")
        or diag("@st");
    is(scalar(grep { $_ == 200 } @st), 2, "REST $cmid: the others 200");
    my %ids = map { ($_->{json}{id} // 'none') => 1 } @a;
    is(scalar keys %ids, 1, "REST $cmid: one message id");
}

done_testing;
