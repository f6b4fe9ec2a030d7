package Chatvisor::HTTP;

# HTTP clients for the tests.
#
# 1. Plain requests through HTTP::Tiny (no redirects followed, nothing
#    decompressed, a fresh connection each time). Return HTTP::Tiny's hash:
#    { status, reason, headers => { lc name => value or [values] }, content }.
#      http_get($port, '/path', headers => { ... });
#      http_head($port, '/path');
#      http_post($port, '/path', $body, headers => { ... });
#      http_request($port, 'PUT', '/path', content => $body, headers => ...);
#      http_json($port, 'POST', '/path', { a => 1 });   # adds {json}: decoded
#
# 2. Raw requests over a socket, byte-exact, returning a
#    Chatvisor::HTTP::Response (status line, headers with duplicates and
#    original order, the exact body after chunked decoding, the raw bytes):
#      my $r = raw_request($port, method => 'GET', path => '/',
#                          headers => [ Range => 'bytes=0-9' ],
#                          version => '1.1');   # or '1.0'
#      my $r = raw_request($port, "GET / HTTP/1.0\r\n\r\n");  # literal bytes
#
# 3. A request started now and read later (hold a long-poll open while the
#    test does something else):
#      my $p = start_request($port, method => 'GET', path => '/poll');
#      ... other requests ...
#      $p->wait_for(qr/something/, 2);   # bytes so far match within 2 s?
#      my $r = $p->finish(timeout => 30);

use strict;
use warnings;

use HTTP::Tiny;
use JSON::PP ();
use IO::Socket::INET;
use IO::Select;
use Time::HiRes ();

use Exporter 'import';
our @EXPORT_OK = qw(http_get http_head http_post http_request http_json raw_request
                    start_request build_request);

sub _tiny {
    my (%opt) = @_;
    return HTTP::Tiny->new(
        max_redirect => 0,
        keep_alive   => 0,
        timeout      => $opt{timeout} // 10,
        agent        => 'chatvisor-test',
    );
}

sub http_request {
    my ($port, $method, $path, %opt) = @_;
    my $url = "http://127.0.0.1:$port$path";
    my %args;
    $args{headers} = $opt{headers} if $opt{headers};
    $args{content} = $opt{content} if defined $opt{content};
    return _tiny(%opt)->request($method, $url, \%args);
}

sub http_get  { my ($port, $path, %opt) = @_; http_request($port, 'GET', $path, %opt) }
sub http_head { my ($port, $path, %opt) = @_; http_request($port, 'HEAD', $path, %opt) }

sub http_post {
    my ($port, $path, $body, %opt) = @_;
    return http_request($port, 'POST', $path, %opt, content => $body);
}

