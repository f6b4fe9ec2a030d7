#!/usr/bin/perl

# The widget asset served by a `chatvisor on` location: PREFIX widget.js
# (at the tag's ?v=HASH URL cached for a year as immutable), ETag
# revalidation, gzip for clients that take it, its size within its budget
# (co-browsing's recorder and replay are assets of their own), and a ?v=HASH in the injected tag that is the first 16 hex digits of the
# SHA-256 of the plain widget.js body. Unknown paths under the prefix are a
# JSON 404.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Digest::SHA qw(sha256_hex);
use IO::Uncompress::Gunzip qw(gunzip $GunzipError);
use JSON::PP ();

use Chatvisor::Test;
use Chatvisor::Widget qw(find_tags);

my $t = Chatvisor::Test->new;
my $page = "<html><head><title>a</title></head><body>x</body></html>";
$t->write_file('htdocs/index.html', $page);

$t->write_config(<<'EOF');
http {
    chatvisor_store %%TESTDIR%%/store;
    root %%TESTDIR%%/htdocs;

    server {
        listen 127.0.0.1:%%PORT%%;
        location /chatvisor/ { chatvisor on; }
        location / { chatvisor_inject on; }
    }

    server {
        listen 127.0.0.1:%%PORT_P%%;
        chatvisor_prefix /support/chat/;
        location /support/chat/ { chatvisor on; }
        location / { chatvisor_inject on; }
    }
}
EOF
$t->run;

my $JS = '/chatvisor/widget.js';

# ---- plain ----

my $r = $t->raw(path => $JS);
is($r->status, 200, 'widget.js: 200');
like($r->header('Content-Type') // '', qr{\A(?:application|text)/javascript\b}i,
     'widget.js: JavaScript content type');
my $etag = $r->header('ETag');
ok(defined $etag && length $etag, 'widget.js: ETag');
ok(!$r->has_header('Content-Encoding'), 'widget.js: plain without Accept-Encoding');
my $plain = $r->body;
ok(length $plain > 0, 'widget.js: a body (' . length($plain) . ' bytes)');
is(scalar(find_tags($plain)), 0, 'widget.js: nothing injected into it');
my $hash = substr(sha256_hex($plain), 0, 16);

$r = $t->raw(path => $JS, version => '1.0');
is($r->body, $plain, 'widget.js over HTTP/1.0: same body');

# ---- the injected tag points at this very content ----

$r = $t->raw(path => '/index.html');
my ($tag) = find_tags($r->body);
ok($tag, 'page has a tag');
is($tag && $tag->{src}, "/chatvisor/widget.js?v=$hash",
   'tag src is PREFIX widget.js?v= first 16 hex of SHA-256(widget.js)');

# the URL the tag names is cached for good (without ?v or with another v
# the module may choose a shorter policy: not asserted)
my $VJS = "$JS?v=$hash";
$r = $t->raw(path => $VJS);
is($r->status, 200, 'widget.js?v=HASH: 200');
ok($r->body eq $plain, 'widget.js?v=HASH: same body');
is($r->header('Cache-Control'), 'public, max-age=31536000, immutable',
   'widget.js?v=HASH: immutable caching for a year');
like($r->header('Content-Type') // '', qr{\A(?:application|text)/javascript\b}i,
     'widget.js?v=HASH: JavaScript content type');
is($r->header('ETag'), $etag, 'widget.js?v=HASH: same ETag');
$r = $t->raw(path => "$JS?v=0000000000000000");
is($r->status, 200, 'widget.js with another ?v: 200 (the query does not pick content)');

# ---- revalidation ----

$r = $t->raw(path => $JS, headers => [ 'If-None-Match' => $etag ]);
is($r->status, 304, 'If-None-Match with the ETag: 304');
is($r->body, '', '304: no body');
$r = $t->raw(path => $VJS, headers => [ 'If-None-Match' => $etag ]);
is($r->status, 304, 'widget.js?v=HASH, If-None-Match with the ETag: 304');
$r = $t->raw(path => $JS, headers => [ 'If-None-Match' => '"something-else"' ]);
is($r->status, 200, 'If-None-Match with another ETag: 200');
ok($r->body eq $plain, 'If-None-Match with another ETag: full body');

# ---- gzip ----

