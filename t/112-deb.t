#!/usr/bin/perl

# The Debian package (`make deb`, scripts/build-deb.sh) on this machine:
# it is built from build/, checked by lintian (no error), installed with
# `dpkg -i`; the files are where Debian's libnginx-mod-* packages put
# theirs and the module is enabled; the stock nginx, with Debian's prefix
# (/usr/share/nginx, whose modules/ is /usr/lib/nginx/modules), passes
# `nginx -t` and serves the chat from a site config whose only load_module
# is the enabled link; the installed chatvisorctl reads that store. Then
# `dpkg --purge`: every file and the link are gone.
#
# It needs root and dpkg (skipped otherwise, with the reason), and it
# leaves the machine as it found it:
# - it never touches an installation it did not make: when the package is
#   installed already, it skips;
# - one run at a time (a lock file), and the package is purged on every
#   way out (END), a failure or a signal included;
# - the other tests load build/ngx_chatvisor_module.so with their own
#   configs (-c, never /etc/nginx/nginx.conf or modules-enabled/), so the
#   installed copy is never theirs; the site config here is in a temp
#   directory and names its own pid, logs, temp paths and store; the
#   machine's nginx service is only reloaded by dpkg's nginx-reload trigger
#   if it runs (Debian's own behaviour, as for every libnginx-mod-*).

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Fcntl qw(:flock);
use File::Spec ();
use File::Temp ();
use HTTP::Tiny;
use Test::More;
use Time::HiRes qw(sleep);

use Chatvisor::Port;
use Chatvisor::Test;

my $ROOT = Chatvisor::Test::repo_root();
my $PKG = 'libnginx-mod-http-chatvisor';
my $NGINX = $Chatvisor::Test::NGINX;
my $LINK = '/etc/nginx/modules-enabled/50-mod-http-chatvisor.conf';
my $AVAILABLE = '/usr/share/nginx/modules-available/mod-http-chatvisor.conf';
my $SO = '/usr/lib/nginx/modules/ngx_chatvisor_module.so';
my $CTL = '/usr/bin/chatvisorctl';
my $DOC = "/usr/share/doc/$PKG";
my @FILES = ($SO, $AVAILABLE, $CTL, "$DOC/copyright",
             "$DOC/changelog.Debian.gz", '/usr/share/man/man1/chatvisorctl.1.gz');

