#!/usr/bin/perl

# Webhooks, the REST API and the directives (docs/webhooks.md, docs/api.md;
# SPEC 7). No receiver here: t/91 to t/94 send.
#
# nginx -t: chatvisor_webhook NAME URL secret_file=PATH [events=...] is
# refused with a bad name, URL, secret file or secret, an unknown event, a
# name twice, a private IP literal without chatvisor_webhook_allow_private
# on, and without chatvisor_store; chatvisor_webhook_retry_schedule with a
# bad time and chatvisor_webhook_concurrency out of 1 to 64 too.
#
# docs/openapi.json has a webhooks entry per event type (its body schema,
# the three headers, the answers).
#
# Then nginx (2 workers, chatvisor_webhook_allow_private off) with one
# endpoint declared in nginx.conf: POST webhooks (201, a whsec_ secret of
# 32 bytes, every event type by default), GET webhooks (the API's and the
# config's, source "config", no secrets), GET, PATCH (url, events, status:
# disabled_reason "api", enabled again), rotate-secret (a new secret),
# test (202, a pending webhook.test delivery listed by deliveries; its
# attempt fails with "no resolver defined to resolve ..."),
# DELETE (204, then 404 everywhere, its deliveries gone). The config
# endpoint is read-only: PATCH, DELETE and rotate-secret answer 409 and
# change nothing (test is allowed); a reload with another URL, events and
# secret updates it in place (same id), and one without the directive
# removes it. Every failure path: SSRF refusals of private, loopback,
# link-local and reserved IP literals (400 invalid_url, in POST and PATCH),
# URLs that are not http(s) URLs (invalid_url) or not strings
# (invalid_request), unknown event types (invalid_event), missing url,
# unknown fields (secret, id, source...), bodies that are not JSON, over 64
# KB or not application/json, no or a bad token, unknown ids (and ids of
# another endpoint), methods a path does not have (405 with Allow), bad
# query parameters. Each answer is a JSON error body of its status checked
# against docs/openapi.json, and nothing changed (every endpoint and its
# deliveries read back the same before and after every refused request).

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use JSON::PP ();
use MIME::Base64 ();
use Test::More;

use Chatvisor::Test;
use Chatvisor::API;

my $t = Chatvisor::Test->new;
my $J = JSON::PP->new->canonical->utf8;

