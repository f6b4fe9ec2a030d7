#!/usr/bin/perl

# `make demo` (scripts/demo.sh) shows the integration, not only the chat:
# run as a newcomer would, in a state directory and on ports of its own
# (DEMO_RUN, DEMO_PORT, DEMO_BACKEND_PORT), it
# - generates the REST API client's secret on the first start (kept, and
#   private), and prints a curl for a token that works as printed, and the
#   lines that list the conversations with it;
# - prints the URL of the backend's webhook inbox, a page (with the chat)
#   that lists, live, what nginx posted to the backend: when a visitor
#   writes, the conversation.created and message.created events arrive
#   there, their signature checked by the backend (a forged one is refused
#   and not listed);
# - starts again with the same secret, and stops.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use File::Temp ();
use HTTP::Tiny;
use JSON::PP ();
use Test::More;
use Time::HiRes qw(sleep time);

use Chatvisor::Port;
use Chatvisor::Test;

my $ROOT = Chatvisor::Test::repo_root();
-f "$ROOT/build/ngx_chatvisor_module.so" && -x "$ROOT/build/chatvisorctl"
    or die "build/ has no module or chatvisorctl: run make first\n";

my $run = File::Temp::tempdir('chatvisor-demo-XXXXXXXX', TMPDIR => 1,
                              CLEANUP => !$ENV{CHATVISOR_TEST_KEEP});
my $port = Chatvisor::Port::free_port();
my $backend_port = Chatvisor::Port::free_port();
$backend_port = Chatvisor::Port::free_port() while $backend_port == $port;
local $ENV{DEMO_RUN} = $run;
local $ENV{DEMO_PORT} = $port;
local $ENV{DEMO_BACKEND_PORT} = $backend_port;
my $base = "http://127.0.0.1:$port";
my $JSON = JSON::PP->new->utf8;

sub inbox_items {    # the events of a webhooks.json answer
    my ($r) = @_;
    my $list = eval { $JSON->decode($r->{content}) };
    return ref $list eq 'ARRAY' ? @$list : ();
}

sub demo {
    my $out = `$ROOT/scripts/demo.sh @_ 2>&1`;
    return ($? >> 8, $out);
}
END { my $st = $?; demo('stop'); $? = $st; }
$SIG{$_} = sub { exit 1 } for qw(INT TERM HUP);

my $http = HTTP::Tiny->new(timeout => 10);

my ($st, $out) = demo('start');
is($st, 0, 'make demo starts') or BAIL_OUT($out);

# ---- the API client ----
my $secret_file = "$run/secrets/api-demo.secret";
ok(-s $secret_file, 'the first start generated the API client secret');
my $secret = `cat $secret_file`;
chomp $secret;
cmp_ok(length $secret, '>=', 32, 'the secret has at least 32 characters');
is((stat $secret_file)[2] & 0077, 0, 'only its owner may read it');
unlike($out, qr/\Q$secret\E/, 'the output names the secret file, never the secret');

my ($curl) = $out =~ m{^\s+(curl -s \Q$base\E/chatvisor/api/v1/auth/token .*)$}m;
ok($curl, 'the output has a curl for a token') or diag $out;
my $token = eval { $JSON->decode(scalar `$curl`) } // {};
like($token->{access_token} // '', qr/^cvt_/, 'that curl, as printed, gets a token')
    or diag explain $token;
is($token->{token_type}, 'Bearer', '... a bearer token');

# ---- a visitor writes: the inbox gets the webhooks ----
my ($inbox) = $out =~ m{^\s+(\Q$base\E/webhooks)$}m;
ok($inbox, 'the output has the webhook inbox URL') or diag $out;
my $r = $http->get($inbox // "$base/webhooks");
is($r->{status}, 200, 'the inbox page is served');
like($r->{content}, qr/Webhook inbox/, '... it is the inbox');
like($r->{content}, qr{<script[^>]+/chatvisor/widget\.js}, '... with the chat on it');

my $text = "Hello from the demo test " . int(rand 1e9);
$r = $http->request(POST => "$base/chatvisor/v1/visitor/messages", {
    headers => { 'Content-Type' => 'application/json', Accept => 'application/json' },
    content => $JSON->encode({ text => $text }) });
is($r->{status}, 201, 'a visitor writes') or diag $r->{content};

my (@events, $message);
my $until = time + 30;    # the first attempt is at once; the machine is loaded
while (time < $until) {
    $r = $http->get("$base/webhooks.json");
    @events = map { $_->{event} } inbox_items($r);
    ($message) = grep { $_->{type} eq 'message.created'
                        && ($_->{data}{message}{text} // '') eq $text } @events;
    last if $message;
    sleep 0.2;
}
ok($message, 'the inbox received message.created with the text') or diag explain \@events;
my $conv = $message ? $message->{data}{conversation}{id} : '';
is($message && $message->{data}{message}{author}{type}, 'customer', '... written by the customer');
ok((grep { $_->{type} eq 'conversation.created'
           && $_->{data}{conversation}{id} eq $conv } @events),
   '... and conversation.created of its conversation');

# the printed lines that use the token list that conversation
my ($token_line) = $out =~ m{^\s+(TOKEN=\$\(curl .*)$}m;
my ($list_line) = $out =~ m{^\s+(curl -s \Q$base\E/chatvisor/api/v1/conversations .*)$}m;
ok($token_line && $list_line, 'the output has the lines that list the conversations');
open my $sh, '>', "$run/list.sh" or die "$run/list.sh: $!\n";
print $sh "$token_line\n$list_line\n";
close $sh;
my $listed = `bash $run/list.sh 2>&1`;
my $list = eval { $JSON->decode($listed) } // { output => $listed };
ok((grep { $_->{id} eq $conv } @{ $list->{items} || [] }),
   '... and, run as printed, they list the visitor\'s conversation') or diag explain $list;

# a forged webhook: refused, not listed
my $count = @events;
$r = $http->request(POST => "$base/webhooks", {
    headers => { 'Content-Type' => 'application/json', 'webhook-id' => 'evt_forged',
                 'webhook-timestamp' => int(time), 'webhook-signature' => 'v1,' . ('A' x 43) . '=' },
    content => '{"id":"evt_forged","type":"message.created","data":{}}' });
is($r->{status}, 401, 'a webhook with a wrong signature is refused');
$r = $http->get("$base/webhooks.json");
ok(!(grep { $_->{event}{id} eq 'evt_forged' } inbox_items($r)),
   '... and not listed');

# ---- again: the same secret ----
($st, $out) = demo('stop');
is($st, 0, 'make demo-stop stops it') or diag $out;
ok(!Chatvisor::Port::port_open($port), 'nginx no longer listens');
($st, $out) = demo('start');
is($st, 0, 'it starts again') or diag $out;
is(scalar `cat $secret_file` =~ s/\n\z//r, $secret, 'with the same secret');
($curl) = $out =~ m{^\s+(curl -s \Q$base\E/chatvisor/api/v1/auth/token .*)$}m;
$token = eval { $JSON->decode(scalar `$curl`) } // {};
like($token->{access_token} // '', qr/^cvt_/, 'whose curl still gets a token');
($st, $out) = demo('start');
like($out, qr{already running.*^\s+curl -s \Q$base\E/chatvisor/api/v1/auth/token }ms,
     'started while it runs: it says so, with the curl again');
$r = $http->get("$base/webhooks.json");
ok((grep { $_->{event}{id} eq ($message->{id} // '-') } inbox_items($r)),
   'the inbox kept what it received');
($st, $out) = demo('stop');
is($st, 0, 'stopped') or diag $out;

done_testing;
