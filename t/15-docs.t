#!/usr/bin/perl

# The documentation against the real module:
#
# (a) every complete nginx.conf the repository shows or ships passes
#     `nginx -t` with the module: conf/demo.conf (what `make demo` runs,
#     see scripts/demo.sh) and, in README.md and docs/*.md, every fenced
#     code block tagged "nginx" that has an http block in the main context
#     (that is the rule for "a complete config": such a block must work
#     when copied into nginx.conf, an events block included). Each is its
#     own named check, "FILE:LINE (the section's heading)", and nginx's
#     errors are shown with the doc's line too. A block anywhere in the
#     docs that has an http block but another tag (or none) fails, so no
#     complete config escapes the rule. Fragments (a location, a directive
#     or two) are not run; but no directive in any nginx block, nor in a
#     "Syntax:" or "Default:" line, may have an argument that starts with
#     an unquoted "#" (a comment in nginx.conf: the value would be lost).
# (b) every directive of docs/directives.md (its "Syntax:" lines) exists in
#     the module: `nginx -t` of a small config that uses it, in each
#     context its "Context:" line names, does not fail with "unknown
#     directive" -- and passes, with the arguments of its "Default:" line,
#     or else the ones in %ARGS below. Every $chatvisor_ variable the page
#     names is known to nginx.
# (c) every directive the module declares (ngx_string("chatvisor...") in an
#     ngx_command_t array, in any file under ngx_chatvisor_module/, sub
#     folders included) has a "Syntax:" line in docs/directives.md, and
#     every documented one is declared.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use File::Basename ();
use File::Find ();
use File::Path ();
use MIME::Base64 ();
use Test::More;

use Chatvisor::Test;

my $ROOT = Chatvisor::Test::repo_root();
my $DIRECTIVES_MD = "$ROOT/docs/directives.md";

sub slurp {
    my ($path) = @_;
    open my $fh, '<:raw', $path or die "read $path: $!\n";
    local $/;
    return scalar <$fh>;
}

