package Chatvisor::DNS;

# A tiny DNS server on loopback UDP for nginx's resolver in the tests: it
# answers A and AAAA questions from a fixed table, NXDOMAIN for names it
# does not know, and an empty answer for a type a known name lacks.
#
#   my $dns = Chatvisor::DNS->new(names => {
#       'hooks.test' => ['127.0.0.1'],
#       'two.test'   => ['127.0.0.2', '192.168.1.1'],
#       'v6.test'    => ['::1'],
#   })->start;
#   # nginx.conf: resolver 127.0.0.1:%%DNS%%;   (DNS => $dns->port)
#   $dns->stop;     # also when the test ends
#
# One process, forked; it dies with the test (Chatvisor::Proc).

use strict;
use warnings;

use IO::Socket::INET ();
use POSIX ();
use Socket qw(inet_pton AF_INET AF_INET6);
use Time::HiRes ();

use Chatvisor::Proc ();

my @LIVE;

sub new {
    my ($class, %o) = @_;
    return bless { names => { map { lc($_) => $o{names}{$_} } keys %{ $o{names} || {} } } },
        $class;
}

sub port { $_[0]{port} }

sub start {
    my ($self) = @_;
    my $sock = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                     Proto => 'udp')
        or die "dns: cannot bind: $@\n";
    $self->{port} = $sock->sockport;
    my $pid = fork // die "fork: $!\n";
    if ($pid == 0) {
        $SIG{$_} = 'DEFAULT' for qw(INT TERM HUP PIPE);
        Chatvisor::Proc::die_with_parent();
        $self->_serve($sock);
        POSIX::_exit(0);
    }
    close $sock;
    $self->{pid} = $pid;
    $self->{owner} = $$;
    push @LIVE, $self;
    return $self;
}

sub _serve {
    my ($self, $sock) = @_;
    while (1) {
        my $peer = $sock->recv(my $q, 512) // next;
        my $answer = eval { $self->answer($q) } // next;
        $sock->send($answer, 0, $peer);
    }
}

# the answer to one query (bytes), or undef for what is not one
sub answer {
    my ($self, $q) = @_;
    return undef if length $q < 12;
    my ($id, $flags, $qd) = unpack 'n n n', $q;
    return undef if $qd != 1 || ($flags & 0x8000);
    my $pos = 12;
    my @labels;
    while (1) {
        my $len = ord substr($q, $pos, 1);
        $pos++;
        last if $len == 0;
        return undef if $len > 63 || $pos + $len > length $q;
        push @labels, substr($q, $pos, $len);
        $pos += $len;
    }
    my ($type, $class) = unpack 'n n', substr($q, $pos, 4);
    my $question = substr($q, 12, $pos + 4 - 12);
    my $name = lc join '.', @labels;
    my $addrs = $self->{names}{$name};

    my @rr;
    if ($addrs) {
        for my $a (@$addrs) {
            my $v6 = $a =~ /:/;
            next unless ($type == 1 && !$v6) || ($type == 28 && $v6);
            my $rdata = inet_pton($v6 ? AF_INET6 : AF_INET, $a);
            # the name: a pointer to the question's (offset 12)
            push @rr, pack('n n n N n', 0xc00c, $type, 1, 60, length $rdata) . $rdata;
        }
    }
    my $rcode = $addrs ? 0 : 3;    # NXDOMAIN
    my $rflags = 0x8000 | 0x0400 | ($flags & 0x0100) | 0x0080 | $rcode;
    return pack('n n n n n n', $id, $rflags, 1, scalar @rr, 0, 0) . $question . join '', @rr;
}

sub stop {
    my ($self) = @_;
    my $pid = delete $self->{pid} or return;
    return unless $self->{owner} == $$;
    kill 'TERM', $pid;
    waitpid($pid, 0);
    @LIVE = grep { defined $_ && $_ != $self } @LIVE;
}

sub DESTROY { local ($?, $@); $_[0]->stop }

END {
    local $?;
    my @live = grep { defined } @LIVE;
    $_->stop for @live;
}

1;
