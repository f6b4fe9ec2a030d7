#!/usr/bin/perl

# Webhooks delivered (docs/webhooks.md; SPEC 7): real nginx (2 workers,
# chatvisor_webhook_allow_private on, chatvisor_webhook_retry_schedule
# 0s 1s 1s 1s) and real receivers on loopback (t/lib/webhook-receiver.mjs),
# which verify every request with the reference implementation
# (npm standardwebhooks) while Chatvisor::Receiver::signature_ok checks it
# too: both must agree, the endpoint's secret verifies every request, a
# wrong secret none.
#
# - A conversation's life (a visitor writes, the API assigns it, an agent
#   answers, the visitor again, the API closes it): conversation.created,
#   message.created, conversation.assigned, message.created (author agent),
#   message.created, conversation.closed arrive once each, in that order,
#   each body a WebhookEvent of docs/openapi.json with the conversation as
#   GET conversations/{id} shows it (customer_id included) and seq; the
#   deliveries list shows each delivered once (200, no error).
# - An endpoint declared in nginx.conf (chatvisor_webhook erp URL
#   secret_file=... events=...) gets its two event types, signed with the
#   file's secret; a new secret in the file, after a reload, signs beside
#   the old one.
# - The events filter: an endpoint for conversation.created gets only that
#   (the same event id as the other endpoint's); PATCH events takes the new
#   types from then on.
# - POST webhooks/{id}/test: a webhook.test arrives, also to an endpoint
#   not subscribed to anything like it.
# - Secret rotation: for the overlap every request carries two v1
#   signatures, the new secret's first; both the old and the new secret
#   verify the same request; a second rotation drops the oldest.
# - PATCH status disabled: nothing is sent, not even a test asked for
#   meanwhile; enabled: they go out, in order, from where it was. PATCH url: the next
#   events go to the new URL. DELETE: nothing more is sent.
# - Deliveries: a receiver that answers 500 makes a delivery retried on the
#   schedule (pending with next_attempt_at, then failed after the last
#   attempt, last_status_code 500, last_error the answer's body, the same
#   webhook-id each time); POST .../retry (202) sends it again and it is
#   delivered; a delivered one is 409. ?status= filters; limit and cursor
#   page through everything once, newest first.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use JSON::PP ();
use MIME::Base64 ();
use Test::More;
use Time::HiRes qw(time sleep);

use Chatvisor::Test;
use Chatvisor::API;
use Chatvisor::Receiver;
use Chatvisor::Webhooks qw(events_of wait_events check_requests by_conversation
                           count_type ids_of wait_until);

my $t = Chatvisor::Test->new;
my @chars = ('A' .. 'Z', 'a' .. 'z', '0' .. '9');
my $crm_secret = join '', map { $chars[rand @chars] } 1 .. 40;
$t->write_file('crm.secret', "$crm_secret\n");
# an endpoint declared in nginx.conf, its receiver on a port chosen now
sub whsec { 'whsec_' . MIME::Base64::encode_base64(join('', map { chr int rand 256 } 1 .. 32), '') }
my $erp_secret = whsec();
$t->write_file('erp.whsec', "$erp_secret\n");
my $CONF = <<'EOF';
worker_processes 2;
http {
    chatvisor_store %%TESTDIR%%/store;
    chatvisor_api_client crm %%TESTDIR%%/crm.secret;
    chatvisor_webhook_allow_private on;
    chatvisor_webhook_retry_schedule 0s 1s 1s 1s;
    chatvisor_webhook erp http://127.0.0.1:%%PORT_ERP%%/erp secret_file=%%TESTDIR%%/erp.whsec
                      events=conversation.created,conversation.closed;
    server {
        listen 127.0.0.1:%%PORT%%;
        location /chatvisor/ { chatvisor on; }
    }
}
EOF
$t->write_config($CONF);
$t->run;

my $api = Chatvisor::API->new($t, client => 'crm', secret => $crm_secret);
$api->login;
my $WRONG = 'whsec_' . MIME::Base64::encode_base64('w' x 32, '');