# A JSON request (body: data encoded, or none when undef); the answer gets
# {json}: the decoded body when it is JSON, else undef.
sub http_json {
    my ($port, $method, $path, $data, %opt) = @_;
    my %h = %{ $opt{headers} || {} };
    $h{'Content-Type'} //= 'application/json' if defined $data;
    $h{'Accept'} //= 'application/json';
    my $r = http_request($port, $method, $path, %opt, headers => \%h,
        defined $data ? (content => JSON::PP->new->canonical->encode($data)) : ());
    $r->{json} = eval { JSON::PP->new->decode($r->{content}) }
        if ($r->{headers}{'content-type'} // '') =~ m{\bjson\b};
    return $r;
}

# Request bytes from (method, path, version, headers, body). headers is an
# array ref of pairs (duplicates allowed) or a hash ref. Host and
# Connection: close are added unless given; Content-Length when a body is.
sub build_request {
    my (%o) = @_;
    my $method  = $o{method}  // 'GET';
    my $path    = $o{path}    // '/';
    my $version = $o{version} // '1.1';
    my @h = ref $o{headers} eq 'HASH' ? %{ $o{headers} } : @{ $o{headers} || [] };
    my %has;
    for (my $i = 0; $i < @h; $i += 2) { $has{ lc $h[$i] } = 1 }
    unshift @h, Host => 'localhost' unless $has{host};
    push @h, Connection => 'close' unless $has{connection};
    push @h, 'Content-Length' => length $o{body}
        if defined $o{body} && !$has{'content-length'}
           && !$has{'transfer-encoding'};
    my $req = "$method $path HTTP/$version\r\n";
    for (my $i = 0; $i < @h; $i += 2) { $req .= "$h[$i]: $h[$i + 1]\r\n" }
    return $req . "\r\n" . ($o{body} // '');
}

sub start_request {
    my ($port, @args) = @_;
    my ($bytes, $method);
    if (@args == 1) {
        $bytes = $args[0];
        ($method) = $bytes =~ /^(\S+)/;
    } else {
        my %o = @args;
        $bytes = build_request(%o);
        $method = $o{method} // 'GET';
    }
    my $sock = IO::Socket::INET->new(
        PeerAddr => '127.0.0.1',
        PeerPort => $port,
        Proto    => 'tcp',
        Timeout  => 5,
    ) or die "connect 127.0.0.1:$port: $@\n";
    binmode $sock;
    my $off = 0;
    while ($off < length $bytes) {
        my $n = syswrite($sock, $bytes, length($bytes) - $off, $off);
        die "write to 127.0.0.1:$port: $!\n" unless defined $n;
        $off += $n;
    }
    return Chatvisor::HTTP::Pending->new($sock, $method);
}

sub raw_request {
    my ($port, @args) = @_;
    my %o = @args == 1 ? () : @args;
    return start_request($port, @args)->finish(timeout => $o{timeout} // 10);
}

package Chatvisor::HTTP::Pending;

use strict;
use warnings;

sub new {
    my ($class, $sock, $method) = @_;
    return bless { sock => $sock, method => uc($method // 'GET'), buf => '',
                   eof => 0 }, $class;
}

sub socket { $_[0]{sock} }

# Bytes received so far.
sub received { $_[0]{buf} }

# Reads what is there, waiting at most $timeout seconds for the first byte.
# Returns the number of bytes read (0 at EOF or timeout).
sub read_some {
    my ($self, $timeout) = @_;
    return 0 if $self->{eof};
    my $sel = IO::Select->new($self->{sock});
    return 0 unless $sel->can_read($timeout // 0);
    my $n = sysread($self->{sock}, $self->{buf}, 65536, length $self->{buf});
    $self->{eof} = 1 unless $n;
    return $n // 0;
}

# True when something (or EOF) can be read now.
sub ready {
    my ($self) = @_;
    return IO::Select->new($self->{sock})->can_read(0) ? 1 : 0;
}

# Waits until the received bytes match $re (a regex, or a code ref called
# with the bytes so far); true if they do in time.
sub wait_for {
    my ($self, $re, $timeout) = @_;
    my $deadline = Time::HiRes::time() + ($timeout // 10);
    my $match = ref $re eq 'CODE' ? $re : sub { $_[0] =~ $re };
    while (!$match->($self->{buf})) {
        my $left = $deadline - Time::HiRes::time();
        return 0 if $left <= 0 || $self->{eof};
        $self->read_some($left);
    }
    return 1;
}

# Reads until the peer closes (or the timeout); returns all bytes received.
sub read_to_eof {
    my ($self, $timeout) = @_;
    my $deadline = Time::HiRes::time() + ($timeout // 10);
    while (!$self->{eof}) {
        my $left = $deadline - Time::HiRes::time();
        last if $left <= 0;
        $self->read_some($left);
    }
    return $self->{buf};
}

# Reads until the response is complete (by Content-Length, chunked framing
# or EOF) and returns a Chatvisor::HTTP::Response; dies on timeout.
sub finish {
    my ($self, %o) = @_;
    my $deadline = Time::HiRes::time() + ($o{timeout} // 10);
    while (1) {
        my $r = Chatvisor::HTTP::Response->parse($self->{buf}, $self->{method},
                                                 $self->{eof});
        if ($r) {
            CORE::close($self->{sock});
            return $r;
        }
        die "connection closed before a complete response; got:\n"
            . _show($self->{buf}) if $self->{eof};
        my $left = $deadline - Time::HiRes::time();
        die "timeout waiting for the response; got so far:\n"
            . _show($self->{buf}) if $left <= 0;
        $self->read_some($left);
    }
}

sub close {
    my ($self) = @_;
    CORE::close($self->{sock}) if $self->{sock};
}

sub _show {
    my ($s) = @_;
    $s = substr($s, 0, 2000) . '...' if length $s > 2000;
    return $s;
}

package Chatvisor::HTTP::Response;

use strict;
use warnings;

# Parses a complete response from $buf; undef while more bytes are needed.
sub parse {
    my ($class, $buf, $method, $eof) = @_;
    my $end = index($buf, "\r\n\r\n");
    return undef if $end < 0;
    my $head = substr($buf, 0, $end);
    my $rest = substr($buf, $end + 4);
    my ($start, @lines) = split /\r\n/, $head;
    my ($version, $status, $reason) = $start =~ m{^(HTTP/\d\.\d) (\d{3})(?: (.*))?$}
        or die "bad status line: $start\n";
    my @headers;
    for my $line (@lines) {
        my ($k, $v) = $line =~ /^([^:]+):[ \t]*(.*?)[ \t]*$/
            or die "bad header line: $line\n";
        push @headers, [ $k, $v ];
    }
    my $self = bless { version => $version, status => $status,
                       reason => $reason // '', headers => \@headers,
                       head => "$head\r\n\r\n" }, $class;

    my $te = $self->header('Transfer-Encoding') // '';
    my $cl = $self->header('Content-Length');
    if (($method // '') eq 'HEAD' || $status =~ /^1/ || $status == 204
        || $status == 304)
    {
        $self->{body} = '';
        $self->{raw_body} = '';
    } elsif ($te =~ /chunked/i) {
        my ($body, $used) = _dechunk($rest);
        return undef unless defined $body;
        $self->{body} = $body;
        $self->{raw_body} = substr($rest, 0, $used);
        $self->{chunked} = 1;
    } elsif (defined $cl) {
        return undef if length $rest < $cl;
        $self->{body} = substr($rest, 0, $cl);
        $self->{raw_body} = $self->{body};
    } else {
        return undef unless $eof;
        $self->{body} = $rest;
        $self->{raw_body} = $rest;
        $self->{close_delimited} = 1;
    }
    $self->{raw} = $self->{head} . $self->{raw_body};
    return $self;
}

# Decodes a complete chunked body; returns (body, bytes used) or () while
# incomplete. The framing itself stays visible in raw_body.
sub _dechunk {
    my ($s) = @_;
    my $pos = 0;
    my $body = '';
    while (1) {
        my $nl = index($s, "\r\n", $pos);
        return () if $nl < 0;
        my $line = substr($s, $pos, $nl - $pos);
        my ($hex) = $line =~ /^([0-9a-fA-F]+)/ or die "bad chunk size line: $line\n";
        my $size = hex $hex;
        $pos = $nl + 2;
        if ($size == 0) {
            # trailers until an empty line
            while (1) {
                my $e = index($s, "\r\n", $pos);
                return () if $e < 0;
                my $tl = substr($s, $pos, $e - $pos);
                $pos = $e + 2;
                return ($body, $pos) if $tl eq '';
            }
        }
        return () if length($s) < $pos + $size + 2;
        $body .= substr($s, $pos, $size);
        die "chunk not followed by CRLF\n" unless substr($s, $pos + $size, 2) eq "\r\n";
        $pos += $size + 2;
    }
}

sub status  { $_[0]{status} }
sub reason  { $_[0]{reason} }
sub version { $_[0]{version} }
sub body    { $_[0]{body} }
sub raw     { $_[0]{raw} }
sub head    { $_[0]{head} }
sub is_chunked { $_[0]{chunked} ? 1 : 0 }
sub is_close_delimited { $_[0]{close_delimited} ? 1 : 0 }

# All headers as [name, value] pairs, in order, duplicates included.
sub headers { @{ $_[0]{headers} } }

# All values of one header (case-insensitive name), in order.
sub header_all {
    my ($self, $name) = @_;
    return map { $_->[1] } grep { lc $_->[0] eq lc $name } @{ $self->{headers} };
}

# The first value of a header, undef when absent.
sub header {
    my ($self, $name) = @_;
    my @v = $self->header_all($name);
    return $v[0];
}

sub has_header { scalar($_[0]->header_all($_[1])) ? 1 : 0 }

1;
