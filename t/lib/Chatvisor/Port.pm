package Chatvisor::Port;

# Free loopback ports, and waiting for a port to accept connections.
#
#   my $port = Chatvisor::Port::free_port();
#   Chatvisor::Port::wait_port($port, 10) or die;

use strict;
use warnings;

use Fcntl qw(:flock O_RDONLY O_CREAT);
use File::Spec ();
use IO::Socket::INET;
use Time::HiRes ();

use Exporter 'import';
our @EXPORT_OK = qw(free_port wait_port port_open);

# Test files run in parallel (scripts/run-tests), and a port free_port
# gives is bound later, by nginx or a helper. So the ports come from a
# range below the kernel's ephemeral ports (which no connect() or bind to
# port 0 can take meanwhile), in blocks of BLOCK_SIZE: a process owns a
# block while it holds an flock on the block's file in LOCK_DIR (the
# kernel drops it when the process ends, however it ends), so two test
# files never get the same port. A port something else listens on is
# skipped.
use constant {
    FIRST_PORT => 20000,
    BLOCKS     => 100,
    BLOCK_SIZE => 100,
};
my $LOCK_DIR = File::Spec->catdir(File::Spec->tmpdir, 'chatvisor-test-ports');

my %GIVEN;      # never hand out the same port twice in one process
my $BLOCK;      # { pid, fh, next, end }: the block this process holds

sub _claim_block {
    unless (-d $LOCK_DIR) {
        mkdir $LOCK_DIR;    # another process may have just made it
        chmod 01777, $LOCK_DIR;
    }
    my $start = int(rand BLOCKS);
    for my $i (0 .. BLOCKS - 1) {
        my $b = ($start + $i) % BLOCKS;
        my $file = "$LOCK_DIR/block-$b";
        sysopen(my $fh, $file, O_RDONLY | O_CREAT, 0666) or next;
        next unless flock($fh, LOCK_EX | LOCK_NB);
        my $first = FIRST_PORT + $b * BLOCK_SIZE;
        # the old block stays held too: its ports may still be in use
        return { pid => $$, fh => $fh, next => $first,
                 end => $first + BLOCK_SIZE, old => $BLOCK };
    }
    die "no free port block in $LOCK_DIR (" . BLOCKS . " held)\n";
}

# A free port on 127.0.0.1 that no other test process is given.
sub free_port {
    for (1 .. 3 * BLOCK_SIZE) {
        # a forked child claims a block of its own: its parent goes on
        # handing out the inherited one
        $BLOCK = _claim_block()
            if !$BLOCK || $BLOCK->{pid} != $$ || $BLOCK->{next} >= $BLOCK->{end};
        my $port = $BLOCK->{next}++;
        next if $GIVEN{$port};
        my $s = IO::Socket::INET->new(
            LocalAddr => '127.0.0.1',
            LocalPort => $port,
            Proto     => 'tcp',
            Listen    => 1,
            ReuseAddr => 1,    # as nginx binds: a TIME_WAIT left is fine
        ) or next;    # taken by something else
        close $s;
        $GIVEN{$port} = 1;
        return $port;
    }
    die "no free port found\n";
}

sub port_open {
    my ($port, $host) = @_;
    my $s = IO::Socket::INET->new(
        PeerAddr => $host // '127.0.0.1',
        PeerPort => $port,
        Proto    => 'tcp',
        Timeout  => 1,
    ) or return 0;
    close $s;
    return 1;
}

# Waits until the port accepts a connection. $alive, when given, is called
# between tries; when it returns false waiting stops early.
sub wait_port {
    my ($port, $timeout, $alive) = @_;
    my $deadline = Time::HiRes::time() + ($timeout // 10);
    while (Time::HiRes::time() < $deadline) {
        return 1 if port_open($port);
        return 0 if $alive && !$alive->();
        Time::HiRes::sleep(0.02);
    }
    return 0;
}

1;
