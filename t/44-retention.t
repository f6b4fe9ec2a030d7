#!/usr/bin/perl

# Retention (docs/directives.md chatvisor_retention, docs/decisions.md
# "Retention and erasure"): two workers with chatvisor_retention 3s. A
# closed conversation is purged by the background purge once its close is
# older than 3 s (with its events: GET conversations?since= no longer shows
# it, and its client_msg_ids are free again); an open one and one closed
# just now are kept. Expired one-time login tokens are swept with or
# without retention; a second nginx without chatvisor_retention keeps its
# closed conversation. The purge's steps are logged with their size, which
# stays within the budget of a step; after a reload the new workers purge. Bad values of the directive fail
# nginx -t.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(sleep time);

use Chatvisor::Test;
use Chatvisor::API;
use Chatvisor::Chat qw(ctl);

my $RETENTION = 3;       # seconds
my $BUDGET = 256;        # CV_PURGE_BUDGET (engine/cv_retention.h)

my @chars = ('A' .. 'Z', 'a' .. 'z', '0' .. '9');
my $secret = join '', map { $chars[rand @chars] } 1 .. 40;

sub start_nginx {
    my ($retention) = @_;
    my $t = Chatvisor::Test->new;
    $t->write_file('crm.secret', "$secret\n");
    $t->write_config(<<"EOF");
worker_processes 2;
http {
    chatvisor_store %%TESTDIR%%/store;
    chatvisor_api_client crm %%TESTDIR%%/crm.secret;
    $retention
    server {
        listen 127.0.0.1:%%PORT%%;
        location /chatvisor/ { chatvisor on; }
    }
}
EOF
    $t->run;
    my $api = Chatvisor::API->new($t, client => 'crm', secret => $secret);
    $api->login;
    return ($t, $api);
}

sub wait_until {
    my ($what, $secs, $cond) = @_;
    my $until = time + $secs;
    while (time < $until) {
        return 1 if $cond->();
        sleep 0.2;
    }
    return $cond->();
}

sub since_ids {
    my ($api) = @_;
    my $r = $api->call(GET => 'conversations?since=0&limit=100');
    return { map { $_->{id} => 1 } @{ $r->{json}{items} || [] } };
}

# ---- nginx -t refuses bad values ----

{
    my $t = Chatvisor::Test->new;
    for my $bad ('0', '-1s', 'soon', '0s') {
        $t->write_config(<<"EOF");
http {
    chatvisor_store %%TESTDIR%%/store;
    chatvisor_retention $bad;
    server { listen 127.0.0.1:%%PORT%%; }
}
EOF
        my ($st, $out) = $t->test_config;
        isnt($st, 0, "chatvisor_retention $bad fails nginx -t");
        like($out, qr/chatvisor_retention.*off or a time of at least 1s|invalid value "\Q$bad\E"/,
             '... naming what it takes');
    }
    $t->write_config(<<'EOF');
http {
    chatvisor_store %%TESTDIR%%/store;
    chatvisor_retention 30d;
    server { listen 127.0.0.1:%%PORT%%; location / { chatvisor_retention off; } }
}
EOF
    my ($st, $out) = $t->test_config;
    isnt($st, 0, 'chatvisor_retention is not allowed in a location');
}

# ---- retention on ----

my ($t, $api) = start_nginx("chatvisor_retention ${RETENTION}s;");
my $store = $t->testdir . '/store';

my $old = Chatvisor::Chat::Visitor->new($t);
is($old->post('old secret one', client_msg_id => 'o-1')->{status}, 201, 'a visitor writes');
is($old->post('old secret two', client_msg_id => 'o-2')->{status}, 201, '... twice');
my $old_conv = $old->post('old secret three')->{json}{conversation_id};
ok($old_conv, "in $old_conv");
is($api->call(POST => "conversations/$old_conv/messages",
              { text => 'an answer', client_msg_id => 'a-1' })->{status}, 201,
   'the API answers');
is($api->call(POST => "conversations/$old_conv/close", {})->{status}, 200, 'and closes it');
my $closed_at = time;

my $open = Chatvisor::Chat::Visitor->new($t);
my $open_conv = $open->post('still talking')->{json}{conversation_id};
ok($open_conv, 'another visitor keeps an open conversation');

