#!/usr/bin/perl

# The chat endpoints against hostile clients, through the real nginx (4
# workers), per docs/chat-endpoints.md and SPEC section 4-5: visitors are
# isolated from each other (history, polls, a conversation named in the
# query), forged / foreign / junk visitor cookies make a stranger, login
# tokens that are used, expired or forged give 403 invalid_token and no
# session, agent endpoints need the session (401) and writes the CSRF
# header (403), writes from another site are refused (403), no answer
# carries CORS headers, and malformed input (JSON, types, unknown fields,
# text rules, UTF-8, U+0000, sizes, content types, cursors, methods) gets
# the right 4xx with a JSON error while nothing is stored and no worker
# dies.

use strict;
use warnings;
use utf8;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(time sleep);

use Chatvisor::Test;
use Chatvisor::Chat qw(ctl);

my $CONFIG = <<'EOF';
worker_processes 4;
http {
    chatvisor_store %%TESTDIR%%/store size=64m;
    server {
        listen 127.0.0.1:%%PORT%%;
        location /chatvisor/ { chatvisor on; chatvisor_poll_timeout 2s; }
    }
}
EOF

my $t = Chatvisor::Test->new;
$t->write_config($CONFIG);
$t->run;
my $store = $t->testdir . '/store';
my @workers = $t->worker_pids;
is(scalar @workers, 4, '4 workers');

# another nginx with its own store (its own signing secret)
my $other = Chatvisor::Test->new;
$other->write_config($CONFIG);
$other->run;

# every answer through Chatvisor::Chat is kept, for the CORS check at the end
my @answers;
{
    no warnings 'redefine';
    my $orig = \&Chatvisor::Chat::request;
    *Chatvisor::Chat::request = sub {
        my $r = $orig->(@_);
        push @answers, [ "$_[1] $_[2]", $r ];
        return $r;
    };
}

sub error_ok {
    my ($r, $status, $code, $name) = @_;
    my $ok = 1;
    $ok &&= is($r->{status}, $status, "$name: $status");
    my $e = ref $r->{json} eq 'HASH' ? $r->{json}{error} : undef;
    $ok &&= ok(ref $e eq 'HASH' && defined $e->{code} && !ref $e->{code}
               && defined $e->{message} && !ref $e->{message} && length $e->{message},
               "$name: JSON {error: {code, message}}");
    if (ref $code) {
        $ok &&= like($e && $e->{code}, $code, "$name: code");
    } else {
        $ok &&= is($e && $e->{code}, $code, "$name: code $code");
    }
    diag("answer: $r->{status} $r->{content}") unless $ok;
    return $ok;
}

sub seqs { [ map { $_->{seq} } @{ $_[0] } ] }

# ---------------------------------------------------------------------------
# Two visitors; an agent (also our view of the global log)

my $A = Chatvisor::Chat::Visitor->new($t);
my $B = Chatvisor::Chat::Visitor->new($t);
is($A->post("A's secret $_")->{status}, 201, "A posts $_") for 1 .. 3;
is($B->post("B's note")->{status}, 201, 'B posts');
my ($a_hist, $convA) = $A->history;
my ($b_hist, $convB) = $B->history;
isnt($convA, $convB, 'two conversations');
isnt($A->customer_id, $B->customer_id, 'two customers');

my $ann = Chatvisor::Chat::Agent->login($t, $store, 'ann', name => 'Ann');
my $bob = Chatvisor::Chat::Agent->login($t, $store, 'bob', name => 'Bob');

# what the store holds: conversations (chatvisorctl) and the global log end
sub snapshot {
    my @c = sort { $a->{id} cmp $b->{id} } Chatvisor::Chat::ctl_conversations($store);
    my $me = $ann->get('me');
    return { conversations => \@c, log => $me->{json}{cursor},
             a => scalar($A->history), b => scalar($B->history) };
}
sub unchanged {
    my ($before, $name) = @_;
    my $now = snapshot();
    return is_deeply($now, $before, "$name: nothing stored");
}

# ---------------------------------------------------------------------------
# Isolation

