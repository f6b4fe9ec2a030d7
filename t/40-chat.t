#!/usr/bin/perl

# The chat through the real nginx (4 workers), per docs/chat-endpoints.md:
# visitor round trips (message shape, cookie, retries by client_msg_id,
# ordering, history, cursors, long-poll timeout), long-polls woken from
# other workers (by an agent reply, by the visitor's other tab, agent
# console polls by a visitor message; each within 500 ms), the agent flow
# (chatvisorctl login URL, join, me, conversation lists and filters, reply
# that takes an unassigned conversation, assign, close and the visitor's
# next conversation, typing both ways, status, logout), and routing
# (manual, round_robin alternating between online agents, away agents
# skipped, the default capacity of 5 open conversations).

use strict;
use warnings;
use utf8;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(time sleep);

use Chatvisor::Test;
use Chatvisor::Chat qw(ctl);

my $WAKE_MAX = 1.0;     # seconds from a commit to the woken poll's answer
                        # (0.69 s seen once under ASan, 4 files at a time;
                        # a wake missed shows as an empty answer at 2 s)
my $RFC3339 = qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

binmode Test::More->builder->$_, ':encoding(UTF-8)'
    for qw(output failure_output todo_output);

sub chat_config {
    my ($routing) = @_;
    # reuseport: connections spread evenly over the 4 workers, so most
    # wake-ups below are from another worker (the access log says which)
    # sync=on (the default) commits in the thread pool, declared here; the
    # durability tests use the one nginx creates by default
    return <<"EOF";
worker_processes 4;
thread_pool default threads=2;
http {
    chatvisor_store %%TESTDIR%%/store size=64m;
    chatvisor_routing $routing;
    log_format chatpids '\$pid \$request_method \$request_uri \$status';
    server {
        listen 127.0.0.1:%%PORT%% reuseport;
        access_log %%TESTDIR%%/pids.log chatpids;
        location /chatvisor/ { chatvisor on; chatvisor_poll_timeout 2s; }
    }
}
EOF
}

my $t = Chatvisor::Test->new;
$t->write_config(chat_config('manual'));
$t->run;
my $store = $t->testdir . '/store';

