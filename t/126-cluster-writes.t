#!/usr/bin/perl

# Cluster mode: the writes that were local to a node until issue 15's
# second pass go through the stream (docs/cluster.md, "What goes through
# the stream"), so every node has the same of them. Three nats-servers
# (replicas=3), three nginx nodes A, B, C, each on its own store:
#   - widget settings PUT on A: GET settings/widget on C gives them, and
#     C's pages carry them (its shared memory mirrors them);
#   - visibility PUT on B: GET visibility on A and C, and C's pages lose
#     the widget;
#   - a webhook endpoint POSTed on A is on B with the same id; a change on
#     C, a rotation on B and a deletion on C are seen on the others;
#   - the pre-chat contact of a new visitor on A: the customer (the same
#     id, from the command's seed) has the email on C, and the visitor's
#     cookie works on B;
#   - identify on B (signed id, names) and a new visitor's identify on C:
#     GET customers?id= finds the same customer on every node;
#   - an agent's status set by the integrator on one node is the one GET
#     agents/ID gives on the others; the console's (away on B) is the
#     agent's status on C once the console polls there;
#   - bad input answers 400 with a JSON error and publishes nothing (the
#     stream's last seq does not move);
#   - every server stopped: each of these writes answers 503 no_quorum,
#     the reads 200 and unchanged.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(time sleep);
use Digest::SHA qw(hmac_sha256_hex);
use JSON::PP ();

use Chatvisor::Cluster qw(until_ok);
use Chatvisor::Chat;
use Chatvisor::Widget qw(find_tags);

Chatvisor::Cluster::skip_unless_nats();

my $SEEN_MAX = 5;       # seconds for a write on one node to show on another

my $c = Chatvisor::Cluster->new(servers => 3);
$c->start;

my $id_secret = join '', map { ('a' .. 'z', 0 .. 9)[rand 36] } 1 .. 40;

(my $template = Chatvisor::Cluster::node_template())
    =~ s{(chatvisor_api_client [^\n]*\n)}
        {$1    chatvisor_identity_secret %%TESTDIR%%/identity.secret;\n};
$template =~ s{(location /chatvisor/)}
    {location / { root %%TESTDIR%%/htdocs; chatvisor_inject on; }\n        $1};

my @n = $c->nodes(3, args => 'replicas=3', template => $template);
for my $t (@n) {
    my $f = $t->write_file('identity.secret', "$id_secret\n");
    chmod 0600, $f;
    $t->write_file('htdocs/index.html',
        "<!doctype html><html><head><title>Shop</title></head>"
        . "<body><p>Welcome</p></body></html>\n");
    $t->run;
}
my ($A, $B, $C) = @n;

ok($c->wait_writable($_, timeout => 60), 'node ' . $_->port . ' takes writes')
    for @n;

my @api = map { $c->api($_) } @n;
my ($apiA, $apiB, $apiC) = @api;


