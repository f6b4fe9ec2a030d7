#!/usr/bin/perl

# chatvisor_show_after in a real browser: nginx (through Chatvisor::Test)
# injects the widget with `chatvisor_show_after 2s` into two static pages
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

use File::Path qw(make_path);
use Test::More;
use Time::HiRes qw(time);

use Chatvisor::Test;

my $root     = Chatvisor::Test::repo_root();
my $chromium = $ENV{CHATVISOR_CHROMIUM} || '/usr/bin/chromium';
my $script   = "$root/t/browser/show-after.test.mjs";

my $missing =
      !-x $chromium ? "no $chromium (make deps-test)"
    : !(grep { -x "$_/node" } split /:/, $ENV{PATH} // '') ? 'no node'
    : !-d "$root/node_modules/playwright-core"
        ? 'no node_modules/playwright-core (make deps)'
    : undef;
if ($missing) {
    plan skip_all => $missing unless $ENV{CI};
    fail("the browser test can run: $missing");
    done_testing();
    exit;
}

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
<main><h1>$title</h1><p>The chat launcher appears after two seconds on the
first page of a visit.</p></main>
</body>
</html>
HTML
}

$t->write_file('html/index.html', page('Home'));
$t->write_file('html/second.html', page('Products'));

# what nginx.conf says, and so what the browser must see
my $show_after = '2s';
my $show_after_ms = 2000;
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

# Run the browser script and translate its TAP.
my $artifacts = "$root/t/artifacts";
make_path($artifacts);
local $ENV{CHATVISOR_ARTIFACTS}     = $artifacts;
local $ENV{CHATVISOR_CHROMIUM}      = $chromium;
local $ENV{CHATVISOR_SHOW_AFTER_MS} = $show_after_ms;

my $started = time;
my $node_pid = open(my $tap, '-|') // die "fork: $!";
if ($node_pid == 0) {
    open STDERR, '>&', \*STDOUT;
    chdir $root;
    exec 'node', $script, 'http://127.0.0.1:' . $t->port;
    die "exec node: $!";
}
binmode $tap, ':encoding(UTF-8)';
binmode Test::More->builder->$_, ':encoding(UTF-8)'
    for qw(output failure_output todo_output);

my ($count, $planned, $last_failed) = (0, undef, 0);
my $timed_out = 0;
local $SIG{ALRM} = sub { $timed_out = 1; kill 'KILL', $node_pid };
alarm 90;
while (my $line = <$tap>) {
    chomp $line;
    if ($line =~ /^(not )?ok \d+(?: -)? ?(.*)$/) {
        my ($failed, $name) = ($1, $2);
        $name =~ s/\\#/#/g;
        $count++;
        $last_failed = $failed ? 1 : 0;
        ok(!$failed, "browser: $name");
    } elsif ($line =~ /^1\.\.(\d+)/) {
        $planned = $1;
    } elsif ($line =~ /^# ?(.*)$/) {
        $last_failed ? diag($1) : note($1);
    } elsif ($line =~ /\S/) {
        diag($line);    # stray output (a node crash, say)
    }
}
close $tap;
my $status = $?;
alarm 0;

ok(!$timed_out, 'browser test finished in time');
ok(defined $planned && $planned == $count && $count > 0,
   "browser test ran all of its checks ($count)");
ok(($status & 127) == 0 && ($status >> 8) <= 1,
   "node exited normally (status $status)");
note(sprintf 'browser test took %.1f s', time - $started);

done_testing();
