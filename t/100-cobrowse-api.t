#!/usr/bin/perl

# Co-browsing over HTTP through the real nginx, 2 workers
# (docs/cobrowse.md): the directives and the tag's attributes; an agent
# asks and the visitor's chat poll hears it (cobrowse_request); decline;
# allow; the recorder's events relayed to the agent's view across workers
# (each within 500 ms, byte for byte); a view that (re)opens (after=0)
# starts from the last full snapshot and asks the visitor for a new one;
# a second tab taking the recording over (409 superseded for the other);
# the agent's pointer and clicks in the visitor's chat poll; stop from
# either side; a close (console and REST API) ends it at once; another
# agent is refused while it is live; max_duration; the bounds: 8 MB a
# POST (413 too_large, the session ends), the rate (429, Retry-After),
# a full zone, 256 live sessions, memory freed when sessions end.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(time sleep);

use Chatvisor::Test;
use Chatvisor::Chat qw(ctl);
use Chatvisor::API;
use Chatvisor::Cobrowse qw(:all);

my $WAKE_MAX = 0.5;     # seconds from a POST to the woken poll's answer

my @chars = ('A' .. 'Z', 'a' .. 'z', '0' .. '9');
my $secret = join '', map { $chars[rand @chars] } 1 .. 48;

sub config {
    my (%o) = @_;
    my $http = $o{http} // '';
    return <<"EOF";
worker_processes 2;
http {
    chatvisor_store %%TESTDIR%%/store size=256m sync=off;
    # many visitors from one address: the abuse limits stay out of the way
    chatvisor_limit_new_visitors off;
    chatvisor_limit_messages off;
    chatvisor_api_client crm %%TESTDIR%%/crm.secret;
    $http
    log_format cbpids '\$pid \$request_method \$request_uri \$status';
    server {
        listen 127.0.0.1:%%PORT%% reuseport;
        access_log %%TESTDIR%%/pids.log cbpids;
        chatvisor_cobrowse on;
        location /chatvisor/ { chatvisor on; chatvisor_poll_timeout 3s; }
        location / {
            root %%TESTDIR%%/htdocs;
            chatvisor_inject on;
            chatvisor_cobrowse_block ".secret";
            chatvisor_cobrowse_block "#card-number";
            chatvisor_cobrowse_mask_text "p.note[data-x='a\\"b']";
        }
        location /plain/ {
            root %%TESTDIR%%/htdocs;
            chatvisor_inject on;
            chatvisor_cobrowse off;
        }
        location /inherit/ {
            root %%TESTDIR%%/htdocs;
            chatvisor_inject on;
        }
    }
}
EOF
}

sub instance {
    my (%o) = @_;
    my $t = Chatvisor::Test->new;
    $t->write_file('crm.secret', "$secret\n");
    my $page = "<html><head><title>t</title></head><body><p>hi</p></body></html>\n";
    $t->write_file("htdocs/$_", $page) for qw(index.html plain/index.html
                                              inherit/index.html);
    $t->write_config(config(%o));
    $t->run;
    return $t;
}

my $t = instance();
my $store = $t->testdir . '/store';
my $ann = Chatvisor::Chat::Agent->login($t, $store, 'ann', name => 'Ann');
my $bob = Chatvisor::Chat::Agent->login($t, $store, 'bob', name => 'Bob');

sub cobrowse_events {
    my ($res) = @_;
    return [ grep { $_->{type} =~ /^(cobrowse|cobrowse_request|pointer)$/ }
             @{ ($res->{json} && $res->{json}{events}) || [] } ];
}

# ---------------------------------------------------------------------------
# The tag: data-cobrowse where it is on, its selectors HTML-escaped