{
    is_deeply([ map { $_->{message}{text} } @$b_hist ], [ "B's note" ], "B's history is B's only");
    my $h = $B->events(after => 0, conversation => $convA, wait => 0);
    is($h->{json}{conversation_id}, $convB, "B naming A's conversation gets B's own");
    ok(!grep({ ($_->{message}{text} // '') =~ /A's/ } @{ $h->{json}{events} }),
       "B never sees A's messages");

    my $s = Chatvisor::Chat::Visitor->new($t);
    $h = $s->events(after => 0, conversation => $convA, wait => 0);
    is($h->{json}{conversation_id}, undef, "a stranger naming A's conversation gets nothing");
    is_deeply($h->{json}{events}, [], 'a stranger: no events');

    # an expiring login token for later (it is checked after this wait)
    my $short = Chatvisor::Chat::Agent->token($t, $store, 'ann', '--ttl', '1');

    # B's held poll is not answered with A's new message
    my $pb = $B->start_poll(after => 1);
    my $ps = $s->start_poll(after => 0, conversation => $convA);
    sleep 0.1;
    is($A->post("A's secret 4")->{status}, 201, 'A posts while B polls');
    my $rb = $pb->result(timeout => 6);
    my $rs = $ps->result(timeout => 6);
    is_deeply($rb->{json}{events}, [], "B's poll: no events");
    is($rb->{json}{conversation_id}, $convB, "B's poll: B's conversation");
    ok($rb->{elapsed} > 1.5, sprintf("B's poll ran to its timeout (%.2f s)", $rb->{elapsed}));
    is($rs->{json}{conversation_id}, undef, "stranger's poll: nothing");
    unlike($rb->{content} . $rs->{content}, qr/A's secret/, "A's text appears in neither");

    # (the 2 s wait above expired the 1 s token)
    my $j = Chatvisor::Chat::Agent->join($t, $short);
    error_ok($j, 403, 'invalid_token', 'expired login token');
    ok(!$j->{set_cookie}{cv_agent}, 'expired token: no session cookie');
}

# ---------------------------------------------------------------------------
# client_msg_id is per author: another visitor or an agent using the same
# one gets their own message, never A's
{
    my $a1 = $A->post("A's keyed message", client_msg_id => 'shared-1');
    is($a1->{status}, 201, 'A posts with client_msg_id shared-1');
    my $b1 = $B->post("B's keyed message", client_msg_id => 'shared-1');
    is($b1->{status}, 201, 'B with the same client_msg_id: 201, a new message');
    isnt($b1->{json}{id}, $a1->{json}{id}, "B does not get A's message");
    is($b1->{json}{conversation_id}, $convB, "B's message is in B's conversation");
    unlike($b1->{content}, qr/A's keyed/, "B's answer does not carry A's text");
    my $s1 = Chatvisor::Chat::Visitor->new($t)->post('stranger keyed', client_msg_id => 'shared-1');
    is($s1->{status}, 201, 'a stranger with the same client_msg_id: 201');
    unlike($s1->{content}, qr/A's keyed/, "the stranger does not get A's message");

    # an agent's client_msg_id, reused in another conversation, must not
    # answer with (or skip posting because of) the first conversation's message
    my $r1 = $ann->reply($convA, 'reply keyed k-1', client_msg_id => 'k-1');
    is($r1->{status}, 201, 'Ann replies to A with client_msg_id k-1');
    my $r2 = $ann->reply($convB, 'reply keyed k-1 to B', client_msg_id => 'k-1');
    ok(!($r2->{status} == 200 && ($r2->{json}{conversation_id} // '') ne $convB),
       "the same client_msg_id in B's conversation is not answered with A's message")
        or diag("POST conversations/$convB/messages {client_msg_id: k-1}: $r2->{status} $r2->{content}");
    ok($r2->{status} == 201 || ($r2->{status} >= 400 && $r2->{status} < 500),
       "it is posted to B (201) or refused (4xx)") or diag("$r2->{status} $r2->{content}");
    ($a_hist) = $A->history;
    ($b_hist) = $B->history;
}

# ---------------------------------------------------------------------------
# Forged, foreign and junk visitor cookies: a stranger

{
    my ($a_id, $a_sig) = $A->cookie =~ /^([^.]+)\.(.+)$/;
    my ($b_id, $b_sig) = $B->cookie =~ /^([^.]+)\.(.+)$/;
    my $flip = sub { my $s = shift; my $c = substr($s, 5, 1); substr($s, 5, 1) = $c eq 'A' ? 'B' : 'A'; $s };

    my $ov = Chatvisor::Chat::Visitor->new($other);
    is($ov->post('elsewhere')->{status}, 201, 'a visitor of the other store');
    my ($o_id, $o_sig) = $ov->cookie =~ /^([^.]+)\.(.+)$/;

    my %forged = (
        'changed signature'              => "$a_id." . $flip->($a_sig),
        "A's id with B's signature"      => "$a_id.$b_sig",
        "A's id, other store's signature" => "$a_id.$o_sig",
        'a cookie of another store'      => $ov->cookie,
        'no signature'                   => $a_id,
        'empty signature'                => "$a_id.",
        'only a signature'               => ".$a_sig",
        'junk'                           => 'garbage',
        'very long'                      => 'cus_' . ('a' x 3000) . ".$a_sig",
        'A\'s id, two dots'              => "$a_id..$a_sig",
    );
    for my $name (sort keys %forged) {
        my $before = snapshot();
        my $f = Chatvisor::Chat::Visitor->new($t, cookie => $forged{$name});
        my $h = $f->events(after => 0, wait => 0);
        is($h->{status}, 200, "$name: history 200");
        is($h->{json}{conversation_id}, undef, "$name: no conversation (a stranger)");
        $f->cookie($forged{$name});
        my $p = $f->post("I am not A ($name)");
        is($p->{status}, 201, "$name: posting works, as a stranger");
        isnt($p->{json}{conversation_id}, $convA, "$name: not A's conversation");
        ok(!grep({ $_->{id} eq ($p->{json}{conversation_id} // '') } @{ $before->{conversations} }),
           "$name: a new conversation");
        isnt($p->{json}{author}{id}, $a_id, "$name: not A's customer id");
        ok($p->{set_cookie}{cv_visitor}, "$name: a fresh cookie");
        is_deeply(scalar($A->history), $before->{a}, "$name: A's history untouched");
    }
}

# ---------------------------------------------------------------------------
# Login tokens

{
    my $tok = Chatvisor::Chat::Agent->token($t, $store, 'ann');
    my $j = Chatvisor::Chat::Agent->join($t, $tok);
    is($j->{status}, 200, 'a fresh token: 200');
    $j = Chatvisor::Chat::Agent->join($t, $tok);
    error_ok($j, 403, 'invalid_token', 'a used token');
    ok(!$j->{set_cookie}{cv_agent}, 'used token: no session cookie');
    like($j->{headers}{'cache-control'} // '', qr/no-store/, 'used token answer: no-store');
    is($j->{headers}{'referrer-policy'}, 'no-referrer', 'used token answer: no-referrer');

    my $fresh = Chatvisor::Chat::Agent->token($t, $store, 'ann');
    my $c = substr($fresh, -3, 1);
    (my $forged = $fresh) =~ s/.(..)$/($c eq 'x' ? 'y' : 'x') . $1/e;
    my %bad = (
        'a forged token (one character changed)' => $forged,
        'a random token'   => 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
        'an empty token'   => '',
        'a huge token'     => 'x' x 5000,
        'a token of the other store' =>
            do { ctl('agent-put', '--store', $other->testdir . '/store', '--id', 'ann');
                 Chatvisor::Chat::Agent->token($other, $other->testdir . '/store', 'ann') },
    );
    for my $name (sort keys %bad) {
        my $r = Chatvisor::Chat::Agent->join($t, $bad{$name});
        error_ok($r, 403, 'invalid_token', $name);
        ok(!$r->{set_cookie}{cv_agent}, "$name: no session cookie");
    }
    for my $body ('{"token": 5}', '{"token": null}', '{}') {
        my $r = Chatvisor::Chat::request($t, POST => 'v1/agent/join', body => $body);
        ok($r->{status} == 403 || $r->{status} == 400, "join $body: 400 or 403")
            or diag("$r->{status} $r->{content}");
        ok(!$r->{set_cookie}{cv_agent}, "join $body: no session cookie");
    }
    # the forged attempts did not use up the real token
    $j = Chatvisor::Chat::Agent->join($t, $fresh);
    is($j->{status}, 200, 'the real token still works after forged attempts');

    # a cross-site join is refused before the token is used
    my $tok2 = Chatvisor::Chat::Agent->token($t, $store, 'ann');
    my $x = Chatvisor::Chat::request($t, POST => 'v1/agent/join', json => { token => $tok2 },
                                     headers => { Origin => 'http://evil.example' });
    error_ok($x, 403, 'forbidden', 'cross-site join');
    ok(!$x->{set_cookie}{cv_agent}, 'cross-site join: no session cookie');
    is(Chatvisor::Chat::Agent->join($t, $tok2)->{status}, 200,
       'the token was not used by the cross-site attempt');
}

# ---------------------------------------------------------------------------
# Agent endpoints without a (valid) session: 401

{
    my $before = snapshot();
    my ($sess, $sig) = $ann->cookie =~ /^([^.]+)\.(.+)$/;
    my ($bsess, $bsig) = $bob->cookie =~ /^([^.]+)\.(.+)$/;
    my $o_agent = Chatvisor::Chat::Agent->login($other, $other->testdir . '/store', 'ann', no_put => 1);
    my %cookies = (
        'no cookie' => '',
        'changed signature' => "cv_agent=$sess." . ($sig =~ /^A/ ? 'B' : 'A') . substr($sig, 1),
        "Ann's session, Bob's signature" => "cv_agent=$sess.$bsig",
        'a session of another store' => 'cv_agent=' . $o_agent->cookie,
        'junk' => 'cv_agent=junk',
        'the visitor cookie' => 'cv_visitor=' . $A->cookie,
    );
    my @calls = (
        [ GET  => 'me' ], [ GET => 'conversations?filter=all' ],
        [ GET  => "conversations/$convA" ], [ GET => "conversations/$convA/events?after=0" ],
        [ GET  => 'events?after=0' ],
        [ POST => "conversations/$convA/messages", { text => 'no session' } ],
        [ POST => "conversations/$convA/assign", {} ],
        [ POST => "conversations/$convA/close", {} ],
        [ POST => "conversations/$convA/typing", { typing => JSON::PP::true() } ],
        [ PUT  => 'status', { status => 'away' } ],
        [ POST => 'logout', {} ],
    );
    for my $cn (sort keys %cookies) {
        my @fail;
        for my $c (@calls) {
            my ($m, $p, $d) = @$c;
            my $r = Chatvisor::Chat::request($t, $m, "v1/agent/$p",
                defined $d ? (json => $d) : (),
                headers => { Cookie => $cookies{$cn}, 'X-Chatvisor-CSRF' => $ann->csrf });
            push @fail, "$m $p: $r->{status} " . ($r->{json} ? $r->{json}{error}{code} // '' : $r->{content})
                unless $r->{status} == 401 && $r->{json} && ($r->{json}{error}{code} // '') eq 'unauthorized';
        }
        is_deeply(\@fail, [], "$cn: every agent endpoint answers 401 unauthorized");
    }
    unchanged($before, 'requests without a session');
    is($ann->get('me')->{status}, 200, "Ann's real session still works");
}

# ---------------------------------------------------------------------------
# Agent writes need the CSRF header; writes from another site are refused

{
    my $poll = $ann->start_events(after => 1e9);   # Ann online, to see status changes
    sleep 0.1;
    $ann->write(PUT => 'status', { status => 'available' });
    my $before = snapshot();
    my @writes = (
        [ POST => "conversations/$convA/messages", { text => 'forged reply' } ],
        [ POST => "conversations/$convA/assign", { agent_id => 'bob' } ],
        [ POST => "conversations/$convA/close", {} ],
        [ PUT  => 'status', { status => 'away' } ],
        [ POST => 'logout', {} ],
    );
    my %variants = (
        'no CSRF header'       => { 'X-Chatvisor-CSRF' => '' },
        # one character changed (a token may start with "x" itself)
        'a wrong CSRF token'   => { 'X-Chatvisor-CSRF' => ($ann->csrf =~ /^x/ ? 'y' : 'x')
                                                         . substr($ann->csrf, 1) },
        "Bob's CSRF token"     => { 'X-Chatvisor-CSRF' => $bob->csrf },
        'an empty CSRF value'  => { 'X-Chatvisor-CSRF' => ' ' },
        'Origin: http://evil.example' => { Origin => 'http://evil.example' },
        'Origin: null'         => { Origin => 'null' },
        'Sec-Fetch-Site: cross-site' => { 'Sec-Fetch-Site' => 'cross-site' },
        'Origin of another port' => { Origin => 'http://127.0.0.1:1' },
    );
    my %codes;
    for my $vn (sort keys %variants) {
        for my $w (@writes) {
            my ($m, $p, $d) = @$w;
            my $r = $ann->write($m, $p, $d, headers => $variants{$vn});
            error_ok($r, 403, qr/./, "$vn: $m $p");
            $codes{ $r->{json} ? $r->{json}{error}{code} // 'none' : 'none' }{$vn}++;
        }
    }
    # the contract's table: 403 "forbidden" for a write from another site
    # and for a missing CSRF header
    is_deeply([ sort keys %codes ], [ 'forbidden' ],
              'every refused agent write answers code "forbidden"')
        or diag(join "\n", map { "code $_: " . join(', ', sort keys %{ $codes{$_} }) } sort keys %codes);
    unchanged($before, 'agent writes without CSRF or from another site');
    is($ann->get('me')->{json}{status}, 'available', 'status still available');
    is($ann->get('me')->{status}, 200, 'the session was not logged out');

    # the same writes with the header and from the same origin work
    my $ok = $ann->write(PUT => 'status', { status => 'away' },
                         headers => { Origin => $t->url(''), 'Sec-Fetch-Site' => 'same-origin' });
    is($ok->{status}, 200, 'same-origin write with the CSRF header: 200');
    is($ann->get('me')->{json}{status}, 'away', 'and it took effect');
    $ann->write(PUT => 'status', { status => 'available' });
    $poll->close;
}

# visitor writes from another site
{
    my $before = snapshot();
    my %variants = (
        'Origin: http://evil.example' => { Origin => 'http://evil.example' },
        'Origin: https://127.0.0.1.evil.example' => { Origin => 'https://127.0.0.1.evil.example' },
        'Origin: null' => { Origin => 'null' },
        'Sec-Fetch-Site: cross-site' => { 'Sec-Fetch-Site' => 'cross-site' },
        'same Origin but Sec-Fetch-Site: cross-site' =>
            { Origin => $t->url(''), 'Sec-Fetch-Site' => 'cross-site' },
    );
    my $s = Chatvisor::Chat::Visitor->new($t);
    for my $vn (sort keys %variants) {
        my $r = $A->request(POST => 'v1/visitor/messages', json => { text => 'cross-site' },
                            headers => $variants{$vn});
        error_ok($r, 403, 'forbidden', "visitor message, $vn");
        $r = $A->request(POST => 'v1/visitor/typing', json => { typing => JSON::PP::true() },
                         headers => $variants{$vn});
        error_ok($r, 403, 'forbidden', "visitor typing, $vn");
        $r = $s->request(POST => 'v1/visitor/messages', json => { text => 'cross-site stranger' },
                         headers => $variants{$vn});
        error_ok($r, 403, 'forbidden', "stranger's message, $vn");
        ok(!$r->{set_cookie}{cv_visitor}, "stranger, $vn: no cookie");
    }
    unchanged($before, 'visitor writes from another site');

    my $ok = $A->request(POST => 'v1/visitor/messages', json => { text => 'same origin' },
                         headers => { Origin => $t->url(''), 'Sec-Fetch-Site' => 'same-origin' });
    is($ok->{status}, 201, 'a same-origin visitor write: 201');
}

# ---------------------------------------------------------------------------
# Hostile input

my $long4096 = 'é' x 4096;
my $long4097 = 'é' x 4097;
my @bad_bodies = (
    [ 'invalid JSON'          => '{"text": "hi"',               qr/^invalid_json$/ ],
    [ 'not JSON at all'       => 'text=hi',                     qr/^invalid_json$/ ],
    [ 'a JSON array'          => '["hi"]',                      qr/^invalid_(json|request)$/ ],
    [ 'a JSON string'         => '"hi"',                        qr/^invalid_(json|request)$/ ],
    [ 'JSON null'             => 'null',                        qr/^invalid_(json|request)$/ ],
    [ 'an empty body'         => '',                            qr/^invalid_(json|request)$/ ],
    [ 'trailing garbage'      => '{"text": "hi"} x',            qr/^invalid_json$/ ],
    [ 'text: 5'               => '{"text": 5}',                 qr/^invalid_request$/ ],
    [ 'text: true'            => '{"text": true}',              qr/^invalid_request$/ ],
    [ 'text: ["hi"]'          => '{"text": ["hi"]}',            qr/^invalid_request$/ ],
    [ 'client_msg_id: {}'     => '{"text": "hi", "client_msg_id": {}}', qr/^invalid_request$/ ],
    [ 'client_msg_id: 7'      => '{"text": "hi", "client_msg_id": 7}',  qr/^invalid_request$/ ],
    [ 'client_msg_id of 129'  => '{"text": "hi", "client_msg_id": "' . ('c' x 129) . '"}', qr/^invalid_request$/ ],
    [ 'missing text'          => '{"client_msg_id": "m-1"}',    qr/^invalid_request$/ ],
    [ 'text: null'            => '{"text": null}',              qr/^invalid_request$/ ],
    [ 'empty text'            => '{"text": ""}',                qr/^invalid_request$/ ],
    [ 'whitespace-only text'  => qq({"text": " \\n\\t  \\r\\n "}), qr/^invalid_request$/ ],
    [ '4097 characters'       => Chatvisor::Chat::encode_json({ text => $long4097 }), qr/^invalid_request$/ ],
    [ 'invalid UTF-8 \xff'    => qq({"text": "a\xffb"}),          qr/^invalid_(json|request)$/ ],
    [ 'overlong \xc0\xaf'     => qq({"text": "a\xc0\xafb"}),      qr/^invalid_(json|request)$/ ],
    [ 'surrogate \xed\xa0\x80' => qq({"text": "a\xed\xa0\x80b"}), qr/^invalid_(json|request)$/ ],
    [ 'truncated \xe2\x82'    => qq({"text": "a\xe2\x82"}),       qr/^invalid_(json|request)$/ ],
    [ 'lone \ud800 escape'    => '{"text": "a\ud800b"}',        qr/^invalid_(json|request)$/ ],
    [ '\u0000 in text'        => '{"text": "a\u0000b"}',        qr/^invalid_request$/ ],
    [ '\u0000 in client_msg_id' => '{"text": "hi", "client_msg_id": "x\u0000y"}', qr/^invalid_request$/ ],
    [ 'a raw NUL byte in text' => qq({"text": "a\x00b"}),         qr/^invalid_(json|request)$/ ],
    [ 'a raw control byte'    => qq({"text": "a\x01b"}),         qr/^invalid_(json|request)$/ ],
    [ 'an unknown field'      => '{"text": "hi", "admin": true}', qr/^invalid_request$/ ],
    [ 'a nested unknown field' => '{"text": "hi", "author": {"type": "agent"}}', qr/^invalid_request$/ ],
    [ 'deep nesting'          => '{"text": "hi", "x": ' . ('[' x 5000) . (']' x 5000) . '}', qr/^invalid_(json|request)$/ ],
);

sub hostile_round {
    my ($label, $send, %o) = @_;
    my $before = snapshot();
    for my $c (@bad_bodies) {
        my ($name, $body, $code) = @$c;
        my $r = $send->($body);
        error_ok($r, 400, $code, "$label, $name");
        ok(!$r->{set_cookie}{cv_visitor}, "$label, $name: no cookie") if $o{stranger};
    }
    unchanged($before, "$label: malformed bodies");
}

hostile_round('visitor', sub { $A->request(POST => 'v1/visitor/messages', body => $_[0]) });
hostile_round('stranger', sub { Chatvisor::Chat::Visitor->new($t)->request(POST => 'v1/visitor/messages', body => $_[0]) },
              stranger => 1);
hostile_round('agent reply', sub { $ann->write(POST => "conversations/$convA/messages", undef, body => $_[0]) });

{
    my $before = snapshot();
    for my $b ('{"typing": "yes"}', '{"typing": true, "x": 1}', '[true]', '{') {
        my $r = $A->request(POST => 'v1/visitor/typing', body => $b);
        error_ok($r, 400, qr/^invalid_(json|request)$/, "visitor typing $b");
        $r = $ann->write(POST => "conversations/$convA/typing", undef, body => $b);
        error_ok($r, 400, qr/^invalid_(json|request)$/, "agent typing $b");
    }
    for my $b ('{"status": "offline"}', '{"status": 1}', '{"status": "away", "x": 1}', '{}') {
        my $r = $ann->write(PUT => 'status', undef, body => $b);
        error_ok($r, 400, 'invalid_request', "PUT status $b");
    }
    for my $b ('{"agent_id": 5}', '{"agent_id": "../x"}', '{"agent_id": "bob", "x": 1}') {
        my $r = $ann->write(POST => "conversations/$convA/assign", undef, body => $b);
        error_ok($r, 400, 'invalid_request', "assign $b");
    }
    my $r = $ann->write(POST => "conversations/$convA/close", undef, body => '{"reason": "x"}');
    error_ok($r, 400, 'invalid_request', 'close with an unknown field');
    unchanged($before, 'malformed typing, status, assign, close');
}

# the boundaries that must pass: 4096 characters (8192 bytes), a 128-char
# client_msg_id, text with a literal backslash-u0000, a charset parameter
{
    my $r = $A->post($long4096);
    is($r->{status}, 201, '4096 characters: 201');
    is(length($r->{json}{text} // ''), 4096, '4096 characters stored whole');
    $r = $A->post("\x{1F600}" x 4096);
    is($r->{status}, 201, '4096 four-byte characters: 201');
    $r = $A->post('cmid', client_msg_id => 'c' x 128);
    is($r->{status}, 201, 'a 128-character client_msg_id: 201');
    $r = $A->request(POST => 'v1/visitor/messages', body => '{"text": "a\\\\u0000b"}');
    is($r->{status}, 201, 'an escaped backslash before u0000 is text: 201');
    is($r->{json}{text}, 'a\\u0000b', 'stored as written');
    $r = $A->request(POST => 'v1/visitor/messages', body => '{"text": "charset"}',
                     content_type => 'application/json; charset=utf-8');
    is($r->{status}, 201, 'application/json; charset=utf-8: 201');
}

# sizes
{
    my $before = snapshot();
    my $pad = sub { my $n = shift; my $b = '{"text": "padded"'; $b . (' ' x ($n - length($b) - 1)) . '}' };
    my $r = $A->request(POST => 'v1/visitor/messages', body => $pad->(65537));
    error_ok($r, 413, 'too_large', 'a 64 KB + 1 body');
    $r = $A->request(POST => 'v1/visitor/messages', body => $pad->(1 << 20));
    error_ok($r, 413, 'too_large', 'a 1 MB body');
    $r = $ann->write(POST => "conversations/$convA/messages", undef, body => $pad->(65537));
    error_ok($r, 413, 'too_large', 'an agent 64 KB + 1 body');

    # chunked, without Content-Length
    my $big = $pad->(70000);
    my $chunked = '';
    for (my $i = 0; $i < length $big; $i += 8000) {
        my $c = substr($big, $i, 8000);
        $chunked .= sprintf("%x\r\n%s\r\n", length $c, $c);
    }
    $chunked .= "0\r\n\r\n";
    my $raw = $t->raw(method => 'POST', path => '/chatvisor/v1/visitor/messages',
                      headers => [ Host => '127.0.0.1:' . $t->port, Cookie => 'cv_visitor=' . $A->cookie,
                                   'Content-Type' => 'application/json',
                                   'Transfer-Encoding' => 'chunked' ],
                      body => $chunked);
    is($raw->status, 413, 'a chunked body over 64 KB: 413');
    my $j = Chatvisor::Chat::decode_json($raw->body);
    is($j && $j->{error}{code}, 'too_large', 'chunked: too_large');
    unchanged($before, 'bodies over 64 KB');

    $r = $A->request(POST => 'v1/visitor/messages', body => $pad->(65536));
    is($r->{status}, 201, 'a body of exactly 64 KB: 201');
}

# content types
{
    my $before = snapshot();
    for my $ct ('text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x',
                'application/jsonx', 'application/json-patch+json', 'text/json', '')
    {
        my $r = $A->request(POST => 'v1/visitor/messages', body => '{"text": "typed"}',
                            content_type => $ct);
        error_ok($r, 415, 'unsupported_media_type', "visitor, Content-Type '$ct'");
        $r = Chatvisor::Chat::Visitor->new($t)->request(POST => 'v1/visitor/messages',
                body => '{"text": "typed"}', content_type => $ct);
        error_ok($r, 415, 'unsupported_media_type', "stranger, Content-Type '$ct'");
        ok(!$r->{set_cookie}{cv_visitor}, "stranger, Content-Type '$ct': no cookie");
        $r = $ann->write(POST => "conversations/$convA/messages", undef,
                         body => '{"text": "typed"}', content_type => $ct);
        error_ok($r, 415, 'unsupported_media_type', "agent, Content-Type '$ct'");
    }
    unchanged($before, 'wrong content types');
}

# cursors
{
    for my $after ('-1', '1e99', 'abc', '99999999999999999999', '9007199254740993', '1.5',
                   '+1', '0x10', '%201', '', '1%00')
    {
        my $r = $A->events(after => $after, wait => 0);
        error_ok($r, 400, 'invalid_request', "visitor after='$after'");
        $r = $ann->get("events?after=$after");
        error_ok($r, 400, 'invalid_request', "agent events after='$after'");
        $r = $ann->get("conversations/$convA/events?after=$after");
        error_ok($r, 400, 'invalid_request', "conversation events after='$after'");
    }
    my $r = $A->events(after => '9007199254740992', wait => 0);
    is($r->{status}, 200, 'after=2^53: valid');
    is_deeply($r->{json}{events}, [], 'after=2^53: no events');
    $r = $ann->get('conversations/' . $convA . '/events?after=9007199254740992');
    is($r->{status}, 200, 'conversation events after=2^53: 200');
    is_deeply($r->{json}{events}, [], 'conversation events after=2^53: none');

    $r = $A->events(after => 0, conversation => 'conv_' . ('x' x 300), wait => 0);
    ok($r->{status} == 400 || ($r->{status} == 200 && $r->{json}{conversation_id} eq $convA),
       'a huge conversation id: 400, or ignored') or diag("$r->{status} $r->{content}");
    for my $q ('filter=nope', 'status=nope', 'filter=') {
        $r = $ann->get("conversations?$q");
        error_ok($r, 400, 'invalid_request', "conversations?$q");
    }
}

# methods and unknown paths
{
    my $before = snapshot();
    my @m = (
        [ visitor => GET    => 'v1/visitor/messages', 'POST' ],
        [ visitor => PUT    => 'v1/visitor/messages', 'POST' ],
        [ visitor => DELETE => 'v1/visitor/messages', 'POST' ],
        [ visitor => OPTIONS => 'v1/visitor/messages', 'POST' ],
        [ visitor => GET    => 'v1/visitor/typing', 'POST' ],
        [ visitor => POST   => 'v1/visitor/events?after=0', 'GET, HEAD' ],
        [ visitor => DELETE => 'v1/visitor/events', 'GET, HEAD' ],
        [ stranger => GET   => 'v1/agent/join', 'POST' ],
        [ agent => POST   => 'v1/agent/me', 'GET, HEAD' ],
        [ agent => GET    => 'v1/agent/status', 'PUT' ],
        [ agent => POST   => 'v1/agent/status', 'PUT' ],
        [ agent => GET    => 'v1/agent/logout', 'POST' ],
        [ agent => POST   => 'v1/agent/events', 'GET, HEAD' ],
        [ agent => POST   => 'v1/agent/conversations', 'GET, HEAD' ],
        [ agent => DELETE => "v1/agent/conversations/$convA", 'GET, HEAD' ],
        [ agent => PUT    => "v1/agent/conversations/$convA", 'GET, HEAD' ],
        [ agent => GET    => "v1/agent/conversations/$convA/messages", 'POST' ],
        [ agent => GET    => "v1/agent/conversations/$convA/close", 'POST' ],
        [ agent => PUT    => "v1/agent/conversations/$convA/assign", 'POST' ],
        [ agent => POST   => "v1/agent/conversations/$convA/events", 'GET, HEAD' ],
    );
    for my $c (@m) {
        my ($who, $method, $path, $allow) = @$c;
        my %h = $who eq 'visitor' ? %{ $A->headers }
              : $who eq 'agent' ? %{ $ann->headers('X-Chatvisor-CSRF' => $ann->csrf) } : ();
        my $r = Chatvisor::Chat::request($t, $method, $path, headers => \%h,
                    $method =~ /^(POST|PUT)$/ ? (body => '{"text": "wrong method"}') : ());
        error_ok($r, 405, 'method_not_allowed', "$method $path");
        is($r->{headers}{allow}, $allow, "$method $path: Allow: $allow");
    }
    for my $p ('v1/visitor/nope', 'v1/visitor/', 'v1/visitor/messages/x', 'v1/nope', 'v1/agent/nope',
               "v1/agent/conversations/$convA/nope", 'v1/agent/conversations/conv_nope')
    {
        my %h = $p =~ /agent/ ? %{ $ann->headers } : %{ $A->headers };
        my $r = Chatvisor::Chat::request($t, GET => $p, headers => \%h);
        error_ok($r, 404, 'not_found', "GET $p");
    }
    my $r = $ann->reply('conv_nope', 'to nowhere');
    error_ok($r, 404, 'not_found', 'reply to an unknown conversation');
    $r = $ann->write(POST => 'conversations/conv_nope/close', {});
    error_ok($r, 404, 'not_found', 'close an unknown conversation');
    unchanged($before, 'wrong methods and paths');
}

# ---------------------------------------------------------------------------
# Many held polls, and clients that go away while polling

{
    my $v = Chatvisor::Chat::Visitor->new($t);
    my $c = $v->post('flood')->{json}{seq};
    my @gone = map { $v->start_poll(after => $c) } 1 .. 100;
    my @held = map { $v->start_poll(after => $c) } 1 .. 200;
    sleep 0.3;
    $_->close for @gone;                 # clients that vanish mid-poll
    sleep 0.2;
    my $t0 = time;
    is($v->tab->post('wake them all')->{status}, 201, 'a post with 200 polls held');
    my ($ok, $late) = (0, 0);
    for my $p (@held) {
        my $res = eval { $p->result(timeout => 5) };
        $ok++ if $res && $res->{status} == 200 && @{ $res->{json}{events} } == 1;
        $late++ if !$res || $res->{at} - $t0 > 1.5;
    }
    is($ok, 200, 'all 200 held polls got the message');
    is($late, 0, 'all within 1.5 s');

    # an agent console that goes away mid-poll
    my @ag = map { $ann->start_events(after => 1e9) } 1 .. 20;
    sleep 0.2;
    $_->close for @ag;
    sleep 0.2;
    is($v->post('after the agents left')->{status}, 201, 'posting after dropped agent polls');
}

# ---------------------------------------------------------------------------
# No CORS anywhere

{
    # reads with a foreign Origin, and a preflight
    for my $p ('v1/visitor/events?after=0&wait=0', 'v1/agent/me', 'widget.js', 'agent/', 'join') {
        Chatvisor::Chat::request($t, GET => $p, headers => {
            Origin => 'http://evil.example', Cookie => 'cv_visitor=' . $A->cookie . '; cv_agent=' . $ann->cookie });
        Chatvisor::Chat::request($t, OPTIONS => $p, headers => {
            Origin => 'http://evil.example', 'Access-Control-Request-Method' => 'POST',
            'Access-Control-Request-Headers' => 'content-type, x-chatvisor-csrf' });
    }
    my @cors;
    for my $a (@answers) {
        my ($what, $r) = @$a;
        push @cors, "$what: " . join(', ', grep { /^access-control-/ } keys %{ $r->{headers} })
            if grep { /^access-control-/ } keys %{ $r->{headers} };
    }
    ok(@answers > 500, scalar(@answers) . ' answers looked at');
    is_deeply(\@cors, [], 'no answer carries an Access-Control-* header');
}

# ---------------------------------------------------------------------------
# Workers: none died or was replaced

is_deeply([ $t->worker_pids ], \@workers, 'the same 4 workers are still running');
is($A->events(after => 0, wait => 0)->{status}, 200, 'and still answer');

done_testing();
