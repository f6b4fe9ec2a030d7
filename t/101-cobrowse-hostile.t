#!/usr/bin/perl

# Co-browsing's failure paths (docs/cobrowse.md): every bad request gets
# its status and a JSON error, and changes nothing (the session's state,
# generation and events are the same after it); no worker dies (the error
# log is checked at the end). The recorder's POST: no cookie, another
# visitor's cookie, no session, not allowed yet, a wrong or missing
# recorder id, bad JSON of many kinds, not an array of objects, an empty
# array, NUL bytes and bad UTF-8, nesting too deep, bodies over 8 MB (by
# Content-Length and chunked: refused without reading them into memory;
# the session ends too_large), a wrong Content-Type, another site. The
# visitor's answer and stop, and the agent's endpoints: no session cookie
# or CSRF token, an unknown or malformed conversation, a closed one,
# another agent's session, bad pointers, bad cursors, wrong methods.
# nginx.conf: the directives' errors; co-browsing off.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(time sleep);

use Chatvisor::Test;
use Chatvisor::Chat;
use Chatvisor::Cobrowse qw(:all);

my $t = Chatvisor::Test->new;
$t->write_config(<<'EOF');
worker_processes 2;
http {
    chatvisor_store %%TESTDIR%%/store size=128m sync=off;
    # many visitors from one address: the abuse limits stay out of the way
    chatvisor_limit_new_visitors off;
    chatvisor_limit_messages off;
    server {
        listen 127.0.0.1:%%PORT%% reuseport;
        chatvisor_cobrowse on;
        location /chatvisor/ { chatvisor on; chatvisor_poll_timeout 2s; }
    }
}
EOF
$t->run;
my $store = $t->testdir . '/store';

my $ann = Chatvisor::Chat::Agent->login($t, $store, 'ann', name => 'Ann');
my $bob = Chatvisor::Chat::Agent->login($t, $store, 'bob', name => 'Bob');

