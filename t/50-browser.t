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
use JSON::PP;
use Test::More;

use Chatvisor::Browser qw(skip_unless_browser run_browser_script);
use Chatvisor::Test;

my $root     = Chatvisor::Test::repo_root();
my $script   = "$root/t/browser/widget.test.mjs";

skip_unless_browser();

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
run_browser_script($script, 'http://127.0.0.1:' . $t->port,
    env => { CHATVISOR_EXPECT =>
                 JSON::PP->new->utf8->canonical->encode(\%expect) },
    timeout => 90);

done_testing();
