#!/usr/bin/perl

# A full disk (docs/decisions.md "A full disk"): the store on a 2 MB tmpfs
# (a map of 64 MB: the disk fills first), two workers, sync=on. Visitors
# write messages of 4,000 characters until the disk is full: the writes
# that do not fit answer 507 store_full (never 500), the error log says
# why at crit, at most once a second per worker, and when space comes back
# (a file beside the store is removed) the writes go on by themselves.
# Every acknowledged message is there, after a restart too.
#
# Needs root to mount a tmpfs (CI runs as root); skipped otherwise.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(sleep time);

use Chatvisor::Test;
use Chatvisor::Chat;
use File::Temp ();

my $t = Chatvisor::Test->new;

# the mount point is not in the harness's directory, which it removes
my $disk = File::Temp::tempdir('chatvisor-disk-XXXXXX', TMPDIR => 1,
                               CLEANUP => 0);

my $mounted;
if ($> == 0 && system('mount', '-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', $disk) == 0) {
    $mounted = 1;
} else {
    rmdir $disk;
    plan skip_all => 'cannot mount a tmpfs (this test needs root: '
                     . 'mount -t tmpfs -o size=2m)';
}

# lazily: nginx may still be stopping when this runs
END {
    local $?;
    if ($mounted) {
        system('umount', '-l', $disk);
        rmdir $disk;
    }
}

# room to give back later
open(my $fh, '>', "$disk/filler") or die "$disk/filler: $!";
print $fh 'x' x (384 * 1024);
close $fh or die "filler: $!";

$t->write_config(<<'EOF',
worker_processes 2;
http {
    chatvisor_store %%DISK%%/store size=64m;
    # one visitor writes everything: the abuse limits stay out of the way
    chatvisor_limit_messages off;
    chatvisor_limit_new_visitors off;
    server {
        listen 127.0.0.1:%%PORT%%;
        location /chatvisor/ { chatvisor on; }
    }
}
EOF
    DISK => $disk);
$t->allow_log(qr/the store's disk is full/);
$t->run;

my $text = substr(join(' ', map { "word$_" } 1 .. 600), 0, 4000);

my (%status, @visitors, $ok, $full_since);
$ok = 0;
for my $i (1 .. 2000) {
    push @visitors, Chatvisor::Chat::Visitor->new($t) if $i % 100 == 1;
    my $r = $visitors[-1]->post("$i $text");
    $status{$r->{status}}++;
    if ($r->{status} == 201) {
        $ok++;
    } elsif ($r->{status} == 507) {
        is($r->{json}{error}{code}, 'store_full', '507 store_full, a JSON error')
            if $status{507} == 1;
        $full_since //= time;
        # go on a while: every write fails, the log does not fill
        last if time - $full_since > 2.5;
    } else {
        diag("message $i: $r->{status} $r->{content}");
        last;
    }
}

cmp_ok($ok, '>', 50, "$ok messages fit on the disk");
cmp_ok($status{507} // 0, '>', 5, 'then the writes answer 507');
is(join(',', grep { $_ != 201 && $_ != 507 } sort keys %status), '',
   'and nothing else (no 500)') or diag(explain \%status);

my @crit = $t->error_log =~ /^(\S+ \S+) \[crit\] (\d+)#\d+: .*the store's disk is full/mg;
ok(@crit, 'the error log says the disk is full, at crit');
my %per;
while (my ($when, $pid) = splice @crit, 0, 2) {
    $per{"$pid $when"}++;
}
my @twice = grep { $per{$_} > 1 } keys %per;
is(scalar @twice, 0, 'at most once a second per worker ('
   . scalar(keys %per) . ' lines for ' . ($status{507} // 0) . ' refused writes)')
    or diag(join ', ', @twice);

# reads still work meanwhile
my ($ev) = $visitors[0]->history;
ok(scalar @$ev, 'reads work while the disk is full');

# space comes back: the writes go on without a restart
unlink "$disk/filler" or die "unlink filler: $!";
my $r = $visitors[-1]->post("after $text");
is($r->{status}, 201, 'space again: the next write is stored');
$ok++ if $r->{status} == 201;
my $more = 0;
for my $i (1 .. 20) {
    last unless $visitors[-1]->post("more $i")->{status} == 201;
    $more++;
}
is($more, 20, 'and the ones after it');
$ok += $more;

sub count_all {
    my $n = 0;
    for my $v (@visitors) {
        my ($e) = $v->history;
        $n += grep { $_->{type} eq 'message' } @$e;
    }
    return $n;
}

is(count_all(), $ok, "all $ok acknowledged messages are stored");
$t->stop;
$t->run;
is(count_all(), $ok, '... after a restart too');

done_testing;
