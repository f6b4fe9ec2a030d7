#!/usr/bin/perl

# Webhooks at least once, in order, through trouble (docs/webhooks.md,
# "Answer, retries, order"; SPEC 7). nginx with 4 workers,
# chatvisor_webhook_allow_private on, chatvisor_webhook_concurrency 4 and
# a short retry schedule (0s, then 1s again and again).
#
# 1. The receiver is down (its port closed) while five visitors write 50
#    messages; the deliveries fail with "connection refused" and wait.
#    Then it comes up on that port: all 50 message.created (and the five
#    conversation.created) arrive, once each, each conversation's events
#    in order, every signature verified.
# 2. The receiver answers slowly (300 ms) and the worker that sends the
#    webhooks is killed with -9 while deliveries are in flight (found by
#    the connections it holds to the receiver); more visitors write; then
#    nginx is reloaded while deliveries are in flight again. Every event
#    arrives at least once; an event that arrives twice carries the same
#    webhook-id and the same body each time; each conversation's events
#    first arrive in order.
#    Before the kill: the 8 conversations were sent side by side, at most
#    4 requests at once (chatvisor_webhook_concurrency 4), one at a time
#    per conversation.
# An endpoint disabled while 300 messages are written (more than the
# sender reads of the log at once) gets all 300, in order, once enabled.
# 3. nginx is stopped while deliveries wait (the receiver down again) and
#    started again on the same store: they are all delivered then.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use JSON::PP ();
use Test::More;
use Time::HiRes qw(time sleep);

use Chatvisor::Test;
use Chatvisor::API;
use Chatvisor::Port ();
use Chatvisor::Receiver;
use Chatvisor::Webhooks qw(events_of wait_events check_requests by_conversation
                           first_arrivals count_type wait_until);

my $t = Chatvisor::Test->new;
my @chars = ('A' .. 'Z', 'a' .. 'z', '0' .. '9');
my $crm_secret = join '', map { $chars[rand @chars] } 1 .. 40;
$t->write_file('crm.secret', "$crm_secret\n");
my $schedule = join ' ', '0s', ('1s') x 40;
$t->write_config(<<"EOF");
worker_processes 4;
http {
    chatvisor_store %%TESTDIR%%/store;
    # one visitor posts the chaos' messages as fast as it can
    chatvisor_limit_messages off;
    chatvisor_api_client crm %%TESTDIR%%/crm.secret;
    chatvisor_webhook_allow_private on;
    chatvisor_webhook_retry_schedule $schedule;
    chatvisor_webhook_concurrency 4;
    server {
        listen 127.0.0.1:%%PORT%%;
        location /chatvisor/ { chatvisor on; }
    }
}
EOF
$t->run;
$t->allow_log(qr/worker process \d+ exited on signal 9/);

my $api = Chatvisor::API->new($t, client => 'crm', secret => $crm_secret);
$api->login;

