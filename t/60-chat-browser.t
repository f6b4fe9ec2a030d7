#!/usr/bin/perl

# The chat end to end in a real browser: nginx (through Chatvisor::Test)
# injects the widget into two static pages and serves the chat from an LMDB
# store; build/chatvisorctl creates the agent Ann and a one-time login URL;
# then t/browser/chat.test.mjs drives headless Debian chromium with
# playwright-core: a visitor and the agent in separate browser contexts
# write to each other live, type, send markup that must stay text, navigate,
# close, and log in with used and forged links. Its TAP lines become checks
# here. Screenshots are left in t/artifacts/chat-*.png.
#
# Without chromium, node or playwright-core the test is skipped on a
# developer's machine (make deps-test installs them) and fails under CI.

use strict;
use warnings;
use utf8;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;

use Chatvisor::Browser qw(skip_unless_browser run_browser_script);
use Chatvisor::Test;

my $root     = Chatvisor::Test::repo_root();
my $script   = "$root/t/browser/chat.test.mjs";
my $ctl      = $ENV{CHATVISOR_CTL} || "$root/build/chatvisorctl";

skip_unless_browser();
die "no $ctl (run `make`)\n" unless -x $ctl;

my $t = Chatvisor::Test->new;

sub page {
    my ($title, $link) = @_;
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
<header><nav><a href="/index.html">Home</a> · <a href="/other.html">Products</a></nav></header>
<main>
<h1>$title</h1>
<p>A demo shop. Questions? Ask us in the chat.</p>
<p><a href="$link">Next page</a></p>
</main>
</body>
</html>
HTML
}

$t->write_file('html/index.html', page('Demo shop', '/other.html'));
$t->write_file('html/other.html', page('Products', '/index.html'));

my $store = $t->testdir . '/store';

# Two workers: a long-poll held by one is woken by a write in the other.
$t->write_config(<<'EOF');
worker_processes 2;
http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;

    chatvisor_store %%TESTDIR%%/store size=64m;
    chatvisor_inject on;
    chatvisor_poll_timeout 8s;

    server {
        listen 127.0.0.1:%%PORT%%;
        root %%TESTDIR%%/html;

        location /chatvisor/ { chatvisor on; }
    }
}
EOF
$t->run;

# Runs chatvisorctl; returns its stdout (dies with its output on failure).
sub ctl {
    my @args = @_;
    my $pid = open(my $fh, '-|') // die "fork: $!";
    if ($pid == 0) {
        open STDERR, '>&', \*STDOUT;
        exec $ctl, @args;
        die "exec $ctl: $!";
    }
    local $/;
    my $out = <$fh> // '';
    close $fh;
    die "chatvisorctl @args failed ($?):\n$out" if $?;
    return $out;
}

my $base = $t->url('');
ctl('agent-put', '--store', $store, '--id', 'ann', '--name', 'Ann');
my ($login) = ctl('login-url', '--store', $store, '--agent', 'ann',
                  '--base-url', "$base/chatvisor/") =~ m{^(https?://\S+)}m;
ok($login && $login =~ m{/chatvisor/join#.+}, 'chatvisorctl made a login URL')
    or diag("login-url printed: " . ($login // 'nothing'));

# Run the browser script and translate its TAP.
run_browser_script($script, $base, $login // '',
    env => { CHATVISOR_AGENT_NAME => 'Ann' }, timeout => 200);

# What the store says afterwards: both conversations are there.
my $convs = ctl('conversations', '--store', $store);
my @ids = $convs =~ /(conv_\w+)/g;
my %uniq = map { $_ => 1 } @ids;
ok(keys %uniq >= 2, 'the store holds the two conversations of the test')
    or diag($convs);

done_testing();
