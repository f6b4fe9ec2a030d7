#!/usr/bin/perl

# Directives: what `nginx -t` accepts and rejects (rejections name the
# directive, the file and the line), and how the widget settings and
# chatvisor_inject are inherited http -> server -> location, as seen in the
# injected tag of a running nginx. Also: chatvisor_store creates its
# directory, and a reload applies new settings while a broken reload keeps
# the old ones.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Chatvisor::Test;
use Chatvisor::Widget qw(find_tags);

my $t = Chatvisor::Test->new;
my $conf = $t->conf_file;

# One config shape for every nginx -t case; each snippet sits on its own
# template line, so the expected line of an error is known.
my $TMPL = <<'EOF';
http {
    %%HTTP%%
    server {
        listen 127.0.0.1:%%PORT%%;
        %%SERVER%%
        location / {
            %%LOCATION%%
        }
    }
}
EOF
my %LINE = map { $_ => Chatvisor::Test::line_of($TMPL, "%%$_%%") }
               qw(HTTP SERVER LOCATION);

sub check {
    my (%o) = @_;
    $t->write_config($TMPL, HTTP => $o{http} // '', SERVER => $o{server} // '',
                     LOCATION => $o{location} // '');
    return $t->test_config;
}

sub accepts {
    my ($name, %o) = @_;
    my ($st, $out) = check(%o);
    is($st, 0, "accepted: $name") or diag $out;
}

# $where: http, server or location (the line the snippet is on)
sub rejects {
    my ($name, $directive, $where, $snippet, $msg_re) = @_;
    my ($st, $out) = check($where => $snippet);
    my $line = $LINE{ uc $where };
    isnt($st, 0, "rejected: $name");
    like($out, qr/\Q$directive\E/, "  message names $directive: $name");
    like($out, qr/ in \Q$conf\E:$line\b/, "  message has $conf:$line: $name")
        or diag $out;
    like($out, $msg_re, "  message says why: $name") if $msg_re;
}

my $store = $t->testdir . '/store';

# ---- accepted ----

accepts('no chatvisor directives at all');
accepts('chatvisor_store PATH', http => "chatvisor_store $store;");
accepts('chatvisor_store size=1g', http => "chatvisor_store $store size=1g;");
accepts('chatvisor_store size=64m sync=off',
        http => "chatvisor_store $store size=64m sync=off;");
accepts('chatvisor_store sync=on size=1g',
        http => "chatvisor_store $store sync=on size=1g;");
accepts('chatvisor on', location => 'chatvisor on;');
accepts('chatvisor off', location => 'chatvisor off;');
accepts('chatvisor_prefix in http', http => 'chatvisor_prefix /support/chat/;');
accepts('chatvisor_prefix in server', server => 'chatvisor_prefix /help/;');
for my $where (qw(http server location)) {
    accepts("chatvisor_inject on in $where", $where => 'chatvisor_inject on;');
    accepts("chatvisor_inject off in $where", $where => 'chatvisor_inject off;');
    accepts("all widget directives in $where", $where =>
        'chatvisor_widget_color "#0f766e"; chatvisor_widget_position left; '
        . 'chatvisor_widget_language es; chatvisor_widget_text title "Hi";');
}
# "#" starts a comment in nginx.conf: colors are written quoted
accepts("color #$_", location => qq{chatvisor_widget_color "#$_";})
    for qw(abc 0f766e AABBCC 000 FfF);
accepts("position $_", location => "chatvisor_widget_position $_;")
    for qw(left right);
accepts("text $_", location => qq{chatvisor_widget_text $_ "Some text";})
    for qw(title greeting placeholder offline launcher);
accepts('several text keys in one block', location =>
        'chatvisor_widget_text title "T"; chatvisor_widget_text greeting "G";');
accepts('UTF-8 text', location =>
        qq{chatvisor_widget_text greeting "\xc2\xa1Hola! \xe2\x82\xac \xf0\x9f\x98\x80";});
accepts('text with quotes and markup', location =>
        q{chatvisor_widget_text title "a & b <i>'x'</i> \"y\"";});
accepts('empty text', location => 'chatvisor_widget_text offline "";');
accepts("language $_", location => "chatvisor_widget_language $_;")
    for qw(en es de fr EN Es es-ES de-AT fr-CA en-US);

# ---- rejected ----

rejects('chatvisor_store without PATH', 'chatvisor_store', 'http',
        'chatvisor_store;');
rejects('chatvisor_store size=abc', 'chatvisor_store', 'http',
        "chatvisor_store $store size=abc;");
rejects('chatvisor_store size=', 'chatvisor_store', 'http',
        "chatvisor_store $store size=;");
rejects('chatvisor_store sync=maybe', 'chatvisor_store', 'http',
        "chatvisor_store $store sync=maybe;");
rejects('chatvisor_store unknown option', 'chatvisor_store', 'http',
        "chatvisor_store $store mode=fast;");
rejects('chatvisor_store two paths', 'chatvisor_store', 'http',
        "chatvisor_store $store $store.2;");
rejects('chatvisor_store in server', 'chatvisor_store', 'server',
        "chatvisor_store $store;");
rejects('chatvisor_store in location', 'chatvisor_store', 'location',
        "chatvisor_store $store;");

rejects('chatvisor_routing sometimes', 'chatvisor_routing', 'http',
        'chatvisor_routing sometimes;');
rejects('chatvisor_routing twice', 'chatvisor_routing', 'server',
        'chatvisor_routing manual; chatvisor_routing least_busy;');
rejects('chatvisor_routing in location', 'chatvisor_routing', 'location',
        'chatvisor_routing manual;');
rejects('chatvisor_poll_timeout below 1s', 'chatvisor_poll_timeout',
        'location', 'chatvisor_poll_timeout 500ms;');
rejects('chatvisor_poll_timeout above 10m', 'chatvisor_poll_timeout',
        'location', 'chatvisor_poll_timeout 11m;');
rejects('chatvisor_poll_timeout not a time', 'chatvisor_poll_timeout',
        'location', 'chatvisor_poll_timeout soon;');

rejects('chatvisor maybe', 'chatvisor', 'location', 'chatvisor maybe;');
rejects('chatvisor in server', 'chatvisor', 'server', 'chatvisor on;');
rejects('chatvisor in http', 'chatvisor', 'http', 'chatvisor on;');

rejects('chatvisor_prefix without leading /', 'chatvisor_prefix', 'server',
        'chatvisor_prefix chat/;');
rejects('chatvisor_prefix without trailing /', 'chatvisor_prefix', 'server',
        'chatvisor_prefix /chat;');
rejects('chatvisor_prefix empty', 'chatvisor_prefix', 'server',
        'chatvisor_prefix "";');
rejects('chatvisor_prefix in location', 'chatvisor_prefix', 'location',
        'chatvisor_prefix /chat/;');

rejects('chatvisor_inject maybe', 'chatvisor_inject', 'location',
        'chatvisor_inject maybe;');

for my $bad ('red', '#12', '#1234', '#12345', '#1234567', '#ggg', '#12345g',
             '2563eb', '', '#', ' #abc', '#abc ')
{
    rejects("color '$bad'", 'chatvisor_widget_color', 'location',
            qq{chatvisor_widget_color "$bad";});
}
rejects('color in http', 'chatvisor_widget_color', 'http',
        'chatvisor_widget_color blue;');

rejects("position $_", 'chatvisor_widget_position', 'location',
        "chatvisor_widget_position $_;") for qw(center top Left);

rejects('text with unknown key', 'chatvisor_widget_text', 'location',
        'chatvisor_widget_text subtitle "x";');
rejects('text without TEXT', 'chatvisor_widget_text', 'location',
        'chatvisor_widget_text title;');
rejects('text with invalid UTF-8 (\xff)', 'chatvisor_widget_text', 'location',
        qq{chatvisor_widget_text title "bad \xff\xfe";});
rejects('text with overlong UTF-8 (\xc0\xaf)', 'chatvisor_widget_text',
        'location', qq{chatvisor_widget_text title "bad \xc0\xaf";});
rejects('text with truncated UTF-8 (\xe2\x82)', 'chatvisor_widget_text',
        'location', qq{chatvisor_widget_text greeting "bad \xe2\x82";});
rejects('text with UTF-8 surrogate (\xed\xa0\x80)', 'chatvisor_widget_text',
        'location', qq{chatvisor_widget_text greeting "bad \xed\xa0\x80";});

rejects("language $_", 'chatvisor_widget_language', 'location',
        "chatvisor_widget_language $_;") for qw(xx english zz-ES e 1 "");

# ---- inheritance, as seen in the injected tag ----

my $page = "<html><head><title>t</title></head><body>x</body></html>\n";
$t->write_file('htdocs/index.html', $page);
$t->write_file('htdocs/sub/index.html', $page);

my $RUN = <<'EOF';
http {
    chatvisor_store %%TESTDIR%%/store/nested sync=off;
    %%HTTP%%
    root %%TESTDIR%%/htdocs;

    server {
        listen 127.0.0.1:%%PORT%%;
        chatvisor_inject on;

        location /chatvisor/ { chatvisor on; }
        location = /index.html { }
        location /off/ {
            chatvisor_inject off;
            alias %%TESTDIR%%/htdocs/;
        }
        location /loc/ {
            chatvisor_widget_color "#0f766e";
            chatvisor_widget_position left;
            chatvisor_widget_language es-ES;
            chatvisor_widget_text title "Location title";
            alias %%TESTDIR%%/htdocs/;
        }
        location /nested/ {
            chatvisor_widget_text launcher "Nested launcher";
            alias %%TESTDIR%%/htdocs/;
            location /nested/sub/ {
                chatvisor_widget_text title "Inner title";
                alias %%TESTDIR%%/htdocs/sub/;
            }
        }
    }

    server {
        listen 127.0.0.1:%%PORT_S2%%;
        chatvisor_widget_position left;
        chatvisor_widget_language DE;
        chatvisor_widget_text greeting "Server greeting";
        chatvisor_widget_text offline "Server offline";

        location / { chatvisor_inject on; }
        location /loc/ {
            chatvisor_inject on;
            chatvisor_widget_text greeting "Location greeting";
            chatvisor_widget_text title "Location title";
            alias %%TESTDIR%%/htdocs/;
        }
    }

    server {
        listen 127.0.0.1:%%PORT_S3%%;
        location / { }
    }
}
EOF

my $HTTP_LEVEL = 'chatvisor_widget_color "#abc"; '
    . 'chatvisor_widget_text title "Http title"; '
    . 'chatvisor_widget_text placeholder "Http placeholder";';
$t->write_config($RUN, HTTP => $HTTP_LEVEL);
$t->run;

ok(-d $t->testdir . '/store/nested', 'chatvisor_store created its directory');

# The single injected tag of a page, or undef (with a diagnostic).
sub tag_of {
    my ($path, %o) = @_;
    my $r = $t->get($path, %o);
    is($r->{status}, 200, "GET $path: 200") or return undef;
    my @tags = find_tags($r->{content});
    is(scalar @tags, 1, "GET $path: one tag") or return undef;
    ok($tags[0]{strict}, "GET $path: tag in contract format")
        or diag $tags[0]{html};
    return $tags[0];
}

sub texts_of {
    my ($tag) = @_;
    my %t;
    for my $k (keys %{ $tag->{attrs} }) {
        $t{$1} = $tag->{attrs}{$k} if $k =~ /^data-text-(.*)$/;
    }
    return \%t;
}

sub widget_is {
    my ($path, $want, %o) = @_;
    my $tag = tag_of($path, %o) or return;
    my %got = (
        color    => $tag->{attrs}{'data-color'},
        position => $tag->{attrs}{'data-position'},
        language => $tag->{attrs}{'data-language'},
        texts    => texts_of($tag),
    );
    is_deeply(\%got, $want, "GET $path: effective widget settings")
        or diag explain \%got;
}

widget_is('/index.html', {
    color => '#abc', position => 'right', language => 'en',
    texts => { title => 'Http title', placeholder => 'Http placeholder' },
});
widget_is('/loc/index.html', {
    color => '#0f766e', position => 'left', language => 'es',
    texts => { title => 'Location title', placeholder => 'Http placeholder' },
});
widget_is('/nested/index.html', {
    color => '#abc', position => 'right', language => 'en',
    texts => { title => 'Http title', placeholder => 'Http placeholder',
               launcher => 'Nested launcher' },
});
widget_is('/nested/sub/index.html', {
    color => '#abc', position => 'right', language => 'en',
    texts => { title => 'Inner title', placeholder => 'Http placeholder',
               launcher => 'Nested launcher' },
});
widget_is('/index.html', {
    color => '#abc', position => 'left', language => 'de',
    texts => { title => 'Http title', placeholder => 'Http placeholder',
               greeting => 'Server greeting', offline => 'Server offline' },
}, port => $t->port('S2'));
widget_is('/loc/index.html', {
    color => '#abc', position => 'left', language => 'de',
    texts => { title => 'Location title', placeholder => 'Http placeholder',
               greeting => 'Location greeting', offline => 'Server offline' },
}, port => $t->port('S2'));

my $r = $t->get('/off/index.html');
is($r->{status}, 200, 'chatvisor_inject off in a location: 200');
is($r->{content}, $page, 'chatvisor_inject off in a location: untouched');
$r = $t->get('/index.html', port => $t->port('S3'));
is($r->{content}, $page, 'server without chatvisor_inject: untouched');

# ---- defaults ----

$t->write_config($RUN, HTTP => '');
ok($t->reload, 'reload with the http-level widget directives removed');
widget_is('/index.html', {
    color => '#2563eb', position => 'right', language => 'en', texts => {},
});
widget_is('/nested/index.html', {
    color => '#2563eb', position => 'right', language => 'en',
    texts => { launcher => 'Nested launcher' },
});

# ---- reloads ----

$t->write_config($RUN, HTTP => 'chatvisor_widget_color "#123456";');
ok($t->reload, 'reload with a new color');
widget_is('/index.html', {
    color => '#123456', position => 'right', language => 'en', texts => {},
});

$t->write_config($RUN, HTTP => 'chatvisor_widget_color "#1234567";');
$t->allow_log(qr/\[emerg\].*chatvisor_widget_color/);
ok(!$t->reload(timeout => 2), 'reload with a bad color is refused');
like($t->error_log, qr/\[emerg\].*chatvisor_widget_color/,
     'the refused reload is logged');
widget_is('/index.html', {
    color => '#123456', position => 'right', language => 'en', texts => {},
});

# ---- a store of another schema version ----

# The store of an earlier (development) format is refused at start, with
# a message that says what to do, and left as it was.
{
    my $nested = $t->testdir . '/store/nested';
    my $schema = sub {
        my $dump = `mdb_dump -p -s meta $nested 2>&1`;
        my ($v) = $dump =~ /^ schema_version\n (\S+)$/m;
        return $v // "(none: $dump)";
    };
    is($schema->(), '\\03\\00\\00\\00', 'the store is of schema version 3');

    $t->stop;
    $t->write_config($RUN, HTTP => '');
    open my $load, '|-', 'mdb_load', '-s', 'meta', $nested
        or die "mdb_load: $!\n";
    print $load "VERSION=3\nformat=print\ntype=btree\nHEADER=END\n",
                " schema_version\n \\01\\00\\00\\00\nDATA=END\n";
    ok(close($load), 'schema version set to 1 (mdb_load)');

    $t->allow_log(qr/\[emerg\].*schema version 1 is from a development/);
    ok(!eval { $t->run(timeout => 3); 1 }, 'nginx does not start on it');
    like($t->error_log,
         qr/\[emerg\].*chatvisor_store "\Q$nested\E": store schema version 1 is from a development version of chatvisor; this one uses 3: move the store away/,
         'the error names the store and says what to do');
    is($schema->(), '\\01\\00\\00\\00', 'the store is left as it was');

    rename $nested, "$nested.old" or die "rename: $!\n";
    ok(eval { $t->run; 1 }, 'moved away, a new store is created and nginx starts')
        or diag $@;
    is($schema->(), '\\03\\00\\00\\00', 'the new store is of schema version 3');
}

done_testing;
