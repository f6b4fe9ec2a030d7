#!/usr/bin/perl

# Webhooks on the wire (docs/webhooks.md, "Answer, retries, order", "Where
# events go", "https"; SPEC 7): receivers that answer otherwise than 2xx,
# that hang, that speak https, and names resolved by nginx's resolver
# (a tiny DNS server, Chatvisor::DNS).
#
# nginx has ONE worker (it serves the chat and sends the webhooks), with
# chatvisor_webhook_allow_private on, chatvisor_webhook_timeout 2s,
# chatvisor_webhook_retry_schedule 0s 1s 1s 1s 1s, a resolver, and
# chatvisor_webhook_trusted_certificate with two self-signed certificates.
# One visitor message goes to ten endpoints at once, each its own receiver:
# - 302 is not followed: its Location is never requested, last_error says
#   'redirect to "..." not followed', and the next attempt delivers;
# - 410 disables the endpoint (status disabled, disabled_reason gone, the
#   delivery failed, last_error the first KB of the answer's body, cut
#   between UTF-8 characters); events meanwhile wait and go out once it is
#   enabled;
# - 429, 502, 503 and 504 with Retry-After: the next attempt is not sooner
#   than asked
#   (3 s and 2 s, where the schedule says 1 s);
# - a receiver that hangs: chat round trips (visitor post -> the other
#   tab's long-poll answer) stay fast in that same worker meanwhile; the
#   attempt times out after 2 s ("timed out after 2s while waiting for the
#   answer") and is retried, same webhook-id;
# - https with a certificate trusted through
#   chatvisor_webhook_trusted_certificate: delivered, signatures verified;
#   a certificate not trusted: never delivered, last_error "certificate
#   verify failed: ..."; a trusted certificate for another name:
#   "certificate does not match 127.0.0.1";
# - a URL with a name (resolved by nginx's resolver) is delivered;
# - a closed port: last_error "connection refused".
# Then a second nginx without allow_private, same resolver: names that
# resolve to loopback, private (one or several addresses), IPv6 loopback,
# or nothing at all are registered (201) but every delivery fails with a
# last_error saying why, and the receiver behind the loopback name never
# gets a request.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use JSON::PP ();
use Test::More;
use Time::HiRes qw(time sleep);

use Chatvisor::Test;
use Chatvisor::API;
use Chatvisor::Chat;
use Chatvisor::DNS;
use Chatvisor::Port ();
use Chatvisor::Receiver;
use Chatvisor::Webhooks qw(events_of wait_events check_requests count_type wait_until);

my $t = Chatvisor::Test->new;
my $dir = $t->testdir;
my @chars = ('A' .. 'Z', 'a' .. 'z', '0' .. '9');
my $crm_secret = join '', map { $chars[rand @chars] } 1 .. 40;
$t->write_file('crm.secret', "$crm_secret\n");

# certificates: good (trusted, for 127.0.0.1), rogue (not trusted), other
# (trusted, for another name)
sub cert {
    my ($name, $san) = @_;
    my $out = qx{openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \\
        -keyout $dir/$name.key -out $dir/$name.pem -days 2 -subj /CN=localhost \\
        -addext subjectAltName=$san 2>&1};
    die "openssl: $out" if $?;
    chmod 0644, "$dir/$name.key";
    return [ "$dir/$name.pem", "$dir/$name.key" ];
}
my $good  = cert('good', 'IP:127.0.0.1,DNS:localhost');
my $rogue = cert('rogue', 'IP:127.0.0.1,DNS:localhost');
my $other = cert('other', 'DNS:other.example');
$t->write_file('trusted.pem', $t->read_file('good.pem') . $t->read_file('other.pem'));

my $dns = Chatvisor::DNS->new(names => {
    'hooks.test' => ['127.0.0.1'],
    'ten.test'   => ['10.1.2.3'],
    'two.test'   => ['127.0.0.2', '192.168.1.1'],
    'v6.test'    => ['::1'],
})->start;

