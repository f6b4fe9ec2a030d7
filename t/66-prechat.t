#!/usr/bin/perl

# The pre-chat form's server side, over HTTP: chatvisor_prechat in the
# widget's tag (per location, inherited, off); PUT v1/visitor/contact
# stores a visitor's email and name on their own customer (before their
# first message too: it makes the customer and sets the cookie), refuses a
# bad one with 400 and a JSON error that changes nothing; GET
# v1/visitor/availability follows the agents' presence; the email reaches
# REST (GET customers/{id}, GET conversations/{id}) and webhooks
# (data.customer). The browser's side: t/67-prechat-browser.t.

use strict;
use warnings;
use utf8;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use JSON::PP ();

use Chatvisor::Test;
use Chatvisor::API;
use Chatvisor::Receiver;
use Chatvisor::Webhooks qw(wait_events check_requests count_type);

my $JSON = JSON::PP->new->utf8->canonical;

my $t = Chatvisor::Test->new;
my @chars = ('A' .. 'Z', 'a' .. 'z', '0' .. '9');
my $secret = join '', map { $chars[rand @chars] } 1 .. 48;
$t->write_file('crm.secret', "$secret\n");
my $page = "<!doctype html><html><head><title>Shop</title></head><body><h1>Shop</h1></body></html>\n";
$t->write_file("html/$_/index.html", $page) for qw(plain ask must off);
$t->write_config(<<'EOF');
worker_processes 2;
http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;

    chatvisor_store %%TESTDIR%%/store;
    chatvisor_api_client crm %%TESTDIR%%/crm.secret;
    chatvisor_poll_timeout 4s;
    chatvisor_webhook_allow_private on;

    server {
        listen 127.0.0.1:%%PORT%%;
        root %%TESTDIR%%/html;
        chatvisor_inject on;
        chatvisor_prechat email;

        location /chatvisor/ { chatvisor on; }
        location /plain/ { }
        location /ask/ { chatvisor_prechat name,email; }
        location /must/ { chatvisor_prechat email,name required; }
        location /off/ { chatvisor_prechat off; }
    }
}
EOF
$t->run;

# ---- the directive: the tag carries it ----

