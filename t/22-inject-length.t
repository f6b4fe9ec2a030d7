#!/usr/bin/perl

# The framing of injected pages: a page of known length whose tag lands in
# the first body buffer keeps Content-Length, corrected by the tag's length
# (one response, no chunked encoding, HTTP/1.0 keep-alive works); a page
# whose tag comes later, or whose length is not known, goes out chunked;
# a page that ends in its first buffer without any tag keeps its length as
# it was. Proxied (buffered and not) and static pages of several sizes,
# HEAD, 304, keep-alive, pages without </head>.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;

use Chatvisor::Test;
use Chatvisor::Upstream;
use Chatvisor::HTTP;
use Chatvisor::Widget qw(find_tags strip_tags);

my $HEAD = "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
    . "<title>t</title><link rel=\"stylesheet\" href=\"/s.css\"></head>\n<body>\n";

sub page {    # an article page of about $size bytes, </head> near the top
    my ($size, $head) = @_;
    $head //= $HEAD;
    my $tail = "</body></html>\n";
    my $row = "<div class=\"row\"><a href=\"/p\">item</a> text</div>\n";
    my $n = int(($size - length($head) - length($tail)) / length $row);
    $n = 0 if $n < 0;
    return $head . ($row x $n) . $tail;
}

my %PAGE;
$PAGE{"p$_.html"} = page($_ * 1024) for 1, 2, 8, 30, 100;
# </head> 20 KB into the page: past a first buffer of 1 KB
$PAGE{'late.html'} = page(40 * 1024, "<!DOCTYPE html>\n<html><head><style>"
    . ("p { color: red; }\n" x 1150) . "</style></head>\n<body>\n");
$PAGE{'body-only.html'} = "<html><body><p>no head</p></body></html>\n";
$PAGE{'no-tag.html'} = "<p>a fragment, neither head nor body end</p>\n";
# a fragment too long for one buffer: unchanged, but not known to be
# before its end
$PAGE{'no-tag-big.html'} = "<p>" . ("fragment " x 12000) . "</p>\n";

my %pages = map { ("/$_" => { body => $PAGE{$_} }) } keys %PAGE;
$pages{'/not-modified.html'} = { status => 304, body => '',
                                 headers => [ ETag => '"v1"' ] };
# the upstream promises more than it sends, then closes
$pages{'/short.html'} = { body => $PAGE{'p1.html'}, headers => [ 'Content-Length' => 5000 ] };
$pages{'/empty-short.html'} = { body => '', headers => [ 'Content-Length' => 5000 ] };
my $up = Chatvisor::Upstream->new(pages => \%pages)->start;

my $t = Chatvisor::Test->new;
$t->write_file("htdocs/$_", $PAGE{$_}) for keys %PAGE;

$t->write_config(<<'EOF', UP => $up->port);
http {
    server {
        listen 127.0.0.1:%%PORT%%;
        listen 127.0.0.1:%%PORT_H2%% http2;
        chatvisor_inject on;

        location /chatvisor/ { chatvisor on; }

        location /p/ {
            proxy_pass http://127.0.0.1:%%UP%%/;
            proxy_buffers 32 8k;
        }
        location /nb/ {
            proxy_pass http://127.0.0.1:%%UP%%/;
            proxy_buffering off;
        }
        location /h11/ {
            proxy_pass http://127.0.0.1:%%UP%%/;
            proxy_http_version 1.1;
            proxy_buffering off;
        }
        location /small/ {
            proxy_pass http://127.0.0.1:%%UP%%/;
            proxy_buffering off;
            proxy_buffer_size 1k;
        }
        location /off/ {
            chatvisor_inject off;
            proxy_pass http://127.0.0.1:%%UP%%/;
        }
        location /s/ {
            alias %%TESTDIR%%/htdocs/;
            sendfile off;
        }
        location /sf/ {
            alias %%TESTDIR%%/htdocs/;
            sendfile on;
        }
        location /s1k/ {
            alias %%TESTDIR%%/htdocs/;
            sendfile off;
            output_buffers 1 1k;
        }
    }
}
EOF
$t->run;

my $TAG;
{
    my ($tag) = find_tags($t->raw(path => '/nb/p1.html')->body);
    $TAG = $tag ? $tag->{html} : '';
    ok(length $TAG, 'the tag') or BAIL_OUT('no tag injected');
}

