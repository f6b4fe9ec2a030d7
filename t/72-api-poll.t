#!/usr/bin/perl

# REST API polling under concurrent writes (docs/api.md, Conversations):
# a client polls GET conversations?since=CURSOR (small pages) in a loop
# while two forked writers change conversations through nginx's two
# workers: visitors post messages (opening new conversations, also after a
# close), an integrator replies as agents and as system, assigns and
# closes. nginx is reloaded in the middle. Each writer logs every
# acknowledged write with the times it was sent and answered and the
# conversation's seq it produced. Then:
#   - every answer matches docs/openapi.json, and no page lists a
#     conversation twice;
#   - none skipped: every conversation written after the poller's start
#     cursor is seen at (or after) its last acknowledged write;
#   - in order of change: when write B was answered before write A was
#     sent, the poller never sees A's state before B's;
#   - never repeated: no conversation is seen twice at the same state;
#   - the cursor never goes back, also across the reload.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use JSON::PP ();
use POSIX ();
use Time::HiRes ();

use Chatvisor::Test;
use Chatvisor::API;
use Chatvisor::HTTP ();

my $WRITE_SECS = $ENV{CHATVISOR_POLL_SECS} || 8;
my $LIMIT = $ENV{CHATVISOR_POLL_LIMIT} || 5;         # small pages: paging is part of the contract
my $VISITORS = 12;

my $t = Chatvisor::Test->new;
my @chars = ('A' .. 'Z', 'a' .. 'z', '0' .. '9');
my $secret = join '', map { $chars[rand @chars] } 1 .. 40;
$t->write_file('crm.secret', $secret);
$t->write_config(<<'EOF');
worker_processes 2;
http {
    chatvisor_store %%TESTDIR%%/store sync=off;
    chatvisor_api_client crm %%TESTDIR%%/crm.secret;
    server {
        listen 127.0.0.1:%%PORT%%;
        location /chatvisor/ { chatvisor on; }
    }
}
EOF
$t->run;

my $port = $t->port;
my $api = Chatvisor::API->new($t, client => 'crm', secret => $secret);
my $token = $api->login;
my $J = JSON::PP->new->canonical->utf8;

for my $id (qw(ann bob)) {
    my $r = $api->call(PUT => "agents/$id", { name => ucfirst $id });
    die "setup: agent $id: $r->{status}\n" unless $r->{status} == 201;
}

# conversations before the poller starts
my @visitors;
for my $i (1 .. $VISITORS) {
    my $v = Chatvisor::API::Visitor->new($t);
    my $r = $v->post("hello from visitor $i");
    die "setup: visitor $i: $r->{status} $r->{content}\n" unless $r->{status} == 201;
    push @visitors, $v;
}
$api->call(POST => 'conversations/' . $visitors[0]->conversation_id . '/assign',
           { agent_id => 'ann' });

# ---- the poller's start: page through everything ----

my ($cursor, $spec_errors, $polls, $pages_full) = (undef, 0, 0, 0);
my (@obs, %initial_seq, @page_dups, @cursor_back);

