#!/usr/bin/perl

# The chat stays whole while nginx (4 workers) is disturbed under load:
# forked writers post a steady stream of visitor messages (retrying the
# same client_msg_id until a 2xx, as the widget does, and recording every
# acknowledged message), forked pollers follow each conversation with the
# long-poll and their cursor; meanwhile one worker is killed with -9, nginx
# is reloaded, a backup is taken, and nginx is stopped and started again on
# the same store. Afterwards every acknowledged message is in its
# conversation exactly once, the pollers saw every event exactly once with
# contiguous seqs, only connection errors were seen (no 5xx), cookies and
# agent sessions survive the restart, and polls are still woken from other
# workers within 500 ms after each disturbance. Also: a held poll is
# answered at once when its worker is told to exit (reload, stop), and old
# workers are gone within a few seconds.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use IO::Handle ();
use POSIX ();
use Test::More;
use Time::HiRes qw(time sleep);

use Chatvisor::Test;
use Chatvisor::Chat qw(ctl);
use Chatvisor::Proc ();

my $WRITERS  = 4;
my $WAKE_MAX = 0.5;
my $LONG_POLL = 30;    # s, the second server's poll timeout
my $AT_ONCE   = 10;    # s, "at once" for its polls: a third of it

my $t = Chatvisor::Test->new;
$t->write_config(<<'EOF', LONG_POLL => "${LONG_POLL}s");
worker_processes 4;
http {
    chatvisor_store %%TESTDIR%%/store size=256m;
    # writers post as fast as they can, by design
    chatvisor_limit_messages off;
    server {
        listen 127.0.0.1:%%PORT%%;
        location /chatvisor/ { chatvisor on; chatvisor_poll_timeout 2s; }
    }
    # the polls a reload or a stop must answer at once: held far longer
    # than a loaded machine (ASan, parallel tests) can take to answer them
    server {
        listen 127.0.0.1:%%PORT_LONG%%;
        location /chatvisor/ { chatvisor on; chatvisor_poll_timeout %%LONG_POLL%%; }
    }
}
EOF
$t->run;
my $dir   = $t->testdir;
my $store = "$dir/store";

my $JSON = JSON::PP->new->canonical;

# ---------------------------------------------------------------------------
# children

my @kids;

sub spawn {
    my ($name, $code) = @_;
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        Chatvisor::Proc::die_with_parent();
        $SIG{$_} = 'DEFAULT' for qw(INT TERM HUP PIPE);
        my $ok = eval { $code->(); 1 };
        print STDERR "$name: $@" unless $ok;
        POSIX::_exit($ok ? 0 : 1);
    }
    push @kids, { pid => $pid, name => $name };
    return $pid;
}

sub wait_kids {
    my ($which, $timeout) = @_;
    my $deadline = time + $timeout;
    my %left = map { $_->{pid} => $_ } grep { $_->{name} =~ $which } @kids;
    my %status;
    while (%left && time < $deadline) {
        for my $pid (keys %left) {
            my $r = waitpid($pid, POSIX::WNOHANG());
            if ($r == $pid) { $status{ $left{$pid}{name} } = $?; delete $left{$pid} }
        }
        sleep 0.05 if %left;
    }
    for my $pid (keys %left) { kill 'KILL', $pid; waitpid($pid, 0); $status{ $left{$pid}{name} } = 'killed' }
    return \%status;
}

sub read_jsonl {
    my ($file) = @_;
    open my $fh, '<', $file or return [];
    return [ map { $JSON->decode($_) } grep { /\S/ } <$fh> ];
}