sub page_tag {
    my ($t) = @_;
    my @tags = find_tags($t->get('/index.html')->{content} // '');
    return @tags == 1 ? $tags[0]{attrs} : undef;
}

sub last_seq { ($c->stream(0, 'chatvisor') || {})->{last_seq} // -1 }

# ---- widget settings: PUT on A, seen on C (store and pages) ----

my %look = (color => '#abcdef', position => 'left', language => 'es',
            texts => { title => 'Hola' });
my $r = $apiA->call(PUT => 'settings/widget', \%look);
is($r->{status}, 200, 'PUT settings/widget on A: 200') or diag($r->{content});
is($r->{json}{color}, '#abcdef', 'answered with the new look');

ok(until_ok($SEEN_MAX, sub {
       ($apiC->call(GET => 'settings/widget', undef, spec_check => 0)
            ->{json}{color} // '') eq '#abcdef' }),
   'GET settings/widget on C gives them');
is_deeply($apiC->call(GET => 'settings/widget')->{json},
          { %look, texts => { title => 'Hola' } },
          'every field, the same as on A');
for my $t ($B, $C) {
    my $tag = until_ok($SEEN_MAX, sub {
        my $a = page_tag($t);
        $a && ($a->{'data-color'} // '') eq '#abcdef' ? $a : undef });
    ok($tag, 'a page on node ' . $t->port . ' carries the new color');
    is($tag && $tag->{'data-text-title'}, 'Hola', 'and the new title');
}

# ---- visibility: PUT on B, seen on A and C ----

my $until = do {
    my @g = gmtime(time + 3600);
    sprintf '%04d-%02d-%02dT%02d:%02d:%02dZ', $g[5] + 1900, $g[4] + 1, @g[3, 2, 1, 0];
};
$r = $apiB->call(PUT => 'visibility', { mode => 'hidden', until => $until });
is($r->{status}, 200, 'PUT visibility hidden on B: 200') or diag($r->{content});
is($r->{json}{mode}, 'hidden', 'answered hidden');
(my $until_ms = $until) =~ s/Z$/.000Z/;
is($r->{json}{until}, $until_ms, 'until the time given');

for my $i (0, 2) {
    my $v = until_ok($SEEN_MAX, sub {
        my $g = $api[$i]->call(GET => 'visibility', undef, spec_check => 0);
        ($g->{json}{mode} // '') eq 'hidden' ? $g->{json} : undef });
    ok($v, "GET visibility on node $i: hidden");
    is($v && $v->{until}, $until_ms, "node $i: the same until");
}
ok(until_ok($SEEN_MAX, sub { !page_tag($C) }),
   'pages on C no longer carry the widget');

$r = $apiC->call(PUT => 'visibility', { mode => 'auto' });
is($r->{status}, 200, 'PUT visibility auto on C');
ok(until_ok($SEEN_MAX, sub { page_tag($A) }), 'pages on A carry it again');

# ---- webhook endpoints ----

$r = $apiA->call(POST => 'webhooks', { url => 'https://hooks.example.com/cv',
                                       events => ['conversation.closed'] });
is($r->{status}, 201, 'POST webhooks on A: 201') or diag($r->{content});
my $wh = $r->{json}{id} // '';
like($wh, qr/^wh_/, "an endpoint id ($wh)");
like($r->{json}{secret} // '', qr/\S{20,}/, 'and its signing secret, shown once');

for my $i (1, 2) {
    my $g = until_ok($SEEN_MAX, sub {
        my $x = $api[$i]->call(GET => "webhooks/$wh", undef, spec_check => 0);
        $x->{status} == 200 ? $x->{json} : undef });
    is($g && $g->{url}, 'https://hooks.example.com/cv',
       "node $i has the endpoint, with the same id");
    my $l = $api[$i]->call(GET => 'webhooks')->{json}{items} || [];
    is_deeply([ map { $_->{id} } @$l ], [$wh], "node $i lists it");
}

$r = $apiC->call(PATCH => "webhooks/$wh", { status => 'disabled' });
is($r->{status}, 200, 'PATCH webhooks/ID on C: 200') or diag($r->{content});
ok(until_ok($SEEN_MAX, sub {
       ($apiA->call(GET => "webhooks/$wh", undef, spec_check => 0)
            ->{json}{status} // '') eq 'disabled' }),
   'A has it disabled');

$r = $apiB->call(POST => "webhooks/$wh/rotate-secret");
is($r->{status}, 200, 'rotate-secret on B: 200') or diag($r->{content});
like($r->{json}{secret} // '', qr/\S{20,}/, 'a new secret');

$r = $apiC->call(DELETE => "webhooks/$wh");
is($r->{status}, 204, 'DELETE webhooks/ID on C: 204') or diag($r->{content});
for my $i (0, 1) {
    ok(until_ok($SEEN_MAX, sub {
           $api[$i]->call(GET => "webhooks/$wh", undef, spec_check => 0)
               ->{status} == 404 }),
       "node $i: the endpoint is gone (404)");
}
$r = $apiA->call(DELETE => "webhooks/$wh");
is($r->{status}, 404, 'deleting it again: 404');

# ---- the pre-chat contact: a new visitor on A ----

my $v = Chatvisor::Chat::Visitor->new($A);
$r = $v->request(PUT => 'v1/visitor/contact',
                 json => { email => 'zoe@example.com', name => 'Zoe' });
is($r->{status}, 200, 'PUT v1/visitor/contact on A (a new visitor): 200')
    or diag($r->{content});
my $cus = $v->customer_id // '';
like($cus, qr/^cus_/, "the visitor got a customer and its cookie ($cus)");

my $got = until_ok($SEEN_MAX, sub {
    my $x = $apiC->call(GET => "customers/$cus", undef, spec_check => 0);
    $x->{status} == 200 ? $x->{json} : undef });
is($got && $got->{email}, 'zoe@example.com',
   'GET customers/ID on C: the same customer, with the email');

# the cookie is good on B, for the customer B has
my $vB = Chatvisor::Chat::Visitor->new($B, cookie => $v->cookie);
$r = $vB->post('hello from B', client_msg_id => 'zoe-1');
is($r->{status}, 201, 'the visitor writes on B with that cookie')
    or diag($r->{content});
is($r->{json}{author}{id}, $cus, 'as the same customer');

# ---- identify ----

$r = $vB->request(POST => 'v1/visitor/identify',
                  json => { id => 'crm-42', signature => hmac_sha256_hex('crm-42', $id_secret),
                            firstname => 'Zoe', lastname => 'Doe' });
is($r->{status}, 200, 'identify on B (signed id, names): 200')
    or diag($r->{content});
is_deeply($r->{json}, { id => 'crm-42', moved => JSON::PP::false },
          'the visitor is crm-42 now, on their own customer');

for my $i (0, 2) {
    my $f = until_ok($SEEN_MAX, sub {
        my $x = $api[$i]->call(GET => 'customers?id=crm-42', undef,
                               spec_check => 0);
        $x->{json} && @{ $x->{json}{items} || [] } ? $x->{json}{items}[0] : undef });
    is($f && $f->{customer_id}, $cus, "node $i finds crm-42: the same customer");
    is($f && $f->{firstname}, 'Zoe', "node $i: with the names");
    is($f && $f->{email}, 'zoe@example.com', "node $i: and the contact's email");
}

# a new visitor identified on C becomes a new customer, the same everywhere
my $w = Chatvisor::Chat::Visitor->new($C);
$r = $w->request(POST => 'v1/visitor/identify',
                 json => { id => 43, signature => hmac_sha256_hex('43', $id_secret) });
is($r->{status}, 200, "a new visitor's identify on C: 200") or diag($r->{content});
is($r->{json}{id}, '43', 'as 43');
my $cus43 = $w->customer_id // '';
like($cus43, qr/^cus_/, "with a customer cookie ($cus43)");
for my $i (0, 1) {
    my $f = until_ok($SEEN_MAX, sub {
        my $x = $api[$i]->call(GET => 'customers?id=43', undef, spec_check => 0);
        $x->{json} && @{ $x->{json}{items} || [] } ? $x->{json}{items}[0] : undef });
    is($f && $f->{customer_id}, $cus43, "node $i finds 43 as that customer");
}

# ---- agent status: the integrator's and the console's, on every node ----

$r = $apiA->call(PUT => 'agents/ann', { name => 'Ann' });
ok($r->{status} == 200 || $r->{status} == 201, 'PUT agents/ann on A')
    or diag($r->{content});
$r = $apiA->call(PUT => 'agents/ann/status', { status => 'available' });
is($r->{status}, 200, 'PUT agents/ann/status available on A: 200')
    or diag($r->{content});
is($r->{json}{status}, 'available', 'answered available');
for my $i (1, 2) {
    ok(until_ok($SEEN_MAX, sub {
           ($api[$i]->call(GET => 'agents/ann', undef, spec_check => 0)
                ->{json}{status} // '') eq 'available' }),
       "node $i: GET agents/ann says available");
}
$r = $apiB->call(PUT => 'agents/ann/status', { status => 'offline' });
is($r->{status}, 200, 'PUT agents/ann/status offline on B: 200');
ok(until_ok($SEEN_MAX, sub {
       ($apiA->call(GET => 'agents/ann', undef, spec_check => 0)
            ->{json}{status} // '') eq 'offline' }),
   'node 0: offline');
$r = $apiC->call(PUT => 'agents/nobody/status', { status => 'available' });
is($r->{status}, 404, 'an unknown agent: 404');

# the console: logs in on B and says away there; polled on C next (the
# load balancer's choice), it is away on C too
{
    my $url = $apiC->call(POST => 'agents/ann/login-url', { ttl_seconds => 600 },
                          spec_check => 0);
    my ($token) = ($url->{json}{url} // '') =~ m{/join#(\S+)};
    my $j = Chatvisor::Chat::Agent->join($B, $token);
    is($j->{status}, 200, 'ann logs in on B') or diag($j->{content});
    my $ann = $j->{agent};
    $r = $ann->write(PUT => 'status', { status => 'away' });
    is($r->{status}, 200, 'PUT v1/agent/status away on B: 200') or diag($r->{content});
    is($r->{json}{status}, 'away', 'answered away');
    my $annC = bless { %$ann, t => $C }, ref $ann;
    my $me = until_ok($SEEN_MAX, sub {
        $annC->events(after => 0, wait => 0);    # a console polling on C
        my $m = $annC->get('me');
        ($m->{json}{status} // '') eq 'away' ? $m : undef });
    ok($me, 'the console polling on C is away there');
    $r = $annC->write(PUT => 'status', { status => 'available' });
    is($r->{status}, 200, 'available again, on C');
    ok(until_ok($SEEN_MAX, sub {
           $ann->events(after => 0, wait => 0);
           ($ann->get('me')->{json}{status} // '') eq 'available' }),
       'and on B');
    $r = $ann->write(PUT => 'status', { status => 'busy' });
    is($r->{status}, 400, 'a bad status from the console: 400');
}

# ---- bad input: 400 with a JSON error, nothing published ----

{
    my $seq = last_seq();
    cmp_ok($seq, '>', 0, "the stream's last seq ($seq)");
    my @bad = (
        [ $apiA, PUT => 'settings/widget', { color => 'red' } ],
        [ $apiB, PUT => 'visibility', { mode => 'sometimes' } ],
        [ $apiC, POST => 'webhooks', { url => 'ftp://example.com/' } ],
        [ $apiA, PATCH => "webhooks/$wh", { status => 'maybe' } ],
        [ $apiB, PUT => 'agents/ann/status', { status => 'busy' } ],
    );
    for my $b (@bad) {
        my ($api, $m, $p, $body) = @$b;
        my $x = $api->call($m => $p, $body, request_check => 0);
        is($x->{status}, 400, "$m $p with a bad field: 400");
        ok($x->{json} && $x->{json}{error}{code}, '  with a JSON error');
    }
    $r = $v->request(PUT => 'v1/visitor/contact', json => { email => 'not an email' });
    is($r->{status}, 400, 'a bad contact email: 400');
    $r = $vB->request(POST => 'v1/visitor/identify',
                      json => { id => 'crm-42', signature => 'ab' x 32 });
    is($r->{status}, 403, 'identify with a wrong signature: 403');
    is($r->{json}{error}{code}, 'bad_signature', '  bad_signature');
    $r = $vB->request(POST => 'v1/visitor/identify', json => { email => 'nope' });
    is($r->{status}, 400, 'identify with a bad email: 400');
    $r = $apiB->call(PUT => "customers/$cus", { labels => 'vip' }, request_check => 0);
    is($r->{status}, 400, 'PUT customers/ID with bad labels: 400');
    sleep 0.5;
    is(last_seq(), $seq, 'nothing was published');
    is($apiC->call(GET => 'settings/widget')->{json}{color}, '#abcdef',
       'the settings are as they were');
}

# ---- no quorum: 503 no_quorum, reads go on ----

$c->stop($_) for 0 .. 2;

my @writes = (
    [ 'PUT settings/widget', sub { $apiA->call(PUT => 'settings/widget', { color => '#000000' }) } ],
    [ 'PUT visibility',      sub { $apiB->call(PUT => 'visibility', { mode => 'hidden' }) } ],
    [ 'POST webhooks',       sub { $apiC->call(POST => 'webhooks', { url => 'https://hooks.example.com/x' }) } ],
    [ 'PUT v1/visitor/contact', sub { $v->request(PUT => 'v1/visitor/contact', json => { email => 'x@example.com' }) } ],
    [ 'PUT agents/ID/status', sub { $apiA->call(PUT => 'agents/ann/status', { status => 'away' }) } ],
    [ 'POST v1/visitor/identify', sub { $vB->request(POST => 'v1/visitor/identify', json => { firstname => 'X' }) } ],
);
for my $wr (@writes) {
    my ($name, $code) = @$wr;
    my $t0 = time;
    my $x = $code->();
    is($x->{status}, 503, "no cluster: $name answers 503") or diag($x->{content});
    is($x->{json} && $x->{json}{error}{code}, 'no_quorum', '  no_quorum');
    cmp_ok(time - $t0, '<', 10, '  without a long wait');
}
is($apiA->call(GET => 'settings/widget')->{json}{color}, '#abcdef',
   'GET settings/widget on A: 200, unchanged');
is($apiB->call(GET => 'visibility')->{json}{mode}, 'auto', 'GET visibility on B: unchanged');
is_deeply($apiC->call(GET => 'webhooks')->{json}{items}, [], 'GET webhooks on C: still none');

done_testing();
