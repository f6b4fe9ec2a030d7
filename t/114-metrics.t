#!/usr/bin/perl

# chatvisor_status (docs/metrics.md) through the real nginx, 2 workers with
# reuseport, a store with sync=on, two webhook receivers:
#
# - Every answer is Prometheus' text format 0.0.4, checked line by line by
#   a small parser below (HELP and TYPE before a family's samples, one
#   TYPE per family, names and labels well formed, counters end in _total,
#   a histogram's buckets cumulative and ending in +Inf equal to its
#   _count), with Content-Type "text/plain; version=0.0.4"; every metric of
#   the docs is there; POST is 405; a location with "deny all" is 403.
# - Counters move with what users do: visitor messages (and the
#   conversation each first one opens), an agent's and the system's
#   messages through the REST API, a close; the open conversations follow
#   from the store (a new one, a closed one, an unassigned one).
# - Two workers summed: 24 visitors' first messages on connections spread
#   over both workers (the access log's pids show both served some); every
#   scrape, whichever worker answers it, counts all of them.
# - A held visitor poll is counted while it waits and no more once
#   answered; agents by presence follow PUT agents/{id}/status.
# - The abuse limit on messages refused a visitor: limits_hit_total.
# - Webhooks: an endpoint that answers 200 counts delivered; one that
#   answers 500 counts retried, and failed after its last attempt; the
#   oldest undelivered event's age is above 0 while it waits, 0 after.
# - Commits: batches counted and the histogram's count, sum and buckets
#   agree; the store's bytes used and its maximum (size=).
# - A reload keeps every counter; counting goes on after it.
# - nginx -t refuses chatvisor_status without chatvisor_store, and twice
#   in a location. (The complete config of docs/metrics.md, a location
#   kept to the scraper with allow/deny, passes nginx -t in t/15-docs.t.)

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(time sleep);

use Chatvisor::Test;
use Chatvisor::API;
use Chatvisor::Chat;
use Chatvisor::Receiver;

my $t = Chatvisor::Test->new;
my @chars = ('A' .. 'Z', 'a' .. 'z', '0' .. '9');
my $crm_secret = join '', map { $chars[rand @chars] } 1 .. 40;
$t->write_file('crm.secret', "$crm_secret\n");

my $SIZE = 64 * 1024 * 1024;
$t->write_config(<<'EOF');
worker_processes 2;
thread_pool default threads=2;
http {
    chatvisor_store %%TESTDIR%%/store size=64m;
    chatvisor_api_client crm %%TESTDIR%%/crm.secret;
    chatvisor_webhook_allow_private on;
    chatvisor_webhook_retry_schedule 0s 3s;
    chatvisor_limit_new_visitors 1000r/m;
    chatvisor_limit_messages 5r/m;
    log_format pids '$pid $request_method $request_uri $status';
    server {
        listen 127.0.0.1:%%PORT%% reuseport;
        access_log %%TESTDIR%%/pids.log pids;
        location /chatvisor/ { chatvisor on; chatvisor_poll_timeout 20s; }
        location = /metrics {
            chatvisor_status;
            allow 127.0.0.1;
            deny all;
        }
        location = /metrics-closed {
            chatvisor_status;
            deny all;
        }
    }
}
EOF
$t->run;

# ---- the format ----