# '' when $r carries $orig with one tag before the first </head> (else
# </body>), framed as $framing says ('length': Content-Length of exactly the
# body, not chunked; 'chunked'; 'same': the original body and its length)
sub framing_error {
    my ($r, $orig, $framing) = @_;
    return 'status ' . $r->status if $r->status != 200;
    my $body = $r->body;
    my $cl = $r->header('Content-Length');
    if ($framing eq 'same') {
        return 'body changed' if $body ne $orig;
        return 'Content-Length ' . ($cl // 'none') . ', expected ' . length $orig
            if !defined $cl || $cl != length $orig;
        return 'chunked' if $r->is_chunked;
        return '';
    }
    my @tags = find_tags($body);
    return scalar(@tags) . ' tags' if @tags != 1;
    return 'another tag' if $tags[0]{html} ne $TAG;
    my $pos = $orig =~ m{</head>}i ? $-[0] : $orig =~ m{</body>}i ? $-[0] : -1;
    return "tag at $tags[0]{offset}, expected at $pos" if $tags[0]{offset} != $pos;
    return 'body around the tag changed' if strip_tags($body) ne $orig;
    if ($framing eq 'length') {
        return 'no Content-Length' unless defined $cl;
        return 'chunked' if $r->is_chunked;
        return "Content-Length $cl, body " . length $body if $cl != length $body;
        return "Content-Length $cl, expected the page's plus the tag's"
            if $cl != length($orig) + length($TAG);
    } else {
        return "Content-Length $cl" if defined $cl;
        return 'not chunked' unless $r->is_chunked;
    }
    return '';
}

sub framed_ok {
    my ($path, $name, $framing, %o) = @_;
    my $r = eval { $t->raw(path => $path, timeout => 10, %o) };
    my $err = $r ? framing_error($r, $PAGE{$name}, $framing) : "request failed: $@";
    is($err, '', "$path: $framing" . ($o{version} ? " (HTTP/$o{version})" : ''));
    return $r;
}

# ---- tag in the first buffer: Content-Length kept, corrected ----

for my $loc (qw(p nb h11 s sf)) {
    framed_ok("/$loc/p$_.html", "p$_.html", 'length') for 1, 2, 8, 30, 100;
    framed_ok("/$loc/body-only.html", 'body-only.html', 'length');
}
framed_ok('/h11/p2.html?chunked=1', 'p2.html', 'chunked');    # unknown length
framed_ok('/nb/p2.html?nolength=1', 'p2.html', 'chunked');
framed_ok('/p/p2.html', 'p2.html', 'length', version => '1.0');

# ---- tag later: chunked, still right ----

for my $loc (qw(p small nb s s1k)) {
    # buffered: the first call carries what was read (here all of it); not
    # buffered: one proxy_buffer_size (4 KB by default, 1 KB in small)
    my $want = $loc =~ /^(?:p|s)$/ ? 'length' : 'chunked';
    framed_ok("/$loc/late.html", 'late.html', $want);
}
{
    # the first buffer ends inside "</head>": chunked
    my $at = index($PAGE{'p2.html'}, '</head>') + 3;
    framed_ok("/nb/p2.html?split=$at&delay=50", 'p2.html', 'chunked');
    $at = index($PAGE{'p2.html'}, '</head>');
    framed_ok("/nb/p2.html?split=$at&delay=50", 'p2.html', 'chunked');
    framed_ok('/nb/p2.html?split=' . ($at + 7) . '&delay=50', 'p2.html', 'length');
}

# ---- no tag at all ----

for my $loc (qw(p nb s)) {
    framed_ok("/$loc/no-tag.html", 'no-tag.html', 'same');
}
for my $loc (qw(small s1k)) {
    # unchanged, but its first buffer is not its end: chunked
    my $r = $t->raw(path => "/$loc/no-tag-big.html");
    is($r->body, $PAGE{'no-tag-big.html'}, "/$loc/no-tag-big.html: unchanged");
    ok($r->is_chunked, "/$loc/no-tag-big.html: chunked");
}

# ---- keep-alive: responses framed by length follow one another ----

{
    my $req = join '', map {
        Chatvisor::HTTP::build_request(path => $_, headers => [ Connection => 'keep-alive' ])
    } qw(/p/p1.html /s/p8.html /small/late.html);
    $req .= Chatvisor::HTTP::build_request(path => '/nb/p2.html');
    my $p = $t->start_request($req);
    my $all = $p->read_to_eof(10);
    my @want = ([ 'p1.html', 'length' ], [ 'p8.html', 'length' ],
                [ 'late.html', 'chunked' ], [ 'p2.html', 'length' ]);
    for my $i (0 .. $#want) {
        my $r = eval { Chatvisor::HTTP::Response->parse($all, 'GET', $i == $#want) };
        if (!$r) { fail("keep-alive response $i: complete"); last }
        is(framing_error($r, $PAGE{ $want[$i][0] }, $want[$i][1]), '',
           "keep-alive response $i ($want[$i][0]): $want[$i][1]");
        $all = substr($all, length $r->raw);
    }
    is($all, '', 'keep-alive: nothing after the last response');
}

# HTTP/1.0 with keep-alive: possible again with a length
{
    my $r = $t->raw(path => '/p/p2.html', version => '1.0',
                    headers => [ Connection => 'keep-alive' ]);
    like($r->header('Connection') // '', qr/keep-alive/i,
         'HTTP/1.0 keep-alive: kept (the length is known)');
    is(framing_error($r, $PAGE{'p2.html'}, 'length'), '', 'HTTP/1.0 keep-alive: framed');
}

# ---- HEAD ----

for my $loc (qw(p s)) {
    my $r = $t->raw(method => 'HEAD', path => "/$loc/p2.html");
    is($r->status, 200, "HEAD /$loc: 200");
    ok(!$r->has_header('Content-Length'),
       "HEAD /$loc: no Content-Length (the GET's is longer by the tag)");
    is($r->body, '', "HEAD /$loc: no body");
}
{
    my $r = $t->raw(method => 'HEAD', path => '/off/p2.html');
    is($r->header('Content-Length'), length $PAGE{'p2.html'},
       'HEAD, chatvisor_inject off: Content-Length');
    # HEAD then GET on one connection
    my $req = Chatvisor::HTTP::build_request(method => 'HEAD', path => '/p/p2.html',
                                             headers => [ Connection => 'keep-alive' ])
            . Chatvisor::HTTP::build_request(path => '/p/p2.html');
    my $p = $t->start_request($req);
    my $all = $p->read_to_eof(10);
    my $r1 = Chatvisor::HTTP::Response->parse($all, 'HEAD', 0);
    my $r2 = $r1 && Chatvisor::HTTP::Response->parse(substr($all, length $r1->raw), 'GET', 1);
    ok($r2, 'HEAD then GET on one connection: both complete')
        and is(framing_error($r2, $PAGE{'p2.html'}, 'length'), '',
               'HEAD then GET: the GET framed by its length');
}

# ---- 304 ----

{
    my $r = $t->raw(path => '/s/p2.html');
    my $lm = $r->header('Last-Modified');
    $r = $t->raw(path => '/s/p2.html', headers => [ 'If-Modified-Since' => $lm ]);
    is($r->status, 304, 'static If-Modified-Since: 304');
    is($r->body, '', 'static 304: no body');
    ok(!$r->is_chunked, 'static 304: not chunked');
    $r = $t->raw(path => '/p/not-modified.html');
    is($r->status, 304, 'upstream 304: passed');
    is($r->body, '', 'upstream 304: no body');
}

# ---- HTTP/2 (curl, prior knowledge): the same length in a header ----

SKIP: {
    # (under make test-asan, libasan is preloaded for nginx: not for curl,
    # which hangs with it)
    local $ENV{LD_PRELOAD};
    delete $ENV{LD_PRELOAD};
    skip 'curl without HTTP/2', 4
        unless (`curl --version 2>/dev/null` // '') =~ /\bHTTP2\b/;
    for my $case ([ '/p/p8.html', 'p8.html', 'length' ],
                  [ '/small/late.html', 'late.html', 'chunked' ]) {
        my ($path, $name, $framing) = @$case;
        my $url = 'http://127.0.0.1:' . $t->port('H2') . $path;
        my $out = `curl -s --max-time 10 --http2-prior-knowledge -D - '$url'`;
        my ($head, $body) = split /\r\n\r\n/, $out, 2;
        $body //= '';
        my ($cl) = ($head // '') =~ /^content-length: (\d+)/mi;
        my @tags = find_tags($body);
        is(scalar(@tags) == 1 && strip_tags($body) eq $PAGE{$name} ? 'ok' : 'wrong body',
           'ok', "HTTP/2 $path: one tag, the page around it");
        if ($framing eq 'length') {
            is($cl, length $body, "HTTP/2 $path: content-length of the injected body");
        } else {
            ok(!defined $cl, "HTTP/2 $path: no content-length (the tag came late)");
        }
    }
}

# ---- an upstream that ends early: the response ends unfinished ----

for my $loc (qw(p nb)) {
    for my $name (qw(short.html empty-short.html)) {
        my $p = $t->start_request(path => "/$loc/$name");
        my $all = $p->read_to_eof(10);
        my ($head, $body) = split /\r\n\r\n/, $all, 2;
        my $cl = $head && $head =~ /^Content-Length: (\d+)/mi ? $1 : undef;
        ok(!defined $cl || length($body // '') < $cl,
           "/$loc/$name: the client can tell the page is cut short");
        framed_ok("/$loc/p2.html", 'p2.html', 'length');
    }
}
ok(!grep({ /exited on signal/ } split /\n/, $t->error_log), 'no worker crashed');

done_testing;
