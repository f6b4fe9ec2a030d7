#!/usr/bin/perl

# REST API, failure paths (docs/api.md, Conventions): for every call, no
# token, a bad token and a token of another scheme (401 with
# WWW-Authenticate: Bearer); for every call with a body, malformed JSON,
# wrong types, unknown fields (400, and docs/openapi.json refuses the same
# bodies), an oversized body (413, also chunked) and a wrong Content-Type
# (415); unknown ids in the path and in the body (404), a disabled agent
# and a closed conversation (409), bad query parameters (400), a method a
# path does not have (405 with Allow), unknown paths (404). Each answer
# carries the JSON error body of its status (checked against the spec) and
# nothing changed (the state read back through GETs is the same before and
# after every failed write). auth/token: unknown client and wrong secret
# (401 invalid_client), bad grant_type, no credentials, then rate limiting
# (429 with Retry-After after 5 failures, the right secret still accepted, and
# only for that client). Tokens issued with a secret that was changed are
# refused after a reload; a token past its hour is refused (nginx under
# libfaketime, time moved forward).

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use JSON::PP ();
use MIME::Base64 ();

use Chatvisor::Test;
use Chatvisor::API;
use Chatvisor::HTTP ();

my $t = Chatvisor::Test->new;

my @chars = ('A' .. 'Z', 'a' .. 'z', '0' .. '9');
sub secret { join '', map { $chars[rand @chars] } 1 .. ($_[0] // 40) }

my $crm_secret = secret();
my $erp_secret = secret();
$t->write_file('crm.secret', "$crm_secret\n");
$t->write_file('erp.secret', "$erp_secret\n");

my $TMPL = <<'EOF';
worker_processes 2;
http {
    chatvisor_store %%TESTDIR%%/store;
    chatvisor_api_client crm %%TESTDIR%%/crm.secret;
    chatvisor_api_client erp %%TESTDIR%%/%%ERP_SECRET%%;
    server {
        listen 127.0.0.1:%%PORT%%;
        location /chatvisor/ { chatvisor on; }
    }
}
EOF

# ---- nginx -t: the secret files ----

{
    $t->write_config($TMPL, ERP_SECRET => 'missing.secret');
    my ($st, $out) = $t->test_config;
    isnt($st, 0, 'nginx -t fails with a missing secret file');
    like($out, qr/chatvisor_api_client/, '  naming the directive');
    like($out, qr/missing\.secret/, '  and the file');

    $t->write_file('short.secret', 'x' x 31 . "\n");
    $t->write_config($TMPL, ERP_SECRET => 'short.secret');
    ($st, $out) = $t->test_config;
    isnt($st, 0, 'nginx -t fails with a secret of 31 characters');
    like($out, qr/chatvisor_api_client/, '  naming the directive');
    like($out, qr/32/, '  saying at least 32');

    $t->write_file('ok32.secret', 'y' x 32 . "\n");
    $t->write_config($TMPL, ERP_SECRET => 'ok32.secret');
    ($st, $out) = $t->test_config;
    is($st, 0, 'nginx -t accepts a secret of 32 characters') or diag $out;
}

$t->write_config($TMPL, ERP_SECRET => 'erp.secret');
$t->run;

my $port = $t->port;
my $api = Chatvisor::API->new($t, client => 'crm', secret => $crm_secret);
my $token = $api->login;
my $J = JSON::PP->new->canonical->utf8;

# ---- the state the failed calls must not change ----

my $req = sub {    # a setup call that must work
    my ($m, $p, $d) = @_;
    my $r = $api->call($m, $p, $d);
    die "setup: $m $p: $r->{status} $r->{content}\n" unless $r->{status} =~ /^20/;
    return $r->{json};
};

$req->(PUT => 'agents/ann', { name => 'Ann', email => 'ann@example.com' });
$req->(PUT => 'agents/bob', { name => 'Bob' });
$req->(PUT => 'agents/dis', { name => 'Dis', enabled => JSON::PP::false });

my $v1 = Chatvisor::API::Visitor->new($t);
$v1->post('hello') ->{status} == 201 or die "setup: visitor 1\n";
my ($cus1, $conv1) = ($v1->customer_id, $v1->conversation_id);
$req->(PUT => "customers/$cus1", { id => 123, email => 'john@example.com',
                                   labels => ['foo'] });
$req->(POST => "conversations/$conv1/assign", { agent_id => 'ann' });

my $v2 = Chatvisor::API::Visitor->new($t);
$v2->post('bye')->{status} == 201 or die "setup: visitor 2\n";
my ($cus2, $conv2) = ($v2->customer_id, $v2->conversation_id);
$req->(PUT => "customers/$cus2", { id => 'taken' });
$req->(POST => "conversations/$conv2/close", {});

$req->(PUT => 'settings/widget', { color => '#abcdef' });

sub snapshot {
    my %s;
    for my $p ('agents', 'agents/ann', 'agents/bob', 'agents/dis',
               "customers/$cus1", "customers/$cus2", 'customers?id=123',
               "conversations/$conv1", "conversations/$conv1/messages",
               "conversations/$conv2", 'conversations', 'settings/widget', 'visibility')
    {
        my $r = $api->call(GET => $p, undef, spec_check => 'quiet');
        $s{$p} = [ $r->{status}, $r->{json} ];
    }
    return $J->encode(\%s);
}

my $STATE = snapshot();

sub unchanged {
    my ($what) = @_;
    my $now = snapshot();
    return ok($now eq $STATE, "  nothing changed: $what") || do {
        my $a = $J->decode($STATE);
        my $b = $J->decode($now);
        for my $k (sort keys %$a) {
            diag("  $k was " . $J->encode($a->{$k}) . "\n  now " . $J->encode($b->{$k}))
                if $J->encode($a->{$k}) ne $J->encode($b->{$k});
        }
        $STATE = $now;    # report each change once
        0;
    };
}

sub error_is {
    my ($r, $status, $code, $name) = @_;
    is($r->{status}, $status, "$name: $status") or diag $r->{content};
    is(ref $r->{json} eq 'HASH' && ref $r->{json}{error} eq 'HASH'
       ? $r->{json}{error}{code} : undef, $code, "  error code $code");
}

# ---- every call ----

my $big = 'x' x 70000;

my @CALLS = (
    { m => 'GET',    p => 'agents' },
    { m => 'PUT',    p => 'agents',
      body => [ { id => 'ann', name => 'Ann' } ],
      wrong => [ { id => 'ann', enabled => 'yes' } ],
      wrong2 => { id => 'ann' },
      unknown => [ { id => 'ann', nick => 'A' } ],
      big => [ { id => 'ann', name => $big } ] },
    { m => 'GET',    p => 'agents/ann', missing => 'agents/nobody' },
    { m => 'PUT',    p => 'agents/ann', body => { name => 'Ann' },
      wrong => { max_concurrent => 'many' }, wrong2 => { enabled => 1 },
      unknown => { name => 'Ann', nick => 'A' }, big => { name => $big } },
    { m => 'DELETE', p => 'agents/bob', missing => 'agents/nobody' },
    { m => 'PUT',    p => 'agents/ann/status', body => { status => 'away' },
      wrong => { status => 1 }, wrong2 => { status => 'busy' },
      unknown => { status => 'away', mood => 'fine' },
      big => { status => $big }, missing => 'agents/nobody/status' },
    { m => 'POST',   p => 'agents/ann/login-url', body => { ttl_seconds => 60 },
      wrong => { ttl_seconds => 'soon' }, wrong2 => { ttl_seconds => 86401 },
      unknown => { ttl => 60 }, big => { ttl_seconds => 60, pad => $big },
      missing => 'agents/nobody/login-url' },
    { m => 'GET',    p => 'customers?id=123' },
    { m => 'GET',    p => "customers/$cus1", missing => 'customers/cus_nobody' },
    { m => 'PUT',    p => "customers/$cus1", body => { email => 'x@example.com' },
      wrong => { labels => 'foo' }, wrong2 => { id => JSON::PP::true },
      unknown => { phone => '555' }, big => { firstname => $big },
      missing => 'customers/cus_nobody' },
    { m => 'PATCH',  p => "customers/$cus1", body => { labels => ['bar'] },
      wrong => { email => 5 }, wrong2 => { labels => [ 'x' x 65 ] },
      unknown => { nickname => 'J' }, big => { lastname => $big },
      missing => 'customers/cus_nobody' },
    { m => 'POST',   p => "customers/$cus1/agent-url", body => { agent_id => 'ann' },
      wrong => { agent_id => 5 }, wrong2 => { agent_id => 'ann', ttl_seconds => 0 },
      unknown => { agent_id => 'ann', conversation => $conv1 },
      big => { agent_id => $big }, missing => 'customers/cus_nobody/agent-url' },
    { m => 'GET',    p => 'conversations' },
    { m => 'GET',    p => "conversations/$conv1", missing => 'conversations/conv_nobody' },
    { m => 'GET',    p => "conversations/$conv1/messages",
      missing => 'conversations/conv_nobody/messages' },
    { m => 'POST',   p => "conversations/$conv1/messages", body => { text => 'hi' },
      wrong => { text => 42 }, wrong2 => { text => 'hi', agent_id => ['ann'] },
      unknown => { text => 'hi', author => 'x' }, big => { text => $big },
      missing => 'conversations/conv_nobody/messages' },
    { m => 'POST',   p => "conversations/$conv1/assign", body => { agent_id => 'bob' },
      wrong => { agent_id => 7 }, wrong2 => {},
      unknown => { agent_id => 'bob', note => 'x' }, big => { agent_id => $big },
      missing => 'conversations/conv_nobody/assign' },
    { m => 'POST',   p => "conversations/$conv1/close", body => {},
      unknown => { reason => 'done' }, big => { pad => $big },
      missing => 'conversations/conv_nobody/close' },
    { m => 'GET',    p => 'visibility' },
    { m => 'PUT',    p => 'visibility', body => { mode => 'hidden' },
      wrong => { mode => 'sometimes' }, wrong2 => { mode => 'hidden', until => 'tomorrow' },
      unknown => { mode => 'hidden', reason => 'x' }, big => { mode => $big } },
    { m => 'GET',    p => 'settings/widget' },
    { m => 'PUT',    p => 'settings/widget', body => { color => '#fff' },
      wrong => { color => 'red' }, wrong2 => { texts => { title => 5 } },
      unknown => { font => 'serif' }, big => { texts => { title => $big } } },
);

my %is_write = map { $_ => 1 } qw(PUT POST PATCH DELETE);

for my $c (@CALLS) {
    my ($m, $p) = @$c{qw(m p)};
    my $name = "$m $p";
    my %b = defined $c->{body} ? (body => $J->encode($c->{body})) : ();
    my $write = $is_write{$m};

    # -- authentication --
    my $r = $api->call($m, $p, undef, %b, token => undef);
    error_is($r, 401, 'unauthorized', "$name without a token");
    like($r->{headers}{'www-authenticate'} // '', qr/^Bearer\b/,
         '  WWW-Authenticate: Bearer');
    unchanged("$name without a token") if $write;

    $r = $api->call($m, $p, undef, %b, token => 'cvt_' . secret(43));
    error_is($r, 401, 'unauthorized', "$name with an unknown token");
    like($r->{headers}{'www-authenticate'} // '', qr/^Bearer\b/,
         '  WWW-Authenticate: Bearer');

    $r = $api->call($m, $p, undef, %b, token => undef, headers => {
        Authorization => 'Basic ' . MIME::Base64::encode_base64("crm:$crm_secret", '') });
    error_is($r, 401, 'unauthorized', "$name with the client secret as Basic");
    unchanged("$name with bad tokens") if $write;

    # -- unknown ids --
    if ($c->{missing}) {
        $r = $api->call($m, $c->{missing}, undef, %b);
        error_is($r, 404, 'not_found', "$m $c->{missing}");
        unchanged("$m $c->{missing}") if $write;
    }

    next unless defined $c->{body};

    # -- bodies --
    $r = $api->call($m, $p, undef, body => '{"text": "unfinished', request_check => 0);
    error_is($r, 400, 'invalid_json', "$name with malformed JSON");

    $r = $api->call($m, $p, undef, body => '', request_check => 0);
    error_is($r, 400, 'invalid_json', "$name with an empty body as application/json");

    $r = $api->call($m, $p, undef, body => $b{body} . ' {}', request_check => 0);
    error_is($r, 400, 'invalid_json', "$name with something after the JSON value");

    for my $kind (qw(wrong wrong2 unknown)) {
        next unless exists $c->{$kind};
        my $bytes = $J->encode($c->{$kind});
        my @spec = $api->spec->check_request($m, $api->path($p), 'application/json', $bytes);
        ok(scalar @spec, "  docs/openapi.json refuses $bytes too");
        $r = $api->call($m, $p, undef, body => $bytes);
        my $what = $kind eq 'unknown' ? 'an unknown field' : 'a wrong type or value';
        error_is($r, 400, 'invalid_request', "$name with $what: $bytes");
    }

    $r = $api->call($m, $p, undef, body => $J->encode($c->{big}));
    error_is($r, 413, 'too_large', "$name with a body over 64 KB");

    for my $ct ('text/plain', 'application/x-www-form-urlencoded',
                'application/octet-stream', 'application/jsonp')
    {
        $r = $api->call($m, $p, undef, body => $b{body}, content_type => $ct);
        error_is($r, 415, 'unsupported_media_type', "$name with a JSON body as $ct");
    }
    unchanged("$name with bad bodies");
}

# an oversized chunked body (no Content-Length to refuse it early)
{
    my $body = $J->encode({ text => $big });
    my $chunked = '';
    for (my $i = 0; $i < length $body; $i += 8192) {
        my $part = substr($body, $i, 8192);
        $chunked .= sprintf("%x\r\n%s\r\n", length $part, $part);
    }
    $chunked .= "0\r\n\r\n";
    my $path = $api->path("conversations/$conv1/messages");
    my $res = $t->raw(method => 'POST', path => $path, body => $chunked, headers => [
        Authorization => "Bearer $token", 'Content-Type' => 'application/json',
        'Transfer-Encoding' => 'chunked' ]);
    is($res->status, 413, 'a chunked body over 64 KB: 413');
    my @e = $api->spec->check_response('POST', $path, $res);
    ok(!@e, '  the answer matches docs/openapi.json') or diag join "\n", @e;
    unchanged('a chunked body over 64 KB');
}

# ---- bad query parameters ----

for my $p ('conversations?limit=0', 'conversations?limit=201', 'conversations?limit=ten',
           'conversations?status=pending', 'conversations?since=yesterday',
           'conversations?since=-1', "conversations/$conv1/messages?after=-1",
           "conversations/$conv1/messages?after=x", "conversations/$conv1/messages?limit=0",
           "conversations/$conv1/messages?limit=1000", 'agents?limit=0', 'agents?limit=x',
           'customers', 'customers?id=')
{
    my @spec = $api->spec->check_request('GET', $api->path($p));
    ok(scalar @spec, "docs/openapi.json refuses GET $p");
    my $r = $api->call(GET => $p);
    error_is($r, 400, 'invalid_request', "GET $p");
}

# ---- references to what does not exist or may not be used ----

{
    my @cases = (
        [ POST => "conversations/$conv1/messages", { text => 'hi', agent_id => 'nobody' },
          404, 'not_found', 'posting as an unknown agent' ],
        [ POST => "conversations/$conv1/assign", { agent_id => 'nobody' },
          404, 'not_found', 'assigning to an unknown agent' ],
        [ POST => "customers/$cus1/agent-url", { agent_id => 'nobody' },
          404, 'not_found', 'an agent URL for an unknown agent' ],
        [ POST => "conversations/$conv1/messages", { text => 'hi', agent_id => 'dis' },
          409, 'conflict', 'posting as a disabled agent' ],
        [ POST => "conversations/$conv1/assign", { agent_id => 'dis' },
          409, 'conflict', 'assigning to a disabled agent' ],
        [ POST => "conversations/$conv2/messages", { text => 'anyone there?' },
          409, 'conflict', 'posting into a closed conversation' ],
        [ POST => "conversations/$conv2/messages", { text => 'late', agent_id => 'ann' },
          409, 'conflict', 'posting into a closed conversation as an agent' ],
        [ POST => "conversations/$conv2/assign", { agent_id => 'ann' },
          409, 'conflict', 'assigning a closed conversation' ],
        [ PATCH => "customers/$cus1", { id => 'taken' },
          409, 'conflict', "an integrator id another customer has" ],
        [ PUT => "customers/$cus1", { id => 'taken' },
          409, 'conflict', "an integrator id another customer has (PUT)" ],
    );
    for my $c (@cases) {
        my ($m, $p, $d, $st, $code, $name) = @$c;
        my $r = $api->call($m, $p, $d);
        error_is($r, $st, $code, "$name ($m $p)");
        unchanged($name);
    }

    # a disabled agent gets no URL (or one that cannot be used)
    my $r = $api->call(POST => "customers/$cus1/agent-url", { agent_id => 'dis' });
    if ($r->{status} == 201) {
        my ($tok) = ($r->{json}{url} // '') =~ /#(.*)$/;
        my $j = Chatvisor::HTTP::http_json($port, 'POST', '/chatvisor/v1/agent/join',
                                           { token => $tok // '' });
        is($j->{status}, 403, 'an agent URL of a disabled agent cannot be redeemed');
    } else {
        ok($r->{status} == 404 || $r->{status} == 409,
           'no agent URL for a disabled agent (404 or 409)') or diag $r->{content};
    }
    $r = $api->call(POST => 'agents/dis/login-url', { ttl_seconds => 60 });
    if ($r->{status} == 201) {
        my ($tok) = ($r->{json}{url} // '') =~ /#(.*)$/;
        my $j = Chatvisor::HTTP::http_json($port, 'POST', '/chatvisor/v1/agent/join',
                                           { token => $tok // '' });
        is($j->{status}, 403, 'a login URL of a disabled agent cannot be redeemed');
    } else {
        ok($r->{status} == 404 || $r->{status} == 409,
           'no login URL for a disabled agent (404 or 409)') or diag $r->{content};
    }
    unchanged('URLs for a disabled agent');

    # ids that cannot be ids
    for my $p ('agents/' . ('a' x 129), 'agents/a%20b', 'agents/%C3%A9') {
        $r = $api->call(PUT => $p, { name => 'X' }, request_check => 0);
        ok($r->{status} == 400 || $r->{status} == 404,
           "PUT $p: 400 or 404, not created") or diag "$r->{status} $r->{content}";
    }
    unchanged('agent ids that cannot be ids');
}

# ---- methods a path does not have, unknown paths ----

{
    my @cases = (
        [ POST => 'agents' ], [ DELETE => 'agents' ], [ POST => 'agents/ann' ],
        [ PATCH => 'agents/ann' ], [ GET => 'agents/ann/status' ],
        [ GET => 'agents/ann/login-url' ], [ POST => 'customers' ],
        [ POST => "customers/$cus1" ],
        [ GET => "customers/$cus1/agent-url" ], [ POST => 'conversations' ],
        [ DELETE => "conversations/$conv1" ], [ PUT => "conversations/$conv1/messages" ],
        [ GET => "conversations/$conv1/assign" ], [ GET => "conversations/$conv1/close" ],
        [ DELETE => 'settings/widget' ], [ POST => 'settings/widget' ],
        [ POST => 'visibility' ], [ DELETE => 'visibility' ],
        [ GET => 'auth/token' ], [ PUT => 'auth/token' ], [ POST => 'openapi.json' ],
    );
    for my $c (@cases) {
        my ($m, $p) = @$c;
        my $r = $api->call($m, $p, undef, request_check => 0,
                           $m =~ /^(?:POST|PUT|PATCH)$/ ? (body => '{}') : ());
        error_is($r, 405, 'method_not_allowed', "$m $p");
        ok($r->{headers}{allow}, '  with Allow') or next;
        # (the Allow methods are compared with the spec's by the check)
    }
    unchanged('methods a path does not have');

    for my $p ('nope', 'agents/ann/nope', "conversations/$conv1/nope",
               "customers/$cus1/agent-url/x", 'settings/nope', 'settings', 'auth')
    {
        my $r = $api->call(GET => $p);
        error_is($r, 404, 'not_found', "GET $p (no such path)");
    }
}

# ---- auth/token ----

{
    my $r = $api->token_request(client => 'nobody', secret => $crm_secret);
    error_is($r, 401, 'invalid_client', 'auth/token with an unknown client');
    # (no wrong secret for crm here: it would count towards crm's limit)

    $r = $api->call(POST => 'auth/token', undef, token => undef, request_check => 0,
        content_type => 'application/x-www-form-urlencoded',
        body => "grant_type=password&client_id=crm&client_secret=$crm_secret");
    error_is($r, 400, 'unsupported_grant_type', 'auth/token with grant_type=password');

    $r = $api->call(POST => 'auth/token', undef, token => undef, request_check => 0,
        content_type => 'application/x-www-form-urlencoded',
        body => 'grant_type=client_credentials');
    error_is($r, 400, 'invalid_request', 'auth/token without credentials');

    $r = $api->call(POST => 'auth/token', undef, token => undef, request_check => 0,
                    body => '{"client_id": "crm", ');
    error_is($r, 400, 'invalid_json', 'auth/token with malformed JSON');

    $r = $api->call(POST => 'auth/token', undef, token => undef, request_check => 0,
        body => $J->encode({ client_id => 'crm', client_secret => $crm_secret,
                             audience => 'x' }));
    error_is($r, 400, 'invalid_request', 'auth/token with an unknown field');

    $r = $api->call(POST => 'auth/token', undef, token => undef, request_check => 0,
        body => $J->encode({ client_id => 'crm', client_secret => 12345 }));
    error_is($r, 400, 'invalid_request', 'auth/token with a number as secret');

    $r = $api->call(POST => 'auth/token', undef, token => undef, request_check => 0,
        content_type => 'text/plain',
        body => "grant_type=client_credentials&client_id=crm&client_secret=$crm_secret");
    error_is($r, 415, 'unsupported_media_type', 'auth/token as text/plain');

    $r = $api->call(POST => 'auth/token', undef, token => undef, request_check => 0,
        body => $J->encode({ client_id => 'crm', client_secret => $big }));
    error_is($r, 413, 'too_large', 'auth/token with a body over 64 KB');

    # erp: five failures in a minute, then 429; the right secret still works
    my @fail = (
        [ form => 'wrong-' . secret() ], [ json => 'wrong-' . secret() ],
        [ basic => 'wrong-' . secret() ], [ form => substr($erp_secret, 0, -1) ],
        [ json => "x$erp_secret" ],
    );
    my $i = 0;
    for my $f (@fail) {
        $i++;
        $r = $api->token_request(client => 'erp', how => $f->[0], secret => $f->[1]);
        error_is($r, 401, 'invalid_client', "erp, wrong secret ($f->[0]), failure $i");
    }
    $r = $api->token_request(client => 'erp', secret => 'wrong-' . secret());
    error_is($r, 429, 'rate_limited', 'erp after 5 failures, a wrong secret');
    my $ra = $r->{headers}{'retry-after'} // '';
    ok($ra =~ /^\d+$/ && $ra >= 1 && $ra <= 60, "  Retry-After: $ra (1 to 60 s)");
    $r = $api->token_request(client => 'erp', how => 'basic', secret => 'wrong');
    error_is($r, 429, 'rate_limited', '  also through HTTP Basic');
    $r = $api->token_request(client => 'erp', secret => $erp_secret);
    is($r->{status}, 200, '  the right secret is still accepted');
    $r = $api->token_request(client => 'erp', how => 'basic', secret => $erp_secret);
    is($r->{status}, 200, '  also through HTTP Basic');

    $r = $api->token_request(client => 'crm', secret => $crm_secret);
    is($r->{status}, 200, 'crm still gets tokens (the limit is per client)');
    $r = $api->call(GET => 'agents');
    is($r->{status}, 200, "crm's earlier token still works");
}

unchanged('auth/token failures');

# ---- a changed secret revokes the tokens issued with the old one ----

{
    my $old = $token;
    my $new_secret = secret(50);
    $t->write_file('crm.secret', "$new_secret\n");
    ok($t->reload, 'crm.secret changed, nginx reloaded');
    my $r = $api->call(GET => 'agents', undef, token => $old);
    error_is($r, 401, 'unauthorized', 'a token issued with the old secret');
    like($r->{headers}{'www-authenticate'} // '', qr/^Bearer\b/, '  WWW-Authenticate: Bearer');
    $r = $api->token_request(client => 'crm', secret => $crm_secret);
    error_is($r, 401, 'invalid_client', 'the old secret');
    $r = $api->token_request(client => 'crm', secret => $new_secret);
    is($r->{status}, 200, 'the new secret gives a token');
    $api->set_token($r->{json}{access_token});
    is($api->call(GET => 'agents')->{status}, 200, '  which works');
    unchanged('secret rotation');
}

# ---- a token past its hour (nginx under libfaketime) ----

SKIP: {
    my ($lib) = grep { -f } map { "$_/faketime/libfaketime.so.1" }
                '/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu',
                '/usr/lib';
    skip 'libfaketime is not installed (Debian package libfaketime)', 5 unless $lib;
    # under make test-asan libasan is preloaded, and it does not share
    skip 'another library is preloaded (make test-asan)', 5 if $ENV{LD_PRELOAD};

    my $t2 = Chatvisor::Test->new;
    my $s2 = secret();
    $t2->write_file('crm.secret', $s2);
    my $clock = $t2->write_file('clock', "+0\n");
    $t2->write_config(<<'EOF');
env LD_PRELOAD;
env FAKETIME_TIMESTAMP_FILE;
env FAKETIME_NO_CACHE;
env FAKETIME_DONT_FAKE_MONOTONIC;
http {
    chatvisor_store %%TESTDIR%%/store;
    chatvisor_api_client crm %%TESTDIR%%/crm.secret;
    server {
        listen 127.0.0.1:%%PORT%%;
        location /chatvisor/ { chatvisor on; }
    }
}
EOF
    {
        local $ENV{LD_PRELOAD} = $lib;
        local $ENV{FAKETIME_TIMESTAMP_FILE} = $clock;
        local $ENV{FAKETIME_NO_CACHE} = 1;
        local $ENV{FAKETIME_DONT_FAKE_MONOTONIC} = 1;
        $t2->run;
    }
    my $api2 = Chatvisor::API->new($t2, client => 'crm', secret => $s2);
    my $tok = $api2->login;
    is($api2->call(GET => 'agents')->{status}, 200, 'faked clock: a fresh token works');
    $t2->write_file('clock', "+3540\n");    # 59 minutes later
    is($api2->call(GET => 'agents')->{status}, 200, '  59 minutes later it still works');
    $t2->write_file('clock', "+3660\n");    # 61 minutes later
    my $r = $api2->call(GET => 'agents');
    error_is($r, 401, 'unauthorized', '  61 minutes later it has expired');
    like($r->{headers}{'www-authenticate'} // '', qr/^Bearer\b/, '  WWW-Authenticate: Bearer');
    $t2->write_file('clock', "+0\n");
}

done_testing;
