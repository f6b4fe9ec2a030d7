package Chatvisor::Chat;

# Clients for the chat endpoints (docs/chat-endpoints.md) on top of a
# running Chatvisor::Test: a visitor with its cv_visitor cookie, an agent
# with its cv_agent cookie and CSRF token, long-polls held open while the
# test does something else, and build/chatvisorctl.
#
#   use Chatvisor::Chat qw(ctl);
#   my $v = Chatvisor::Chat::Visitor->new($t);
#   my $r = $v->post('Hello', client_msg_id => 'c-1');   # {status, json, ...}
#   my $p = $v->start_poll(after => $r->{json}{seq});     # held
#   my $agent = Chatvisor::Chat::Agent->login($t, $store, 'ann');
#   $agent->write(POST => "conversations/$id/messages", { text => 'Hi' });
#   my $res = $p->result(timeout => 5);   # {status, json, headers, elapsed}
#
#   ctl(@args)          runs build/chatvisorctl; its stdout (dies on failure)
#   ctl_status(@args)   (exit status, stdout+stderr)
#   ctl_conversations($store)   rows of `chatvisorctl conversations`
#
# Visitor: post, events(after =>, conversation =>, wait =>), history (all
# events of the current conversation, paged), start_poll, typing, tab (a
# second tab: the same cookie), request(METHOD, path, json|body, headers).
# Agent: token / join / login (chatvisorctl login-url, then POST join and
# GET me for the CSRF token), get, write (adds X-Chatvisor-CSRF unless the
# headers say otherwise), reply, events, start_events.
#
# Every request is a new connection (so requests spread over the workers).
# A response is a hash: status, headers (lower-case name => [values]),
# content, json (decoded when JSON, else undef), set_cookie (name => value).

use strict;
use warnings;

use JSON::PP ();
use POSIX ();
use Time::HiRes ();

use Chatvisor::HTTP ();
use Chatvisor::Test ();

use Exporter 'import';
our @EXPORT_OK = qw(ctl ctl_status decode_json set_cookies);

our $PREFIX = '/chatvisor/';

my $JSON = JSON::PP->new->utf8->canonical->allow_nonref;

sub ctl_path {
    return $ENV{CHATVISOR_CTL} || Chatvisor::Test::repo_root() . '/build/chatvisorctl';
}

sub ctl_status {
    my (@args) = @_;
    my $ctl = ctl_path();
    my $pid = open(my $fh, '-|') // die "fork: $!";
    if ($pid == 0) {
        open STDERR, '>&', \*STDOUT;
        exec $ctl, @args or POSIX::_exit(127);
    }
    local $/;
    my $out = <$fh> // '';
    close $fh;
    return ($? >> 8, $out);
}

sub ctl {
    my (@args) = @_;
    my ($st, $out) = ctl_status(@args);
    die "chatvisorctl @args failed ($st):\n$out" if $st;
    return $out;
}

# Conversation rows of `chatvisorctl conversations`: [{id, customer_id,
# status, agent, seq}]
sub ctl_conversations {
    my ($store, @more) = @_;
    my @rows;
    for my $line (split /\n/, ctl('conversations', '--store', $store, @more)) {
        my ($id, $cus, $status, $agent, $seq) = split ' ', $line;
        next unless defined $id && $id =~ /^conv_/;
        push @rows, { id => $id, customer_id => $cus, status => $status,
                      agent => $agent eq '-' ? undef : $agent, seq => $seq };
    }
    return @rows;
}

sub decode_json {
    my ($bytes) = @_;
    return undef unless defined $bytes && length $bytes;
    return eval { $JSON->decode($bytes) };
}

sub encode_json { $JSON->encode($_[0]) }

# name => value of the Set-Cookie headers of a response hash
sub set_cookies {
    my ($headers) = @_;
    my %c;
    my $v = $headers->{'set-cookie'};
    for my $line (ref $v ? @$v : defined $v ? ($v) : ()) {
        my ($name, $value) = $line =~ /^\s*([^=;\s]+)=([^;]*)/ or next;
        $c{$name} = $value;
    }
    return \%c;
}

