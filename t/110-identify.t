#!/usr/bin/perl

# Who a visitor is for the integrator (issue 14), over HTTP against the real
# nginx and module:
#   - chatvisor_identity_secret FILE: the file's checks at nginx -t (others
#     may read it: a warning; too long, too short, missing: refused; given
#     twice: refused);
#   - POST v1/visitor/identify {id, signature, ...}: an id only with the
#     hex HMAC-SHA256 of it under the secret (bad, missing, for another id:
#     refused, nothing changes), bad JSON and bad fields refused, an
#     anonymous visitor's customer takes the id, another browser with the
#     id's signature becomes that customer (and sees its chat), another id
#     makes a customer anew, fields without an id update the visitor's own;
#   - chatvisor_identify $upstream_http_x_chatvisor_customer with
#     proxy_hide_header: a backend (a server of the same nginx) names the
#     logged-in user; the page tells its widget to identify, the cookie
#     moves, the next page costs nothing, another login moves it again, no
#     login changes nothing, a forged cookie names nobody;
#   - data-online on the tag while an agent is online (isAgentOnline());
#   - without chatvisor_identity_secret every id is refused.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Digest::SHA qw(hmac_sha256_hex);
use JSON::PP ();

use Chatvisor::Test;
use Chatvisor::Chat ();
use Chatvisor::API;
use Chatvisor::Widget qw(find_tags);

my @chars = ('A' .. 'Z', 'a' .. 'z', '0' .. '9');
sub random_secret { join '', map { $chars[rand @chars] } 1 .. $_[0] }

my $id_secret  = random_secret(48);
my $api_secret = random_secret(48);

my $t = Chatvisor::Test->new;

$t->write_file('identity.secret', "$id_secret\n");
chmod 0600, $t->testdir . '/identity.secret';
$t->write_file('crm.secret', "$api_secret\n");
chmod 0600, $t->testdir . '/crm.secret';
$t->write_file('html/index.html',
    "<!doctype html><html><head><title>Shop</title></head>"
    . "<body><p>Welcome</p></body></html>\n");

my $TMPL = <<'EOF';
http {
    chatvisor_store %%TESTDIR%%/store size=64m;
    chatvisor_api_client crm %%TESTDIR%%/crm.secret;
    %%IDENTITY%%
    chatvisor_limit_new_visitors off;

    # the site's backend: names the logged-in user (its own cookie) in a
    # header that the front hides from the browser
    server {
        listen 127.0.0.1:%%PORT_BACKEND%%;
        root %%TESTDIR%%/html;
        location / { add_header X-Chatvisor-Customer $cookie_site_user; }
    }

    server {
        listen 127.0.0.1:%%PORT%%;
        location /chatvisor/ { chatvisor on; }
        location / {
            chatvisor_inject on;
            chatvisor_identify $upstream_http_x_chatvisor_customer;
            proxy_pass http://127.0.0.1:%%PORT_BACKEND%%;
            proxy_hide_header X-Chatvisor-Customer;
        }
    }
}
EOF

my $IDENTITY = 'chatvisor_identity_secret ' . $t->testdir . '/identity.secret;';

# ---- the secret file's checks (nginx -t) ----

{
    $t->write_file('open.secret', random_secret(40));
    chmod 0644, $t->testdir . '/open.secret';
    $t->write_config($TMPL, IDENTITY =>
        'chatvisor_identity_secret ' . $t->testdir . '/open.secret;');
    my ($st, $out) = $t->test_config;
    is($st, 0, 'nginx -t takes a secret file others may read');
    like($out, qr/\[warn\].*open\.secret.*chatvisor_identity_secret.*readable by everyone/,
         '  with a warning naming file and directive');

    $t->write_file('long.secret', random_secret(1100));
    chmod 0600, $t->testdir . '/long.secret';
    $t->write_config($TMPL, IDENTITY =>
        'chatvisor_identity_secret ' . $t->testdir . '/long.secret;');
    ($st, $out) = $t->test_config;
    isnt($st, 0, 'nginx -t refuses a secret file too long');
    like($out, qr/long\.secret.*chatvisor_identity_secret.*longer than 1024/,
         '  saying so');

    $t->write_file('short.secret', "short\n");
    chmod 0600, $t->testdir . '/short.secret';
    $t->write_config($TMPL, IDENTITY =>
        'chatvisor_identity_secret ' . $t->testdir . '/short.secret;');
    ($st, $out) = $t->test_config;
    isnt($st, 0, 'nginx -t refuses a secret too short');
    like($out, qr/at least 32 characters/, '  saying so');

    $t->write_config($TMPL, IDENTITY =>
        'chatvisor_identity_secret ' . $t->testdir . '/missing.secret;');
    ($st, $out) = $t->test_config;
    isnt($st, 0, 'nginx -t refuses a missing secret file');
    like($out, qr/cannot read secret file .*missing\.secret/, '  saying so');

    $t->write_config($TMPL, IDENTITY => "$IDENTITY $IDENTITY");
    ($st, $out) = $t->test_config;
    isnt($st, 0, 'nginx -t refuses chatvisor_identity_secret twice');
    like($out, qr/"chatvisor_identity_secret" directive is duplicate/,
         '  saying so');
}

