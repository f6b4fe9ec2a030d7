#!/usr/bin/perl

# The abuse limits, through the real nginx (2 workers: the counts are in
# the shared zone, so they hold whichever worker a request reaches):
# new visitors per client address (chatvisor_limit_new_visitors), messages
# per customer (chatvisor_limit_messages), typing notices (one per 2 s per
# conversation and side), one open conversation per customer, the
# cookie-less poll answered at once, and the API client lockout (per
# address and name; a right secret is never refused; an unknown name is
# answered as a wrong secret). Each refusal is 429 with Retry-After and a
# JSON error, and stores nothing. Also: the defaults (30 new visitors a
# minute) and what nginx -t says of a bad rate.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use HTTP::Tiny;
use JSON::PP ();
use Time::HiRes qw(time sleep);

use Chatvisor::Test;
use Chatvisor::Chat qw(ctl);
use Chatvisor::API;

my $J = JSON::PP->new->utf8->canonical;

my @chars = ('A' .. 'Z', 'a' .. 'z', '0' .. '9');
sub secret { join '', map { $chars[rand @chars] } 1 .. 40 }

my $t = Chatvisor::Test->new;
my $crm_secret = secret();
$t->write_file('crm.secret', "$crm_secret\n");
chmod 0600, $t->testdir . '/crm.secret';

my $TMPL = <<'EOF';
worker_processes 2;
http {
    chatvisor_store %%TESTDIR%%/store size=64m;
    chatvisor_api_client crm %%TESTDIR%%/crm.secret;
    %%LIMITS%%
    server {
        listen 127.0.0.1:%%PORT%%;
        location /chatvisor/ { chatvisor on; chatvisor_poll_timeout 10s; }
    }
}
EOF

# ---- nginx -t: the rates ----

for my $bad ('30', '30r', '30r/d', '0r/m', 'r/m', '-1r/s', '30 r/m', 'on') {
    $t->write_config($TMPL, LIMITS => "chatvisor_limit_new_visitors \"$bad\";");
    my ($st, $out) = $t->test_config;
    isnt($st, 0, "nginx -t refuses chatvisor_limit_new_visitors \"$bad\"");
    like($out, qr/chatvisor_limit_new_visitors/, '  naming the directive');
}
for my $good ('30r/m', '2r/s', '100r/h', 'off') {
    $t->write_config($TMPL, LIMITS => "chatvisor_limit_messages $good;");
    my ($st, $out) = $t->test_config;
    is($st, 0, "nginx -t accepts chatvisor_limit_messages $good") or diag $out;
}
$t->write_config($TMPL, LIMITS => "chatvisor_limit_messages 5r/m; chatvisor_limit_messages 6r/m;");
my ($dst, $dout) = $t->test_config;
isnt($dst, 0, 'nginx -t refuses chatvisor_limit_messages twice');

# ---- a client from a given loopback address ----