# One request on a new connection: (t, METHOD, path after the prefix, %o)
# with o: json => DATA (encoded), body => BYTES, headers => {...},
# content_type => '...' (default application/json when there is a body).
sub request {
    my ($t, $method, $path, %o) = @_;
    my %h = (Accept => 'application/json', %{ $o{headers} || {} });
    my $body = exists $o{json} ? $JSON->encode($o{json}) : $o{body};
    if (defined $body && !exists $h{'Content-Type'}) {
        $h{'Content-Type'} = $o{content_type} // 'application/json';
    }
    delete $h{'Content-Type'} if defined $h{'Content-Type'} && $h{'Content-Type'} eq '';
    my $started = Time::HiRes::time();
    my $r = $t->request($method, $PREFIX . $path, headers => \%h,
                        defined $body ? (content => $body) : (),
                        timeout => $o{timeout} // 10);
    $r->{elapsed} = Time::HiRes::time() - $started;
    $r->{json} = decode_json($r->{content})
        if ($r->{headers}{'content-type'} // '') =~ /\bjson\b/;
    $r->{set_cookie} = set_cookies($r->{headers});
    return $r;
}

# A request held open (a long-poll): a Chatvisor::Chat::Held.
sub start {
    my ($t, $method, $path, %o) = @_;
    my @h = (Accept => 'application/json', Host => '127.0.0.1:' . $t->port);
    my $hh = $o{headers} || {};
    push @h, map { ($_ => $hh->{$_}) } sort keys %$hh;
    my $p = $t->start_request(method => $method, path => $PREFIX . $path,
                              headers => \@h);
    return Chatvisor::Chat::Held->new($p);
}

sub query {
    my (%q) = @_;
    my @k = grep { defined $q{$_} } sort keys %q;
    return '' unless @k;
    return '?' . join '&', map { "$_=$q{$_}" } @k;
}

# ---------------------------------------------------------------------------

package Chatvisor::Chat::Held;

use strict;
use warnings;

sub new {
    my ($class, $pending) = @_;
    return bless { p => $pending, started => Time::HiRes::time() }, $class;
}

sub started { $_[0]{started} }

# true when the answer (or EOF) has started to arrive
sub ready {
    my ($self, $timeout) = @_;
    return 1 if $self->{res};
    return 1 if length $self->{p}->received;
    return $self->{p}->read_some($timeout // 0) ? 1 : $self->{p}{eof} ? 1 : 0;
}

# The answer: {status, headers => {lc => [..]}, content, json, elapsed
# (seconds since the request started), at (time the answer was complete)}.
sub result {
    my ($self, %o) = @_;
    return $self->{res} if $self->{res};
    my $r = $self->{p}->finish(timeout => $o{timeout} // 10);
    my $at = Time::HiRes::time();
    my %h;
    for my $pair ($r->headers) { push @{ $h{ lc $pair->[0] } }, $pair->[1] }
    my %flat = map { $_ => (@{ $h{$_} } == 1 ? $h{$_}[0] : $h{$_}) } keys %h;
    $self->{res} = {
        status     => $r->status,
        headers    => \%flat,
        content    => $r->body,
        json       => Chatvisor::Chat::decode_json($r->body),
        elapsed    => $at - $self->{started},
        at         => $at,
        set_cookie => Chatvisor::Chat::set_cookies(\%flat),
    };
    return $self->{res};
}

# Like result, but undef instead of dying on timeout.
sub try_result {
    my ($self, %o) = @_;
    my $r = eval { $self->result(%o) };
    return $r;
}

sub close { $_[0]{p}->close }

# ---------------------------------------------------------------------------

package Chatvisor::Chat::Visitor;

use strict;
use warnings;

# new($t, cookie => 'cus_x.sig' (optional))
sub new {
    my ($class, $t, %o) = @_;
    return bless { t => $t, cookie => $o{cookie}, extra => $o{headers} || {} },
        $class;
}

sub cookie {
    my ($self, $v) = @_;
    $self->{cookie} = $v if @_ > 1;
    return $self->{cookie};
}

# customer id from the cookie (cus_...)
sub customer_id {
    my ($self) = @_;
    return undef unless defined $self->{cookie};
    return ($self->{cookie} =~ /^([^.]+)\./)[0];
}

# a second tab: the same cookie
sub tab {
    my ($self) = @_;
    return ref($self)->new($self->{t}, cookie => $self->{cookie});
}

sub headers {
    my ($self, %more) = @_;
    my %h = (%{ $self->{extra} }, %more);
    $h{Cookie} = "cv_visitor=$self->{cookie}"
        if defined $self->{cookie} && !exists $h{Cookie};
    delete $h{Cookie} if defined $h{Cookie} && $h{Cookie} eq '';
    return \%h;
}

sub _keep_cookie {
    my ($self, $r) = @_;
    my $c = $r->{set_cookie}{cv_visitor};
    $self->{cookie} = $c if defined $c && length $c;
    return $r;
}

# request(METHOD, 'v1/visitor/...', %o): see Chatvisor::Chat::request
sub request {
    my ($self, $method, $path, %o) = @_;
    my $h = $self->headers(%{ $o{headers} || {} });
    return $self->_keep_cookie(
        Chatvisor::Chat::request($self->{t}, $method, $path, %o, headers => $h));
}

# post('text', client_msg_id => .., page_url => ..)
sub post {
    my ($self, $text, %f) = @_;
    return $self->request(POST => 'v1/visitor/messages',
                          json => { text => $text, %f });
}

# events(after => N, conversation => ID, wait => 0)
sub events {
    my ($self, %q) = @_;
    $q{after} //= 0;
    return $self->request(GET => 'v1/visitor/events' . Chatvisor::Chat::query(%q));
}

# history: every event of the current conversation (wait=0, paged)
sub history {
    my ($self) = @_;
    my ($after, @ev, $conv) = (0);
    for (1 .. 1000) {
        my $r = $self->events(after => $after, wait => 0);
        die "history: status $r->{status}: $r->{content}\n"
            unless $r->{status} == 200 && $r->{json};
        $conv = $r->{json}{conversation_id};
        my @e = @{ $r->{json}{events} };
        push @ev, @e;
        last if !@e || $r->{json}{cursor} == $after;
        $after = $r->{json}{cursor};
    }
    return wantarray ? (\@ev, $conv) : \@ev;
}

sub start_poll {
    my ($self, %q) = @_;
    $q{after} //= 0;
    return Chatvisor::Chat::start($self->{t}, GET =>
        'v1/visitor/events' . Chatvisor::Chat::query(%q),
        headers => $self->headers);
}

sub typing {
    my ($self, $typing) = @_;
    return $self->request(POST => 'v1/visitor/typing',
                          json => { typing => $typing // JSON::PP::true });
}

# ---------------------------------------------------------------------------

package Chatvisor::Chat::Agent;

use strict;
use warnings;

# A login token from chatvisorctl login-url (the part after join#).
sub token {
    my ($class, $t, $store, $agent_id, @more) = @_;
    my $url = Chatvisor::Chat::ctl('login-url', '--store', $store, '--agent',
                                   $agent_id, '--base-url', $t->url($PREFIX),
                                   @more);
    my ($token) = $url =~ m{/join#(\S+)} or die "login-url printed: $url\n";
    return $token;
}

# POST v1/agent/join; the answer (with {agent}: a logged in agent on 200)
sub join {
    my ($class, $t, $token) = @_;
    my $r = Chatvisor::Chat::request($t, POST => 'v1/agent/join',
                                     json => { token => $token });
    if ($r->{status} == 200 && defined $r->{set_cookie}{cv_agent}) {
        my $self = bless { t => $t, cookie => $r->{set_cookie}{cv_agent} },
            $class;
        my $me = $self->get('me');
        $self->{csrf} = $me->{json}{csrf_token} if $me->{json};
        $self->{me} = $me->{json};
        $r->{agent} = $self;
    }
    return $r;
}

# agent-put (unless no_put) + login-url + join; dies unless logged in
sub login {
    my ($class, $t, $store, $id, %o) = @_;
    Chatvisor::Chat::ctl('agent-put', '--store', $store, '--id', $id,
                         '--name', $o{name} // ucfirst $id)
        unless $o{no_put};
    my $r = $class->join($t, $class->token($t, $store, $id));
    die "join as $id: $r->{status} $r->{content}\n" unless $r->{agent};
    return $r->{agent};
}

sub cookie { $_[0]{cookie} }
sub csrf { $_[0]{csrf} }

sub headers {
    my ($self, %more) = @_;
    my %h = %more;
    $h{Cookie} = "cv_agent=$self->{cookie}" unless exists $h{Cookie};
    delete $h{Cookie} if $h{Cookie} eq '';
    return \%h;
}

# get('conversations?filter=mine')
sub get {
    my ($self, $path, %o) = @_;
    return Chatvisor::Chat::request($self->{t}, GET => "v1/agent/$path", %o,
                                    headers => $self->headers(%{ $o{headers} || {} }));
}

# write(POST => 'conversations/ID/messages', {text => ..}, headers => {...})
# adds the CSRF header unless headers has X-Chatvisor-CSRF ('' drops it)
sub write {
    my ($self, $method, $path, $data, %o) = @_;
    my %h = %{ $o{headers} || {} };
    $h{'X-Chatvisor-CSRF'} = $self->{csrf} unless exists $h{'X-Chatvisor-CSRF'};
    delete $h{'X-Chatvisor-CSRF'} unless length($h{'X-Chatvisor-CSRF'} // '');
    return Chatvisor::Chat::request($self->{t}, $method, "v1/agent/$path",
                                    defined $data ? (json => $data) : (),
                                    %o, headers => $self->headers(%h));
}

sub reply {
    my ($self, $conv, $text, %f) = @_;
    return $self->write(POST => "conversations/$conv/messages",
                        { text => $text, %f });
}

# GET events long-poll held open
sub start_events {
    my ($self, %q) = @_;
    $q{after} //= 0;
    return Chatvisor::Chat::start($self->{t}, GET =>
        'v1/agent/events' . Chatvisor::Chat::query(%q),
        headers => $self->headers);
}

sub events {
    my ($self, %q) = @_;
    $q{after} //= 0;
    return $self->get('events' . Chatvisor::Chat::query(%q));
}

1;