my @chars = ('A' .. 'Z', 'a' .. 'z', '0' .. '9');
sub secret { join '', map { $chars[rand @chars] } 1 .. ($_[0] // 40) }
sub whsec { 'whsec_' . MIME::Base64::encode_base64(join('', map { chr int rand 256 } 1 .. ($_[0] // 32)), '') }

my $crm_secret = secret();
$t->write_file('crm.secret', "$crm_secret\n");
my $erp_whsec = whsec(32);
$t->write_file('erp.whsec', "$erp_whsec\n");    # echo's newline is no part of it

# ---- nginx -t ----

my $TMPL = <<'EOF';
http {
    %%STORE%%
    chatvisor_api_client crm %%TESTDIR%%/crm.secret;
    %%HTTP%%
    server {
        listen 127.0.0.1:%%PORT%%;
        location /chatvisor/ { chatvisor on; }
    }
}
EOF

sub conf_test {
    my ($http, %o) = @_;
    $t->write_config($TMPL, HTTP => $http,
                     STORE => $o{no_store} ? '' : 'chatvisor_store ' . $t->testdir . '/store;');
    return $t->test_config;
}

{
    $t->write_file('short.whsec', whsec(23) . "\n");
    $t->write_file('long.whsec', whsec(65) . "\n");
    $t->write_file('ok24.whsec', whsec(24) . "\n");
    $t->write_file('ok64.whsec', whsec(64) . "\n");
    $t->write_file('nobase64.whsec', "whsec_not*base64*at*all*but*long*enough*yes\n");
    $t->write_file('noprefix.whsec', substr(whsec(32), 6) . "\n");
    my $d = $t->testdir;

    my @bad = (
        [ "chatvisor_webhook bad.name https://crm.example.com/ secret_file=$d/erp.whsec;",
          qr/invalid webhook name "bad\.name"/, 'a name with a dot' ],
        [ 'chatvisor_webhook ' . ('n' x 65) . " https://crm.example.com/ secret_file=$d/erp.whsec;",
          qr/invalid webhook name/, 'a name of 65 characters' ],
        [ "chatvisor_webhook crm ftp://crm.example.com/ secret_file=$d/erp.whsec;",
          qr/invalid webhook URL "ftp:/, 'an ftp URL' ],
        [ "chatvisor_webhook crm https://u:p\@crm.example.com/ secret_file=$d/erp.whsec;",
          qr/invalid webhook URL/, 'a URL with user information' ],
        [ 'chatvisor_webhook crm https://crm.example.com/ events=message.created;',
          qr/needs secret_file/, 'no secret_file' ],
        [ "chatvisor_webhook crm https://crm.example.com/ secret_file=$d/missing.whsec;",
          qr/cannot read webhook secret file "[^"]*missing\.whsec"/, 'a missing secret file' ],
        [ "chatvisor_webhook crm https://crm.example.com/ secret_file=$d/short.whsec;",
          qr/must hold whsec_ and the base64 of 24 to 64 random bytes/, 'a secret of 23 bytes' ],
        [ "chatvisor_webhook crm https://crm.example.com/ secret_file=$d/long.whsec;",
          qr/24 to 64/, 'a secret of 65 bytes' ],
        [ "chatvisor_webhook crm https://crm.example.com/ secret_file=$d/nobase64.whsec;",
          qr/24 to 64/, 'a secret that is not base64' ],
        [ "chatvisor_webhook crm https://crm.example.com/ secret_file=$d/noprefix.whsec;",
          qr/24 to 64/, 'a secret without whsec_' ],
        [ "chatvisor_webhook crm https://crm.example.com/ secret_file=$d/erp.whsec events=message.created,message.deleted;",
          qr/unknown webhook event "message\.deleted"/, 'an unknown event' ],
        [ "chatvisor_webhook crm https://crm.example.com/ secret_file=$d/erp.whsec events=;",
          qr/at least one event/, 'events= with none' ],
        [ "chatvisor_webhook crm https://crm.example.com/ secret_file=$d/erp.whsec colour=red;",
          qr/invalid parameter "colour=red"/, 'an unknown parameter' ],
        [ "chatvisor_webhook crm https://a.example.com/ secret_file=$d/erp.whsec;\n"
          . "    chatvisor_webhook crm https://b.example.com/ secret_file=$d/erp.whsec;",
          qr/duplicate/, 'the same name twice' ],
        [ "chatvisor_webhook crm http://127.0.0.1:9/hooks secret_file=$d/erp.whsec;",
          qr/private address; "chatvisor_webhook_allow_private on" allows it/,
          'a loopback address without allow_private' ],
        [ "chatvisor_webhook crm http://[::1]/ secret_file=$d/erp.whsec;",
          qr/private address/, 'IPv6 loopback without allow_private' ],
        [ 'chatvisor_webhook_retry_schedule 0s 5s soon;',
          qr/invalid time "soon"/, 'a retry schedule with a bad time' ],
        # (the module names the directive in its bounds message)
        [ 'chatvisor_webhook_concurrency 0;', qr/"chatvisor_webhook_concurrency" directive must be from 1 to 64/, 'concurrency 0' ],
        [ 'chatvisor_webhook_concurrency 65;', qr/"chatvisor_webhook_concurrency" directive must be from 1 to 64/, 'concurrency 65' ],
        [ 'chatvisor_webhook_timeout never;', qr/chatvisor_webhook_timeout/,
          'a timeout that is no time' ],
    );
    for my $c (@bad) {
        my ($http, $re, $name) = @$c;
        my ($st, $out) = conf_test($http);
        isnt($st, 0, "nginx -t refuses $name");
        like($out, $re, '  saying why') or diag $out;
        like($out, qr/nginx\.conf:\d+/, '  with the file and line');
    }

    my ($st, $out) = conf_test("chatvisor_webhook crm https://crm.example.com/ secret_file=$d/erp.whsec;",
                               no_store => 1);
    isnt($st, 0, 'nginx -t refuses chatvisor_webhook without chatvisor_store');
    like($out, qr/needs "chatvisor_store"/, '  saying so') or diag $out;

    for my $ok ("chatvisor_webhook crm https://crm.example.com/ secret_file=$d/ok24.whsec;",
                "chatvisor_webhook crm https://crm.example.com/ secret_file=$d/ok64.whsec events=conversation.closed;",
                "chatvisor_webhook_allow_private on;\n"
                . "    chatvisor_webhook crm http://10.1.2.3:8080/h secret_file=$d/erp.whsec;",
                "chatvisor_webhook c-1_X HTTPS://CRM.example.com:8443/a/b?c=d secret_file=$d/erp.whsec;\n"
                . '    chatvisor_webhook_retry_schedule 0s 1s 2m;'
                . ' chatvisor_webhook_concurrency 64; chatvisor_webhook_timeout 3s;'
                . ' chatvisor_webhook_verify off;')
    {
        ($st, $out) = conf_test($ok);
        is($st, 0, 'nginx -t accepts: ' . ($ok =~ s/\s*\n\s*/ /gr)) or diag $out;
    }
}

# ---- docs/openapi.json documents what is sent ----

{
    my $doc = Chatvisor::API::spec_for()->doc;
    is_deeply([ sort keys %{ $doc->{webhooks} || {} } ],
              [ sort @{ ['conversation.created', 'message.created', 'conversation.assigned',
                         'conversation.closed', 'webhook.test'] } ],
              'docs/openapi.json: a webhooks entry for each event type');
    for my $type (sort keys %{ $doc->{webhooks} || {} }) {
        my $op = $doc->{webhooks}{$type}{post} || {};
        my $ref = $op->{requestBody}{content}{'application/json'}{schema}{'$ref'} // '';
        my $schema = Chatvisor::API::spec_for()->resolve({ '$ref' => $ref });
        is($schema->{properties}{type}{const}, $type, "  $type: its body's type is $type");
        is_deeply([ sort map { Chatvisor::API::spec_for()->resolve($_)->{name} }
                    @{ $op->{parameters} || [] } ],
                  [qw(webhook-id webhook-signature webhook-timestamp)],
                  "  $type: the three Standard Webhooks headers");
        ok($op->{responses}{'2XX'} && $op->{responses}{410}, "  $type: 2XX and 410 answers");
    }
}

# ---- nginx ----

my $CONF = <<'EOF';
worker_processes 2;
http {
    chatvisor_store %%TESTDIR%%/store;
    chatvisor_api_client crm %%TESTDIR%%/crm.secret;
    %%DECLARED%%
    server {
        listen 127.0.0.1:%%PORT%%;
        location /chatvisor/ { chatvisor on; }
    }
}
EOF
my $DECLARED = 'chatvisor_webhook erp https://erp.example.com/hooks/chat '
             . 'secret_file=%%TESTDIR%%/erp.whsec '
             . 'events=conversation.created,conversation.closed;';
$t->write_config($CONF, DECLARED => $DECLARED =~ s/%%TESTDIR%%/$t->testdir/ger);
$t->run;

my $api = Chatvisor::API->new($t, client => 'crm', secret => $crm_secret);
my $token = $api->login;

my @ALL = qw(conversation.created message.created conversation.assigned conversation.closed);

sub error_is {
    my ($r, $status, $code, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    is($r->{status}, $status, "$name: $status") or diag $r->{content};
    is(ref $r->{json} eq 'HASH' && ref $r->{json}{error} eq 'HASH'
       ? $r->{json}{error}{code} : undef, $code, "  error code $code");
}

# ---- the config endpoint, listed ----

my $r = $api->call(GET => 'webhooks');
is($r->{status}, 200, 'GET webhooks: 200');
my @items = @{ $r->{json}{items} || [] };
is(scalar @items, 1, '  one endpoint: the declared one');
my $erp = $items[0] || {};
is($erp->{id}, 'wh_cfg_erp', '  its id is wh_cfg_ + its name');
is($erp->{name}, 'erp', '  name erp');
is($erp->{source}, 'config', '  source config');
is($erp->{url}, 'https://erp.example.com/hooks/chat', '  its URL');
is_deeply($erp->{events}, [qw(conversation.created conversation.closed)], '  its events');
is($erp->{status}, 'enabled', '  enabled');
ok(!exists $erp->{secret}, '  no secret shown');
unlike($r->{content}, qr/whsec_/, '  no secret anywhere in the answer');

# ---- create ----

$r = $api->call(POST => 'webhooks', { url => 'https://crm.example.com/hooks/chat' });
is($r->{status}, 201, 'POST webhooks: 201') or diag $r->{content};
my $a1 = $r->{json} || {};
like($a1->{id} // '', qr/^wh_[a-z2-7]{26}$/, '  an id wh_ + 26 base32 characters');
is($a1->{url}, 'https://crm.example.com/hooks/chat', '  the URL as given');
is_deeply($a1->{events}, \@ALL, '  every event type when events is left out');
is($a1->{status}, 'enabled', '  enabled');
is($a1->{source}, 'api', '  source api');
is($a1->{name}, undef, '  name null');
is($a1->{disabled_reason}, undef, '  disabled_reason null');
like($a1->{secret} // '', qr{^whsec_[A-Za-z0-9+/]{43}=$}, '  a whsec_ secret');
is(length(MIME::Base64::decode_base64(substr($a1->{secret} // 'whsec_', 6))), 32,
   '  of 32 random bytes');

$r = $api->call(POST => 'webhooks', { url => 'http://crm.example.com:8080/a?b=c',
                                      events => [qw(message.created conversation.created)] });
is($r->{status}, 201, 'POST webhooks with events: 201') or diag $r->{content};
my $a2 = $r->{json} || {};
is_deeply($a2->{events}, [qw(conversation.created message.created)],
          '  the events given (in their canonical order)');
isnt($a2->{secret}, $a1->{secret}, '  another secret');
isnt($a2->{id}, $a1->{id}, '  another id');

$r = $api->call(GET => 'webhooks');
is($r->{status}, 200, 'GET webhooks: 200');
my %by_id = map { $_->{id} => $_ } @{ $r->{json}{items} || [] };
is_deeply([ sort keys %by_id ], [ sort $a1->{id}, $a2->{id}, 'wh_cfg_erp' ],
          '  lists the two of the API and the config one');
is_deeply([ map { $_->{id} } @{ $r->{json}{items} || [] } ], [ sort keys %by_id ],
          '  in the order of their ids');
unlike($r->{content}, qr/whsec_/, '  no secrets');
is($r->{json}{next_cursor}, undef, '  next_cursor null');

$r = $api->call(GET => "webhooks/$a1->{id}");
is($r->{status}, 200, 'GET webhooks/{id}: 200');
my %want = %$a1;
delete $want{secret};
is_deeply($r->{json}, \%want, '  the endpoint as created, without its secret');

# ---- the state refused requests must not change ----

sub snapshot {
    my %s;
    my $l = $api->call(GET => 'webhooks', undef, spec_check => 'quiet');
    $s{list} = [ $l->{status}, $l->{json} ];
    for my $w (@{ $l->{json}{items} || [] }) {
        my $g = $api->call(GET => "webhooks/$w->{id}", undef, spec_check => 'quiet');
        $s{$w->{id}} = [ $g->{status}, $g->{json} ];
        # the deliveries there are (their attempts go on meanwhile: nginx
        # has no resolver for their names, each attempt fails)
        $g = $api->call(GET => "webhooks/$w->{id}/deliveries", undef, spec_check => 'quiet');
        $s{"$w->{id} deliveries"} = [ $g->{status}, [ map { my $d = $_;
            +{ map { $_ => $d->{$_} } qw(id event_id event_type created_at) } }
            @{ $g->{json}{items} || [] } ] ];
    }
    return $J->encode(\%s);
}

my $STATE;
sub unchanged {
    my ($what) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $now = snapshot();
    return ok($now eq $STATE, "  nothing changed: $what") || do {
        diag("was: $STATE\nnow: $now");
        $STATE = $now;
        0;
    };
}

# ---- change ----

$r = $api->call(PATCH => "webhooks/$a2->{id}", { url => 'https://crm2.example.com/h' });
is($r->{status}, 200, 'PATCH url: 200') or diag $r->{content};
is($r->{json}{url}, 'https://crm2.example.com/h', '  the new URL');
is_deeply($r->{json}{events}, [qw(conversation.created message.created)], '  events kept');
ok(!exists $r->{json}{secret}, '  no secret');

$r = $api->call(PATCH => "webhooks/$a2->{id}", { events => ['conversation.closed'] });
is($r->{status}, 200, 'PATCH events: 200') or diag $r->{content};
is_deeply($r->{json}{events}, ['conversation.closed'], '  the new events');
is($r->{json}{url}, 'https://crm2.example.com/h', '  url kept');

$r = $api->call(PATCH => "webhooks/$a2->{id}", { events => \@ALL });
is_deeply($r->{json}{events}, \@ALL, 'PATCH events: all four');

$r = $api->call(PATCH => "webhooks/$a2->{id}", { status => 'disabled' });
is($r->{status}, 200, 'PATCH status disabled: 200') or diag $r->{content};
is($r->{json}{status}, 'disabled', '  disabled');
is($r->{json}{disabled_reason}, 'api', '  disabled_reason api');
is($api->call(GET => "webhooks/$a2->{id}")->{json}{status}, 'disabled',
   '  GET says disabled');

$r = $api->call(PATCH => "webhooks/$a2->{id}", { status => 'enabled' });
is($r->{status}, 200, 'PATCH status enabled: 200') or diag $r->{content};
is($r->{json}{status}, 'enabled', '  enabled');
is($r->{json}{disabled_reason}, undef, '  disabled_reason null again');

$r = $api->call(PATCH => "webhooks/$a2->{id}", {});
is($r->{status}, 200, 'PATCH {}: 200, nothing to change');
my $before = $r->{json};
$r = $api->call(PATCH => "webhooks/$a2->{id}", undef);
is($r->{status}, 200, 'PATCH without a body: 200');
is_deeply($r->{json}, $before, '  the same endpoint');

# ---- rotate ----

$r = $api->call(POST => "webhooks/$a1->{id}/rotate-secret", {});
is($r->{status}, 200, 'POST rotate-secret: 200') or diag $r->{content};
like($r->{json}{secret} // '', qr/^whsec_/, '  a new secret');
isnt($r->{json}{secret}, $a1->{secret}, '  not the old one');
is($r->{json}{id}, $a1->{id}, '  same endpoint');
$r = $api->call(POST => "webhooks/$a1->{id}/rotate-secret", undef);
is($r->{status}, 200, 'POST rotate-secret without a body: 200');
ok(!exists $api->call(GET => "webhooks/$a1->{id}")->{json}{secret},
   '  GET still shows no secret');

# ---- test ----

$r = $api->call(POST => "webhooks/$a1->{id}/test", {});
is($r->{status}, 202, 'POST test: 202') or diag $r->{content};
my $td = $r->{json} || {};
like($td->{id} // '', qr/^dlv_[0-9a-v]{13}$/, '  a delivery');
is($td->{event_type}, 'webhook.test', '  of webhook.test');
like($td->{event_id} // '', qr/^evt_[a-z2-7]{26}$/, '  with a random event id');
is($td->{status}, 'pending', '  pending');
is($td->{attempts}, 0, '  no attempt yet');
$r = $api->call(POST => "webhooks/$a1->{id}/test", undef);
is($r->{status}, 202, 'POST test without a body: 202');
isnt($r->{json}{event_id}, $td->{event_id}, '  another event id');

$r = $api->call(GET => "webhooks/$a1->{id}/deliveries");
is($r->{status}, 200, 'GET deliveries: 200');
my @dl = @{ $r->{json}{items} || [] };
is(scalar @dl, 2, '  the two tests');
is($dl[1]{id}, $td->{id}, '  newest first');
# no resolver in this nginx: attempts to crm.example.com fail, and say so
{
    my $d;
    for (1 .. 100) {
        $d = $api->call(GET => "webhooks/$a1->{id}/deliveries", undef, spec_check => 'quiet')
                 ->{json}{items}[-1];
        last if $d && $d->{attempts};
        select undef, undef, undef, 0.05;
    }
    like($d && $d->{last_error} // '', qr/^no resolver defined to resolve crm\.example\.com$/,
         '  without a resolver: last_error "no resolver defined to resolve crm.example.com"');
}
$r = $api->call(GET => "webhooks/$a2->{id}/deliveries");
is_deeply($r->{json}{items}, [], "  the other endpoint's list is empty");

$r = $api->call(POST => 'webhooks/wh_cfg_erp/test', {});
is($r->{status}, 202, 'POST test of the config endpoint: 202 (a test changes nothing)')
    or diag $r->{content};

# ---- the config endpoint is read-only ----

$STATE = snapshot();
for my $c ([ PATCH => 'webhooks/wh_cfg_erp', { url => 'https://other.example.com/' } ],
           [ PATCH => 'webhooks/wh_cfg_erp', { status => 'disabled' } ],
           [ PATCH => 'webhooks/wh_cfg_erp', { events => ['message.created'] } ],
           [ PATCH => 'webhooks/wh_cfg_erp', {} ],
           [ DELETE => 'webhooks/wh_cfg_erp', undef ],
           [ POST => 'webhooks/wh_cfg_erp/rotate-secret', {} ])
{
    my ($m, $p, $d) = @$c;
    $r = $api->call($m, $p, $d);
    error_is($r, 409, 'conflict', "$m $p " . ($d ? $J->encode($d) : '')
                                  . ' of the config endpoint');
    like($r->{json}{error}{message} // '', qr/nginx\.conf/, '  saying nginx.conf owns it');
    unchanged("$m $p");
}
{
    my $cfg_list = $api->call(GET => 'webhooks/wh_cfg_erp/deliveries');
    my ($cd) = grep { $_->{event_type} eq 'webhook.test' } @{ $cfg_list->{json}{items} || [] };
    ok($cd, "the config endpoint's test delivery is listed");
    $STATE = snapshot();
    $r = $api->call(POST => "webhooks/wh_cfg_erp/deliveries/$cd->{id}/retry", {});
    is($r->{status}, 202, '  and may be retried: 202 (a retry changes no endpoint)')
        or diag $r->{content};
    unchanged('a retry of a pending delivery (the list is the same)');
}

# ---- SSRF: literal addresses an endpoint may not reach ----

$STATE = snapshot();
for my $url ('http://127.0.0.1/hooks', 'http://127.0.0.1:8080/hooks', 'http://127.1.2.3/',
             'http://10.1.2.3/', 'http://[::1]/', 'http://[::1]:8080/x',
             'http://169.254.169.254/latest/meta-data/', 'http://192.168.1.1/',
             'http://172.16.0.1/', 'http://172.31.255.255/', 'http://100.64.0.1/',
             'http://0.0.0.0/', 'http://224.0.0.1/', 'http://255.255.255.255/',
             'https://[fc00::1]/', 'https://[fe80::1]/', 'http://[::ffff:127.0.0.1]/',
             'http://[::ffff:10.0.0.1]/', 'http://[64:ff9b::a00:1]/',
             'http://[2002:7f00:1::]/', 'http://[::]/', 'http://198.18.0.1/',
             'HTTP://127.0.0.1/')
{
    $r = $api->call(POST => 'webhooks', { url => $url });
    error_is($r, 400, 'invalid_url', "POST webhooks $url");
    like($r->{json}{error}{message} // '', qr/loopback, private or reserved/, '  saying why');
    $r = $api->call(PATCH => "webhooks/$a1->{id}", { url => $url });
    error_is($r, 400, 'invalid_url', "PATCH url $url");
}
unchanged('private addresses refused');

# public literals and names are taken (names are judged when a delivery
# connects: t/94)
for my $url ('http://8.8.8.8/x', 'https://[2001:4860:4860::8888]/x', 'http://localhost/x',
             'http://intranet/x') {
    $r = $api->call(POST => 'webhooks', { url => $url });
    is($r->{status}, 201, "POST webhooks $url: 201 (not an address to refuse now)")
        or diag $r->{content};
    $api->call(DELETE => "webhooks/$r->{json}{id}") if $r->{status} == 201;
}

# ---- bad URLs, events, fields, bodies ----

$STATE = snapshot();
{
    my @cases = (
        [ { url => 'ftp://crm.example.com/' }, 'invalid_url', 'an ftp URL' ],
        [ { url => 'crm.example.com/hooks' }, 'invalid_url', 'no scheme' ],
        [ { url => 'https://user:pw@crm.example.com/' }, 'invalid_url', 'user information' ],
        [ { url => 'https://crm.example.com/#top' }, 'invalid_url', 'a fragment' ],
        [ { url => 'https:///hooks' }, 'invalid_url', 'no host' ],
        [ { url => 'https://crm.example.com:0/' }, 'invalid_url', 'port 0' ],
        [ { url => 'https://crm.example.com:65536/' }, 'invalid_url', 'port 65536' ],
        [ { url => 'https://crm.example.com/a b' }, 'invalid_url', 'a space' ],
        [ { url => "https://crm.example.com/\x{e9}" }, 'invalid_url', 'non-ASCII in the path' ],
        [ { url => 'https://cr m.example.com/' }, 'invalid_url', 'a space in the host' ],
        [ { url => 'http://127.1/' }, 'invalid_url', 'a name ending in a number (127.1)' ],
        [ { url => 'http://0x7f.1/' }, 'invalid_url', 'a name ending in a number (0x7f.1)' ],
        [ { url => 'https://h.example.com?a=1' }, 'invalid_url', 'a query without a path' ],
        [ { url => 'https://crm.example.com/%zz' }, 'invalid_url', 'a bad %-escape' ],
        [ { url => '' }, 'invalid_url', 'an empty url' ],
        [ { url => 'https://crm.example.com/' . ('a' x 2048) }, 'invalid_request',
          'a url over 2048 bytes' ],
        [ { url => 42 }, 'invalid_request', 'a url that is a number' ],
        [ { url => ['https://crm.example.com/'] }, 'invalid_request', 'a url that is a list' ],
        [ { events => ['message.created'] }, 'invalid_request', 'no url' ],
        [ { url => undef }, 'invalid_request', 'a null url' ],
        [ { url => 'https://crm.example.com/', events => ['message.deleted'] },
          'invalid_event', 'an unknown event type' ],
        [ { url => 'https://crm.example.com/', events => ['message.created', 'Message.Created'] },
          'invalid_event', 'an event type in another case' ],
        [ { url => 'https://crm.example.com/', events => ['webhook.test'] },
          'invalid_event', 'webhook.test (no subscription: asked for)' ],
        [ { url => 'https://crm.example.com/', events => ['conversation.unassigned'] },
          'invalid_event', 'conversation.unassigned (no webhook event)' ],
        [ { url => 'https://crm.example.com/', events => [42] }, 'invalid_event',
          'an event type that is a number' ],
        [ { url => 'https://crm.example.com/', events => [] }, 'invalid_request',
          'an empty events list' ],
        [ { url => 'https://crm.example.com/', events => 'message.created' }, 'invalid_request',
          'events as a string' ],
        [ { url => 'https://crm.example.com/', secret => whsec() }, 'invalid_request',
          'a secret of our own (unknown field)' ],
        [ { url => 'https://crm.example.com/', status => 'enabled' }, 'invalid_request',
          'status when creating (unknown field)' ],
        [ { url => 'https://crm.example.com/', id => 'wh_mine' }, 'invalid_request',
          'an id (unknown field)' ],
        [ { url => 'https://crm.example.com/', source => 'config' }, 'invalid_request',
          'a source (unknown field)' ],
    );
    for my $c (@cases) {
        my ($d, $code, $name) = @$c;
        my $bytes = $J->encode($d);
        my @spec = $api->spec->check_request('POST', $api->path('webhooks'),
                                             'application/json', $bytes);
        ok(scalar @spec, "  docs/openapi.json refuses it too: $name");
        $r = $api->call(POST => 'webhooks', undef, body => $bytes);
        error_is($r, 400, $code, "POST webhooks with $name");
    }
    unchanged('POST webhooks with bad bodies');

    my @patch = (
        [ { url => 'gopher://x/' }, 'invalid_url', 'a gopher URL' ],
        [ { url => 5 }, 'invalid_request', 'a url that is a number' ],
        [ { events => ['nope'] }, 'invalid_event', 'an unknown event type' ],
        [ { events => [] }, 'invalid_request', 'an empty events list' ],
        [ { events => {} }, 'invalid_request', 'events as an object' ],
        [ { status => 'paused' }, 'invalid_request', 'status paused' ],
        [ { status => 'Enabled' }, 'invalid_request', 'status Enabled' ],
        [ { status => JSON::PP::true }, 'invalid_request', 'status true' ],
        [ { status => 'disabled', secret => whsec() }, 'invalid_request',
          'a secret (unknown field)' ],
        [ { name => 'crm' }, 'invalid_request', 'a name (unknown field)' ],
        [ { url => undef }, 'invalid_request', 'a null url (an endpoint always has one)' ],
        [ { events => undef }, 'invalid_request', 'null events' ],
        [ { status => undef }, 'invalid_request', 'a null status' ],
        [ { url => 'https://ok.example.com/', events => ['nope'] }, 'invalid_event',
          'a good url and a bad event (all or nothing)' ],
        [ { events => ['message.created'], status => 'off' }, 'invalid_request',
          'good events and a bad status (all or nothing)' ],
    );
    for my $c (@patch) {
        my ($d, $code, $name) = @$c;
        my $bytes = $J->encode($d);
        my @spec = $api->spec->check_request('PATCH', $api->path("webhooks/$a1->{id}"),
                                             'application/json', $bytes);
        ok(scalar @spec, "  docs/openapi.json refuses it too: $name");
        $r = $api->call(PATCH => "webhooks/$a1->{id}", undef, body => $bytes);
        error_is($r, 400, $code, "PATCH webhooks/{id} with $name");
    }
    unchanged('PATCH with bad bodies');

    for my $p ("webhooks/$a1->{id}/rotate-secret", "webhooks/$a1->{id}/test") {
        $r = $api->call(POST => $p, undef, body => '{"force": true}');
        error_is($r, 400, 'invalid_request', "POST $p with an unknown field");
    }
    unchanged('POST rotate-secret, test with unknown fields');
}

# ---- every call: tokens, bodies, ids, methods ----

my $big = 'x' x 70000;
my @CALLS = (
    { m => 'GET',    p => 'webhooks' },
    { m => 'POST',   p => 'webhooks', body => { url => 'https://crm.example.com/' },
      big => { url => 'https://crm.example.com/', pad => $big } },
    { m => 'GET',    p => "webhooks/$a1->{id}", missing => 'webhooks/wh_nobody' },
    { m => 'PATCH',  p => "webhooks/$a1->{id}", body => { status => 'disabled' },
      big => { url => "https://crm.example.com/$big" }, missing => 'webhooks/wh_nobody' },
    { m => 'DELETE', p => "webhooks/$a2->{id}", missing => 'webhooks/wh_nobody' },
    { m => 'POST',   p => "webhooks/$a1->{id}/rotate-secret", body => {},
      big => { pad => $big }, missing => 'webhooks/wh_nobody/rotate-secret' },
    { m => 'POST',   p => "webhooks/$a1->{id}/test", body => {},
      big => { pad => $big }, missing => 'webhooks/wh_nobody/test' },
    { m => 'GET',    p => "webhooks/$a1->{id}/deliveries",
      missing => 'webhooks/wh_nobody/deliveries' },
    { m => 'POST',   p => "webhooks/$a1->{id}/deliveries/$td->{id}/retry", body => {},
      big => { pad => $big },
      missing => "webhooks/$a1->{id}/deliveries/dlv_0000000000999/retry" },
);

$STATE = snapshot();
my %is_write = map { $_ => 1 } qw(PUT POST PATCH DELETE);
for my $c (@CALLS) {
    my ($m, $p) = @$c{qw(m p)};
    my $name = "$m $p";
    my %b = defined $c->{body} ? (body => $J->encode($c->{body})) : ();
    my $write = $is_write{$m};

    $r = $api->call($m, $p, undef, %b, token => undef);
    error_is($r, 401, 'unauthorized', "$name without a token");
    like($r->{headers}{'www-authenticate'} // '', qr/^Bearer\b/, '  WWW-Authenticate: Bearer');
    $r = $api->call($m, $p, undef, %b, token => 'cvt_' . secret(43));
    error_is($r, 401, 'unauthorized', "$name with an unknown token");
    $r = $api->call($m, $p, undef, %b, token => undef, headers => {
        Authorization => 'Basic ' . MIME::Base64::encode_base64("crm:$crm_secret", '') });
    error_is($r, 401, 'unauthorized', "$name with the client secret as Basic");
    unchanged("$name with no or bad tokens") if $write;

    if ($c->{missing}) {
        $r = $api->call($m, $c->{missing}, undef, %b);
        error_is($r, 404, 'not_found', "$m $c->{missing}");
        unchanged("$m $c->{missing}") if $write;
    }
    next unless defined $c->{body};

    $r = $api->call($m, $p, undef, body => '{"url": "unfinished', request_check => 0);
    error_is($r, 400, 'invalid_json', "$name with malformed JSON");
    $r = $api->call($m, $p, undef, body => '', request_check => 0);
    error_is($r, 400, 'invalid_json', "$name with an empty body as application/json");
    $r = $api->call($m, $p, undef, body => "$b{body} {}", request_check => 0);
    error_is($r, 400, 'invalid_json', "$name with something after the JSON value");
    for my $not ('[]', '"url"', 'null', '42', '[{"url": "https://crm.example.com/"}]') {
        $r = $api->call($m, $p, undef, body => $not, request_check => 0);
        ok($r->{status} == 400 && ($r->{json}{error}{code} // '') =~ /^invalid_(json|request)$/,
           "$name with $not (not an object): 400 invalid_json or invalid_request")
            or diag "$r->{status} $r->{content}";
    }
    $r = $api->call($m, $p, undef, body => $J->encode($c->{big}));
    error_is($r, 413, 'too_large', "$name with a body over 64 KB");
    for my $ct ('text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data') {
        $r = $api->call($m, $p, undef, body => $b{body}, content_type => $ct);
        error_is($r, 415, 'unsupported_media_type', "$name with a JSON body as $ct");
    }
    unchanged("$name with bad bodies");
}

# ids: of the wrong kind, too long, another endpoint's delivery
{
    for my $p ('webhooks/nobody', 'webhooks/wh_' . ('a' x 200), 'webhooks/wh_cfg_nobody',
               "webhooks/$a2->{id}/deliveries/nobody/retry",
               "webhooks/$a2->{id}/deliveries/dlv_zzzzzzzzzzzzz/retry",
               "webhooks/$a2->{id}/deliveries/$td->{id}/retry",
               "webhooks/wh_nobody/deliveries/$td->{id}/retry")
    {
        my $m = $p =~ /retry$/ ? 'POST' : 'GET';
        $r = $api->call($m, $p, undef, $m eq 'POST' ? (body => '{}') : ());
        error_is($r, 404, 'not_found', "$m $p");
    }
    unchanged('unknown ids');
}

# methods a path does not have
{
    for my $c ([ PUT => 'webhooks' ], [ DELETE => 'webhooks' ], [ PATCH => 'webhooks' ],
               [ POST => "webhooks/$a1->{id}" ], [ PUT => "webhooks/$a1->{id}" ],
               [ GET => "webhooks/$a1->{id}/rotate-secret" ],
               [ DELETE => "webhooks/$a1->{id}/rotate-secret" ],
               [ GET => "webhooks/$a1->{id}/test" ],
               [ POST => "webhooks/$a1->{id}/deliveries" ],
               [ DELETE => "webhooks/$a1->{id}/deliveries" ],
               [ GET => "webhooks/$a1->{id}/deliveries/$td->{id}/retry" ])
    {
        my ($m, $p) = @$c;
        $r = $api->call($m, $p, undef, request_check => 0,
                        $m =~ /^(?:POST|PUT|PATCH)$/ ? (body => '{}') : ());
        error_is($r, 405, 'method_not_allowed', "$m $p");
        ok($r->{headers}{allow}, '  with Allow');
    }
    for my $p ("webhooks/$a1->{id}/nope", "webhooks/$a1->{id}/deliveries/$td->{id}",
               "webhooks/$a1->{id}/deliveries/$td->{id}/retry/x") {
        $r = $api->call(GET => $p);
        error_is($r, 404, 'not_found', "GET $p (no such path)");
    }
    unchanged('methods a path does not have');
}

# query parameters of deliveries
for my $q ('status=sent', 'status=', 'status=PENDING', 'limit=0', 'limit=201', 'limit=x',
           'cursor=x', 'cursor=-1') {
    my $p = "webhooks/$a1->{id}/deliveries?$q";
    my @spec = $api->spec->check_request('GET', $api->path($p));
    ok(scalar @spec, "docs/openapi.json refuses GET $p") if $q !~ /^cursor=/;
    $r = $api->call(GET => $p);
    error_is($r, 400, 'invalid_request', "GET $p");
}

# ---- delete ----

$r = $api->call(DELETE => "webhooks/$a1->{id}");
is($r->{status}, 204, 'DELETE webhooks/{id}: 204') or diag $r->{content};
is($r->{content} // '', '', '  no body');
error_is($api->call(GET => "webhooks/$a1->{id}"), 404, 'not_found', 'GET it again');
error_is($api->call(GET => "webhooks/$a1->{id}/deliveries"), 404, 'not_found',
         'GET its deliveries');
error_is($api->call(POST => "webhooks/$a1->{id}/deliveries/$td->{id}/retry", {}), 404,
         'not_found', 'retry one of its deliveries');
error_is($api->call(DELETE => "webhooks/$a1->{id}"), 404, 'not_found', 'DELETE it again');
error_is($api->call(POST => "webhooks/$a1->{id}/test", {}), 404, 'not_found', 'test it');
error_is($api->call(PATCH => "webhooks/$a1->{id}", { status => 'enabled' }), 404, 'not_found',
         'PATCH it');
$r = $api->call(GET => 'webhooks');
is_deeply([ sort map { $_->{id} } @{ $r->{json}{items} || [] } ],
          [ sort $a2->{id}, 'wh_cfg_erp' ], '  the list has the others');

# ---- nginx.conf changes the config endpoint; a reload applies them ----

{
    my $new = whsec(48);
    $t->write_file('erp.whsec', "$new\n");
    my $decl = 'chatvisor_webhook erp https://erp2.example.com/new '
             . 'secret_file=' . $t->testdir . '/erp.whsec events=message.created;';
    $t->write_config($CONF, DECLARED => $decl);
    ok($t->reload, 'reload with a changed chatvisor_webhook erp');
    $r = $api->call(GET => 'webhooks/wh_cfg_erp');
    is($r->{status}, 200, '  wh_cfg_erp is still there (same id)');
    is($r->{json}{url}, 'https://erp2.example.com/new', '  with the new URL');
    is_deeply($r->{json}{events}, ['message.created'], '  and events');
    $r = $api->call(GET => 'webhooks/wh_cfg_erp/deliveries');
    ok(scalar @{ $r->{json}{items} || [] }, '  its deliveries kept');

    $t->write_config($CONF, DECLARED => '');
    ok($t->reload, 'reload without chatvisor_webhook erp');
    error_is($api->call(GET => 'webhooks/wh_cfg_erp'), 404, 'not_found', '  it is gone');
    $r = $api->call(GET => 'webhooks');
    is_deeply([ map { $_->{id} } @{ $r->{json}{items} || [] } ], [ $a2->{id} ],
              "  the API's endpoint stays");
    $r = $api->call(GET => "webhooks/$a2->{id}");
    is($r->{json}{url}, 'https://crm2.example.com/h', '  unchanged');
}

done_testing;
