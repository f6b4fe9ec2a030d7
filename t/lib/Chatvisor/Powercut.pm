package Chatvisor::Powercut;

# t/lib/powercut.c for a test: what a disk would hold after a power cut,
# and when the store's data file was last synced.
#
#   plan skip_all => '...' unless Chatvisor::Powercut::have_cc();
#   my $disk = Chatvisor::Powercut::setup($t, "$dir/store/data.mdb");
#   $t->run;      # nginx preloaded with the shim
#   ... "$disk/durable.img" (the image), last_sync($disk) (its time)
#
# setup() builds the shim into the test's directory, makes DIR/disk where
# nginx's workers (nobody when we are root) write too, and sets
# LD_PRELOAD (after ASan's runtime, which must stay first), POWERCUT_FILE
# and POWERCUT_DIR for the nginx that $t->run starts.

use strict;
use warnings;

use FindBin;
use Test::More ();

sub have_cc {
    return scalar grep { -x "$_/cc" } split /:/, $ENV{PATH} // '';
}

sub setup {
    my ($t, $file) = @_;
    my $dir  = $t->testdir;
    my $disk = "$dir/disk";

    system('cc', '-O2', '-Wall', '-Wextra', '-Werror', '-shared', '-fPIC',
           '-o', "$dir/powercut.so", "$FindBin::Bin/lib/powercut.c", '-ldl') == 0
        or Test::More::BAIL_OUT('cannot build t/lib/powercut.c');

    mkdir $disk or die "$disk: $!";
    for my $f ("$disk/lock", "$disk/durable.at") {
        open my $fh, '>', $f or die "$f: $!";
        close $fh;
        chmod 0666, $f;
    }
    chmod 0777, $disk;

    $ENV{LD_PRELOAD} = join ' ', grep { defined && length } $ENV{LD_PRELOAD},
                                                           "$dir/powercut.so";
    $ENV{POWERCUT_FILE} = $file;
    $ENV{POWERCUT_DIR}  = $disk;

    return $disk;
}

# when the last completed fdatasync of the file began (the shim's clock),
# 0 before any
sub last_sync {
    my ($disk) = @_;
    open my $fh, '<', "$disk/durable.at" or die "durable.at: $!";
    my $at = <$fh> // '';
    chomp $at;
    return $at eq '' ? 0 : $at;
}

1;
