#!/usr/bin/perl

# REST API, happy paths (docs/api.md): token exchange (form, JSON, HTTP
# Basic), agents (upsert, list and pages, get, delete, status, whole-list
# sync), customers (PUT / PATCH / GET, the worked example of the docs, find
# by the integrator's id), conversations (poll, get, messages and pages,
# post as agent and as system, idempotent posts, assign, close), one-time
# agent URLs redeemed through the join endpoint, widget settings and the
# visibility override as seen in the injected tag (also after a reload),
# and openapi.json itself. Every answer of the API is
# checked against docs/openapi.json (status, headers, body schema), and
# every request body against its request schema, so the spec and the code
# cannot drift apart.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use JSON::PP ();
use Time::Local ();
use Time::HiRes ();

use Chatvisor::Test;
use Chatvisor::API;
use Chatvisor::HTTP ();
use Chatvisor::OpenAPI ();
use Chatvisor::Widget qw(find_tags);

my $t = Chatvisor::Test->new;

my @chars = ('A' .. 'Z', 'a' .. 'z', '0' .. '9');
my $secret = join '', map { $chars[rand @chars] } 1 .. 48;
# a newline at the end, as editors and `echo` leave it; the docs' own
# example sends "$(cat FILE)", which drops it
$t->write_file('crm.secret', "$secret\n");
$t->write_file('htdocs/index.html',
    "<!doctype html><html><head><title>Shop</title></head>"
    . "<body><p>Welcome</p></body></html>\n");

$t->write_config(<<'EOF');
worker_processes 2;
http {
    chatvisor_store %%TESTDIR%%/store;
    chatvisor_api_client crm %%TESTDIR%%/crm.secret;
    chatvisor_widget_color "#123456";
    server {
        listen 127.0.0.1:%%PORT%%;
        location /chatvisor/ { chatvisor on; }
        location / { root %%TESTDIR%%/htdocs; chatvisor_inject on; }
    }
}
EOF
$t->run;

my $port = $t->port;
my $api = Chatvisor::API->new($t, client => 'crm', secret => $secret);
my $json = JSON::PP->new->canonical;