sub must {
    my ($m, $p, $d, $want) = @_;
    my $r = $api->call($m, $p, $d, spec_check => 'quiet');
    die "$m $p: $r->{status} $r->{content}\n" unless $r->{status} == ($want // 200);
    return $r->{json};
}

sub all_deliveries {
    my ($id) = @_;
    my (@all, $cursor);
    do {
        my $p = must(GET => "webhooks/$id/deliveries?limit=200"
                            . (defined $cursor ? "&cursor=$cursor" : ''));
        push @all, @{ $p->{items} };
        $cursor = $p->{next_cursor};
    } while (defined $cursor);
    return @all;
}

# writes: $n messages for each visitor, round robin; returns the
# acknowledged messages (their ids and conversations)
sub write_round {
    my ($visitors, $n, $tag) = @_;
    my @msgs;
    for my $i (1 .. $n) {
        for my $k (0 .. $#$visitors) {
            my $text = "$tag: visitor $k message $i";
            my $r = $visitors->[$k]->post($text, client_msg_id => "$tag-$k-$i");
            die "post: $r->{status} $r->{content}\n" unless $r->{status} == 201;
            push @msgs, { id => $r->{json}{id}, conv => $r->{json}{conversation_id},
                          seq => $r->{json}{seq}, text => $text };
        }
    }
    return @msgs;
}

# every written message and every conversation.created arrived at least
# once; each conversation's events first arrive in order; repeats are the
# same request
sub check_arrivals {
    my ($ev, $msgs, $name, %o) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my %got = map { (($_->{json}{data}{message} || {})->{id} // "") => 1 } @$ev;
    my @missing = grep { !$got{ $_->{id} } } @$msgs;
    ok(!@missing, "$name: all " . scalar(@$msgs) . ' messages arrived')
        or diag 'missing: ' . join ', ', map { $_->{text} } @missing;
    my %convs = map { $_->{conv} => 1 } @$msgs;
    my %created = map { $_->{json}{data}{conversation}{id} => 1 }
                  grep { $_->{json}{type} eq 'conversation.created' } @$ev;
    my @nocreated = grep { !$created{$_} } sort keys %convs;
    ok(!@nocreated, "$name: conversation.created for each of the "
                    . scalar(keys %convs) . ' conversations') or diag "@nocreated"
        unless $o{no_created};

    my %by = by_conversation(first_arrivals(@$ev));
    my @disorder;
    for my $c (sort keys %by) {
        my @seq = map { $_->{json}{type} eq 'conversation.created'
                        ? 0 : $_->{json}{data}{conversation}{seq} } @{ $by{$c} };
        push @disorder, "$c: @seq" if join(',', @seq) ne join(',', sort { $a <=> $b } @seq);
    }
    ok(!@disorder, "$name: each conversation's events first arrived in order")
        or diag join "\n", @disorder;

    my (%bodies, %wids);
    for my $e (@$ev) {
        $bodies{ $e->{json}{id} }{ $e->{body} } = 1;
        $wids{ $e->{json}{id} }{ $e->{headers}{'webhook-id'} // '' } = 1;
    }
    my @differ = grep { keys %{ $bodies{$_} } > 1 || keys %{ $wids{$_} } > 1 } sort keys %bodies;
    ok(!@differ, "$name: an event that arrived more than once was the same request "
                 . '(webhook-id and body)') or diag "@differ";
    my $repeats = @$ev - keys %bodies;
    if ($o{exactly_once}) {
        is($repeats, 0, "$name: none arrived twice");
    } else {
        note "$name: $repeats repeated arrival(s) of " . scalar(keys %bodies) . ' events';
    }
    return $repeats;
}

# ---- 1. the receiver is down ----

my $port = Chatvisor::Port::free_port();
my $D = must(POST => 'webhooks', { url => "http://127.0.0.1:$port/down",
                                   events => [qw(conversation.created message.created)] }, 201);
{
    my @v = map { Chatvisor::API::Visitor->new($t) } 1 .. 5;
    my $started = time;
    my @msgs = write_round(\@v, 10, 'down');
    is(scalar @msgs, 50, '50 messages written while the receiver is down');
    # an event is listed once it was tried or waits behind one that
    # failed (docs/webhooks.md): the sender may list the last ones a
    # moment after the heads' second attempts (it did under ASan)
    my $refused = wait_until(sub {
        my @d = all_deliveries($D->{id});
        my @tried = grep { $_->{attempts} >= 2 } @d;
        @tried >= 5 && @d >= 55 && \@d;
    }, 10);
    ok($refused, 'the head of each conversation was tried, and again');
    my @heads = grep { $_->{attempts} } @{ $refused || [] };
    is_deeply([ sort keys %{{ map { ($_->{last_error} // 'none') => 1 } @heads }} ],
              ['connection refused'], '  last_error: connection refused');
    is(scalar(grep { $_->{status} eq 'pending' } @{ $refused || [] }), 55,
       '  all 55 deliveries pending');
    sleep 0.5;

    my $rx = Chatvisor::Receiver->new(port => $port, secrets => [ $D->{secret} ])->start;
    my $up = time;
    my @ev = wait_events($rx, sub { @_ >= 55 }, 30);
    my $took = time - $up;
    is(scalar @ev, 55, sprintf('the receiver is up: 55 events arrive (in %.1f s)', $took));
    check_arrivals(\@ev, \@msgs, 'receiver down', exactly_once => 1);
    check_requests(\@ev, name => 'receiver down', secret => $D->{secret},
                   secrets => [ $D->{secret} ]);
    my @d = all_deliveries($D->{id});
    is(scalar(grep { $_->{status} eq 'delivered' } @d), 55, '  all 55 deliveries delivered');
    $rx->stop;
    must(DELETE => "webhooks/$D->{id}", undef, 204);
}

# ---- 2. kill -9 of the sending worker, a reload ----

# the workers holding established connections to a loopback port
sub workers_connected_to {
    my ($port) = @_;
    my %inode;
    for my $f ('/proc/net/tcp', '/proc/net/tcp6') {
        open my $fh, '<', $f or next;
        <$fh>;
        while (<$fh>) {
            my @x = split;
            my ($rport) = $x[2] =~ /:([0-9A-F]{4})$/ or next;
            $inode{ $x[9] } = 1 if hex($rport) == $port && $x[3] eq '01';
        }
    }
    my @pids;
    for my $pid ($t->worker_pids) {
        opendir my $dh, "/proc/$pid/fd" or next;
        for my $fd (readdir $dh) {
            my $l = readlink "/proc/$pid/fd/$fd" // next;
            if ($l =~ /^socket:\[(\d+)\]$/ && $inode{$1}) { push @pids, $pid; last }
        }
    }
    return @pids;
}

sub sender_from_log {
    my @pids = $t->error_log =~ /(\d+)#\d+: chatvisor: this worker sends the webhooks/g;
    my %live = map { $_ => 1 } $t->worker_pids;
    my ($last) = grep { $live{$_} } reverse @pids;
    return $last;
}

{
    my $rx = Chatvisor::Receiver->new->start;
    $rx->then({ status => 200, delay_ms => 300 });
    my $K = must(POST => 'webhooks', { url => $rx->url('/slow') }, 201);
    $rx->secrets($K->{secret});
    my @v = map { Chatvisor::API::Visitor->new($t) } 1 .. 8;
    my @msgs = write_round(\@v, 5, 'kill');
    wait_events($rx, sub { @_ >= 10 }, 10);

    my $holding = wait_until(sub { my @p = workers_connected_to($rx->port); @p ? \@p : undef }, 5);
    my $victim = $holding && $holding->[0];
    ok($victim && @$holding == 1, 'one worker holds connections to the receiver ('
                                  . ($victim // 'none') . ')')
        or $victim = sender_from_log();
    is(sender_from_log(), $victim, '  and its log says "this worker sends the webhooks"');
    my @before = events_of($rx->log);
    # up to here nothing was disturbed: the receiver holds each request 300
    # ms, so the requests that overlap in time were in flight together
    {
        my (%conv_busy, $max, @bad);
        my @iv = map { [ $_->{at}, $_->{at} + 300, $_->{json}{data}{conversation}{id} ] } @before;
        for my $i (0 .. $#iv) {
            my @with = grep { $iv[$_][0] < $iv[$i][1] && $iv[$i][0] < $iv[$_][1] } 0 .. $#iv;
            # requests of one endpoint at once: of those overlapping this
            # one's start
            my $n = grep { $iv[$_][0] <= $iv[$i][0] && $iv[$i][0] < $iv[$_][1] } 0 .. $#iv;
            $max = $n if !$max || $n > $max;
            push @bad, $iv[$i][2] if grep { $_ != $i && $iv[$_][2] eq $iv[$i][2]
                                           && $iv[$_][0] <= $iv[$i][0]
                                           && $iv[$i][0] < $iv[$_][1] - 50 } @with;
        }
        ok($max > 1 && $max <= 4, 'the 8 conversations are sent side by side, at most 4 '
                                  . "at once (chatvisor_webhook_concurrency 4): $max");
        ok(!@bad, '  one at a time per conversation') or diag "@bad";
    }
    my $before = @before;
    ok(kill('KILL', $victim), "kill -9 $victim while deliveries are in flight");
    push @msgs, write_round(\@v, 2, 'after kill');

    my $new = wait_until(sub { my $s = sender_from_log(); $s && $s != $victim && $s }, 10);
    ok($new, "another worker takes over ($new)");

    # in flight again, then a reload
    push @msgs, write_round(\@v, 2, 'before reload');
    wait_until(sub { workers_connected_to($rx->port) }, 5);
    ok($t->reload(no_wait_old => 1), 'reload while deliveries are in flight');
    push @msgs, write_round(\@v, 2, 'after reload');

    my $want = @msgs + 8;
    my @ev = wait_events($rx, sub {
        my %u = map { $_->{json}{id} => 1 } @_;
        keys %u >= $want;
    }, 40);
    my %u = map { $_->{json}{id} => 1 } @ev;
    is(scalar keys %u, $want, "every event arrived ($want: " . scalar(@msgs)
                              . ' messages, 8 conversations)');
    my $repeats = check_arrivals(\@ev, \@msgs, 'kill -9 and reload');
    check_requests(\@ev, name => 'kill -9 and reload', secret => $K->{secret},
                   secrets => [ $K->{secret} ]);
    note "$before requests had arrived when the worker was killed";

    my $d = wait_until(sub {
        my @d = all_deliveries($K->{id});
        @d == $want && !grep({ $_->{status} ne 'delivered' } @d) && \@d;
    }, 10);
    ok($d, "  all $want deliveries are recorded delivered");
    $rx->stop;
    must(DELETE => "webhooks/$K->{id}", undef, 204);
}

# ---- a backlog longer than one scan of the log ----

{
    my $rx = Chatvisor::Receiver->new->start;
    my $L = must(POST => 'webhooks', { url => $rx->url('/long'),
                                       events => ['message.created'] }, 201);
    $rx->secrets($L->{secret});
    must(PATCH => "webhooks/$L->{id}", { status => 'disabled' });
    my @v = map { Chatvisor::API::Visitor->new($t) } 1 .. 3;
    my @msgs = write_round(\@v, 100, 'backlog');
    must(PATCH => "webhooks/$L->{id}", { status => 'enabled' });
    my @ev = wait_events($rx, sub { @_ >= 300 }, 30);
    is(scalar @ev, 300, 'disabled while 300 messages were written (and 303 log entries), '
                        . 'then enabled: all 300 arrive');
    check_arrivals(\@ev, \@msgs, 'backlog', exactly_once => 1, no_created => 1);
    $rx->stop;
    must(DELETE => "webhooks/$L->{id}", undef, 204);
}

# ---- 3. a restart while deliveries wait ----

{
    my $port = Chatvisor::Port::free_port();
    my $R = must(POST => 'webhooks', { url => "http://127.0.0.1:$port/restart",
                                       events => ['message.created'] }, 201);
    my @v = map { Chatvisor::API::Visitor->new($t) } 1 .. 2;
    my @msgs = write_round(\@v, 5, 'restart');
    wait_until(sub { grep { $_->{attempts} } all_deliveries($R->{id}) }, 5);
    $t->stop;
    ok(1, 'nginx stopped with 10 deliveries waiting');
    $t->run;
    $api->login;
    my $rx = Chatvisor::Receiver->new(port => $port, secrets => [ $R->{secret} ])->start;
    my @ev = wait_events($rx, sub { @_ >= 10 }, 15);
    is(scalar @ev, 10, 'started again, the receiver up: the 10 arrive');
    my %got = map { (($_->{json}{data}{message} || {})->{id} // "") => 1 } @ev;
    is(scalar(grep { $got{ $_->{id} } } @msgs), 10, '  every message written before the stop');
    check_requests(\@ev, name => 'restart', secret => $R->{secret}, secrets => [ $R->{secret} ]);
    $rx->stop;
}

done_testing;