sub message_ok {
    my ($m, $name, %want) = @_;
    subtest $name => sub {
        ok(ref $m eq 'HASH', 'a message object') or return;
        like($m->{id} // '', qr/^msg_[A-Za-z0-9]+$/, 'id msg_…');
        like($m->{conversation_id} // '', qr/^conv_[A-Za-z0-9]+$/,
             'conversation_id conv_…');
        like($m->{seq} // '', qr/^[1-9]\d*$/, 'seq is a positive integer');
        like($m->{created_at} // '', $RFC3339, 'created_at RFC 3339 with ms, Z');
        ok(ref $m->{author} eq 'HASH', 'author object');
        for my $k (sort keys %want) {
            if ($k =~ /^author_(\w+)$/) {
                is($m->{author}{$1}, $want{$k}, "author.$1");
            } else {
                is($m->{$k}, $want{$k}, $k);
            }
        }
    };
}

sub texts { [ map { $_->{type} eq 'message' ? $_->{message}{text} : "<$_->{type}>" } @{ $_[0] } ] }
sub seqs  { [ map { $_->{seq} } @{ $_[0] } ] }

# a held poll: waits a moment and checks it has not been answered yet
sub held {
    my ($p, $name) = @_;
    sleep 0.1;
    return ok(!$p->ready(0), "$name: the poll is held");
}

# the worker pid that answered each request with a given tag in its URI
sub pids_by_tag {
    my %pid;
    for my $line (split /\n/, $t->read_file('pids.log') // '') {
        my ($pid, $method, $uri) = split ' ', $line;
        next unless $uri && $uri =~ /[?&]tag=([\w-]+)/;
        $pid{"$method $1"} = $pid;
    }
    return \%pid;
}

# ---------------------------------------------------------------------------
# A visitor's first message, the cookie, retries

my $v = Chatvisor::Chat::Visitor->new($t);

my $r = $v->post('Hello there', client_msg_id => 'c-1',
                 page_url => 'http://shop.example/p/1');
is($r->{status}, 201, 'first message: 201');
like($r->{headers}{'content-type'} // '', qr{^application/json}, 'JSON answer');
message_ok($r->{json}, 'first message shape', seq => 1, text => 'Hello there',
           author_type => 'customer', client_msg_id => 'c-1');
my $first = $r->{json};
my $conv1 = $first->{conversation_id};

{
    my $sc = $r->{headers}{'set-cookie'};
    my @sc = ref $sc ? @$sc : ($sc // ());
    my ($vc) = grep { /^cv_visitor=/ } @sc;
    ok($vc, 'the first message sets cv_visitor') or diag(explain(\@sc));
    $vc //= '';
    like($vc, qr/;\s*Path=\/(;|$)/i, 'cookie Path=/');
    like($vc, qr/;\s*HttpOnly/i, 'cookie HttpOnly');
    like($vc, qr/;\s*SameSite=Lax/i, 'cookie SameSite=Lax');
    unlike($vc, qr/;\s*Secure/i, 'no Secure over plain http');
    my ($age) = $vc =~ /Max-Age=(\d+)/i;
    ok(defined $age && $age >= 364 * 86400 && $age <= 366 * 86400,
       'cookie lives one year') or diag($vc);
    is($first->{author}{id}, $v->customer_id, 'author.id is the cookie\'s customer');
    like($v->customer_id // '', qr/^cus_/, 'customer id cus_…');
}

$r = $v->post('Hello there', client_msg_id => 'c-1');
is($r->{status}, 200, 'retried client_msg_id: 200');
is($r->{json}{id}, $first->{id}, 'retry: the same message id');
is($r->{json}{seq}, 1, 'retry: the same seq');
ok(!defined $r->{set_cookie}{cv_visitor}, 'retry with the cookie sets no new cookie');

# a retry from a second tab, and with another text (the id decides)
$r = $v->tab->post('Hello there (again)', client_msg_id => 'c-1');
is($r->{status}, 200, 'retry from another tab: 200');
is($r->{json}{id}, $first->{id}, 'retry from another tab: same message');

$r = $v->events(after => 0, wait => 0);
is($r->{status}, 200, 'history: 200');
is(scalar @{ $r->{json}{events} }, 1, 'retries stored no new event');
is($r->{json}{conversation_id}, $conv1, 'history: conversation_id');
is($r->{json}{status}, 'open', 'history: status open');
is($r->{json}{cursor}, 1, 'history: cursor 1');
is($r->{json}{events}[0]{type}, 'message', 'event type message');
is($r->{json}{events}[0]{seq}, 1, 'event seq');
is($r->{json}{events}[0]{message}{id}, $first->{id}, 'event carries the message');

# ---------------------------------------------------------------------------
# Ordering: many messages, seqs contiguous, history in order

my @sent;
for my $i (1 .. 40) {
    my $rr = $v->post("message $i ünïcødé ✓", client_msg_id => "order-$i");
    push @sent, $rr;
}
is_deeply([ map { $_->{status} } @sent ], [ (201) x 40 ], '40 messages: all 201');
is_deeply([ map { $_->{json}{seq} } @sent ], [ 2 .. 41 ],
          'seqs 2..41, strictly increasing and contiguous');
is_deeply([ map { $_->{json}{conversation_id} } @sent ], [ ($conv1) x 40 ],
          'all in the open conversation');
is($sent[0]{json}{text}, 'message 1 ünïcødé ✓', 'UTF-8 text round trip');

{
    my $t0 = time;
    my $h = $v->events(after => 0, wait => 0);
    my $el = time - $t0;
    ok($el < 1, sprintf('history with wait=0 answers at once (%.3f s)', $el));
    is_deeply(seqs($h->{json}{events}), [ 1 .. 41 ], 'history: seqs 1..41 in order');
    is_deeply(texts($h->{json}{events}),
              [ 'Hello there', map { "message $_ ünïcødé ✓" } 1 .. 40 ],
              'history: texts in order');
    is($h->{json}{cursor}, 41, 'history: cursor is the last seq');

    # after=cursor with wait=0: empty at once
    $t0 = time;
    $h = $v->events(after => 41, wait => 0);
    $el = time - $t0;
    ok($el < 1, sprintf('nothing new with wait=0: at once (%.3f s)', $el));
    is_deeply($h->{json}{events}, [], 'nothing new: no events');
    is($h->{json}{cursor}, 41, 'nothing new: cursor unchanged');

    # without wait=0 an answer with events comes at once too
    $t0 = time;
    $h = $v->events(after => 39);
    ok(time - $t0 < 1, 'a poll with events after SEQ answers at once');
    is_deeply(seqs($h->{json}{events}), [ 40, 41 ], 'after=39: 40 and 41');
}

# cursor resume: after=k gives exactly the events > k
for my $k (0, 1, 7, 20, 40, 41) {
    my $h = $v->events(after => $k, wait => 0);
    is_deeply(seqs($h->{json}{events}), [ $k + 1 .. 41 ], "after=$k: events " . ($k + 1) . "..41");
}

# ---------------------------------------------------------------------------
# Long-poll timeout, and a visitor without a cookie

{
    my $stranger = Chatvisor::Chat::Visitor->new($t);
    my $p1 = $v->start_poll(after => 41);
    my $p2 = $stranger->start_poll(after => 0);
    my $a = $p1->result(timeout => 6);
    my $b = $p2->result(timeout => 6);
    is($a->{status}, 200, 'poll timeout: 200');
    ok($a->{elapsed} >= 1.8 && $a->{elapsed} < 3.5,
       sprintf('poll held for the 2 s poll timeout (%.2f s)', $a->{elapsed}));
    is_deeply($a->{json}{events}, [], 'poll timeout: no events');
    is($a->{json}{cursor}, 41, 'poll timeout: the same cursor');
    is($a->{json}{conversation_id}, $conv1, 'poll timeout: conversation_id');

    is($b->{status}, 200, 'no cookie: 200');
    ok($b->{elapsed} >= 1.8, sprintf('no cookie: answered after the wait (%.2f s)', $b->{elapsed}));
    is_deeply($b->{json}, { conversation_id => undef, status => undef,
                            events => [], cursor => 0 },
              'no cookie: conversation_id null, no events, cursor 0')
        or diag(explain($b->{json}));
    ok(!defined $b->{set_cookie}{cv_visitor}, 'polling sets no cookie');

    my $h = $stranger->events(after => 0, wait => 0);
    is($h->{json}{conversation_id}, undef, 'no cookie, wait=0: conversation_id null');
}

# ---------------------------------------------------------------------------
# The agent: chatvisorctl (while nginx runs), join, me

ctl('agent-put', '--store', $store, '--id', 'ann', '--name', 'Ann');
ctl('agent-put', '--store', $store, '--id', 'bob', '--name', 'Bob');

my $ann_token = Chatvisor::Chat::Agent->token($t, $store, 'ann');
like($ann_token, qr/^\S{16,}$/, 'login-url prints BASE/join#TOKEN');
{
    my $page = $t->get('/chatvisor/join');
    is($page->{status}, 200, 'GET join: the join page');
    like($page->{headers}{'cache-control'} // '', qr/no-store/, 'join page: no-store');
    is($page->{headers}{'referrer-policy'}, 'no-referrer', 'join page: no-referrer');
}

$r = Chatvisor::Chat::Agent->join($t, $ann_token);
is($r->{status}, 200, 'join: 200');
is_deeply($r->{json}, { redirect => '/chatvisor/agent/' }, 'join: redirect to the console');
like($r->{headers}{'cache-control'} // '', qr/no-store/, 'join answer: Cache-Control no-store');
is($r->{headers}{'referrer-policy'}, 'no-referrer', 'join answer: Referrer-Policy no-referrer');
{
    my $sc = $r->{headers}{'set-cookie'};
    my ($ac) = grep { /^cv_agent=/ } (ref $sc ? @$sc : ($sc // ()));
    $ac //= '';
    like($ac, qr/;\s*Path=\/chatvisor\/(;|$)/, 'agent cookie Path=PREFIX');
    like($ac, qr/;\s*HttpOnly/i, 'agent cookie HttpOnly');
    like($ac, qr/;\s*SameSite=Strict/i, 'agent cookie SameSite=Strict');
    like($ac, qr/;\s*Max-Age=43200(;|$)/, 'agent cookie: 12 hours');
}
my $ann = $r->{agent} or BAIL_OUT('no agent session');

$r = $ann->get('me');
is($r->{status}, 200, 'me: 200');
is($r->{json}{agent}{id}, 'ann', 'me: agent id');
is($r->{json}{agent}{name}, 'Ann', 'me: agent name');
like($r->{json}{csrf_token} // '', qr/^\S{16,}$/, 'me: csrf_token');
like($r->{json}{cursor} // '', qr/^\d+$/, 'me: cursor is a number');
ok(defined $r->{json}{status}, 'me: status');

# a login URL for a conversation leads there
{
    my $tok = Chatvisor::Chat::Agent->token($t, $store, 'ann', '--conversation', $conv1);
    my $j = Chatvisor::Chat::Agent->join($t, $tok);
    is($j->{status}, 200, 'join with --conversation: 200');
    is($j->{json}{redirect}, "/chatvisor/agent/#conversation=$conv1",
       'join with --conversation: redirect to the conversation');
}

my $bob = Chatvisor::Chat::Agent->login($t, $store, 'bob', no_put => 1);

# a second visitor, for the lists
my $v2 = Chatvisor::Chat::Visitor->new($t);
$r = $v2->post('Second visitor here');
is($r->{status}, 201, 'second visitor: 201');
my $conv2 = $r->{json}{conversation_id};
isnt($conv2, $conv1, 'second visitor: another conversation');
isnt($v2->cookie, $v->cookie, 'second visitor: another cookie');

sub list_ids {
    my ($agent, $q) = @_;
    my $l = $agent->get("conversations?$q");
    return undef unless $l->{status} == 200 && $l->{json};
    return { map { $_->{id} => $_ } @{ $l->{json}{items} } };
}

{
    my $l = $ann->get('conversations?filter=unassigned');
    is($l->{status}, 200, 'list unassigned: 200');
    ok(exists $l->{json}{next_cursor}, 'list: next_cursor');
    my %by = map { $_->{id} => $_ } @{ $l->{json}{items} || [] };
    ok($by{$conv1} && $by{$conv2}, 'unassigned: both conversations');
    my $c = $by{$conv1} || {};
    is($c->{customer}{customer_id} // $c->{customer}{id}, $v->customer_id,
       'list item: customer');
    is($c->{last_message}{text}, 'message 40 ünïcødé ✓', 'list item: last_message');
    is($c->{status}, 'open', 'list item: status');
    is_deeply(list_ids($ann, 'filter=mine'), {}, 'mine: none yet');
    my $all = list_ids($ann, 'filter=all');
    ok($all->{$conv1} && $all->{$conv2}, 'all: both');
}

$r = $ann->get("conversations/$conv1");
is($r->{status}, 200, 'GET conversation: 200');
is($r->{json}{id}, $conv1, 'conversation: id');
is($r->{json}{customer_id}, $v->customer_id, 'conversation: customer_id');
is(ref $r->{json}{customer}, 'HASH', 'conversation: customer object');
is($r->{json}{customer}{page_url}, 'http://shop.example/p/1', 'customer: page_url');
is($r->{json}{status}, 'open', 'conversation: open');

$r = $ann->get("conversations/$conv1/events?after=38");
is($r->{status}, 200, 'conversation events: 200');
is_deeply(seqs($r->{json}{events}), [ 39, 40, 41 ], 'conversation events after=38');
is($r->{json}{cursor}, 41, 'conversation events: cursor');

$r = $ann->get('conversations/conv_doesnotexist');
is($r->{status}, 404, 'unknown conversation: 404');
is($r->{json}{error}{code}, 'not_found', 'unknown conversation: not_found');

# ---------------------------------------------------------------------------
# The agent's reply takes the conversation; the visitor sees joined + message

{
    my $p = $v->start_poll(after => 41);
    held($p, 'visitor poll before the reply');
    my $t0 = time;
    my $rep = $ann->reply($conv1, 'Hi, I am Ann. How can I help?', client_msg_id => 'a-1');
    is($rep->{status}, 201, 'agent reply: 201');
    message_ok($rep->{json}, 'agent reply shape', author_type => 'agent',
               author_id => 'ann', author_name => 'Ann', conversation_id => $conv1,
               text => 'Hi, I am Ann. How can I help?');
    my $res = $p->result(timeout => 5);
    ok($res->{at} - $t0 < $WAKE_MAX + 0.5, sprintf('visitor woken (%.3f s)', $res->{at} - $t0));
    my @ev = @{ $res->{json}{events} || [] };
    is_deeply([ map { $_->{type} } @ev ], [ 'agent_joined', 'message' ],
              'visitor sees agent_joined, then the message') or diag(explain(\@ev));
    is_deeply(seqs(\@ev), [ 42, 43 ], 'their seqs 42, 43');
    is_deeply($ev[0]{agent}, { id => 'ann', name => 'Ann' }, 'agent_joined: the agent');
    is($ev[1]{message}{id}, $rep->{json}{id}, 'the reply in the visitor stream');
    is($res->{json}{cursor}, 43, 'cursor 43');

    my $again = $ann->reply($conv1, 'Hi, I am Ann. How can I help?', client_msg_id => 'a-1');
    is($again->{status}, 200, 'agent retry: 200');
    is($again->{json}{id}, $rep->{json}{id}, 'agent retry: same message');

    ok(!list_ids($ann, 'filter=unassigned')->{$conv1}, 'no longer unassigned');
    ok(list_ids($ann, 'filter=unassigned')->{$conv2}, 'the other is still unassigned');
    is_deeply([ keys %{ list_ids($ann, 'filter=mine') } ], [ $conv1 ], "Ann's: just it");
    is_deeply(list_ids($bob, 'filter=mine'), {}, "Bob's: none");
}

# ---------------------------------------------------------------------------
# Polls woken from other workers: 20 by agent replies, 20 by the visitor's
# own message from another tab

my $cursor = 43;
my (@late, @wrong, @not_held);
for my $i (1 .. 40) {
    my $tag = "w$i";
    my $by_agent = $i <= 20;
    my $p = $v->start_poll(after => $cursor, tag => $tag);
    sleep 0.08;
    push @not_held, $i if $p->ready(0);
    my $text = $by_agent ? "agent wake $i" : "tab wake $i";
    my $w = $by_agent
        ? Chatvisor::Chat::request($t, POST => "v1/agent/conversations/$conv1/messages?tag=$tag",
              json => { text => $text },
              headers => $ann->headers('X-Chatvisor-CSRF' => $ann->csrf))
        : $v->tab->request(POST => "v1/visitor/messages?tag=$tag", json => { text => $text });
    my $t1 = time;    # committed (durable): its notices went with the answer
    my $res = eval { $p->result(timeout => 4) };
    my $lat = $res ? $res->{at} - $t1 : 99;
    my @ev = @{ ($res && $res->{json} && $res->{json}{events}) || [] };
    if ($w->{status} != 201 || @ev != 1 || $ev[0]{seq} != $cursor + 1
        || ($ev[0]{message}{text} // '') ne $text)
    {
        push @wrong, "$i: post $w->{status}, poll " . ($res ? $res->{content} : 'none');
    }
    push @late, sprintf('%d: %.3f s', $i, $lat) if $lat > $WAKE_MAX;
    $cursor++;
}
is_deeply(\@not_held, [], 'wake loop: every poll was held before the post');
is_deeply(\@wrong, [], 'wake loop: each poll returned exactly the posted message');
is_deeply(\@late, [], "wake loop: each poll answered within $WAKE_MAX s of the post");
{
    sleep 0.2;    # the access log lines are written as requests end
    my $pid = pids_by_tag();
    my ($cross, $known) = (0, 0);
    for my $i (1 .. 40) {
        my ($a, $b) = ($pid->{"GET w$i"}, $pid->{"POST w$i"});
        next unless $a && $b;
        $known++;
        $cross++ if $a != $b;
    }
    is($known, 40, 'the access log names the worker of each poll and post');
    ok($cross >= 10, "most wake-ups were across workers ($cross of 40)");
    note("$cross of 40 polls were woken by a post in another worker");
}

# ---------------------------------------------------------------------------
# The agent console's long-poll, woken by visitor messages

{
    my (@bad, @slow);
    my $gcur = $ann->get('me')->{json}{cursor};
    my $gcur0 = $gcur;
    for my $i (1 .. 10) {
        my $p = $ann->start_events(after => $gcur);
        sleep 0.08;
        push @bad, "$i: not held" if $p->ready(0);
        my $w = $v2->post("to the console $i");
        my $t1 = time;
        my $res = eval { $p->result(timeout => 4) };
        push @slow, sprintf('%d: %.3f s', $i, $res ? $res->{at} - $t1 : 99)
            if !$res || $res->{at} - $t1 > $WAKE_MAX;
        my ($e) = grep { $_->{type} eq 'message.created' } @{ ($res && $res->{json}{events}) || [] };
        if (!$e || ($e->{message}{text} // '') ne "to the console $i"
            || ($e->{conversation_id} // '') ne $conv2
            || ($e->{conversation}{id} // '') ne $conv2
            || ($e->{customer_id} // '') ne $v2->customer_id
            || !$e->{seq} || $e->{seq} <= $gcur
            || ($e->{conversation_seq} // 0) != $w->{json}{seq})
        {
            push @bad, "$i: " . ($res ? $res->{content} : 'no answer');
        }
        $gcur = $res->{json}{cursor} if $res && $res->{json};
    }
    is_deeply(\@bad, [], 'agent events: each poll returned message.created with '
                         . 'the message, conversation and customer');
    is_deeply(\@slow, [], "agent events: woken within $WAKE_MAX s");

    # each entry carries its conversation as it is now: the customer, and
    # the last message (the tenth's, also on the nine older entries)
    my @msgs = grep { $_->{type} eq 'message.created' }
               @{ $ann->events(after => $gcur0)->{json}{events} };
    is(scalar @msgs, 10, 'agent events after the cursor: the ten messages');
    is_deeply([ map { "$_->{seq}: " . ($_->{conversation}{last_message}{text} // 'none')
                      . ', ' . ($_->{conversation}{customer}{customer_id} // 'none')
                      . (exists $_->{event} ? ', event' : '') }
                grep { ($_->{conversation}{last_message}{text} // '') ne 'to the console 10'
                       || ($_->{conversation}{customer}{customer_id} // '') ne $v2->customer_id
                       || exists $_->{event} } @msgs ],
              [], 'agent events: conversation with its customer and last message, no raw event');

    # the entries' conversation (made from the stored texts) is the
    # conversation as GET conversations/{id} shows it (parsed and printed)
    is_deeply($msgs[-1]{conversation}, $ann->get("conversations/$conv2")->{json},
              'agent events: the conversation is GET conversations/{id}\'s');

    # agent events after=cursor are exactly the log entries after it
    my $all = $ann->events(after => 0);
    my @g = map { $_->{seq} } @{ $all->{json}{events} };
    is_deeply(\@g, [ 1 .. scalar @g ], 'global log seqs 1..N contiguous');
    my $part = $ann->events(after => 3);
    is_deeply([ map { $_->{seq} } @{ $part->{json}{events} } ], [ 4 .. scalar @g ],
              'agent events after=3: exactly the entries > 3');
}

# A worker keeps hearing a customer's notices for a second after its last
# poll of them went (runtime/ngx_chatvisor_poll.c); after that it stops,
# and its next poll must start hearing them again and look at the store
# once more. Polls after 1.3 s without any, woken from any worker.
{
    my (@bad, @tags);
    for my $i (1 .. 8) {
        sleep 1.3;
        my $tag = "idle$i";
        push @tags, $tag;
        my $p = $v->start_poll(after => $cursor, tag => $tag);
        sleep 0.08;
        push @bad, "$i: not held" if $p->ready(0);
        my $text = "after a quiet second $i";
        my $w = $i % 2
            ? Chatvisor::Chat::request($t, POST => "v1/agent/conversations/$conv1/messages?tag=$tag",
                  json => { text => $text },
                  headers => $ann->headers('X-Chatvisor-CSRF' => $ann->csrf))
            : $v->tab->request(POST => "v1/visitor/messages?tag=$tag", json => { text => $text });
        my $t1 = time;
        my $res = eval { $p->result(timeout => 4) };
        my @ev = @{ ($res && $res->{json} && $res->{json}{events}) || [] };
        push @bad, "$i: post $w->{status}, poll " . ($res ? $res->{content} : 'none')
            if $w->{status} != 201 || @ev != 1 || ($ev[0]{message}{text} // '') ne $text;
        push @bad, sprintf('%d: answered %.3f s after the post', $i, $res->{at} - $t1)
            if $res && $res->{at} - $t1 > $WAKE_MAX;
        $cursor++;
    }
    is_deeply(\@bad, [], 'after a second without polls: each poll held, woken with its message in time');
    sleep 0.2;
    my $pid = pids_by_tag();
    my $cross = grep { $pid->{"GET $_"} && $pid->{"POST $_"} && $pid->{"GET $_"} != $pid->{"POST $_"} } @tags;
    note("$cross of 8 polls after a quiet second were woken by a post in another worker");
}

# ---------------------------------------------------------------------------
# Typing, both ways

{
    my $p = $v->start_poll(after => $cursor);
    held($p, 'visitor poll before agent typing');
    my $ty = $ann->write(POST => "conversations/$conv1/typing", { typing => JSON::PP::true() });
    is($ty->{status}, 204, 'agent typing: 204');
    my $res = $p->result(timeout => 4);
    my @ev = @{ $res->{json}{events} || [] };
    is(scalar @ev, 1, 'visitor poll: one event');
    is($ev[0]{type}, 'typing', 'visitor sees typing');
    is($ev[0]{author}{name}, 'Ann', 'typing: author name');
    is($ev[0]{author}{type}, 'agent', 'typing: author type agent');
    is($ev[0]{seq}, $cursor, 'typing carries the cursor');
    is($res->{json}{cursor}, $cursor, 'typing does not advance the cursor');
    ok($res->{elapsed} < 1.5, sprintf('typing arrives at once (%.3f s)', $res->{elapsed}));

    my $gcur = $ann->get('me')->{json}{cursor};
    my $ap = $ann->start_events(after => $gcur);
    held($ap, 'agent poll before visitor typing');
    $ty = $v->typing;
    is($ty->{status}, 204, 'visitor typing: 204');
    my $ares = $ap->result(timeout => 4);
    my ($te) = grep { $_->{type} eq 'typing' } @{ $ares->{json}{events} || [] };
    ok($te, 'agent poll: a typing event') or diag($ares->{content});
    is($te->{conversation_id}, $conv1, 'typing: conversation_id');
    is($te->{author}{type}, 'customer', 'typing: author type customer');
    is($ares->{json}{cursor}, $gcur, 'typing does not advance the global cursor');
    ok($ares->{elapsed} < 1.5, sprintf('typing reaches the console at once (%.3f s)', $ares->{elapsed}));

    # typing is not stored
    is_deeply(seqs($v->events(after => $cursor - 1, wait => 0)->{json}{events}),
              [ $cursor ], 'typing left nothing in the history');
}

# ---------------------------------------------------------------------------
# Status available / away

{
    my $s = $ann->write(PUT => 'status', { status => 'away' });
    is($s->{status}, 200, 'PUT status away: 200');
    is_deeply($s->{json}, { status => 'away' }, 'PUT status: answer');
    is($ann->get('me')->{json}{status}, 'away', 'me.status away');
    $s = $ann->write(PUT => 'status', { status => 'available' });
    is($s->{status}, 200, 'PUT status available: 200');
    is($ann->get('me')->{json}{status}, 'available', 'me.status available');
    $s = $ann->write(PUT => 'status', { status => 'sleeping' });
    is($s->{status}, 400, 'PUT status sleeping: 400');
    is($s->{json}{error}{code}, 'invalid_request', 'bad status: invalid_request');
}

# ---------------------------------------------------------------------------
# Assign to another agent and back

{
    my $p = $v->start_poll(after => $cursor);
    held($p, 'visitor poll before assign');
    my $as = $ann->write(POST => "conversations/$conv1/assign", { agent_id => 'bob' });
    is($as->{status}, 200, 'assign to bob: 200');
    is($as->{json}{id}, $conv1, 'assign answers the conversation');
    is($as->{json}{assigned_agent_id}, 'bob', 'assigned to bob');
    my $res = $p->result(timeout => 4);
    my @ev = @{ $res->{json}{events} || [] };
    is_deeply([ map { $_->{type} } @ev ], [ 'agent_left', 'agent_joined' ],
              'visitor sees agent_left, agent_joined') or diag($res->{content});
    is($ev[0]{agent}{id}, 'ann', 'left: ann');
    is_deeply($ev[1]{agent}, { id => 'bob', name => 'Bob' }, 'joined: Bob');
    $cursor = $res->{json}{cursor};
    is_deeply([ keys %{ list_ids($bob, 'filter=mine') } ], [ $conv1 ], "Bob's now");
    is_deeply(list_ids($ann, 'filter=mine'), {}, "not Ann's");

    $as = $ann->write(POST => "conversations/$conv1/assign", {});
    is($as->{status}, 200, 'assign to self (no agent_id): 200');
    is($as->{json}{assigned_agent_id}, 'ann', 'assigned to ann again');
    my $h = $v->events(after => $cursor, wait => 0);
    is_deeply([ map { "$_->{type}:$_->{agent}{id}" } @{ $h->{json}{events} } ],
              [ 'agent_left:bob', 'agent_joined:ann' ], 'visitor sees bob leave, ann join');
    $cursor = $h->{json}{cursor};

    $as = $ann->write(POST => "conversations/$conv1/assign", { agent_id => 'nobody' });
    is($as->{status}, 404, 'assign to an unknown agent: 404');
    is($as->{json}{error}{code}, 'not_found', 'unknown agent: not_found');
    is($ann->get("conversations/$conv1")->{json}{assigned_agent_id}, 'ann',
       'a failed assign changes nothing');
}

# ---------------------------------------------------------------------------
# Close; the visitor's next message opens a new conversation

my $conv3;
{
    my $p = $v->start_poll(after => $cursor, conversation => $conv1);
    held($p, 'visitor poll before close');
    my $cl = $ann->write(POST => "conversations/$conv1/close", {});
    is($cl->{status}, 200, 'close: 200');
    is($cl->{json}{status}, 'closed', 'close answers the closed conversation');
    my $res = $p->result(timeout => 4);
    my @ev = @{ $res->{json}{events} || [] };
    is_deeply([ map { $_->{type} } @ev ], [ 'closed' ], 'visitor sees closed');
    is_deeply($ev[0]{by}, { type => 'agent', id => 'ann', name => 'Ann' }, 'closed by Ann');
    is($res->{json}{status}, 'closed', 'poll: status closed');
    is($res->{json}{conversation_id}, $conv1, 'still the closed conversation');
    $cursor = $res->{json}{cursor};

    my $late = $ann->reply($conv1, 'too late');
    is($late->{status}, 409, 'reply into a closed conversation: 409');
    is($late->{json}{error}{code}, 'conflict', 'closed: conflict');

    ok(list_ids($ann, 'filter=all&status=closed')->{$conv1}, 'listed as closed');
    ok(!list_ids($ann, 'filter=all')->{$conv1}, 'not in the open list');

    # the visitor's old-conversation poll is answered with the new one
    $p = $v->start_poll(after => $cursor, conversation => $conv1);
    held($p, 'visitor poll on the closed conversation');
    my $n = $v->post('One more question', client_msg_id => 'after-close');
    is($n->{status}, 201, 'message after close: 201');
    $conv3 = $n->{json}{conversation_id};
    like($conv3 // '', qr/^conv_/, 'a conversation id');
    isnt($conv3, $conv1, 'a new conversation');
    is($n->{json}{seq}, 1, 'its seq starts at 1');
    $res = $p->result(timeout => 4);
    is($res->{json}{conversation_id}, $conv3, 'poll with conversation=old: the new conversation');
    is($res->{json}{status}, 'open', 'the new one is open');
    is_deeply(seqs($res->{json}{events}), [ 1 ], 'its events from seq 1');
    is($res->{json}{events}[0]{message}{text}, 'One more question', 'the new message');
    is($res->{json}{cursor}, 1, 'cursor reset');

    my $h = $v->events(after => $cursor, conversation => $conv1, wait => 0);
    is($h->{json}{conversation_id}, $conv3, 'wait=0 with conversation=old: the new one');
    is_deeply(seqs($h->{json}{events}), [ 1 ], 'wait=0: from seq 1');
    ok(list_ids($ann, 'filter=unassigned')->{$conv3}, 'the new conversation waits unassigned');

    $h = $ann->get("conversations/$conv1/events?after=0");
    is(scalar @{ $h->{json}{events} }, $cursor, 'the closed conversation keeps its history');
}

# ---------------------------------------------------------------------------
# Logout

{
    my $lo = $bob->write(POST => 'logout', {});
    is($lo->{status}, 204, 'logout: 204');
    my $me = $bob->get('me');
    is($me->{status}, 401, 'after logout: 401');
    is($me->{json}{error}{code}, 'unauthorized', 'after logout: unauthorized');
    is($bob->get('conversations')->{status}, 401, 'after logout: lists 401');
    is($bob->reply($conv3, 'ghost')->{status}, 401, 'after logout: writes 401');
    is($ann->get('me')->{status}, 200, "another agent's session lives on");
}

# ---------------------------------------------------------------------------
# Routing: manual leaves new conversations unassigned even with agents online

{
    my $ap = $ann->start_events(after => 1e6);   # Ann is online and available
    sleep 0.1;
    is($ann->get('me')->{json}{status}, 'available', 'Ann online and available');
    my $nv = Chatvisor::Chat::Visitor->new($t);
    my $n = $nv->post('manual routing');
    my ($row) = grep { $_->{id} eq $n->{json}{conversation_id} }
                Chatvisor::Chat::ctl_conversations($store);
    ok($row, 'chatvisorctl conversations lists it');
    is($row && $row->{agent}, undef, 'manual: unassigned');
    $ap->close;
}

# ---------------------------------------------------------------------------
# Routing: round_robin between online agents, away skipped, capacity

# (at file scope: the end-of-file check covers its error.log too)
my $rt = Chatvisor::Test->new;
{
    $rt->write_config(chat_config('round_robin'));
    $rt->run;
    my $rstore = $rt->testdir . '/store';
    my $x = Chatvisor::Chat::Agent->login($rt, $rstore, 'rr-x');
    my $y = Chatvisor::Chat::Agent->login($rt, $rstore, 'rr-y');
    Chatvisor::Chat::ctl('agent-put', '--store', $rstore, '--id', 'rr-z');  # never online

    # both online: their consoles poll
    my @polls = map { $_->start_events(after => 1e6) } $x, $y;
    sleep 0.1;

    my $assigned = sub {
        my $vv = Chatvisor::Chat::Visitor->new($rt);
        my $m = $vv->post($_[0] // 'route me');
        return 'post failed' unless $m->{status} == 201;
        my $h = $vv->events(after => 0, wait => 0);
        my ($j) = grep { $_->{type} eq 'agent_joined' } @{ $h->{json}{events} };
        my $c = $x->get("conversations/$m->{json}{conversation_id}")->{json};
        my $who = $c->{assigned_agent_id};
        my $joined = $j ? $j->{agent}{id} : undef;
        return "mismatch: joined " . ($joined // '-') . ', assigned ' . ($who // '-')
            if ($joined // '') ne ($who // '');
        return $who // '-';
    };

    my @got = map { $assigned->("rr $_") } 1 .. 4;
    ok(!grep({ !/^rr-[xy]$/ } @got), 'round_robin: each new conversation gets an online agent')
        or diag("@got");
    ok($got[0] ne $got[1] && $got[1] ne $got[2] && $got[2] ne $got[3],
       "round_robin: alternates (@got)");

    is($y->write(PUT => 'status', { status => 'away' })->{status}, 200, 'rr-y away');
    @got = map { $assigned->("away $_") } 1 .. 3;
    is_deeply(\@got, [ ('rr-x') x 3 ], 'an away agent is skipped') or diag("@got");

    # rr-x now has 2 + 3 = 5 open conversations: its capacity (5, default)
    is(scalar(grep { ($_->{agent} // '') eq 'rr-x' && $_->{status} eq 'open' }
              Chatvisor::Chat::ctl_conversations($rstore)), 5,
       'rr-x holds 5 open conversations');
    is($assigned->('over capacity'), '-', 'at capacity and the other away: unassigned');

    is($y->write(PUT => 'status', { status => 'available' })->{status}, 200, 'rr-y available');
    is($assigned->('back'), 'rr-y', 'the agent under capacity gets it');

    # closing one of rr-x's frees a slot
    my ($one) = grep { ($_->{agent} // '') eq 'rr-x' } Chatvisor::Chat::ctl_conversations($rstore);
    is($x->write(POST => "conversations/$one->{id}/close", {})->{status}, 200, 'close one of rr-x');
    $y->write(PUT => 'status', { status => 'away' });
    is($assigned->('freed'), 'rr-x', 'a closed conversation frees capacity');

    $_->close for @polls;
}

done_testing();