# Fenced code blocks of a Markdown file: { tag, text, line (of the first
# line inside the fence), heading (the last heading above it) }. A fence
# indented (in a list item) has that indentation taken off its lines.
sub code_blocks {
    my ($file) = @_;
    my @lines = split /\n/, slurp($file), -1;
    my (@blocks, $heading, $open);
    for my $i (0 .. $#lines) {
        my $l = $lines[$i];
        if ($open) {
            if ($l =~ /^\s*\Q$open->{fence}\E\s*$/) {
                push @blocks, $open;
                undef $open;
            } else {
                $l =~ s/^ {0,$open->{indent}}//;
                $open->{text} .= "$l\n";
            }
        } elsif ($l =~ /^( *)(```+|~~~+)\s*([\w+-]*)/) {
            $open = { indent => length $1, fence => $2, tag => lc $3,
                      text => '', line => $i + 2, heading => $heading };
        } elsif ($l =~ /^#+\s+(.*?)\s*$/) {
            $heading = $1;
        }
    }
    return @blocks;
}

sub main_http { grep { $_->{context} eq '' && $_->{name} eq 'http' && $_->{block} } @_ }

my @DOCS = ("$ROOT/README.md", sort glob "$ROOT/docs/*.md");

# ---- (a) complete configs ----

# What is rewritten before `nginx -t`, and nothing else (line numbers stay
# those of the doc, so nginx's "nginx.conf:LINE" is the block's line):
# - load_module of ngx_chatvisor_module.so: the harness's copy of the
#   built module (%%MODULE%%; the harness then adds no load_module);
# - listen: each port of the doc becomes its own free loopback port
#   (the same doc port, the same test port: two servers on "listen 80"
#   stay on one port), since nginx -t binds them;
# - absolute paths the config writes to or reads from, of chatvisor_store,
#   chatvisor_api_client (the secret), root, alias, access_log, error_log,
#   pid and *_temp_path: put under the test directory, same path below it
#   (/var/lib/nginx/chatvisor -> TESTDIR/var/lib/nginx/chatvisor).
#   Relative ones already are (the prefix is the test directory; demo.sh
#   runs demo.conf with -p demo/run/ the same way). include and the files
#   it names (/etc/nginx/mime.types of Debian's nginx) are left alone.
# Then, in the test directory: the parent directory of every such path,
# the directory of root and alias, a 40-character secret in every
# chatvisor_api_client file and a whsec_ secret in every chatvisor_webhook
# secret_file= (demo.sh makes both on the demo's first start).
my $PATHS = qr/chatvisor_store|root|alias|access_log|error_log|pid|\w+_temp_path/;

sub prepare {
    my ($t, $text) = @_;
    my $dir = $t->testdir;
    $text =~ s{(?<![\w\$])(load_module\s+)[^\s;]*ngx_chatvisor_module\.so(?=\s*;)}
              {$1%%MODULE%%}g;
    $text =~ s{(?<![\w\$])(listen\s+)(?:\S*:)?(\d+)(?=[\s;])}
              {${1}127.0.0.1:%%PORT_$2%%}g;
    $text =~ s{(?<![\w\$])($PATHS\s+)(/[^\s;"']+)}{$1%%TESTDIR%%$2}g;
    $text =~ s{(?<![\w\$])(chatvisor_api_client\s+\S+\s+)(/[^\s;"']+)}{$1%%TESTDIR%%$2}g;
    $text =~ s{(?<![\w\$])(secret_file=)(/[^\s;"']+)}{$1%%TESTDIR%%$2}g;

    # what the rewritten config names, made in the test directory
    (my $conf = $text) =~ s/%%TESTDIR%%/$dir/g;
    $conf =~ s/%%\w+%%/0/g;
    for my $d (Chatvisor::Test::parse_config($conf)) {
        my ($n, $a) = ($d->{name}, $d->{args});
        my ($secret_file) = map { /\Asecret_file=(.+)\z/ ? $1 : () } @$a;
        my $path = $n =~ /\A(?:$PATHS)\z/ ? $a->[0]
                 : $n eq 'chatvisor_api_client' ? $a->[1]
                 : $n eq 'chatvisor_webhook' ? $secret_file : undef;
        next unless defined $path && $path !~ /\A(?:off|stderr|syslog:|memory:)/;
        $path = "$dir/$path" unless $path =~ m{^/};
        next unless index($path, $dir) == 0;    # never outside the test dir
        File::Path::make_path($n =~ /\A(?:root|alias)\z/ ? $path
                              : File::Basename::dirname($path));
        $t->write_file(substr($path, length($dir) + 1), ('s3cret-' x 6) . "\n")
            if $n eq 'chatvisor_api_client';
        $t->write_file(substr($path, length($dir) + 1),
                       'whsec_' . MIME::Base64::encode_base64('k' x 32, '') . "\n")
            if $n eq 'chatvisor_webhook';
    }
    return $text;
}

# $file and $first (the line of the block's first line in it): a failure
# says which line of the doc a line of the tested nginx.conf is
sub check_config {
    my ($name, $text, $file, $first) = @_;
    subtest $name => sub {
        my $t = Chatvisor::Test->new;
        my @d = Chatvisor::Test::parse_config($text);
        ok(main_http(@d), 'has an http block');
        ok(grep({ $_->{context} eq '' && $_->{name} eq 'events' } @d),
           'has an events block (nginx -t fails without one)');
        ok(grep({ $_->{context} eq '' && $_->{name} eq 'load_module'
                  && ($_->{args}[0] // '') =~ /ngx_chatvisor_module\.so\z/ } @d),
           'loads the module');
        $t->write_config(prepare($t, $text));
        my ($st, $out) = $t->test_config;
        is($st, 0, 'nginx -t passes') or diag join '',
            $out =~ s{nginx\.conf:(\d+)}{"nginx.conf:$1 ($file:" . ($first + $1 - 1) . ')'}ger,
            "--- as tested:\n", $t->config;
    };
}

my %complete;    # file => how many
for my $file (@DOCS) {
    (my $rel = $file) =~ s{^\Q$ROOT\E/}{};
    for my $b (code_blocks($file)) {
        my @d = Chatvisor::Test::parse_config($b->{text});
        if ($b->{tag} ne 'nginx') {
            fail("$rel:$b->{line}: has an http block but is tagged '$b->{tag}', not nginx")
                if $b->{text} =~ /^\s*http\s*\{/m;
            next;
        }
        next unless main_http(@d);
        $complete{$rel}++;
        check_config("$rel:$b->{line} (" . ($b->{heading} // 'top') . '): a complete nginx.conf',
                     $b->{text}, $rel, $b->{line});
    }
}
ok($complete{'README.md'}, 'README.md shows a complete nginx.conf');
ok($complete{'docs/directives.md'}, 'docs/directives.md shows a complete nginx.conf');

# the configs the repository ships (scripts/demo.sh runs conf/demo.conf)
my @shipped = sort glob "$ROOT/conf/*.conf";
ok(scalar(grep { m{/conf/demo\.conf\z} } @shipped), 'conf/demo.conf is there');
for my $file (@shipped) {
    (my $rel = $file) =~ s{^\Q$ROOT\E/}{};
    check_config("$rel: passes as make demo runs it", slurp($file), $rel, 1);
}

# no value lost to a comment: in nginx blocks (complete or not) and in the
# Syntax/Default lines of the directive pages, a directive's argument that
# starts with "#" must be quoted
for my $file (@DOCS) {
    (my $rel = $file) =~ s{^\Q$ROOT\E/}{};
    my @bad;
    for my $b (grep { $_->{tag} eq 'nginx' } code_blocks($file)) {
        my $n = $b->{line};
        for my $l (split /\n/, $b->{text}) {
            push @bad, "$rel:$n: $l" if $l =~ /^\s*[a-z_]\w*(?:\s+[^\s#;"'{}]+)*\s+#/;
            $n++;
        }
    }
    my $n = 0;
    for my $l (split /\n/, slurp($file)) {
        $n++;
        push @bad, "$rel:$n: $l"
            if $l =~ /^\s*(?:Syntax|Default):\s*[a-z_]\w*(?:\s+[^\s#;"'{}]+)*\s+#/;
    }
    is_deeply(\@bad, [], "$rel: no directive argument starts with an unquoted #");
}

# ---- (b) every documented directive exists ----

# "Syntax:" .. "Context:" of each directive section
my @documented;
{
    my $cur;
    for my $l (split /\n/, slurp($DIRECTIVES_MD)) {
        if ($l =~ /^\s*Syntax:\s*(\w+)/) {
            $cur = { name => $1, contexts => [] };
            push @documented, $cur;
        } elsif ($cur && $l =~ /^\s*Default:\s*(.*?)\s*$/) {
            my $def = $1;
            $cur->{default} = $1 if $def =~ /^\Q$cur->{name}\E\s+(.*?)\s*;$/;
        } elsif ($cur && $l =~ /^\s*Context:\s*(.*?)\s*$/) {
            $cur->{contexts} = [ split /\s*,\s*/, $1 ];
            undef $cur;
        }
    }
}
ok(@documented >= 10, 'docs/directives.md: ' . scalar(@documented) . ' Syntax lines');

# valid arguments for the directives whose Default line gives none
my %ARGS = (
    chatvisor_store          => '%%TESTDIR%%/store-under-test size=64m sync=off',
    chatvisor_widget_text    => 'title "Talk to us"',
    chatvisor_api_client     => 'crm %%TESTDIR%%/crm.secret',
    chatvisor_identity_secret => '%%TESTDIR%%/identity.secret',
    chatvisor_identify       => '$upstream_http_x_chatvisor_customer',
    chatvisor_show_if        => 'any_agent_online visits>=2',
    chatvisor_business_hours => 'mon-fri 09:00-18:00 sat 10:00-14:00 tz=Europe/Madrid',
    chatvisor_show_after     => '20s',
    chatvisor_cobrowse_block     => '"#card-number"',
    chatvisor_cobrowse_mask_text => '.customer-name',
    chatvisor_status             => '',
    chatvisor_cluster            => 'nats://127.0.0.1:4222 replicas=1',
);

my $SMALL = <<'EOF';
%%MAIN%%
http {
    %%STORE%%
    %%HTTP%%
    server {
        listen 127.0.0.1:%%PORT%%;
        %%SERVER%%
        location /chatvisor/ {
            %%LOCATION%%
        }
    }
}
EOF

my $t = Chatvisor::Test->new;
$t->write_file('crm.secret', ('s3cret-' x 6) . "\n");
$t->write_file('identity.secret', ('1dent1ty-' x 5) . "\n");
my $dir = $t->testdir;

for my $d (@documented) {
    my $name = $d->{name};
    my $args = $d->{default} // $ARGS{$name};
    my @ctx = @{ $d->{contexts} };
    ok(@ctx, "$name: docs/directives.md names its contexts");
    for my $ctx (@ctx) {
        my $key = { main => 'MAIN', http => 'HTTP', server => 'SERVER',
                    location => 'LOCATION' }->{$ctx};
        ok($key, "$name: context '$ctx' is one of main, http, server, location")
            or next;
        my $line = $name . (defined $args ? " $args" : '') . ';';
        $line =~ s/%%TESTDIR%%/$dir/g;
        my %v = (MAIN => '', HTTP => '', SERVER => '', LOCATION => '',
                 STORE => $name eq 'chatvisor_store' ? '' : "chatvisor_store $dir/store;",
                 $key => $line);
        $t->write_config($SMALL, %v);
        my ($st, $out) = $t->test_config;
        unlike($out, qr/unknown directive "\Q$name\E"/,
               "$name in $ctx: not an unknown directive");
        if (defined $args) {
            is($st, 0, "$name in $ctx: nginx -t passes with '$line'") or diag $out;
        } else {
            diag "$name: no Default line and no \%ARGS entry; only checked it is known";
        }
    }
}

# variables the page names
{
    my %vars = map { $_ => 1 } slurp($DIRECTIVES_MD) =~ /\$(chatvisor_\w+)/g;
    ok(%vars, 'docs/directives.md names variables: ' . join(' ', sort keys %vars));
    for my $var (sort keys %vars) {
        $t->write_config($SMALL, MAIN => '', HTTP => '', SERVER => '',
                         STORE => "chatvisor_store $dir/store;",
                         LOCATION => "return 200 \"\$$var\";");
        my ($st, $out) = $t->test_config;
        is($st, 0, "\$$var: nginx knows it") or diag $out;
    }
}

# ---- (c) every directive of the module is documented ----

my %in_docs = map { $_->{name} => 1 } @documented;
my (%declared, @sources);
File::Find::find({ no_chdir => 1, wanted => sub {
    push @sources, $File::Find::name if /\.[ch]\z/ && -f;
} }, "$ROOT/ngx_chatvisor_module");
ok(@sources, 'ngx_chatvisor_module/ has C sources: ' . scalar @sources);
my @other;    # ngx_string("chatvisor...") outside a command array
for my $src (sort @sources) {
    my $c = slurp($src);
    (my $rel = $src) =~ s{^\Q$ROOT\E/}{};
    # the command arrays: ngx_command_t NAME[] = { ... ngx_null_command
    my @arrays = $c =~ /ngx_command_t\s+\w+\s*\[\s*\]\s*=\s*\{(.*?)ngx_null_command/gs;
    my %in_array;
    for my $a (@arrays) {
        $in_array{$_} = 1 for $a =~ /ngx_string\(\s*"(chatvisor\w*)"\s*\)/g;
    }
    $declared{$_} = $rel for keys %in_array;
    push @other, map { "$rel: $_" } grep { !$in_array{$_} }
                 $c =~ /ngx_string\(\s*"(chatvisor\w*)"\s*\)/g;
}
ok(keys(%declared) >= 10, 'the module declares ' . scalar(keys %declared)
                          . ' chatvisor directives');
note "not directives (a zone, a variable, ...): @other" if @other;
for my $name (sort keys %declared) {
    ok($in_docs{$name}, "$name ($declared{$name}) is documented in docs/directives.md");
}
for my $name (sort keys %in_docs) {
    ok($declared{$name}, "$name of docs/directives.md is declared by the module");
}

done_testing;
