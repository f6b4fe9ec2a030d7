#!/usr/bin/perl
# Runs the engine's C unit tests (built by `make engine-tests` under
# AddressSanitizer/UBSan) and reports each of their TAP lines as a test.
use strict;
use warnings;
use Test::More;
use FindBin;

my $dir = "$FindBin::Bin/../build/engine";
my @bins = sort glob("$dir/test_*");
ok(@bins > 0, 'engine unit tests are built') or BAIL_OUT('run make engine-tests');

for my $bin (@bins) {
    my $name = ($bin =~ m{([^/]+)$})[0];
    subtest $name => sub {
        my @out = `$bin 2>&1`;
        my $status = $?;
        my $plan;
        for (@out) {
            chomp;
            if (/^(not )?ok \d+ - (.*)$/) {
                ok(!$1, $2);
            } elsif (/^1\.\.(\d+)$/) {
                $plan = $1;
            } elsif (/\S/) {
                diag($_);
            }
        }
        ok(defined $plan, "$name printed its plan");
        is($status, 0, "$name exited 0 (no sanitizer report)");
    };
}

done_testing();
