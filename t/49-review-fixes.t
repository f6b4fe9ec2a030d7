#!/usr/bin/perl

# The findings of a code review, each through the real nginx:
# 1. a write that fails leaves nothing while its batch's others are stored
#    (a nested transaction per write in the group commit), tried on a store
#    that is full;
# 2. chatvisor_public_url: Secure cookies and https login / agent URLs
#    behind a proxy that ends TLS (and the cookie path and redirects it
#    names); nginx -t refuses a malformed one;
# 3. every JSON answer (and 204) says X-Content-Type-Options: nosniff;
# 4. the page URL agents, REST and webhooks see is origin and path, unless
#    chatvisor_page_url full;
# 5. chatvisor_inject on at server level leaves the console and the join
#    page alone (and still injects into the site's pages);
# 6. a world-readable API secret file is a warning; one over 1024
#    characters is refused, never cut;
# 7. a console's held poll ends with 401 at once when its agent logs out or
#    is disabled.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use JSON::PP ();
use Time::HiRes qw(time sleep);

use Chatvisor::Test;
use Chatvisor::Chat qw(ctl);
use Chatvisor::API;
use Chatvisor::HTTP ();

my $J = JSON::PP->new->utf8->canonical;
my @chars = ('A' .. 'Z', 'a' .. 'z', '0' .. '9');
sub secret { join '', map { $chars[rand @chars] } 1 .. ($_[0] // 40) }

my $t = Chatvisor::Test->new;
my $secret = secret();
$t->write_file('crm.secret', "$secret\n");
chmod 0600, $t->testdir . '/crm.secret';
$t->write_file('www/index.html', "<html><head><title>shop</title></head><body>hi</body></html>\n");

my $TMPL = <<'EOF';
worker_processes 2;
http {
    chatvisor_store %%TESTDIR%%/store size=64m;
    chatvisor_api_client crm %%TESTDIR%%/%%SECRET%%;
    chatvisor_limit_new_visitors off;
    server {
        listen 127.0.0.1:%%PORT%%;
        chatvisor_inject on;
        %%SERVER%%
        location / { root %%TESTDIR%%/www; }
        location /chatvisor/ { chatvisor on; chatvisor_poll_timeout 10s; }
    }
    server {
        listen 127.0.0.1:%%PORT_PUB%%;
        chatvisor_public_url https://chat.example.com/support/;
        chatvisor_page_url full;
        location /chatvisor/ { chatvisor on; chatvisor_poll_timeout 10s; }
    }
}
EOF

# ---- 6. the secret file; 2. a malformed public URL (nginx -t) ----

{
    chmod 0644, $t->testdir . '/crm.secret';
    $t->write_config($TMPL, SECRET => 'crm.secret', SERVER => '');
    my ($st, $out) = $t->test_config;
    is($st, 0, 'a world-readable secret file is accepted') or diag $out;
    like($out, qr/\[warn\].*crm\.secret.*readable by everyone/, '  with a warning naming the file');
    chmod 0600, $t->testdir . '/crm.secret';
    ($st, $out) = $t->test_config;
    unlike($out, qr/readable by everyone/, 'mode 0600: no warning');

    $t->write_file('long.secret', secret(1025) . "\n");
    $t->write_config($TMPL, SECRET => 'long.secret', SERVER => '');
    ($st, $out) = $t->test_config;
    isnt($st, 0, 'a secret of 1025 characters is refused');
    like($out, qr/chatvisor_api_client.*long\.secret|long\.secret.*chatvisor_api_client/, '  naming the file and the directive');
    like($out, qr/longer than 1024/, '  saying at most 1024');

    $t->write_file('big.secret', secret(5000));
    $t->write_config($TMPL, SECRET => 'big.secret', SERVER => '');
    ($st, $out) = $t->test_config;
    isnt($st, 0, 'a secret file of 5000 bytes is refused');

    my $s1024 = secret(1024);
    $t->write_file('max.secret', "$s1024\r\n");
    chmod 0600, $t->testdir . '/max.secret';
    $t->write_config($TMPL, SECRET => 'max.secret', SERVER => '');
    ($st, $out) = $t->test_config;
    is($st, 0, 'a secret of 1024 characters and CRLF is accepted') or diag $out;

    for my $bad ('chat.example.com/x/', 'https://', 'https:///x/', 'https://host',
                 'https://host/x', 'https://host/x/?a=1', 'ftp://host/x/',
                 'https://ho"st/x/') {
        $t->write_config($TMPL, SECRET => 'crm.secret',
                         SERVER => "chatvisor_public_url '$bad';");
        ($st, $out) = $t->test_config;
        isnt($st, 0, "nginx -t refuses chatvisor_public_url $bad");
        like($out, qr/chatvisor_public_url/, '  naming the directive');
    }
    $t->write_config($TMPL, SECRET => 'crm.secret',
                     SERVER => 'chatvisor_page_url some;');
    ($st, $out) = $t->test_config;
    isnt($st, 0, 'nginx -t refuses chatvisor_page_url some');
}

$t->write_config($TMPL, SECRET => 'crm.secret', SERVER => '');
$t->run;
my $store = $t->testdir . '/store';
my $port = $t->port;
my $pub = $t->port('PUB');

my $api = Chatvisor::API->new($t, client => 'crm', secret => $secret);
$api->login;
my $api_pub = Chatvisor::API->new($t, client => 'crm', secret => $secret, port => $pub);
$api_pub->login;

sub nosniff_ok {
    my ($r, $name) = @_;
    is($r->{headers}{'x-content-type-options'}, 'nosniff', "nosniff: $name ($r->{status})");
}

sub cookies_of {
    my ($r) = @_;
    my $sc = $r->{headers}{'set-cookie'};
    return ref $sc ? @$sc : defined $sc ? ($sc) : ();
}

# ---- 2. chatvisor_public_url ----

{
    my $v = Chatvisor::API::Visitor->new($t);
    my $r = $v->post('plain http');
    is($r->{status}, 201, 'a visitor on the plain server');
    my ($c) = grep { /^cv_visitor=/ } cookies_of($r);
    unlike($c // '', qr/;\s*Secure/i, '  cv_visitor without Secure (plain http, no public URL)');

    my $vp = Chatvisor::API::Visitor->new($t, port => $pub);
    $r = $vp->post('behind the proxy');
    is($r->{status}, 201, 'a visitor on the server with chatvisor_public_url https://...');
    ($c) = grep { /^cv_visitor=/ } cookies_of($r);
    like($c // '', qr/;\s*Secure/i, '  cv_visitor is Secure');

    $api->call(PUT => 'agents/ann', { name => 'Ann' });
    $r = $api->call(POST => 'agents/ann/login-url', {});
    like($r->{json}{url} // '', qr{^http://127\.0\.0\.1:$port/chatvisor/join#\S+$},
         'login URL on the plain server: from the request');
    $r = $api_pub->call(POST => 'agents/ann/login-url', {});
    like($r->{json}{url} // '', qr{^https://chat\.example\.com/support/join#\S+$},
         'login URL with chatvisor_public_url: https and its path');
    my ($token) = ($r->{json}{url} // '') =~ /#(\S+)/;

    $r = $api_pub->call(POST => 'customers/' . $vp->customer_id . '/agent-url',
                        { agent_id => 'ann' });
    like($r->{json}{url} // '', qr{^https://chat\.example\.com/support/join#\S+$},
         'agent URL of a customer with chatvisor_public_url');

    # the join on that server: a Secure cookie for the public path
    $r = Chatvisor::HTTP::http_json($pub, POST => '/chatvisor/v1/agent/join',
                                    { token => $token });
    is($r->{status}, 200, 'join on the public server');
    ($c) = grep { /^cv_agent=/ } cookies_of($r);
    like($c // '', qr/;\s*Secure/i, '  cv_agent is Secure');
    like($c // '', qr/;\s*Path=\/support\//, '  for the public path /support/');
    is($r->{json}{redirect}, '/support/agent/', '  the redirect is the public path');
}

# ---- 3. nosniff ----

{
    my $v = Chatvisor::API::Visitor->new($t);
    nosniff_ok($v->post('sniff?'), 'visitor post 201');
    nosniff_ok($v->events(after => 0, wait => 0), 'visitor poll 200');
    nosniff_ok(Chatvisor::HTTP::http_json($port, POST => '/chatvisor/v1/visitor/messages',
                                          { text => '' }), 'visitor post 400');
    nosniff_ok(Chatvisor::HTTP::http_json($port, POST => '/chatvisor/v1/visitor/typing',
                                          { typing => JSON::PP::true }), 'visitor typing 204');
    nosniff_ok(Chatvisor::HTTP::http_json($port, GET => '/chatvisor/v1/agent/me'), 'console 401');
    nosniff_ok($api->call(GET => 'agents', undef, spec_check => 0), 'API 200');
    nosniff_ok($api->call(GET => 'agents', undef, token => 'nope', spec_check => 0), 'API 401');
    nosniff_ok(Chatvisor::HTTP::http_json($port, GET => '/chatvisor/nothing'), '404');
}

# ---- 4. the page URL ----

my $page = "http://127.0.0.1:$port/shop/item?id=5&email=a%40b.example#reviews";
{
    my $v = Chatvisor::API::Visitor->new($t);
    my $r = $v->post('from a page', page_url => $page);
    is($r->{status}, 201, 'a first message with a page URL');
    $r = $api->call(GET => 'conversations/' . $v->conversation_id);
    is($r->{json}{page_url}, "http://127.0.0.1:$port/shop/item",
       'REST: the page URL without query and fragment');
    $r = $api->call(GET => 'customers/' . $v->customer_id);
    is($r->{json}{page_url}, "http://127.0.0.1:$port/shop/item", 'REST customer: the same');
    my $ann = Chatvisor::Chat::Agent->login($t, $store, 'ann', no_put => 1);
    $r = $ann->get('conversations/' . $v->conversation_id);
    my $seen = $J->encode($r->{json} // {});
    unlike($seen, qr/a%40b|reviews|id=5/, 'console: nothing of the query or fragment');
    like($seen, qr{/shop/item}, '  but the path');

    my $vp = Chatvisor::API::Visitor->new($t, port => $pub);
    $r = $vp->post('from a page', page_url => $page);
    $r = $api->call(GET => 'conversations/' . $vp->conversation_id);
    is($r->{json}{page_url}, $page, 'chatvisor_page_url full: the whole URL');
}

# ---- 5. injection: the site's pages, not chatvisor's own ----

{
    my $r = Chatvisor::HTTP::http_get($port, '/index.html');
    like($r->{content}, qr{<script[^>]+/chatvisor/widget\.js\?v=}, "a site's page gets the widget");
    for my $p ('/chatvisor/agent/', '/chatvisor/join') {
        $r = Chatvisor::HTTP::http_get($port, $p);
        is($r->{status}, 200, "$p: 200");
        like($r->{headers}{'content-type'} // '', qr{text/html}, '  HTML');
        unlike($r->{content}, qr{widget\.js\?v=}, '  without the widget');
    }
}

# ---- 7. held console polls end at logout and disable ----

{
    my $ann = Chatvisor::Chat::Agent->login($t, $store, 'ann', no_put => 1);
    my $ann2 = Chatvisor::Chat::Agent->login($t, $store, 'ann', no_put => 1);
    my $bob = Chatvisor::Chat::Agent->login($t, $store, 'bob');
    my $eve = Chatvisor::Chat::Agent->login($t, $store, 'eve');

    my $r = $ann->events(after => 0);
    my $cur = $r->{json}{cursor};
    my @held = map { $_->start_events(after => $cur) } $ann, $ann2, $bob, $eve;
    sleep 0.5;
    ok(!$_->ready, 'a console poll is held') for @held;

    $r = $ann->write(POST => 'logout');
    is($r->{status}, 204, 'ann logs out');
    my $res = $held[0]->result(timeout => 5);
    is($res->{status}, 401, "ann's held poll ends: 401");
    ok($res->{elapsed} < 3, sprintf('  at once (%.2f s after it started; timeout 10 s)', $res->{elapsed}));
    is($res->{json}{error}{code}, 'unauthorized', '  JSON error unauthorized');
    ok(!$held[1]->ready, "ann's other session's poll is still held");

    $r = $api->call(PUT => 'agents/bob', { enabled => JSON::PP::false });
    is($r->{status}, 200, 'bob is disabled (REST)');
    $res = $held[2]->result(timeout => 5);
    is($res->{status}, 401, "bob's held poll ends: 401");
    ok($res->{elapsed} < 3, sprintf('  at once (%.2f s)', $res->{elapsed}));

    # the others' polls go on (woken, nothing for them, held again)
    sleep 0.3;
    ok(!$held[3]->ready, "eve's poll is still held");

    # a new message still reaches the others
    my $v = Chatvisor::API::Visitor->new($t);
    $v->post('after the logout');
    $res = $held[3]->result(timeout => 5);
    is($res->{status}, 200, "eve's poll answers the next change: 200");
    $res = $held[1]->result(timeout => 5);
    is($res->{status}, 200, "ann's other session too");
}

# ---- 1. a nested transaction per write: a full store ----

$t->stop;
my $TMPL_FULL = <<'EOF';
http {
    chatvisor_store %%TESTDIR%%/%%STORE%% size=1m sync=off;
    chatvisor_limit_new_visitors off;
    chatvisor_limit_messages off;
    server {
        listen 127.0.0.1:%%PORT%%;
        location /chatvisor/ { chatvisor on; }
    }
}
EOF
$t->allow_log(qr/group commit failed/);
{
    # how many long messages fill the store, then the same less two in a
    # new one: room for short messages, not for a very long one
    my $big = 'x' x 4000;
    my $fill = sub {
        my ($v, $max) = @_;
        my ($n, $st) = (0, 0);
        while ($n < $max) {
            $st = $v->post("$n $big")->{status};
            last if $st != 201;
            $n++;
        }
        return ($n, $st);
    };
    $t->write_config($TMPL_FULL, STORE => 'full1');
    $t->run;
    my ($n, $st) = $fill->(Chatvisor::API::Visitor->new($t), 2000);
    is($st, 507, "the 1 MB store is full after $n long messages: 507");
    $t->stop;

    $t->write_config($TMPL_FULL, STORE => 'full2');
    $t->run;
    my $full = $t->testdir . '/full2';
    my $v = Chatvisor::API::Visitor->new($t);
    ($n, $st) = $fill->($v, $n - 2);
    is($st, 201, "a new store with $n of them");
    my $huge = "\x{1F600}" x 4096;    # 16 KB of UTF-8

    # a batch (one worker, sent together): short messages of the visitor
    # who filled it, and new visitors' long first messages, which fail
    # after their customer and conversation were written
    my @p = map {
        my $own = $_ % 2;
        $t->start_request(method => 'POST', path => '/chatvisor/v1/visitor/messages',
                          headers => [ 'Content-Type' => 'application/json',
                                       $own ? (Cookie => 'cv_visitor=' . $v->cookie) : () ],
                          body => $J->encode({ text => $own ? "short $_" : $huge }))
    } 1 .. 12;
    my (%count, @acked);
    for my $i (0 .. $#p) {
        my $r = $p[$i]->finish(timeout => 10);
        my $own = ($i + 1) % 2;
        $count{ ($own ? 'own ' : 'new ') . $r->status }++;
        push @acked, 'short ' . ($i + 1) if $own && $r->status == 201;
    }
    my $summary = join ' ', map { "$_ x$count{$_}" } sort keys %count;
    is(join(',', grep { !/ (201|507)$/ } keys %count), '', "every answer is 201 or 507: $summary");
    ok(!$count{'new 201'}, "  no new visitor's long message fit");

    my @conv = Chatvisor::Chat::ctl_conversations($full);
    is(scalar @conv, 1, "the failed new visitors left no conversation");
    my @texts = map { $_->{message}{text} } grep { $_->{type} eq 'message' }
                @{ $v->events($n)->{json}{events} || [] };
    ok(scalar @acked, '  some short messages fit');
    is_deeply(\@texts, \@acked, "the filling visitor's acknowledged messages are stored, in order");
    diag("batch: $summary");
}

done_testing;