sub from {
    my ($addr, $method, $path, %o) = @_;
    my %h = (Accept => 'application/json', %{ $o{headers} || {} });
    my %args = (headers => \%h);
    if (exists $o{json}) {
        $args{content} = $J->encode($o{json});
        $h{'Content-Type'} = 'application/json';
    }
    my $started = time;
    my $r = HTTP::Tiny->new(local_address => $addr, timeout => 15, keep_alive => 0,
                            max_redirect => 0)
        ->request($method, 'http://127.0.0.1:' . $t->port . $path, \%args);
    $r->{elapsed} = time - $started;
    $r->{json} = eval { $J->decode($r->{content}) }
        if ($r->{headers}{'content-type'} // '') =~ /json/;
    my $sc = $r->{headers}{'set-cookie'};
    for my $c (ref $sc ? @$sc : defined $sc ? ($sc) : ()) {
        $r->{cookie} = $1 if $c =~ /^cv_visitor=([^;]+)/;
    }
    return $r;
}

sub new_visitor {
    my ($addr, $text) = @_;
    return from($addr, POST => '/chatvisor/v1/visitor/messages',
                json => { text => $text // 'hello' });
}

sub as_visitor {
    my ($addr, $cookie, $method, $path, %o) = @_;
    return from($addr, $method, "/chatvisor/$path", %o,
                headers => { Cookie => "cv_visitor=$cookie" });
}

sub limited_ok {
    my ($r, $name, $max) = @_;
    my $ok = is($r->{status}, 429, "$name: 429");
    $ok &&= is(ref $r->{json} eq 'HASH' && ref $r->{json}{error} eq 'HASH'
               && $r->{json}{error}{code}, 'rate_limited', '  JSON error rate_limited');
    $ok &&= ok(length($r->{json}{error}{message} // ''), '  with a message');
    my $ra = $r->{headers}{'retry-after'} // '';
    $ok &&= ok($ra =~ /^\d+$/ && $ra >= 1 && $ra <= $max, "  Retry-After: $ra (1 to $max s)");
    is($r->{headers}{'x-content-type-options'}, 'nosniff', '  nosniff');
    diag("answer: $r->{status} $r->{content}") unless $ok;
    return $ra;
}


# ---- limits set low ----

$t->write_config($TMPL, LIMITS => 'chatvisor_limit_new_visitors 5r/m; '
                                . 'chatvisor_limit_messages 4r/m;');
$t->run;
my $store = $t->testdir . '/store';
my $api = Chatvisor::API->new($t, client => 'crm', secret => $crm_secret);
$api->login;

my $conv_count = sub { scalar(my @c = Chatvisor::Chat::ctl_conversations($store)) };

# new visitors: 5 a minute per address, whichever worker
{
    my @ok = map { new_visitor('127.0.0.1', "new $_") } 1 .. 5;
    is_deeply([ map { $_->{status} } @ok ], [ (201) x 5 ], '5 new visitors from 127.0.0.1: 201 each');
    my $before = $conv_count->();
    my $r = new_visitor('127.0.0.1', 'the sixth');
    my $ra = limited_ok($r, 'the 6th new visitor from 127.0.0.1', 60);
    ok($ra >= 5, "  Retry-After says when the next one is allowed (~12 s): $ra");
    ok(!defined $r->{cookie}, '  no cookie');
    is($conv_count->(), $before, '  nothing stored');

    $r = new_visitor('127.0.0.2', 'from elsewhere');
    is($r->{status}, 201, 'a new visitor from 127.0.0.2: 201 (the limit is per address)');

    # a visitor who has a cookie is no new visitor
    $r = as_visitor('127.0.0.1', $ok[0]{cookie}, POST => 'v1/visitor/messages',
                    json => { text => 'still here' });
    is($r->{status}, 201, 'a known visitor from the limited address still posts: 201');

    # a forged cookie is a new visitor: limited
    $r = as_visitor('127.0.0.1', 'cus_forged.AAAA', POST => 'v1/visitor/messages',
                    json => { text => 'forged' });
    limited_ok($r, 'a forged cookie from the limited address', 60);
}

# messages: 4 a minute per customer (the first message, from a new
# visitor, is counted as a new visitor)
{
    my $first = new_visitor('127.0.0.3', 'first');
    is($first->{status}, 201, 'visitor A: first message');
    my $cookie = $first->{cookie};
    my @st = map { as_visitor('127.0.0.3', $cookie, POST => 'v1/visitor/messages',
                              json => { text => "msg $_" })->{status} } 1 .. 4;
    is_deeply(\@st, [ (201) x 4 ], 'visitor A: 4 more messages: 201 each');
    my $r = as_visitor('127.0.0.3', $cookie, POST => 'v1/visitor/messages',
                       json => { text => 'one too many' });
    limited_ok($r, 'visitor A: the 5th within the minute', 60);

    my $h = as_visitor('127.0.0.3', $cookie, GET => 'v1/visitor/events?after=0&wait=0');
    my @texts = map { $_->{message}{text} } grep { $_->{type} eq 'message' }
                @{ $h->{json}{events} || [] };
    is_deeply(\@texts, [ 'first', map { "msg $_" } 1 .. 4 ],
              '  the refused message was not stored');

    my $other = new_visitor('127.0.0.3', 'B first');
    is($other->{status}, 201, 'visitor B on the same address is not limited by A');
    $r = as_visitor('127.0.0.3', $other->{cookie}, POST => 'v1/visitor/messages',
                    json => { text => 'B second' });
    is($r->{status}, 201, '  B: 201');
}

# one open conversation per customer: concurrent first posts of one cookie
{
    my $v = new_visitor('127.0.0.4', 'opener');
    my $conv = $v->{json}{conversation_id};
    my @p = map {
        $t->start_request(method => 'POST', path => '/chatvisor/v1/visitor/messages',
                          headers => [ 'Content-Type' => 'application/json',
                                       Cookie => "cv_visitor=$v->{cookie}" ],
                          body => $J->encode({ text => "c$_" }))
    } 1 .. 3;
    my @conv = map {
        my $r = $_->finish(timeout => 10);
        my $j = eval { $J->decode($r->body) } || {};
        $j->{conversation_id} // "status " . $r->status;
    } @p;
    is_deeply(\@conv, [ ($conv) x 3 ], 'concurrent posts of one customer: one conversation');
    my $cus = ($v->{cookie} =~ /^([^.]+)/)[0];
    my @mine = grep { $_->{customer_id} eq $cus && $_->{status} eq 'open' }
               Chatvisor::Chat::ctl_conversations($store);
    is(scalar @mine, 1, '  the customer has one open conversation');
}

# typing: one notice per 2 s per conversation and side; more are answered
# 204 and dropped (the widget types every 2 s, and jitter is no error)
{
    my $v = new_visitor('127.0.0.5', 'typing test');
    my $conv = $v->{json}{conversation_id};
    my $ann = Chatvisor::Chat::Agent->login($t, $store, 'ann');
    my $cur = $ann->events(after => 0)->{json}{cursor};
    my $vcur = $v->{json}{seq};

    my $typing_v = sub {
        as_visitor('127.0.0.5', $v->{cookie}, POST => 'v1/visitor/typing',
                   json => { typing => $_[0] // JSON::PP::true })
    };
    my $heard = sub {       # does the held poll answer with a typing event?
        my ($p) = @_;
        my $r = $p->try_result(timeout => 1.5) or do { $p->close; return 0 };
        return ($r->{status} // 0) == 200
               && grep { $_->{type} eq 'typing' } @{ $r->{json}{events} || [] };
    };

    my $p = $ann->start_events(after => $cur);
    sleep 1;    # the poll is held by then, even on a loaded machine
    is($typing_v->()->{status}, 204, 'visitor typing: 204');
    ok($heard->($p), '  the agent hears it');

    $p = $ann->start_events(after => $cur);
    sleep 1;    # the poll is held by then, even on a loaded machine
    is($typing_v->()->{status}, 204, 'visitor typing again at once: 204');
    ok(!$heard->($p), '  the agent does not hear it (one per 2 s)');

    # the agent's side has its own
    my $vp = Chatvisor::Chat::start($t, GET => "v1/visitor/events?after=$vcur",
                                    headers => { Cookie => "cv_visitor=$v->{cookie}" });
    sleep 1;    # the poll is held by then, even on a loaded machine
    is($ann->write(POST => "conversations/$conv/typing", { typing => JSON::PP::true })->{status},
       204, 'agent typing in the same conversation: 204');
    ok($heard->($vp), '  the visitor hears it');
    $vp = Chatvisor::Chat::start($t, GET => "v1/visitor/events?after=$vcur",
                                 headers => { Cookie => "cv_visitor=$v->{cookie}" });
    sleep 1;    # the poll is held by then, even on a loaded machine
    is($ann->write(POST => "conversations/$conv/typing", { typing => JSON::PP::true })->{status},
       204, 'agent typing again at once: 204');
    ok(!$heard->($vp), '  the visitor does not hear it');

    $p = $ann->start_events(after => $cur);
    sleep 1;    # the poll is held by then, even on a loaded machine
    is($typing_v->()->{status}, 204, 'visitor typing 2 s later: 204');
    ok($heard->($p), '  the agent hears it');
}

# the cookie-less poll is answered at once
{
    my $r = from('127.0.0.6', GET => '/chatvisor/v1/visitor/events?after=0');
    is($r->{status}, 200, 'a poll without a cookie: 200');
    ok($r->{elapsed} < 2, sprintf('  at once (%.3f s; the poll timeout is 10 s)', $r->{elapsed}));
    is_deeply($r->{json}{events}, [], '  no events');
    $r = as_visitor('127.0.0.6', 'cus_forged.AAAA', GET => 'v1/visitor/events?after=0');
    ok($r->{status} == 200 && $r->{elapsed} < 2,
       sprintf('  a forged cookie too (%d, %.3f s)', $r->{status}, $r->{elapsed}));
}

# ---- the API client lockout ----

sub token_from {
    my ($addr, $client, $secret) = @_;
    return from($addr, POST => '/chatvisor/api/v1/auth/token',
                json => { grant_type => 'client_credentials', client_id => $client,
                          client_secret => $secret });
}

{
    my @st = map { token_from('127.0.0.7', 'crm', "wrong-$_-" . secret())->{status} } 1 .. 5;
    is_deeply(\@st, [ (401) x 5 ], 'crm from 127.0.0.7: 5 wrong secrets, 401 each');
    my $r = token_from('127.0.0.7', 'crm', 'wrong-again-' . secret());
    limited_ok($r, 'the 6th wrong secret from 127.0.0.7', 60);

    $r = token_from('127.0.0.7', 'crm', $crm_secret);
    is($r->{status}, 200, 'the right secret from the throttled address: 200');
    ok($r->{json} && $r->{json}{access_token}, '  with a token');

    $r = token_from('127.0.0.8', 'crm', 'wrong-' . secret());
    is($r->{status}, 401, 'a wrong secret for crm from 127.0.0.8: 401 (per address)');

    # an unknown client: the same answers as a wrong secret
    my @u = map { token_from('127.0.0.9', 'nobody', secret()) } 1 .. 6;
    is_deeply([ map { $_->{status} } @u ], [ (401) x 5, 429 ],
              'an unknown client: 401 five times, then 429');
    my @w = map { token_from('127.0.0.10', 'crm', secret()) } 1 .. 6;
    is($u[0]{content}, $w[0]{content}, '  the 401 body is that of a wrong secret');
    is($u[5]{content}, $w[5]{content}, '  the 429 body is that of a wrong secret');
    is(join(',', sort grep { !/^(date|client-)/ } keys %{ $u[5]{headers} }),
       join(',', sort grep { !/^(date|client-)/ } keys %{ $w[5]{headers} }),
       '  with the same headers');
}

# ---- the defaults: 30 new visitors a minute ----

$t->stop;
$t->write_config($TMPL, LIMITS => '');
$t->run;
# A bucket of N refills one token every period / N: sent as fast as they
# go, N are taken at once and one more per refill during the sending (on a
# loaded machine 60 requests can take more than a second). Sends until the
# first answer that is not 201 and returns it.
sub until_limited {
    my ($name, $burst, $refill, $send) = @_;
    my $started = time;
    my ($n, $r) = (0);
    while (1) {
        $r = $send->($n + 1);
        last if $r->{status} != 201 || $n > $burst + 1000;
        $n++;
    }
    my $took = time - $started;
    my $most = $burst + 1 + int($took / $refill);
    ok($n >= $burst && $n <= $most,
       sprintf('%s: %d accepted in %.2f s (%d at once, at most %d by then)',
               $name, $n, $took, $burst, $most));
    return $r;
}

{
    my $r = until_limited('default: new visitors from one address', 30, 2,
                          sub { new_visitor('127.0.0.11', "d$_[0]") });
    limited_ok($r, 'default: the one after them', 60);

    my $v = new_visitor('127.0.0.12', 'm0');
    $r = until_limited('default: messages of one customer', 60, 1, sub {
        as_visitor('127.0.0.12', $v->{cookie}, POST => 'v1/visitor/messages',
                   json => { text => "m$_[0]" }) });
    limited_ok($r, 'default: the one after them', 60);
}

# ---- off ----

$t->stop;
$t->write_config($TMPL, LIMITS => 'chatvisor_limit_new_visitors off; chatvisor_limit_messages off;');
$t->run;
{
    my @st = map { new_visitor('127.0.0.13', "o$_")->{status} } 1 .. 40;
    is_deeply(\@st, [ (201) x 40 ], 'off: 40 new visitors from one address: 201');
}

is_deeply([ $t->bad_log_lines ], [], 'no alerts or crashes in the error log');

done_testing;
