#!/usr/bin/perl

# Webhooks while the chat keeps the sending worker busy (docs/decisions.md
# "Webhook sending", the budget): real nginx with one worker (the chat's
# and the sender's), four endpoints receiving every event, and 16 visitors
# writing 40 messages each side by side, as fast as the worker answers,
# so the chat saturates it and the sender holds back to its budget.
#
# - Every endpoint gets every message.created and each conversation's
#   conversation.created, each conversation's events first arriving in
#   order, every request signed with its endpoint's secret.
# - They are not starved: every endpoint has events in hand before the
#   last write is acknowledged.
# - Once the writers stop they catch up: everything arrives within the
#   wait.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use POSIX ();
use Test::More;
use Time::HiRes qw(time);

use Chatvisor::Test;
use Chatvisor::API;
use Chatvisor::Receiver;
use Chatvisor::Webhooks qw(wait_events check_requests by_conversation
                           first_arrivals count_type);

my $WRITERS = 16;
my $EACH = 40;
my $ENDPOINTS = 4;

my $t = Chatvisor::Test->new;
my @chars = ('A' .. 'Z', 'a' .. 'z', '0' .. '9');
my $crm_secret = join '', map { $chars[rand @chars] } 1 .. 40;
$t->write_file('crm.secret', "$crm_secret\n");
$t->write_config(<<'EOF');
worker_processes 1;
http {
    chatvisor_store %%TESTDIR%%/store sync=off;
    chatvisor_limit_messages off;
    chatvisor_api_client crm %%TESTDIR%%/crm.secret;
    chatvisor_webhook_allow_private on;
    server {
        listen 127.0.0.1:%%PORT%%;
        location /chatvisor/ { chatvisor on; }
    }
}
EOF
$t->run;

my $api = Chatvisor::API->new($t, client => 'crm', secret => $crm_secret);
$api->login;

my (@rx, @ep);
for my $i (1 .. $ENDPOINTS) {
    my $rx = Chatvisor::Receiver->new->start;
    my $r = $api->call(POST => 'webhooks', { url => $rx->url("/e$i"),
                                             events => [qw(conversation.created
                                                           message.created)] });
    die "POST webhooks: $r->{status} $r->{content}\n" unless $r->{status} == 201;
    $rx->secrets($r->{json}{secret});
    push @rx, $rx;
    push @ep, $r->{json};
}

# the writers, each a process with its own visitor; each writes its
# conversation's messages one after another and reports the last one's
# acknowledgement time
my $started = time;
my @kids;
for my $w (1 .. $WRITERS) {
    pipe(my $r, my $wr) or die "pipe: $!\n";
    my $pid = fork // die "fork: $!\n";
    if ($pid == 0) {
        close $r;
        my $ok = eval {
            my $v = Chatvisor::API::Visitor->new($t);
            for my $i (1 .. $EACH) {
                my $res = $v->post("writer $w message $i", client_msg_id => "w$w-$i");
                die "post: $res->{status}\n" unless $res->{status} == 201;
            }
            print $wr sprintf("%s %.3f\n", $v->conversation_id, time);
            1;
        };
        close $wr;
        POSIX::_exit($ok ? 0 : 1);
    }
    close $wr;
    push @kids, [ $pid, $r ];
}

my (%conv_of, $last_ack, $failed);
for my $k (@kids) {
    my ($pid, $r) = @$k;
    my $line = <$r>;
    waitpid $pid, 0;
    $failed++ if $? || !defined $line;
    next unless defined $line;
    my ($conv, $at) = split ' ', $line;
    $conv_of{$conv} = 1;
    $last_ack = $at if !defined $last_ack || $at > $last_ack;
}
ok(!$failed, "$WRITERS writers wrote $EACH messages each, every one acknowledged");
diag sprintf('written in %.2f s', ($last_ack // time) - $started);

my $want = $WRITERS * ($EACH + 1);
for my $i (0 .. $#rx) {
    my $name = 'endpoint ' . ($i + 1);
    my @ev = wait_events($rx[$i], sub { scalar(first_arrivals(@_)) >= $want }, 60);
    my @first = first_arrivals(@ev);
    is(scalar @first, $want, "$name: all $want events arrived");
    is(count_type('message.created', @first), $WRITERS * $EACH,
       "  $WRITERS x $EACH message.created");
    is(count_type('conversation.created', @first), $WRITERS,
       "  $WRITERS conversation.created");

    my %by = by_conversation(@first);
    my @disorder;
    for my $c (sort keys %by) {
        my @seq = map { $_->{json}{type} eq 'conversation.created'
                        ? 0 : $_->{json}{data}{conversation}{seq} } @{ $by{$c} };
        push @disorder, "$c: @seq" if join(',', @seq) ne join(',', sort { $a <=> $b } @seq);
    }
    ok(!@disorder, "  each conversation's events first arrived in order")
        or diag join "\n", @disorder;
    is_deeply([ sort keys %by ], [ sort keys %conv_of ], '  the writers\' conversations');

    # not starved: events in hand while the chat was still writing
    my $early = grep { $_->{at} / 1000 < ($last_ack // 0) } @ev;
    ok($early > 0, "  events arrived while the writers wrote ($early)");

    check_requests(\@ev, name => $name, secret => $ep[$i]{secret},
                   secrets => [ $ep[$i]{secret} ]);
}

$_->stop for @rx;

done_testing;
