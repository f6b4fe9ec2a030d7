package Chatvisor::Test;

# Runs the stock nginx with the built module in a fresh temp directory, in
# the spirit of nginx's own nginx-tests.
#
#   use Chatvisor::Test;
#   my $t = Chatvisor::Test->new;
#   $t->write_file('htdocs/index.html', $html);
#   $t->write_config(<<'EOF', UP => $upstream->port);
#   http {
#       server {
#           listen 127.0.0.1:%%PORT%%;
#           location / { root %%TESTDIR%%/htdocs; chatvisor_inject on; }
#           location /p/ { proxy_pass http://127.0.0.1:%%UP%%/; }
#       }
#   }
#   EOF
#   $t->run;                       # dies with the error log if nginx fails
#   my $r = $t->get('/');          # HTTP::Tiny hash
#   my $raw = $t->raw(path => '/', headers => [ Range => 'bytes=0-9' ]);
#   ...
#   done_testing;                  # the error log check runs here
#
# Template placeholders:
#   %%PORT%%, %%PORT_2%%, %%PORT_X%%  a free loopback port per name
#                                    ($t->port, $t->port('2'), $t->port('X'))
#   %%MODULE%%    the module: a copy, taken by new(), of
#                 build/ngx_chatvisor_module.so (env CHATVISOR_MODULE names
#                 another), so a rebuild during a test cannot crash nginx;
#                 when the template names it, the harness does not add its
#                 own load_module
#   %%TESTDIR%%   the temp directory (nginx's prefix)
#   %%NAME%%      any NAME => value passed to write_config
#
# Added to the template without shifting its line numbers (so a test can
# expect "nginx.conf:LINE" with LINE counted in the template, see line_of):
#   on line 1, before the template's own text, each of these the template
#   does not set itself in the main context: load_module, pid, error_log
#   (info; debug with env CHATVISOR_TEST_DEBUG=1), daemon off,
#   worker_processes 1;
#   right after the "{" of the http block, on the same line: every
#   *_temp_path the http block does not set and an access_log in TESTDIR,
#   so nginx runs as root and non-root alike;
#   "events {}" at the end when the template has no events block.
# "Sets" means as nginx reads the config (parse_config): a directive counts
# wherever it stands on its line (after another one, after "http {"), a
# commented-out one does not, and neither does one in another context. The
# same reading finds what run waits for in the written config (whose line
# 1 starts with the added directives): the listen ports, worker_processes
# and master_process (config_facts).
#
# Methods:
#   new                      fresh temp dir; dies when the module is missing
#   write_config(TMPL, K=>V) template and extra placeholders
#   write_file(NAME, BYTES)  a file under the temp dir; read_file(NAME)
#   test_config              `nginx -t`: (exit status, output)
#   run / stop / reload      start and wait for the ports and workers; QUIT
#                            then TERM then KILL; HUP and wait for new workers
#                            (false when nginx kept the old config)
#   kill9                    kill -9 of the master and its workers at once
#                            (a node lost); run starts it again, same store
#   run(daemon => 1)         nginx daemonized ("daemon on"): it takes
#                            SIGWINCH only then, and SIGUSR2 only once its
#                            parent is not the one it started with; not the
#                            test's child (stop waits for it to be gone)
#   upgrade                  a binary upgrade of a daemonized nginx: USR2
#                            (a new master), WINCH (the old workers stop),
#                            QUIT (the old master); pid is the new master's.
#                            undef when done, else what went wrong
#   worker_pids(all => 1)    live workers (all: with old ones shutting down)
#   port(NAME) url(PATH)     ports of the placeholders; http://127.0.0.1:...
#   get head post request    HTTP::Tiny answers (see Chatvisor::HTTP)
#   json(METHOD, PATH, DATA) a JSON request; the answer has {json} decoded
#   raw start_request        byte-exact answers, finished now or later
#   error_log allow_log(RE)  the log; lines the end check must not count
#   testdir conf_file pid    paths, the master's pid
#   Chatvisor::Test::line_of(TEXT, RE)   line number of RE in a template
#   Chatvisor::Test::parse_config(TEXT)  its directives, as nginx reads them
#   Chatvisor::Test::config_facts(TEXT)  what run waits for: ports, workers
#
# Tests end with done_testing (not a fixed plan): the end check adds a test.
# At done_testing every instance that ran nginx is stopped and one more test
# checks that its error.log has no [alert], [crit] or [emerg] line and no
# worker "exited on signal". $t->allow_log(qr/.../) exempts expected lines.
# When the script dies first, nginx is still stopped and those lines (and
# the log's tail) are printed as diagnostics. CHATVISOR_TEST_KEEP=1 keeps
# the temp directory and prints its path. INT, TERM and HUP end the script
# through exit, so cleanup runs; SIGPIPE (output piped into head) is
# ignored; nginx and the fake upstream also get SIGTERM from the kernel if
# the script is killed outright.