# a writer: sequential posts with unique texts, each retried with the same
# client_msg_id until acknowledged; every ack (and every failed attempt)
# is recorded
sub writer {
    my ($k, $cookie) = @_;
    my $v = Chatvisor::Chat::Visitor->new($t, cookie => $cookie);
    open my $acks, '>>', "$dir/acks-$k.jsonl" or die $!;
    open my $errs, '>>', "$dir/write-errors-$k.jsonl" or die $!;
    $_->autoflush(1) for $acks, $errs;
    my $n = 0;
    until (-e "$dir/stop-writers") {
        $n++;
        my $cmid = "w$k-$n";
        my $text = "writer $k message $n";
        my ($r, $tries);
        for my $try (1 .. 600) {
            $tries = $try;
            $r = eval { $v->request(POST => 'v1/visitor/messages',
                                    json => { text => $text, client_msg_id => $cmid },
                                    timeout => 5) };
            last if $r && ($r->{status} == 200 || $r->{status} == 201);
            print $errs $JSON->encode({ n => $n, status => $r ? $r->{status} : 0,
                content => $r ? substr($r->{content} // '', 0, 200) : "$@", at => time }) . "\n";
            last if $r && $r->{status} >= 400 && $r->{status} < 500;
            sleep 0.025;
        }
        my $m = $r && $r->{json} || {};
        print $acks $JSON->encode({ n => $n, cmid => $cmid, text => $text,
            status => $r ? $r->{status} : 0, tries => $tries, id => $m->{id},
            seq => $m->{seq}, conversation_id => $m->{conversation_id},
            at => time }) . "\n";
        die "cookie changed\n" if $v->cookie ne $cookie;
    }
}

# a poller: follows the conversation with its cursor, through errors
sub poller {
    my ($k, $cookie) = @_;
    my $v = Chatvisor::Chat::Visitor->new($t, cookie => $cookie);
    open my $seen, '>>', "$dir/seen-$k.jsonl" or die $!;
    open my $errs, '>>', "$dir/poll-errors-$k.jsonl" or die $!;
    $_->autoflush(1) for $seen, $errs;
    my ($cursor, $conv) = (0, undef);
    until (-e "$dir/stop-pollers") {
        my $r = eval { $v->request(GET => "v1/visitor/events?after=$cursor", timeout => 8) };
        if (!$r || $r->{status} != 200 || !$r->{json}) {
            print $errs $JSON->encode({ status => $r ? $r->{status} : 0, after => $cursor,
                content => $r ? substr($r->{content} // '', 0, 200) : "$@", at => time }) . "\n";
            sleep 0.05;
            next;
        }
        my $j = $r->{json};
        $conv //= $j->{conversation_id};
        print $errs $JSON->encode({ status => 'conversation changed', to => $j->{conversation_id} }) . "\n"
            if ($j->{conversation_id} // '') ne ($conv // '');
        for my $e (@{ $j->{events} }) {
            next if $e->{type} eq 'typing';
            print $seen $JSON->encode({ seq => $e->{seq}, type => $e->{type},
                id => $e->{message} ? $e->{message}{id} : undef, at => time }) . "\n";
        }
        $cursor = $j->{cursor};
    }
}

# ---------------------------------------------------------------------------
# checks used between disturbances

# 10 polls, each woken by a post on another connection (mostly another
# worker), within $WAKE_MAX
sub wake_check {
    my ($label) = @_;
    my $v = Chatvisor::Chat::Visitor->new($t);
    my $first = $v->post("probe $label");
    is($first->{status}, 201, "$label: a new visitor can post") or return;
    my $cursor = $first->{json}{seq};
    my @bad;
    for my $i (1 .. 10) {
        my $p = $v->start_poll(after => $cursor);
        sleep 0.05;
        my $t0 = time;
        my $w = $v->tab->post("probe $label $i");
        my $res = eval { $p->result(timeout => 4) };
        my $lat = $res ? $res->{at} - $t0 : 99;
        my @ev = @{ ($res && $res->{json} && $res->{json}{events}) || [] };
        push @bad, sprintf('%d: post %s, %d events, %.3f s', $i, $w->{status}, scalar @ev, $lat)
            unless $w->{status} == 201 && @ev == 1 && $ev[0]{seq} == $cursor + 1 && $lat <= $WAKE_MAX;
        $cursor++;
    }
    is_deeply(\@bad, [], "$label: 10 polls each woken by a post within $WAKE_MAX s");
}

# the second server's port, for Chatvisor::Chat::start
{
    package LongPolls;
    sub new { bless { t => $_[1] }, $_[0] }
    sub port { $_[0]{t}->port('LONG') }
    sub start_request { my ($self, %o) = @_; $self->{t}->start_request(%o, port => $self->port) }
}
my $long = LongPolls->new($t);

# polls of an idle visitor held in (likely) every worker, on the second
# server (held $LONG_POLL s)
sub idle_polls {
    my ($v, $cursor, $n) = @_;
    my @p = map { Chatvisor::Chat::start($long, GET => "v1/visitor/events?after=$cursor",
                                         headers => $v->headers) } 1 .. $n;
    sleep 0.3;
    return @p;
}

sub polls_answered_by {
    my ($label, $deadline, $cursor, @p) = @_;
    my @bad;
    for my $i (0 .. $#p) {
        my $res = eval { $p[$i]->result(timeout => $LONG_POLL + 5) };
        if (!$res) {
            push @bad, "$i: no answer ($@)";
        } elsif ($res->{at} > $deadline) {
            push @bad, sprintf('%d: answered %.2f s late', $i, $res->{at} - $deadline);
        } elsif ($res->{status} != 200 || !$res->{json} || @{ $res->{json}{events} }
                 || $res->{json}{cursor} != $cursor)
        {
            push @bad, "$i: $res->{status} $res->{content}";
        }
    }
    is_deeply(\@bad, [], "$label: every held poll answered at once, 200 with its cursor");
}

sub wait_until {
    my ($cond, $timeout) = @_;
    my $deadline = time + $timeout;
    while (time < $deadline) { return 1 if $cond->(); sleep 0.05 }
    return $cond->() ? 1 : 0;
}

# ---------------------------------------------------------------------------
# visitors, an agent, the writers and pollers

my @cookies;
for my $k (1 .. $WRITERS) {
    my $v = Chatvisor::Chat::Visitor->new($t);
    my $r = $v->post("writer $k message 0", client_msg_id => "w$k-0");
    is($r->{status}, 201, "visitor $k: first message");
    push @cookies, $v->cookie;
}
my $idle = Chatvisor::Chat::Visitor->new($t);
is($idle->post('an idle visitor')->{status}, 201, 'an idle visitor');

my $ann = Chatvisor::Chat::Agent->login($t, $store, 'ann', name => 'Ann');

for my $k (1 .. $WRITERS) {
    spawn("writer $k", sub { writer($k, $cookies[ $k - 1 ]) });
    spawn("poller $k", sub { poller($k, $cookies[ $k - 1 ]) });
}
my $started = time;
sleep 1.5;

# ---------------------------------------------------------------------------
# kill -9 one worker

{
    my @w = $t->worker_pids;
    is(scalar @w, 4, '4 workers before the kill');
    my $victim = $w[ int rand @w ];
    $t->allow_log(qr/worker process $victim exited on signal 9\b/);
    ok(kill('KILL', $victim), "kill -9 worker $victim");
    ok(wait_until(sub { my @n = $t->worker_pids; @n == 4 && !grep { $_ == $victim } @n }, 5),
       'the master starts a new worker');
    sleep 1;
    wake_check('after kill -9');
}

# ---------------------------------------------------------------------------
# reload

{
    sleep 0.5;
    my $cursor = $idle->events(after => 0, wait => 0)->{json}{cursor};
    my @p = idle_polls($idle, $cursor, 8);
    my %old = map { $_ => 1 } $t->worker_pids(all => 1);
    my $t0 = time;
    ok($t->reload(no_wait_old => 1), 'reload: new workers');
    polls_answered_by('reload', $t0 + $AT_ONCE, $cursor, @p);
    ok(wait_until(sub { my @all = $t->worker_pids(all => 1); @all == 4 && !grep { $old{$_} } @all }, $AT_ONCE),
       sprintf('old workers exit within %d s of the reload (%.2f s)', $AT_ONCE, time - $t0))
        or diag('workers: ' . join ' ', $t->worker_pids(all => 1));
    sleep 1;
    wake_check('after reload');
}

# ---------------------------------------------------------------------------
# a backup under load

{
    my $dest = "$dir/backup";
    mkdir $dest or die "mkdir $dest: $!";
    my ($st, $out) = Chatvisor::Chat::ctl_status('backup', '--store', $store, $dest);
    is($st, 0, 'chatvisorctl backup under load') or diag($out);
    my @b = eval { Chatvisor::Chat::ctl_conversations($dest) };
    ok(@b >= $WRITERS, 'the backup opens and lists the conversations') or diag($@);
    $main::backup = { map { $_->{id} => $_->{seq} } @b };
}

# ---------------------------------------------------------------------------
# stop and start on the same store

{
    sleep 0.5;
    my $cursor = $idle->events(after => 0, wait => 0)->{json}{cursor};
    my @p = idle_polls($idle, $cursor, 8);
    my $t0 = time;
    my $status = $t->stop;
    my $took = time - $t0;
    is($status, 0, 'nginx stops with status 0');
    ok($took < $AT_ONCE, sprintf('a graceful stop with polls held for %d s takes %.2f s', $LONG_POLL, $took));
    polls_answered_by('stop', $t0 + $AT_ONCE, $cursor, @p);
    sleep 0.3;
    $t->run;
    my @w = $t->worker_pids;
    # under ASan a worker can take a moment longer to show up
    for (1 .. 50) { last if @w == 4; Time::HiRes::sleep(0.1); @w = $t->worker_pids }
    diag("workers after restart: @w; all: " . join(' ', $t->worker_pids(all => 1))
         . "; " . `ps -o pid,ppid,stat,cmd --ppid ${\ $t->pid}`) if @w != 4;
    is(scalar(@w), 4, 'nginx runs again on the same store');
    is($ann->get('me')->{status}, 200, 'the agent session survives the restart');
    my $h = $idle->events(after => 0, wait => 0);
    is($h->{json}{cursor}, $cursor, 'the visitor cookie survives the restart');
    sleep 1;
    wake_check('after restart');
}

# ---------------------------------------------------------------------------
# the end of the stream

sleep 1;
my $stream_time = time - $started;
$t->write_file('stop-writers', '');
my $ws = wait_kids(qr/^writer/, 20);
is_deeply([ grep { $ws->{$_} } sort keys %$ws ], [], 'writers finished cleanly')
    or diag(explain($ws));
sleep 2.5;    # the pollers catch up (a poll is woken at once, or times out at 2 s)
$t->write_file('stop-pollers', '');
my $ps = wait_kids(qr/^poller/, 8);
is_deeply([ grep { $ps->{$_} } sort keys %$ps ], [], 'pollers finished cleanly')
    or diag(explain($ps));

my ($total, $retried, $dups) = (0, 0, 0);
for my $k (1 .. $WRITERS) {
    my $v = Chatvisor::Chat::Visitor->new($t, cookie => $cookies[ $k - 1 ]);
    my ($hist, $conv) = $v->history;
    my $acks = read_jsonl("$dir/acks-$k.jsonl");
    my $werr = read_jsonl("$dir/write-errors-$k.jsonl");
    my $seen = read_jsonl("$dir/seen-$k.jsonl");
    my $perr = read_jsonl("$dir/poll-errors-$k.jsonl");

    $total += @$acks;
    $retried += grep { $_->{tries} > 1 } @$acks;
    $dups += grep { $_->{status} == 200 } @$acks;

    ok(@$acks > 20, "writer $k: " . scalar(@$acks) . ' messages acknowledged');
    my @unacked = grep { $_->{status} != 200 && $_->{status} != 201 } @$acks;
    is_deeply([ map { "$_->{cmid}: $_->{status}" } @unacked ], [],
              "writer $k: every message was acknowledged in the end");
    my %werr;
    $werr{ $_->{status} }++ for @$werr;
    is_deeply([ grep { $_ != 599 } sort keys %werr ], [],
              "writer $k: failed attempts were connection errors only")
        or diag(explain([ grep { $_->{status} != 599 } @$werr ]));
    my %perr;
    $perr{ $_->{status} }++ for @$perr;
    is_deeply([ grep { $_ ne '599' } sort keys %perr ], [],
              "poller $k: failed polls were connection errors only")
        or diag(explain([ grep { $_->{status} ne '599' } @$perr ]));

    # the history: seqs 1..N, each acknowledged message once
    my @seqs = map { $_->{seq} } @$hist;
    is_deeply(\@seqs, [ 1 .. scalar @seqs ], "conversation $k: seqs 1..N contiguous");
    my (%by_id, %by_cmid);
    for my $e (@$hist) {
        next unless $e->{type} eq 'message';
        $by_id{ $e->{message}{id} }++;
        $by_cmid{ $e->{message}{client_msg_id} // '' }++;
    }
    my @missing = grep { !$by_id{ $_->{id} // '' } } @$acks;
    is_deeply([ map { $_->{cmid} } @missing ], [],
              "conversation $k: every acknowledged message is there");
    my @twice = grep { $by_id{$_} > 1 } sort keys %by_id;
    my @cmid_twice = grep { $by_cmid{$_} > 1 } sort keys %by_cmid;
    is_deeply([ @twice, @cmid_twice ], [], "conversation $k: nothing twice (ids, client_msg_ids)");
    my %acked = map { $_->{id} => $_ } grep { $_->{id} } @$acks;
    my @extra = grep { !$acked{$_} } map { $_->{message}{id} } grep { $_->{type} eq 'message'
                     && ($_->{message}{client_msg_id} // '') ne "w$k-0" } @$hist;
    is_deeply(\@extra, [], "conversation $k: no message that was not acknowledged");
    my @wrong = grep { my $e = $hist->[ $_->{seq} - 1 ];
                       !$e || ($e->{message}{id} // '') ne $_->{id} || $e->{message}{text} ne $_->{text}
                       || $_->{conversation_id} ne $conv } grep { $_->{id} } @$acks;
    is_deeply([ map { $_->{cmid} } @wrong ], [],
              "conversation $k: each ack's seq, text and conversation match the history");
    ok(!defined $main::backup->{$conv} || $main::backup->{$conv} <= scalar(@seqs),
       "conversation $k: the backup holds a prefix of it");

    # the poller saw every event once, in order
    is_deeply([ map { $_->{seq} } @$seen ], \@seqs,
              "poller $k: saw seqs 1..N exactly once, in order (" . scalar(@$seen) . ' events)');
    is_deeply([ map { $_->{id} } @$seen ],
              [ map { $_->{message} ? $_->{message}{id} : undef } @$hist ],
              "poller $k: the same events as the history");
}
note(sprintf '%d messages in %.1f s; %d needed a retry, %d of those were already stored (200)',
             $total, $stream_time, $retried, $dups);

# the store as chatvisorctl sees it after all that
{
    my @rows = Chatvisor::Chat::ctl_conversations($store);
    is(scalar(grep { $_->{status} eq 'open' } @rows), scalar(@rows), 'all conversations open');
    ok(@rows >= $WRITERS + 4, scalar(@rows) . ' conversations in the store');
}

done_testing();
