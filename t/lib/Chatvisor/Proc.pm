package Chatvisor::Proc;

# Child processes of a test die with it.
#
#   Chatvisor::Proc::die_with_parent();   # in a child, before exec or loop
#
# prctl(PR_SET_PDEATHSIG, SIGTERM): the child gets SIGTERM when the process
# that forked it dies, even by SIGKILL; the setting survives exec (nginx is
# not setuid). Only where the syscall number is known; a no-op elsewhere.

use strict;
use warnings;

use Config ();

my %PRCTL = ('x86_64' => 157, 'aarch64' => 167);

sub die_with_parent {
    my ($arch) = $Config::Config{archname} =~ /^([^-]+)/;
    my $nr = $PRCTL{ $arch // '' } or return 0;
    return syscall($nr, 1, 15) == 0;    # PR_SET_PDEATHSIG = 1, SIGTERM = 15
}

1;
