#!/usr/bin/perl

# The visitor's writes over HTTP/2 (most sites serve their pages, and so
# the widget's requests, over HTTP/2): a chat message, the co-browsing
# answer and the recorder's chunks, small and larger than HTTP/2's
# initial flow-control window (64 KB, so the body comes in several
# windows), up to the 8 MB bound and past it (413 too_large). The agent's
# view (HTTP/1.1) gets each chunk byte for byte. curl speaks HTTP/2 with
# prior knowledge to a cleartext `listen ... http2` port.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use File::Temp ();
use Test::More;

use Chatvisor::Test;
use Chatvisor::Chat;
use Chatvisor::Cobrowse qw(:all);

# libasan is preloaded for nginx under make test-asan, not for curl (it
# hangs with it)
sub curl {
    my ($args) = @_;
    local $ENV{LD_PRELOAD};
    delete $ENV{LD_PRELOAD};
    return `curl $args`;
}

plan skip_all => 'curl without HTTP/2'
    unless (curl('--version 2>/dev/null') // '') =~ /\bHTTP2\b/;

my $MB = 1024 * 1024;

my $t = Chatvisor::Test->new;
$t->write_config(<<'EOF');
worker_processes 2;
http {
    chatvisor_store %%TESTDIR%%/store size=64m sync=off;
    chatvisor_limit_new_visitors off;
    chatvisor_limit_messages off;
    server {
        listen 127.0.0.1:%%PORT%%;
        listen 127.0.0.1:%%PORT_H2%% http2;
        chatvisor_cobrowse on;
        location /chatvisor/ { chatvisor on; chatvisor_poll_timeout 2s; }
    }
}
EOF
$t->run;

my $store = $t->testdir . '/store';
my $ann = Chatvisor::Chat::Agent->login($t, $store, 'ann', name => 'Ann');
my ($v, $conv) = conversation($t, 'over HTTP/1.1 first');

# POST PATH (under /chatvisor/) over HTTP/2 as the visitor: {status, json,
# content, version}
sub h2_post {
    my ($path, $body) = @_;
    my $tmp = File::Temp->new;
    binmode $tmp;
    print $tmp $body;
    close $tmp;
    my $url = 'http://127.0.0.1:' . $t->port('H2') . "/chatvisor/$path";
    my $cookie = $v->headers->{Cookie} // '';
    my $out = curl("-s --max-time 30 --http2-prior-knowledge -D - -X POST"
                   . " -H 'Content-Type: application/json'"
                   . " -H 'Accept: application/json' -H 'Cookie: $cookie'"
                   . " --data-binary \@$tmp '$url'");
    my ($head, $content) = split /\r\n\r\n/, $out // '', 2;
    my ($version, $status) = ($head // '') =~ m{^HTTP/(\S+) (\d+)};
    my $json = eval { Chatvisor::Chat::decode_json($content) };
    return { status => $status // 0, version => $version // '',
             content => $content // '', json => $json };
}

$v->headers->{Cookie} or BAIL_OUT('the visitor has no cookie');
{
    my $r = h2_post('v1/visitor/messages', '{"text":"over HTTP/2"}');
    is($r->{version}, '2', 'curl speaks HTTP/2');
    is($r->{status}, 201, 'a visitor message over HTTP/2: 201') or diag $r->{content};
    is($r->{json} && $r->{json}{conversation_id}, $conv, 'in the same conversation');
    my $e = $v->events(after => 0, wait => 0);
    ok((grep { ($_->{type} // '') eq 'message'
               && ($_->{message}{text} // '') eq 'over HTTP/2' }
        @{ $e->{json}{events} || [] }),
       'and stored');
}

# the agent's view as bytes (HTTP/1.1)
sub raw_view {
    my ($after) = @_;
    return $t->request(GET => "/chatvisor/v1/agent/conversations/$conv/cobrowse"
                              . "/events?after=$after&wait=0",
                       headers => $ann->headers, timeout => 30);
}


{
    my $r = cb_start($ann, $conv);
    is($r->{status}, 201, 'the agent asks (HTTP/1.1)');
    $r = h2_post('v1/visitor/cobrowse', '{"decision":"allow"}');
    is($r->{status}, 200, 'allow over HTTP/2: 200') or diag $r->{content};
    is($r->{json} && $r->{json}{state}, 'active', 'active');

    my $cursor = 0;
    for my $case ([ 'small', 200 ], [ 'three windows', 200 * 1024 ],
                  [ 'two megabytes', 2 * $MB ], [ 'exactly 8 MB', 8 * $MB ]) {
        my ($name, $size) = @$case;
        my $fill = substr($name, 0, 1);
        my $snap = snapshot_of($size, $fill);
        $r = h2_post('v1/visitor/cobrowse/events?recorder=h2&full=1', $snap);
        is($r->{status}, 204, "a full snapshot over HTTP/2 ($name, $size bytes): 204")
            or diag substr($r->{content}, 0, 300);
        my $res = raw_view(0);
        is($res->{status}, 200, "the view ($name): 200");
        ok(index($res->{content}, substr($snap, 1, -1)) > 0,
           "the view has it byte for byte ($name)");
        ($cursor) = $res->{content} =~ /"cursor":(\d+)\}\s*\z/;
    }

    $r = h2_post('v1/visitor/cobrowse/events?recorder=h2',
                 incremental(n => 5, mark => 'after the big ones'));
    is($r->{status}, 204, 'incremental events over HTTP/2: 204');
    my $res = raw_view($cursor // 0);
    like($res->{content}, qr/after the big ones 5/, 'the view has them');

    # one byte over: nginx answers 413 before the body is read and then
    # resets the stream (RST_STREAM NO_ERROR, as for client_max_body_size:
    # stock nginx does the same); curl 7.88 sometimes drops the answer
    # then (exit 18), browsers keep it. What must hold: never taken, and
    # the session ends as too_large (t/100 checks the JSON over HTTP/1.1).
    $r = h2_post('v1/visitor/cobrowse/events?recorder=h2&full=1',
                 snapshot_of(8 * $MB + 1, 'o'));
    ok($r->{status} == 413 || $r->{status} == 0,
       "one byte over 8 MB over HTTP/2: not taken ($r->{status})");
    is(cb_state($v)->{json}{reason}, 'too_large', 'the session ended: too_large');
}

done_testing;