sub poll {
    my ($since) = @_;
    my $p = 'conversations?limit=' . $LIMIT . (defined $since ? "&since=$since" : '');
    my $r = $api->call(GET => $p, undef, spec_check => 0);
    $polls++;
    my @e = $api->spec->check_response('GET', $api->path($p), $r);
    if (@e) {
        diag join "\n", @e if $spec_errors < 5;
        $spec_errors++;
    }
    die "GET $p: $r->{status} $r->{content}\n" unless $r->{status} == 200 && $r->{json};
    my %seen;
    for my $c (@{ $r->{json}{items} }) {
        push @page_dups, "$c->{id} twice in one page (poll $polls)" if $seen{ $c->{id} }++;
    }
    $pages_full++ if @{ $r->{json}{items} } == $LIMIT;
    my $next = $r->{json}{next_cursor};
    push @cursor_back, "poll $polls: since=" . ($since // '(none)') . " -> $next"
        if defined $since && defined $next && $next =~ /^\d+$/ && $since =~ /^\d+$/
           && $next < $since;
    return ($r->{json}{items}, $next);
}

{
    my ($items, $next) = poll(undef);
    while (1) {
        $initial_seq{ $_->{id} } = $_->{last_seq} for @$items;
        $cursor = $next;
        last unless @$items;
        ($items, $next) = poll($cursor);
    }
}
is(scalar(keys %initial_seq), $VISITORS, "the start: $VISITORS conversations, paged by $LIMIT");
my $start_cursor = $cursor;

# ---- the writers ----

my $dir = $t->testdir;
my $vlog = "$dir/writer-visitors.log";
my $alog = "$dir/writer-agents.log";

sub writer {
    my ($log, $body) = @_;
    my $pid = fork // die "fork: $!";
    return $pid if $pid;
    # the child: no Test::More, no harness cleanup; just write and log
    open my $fh, '>', $log or POSIX::_exit(2);
    $fh->autoflush(1);
    my $end = Time::HiRes::time() + $WRITE_SECS;
    my $n = 0;
    eval { $body->($fh, $end, \$n); 1 } or print $fh "ERROR\t$@\n";
    close $fh;
    POSIX::_exit(0);
}

sub logline {
    my ($fh, @f) = @_;
    print $fh join("\t", @f), "\n";
}

# visitors: post into their conversation (a new one after a close), and
# now and then a new visitor arrives
my $vpid = writer($vlog, sub {
    my ($fh, $end, $n) = @_;
    my @vs = @visitors;
    while (Time::HiRes::time() < $end) {
        $$n++;
        if ($$n % 25 == 0) {
            push @vs, Chatvisor::API::Visitor->new($t);
        }
        my $v = $$n % 25 == 0 ? $vs[-1] : $vs[ int rand @vs ];
        my $t0 = Time::HiRes::time();
        my $r = $v->post("visitor message $$n");
        my $t1 = Time::HiRes::time();
        my $j = $r->{json} || {};
        logline($fh, 'V', $t0, $t1, $r->{status}, $j->{conversation_id} // '-',
                $j->{seq} // '-', 'visitor');
    }
});

# the integrator: replies as an agent or as system, assigns, closes
my $apid = writer($alog, sub {
    my ($fh, $end, $n) = @_;
    my @convs = map { $_->conversation_id } @visitors;
    my %known = map { $_ => 1 } @convs;
    my $vpos = 0;
    while (Time::HiRes::time() < $end) {
        $$n++;
        # learn the conversations the visitors opened
        if (open my $vf, '<', $vlog) {
            seek $vf, $vpos, 0;
            while (my $l = <$vf>) {
                last unless $l =~ /\n\z/;
                $vpos = tell $vf;
                my @f = split /\t/, $l;
                push @convs, $f[4] if @f > 5 && $f[4] =~ /^conv_/ && !$known{ $f[4] }++;
            }
            close $vf;
        }
        my $conv = $convs[ int rand @convs ];
        my $roll = rand;
        my ($kind, $path, $data);
        if ($roll < 0.55) {
            ($kind, $path, $data) = ('reply', "conversations/$conv/messages",
                { text => "agent reply $$n", agent_id => (rand > 0.5 ? 'ann' : 'bob') });
        } elsif ($roll < 0.65) {
            ($kind, $path, $data) = ('system', "conversations/$conv/messages",
                { text => "system note $$n" });
        } elsif ($roll < 0.9) {
            ($kind, $path, $data) = ('assign', "conversations/$conv/assign",
                { agent_id => (rand > 0.5 ? 'ann' : 'bob') });
        } else {
            ($kind, $path, $data) = ('close', "conversations/$conv/close", {});
        }
        my $t0 = Time::HiRes::time();
        my $r = Chatvisor::HTTP::http_request($port, 'POST', "/chatvisor/api/v1/$path",
            headers => { Authorization => "Bearer $token",
                         'Content-Type' => 'application/json' },
            content => $J->encode($data));
        my $t1 = Time::HiRes::time();
        my @e = $api->spec->check_response('POST', "/chatvisor/api/v1/$path", $r);
        logline($fh, 'SPECERR', join ' | ', @e) if @e;
        my $j = eval { $J->decode($r->{content}) } || {};
        my $seq = $kind eq 'reply' || $kind eq 'system' ? $j->{seq} : $j->{last_seq};
        logline($fh, 'A', $t0, $t1, $r->{status}, $conv, $seq // '-', $kind);
    }
});

# ---- poll while they write; reload in the middle ----

my $t_start = Time::HiRes::time();
my ($reloaded, $reload_ok, $polls_after_reload) = (0, 0, 0);
my %alive = ($vpid => 1, $apid => 1);
my $drained = 0;
while (1) {
    my ($items, $next) = poll($cursor);
    for my $c (@$items) {
        push @obs, { id => $c->{id}, seq => $c->{last_seq}, status => $c->{status},
                     poll => $polls, at => Time::HiRes::time() };
    }
    $cursor = $next;
    $polls_after_reload++ if $reloaded;
    if (!$reloaded && Time::HiRes::time() - $t_start > $WRITE_SECS / 2) {
        $reloaded = 1;
        $reload_ok = $t->reload;
    }
    for my $pid (keys %alive) {
        delete $alive{$pid} if waitpid($pid, POSIX::WNOHANG()) == $pid;
    }
    if (!%alive) {
        # the writers are done: poll until nothing is left
        last if !@$items && $drained++;
    }
    die "the writers did not finish\n" if Time::HiRes::time() - $t_start > $WRITE_SECS + 30;
}

ok($reload_ok, 'nginx reloaded while the writers wrote and the poller polled');
cmp_ok($polls_after_reload, '>', 10, "  the poller went on after the reload ($polls_after_reload polls)");
is($spec_errors, 0, "all $polls poll answers match docs/openapi.json");
is_deeply(\@page_dups, [], 'no page lists a conversation twice') or diag join "\n", @page_dups[0 .. 9];
is_deeply(\@cursor_back, [], 'the cursor never goes back') or diag join "\n", @cursor_back;
cmp_ok($pages_full, '>', 5, "  ($pages_full polls were full pages of $LIMIT)") if $LIMIT <= 10;

# ---- what the writers did ----

my (@writes, %fail599, @spec_err);
for my $log ($vlog, $alog) {
    open my $fh, '<', $log or die "$log: $!";
    while (my $l = <$fh>) {
        chomp $l;
        die "writer error: $l\n" if $l =~ /^ERROR/;
        if ($l =~ /^SPECERR\t(.*)/) {
            push @spec_err, $1;
            next;
        }
        my ($who, $t0, $t1, $st, $conv, $seq, $kind) = split /\t/, $l;
        if ($st == 599 || $st >= 500) {
            $fail599{$conv}++;
            next;
        }
        next unless $st == 200 || $st == 201;
        next unless $seq =~ /^\d+$/ && $conv =~ /^conv_/;
        push @writes, { who => $who, t0 => $t0, t1 => $t1, conv => $conv, seq => $seq,
                        kind => $kind, status => $st };
    }
}
is(scalar @spec_err, 0, "every answer to the integrator's writes matches docs/openapi.json")
    or diag join "\n", @spec_err[0 .. ($#spec_err > 4 ? 4 : $#spec_err)];
my %kinds;
$kinds{ $_->{kind} }++ for @writes;
cmp_ok(scalar @writes, '>', 200, 'the writers made ' . scalar(@writes) . ' acknowledged writes ('
       . join(', ', map { "$_ $kinds{$_}" } sort keys %kinds) . ')');
diag(scalar(keys %fail599) . ' conversations had a write with an unknown outcome (5xx/599): '
     . join(' ', map { "$_ x$fail599{$_}" } sort keys %fail599)) if %fail599;

# (conversation, seq) -> the earliest acknowledged write that produced it
# (a second answer with the same seq changed nothing: assign to the same
# agent, close a closed conversation, a retried id)
my %by_state;
for my $w (sort { $a->{t0} <=> $b->{t0} } @writes) {
    my $k = "$w->{conv}:$w->{seq}";
    $by_state{$k} //= $w;
}
my %last_seq;
for my $w (@writes) {
    $last_seq{ $w->{conv} } = $w->{seq}
        if !defined $last_seq{ $w->{conv} } || $w->{seq} > $last_seq{ $w->{conv} };
}

# ---- none skipped ----

my %last_obs;
$last_obs{ $_->{id} } = $_ for @obs;
my @missed;
for my $conv (sort keys %last_seq) {
    my $o = $last_obs{$conv};
    next if defined $initial_seq{$conv} && $last_seq{$conv} <= $initial_seq{$conv};
    if (!$o) {
        push @missed, "$conv: written up to seq $last_seq{$conv}, never seen";
    } elsif ($o->{seq} < $last_seq{$conv}) {
        push @missed, "$conv: written up to seq $last_seq{$conv}, last seen at seq $o->{seq}";
    }
}
is_deeply(\@missed, [], 'every conversation written after the start cursor is seen at its last write')
    or diag join "\n", @missed[0 .. ($#missed > 19 ? 19 : $#missed)];
cmp_ok(scalar(keys %last_obs), '>=', scalar(keys %last_seq) - @missed,
       scalar(keys %last_obs) . ' conversations seen');

# ---- never repeated ----

my (%seen_state, @repeats);
for my $o (@obs) {
    my $k = "$o->{id}:$o->{seq}";
    push @repeats, "$k seen at poll $seen_state{$k} and again at poll $o->{poll}"
        if $seen_state{$k};
    $seen_state{$k} //= $o->{poll};
}
is_deeply(\@repeats, [], 'no conversation is seen twice at the same state (never repeats a change)')
    or diag scalar(@repeats) . " repeats:\n" . join "\n", @repeats[0 .. ($#repeats > 9 ? 9 : $#repeats)];

# ---- in order of change ----

my (@unmapped, @disorder);
my ($max_t0, $max_o);
for my $o (@obs) {
    my $w = $by_state{"$o->{id}:$o->{seq}"};
    if (!$w) {
        push @unmapped, "$o->{id} at seq $o->{seq} (poll $o->{poll})"
            unless $fail599{ $o->{id} };
        next;
    }
    # an earlier observation's write was sent after this one's was answered
    if (defined $max_t0 && $max_t0 > $w->{t1}) {
        push @disorder, sprintf("%s seq %d (poll %d; %s answered at +%.3f s) came after "
            . "%s seq %d (poll %d; %s sent at +%.3f s)",
            $o->{id}, $o->{seq}, $o->{poll}, $w->{kind}, $w->{t1} - $t_start,
            $max_o->{id}, $max_o->{seq}, $max_o->{poll}, $by_state{"$max_o->{id}:$max_o->{seq}"}{kind},
            $max_t0 - $t_start);
    }
    if (!defined $max_t0 || $w->{t0} > $max_t0) {
        ($max_t0, $max_o) = ($w->{t0}, $o);
    }
}
is_deeply(\@unmapped, [], 'every state seen comes from an acknowledged write')
    or diag join "\n", @unmapped[0 .. ($#unmapped > 9 ? 9 : $#unmapped)];
is_deeply(\@disorder, [], 'conversations come in order of change')
    or diag scalar(@disorder) . " out of order:\n"
            . join "\n", @disorder[0 .. ($#disorder > 9 ? 9 : $#disorder)];

# the final state, read directly, is what the poller saw last
{
    my @differ;
    for my $conv ((sort keys %last_obs)[0 .. 29]) {
        next unless defined $conv;
        my $r = $api->call(GET => "conversations/$conv", undef, spec_check => 'quiet');
        push @differ, "$conv: GET says seq $r->{json}{last_seq} $r->{json}{status}, "
                      . "the poller saw seq $last_obs{$conv}{seq} $last_obs{$conv}{status}"
            if $r->{json}{last_seq} != $last_obs{$conv}{seq}
               || $r->{json}{status} ne $last_obs{$conv}{status};
    }
    is_deeply(\@differ, [], 'the last state polled is the state GET conversations/{id} gives')
        or diag join "\n", @differ;
}

my ($items) = poll($cursor);
is_deeply($items, [], 'nothing new after the writers stopped');

done_testing;
