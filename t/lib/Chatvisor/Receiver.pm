package Chatvisor::Receiver;

# The tests' webhook receiver: t/lib/webhook-receiver.mjs in Node, which
# verifies every request with the reference Standard Webhooks library
# (npm standardwebhooks); this module also checks each signature itself
# (HMAC-SHA256 with Digest::SHA), so both implementations have to agree.
#
#   my $rx = Chatvisor::Receiver->new(secrets => [$whsec])->start;
#   $rx->url('/hooks');                # http://127.0.0.1:PORT/hooks
#   $rx->script({ status => 500 }, { status => 200 });   # next answers
#   $rx->then({ status => 503, headers => { 'Retry-After' => 2 } });
#   my @got = $rx->log;                # every request so far (see the .mjs)
#   $rx->wait_for(sub { @_ >= 3 }, 10);   # until the log has 3, or 10 s
#   Chatvisor::Receiver::signature_ok($whsec, $entry)   # our own check
#   $rx->stop;                         # (also at exit)
#
# tls => [CERT, KEY] makes it https (its control calls stay plain HTTP, on a
# port of their own).

use strict;
use warnings;

use Digest::SHA ();
use HTTP::Tiny ();
use JSON::PP ();
use MIME::Base64 ();
use POSIX ();
use Time::HiRes ();

use Chatvisor::HTTP ();
use Chatvisor::Port ();
use Chatvisor::Proc ();
use Chatvisor::Test ();

my $JSON = JSON::PP->new->utf8->canonical;
my @LIVE;

sub new {
    my ($class, %o) = @_;
    return bless { secrets => $o{secrets} || [], tls => $o{tls},
                   port => $o{port} }, $class;
}

sub port { $_[0]{port} }

sub url {
    my ($self, $path) = @_;
    my $scheme = $self->{tls} ? 'https' : 'http';
    return "$scheme://127.0.0.1:$self->{port}" . ($path // '/hooks');
}

sub start {
    my ($self) = @_;
    my $root = Chatvisor::Test::repo_root();
    $self->{port} //= Chatvisor::Port::free_port();
    my @cmd = ('node', "$root/t/lib/webhook-receiver.mjs", '--port', $self->{port},
               map({ ('--secret', $_) } @{ $self->{secrets} }),
               $self->{tls} ? ('--cert', $self->{tls}[0], '--key', $self->{tls}[1]) : ());
    pipe(my $r, my $w) or die "pipe: $!\n";
    my $pid = fork // die "fork: $!\n";
    if ($pid == 0) {
        close $r;
        open STDOUT, '>&', $w or POSIX::_exit(127);
        $SIG{$_} = 'DEFAULT' for qw(INT TERM HUP PIPE);
        Chatvisor::Proc::die_with_parent();
        exec @cmd or POSIX::_exit(127);
    }
    close $w;
    my $line = <$r>;
    die "webhook receiver did not start\n" unless $line && $line =~ /^listening/;
    # with TLS, the control calls go to a plain HTTP port of their own
    $self->{control} = $1 if $line =~ /\bcontrol (\d+)/;
    $self->{pipe} = $r;
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
    @LIVE = grep { defined $_ && $_ != $self } @LIVE;
}

# (waitpid sets $?: at the script's end that would be its exit status)
sub DESTROY { local ($?, $@); $_[0]->stop }

END {
    local $?;
    my @live = grep { defined } @LIVE;    # stop() changes @LIVE
    $_->stop for @live;
}

sub _control {
    my ($self, $path, $data) = @_;
    my $port = $self->{control} // $self->{port};
    my $http = HTTP::Tiny->new(timeout => 10, keep_alive => 0);
    my $r = $http->request($data ? 'POST' : 'GET',
                           "http://127.0.0.1:$port$path",
                           $data ? { content => $JSON->encode($data),
                                     headers => { 'Content-Type' => 'application/json' } }
                                 : {});
    die "receiver $path: $r->{status} $r->{content}\n" unless $r->{success};
    return $JSON->decode($r->{content});
}

# the next answers, in turn; then the default ($self->then or 200)
sub script {
    my ($self, @answers) = @_;
    $self->{then} //= { status => 200 };
    $self->_control('/_script', { answers => \@answers, then => $self->{then} });
    return $self;
}

sub then {
    my ($self, $answer) = @_;
    $self->{then} = $answer;
    $self->_control('/_script', { answers => [], then => $answer });
    return $self;
}

sub secrets {
    my ($self, @secrets) = @_;
    $self->{secrets} = \@secrets;
    $self->_control('/_secrets', { secrets => \@secrets });
    return $self;
}

sub reset { $_[0]->_control('/_reset', {}) }

sub log { @{ $_[0]->_control('/_log') } }

# waits until cond(@log) holds or timeout seconds pass; returns the log
sub wait_for {
    my ($self, $cond, $timeout) = @_;
    my $deadline = Time::HiRes::time() + ($timeout // 10);
    my @log;
    while (1) {
        @log = $self->log;
        return @log if $cond->(@log);
        last if Time::HiRes::time() > $deadline;
        Time::HiRes::sleep(0.05);
    }
    return @log;
}

# Standard Webhooks, computed here: v1,base64(HMAC-SHA256(key,
# id.timestamp.body)) with key the base64 after "whsec_"; true when one of
# the request's signatures is it
sub signature_ok {
    my ($secret, $entry) = @_;
    (my $b64 = $secret) =~ s/^whsec_//;
    my $key = MIME::Base64::decode_base64($b64);
    my $h = $entry->{headers};
    my $signed = "$h->{'webhook-id'}.$h->{'webhook-timestamp'}.$entry->{body}";
    utf8::encode($signed) if utf8::is_utf8($signed);
    my $want = MIME::Base64::encode_base64(Digest::SHA::hmac_sha256($signed, $key), '');
    for my $sig (split / /, $h->{'webhook-signature'} // '') {
        my (undef, $value) = split /,/, $sig, 2;
        return 1 if defined $value && $value eq $want;
    }
    return 0;
}

1;