$t->write_config($TMPL, IDENTITY => $IDENTITY);
$t->run;

my $api = Chatvisor::API->new($t, client => 'crm', secret => $api_secret,
                              quiet => 1);
$api->login;

sub sig { hmac_sha256_hex($_[0], $id_secret) }

# identify(COOKIES, BODY (a hash, or raw bytes), HEADERS)
sub identify {
    my ($cookies, $body, %h) = @_;
    return Chatvisor::Chat::request($t, POST => 'v1/visitor/identify',
        (ref $body ? (json => $body) : (body => $body)),
        headers => { (length($cookies // '') ? (Cookie => $cookies) : ()),
                     %h });
}

sub customer {
    my ($cus) = @_;
    my $r = $api->call(GET => "customers/$cus", undef, spec_check => 0);
    return $r->{status} == 200 ? $r->{json} : undef;
}

sub find_customer {
    my ($ext) = @_;
    my $r = $api->call(GET => "customers?id=$ext", undef, spec_check => 0);
    return $r->{json}{items}[0];
}

sub cus_of { ($_[0] // '') =~ /^(cus_[a-z0-9]+)\./ ? $1 : undef }

sub error_is {
    my ($r, $status, $code, $what) = @_;
    is($r->{status}, $status, "$what: $status");
    is($r->{json} && $r->{json}{error}{code}, $code, "  error code $code");
    ok(!exists $r->{set_cookie}{cv_visitor}
       && !exists $r->{set_cookie}{cv_identity}, '  no cookie set');
}

# ---- identify() with an id: only with its signature ----

my $v1 = Chatvisor::Chat::Visitor->new($t);
my $r = $v1->post('hello from the first device', client_msg_id => 'c-1');
is($r->{status}, 201, 'a visitor chats (anonymous)');
my $c1 = $v1->customer_id;
my $c1_cookie = "cv_visitor=" . $v1->cookie;

error_is(identify($c1_cookie, { id => 'u-1' }), 400, 'invalid_request',
         'an id without signature');
like(identify($c1_cookie, { id => 'u-1' })->{json}{error}{message},
     qr/signature/, '  the message says what is missing');
error_is(identify($c1_cookie, { id => 'u-1', signature => 'zz' }), 400,
         'invalid_request', 'a signature that is no hex HMAC');
error_is(identify($c1_cookie, { id => 'u-1', signature => sig('u-2') }), 403,
         'bad_signature', 'the signature of another id');
error_is(identify($c1_cookie, { id => 'u-1',
                                signature => sig("u-1") =~ tr/0-9a-f/a-f0-9/r }),
         403, 'bad_signature', 'a forged signature');
error_is(identify($c1_cookie, { id => 'u-1', signature => sig("u-1\n") }), 403,
         'bad_signature', 'the signature of the id with a line end');
error_is(identify($c1_cookie, { signature => sig('u-1') }), 400,
         'invalid_request', 'a signature without an id');
error_is(identify($c1_cookie, { id => JSON::PP::true, signature => sig('1') }),
         400, 'invalid_request', 'an id that is no string or integer');
error_is(identify($c1_cookie, { id => 'x' x 129, signature => sig('x' x 129) }),
         400, 'invalid_request', 'an id over 128 characters');
error_is(identify($c1_cookie, '{"id": "u-1", "signature": '), 400,
         'invalid_json', 'bad JSON');
error_is(identify($c1_cookie, '["u-1"]'), 400, 'invalid_json',
         'a body that is no object');
error_is(identify($c1_cookie, { id => 'u-1', signature => sig('u-1'),
                                admin => JSON::PP::true }),
         400, 'invalid_request', 'an unknown field');
error_is(identify($c1_cookie, { id => 'u-1', signature => sig('u-1'),
                                email => 'not an address' }),
         400, 'invalid_request', 'a bad email with a good signature');
error_is(identify($c1_cookie, { id => 'u-1', signature => sig('u-1') },
                  Origin => 'http://evil.example',
                  'Sec-Fetch-Site' => 'cross-site'),
         403, 'forbidden', 'a write from another site');
is(find_customer('u-1'), undef, 'none of these gave anybody the id u-1');
is(customer($c1)->{id}, undef, '  the visitor\'s customer has none');
is(customer($c1)->{email}, undef, '  nor the refused email');

$r = identify($c1_cookie, { id => 'u-1', signature => uc sig('u-1') });
is($r->{status}, 200, 'the id with its signature (upper-case hex): 200');
is_deeply([ $r->{json}{id}, $r->{json}{moved} ? 1 : 0 ], [ 'u-1', 0 ],
          '  {"id": "u-1", "moved": false}: the anonymous customer took it');
ok(!exists $r->{set_cookie}{cv_visitor}, '  the visitor cookie stays');
ok($r->{set_cookie}{cv_identity}, '  the proof cookie is set');
is(customer($c1)->{id}, 'u-1', '  GET customers shows the integrator id');
my $c1_identity = "cv_identity=$r->{set_cookie}{cv_identity}";

$r = identify("$c1_cookie; $c1_identity",
              { id => 'u-1', signature => sig('u-1') });
is($r->{status}, 200, 'the same again: 200');
ok(!$r->{json}{moved} && !%{ $r->{set_cookie} },
   '  nothing moves, no cookie (answered without a write)');

# another device signs in as u-1: it becomes that customer
my $v2 = Chatvisor::Chat::Visitor->new($t);
$r = identify('', { id => 'u-1', signature => sig('u-1') });
is($r->{status}, 200, 'a new browser with u-1\'s signature: 200');
ok($r->{json}{moved}, '  moved');
is(cus_of($r->{set_cookie}{cv_visitor}), $c1, '  its cookie names u-1\'s customer');
$v2->cookie($r->{set_cookie}{cv_visitor});
my ($events) = $v2->history;
ok((grep { ($_->{message}{text} // '') eq 'hello from the first device' } @$events),
   '  and it sees the first device\'s chat');

# u-1's customer signs in as u-2: a customer anew, with the fields
$r = identify("cv_visitor=" . $v2->cookie,
              { id => 'u-2', signature => sig('u-2'), email => 'bea@example.com',
                firstname => 'Bea', labels => ['vip'] });
is($r->{status}, 200, 'u-1\'s browser identifies as u-2: 200');
ok($r->{json}{moved}, '  moved');
my $c2 = cus_of($r->{set_cookie}{cv_visitor});
ok($c2 && $c2 ne $c1, '  to another customer');
my $u2 = find_customer('u-2');
is($u2 && $u2->{customer_id}, $c2, '  GET customers?id=u-2 finds it');
is_deeply([ @{$u2}{qw(email firstname)}, $u2->{labels} ],
          [ 'bea@example.com', 'Bea', ['vip'] ], '  with the fields given');
is(customer($c1)->{id}, 'u-1', '  u-1 keeps its customer');
$v2->cookie($r->{set_cookie}{cv_visitor});
($events) = $v2->history;
ok(!(grep { ($_->{message}{text} // '') =~ /first device/ } @$events),
   '  and u-1\'s chat is not u-2\'s');

# fields without an id: the visitor's own customer, whoever it is
$r = identify("cv_visitor=" . $v2->cookie, { lastname => 'Lee' });
is($r->{status}, 200, 'fields without an id: 200');
is_deeply([ $r->{json}{id}, $r->{json}{moved} ? 1 : 0 ], [ undef, 0 ],
          '  {"id": null, "moved": false}');
is_deeply([ @{ customer($c2) }{qw(id lastname email)} ], [ 'u-2', 'Lee', 'bea@example.com' ],
          '  they update the visitor\'s customer, and nothing else of it');

# an integer id is signed in its text form
$r = identify('', { id => 42, signature => sig('42') });
is($r->{status}, 200, 'an integer id signed as its text: 200');
is($r->{json}{id}, '42', '  the id in its text form');
ok(find_customer('42'), '  GET customers?id=42 finds its customer');

# nothing to do: nobody is made for it
$r = identify('', {});
is($r->{status}, 200, 'an empty identify from a stranger: 200');
ok(!%{ $r->{set_cookie} }, '  no cookie: no customer was made');

# ---- chatvisor_identify: the backend names the user ----

sub page {
    my ($cookies) = @_;
    my $r = $t->get('/', headers => { length($cookies // '') ? (Cookie => $cookies) : () });
    my ($tag) = find_tags($r->{content});
    my $c = Chatvisor::Chat::set_cookies($r->{headers});
    return ($r, $tag ? $tag->{html} : "", $c);
}

my ($pg, $tag, $set) = page('');
is($pg->{status}, 200, 'a page without a login');
like($tag, qr/data-chatvisor/, '  gets the widget');
unlike($tag, qr/data-identify/, '  which identifies nobody');
ok(!exists $set->{cv_identify}, '  and no cv_identify cookie');
ok(!exists $pg->{headers}{'x-chatvisor-customer'}, '  the backend\'s header is hidden');
unlike($tag, qr/data-online/, '  no agent online: no data-online');
ok(!exists $pg->{headers}{etag} && !exists $pg->{headers}{'last-modified'},
   '  no ETag or Last-Modified: a cached copy would skip a new login');
{
    my $b = $t->get('/index.html', port => $t->port('BACKEND'));
    ok($b->{headers}{etag} && $b->{headers}{'last-modified'},
       '  (the backend sent both)');
}

($pg, $tag, $set) = page('site_user=u-3');
like($tag, qr/ data-identify="1"/, 'a page of a logged-in user: data-identify');
ok($set->{cv_identify}, '  and the cv_identify cookie');
ok(!exists $pg->{headers}{'x-chatvisor-customer'}, '  the header is hidden');
my $identify_cookie = "cv_identify=$set->{cv_identify}";

$r = identify($identify_cookie, {});
is($r->{status}, 200, 'the widget identifies: 200');
is($r->{json}{id}, 'u-3', '  as u-3');
ok($r->{json}{moved}, '  a new visitor moved to u-3\'s customer');
my $c3 = cus_of($r->{set_cookie}{cv_visitor});
is(find_customer('u-3') && find_customer('u-3')->{customer_id}, $c3,
   '  made with the id u-3');
is($r->{set_cookie}{cv_identify}, '-', '  the cv_identify cookie is taken away');
my $v3 = "cv_visitor=$r->{set_cookie}{cv_visitor}; cv_identity=$r->{set_cookie}{cv_identity}";

($pg, $tag, $set) = page("site_user=u-3; $v3");
unlike($tag, qr/data-identify/, 'the next page of u-3: nothing to identify');
ok(!exists $set->{cv_identify}, '  and no cookie');

($pg, $tag, $set) = page($v3);
unlike($tag, qr/data-identify/, 'logged out (an empty value): nothing changes');

($pg, $tag, $set) = page("site_user=u-1; $v3");
like($tag, qr/data-identify/, 'u-1 logs in on u-3\'s browser: data-identify');
$r = identify("$v3; cv_identify=$set->{cv_identify}", {});
is(cus_of($r->{set_cookie}{cv_visitor}), $c1, '  the cookie moves to u-1\'s customer');

# a forged or foreign cookie names nobody
(my $forged = $identify_cookie) =~ s/^cv_identify=([^.]+)/'cv_identify=' . ($1 =~ tr{A-Za-z}{B-ZAb-za}r)/e;
$r = identify($forged, {});
is($r->{status}, 200, 'a forged cv_identify: 200');
ok(!defined $r->{json}{id} && !%{ $r->{set_cookie} }, '  naming nobody, changing nothing');

# ---- isAgentOnline(): the page says whether an agent was online ----

$api->call(PUT => 'agents/ann', { name => 'Ann', email => 'ann@example.com' },
           spec_check => 0);
$r = $api->call(PUT => 'agents/ann/status', { status => 'available' },
                spec_check => 0);
is($r->{status}, 200, 'an agent is set available');
($pg, $tag) = page('');
like($tag, qr/ data-online="1"/, '  the tag says data-online="1"');

# ---- without chatvisor_identity_secret, every id is refused ----

{
    my $t2 = Chatvisor::Test->new;
    $t2->write_file('crm.secret', "$api_secret\n");
    $t2->write_file('html/index.html', "<html><head></head><body></body></html>\n");
    $t2->write_config($TMPL, IDENTITY => '');
    $t2->run;
    my $r2 = Chatvisor::Chat::request($t2, POST => 'v1/visitor/identify',
                                      json => { id => 'u-1', signature => sig('u-1') });
    is($r2->{status}, 403, 'no chatvisor_identity_secret: an id gets 403');
    is($r2->{json} && $r2->{json}{error}{code}, 'identity_not_configured',
       '  identity_not_configured');
    $r2 = Chatvisor::Chat::request($t2, POST => 'v1/visitor/identify',
                                   json => { firstname => 'Al' });
    is($r2->{status}, 200, '  fields without an id still work');
}

done_testing();
