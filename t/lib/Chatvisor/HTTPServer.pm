package Chatvisor::HTTPServer;

# A small HTTP/1.0 and 1.1 server in core Perl, shared by the tests' fake
# upstream (Chatvisor::Upstream) and the demo backend (demo/backend.pl).
#
# One request per connection (the response says "Connection: close"), one
# forked child per connection so a slow response never blocks the next one.
# A handler turns a request into a response description:
#
#   my $srv = Chatvisor::HTTPServer->new(handler => sub {
#       my ($req) = @_;   # method uri path query{} version headers{} body
#       return { status => 200, headers => [ 'Content-Type' => 'text/html' ],
#                body => $bytes };
#   });
#   $srv->listen;          # binds 127.0.0.1:port (port 0: any free port)
#   $srv->port;            # the bound port
#   $srv->run;             # accept loop, never returns
#
# Response keys:
#   status, reason     status code (default 200) and reason phrase
#   headers            array ref of name => value pairs; order and duplicates
#                      are kept. Content-Length is added unless present or
#                      no_length is set (then the body ends when we close).
#   body               exact bytes to send
#   split              array ref of byte offsets: the body is written in
#                      pieces cut at these offsets
#   sizes              array ref of piece sizes; the last size repeats
#                      until the body is exhausted (sizes => [1]: bytewise)
#   delay              seconds to pause between pieces, default 0.005, so
#                      the reader sees separate reads (the first piece
#                      follows the header block after at most 0.005)
#   chunked            send Transfer-Encoding: chunked, one chunk per piece
#                      (only to HTTP/1.1 requests; ignored for HTTP/1.0)
#   no_length          no Content-Length header (close-delimited body)
#
# Pieces are written with TCP_NODELAY and a pause in between; the status
# line and header block always go out as their own write before the body.

use strict;
use warnings;

use IO::Socket::INET;
use IO::Select;
use Socket qw(IPPROTO_TCP TCP_NODELAY);
use POSIX ();
use Time::HiRes ();

my %REASON = (
    200 => 'OK', 201 => 'Created', 204 => 'No Content',
    206 => 'Partial Content', 301 => 'Moved Permanently', 302 => 'Found',
    304 => 'Not Modified', 400 => 'Bad Request', 403 => 'Forbidden',
    404 => 'Not Found', 405 => 'Method Not Allowed',
    500 => 'Internal Server Error', 502 => 'Bad Gateway',
    503 => 'Service Unavailable',
);

sub new {
    my ($class, %args) = @_;
    die "handler required\n" unless ref $args{handler} eq 'CODE';
    return bless {
        host    => '127.0.0.1',
        port    => 0,
        timeout => 10,
        %args,
    }, $class;
}

sub listen {
    my ($self) = @_;
    my $sock = IO::Socket::INET->new(
        LocalAddr => $self->{host},
        LocalPort => $self->{port},
        Proto     => 'tcp',
        Listen    => 128,
        ReuseAddr => 1,
    ) or die "cannot listen on $self->{host}:$self->{port}: $@\n";
    $self->{sock} = $sock;
    $self->{port} = $sock->sockport;
    return $self;
}

sub port { $_[0]{port} }
sub socket { $_[0]{sock} }

sub run {
    my ($self) = @_;
    $self->listen unless $self->{sock};
    local $SIG{CHLD} = 'IGNORE';    # children are reaped by the kernel
    local $SIG{PIPE} = 'IGNORE';
    while (1) {
        my $c = $self->{sock}->accept or next;
        my $pid = fork;
        if (!defined $pid) {
            close $c;
            next;
        }
        if ($pid == 0) {
            close $self->{sock};
            eval { $self->serve_connection($c); 1 }
                or print STDERR "chatvisor http server: $@";
            close $c;
            POSIX::_exit(0);
        }
        close $c;
    }
}

sub serve_connection {
    my ($self, $c) = @_;
    binmode $c;
    setsockopt($c, IPPROTO_TCP, TCP_NODELAY, 1);
    my $req = $self->read_request($c) or return;
    my $resp = eval { $self->{handler}->($req) };
    if (!$resp) {
        my $err = $@ || "handler returned nothing\n";
        print STDERR "chatvisor http server: $err";
        $resp = { status => 500, headers => [ 'Content-Type' => 'text/plain' ],
                  body => "internal error\n" };
    }
    $self->write_response($c, $req, $resp);
}

