#!/usr/bin/perl

# The offline notice and the pre-chat form in headless Chromium
# (t/browser/prechat.test.mjs): with no agent online the widget shows
# chatvisor_widget_text offline and asks for an email, which the visitor
# may skip, or give after a first message; where chatvisor_prechat
# name,email required is set (in French) nothing can be sent before a
# valid email; the console's customer panel shows the emails; with the
# agent's console open the widget says nothing of being offline. Then,
# here: REST GET customers/{id} and conversations/{id} have what each
# visitor gave, and a webhook receiver got it in data.customer.
# Screenshots: t/artifacts/prechat-*.png.
#
# Without chromium, node or playwright-core the test is skipped on a
# developer's machine (make deps-test installs them) and fails under CI.

use strict;
use warnings;
use utf8;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;

use Chatvisor::Browser qw(skip_unless_browser run_browser_script);
use Chatvisor::Test;
use Chatvisor::API;
use Chatvisor::Receiver;
use Chatvisor::Webhooks qw(wait_events check_requests count_type);

my $root = Chatvisor::Test::repo_root();
skip_unless_browser();

my $OFFLINE = 'Nobody is in right now: leave your email and we write back.';

my $t = Chatvisor::Test->new;
my @chars = ('A' .. 'Z', 'a' .. 'z', '0' .. '9');
my $secret = join '', map { $chars[rand @chars] } 1 .. 48;
$t->write_file('crm.secret', "$secret\n");
my $page = "<!doctype html><html><head><meta charset=\"utf-8\"><link rel=\"icon\" href=\"data:,\">"
         . "<title>Shop</title></head><body><h1>Shop</h1></body></html>\n";
$t->write_file('html/index.html', $page);
$t->write_file('html/must/index.html', $page);
$t->write_config(<<"EOF");
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
        root %%TESTDIR%%/html;
        chatvisor_inject on;
        chatvisor_widget_text offline "$OFFLINE";

        location /chatvisor/ { chatvisor on; }
        location /must/ {
            chatvisor_prechat name,email required;
            chatvisor_widget_language fr;
        }
    }
}
EOF
$t->run;

my $base = $t->url('');
my $api = Chatvisor::API->new($t, client => 'crm', secret => $secret);
$api->login;

my $r = $api->call(PUT => 'agents/ann', { name => 'Ann' });
is($r->{status}, 201, 'PUT agents/ann') or diag $r->{content};
$r = $api->call(POST => 'agents/ann/login-url', {});
is($r->{status}, 201, 'a one-time login URL for ann') or diag $r->{content};
my $login = $r->{json} && $r->{json}{url} // '';

my $rx = Chatvisor::Receiver->new->start;
$r = $api->call(POST => 'webhooks', { url => $rx->url('/crm/chat') });
is($r->{status}, 201, 'POST webhooks') or diag $r->{content};
my $wh = $r->{json} || {};
$rx->secrets($wh->{secret});

run_browser_script("$root/t/browser/prechat.test.mjs", $base, $login, timeout => 150, env => {
    CHATVISOR_OFFLINE_TEXT => $OFFLINE,
});

# ---- REST: what each visitor gave ----

$r = $api->call(GET => 'conversations?since=0&limit=50');
is($r->{status}, 200, 'REST: the conversations') or diag $r->{content};
my @convs = @{ $r->{json}{items} || [] };
is(scalar @convs, 3, '  three visitors wrote');

my %by_email;
for my $c (@convs) {
    my $cus = $api->call(GET => "customers/$c->{customer_id}")->{json} || {};
    $by_email{ $cus->{email} // '(none)' } = { customer => $cus, conversation => $c->{id} };
}
is_deeply([ sort keys %by_email ], [ '(none)', 'amy@example.com', 'zoe@example.com' ],
          'GET customers/{id}: one skipped, Amy and Zoé gave their email');
is($by_email{'zoe@example.com'}{customer}{firstname}, 'Zoé', '  Zoé gave her name too: firstname');
is($by_email{'amy@example.com'}{customer}{firstname}, undef, '  Amy was not asked for a name');

my $zoe = $by_email{'zoe@example.com'} || {};
$r = $api->call(GET => "conversations/$zoe->{conversation}");
is($r->{json} && $r->{json}{customer}{email}, 'zoe@example.com',
   "GET conversations/{id}: Zoé's conversation with her email");

# ---- webhooks: Zoé's email came before her message, so with it ----

my @ev = wait_events($rx, sub { count_type('message.created', @_) >= 3 }, 15);
is(count_type('message.created', @ev), 3, 'the receiver got the three messages');
my ($zmsg) = grep { $_->{json}{type} eq 'message.created'
                    && $_->{json}{data}{conversation}{id} eq ($zoe->{conversation} // '') } @ev;
is($zmsg && $zmsg->{json}{data}{customer}{email}, 'zoe@example.com', "  Zoé's message.created: data.customer.email");
is($zmsg && $zmsg->{json}{data}{customer}{firstname}, 'Zoé', '  and her name');
check_requests(\@ev, name => 'webhooks', secret => $wh->{secret}, secrets => [ $wh->{secret} ]);

done_testing;
