package Chatvisor::Browser;

# Running a t/browser/*.test.mjs script (headless Debian chromium driven by
# playwright-core under node) from a .t file and turning its TAP into checks.
#
#   use Chatvisor::Browser qw(skip_unless_browser run_browser_script);
#   skip_unless_browser();         # before starting nginx
#   ...
#   run_browser_script("$root/t/browser/widget.test.mjs", $base, $url,
#                      env => { CHATVISOR_EXPECT => $json }, timeout => 90);
#
# Functions:
#   chromium()             the browser binary: env CHATVISOR_CHROMIUM or
#                          /usr/bin/chromium
#   browser_missing()      why the browser test cannot run (no chromium, no
#                          node on PATH, no node_modules/playwright-core), or
#                          undef when it can
#   skip_unless_browser()  when something is missing: skip the whole test on a
#                          developer's machine (make deps-test installs it),
#                          and under CI (env CI) fail one check, end the test
#                          and exit
#   artifacts_dir()        t/artifacts, created on demand
#   run_browser_script(SCRIPT, ARGS..., env => {NAME => VALUE}, timeout => S)
#       runs `node SCRIPT ARGS...` in the repository root with stderr on
#       stdout and, in its environment, CHATVISOR_ARTIFACTS (artifacts_dir),
#       CHATVISOR_CHROMIUM (chromium) and the given env. Each "ok N - NAME" /
#       "not ok N - NAME" line becomes a check "browser: NAME"; "# ..." lines
#       are notes (diagnostics after a failed check); other output is shown
#       as diagnostics. The script is killed after timeout seconds (default
#       90). Then three more checks: it finished in time, it ran as many
#       checks as its "1..N" plan says (and at least one), node exited with
#       status 0 or 1. Returns node's wait status. The outputs of Test::More
#       are set to UTF-8 (and stay so). Failures are reported at the caller's
#       line.

use strict;
use warnings;

use Exporter 'import';
use File::Path ();
use Test::More ();
use Time::HiRes ();

use Chatvisor::Test ();

our @EXPORT_OK = qw(chromium browser_missing skip_unless_browser
                    artifacts_dir run_browser_script);

sub chromium { $ENV{CHATVISOR_CHROMIUM} || '/usr/bin/chromium' }

sub browser_missing {
    my $root     = Chatvisor::Test::repo_root();
    my $chromium = chromium();
    return
          !-x $chromium ? "no $chromium (make deps-test)"
        : !(grep { -x "$_/node" } split /:/, $ENV{PATH} // '') ? 'no node'
        : !-d "$root/node_modules/playwright-core"
            ? 'no node_modules/playwright-core (make deps)'
        : undef;
}

sub skip_unless_browser {
    my $missing = browser_missing() or return;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    Test::More::plan(skip_all => $missing) unless $ENV{CI};
    Test::More::fail("the browser test can run: $missing");
    Test::More::done_testing();
    exit;
}

sub artifacts_dir {
    my $artifacts = Chatvisor::Test::repo_root() . '/t/artifacts';
    File::Path::make_path($artifacts);
    return $artifacts;
}

my %OPTION = (env => 1, timeout => 1);

sub run_browser_script {
    my ($script, @args) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my %opt;
    while (@args >= 2 && defined $args[-2] && $OPTION{ $args[-2] }) {
        my $value = pop @args;
        $opt{ pop @args } = $value;
    }
    my $root    = Chatvisor::Test::repo_root();
    my $timeout = $opt{timeout} // 90;
    my %env = (
        CHATVISOR_ARTIFACTS => artifacts_dir(),
        CHATVISOR_CHROMIUM  => chromium(),
        %{ $opt{env} // {} },
    );

    my $started = Time::HiRes::time();
    my $node_pid = open(my $tap, '-|') // die "fork: $!";
    if ($node_pid == 0) {
        @ENV{ keys %env } = values %env;
        open STDERR, '>&', \*STDOUT;
        chdir $root;
        exec 'node', $script, @args;
        die "exec node: $!";
    }
    binmode $tap, ':encoding(UTF-8)';
    binmode Test::More->builder->$_, ':encoding(UTF-8)'
        for qw(output failure_output todo_output);

    my ($count, $planned, $last_failed) = (0, undef, 0);
    my $timed_out = 0;
    local $SIG{ALRM} = sub { $timed_out = 1; kill 'KILL', $node_pid };
    alarm $timeout;
    while (my $line = <$tap>) {
        chomp $line;
        if ($line =~ /^(not )?ok \d+(?: -)? ?(.*)$/) {
            my ($failed, $name) = ($1, $2);
            $name =~ s/\\#/#/g;
            $count++;
            $last_failed = $failed ? 1 : 0;
            Test::More::ok(!$failed, "browser: $name");
        } elsif ($line =~ /^1\.\.(\d+)/) {
            $planned = $1;
        } elsif ($line =~ /^# ?(.*)$/) {
            $last_failed ? Test::More::diag($1) : Test::More::note($1);
        } elsif ($line =~ /\S/) {
            Test::More::diag($line);    # stray output (a node crash, say)
        }
    }
    close $tap;
    my $status = $?;
    alarm 0;

    Test::More::ok(!$timed_out, 'browser test finished in time');
    Test::More::ok(defined $planned && $planned == $count && $count > 0,
                   "browser test ran all of its checks ($count)");
    Test::More::ok(($status & 127) == 0 && ($status >> 8) <= 1,
                   "node exited normally (status $status)");
    Test::More::note(sprintf 'browser test took %.1f s',
                     Time::HiRes::time() - $started);
    return $status;
}

1;
