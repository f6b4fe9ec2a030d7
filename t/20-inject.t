#!/usr/bin/perl

# Injection of the widget <script> into HTML responses (SPEC section 3,
# without the visibility rules): where the tag goes (first </head>, else
# first </body>, else nowhere; case-insensitive; found at every split of
# the body across upstream buffers), what it looks like (format, escaping,
# CSP nonce, prefix), which responses are left alone (status, type,
# HEAD, ranges, 304, subrequests), the headers (only Content-Length
# changes: corrected when the tag is in the first buffer, else gone),
# proxied and static alike, and that the filter streams instead of
# buffering the body. t/22-inject-length.t holds the framing in detail,
# t/21-inject-gzip.t compressed pages.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use IO::Compress::Gzip qw(gzip $GzipError);
use IO::Uncompress::Gunzip qw(gunzip $GunzipError);
use Time::HiRes ();

use Chatvisor::Test;
use Chatvisor::Upstream;
use Chatvisor::HTTP;
use Chatvisor::Widget qw(find_tags strip_tags html_unescape);

# ---- pages ----

my %PAGE = (
    'head.html' => "<!DOCTYPE html>\n<html><head><title>Split</title></head>"
        . "<body><p>Hello</p></body></html>\n",
    'body.html' => "<!DOCTYPE html>\n<html><body><p>No head here</p>"
        . "</body></html>\n",
    'upper.html' => "<HTML><HEAD><TITLE>Up</TITLE></HEAD><BODY>x</BODY></HTML>",
    'mixed.html' => "<html><head><title>m</title></HeAd><body></bOdY></html>",
    'body-upper.html' => "<html><BODY>no head</Body></html>",
    # near misses before the real </head>
    'false.html' => "<html><head><title>a</title><</he</hea</head-x><</head>"
        . "<body>b</body></html>",
    'false-body.html' => "<html><body><</bo</bod</body-x><</body></html>",
    # "</head >" and "</ head>" are not </head>: the tag goes before </body>
    'spaced.html' => "<html><head><title>s</title></head ></ head><body>x"
        . "</body></html>",
    'two-heads.html' => "<html><head></head><head></head><body></body></html>",
    'two-bodies.html' => "<html><body>1</body><body>2</body></html>",
    # </head> anywhere in the body wins over an earlier </body>
    'body-then-head.html' => "<html><body>a</body>b</head>c</html>",
    'at-start.html' => "</head><body>start</body>",
    'at-end.html' => "<html><head><title>end</title></head>",
    'neither.html' => "<p>just a fragment, no head or body end</p>\n",
    'partial-end.html' => "<html><body>cut off</bo",
    'partial-head-end.html' => "<html><head><title>cut</title></hea",
    'empty.html' => '',
);

# the contract's insertion point, straight from the text of SPEC section 3
sub expected_pos {
    my ($b) = @_;
    return $-[0] if $b =~ m{</head>}i;
    return $-[0] if $b =~ m{</body>}i;
    return undef;
}

# '' when $got is $orig with exactly one tag at the contract's position
# (and, when $want_tag is given, exactly that tag); else what is wrong.
sub injection_error {
    my ($got, $orig, $want_tag) = @_;
    my $pos = expected_pos($orig);
    my @tags = find_tags($got);
    if (!defined $pos) {
        return '' if $got eq $orig;
        return @tags ? 'injected although there is no </head> or </body>'
                     : 'body changed';
    }
    return 'no tag' unless @tags;
    return scalar(@tags) . ' tags' if @tags > 1;
    return "tag at $tags[0]{offset}, expected at $pos" if $tags[0]{offset} != $pos;
    return 'body around the tag changed' if strip_tags($got) ne $orig;
    return "another tag: $tags[0]{html}"
        if defined $want_tag && $tags[0]{html} ne $want_tag;
    return '';
}

sub injected_ok {
    my ($got, $orig, $name, $want_tag) = @_;
    my $err = injection_error($got, $orig, $want_tag);
    is($err, '', $name) or diag "got:\n$got";
}