ctl('agent-put', '--store', $store, '--id', 'ann', '--name', 'Ann');
like(ctl('login-url', '--store', $store, '--agent', 'ann', '--ttl', '1'),
     qr/#\S+/, 'a login URL living 1 s');
like(ctl('stats', '--store', $store), qr/^login_tokens: 1$/m, 'its token is stored');

ok(since_ids($api)->{$old_conv}, 'the closed conversation is in the REST poll');
is($api->call(GET => "conversations/$old_conv")->{status}, 200, '... and still there');

ok(wait_until('purged', $RETENTION + 10,
              sub { $api->call(GET => "conversations/$old_conv", undef,
                               spec_check => 'quiet')->{status} == 404 }),
   'the closed conversation is purged');
my $took = time - $closed_at;
cmp_ok($took, '>=', $RETENTION - 0.5, sprintf('not before %d s (%.1f s)', $RETENTION, $took));

ok(!since_ids($api)->{$old_conv}, 'the REST poll no longer shows it');
ok(since_ids($api)->{$open_conv}, '... but the open one');
is($api->call(GET => "conversations/$open_conv")->{status}, 200, 'the open one is kept');
my $msgs = $api->call(GET => "conversations/$old_conv/messages");
is($msgs->{status}, 404, 'its messages are gone');

# its client_msg_ids are free again: o-1 is a new message, in a new conversation
my $again = $old->post('old secret one', client_msg_id => 'o-1');
is($again->{status}, 201, 'the visitor writes again with o-1');
isnt($again->{json}{conversation_id}, $old_conv, '... into a new conversation');
ok(!$again->{json}{duplicate}, '... as a new message');
my ($events) = $old->history;
is(scalar(grep { ($_->{message}{text} // '') =~ /secret/ } @$events), 1,
   'the visitor sees only the new message');

# one closed just now is kept for the retention time, and purged by the
# workers of a reload (the lease goes with the old ones)
is($api->call(POST => "conversations/$open_conv/close", {})->{status}, 200, 'the other is closed now');
sleep 1;
is($api->call(GET => "conversations/$open_conv")->{status}, 200, 'and kept for now');
ok($t->reload, 'nginx reloads');
ok(wait_until('purged', $RETENTION + 10,
              sub { $api->call(GET => "conversations/$open_conv", undef,
                               spec_check => 'quiet')->{status} == 404 }),
   'then purged');

ok(wait_until('swept', 10, sub { ctl('stats', '--store', $store) =~ /^login_tokens: 0$/m }),
   'the expired login token is swept');

my $stats = ctl('stats', '--store', $store);
like($stats, qr/^conversations: 1$/m, 'stats: one conversation (the new one)');
like($stats, qr/^used: \d+ bytes/m, 'stats: the bytes used');
like($stats, qr/^oldest_event: \d{4}-\d\d-\d\dT/m, 'stats: the oldest event');
like($stats, qr/^retention_cursor: [1-9]\d*$/m, 'stats: where retention is');

# a long conversation goes in several small steps
my $long = Chatvisor::Chat::Visitor->new($t);
my $long_conv = $long->post('the first of many')->{json}{conversation_id};
my $posted = 1;
for my $i (1 .. 699) {
    $posted++ if $api->call(POST => "conversations/$long_conv/messages",
                            { text => "reply $i", client_msg_id => "r-$i" },
                            spec_check => 0)->{status} == 201;
}
is($posted, 700, '700 messages in one conversation');
is($api->call(POST => "conversations/$long_conv/close", {})->{status}, 200, 'closed');
ok(wait_until('purged', $RETENTION + 20,
              sub { $api->call(GET => "conversations/$long_conv", undef,
                               spec_check => 'quiet')->{status} == 404 }),
   'the long conversation is purged');

my @steps = $t->error_log =~ /purged (\d+) conversation\(s\), (\d+) key\(s\), (\d+) log entries walked, in ([\d.]+) ms/g;
ok(@steps >= 4 * 6, 'the purge logs its steps (' . @steps / 4 . ')');
my ($most, $keys, @ms) = (0, 0);
while (my ($c, $k, $w, $ms) = splice @steps, 0, 4) {
    $most = $k if $k > $most;
    $keys += $k;
    push @ms, $ms;
}
cmp_ok($keys, '>=', 1400, "the long one's keys went ($keys in all: entries "
       . 'and idempotency keys)');
cmp_ok($most, '<=', $BUDGET + 8, "no step deleted more than the budget ($most keys)");
@ms = sort { $a <=> $b } @ms;
diag(sprintf 'purge steps: %d, median %.3f ms, longest %.3f ms',
     scalar @ms, $ms[@ms / 2], $ms[-1]);

# a purge step is a write like any other: writes keep working meanwhile
is($open->post('a new conversation')->{status}, 201, 'writes go on');

# ---- retention off: nothing is purged, expired tokens are ----

my ($t2, $api2) = start_nginx('');
my $store2 = $t2->testdir . '/store';
my $v2 = Chatvisor::Chat::Visitor->new($t2);
my $conv2 = $v2->post('kept for ever')->{json}{conversation_id};
is($api2->call(POST => "conversations/$conv2/close", {})->{status}, 200, 'without retention: closed');
ctl('agent-put', '--store', $store2, '--id', 'ann');
ctl('login-url', '--store', $store2, '--agent', 'ann', '--ttl', '1');
ok(wait_until('swept', 10, sub { ctl('stats', '--store', $store2) =~ /^login_tokens: 0$/m }),
   'without retention the expired login token is swept too');
sleep 2;
is($api2->call(GET => "conversations/$conv2")->{status}, 200,
   'and the closed conversation is kept');

done_testing;
