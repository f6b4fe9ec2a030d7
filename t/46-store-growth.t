#!/usr/bin/perl

# A store that grows (docs/directives.md chatvisor_store size=): two
# workers, chatvisor_store size=6m. The map starts at 1 MB and grows in
# steps (2, 4, 6 MB: the error log says each) as visitors write messages of
# 4,000 characters through both workers, whichever grew it (the other
# adopts the new size). No write fails but with 507 (store_full, a JSON
# error), and only at the maximum; a warning says the store holds 80% of
# its maximum. Every acknowledged message is there, after a restart too;
# with a larger size= the writes go on. chatvisorctl stats shows the
# usage and the counts.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(sleep);

use Chatvisor::Test;
use Chatvisor::Chat qw(ctl);

my $MB = 1024 * 1024;

my $t = Chatvisor::Test->new;
my $config = <<'EOF';
worker_processes 2;
http {
    chatvisor_store %%TESTDIR%%/store size=%%SIZE%%;
    # one visitor writes everything: the abuse limits stay out of the way
    chatvisor_limit_messages off;
    chatvisor_limit_new_visitors off;
    server {
        listen 127.0.0.1:%%PORT%%;
        location /chatvisor/ { chatvisor on; }
    }
}
EOF
$t->write_config($config, SIZE => '6m');
$t->run;
my $store = $t->testdir . '/store';

my $text = join ' ', map { "word$_" } 1 .. 570;    # ~4,000 characters
$text = substr($text, 0, 4000);

my (%status, @visitors, %sent, $first_full);
for my $i (1 .. 3000) {
    # a new visitor now and then: new customers and conversations too
    push @visitors, Chatvisor::Chat::Visitor->new($t) if $i % 200 == 1;
    my $v = $visitors[-1];
    my $r = $v->post("$i $text", client_msg_id => "g-$i");
    $status{$r->{status}}++;
    if ($r->{status} == 201) {
        $sent{$v}++;
    } elsif ($r->{status} == 507) {
        $first_full //= $i;
        is($r->{json}{error}{code}, 'store_full', '507: store_full') if $status{507} == 1;
        last if $status{507} >= 5;
    } else {
        diag("message $i: $r->{status} $r->{content}");
        last;
    }
}

my $ok = $status{201} // 0;
ok($ok > 300, "$ok messages of 4,000 characters fit into 6 MB");
is($status{507}, 5, 'then 507, and nothing else failed')
    or diag(explain \%status);
is(join(',', grep { $_ != 201 && $_ != 507 } keys %status), '', 'no other status');

# each worker says so when its map grows (the one that grew it, and the
# other when it adopts it)
my @seen = $t->error_log =~ /the store's map is (\d+)M now \(at most 6M/g;
my %first;
my @steps = grep { !$first{$_}++ } @seen;
is_deeply(\@steps, [ 2, 4, 6 ], 'the map grew in steps: 2, 4, 6 MB')
    or diag("@seen");
is(join(',', sort { $a <=> $b } @seen), join(',', @seen), '... never back');
like($t->error_log, qr/\[notice\].*the store's map is 2M now \(at most 6M, \d+M used\)/,
     'each step is a notice');

# the usage is looked at once a second at most: one more write after that
sleep 1.2;
is($visitors[-1]->post("one more $text")->{status}, 507, 'at the maximum: still 507');
like($t->error_log, qr/\[warn\].*the store holds \dM of its maximum 6M \((8\d|9\d|100)%\)/,
     'a warning at 80% of the maximum');

my $stats = ctl('stats', '--store', $store);
my ($used) = $stats =~ /^used: (\d+) bytes/m;
my ($map) = $stats =~ /^map: (\d+) bytes/m;
cmp_ok($used, '>', 5 * $MB, 'stats: more than 5 MB used');
is($map, 6 * $MB, 'stats: a map of 6 MB');
like($stats, qr/^customers: \d+$/m, 'stats: customers');
like($stats, qr/^log_entries: \d+$/m, 'stats: log entries');

# every acknowledged message is there
sub count_all {
    my $n = 0;
    for my $v (@visitors) {
        my ($ev) = $v->history;
        $n += grep { $_->{type} eq 'message' } @$ev;
    }
    return $n;
}
is(count_all(), $ok, "all $ok acknowledged messages are stored");

# a restart with a larger maximum: the map goes on from where it was
$t->stop;
$t->write_config($config, SIZE => '12m');
$t->run;
is(count_all(), $ok, 'after a restart with size=12m, too');
my $more = 0;
for my $i (1 .. 100) {
    my $r = $visitors[-1]->post("after $i $text");
    last unless $r->{status} == 201;
    $more++;
}
is($more, 100, 'and 100 more fit');
like($t->error_log, qr/the store's map is (8|12)M now \(at most 12M/,
     'the map grew on from 6 MB');

done_testing;