for my $ae ('gzip', 'gzip, deflate, br', 'br;q=1.0, gzip;q=0.8') {
    $r = $t->raw(path => $VJS, headers => [ 'Accept-Encoding' => $ae ]);
    is($r->status, 200, "Accept-Encoding: $ae: 200");
    is($r->header('Content-Encoding'), 'gzip', "Accept-Encoding: $ae: gzip");
    like(join(', ', $r->header_all('Vary')), qr/\bAccept-Encoding\b/i,
         "Accept-Encoding: $ae: Vary: Accept-Encoding");
    is($r->header('Cache-Control'), 'public, max-age=31536000, immutable',
       "Accept-Encoding: $ae: same caching");
    my $out;
    my $ok = gunzip(\($r->body) => \$out);
    ok($ok, "Accept-Encoding: $ae: body gunzips") or diag $GunzipError;
    ok(defined $out && $out eq $plain, "Accept-Encoding: $ae: gunzips to the plain body");
    ok(length $r->body < length $plain, "Accept-Encoding: $ae: smaller than plain");
}
# ---- size: the widget's budget; co-browsing is not in it ----

# Every visitor's first page loads widget.js: it must stay small. The
# co-browsing recorder (rrweb) is its own asset, loaded only after consent;
# the console's replay too (docs/performance.md, "Browser assets").
my $WIDGET_GZIP_BUDGET = 20 * 1024;
$r = $t->raw(path => $VJS, headers => [ 'Accept-Encoding' => 'gzip' ]);
my $gz_size = length $r->body;
ok($gz_size > 0 && $gz_size <= $WIDGET_GZIP_BUDGET,
   "widget.js gzip: $gz_size bytes, within its budget of $WIDGET_GZIP_BUDGET");
for my $asset ('cobrowse.js', 'cobrowse-replay.js') {
    my $a = $t->raw(path => "/chatvisor/$asset");
    is($a->status, 200, "$asset: served on its own");
    like($a->header('Content-Type') // '', qr{javascript}i, "$asset: JavaScript");
    ok(length($a->body) > $gz_size, "$asset: larger than the widget, and not in it");
}
unlike($plain, qr/rr_width|takeFullSnapshot/, 'widget.js: no rrweb in it');

$r = $t->raw(path => $JS, headers => [ 'Accept-Encoding' => 'identity' ]);
ok(!$r->has_header('Content-Encoding'), 'Accept-Encoding: identity: plain');
ok($r->body eq $plain, 'Accept-Encoding: identity: plain body');

# ---- HEAD ----

$r = $t->raw(method => 'HEAD', path => $JS);
is($r->status, 200, 'HEAD widget.js: 200');
is($r->body, '', 'HEAD widget.js: no body');
is($r->header('ETag'), $etag, 'HEAD widget.js: same ETag');
like($r->header('Content-Type') // '', qr{javascript}i, 'HEAD widget.js: content type');

# ---- unknown paths: JSON 404 ----

for my $path ('/chatvisor/nope', '/chatvisor/widget.jsx', '/chatvisor/widget.js/x',
              '/chatvisor/', '/chatvisor/../chatvisor/nope')
{
    $r = $t->raw(path => $path);
    is($r->status, 404, "$path: 404");
    like($r->header('Content-Type') // '', qr{\Aapplication/json\b}, "$path: JSON");
    my $j = eval { JSON::PP->new->decode($r->body) };
    ok($j, "$path: body is JSON") or diag $r->body;
    is($j && ref $j->{error} eq 'HASH' && $j->{error}{code}, 'not_found',
       "$path: error.code is not_found");
    ok($j && ref $j->{error} eq 'HASH' && defined $j->{error}{message}
          && !ref $j->{error}{message} && length $j->{error}{message},
       "$path: error.message is a string");
}

# ---- another prefix ----

my $P = $t->port('P');
$r = $t->raw(path => '/support/chat/widget.js', port => $P);
is($r->status, 200, 'prefix /support/chat/: widget.js 200');
ok($r->body eq $plain, 'prefix /support/chat/: same widget.js');
$r = $t->raw(path => '/chatvisor/widget.js', port => $P);
isnt($r->status, 200, 'prefix /support/chat/: nothing at /chatvisor/widget.js');
$r = $t->raw(path => '/index.html', port => $P);
($tag) = find_tags($r->body);
is($tag && $tag->{src}, "/support/chat/widget.js?v=$hash",
   'prefix /support/chat/: tag src with the same hash');

ok(-d $t->testdir . '/store', 'chatvisor_store directory exists');

done_testing;
