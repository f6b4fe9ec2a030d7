#!/usr/bin/perl

# Erasing a customer (DELETE api/v1/customers/{id}, docs/api.md "Erasing a
# customer", docs/decisions.md): a visitor with a closed and an open
# conversation, messages with client_msg_ids, an answer from the API and
# an integrator id is erased. Afterwards nothing of theirs is found: not
# the customer, not by the integrator id (which another customer may take
# now), not the conversations or their messages, not in the REST poll
# from the start; a visitor poll held meanwhile is answered without their
# text; another customer is untouched; a compacted backup of the store
# holds no byte of their text; a webhook endpoint that was down meanwhile
# gets the other customer's events once it is up, and none of theirs. Failure paths: a second DELETE, an id that
# cannot be one, no token, the collection (405). Two workers.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use File::Temp ();

use Chatvisor::Test;
use Chatvisor::API;
use Chatvisor::Chat qw(ctl);
use Chatvisor::Receiver;
use Chatvisor::Webhooks qw(events_of wait_events);

my @chars = ('A' .. 'Z', 'a' .. 'z', '0' .. '9');
my $secret = join '', map { $chars[rand @chars] } 1 .. 40;
my $mark = 'forget-me-' . join '', map { $chars[rand @chars] } 1 .. 12;

my $t = Chatvisor::Test->new;
$t->write_file('crm.secret', "$secret\n");
$t->write_config(<<'EOF');
worker_processes 2;
http {
    chatvisor_store %%TESTDIR%%/store;
    chatvisor_api_client crm %%TESTDIR%%/crm.secret;
    chatvisor_webhook_allow_private on;
    chatvisor_webhook_retry_schedule 0s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s;
    server {
        listen 127.0.0.1:%%PORT%%;
        location /chatvisor/ { chatvisor on; chatvisor_poll_timeout 5s; }
    }
}
EOF
$t->run;
my $store = $t->testdir . '/store';
my $api = Chatvisor::API->new($t, client => 'crm', secret => $secret);
$api->login;

# a webhook endpoint whose receiver is down until after the erasure
my $rx = Chatvisor::Receiver->new(port => $t->port('HOOK'));
my $hook = $api->call(POST => 'webhooks', { url => $rx->url('/hooks') });
is($hook->{status}, 201, 'a webhook endpoint, its receiver down');

# ---- the customer and their history ----

my $v = Chatvisor::Chat::Visitor->new($t);
my $r = $v->post("$mark one", client_msg_id => 'm-1');
is($r->{status}, 201, 'the visitor writes');
my $conv1 = $r->{json}{conversation_id};
my $cus = $v->customer_id;
is($v->post("$mark two", client_msg_id => 'm-2')->{status}, 201, 'twice');
is($api->call(POST => "conversations/$conv1/messages",
              { text => "answer to $mark", client_msg_id => 'api-1' })->{status}, 201,
   'the API answers');
is($api->call(POST => "conversations/$conv1/close", {})->{status}, 200, 'and closes');
$r = $v->post("$mark three", client_msg_id => 'm-3');
my $conv2 = $r->{json}{conversation_id};
isnt($conv2, $conv1, 'the next message opens a second conversation');
is($api->call(PUT => "customers/$cus", { id => 'ext-77', email => 'x@example.com',
                                         firstname => 'Xavier' })->{status}, 200,
   'the integrator names the customer');

my $w = Chatvisor::Chat::Visitor->new($t);
my $wconv = $w->post('someone else')->{json}{conversation_id};

my $before = $api->call(GET => 'conversations?since=0&limit=100');
like($before->{content}, qr/\Q$conv1\E.*\Q$conv2\E|\Q$conv2\E.*\Q$conv1\E/s,
     'the REST poll shows their conversations before');
like($api->call(GET => "conversations/$conv1/messages")->{content}, qr/\Q$mark\E/,
     'and their messages their text');

my $held = $v->start_poll(after => $r->{json}{seq}, wait => 1);

# ---- erase ----