sub have { system("command -v $_[0] >/dev/null 2>&1") == 0 }
sub installed { (`dpkg-query -W -f='\${Status}' $PKG 2>/dev/null` // '') =~ /ok installed|config-files|half/ }

plan skip_all => 'installs a package on this machine: needs root' if $> != 0;
for my $tool (qw(dpkg dpkg-deb dpkg-shlibdeps dpkg-gencontrol)) {
    plan skip_all => "$tool is missing (make deps-deb installs dpkg-dev)" unless have($tool);
}
plan skip_all => "$PKG is installed on this machine: the test would replace it"
    if installed();
-f "$ROOT/build/ngx_chatvisor_module.so" && -f "$ROOT/build/chatvisorctl"
    or die "build/ has no module or chatvisorctl: run make first\n";

my $lock_dir = -d '/run/lock' ? '/run/lock' : File::Spec->tmpdir;
open my $lock, '>', "$lock_dir/chatvisor-deb-test.lock" or die "lock: $!\n";
flock $lock, LOCK_EX or die "lock: $!\n";

my $dir = File::Temp::tempdir('chatvisor-deb-XXXXXXXX', TMPDIR => 1,
                              CLEANUP => !$ENV{CHATVISOR_TEST_KEEP});
chmod 0755, $dir;    # nginx's workers run as nobody

my ($we_installed, $nginx_pid);
sub stop_nginx {
    return unless $nginx_pid;
    kill 'QUIT', $nginx_pid;
    for (1 .. 100) { last unless kill 0, $nginx_pid; sleep 0.1 }
    kill 'KILL', $nginx_pid if kill 0, $nginx_pid;
    undef $nginx_pid;
}
# dpkg, again while another dpkg or apt holds its lock (exit 2, "lock")
sub dpkg {
    my ($out, $st);
    for (1 .. 60) {
        $out = `dpkg @_ 2>&1`;
        $st = $? >> 8;
        last unless $st == 2 && $out =~ /\block\b/i;
        sleep 1;
    }
    return ($st, $out);
}
sub purge {
    my ($st, $out) = dpkg('--purge', $PKG);
    undef $we_installed unless installed();
    return ($st, $out);
}
END {
    my $st = $?;
    stop_nginx();
    purge() if $we_installed;
    diag "$PKG is still installed: dpkg --purge $PKG" if $we_installed;
    $? = $st;
}
# every way out purges: signals end the script through exit, and a write
# to a closed socket is an error, not a death
$SIG{$_} = sub { exit 1 } for qw(INT TERM HUP);
$SIG{PIPE} = 'IGNORE';

sub run_cmd {    # (exit status, stdout + stderr)
    my $out = `@_ 2>&1`;
    return ($? >> 8, $out);
}

# ---- build ----
my ($st, $out) = run_cmd("$ROOT/scripts/build-deb.sh", $dir);
is($st, 0, 'scripts/build-deb.sh builds the package') or diag $out;
my ($deb) = $out =~ m{^(\S+\.deb)$}m;
my $version = `dpkg-parsechangelog -l $ROOT/packaging/debian/changelog -S Version`;
chomp $version;
my $arch = `dpkg --print-architecture`;
chomp $arch;
is($deb, "$dir/${PKG}_${version}_$arch.deb", 'named PACKAGE_VERSION_ARCH.deb')
    or BAIL_OUT('no package');

my %control = map { /^(\S+): (.*)/ ? ($1, $2) : () }
              split /\n/, `dpkg-deb -f $deb`;
my ($abi) = `cat /usr/share/nginx/src/debian/libnginx-mod.abisubstvars`
            =~ /^nginx:abi=(\S+)/m;
my @depends = split /,\s*/, $control{Depends} // '';
ok((grep { $_ eq $abi } @depends), "Depends on Debian's nginx ABI ($abi)")
    or diag $control{Depends};
for my $lib (qw(liblmdb0 libcjson1 libssl3 libnats3.4 libc6)) {
    ok((grep { /^\Q$lib\E\b/ } @depends), "Depends on $lib") or diag $control{Depends};
}
is($control{Section}, 'httpd', 'Section httpd, as the libnginx-mod-* packages');
like($control{Suggests} // '', qr/\bnats-server\b/,
     'Suggests nats-server (cluster mode)');

SKIP: {
    skip 'lintian is not installed (make deps-deb installs it)', 1 unless have('lintian');
    my ($lst, $lout) = run_cmd('lintian', '--suppress-tags', 'initial-upload-closes-no-bugs', $deb);
    my @errors = grep { /^E: / } split /\n/, $lout;
    is_deeply(\@errors, [], 'lintian: no error') or diag $lout;
}

# ---- install ----
$we_installed = 1;
($st, $out) = dpkg('-i', $deb);
is($st, 0, 'dpkg -i installs it') or diag $out;
ok(installed(), 'dpkg says it is installed');

ok(-f $_, "$_ is installed") for @FILES;
ok(-x $CTL, 'chatvisorctl is executable');
is(readlink($LINK), $AVAILABLE, "enabled: $LINK links to modules-available")
    or diag `ls -l /etc/nginx/modules-enabled/`;
like(`cat $AVAILABLE`, qr{^load_module modules/ngx_chatvisor_module\.so;$}m,
     "$AVAILABLE loads the module from Debian's modules directory");
my %listed = map { $_ => 1 } split /\n/, `dpkg -L $PKG`;
ok($listed{$_}, "dpkg -L lists $_") for @FILES;

# ---- a site with the installed module ----
# Debian's prefix (no -p), so modules/ is /usr/lib/nginx/modules; the only
# load_module is the enabled link's, as in Debian's nginx.conf
my $port = Chatvisor::Port::free_port();
mkdir "$dir/$_", 0755 for qw(html tmp);
open my $fh, '>', "$dir/html/index.html" or die;
print $fh "<!doctype html><html><head><title>Shop</title></head><body><p>Hi</p></body></html>\n";
close $fh;
open $fh, '>', "$dir/crm.secret" or die;
print $fh 'x' x 40, "\n";
close $fh;
chmod 0640, "$dir/crm.secret";
open $fh, '>', "$dir/nginx.conf" or die;
# Debian's nginx.conf runs the workers as www-data: the store must be theirs
my $user = getpwnam('www-data') ? 'user www-data;' : '';
print $fh <<"EOF";
include $LINK;
$user
pid $dir/nginx.pid;
error_log $dir/error.log info;
worker_processes 1;
events {}
http {
    access_log $dir/access.log;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;

    chatvisor_store $dir/store size=16m;
    chatvisor_api_client crm $dir/crm.secret;
    chatvisor_widget_color "#0f766e";
    chatvisor_widget_text title "Questions?";

    server {
        listen 127.0.0.1:$port;
        location /chatvisor/ { chatvisor on; }
        location / { root $dir/html; chatvisor_inject on; }
    }
}
EOF
close $fh;

($st, $out) = run_cmd($NGINX, '-t', '-c', "$dir/nginx.conf");
is($st, 0, 'nginx -t passes with the installed module and the directives') or diag $out;
like($out, qr/syntax is ok/, 'nginx -t: syntax is ok');

($st, $out) = run_cmd($NGINX, '-c', "$dir/nginx.conf");
is($st, 0, 'nginx starts') or diag $out;
for (1 .. 100) {
    last if -s "$dir/nginx.pid" && Chatvisor::Port::port_open($port);
    sleep 0.1;
}
$nginx_pid = `cat $dir/nginx.pid 2>/dev/null` =~ s/\D//gr || undef;
ok($nginx_pid, 'nginx runs') or diag `tail -20 $dir/error.log`;

my $http = HTTP::Tiny->new(timeout => 10);
my $r = $http->get("http://127.0.0.1:$port/");
is($r->{status}, 200, 'a page is served');
like($r->{content}, qr{<script[^>]+/chatvisor/widget\.js}, 'the page gets the widget');
$r = $http->get("http://127.0.0.1:$port/chatvisor/widget.js");
is($r->{status}, 200, 'the widget script is served');
$r = $http->post_form("http://127.0.0.1:$port/chatvisor/api/v1/auth/token",
    { grant_type => 'client_credentials', client_id => 'crm', client_secret => 'x' x 40 });
is($r->{status}, 200, 'the REST API gives the configured client a token') or diag $r->{content};
$r = $http->request(POST => "http://127.0.0.1:$port/chatvisor/v1/visitor/messages", {
    headers => { 'Content-Type' => 'application/json' },
    content => '{"text": "Hello from the package test"}' });
is($r->{status}, 201, "a visitor's message is stored (the workers may write the store)")
    or diag $r->{content};
stop_nginx();
my $log = `cat $dir/error.log`;
unlike($log, qr/\[(?:alert|crit|emerg)\]|exited on signal/, 'no alert in the error log')
    or diag $log;

($st, $out) = run_cmd($CTL, 'stats', '--store', "$dir/store");
is($st, 0, 'the installed chatvisorctl reads the store') or diag $out;
like($out, qr/^api_tokens: 1$/m, '... and sees the token the API issued');
like($out, qr/^conversations: 1$/m, '... and the conversation');

# ---- purge ----
($st, $out) = purge();
is($st, 0, 'dpkg --purge removes it') or diag $out;
ok(!installed(), 'dpkg says it is gone');
ok(!-e $_, "$_ is gone") for @FILES;
ok(!-l $LINK && !-e $LINK, 'the modules-enabled link is gone');
ok(!-l "$LINK.removed", 'no .removed link is left');
($st, $out) = run_cmd($NGINX, '-t', '-c', "$dir/nginx.conf");
isnt($st, 0, 'the site config no longer passes nginx -t (nothing left to load)');

done_testing;
