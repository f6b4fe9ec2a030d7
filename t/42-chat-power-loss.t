#!/usr/bin/perl

# sync=on keeps every acknowledged message through kill -9 of every nginx
# process and through a power cut. Writers post visitor messages as fast as
# they are answered (so batches are committed, syncing and answered at the
# same time); then, with the writers stopped, right after one more 201, the
# master and the workers are killed with -9 together. nginx, preloaded with t/lib/powercut.c, keeps
# meanwhile what the disk would hold if the power went instead: the store's
# data file as it was when the last fdatasync of it that completed began.
# Then, on the store as the kill left it (the page cache's), and again on
# the power cut's image of it: nginx starts, and every message that was
# answered 201 is in its conversation, once.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use File::Copy ();
use IO::Handle ();
use POSIX ();
use Test::More;
use Time::HiRes qw(time sleep);

use Chatvisor::Test;
use Chatvisor::Chat;
use Chatvisor::Powercut ();
use Chatvisor::Proc ();

my $WRITERS = 4;
my $RUN_FOR = 2;    # seconds of writing before the kill

plan skip_all => 'needs cc for t/lib/powercut.c'
    unless Chatvisor::Powercut::have_cc();

my $t = Chatvisor::Test->new;
my $dir   = $t->testdir;
my $store = "$dir/store";

# nginx, preloaded, keeps the power cut's image in $disk
my $disk = Chatvisor::Powercut::setup($t, "$store/data.mdb");

$t->write_config(<<'EOF');
worker_processes 2;
http {
    chatvisor_store %%TESTDIR%%/store size=256m sync=on;
    # writers post as fast as they are answered, by design
    chatvisor_limit_messages off;
    server {
        listen 127.0.0.1:%%PORT%%;
        location /chatvisor/ { chatvisor on; }
    }
}
EOF

$t->run;

my $JSON = JSON::PP->new->canonical;

# ---------------------------------------------------------------------------
# writers: sequential posts, each 201 recorded the moment it arrives; the
# first failure (the kill) ends them

my @kids;
my @cookies;

for my $k (1 .. $WRITERS) {
    my $v = Chatvisor::Chat::Visitor->new($t);
    is($v->post("writer $k message 0")->{status}, 201, "writer $k: first message");
    push @cookies, $v->cookie;
}

for my $k (1 .. $WRITERS) {
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        Chatvisor::Proc::die_with_parent();
        $SIG{$_} = 'DEFAULT' for qw(INT TERM HUP PIPE);
        my $v = Chatvisor::Chat::Visitor->new($t, cookie => $cookies[ $k - 1 ]);
        open my $acks, '>>', "$dir/acks-$k" or die $!;
        $acks->autoflush(1);
        for my $n (1 .. 1_000_000) {
            last if -e "$dir/stop-writers";
            my $text = "writer $k message $n";
            my $r = eval { $v->request(POST => 'v1/visitor/messages',
                                       json => { text => $text }, timeout => 5) };
            last unless $r && $r->{status} == 201;
            print $acks "$text\n";
        }
        POSIX::_exit(0);
    }
    push @kids, $pid;
}

sleep $RUN_FOR;

# the writers stop; then one more 201 on a quiet store, and every nginx
# process at once, with nothing in between: no later commit can have
# carried that message's commit to disk, only its own sync
open my $stop, '>', "$dir/stop-writers" or die $!;
close $stop;
waitpid($_, 0) for @kids;

my $last = Chatvisor::Chat::Visitor->new($t);
my $r = $last->post('the last message before the kill');
is($r->{status}, 201, 'the last message is answered 201');
kill 'KILL', -$t->pid;
waitpid($t->pid, 0);
delete $t->{pid};

my %acked;
for my $k (1 .. $WRITERS) {
    open my $fh, '<', "$dir/acks-$k" or die $!;
    chomp(my @l = <$fh>);
    $acked{$k} = \@l;
}
my $n_acked = 0;
$n_acked += @$_ for values %acked;
cmp_ok($n_acked, '>=', 50, "the writers had $n_acked messages acknowledged");

ok(-s "$disk/durable.img", 'the power cut has an image of the store');
File::Copy::copy("$disk/durable.img", "$dir/powercut.mdb") or die "copy: $!";

# ---------------------------------------------------------------------------
# every acknowledged message is there, exactly once

sub check_store {
    my ($what) = @_;
    my %texts;
    for my $k (1 .. $WRITERS) {
        my $v = Chatvisor::Chat::Visitor->new($t, cookie => $cookies[ $k - 1 ]);
        my $h = eval { scalar $v->history }; my @ev = $h ? @$h : ();
        fail("$what: writer ${k}'s history: $@") if $@;
        my %count;
        $count{ $_->{message}{text} }++ for grep { $_->{type} eq q(message) } @ev;
        my @missing = grep { !$count{$_} } @{ $acked{$k} };
        my @twice   = grep { $count{$_} > 1 } keys %count;
        is(scalar(@missing), 0, "$what: writer $k: all " . scalar(@{ $acked{$k} })
           . ' acknowledged messages are there')
            or diag("missing: @missing[0 .. ($#missing < 4 ? $#missing : 4)]");
        is(scalar(@twice), 0, "$what: writer $k: none twice");
        $texts{$k} = scalar keys %count;
    }
    my $h = eval { scalar $last->history }; my @ev = $h ? @$h : ();
    ok((grep { ($_->{type} eq q(message) ? $_->{message}{text} : q()) eq 'the last message before the kill' } @ev),
       "$what: the message answered right before the kill is there");
    return \%texts;
}

$t->run;
check_store('after kill -9 of every process');
is($t->stop, 0, 'nginx stops');

# the power cut: the disk holds the image, the lock file is gone with RAM
File::Copy::copy("$dir/powercut.mdb", "$store/data.mdb") or die "copy: $!";
unlink "$store/lock.mdb";
delete $ENV{POWERCUT_FILE};
$t->run;
check_store('after a power cut');

done_testing;