$r = $api->call(DELETE => "customers/$cus");
is($r->{status}, 204, 'DELETE customers/ID: 204');
is($r->{content} // '', '', '... without a body');
like($t->error_log, qr/erased customer \Q$cus\E: 2 conversation\(s\)/,
     'the error log says what went (at info), no text');
unlike($t->error_log, qr/\Q$mark\E/, 'the error log has none of their text');

is($api->call(GET => "customers/$cus")->{status}, 404, 'the customer is gone');
my $found = $api->call(GET => 'customers?id=ext-77');
is_deeply($found->{json}{items}, [], 'nobody has their integrator id');
for my $c ($conv1, $conv2) {
    is($api->call(GET => "conversations/$c")->{status}, 404, "$c is gone");
    is($api->call(GET => "conversations/$c/messages")->{status}, 404, '... with its messages');
}
my $after = $api->call(GET => 'conversations?since=0&limit=100');
is($after->{status}, 200, 'the REST poll from the start');
unlike($after->{content}, qr/\Q$mark\E/, '... holds none of their text');
unlike($after->{content}, qr/\Q$cus\E/, '... nor their id');
like($after->{content}, qr/\Q$wconv\E/, '... but the other customer\'s conversation');

my $res = $held->result(timeout => 10);
ok($res, 'the visitor poll held meanwhile is answered');
unlike($res->{content} // '', qr/\Q$mark\E/, '... without their text');

unlike(ctl('conversations', '--store', $store), qr/\Q$cus\E/,
       'chatvisorctl conversations lists none of theirs');
my $stats = ctl('stats', '--store', $store);
like($stats, qr/^customers: 1$/m, 'stats: one customer is left');
like($stats, qr/^idempotency_keys: 0$/m, 'stats: no idempotency key is left');

# a compacted copy has no free pages: none of their bytes
my $copy = File::Temp::tempdir(CLEANUP => 1);
ctl('backup', '--store', $store, $copy);
open(my $fh, '<:raw', "$copy/data.mdb") or die "$copy/data.mdb: $!";
my $bytes = do { local $/; <$fh> };
close $fh;
ok(length $bytes, 'a backup of the store');
unlike($bytes, qr/\Q$mark\E/, '... holds no byte of their text');
like($bytes, qr/someone else/, '... but the other customer\'s');

# ---- afterwards ----

is($api->call(PUT => "customers/" . $w->customer_id, { id => 'ext-77' })->{status}, 200,
   'another customer may take the integrator id');
is($w->post('still here')->{status}, 201, 'the other visitor goes on');
$r = $v->post("$mark again", client_msg_id => 'm-1');
is($r->{status}, 403, 'the erased visitor\'s cookie names nobody: 403');
is($r->{json}{error}{code}, 'forbidden', '... with a JSON error');

# the receiver comes up: the other customer's events arrive, none of theirs
$rx->{secrets} = [ $hook->{json}{secret} ];
$rx->start;
my @got = wait_events($rx, sub {
    grep { ($_->{json}{data}{message}{text} // '') eq 'still here' } @_ }, 20);
ok(scalar(grep { ($_->{json}{data}{message}{text} // '') eq 'still here' } @got),
   'the receiver is up: the other customer\'s events arrive (' . scalar(@got) . ')');
my @theirs = grep { ($_->{body} // $_->{raw} // '') =~ /\Q$mark\E|\Q$cus\E/
                    || ($_->{json}{data}{conversation}{customer_id} // '') eq $cus } @got;
is(scalar @theirs, 0, '... and none of the erased customer\'s');

# ---- failure paths ----

is($api->call(DELETE => "customers/$cus")->{status}, 404, 'erased twice: 404');
is($api->call(DELETE => 'customers/not-an-id')->{status}, 404, 'an id that cannot be one: 404');
is($api->call(DELETE => 'customers/cus_' . ('a' x 200))->{status}, 404, 'a too long id: 404');
is($api->call(DELETE => "customers/" . $w->customer_id, undef, token => undef)->{status}, 401,
   'no token: 401');
is($api->call(GET => "customers/" . $w->customer_id)->{status}, 200, '... and nothing was erased');
$r = $api->call(DELETE => 'customers');
is($r->{status}, 405, 'DELETE on the collection: 405');
like($r->{headers}{allow} // '', qr/GET/, '... with Allow');

done_testing;
