#!/usr/bin/perl

# Webhooks over days (docs/webhooks.md: "so do 5 days without a success",
# "Delivered and failed deliveries are kept for 7 days"), nginx under
# libfaketime with the wall clock moved forward (its monotonic clock, which
# nginx's timers use, is not faked; the receivers are not faked at all).
#
# One worker, chatvisor_webhook_retry_schedule 0s and then 1s many times.
# An endpoint whose receiver is up gets a message; one whose port is closed
# fails from then on. 5 days and a minute later the failing one is
# disabled at its next attempt (status disabled, disabled_reason failing),
# its delivery still pending; the other is not. 7 days and an hour after
# the first message, the delivered delivery is pruned by the sender (a new
# message wakes it), the new one listed, the pending one kept.
#
# Skipped without libfaketime (Debian package faketime) and under make
# test-asan (libasan is preloaded and it does not share).

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(sleep);

use Chatvisor::Test;
use Chatvisor::API;
use Chatvisor::Port ();
use Chatvisor::Receiver;
use Chatvisor::Webhooks qw(wait_events check_requests wait_until);

my ($lib) = grep { -f } map { "$_/faketime/libfaketime.so.1" }
            '/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib';
plan skip_all => 'libfaketime is not installed (Debian package faketime)' unless $lib;
plan skip_all => 'another library is preloaded (make test-asan)' if $ENV{LD_PRELOAD};

my $t = Chatvisor::Test->new;
my @chars = ('A' .. 'Z', 'a' .. 'z', '0' .. '9');
my $secret = join '', map { $chars[rand @chars] } 1 .. 40;
$t->write_file('crm.secret', "$secret\n");
my $clock = $t->write_file('clock', "+0\n");
my $schedule = join ' ', '0s', ('1s') x 30;
$t->write_config(<<"EOF");
env LD_PRELOAD;
env FAKETIME_TIMESTAMP_FILE;
env FAKETIME_NO_CACHE;
env FAKETIME_DONT_FAKE_MONOTONIC;
http {
    chatvisor_store %%TESTDIR%%/store;
    chatvisor_api_client crm %%TESTDIR%%/crm.secret;
    chatvisor_webhook_allow_private on;
    chatvisor_webhook_retry_schedule $schedule;
    server {
        listen 127.0.0.1:%%PORT%%;
        location /chatvisor/ { chatvisor on; }
    }
}
EOF
{
    local $ENV{LD_PRELOAD} = $lib;
    local $ENV{FAKETIME_TIMESTAMP_FILE} = $clock;
    local $ENV{FAKETIME_NO_CACHE} = 1;
    local $ENV{FAKETIME_DONT_FAKE_MONOTONIC} = 1;
    $t->run;
}

my $api = Chatvisor::API->new($t, client => 'crm', secret => $secret);
$api->login;

sub must {
    my ($m, $p, $d, $want) = @_;
    my $r = $api->call($m, $p, $d);
    die "$m $p: $r->{status} $r->{content}\n" unless $r->{status} == ($want // 200);
    return $r->{json};
}

sub deliveries { @{ must(GET => "webhooks/$_[0]/deliveries")->{items} } }

my $rx = Chatvisor::Receiver->new->start;
my $P = must(POST => 'webhooks', { url => $rx->url('/up'), events => ['message.created'] }, 201);
$rx->secrets($P->{secret});
my $closed = Chatvisor::Port::free_port();
my $F = must(POST => 'webhooks', { url => "http://127.0.0.1:$closed/down",
                                   events => ['message.created'] }, 201);

my $v = Chatvisor::API::Visitor->new($t);
is($v->post('day one')->{status}, 201, 'a visitor writes (day 0)');
my @ev = wait_events($rx, sub { @_ >= 1 }, 5);
check_requests(\@ev, name => 'day 0', secret => $P->{secret}, secrets => [ $P->{secret} ]);
my ($first) = wait_until(sub { my ($d) = deliveries($P->{id}); $d && $d->{status} eq 'delivered' && $d }, 5);
ok($first, '  delivered to the endpoint that is up');
my $failing = wait_until(sub { my ($d) = deliveries($F->{id}); $d && $d->{attempts} >= 2 && $d }, 5);
ok($failing, '  the other one fails, and again');
is(must(GET => "webhooks/$F->{id}")->{status}, 'enabled', '  it stays enabled for now');

# ---- 5 days and a minute later ----

$t->write_file('clock', '+' . (5 * 86400 + 60) . "\n");
$api->login;    # the token's hour is long over
my $w = wait_until(sub { my $x = must(GET => "webhooks/$F->{id}");
                         $x->{status} eq 'disabled' && $x }, 5);
ok($w, '5 days without a success: the failing endpoint is disabled at its next attempt');
is($w && $w->{disabled_reason}, 'failing', '  disabled_reason failing');
my ($d) = deliveries($F->{id});
is($d->{status}, 'pending', '  its delivery waits, pending');
is(must(GET => "webhooks/$P->{id}")->{status}, 'enabled', 'the endpoint that succeeded stays enabled');

# ---- 7 days and an hour after day 0 ----

$t->write_file('clock', '+' . (7 * 86400 + 3600) . "\n");
$api->login;
is($v->post('a week later')->{status}, 201, 'a week later the visitor writes again');
@ev = wait_events($rx, sub { @_ >= 2 }, 5);
is(scalar @ev, 2, '  it is delivered');
my $pruned = wait_until(sub {
    my @d = deliveries($P->{id});
    @d == 1 && $d[0]{status} eq 'delivered' && \@d;
}, 5);
ok($pruned, 'the delivery delivered more than 7 days ago is pruned');
isnt($pruned && $pruned->[0]{id}, $first->{id}, '  the list has the new one only');
($d) = deliveries($F->{id});
is($d && $d->{id}, $failing->{id}, 'a pending delivery is kept, however old');

$t->write_file('clock', "+0\n");

done_testing;
