#!/usr/bin/perl

# Cluster mode: an agent online on one node is online on every node
# (docs/cluster.md "Presence"). Three nats-servers, three nginx nodes A, B,
# C, each on its own store; ann's console polls on B only:
#   - before: nobody is online anywhere (what the rest checks can fail);
#   - what a node hears on the presence subject is checked: garbage
#     changes nothing and kills no worker; past the 32 other nodes the
#     shared zone keeps, a forged tell of one more node (ann online there)
#     counts on every node until it runs out;
#   - A's widget says an agent is available (v1/visitor/availability), A's
#     pages under chatvisor_show_if any_agent_online / any_agent_available
#     carry the widget, with data-online="1";
#   - GET agents/ann and GET agents on C say available, so do v1/agent/me
#     on A and C and C's metrics;
#   - away set on B: away on A and C (me, GET agents/ann), A's widget says
#     nobody available, the any_agent_online page still shows, the
#     any_agent_available one no longer;
#   - the console stops polling: still online on A right after (B's grace
#     holds), then offline on every node within the presence timeout;
#   - a node that dies (kill -9 of B while ann polls there): the others
#     forget what it said within 6 s (PRESENCE_KEEP), not the 17 s grace.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use POSIX ();
use Time::HiRes qw(time sleep);

use Chatvisor::Cluster qw(until_ok);
use Chatvisor::Chat;
use Chatvisor::NatsStream;
use Chatvisor::Proc ();
use Chatvisor::Widget qw(find_tags);

Chatvisor::Cluster::skip_unless_nats();

my $POLL = 2;           # chatvisor_poll_timeout of the nodes, s
my $GRACE = 15;         # NGX_CHATVISOR_PRESENCE_GRACE, s
my $TELL = 2;           # how often a node tells its agents online, s
my $KEEP = 6;           # how long the others keep what it told, s
my $SEEN_MAX = 10;      # s: a tell (2 s) and the machine's load
my $MARGIN = 10;        # s beyond a timeout: the machine is loaded

my $c = Chatvisor::Cluster->new(servers => 3);
$c->start;

(my $template = Chatvisor::Cluster::node_template()) =~ s{(location /chatvisor/)}{
        location / { root %%TESTDIR%%/htdocs; chatvisor_inject on; }
        location /online/ {
            root %%TESTDIR%%/htdocs; chatvisor_inject on;
            chatvisor_show_if any_agent_online;
        }
        location /available/ {
            root %%TESTDIR%%/htdocs; chatvisor_inject on;
            chatvisor_show_if any_agent_available;
        }
        location = /metrics { chatvisor_status; }
        $1};
$template =~ s{chatvisor_poll_timeout 2s}{chatvisor_poll_timeout ${POLL}s}
    or die "the node template has no 2 s poll timeout\n";

my @n = $c->nodes(3, args => 'replicas=3', template => $template);
for my $t (@n) {
    for my $dir ('', 'online/', 'available/') {
        $t->write_file("htdocs/${dir}index.html",
            "<!doctype html><html><head><title>Shop</title></head>"
            . "<body><p>Welcome</p></body></html>\n");
    }
    $t->run;
}
my ($A, $B, $C) = @n;
my %name = ($A->port => 'A', $B->port => 'B', $C->port => 'C');

ok($c->wait_writable($_, timeout => 60), "node $name{$_->port} takes writes")
    for @n;

my ($apiA, $apiB, $apiC) = map { $c->api($_) } @n;
my %api = (A => $apiA, B => $apiB, C => $apiC);