# Parses Prometheus' text format 0.0.4 strictly; returns ({"name{labels}"
# => value}, [errors]). Labels are kept in the order written.
sub parse_metrics {
    my ($text) = @_;
    my (%v, @err, %type, %help, %seen_family, $current);
    my $name_re = qr/[a-zA-Z_:][a-zA-Z0-9_:]*/;
    my $value_re = qr/(?:[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|[+-]?Inf|NaN)/;
    push @err, 'does not end with a line feed' unless $text =~ /\n\z/;
    my $n = 0;
    for my $line (split /\n/, $text) {
        $n++;
        if ($line =~ /^# HELP ($name_re) (.+)$/) {
            push @err, "line $n: a second HELP for $1" if $help{$1}++;
            $current = $1;
            next;
        }
        if ($line =~ /^# TYPE ($name_re) (counter|gauge|histogram|summary|untyped)$/) {
            push @err, "line $n: a second TYPE for $1" if $type{$1};
            push @err, "line $n: TYPE of $1 after its samples" if $seen_family{$1};
            $type{$1} = $2;
            $current = $1;
            next;
        }
        if ($line =~ /^#/) { push @err, "line $n: a comment that is no HELP or TYPE: $line"; next }
        if ($line eq '') { push @err, "line $n: an empty line"; next }
        my ($name, $labels, $value) =
            $line =~ /^($name_re)(?:\{((?:$name_re="(?:[^"\\\n]|\\.)*")(?:,$name_re="(?:[^"\\\n]|\\.)*")*)\})? ($value_re)$/;
        if (!defined $name) { push @err, "line $n: not a sample: $line"; next }
        # the family: a histogram's samples carry _bucket, _sum, _count
        my $family = $name;
        if (!$type{$family}) {
            ($family = $name) =~ s/_(?:bucket|sum|count)$//;
        }
        if (!$type{$family}) { push @err, "line $n: $name has no TYPE before it"; next }
        push @err, "line $n: $name has no HELP" unless $help{$family};
        push @err, "line $n: $name is not in the family of the lines above ($current)"
            unless defined $current && $current eq $family;
        $seen_family{$family} = 1;
        push @err, "line $n: counter $name does not end in _total"
            if $type{$family} eq 'counter' && $name !~ /_total$/;
        my $key = $name . (defined $labels ? "{$labels}" : '');
        push @err, "line $n: $key twice" if exists $v{$key};
        $v{$key} = $value;
    }
    # histograms: buckets cumulative, +Inf equal to _count
    for my $h (grep { $type{$_} eq 'histogram' } keys %type) {
        my @b = sort { $a->[0] <=> $b->[0] }
                map { /^\Q$h\E_bucket\{le="([^"]+)"\}$/ ? [ $1 eq '+Inf' ? 9**9**9 : $1, $v{$_} ] : () }
                keys %v;
        push @err, "$h: no buckets" unless @b;
        for my $i (1 .. $#b) {
            push @err, "$h: bucket le=$b[$i][0] below the one before"
                if $b[$i][1] < $b[$i - 1][1];
        }
        push @err, "$h: no +Inf bucket" unless @b && $b[-1][0] == 9**9**9;
        push @err, "$h: +Inf is not _count"
            unless @b && defined $v{"${h}_count"} && $b[-1][1] == $v{"${h}_count"};
        push @err, "$h: no _sum" unless defined $v{"${h}_sum"};
    }
    return (\%v, \@err);
}

# the parser refuses what it should (so that it can fail)
{
    my @bad = (
        "x_total 1\n",                                          # no TYPE
        "# HELP a A.\n# TYPE a counter\na 1\n",                 # counter without _total
        "# HELP a_total A.\n# TYPE a_total counter\na_total{b=\"c} 1\n",
        "# HELP a_total A.\n# TYPE a_total counter\na_total 1",  # no line feed
        "# HELP h H.\n# TYPE h histogram\nh_bucket{le=\"1\"} 3\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 2\n",
        "# HELP g G.\n# TYPE g gauge\ng 1\n# HELP g2 G.\n# TYPE g2 gauge\ng 2\n",
    );
    my $refused = grep { @{ (parse_metrics($_))[1] } } @bad;
    is($refused, scalar @bad, 'the format checker refuses each of ' . @bad . ' malformed texts');
    my ($v, $e) = parse_metrics("# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"y\"} 3\n");
    ok(!@$e && $v->{'a_total{x="y"}'} == 3, 'and reads a well-formed one');
}

my @FAMILIES = qw(chatvisor_messages_total chatvisor_conversations_opened_total
    chatvisor_conversations_closed_total chatvisor_conversations_open
    chatvisor_polls_held chatvisor_agents chatvisor_commit_batches_total
    chatvisor_commit_duration_seconds chatvisor_store_used_bytes
    chatvisor_store_max_bytes chatvisor_webhook_deliveries_total
    chatvisor_webhook_oldest_undelivered_seconds chatvisor_cobrowse_sessions
    chatvisor_limits_hit_total chatvisor_cobrowse_chunks_reordered_total
    chatvisor_store_readable);

my $scrapes = 0;

# GET /metrics, checked; returns the values
sub scrape {
    my $r = $t->get('/metrics');
    $scrapes++;
    die "GET /metrics: $r->{status}\n" unless $r->{status} == 200;
    my ($v, $err) = parse_metrics($r->{content});
    if (@$err) {
        fail("scrape $scrapes is well-formed");
        diag join "\n", @$err[0 .. ($#$err < 9 ? $#$err : 9)];
    }
    return $v;
}

sub wait_metric {
    my ($what, $cond, $timeout) = @_;
    my $deadline = time + ($timeout // 10);
    my $v;
    while (1) {
        $v = scrape();
        if ($cond->($v)) {
            pass($what);
            return $v;
        }
        last if time > $deadline;
        sleep 0.1;
    }
    fail("in time: $what");
    return $v;
}

{
    my $r = $t->get('/metrics');
    is($r->{status}, 200, 'GET /metrics: 200');
    is($r->{headers}{'content-type'}, 'text/plain; version=0.0.4',
       'Content-Type: text/plain; version=0.0.4');
    is($r->{headers}{'cache-control'}, 'no-store', 'Cache-Control: no-store');
    my ($v, $err) = parse_metrics($r->{content});
    is_deeply($err, [], 'the text is well-formed Prometheus 0.0.4')
        or diag $r->{content};
    my %family = map { (my $f = $_) =~ s/(?:_bucket|_sum|_count)?(?:\{.*)?$//; ($f => 1) } keys %$v;
    $family{chatvisor_commit_duration_seconds} = 1
        if exists $v->{chatvisor_commit_duration_seconds_count};
    is_deeply([ grep { !$family{$_} } @FAMILIES ], [], 'every documented metric is there');
    is($v->{"chatvisor_messages_total{author=\"$_\"}"}, 0, "no $_ messages yet")
        for qw(visitor agent system);
    is($v->{chatvisor_conversations_open}, 0, 'no conversation open');
    is($v->{chatvisor_store_readable}, 1, 'the store was read');
    is($v->{chatvisor_store_max_bytes}, $SIZE, 'store max bytes: size=64m');
    cmp_ok($v->{chatvisor_store_used_bytes}, '>', 0, 'store bytes used > 0');
    cmp_ok($v->{chatvisor_store_used_bytes}, '<=', $v->{chatvisor_store_max_bytes},
           'and no more than the maximum');

    my $h = $t->head('/metrics');
    is($h->{status}, 200, 'HEAD /metrics: 200');
    my $p = $t->post('/metrics', 'x=1');
    is($p->{status}, 405, 'POST /metrics: 405');
    is($t->get('/metrics-closed')->{status}, 403,
       'a chatvisor_status location with deny all: 403');
}

# ---- messages and conversations ----

my $api = Chatvisor::API->new($t, client => 'crm', secret => $crm_secret);
$api->login;

sub must {
    my ($m, $p, $d, $want) = @_;
    my $r = $api->call($m, $p, $d);
    die "$m $p: $r->{status} $r->{content}\n" unless $r->{status} == ($want // 200);
    return $r->{json};
}

my $before = scrape();
my $v1 = Chatvisor::Chat::Visitor->new($t);
is($v1->post('Hello')->{status}, 201, 'a visitor writes');
is($v1->post('Anyone there?')->{status}, 201, 'and again');
my $conv1 = $v1->request(GET => 'v1/visitor/events?after=0&wait=0')->{json}{conversation_id};
ok($conv1, 'the visitor has a conversation');
my $m = scrape();
is($m->{'chatvisor_messages_total{author="visitor"}'}, 2, 'visitor messages: 2');
is($m->{chatvisor_conversations_opened_total}, 1, 'conversations opened: 1');
is($m->{chatvisor_conversations_open}, 1, 'open conversations: 1 (unassigned)');
cmp_ok($m->{chatvisor_commit_batches_total}, '>=', $before->{chatvisor_commit_batches_total} + 1,
       'commit batches counted');
cmp_ok($m->{chatvisor_commit_duration_seconds_sum}, '>', 0, 'commit time summed');
is($m->{chatvisor_commit_duration_seconds_count}, $m->{chatvisor_commit_batches_total},
   'the histogram counts every batch');

# a retried client_msg_id is the same message: not counted again
$v1->post('Once', client_msg_id => 'cm-1');
$v1->post('Once', client_msg_id => 'cm-1');
is(scrape()->{'chatvisor_messages_total{author="visitor"}'}, 3,
   'a retried client_msg_id counts once');

must(PUT => 'agents/ann', { name => 'Ann' }, 201);
must(PUT => 'agents/bob', { name => 'Bob' }, 201);
must(POST => "conversations/$conv1/messages", { text => 'Ann here', agent_id => 'ann' }, 201);
must(POST => "conversations/$conv1/messages", { text => 'Note from the system' }, 201);
$m = scrape();
is($m->{'chatvisor_messages_total{author="agent"}'}, 1, 'agent messages: 1');
is($m->{'chatvisor_messages_total{author="system"}'}, 1, 'system messages: 1');

my $v2 = Chatvisor::Chat::Visitor->new($t);
$v2->post('A second visitor');
my $conv2 = $v2->request(GET => 'v1/visitor/events?after=0&wait=0')->{json}{conversation_id};
must(POST => "conversations/$conv2/assign", { agent_id => 'bob' });
is(scrape()->{chatvisor_conversations_open}, 2, 'open conversations: 2 (one assigned)');
must(POST => "conversations/$conv1/close", {});
must(POST => "conversations/$conv1/close", {});
$m = scrape();
is($m->{chatvisor_conversations_closed_total}, 1, 'conversations closed: 1 (a second close changes nothing)');
is($m->{chatvisor_conversations_open}, 1, 'open conversations: 1');
is($m->{chatvisor_conversations_opened_total}, 2, 'conversations opened: 2');

# ---- two workers ----

{
    my $pids = $t->testdir . '/pids.log';
    my $base = scrape()->{'chatvisor_messages_total{author="visitor"}'};
    my $n = 24;
    my $ok = 0;
    for my $i (1 .. $n) {
        $ok++ if Chatvisor::Chat::Visitor->new($t)->post("visitor $i")->{status} == 201;
    }
    is($ok, $n, "$n more visitors write");
    sleep 0.2;  # the access log is written after the answer
    my %by;
    open my $fh, '<', $pids or die "$pids: $!";
    while (<$fh>) { $by{$1}++ if m{^(\d+) POST /chatvisor/v1/visitor/messages 201} }
    close $fh;
    my @workers = $t->worker_pids;
    is(scalar(keys %by), 2, 'both workers served visitor messages ('
       . join(', ', map { "$_: $by{$_}" } sort keys %by) . ')');
    my %answered;
    for (1 .. 10) {
        my $v = scrape();
        $answered{ $v->{'chatvisor_messages_total{author="visitor"}'} }++;
    }
    is_deeply([ keys %answered ], [ $base + $n ],
              'ten scrapes (whichever worker answers) count them all: ' . ($base + $n));
}

# ---- held polls and presence ----

{
    is(scrape()->{chatvisor_polls_held}, 0, 'no poll held');
    my $cursor = $v2->request(GET => 'v1/visitor/events?after=0&wait=0')->{json}{cursor};
    my $poll = $v2->start_poll(after => $cursor);
    wait_metric('a held poll counted', sub { $_[0]{chatvisor_polls_held} == 1 });
    my $poll2 = $v2->tab->start_poll(after => $cursor);
    wait_metric('two held polls counted', sub { $_[0]{chatvisor_polls_held} == 2 });
    must(POST => "conversations/$conv2/messages", { text => 'Bob here', agent_id => 'bob' }, 201);
    is($poll->result->{status}, 200, 'the poll is answered');
    is($poll2->result->{status}, 200, 'and the other tab\'s');
    wait_metric('answered polls are no longer counted',
                sub { $_[0]{chatvisor_polls_held} == 0 });

    $m = scrape();
    is($m->{'chatvisor_agents{status="available"}'}, 0, 'no agent available');
    is($m->{'chatvisor_agents{status="offline"}'}, 2, 'two agents offline');
    must(PUT => 'agents/ann/status', { status => 'available' });
    must(PUT => 'agents/bob/status', { status => 'away' });
    $m = scrape();
    is($m->{'chatvisor_agents{status="available"}'}, 1, 'ann available');
    is($m->{'chatvisor_agents{status="away"}'}, 1, 'bob away');
    is($m->{'chatvisor_agents{status="offline"}'}, 0, 'nobody offline');
}

# ---- limits ----

{
    my $v = Chatvisor::Chat::Visitor->new($t);
    my @st = map { $v->post("flood $_")->{status} } 1 .. 8;
    is(scalar(grep { $_ == 429 } @st), 2, 'chatvisor_limit_messages 5r/m: the first message is a new visitor, 2 of the next 7 refused');
    is(scrape()->{'chatvisor_limits_hit_total{limit="messages"}'}, 2,
       'limits hit: messages 2');
}

# ---- webhooks ----

{
    my $rxa = Chatvisor::Receiver->new->start;
    my $rxb = Chatvisor::Receiver->new->start;
    my $A = must(POST => 'webhooks', { url => $rxa->url('/a'),
                                        events => ['conversation.created', 'message.created'] }, 201);
    my $B = must(POST => 'webhooks', { url => $rxb->url('/b'),
                                        events => ['conversation.created'] }, 201);
    $rxa->secrets($A->{secret});
    $rxb->secrets($B->{secret});
    $rxb->script({ status => 500 }, { status => 500 }, { status => 500 });

    my $base = scrape();
    cmp_ok($base->{chatvisor_webhook_oldest_undelivered_seconds}, '==', 0,
           'nothing undelivered');
    my $v = Chatvisor::Chat::Visitor->new($t);
    $v->post('For the hooks');
    $rxa->wait_for(sub { @_ >= 2 }, 10);
    $m = wait_metric('delivered: 2, retried: 1', sub {
        $_[0]{'chatvisor_webhook_deliveries_total{result="delivered"}'} == 2
            && $_[0]{'chatvisor_webhook_deliveries_total{result="retried"}'} == 1
    });
    is($m->{'chatvisor_webhook_deliveries_total{result="failed"}'}, 0, 'failed: 0 yet');
    sleep 0.3;
    $m = scrape();
    cmp_ok($m->{chatvisor_webhook_oldest_undelivered_seconds}, '>', 0,
           'the oldest undelivered event has an age while it waits for its retry ('
           . $m->{chatvisor_webhook_oldest_undelivered_seconds} . ' s)');
    cmp_ok($m->{chatvisor_webhook_oldest_undelivered_seconds}, '<', 30, 'and a sane one');
    $m = wait_metric('failed after the last attempt', sub {
        $_[0]{'chatvisor_webhook_deliveries_total{result="failed"}'} == 1
    }, 15);
    is($m->{'chatvisor_webhook_deliveries_total{result="retried"}'}, 1, 'retried still 1');
    wait_metric('nothing undelivered once it failed',
                sub { $_[0]{chatvisor_webhook_oldest_undelivered_seconds} == 0 });
    $rxa->stop;
    $rxb->stop;
}

# ---- a reload keeps the counters ----

{
    my $pre = scrape();
    ok($t->reload, 'reload');
    my $post = scrape();
    my @moved = grep {
        /_total(?:\{|$)|_bucket\{|_count$|_sum$/ && ($post->{$_} // -1) != $pre->{$_}
    } sort keys %$pre;
    # the reload's own writes (declared webhooks, none here) may commit
    @moved = grep { !/commit/ } @moved;
    is_deeply(\@moved, [], 'every counter is the same after a reload');
    cmp_ok($post->{chatvisor_commit_batches_total}, '>=', $pre->{chatvisor_commit_batches_total},
           'commit batches did not go back');
    Chatvisor::Chat::Visitor->new($t)->post('after the reload');
    is(scrape()->{'chatvisor_messages_total{author="visitor"}'},
       $pre->{'chatvisor_messages_total{author="visitor"}'} + 1,
       'and counting goes on from there');
}

# ---- the directive needs the store ----

{
    my $t2 = Chatvisor::Test->new;
    $t2->write_config(<<'EOF');
http {
    server {
        listen 127.0.0.1:%%PORT%%;
        location = /metrics { chatvisor_status; }
    }
}
EOF
    my ($st, $out) = $t2->test_config;
    isnt($st, 0, 'chatvisor_status without chatvisor_store: nginx -t fails');
    like($out, qr/"chatvisor_status" needs "chatvisor_store"/, 'and says why');
    $t2->write_config(<<'EOF');
http {
    chatvisor_store %%TESTDIR%%/store;
    server {
        listen 127.0.0.1:%%PORT%%;
        location = /metrics { chatvisor_status; chatvisor_status; }
    }
}
EOF
    ($st, $out) = $t2->test_config;
    isnt($st, 0, 'chatvisor_status twice in a location: nginx -t fails');
}

done_testing;
