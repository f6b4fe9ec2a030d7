#!/usr/bin/perl

# The store's indexes through the real nginx (2 workers, chatvisor_routing
# least_busy): a store of schema version 2 (t/data/store-v2, written by the
# module before the indexes; t/data/make-store-v2.pl makes it) is migrated
# at start and then answers from its indexes as it did from its records:
# the console's lists newest first, each agent's open
# conversations, a long conversation's events and messages from any
# cursor, the visitor's poll. Then each agent's count of open
# conversations through assigning, reassigning, unassigning, closing, a
# closed conversation's visitor writing again, disabling and enabling,
# seen where it matters: routing gives a full agent nothing, and the
# edge's any_agent_available hides the widget while every available agent
# is full (its mirror in shared memory follows within a second). A restart
# keeps it all.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use File::Copy qw(copy);
use File::Path qw(make_path);
use JSON::PP ();
use Test::More;
use Time::HiRes qw(sleep time);

use Chatvisor::Test;
use Chatvisor::API;
use Chatvisor::Chat ();
use Chatvisor::Widget qw(find_tags);

my $DATA = "$FindBin::Bin/data/store-v2";
my $fx = JSON::PP->new->decode(do {
    open my $fh, '<', "$DATA/fixture.json" or die "$DATA/fixture.json: $!";
    local $/;
    <$fh>;
});
my %conv = %{ $fx->{conversations} };

my $t = Chatvisor::Test->new;
my $store = $t->testdir . '/store';
make_path($store);
copy("$DATA/data.mdb", "$store/data.mdb") or die "copy: $!";
$t->write_file('crm.secret', "$fx->{api_secret}\n");
$t->write_file('htdocs/page/index.html',
               "<html><head><title>Shop</title></head><body>Hi</body></html>\n");

# the schema version the store records (mdb_dump of its meta database)
sub schema_version {
    my $out = `mdb_dump -s meta '$store' 2>&1`;
    my ($v) = $out =~ /^ 736368656d615f76657273696f6e\n ([0-9a-f]{8})$/m
        or return "unreadable: $out";
    return unpack 'V', pack 'H8', $v;
}

is(schema_version(), 2, 'the fixture is a store of schema version 2');

$t->write_config(<<'EOF');
worker_processes 2;
http {
    chatvisor_store %%TESTDIR%%/store size=32m;
    chatvisor_api_client crm %%TESTDIR%%/crm.secret;
    chatvisor_routing least_busy;
    chatvisor_poll_timeout 1s;
    server {
        listen 127.0.0.1:%%PORT%%;
        location /chatvisor/ { chatvisor on; }
        location /available/ {
            alias %%TESTDIR%%/htdocs/page/;
            chatvisor_inject on;
            chatvisor_show_if any_agent_available;
            add_header X-Visible $chatvisor_visible;
        }
    }
}
EOF
$t->run;

is(schema_version(), 3, 'nginx migrated it to version 3 at start');

my $api = Chatvisor::API->new($t, client => 'crm', secret => $fx->{api_secret});
$api->login;

# ---- what the migrated store answers ----

my $ann = Chatvisor::Chat::Agent->login($t, $store, 'ann', no_put => 1);
my $bob = Chatvisor::Chat::Agent->login($t, $store, 'bob', no_put => 1);

my %name_of = reverse %conv;

