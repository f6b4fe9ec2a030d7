#!/usr/bin/perl

# Cluster mode over TLS (docs/cluster.md, "TLS"): a nats-server with a
# certificate from a test CA, a node with `chatvisor_cluster ... tls=on`.
# libnats checks the server's certificate against OpenSSL's trusted CAs:
# without the test CA among them the node never connects and answers
# writes 503; with it (nginx's `env SSL_CERT_FILE=`) it writes.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(time sleep);

use Chatvisor::Cluster;
use Chatvisor::API;

Chatvisor::Cluster::skip_unless_nats();
plan(skip_all => 'no openssl command') if system('openssl version >/dev/null 2>&1');

my $c = Chatvisor::Cluster->new(servers => 1);
$c->skip_unless_core;

# a CA and a server certificate for 127.0.0.1
my $d = $c->dir;
sub ossl {
    my $out = `openssl @_ 2>&1`;
    die "openssl @_: $out" if $?;
}
ossl("req -x509 -newkey rsa:2048 -nodes -keyout $d/ca.key -out $d/ca.crt"
     . " -days 2 -subj '/CN=chatvisor test CA'");
ossl("req -newkey rsa:2048 -nodes -keyout $d/srv.key -out $d/srv.csr"
     . " -subj '/CN=127.0.0.1'");
open my $fh, '>', "$d/ext" or die;
print $fh "subjectAltName=IP:127.0.0.1\n";
close $fh;
ossl("x509 -req -in $d/srv.csr -CA $d/ca.crt -CAkey $d/ca.key -CAcreateserial"
     . " -out $d/srv.crt -days 2 -extfile $d/ext");
chmod 0644, "$d/ca.crt";

$c->{extra} = <<"EOF";
tls {
    cert_file: "$d/srv.crt"
    key_file: "$d/srv.key"
}
EOF
$c->start;

sub node_with {
    my ($main) = @_;
    (my $tmpl = Chatvisor::Cluster::node_template())
        =~ s/^worker_processes 2;/$main worker_processes 1;/m or die;
    my $t = $c->node(template => $tmpl, args => 'replicas=1 tls=on');
    $t->run;
    return $t;
}

# a visitor's message on T, tried for up to S seconds: the last answer
sub post_for {
    my ($t, $s) = @_;
    my $v = Chatvisor::API::Visitor->new($t, port => $t->port);
    my $deadline = time + $s;
    while (1) {
        my $r = $v->post('over TLS?');
        return $r if $r->{status} == 201 || time > $deadline;
        sleep 0.3;
    }
}

{
    my $t = node_with('');
    my $r = post_for($t, 8);
    is($r->{status}, 503, 'a server certificate from an unknown CA: writes 503');
    like($r->{content}, qr/"error"/, 'with a JSON error');
    $t->stop;
}

{
    my $t = node_with("env SSL_CERT_FILE=$d/ca.crt;");
    my $r = post_for($t, 30);
    is($r->{status}, 201, 'the CA trusted (env SSL_CERT_FILE): writes go through')
        or diag("$r->{status} $r->{content}");
    my $v = $c->monitor(0, 'connz');
    ok(($v->{num_connections} // 0) >= 1, 'the node is connected to the server')
        or diag(explain $v);
}

done_testing;
