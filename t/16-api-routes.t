#!/usr/bin/perl

# The REST API's route table (ngx_chatvisor_module/api/ngx_chatvisor_api.c)
# and docs/openapi.json list the same operations: a row the spec does not
# have, or an operation of the spec with no row, fails here. Then every
# operation is asked for, through nginx, with a method its path does not
# have: the 405's Allow header lists exactly the table's methods (GET with
# HEAD), so the table is what answers.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use JSON::PP ();
use Test::More;

use Chatvisor::Test;
use Chatvisor::API;

my $root = Chatvisor::Test::repo_root();

sub slurp {
    my ($f) = @_;
    open my $fh, '<:raw', $f or die "$f: $!\n";
    local $/;
    return <$fh>;
}

# "{ METHODS, ngx_string("PATH")," rows; NGX_CHATVISOR_GET is GET and HEAD
my %methods_of = (NGX_CHATVISOR_GET => [qw(GET HEAD)],
                  map { ("NGX_HTTP_$_" => [$_]) } qw(POST PUT PATCH DELETE));

my $src = slurp("$root/ngx_chatvisor_module/api/ngx_chatvisor_api.c");
my ($table) = $src =~ /ngx_chatvisor_api_routes\[\]\s*=\s*\{(.*?)\n\};/s
    or BAIL_OUT('no ngx_chatvisor_api_routes table in ngx_chatvisor_api.c');

my (%table, %allow);
while ($table =~ /\{\s*([A-Z_|]+)\s*,\s*ngx_string\("([^"]+)"\)/g) {
    my ($m, $path) = ($1, $2);
    (my $norm = "/$path") =~ s/\{[^}]+\}/{}/g;
    for my $flag (split /\|/, $m) {
        my $list = $methods_of{$flag} or BAIL_OUT("unknown method $flag");
        for my $method (@$list) {
            $allow{$norm}{$method} = 1;
            $table{"$method $norm"} = 1 unless $method eq 'HEAD';
        }
    }
}

ok(scalar(keys %table) >= 20, 'the table has the API\'s operations')
    or diag explain \%table;

my $spec = JSON::PP->new->decode(slurp("$root/docs/openapi.json"));
my %spec;
for my $path (keys %{ $spec->{paths} }) {
    (my $norm = $path) =~ s/\{[^}]+\}/{}/g;
    for my $m (keys %{ $spec->{paths}{$path} }) {
        next unless $m =~ /^(get|put|post|patch|delete)$/;
        $spec{uc($m) . " $norm"} = 1;
    }
}

for my $op (sort keys %table) {
    ok($spec{$op}, "route table: $op is in docs/openapi.json");
}
for my $op (sort keys %spec) {
    ok($table{$op}, "docs/openapi.json: $op is in the route table");
}

# ---- through nginx: the 405s come from the table ----

my $t = Chatvisor::Test->new;
my $secret = join '', map { ('a' .. 'z')[rand 26] } 1 .. 40;
$t->write_file('crm.secret', $secret);
$t->write_config(<<'EOF');
http {
    chatvisor_store %%TESTDIR%%/store sync=off;
    chatvisor_api_client crm %%TESTDIR%%/crm.secret;
    server {
        listen 127.0.0.1:%%PORT%%;
        location /chatvisor/ { chatvisor on; }
    }
}
EOF
$t->run;

my $api = Chatvisor::API->new($t, client => 'crm', secret => $secret);
$api->login;

for my $norm (sort keys %allow) {
    my %m = %{ $allow{$norm} };
    my ($wrong) = grep { !$m{$_} } qw(DELETE PATCH POST PUT GET);
    next unless $wrong;
    (my $path = $norm) =~ s{^/}{};
    # each {} takes an id of its kind (one that cannot be one is a 404)
    my %id = (customers => 'cus_nobody', webhooks => 'wh_nobody',
              deliveries => 'dlv_nobody');
    $path =~ s{([^/]+)/\{\}}{"$1/" . ($id{$1} // 'someone')}ge;
    my $r = $api->call($wrong, $path, undef, request_check => 0,
                       spec_check => 0,
                       $wrong =~ /^(?:POST|PUT|PATCH)$/ ? (body => '{}') : ());
    is($r->{status}, 405, "$wrong /$path: 405");
    my $want = join ', ', grep { $m{$_} } qw(GET HEAD POST PUT PATCH DELETE);
    is($r->{headers}{allow}, $want, "  Allow: $want");
}

done_testing;
