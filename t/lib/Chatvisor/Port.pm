package Chatvisor::Port;

# Free loopback ports, and waiting for a port to accept connections.
#
#   my $port = Chatvisor::Port::free_port();
#   Chatvisor::Port::wait_port($port, 10) or die;

use strict;
use warnings;

use IO::Socket::INET;
use Time::HiRes ();

use Exporter 'import';
our @EXPORT_OK = qw(free_port wait_port port_open);

my %GIVEN;    # never hand out the same port twice in one process

# A port the kernel says is free on 127.0.0.1 (bind to port 0, read it back,
# close). Another process could take it before we use it; that window is
# short and the tests only bind loopback.
sub free_port {
    for (1 .. 50) {
        my $s = IO::Socket::INET->new(
            LocalAddr => '127.0.0.1',
            LocalPort => 0,
            Proto     => 'tcp',
            Listen    => 1,
        ) or die "cannot bind 127.0.0.1:0: $@\n";
        my $port = $s->sockport;
        close $s;
        next if $GIVEN{$port}++;
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
