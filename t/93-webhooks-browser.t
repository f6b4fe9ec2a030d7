#!/usr/bin/perl

# The integration flow of docs/webhooks.md, end to end: a visitor writes;
# the CRM (this test) is told by a conversation.created webhook, signed
# and verified (standardwebhooks and Chatvisor::Receiver::signature_ok),
# with the customer_id in it; it tags that customer over REST (PUT
# customers/{id}: name, email, its own id, a label) and asks for a
# one-time agent URL (POST customers/{id}/agent-url). Then
# t/browser/webhook-flow.test.mjs opens the URL in headless Chromium
# (playwright-core): it lands in the console on that conversation, logged
# in as the agent, the visitor's message shown, the customer named as the
# CRM tagged it; the agent answers from the composer. Back here: that
# answer arrives as message.created (author the agent, the same text),
# after the conversation.assigned the answer caused, each verified, in
# order. Screenshots: t/artifacts/webhook-flow-*.png.
#
# Without chromium, node or playwright-core the test is skipped on a
# developer's machine (make deps-test installs them) and fails under CI.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(time);

use Chatvisor::Browser qw(skip_unless_browser run_browser_script);
use Chatvisor::Test;
use Chatvisor::API;
use Chatvisor::Receiver;
use Chatvisor::Webhooks qw(wait_events check_requests count_type);

my $root = Chatvisor::Test::repo_root();
skip_unless_browser();

my $t = Chatvisor::Test->new;
my @chars = ('A' .. 'Z', 'a' .. 'z', '0' .. '9');
my $secret = join '', map { $chars[rand @chars] } 1 .. 48;
$t->write_file('crm.secret', "$secret\n");
$t->write_file('html/index.html', "<!doctype html><html><head><title>Shop</title></head>"
                                  . "<body><h1>Shop</h1></body></html>\n");
$t->write_config(<<'EOF');
worker_processes 2;
http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;

    chatvisor_store %%TESTDIR%%/store;
    chatvisor_api_client crm %%TESTDIR%%/crm.secret;
    chatvisor_poll_timeout 8s;
    chatvisor_webhook_allow_private on;

    server {
        listen 127.0.0.1:%%PORT%%;
        location /chatvisor/ { chatvisor on; }
        location / { root %%TESTDIR%%/html; chatvisor_inject on; }
    }
}
EOF
$t->run;

my $base = $t->url('');
my $api = Chatvisor::API->new($t, client => 'crm', secret => $secret);
$api->login;

my $r = $api->call(PUT => 'agents/ann', { name => 'Ann' });
is($r->{status}, 201, 'PUT agents/ann: 201') or diag $r->{content};

my $rx = Chatvisor::Receiver->new->start;
$r = $api->call(POST => 'webhooks', { url => $rx->url('/crm/chat') });
is($r->{status}, 201, 'POST webhooks: the CRM registers its endpoint') or diag $r->{content};
my $wh = $r->{json} || {};
$rx->secrets($wh->{secret});

# ---- a visitor writes; the CRM is told ----

my $stamp = int(time * 1000) % 1000000;
my $text = "Where is my parcel $stamp?";
my $v = Chatvisor::API::Visitor->new($t);
$r = $v->post($text, page_url => "$base/index.html");
is($r->{status}, 201, 'a visitor writes') or diag $r->{content};

my @ev = wait_events($rx, sub { count_type('message.created', @_) >= 1 }, 10);
my ($created) = grep { $_->{json}{type} eq 'conversation.created' } @ev;
ok($created, 'the CRM gets conversation.created');
check_requests(\@ev, name => 'webhooks', secret => $wh->{secret}, secrets => [ $wh->{secret} ]);
my $cus = $created && $created->{json}{data}{conversation}{customer_id};
my $conv = $created && $created->{json}{data}{conversation}{id};
like($cus // '', qr/^cus_/, '  with the customer_id (' . ($cus // 'none') . ')');
is($cus, $v->customer_id, "  the visitor's");
is($conv, $v->conversation_id, '  and the conversation');

# ---- the CRM tags the customer and asks for an agent URL ----

$r = $api->call(PUT => "customers/$cus", { firstname => 'John', lastname => 'Doe',
    email => 'john.doe@example.com', id => 'crm-4711', labels => ['vip'] });
is($r->{status}, 200, 'PUT customers/{customer_id of the webhook}: 200') or diag $r->{content};
is($r->{json} && $r->{json}{conversation_id}, $conv, '  the customer names the conversation');

$r = $api->call(POST => "customers/$cus/agent-url", { agent_id => 'ann' });
is($r->{status}, 201, 'POST customers/{customer_id}/agent-url: 201') or diag $r->{content};
my $url = $r->{json} && $r->{json}{url} // '';
like($url, qr{^\Q$base\E/chatvisor/join#.+}, '  a one-time URL');

# ---- the browser ----

my $reply = "Hi John, your parcel $stamp left our warehouse today.";
run_browser_script("$root/t/browser/webhook-flow.test.mjs", $base, $url, timeout => 60, env => {
    CHATVISOR_CONVERSATION  => $conv,
    CHATVISOR_TEXT          => $text,
    CHATVISOR_CUSTOMER_NAME => 'John Doe',
    CHATVISOR_REPLY         => $reply,
    CHATVISOR_AGENT_NAME    => 'Ann',
});

# ---- the agent's answer comes back as webhooks ----

@ev = wait_events($rx, sub { count_type('message.created', @_) >= 2 }, 10);
my @types = map { $_->{json}{type} } @ev;
is_deeply(\@types, [qw(conversation.created message.created conversation.assigned message.created)],
          'the CRM is told: the conversation is assigned to the agent who answered, then the answer');
my $answer = $ev[-1] && $ev[-1]{json}{data} || {};
is($answer->{message}{text}, $reply, "  message.created: the agent's text");
is($answer->{message}{author}{type}, 'agent', '  author agent');
is($answer->{message}{author}{id}, 'ann', '  ann');
is($answer->{conversation}{id}, $conv, '  in the conversation');
is($answer->{conversation}{assigned_agent_id}, 'ann', '  now assigned to ann');
is($ev[2] && $ev[2]{json}{data}{conversation}{assigned_agent_id}, 'ann',
   '  conversation.assigned: to ann');
check_requests(\@ev, name => 'all webhooks', secret => $wh->{secret},
               secrets => [ $wh->{secret} ]);

done_testing;