use strict;
use warnings;

use Cwd ();
use File::Basename ();
use File::Copy ();
use File::Path ();
use File::Spec ();
use File::Temp ();
use POSIX ();
use Scalar::Util ();
use Test::More ();
use Test2::API ();
use Time::HiRes ();

use Chatvisor::HTTP ();
use Chatvisor::Port ();
use Chatvisor::Proc ();

our $NGINX = $ENV{CHATVISOR_NGINX} || '/usr/sbin/nginx';

my $ROOT = Cwd::abs_path(File::Spec->catdir(File::Basename::dirname(__FILE__),
                                            '..', '..', '..'));

my @INSTANCES;    # weak refs, checked and stopped after the last test

sub repo_root { $ROOT }

sub module_path {
    my $m = $ENV{CHATVISOR_MODULE} || "$ROOT/build/ngx_chatvisor_module.so";
    return Cwd::abs_path($m) // $m;
}

sub new {
    my ($class, %args) = @_;
    my $module = module_path();
    # Never skip: `make test` builds the module first, so a missing .so is a
    # broken build and must fail loudly.
    die "Chatvisor::Test: module $module does not exist (run `make` first)\n"
        unless -f $module;
    die "Chatvisor::Test: $NGINX is not executable\n" unless -x $NGINX;

    my $keep = $ENV{CHATVISOR_TEST_KEEP} ? 1 : 0;
    my $dir = File::Temp::tempdir('chatvisor-test-XXXXXXXX', TMPDIR => 1,
                                  CLEANUP => 0);
    # workers run as nobody when we are root: they must read our files
    chmod 0755, $dir;

    # nginx runs a private copy: `make` rewrites the .so in place, and a
    # running nginx whose mapped module changes under it crashes (SIGBUS)
    File::Path::make_path("$dir/modules", { mode => 0755 });
    my $copy = "$dir/modules/" . File::Basename::basename($module);
    File::Copy::copy($module, $copy) or die "copy $module to $copy: $!\n";
    chmod 0755, $copy;

    my $self = bless {
        dir     => $dir,
        module  => $copy,
        module_source => $module,
        keep    => $keep,
        ports   => {},
        allowed => [],
        owner   => $$,
        ran     => 0,
    }, $class;
    push @INSTANCES, $self;
    Scalar::Util::weaken($INSTANCES[-1]);
    return $self;
}

sub testdir { $_[0]{dir} }
sub conf_file { "$_[0]{dir}/nginx.conf" }
sub error_log_file { "$_[0]{dir}/error.log" }
sub module { $_[0]{module} }           # the copy nginx loads
sub module_source { $_[0]{module_source} }
sub pid { $_[0]{pid} }

# The free port allocated for a placeholder name ('' or none: %%PORT%%).
sub port {
    my ($self, $name) = @_;
    $name //= '';
    return $self->{ports}{$name} //= Chatvisor::Port::free_port();
}