# the widget's tag on a page of node T, or undef (hidden)
sub page_tag {
    my ($t, $path) = @_;
    my $r = $t->get($path);
    return undef unless $r->{status} == 200;
    my @tags = find_tags($r->{content} // '');
    return @tags == 1 ? $tags[0]{attrs} : undef;
}

# what the widget asks on each opening
sub available_for_visitor {
    my ($t) = @_;
    my $r = Chatvisor::Chat::request($t, GET => 'v1/visitor/availability');
    die "GET v1/visitor/availability: $r->{status} $r->{content}\n"
        unless $r->{status} == 200 && $r->{json};
    return $r->{json}{agents_available} ? 1 : 0;
}

sub status_on {
    my ($node) = @_;
    my $r = $api{$node}->call(GET => 'agents/ann', undef, spec_check => 0);
    return $r->{json} ? $r->{json}{status} // '' : "HTTP $r->{status}";
}

sub metric {
    my ($t, $name) = @_;
    my $text = $t->get('/metrics')->{content} // '';
    return $text =~ /^\Q$name\E (\S+)$/m ? $1 + 0 : undef;
}

# until every node in @nodes says $want for ann (GET agents/ann)
sub all_say {
    my ($want, $max, @nodes) = @_;
    return until_ok($max, sub {
        !grep { status_on($_) ne $want } @nodes });
}

# ---- nobody online yet ----

my $r = $apiA->call(PUT => 'agents/ann', { name => 'Ann' });
ok($r->{status} == 200 || $r->{status} == 201, 'PUT agents/ann on A')
    or diag($r->{content});
ok(all_say('offline', $SEEN_MAX, qw(A B C)),
   'ann is offline on every node before any console polls');
is(available_for_visitor($A), 0, "A's widget: nobody available");
ok(!page_tag($A, '/online/index.html'),
   "A's any_agent_online page: no widget");
ok(page_tag($A, '/index.html'), "A's page without rules: the widget");

# ---- what the nodes hear on STREAM.presence (a core NATS subject) ----

{
    my $nats = Chatvisor::NatsStream->new(port => $c->client_port(1));
    my $subject = 'chatvisor.presence';
    my $node = sub { sprintf '%-16.16s', "fake-node-$_[0]" };   # 16 bytes
    my @bad = ('', 'short', $node->(0), $node->(0) . 'not json',
               $node->(0) . '"ann"', $node->(0) . '[[[[',
               $node->(0) . '{"available":5,"away":"ann"}',
               $node->(0) . '{"available":[1,null,{"id":"ann"},["ann"],"'
                          . ('x' x 300) . '"],"away":{"ann":1}}');
    $nats->publish($subject, $_) for @bad;
    sleep $TELL;
    is(status_on($_), 'offline', "after garbage on $subject: $_ says offline")
        for qw(A B C);
    is(available_for_visitor($A), 0, "  and A's widget: nobody available");

    # more nodes than the shared zone keeps (32) tell nobody, then one
    # more tells ann available and says nothing more: it counts (in the
    # place of the node heard of longest ago) and holds KEEP seconds
    $nats->publish($subject, $node->($_) . '{"available":[]}') for 1 .. 40;
    $nats->publish($subject, $node->(41) . '{"available":["ann"]}');
    my $heard = time;
    ok(all_say('available', $SEEN_MAX, qw(A B C)),
       'the tell of a 42nd node (ann available there): available on A, B, C');
    ok(all_say('offline', $KEEP + $MARGIN, qw(A B C)),
       '  then offline on every node, as it said nothing more');
    cmp_ok(time - $heard, '>=', $KEEP - 1, sprintf '  after %.1fs', time - $heard);
}

# ann logs in on B (the login URL made on C)
my $url = $apiC->call(POST => 'agents/ann/login-url', { ttl_seconds => 600 });
is($url->{status}, 201, 'a login URL for ann on C') or diag($url->{content});
my ($token) = ($url->{json}{url} // '') =~ m{/join#(\S+)};
my $j = Chatvisor::Chat::Agent->join($B, $token);
is($j->{status}, 200, 'ann logs in on B') or diag($j->{content});
my $ann = $j->{agent} or die "ann could not log in on B\n";

# the console: long-polls on B, one after the other, until stopped
my $console_stop = $A->testdir . '/console.stop';

sub start_console {
    my ($who) = @_;
    $who //= $ann;
    unlink $console_stop;
    my $cur = $who->events(after => 0, wait => 0)->{json}{cursor} // 0;
    my $pid = fork // die "fork: $!\n";
    if ($pid == 0) {
        Chatvisor::Proc::die_with_parent();
        until (-e $console_stop) {
            my $e = $who->events(after => $cur);
            $cur = $e->{json}{cursor} if $e->{json} && $e->{json}{cursor};
            sleep 0.2 unless $e->{status} == 200;
        }
        POSIX::_exit(0);
    }
    return $pid;
}

sub stop_console {
    my ($pid) = @_;
    open my $fh, '>', $console_stop or die "$console_stop: $!\n";
    close $fh;
    waitpid $pid, 0;
}

my $console = start_console();

# ---- the console polls on B: online everywhere ----

my $t0 = time;
ok(until_ok($SEEN_MAX, sub { available_for_visitor($A) }),
   "A's widget: an agent available (v1/visitor/availability)");
my $took = time - $t0;
diag(sprintf 'A heard of ann in %.2fs', $took);

my $tag = until_ok($SEEN_MAX, sub { page_tag($A, '/online/index.html') });
ok($tag, "A's any_agent_online page carries the widget");
is($tag && $tag->{'data-online'}, '1', '  with data-online="1"');
ok(until_ok($SEEN_MAX, sub { page_tag($A, '/available/index.html') }),
   "A's any_agent_available page carries the widget");

ok(all_say('available', $SEEN_MAX, qw(C)), 'GET agents/ann on C: available');
is(status_on('A'), 'available', 'GET agents/ann on A: available');
$r = $apiC->call(GET => 'agents');
my $list = ref $r->{json} eq 'HASH' ? $r->{json}{items} : $r->{json};
my ($row) = grep { ($_->{id} // '') eq 'ann' } @{ $list || [] };
is($row && $row->{status}, 'available', 'GET agents on C lists ann available');

for my $t ($A, $C) {
    my $me = bless { %$ann, t => $t }, ref $ann;
    is($me->get('me')->{json}{status}, 'available',
       "v1/agent/me on $name{$t->port} (no console there): available");
}
is(metric($C, 'chatvisor_agents{status="available"}'), 1,
   "C's metrics: one agent available");

# ---- away, set on B ----

$r = $ann->write(PUT => 'status', { status => 'away' });
is($r->{status}, 200, 'PUT v1/agent/status away on B') or diag($r->{content});
ok(all_say('away', $SEEN_MAX, qw(A C)), 'GET agents/ann on A and C: away');
for my $t ($A, $C) {
    my $me = bless { %$ann, t => $t }, ref $ann;
    is($me->get('me')->{json}{status}, 'away', "v1/agent/me on $name{$t->port}: away");
}
ok(until_ok($SEEN_MAX, sub { !available_for_visitor($A) }),
   "A's widget: nobody available (ann is away)");
ok(page_tag($A, '/online/index.html'),
   "A's any_agent_online page still carries the widget (away is online)");
ok(until_ok($SEEN_MAX, sub { !page_tag($A, '/available/index.html') }),
   "A's any_agent_available page no longer does");
is(metric($A, 'chatvisor_agents{status="away"}'), 1, "A's metrics: one away");

$r = $ann->write(PUT => 'status', { status => 'available' });
is($r->{status}, 200, 'available again, on B');
ok(all_say('available', $SEEN_MAX, qw(A C)), 'available on A and C again');

# ---- the console stops polling: offline everywhere in the timeout ----

stop_console($console);
my $stopped = time;
is(status_on('A'), 'available',
   "right after the console's last poll, A still has ann online (B's grace)");
my $off = all_say('offline', $POLL + $GRACE + $TELL + $MARGIN, qw(A B C));
my $gone = time - $stopped;
ok($off, 'then ann is offline on every node');
cmp_ok($gone, '<=', $POLL + $GRACE + $TELL + $MARGIN,
       sprintf('  within the presence timeout (%.1fs; %d s grace after the'
               . ' last poll, a tell every %d s)', $gone, $POLL + $GRACE, $TELL));
cmp_ok($gone, '>=', $GRACE - $POLL - 1,
       '  not before the grace of the last poll ran out');
is(available_for_visitor($A), 0, "A's widget: nobody available");
ok(!page_tag($A, '/online/index.html'), "A's any_agent_online page: no widget");

# ---- B dies while ann polls there: A and C forget what it said ----

$console = start_console();
ok(all_say('available', $SEEN_MAX, qw(A C)),
   'the console polls on B again: available on A and C');
$B->kill9;
stop_console($console);
my $killed = time;
$off = all_say('offline', $KEEP + $TELL + $MARGIN, qw(A C));
$gone = time - $killed;
ok($off, 'B killed: ann is offline on A and C');
cmp_ok($gone, '<', $POLL + $GRACE,
       sprintf('  once what B said ran out (%.1fs), not a console grace later',
               $gone));
ok(until_ok($SEEN_MAX, sub { !available_for_visitor($C) }),
   "C's widget: nobody available");

# ---- disabled on C while the console polls on A: offline at once ----

my $ann_a = $c->console($A, 'ann', api => $apiA);
$console = start_console($ann_a);
ok(all_say('available', $SEEN_MAX, qw(A C)), 'the console polls on A: available'
                                             . ' on A and C');
$r = $apiC->call(PUT => 'agents/ann', { enabled => JSON::PP::false() });
is($r->{status}, 200, 'PUT agents/ann enabled false on C') or diag($r->{content});
my $disabled = time;
$off = all_say('offline', $SEEN_MAX, qw(A C));
$gone = time - $disabled;
ok($off, 'ann is offline on A (where the console polled) and C');
cmp_ok($gone, '<', $GRACE,
       sprintf('  once the command applied (%.1fs), not a console grace later',
               $gone));
stop_console($console);

done_testing();
