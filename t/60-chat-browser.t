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

use File::Path qw(make_path);
use Test::More;
use Time::HiRes qw(time);

use Chatvisor::Test;

my $root     = Chatvisor::Test::repo_root();
my $chromium = $ENV{CHATVISOR_CHROMIUM} || '/usr/bin/chromium';
my $script   = "$root/t/browser/chat.test.mjs";
my $ctl      = $ENV{CHATVISOR_CTL} || "$root/build/chatvisorctl";

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
my $artifacts = "$root/t/artifacts";
make_path($artifacts);
local $ENV{CHATVISOR_ARTIFACTS}  = $artifacts;
local $ENV{CHATVISOR_CHROMIUM}   = $chromium;
local $ENV{CHATVISOR_AGENT_NAME} = 'Ann';

my $started = time;
my $node_pid = open(my $tap, '-|') // die "fork: $!";
if ($node_pid == 0) {
    open STDERR, '>&', \*STDOUT;
    chdir $root;
    exec 'node', $script, $base, $login // '';
    die "exec node: $!";
}
binmode $tap, ':encoding(UTF-8)';
binmode Test::More->builder->$_, ':encoding(UTF-8)'
    for qw(output failure_output todo_output);

my ($count, $planned, $last_failed) = (0, undef, 0);
my $timed_out = 0;
local $SIG{ALRM} = sub { $timed_out = 1; kill 'KILL', $node_pid };
alarm 200;
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

# What the store says afterwards: both conversations are there.
my $convs = ctl('conversations', '--store', $store);
my @ids = $convs =~ /(conv_\w+)/g;
my %uniq = map { $_ => 1 } @ids;
ok(keys %uniq >= 2, 'the store holds the two conversations of the test')
    or diag($convs);

done_testing();
