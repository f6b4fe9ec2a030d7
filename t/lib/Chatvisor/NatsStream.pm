package Chatvisor::NatsStream;

# Reads a JetStream stream's messages straight from a nats-server, with
# JetStream's own API over the NATS protocol (no client library: a socket,
# CONNECT, and $JS.API.STREAM.MSG.GET requests), for tests that must see
# what the stream holds rather than what a node applied of it.
#
#   my $s = Chatvisor::NatsStream->new(port => $cluster->client_port(0));
#   (user => U, pass => P when the servers want them)
#   my $info = $s->info('chatvisor');       # {state => {first_seq, ...}}
#   my $m = $s->get('chatvisor', 7);        # {seq, subject, data} or undef
#   my @all = $s->messages('chatvisor');    # every message there is
#   $s->publish('chatvisor.presence', $bytes); # a core NATS message, as a
#                                              # node would send it
#
# Dies when the server does not answer in time.

use strict;
use warnings;

use IO::Select ();
use IO::Socket::INET ();
use JSON::PP ();
use MIME::Base64 ();
use Time::HiRes ();

my $JSON = JSON::PP->new->utf8->canonical;
my $WAIT = 5;     # seconds for an answer

sub new {
    my ($class, %o) = @_;
    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                     PeerPort => $o{port}, Proto => 'tcp',
                                     Timeout => $WAIT)
        or die "cannot connect to nats-server on port $o{port}: $!\n";
    binmode $sock;
    my $self = bless { sock => $sock, buf => '', n => 0 }, $class;
    my $info = $self->_line;
    die "not a nats-server: $info\n" unless $info =~ /^INFO /;
    my %auth = defined $o{user} ? (user => $o{user}, pass => $o{pass}) : ();
    $self->_send('CONNECT ' . $JSON->encode({ verbose => JSON::PP::false,
        pedantic => JSON::PP::false, headers => JSON::PP::true,
        no_responders => JSON::PP::true, lang => 'perl', version => '0',
        protocol => 1, %auth }) . "\r\nSUB _INBOX.cvtest.* 1\r\nPING\r\n");
    while (1) {
        my $l = $self->_line;
        last if $l eq 'PONG';
        die "nats-server: $l\n" if $l =~ /^-ERR/;
    }
    return $self;
}

sub _send {
    my ($self, $data) = @_;
    my $off = 0;
    while ($off < length $data) {
        my $n = syswrite($self->{sock}, $data, length($data) - $off, $off);
        die "nats-server: write: $!\n" unless defined $n;
        $off += $n;
    }
}

sub _fill {
    my ($self, $deadline) = @_;
    my $sel = IO::Select->new($self->{sock});
    my $left = $deadline - Time::HiRes::time();
    die "nats-server: no answer in time\n"
        if $left <= 0 || !$sel->can_read($left);
    my $n = sysread($self->{sock}, my $chunk, 65536);
    die "nats-server closed the connection\n" unless $n;
    $self->{buf} .= $chunk;
}

sub _line {
    my ($self) = @_;
    my $deadline = Time::HiRes::time() + $WAIT;
    while (1) {
        my $i = index($self->{buf}, "\r\n");
        if ($i >= 0) {
            my $l = substr($self->{buf}, 0, $i);
            substr($self->{buf}, 0, $i + 2) = '';
            if ($l eq 'PING') {
                $self->_send("PONG\r\n");
                next;
            }
            return $l;
        }
        $self->_fill($deadline);
    }
}

sub _bytes {
    my ($self, $n) = @_;
    my $deadline = Time::HiRes::time() + $WAIT;
    $self->_fill($deadline) while length($self->{buf}) < $n + 2;
    my $b = substr($self->{buf}, 0, $n);
    substr($self->{buf}, 0, $n + 2) = '';
    return $b;
}

# a request on subject with a JSON body: the decoded answer
sub request {
    my ($self, $subject, $body) = @_;
    my $inbox = '_INBOX.cvtest.' . ++$self->{n};
    my $data = $JSON->encode($body // {});
    $self->_send("PUB $subject $inbox " . length($data) . "\r\n$data\r\n");
    while (1) {
        my $l = $self->_line;
        next if $l eq 'PONG' || $l eq '+OK';
        die "nats-server: $l\n" if $l =~ /^-ERR/;
        if ($l =~ /^MSG (\S+) \S+ (?:\S+ )?(\d+)$/) {
            my $payload = $self->_bytes($2);
            next unless $1 eq $inbox;
            return $JSON->decode($payload);
        }
        if ($l =~ /^HMSG (\S+) \S+ (?:\S+ )?(\d+) (\d+)$/) {
            my $all = $self->_bytes($3);
            next unless $1 eq $inbox;
            my $payload = substr($all, $2);
            die "nats-server: no responders for $subject\n"
                if $payload eq '' && $all =~ m{^NATS/1\.0 503};
            return $JSON->decode($payload);
        }
    }
}

# a core NATS message (no reply subject); returns once the server has it
# (a PING after it is answered)
sub publish {
    my ($self, $subject, $data) = @_;
    $self->_send("PUB $subject " . length($data) . "\r\n$data\r\nPING\r\n");
    while (1) {
        my $l = $self->_line;
        last if $l eq 'PONG';
        die "nats-server: $l\n" if $l =~ /^-ERR/;
    }
    return $self;
}

sub info {
    my ($self, $stream) = @_;
    return $self->request("\$JS.API.STREAM.INFO.$stream");
}

# the message of seq, undef when there is none (removed, or beyond)
sub get {
    my ($self, $stream, $seq) = @_;
    my $r = $self->request("\$JS.API.STREAM.MSG.GET.$stream", { seq => $seq + 0 });
    return undef if $r->{error} && ($r->{error}{code} // 0) == 404;
    die "MSG.GET $stream $seq: " . $JSON->encode($r) . "\n" if $r->{error};
    my $m = $r->{message};
    return { seq => $m->{seq}, subject => $m->{subject},
             data => defined $m->{data} ? MIME::Base64::decode_base64($m->{data}) : '' };
}

# every message the stream holds, in order
sub messages {
    my ($self, $stream) = @_;
    my $info = $self->info($stream);
    die "STREAM.INFO $stream: " . $JSON->encode($info) . "\n" if $info->{error};
    my ($first, $last) = @{ $info->{state} }{qw(first_seq last_seq)};
    my @all;
    for my $seq ($first .. $last) {
        my $m = $self->get($stream, $seq);
        push @all, $m if $m;
    }
    return @all;
}

sub DESTROY {
    my ($self) = @_;
    close $self->{sock} if $self->{sock};
}

1;