# the console's list as names of the fixture (new ones as "new")
sub console {
    my ($agent, $filter, $status) = @_;
    my $r = $agent->get("conversations?filter=$filter&status=$status");
    return "status $r->{status}" unless $r->{status} == 200;
    return join ' ', map { $name_of{ $_->{id} } // 'new' } @{ $r->{json}{items} };
}

is(console($ann, 'mine', 'open'), 'later long', "ann's open ones, newest first");
is(console($bob, 'mine', 'open'), 'bobs', "bob's open one");
is(console($ann, 'unassigned', 'open'), 'free', 'the unassigned one');
is(console($ann, 'all', 'closed'), 'done', 'the closed one');
is(console($ann, 'all', 'all'), 'free bobs done later long',
   'all of them, open and closed, newest first');
is(console($ann, 'mine', 'all'), 'done later long', "ann's, open and closed");

# the same list a page at a time, as the console follows next_cursor
{
    my (@pages, $cursor, $last);
    for (1 .. 5) {
        my $r = $ann->get('conversations?filter=all&status=all&limit=2'
                          . (defined $cursor ? "&cursor=$cursor" : ''));
        $last = $r;
        last unless $r->{status} == 200;
        push @pages, join ' ', map { $name_of{ $_->{id} } // 'new' }
                               @{ $r->{json}{items} };
        $cursor = $r->{json}{next_cursor};
        last unless defined $cursor;
    }
    is(join(' | ', @pages), 'free bobs | done later | long',
       'pages of 2: the same list, each once, newest first');
    ok($last->{status} == 200 && exists $last->{json}{next_cursor}
       && !defined $last->{json}{next_cursor},
       'the last page says no more (next_cursor null)');

    my $r = $ann->get('conversations?filter=all&status=all&limit=5');
    ok($r->{status} == 200 && @{ $r->{json}{items} } == 5
       && !defined $r->{json}{next_cursor},
       'a page that holds them all: no cursor after it');

    for my $bad ('cursor=abc', 'cursor=-1', 'limit=0', 'limit=201',
                 'limit=x')
    {
        $r = $ann->get("conversations?filter=all&status=all&$bad");
        ok($r->{status} == 400 && ($r->{json}{error}{code} // '') eq 'invalid_request',
           "$bad: 400 invalid_request") or diag $r->{content};
    }
}

{
    my $r = $api->call(GET => "conversations/$conv{long}/messages?after=30&limit=5");
    my @m = @{ $r->{json}{items} || [] };
    is(join(',', map { $_->{seq} } @m), '31,32,33,34,35',
       'REST: the long conversation\'s messages after 30, 5 of them');
    is($r->{json}{next_cursor}, '35', 'and more to come, after 35');
    is($m[0]{text}, 'long message 30', 'the right ones (seq 31 is message 30)');
}

{
    my $v = Chatvisor::Chat::Visitor->new($t, cookie => $fx->{long_cookie});
    my $r = $v->events(after => 38, wait => 0);
    is($r->{status}, 200, "the long conversation's visitor polls with the old cookie");
    is(join(',', map { $_->{seq} } @{ $r->{json}{events} || [] }), '39,40,41,42',
       'from their cursor to the end: 39 to 42');
    is($r->{json}{events}[-1]{type}, 'agent_joined', 'the last one is ann joining');
    is($r->{json}{conversation_id}, $conv{long}, 'of their conversation');

    $r = $ann->get("conversations/$conv{long}/events?after=0");
    is(scalar @{ $r->{json}{events} || [] }, 42, 'the console loads its 42 events')
        or diag $r->{content};
}

# ---- counts, routing and the edge ----

# a page: 1 when the widget is there, 0 when not
sub shown {
    my $r = $t->get('/available/');
    my @tags = find_tags($r->{content} // '');
    return ($r->{status} == 200 && ($r->{headers}{'x-visible'} // '') eq (@tags ? 1 : 0))
           ? scalar @tags : "status $r->{status}";
}

# the page until it says $want (the mirror follows within a second)
sub page_says {
    my ($want, $name) = @_;
    my $got;
    my $until = time + 5;
    while (1) {
        $got = shown();
        last if $got eq $want || time > $until;
        sleep 0.1;
    }
    is($got, $want, $name);
}

sub presence {
    my ($id, $status) = @_;
    my $r = $api->call(PUT => "agents/$id/status", { status => $status });
    is($r->{status}, 200, "$id is $status");
}

# a new visitor's first message: the conversation and its agent
sub new_visitor {
    my $v = Chatvisor::Chat::Visitor->new($t);
    my $r = $v->post('hello from a new visitor');
    is($r->{status}, 201, 'a new visitor writes') or diag $r->{content};
    my $id = $r->{json}{conversation_id};
    my $c = $api->call(GET => "conversations/$id", undef, spec_check => 0);
    return ($v, $id, $c->{json}{assigned_agent_id});
}

my $r;

presence('ann', 'available');
presence('bob', 'offline');
page_says(0, 'ann is available, but full (2 of 2 after the migration): no widget');

my ($v1, $c1, $who) = new_visitor();
is($who, undef, 'routing gives full ann nothing: it waits unassigned');

$r = $api->call(POST => "conversations/$conv{later}/close", {});
is($r->{status}, 200, 'one of ann\'s is closed');
page_says(1, 'ann has room again: the widget shows');

($v1, $c1, $who) = new_visitor();
is($who, 'ann', 'the next new visitor goes to ann');
page_says(0, 'ann is full again: no widget');
is(console($ann, 'mine', 'open'), 'new long', "ann's open ones: the new one first");

$r = $api->call(POST => "conversations/$c1/assign", { agent_id => 'bob' });
is($r->{status}, 200, 'the new one is reassigned to bob');
page_says(1, 'ann has room');

$r = $api->call(POST => "conversations/$conv{free}/assign", { agent_id => 'ann' });
is($r->{status}, 200, 'ann takes the free one');
page_says(0, 'ann is full');

$r = $api->call(POST => "conversations/$conv{free}/assign", { agent_id => undef });
is($r->{status}, 200, 'the free one is unassigned again');
page_says(1, 'ann has room');

# a closed conversation's visitor writes again: a new conversation, routed
{
    my ($v, $id, $agent) = new_visitor();
    is($agent, 'ann', 'a new visitor goes to ann (2 of 2)');
    page_says(0, 'ann is full');
    $r = $api->call(POST => "conversations/$id/close", {});
    page_says(1, 'closed: ann has room');
    $r = $v->post('me again');
    isnt($r->{json}{conversation_id}, $id, 'the visitor writes again: a new conversation');
    my $c = $api->call(GET => "conversations/$r->{json}{conversation_id}", undef,
                       spec_check => 0);
    is($c->{json}{assigned_agent_id}, 'ann', 'routed to ann');
    page_says(0, 'ann is full');
}

# disabling releases ann's conversations; enabled again she has room
$r = $api->call(PUT => 'agents/ann', { enabled => JSON::PP::false });
is($r->{status}, 200, 'ann is disabled');
is(console($bob, 'mine', 'open'), 'new bobs', "bob's are his");
is(console($bob, 'unassigned', 'open'), 'new new free long',
   "ann's open ones are unassigned now");
$r = $api->call(PUT => 'agents/ann', { enabled => JSON::PP::true });
is($r->{status}, 200, 'ann is enabled again');
presence('ann', 'available');
page_says(1, 'with nothing open she has room');

$r = $api->call(POST => "conversations/$conv{long}/assign", { agent_id => 'ann' });
$r = $api->call(POST => "conversations/$conv{free}/assign", { agent_id => 'ann' });
page_says(0, 'two assigned by hand: full');

# disabling ended her sessions
$ann = Chatvisor::Chat::Agent->login($t, $store, 'ann', no_put => 1);
is(console($ann, 'mine', 'open'), 'free long', "her list: the two");

# ---- a restart keeps the version and the counts ----

$t->stop;
$t->run;
is(schema_version(), 3, 'still version 3 after a restart');
$api->login;
presence('ann', 'available');
page_says(0, 'ann is still full after the restart');
is(console($ann, 'mine', 'open'), 'free long', "and her list is as it was");

done_testing;
