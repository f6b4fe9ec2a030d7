#!/usr/bin/perl

# The page's JS API and identity at the edge in a real browser (issue 14):
# nginx injects the widget into the pages of a backend (a server of the same
# nginx) that names its logged-in user in X-Chatvisor-Customer, hidden from
# the browser (proxy_hide_header) and read by `chatvisor_identify
# $upstream_http_x_chatvisor_customer`. t/browser/widget-api.test.mjs drives
# headless chromium: the ChatvisorQueue replayed in order, chatvisor:ready,
# open/close/toggle/hide/show, on/off with open, close, message and unread
# (an API reply), isAgentOnline/shouldShowWebchat, identify() with and
# without a valid signature, and two browser contexts logged in as the same
# user seeing the same chat, through a logout and a login as somebody else.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;

use Chatvisor::Browser qw(skip_unless_browser run_browser_script);
use Chatvisor::Test;

my $root   = Chatvisor::Test::repo_root();
my $script = "$root/t/browser/widget-api.test.mjs";

skip_unless_browser();

my @chars = ('A' .. 'Z', 'a' .. 'z', '0' .. '9');
sub random_secret { join '', map { $chars[rand @chars] } 1 .. $_[0] }
my $id_secret  = random_secret(48);
my $api_secret = random_secret(48);

my $t = Chatvisor::Test->new;
$t->write_file('identity.secret', "$id_secret\n");
$t->write_file('crm.secret', "$api_secret\n");
chmod 0600, map { $t->testdir . "/$_" } qw(identity.secret crm.secret);

# the page queues its calls before the widget has loaded (page.js runs
# first: the widget's tag is async and comes after it)
$t->write_file('html/index.html', <<'HTML');
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<link rel="icon" href="data:,">
<title>Shop</title>
<script src="/page.js"></script>
</head>
<body><h1>Shop</h1></body>
</html>
HTML
$t->write_file('html/page.js', <<'JS');
window.__log = [];
window.addEventListener('chatvisor:ready', function (e) {
  window.__log.push('event:' + (e.detail === window.Chatvisor));
});
window.ChatvisorQueue = window.ChatvisorQueue || [];
window.ChatvisorQueue.push(['on', 'ready', function () { window.__log.push('ready'); }]);
window.ChatvisorQueue.push(['on', 'open', function () { window.__log.push('open'); }]);
window.ChatvisorQueue.push(['on', 'close', function () { window.__log.push('close'); }]);
window.ChatvisorQueue.push(['on', 'unread', function (n) { window.__log.push('unread:' + n); }]);
window.ChatvisorQueue.push(['on', 'message', function (m) { window.__last = m; window.__log.push('message:' + m.text); }]);
window.ChatvisorQueue.push(['open']);
JS

$t->write_config(<<'NGINX');
http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;

    chatvisor_store %%TESTDIR%%/store size=64m;
    chatvisor_api_client crm %%TESTDIR%%/crm.secret;
    chatvisor_identity_secret %%TESTDIR%%/identity.secret;
    chatvisor_limit_new_visitors off;

    # the site's backend: its own login cookie; the user in a header
    server {
        listen 127.0.0.1:%%PORT_BACKEND%%;
        root %%TESTDIR%%/html;
        absolute_redirect off;
        location = /login {
            add_header Set-Cookie "site_user=$arg_user; Path=/";
            return 302 /index.html;
        }
        location = /logout {
            add_header Set-Cookie "site_user=; Path=/; Max-Age=0";
            return 302 /index.html;
        }
        location / { add_header X-Chatvisor-Customer $cookie_site_user; }
    }

    server {
        listen 127.0.0.1:%%PORT%%;
        absolute_redirect off;
        location /chatvisor/ { chatvisor on; }
        location / {
            chatvisor_inject on;
            # co-browsing offered: a move ends its part of the old widget
            chatvisor_cobrowse on;
            chatvisor_identify $upstream_http_x_chatvisor_customer;
            proxy_pass http://127.0.0.1:%%PORT_BACKEND%%;
            proxy_hide_header X-Chatvisor-Customer;
            proxy_set_header Accept-Encoding "";
        }
    }
}
NGINX
$t->run;

run_browser_script($script, 'http://127.0.0.1:' . $t->port,
                   env => { CHATVISOR_IDENTITY_SECRET => $id_secret,
                            CHATVISOR_API_SECRET => $api_secret },
                   timeout => 150);

done_testing();
