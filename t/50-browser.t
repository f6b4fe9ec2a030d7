#!/usr/bin/perl

# The chat widget in a real browser: nginx (through Chatvisor::Test) injects
# the widget into a few static pages, then t/browser/widget.test.mjs drives
# headless Debian chromium with playwright-core against it; its TAP lines
# become checks here. Screenshots are left in t/artifacts/browser-*.png.
#
# Without chromium, node or playwright-core the test is skipped on a
# developer's machine (make deps-test installs them) and fails under CI.

use strict;
use warnings;
use utf8;

use FindBin;
use lib "$FindBin::Bin/lib";

use Encode qw(encode_utf8);
use File::Path qw(make_path);
use JSON::PP;
use Test::More;
use Time::HiRes qw(time);

use Chatvisor::Test;

my $root     = Chatvisor::Test::repo_root();
my $chromium = $ENV{CHATVISOR_CHROMIUM} || '/usr/bin/chromium';
my $script   = "$root/t/browser/widget.test.mjs";

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

# What nginx.conf below configures, and so what the browser must see.
my %expect = (
    color       => '#e11d48',
    fg          => '#ffffff',    # white reads best on that red
    position    => 'left',
    language    => 'es',
    title       => 'Ayuda',
    launcher    => '¿Hablamos? "Sí" & <más>',    # escaped on the way
    greeting    => '¡Hola! ¿En qué podemos ayudarte hoy?',    # built-in es
    placeholder => 'Escribe tu mensaje…',                     # built-in es
    close       => 'Cerrar chat',
    # /light/ overrides color and position per location
    light       => { color => '#fde047', position => 'right' },
);

my $t = Chatvisor::Test->new;

# A demo-like page; $head goes into <head>, before the injection point.
sub page {
    my ($title, $head) = @_;
    $head = qq{<link rel="icon" href="data:,">\n} . ($head // '');
    return encode_utf8(<<"HTML");
<!doctype html>
<html lang="es">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>$title</title>
$head</head>
<body>
<header><nav><a href="/index.html">Inicio</a> · <a href="/productos">Productos</a> · <a href="/contacto">Contacto</a></nav></header>
<main>
<h1>$title</h1>
<p>Bienvenido a nuestra tienda de demostración. Elige un producto y, si
tienes dudas, escríbenos por el chat.</p>
<div class="card"><h2>Cafetera italiana</h2><p>Acero inoxidable, 6 tazas.</p>
<button type="button">Añadir al carrito</button></div>
<form><label>Buscar <input name="q" placeholder="¿Qué buscas?"></label></form>
</main>
<footer><p>© Demo S.L.</p></footer>
</body>
</html>
HTML
}

$t->write_file('html/index.html', page('Tienda demo'));
$t->write_file('html/aggressive.html', page('CSS agresivo', <<'CSS'));
<style>
* { all: unset !important; }
button { display: none !important; }
div { display: none !important; }
body > * { font: 40px/1 serif !important; color: #0f0 !important; }
chatvisor-widget { display: none !important; }
:root { font-size: 5px !important; --cv-color: #000 !important; }
</style>
CSS
# Loads the widget itself before <body> exists, with a malformed color that
# must not reach the stylesheet; the injected copy runs later.
$t->write_file('html/early.html', page('Carga temprana',
    qq|<script src="/chatvisor/widget.js" data-chatvisor="1"|
    . qq| data-color="#e11d48;}:host{display:none" data-position="$expect{position}"|
    . qq| data-language="$expect{language}" data-text-title="$expect{title}"></script>\n|));
$t->write_file('html/csp/index.html', page('Página con CSP'));
$t->write_file('html/light/index.html', page('Color claro'));

(my $launcher_conf = $expect{launcher}) =~ s/'/\\'/g;
$t->write_config(encode_utf8(<<"EOF"));
http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;

    # the widget loads its history and sends through the chat endpoints
    chatvisor_store %%TESTDIR%%/store size=64m;
    chatvisor_inject on;
    chatvisor_widget_color "$expect{color}";
    chatvisor_widget_position $expect{position};
    chatvisor_widget_language $expect{language};
    chatvisor_widget_text title "$expect{title}";
    chatvisor_widget_text launcher '$launcher_conf';

    server {
        listen 127.0.0.1:%%PORT%%;
        root %%TESTDIR%%/html;

        location /chatvisor/ { chatvisor on; }
        location /light/ {
            chatvisor_widget_color "$expect{light}{color}";
            chatvisor_widget_position $expect{light}{position};
        }
        location /csp/ {
            add_header Content-Security-Policy "default-src 'self'; script-src 'self' 'nonce-abc123'; style-src 'self'; img-src 'self' data:";
        }
    }
}
EOF
$t->run;

# Run the browser script and translate its TAP.
my $artifacts = "$root/t/artifacts";
make_path($artifacts);
local $ENV{CHATVISOR_EXPECT}    = JSON::PP->new->utf8->canonical->encode(\%expect);
local $ENV{CHATVISOR_ARTIFACTS} = $artifacts;
local $ENV{CHATVISOR_CHROMIUM}  = $chromium;

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