sub tag_of {
    my ($path) = @_;
    my $r = $t->get($path);
    my ($tag) = ($r->{content} // '') =~ /(<script[^>]*data-chatvisor[^>]*>)/;
    return $tag // '';
}

like(tag_of('/plain/index.html'), qr/ data-prechat="email"/, 'server level: data-prechat="email" inherited');
unlike(tag_of('/plain/index.html'), qr/data-prechat-required/, '  not required');
like(tag_of('/ask/index.html'), qr/ data-prechat="name,email"/, 'name,email');
unlike(tag_of('/ask/index.html'), qr/data-prechat-required/, '  not required');
my $must = tag_of('/must/index.html');
like($must, qr/ data-prechat="name,email"/, 'email,name required: the fields');
like($must, qr/ data-prechat-required="1"/, '  and required');
unlike(tag_of('/off/index.html'), qr/data-prechat/, 'off: no data-prechat');

for my $bad ('chatvisor_prechat phone;', 'chatvisor_prechat email optional;',
             'chatvisor_prechat off required;', "chatvisor_prechat email;\n        chatvisor_prechat email;") {
    my $n = Chatvisor::Test->new;
    $n->write_config(<<"EOF");
http {
    chatvisor_store %%TESTDIR%%/store;
    server {
        listen 127.0.0.1:%%PORT%%;
        $bad
    }
}
EOF
    my ($st, $out) = $n->test_config;
    (my $one = $bad) =~ s/\s+/ /g;
    isnt($st, 0, "nginx -t refuses \"$one\"") or diag $out;
    like($out, qr/chatvisor_prechat/, '  naming the directive');
}

# ---- the API client, an agent and a webhook receiver ----

my $api = Chatvisor::API->new($t, client => 'crm', secret => $secret);
$api->login;
my $r = $api->call(PUT => 'agents/ann', { name => 'Ann' });
is($r->{status}, 201, 'PUT agents/ann') or diag $r->{content};

my $rx = Chatvisor::Receiver->new->start;
$r = $api->call(POST => 'webhooks', { url => $rx->url('/crm/chat') });
is($r->{status}, 201, 'POST webhooks') or diag $r->{content};
my $wh = $r->{json} || {};
$rx->secrets($wh->{secret});

# ---- visitor requests ----

sub visitor {
    my ($method, $path, $body, %o) = @_;
    my %h = (Accept => 'application/json');
    $h{'Content-Type'} = 'application/json' if defined $body;
    $h{Cookie} = "cv_visitor=$o{cookie}" if defined $o{cookie};
    %h = (%h, %{ $o{headers} || {} });
    my $res = $t->request($method, "/chatvisor/v1/visitor/$path", headers => \%h,
                          defined $body ? (content => ref $body ? $JSON->encode($body) : $body) : ());
    $res->{json} = eval { $JSON->decode($res->{content}) };
    my @sc = grep { defined } (ref $res->{headers}{'set-cookie'} ? @{ $res->{headers}{'set-cookie'} }
                                                                : $res->{headers}{'set-cookie'});
    ($res->{cookie}) = map { /^cv_visitor=([^;]*)/ ? $1 : () } @sc;
    return $res;
}

sub is_error {
    my ($res, $status, $name) = @_;
    is($res->{status}, $status, "$name: $status") or diag $res->{content};
    ok($res->{json} && ref $res->{json}{error} eq 'HASH' && $res->{json}{error}{code}
       && $res->{json}{error}{message}, '  a JSON error with code and message')
        or diag $res->{content};
}

# ---- availability follows presence ----

$r = visitor(GET => 'availability');
is($r->{status}, 200, 'GET availability: 200') or diag $r->{content};
is($r->{content} =~ /"agents_available":false/ ? 1 : 0, 1, '  no agent: agents_available false')
    or diag $r->{content};
like($r->{headers}{'cache-control'} // '', qr/no-store/, '  not cached');

$r = $api->call(PUT => 'agents/ann/status', { status => 'available' });
is($r->{status}, 200, 'REST: ann available') or diag $r->{content};
$r = visitor(GET => 'availability');
is($r->{content} =~ /"agents_available":true/ ? 1 : 0, 1, '  then agents_available true')
    or diag $r->{content};
$r = $api->call(PUT => 'agents/ann/status', { status => 'away' });
$r = visitor(GET => 'availability');
is($r->{content} =~ /"agents_available":false/ ? 1 : 0, 1, '  away: false again')
    or diag $r->{content};
$r = $api->call(PUT => 'agents/ann/status', { status => 'offline' });

$r = visitor(POST => 'availability', {});
is($r->{status}, 405, 'POST availability: 405');

# ---- bad contacts from a new visitor: 400, no customer, no cookie ----

my $before = $api->call(GET => 'conversations?since=0&limit=100')->{json};

my @bad = (
    [ 'no email',               { name => 'Zoe' } ],
    [ 'email null',             { email => undef } ],
    [ 'email a number',         { email => 42 } ],
    [ 'email without @',        { email => 'zoe.example.com' } ],
    [ 'email without a domain', { email => 'zoe@' } ],
    [ 'email without a dot',    { email => 'zoe@localhost' } ],
    [ 'two @',                  { email => 'zoe@@example.com' } ],
    [ 'a blank inside',         { email => 'zoe smith@example.com' } ],
    [ 'a newline',              { email => "zoe\@example.com\n" } ],
    [ 'markup',                 { email => '<zoe@example.com>' } ],
    [ 'a trailing dot',         { email => 'zoe@example.com.' } ],
    [ 'local part over 64',     { email => ('z' x 65) . '@example.com' } ],
    [ 'over 254 bytes',         { email => 'z@' . ('a' x 250) . '.com' } ],
    [ 'an empty name',          { email => 'zoe@example.com', name => '' } ],
    [ 'a name over 128',        { email => 'zoe@example.com', name => 'N' x 129 } ],
    [ 'a name not a string',    { email => 'zoe@example.com', name => ['Zoe'] } ],
    [ 'an unknown field',       { email => 'zoe@example.com', phone => '123' } ],
);
for my $b (@bad) {
    $r = visitor(PUT => 'contact', $b->[1]);
    is_error($r, 400, "PUT contact, $b->[0]");
    ok(!defined $r->{cookie}, '  no cookie: no customer made');
}
is_error(visitor(PUT => 'contact', '{"email": "zoe@example.com"'), 400, 'PUT contact, broken JSON');
is_error(visitor(PUT => 'contact', '["zoe@example.com"]'), 400, 'PUT contact, an array');
is_error(visitor(PUT => 'contact', { email => 'zoe@example.com' },
                 headers => { Origin => 'https://evil.example', 'Sec-Fetch-Site' => 'cross-site' }),
         403, 'PUT contact from another site');
is_error(visitor(POST => 'contact', { email => 'zoe@example.com' }), 405, 'POST contact');

my $after = $api->call(GET => 'conversations?since=0&limit=100')->{json};
is_deeply($after->{items}, $before->{items}, 'the bad contacts made no conversation');

# ---- a new visitor leaves an email before writing ----

$r = visitor(PUT => 'contact', { email => 'zoe@example.com', name => 'Zoë Ünal' });
is($r->{status}, 200, 'PUT contact, a new visitor: 200') or diag $r->{content};
is_deeply($r->{json}, { email => 'zoe@example.com', firstname => 'Zoë Ünal' },
          '  answers what was stored, nothing else');
ok($r->{cookie}, '  and sets the visitor cookie');
my $zoe = $r->{cookie};

my $v = Chatvisor::API::Visitor->new($t);
$v->{cookie} = $zoe;
$r = $v->post('Do you ship to Norway?');
is($r->{status}, 201, 'then the same visitor writes') or diag $r->{content};
my $cus = $v->customer_id;
like($cus // '', qr/^cus_/, "  as customer $cus");

$r = $api->call(GET => "customers/$cus");
is($r->{status}, 200, 'REST GET customers/{id}') or diag $r->{content};
is($r->{json}{email}, 'zoe@example.com', '  email');
is($r->{json}{firstname}, 'Zoë Ünal', '  firstname from the name');
is($r->{json}{lastname}, undef, '  lastname untouched');

$r = $api->call(GET => 'conversations/' . $v->conversation_id);
is($r->{status}, 200, 'REST GET conversations/{id}') or diag $r->{content};
is($r->{json}{customer}{email}, 'zoe@example.com', '  its customer has the email');
is($r->{json}{customer}{customer_id}, $cus, '  the customer');

my @ev = wait_events($rx, sub { count_type('message.created', @_) >= 1 }, 10);
my ($msg) = grep { $_->{json}{type} eq 'message.created' } @ev;
my ($created) = grep { $_->{json}{type} eq 'conversation.created' } @ev;
is($msg && $msg->{json}{data}{customer}{email}, 'zoe@example.com', 'webhook message.created: data.customer.email');
is($msg && $msg->{json}{data}{customer}{firstname}, 'Zoë Ünal', '  data.customer.firstname');
is($created && $created->{json}{data}{customer}{customer_id}, $cus, 'conversation.created: data.customer too');
check_requests(\@ev, name => 'webhooks', secret => $wh->{secret}, secrets => [ $wh->{secret} ]);

# ---- an existing visitor: a bad email changes nothing; a good one does ----

$r = visitor(PUT => 'contact', { email => 'not an email', name => 'Mallory' }, cookie => $zoe);
is_error($r, 400, 'PUT contact, a bad email of a known visitor');
$r = $api->call(GET => "customers/$cus");
is($r->{json}{email}, 'zoe@example.com', '  the email stays');
is($r->{json}{firstname}, 'Zoë Ünal', '  the name stays');

$r = visitor(PUT => 'contact', { email => 'zoe.u@example.org' }, cookie => $zoe);
is($r->{status}, 200, 'PUT contact again, email only: 200') or diag $r->{content};
ok(!defined $r->{cookie}, '  no new cookie');
$r = $api->call(GET => "customers/$cus");
is($r->{json}{email}, 'zoe.u@example.org', '  the new email is stored');
is($r->{json}{firstname}, 'Zoë Ünal', '  the name is kept');

# the integrator's own fields are theirs: a contact keeps id and labels
$r = $api->call(PATCH => "customers/$cus", { id => 'crm-7', labels => ['vip'] });
is($r->{status}, 200, 'REST labels the customer') or diag $r->{content};
$r = visitor(PUT => 'contact', { email => 'zoe@example.com' }, cookie => $zoe);
is_deeply($r->{json}, { email => 'zoe@example.com', firstname => 'Zoë Ünal' },
          "  the visitor's answer shows neither the integrator's id nor labels");
$r = $api->call(GET => "customers/$cus");
is($r->{json}{id}, 'crm-7', '  the id stays');
is_deeply($r->{json}{labels}, ['vip'], '  the labels stay');

# the next event carries the customer as it is now
$r = $v->post('Thanks!');
is($r->{status}, 201, 'the visitor writes again');
@ev = wait_events($rx, sub { count_type('message.created', @_) >= 2 }, 10);
my @msgs = grep { $_->{json}{type} eq 'message.created' } @ev;
is($msgs[-1] && $msgs[-1]{json}{data}{customer}{id}, 'crm-7', 'the next webhook: data.customer with the id');
is($msgs[-1] && $msgs[-1]{json}{data}{customer}{email}, 'zoe@example.com', '  and the email');

# a cookie whose customer is gone: 403, nothing made
my $forged = $zoe;
$forged =~ s/^cus_\w+/cus_aaaaaaaaaaaaaaaaaaaaaaaa/;
$r = visitor(PUT => 'contact', { email => 'x@example.com' }, cookie => $forged);
ok($r->{status} == 200 && $r->{cookie} && index($r->{cookie}, $cus) != 0,
   'a forged cookie is a new visitor, not the customer it names') or diag "$r->{status} $r->{content}";
is($api->call(GET => "customers/$cus")->{json}{email}, 'zoe@example.com', "  Zoe's email stays");

done_testing;
