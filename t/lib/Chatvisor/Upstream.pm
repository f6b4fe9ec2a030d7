package Chatvisor::Upstream;

# The tests' fake upstream: a forked Chatvisor::HTTPServer on a free loopback
# port that serves pages the test defines before start().
#
#   my $up = Chatvisor::Upstream->new(pages => {
#       '/page.html' => { body => $html },                  # text/html, 200
#       '/gz'        => { body => $gz, headers => [ 'Content-Encoding' => 'gzip' ] },
#       '/json'      => { body => '{}', type => 'application/json' },
#       '/dyn'       => sub { my ($req) = @_; return { body => ... } },
#   })->start;
#   $up->port;   $up->stop;   # (stop also happens at exit)
#
# Page keys are Chatvisor::HTTPServer response keys (status, headers, body,
# split, sizes, delay, chunked, no_length) plus `type`, the Content-Type
# (default "text/html"; "" for none; ignored when headers has Content-Type).
#
# Any page accepts query arguments that override how it is written, so one
# test can loop over every split position:
#   ?split=17,40    write the body in pieces cut at these byte offsets
#   ?sizes=1        pieces of these sizes, the last one repeating (bytewise)
#   ?delay=5        milliseconds between pieces (default 5)
#   ?pad=N          prepend N spaces to the body
#   ?chunked=1      chunked transfer encoding (HTTP/1.1 requests only)
#   ?nolength=1     no Content-Length, the body ends at close
#   ?status=404     another status code
#
# Built in: /echo answers with a JSON description of the request (method,
# uri, headers, body), so tests can see what nginx sent upstream.

use strict;
use warnings;

use JSON::PP ();
use POSIX ();
use Time::HiRes ();
use Chatvisor::HTTPServer;
use Chatvisor::Proc ();

my @LIVE;    # started upstreams of this process, stopped at exit

sub new {
    my ($class, %args) = @_;
    return bless { pages => $args{pages} || {}, port => $args{port} || 0 },
        $class;
}

sub page {
    my ($self, $path, $spec) = @_;
    die "define pages before start()\n" if $self->{pid};
    $self->{pages}{$path} = $spec;
    return $self;
}

sub port { $_[0]{port} }

sub url {
    my ($self, $path) = @_;
    return "http://127.0.0.1:$self->{port}" . ($path // '/');
}

sub start {
    my ($self) = @_;
    my $srv = Chatvisor::HTTPServer->new(
        port    => $self->{port},
        handler => sub { $self->respond(@_) },
    );
    $srv->listen;
    $self->{port} = $srv->port;
    my $pid = fork // die "fork: $!\n";
    if ($pid == 0) {
        # not the test's handlers: a signal just ends the server
        $SIG{$_} = 'DEFAULT' for qw(INT TERM HUP PIPE);
        Chatvisor::Proc::die_with_parent();
        eval { $srv->run };
        POSIX::_exit(0);
    }
    close $srv->socket;
    $self->{pid} = $pid;
    $self->{owner} = $$;
    push @LIVE, $self;
    return $self;
}

sub stop {
    my ($self) = @_;
    my $pid = delete $self->{pid} or return;
    return unless $self->{owner} == $$;
    kill 'TERM', $pid;
    for (1 .. 100) {
        last if waitpid($pid, POSIX::WNOHANG()) != 0;
        Time::HiRes::sleep(0.02);
    }
    kill 'KILL', $pid if kill 0, $pid;
    waitpid($pid, 0);
    @LIVE = grep { $_ != $self } @LIVE;
}

sub DESTROY { $_[0]->stop }

END {
    local $?;
    $_->stop for @LIVE;
}

sub respond {
    my ($self, $req) = @_;
    my $q = $req->{query};

    if ($req->{path} eq '/echo') {
        return {
            headers => [ 'Content-Type' => 'application/json' ],
            body    => JSON::PP->new->canonical->encode({
                method  => $req->{method},
                uri     => $req->{uri},
                version => $req->{version},
                headers => $req->{headers},
                body    => $req->{body},
            }),
        };
    }

    my $page = $self->{pages}{ $req->{path} };
    if (!$page) {
        return { status => 404, headers => [ 'Content-Type' => 'text/plain' ],
                 body => "no such page: $req->{path}\n" };
    }
    my %r = ref $page eq 'CODE' ? %{ $page->($req) } : %$page;
    $r{headers} = [ @{ $r{headers} || [] } ];

    my $type = exists $r{type} ? delete $r{type} : 'text/html';
    my @names = @{ $r{headers} }[ grep { $_ % 2 == 0 } 0 .. $#{ $r{headers} } ];
    my $has_type = grep { lc eq 'content-type' } @names;
    unshift @{ $r{headers} }, 'Content-Type' => $type
        if !$has_type && defined $type && length $type;

    $r{split}     = [ split /,/, $q->{split} ] if defined $q->{split};
    $r{sizes}     = [ split /,/, $q->{sizes} ] if defined $q->{sizes};
    $r{delay}     = $q->{delay} / 1000 if defined $q->{delay};
    $r{body}      = (' ' x $q->{pad}) . ($r{body} // '') if $q->{pad};
    $r{chunked}   = 1 if $q->{chunked};
    $r{no_length} = 1 if $q->{nolength};
    $r{status}    = $q->{status} if $q->{status};
    return \%r;
}

1;
