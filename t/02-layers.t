#!/usr/bin/perl

# The module's layers (docs/architecture.md), bottom up:
#
#   engine/                     plain C: no nginx header at all
#   ngx_chatvisor_conf.h        the configuration, under every layer
#   runtime/  http/             each uses only the layers below it
#   edge/  chat/  cobrowse/  api/  webhooks/   features: http and below,
#                               not each other
#   ngx_chatvisor_module.c, ngx_chatvisor_handler.c   the wiring, on top
#
# A file may include the public header of its own layer or of one below
# (ngx_chatvisor_LAYER.h); any other header in a layer's folder is that
# layer's own. This reads every #include and holds each file to that.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use File::Basename ();
use Test::More;

use Chatvisor::Test;

my $root = Chatvisor::Test::repo_root();
my $mod = "$root/ngx_chatvisor_module";

my %rank = (conf => 0, runtime => 1, http => 2, edge => 3, chat => 3,
            cobrowse => 3, api => 3, webhooks => 3, top => 4);

# which layer a module header belongs to, and whether it is its public one
my %header;
for my $h (glob("$mod/*.h"), glob("$mod/*/*.h")) {
    my $name = File::Basename::basename($h);
    my $dir = File::Basename::basename(File::Basename::dirname($h));
    my $layer = $dir eq 'ngx_chatvisor_module' ? 'conf' : $dir;
    die "unknown layer folder $dir\n" unless exists $rank{$layer};
    $header{$name} = { layer => $layer,
                       public => ($layer eq 'conf'
                                  || $name eq "ngx_chatvisor_$layer.h") };
}

sub includes {
    my ($file) = @_;
    open my $fh, '<', $file or die "$file: $!\n";
    return map { /^\s*#\s*include\s+"([^"]+)"/ ? $1 : () } <$fh>;
}

my @files = (glob("$mod/*.[ch]"), glob("$mod/*/*.[ch]"));
ok(@files > 30, 'the module\'s files are found') or diag "@files";

for my $file (@files) {
    my $rel = substr $file, length("$root/");
    my $dir = File::Basename::basename(File::Basename::dirname($file));
    my $layer = $dir eq 'ngx_chatvisor_module'
                ? ($file =~ /\.h$/ ? 'conf' : 'top') : $dir;

    my @wrong;
    for my $inc (includes($file)) {
        next if $inc =~ /^cv_\w+\.h$/;             # the engine
        # generated from www/shared/defaults.json, read with the config
        next if $inc eq 'ngx_chatvisor_defaults.h' && $layer eq 'conf';
        my $h = $header{$inc};
        if (!$h) {
            push @wrong, "$inc (unknown)";
            next;
        }
        my $own = $h->{layer} eq $layer;
        next if $own;
        push @wrong, "$inc (not a layer's public header)" unless $h->{public};
        push @wrong, "$inc (layer $h->{layer} is not below $layer)"
            if $h->{public} && $rank{$h->{layer}} >= $rank{$layer};
    }
    ok(!@wrong, "$rel uses only the layers below it")
        or diag join "\n", @wrong;
}

# the engine stays plain C: no nginx header, no module header
for my $file (glob("$root/engine/*.[ch]"), glob("$root/engine/t/*.[ch]")) {
    my $rel = substr $file, length("$root/");
    my @ngx = grep { /^ngx_/ } includes($file);
    open my $fh, '<', $file or die "$file: $!\n";
    my @sys = grep { /^\s*#\s*include\s+<ngx_/ } <$fh>;
    ok(!@ngx && !@sys, "$rel has no nginx in it") or diag "@ngx @sys";
}

done_testing;