my $big_head = "<html><head><title>big</title><style>"
    . ("p { color: red; }\n" x 9000) . "</style></head><body>"
    . ("<p>paragraph</p>\n" x 4000) . "</body></html>\n";
my $big_body = "<html><body>" . ("<p>no head, long body</p>\n" x 12000)
    . "</body></html>\n";
$PAGE{'big-head.html'} = $big_head;
$PAGE{'big-body.html'} = $big_body;

my $slow_head = "<html><head><title>slow</title></head><body>"
    . ('x' x 4000) . "</body></html>";
my $slow_body = "<html><body>" . ('y' x 4000) . "</body></html>";

my $csp_page = "<html><head><title>csp</title></head><body></body></html>";
my %CSP = (
    'csp-script.html' => [ "default-src 'self'; script-src 'self' 'nonce-abc123'", 'abc123' ],
    'csp-default.html' => [ "default-src 'self' 'nonce-XyZ09+/='; img-src *", 'XyZ09+/=' ],
    'csp-script-wins.html' => [ "default-src 'nonce-d1'; script-src 'self'", undef ],
    'csp-none.html' => [ "default-src 'self'", undef ],
    'csp-upper.html' => [ "Script-Src 'self' 'nonce-Up1'", 'Up1' ],
);

my %HDR_PAGE_HEADERS = (
    'X-Custom'                => 'kept',
    'Cache-Control'           => 'private, max-age=60',
    'ETag'                    => '"abc-123"',
    'Last-Modified'           => 'Tue, 03 Feb 2026 10:00:00 GMT',
    'Link'                    => '</style.css>; rel=preload; as=style',
    'X-Frame-Options'         => 'DENY',
);
my $gz_html = "<html><head><title>gz</title></head><body>zip</body></html>";
gzip(\$gz_html => \my $gz_bytes) or die $GzipError;

my %pages = map { ("/$_" => { body => $PAGE{$_} }) } keys %PAGE;
$pages{"/slow-head.html"} = { body => $slow_head, split => [ length($slow_head) - 20 ],
                              delay => 1.5 };
$pages{"/slow-body.html"} = { body => $slow_body, split => [ length($slow_body) - 20 ],
                              delay => 1.5 };
$pages{"/$_"} = { body => $csp_page,
                  headers => [ 'Content-Security-Policy' => $CSP{$_}[0] ] }
    for keys %CSP;
$pages{'/headers.html'} = {
    body    => $PAGE{'head.html'},
    headers => [ %HDR_PAGE_HEADERS, 'Set-Cookie' => 'a=1; Path=/',
                 'Set-Cookie' => 'b=2; Path=/; HttpOnly',
                 'Content-Security-Policy' => "default-src 'self'" ],
};
$pages{'/charset.html'} = { body => $PAGE{'head.html'},
                            type => 'text/html; charset=utf-8' };
$pages{'/type-case.html'} = { body => $PAGE{'head.html'},
                              type => 'Text/HTML; Charset=UTF-8' };
$pages{'/plain.txt'} = { body => $PAGE{'head.html'}, type => 'text/plain' };
$pages{'/data.json'} = { body => '{"html":"</head></body>"}',
                         type => 'application/json' };
$pages{'/no-type'} = { body => $PAGE{'head.html'}, type => '' };
$pages{'/gzip.html'} = { body => $gz_bytes,
                         headers => [ 'Content-Encoding' => 'gzip' ] };
$pages{'/status-404.html'} = { status => 404, body => $PAGE{'head.html'} };
$pages{'/status-500.html'} = { status => 500, body => $PAGE{'head.html'} };
$pages{'/status-201.html'} = { status => 201, body => $PAGE{'head.html'} };
$pages{'/not-modified.html'} = { status => 304, body => '',
                                 headers => [ ETag => '"v1"' ] };

my $up = Chatvisor::Upstream->new(pages => \%pages)->start;

# ---- nginx ----