# Writes a file under the test directory (directories created). Bytes are
# written as given.
sub write_file {
    my ($self, $name, $content) = @_;
    my $path = "$self->{dir}/$name";
    File::Path::make_path(File::Basename::dirname($path), { mode => 0755 });
    open my $fh, '>:raw', $path or die "write $path: $!\n";
    print $fh $content;
    close $fh or die "write $path: $!\n";
    chmod 0644, $path;
    return $path;
}

sub read_file {
    my ($self, $name) = @_;
    my $path = $name =~ m{^/} ? $name : "$self->{dir}/$name";
    open my $fh, '<:raw', $path or return undef;
    local $/;
    my $s = <$fh>;
    return $s;
}

# The number of the first template line matching $re (1-based), for tests
# that expect "nginx.conf:LINE" in an error message.
sub line_of {
    my ($text, $re) = @_;
    $re = qr/\Q$re\E/ unless ref $re;
    my @lines = split /\n/, $text, -1;
    for my $i (0 .. $#lines) { return $i + 1 if $lines[$i] =~ $re }
    return undef;
}

sub write_config {
    my ($self, $template, %vars) = @_;
    $self->{template} = $template;
    $self->{vars} = \%vars;
    $self->_write_conf('error.log');
    return $self;
}

sub _expand {
    my ($self, $text) = @_;
    my %v = (%{ $self->{vars} || {} }, MODULE => $self->{module},
             TESTDIR => $self->{dir});
    $text =~ s{%%PORT(?:_(\w+))?%%}{ $self->port($1 // '') }ge;
    $text =~ s{%%(\w+)%%}{
        exists $v{$1} ? $v{$1} : die "unknown placeholder %%$1%% in config\n"
    }ge;
    return $text;
}

sub _write_conf {
    my ($self, $log) = @_;
    die "write_config first\n" unless defined $self->{template};
    my $tmpl = $self->{template};
    my $dir = $self->{dir};
    # what the template sets, wherever on its line a directive stands (the
    # placeholders expanded, so a directive a value brings in counts too)
    my $conf = $self->_expand($tmpl);
    my @dirs = parse_config($conf);
    my %main = map { $_->{name} => 1 } grep { $_->{context} eq '' } @dirs;
    die "the harness runs nginx in the foreground; no `daemon` in templates\n"
        if grep { $_->{name} eq 'daemon' } @dirs;

    my $level = $ENV{CHATVISOR_TEST_DEBUG} ? 'debug' : 'info';
    my @pre;
    push @pre, "load_module $self->{module};" unless $tmpl =~ /%%MODULE%%/;
    push @pre, "pid $dir/nginx.pid;" unless $main{pid};
    push @pre, "error_log $dir/$log $level;" unless $main{error_log};
    push @pre, 'daemon off;';
    # under make test-asan: a new binary (an upgrade) keeps libasan too
    push @pre, "env $_;" for grep { defined $ENV{$_} } qw(LD_PRELOAD ASAN_OPTIONS);
    push @pre, 'worker_processes 1;' unless $main{worker_processes};

    # inside the first http block, right after its "{" (same line)
    my ($http) = grep { $_->{context} eq '' && $_->{name} eq 'http'
                        && $_->{block} } @dirs;
    if ($http) {
        my %set = map { $_->{name} => 1 }
                  grep { $_->{context} eq 'http' } @dirs;
        my $add = join ' ', map({ "${_}_temp_path $dir/${_}_temp;" }
                                grep { !$set{"${_}_temp_path"} }
                                qw(client_body proxy fastcgi uwsgi scgi)),
                            "access_log $dir/access.log;";
        substr($conf, $http->{end}, 0) = " $add";
    }
    $conf = join(' ', @pre) . ' ' . $conf;
    $conf .= "\nevents {}\n" unless $main{events};
    $self->write_file('nginx.conf', $conf);
    return $conf;
}

# The directives of an nginx config text, read the way nginx reads them
# (ngx_conf_read_token): a directive is found wherever it stands on its
# line, "#" starts a comment only at the start of a word, quoted words may
# hold spaces, ";", "{" and "}", and "${var}" stays inside its word. In the
# order they appear, each as a hash:
#   name     the directive
#   args     its arguments, quotes removed
#   context  the enclosing blocks joined by "/": '' (main), 'http',
#            'http/server', 'http/server/location', 'events', ...
#   block    1 when it opens a block
#   end      offset in the text just after its ";" or "{"
# Never dies: a broken config (an unterminated quote, unbalanced braces)
# still gives what can be read of it, and nginx says what is wrong.
# Files named by include are not read.
sub parse_config {
    my ($text) = @_;
    my (@out, @stack, @words);
    pos($text) = 0;
    while (pos($text) < length $text) {
        if ($text =~ /\G\s+/gc || $text =~ /\G#[^\n]*/gc) {
            next;
        } elsif ($text =~ /\G([;{])/gc) {
            my $c = $1;
            if (@words) {
                my $name = shift @words;
                push @out, { name => $name, args => [ @words ],
                             context => join('/', @stack),
                             block => $c eq '{' ? 1 : 0, end => pos($text) };
                push @stack, $name if $c eq '{';
            } elsif ($c eq '{') {
                push @stack, '';
            }
            @words = ();
        } elsif ($text =~ /\G\}/gc) {
            pop @stack;
            @words = ();
        } elsif ($text =~ /\G(["'])((?:(?!\1)[^\\]|\\.)*)\1/gcs) {
            (my $w = $2) =~ s/\\(.)/$1/gs;
            push @words, $w;
        } elsif ($text =~ /\G((?:\$\{[^\s;{}]*\}|[^\s;{}])+)/gc) {
            push @words, $1;
        } else {
            $text =~ /\G./gcs;    # an unterminated quote: nginx reports it
        }
    }
    return @out;
}

# The config as written (after placeholders), for diagnostics.
sub config { $_[0]->read_file('nginx.conf') }

# Runs `nginx -t`; returns (exit status, stdout+stderr) in list context, the
# exit status in scalar context. Its log goes to nginx-t.log, not error.log.
sub test_config {
    my ($self) = @_;
    $self->_write_conf('nginx-t.log');
    my $out = $self->_capture($NGINX, '-t', '-p', "$self->{dir}/", '-c',
                              'nginx.conf', '-e', "$self->{dir}/nginx-t.log");
    my $status = $? >> 8;
    return wantarray ? ($status, $out) : $status;
}

sub _capture {
    my ($self, @cmd) = @_;
    my $pid = open(my $fh, '-|') // die "fork: $!\n";
    if ($pid == 0) {
        open STDERR, '>&', \*STDOUT;
        exec @cmd or POSIX::_exit(127);
    }
    local $/;
    my $out = <$fh> // '';
    close $fh;
    return $out;
}

# Starts nginx and waits until every port it listens on accepts
# connections. Dies (with the error log) when nginx does not come up.
sub run {
    my ($self, %o) = @_;
    die "nginx already running\n" if $self->{pid};
    my $conf = $self->_write_conf('error.log');
    my $dir = $self->{dir};
    my %facts = config_facts($conf);
    my @ports = @{ $facts{ports} };
    return $self->_run_daemon($conf, \%facts, %o) if $o{daemon};
    $self->{daemon} = 0;

    my $pid = fork // die "fork: $!\n";
    if ($pid == 0) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', "$dir/stderr.log";
        open STDERR, '>&', \*STDOUT;
        setpgrp(0, 0);
        # nginx goes when the test goes, even when it is killed
        Chatvisor::Proc::die_with_parent();
        exec $NGINX, '-p', "$dir/", '-c', 'nginx.conf', '-e', "$dir/error.log"
            or POSIX::_exit(127);
    }
    $self->{pid} = $pid;
    $self->{ran} = 1;

    my $alive = sub { waitpid($pid, POSIX::WNOHANG()) == 0 };
    for my $port (@ports) {
        next if Chatvisor::Port::wait_port($port, $o{timeout} // 10, $alive);
        my $exited = !kill(0, $pid) || waitpid($pid, POSIX::WNOHANG()) != 0;
        delete $self->{pid} if $exited;
        $self->stop unless $exited;
        die "nginx did not start (port $port)\n" . $self->_logs_for_diag;
    }
    # the master accepts before its workers are forked; wait for all of
    # them (worker_processes N), not only the first
    my $want = $facts{workers};
    if ($facts{master}
        && !$self->_wait(sub { my @w = $self->worker_pids; @w >= $want },
                         $o{timeout} // 10))
    {
        # the port can answer before a module's init fails the start
        # (the listen sockets are opened first): a master that exited
        # did not start
        if (!kill(0, $pid) || waitpid($pid, POSIX::WNOHANG()) != 0) {
            delete $self->{pid};
            die "nginx exited while starting\n" . $self->_logs_for_diag;
        }
    }
    return $self;
}

# nginx daemonized: the launcher exits once the master forked away, the
# master is found by its pid file
sub _run_daemon {
    my ($self, $conf, $facts, %o) = @_;
    my $dir = $self->{dir};
    (my $text = $conf) =~ s/\bdaemon off;/daemon on; /;
    $self->write_file('nginx.conf', $text);
    unlink "$dir/nginx.pid";
    my $pid = fork // die "fork: $!\n";
    if ($pid == 0) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', "$dir/stderr.log";
        open STDERR, '>&', \*STDOUT;
        exec $NGINX, '-p', "$dir/", '-c', 'nginx.conf', '-e', "$dir/error.log"
            or POSIX::_exit(127);
    }
    waitpid($pid, 0);
    die "nginx did not start: $?\n" . $self->_logs_for_diag if $?;
    $self->{ran} = 1;
    my $timeout = $o{timeout} // 10;
    $self->_wait(sub { defined _read_pid("$dir/nginx.pid") }, $timeout)
        or die "nginx wrote no pid file\n" . $self->_logs_for_diag;
    $self->{pid} = _read_pid("$dir/nginx.pid");
    $self->{daemon} = 1;
    for my $port (@{ $facts->{ports} }) {
        Chatvisor::Port::wait_port($port, $timeout, sub { kill 0, $self->{pid} })
            or die "nginx did not start (port $port)\n" . $self->_logs_for_diag;
    }
    $self->_wait(sub { my @w = $self->worker_pids; @w >= $facts->{workers} },
                 $timeout);
    return $self;
}

sub _read_pid {
    my ($file) = @_;
    open my $fh, '<', $file or return undef;
    my $p = <$fh> // return undef;
    return $p =~ /^(\d+)/ ? $1 : undef;
}

sub upgrade {
    my ($self, %o) = @_;
    my $dir = $self->{dir};
    my $old = $self->{pid} or return 'not running';
    return 'not daemonized (run(daemon => 1))' unless $self->{daemon};
    my $workers = () = $self->worker_pids;
    my $of = sub { local $self->{pid} = $_[0]; $self->worker_pids(all => 1) };
    kill 'USR2', $old or return 'USR2 failed';
    $self->_wait(sub { -e "$dir/nginx.pid.oldbin"
                       && (_read_pid("$dir/nginx.pid") // $old) != $old }, 10)
        or return 'no new master after USR2';
    my $new = _read_pid("$dir/nginx.pid");
    $self->_wait(sub { my @w = $of->($new); @w >= $workers }, 10)
        or return 'the new master started no workers';
    $o{between}->($new) if $o{between};
    kill 'WINCH', $old;
    $self->_wait(sub { !$of->($old) }, 20)
        or return 'old workers still there 20 s after WINCH';
    kill 'QUIT', $old;
    $self->_wait(sub { !kill 0, $old }, 10)
        or return 'the old master did not exit after QUIT';
    $self->{pid} = $new;
    return undef;
}

# What run reads back from a written config (see parse_config):
#   ports    the ports of every listen that 127.0.0.1 reaches (N,
#            127.0.0.1:N, localhost:N, *:N, 0.0.0.0:N), in the order of the
#            config; others ([::1]:N, unix:) are not waited for, the wait
#            for the workers covers them (the master listens before it
#            forks its workers)
#   workers  worker_processes in the main context (1 without it; auto:
#            the online CPUs, as nginx counts them)
#   master   0 with "master_process off" in the main context, else 1
sub config_facts {
    my ($conf) = @_;
    my @dirs = parse_config($conf);
    my @ports;
    for my $d (grep { $_->{name} eq 'listen' } @dirs) {
        my $a = $d->{args}[0] // next;
        push @ports, $1
            if $a =~ /\A(?:(?:127\.0\.0\.1|localhost|\*|0\.0\.0\.0):)?(\d+)\z/;
    }
    my %main = map { $_->{name} => $_->{args} }
               grep { $_->{context} eq '' } @dirs;
    my $workers = ($main{worker_processes} || [])->[0] // 1;
    $workers = _online_cpus() if $workers eq 'auto';
    $workers = 1 unless $workers =~ /\A\d+\z/ && $workers > 0;
    my $master = lc(($main{master_process} || [])->[0] // 'on') eq 'off' ? 0 : 1;
    return (ports => \@ports, workers => 0 + $workers, master => $master);
}

# sysconf(_SC_NPROCESSORS_ONLN), which "worker_processes auto" uses
sub _online_cpus {
    if (open my $fh, '<', '/sys/devices/system/cpu/online') {
        my $n = 0;
        for (split /,/, scalar(<$fh>) // '') {
            $n += /\A\s*(\d+)-(\d+)/ ? $2 - $1 + 1 : /\d/ ? 1 : 0;
        }
        return $n if $n;
    }
    open my $fh, '<', '/proc/cpuinfo' or return 1;
    my $n = grep { /^processor\s*:/ } <$fh>;
    return $n || 1;
}

sub _logs_for_diag {
    my ($self) = @_;
    my $s = '';
    for my $f (qw(stderr.log error.log)) {
        my $c = $self->read_file($f) // next;
        $c = substr($c, -4000) if length $c > 4000;
        $s .= "--- $f:\n$c";
    }
    return $s;
}

sub _wait {
    my ($self, $cond, $timeout) = @_;
    my $deadline = Time::HiRes::time() + $timeout;
    while (Time::HiRes::time() < $deadline) {
        return 1 if $cond->();
        Time::HiRes::sleep(0.02);
    }
    return $cond->() ? 1 : 0;
}

# Pids of the master's worker processes. By default only live workers, not
# old ones "shutting down" after a reload; all => 1 lists those too.
sub worker_pids {
    my ($self, %o) = @_;
    my $master = $self->{pid} or return;
    my @pids;
    opendir my $dh, '/proc' or return;
    for my $p (grep { /^\d+$/ } readdir $dh) {
        open my $fh, '<', "/proc/$p/stat" or next;
        my $stat = <$fh> // next;
        my ($ppid) = $stat =~ /\)\s+\S+\s+(\d+)/ or next;
        next unless $ppid == $master;
        open my $ch, '<', "/proc/$p/cmdline" or next;
        my $cmd = do { local $/; <$ch> } // '';
        next unless $cmd =~ /worker process/;
        next if !$o{all} && $cmd =~ /shutting down/;
        push @pids, $p;
    }
    @pids = sort { $a <=> $b } @pids;
    return @pids;
}

# Reloads (SIGHUP) and waits until new workers replace the old ones.
# Returns true when they did within the timeout (default 10 s); false when
# nginx kept the old configuration (e.g. the new one is invalid).
sub reload {
    my ($self, %o) = @_;
    my $master = $self->{pid} or die "nginx is not running\n";
    $self->_write_conf('error.log') unless $o{keep_config};
    my %old = map { $_ => 1 } $self->worker_pids(all => 1);
    my $want = scalar(keys %old) || 1;
    kill 'HUP', $master;
    return $self->_wait(sub {
        my @new = grep { !$old{$_} } $self->worker_pids;
        return 0 if @new < $want;
        return 1 if $o{no_wait_old};
        # old workers without open connections exit at once
        my @left = grep { $old{$_} && kill 0, $_ } keys %old;
        return !@left || $o{keep_old};
    }, $o{timeout} // 10);
}

# Stops nginx: QUIT (graceful), then TERM, then KILL after timeouts.
# Returns the master's exit status (as in $?), undef when it was not running.
sub stop {
    my ($self, %o) = @_;
    my $pid = delete $self->{pid} or return undef;
    return undef unless $self->{owner} == $$;
    return $self->_stop_daemon($pid, %o) if $self->{daemon};
    my $status;
    for my $sig (qw(QUIT TERM KILL)) {
        kill $sig, $pid;
        my $deadline = Time::HiRes::time() + ($sig eq 'QUIT' ? ($o{timeout} // 10) : 5);
        while (Time::HiRes::time() < $deadline) {
            my $r = waitpid($pid, POSIX::WNOHANG());
            if ($r == $pid || $r < 0) {
                $status = $?;
                last;
            }
            Time::HiRes::sleep(0.02);
        }
        last if defined $status;
        Test::More::diag("nginx master $pid did not exit after SIG$sig")
            unless $sig eq 'KILL';
    }
    # stray workers of a killed master
    kill 'KILL', -$pid;
    return $status;
}

# a daemonized nginx is not our child: gone is all we can know
sub _stop_daemon {
    my ($self, $pid, %o) = @_;
    for my $sig (qw(QUIT TERM KILL)) {
        kill $sig, $pid;
        return 0 if $self->_wait(sub { !kill 0, $pid },
                                 $sig eq 'QUIT' ? ($o{timeout} // 10) : 5);
        Test::More::diag("nginx master $pid did not exit after SIG$sig")
            unless $sig eq 'KILL';
    }
    kill 'KILL', -$pid;
    return undef;
}

# kill -9 of the whole nginx (its process group: master and workers at
# once), reaped. Returns the master's exit status, undef when not running.
sub kill9 {
    my ($self) = @_;
    my $pid = delete $self->{pid} or return undef;
    return undef unless $self->{owner} == $$;
    kill 'KILL', -$pid;
    kill 'KILL', $pid;
    waitpid($pid, 0);
    my $status = $?;
    # workers of the killed group may still be exiting
    $self->_wait(sub { !kill 0, -$pid }, 5);
    return $status;
}

# Lines of error.log the end-of-file check must not count as failures.
sub allow_log {
    my ($self, @re) = @_;
    push @{ $self->{allowed} }, @re;
    return $self;
}

sub error_log { $_[0]->read_file('error.log') // '' }

# error.log lines that fail the end-of-file check.
# With ASan's abort_on_error=0 a worker that hits a memory error prints
# its report on stderr and exits with code 1 (a notice in error.log):
# both count, as do UBSan's runtime errors.
sub bad_log_lines {
    my ($self) = @_;
    my @bad = grep { /\[(?:alert|crit|emerg)\]/ || /exited on signal/
                     || /worker process \d+ exited with code [1-9]/ }
              split /\n/, $self->error_log;
    push @bad, grep { /ERROR: (?:Address|Leak)Sanitizer|runtime error: / }
               split /\n/, $self->read_file('stderr.log') // '';
    for my $re (@{ $self->{allowed} }) { @bad = grep { $_ !~ $re } @bad }
    return @bad;
}

# ---- HTTP helpers, to 127.0.0.1:%%PORT%% unless port => N is given ----

# http://127.0.0.1:PORT/path (PORT: %%PORT%%, or the named one)
sub url {
    my ($self, $path, $name) = @_;
    return 'http://127.0.0.1:' . $self->port($name) . ($path // '/');
}

sub _port_of {
    my ($self, $o) = @_;
    my $p = delete $o->{port};
    return defined $p ? $p : $self->port;
}

sub get {
    my ($self, $path, %o) = @_;
    return Chatvisor::HTTP::http_get($self->_port_of(\%o), $path, %o);
}

sub head {
    my ($self, $path, %o) = @_;
    return Chatvisor::HTTP::http_head($self->_port_of(\%o), $path, %o);
}

sub post {
    my ($self, $path, $body, %o) = @_;
    return Chatvisor::HTTP::http_post($self->_port_of(\%o), $path, $body, %o);
}

sub request {
    my ($self, $method, $path, %o) = @_;
    return Chatvisor::HTTP::http_request($self->_port_of(\%o), $method, $path, %o);
}

# json('POST', '/chatvisor/x', { ... }): HTTP::Tiny hash plus {json}
sub json {
    my ($self, $method, $path, $data, %o) = @_;
    return Chatvisor::HTTP::http_json($self->_port_of(\%o), $method, $path, $data, %o);
}

# raw(method => , path => , version => , headers => [..], body => ) or
# raw("literal request bytes"): a Chatvisor::HTTP::Response.
sub raw {
    my ($self, @args) = @_;
    if (@args == 1) { return Chatvisor::HTTP::raw_request($self->port, @args) }
    my %o = @args;
    return Chatvisor::HTTP::raw_request($self->_port_of(\%o), %o);
}

# Like raw, but returns a Chatvisor::HTTP::Pending to finish later.
sub start_request {
    my ($self, @args) = @_;
    if (@args == 1) { return Chatvisor::HTTP::start_request($self->port, @args) }
    my %o = @args;
    return Chatvisor::HTTP::start_request($self->_port_of(\%o), %o);
}

# ---- end of test file ----

sub _finish {
    my ($self) = @_;
    return if $self->{finished}++ || $self->{owner} != $$;
    my $status = $self->stop;
    if ($self->{ran}) {
        my @bad = $self->bad_log_lines;
        Test::More::ok(!@bad, "error.log of $self->{dir} has no alert, crit,"
                              . " emerg or crashed worker")
            or Test::More::diag(join "\n", @bad);
        Test::More::diag("nginx exited with status $status")
            if defined $status && $status != 0;
    }
    my $ok = Test::More->builder->is_passing;
    if ($self->{keep}) {
        Test::More::diag("CHATVISOR_TEST_KEEP: kept $self->{dir}");
    } else {
        if (!$ok && $self->{ran}) {
            Test::More::diag("error.log tail:\n" . $self->_tail('error.log', 40));
        }
        File::Path::remove_tree($self->{dir});
    }
}

sub _tail {
    my ($self, $file, $n) = @_;
    my @l = split /\n/, $self->read_file($file) // '';
    @l = @l[-$n .. -1] if @l > $n;
    return join "\n", @l;
}

# Without done_testing (the script died): stop nginx, show what the log
# says, clean up.
sub DESTROY {
    my ($self) = @_;
    local ($?, $@);
    return unless $self->{owner} && $self->{owner} == $$;
    return if $self->{finished};
    $self->stop;
    if ($self->{ran}) {
        my @bad = $self->bad_log_lines;
        Test::More::diag("error.log alerts:\n" . join("\n", @bad)) if @bad;
        Test::More::diag("error.log tail:\n" . $self->_tail('error.log', 20));
    }
    if ($self->{keep}) {
        Test::More::diag("CHATVISOR_TEST_KEEP: kept $self->{dir}");
    } else {
        File::Path::remove_tree($self->{dir}) if -d $self->{dir};
    }
}

# Interrupted or killed by a closed pipe: still stop nginx and clean up
# (exit runs END blocks and destructors, a signal's default action does not).
$SIG{PIPE} = 'IGNORE' if !defined $SIG{PIPE} || $SIG{PIPE} eq ''
                         || $SIG{PIPE} eq 'DEFAULT';
for my $sig (qw(INT TERM HUP)) {
    $SIG{$sig} = sub { Test::More::diag("caught SIG$sig"); exit 1 }
        if !defined $SIG{$sig} || $SIG{$sig} eq '' || $SIG{$sig} eq 'DEFAULT';
}

Test2::API::test2_add_callback_testing_done(sub {
    $_->_finish for grep { defined } @INSTANCES;
});

1;