sub must {
    my ($m, $p, $d, $want) = @_;
    my $r = $api->call($m, $p, $d);
    die "$m $p: $r->{status} $r->{content}\n" unless $r->{status} == ($want // 200);
    return $r->{json};
}

sub conversation_now { must(GET => "conversations/$_[0]") }

must(PUT => 'agents/ann', { name => 'Ann' }, 201);

my $rxerp = Chatvisor::Receiver->new(port => $t->port('ERP'), secrets => [ $erp_secret ])->start;
my $rxa = Chatvisor::Receiver->new->start;
my $rxb = Chatvisor::Receiver->new->start;
my $A = must(POST => 'webhooks', { url => $rxa->url('/a') }, 201);
my $B = must(POST => 'webhooks', { url => $rxb->url('/b'), events => ['conversation.created'] },
             201);
$rxa->secrets($A->{secret}, $WRONG);
$rxb->secrets($B->{secret}, $A->{secret});

# ---- a conversation's life ----

my $v1 = Chatvisor::API::Visitor->new($t);
is($v1->post('Hello, I need help with order 17')->{status}, 201, 'visitor 1 writes');
my ($conv, $cus) = ($v1->conversation_id, $v1->customer_id);
my @seen;
push @seen, { type => 'conversation.created', conv => conversation_now($conv) };
push @seen, { type => 'message.created', text => 'Hello, I need help with order 17',
              author => 'customer' };
# the conversation as it is after each change, for the payloads
wait_events($rxa, sub { @_ >= 2 }, 10);
must(POST => "conversations/$conv/assign", { agent_id => 'ann' });
wait_events($rxa, sub { @_ >= 3 }, 10);
my $agent_msg = must(POST => "conversations/$conv/messages",
                     { text => 'Hi, Ann here', agent_id => 'ann' }, 201);
is($v1->post('Thanks Ann')->{status}, 201, 'visitor 1 writes again');
must(POST => "conversations/$conv/close", {});
my $closed = conversation_now($conv);

my @ev = wait_events($rxa, sub { count_type('conversation.closed', @_) >= 1 }, 10);
sleep 0.3;    # anything more would come now
@ev = events_of($rxa->log);
is_deeply([ map { $_->{json}{type} } @ev ],
          [qw(conversation.created message.created conversation.assigned
              message.created message.created conversation.closed)],
          'endpoint A: the six events, once each, in order')
    or diag explain [ map { $_->{json} } @ev ];
check_requests(\@ev, name => 'A', secret => $A->{secret}, secrets => [ $A->{secret}, $WRONG ],
               wrong => [1]);
{
    my @ids = ids_of(@ev);
    my %u = map { $_ => 1 } @ids;
    is(scalar keys %u, scalar @ids, '  six event ids');
    is_deeply([ map { $_->{json}{data}{conversation}{id} } @ev ], [ ($conv) x 6 ],
              '  all of the conversation');
    is_deeply([ map { $_->{json}{data}{conversation}{customer_id} } @ev ], [ ($cus) x 6 ],
              "  each names the visitor's customer_id");
    my ($cc, $m1, $as, $m2, $m3, $cl) = map { $_->{json}{data} } @ev;
    is($cc->{conversation}{seq}, 0, '  conversation.created: seq 0');
    ok(!exists $cc->{message}, '  conversation.created has no message');
    is($m1->{message}{text}, 'Hello, I need help with order 17', "  message.created: the text");
    is($m1->{message}{author}{type}, 'customer', '  by the customer');
    is($m1->{message}{author}{id}, $cus, '  whose id is the customer_id');
    is($m1->{conversation}{seq}, $m1->{message}{seq}, "  conversation.seq is the message's");
    is($as->{conversation}{assigned_agent_id}, 'ann', '  conversation.assigned: to ann');
    is($m2->{message}{author}{type}, 'agent', '  the agent message: author agent');
    is($m2->{message}{author}{id}, 'ann', '  ann');
    is($m2->{message}{id}, $agent_msg->{id}, '  the message the API posted');
    is($m2->{conversation}{assigned_agent_id}, 'ann', '  the conversation is assigned then');
    is($m3->{message}{text}, 'Thanks Ann', '  the third message');
    is($cl->{conversation}{status}, 'closed', '  conversation.closed: status closed');
    my @seqs = map { $_->{conversation}{seq} } ($m1, $as, $m2, $m3, $cl);
    is_deeply([ sort { $a <=> $b } @seqs ], \@seqs, '  seq grows');
    is($ev[0]{json}{data}{conversation}{created_at}, $closed->{created_at},
       '  created_at as the API shows it');
    my %last = %{ $cl->{conversation} };
    delete $last{seq};
    my %now = %$closed;
    my $customer_now = delete $now{customer};    # GET nests it, webhooks put it beside
    is_deeply(\%last, \%now, '  the last event has the conversation as GET shows it now');
    is_deeply($cl->{customer}, $customer_now, '  and data.customer as GET shows it');
    for my $e (@ev) {
        my $sigs = () = ($e->{headers}{'webhook-signature'} // '') =~ /v1,/g;
        is($sigs, 1, "  one signature ($e->{json}{type})") or last;
    }
    my $tampered = { %{ $ev[1] }, body => $ev[1]{body} =~ s/order 17/order 18/r };
    ok(!Chatvisor::Receiver::signature_ok($A->{secret}, $tampered),
       '  signature_ok refuses a body changed in transit');

    my $d = must(GET => "webhooks/$A->{id}/deliveries");
    my @items = @{ $d->{items} || [] };
    is_deeply([ reverse map { $_->{event_id} } @items ], \@ids,
              '  deliveries: one per event, newest first');
    is_deeply([ map { "$_->{status} $_->{attempts} $_->{last_status_code}" } @items ],
              [ ('delivered 1 200') x 6 ], '  each delivered at the first attempt with 200');
    ok(!grep({ defined $_->{last_error} || defined $_->{next_attempt_at} } @items),
       '  no last_error, no next_attempt_at');
    is_deeply([ reverse map { $_->{event_type} } @items ],
              [ map { $_->{json}{type} } @ev ], '  their event types');
}

# ---- the events filter ----

my @evb = events_of($rxb->log);
is_deeply([ map { $_->{json}{type} } @evb ], ['conversation.created'],
          'endpoint B (conversation.created only): only that one');
is($evb[0]{json}{id}, $ev[0]{json}{id}, '  the same event id as at endpoint A');
is($evb[0]{body}, $ev[0]{body}, '  the same body');
check_requests(\@evb, name => 'B', secret => $B->{secret},
               secrets => [ $B->{secret}, $A->{secret} ], wrong => [1]);

# ---- the endpoint declared in nginx.conf ----

{
    my @e = wait_events($rxerp, sub { @_ >= 2 }, 5);
    is_deeply([ map { $_->{json}{type} } @e ], [qw(conversation.created conversation.closed)],
              'the endpoint of chatvisor_webhook erp ... events=conversation.created,'
              . 'conversation.closed: those two');
    is_deeply([ map { $_->{json}{id} } @e ], [ map { $_->{json}{id} } @ev[0, 5] ],
              '  the same events as endpoint A got');
    check_requests(\@e, name => 'config endpoint', secret => $erp_secret,
                   secrets => [ $erp_secret ]);
    my $d = must(GET => 'webhooks/wh_cfg_erp/deliveries');
    is_deeply([ map { $_->{status} } @{ $d->{items} } ], [qw(delivered delivered)],
              '  its deliveries are listed, delivered');

    # a new secret in the file: after a reload both sign for the overlap
    my $new = whsec();
    $t->write_file('erp.whsec', "$new\n");
    ok($t->reload, 'reload with a new secret in erp.whsec');
    $rxerp->reset;
    $rxerp->secrets($erp_secret, $new);
    must(POST => 'webhooks/wh_cfg_erp/test', {}, 202);
    ($e[0]) = wait_events($rxerp, sub { @_ >= 1 }, 10);
    my @sigs = split / /, $e[0]{headers}{'webhook-signature'} // '';
    is(scalar @sigs, 2, '  a test: two signatures');
    is_deeply($e[0]{verified}, [ JSON::PP::true, JSON::PP::true ],
              '  the old and the new secret verify it');
    check_requests([ $e[0] ], name => 'config endpoint, new secret', secret => $new,
                   secrets => [ $erp_secret, $new ]);
    $rxerp->stop;
}

# ---- test ----

my $test = must(POST => "webhooks/$A->{id}/test", {}, 202);
my @tev = wait_events($rxa, sub { count_type('webhook.test', @_) >= 1 }, 10);
my ($te) = grep { $_->{json}{type} eq 'webhook.test' } @tev;
ok($te, 'POST test: a webhook.test arrives');
is($te->{json}{id}, $test->{event_id}, "  the delivery's event id");
is($te->{json}{data}{webhook_id}, $A->{id}, '  naming the endpoint');
check_requests([$te], name => 'test', secret => $A->{secret}, secrets => [ $A->{secret}, $WRONG ],
               wrong => [1]);
must(POST => "webhooks/$B->{id}/test", {}, 202);
ok(wait_events($rxb, sub { count_type('webhook.test', @_) >= 1 }, 10) == 2,
   'a test goes to B too, though B takes conversation.created only');

# ---- secret rotation ----

{
    my $s0 = $A->{secret};
    my $s1 = must(POST => "webhooks/$A->{id}/rotate-secret", {})->{secret};
    $rxa->reset;
    $rxa->secrets($s0, $s1, $WRONG);
    must(POST => "webhooks/$A->{id}/test", {}, 202);
    my ($e) = wait_events($rxa, sub { @_ >= 1 }, 10);
    my @sigs = split / /, $e->{headers}{'webhook-signature'} // '';
    is(scalar @sigs, 2, 'after rotate-secret: two signatures') or diag explain $e->{headers};
    like($_, qr{^v1,[A-Za-z0-9+/]{43}=$}, '  v1,BASE64') for @sigs;
    is_deeply($e->{verified}, [ JSON::PP::true, JSON::PP::true, JSON::PP::false ],
              '  standardwebhooks verifies the same request with the old and the new secret');
    ok(Chatvisor::Receiver::signature_ok($s0, $e), '  signature_ok: the old secret');
    ok(Chatvisor::Receiver::signature_ok($s1, $e), '  signature_ok: the new secret');
    ok(Chatvisor::Receiver::signature_ok($s1, { %$e, headers => { %{ $e->{headers} },
        'webhook-signature' => $sigs[0] } }), "  the new secret's comes first");
    check_requests([$e], name => 'rotated', secret => $s1, secrets => [ $s0, $s1, $WRONG ],
                   wrong => [2]);

    my $s2 = must(POST => "webhooks/$A->{id}/rotate-secret", {})->{secret};
    $rxa->reset;
    $rxa->secrets($s0, $s1, $s2);
    must(POST => "webhooks/$A->{id}/test", {}, 202);
    ($e) = wait_events($rxa, sub { @_ >= 1 }, 10);
    @sigs = split / /, $e->{headers}{'webhook-signature'} // '';
    is(scalar @sigs, 2, 'rotated again: still two signatures');
    is_deeply($e->{verified}, [ JSON::PP::false, JSON::PP::true, JSON::PP::true ],
              '  the newest and the previous verify, the oldest no more');
    check_requests([$e], name => 'rotated twice', secret => $s2, secrets => [ $s0, $s1, $s2 ],
                   wrong => [0]);
    $A->{secret} = $s2;
    $rxa->reset;
    $rxa->secrets($s2);
}

# ---- disabled, enabled, moved, deleted ----

{
    must(PATCH => "webhooks/$A->{id}", { status => 'disabled' });
    my $v2 = Chatvisor::API::Visitor->new($t);
    $v2->post("second visitor, message $_") for 1 .. 3;
    my $conv2 = $v2->conversation_id;
    # B is told (it is enabled): A would have been told by then too
    wait_events($rxb, sub { count_type('conversation.created', @_) >= 2 }, 10);
    my $dtest = must(POST => "webhooks/$A->{id}/test", {}, 202);
    sleep 1;
    is(scalar(events_of($rxa->log)), 0, 'disabled: A gets nothing, not even a test');
    my $d = must(GET => "webhooks/$A->{id}/deliveries?status=delivered");
    my $before = @{ $d->{items} };

    must(PATCH => "webhooks/$A->{id}", { status => 'enabled' });
    my @all = wait_events($rxa, sub { @_ >= 5 }, 10);
    my ($tst) = grep { $_->{json}{type} eq 'webhook.test' } @all;
    is($tst && $tst->{json}{id}, $dtest->{event_id}, 'enabled: the test asked for meanwhile goes out');
    my @got = grep { $_->{json}{type} ne 'webhook.test' } @all;
    is(scalar @got, 4, '  and the four events written meanwhile');
    # an outcome is recorded in the settle after the answer: a moment later
    $d = wait_until(sub {
        my $x = must(GET => "webhooks/$A->{id}/deliveries?status=delivered");
        @{ $x->{items} } >= $before + 5 && $x;
    }, 10) || must(GET => "webhooks/$A->{id}/deliveries?status=delivered");
    is(scalar @{ $d->{items} }, $before + 5, '  five more delivered');
    is_deeply([ map { $_->{event_id} } grep { $_->{event_type} ne 'webhook.test' }
                reverse @{ $d->{items} }[0 .. 4] ], [ ids_of(@got) ],
              '  in the order they were delivered');
    is_deeply([ map { $_->{json}{type} } @got ],
              [qw(conversation.created message.created message.created message.created)],
              '  conversation.created, then the messages');
    is_deeply([ map { $_->{json}{data}{message}{text} } @got[1 .. 3] ],
              [ map { "second visitor, message $_" } 1 .. 3 ], '  in the order written');
    check_requests(\@got, name => 'resumed', secret => $A->{secret}, secrets => [ $A->{secret} ]);

    my $rxc = Chatvisor::Receiver->new(secrets => [ $A->{secret} ])->start;
    must(PATCH => "webhooks/$A->{id}", { url => $rxc->url('/c') });
    $v2->post('after the move');
    my @c = wait_events($rxc, sub { @_ >= 1 }, 10);
    is($c[0] && $c[0]{json}{data}{message}{text}, 'after the move',
       'PATCH url: the next event goes to the new URL');
    is($c[0] && $c[0]{path}, '/c', '  its path');
    sleep 0.3;
    is(scalar(events_of($rxa->log)), 5, '  and not to the old one');

    # B takes message.created from now on
    must(PATCH => "webhooks/$B->{id}", { events => ['message.created'] });
    my $utf8 = "for B too \x{2014} \x{fc}n\x{ef}c\x{f6}d\x{e9} \x{2713} \x{1f600}";
    $v2->post($utf8);
    my @b = wait_events($rxb, sub { count_type('message.created', @_) >= 1 }, 10);
    my @bm = grep { $_->{json}{type} eq 'message.created' } @b;
    is_deeply([ map { $_->{json}{data}{message}{text} } @bm ], [$utf8],
              'PATCH events: B gets message.created from then on (not the earlier ones)');
    check_requests(\@bm, name => 'UTF-8 text', secret => $B->{secret},
                   secrets => [ $B->{secret} ]);

    must(DELETE => "webhooks/$A->{id}", undef, 204);
    $v2->post('after the delete');
    wait_events($rxb, sub { count_type('message.created', @_) >= 2 }, 10);
    sleep 0.5;
    is_deeply([ map { $_->{json}{data}{message}{text} } events_of($rxc->log) ],
              [ 'after the move', $utf8 ], 'DELETE: nothing more is sent');
    $rxc->stop;
}

# ---- retried, failed, retried by the API; the list ----

{
    my $rxe = Chatvisor::Receiver->new->start;
    $rxe->then({ status => 500, body => 'boom: database is down' });
    my $E = must(POST => 'webhooks', { url => $rxe->url('/e'), events => ['message.created'] },
                 201);
    $rxe->secrets($E->{secret});
    my $v3 = Chatvisor::API::Visitor->new($t);
    my $started = time;
    $v3->post('this one fails at first');
    my @tries = wait_events($rxe, sub { @_ >= 2 }, 10);
    my $d = must(GET => "webhooks/$E->{id}/deliveries?status=pending");
    my ($p) = @{ $d->{items} };
    ok($p, 'after a 500: the delivery is pending');
    is($p->{last_status_code}, 500, '  last_status_code 500');
    is($p->{last_error}, 'boom: database is down', "  last_error: the answer's body");
    ok(defined $p->{next_attempt_at}, '  with a next_attempt_at');

    @tries = wait_events($rxe, sub { @_ >= 4 }, 10);
    my $failed = wait_until(sub {
        my $f = must(GET => "webhooks/$E->{id}/deliveries?status=failed");
        $f->{items}[0];
    }, 5);
    ok($failed, 'after the last attempt of the schedule: failed');
    is($failed->{attempts}, 4, '  4 attempts (0s 1s 1s 1s)');
    is($failed->{next_attempt_at}, undef, '  no next attempt');
    is($failed->{last_status_code}, 500, '  last_status_code 500');
    is(scalar(events_of($rxe->log)), 4, '  the receiver got it four times');
    my %wid = map { $_->{headers}{'webhook-id'} => 1 } @tries;
    is(scalar keys %wid, 1, '  with the same webhook-id');
    my %bodies = map { $_->{body} => 1 } @tries;
    is(scalar keys %bodies, 1, '  and the same body');
    my @at = map { $_->{at} / 1000 } @tries;
    ok($at[$_] - $at[$_ - 1] >= 0.85, "  attempt " . ($_ + 1) . " about 1 s after the one before")
        or diag sprintf '%.3f', $at[$_] - $at[$_ - 1] for 1 .. 3;
    check_requests(\@tries, name => 'retried', secret => $E->{secret},
                   secrets => [ $E->{secret} ]);
    is_deeply(must(GET => "webhooks/$E->{id}/deliveries?status=delivered")->{items}, [],
              '  ?status=delivered: none');

    $rxe->then({ status => 204 });
    my $r = $api->call(POST => "webhooks/$E->{id}/deliveries/$failed->{id}/retry", {});
    is($r->{status}, 202, 'POST .../retry: 202') or diag $r->{content};
    is($r->{json}{status}, 'pending', '  pending again');
    is($r->{json}{id}, $failed->{id}, '  the same delivery');
    my @all = wait_events($rxe, sub { @_ >= 5 }, 10);
    is($all[4] && $all[4]{headers}{'webhook-id'}, $failed->{event_id},
       '  it is sent again, with its webhook-id');
    my $done = wait_until(sub { must(GET => "webhooks/$E->{id}/deliveries?status=delivered")
                                  ->{items}[0] }, 5);
    ok($done, '  and delivered');
    is($done && $done->{attempts}, 5, '  its attempts keep counting: 5');
    is($done && $done->{last_status_code}, 204, '  status 204');
    is($done && $done->{last_error}, undef, '  no last_error');
    is_deeply(must(GET => "webhooks/$E->{id}/deliveries?status=failed")->{items}, [],
              '  ?status=failed: none left');
    $r = $api->call(POST => "webhooks/$E->{id}/deliveries/$failed->{id}/retry", {});
    is($r->{status}, 409, 'retry of a delivered delivery: 409') or diag $r->{content};
    is($r->{json}{error}{code}, 'conflict', '  conflict');
    $rxe->stop;
}

# paging through B's deliveries (enough of them by now)
{
    my $full = must(GET => "webhooks/$B->{id}/deliveries?limit=200");
    my @full = map { $_->{id} } @{ $full->{items} };
    ok(@full >= 5, 'B has ' . scalar(@full) . ' deliveries');
    is($full->{next_cursor}, undef, '  in one page of 200: next_cursor null');
    is_deeply(\@full, [ sort { $b cmp $a } @full ], '  newest first (ids decrease)');
    for my $limit (1, 2, 3) {
        my (@paged, $cursor, $pages);
        while (1) {
            my $q = "limit=$limit" . (defined $cursor ? "&cursor=$cursor" : '');
            my $page = must(GET => "webhooks/$B->{id}/deliveries?$q");
            push @paged, map { $_->{id} } @{ $page->{items} };
            $pages++;
            ok(@{ $page->{items} } <= $limit, "  limit=$limit: page $pages has at most $limit")
                or last;
            $cursor = $page->{next_cursor};
            last if !defined $cursor || $pages > 100;
        }
        is_deeply(\@paged, \@full, "  limit=$limit and next_cursor: each once, in order");
    }
    my $del = must(GET => "webhooks/$B->{id}/deliveries?status=delivered&limit=2");
    ok(!grep({ $_->{status} ne 'delivered' } @{ $del->{items} }),
       '  ?status=delivered&limit=2: only delivered ones');
    ok(defined $del->{next_cursor}, '  and a next page');
    my $more = must(GET => "webhooks/$B->{id}/deliveries?status=delivered&limit=200"
                           . "&cursor=$del->{next_cursor}");
    is_deeply([ map { $_->{id} } @{ $del->{items} }, @{ $more->{items} } ],
              [ map { $_->{id} } grep { $_->{status} eq 'delivered' } @{ $full->{items} } ],
              '  the pages of one status make that status\'s list');
}

done_testing;
