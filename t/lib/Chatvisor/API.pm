package Chatvisor::API;

# A REST API client for the tests (docs/api.md) on top of a running
# Chatvisor::Test, checking every answer against docs/openapi.json.
#
#   my $api = Chatvisor::API->new($t, client => 'crm', secret => $secret);
#   $api->login;                                    # POST auth/token
#   my $r = $api->call(PUT => 'agents/ann', { name => 'Ann' });
#   $r->{status}; $r->{json}; $r->{headers}{'content-type'}
#   $api->call(GET => 'agents', undef, token => undef);         # no token
#   $api->call(PUT => 'agents/ann', undef, body => '{"a":',     # raw bytes
#              content_type => 'text/plain');
#
# Every answer (any status) is checked with Chatvisor::OpenAPI: one test
# "METHOD PATH -> STATUS matches docs/openapi.json" per call (spec_check =>
# 0 skips it). A request body sent as DATA is also checked against the
# spec's request schema unless request_check => 0 (tests of bad requests
# pass bad bodies on purpose and check that the spec refuses them too with
# $api->spec->check_request). Each call is a new connection, so calls
# spread over the workers.

use strict;
use warnings;

use JSON::PP ();
use MIME::Base64 ();
use Test::More ();

use Chatvisor::HTTP ();
use Chatvisor::OpenAPI ();

my $JSON = JSON::PP->new->utf8->canonical->allow_nonref;

my $SPEC;    # one parse per test file

