#!/usr/bin/perl

# Co-browsing's clocks (docs/cobrowse.md), nginx under libfaketime with
# the wall clock moved forward (the monotonic clock of nginx's timers is
# not faked, so the 5 s sweep runs in real time): a session ends
# agent_gone when the agent's view has not polled for 30 s, found by the
# sweep (the visitor's held chat poll hears it) or by the next request; a
# view held all along keeps it alive; the default max_duration of an hour.
#
# Skipped without libfaketime (Debian package faketime) and under make
# test-asan (libasan is preloaded and it does not share).

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(time sleep);

use Chatvisor::Test;
use Chatvisor::Chat;
use Chatvisor::Cobrowse qw(:all);

my ($lib) = grep { -f } map { "$_/faketime/libfaketime.so.1" }
            '/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib';
plan skip_all => 'libfaketime is not installed (Debian package faketime)' unless $lib;
plan skip_all => 'another library is preloaded (make test-asan)' if $ENV{LD_PRELOAD};

my $SWEEP = 5;      # seconds between sweeps, in real time

my $t = Chatvisor::Test->new;
my $clock = $t->write_file('clock', "+0\n");
my $offset = 0;
$t->write_config(<<'EOF');
env LD_PRELOAD;
env FAKETIME_TIMESTAMP_FILE;
env FAKETIME_NO_CACHE;
env FAKETIME_DONT_FAKE_MONOTONIC;
worker_processes 2;
http {
    chatvisor_store %%TESTDIR%%/store sync=off;
    # many visitors from one address: the abuse limits stay out of the way
    chatvisor_limit_new_visitors off;
    chatvisor_limit_messages off;
    server {
        listen 127.0.0.1:%%PORT%% reuseport;
        chatvisor_cobrowse on;
        location /chatvisor/ { chatvisor on; chatvisor_poll_timeout 20s; }
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

sub forward {
    my ($seconds) = @_;
    $offset += $seconds;
    $t->write_file('clock', "+$offset\n");
}

my $ann = Chatvisor::Chat::Agent->login($t, $t->testdir . '/store', 'ann');

sub active {
    my ($text) = @_;
    my ($v, $conv) = conversation($t, $text);
    is(cb_start($ann, $conv)->{status}, 201, "$text: asked");
    is(cb_decide($v, 'allow')->{status}, 200, "$text: allowed");
    is(cb_send($v, full_snapshot(), recorder => 'r', full => 1)->{status}, 204, "$text: recorded");
    return ($v, $conv);
}

# ---- the view stops polling: the sweep ends the session ----

my ($v1, $c1) = active('gone by the sweep');
is(cb_view($ann, $c1, after => 1, wait => 0)->{json}{state}, 'active', 'the view polled once');
my $g = cb_state($v1)->{json}{generation};
my $p = $v1->start_poll(after => 1, cobrowse => $g);
sleep 0.1;
forward(31);
my $res = $p->result(timeout => $SWEEP + 5);
my ($ev) = grep { $_->{type} eq 'cobrowse' } @{ $res->{json}{events} || [] };
ok($ev, 'the visitor\'s held chat poll hears of the end, from a sweep')
    or diag $res->{content};
is($ev && $ev->{state}, 'ended', '  ended');
is($ev && $ev->{reason}, 'agent_gone', '  reason agent_gone');
ok($res->{elapsed} < $SWEEP + 2, sprintf('  within a sweep (%.2f s)', $res->{elapsed}));
is(cb_view($ann, $c1, after => 1, wait => 0)->{json}{reason}, 'agent_gone',
   'the agent, back, reads why');

# ---- the next request ends it too ----

my ($v2, $c2) = active('gone at a request');
cb_view($ann, $c2, after => 1, wait => 0);
forward(31);
my $s = cb_state($v2);
is($s->{json}{state}, 'ended', 'a visitor\'s request 31 s later: ended at once');
is($s->{json}{reason}, 'agent_gone', '  agent_gone');
is(cb_send($v2, incremental(), recorder => 'r')->{status}, 410, 'the recorder is told: 410');

# ---- a view held all along keeps it alive ----

my ($v3, $c3) = active('kept by a held view');
my $view = cb_start_view($ann, $c3, after => 1);
for (1 .. 3) {
    sleep 0.2;
    forward(20);
    sleep $SWEEP + 1;     # every worker's sweep ran: the holder's touched it
}
is(cb_state($v3)->{json}{state}, 'active', 'a view held through 60 s of the clock: still active');
is(cb_send($v3, incremental(mark => 'still here'), recorder => 'r')->{status}, 204,
   'the recorder goes on');
$res = $view->result(timeout => 5);
is($res->{json}{events}[0]{data}{mark}, 'still here 1', 'and the held view gets it');

# ---- the default max_duration: an hour ----

my ($v4, $c4) = active('an hour long');
is(cb_state($v4)->{json}{max_duration_ms}, 3600000, 'max_duration_ms: 3600000');
forward(3600);
$s = cb_state($v4);
is($s->{json}{state}, 'ended', 'an hour later: ended');
is($s->{json}{reason}, 'max_duration', '  reason max_duration');

forward(-$offset);

done_testing;