my $t = Chatvisor::Test->new;
for my $name (keys %PAGE) {
    $t->write_file("htdocs/$name", $PAGE{$name});
    $t->write_file("htdocs/pad$_/$name", (' ' x $_) . $PAGE{$name}) for 1 .. 6;
}
$t->write_file('htdocs/ssi/main.html',
    qq{<html><!--# include virtual="/static/part.html" --><body>main</body></html>});
$t->write_file('htdocs/part.html', '<head><title>T</title></head>');

$t->write_config(<<'EOF', UP => $up->port);
http {
    server {
        listen 127.0.0.1:%%PORT%%;
        chatvisor_inject on;

        location /chatvisor/ { chatvisor on; }

        location /nb/ {
            proxy_pass http://127.0.0.1:%%UP%%/;
            proxy_buffering off;
        }
        location /bd/ {
            proxy_pass http://127.0.0.1:%%UP%%/;
        }
        location /b7/ {
            proxy_pass http://127.0.0.1:%%UP%%/;
            proxy_buffer_size 512;
            proxy_buffers 128 7;
            proxy_busy_buffers_size 512;
        }
        location /h11/ {
            proxy_pass http://127.0.0.1:%%UP%%/;
            proxy_http_version 1.1;
            proxy_buffering off;
        }
        location /off/ {
            chatvisor_inject off;
            proxy_pass http://127.0.0.1:%%UP%%/;
            proxy_buffering off;
        }
        location /esc/ {
            chatvisor_widget_text title "A & B <i>x</i> \"q\" 'a'";
            chatvisor_widget_text greeting "¡Hola! ¿Qué tal? € 😀";
            chatvisor_widget_text launcher "&amp; stays &amp;";
            proxy_pass http://127.0.0.1:%%UP%%/;
        }
        location /gz/ {
            gzip on;
            gzip_min_length 1;
            proxy_set_header Accept-Encoding "";
            proxy_pass http://127.0.0.1:%%UP%%/;
        }
        location /gunzip/ {
            gunzip on;
            proxy_pass http://127.0.0.1:%%UP%%/;
        }
        location /static/ {
            alias %%TESTDIR%%/htdocs/;
        }
        location /static-off/ {
            chatvisor_inject off;
            alias %%TESTDIR%%/htdocs/;
        }
        location /s7/ {
            alias %%TESTDIR%%/htdocs/;
            sendfile off;
            output_buffers 2 7;
        }
        location /sendfile/ {
            alias %%TESTDIR%%/htdocs/;
            sendfile on;
        }
        location /ssi/ {
            ssi on;
            alias %%TESTDIR%%/htdocs/ssi/;
        }
    }

    server {
        listen 127.0.0.1:%%PORT_P%%;
        chatvisor_prefix /support/chat/;
        chatvisor_inject on;

        location /support/chat/ { chatvisor on; }
        location / { proxy_pass http://127.0.0.1:%%UP%%/; }
    }
}
EOF
$t->run;

# ---- the tag ----

my $r = $t->raw(path => '/nb/head.html');
is($r->status, 200, 'proxied page: 200');
injected_ok($r->body, $PAGE{'head.html'}, 'proxied page: tag before </head>');
my ($tag) = find_tags($r->body);
my $TAG = $tag ? $tag->{html} : '';
ok($tag && $tag->{strict}, 'tag has the contract format') or diag $TAG;
is($tag && $tag->{order}[0], 'async', 'tag starts with async');
is($tag && $tag->{order}[1], 'src', 'then src');
like($tag && $tag->{src}, qr{\A/chatvisor/widget\.js\?v=[0-9a-f]{16}\z},
     'src is PREFIX widget.js?v=HASH, 16 hex');
is($tag && $tag->{attrs}{'data-chatvisor'}, '1', 'data-chatvisor="1"');
is($tag && $tag->{attrs}{'data-color'}, '#2563eb', 'default color');
is($tag && $tag->{attrs}{'data-position'}, 'right', 'default position');
is($tag && $tag->{attrs}{'data-language'}, 'en', 'default language');
ok($tag && !exists $tag->{attrs}{nonce}, 'no nonce without CSP');
is_deeply([ grep { /^data-text-/ } @{ $tag ? $tag->{order} : [] } ], [],
          'no data-text-* without chatvisor_widget_text');
like($TAG, qr{></script>\z}, 'ends with ></script>');

$r = $t->raw(path => '/head.html', port => $t->port('P'));
($tag) = find_tags($r->body);
like($tag && $tag->{src}, qr{\A/support/chat/widget\.js\?v=[0-9a-f]{16}\z},
     'chatvisor_prefix /support/chat/ is the src prefix');
injected_ok($r->body, $PAGE{'head.html'}, 'page under another prefix');

# escaping and UTF-8 of texts
$r = $t->raw(path => '/esc/head.html');
($tag) = find_tags($r->body);
ok($tag && $tag->{strict}, 'tag with texts has the contract format')
    or diag $tag ? $tag->{html} : $r->body;
injected_ok($r->body, $PAGE{'head.html'}, 'tag with texts before </head>');
if ($tag) {
    is($tag->{attrs}{'data-text-title'}, q{A & B <i>x</i> "q" 'a'},
       'title text round-trips through escaping');
    is($tag->{attrs}{'data-text-greeting'},
       "\xc2\xa1Hola! \xc2\xbfQu\xc3\xa9 tal? \xe2\x82\xac \xf0\x9f\x98\x80",
       'UTF-8 text round-trips');
    is($tag->{attrs}{'data-text-launcher'}, '&amp; stays &amp;',
       'an entity in the text is escaped, not passed through');
    for my $k (sort grep { /^data-text-/ } keys %{ $tag->{raw_attrs} }) {
        my $raw = $tag->{raw_attrs}{$k};
        unlike($raw, qr/[<>"']/, "$k: no raw < > \" '");
        unlike($raw, qr/&(?!(?:amp|lt|gt|quot|apos|#\d+|#[xX][0-9a-fA-F]+);)/,
               "$k: every & starts an entity");
    }
}

# CSP nonce
for my $page (sort keys %CSP) {
    my ($csp, $nonce) = @{ $CSP{$page} };
    $r = $t->raw(path => "/nb/$page");
    ($tag) = find_tags($r->body);
    injected_ok($r->body, $csp_page, "$page: injected");
    is($r->header('Content-Security-Policy'), $csp, "$page: CSP header kept");
    is($tag && $tag->{attrs}{nonce}, $nonce,
       "$page: nonce " . ($nonce // 'absent') . " for CSP: $csp");
    is($tag && $tag->{order}[-1], 'nonce', "$page: nonce is the last attribute")
        if defined $nonce;
}

# ---- where the tag goes, unsplit ----

for my $name (sort keys %PAGE) {
    next if $name =~ /^big/;
    my $r = $t->raw(path => "/nb/$name");
    is($r->status, 200, "$name: 200");
    injected_ok($r->body, $PAGE{$name}, "$name: " . describe($PAGE{$name}));
}

sub describe {
    my ($b) = @_;
    return 'tag before the first </head>' if $b =~ m{</head>}i;
    return 'tag before the first </body>' if $b =~ m{</body>}i;
    return 'left byte-identical';
}

# ---- at every split position ----

my @SPLIT_PAGES = qw(head.html body.html upper.html false.html false-body.html
                     spaced.html body-then-head.html);

sub loop_ok {
    my ($name, $list) = @_;    # [ [path, orig], ... ]
    my @fail;
    for my $case (@$list) {
        my ($path, $orig) = @$case;
        my $r = eval { $t->raw(path => $path, timeout => 5) };
        my $err = !$r ? "request failed: $@"
                : $r->status != 200 ? 'status ' . $r->status
                : injection_error($r->body, $orig, $TAG);
        next unless $err;
        push @fail, "$path: $err";
        if (my @crash = grep { /exited on signal/ } $t->bad_log_lines) {
            unshift @fail, "nginx workers crash, giving up: $crash[0]";
            last;
        }
    }
    is(scalar @fail, 0, "$name (" . scalar(@$list) . ' requests)')
        or diag join "\n", @fail[0 .. ($#fail < 9 ? $#fail : 9)];
}

for my $name (@SPLIT_PAGES) {
    my $orig = $PAGE{$name};
    loop_ok("$name split in two at every byte, proxy_buffering off",
            [ map { [ "/nb/$name?split=$_&delay=2", $orig ] } 1 .. length($orig) - 1 ]);
    loop_ok("$name split in three around every byte, proxy_buffering off",
            [ map { [ "/nb/$name?split=$_," . ($_ + 1) . '&delay=2', $orig ] }
                  1 .. length($orig) - 2 ]);
    loop_ok("$name bytewise, proxy_buffering off, HTTP/1.0 and chunked upstream",
            [ [ "/nb/$name?sizes=1&delay=1", $orig ],
              [ "/h11/$name?sizes=1&delay=1&chunked=1", $orig ],
              [ "/nb/$name?sizes=1&delay=1&nolength=1", $orig ] ]);
    loop_ok("$name through 7-byte proxy buffers at every alignment",
            [ map { [ "/b7/$name?pad=$_&sizes=3&delay=1", (' ' x $_) . $orig ] } 0 .. 6 ]);
    loop_ok("$name static through 7-byte output buffers at every alignment",
            [ map { [ $_ ? "/s7/pad$_/$name" : "/s7/$name", (' ' x $_) . $orig ] } 0 .. 6 ]);
}

# ---- proxied and static, buffered or not, big bodies ----

for my $loc (qw(nb bd b7 h11 static sendfile s7)) {
    for my $name (qw(head.html body.html big-head.html big-body.html)) {
        next if $loc eq 'b7' && $name =~ /^big/;    # 7-byte buffers: slow
        my $r = $t->raw(path => "/$loc/$name");
        is($r->status, 200, "/$loc/$name: 200");
        injected_ok($r->body, $PAGE{$name}, "/$loc/$name: " . describe($PAGE{$name}));
        if ($name =~ /^big/ || $loc eq 's7') {
            # the tag lands past the first buffer (of 7 bytes in s7): chunked
            ok(!$r->has_header('Content-Length') && $r->is_chunked,
               "/$loc/$name: no Content-Length, chunked");
        } else {
            is($r->header('Content-Length'), length $r->body,
               "/$loc/$name: Content-Length of the injected body");
        }
    }
}

# ---- HTTP framing of injected responses ----

$r = $t->raw(path => '/nb/big-head.html', version => '1.1');
ok($r->is_chunked, 'HTTP/1.1, tag late: injected response is chunked');
ok(!$r->has_header('Content-Length'), 'HTTP/1.1, tag late: no Content-Length');
$r = $t->raw(path => '/nb/big-head.html', version => '1.0');
ok($r->is_close_delimited, 'HTTP/1.0, tag late: injected response ends at close');
ok(!$r->has_header('Content-Length'), 'HTTP/1.0, tag late: no Content-Length');
injected_ok($r->body, $PAGE{'big-head.html'}, 'HTTP/1.0, tag late: injected');
$r = $t->raw(path => '/nb/head.html', version => '1.0');
ok(!$r->is_close_delimited && !$r->is_chunked,
   'HTTP/1.0, tag in the first buffer: framed by Content-Length');
is($r->header('Content-Length'), length $r->body, 'HTTP/1.0: Content-Length');
injected_ok($r->body, $PAGE{'head.html'}, 'HTTP/1.0: injected');

{
    # two requests on one keep-alive connection
    my $req = Chatvisor::HTTP::build_request(path => '/static/head.html',
                                             headers => [ Connection => 'keep-alive' ])
            . Chatvisor::HTTP::build_request(path => '/nb/body.html');
    my $p = $t->start_request($req);
    my $all = $p->read_to_eof(10);
    my $r1 = Chatvisor::HTTP::Response->parse($all, 'GET', 0);
    my $rest = substr($all, length $r1->raw);
    my $r2 = Chatvisor::HTTP::Response->parse($rest, 'GET', 1);
    injected_ok($r1->body, $PAGE{'head.html'}, 'keep-alive: first response');
    ok($r2, 'keep-alive: second response complete') and
        injected_ok($r2->body, $PAGE{'body.html'}, 'keep-alive: second response');
}

# ---- headers: only Content-Length goes ----

sub comparable_headers {
    my ($r) = @_;
    # ETag: checked on its own below; Accept-Ranges: nginx offers ranges
    # only on responses of known length
    my %skip = map { $_ => 1 } qw(date content-length transfer-encoding
                                  connection keep-alive etag accept-ranges);
    return [ map { "$_->[0]: $_->[1]" } grep { !$skip{ lc $_->[0] } } $r->headers ];
}

for my $case ([ 'proxied', '/nb/headers.html', '/off/headers.html', 'head.html' ],
              [ 'static', '/static/head.html', '/static-off/head.html', 'head.html' ])
{
    my ($what, $on, $off, $name) = @$case;
    my $ri = $t->raw(path => $on);
    my $ro = $t->raw(path => $off);
    injected_ok($ri->body, $PAGE{$name}, "$what: injected");
    is($ro->body, $PAGE{$name}, "$what: not injected with chatvisor_inject off");
    is($ro->header('Content-Length'), length $PAGE{$name},
       "$what: Content-Length kept when not injected");
    is($ri->header('Content-Length'), length($PAGE{$name}) + length($TAG),
       "$what: Content-Length corrected by the tag's length when injected");
    is_deeply(comparable_headers($ri), comparable_headers($ro),
              "$what: all other headers unchanged")
        or diag explain [ comparable_headers($ri), comparable_headers($ro) ];
    # SPEC 3: "nothing else of the response changes", so no weak ETag
    is($ri->header('ETag'), $ro->header('ETag'), "$what: ETag unchanged");
}
$r = $t->raw(path => '/nb/headers.html');
is_deeply([ $r->header_all('Set-Cookie') ], [ 'a=1; Path=/', 'b=2; Path=/; HttpOnly' ],
          'both Set-Cookie headers kept, in order');
is($r->header($_), $HDR_PAGE_HEADERS{$_}, "$_ kept")
    for grep { $_ ne 'ETag' } sort keys %HDR_PAGE_HEADERS;

# ---- content types ----

$r = $t->raw(path => '/nb/charset.html');
injected_ok($r->body, $PAGE{'head.html'}, 'text/html; charset=utf-8: injected');
$r = $t->raw(path => '/nb/type-case.html');
injected_ok($r->body, $PAGE{'head.html'},
            'Text/HTML; Charset=UTF-8: injected (media types are case-insensitive)');
for my $case ([ '/nb/plain.txt', $PAGE{'head.html'}, 'text/plain' ],
              [ '/nb/data.json', '{"html":"</head></body>"}', 'application/json' ],
              [ '/nb/no-type', $PAGE{'head.html'}, 'no Content-Type' ])
{
    my ($path, $orig, $what) = @$case;
    $r = $t->raw(path => $path);
    is($r->body, $orig, "$what: untouched");
    is($r->header('Content-Length'), length $orig, "$what: Content-Length kept");
}

# ---- status codes ----

for my $st (404, 500, 201) {
    $r = $t->raw(path => "/nb/status-$st.html");
    is($r->status, $st, "upstream $st passed");
    is($r->body, $PAGE{'head.html'}, "upstream $st: untouched");
    is($r->header('Content-Length'), length $PAGE{'head.html'},
       "upstream $st: Content-Length kept");
}
$r = $t->raw(path => '/static/no-such-page.html');
is($r->status, 404, "nginx's own 404 page");
is(scalar(find_tags($r->body)), 0, "nginx's own 404 page (HTML): no tag");
$r = $t->raw(path => '/nb/not-modified.html');
is($r->status, 304, 'upstream 304 passed');
is($r->body, '', 'upstream 304: no body');

# static 304 by If-Modified-Since
$r = $t->raw(path => '/static/head.html');
my $lm = $r->header('Last-Modified');
ok($lm, 'static page has Last-Modified');
$r = $t->raw(path => '/static/head.html', headers => [ 'If-Modified-Since' => $lm ]);
is($r->status, 304, 'static If-Modified-Since: 304');
is($r->body, '', 'static 304: no body');

# ---- Content-Encoding ----

# (decoded and injected since issue 13; t/21-inject-gzip.t has the rest)
$r = $t->raw(path => '/nb/gzip.html');
ok(!$r->has_header('Content-Encoding'), 'gzip upstream: decoded');
injected_ok($r->body, $gz_html, 'gzip upstream: injected');
$r = $t->raw(path => '/bd/gzip.html');
injected_ok($r->body, $gz_html, 'gzip upstream, buffered: injected');

# SPEC 9: the injector sits after gunzip and before gzip
$r = $t->raw(path => '/gz/head.html', headers => [ 'Accept-Encoding' => 'gzip' ]);
is($r->header('Content-Encoding'), 'gzip', 'gzip on: response compressed');
{
    my $plain;
    gunzip(\($r->body) => \$plain) or diag $GunzipError;
    injected_ok($plain // '', $PAGE{'head.html'}, 'gzip on: injected before compressing');
}
$r = $t->raw(path => '/gunzip/gzip.html');
ok(!$r->has_header('Content-Encoding'), 'gunzip on: client gets plain text');
injected_ok($r->body, $gz_html, 'gunzip on: injected after gunzip');

# ---- HEAD ----

for my $loc (qw(nb static)) {
    my $ri = $t->raw(method => 'HEAD', path => "/$loc/head.html");
    my $ro = $t->raw(method => 'HEAD', path => $loc eq 'nb' ? '/off/head.html'
                                                            : '/static-off/head.html');
    is($ri->status, 200, "HEAD /$loc: 200");
    ok(!$ri->has_header('Content-Length'),
       "HEAD /$loc: no Content-Length (a GET may be longer by the tag)");
    is($ro->header('Content-Length'), length $PAGE{'head.html'},
       "HEAD /$loc, chatvisor_inject off: Content-Length of the original");
    is_deeply(comparable_headers($ri), comparable_headers($ro),
              "HEAD /$loc: other headers as without injection");
}

# ---- ranges ----

my $orig = $PAGE{'head.html'};
for my $range ([ 0, 9 ], [ 20, 60 ], [ 0, length($orig) - 1 ]) {
    my ($from, $to) = @$range;
    $r = $t->raw(path => '/static/head.html',
                 headers => [ Range => "bytes=$from-$to" ]);
    is($r->status, 206, "Range bytes=$from-$to: 206");
    is($r->body, substr($orig, $from, $to - $from + 1),
       "Range bytes=$from-$to: the original bytes");
    is($r->header('Content-Range'), "bytes $from-$to/" . length $orig,
       "Range bytes=$from-$to: Content-Range");
}
$r = $t->raw(path => '/static/head.html', headers => [ Range => 'bytes=0-4,10-14' ]);
is($r->status, 206, 'multipart range: 206');
is(scalar(find_tags($r->body)), 0, 'multipart range: no tag');
like($r->body, qr/\Q<!DOC\E/, 'multipart range: first part');

# ---- subrequests (SSI include) ----

$r = $t->raw(path => '/ssi/main.html');
is($r->status, 200, 'SSI page: 200');
{
    my $want = '<html><head><title>T</title></head><body>main</body></html>';
    my @tags = find_tags($r->body);
    is(scalar @tags, 1, 'SSI page: one tag (none in the included subrequest)');
    is(strip_tags($r->body), $want, 'SSI page: included part and page intact');
    is($tags[0] && $tags[0]{offset}, index($want, '</body>'),
       "SSI page: tag before the main request's </body>");
}

# ---- streaming: the filter never holds the whole body ----

{
    # the upstream pauses 1.5 s before the last 20 bytes
    my $p = $t->start_request(path => '/nb/slow-head.html');
    # (chunk framing may cut the run of x, so count them)
    ok($p->wait_for(sub { $_[0] =~ /data-chatvisor/ && ($_[0] =~ tr/x//) >= 3990 }, 1.0),
       '</head> page: tag and the body so far arrive before the upstream ends');
    my $r = $p->finish;
    injected_ok($r->body, $slow_head, '</head> page, slow upstream: injected');

    $p = $t->start_request(path => '/nb/slow-body.html');
    ok($p->wait_for(sub { ($_[0] =~ tr/y//) >= 3990 }, 1.0),
       'no </head>: the body before </body> arrives before the upstream ends');
    $r = $p->finish;
    injected_ok($r->body, $slow_body, 'no </head>, slow upstream: injected before </body>');
}

done_testing;
