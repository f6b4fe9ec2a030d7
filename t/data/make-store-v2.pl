#!/usr/bin/perl

# Makes t/data/store-v2/ (used by t/43-store-indexes.t): a store written by
# a module of store schema version 2, i.e. from before the indexes (run
# with CHATVISOR_MODULE naming such a build, e.g. the baseline one):
#
#   CHATVISOR_MODULE=/work/baseline/ngx_chatvisor_module.so \
#       perl t/data/make-store-v2.pl
#
# What it holds (t/data/store-v2/fixture.json names the ids):
#   agents ann (max_concurrent 2) and bob
#   long   ann's, open: the first message and 40 more (41 visitor events
#          and an agent_joined: 42 events)
#   later  ann's, open
#   done   ann's, closed
#   bobs   bob's, open
#   free   nobody's, open
# and the visitor cookie of long, whose signature the store's secret makes.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";

use File::Copy qw(copy);
use File::Path qw(make_path remove_tree);
use JSON::PP ();
use Test::More;

use Chatvisor::Test;
use Chatvisor::API;
use Chatvisor::Chat ();

die "CHATVISOR_MODULE must name a module of store schema version 2\n"
    unless $ENV{CHATVISOR_MODULE};

my $t = Chatvisor::Test->new;
my $secret = 'fixture-secret-0123456789abcdef0123456789';
$t->write_file('crm.secret', "$secret\n");
$t->write_config(<<'EOF2');
http {
    chatvisor_store %%TESTDIR%%/store size=16m;
    chatvisor_api_client crm %%TESTDIR%%/crm.secret;
    server {
        listen 127.0.0.1:%%PORT%%;
        location /chatvisor/ { chatvisor on; }
    }
}
EOF2
$t->run;

my $api = Chatvisor::API->new($t, client => 'crm', secret => $secret,
                              quiet => 1);
$api->login;
$api->call(PUT => 'agents/ann', { name => 'Ann', max_concurrent => 2 },
           spec_check => 0);
$api->call(PUT => 'agents/bob', { name => 'Bob' }, spec_check => 0);

my %conv;
my %visitor;
for my $name (qw(long later done bobs free)) {
    my $v = Chatvisor::Chat::Visitor->new($t);
    my $r = $v->post("first of $name");
    die "post: $r->{status} $r->{content}\n" unless $r->{status} == 201;
    $conv{$name} = $r->{json}{conversation_id} // $r->{json}{message}{conversation_id};
    $visitor{$name} = $v;
}
for my $i (1 .. 40) {
    my $r = $visitor{long}->post("long message $i");
    die "post: $r->{status}\n" unless $r->{status} == 201;
}
for my $name (qw(long later done)) {
    $api->call(POST => "conversations/$conv{$name}/assign",
               { agent_id => 'ann' }, spec_check => 0);
}
$api->call(POST => "conversations/$conv{bobs}/assign", { agent_id => 'bob' },
           spec_check => 0);
$api->call(POST => "conversations/$conv{done}/close", {}, spec_check => 0);

$t->stop;

my $out = "$FindBin::Bin/store-v2";
remove_tree($out);
make_path($out);
system('mdb_copy', '-c', $t->testdir . '/store', $out) == 0
    or die "mdb_copy failed\n";
unlink "$out/lock.mdb";

open my $fh, '>', "$out/fixture.json" or die "$out/fixture.json: $!";
print $fh JSON::PP->new->canonical->pretty->encode({
    conversations => \%conv,
    long_cookie   => $visitor{long}->cookie,
    api_secret    => $secret,
});
close $fh;

ok(-s "$out/data.mdb", "t/data/store-v2 written");
done_testing;