{
    my $r = $t->get('/index.html');
    my ($tag) = $r->{content} =~ /(<script[^>]*data-chatvisor[^>]*>)/;
    ok($tag, 'the page has the widget tag') or diag $r->{content};
    $tag //= '';
    like($tag, qr/ data-cobrowse="1"/, 'chatvisor_cobrowse on: data-cobrowse="1"');
    like($tag, qr/ data-cobrowse-block="\.secret, #card-number"/,
         'the block selectors, joined with ", "');
    like($tag, qr/ data-cobrowse-mask="p\.note\[data-x=&#39;a&quot;b&#39;\]"/,
         'the mask selector, HTML-escaped');

    my ($plain) = $t->get('/plain/index.html')->{content}
        =~ /(<script[^>]*data-chatvisor[^>]*>)/;
    ok($plain, 'the page of a location with co-browsing off has the widget');
    unlike($plain // '', qr/data-cobrowse/, 'chatvisor_cobrowse off: no data-cobrowse attributes');

    my ($inh) = $t->get('/inherit/index.html')->{content}
        =~ /(<script[^>]*data-chatvisor[^>]*>)/;
    like($inh // '', qr/ data-cobrowse="1"/, 'a location inherits the server\'s chatvisor_cobrowse on');
    unlike($inh // '', qr/data-cobrowse-block/, 'and no selectors of another location');
}

# ---------------------------------------------------------------------------
# Before anything: no session

my ($v, $conv) = conversation($t);
my $cursor = $v->events(after => 0, wait => 0)->{json}{cursor};

{
    my $s = cb_state($v);
    is($s->{status}, 200, 'GET cobrowse without a session: 200');
    is($s->{json}{state}, 'none', 'state none');
    is($s->{json}{generation}, 0, 'generation 0');
    is($s->{json}{agent}, undef, 'no agent');
    is($s->{json}{conversation_id}, $conv, 'the visitor\'s conversation');
    is($s->{json}{max_duration_ms}, 3600000, 'max_duration_ms: the default hour');

    my $stranger = Chatvisor::Chat::Visitor->new($t);
    $s = cb_state($stranger);
    is($s->{status}, 200, 'GET cobrowse without a cookie: 200');
    is($s->{json}{state}, 'none', 'a stranger: state none');
    is($s->{json}{conversation_id}, undef, 'a stranger: no conversation');
}

# ---------------------------------------------------------------------------
# An agent asks; the visitor's chat poll hears it at once

my $gen;
{
    my $p = cb_visitor_poll($v, after => $cursor);
    sleep 0.1;
    ok(!$p->ready(0), 'the visitor\'s chat poll is held');
    my $t0 = time;
    my $r = cb_start($ann, $conv);
    is($r->{status}, 201, 'POST conversations/ID/cobrowse: 201') or diag $r->{content};
    is($r->{json}{state}, 'requested', 'state requested');
    is($r->{json}{conversation_id}, $conv, 'its conversation');
    is_deeply($r->{json}{agent}, { id => 'ann', name => 'Ann' }, 'the agent');
    is($r->{json}{reason}, undef, 'no reason');
    ok($r->{json}{generation} > 0, 'a generation');
    $gen = $r->{json}{generation};

    my $res = $p->result(timeout => 5);
    ok($res->{at} - $t0 < $WAKE_MAX + 0.5,
       sprintf('the chat poll woke (%.3f s)', $res->{at} - $t0));
    my ($ev) = @{ cobrowse_events($res) };
    ok($ev, 'the chat poll carries a co-browsing event') or diag $res->{content};
    is($ev->{type}, 'cobrowse_request', 'type cobrowse_request');
    is($ev->{state}, 'requested', 'state requested');
    is($ev->{generation}, $gen, 'its generation');
    is_deeply($ev->{agent}, { name => 'Ann' }, 'the agent\'s name only');
    is($ev->{seq}, $cursor, 'seq: the poll\'s cursor');
    is($ev->{recorder}, undef, 'no recorder yet');
    is($res->{json}{cursor}, $cursor, 'the chat cursor does not move');
    is_deeply([ grep { $_->{type} eq 'message' } @{ $res->{json}{events} } ], [],
              'nothing stored: no message event');

    # the same agent again: the same session
    $r = cb_start($ann, $conv);
    is($r->{status}, 200, 'asking again: 200');
    is($r->{json}{generation}, $gen, 'the same session');

    # another agent while it is live
    $r = cb_start($bob, $conv);
    is($r->{status}, 409, 'another agent: 409');
    is($r->{json}{error}{code}, 'conflict', 'conflict');

    # a poll that already saw this generation is not told again
    my $h = $v->events(after => $cursor, cobrowse => $gen, wait => 0);
    is_deeply(cobrowse_events($h), [], 'cobrowse=G: nothing new');
    $h = $v->events(after => $cursor, wait => 0);
    is(scalar @{ cobrowse_events($h) }, 1, 'without cobrowse=: the live session is told');

    my $s = cb_state($v);
    is($s->{json}{state}, 'requested', 'GET cobrowse: requested');
    is_deeply($s->{json}{agent}, { name => 'Ann' }, 'GET cobrowse: the agent\'s name');
}

# ---------------------------------------------------------------------------
# Decline; the agent's view hears it

{
    my $view = cb_start_view($ann, $conv, after => 0);
    sleep 0.1;
    ok(!$view->ready(0), 'the agent\'s view waits for the visitor');
    my $p = cb_visitor_poll($v, after => $cursor, cobrowse => $gen);
    sleep 0.1;
    my $t0 = time;
    my $r = cb_decide($v, 'decline');
    is($r->{status}, 200, 'decline: 200') or diag $r->{content};
    is($r->{json}{state}, 'declined', 'state declined');
    is($r->{json}{reason}, 'declined', 'reason declined');
    my $res = $view->result(timeout => 5);
    is($res->{status}, 200, 'the view: 200');
    ok($res->{at} - $t0 < $WAKE_MAX + 0.5, sprintf('the view is told at once (%.3f s)', $res->{at} - $t0));
    is($res->{json}{state}, 'declined', 'the view: declined');
    is($res->{json}{reason}, 'declined', 'the view: reason declined');
    is_deeply($res->{json}{events}, [], 'no events');

    my ($ev) = @{ cobrowse_events($p->result(timeout => 5)) };
    is($ev && $ev->{type}, 'cobrowse', 'the visitor\'s other tabs: cobrowse');
    is($ev && $ev->{state}, 'declined', '... declined');
    ok($ev && $ev->{generation} > $gen, '... a new generation');

    # an answer after the end
    $r = cb_decide($v, 'allow');
    is($r->{status}, 410, 'allowing a declined request: 410');
    is($r->{json}{error}{code}, 'ended', 'ended');
}

# ---------------------------------------------------------------------------
# Asked again, allowed: the recorder's events reach the agent's view

my $full1 = full_snapshot(bytes => 2000, mark => 'first page');
my $vcursor;
{
    my $r = cb_start($ann, $conv);
    is($r->{status}, 201, 'a new request after the decline: 201');
    ok($r->{json}{generation} > $gen, 'a later generation');
    $gen = $r->{json}{generation};

    my $view = cb_start_view($ann, $conv, after => 0);
    sleep 0.1;
    $r = cb_decide($v, 'allow');
    is($r->{status}, 200, 'allow: 200');
    is($r->{json}{state}, 'active', 'state active');
    ok($r->{json}{snapshot}, 'a full snapshot is wanted');
    my $res = $view->result(timeout => 5);
    is($res->{json}{state}, 'active', 'the waiting view hears: active');
    is_deeply($res->{json}{events}, [], 'no events yet');

    is(cb_decide($v, 'allow')->{status}, 200, 'allowing again (another tab): 200');

    # nothing recorded yet: a view that opens waits
    $view = cb_start_view($ann, $conv, after => 0);
    sleep 0.15;
    ok(!$view->ready(0), 'after=0 with nothing recorded: the view waits');
    my $t0 = time;
    $r = cb_send($v, $full1, recorder => 'tab1', full => 1);
    is($r->{status}, 204, 'the recorder\'s full snapshot: 204') or diag $r->{content};
    $res = $view->result(timeout => 5);
    ok($res->{at} - $t0 < $WAKE_MAX + 0.5, sprintf('the view has it (%.3f s)', $res->{at} - $t0));
    is($res->{json}{state}, 'active', 'active');
    ok($res->{json}{reset}, 'reset: it starts a view');
    is_deeply($res->{json}{events}, decode($full1), 'the events as sent');
    is($res->{json}{cursor}, 1, 'cursor 1');
    $vcursor = 1;

    # the events' bytes are relayed, not printed again
    my $odd = '[ {"type":3,"data":{"text":"caf\u00e9 \/ \"q\"","n":1.50}} ,'
            . "\n{\"type\":3,\"data\":{}}\t]";
    $r = cb_send($v, $odd, recorder => 'tab1');
    is($r->{status}, 204, 'incremental events with odd spacing and escapes: 204');
    $res = cb_view($ann, $conv, after => $vcursor);
    (my $inner = $odd) =~ s/^\[\s*|\s*\]\z//g;
    ok(index($res->{content}, "\"events\":[$inner],") > 0,
       'the view gets the bytes between the brackets as they came')
        or diag $res->{content};
    ok(!$res->{json}{reset}, 'incremental: no reset');
    is($res->{json}{cursor}, 2, 'cursor 2');
    $vcursor = 2;

    my $s = cb_state($v);
    is($s->{json}{state}, 'active', 'GET cobrowse: active');
    is($s->{json}{recorder}, 'tab1', 'GET cobrowse: the recorder');
    ok(!$s->{json}{snapshot}, 'the snapshot came: none wanted');
}

# ---------------------------------------------------------------------------
# Across the workers: each POST reaches the view held in either worker

{
    my (@late, @wrong, @not_held);
    for my $i (1 .. 20) {
        my $tag = "cb$i";
        my $view = cb_start_view($ann, $conv, after => $vcursor, tag => $tag);
        sleep 0.08;
        push @not_held, $i if $view->ready(0);
        my $batch = incremental(n => 3, mark => "wake $i");
        my $t0 = time;
        my $w = $v->request(POST => "v1/visitor/cobrowse/events?recorder=tab1&tag=$tag",
                            body => $batch);
        my $res = eval { $view->result(timeout => 4) };
        my $lat = $res ? $res->{at} - $t0 : 99;
        if ($w->{status} != 204 || !$res || !$res->{json}
            || $res->{json}{cursor} != $vcursor + 1
            || !eq_array($res->{json}{events}, decode($batch)))
        {
            push @wrong, "$i: post $w->{status}, view " . ($res ? $res->{content} : 'none');
        }
        push @late, sprintf('%d: %.3f s', $i, $lat) if $lat > $WAKE_MAX;
        $vcursor++;
    }
    is_deeply(\@not_held, [], 'every view was held before the POST');
    is_deeply(\@wrong, [], 'each view got exactly the batch posted');
    is_deeply(\@late, [], "each view answered within $WAKE_MAX s of the POST");

    sleep 0.2;    # the access log is written as requests end
    my %pid;
    for my $line (split /\n/, $t->read_file('pids.log') // '') {
        my ($pid, $method, $uri) = split ' ', $line;
        $pid{"$method $1"} = $pid if $uri && $uri =~ /[?&]tag=(cb\d+)/;
    }
    my $cross = grep { ($pid{"GET cb$_"} // 0) != ($pid{"POST cb$_"} // 0) } 1 .. 20;
    is(scalar(grep { $pid{"GET cb$_"} && $pid{"POST cb$_"} } 1 .. 20), 20,
       'the access log names the worker of each view and POST');
    ok($cross >= 3, "views were woken from the other worker ($cross of 20)");
}

# ---------------------------------------------------------------------------
# Events are relayed, not kept: a chunk wakes no visitor chat poll, and
# nothing of it reaches the durable store or the conversation

my @unkept;     # the events of that chunk, in the view that reopens below
{
    my $g = cb_state($v)->{json}{generation};
    my $p = cb_visitor_poll($v, after => $cursor, cobrowse => $g);
    sleep 0.1;
    my $mark = 'kept-nowhere-' . join '', map { $chars[rand @chars] } 1 .. 16;
    my $chunk = incremental(n => 2, mark => $mark);
    @unkept = @{ decode($chunk) };
    my $r = cb_send($v, $chunk, recorder => 'tab1');
    is($r->{status}, 204, 'a chunk with a unique mark: 204');
    my $res = cb_view($ann, $conv, after => $vcursor);
    like($res->{content}, qr/\Q$mark\E/, 'the agent\'s view has it');
    $vcursor = $res->{json}{cursor};
    sleep 1;
    ok(!$p->ready(0), 'the visitor\'s held chat poll is not woken by a chunk');
    $res = $p->result(timeout => 6);
    is_deeply(cobrowse_events($res), [], 'and answers at its timeout with nothing of co-browsing');
    unlike($res->{content} // '', qr/\Q$mark\E/, 'nor the events');
    my $msgs = $ann->get("conversations/$conv/events?after=0");
    is($msgs->{status}, 200, 'the conversation\'s events: 200');
    unlike($msgs->{content}, qr/\Q$mark\E/, 'the conversation does not hold the events');
    my @files = -d $store ? glob("$store/*") : ($store);
    my $found = 0;
    for my $f (grep { -f } @files) {
        open my $fh, '<:raw', $f or die "$f: $!";
        local $/;
        my $bytes = <$fh>;
        $found++ if index($bytes, $mark) >= 0;
    }
    ok(@files && !$found, 'no file of the durable store holds the events (' . scalar(@files) . ' files read)');
}

# ---------------------------------------------------------------------------
# A view that (re)opens: from the last full snapshot, and a new one asked

{
    my $p = cb_visitor_poll($v, after => $cursor, cobrowse => cb_state($v)->{json}{generation});
    sleep 0.1;
    my $res = cb_view($ann, $conv, after => 0);
    is($res->{status}, 200, 'after=0: 200');
    ok($res->{json}{reset}, 'after=0: reset');
    is($res->{json}{cursor}, $vcursor, 'the cursor of the last chunk');
    my @want = (@{ decode($full1) }, @{ decode('[{"type":3,"data":{"text":"caf\u00e9 / \"q\"","n":1.5}},{"type":3,"data":{}}]') });
    push @want, @{ decode(incremental(n => 3, mark => "wake $_")) } for 1 .. 20;
    push @want, @unkept;
    is(scalar @{ $res->{json}{events} }, scalar @want,
       'the last full snapshot and everything after it');
    is_deeply($res->{json}{events}[0], decode($full1)->[0], 'starting with the snapshot');

    my ($ev) = @{ cobrowse_events($p->result(timeout => 5)) };
    ok($ev, 'the visitor\'s chat poll hears of it') or diag explain $ev;
    is($ev && $ev->{type}, 'cobrowse', 'type cobrowse');
    ok($ev && $ev->{snapshot}, 'snapshot: true: a full snapshot is asked for');
    is($ev && $ev->{state}, 'active', 'still active');
    is($ev && $ev->{recorder}, 'tab1', 'recorder tab1');

    # asking twice before it comes does not ask again
    my $g = cb_state($v)->{json}{generation};
    cb_view($ann, $conv, after => 0);
    is(cb_state($v)->{json}{generation}, $g, 'a second after=0 before the snapshot: no new request');

    my $full2 = full_snapshot(bytes => 500, mark => 'asked for');
    is(cb_send($v, $full2, recorder => 'tab1', full => 1)->{status}, 204, 'the asked-for snapshot: 204');
    $res = cb_view($ann, $conv, after => $vcursor);
    ok($res->{json}{reset}, 'the next answer starts a view (a full snapshot)');
    is_deeply($res->{json}{events}, decode($full2), 'just the new snapshot');
    $vcursor = $res->{json}{cursor};
    ok(!cb_state($v)->{json}{snapshot}, 'snapshot no longer wanted');
    $res = cb_view($ann, $conv, after => 0);
    is_deeply($res->{json}{events}, decode($full2), 'after=0 now: the new snapshot only (older chunks dropped)');
}

# ---------------------------------------------------------------------------
# A second tab takes the recording over

{
    my $tab2 = $v->tab;
    my $r = cb_send($tab2, incremental(mark => 'tab2'), recorder => 'tab2');
    is($r->{status}, 409, 'incremental events from a tab that does not record: 409');
    is($r->{json}{error}{code}, 'superseded', 'superseded');

    my $g = cb_state($v)->{json}{generation};
    my $p = cb_visitor_poll($v, after => $cursor, cobrowse => $g);
    my $view = cb_start_view($ann, $conv, after => $vcursor);
    sleep 0.1;
    my $full3 = full_snapshot(mark => 'tab2 visible');
    $r = cb_send($tab2, $full3, recorder => 'tab2', full => 1);
    is($r->{status}, 204, 'a full snapshot from the other tab: 204 (it takes over)');
    my $res = $view->result(timeout => 5);
    ok($res->{json}{reset}, 'the view starts again');
    is_deeply($res->{json}{events}, decode($full3), 'from the new tab\'s snapshot');
    $vcursor = $res->{json}{cursor};

    my ($ev) = @{ cobrowse_events($p->result(timeout => 5)) };
    is($ev && $ev->{recorder}, 'tab2', 'the visitor\'s tabs hear who records now');
    ok($ev && $ev->{generation} > $g, 'with a new generation');

    $r = cb_send($v, incremental(mark => 'old tab'), recorder => 'tab1');
    is($r->{status}, 409, 'the first tab, superseded: 409');
    is($r->{json}{error}{code}, 'superseded', 'superseded');
    is(cb_send($tab2, incremental(mark => 'tab2 goes on'), recorder => 'tab2')->{status}, 204,
       'the recording tab goes on');
    $res = cb_view($ann, $conv, after => $vcursor);
    is($res->{json}{events}[0]{data}{mark}, 'tab2 goes on 1', 'its events reach the view');
    $vcursor = $res->{json}{cursor};
}

# ---------------------------------------------------------------------------
# The agent's pointer in the visitor's chat poll

{
    my $g = cb_state($v)->{json}{generation};
    my $p = cb_visitor_poll($v, after => $cursor, cobrowse => $g);
    sleep 0.1;
    my $t0 = time;
    my $r = cb_pointer($ann, $conv, x => 120, y => 340.4);
    is($r->{status}, 204, 'pointer: 204') or diag $r->{content};
    my $res = $p->result(timeout => 5);
    ok($res->{at} - $t0 < $WAKE_MAX + 0.5, sprintf('the visitor sees it at once (%.3f s)', $res->{at} - $t0));
    my @ev = @{ cobrowse_events($res) };
    is(scalar @ev, 1, 'one event');
    is($ev[0]{type}, 'pointer', 'type pointer');
    is_deeply([ @{ $ev[0] }{qw(x y)} ], [ 120, 340 ], 'its page coordinates');
    ok(!$ev[0]{click}, 'a move');
    ok($ev[0]{pointer} > 0, 'a pointer counter');
    is($ev[0]{seq}, $cursor, 'seq: the poll\'s cursor');
    my $pc = $ev[0]{pointer};

    my $h = $v->events(after => $cursor, cobrowse => $g, pointer => $pc, wait => 0);
    is_deeply(cobrowse_events($h), [], 'pointer=P: nothing new');

    cb_pointer($ann, $conv, x => 1, y => 1);
    cb_pointer($ann, $conv, x => 50, y => 60, click => 1);
    cb_pointer($ann, $conv, x => 70, y => 80);
    @ev = @{ cobrowse_events($v->events(after => $cursor, cobrowse => $g, pointer => $pc, wait => 0)) };
    is_deeply([ map { [ $_->{x}, $_->{y}, $_->{click} ? 1 : 0 ] } @ev ],
              [ [ 50, 60, 1 ], [ 70, 80, 0 ] ],
              'since P: the click at its place, then the latest position');
    ok($ev[1]{pointer} > $ev[0]{pointer}, 'the counters grow');
    $pc = $ev[1]{pointer};
    cb_pointer($ann, $conv, x => 5, y => 6, click => 1);
    @ev = @{ cobrowse_events($v->events(after => $cursor, cobrowse => $g, pointer => $pc, wait => 0)) };
    is_deeply([ map { [ $_->{x}, $_->{y}, $_->{click} ? 1 : 0 ] } @ev ], [ [ 5, 6, 1 ] ],
              'a click that is the latest: the click alone');

    $r = cb_pointer($bob, $conv, x => 1, y => 1);
    is($r->{status}, 403, 'another agent\'s pointer: 403');
}

# ---------------------------------------------------------------------------
# Stop: from the visitor, then from the agent

{
    my $view = cb_start_view($ann, $conv, after => $vcursor);
    sleep 0.1;
    my $t0 = time;
    my $r = cb_vstop($v);
    is($r->{status}, 200, 'the visitor stops: 200');
    is($r->{json}{state}, 'ended', 'ended');
    is($r->{json}{reason}, 'visitor', 'reason visitor');
    my $res = $view->result(timeout => 5);
    ok($res->{at} - $t0 < $WAKE_MAX + 0.5, sprintf('the view is told at once (%.3f s)', $res->{at} - $t0));
    is($res->{json}{state}, 'ended', 'the view: ended');
    is($res->{json}{reason}, 'visitor', 'the view: by the visitor');
    is_deeply($res->{json}{events}, [], 'the view: no events');

    $r = cb_send($v->tab, incremental(), recorder => 'tab2');
    is($r->{status}, 410, 'the recorder after the end: 410');
    is($r->{json}{error}{code}, 'ended', 'ended');
    is(cb_pointer($ann, $conv, x => 1, y => 1)->{status}, 410, 'the pointer after the end: 410');
    is(cb_vstop($v)->{status}, 200, 'stopping again: 200 (it is over)');
    $res = cb_view($ann, $conv, after => $vcursor);
    is($res->{json}{state}, 'ended', 'a later view: ended at once');

    $r = cb_start($ann, $conv);
    is($r->{status}, 201, 'asked again: 201');
    my $g = $r->{json}{generation};
    is(cb_decide($v, 'allow')->{status}, 200, 'allowed');
    my $p = cb_visitor_poll($v, after => $cursor, cobrowse => cb_state($v)->{json}{generation});
    sleep 0.1;
    $r = cb_astop($ann, $conv);
    is($r->{status}, 200, 'the agent stops: 200');
    is($r->{json}{state}, 'ended', 'ended');
    is($r->{json}{reason}, 'agent', 'reason agent');
    my ($ev) = @{ cobrowse_events($p->result(timeout => 5)) };
    is($ev && $ev->{state}, 'ended', 'the visitor\'s poll: ended');
    is($ev && $ev->{reason}, 'agent', 'the visitor\'s poll: by the agent');
    is(cb_astop($bob, $conv)->{status}, 403, 'another agent cannot stop it');
    is(cb_state($v)->{json}{reason}, 'agent', 'GET cobrowse: ended by the agent');

    # with the session over, another agent may ask
    $r = cb_start($bob, $conv);
    is($r->{status}, 201, 'another agent may ask once it is over');
    is(cb_astop($bob, $conv)->{json}{reason}, 'agent', 'and stop');
}

# ---------------------------------------------------------------------------
# Closing the conversation ends it at once: the console, the REST API

sub active_session {
    my ($agent, $visitor, $c) = @_;
    my $r = cb_start($agent, $c);
    die "start: $r->{status} $r->{content}\n" unless $r->{status} =~ /^20[01]$/;
    $r = cb_decide($visitor, 'allow');
    die "allow: $r->{status} $r->{content}\n" unless $r->{status} == 200;
    $r = cb_send($visitor, full_snapshot(), recorder => 'rec', full => 1);
    die "snapshot: $r->{status} $r->{content}\n" unless $r->{status} == 204;
    return 1;
}

{
    active_session($ann, $v, $conv);
    my $view = cb_start_view($ann, $conv, after => 1);
    sleep 0.1;
    my $t0 = time;
    my $r = $ann->write(POST => "conversations/$conv/close", {});
    is($r->{status}, 200, 'the agent closes the conversation');
    my $res = $view->result(timeout => 5);
    ok($res->{at} - $t0 < $WAKE_MAX + 0.5, sprintf('the view is told at once (%.3f s)', $res->{at} - $t0));
    is($res->{json}{state}, 'ended', 'ended');
    is($res->{json}{reason}, 'closed', 'reason closed');
    is(cb_send($v, incremental(), recorder => 'rec')->{status}, 410, 'the recorder: 410');
    $r = cb_start($ann, $conv);
    is($r->{status}, 409, 'asking in a closed conversation: 409');
    is($r->{json}{error}{code}, 'conversation_closed', 'conversation_closed');

    my $api = Chatvisor::API->new($t, client => 'crm', secret => $secret);
    $api->login;
    my ($v2, $conv2) = conversation($t, 'the API closes this one');
    active_session($ann, $v2, $conv2);
    $view = cb_start_view($ann, $conv2, after => 1);
    sleep 0.1;
    $t0 = time;
    $r = $api->call(POST => "conversations/$conv2/close", {});
    is($r->{status}, 200, 'the REST API closes the conversation');
    $res = $view->result(timeout => 5);
    ok($res->{at} - $t0 < $WAKE_MAX + 0.5, sprintf('the view is told at once (%.3f s)', $res->{at} - $t0));
    is($res->{json}{reason}, 'closed', 'reason closed');
    is(cb_state($v2)->{json}{reason}, 'closed', 'the visitor reads why');
}

# ---------------------------------------------------------------------------
# 8 MB a POST: exactly that is taken; more ends the session (too_large)

my $MB = 1024 * 1024;


# the agent's view as bytes, not decoded
sub raw_view {
    my ($tt, $agent, $c) = @_;
    return $tt->request(GET => "/chatvisor/v1/agent/conversations/$c/cobrowse"
                               . '/events?after=0&wait=0',
                        headers => $agent->headers, timeout => 30);
}

{
    my ($v3, $conv3) = conversation($t, 'a big page');
    active_session($ann, $v3, $conv3);
    my $big = snapshot_of(8 * $MB);
    is(length $big, 8 * $MB, 'a snapshot of exactly 8 MB');
    my $r = cb_send($v3, $big, recorder => 'rec', full => 1, timeout => 30);
    is($r->{status}, 204, 'a POST of exactly 8 MB: 204') or diag $r->{content};
    my $res = raw_view($t, $ann, $conv3);
    is($res->{status}, 200, 'the view: 200');
    ok(index($res->{content}, substr($big, 1, -1)) > 0, 'the view gets it whole, byte for byte');
    my ($cur) = $res->{content} =~ /"cursor":(\d+)\}\s*\z/;
    ok($cur, 'a cursor');

    my $view = cb_start_view($ann, $conv3, after => $cur);
    sleep 0.1;
    $r = cb_send($v3, snapshot_of(8 * $MB + 1), recorder => 'rec', full => 1, timeout => 30);
    is($r->{status}, 413, 'a POST of 8 MB + 1: 413');
    is($r->{json}{error}{code}, 'too_large', 'too_large');
    $res = $view->result(timeout => 5);
    is($res->{json}{state}, 'ended', 'the session ended');
    is($res->{json}{reason}, 'too_large', 'the agent is told: too_large');
    is(cb_state($v3)->{json}{reason}, 'too_large', 'the visitor reads it too');
}

# ---------------------------------------------------------------------------
# The rate of incremental events: 512 KB/s over 5 s, then 429

{
    my ($v4, $conv4) = conversation($t, 'a busy page');
    active_session($ann, $v4, $conv4);
    my $chunk = incremental(n => 1, bytes => $MB - 200);
    my @st = map { cb_send($v4, $chunk, recorder => 'rec')->{status} } 1 .. 2;
    is_deeply(\@st, [ 204, 204 ], 'two 1 MB batches at once: taken (the window holds 2.5 MB)');
    my $r = cb_send($v4, $chunk, recorder => 'rec');
    is($r->{status}, 429, 'a third at once: 429');
    is($r->{json}{error}{code}, 'rate_limited', 'rate_limited');
    like($r->{headers}{'retry-after'} // '', qr/^[1-9]\d*$/, 'Retry-After: seconds');
    ok(($r->{headers}{'retry-after'} // 99) <= 5, 'no more than the window');
    is(cb_send($v4, full_snapshot(bytes => $MB), recorder => 'rec', full => 1)->{status}, 204,
       'a full snapshot is not counted: 204');
    sleep 1.2;
    is(cb_send($v4, incremental(n => 1, bytes => 400 * 1024), recorder => 'rec')->{status}, 204,
       'a second later there is room again');
    is(cb_view($ann, $conv4, after => 0)->{json}{state}, 'active', 'the session goes on');
    cb_astop($ann, $conv4);
}

# ---------------------------------------------------------------------------
# A long session's changes outgrow its page: past 1 MB (and 4 times the
# full snapshot) a fresh one is asked for, and it lets them go

{
    my ($v5, $conv5) = conversation($t, 'a long session');
    active_session($ann, $v5, $conv5);
    my $g0 = cb_state($v5)->{json}{generation};
    my $c5 = $v5->events(after => 0, wait => 0)->{json}{cursor};
    my $p = cb_visitor_poll($v5, after => $c5, cobrowse => $g0);
    sleep 0.1;
    my $chunk = incremental(n => 1, bytes => 200 * 1024);
    for my $i (1 .. 5) {
        is(cb_send($v5, $chunk, recorder => 'rec')->{status}, 204, "200 KB of changes ($i)");
    }
    my $s = cb_state($v5)->{json};
    ok(!$s->{snapshot} && $s->{generation} == $g0, 'at 1 MB after the snapshot: nothing asked yet');
    ok(!$p->ready(0), 'the visitor\'s poll is held');
    is(cb_send($v5, $chunk, recorder => 'rec')->{status}, 204, 'past 1 MB: 204');
    $s = cb_state($v5)->{json};
    ok($s->{snapshot} && $s->{generation} > $g0, 'a full snapshot is asked for');
    my ($ev) = grep { $_->{type} eq 'cobrowse' } @{ cobrowse_events($p->result(timeout => 5)) };
    ok($ev && $ev->{snapshot}, 'the visitor\'s chat poll is told (snapshot: true)') or diag explain $ev;
    is(cb_send($v5, $chunk, recorder => 'rec')->{status}, 204, 'more changes meanwhile: asked once');
    is(cb_state($v5)->{json}{generation}, $s->{generation}, 'no second request');
    my $full = full_snapshot(bytes => 3000, mark => 'compacted');
    is(cb_send($v5, $full, recorder => 'rec', full => 1)->{status}, 204, 'the fresh full snapshot: 204');
    ok(!cb_state($v5)->{json}{snapshot}, 'none wanted any more');
    my $res = cb_view($ann, $conv5, after => 0);
    is_deeply($res->{json}{events}, decode($full), 'a view that opens reads that snapshot only');
    cb_astop($ann, $conv5);
}

# ---------------------------------------------------------------------------
# 256 live sessions at most

{
    my @c;
    push @c, [ conversation($t, "visitor $_") ] for 1 .. 257;
    my @st;
    push @st, cb_start($ann, $_->[1])->{status} for @c[0 .. 255];
    # the ones of the tests above ended; these are the live ones
    is(scalar(grep { $_ == 201 } @st), 256, '256 live sessions: each 201');
    my $r = cb_start($ann, $c[256][1]);
    is($r->{status}, 503, 'the 257th: 503');
    is($r->{json}{error}{code}, 'limit_reached', 'limit_reached');
    is(cb_astop($ann, $c[0][1])->{status}, 200, 'one ends');
    is(cb_start($ann, $c[256][1])->{status}, 201, 'then the next may start');
    cb_astop($ann, $_->[1]) for @c[1 .. 256];
    is(cb_start($ann, $c[0][1])->{status}, 201, 'all ended: a new one starts');
    cb_astop($ann, $c[0][1]);
}

# ---------------------------------------------------------------------------
# max_duration, ended by the sweep (every 5 s) and at the next request

my $short = instance(http => 'chatvisor_cobrowse_max_duration 2s;');
{
    my $sstore = $short->testdir . '/store';
    my $x = Chatvisor::Chat::Agent->login($short, $sstore, 'xena');
    my ($sv, $sconv) = conversation($short);
    active_session($x, $sv, $sconv);
    is(cb_state($sv)->{json}{max_duration_ms}, 2000, 'max_duration_ms 2000');
    my $t0 = time;
    my $res;
    for (1 .. 5) {    # held views, each up to the 3 s poll timeout
        $res = cb_start_view($x, $sconv, after => 1)->result(timeout => 12);
        last if ($res->{json}{state} // '') ne 'active';
    }
    my $el = time - $t0;
    is($res->{json}{state}, 'ended', 'ended by itself');
    is($res->{json}{reason}, 'max_duration', 'reason max_duration');
    ok($el >= 1.5 && $el < 8.5,
       sprintf('after the 2 s, at a sweep (%.2f s)', $el));

    my ($sv2, $sconv2) = conversation($short);
    active_session($x, $sv2, $sconv2);
    sleep 2.1;
    my $s = cb_state($sv2);
    is($s->{json}{state}, 'ended', 'a request after the 2 s: ended at once');
    is($s->{json}{reason}, 'max_duration', 'max_duration');
}

# ---------------------------------------------------------------------------
# A small zone: full, and the memory back when sessions end

my $small = instance(http => 'chatvisor_cobrowse_memory 1m;');
{
    my $zstore = $small->testdir . '/store';
    my $z = Chatvisor::Chat::Agent->login($small, $zstore, 'zed');
    my ($za, $zconv_a) = conversation($small, 'a');
    my ($zb, $zconv_b) = conversation($small, 'b');
    active_session($z, $za, $zconv_a);
    active_session($z, $zb, $zconv_b);
    my $r = cb_send($za, snapshot_of(400 * 1024), recorder => 'rec', full => 1);
    is($r->{status}, 204, 'a 400 KB snapshot in a 1 MB zone: 204');
    $r = cb_send($zb, snapshot_of(400 * 1024), recorder => 'rec', full => 1);
    is($r->{status}, 413, 'another session\'s 400 KB snapshot does not fit: 413');
    is($r->{json}{error}{code}, 'too_large', 'too_large');
    is(cb_state($zb)->{json}{reason}, 'too_large', 'that session ended too_large');
    is(cb_view($z, $zconv_a, after => 0)->{json}{state}, 'active', 'the first goes on');

    # incremental events that do not fit: the session's older events go,
    # and a snapshot is asked for
    $r = cb_send($za, incremental(n => 1, bytes => 400 * 1024), recorder => 'rec');
    is($r->{status}, 204, 'incremental events when the zone is full: 204');
    my $s = cb_state($za);
    ok($s->{json}{snapshot}, 'a full snapshot is asked for');
    my $res = cb_view($z, $zconv_a, after => 1);
    ok($res->{json}{reset}, 'the view starts again');
    is_deeply($res->{json}{events}, [], 'with nothing yet: the snapshot is on its way');
    is(cb_send($za, snapshot_of(300 * 1024), recorder => 'rec', full => 1)->{status}, 204,
       'the snapshot asked for fits');

    is(cb_vstop($za)->{status}, 200, 'it ends');

    # one after another, each session's memory is back when it ends
    my @st;
    for my $i (1 .. 12) {
        my ($zv, $zc) = conversation($small, "round $i");
        active_session($z, $zv, $zc);
        push @st, cb_send($zv, snapshot_of(500 * 1024), recorder => 'rec', full => 1)->{status};
        cb_vstop($zv);
    }
    is_deeply(\@st, [ (204) x 12 ], '12 sessions of 500 KB one after another in a 1 MB zone: each fits');
}

done_testing();