sub error_ok {
    my ($r, $status, $code, $name) = @_;
    subtest "$name: $status $code" => sub {
        is($r->{status}, $status, 'status') or diag $r->{content};
        like($r->{headers}{'content-type'} // '', qr{^application/json}, 'a JSON answer');
        is(ref $r->{json} eq 'HASH' && $r->{json}{error}{code}, $code, 'error code');
        ok(length($r->{json} && $r->{json}{error}{message} // ''), 'a message');
    };
}

# the session as the agent and the visitor see it: nothing may change it
sub snapshot_of_state {
    my ($agent, $visitor, $conv) = @_;
    my $view = cb_view($agent, $conv, after => 0, wait => 0);
    my $s = cb_state($visitor);
    return { view_status => $view->{status}, state => $s->{json}{state},
             generation => $s->{json}{generation},
             recorder => $s->{json}{recorder},
             events => $view->{json} && $view->{json}{events},
             cursor => $view->{json} && $view->{json}{cursor} };
}

my ($v, $conv) = conversation($t);
my ($other, $other_conv) = conversation($t, 'another visitor');

# ---------------------------------------------------------------------------
# The recorder's POST before there is a session

error_ok(cb_send($v, incremental()), 410, 'ended', 'events without a session');
error_ok(cb_send(Chatvisor::Chat::Visitor->new($t), incremental()), 410, 'ended',
         'events without a cookie');
error_ok(cb_send(Chatvisor::Chat::Visitor->new($t, cookie => 'cus_forged.sig'), incremental()),
         410, 'ended', 'events with a forged cookie');
error_ok(cb_decide($v, 'allow'), 404, 'not_found', 'allow without a request');
error_ok(cb_vstop($v), 404, 'not_found', 'stop without a session');
error_ok(cb_view($ann, $conv), 404, 'not_found', 'a view without a session');
error_ok(cb_pointer($ann, $conv, x => 1, y => 1), 404, 'not_found', 'a pointer without a session');
error_ok(cb_astop($ann, $conv), 404, 'not_found', 'the agent stops without a session');

# a request, not allowed yet
is(cb_start($ann, $conv)->{status}, 201, 'Ann asks');
{
    my $before = snapshot_of_state($ann, $v, $conv);
    error_ok(cb_send($v, full_snapshot(), full => 1), 409, 'not_active',
             'a snapshot before the visitor allowed it');
    error_ok(cb_pointer($ann, $conv, x => 1, y => 1), 409, 'not_active',
             'a pointer before the visitor allowed it');
    is_deeply(snapshot_of_state($ann, $v, $conv), $before, '  nothing changed');
}

is(cb_decide($v, 'allow')->{status}, 200, 'the visitor allows');
is(cb_send($v, full_snapshot(mark => 'base'), recorder => 'rec1', full => 1)->{status}, 204,
   'a first snapshot');
is(cb_send($v, incremental(mark => 'base'), recorder => 'rec1')->{status}, 204,
   'incremental events');

my $before = snapshot_of_state($ann, $v, $conv);
is($before->{cursor}, 2, 'the session holds two chunks');

sub unchanged {
    my ($name) = @_;
    is_deeply(snapshot_of_state($ann, $v, $conv), $before, "$name: nothing changed");
}

# ---------------------------------------------------------------------------
# The recorder's POST: query and body

error_ok(cb_send($v, incremental(), recorder => ''), 400, 'invalid_request', 'no recorder=');
error_ok(cb_send($v, incremental(), recorder => 'a%20b'), 400, 'invalid_request', 'recorder= with a space');
error_ok(cb_send($v, incremental(), recorder => 'x' x 65), 400, 'invalid_request', 'recorder= of 65 bytes');
error_ok(cb_send($v, incremental(), recorder => '%00'), 400, 'invalid_request', 'recorder= %00');
error_ok(cb_send($v, incremental(), recorder => 'rec1', full => 2), 400, 'invalid_request', 'full=2');
error_ok(cb_send($v, incremental(), recorder => 'rec1', full => 'yes'), 400, 'invalid_request', 'full=yes');
error_ok(cb_send($v, incremental(), recorder => 'other'), 409, 'superseded',
         'incremental events from a recorder that does not hold it');
unchanged('bad queries');

my @bad_bodies = (
    [ 'not JSON',                  'hello' ],
    [ 'truncated',                 '[{"type":3,"data":{' ],
    [ 'an object',                 '{"type":3}' ],
    [ 'a string',                  '"events"' ],
    [ 'a number',                  '42' ],
    [ 'null',                      'null' ],
    [ 'numbers in the array',      '[1,2,3]' ],
    [ 'arrays in the array',       '[[{"type":3}]]' ],
    [ 'nulls in the array',        '[null]' ],
    [ 'objects and a string',      '[{"type":3},"x"]' ],
    [ 'a trailing comma',          '[{"type":3},]' ],
    [ 'two arrays',                '[{"type":3}][{"type":3}]' ],
    [ 'garbage after the array',   '[{"type":3}] x' ],
    [ 'single quotes',             "[{'type':3}]" ],
    [ 'NaN',                       '[{"type":NaN}]' ],
    [ 'a raw newline in a string', "[{\"t\":\"a\nb\"}]" ],
    [ 'a NUL byte',                "[{\"t\":\"a\0b\"}]" ],
    [ 'a NUL byte after',          "[{\"t\":1}]\0" ],
    [ 'bad UTF-8',                 "[{\"t\":\"\xc3\x28\"}]" ],
    [ 'an encoded surrogate',      "[{\"t\":\"\xed\xa0\x80\"}]" ],
    [ 'a byte order mark',         "\xef\xbb\xbf[{\"t\":1}]" ],
    [ 'a bad escape',              '[{"t":"\\x41"}]' ],
    [ 'nesting 5000 deep',         '[{"a":' . ('[' x 5000) . (']' x 5000) . '}]' ],
    [ 'an empty array',            '[]' ],
    [ 'blanks only',               "  \n " ],
);
for my $b (@bad_bodies) {
    my ($name, $body) = @$b;
    my $r = cb_send($v, $body, recorder => 'rec1');
    my $code = $name eq 'an empty array' ? 'invalid_request' : 'invalid_json';
    error_ok($r, 400, $code, "events: $name");
}
error_ok(cb_send($v, '', recorder => 'rec1'), 400, 'invalid_json', 'events: no body');
error_ok(cb_send($v, incremental(), recorder => 'rec1', content_type => 'text/plain'),
         415, 'unsupported_media_type', 'events as text/plain');
error_ok(cb_send($v, 'a=1', recorder => 'rec1',
                 content_type => 'application/x-www-form-urlencoded'),
         415, 'unsupported_media_type', 'events as a form');
error_ok(cb_send($v, incremental(), recorder => 'rec1',
                 headers => { Origin => 'https://evil.example', 'Sec-Fetch-Site' => 'cross-site' }),
         403, 'forbidden', 'events from another site');
unchanged('bad bodies');

# a valid escape of U+0000 is JSON: relayed as it is
is(cb_send($v, '[{"t":"a\\u0000b"}]', recorder => 'rec1')->{status}, 204,
   'an escaped U+0000 in a string is valid JSON: 204');
like(cb_view($ann, $conv, after => 2)->{content}, qr/"events":\[\{"t":"a\\u0000b"\}\]/,
     '  and relayed as sent');
$before = snapshot_of_state($ann, $v, $conv);

# another visitor's cookie: its own conversation has no session
error_ok(cb_send($other, incremental(), recorder => 'rec1'), 410, 'ended',
         'events with another visitor\'s cookie');
error_ok(cb_send($other, full_snapshot(), recorder => 'rec1', full => 1), 410, 'ended',
         'a snapshot with another visitor\'s cookie');
error_ok(cb_decide($other, 'decline'), 404, 'not_found', 'another visitor declines');
error_ok(cb_vstop($other), 404, 'not_found', 'another visitor stops');
is(cb_state($other)->{json}{state}, 'none', 'another visitor reads no session');
unchanged('another visitor');

# ---------------------------------------------------------------------------
# The visitor's answer and stop

for my $b ([ 'decision maybe', { decision => 'maybe' } ],
           [ 'decision true', { decision => JSON::PP::true() } ],
           [ 'no decision', {} ],
           [ 'an unknown field', { decision => 'allow', also => 1 } ],
           [ 'decision too long', { decision => 'allow' x 50 } ])
{
    error_ok($v->request(POST => 'v1/visitor/cobrowse', json => $b->[1]), 400,
             'invalid_request', "POST cobrowse: $b->[0]");
}
error_ok($v->request(POST => 'v1/visitor/cobrowse', body => '[1]'), 400, 'invalid_json',
         'POST cobrowse: an array');
error_ok($v->request(POST => 'v1/visitor/cobrowse', body => '{"decision":'), 400,
         'invalid_json', 'POST cobrowse: bad JSON');
error_ok(cb_decide($v, 'decline'), 409, 'conflict', 'decline while it is on');
error_ok($v->request(POST => 'v1/visitor/cobrowse/stop', json => { now => 1 }), 400,
         'invalid_request', 'stop with an unknown field');
error_ok(cb_decide($v, 'allow', headers => { 'Sec-Fetch-Site' => 'cross-site' }), 403,
         'forbidden', 'allow from another site');
error_ok(cb_vstop($v, headers => { Origin => 'http://evil.example' }), 403, 'forbidden',
         'stop from another site');
{
    my $r = $v->request(DELETE => 'v1/visitor/cobrowse');
    is($r->{status}, 405, 'DELETE cobrowse: 405');
    is($r->{headers}{allow}, 'GET, HEAD, POST', '  Allow: GET, HEAD, POST');
    $r = $v->request(GET => 'v1/visitor/cobrowse/events');
    is($r->{status}, 405, 'GET cobrowse/events: 405');
    is($r->{headers}{allow}, 'POST', '  Allow: POST');
    error_ok($v->request(GET => 'v1/visitor/cobrowse/nothing'), 404, 'not_found',
             'an unknown co-browsing path');
}
unchanged('the visitor\'s bad answers');

# ---------------------------------------------------------------------------
# The agent's endpoints

{
    my $stranger = bless { t => $t, cookie => 'forged.sig', csrf => 'x' }, 'Chatvisor::Chat::Agent';
    error_ok(cb_start($stranger, $conv), 401, 'unauthorized', 'start with a forged session');
    error_ok(cb_view($stranger, $conv), 401, 'unauthorized', 'a view with a forged session');
    my $none = bless { t => $t, cookie => '' }, 'Chatvisor::Chat::Agent';
    error_ok(cb_pointer($none, $conv, x => 1, y => 1), 401, 'unauthorized', 'a pointer without a session');
    error_ok(cb_start($ann, $conv, headers => { 'X-Chatvisor-CSRF' => '' }), 403, 'forbidden',
             'start without the CSRF token');
    error_ok(cb_pointer_h($ann, $conv, 'wrong'), 403, 'forbidden', 'a pointer with a wrong CSRF token');
    error_ok(cb_astop($ann, $conv, headers => { 'X-Chatvisor-CSRF' => '' }), 403, 'forbidden',
             'stop without the CSRF token');
    error_ok(cb_start($ann, $conv, headers => { Origin => 'https://evil.example' }), 403,
             'forbidden', 'start from another site');

    error_ok(cb_start($ann, 'conv_doesnotexist'), 404, 'not_found', 'start in an unknown conversation');
    error_ok(cb_view($ann, 'conv_doesnotexist'), 404, 'not_found', 'a view of an unknown conversation');
    error_ok(cb_pointer($ann, 'conv_doesnotexist', x => 1, y => 1), 404, 'not_found',
             'a pointer in an unknown conversation');
    error_ok(cb_astop($ann, 'conv_doesnotexist'), 404, 'not_found', 'stop in an unknown conversation');
    error_ok(cb_start($ann, 'c' x 40), 404, 'not_found', 'start with an id too long to be one');
    is(cb_start($ann, $other_conv)->{status}, 201, 'Ann asks the other visitor');
    error_ok(cb_view($bob, $other_conv), 403, 'forbidden',
             'a view of another agent\'s session');
    error_ok(cb_pointer($bob, $other_conv, x => 1, y => 1), 403, 'forbidden',
             'a pointer into another agent\'s session');
    error_ok(cb_astop($bob, $other_conv), 403, 'forbidden', 'stopping another agent\'s session');
    error_ok(cb_start($bob, $other_conv), 409, 'conflict', 'asking while another agent\'s is live');
    is(cb_astop($ann, $other_conv)->{status}, 200, 'its agent stops it');

    error_ok(cb_view($ann, $conv, after => -1), 400, 'invalid_request', 'after=-1');
    error_ok(cb_view($ann, $conv, after => 'x'), 400, 'invalid_request', 'after=x');
    error_ok(cb_view($ann, $conv, after => '99999999999999999'), 400, 'invalid_request',
             'after= past 2^53');

    for my $b ([ 'no x', { y => 1 } ],
               [ 'x a string', { x => '1', y => 1 } ],
               [ 'x negative', { x => -1, y => 1 } ],
               [ 'y past the largest page', { x => 1, y => 10000001 } ],
               [ 'x null', { x => undef, y => 1 } ],
               [ 'click a number', { x => 1, y => 1, click => 1 } ],
               [ 'an unknown field', { x => 1, y => 1, button => 'left' } ])
    {
        my $r = $ann->write(POST => "conversations/$conv/cobrowse/pointer", $b->[1]);
        error_ok($r, 400, 'invalid_request', "pointer: $b->[0]");
    }
    error_ok($ann->write(POST => "conversations/$conv/cobrowse/pointer", undef,
                         body => '[1,2]'), 400, 'invalid_json', 'pointer: an array');
    error_ok($ann->write(POST => "conversations/$conv/cobrowse", { force => 1 }), 400,
             'invalid_request', 'start with an unknown field');
    my $r = $ann->get("conversations/$conv/cobrowse");
    is($r->{status}, 405, 'GET conversations/ID/cobrowse: 405');
    is($r->{headers}{allow}, 'POST', '  Allow: POST');
    $r = $ann->write(POST => "conversations/$conv/cobrowse/events", {});
    is($r->{status}, 405, 'POST .../cobrowse/events: 405');
    is($r->{headers}{allow}, 'GET, HEAD', '  Allow: GET, HEAD');
}
unchanged('the agents\' bad requests');

sub cb_pointer_h {
    my ($agent, $c, $csrf) = @_;
    return $agent->write(POST => "conversations/$c/cobrowse/pointer", { x => 1, y => 1 },
                         headers => { 'X-Chatvisor-CSRF' => $csrf });
}

# ---------------------------------------------------------------------------
# Bodies over 8 MB: refused unread, and the session ends too_large

my $MB = 1024 * 1024;

{
    # a Content-Length over 8 MB from a recorder that no longer holds it:
    # refused before the body is read (409), the session goes on
    my $t0 = time;
    my $raw = $t->raw(method => 'POST', path => '/chatvisor/v1/visitor/cobrowse/events?recorder=old',
                      headers => [ Cookie => "cv_visitor=" . $v->cookie,
                                   'Content-Type' => 'application/json',
                                   'Content-Length' => 100 * $MB ],
                      body => '[');
    is($raw->status, 409, 'a 100 MB body from a superseded recorder: 409 without the body');
    ok(time - $t0 < 2, sprintf('  at once (%.2f s)', time - $t0));
    unchanged('a superseded huge body');

    # a chunked body of the right size works
    my $json = incremental(mark => 'chunked');
    my $body = '';
    for (my $i = 0; $i < length $json; $i += 7) {
        my $c = substr($json, $i, 7);
        $body .= sprintf("%x\r\n%s\r\n", length $c, $c);
    }
    $body .= "0\r\n\r\n";
    $raw = $t->raw(method => 'POST',
                   path => '/chatvisor/v1/visitor/cobrowse/events?recorder=rec1',
                   headers => [ Cookie => "cv_visitor=" . $v->cookie,
                                'Content-Type' => 'application/json',
                                'Transfer-Encoding' => 'chunked' ],
                   body => $body);
    is($raw->status, 204, 'a small chunked body: 204');
    $before = snapshot_of_state($ann, $v, $conv);

    # a chunked body over 8 MB, sent slowly in pieces: read to its end and
    # dropped, answered 413, the session ends
    my $view = cb_start_view($ann, $conv, after => $before->{cursor});
    sleep 0.1;
    my $p = $t->start_request(method => 'POST',
                              path => '/chatvisor/v1/visitor/cobrowse/events?recorder=rec1',
                              headers => [ Cookie => "cv_visitor=" . $v->cookie,
                                           'Content-Type' => 'application/json',
                                           'Transfer-Encoding' => 'chunked' ]);
    my $piece = '[' . ('{"a":"' . ('z' x 1000) . '"},') x 1000;   # ~1 MB
    my $sock = $p->socket;
    for my $i (1 .. 10) {
        my $c = sprintf("%x\r\n%s\r\n", length $piece, $piece);
        print {$sock} $c or last;
        sleep 0.05;
    }
    print {$sock} "0\r\n\r\n";
    my $res = Chatvisor::HTTP::Response->parse($p->read_to_eof(10), 'POST', 1);
    is($res && $res->status, 413, 'a chunked body over 8 MB, sent slowly: 413');
    my $j = $res && Chatvisor::Chat::decode_json($res->body);
    is($j && $j->{error}{code}, 'too_large', '  too_large');
    my $vr = $view->result(timeout => 5);
    is($vr->{json}{reason}, 'too_large', '  the view is told: too_large');
    is(cb_state($v)->{json}{reason}, 'too_large', '  the visitor reads it');
    my $rss = worker_rss();
    ok($rss < 64 * 1024, "  the workers stay small ($rss KB at most)");

    # another chunked body, much larger, to an ended session: 410 unread
    is(cb_send($v, incremental(), recorder => 'rec1')->{status}, 410,
       'the recorder of the ended session: 410');

    # a chunked body over 64 KB to a chat endpoint is still 413
    my $big = '{"text":"' . ('w' x 70000) . '"}';
    $raw = $t->raw(method => 'POST', path => '/chatvisor/v1/visitor/messages',
                   headers => [ Cookie => "cv_visitor=" . $v->cookie,
                                'Content-Type' => 'application/json',
                                'Transfer-Encoding' => 'chunked' ],
                   body => sprintf("%x\r\n%s\r\n0\r\n\r\n", length $big, $big));
    is($raw->status, 413, 'a chunked message over 64 KB: 413');
}

sub worker_rss {
    my $max = 0;
    for my $pid ($t->worker_pids) {
        open my $fh, '<', "/proc/$pid/status" or next;
        while (<$fh>) { $max = $1 if /^VmRSS:\s+(\d+)/ && $1 > $max }
    }
    return $max;
}

# a Content-Length over 8 MB in an active session: 413 before reading it
{
    my ($v2, $c2) = conversation($t, 'too large by its length');
    is(cb_start($ann, $c2)->{status}, 201, 'a new session');
    is(cb_decide($v2, 'allow')->{status}, 200, 'allowed');
    is(cb_send($v2, full_snapshot(), recorder => 'r', full => 1)->{status}, 204, 'a snapshot');
    my $t0 = time;
    my $raw = $t->raw(method => 'POST', path => '/chatvisor/v1/visitor/cobrowse/events?recorder=r&full=1',
                      headers => [ Cookie => "cv_visitor=" . $v2->cookie,
                                   'Content-Type' => 'application/json',
                                   'Content-Length' => 9 * $MB ],
                      body => '[');
    is($raw->status, 413, 'Content-Length 9 MB: 413');
    ok(time - $t0 < 2, sprintf('  without waiting for the body (%.2f s)', time - $t0));
    is(cb_state($v2)->{json}{reason}, 'too_large', '  the session ended too_large');
    error_ok(cb_pointer($ann, $c2, x => 1, y => 1), 410, 'ended', 'a pointer after the end');
    error_ok(cb_decide($v2, 'allow'), 410, 'ended', 'allow after the end');
}

# ---------------------------------------------------------------------------
# A closed conversation

{
    my ($v3, $c3) = conversation($t, 'closed soon');
    is($ann->write(POST => "conversations/$c3/close", {})->{status}, 200, 'a closed conversation');
    error_ok(cb_start($ann, $c3), 409, 'conversation_closed', 'asking in it');
    error_ok(cb_view($ann, $c3), 404, 'not_found', 'a view of it');
    error_ok(cb_send($v3, full_snapshot(), full => 1), 410, 'ended', 'its visitor\'s recorder');
    is(cb_state($v3)->{json}{state}, 'none', 'its visitor: no session');
}

# ---------------------------------------------------------------------------
# Many requests at once do not hurt: the workers live, sessions stay sound

{
    my ($v4, $c4) = conversation($t, 'busy');
    is(cb_start($ann, $c4)->{status}, 201, 'a session');
    is(cb_decide($v4, 'allow')->{status}, 200, 'allowed');
    my @p;
    for my $i (1 .. 40) {
        push @p, $t->start_request(method => 'POST',
            path => "/chatvisor/v1/visitor/cobrowse/events?recorder=t" . ($i % 3) . '&full=' . ($i % 2),
            headers => [ Cookie => "cv_visitor=" . $v4->cookie,
                         'Content-Type' => 'application/json' ],
            body => $i % 5 ? full_snapshot(mark => "burst $i") : '[{"broken":');
        push @p, $t->start_request(method => 'GET',
            path => "/chatvisor/v1/agent/conversations/$c4/cobrowse/events?after=" . ($i % 4) . '&wait=0',
            headers => [ Cookie => 'cv_agent=' . $ann->cookie ]);
    }
    my %st;
    $st{ eval { $_->finish(timeout => 10)->status } // 'none' }++ for @p;
    ok(!$st{none} && !$st{500} && !$st{502}, 'a burst of 80 requests: each answered, none 500')
        or diag explain \%st;
    is(cb_view($ann, $c4, after => 0, wait => 0)->{status}, 200, 'the session still answers');
    is(scalar($t->worker_pids), 2, 'both workers live');
}

# ---------------------------------------------------------------------------
# nginx.conf

my $c = Chatvisor::Test->new;
{
    my $tmpl = <<'EOF';
http {
    %%STORE%%
    %%HTTP%%
    server {
        listen 127.0.0.1:%%PORT%%;
        location / { %%LOC%% }
        location /chatvisor/ { chatvisor on; }
    }
}
EOF
    my $store_line = 'chatvisor_store %%TESTDIR%%/store;';
    my @cases = (
        [ 'chatvisor_cobrowse on without a store', '', '', 'chatvisor_cobrowse on;',
          qr/"chatvisor_cobrowse on" needs "chatvisor_store"/ ],
        [ 'chatvisor_cobrowse maybe', $store_line, '', 'chatvisor_cobrowse maybe;',
          qr/invalid value "maybe" in "chatvisor_cobrowse"/ ],
        [ 'an empty selector', $store_line, '', 'chatvisor_cobrowse_block "";',
          qr/invalid selector "" in "chatvisor_cobrowse_block"/ ],
        [ 'a selector with a brace', $store_line, '', 'chatvisor_cobrowse_block "a{}";',
          qr/invalid selector "a\{\}" in "chatvisor_cobrowse_block"/ ],
        [ 'an unbalanced selector', $store_line, '', 'chatvisor_cobrowse_mask_text "[data-x";',
          qr/invalid selector "\[data-x" in "chatvisor_cobrowse_mask_text"/ ],
        [ 'an unterminated quote', $store_line, '', q{chatvisor_cobrowse_mask_text "[title='a]";},
          qr/invalid selector/ ],
        [ 'blanks only', $store_line, '', 'chatvisor_cobrowse_block "   ";',
          qr/invalid selector/ ],
        [ 'a selector directive without a selector', $store_line, '', 'chatvisor_cobrowse_block;',
          qr/invalid number of arguments in "chatvisor_cobrowse_block"/ ],
        [ 'max_duration 0', $store_line, 'chatvisor_cobrowse_max_duration 0;', '',
          qr/"chatvisor_cobrowse_max_duration" directive must be from 1s to 24h/ ],
        [ 'max_duration 2d', $store_line, 'chatvisor_cobrowse_max_duration 2d;', '',
          qr/must be from 1s to 24h/ ],
        [ 'max_duration in a location', $store_line, '', 'chatvisor_cobrowse_max_duration 1m;',
          qr/"chatvisor_cobrowse_max_duration" directive is not allowed here/ ],
        [ 'memory 512k', $store_line, 'chatvisor_cobrowse_memory 512k;', '',
          qr/"chatvisor_cobrowse_memory" directive must be at least 1m/ ],
        [ 'memory lots', $store_line, 'chatvisor_cobrowse_memory lots;', '',
          qr/"chatvisor_cobrowse_memory" directive invalid value/ ],
    );
    for my $case (@cases) {
        my ($name, $store, $http, $loc, $re) = @$case;
        $c->write_config($tmpl, STORE => $store, HTTP => $http, LOC => $loc);
        my ($st, $out) = $c->test_config;
        isnt($st, 0, "nginx -t fails: $name");
        like($out, $re, "  and says why: $name") or diag $out;
        like($out, qr/nginx\.conf:\d+/, "  with the line: $name");
    }

    $c->write_config($tmpl, STORE => $store_line,
                     HTTP => 'chatvisor_cobrowse_max_duration 30m; chatvisor_cobrowse_memory 8m;',
                     LOC => q{chatvisor_cobrowse on; chatvisor_cobrowse_block "a[href^='/x'] > .b, #c";});
    my ($st, $out) = $c->test_config;
    is($st, 0, 'a valid co-browsing configuration passes nginx -t') or diag $out;
}

# ---------------------------------------------------------------------------
# Co-browsing off everywhere: nothing is offered

# (at file scope: the end-of-file check covers its error.log too)
my $off = Chatvisor::Test->new;
{
    $off->write_config(<<'EOF');
http {
    chatvisor_store %%TESTDIR%%/store sync=off;
    server {
        listen 127.0.0.1:%%PORT%%;
        location /chatvisor/ { chatvisor on; }
    }
}
EOF
    $off->run;
    my $oa = Chatvisor::Chat::Agent->login($off, $off->testdir . '/store', 'olga');
    my ($ov, $oc) = conversation($off);
    error_ok(cb_start($oa, $oc), 403, 'cobrowse_disabled', 'asking where co-browsing is off');
    is(cb_state($ov)->{json}{state}, 'none', 'the visitor: none');
    error_ok(cb_send($ov, full_snapshot(), full => 1), 410, 'ended', 'a recorder: 410');
    error_ok(cb_view($oa, $oc), 404, 'not_found', 'a view: 404');
    error_ok(cb_pointer($oa, $oc, x => 1, y => 1), 404, 'not_found', 'a pointer: 404');
    error_ok(cb_astop($oa, $oc), 404, 'not_found', 'stop: 404');
    error_ok(cb_decide($ov, 'allow'), 404, 'not_found', 'allow: 404');
    my $h = $ov->events(after => 0, wait => 0);
    is($h->{status}, 200, 'the chat poll works as before');
}

done_testing();