# Reads one request: start line, header block, and a body of Content-Length
# bytes. Returns undef on a connection closed early or timed out.
sub read_request {
    my ($self, $c) = @_;
    my $buf = '';
    my $sel = IO::Select->new($c);
    my $deadline = time + $self->{timeout};
    while ($buf !~ /\r?\n\r?\n/) {
        return undef unless $sel->can_read($deadline - time);
        my $n = sysread($c, $buf, 65536, length $buf);
        return undef unless $n;
    }
    my ($head, $rest) = split /\r?\n\r?\n/, $buf, 2;
    my ($start, @lines) = split /\r?\n/, $head;
    my ($method, $uri, $version) = split / /, $start;
    return undef unless $method && $uri;
    $version = 'HTTP/1.0' unless defined $version;

    my (%headers, @header_list);
    for my $line (@lines) {
        my ($k, $v) = $line =~ /^([^:]+):\s*(.*?)\s*$/ or next;
        push @header_list, [ $k, $v ];
        $k = lc $k;
        $headers{$k} = exists $headers{$k} ? "$headers{$k}, $v" : $v;
    }

    my $body = $rest;
    if (my $len = $headers{'content-length'}) {
        while (length $body < $len) {
            last unless $sel->can_read($deadline - time);
            my $n = sysread($c, $body, 65536, length $body);
            last unless $n;
        }
    }

    my ($path, $qs) = split /\?/, $uri, 2;
    my %query;
    for my $pair (split /[&;]/, $qs // '') {
        my ($k, $v) = split /=/, $pair, 2;
        $query{url_decode($k)} = url_decode($v // '');
    }

    return {
        method       => $method,
        uri          => $uri,
        path         => url_decode($path),
        query_string => $qs,
        query        => \%query,
        version      => $version,
        headers      => \%headers,
        header_list  => \@header_list,
        body         => $body,
    };
}

sub url_decode {
    my ($s) = @_;
    $s =~ tr/+/ /;
    $s =~ s/%([0-9A-Fa-f]{2})/chr hex $1/ge;
    return $s;
}

# The body cut into the pieces the response asks for.
sub pieces {
    my ($resp) = @_;
    my $body = $resp->{body} // '';
    my $len = length $body;
    my @cuts;
    if ($resp->{split} && @{ $resp->{split} }) {
        @cuts = grep { $_ > 0 && $_ < $len } sort { $a <=> $b } @{ $resp->{split} };
    } elsif ($resp->{sizes} && @{ $resp->{sizes} }) {
        my @sizes = grep { $_ > 0 } @{ $resp->{sizes} };
        my $pos = 0;
        my $i = 0;
        while (@sizes) {
            $pos += $sizes[ $i < @sizes ? $i : -1 ];
            $i++;
            last if $pos >= $len;
            push @cuts, $pos;
        }
    }
    my @pieces;
    my $from = 0;
    for my $cut (@cuts, $len) {
        next if $cut <= $from && $cut != $len;
        push @pieces, substr($body, $from, $cut - $from);
        $from = $cut;
    }
    @pieces = grep { length } @pieces;
    return @pieces;
}

sub write_response {
    my ($self, $c, $req, $resp) = @_;
    my $status = $resp->{status} // 200;
    my $reason = $resp->{reason} // $REASON{$status} // 'Status';
    my @h = @{ $resp->{headers} || [] };
    my $body = $resp->{body} // '';
    my $http11 = $req->{version} eq 'HTTP/1.1';
    my $chunked = $resp->{chunked} && $http11;

    my %has;
    for (my $i = 0; $i < @h; $i += 2) { $has{ lc $h[$i] } = 1 }
    if ($chunked) {
        push @h, 'Transfer-Encoding' => 'chunked';
    } elsif (!$resp->{no_length} && !$has{'content-length'}) {
        push @h, 'Content-Length' => length $body;
    }
    push @h, 'Connection' => 'close' unless $has{connection};

    my $head = "HTTP/1.1 $status $reason\r\n";
    for (my $i = 0; $i < @h; $i += 2) { $head .= "$h[$i]: $h[$i + 1]\r\n" }
    $head .= "\r\n";
    write_all($c, $head) or return;

    my $no_body = $req->{method} eq 'HEAD' || $status == 204 || $status == 304
        || $status < 200;
    return if $no_body;

    my $delay = $resp->{delay} // 0.005;
    my @pieces = pieces($resp);
    for my $i (0 .. $#pieces) {
        # the header block is its own write: a short pause before the
        # first piece, `delay` before each later one
        my $pause = $i ? $delay : ($delay < 0.005 ? $delay : 0.005);
        Time::HiRes::sleep($pause) if $pause > 0;
        my $data = $pieces[$i];
        $data = sprintf("%x\r\n%s\r\n", length $data, $data) if $chunked;
        write_all($c, $data) or return;
    }
    write_all($c, "0\r\n\r\n") if $chunked;
    shutdown($c, 1);
    # let the peer read everything before the close
    my $sel = IO::Select->new($c);
    my $junk;
    while ($sel->can_read(2)) { last unless sysread($c, $junk, 65536) }
}

sub write_all {
    my ($c, $data) = @_;
    my $off = 0;
    while ($off < length $data) {
        my $n = syswrite($c, $data, length($data) - $off, $off);
        return 0 unless defined $n;
        $off += $n;
    }
    return 1;
}

1;
