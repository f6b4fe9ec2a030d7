#!/usr/bin/perl

# Co-browsing end to end in real headless Chromium: nginx (two workers,
# through Chatvisor::Test) serves the test shop of t/browser/cobrowse-site/
# with the widget injected and `chatvisor_cobrowse on` (off under /off/; in
# German under /de/),
# and the chat and co-browsing endpoints; build/chatvisorctl makes the agent
# Ann and her one-time login URLs. Two scripts drive a visitor and the
# agent in separate browser contexts, and their TAP lines become checks:
#
#   t/browser/cobrowse.test.mjs          consent and decline, the view,
#       the console's CSP and the sandbox, pointer and clicks, navigation,
#       reopening the view, Stop from either side, ends with a reason, a
#       page where co-browsing is off
#   t/browser/cobrowse-privacy.test.mjs  what never leaves the visitor's
#       browser: input values (typed, shown passwords, hidden, set by
#       script or autofill), private and configured blocks, masked text
#
# Screenshots are left in t/artifacts/cobrowse-*.png. Without chromium,
# node or playwright-core the test is skipped on a developer's machine
# (make deps-test installs them) and fails under CI.

use strict;
use warnings;
use utf8;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;

use Chatvisor::Browser qw(skip_unless_browser run_browser_script);
use Chatvisor::Test;

my $root = Chatvisor::Test::repo_root();
my $site = "$root/t/browser/cobrowse-site";
my $ctl  = $ENV{CHATVISOR_CTL} || "$root/build/chatvisorctl";

skip_unless_browser();
die "no $ctl (run `make`)\n" unless -x $ctl;

my $t = Chatvisor::Test->new;
my $store = $t->testdir . '/store';

# Two workers: the visitor's requests and the agent's polls meet in shared
# memory, whichever worker takes them.
$t->write_config(<<'EOF', SITE => $site);
worker_processes 2;
http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;

    chatvisor_store %%TESTDIR%%/store size=64m;
    # many visitors from one address: the abuse limits stay out of the way
    chatvisor_limit_new_visitors off;
    chatvisor_limit_messages off;
    chatvisor_inject on;
    chatvisor_poll_timeout 8s;

    chatvisor_cobrowse on;
    chatvisor_cobrowse_block .card-number;
    chatvisor_cobrowse_mask_text .customer-name;

    server {
        listen 127.0.0.1:%%PORT%%;
        root %%SITE%%;

        location /chatvisor/ { chatvisor on; }
        location /off/ { chatvisor_cobrowse off; }
        location /de/ { alias %%SITE%%/; chatvisor_widget_language de; }
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

sub login_url {
    my ($login) = ctl('login-url', '--store', $store, '--agent', 'ann',
                      '--base-url', "$base/chatvisor/") =~ m{^(https?://\S+)}m;
    ok($login && $login =~ m{/chatvisor/join#.+}, 'chatvisorctl made a login URL')
        or diag('login-url printed: ' . ($login // 'nothing'));
    return $login // '';
}

ctl('agent-put', '--store', $store, '--id', 'ann', '--name', 'Ann');

# what the tag of the shop's pages says, as the widget reads it
my $tag = $t->get('/index.html')->{content} // '';
like($tag, qr/<script[^>]*\bdata-cobrowse="1"/, 'the shop\'s tag says data-cobrowse="1"');
like($tag, qr/<script[^>]*\bdata-cobrowse-block="\.card-number"/, 'and names the block selector');
like($tag, qr/<script[^>]*\bdata-cobrowse-mask="\.customer-name"/, 'and the mask selector');
unlike($t->get('/off/index.html')->{content} // '', qr/data-cobrowse/,
       'a page under chatvisor_cobrowse off: no data-cobrowse');

run_browser_script("$root/t/browser/cobrowse.test.mjs", $base, login_url(),
    env => { CHATVISOR_AGENT_NAME => 'Ann' }, timeout => 240);

run_browser_script("$root/t/browser/cobrowse-privacy.test.mjs", $base, login_url(),
    env => { CHATVISOR_AGENT_NAME => 'Ann' }, timeout => 180);

done_testing();
