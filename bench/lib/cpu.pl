#!/usr/bin/perl
# bench/lib/cpu.pl — CPU counters for the bench scripts, in one line:
#   "BUSY KTHREADS" clock ticks (CLK_TCK) so far: BUSY is user + nice +
#   system time of all CPUs (/proc/stat; irq, softirq, iowait and steal left
#   out), KTHREADS the utime + stime of kernel threads (PF_KTHREAD: jbd2,
#   kworkers, ksoftirqd ...). BUSY - KTHREADS - the bench's own processes is
#   what other programs on the machine used; the kernel threads are reported
#   apart, since they include work the bench causes (fsync, loopback TCP
#   deferred to ksoftirqd).
use strict;
use warnings;

open my $s, '<', '/proc/stat' or die "/proc/stat: $!\n";
my @c = split ' ', scalar <$s>;
my $busy = $c[1] + $c[2] + $c[3];
my $k = 0;
for my $f (glob '/proc/[0-9]*/stat') {
    open my $h, '<', $f or next;
    my $l = <$h> // next;
    $l =~ s/^.*\) //s;
    my @f = split ' ', $l;
    $k += $f[11] + $f[12] if $f[6] & 0x00200000;
}
print "$busy $k\n";
