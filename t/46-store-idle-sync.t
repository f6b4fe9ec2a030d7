#!/usr/bin/perl

# An idle store does not touch the disk: the background purge's step each
# second (a write transaction, usually writing nothing) answers no one, so
# it waits for no fdatasync of its own (docs/decisions.md, "The purge
# waits for no sync"). nginx, preloaded with t/lib/powercut.c, writes the
# time of each completed fdatasync of the store's data file to
# durable.at: it moves with a chat write and stays put while idle.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(sleep);

use Chatvisor::Test;
use Chatvisor::Chat;
use Chatvisor::Powercut ();

plan skip_all => 'needs cc for t/lib/powercut.c'
    unless Chatvisor::Powercut::have_cc();

my $IDLE = 3.5;    # seconds: three purge steps at least

my $t = Chatvisor::Test->new;
my $disk = Chatvisor::Powercut::setup($t, $t->testdir . '/store/data.mdb');

$t->write_config(<<'EOF2');
worker_processes 2;
http {
    chatvisor_store %%TESTDIR%%/store size=64m sync=on;
    server {
        listen 127.0.0.1:%%PORT%%;
        location /chatvisor/ { chatvisor on; }
    }
}
EOF2

$t->run;

sub last_sync { Chatvisor::Powercut::last_sync($disk) }

my $v = Chatvisor::Chat::Visitor->new($t);
is($v->post('before the quiet')->{status}, 201, 'a message is answered');
my $first = last_sync();
ok($first > 0, 'its answer came after an fdatasync of the store');

# the first purge steps of a fresh store, and their syncs if any, pass
sleep 1.5;
my $before = last_sync();
sleep $IDLE;
is(last_sync(), $before, "no fdatasync of the store in ${IDLE}s idle");

is($v->post('after the quiet')->{status}, 201, 'another message is answered');
ok(last_sync() > $before, 'and synced first');

my @texts = map { $_->{message} ? $_->{message}{text} : () } @{ $v->history };
is_deeply([ grep { /the quiet/ } @texts ],
          [ 'before the quiet', 'after the quiet' ], 'both read back');

$t->stop;
done_testing;