# RFC 3339 (as the API writes it) -> epoch seconds
sub epoch {
    my ($s) = @_;
    my ($y, $mo, $d, $h, $mi, $sec, $frac) =
        ($s // '') =~ /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(\.\d+)?Z$/
        or return undef;
    return Time::Local::timegm($sec, $mi, $h, $d, $mo - 1, $y) + ($frac // 0);
}

sub ids { [ map { $_->{id} } @{ $_[0] } ] }

# ---- openapi.json ----

{
    my $r = $api->call(GET => 'openapi.json', undef, token => undef);
    is($r->{status}, 200, 'openapi.json is served without a token');
    like($r->{headers}{'content-type'} // '', qr{^application/json\b},
         'openapi.json is application/json');
    my $served = eval { Chatvisor::OpenAPI::decode_json($r->{content}) };
    ok($served, 'openapi.json is valid JSON') or diag $@;
    my $file = Chatvisor::OpenAPI::decode_json(
        $t->read_file(Chatvisor::Test::repo_root() . '/docs/openapi.json'));
    is_deeply($served, $file,
              'the served openapi.json is docs/openapi.json (module built from it)');
}

# ---- tokens ----

my %tokens;
for my $how (qw(form json basic)) {
    my $r = $api->token_request(how => $how, name => "token ($how)");
    is($r->{status}, 200, "auth/token with a $how body: 200")
        or diag $r->{content};
    my $j = $r->{json} || {};
    like($j->{access_token} // '', qr/^cvt_/, "  $how: access_token starts with cvt_");
    is($j->{token_type}, 'Bearer', "  $how: token_type Bearer");
    is($j->{expires_in}, 3600, "  $how: expires_in 3600");
    $tokens{$how} = $j->{access_token};
    my $g = $api->call(GET => 'agents', undef, token => $j->{access_token});
    is($g->{status}, 200, "  $how: the token opens GET agents");
}
{
    my %u = map { ($_ // '') => 1 } values %tokens;
    is(scalar(keys %u), 3, 'each exchange gives a new token');
}
$api->set_token($tokens{form});

# ---- agents ----

my %ann_in = (email => 'ann@example.com', name => 'Ann', enabled => JSON::PP::true,
              max_concurrent => 3);
my $r = $api->call(PUT => 'agents/ann', \%ann_in);
is($r->{status}, 201, 'PUT agents/ann creates: 201');
my $ann = $r->{json} || {};
is($ann->{id}, 'ann', '  id is ours');
is($ann->{email}, 'ann@example.com', '  email');
is($ann->{name}, 'Ann', '  name');
ok($ann->{enabled}, '  enabled');
is($ann->{max_concurrent}, 3, '  max_concurrent');
is($ann->{status}, 'offline', '  status offline (no console, never set)');

Time::HiRes::sleep(0.01);
$r = $api->call(PUT => 'agents/ann', { %ann_in, name => 'Ann Lee', max_concurrent => 4 });
is($r->{status}, 200, 'PUT agents/ann again updates: 200');
is($r->{json}{name}, 'Ann Lee', '  new name');
is($r->{json}{max_concurrent}, 4, '  new max_concurrent');
is($r->{json}{email}, 'ann@example.com', '  email as given');
is($r->{json}{created_at}, $ann->{created_at}, '  created_at kept');
cmp_ok(epoch($r->{json}{updated_at}) // 0, '>=', epoch($ann->{created_at}) // 1e12,
       '  updated_at not before created_at');
$ann = $r->{json};

for my $id (qw(bob cy)) {
    my $a = $api->call(PUT => "agents/$id", { name => ucfirst $id,
                                              email => "$id\@example.com" });
    is($a->{status}, 201, "PUT agents/$id creates: 201");
    is($a->{json}{name}, ucfirst $id, "  $id: name");
}

$r = $api->call(GET => 'agents');
is($r->{status}, 200, 'GET agents: 200');
is_deeply(ids($r->{json}{items}), [qw(ann bob cy)], '  the list, by id');
ok(exists $r->{json}{next_cursor} && !defined $r->{json}{next_cursor},
   '  next_cursor null on the last page');
is_deeply((grep { $_->{id} eq 'ann' } @{ $r->{json}{items} })[0], $ann,
          '  ann in the list as PUT answered');

$r = $api->call(GET => 'agents?limit=2');
is_deeply(ids($r->{json}{items}), [qw(ann bob)], 'GET agents?limit=2: first page');
my $next = $r->{json}{next_cursor};
ok(defined $next && length $next, '  next_cursor given');
$r = $api->call(GET => 'agents?limit=2&cursor=' . Chatvisor::API::_uri_escape($next // ''));
is($r->{status}, 200, 'GET agents?cursor=NEXT: 200');
is_deeply(ids($r->{json}{items}), ['cy'], '  the rest');
ok(!defined $r->{json}{next_cursor}, '  and next_cursor null');

$r = $api->call(GET => 'agents/ann');
is($r->{status}, 200, 'GET agents/ann: 200');
is_deeply($r->{json}, $ann, '  the agent as PUT answered');

for my $st (qw(available away offline)) {
    $r = $api->call(PUT => 'agents/ann/status', { status => $st });
    is($r->{status}, 200, "PUT agents/ann/status $st: 200");
    is($r->{json}{status}, $st, "  the agent with status $st");
    is($r->{json}{id}, 'ann', '  the agent');
    $r = $api->call(GET => 'agents/ann');
    is($r->{json}{status}, $st, "  GET agents/ann says $st");
}
$api->call(PUT => 'agents/ann/status', { status => 'available' });

$r = $api->call(DELETE => 'agents/cy');
is($r->{status}, 204, 'DELETE agents/cy: 204');
is($r->{content} // '', '', '  no body');
$r = $api->call(GET => 'agents/cy');
is($r->{status}, 404, '  GET agents/cy afterwards: 404');
$r = $api->call(GET => 'agents');
is_deeply(ids($r->{json}{items}), [qw(ann bob)], '  not listed any more');

# ---- customers ----

my $v1 = Chatvisor::API::Visitor->new($t);
$r = $v1->post('hi', page_url => "http://127.0.0.1:$port/index.html");
is($r->{status}, 201, 'a visitor says hi: 201') or diag $r->{content};
my $cus1 = $v1->customer_id // 'cus_missing';
my $conv1 = $v1->conversation_id // 'conv_missing';
like($cus1, qr/^cus_/, '  the customer id is in author.id');
like($conv1, qr/^conv_/, '  the conversation id');
my $msg1 = $r->{json} || {};

$r = $api->call(GET => "customers/$cus1");
is($r->{status}, 200, 'GET customers/{id}: 200');
is($r->{json}{customer_id}, $cus1, '  customer_id');
ok(!defined $r->{json}{id}, '  no integrator id yet');
is_deeply($r->{json}{labels}, [], '  no labels');
is($r->{json}{conversation_id}, $conv1, '  conversation_id');
is($r->{json}{page_url}, "http://127.0.0.1:$port/index.html", '  page_url');

# the worked example of docs/api.md, byte for byte
my $example = '{"email": "john@example.com", "firstname": "John", "id": 123, '
            . '"labels": ["foo", "bar"], "lastname": "Doe"}';
$r = $api->call(PUT => "customers/$cus1", Chatvisor::OpenAPI::decode_json($example),
                body => $example);
is($r->{status}, 200, 'PUT customers/{id} with the worked example: 200')
    or diag $r->{content};
my $john = $r->{json} || {};
is($john->{customer_id}, $cus1, '  the same customer');
is($john->{email}, 'john@example.com', '  email');
is($john->{firstname}, 'John', '  firstname');
is($john->{lastname}, 'Doe', '  lastname');
is_deeply($john->{labels}, [qw(foo bar)], '  labels, in order');
is(Chatvisor::OpenAPI::json_type(Chatvisor::OpenAPI::decode_json($r->{content})->{id}),
   'integer', '  id stays a number (kept as given)');
is($john->{id}, 123, '  id 123');
is($john->{conversation_id}, $conv1, '  conversation_id untouched');

$r = $api->call(GET => 'customers?id=123');
is($r->{status}, 200, 'GET customers?id=123: 200');
is(scalar @{ $r->{json}{items} || [] }, 1, '  finds one customer');
is_deeply($r->{json}{items}[0], $john, '  the customer as PUT answered');
ok(exists $r->{json}{next_cursor} && !defined $r->{json}{next_cursor}, '  next_cursor null');

$r = $api->call(GET => 'customers?id=124');
is($r->{status}, 200, 'GET customers?id=124 (nobody): 200');
is_deeply($r->{json}{items}, [], '  no items');

$r = $api->call(GET => "customers/$cus1");
is_deeply($r->{json}, $john, 'GET customers/{id} answers the same');

$r = $api->call(PATCH => "customers/$cus1", { labels => ['vip'] });
is($r->{status}, 200, 'PATCH customers/{id} labels: 200');
is_deeply($r->{json}{labels}, ['vip'], '  labels replaced');
is($r->{json}{email}, 'john@example.com', '  email kept');
is($r->{json}{firstname}, 'John', '  firstname kept');
is($r->{json}{id}, 123, '  id kept');

$r = $api->call(PATCH => "customers/$cus1", { id => 'crm-42', firstname => 'Johnny' });
is($r->{status}, 200, 'PATCH customers/{id} id as text: 200');
is($r->{json}{id}, 'crm-42', '  id is the text');
is($r->{json}{firstname}, 'Johnny', '  firstname');
is($r->{json}{lastname}, 'Doe', '  lastname kept');
$r = $api->call(GET => 'customers?id=crm-42');
is_deeply([ map { $_->{customer_id} } @{ $r->{json}{items} || [] } ], [$cus1],
          '  GET customers?id=crm-42 finds the customer');
$r = $api->call(GET => 'customers?id=123');
is_deeply($r->{json}{items}, [], '  the old id 123 finds nobody');

$r = $api->call(PUT => "customers/$cus1", { email => 'j@example.com' });
is($r->{status}, 200, 'PUT customers/{id} with only email: 200');
is($r->{json}{email}, 'j@example.com', '  email');
ok(!defined $r->{json}{firstname} && !defined $r->{json}{lastname}
   && !defined $r->{json}{id}, '  absent fields became null');
is_deeply($r->{json}{labels}, [], '  absent labels became []');

$r = $api->call(PUT => "customers/$cus1", Chatvisor::OpenAPI::decode_json($example),
                body => $example);
is_deeply($r->{json}, $john, 'the worked example again gives the same customer');
$r = $api->call(GET => 'customers?id=123');
is_deeply([ map { $_->{customer_id} } @{ $r->{json}{items} || [] } ], [$cus1],
          '  and GET customers?id=123 finds it again');

# ---- conversations ----

$r = $api->call(GET => 'conversations');
is($r->{status}, 200, 'GET conversations: 200');
ok((grep { $_->{id} eq $conv1 } @{ $r->{json}{items} || [] }), '  lists the conversation');
my $c0 = $r->{json}{next_cursor};
ok(defined $c0 && length $c0, '  next_cursor given');
$c0 //= '';
my $c0q = Chatvisor::API::_uri_escape($c0);

$r = $api->call(GET => "conversations?since=$c0q");
is($r->{status}, 200, 'GET conversations?since=NEXT: 200');
is_deeply($r->{json}{items}, [], '  nothing changed since');
is($r->{json}{next_cursor}, $c0, '  the same cursor again');

$r = $api->call(GET => 'conversations?status=open');
ok((grep { $_->{id} eq $conv1 } @{ $r->{json}{items} || [] }), 'status=open lists it');
$r = $api->call(GET => 'conversations?status=closed');
ok(!(grep { $_->{id} eq $conv1 } @{ $r->{json}{items} || [] }), 'status=closed does not');

$r = $api->call(GET => "conversations/$conv1");
is($r->{status}, 200, 'GET conversations/{id}: 200');
my $conv = $r->{json} || {};
is($conv->{id}, $conv1, '  id');
is($conv->{customer_id}, $cus1, '  customer_id');
is($conv->{status}, 'open', '  open');
ok(!defined $conv->{assigned_agent_id}, '  unassigned (manual routing)');
is($conv->{last_seq}, $msg1->{seq}, '  last_seq is the seq of the first message');
is($conv->{page_url}, "http://127.0.0.1:$port/index.html", '  page_url');

$r = $api->call(GET => "conversations/$conv1/messages");
is($r->{status}, 200, 'GET conversations/{id}/messages: 200');
is_deeply($r->{json}{items}, [$msg1], '  the visitor message, as the visitor got it');
is($r->{json}{items}[0]{author}{type}, 'customer', '  author type customer');

$r = $api->call(POST => "conversations/$conv1/messages",
                { text => 'Hello, I am Ann.', agent_id => 'ann' });
is($r->{status}, 201, 'POST conversations/{id}/messages as ann: 201');
my $m_ann = $r->{json} || {};
is_deeply($m_ann->{author}, { type => 'agent', id => 'ann', name => 'Ann Lee' },
          '  author is the agent');
is($m_ann->{text}, 'Hello, I am Ann.', '  text');
is($m_ann->{conversation_id}, $conv1, '  conversation_id');
cmp_ok($m_ann->{seq} // 0, '>', $msg1->{seq} // 0, '  seq after the first message');

$r = $api->call(POST => "conversations/$conv1/messages", { text => 'Your ticket is #42.' });
is($r->{status}, 201, 'POST conversations/{id}/messages without agent_id: 201');
my $m_sys = $r->{json} || {};
is($m_sys->{author}{type}, 'system', '  author type system');

$r = $api->call(POST => "conversations/$conv1/messages",
                { text => 'Once only', client_msg_id => 'crm-1' });
is($r->{status}, 201, 'POST with client_msg_id: 201');
my $m_once = $r->{json} || {};
is($m_once->{client_msg_id}, 'crm-1', '  client_msg_id echoed');
$r = $api->call(POST => "conversations/$conv1/messages",
                { text => 'Once only', client_msg_id => 'crm-1' });
is($r->{status}, 200, 'the same client_msg_id again: 200');
is_deeply($r->{json}, $m_once, '  the first message, nothing new');

$r = $api->call(GET => "conversations/$conv1/messages");
my @all = @{ $r->{json}{items} || [] };
is_deeply([ map { $_->{id} } @all ],
          [ map { $_->{id} } $msg1, $m_ann, $m_sys, $m_once ],
          'the messages, in order, none duplicated');
is_deeply([ map { $_->{seq} } @all ], [ sort { $a <=> $b } map { $_->{seq} } @all ],
          '  by seq');

$r = $api->call(GET => "conversations/$conv1/messages?after=$msg1->{seq}");
is_deeply([ map { $_->{id} } @{ $r->{json}{items} || [] } ],
          [ map { $_->{id} } $m_ann, $m_sys, $m_once ], 'messages?after=SEQ: the later ones');

{
    my (@paged, $cur, $pages);
    while (1) {
        my $q = "conversations/$conv1/messages?limit=2"
              . (defined $cur ? '&cursor=' . Chatvisor::API::_uri_escape($cur) : '');
        my $p = $api->call(GET => $q);
        last unless $p->{status} == 200 && $p->{json};
        push @paged, @{ $p->{json}{items} };
        $cur = $p->{json}{next_cursor};
        last if !defined $cur || ++$pages > 5;
    }
    is_deeply([ map { $_->{id} } @paged ], [ map { $_->{id} } @all ],
              'messages?limit=2 page by page give them all, in order');
}

{
    my $ev = $v1->events(0);
    my @texts = map { $_->{message}{text} } grep { $_->{type} eq 'message' }
                @{ $ev->{json}{events} || [] };
    is_deeply(\@texts, [ 'hi', 'Hello, I am Ann.', 'Your ticket is #42.', 'Once only' ],
              'the visitor sees the agent and system messages');
}

$r = $api->call(GET => "conversations?since=$c0q");
is_deeply(ids($r->{json}{items}), [$conv1],
          'GET conversations?since=C0: the changed conversation, once');
is($r->{json}{items}[0]{last_seq}, $m_once->{seq}, '  at its latest state');
my $c1 = $r->{json}{next_cursor} // '';
isnt($c1, $c0, '  a new cursor');

$r = $api->call(POST => "conversations/$conv1/assign", { agent_id => 'ann' });
is($r->{status}, 200, 'POST conversations/{id}/assign ann: 200');
is($r->{json}{assigned_agent_id}, 'ann', '  assigned to ann');
is($r->{json}{id}, $conv1, '  the conversation');
$r = $api->call(GET => "conversations/$conv1");
is($r->{json}{assigned_agent_id}, 'ann', '  GET says ann');

$r = $api->call(POST => "conversations/$conv1/assign", { agent_id => undef });
is($r->{status}, 200, 'assign null: 200');
ok(!defined $r->{json}{assigned_agent_id}, '  unassigned');

$r = $api->call(POST => "conversations/$conv1/assign", { agent_id => 'bob' });
is($r->{json}{assigned_agent_id}, 'bob', 'assign bob');

$r = $api->call(GET => 'conversations?since=' . Chatvisor::API::_uri_escape($c1));
is_deeply(ids($r->{json}{items}), [$conv1], 'the assignments show in the poll');
is($r->{json}{items}[0]{assigned_agent_id}, 'bob', '  at the latest state');

# ---- one-time URLs ----

my $JOIN_RE = qr{^http://127\.0\.0\.1:$port/chatvisor/join#([A-Za-z0-9_-]+)$};

sub join_token {
    my ($tok) = @_;
    my $r = Chatvisor::HTTP::http_json($port, 'POST', '/chatvisor/v1/agent/join',
                                       { token => $tok });
    my ($cookie) = map { /^cv_agent=([^;]*)/ ? $1 : () }
                   map { ref $_ ? @$_ : $_ } $r->{headers}{'set-cookie'} // ();
    $r->{agent_cookie} = $cookie;
    return $r;
}

sub agent_me {
    my ($cookie) = @_;
    return Chatvisor::HTTP::http_json($port, 'GET', '/chatvisor/v1/agent/me', undef,
                                      headers => { Cookie => "cv_agent=$cookie" });
}

{
    my $before = time;
    $r = $api->call(POST => "customers/$cus1/agent-url",
                    { agent_id => 'ann', ttl_seconds => 300 });
    is($r->{status}, 201, 'POST customers/{id}/agent-url: 201') or diag $r->{content};
    my $url = $r->{json}{url} // '';
    like($url, $JOIN_RE, '  url is http://HOST/chatvisor/join#TOKEN');
    my ($tok) = $url =~ $JOIN_RE;
    my $exp = epoch($r->{json}{expires_at}) // 0;
    ok($exp >= $before + 300 - 2 && $exp <= time + 300 + 2,
       '  expires_at is about 300 s from now') or diag "expires_at $r->{json}{expires_at}";

    my $j = join_token($tok // 'x');
    is($j->{status}, 200, '  redeemed at POST /chatvisor/v1/agent/join: 200')
        or diag $j->{content};
    is($j->{json}{redirect}, "/chatvisor/agent/#conversation=$conv1",
       "  redirect to the console at the customer's conversation");
    ok($j->{agent_cookie}, '  an agent session cookie');
    my $me = agent_me($j->{agent_cookie} // '');
    is($me->{json}{agent}{id}, 'ann', '  the session is ann\'s');

    $j = join_token($tok // 'x');
    is($j->{status}, 403, '  used again: 403');
    is($j->{json}{error}{code}, 'invalid_token', '  invalid_token');

    $before = time;
    $r = $api->call(POST => "customers/$cus1/agent-url", { agent_id => 'ann' });
    is($r->{status}, 201, 'agent-url without ttl_seconds: 201');
    $exp = epoch($r->{json}{expires_at}) // 0;
    ok($exp >= $before + 600 - 2 && $exp <= time + 600 + 2,
       '  expires_at is about 600 s from now (the default)')
        or diag "expires_at $r->{json}{expires_at}";
}

my ($bob_cookie, $bob_tok_later);
{
    $r = $api->call(POST => 'agents/bob/login-url', {});
    is($r->{status}, 201, 'POST agents/{id}/login-url {}: 201') or diag $r->{content};
    my ($tok) = ($r->{json}{url} // '') =~ $JOIN_RE;
    ok($tok, '  url is http://HOST/chatvisor/join#TOKEN');
    my $j = join_token($tok // 'x');
    is($j->{status}, 200, '  redeemed: 200');
    is($j->{json}{redirect}, '/chatvisor/agent/', '  redirect to the console');
    $bob_cookie = $j->{agent_cookie} // '';
    is(agent_me($bob_cookie)->{json}{agent}{id}, 'bob', '  the session is bob\'s');

    my $before = time;
    $r = $api->call(POST => 'agents/bob/login-url', { ttl_seconds => 60 });
    is($r->{status}, 201, 'login-url with ttl_seconds 60: 201');
    my $exp = epoch($r->{json}{expires_at}) // 0;
    ok($exp >= $before + 58 && $exp <= time + 62, '  expires_at is about 60 s from now');
    ($bob_tok_later) = ($r->{json}{url} // '') =~ $JOIN_RE;

    # a write whose body carries nothing reads as {}
    $r = $api->call(POST => 'agents/bob/login-url', undef);
    is($r->{status}, 201, 'login-url without a body (no Content-Type, no length): 201');

}

# ---- PUT agents: sync the whole list ----

{
    my $list = [ { %ann_in, id => 'ann', name => 'Ann Lee', max_concurrent => 4 },
                 { id => 'dan', name => 'Dan' } ];
    $r = $api->call(PUT => 'agents', $list);
    is($r->{status}, 200, 'PUT agents (sync): 200') or diag $r->{content};
    my %by = map { $_->{id} => $_ } @{ $r->{json}{items} || [] };
    ok($by{ann} && $by{ann}{enabled}, '  ann still enabled');
    ok($by{dan} && $by{dan}{enabled}, '  dan created, enabled');
    is($by{dan} && $by{dan}{name}, 'Dan', '  dan\'s name');
    ok($by{bob} && !$by{bob}{enabled}, '  bob, absent from the list, disabled');
    my $g = $api->call(GET => 'agents');
    is_deeply($r->{json}{items}, $g->{json}{items}, '  the answer is the list GET agents gives');
    is($api->call(GET => 'agents/bob')->{json}{enabled}, JSON::PP::false,
       '  GET agents/bob: enabled false');

    $r = $api->call(GET => "conversations/$conv1");
    ok(!defined $r->{json}{assigned_agent_id},
       "  bob's open conversation is unassigned again");
    is(agent_me($bob_cookie)->{status}, 401, "  bob's console session ended");
    my $j = join_token($bob_tok_later // 'x');
    is($j->{status}, 403, '  a login URL issued to bob before cannot be used now');

    $r = $api->call(PUT => 'agents/bob', { enabled => JSON::PP::true, name => 'Bob' });
    is($r->{status}, 200, 'PUT agents/bob enabled again: 200');
    ok($r->{json}{enabled}, '  enabled');
}

# ---- close, a new conversation, delete an agent with conversations ----

$r = $api->call(POST => "conversations/$conv1/close", {});
is($r->{status}, 200, 'POST conversations/{id}/close: 200');
is($r->{json}{status}, 'closed', '  closed');
$r = $api->call(GET => "conversations/$conv1");
is($r->{json}{status}, 'closed', '  GET says closed');
$r = $api->call(GET => 'conversations?status=closed');
ok((grep { $_->{id} eq $conv1 } @{ $r->{json}{items} || [] }), '  listed with status=closed');
$r = $api->call(GET => 'conversations?status=open');
ok(!(grep { $_->{id} eq $conv1 } @{ $r->{json}{items} || [] }), '  not with status=open');

$r = $v1->post('one more thing');
is($r->{status}, 201, 'the visitor writes again: 201');
my $conv2 = $v1->conversation_id // 'conv_missing';
isnt($conv2, $conv1, '  a new conversation');
is($api->call(GET => "customers/$cus1")->{json}{conversation_id}, $conv2,
   '  the customer points at it');
{
    $r = $api->call(POST => "customers/$cus1/agent-url", { agent_id => 'ann' });
    my ($tok) = ($r->{json}{url} // '') =~ $JOIN_RE;
    my $j = join_token($tok // 'x');
    is($j->{json}{redirect}, "/chatvisor/agent/#conversation=$conv2",
       '  agent-url now opens the latest conversation');
}

$r = $api->call(POST => "conversations/$conv2/assign", { agent_id => 'dan' });
is($r->{json}{assigned_agent_id}, 'dan', 'assign the new conversation to dan');
$r = $api->call(DELETE => 'agents/dan');
is($r->{status}, 204, 'DELETE agents/dan: 204');
$r = $api->call(GET => "conversations/$conv2");
ok(!defined $r->{json}{assigned_agent_id}, "  dan's open conversation is unassigned");

# ---- settings/widget ----

sub page_tag {
    my $p = $t->get('/index.html');
    my @tags = find_tags($p->{content} // '');
    return @tags == 1 ? $tags[0]{attrs} : undef;
}

$r = $api->call(GET => 'settings/widget');
is($r->{status}, 200, 'GET settings/widget: 200');
is_deeply($r->{json}, { color => undef, position => undef, language => undef, texts => {} },
          '  nothing set at runtime');
is(page_tag()->{'data-color'}, '#123456', '  the page has the color of nginx.conf');

my %look = (color => '#ff0000', position => 'left', language => 'es',
            texts => { title => 'Hola', launcher => '¿Hablamos?' });
my $launcher_bytes = $look{texts}{launcher};
utf8::decode($look{texts}{launcher});
$r = $api->call(PUT => 'settings/widget', \%look);
is($r->{status}, 200, 'PUT settings/widget: 200') or diag $r->{content};
is_deeply($r->{json}, \%look, '  the settings as given');
is_deeply($api->call(GET => 'settings/widget')->{json}, \%look, '  GET gives them back');
for my $i (1 .. 6) {    # new connections: both workers
    my $a = page_tag() || {};
    my $ok = ($a->{'data-color'} // '') eq '#ff0000'
          && ($a->{'data-position'} // '') eq 'left'
          && ($a->{'data-language'} // '') eq 'es'
          && ($a->{'data-text-title'} // '') eq 'Hola'
          && ($a->{'data-text-launcher'} // '') eq $launcher_bytes;
    ok($ok, "  page view $i: the injected tag carries the new look")
        or diag explain $a;
}

# the look is kept in the store: a reload (new workers) keeps it
ok($t->reload, 'reload');
{
    my $a = page_tag() || {};
    is($a->{'data-color'}, '#ff0000', '  after the reload the page has the new color');
    is($a->{'data-text-title'}, 'Hola', '  and the new title');
}

$r = $api->call(PUT => 'settings/widget', { color => undef, position => 'left',
                                            language => undef, texts => {} });
is($r->{status}, 200, 'PUT settings/widget back to null: 200');
for my $i (1 .. 6) {    # new connections: both workers
    my $a = page_tag() || {};
    my $ok = ($a->{'data-color'} // '') eq '#123456'
          && ($a->{'data-position'} // '') eq 'left'
          && ($a->{'data-language'} // 'en') eq 'en'
          && !defined $a->{'data-text-title'} && !defined $a->{'data-text-launcher'};
    ok($ok, "  page view $i: the color of nginx.conf again, position still left, no texts")
        or diag explain $a;
}
$r = $api->call(PUT => 'settings/widget', {});
is_deeply($r->{json}, { color => undef, position => undef, language => undef, texts => {} },
          'PUT settings/widget {} resets everything (PUT replaces the whole object)');
is(page_tag()->{'data-position'} // 'right', 'right', '  the position of nginx.conf again');

# ---- visibility ----

sub stamp {
    my @t = gmtime($_[0]);
    return sprintf('%04d-%02d-%02dT%02d:%02d:%02d.000Z', $t[5] + 1900, $t[4] + 1,
                   @t[3, 2, 1, 0]);
}

sub tags_on_page { scalar find_tags($t->get('/index.html')->{content} // '') }

$r = $api->call(GET => 'visibility');
is($r->{status}, 200, 'GET visibility: 200');
is_deeply($r->{json}, { mode => 'auto', until => undef }, '  auto, no until');
is(tags_on_page(), 1, '  the page has the widget (no chatvisor_show_if rules)');

$r = $api->call(PUT => 'visibility', { mode => 'hidden' });
is($r->{status}, 200, 'PUT visibility hidden: 200');
is_deeply($r->{json}, { mode => 'hidden', until => undef }, '  hidden');
is_deeply($api->call(GET => 'visibility')->{json}, { mode => 'hidden', until => undef },
          '  GET says hidden');
is(join(',', map { tags_on_page() } 1 .. 8), '0,0,0,0,0,0,0,0', '  no page view gets the widget');

my $until = time + 3;
$r = $api->call(PUT => 'visibility', { mode => 'hidden', until => stamp($until) });
is($r->{status}, 200, 'PUT visibility hidden until +3 s: 200');
is_deeply($r->{json}, { mode => 'hidden', until => stamp($until) }, '  hidden, until');
is(tags_on_page(), 0, '  no widget now');
Time::HiRes::sleep($until - Time::HiRes::time() + 0.3);
is_deeply($api->call(GET => 'visibility')->{json}, { mode => 'auto', until => undef },
          '  after until, GET says auto');
is(join(',', map { tags_on_page() } 1 .. 4), '1,1,1,1', '  and the pages have the widget again');

$r = $api->call(PUT => 'visibility', { mode => 'visible', until => undef });
is_deeply($r->{json}, { mode => 'visible', until => undef }, 'PUT visibility visible');
is(tags_on_page(), 1, '  widget on the page');
$r = $api->call(PUT => 'visibility', { mode => 'auto' });
is_deeply($r->{json}, { mode => 'auto', until => undef }, 'PUT visibility auto');

# ---- the poll's answer, byte for byte ----
# GET conversations puts its page together as text from the stored
# entries; one page that reaches the log's end shows every conversation
# as it is now, so it must be exactly {"items":[ each GET
# conversations/{id} answer ],"next_cursor":"N"}, for every status filter.
# GET conversations/{id} adds the customer as its last member (the list's
# items do not carry it): the rest is the list item, byte for byte
sub strip_customer {
    my ($c) = @_;
    my $at = rindex($c, ',"customer":{');
    return $c if $at < 0;
    return substr($c, 0, $at) . '}';
}

# The conversations hold what JSON escapes (quotes, backslashes, controls,
# non-ASCII, U+2028) and end on each kind of change: a message after an
# assignment, an assignment, a close.
{
    my @urls = ("https://shop.example/\x{e9}t\x{e9}?q=\"quoted\"&x=\\back",
                "https://shop.example/tab\there/\x{2028}/\x{1f600}",
                "https://shop.example/</script>/\\u0041");
    my @v = map { Chatvisor::API::Visitor->new($t) } @urls;
    for my $i (0 .. $#urls) {
        my $r = $v[$i]->post("hi \"there\" \\ \x{20ac}", page_url => $urls[$i]);
        is($r->{status}, 201, "byte check: visitor $i writes from a page with escapes: 201");
    }
    $api->call(POST => 'conversations/' . $v[0]->conversation_id . '/assign', { agent_id => 'ann' });
    $v[0]->post('after the assignment');
    $api->call(POST => 'conversations/' . $v[1]->conversation_id . '/assign', { agent_id => 'ann' });
    $api->call(POST => 'conversations/' . $v[2]->conversation_id . '/close', {});

    for my $status (undef, 'open', 'closed') {
        my $q = 'conversations?limit=200' . (defined $status ? "&status=$status" : '');
        my $r = $api->call(GET => $q);
        my @ids = map { $_->{id} } @{ $r->{json}{items} || [] };
        my $want = '{"items":['
            . join(',', map { my $c = $api->call(GET => "conversations/$_")->{content}; chomp $c; strip_customer($c) } @ids)
            . '],"next_cursor":"' . ($r->{json}{next_cursor} // '') . "\"}\n";
        ok(@ids >= (defined $status ? 1 : 3), "GET $q: " . scalar(@ids) . ' conversations');
        is($r->{content}, $want, "  byte for byte the GET conversations/{id} answers");
    }
}

done_testing;
