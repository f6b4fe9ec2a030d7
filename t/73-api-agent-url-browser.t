#!/usr/bin/perl

# REST API agent URLs in a real browser (docs/api.md, POST
# customers/{customerId}/agent-url; docs/chat-endpoints.md, PREFIX join#TOKEN).
# nginx (through Chatvisor::Test) with the API client "crm"; here, over HTTP:
# a token, the agent Ann (PUT agents/ann), two visitors each with a
# conversation, the second customer named John Doe (PUT customers/{id}), a
# one-time agent URL for the second customer and one with ttl_seconds 1 (and,
# as a control, another ttl_seconds 1 URL redeemed at once, which works).
# Then t/browser/agent-url.test.mjs drives headless Debian chromium with
# playwright-core: the URL lands on the console at the second conversation,
# logged in as Ann (HttpOnly cv_agent cookie), with the token gone from the
# address bar, the second visitor's message in the chat and John Doe in the
# customer panel; the same URL in a fresh context and the expired one are
# refused by the join page. Its TAP lines become checks here. Screenshots
# are left in t/artifacts/agent-url-*.png.
#
# Without chromium, node or playwright-core the test is skipped on a
# developer's machine (make deps-test installs them) and fails under CI.

use strict;
use warnings;
use utf8;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(time);

use Chatvisor::Browser qw(skip_unless_browser run_browser_script);
use Chatvisor::Test;
use Chatvisor::API;
use Chatvisor::HTTP ();

my $root     = Chatvisor::Test::repo_root();
my $script   = "$root/t/browser/agent-url.test.mjs";

skip_unless_browser();

my $t = Chatvisor::Test->new;

my @chars = ('A' .. 'Z', 'a' .. 'z', '0' .. '9');
my $secret = join '', map { $chars[rand @chars] } 1 .. 48;
$t->write_file('crm.secret', "$secret\n");
$t->write_file('html/index.html', <<'HTML');
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<link rel="icon" href="data:,">
<title>Demo shop</title>
</head>
<body>
<main><h1>Demo shop</h1><p>Questions? Ask us in the chat.</p></main>
</body>
</html>
HTML

# Two workers: the join, the console's calls and its long-poll spread over
# both, so the session and the one-time token must live in the store.
$t->write_config(<<'EOF');
worker_processes 2;
http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;

    chatvisor_store %%TESTDIR%%/store;
    chatvisor_api_client crm %%TESTDIR%%/crm.secret;
    chatvisor_poll_timeout 8s;

    server {
        listen 127.0.0.1:%%PORT%%;

        location /chatvisor/ { chatvisor on; }
        location / { root %%TESTDIR%%/html; chatvisor_inject on; }
    }
}
EOF
$t->run;

my $base = $t->url('');
my $api = Chatvisor::API->new($t, client => 'crm', secret => $secret);

# ---- setup over HTTP ----

my $r = $api->token_request(how => 'json');
is($r->{status}, 200, 'POST auth/token (JSON body): 200') or diag $r->{content};
my $token = $r->{json} && $r->{json}{access_token};
ok($token && $token =~ /^cvt_/, 'a cvt_ bearer token') or diag $r->{content};
$api->set_token($token);

$r = $api->call(PUT => 'agents/ann', { name => 'Ann' });
ok($r->{status} == 201 || $r->{status} == 200, 'PUT agents/ann: 201 or 200')
    or diag $r->{content};

my $stamp = int(time * 1000) % 1000000;
my $text1 = "First visitor here, about invoice $stamp";
my $text2 = "Second visitor: where is my parcel $stamp?";

my $v1 = Chatvisor::API::Visitor->new($t);
$r = $v1->post($text1, page_url => "$base/index.html?first");
is($r->{status}, 201, 'visitor 1: POST v1/visitor/messages: 201') or diag $r->{content};
my $v2 = Chatvisor::API::Visitor->new($t);
$r = $v2->post($text2, page_url => "$base/index.html?second");
is($r->{status}, 201, 'visitor 2: POST v1/visitor/messages: 201') or diag $r->{content};

my ($cus1, $conv1) = ($v1->customer_id // '', $v1->conversation_id // '');
my ($cus2, $conv2) = ($v2->customer_id // '', $v2->conversation_id // '');
like($cus1, qr/^cus_/, "visitor 1 is a customer ($cus1)");
like($cus2, qr/^cus_/, "visitor 2 is a customer ($cus2)");
like($conv2, qr/^conv_/, "visitor 2 has a conversation ($conv2)");
ok($cus1 ne $cus2 && $conv1 ne $conv2, 'two customers, two conversations');

my $email = 'john.doe@example.com';
$r = $api->call(PUT => "customers/$cus2",
                { firstname => 'John', lastname => 'Doe', email => $email,
                  id => 'crm-4711', labels => ['vip'] });
is($r->{status}, 200, 'PUT customers/{second}: 200') or diag $r->{content};
is($r->{json} && $r->{json}{conversation_id}, $conv2,
   '  the customer names its conversation');

$r = $api->call(POST => "customers/$cus2/agent-url", { agent_id => 'ann' });
is($r->{status}, 201, 'POST customers/{second}/agent-url: 201') or diag $r->{content};
my $url = $r->{json} && $r->{json}{url} // '';
like($url, qr{^\Q$base\E/chatvisor/join#.+}, '  url is BASE/chatvisor/join#TOKEN')
    or diag "url: $url";

$r = $api->call(POST => "customers/$cus2/agent-url",
                { agent_id => 'ann', ttl_seconds => 1 });
my $short_at = time;
is($r->{status}, 201, 'POST customers/{second}/agent-url ttl_seconds 1: 201')
    or diag $r->{content};
my $short = $r->{json} && $r->{json}{url} // '';
like($short, qr{/chatvisor/join#.+}, '  a second join URL') or diag "url: $short";

# Control: a ttl_seconds 1 URL redeemed at once works (so the refusal of
# the one above, opened 2 s later in the browser, is its expiry).
$r = $api->call(POST => "customers/$cus2/agent-url",
                { agent_id => 'ann', ttl_seconds => 1 });
my ($fresh) = (($r->{json} && $r->{json}{url}) // '') =~ /#(.+)$/;
my $j = Chatvisor::HTTP::http_json($t->port, 'POST', '/chatvisor/v1/agent/join',
                                   { token => $fresh // 'x' });
is($j->{status}, 200, 'control: a ttl_seconds 1 URL redeemed at once over HTTP: 200')
    or diag $j->{content};

# ---- the browser part ----

run_browser_script($script, $base, $url, timeout => 90, env => {
    CHATVISOR_AGENT_NAME     => 'Ann',
    CHATVISOR_CONVERSATION   => $conv2,
    CHATVISOR_OTHER_CONV     => $conv1,
    CHATVISOR_TEXT           => $text2,
    CHATVISOR_OTHER_TEXT     => $text1,
    CHATVISOR_CUSTOMER_NAME  => 'John Doe',
    CHATVISOR_CUSTOMER_EMAIL => $email,
    CHATVISOR_SHORT_URL      => $short,
    # the short URL may be opened from this time on (2 s after it was made)
    CHATVISOR_SHORT_OPEN_AT  => int(($short_at + 2) * 1000),
});

# Afterwards: the URL was used up by the browser (a direct redeem fails too).
my ($tok) = $url =~ /#(.+)$/;
$r = Chatvisor::HTTP::http_json($t->port, 'POST', '/chatvisor/v1/agent/join',
                                { token => $tok // 'x' });
is($r->{status}, 403, 'the used token redeemed again over HTTP: 403')
    or diag $r->{content};

done_testing();
