#!/usr/bin/perl

# chatvisor_show_after in a real browser: nginx (through Chatvisor::Test)
# injects the widget with `chatvisor_show_after 4s` into two static pages
# sent with a strict Content-Security-Policy, and serves the chat from a
# store; t/browser/show-after.test.mjs drives headless Debian chromium with
# playwright-core against it: the launcher waits on the first page of a
# visit, shows at once on the next page of the same tab, waits again in a
# fresh context, shows at once for a visitor who has a conversation or opens
# the panel, and copes with blocked sessionStorage. Its TAP lines become
# checks here. Screenshots are left in t/artifacts/show-after-*.png.
#
# Without chromium, node or playwright-core the test is skipped on a
# developer's machine (make deps-test installs them) and fails under CI.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;

use Chatvisor::Browser qw(skip_unless_browser run_browser_script);
use Chatvisor::Test;

my $root   = Chatvisor::Test::repo_root();
my $script = "$root/t/browser/show-after.test.mjs";

skip_unless_browser();

my $t = Chatvisor::Test->new;

sub page {
    my ($title) = @_;
    return <<"HTML";
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>$title</title>
</head>
<body>
<header><nav><a href="/index.html">Home</a> | <a href="/second.html">Products</a></nav></header>
<main><h1>$title</h1><p>The chat launcher appears after four seconds on the
first page of a visit.</p></main>
</body>
</html>
HTML
}

$t->write_file('html/index.html', page('Home'));
$t->write_file('html/second.html', page('Products'));

# what nginx.conf says, and so what the browser must see
# long enough that "at once" (under 75% of it) and "held back" stay
# apart on a loaded 2-core machine running the suite 4 files at a time
my $show_after = '4s';
my $show_after_ms = 4000;
my $csp = "default-src 'self'; script-src 'self' 'nonce-abc123'; "
        . "style-src 'self'; img-src 'self' data:; connect-src 'self'";

$t->write_config(<<"NGINX");
http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;

    # the widget loads the visitor's history from the chat endpoints
    chatvisor_store %%TESTDIR%%/store size=64m;
    chatvisor_inject on;
    chatvisor_show_after $show_after;

    server {
        listen 127.0.0.1:%%PORT%%;
        root %%TESTDIR%%/html;

        location /chatvisor/ { chatvisor on; }
        location / {
            add_header Content-Security-Policy "$csp";
        }
    }
}
NGINX
$t->run;

run_browser_script($script, 'http://127.0.0.1:' . $t->port,
                   env => { CHATVISOR_SHOW_AFTER_MS => $show_after_ms },
                   timeout => 90);

done_testing();