my $CONF = <<'EOF';
http {
    chatvisor_store %%TESTDIR%%/store;
    chatvisor_api_client crm %%TESTDIR%%/crm.secret;
    resolver 127.0.0.1:%%DNS%% valid=60s;
    resolver_timeout 2s;
    %%WEBHOOKS%%
    server {
        listen 127.0.0.1:%%PORT%%;
        location /chatvisor/ { chatvisor on; chatvisor_poll_timeout 10s; }
    }
}
EOF
$t->write_config($CONF, DNS => $dns->port, WEBHOOKS => <<"EOF");
chatvisor_webhook_allow_private on;
    chatvisor_webhook_timeout 2s;
    chatvisor_webhook_retry_schedule 0s 1s 1s 1s 1s;
    chatvisor_webhook_trusted_certificate $dir/trusted.pem;
EOF
$t->run;
# a worker's log lines for what went wrong are [info] or [notice]; nothing
# here may be louder than that

my $api = Chatvisor::API->new($t, client => 'crm', secret => $crm_secret);
$api->login;

sub must {
    my ($m, $p, $d, $want, $a) = @_;
    my $r = ($a // $api)->call($m, $p, $d);
    die "$m $p: $r->{status} $r->{content}\n" unless $r->{status} == ($want // 200);
    return $r->{json};
}

sub deliveries {
    my ($id, $a) = @_;
    return @{ must(GET => "webhooks/$id/deliveries", undef, 200, $a)->{items} };
}

# an endpoint for message.created at a receiver; its secret is the
# receiver's
my %EP;
sub endpoint {
    my ($name, $rx, $url) = @_;
    my $w = must(POST => 'webhooks', { url => $url // $rx->url("/$name"),
                                       events => ['message.created'] }, 201);
    $rx->secrets($w->{secret}) if $rx;
    $EP{$name} = { wh => $w, rx => $rx };
    return $w;
}

my $elsewhere = Chatvisor::Receiver->new->start;
my %rx = map { $_ => Chatvisor::Receiver->new->start } qw(redirect gone limited busy badgw gwtimeout hang dns);
$rx{good}  = Chatvisor::Receiver->new(tls => $good)->start;
$rx{rogue} = Chatvisor::Receiver->new(tls => $rogue)->start;
$rx{other} = Chatvisor::Receiver->new(tls => $other)->start;

$rx{redirect}->script(
    { status => 302, headers => { Location => $elsewhere->url('/elsewhere') } },
    { status => 301, headers => { Location => $elsewhere->url('/elsewhere') } });
# a body of 1413 bytes of UTF-8: last_error keeps its first KB, whole characters
my $gone_body = 'no such hook ' . ("\x{e9}" x 700);
$rx{gone}->script({ status => 410, body => $gone_body,
                    headers => { 'Content-Type' => 'text/plain; charset=utf-8' } });
$rx{limited}->script({ status => 429, headers => { 'Retry-After' => '3' } });
$rx{busy}->script({ status => 503, headers => { 'Retry-After' => '2' } });
$rx{badgw}->script({ status => 502, headers => { 'Retry-After' => '2' } });
$rx{gwtimeout}->script({ status => 504, headers => { 'Retry-After' => '3' } });
$rx{hang}->script({ hang => JSON::PP::true });

endpoint($_, $rx{$_}) for qw(redirect gone limited busy badgw gwtimeout hang good rogue other);
endpoint('dns', $rx{dns}, 'http://hooks.test:' . $rx{dns}->port . '/dns');
my $closed_port = Chatvisor::Port::free_port();
endpoint('closed', undef, "http://127.0.0.1:$closed_port/closed");

like($EP{good}{wh}{url}, qr{^https://127\.0\.0\.1:\d+/good$}, 'an https endpoint');

# ---- one message for all ----

my $v = Chatvisor::Chat::Visitor->new($t);
my $r = $v->post('to every receiver');
is($r->{status}, 201, 'a visitor writes') or diag $r->{content};
my $posted = time;
my $cursor = $r->{json}{seq};

# ---- the hang: the chat stays fast meanwhile ----

my @hung = wait_events($rx{hang}, sub { @_ >= 1 }, 5);
is(scalar @hung, 1, 'the hanging receiver has the request and does not answer');
my $hung_at = $hung[0]{at} / 1000;
{
    my $tab = $v->tab;
    my (@rt, $ok);
    for my $i (1 .. 10) {
        my $p = $tab->start_poll(after => $cursor);
        sleep 0.02;    # the poll is held
        my $t0 = time;
        my $w = $v->post("round trip $i");
        my $res = $p->result(timeout => 5);
        push @rt, time - $t0;
        $ok = $w->{status} == 201 && $res->{status} == 200
              && grep { (($_->{message} || {})->{text} // "") eq "round trip $i" }
                     @{ $res->{json}{events} || [] };
        last unless $ok;
        $cursor = $res->{json}{cursor};
    }
    my $during = time;
    ok($ok, 'ten chat round trips (post, then the other tab\'s long-poll answer) while it hangs');
    my @s = sort { $a <=> $b } @rt;
    ok($s[-1] < 0.5, sprintf('  each under 0.5 s (median %.0f ms, max %.0f ms)',
                             1000 * $s[@s / 2], 1000 * $s[-1]));
    ok($during - $hung_at < 2, '  all while the webhook attempt was still hanging (under 2 s)')
        or diag sprintf 'done %.2f s after the hanging request arrived', $during - $hung_at;
}

# ---- answers ----

# the redirect: not followed, last_error says so, delivered at the third
{
    # the retries come 1 s apart: a loaded machine may look after the
    # second attempt (the 301) already; the receiver's log below has all
    my $d = wait_until(sub {
        my $x = (deliveries($EP{redirect}{wh}{id}))[-1];
        $x && $x->{attempts} >= 1 && $x;
    }, 5);
    my $n = $d ? $d->{attempts} : 0;
    is($d && $d->{last_status_code}, (undef, 302, 301, 200)[$n > 3 ? 0 : $n],
       "302, 301, then 200: last_status_code of attempt $n");
    if ($n < 3) {
        is($d->{last_error}, 'redirect to "' . $elsewhere->url('/elsewhere') . '" not followed',
           '  last_error: redirect to "LOCATION" not followed');
        is($d->{status}, 'pending', '  pending: retried');
    }
    my @got = (wait_events($rx{redirect}, sub { @_ >= 3 }, 6))[0 .. 2];
    is_deeply([ map { $_ && $_->{answered} } @got ], [ 302, 301, 200 ],
              '  retried after the 302 and the 301, delivered at the third attempt');
    $d = wait_until(sub { my $x = (deliveries($EP{redirect}{wh}{id}))[-1];
                          $x->{status} eq 'delivered' && $x }, 3);
    ok($d, '  delivered');
    is(scalar(events_of($elsewhere->log)), 0, '  the Location was never requested');
    check_requests(\@got, name => 'redirect', secret => $EP{redirect}{wh}{secret},
                   secrets => [ $EP{redirect}{wh}{secret} ]);
}

# 410
{
    my $w = wait_until(sub {
        my $x = must(GET => "webhooks/$EP{gone}{wh}{id}");
        $x->{status} eq 'disabled' && $x;
    }, 5);
    ok($w, '410: the endpoint is disabled');
    is($w && $w->{disabled_reason}, 'gone', '  disabled_reason gone');
    my $d = (deliveries($EP{gone}{wh}{id}))[-1];
    is($d->{status}, 'failed', '  the delivery failed (not retried)');
    is($d->{attempts}, 1, '  after one attempt');
    is($d->{last_status_code}, 410, '  status 410');
    my $e = $d->{last_error} // '';
    ok(length $e > 500 && substr($gone_body, 0, length $e) eq $e,
       "  last_error: the start of the answer's body");
    my $bytes = do { my $x = $e; utf8::encode($x); length $x };
    ok($bytes <= 1024 && $bytes >= 1000, "  at most 1 KB of it ($bytes bytes), cut between "
                                         . 'characters');
}

# 429, 502, 503 and 504 with Retry-After
for my $c ([ limited => 429, 3 ], [ busy => 503, 2 ], [ badgw => 502, 2 ],
           [ gwtimeout => 504, 3 ]) {
    my ($name, $code, $after) = @$c;
    my @got = (wait_events($rx{$name}, sub { @_ >= 2 }, $after + 5))[0, 1];
    is_deeply([ map { $_ && $_->{answered} } @got ], [ $code, 200 ],
              "$code with Retry-After: $after: retried once, then delivered");
    my $gap = $got[1] ? ($got[1]{at} - $got[0]{at}) / 1000 : 0;
    ok($gap >= $after - 0.05, sprintf('  not sooner than Retry-After says (%.2f s after)', $gap));
    ok($gap < $after + 1.5, '  nor much later');
    is($got[1]{headers}{'webhook-id'}, $got[0]{headers}{'webhook-id'}, '  the same webhook-id');
}

# the hang's end
{
    my @got = (wait_events($rx{hang}, sub { @_ >= 2 }, 6))[0, 1];
    ok($got[1], 'the hanging attempt was retried');
    my $gap = $got[1] ? ($got[1]{at} - $got[0]{at}) / 1000 : 0;
    # the receiver's clock: on a loaded machine it may see the first
    # attempt a few hundred ms after nginx sent it (and started its timer)
    ok($gap >= 2.5 && $gap < 4.5, sprintf('  after the 2 s timeout and 1 s (%.2f s)', $gap));
    is($got[1]{headers}{'webhook-id'}, $got[0]{headers}{'webhook-id'}, '  the same webhook-id');
    my $d = wait_until(sub { my $x = (deliveries($EP{hang}{wh}{id}))[-1];
                             $x->{status} eq 'delivered' && $x }, 3);
    ok($d, '  delivered');
    is($d && $d->{attempts}, 2, '  at the second attempt');
    is($d && $d->{last_error}, undef, '  no last_error after the success');
    check_requests([ grep { defined } @got ], name => 'hang', secret => $EP{hang}{wh}{secret},
                   secrets => [ $EP{hang}{wh}{secret} ]);
}

# https, names, a closed port
{
    my @got = wait_events($rx{good}, sub { @_ >= 11 }, 5);
    is(scalar @got, 11, 'https, certificate trusted by chatvisor_webhook_trusted_certificate: '
                        . 'delivered (the first message and the ten round trips)');
    check_requests(\@got, name => 'https', secret => $EP{good}{wh}{secret},
                   secrets => [ $EP{good}{wh}{secret} ]);

    @got = wait_events($rx{dns}, sub { @_ >= 11 }, 5);
    is(scalar @got, 11, 'a name resolved by the resolver (hooks.test): delivered');
    is($got[0] && $got[0]{headers}{host}, 'hooks.test:' . $rx{dns}->port, '  Host: the name');
    check_requests(\@got, name => 'dns', secret => $EP{dns}{wh}{secret},
                   secrets => [ $EP{dns}{wh}{secret} ]);

    for my $c ([ rogue => qr/^certificate verify failed: self[- ]signed certificate/,
                 'a self-signed certificate that is not trusted' ],
               [ other => qr/^certificate does not match 127\.0\.0\.1$/,
                 'a trusted certificate for another name' ],
               [ closed => qr/^connection refused$/i, 'a closed port' ])
    {
        my ($name, $re, $what) = @$c;
        my $d = wait_until(sub { my $x = (deliveries($EP{$name}{wh}{id}))[-1];
                                 $x && $x->{attempts} >= 2 && $x }, 5);
        ok($d, "$what: attempted, and again");
        like($d && $d->{last_error} // '', $re, '  last_error says why')
            or diag $d && $d->{last_error};
        is($d && $d->{last_status_code}, undef, '  no status code');
        # the 5 attempts of the schedule are 1 s apart: a loaded machine
        # may look after the last one
        is($d && $d->{status}, $d && $d->{attempts} >= 5 ? 'failed' : 'pending',
           "  pending until the last attempt (attempts: @{[ $d ? $d->{attempts} : '-' ]})");
        is(scalar(events_of($EP{$name}{rx}->log)), 0, '  the receiver got no request')
            if $EP{$name}{rx};
    }
    my $d = wait_until(sub { my $x = (deliveries($EP{rogue}{wh}{id}))[-1];
                             $x->{status} eq 'failed' && $x }, 6);
    ok($d, 'the untrusted one fails after the last attempt of the schedule');
    is($d && $d->{attempts}, 5, '  5 attempts');
}

# the endpoint disabled by its 410 gets the events of meanwhile once enabled
{
    $v->post('while gone is disabled');
    wait_events($rx{good}, sub { @_ >= 12 }, 5);
    sleep 0.3;
    is(scalar(events_of($rx{gone}->log)), 1, 'disabled by a 410: nothing more is sent');
    $rx{gone}->then({ status => 200 });
    must(PATCH => "webhooks/$EP{gone}{wh}{id}", { status => 'enabled' });
    # the round trips above wrote ten messages meanwhile, then this one
    my @got = wait_events($rx{gone}, sub { count_type('message.created', @_) >= 12 }, 5);
    is($got[-1] && $got[-1]{json}{data}{message}{text}, 'while gone is disabled',
       'enabled again: what was written meanwhile goes out, to the last');
    is_deeply([ map { $_->{json}{data}{message}{text} } @got[1 .. 10] ],
              [ map { "round trip $_" } 1 .. 10 ], '  in order');
    my @d = deliveries($EP{gone}{wh}{id});
    is($d[-1]{status}, 'failed', '  the 410 one stays failed');
}

# ---- without allow_private: names that resolve to private addresses ----

my $t2;    # checked at done_testing, as $t is
{
    $t2 = Chatvisor::Test->new;
    $t2->write_file('crm.secret', "$crm_secret\n");
    $t2->write_config($CONF, DNS => $dns->port, WEBHOOKS =>
        'chatvisor_webhook_retry_schedule 0s 1m;');
    $t2->run;
    my $api2 = Chatvisor::API->new($t2, client => 'crm', secret => $crm_secret);
    $api2->login;
    my $port = $rx{dns}->port;
    $rx{dns}->reset;
    my %cases = (
        "http://hooks.test:$port/private" =>
            qr/^hooks\.test resolves to 127\.0\.0\.1, a private address \(chatvisor_webhook_allow_private is off\)$/,
        'http://ten.test/' =>
            qr/^ten\.test resolves to 10\.1\.2\.3, a private address/,
        'https://two.test/' =>
            qr/^two\.test resolves only to private addresses \(127\.0\.0\.2, 192\.168\.1\.1\)/,
        'http://v6.test/' => qr/^v6\.test resolves to ::1, a private address/,
        'http://nx.test/' => qr/^nx\.test could not be resolved \(3: Host not found\)$/,
    );
    my %id;
    for my $url (sort keys %cases) {
        my $w = must(POST => 'webhooks', { url => $url, events => ['message.created'] }, 201,
                     $api2);
        ok($w->{id}, "allow_private off: POST webhooks $url: 201 (a name is judged when sent)");
        $id{$url} = $w->{id};
    }
    my $v2 = Chatvisor::Chat::Visitor->new($t2);
    $v2->post('for private names');
    for my $url (sort keys %cases) {
        my $d = wait_until(sub { my ($x) = deliveries($id{$url}, $api2);
                                 $x && $x->{attempts} >= 1 && $x }, 5);
        ok($d, "  $url: its deliveries were attempted");
        like($d && $d->{last_error} // '', $cases{$url}, '  last_error says why')
            or diag $d && $d->{last_error};
        is($d && $d->{status}, 'pending', '  pending (retried on the schedule)');
    }
    is(scalar(events_of($rx{dns}->log)), 0,
       'the receiver behind hooks.test (127.0.0.1) got no request');
}

done_testing;