sub spec_for { $SPEC //= Chatvisor::OpenAPI->new }

sub new {
    my ($class, $t, %o) = @_;
    return bless {
        t      => $t,
        client => $o{client} // 'crm',
        secret => $o{secret},
        prefix => $o{prefix} // '/chatvisor/api/v1/',
        token  => $o{token},
        port   => $o{port},
        quiet  => $o{quiet} // 0,
    }, $class;
}

sub spec   { spec_for() }
sub token  { $_[0]{token} }
sub prefix { $_[0]{prefix} }
sub set_token { $_[0]{token} = $_[1] }

# The full path of an API path ('agents/ann' -> '/chatvisor/api/v1/agents/ann').
sub path {
    my ($self, $p) = @_;
    return $p if $p =~ m{^/};
    return $self->{prefix} . $p;
}

sub _port {
    my ($self) = @_;
    return $self->{port} // $self->{t}->port;
}

# A request: returns {status, headers, content, json}. Options:
#   token => T | undef     override the bearer token (undef: none)
#   body => BYTES          raw body instead of encoding DATA
#   content_type => CT     (default application/json when there is a body)
#   headers => { ... }     more headers
#   spec_check => 0        do not check the answer against the spec;
#                          'quiet': check it, but add a (failing) test only
#                          when it does not match
#   request_check => 0     do not check DATA against the request schema
#   name => TEXT           test name prefix
sub call {
    my ($self, $method, $p, $data, %o) = @_;
    my $path = $self->path($p);
    my %h = %{ $o{headers} || {} };
    my $token = exists $o{token} ? $o{token} : $self->{token};
    $h{Authorization} = "Bearer $token" if defined $token && !exists $h{Authorization};
    $h{Accept} //= 'application/json';
    my $body = $o{body};
    $body = $JSON->encode($data) if !defined $body && defined $data;
    if (defined $body) {
        $h{'Content-Type'} = $o{content_type} // 'application/json'
            unless exists $o{content_type} && !defined $o{content_type};
    }
    if (defined $data && ($o{request_check} // 1)) {
        my @e = $self->spec->check_request($method, $path, $h{'Content-Type'}, $body);
        Test::More::ok(!@e, "$method $path: request is valid per docs/openapi.json")
            or Test::More::diag(join "\n", @e);
    }
    my $r = Chatvisor::HTTP::http_request($self->_port, $method, $path,
        headers => \%h, defined $body ? (content => $body) : (),
        timeout => $o{timeout} // 10);
    Test::More::diag("$method $path: client error: $r->{content}")
        if $r->{status} == 599;
    $r->{json} = eval { Chatvisor::OpenAPI::decode_json($r->{content}) }
        if ($r->{headers}{'content-type'} // '') =~ m{\bjson\b};
    my $sc = $o{spec_check} // 1;
    if ($sc eq 'quiet') {
        my @e = $self->spec->check_response($method, $path, $r);
        Test::More::ok(0, "$method $path -> $r->{status} matches docs/openapi.json")
            || Test::More::diag(join "\n", @e) if @e;
    } elsif ($sc) {
        $self->check($method, $path, $r, $o{name});
    }
    return $r;
}

# One test: the answer matches the spec.
sub check {
    my ($self, $method, $path, $r, $name) = @_;
    my @e = $self->spec->check_response($method, $path, $r);
    my $label = ($name ? "$name: " : '') . "$method $path -> $r->{status} matches docs/openapi.json";
    Test::More::ok(!@e, $label) or Test::More::diag(join "\n", @e);
    return !@e;
}

# POST auth/token; returns the answer. how: form (default), json, basic.
sub token_request {
    my ($self, %o) = @_;
    my $how = $o{how} // 'form';
    my $id = $o{client} // $self->{client};
    my $secret = $o{secret} // $self->{secret};
    my %args = (token => undef, request_check => 0, name => $o{name},
                spec_check => $o{spec_check} // 1);
    my $path = 'auth/token';
    if ($how eq 'json') {
        return $self->call(POST => $path, { grant_type => 'client_credentials',
            client_id => $id, client_secret => $secret }, %args,
            request_check => 1);
    }
    if ($how eq 'basic') {
        my $cred = MIME::Base64::encode_base64("$id:$secret", '');
        return $self->call(POST => $path, undef, %args,
            body => 'grant_type=client_credentials',
            content_type => 'application/x-www-form-urlencoded',
            headers => { Authorization => "Basic $cred" });
    }
    my $form = join '&', map { "$_->[0]=" . _uri_escape($_->[1]) }
        [ grant_type => 'client_credentials' ], [ client_id => $id ],
        [ client_secret => $secret ];
    return $self->call(POST => $path, undef, %args, body => $form,
                       content_type => 'application/x-www-form-urlencoded');
}

sub _uri_escape {
    my ($s) = @_;
    $s =~ s/([^A-Za-z0-9\-._~])/sprintf '%%%02X', ord $1/ge;
    return $s;
}

# Gets a token (form body) and keeps it; dies when that fails.
sub login {
    my ($self, %o) = @_;
    my $r = $self->token_request(%o);
    die "POST auth/token: $r->{status} $r->{content}\n"
        unless $r->{status} == 200 && $r->{json} && $r->{json}{access_token};
    $self->{token} = $r->{json}{access_token};
    return $self->{token};
}

# ---- visitors (docs/chat-endpoints.md), enough to create customers ----

package Chatvisor::API::Visitor;

use JSON::PP ();

my $VJSON = JSON::PP->new->utf8->canonical;

# A visitor: its first post sets the cv_visitor cookie, which later posts
# send back.
sub new {
    my ($class, $t, %o) = @_;
    return bless { t => $t, cookie => undef, prefix => $o{prefix} // '/chatvisor/',
                   port => $o{port} }, $class;
}

sub cookie { $_[0]{cookie} }

# POST v1/visitor/messages; returns {status, json, ...}. Sets customer_id and
# conversation_id from the answer.
sub post {
    my ($self, $text, %o) = @_;
    my %h = ('Content-Type' => 'application/json', Accept => 'application/json');
    $h{Cookie} = "cv_visitor=$self->{cookie}" if defined $self->{cookie};
    my %body = (text => $text);
    $body{client_msg_id} = $o{client_msg_id} if defined $o{client_msg_id};
    $body{page_url} = $o{page_url} if defined $o{page_url};
    my $r = Chatvisor::HTTP::http_request($self->{port} // $self->{t}->port,
        'POST', "$self->{prefix}v1/visitor/messages", headers => \%h,
        content => $VJSON->encode(\%body), timeout => $o{timeout} // 10);
    for my $sc (_list($r->{headers}{'set-cookie'})) {
        $self->{cookie} = $1 if $sc =~ /^cv_visitor=([^;]*)/;
    }
    $r->{json} = eval { JSON::PP->new->utf8->decode($r->{content}) };
    if ($r->{json} && ($r->{status} == 201 || $r->{status} == 200)) {
        $self->{conversation_id} = $r->{json}{conversation_id};
        $self->{customer_id} = $r->{json}{author}{id};
    }
    return $r;
}

# GET v1/visitor/events?after=N&wait=0
sub events {
    my ($self, $after) = @_;
    my %h = (Accept => 'application/json');
    $h{Cookie} = "cv_visitor=$self->{cookie}" if defined $self->{cookie};
    my $r = Chatvisor::HTTP::http_request($self->{port} // $self->{t}->port,
        'GET', "$self->{prefix}v1/visitor/events?after=" . ($after // 0) . '&wait=0',
        headers => \%h);
    $r->{json} = eval { JSON::PP->new->utf8->decode($r->{content}) };
    return $r;
}

sub customer_id     { $_[0]{customer_id} }
sub conversation_id { $_[0]{conversation_id} }

sub _list { my ($v) = @_; return () unless defined $v; ref $v ? @$v : ($v) }

1;
