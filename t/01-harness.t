#!/usr/bin/perl

# The test harness itself (t/lib/Chatvisor/Test.pm), against the real nginx
# with the module: run returns only once every worker of
# "worker_processes N" is up, wherever the directive stands (the harness
# puts its own directives in front of the template's line 1, so
# worker_processes 4 on line 1 is no longer at the start of a line); listen
# ports and master_process off are found the same way; the template's line
# numbers are those nginx reports; placeholders; the directives the harness
# adds are not added again when the template sets them.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Chatvisor::Test;

my $LOCATION = 'location / { return 200 "ok\n"; }';

# ---- reading a config as nginx does ----

{
    my @d = Chatvisor::Test::parse_config(<<'EOF');
load_module /m.so; worker_processes 4;   # worker_processes 8;
events { worker_connections 64; } http { server { listen 127.0.0.1:81;
    location / { return 200 "a;b {c} # d"; set $x "${uri}x"; } }
# master_process off;
}
EOF
    is_deeply([ map { "$_->{context}:$_->{name}" } @d ],
              [ ':load_module', ':worker_processes', ':events',
                'events:worker_connections', ':http', 'http:server',
                'http/server:listen', 'http/server:location',
                'http/server/location:return', 'http/server/location:set' ],
              'parse_config: every directive with its context, several on '
              . 'a line, none from comments');
    my ($ret) = grep { $_->{name} eq 'return' } @d;
    is_deeply($ret->{args}, [ '200', 'a;b {c} # d' ],
              'parse_config: a quoted argument keeps ; { } and #');
    my ($set) = grep { $_->{name} eq 'set' } @d;
    is_deeply($set->{args}, [ '$x', '${uri}x' ], 'parse_config: ${var} in a word');

    my %f = Chatvisor::Test::config_facts(
        "load_module /m.so; pid /p; daemon off; worker_processes 4;\n"
        . "http { server { listen 8081; listen localhost:8082 ssl; }\n"
        . "  server { listen [::1]:8083; listen unix:/s; } }\n");
    is($f{workers}, 4, 'config_facts: worker_processes after other directives on line 1');
    is_deeply($f{ports}, [ 8081, 8082 ], 'config_facts: listen after "server {" on its line');
    is($f{master}, 1, 'config_facts: master process by default');
    %f = Chatvisor::Test::config_facts("# worker_processes 4;\nhttp { }\n");
    is($f{workers}, 1, 'config_facts: a commented-out worker_processes does not count');
    %f = Chatvisor::Test::config_facts("daemon off; master_process off;\n");
    is($f{master}, 0, 'config_facts: master_process off after another directive');
}

# every instance lives until done_testing, which checks its error.log
my @keep;
sub instance { push @keep, Chatvisor::Test->new; return $keep[-1] }

# ---- run waits for every worker ----

# the template starts with worker_processes 4: on the written line 1 it
# follows the directives the harness adds
my $FOUR = <<"EOF";
worker_processes 4;
http {
    chatvisor_store %%TESTDIR%%/store size=64m;
    server {
        listen 127.0.0.1:%%PORT%%;
        $LOCATION
    }
}
EOF

{
    my $t = instance();
    $t->write_config($FOUR);
    unlike($t->config, qr/^\s*worker_processes/m,
           'worker_processes 4 is no longer at the start of a written line');
    my %f = Chatvisor::Test::config_facts($t->config);
    is($f{workers}, 4, 'the written config reads back as 4 workers');
    is_deeply($f{ports}, [ $t->port ], 'and its port');

    # workers that come up one at a time (here: simulated, one more seen
    # every third look, as a slow start under load or ASan does it): run
    # must not return before it has seen all four
    my $orig = \&Chatvisor::Test::worker_pids;
    my ($looks, $seen) = (0, 0);
    {
        no warnings 'redefine';
        local *Chatvisor::Test::worker_pids = sub {
            my @p = $orig->(@_);
            my $n = 1 + int($looks++ / 3);
            @p = @p[0 .. $n - 1] if @p > $n;
            $seen = @p;
            return @p;
        };
        $t->run;
    }
    is($seen, 4, 'workers that appear one by one: run returns once it has seen all 4');
    ok($looks >= 10, "  after looking until the fourth appeared ($looks looks)");
    is(scalar(my @w = $t->worker_pids), 4, '  and 4 are up');
    $t->stop;
}

# the real thing, several starts
for my $round (1 .. 3) {
    my $t = instance();
    $t->write_config($FOUR);
    $t->run;
    is(scalar(my @w = $t->worker_pids), 4,
       "round $round: 4 workers as soon as run returns");
    is($t->get('/')->{content}, "ok\n", "round $round: it answers");
    $t->stop;
}

# everything on one line: worker_processes, events, http, server, listen
{
    my $t = instance();
    $t->write_config("events { } worker_processes 3; http { server { "
                     . "listen 127.0.0.1:%%PORT%%; $LOCATION } }\n");
    $t->run;
    is(scalar(my @w = $t->worker_pids), 3,
       'one-line template: 3 workers as soon as run returns');
    is($t->get('/')->{content}, "ok\n", 'one-line template: its port answers');
    my $conf = $t->config;
    is(scalar(() = $conf =~ /\bevents\b/g), 1, 'one-line template: its events block is not added again');
    is(scalar(() = $conf =~ /\bworker_processes\b/g), 1,
       'one-line template: worker_processes is not added again');
}

# master_process off: no workers to wait for, the port is
{
    my $t = instance();
    $t->write_config("master_process off;\nhttp { server { listen 127.0.0.1:%%PORT%%; $LOCATION } }\n");
    $t->run;
    is(scalar(my @w = $t->worker_pids), 0, 'master_process off: run returns, no workers');
    is($t->get('/')->{content}, "ok\n", 'master_process off: it answers');
}

# ---- line numbers: errors point at the template's own lines ----

{
    my $t = instance();
    my $conf = $t->conf_file;
    my $check = sub {
        my ($name, $tmpl, $re) = @_;
        $t->write_config($tmpl);
        my ($st, $out) = $t->test_config;
        my $line = Chatvisor::Test::line_of($tmpl, $re);
        isnt($st, 0, "$name: nginx -t fails");
        like($out, qr/ in \Q$conf\E:$line\b/, "$name: the error is on template line $line")
            or diag $out;
    };
    $check->('unknown directive on line 1', "no_such_directive 1;\nhttp { }\n",
             'no_such_directive');
    $check->('unknown directive after worker_processes on line 1',
             "worker_processes 2; no_such_directive 1;\nhttp { }\n", 'no_such_directive');
    $check->('unknown directive on the "http {" line',
             "worker_processes 2;\n\nhttp { no_such_directive 1;\n}\n", 'no_such_directive');
    $check->('unknown directive on line 6',
             "worker_processes 2;\nhttp {\n    server {\n        listen 127.0.0.1:%%PORT%%;\n"
             . "    }\n    no_such_directive 1;\n}\n", 'no_such_directive');
    $check->('a bad chatvisor_widget_color',
             "http {\n    server {\n        listen 127.0.0.1:%%PORT%%;\n"
             . "        chatvisor_widget_color blue;\n    }\n}\n", 'chatvisor_widget_color');
}

# ---- placeholders ----

{
    my $t = instance();
    $t->write_config(<<'EOF', GREETING => 'hello from a placeholder');
http {
    server {
        listen 127.0.0.1:%%PORT%%;
        location / { return 200 "%%GREETING%%"; }
        location = /dir { return 200 "%%TESTDIR%%"; }
    }
    server {
        listen 127.0.0.1:%%PORT_X%%;
        location / { return 200 "x"; }
    }
}
EOF
    $t->run;
    isnt($t->port, $t->port('X'), '%%PORT%% and %%PORT_X%% are different ports');
    is($t->get('/')->{content}, 'hello from a placeholder', '%%NAME%%: a value of write_config');
    is($t->get('/dir')->{content}, $t->testdir, '%%TESTDIR%%: the temp directory');
    is($t->get('/', port => $t->port('X'))->{content}, 'x', '%%PORT_X%%: $t->port("X")');
    is(scalar(() = $t->config =~ /\bload_module\b/g), 1, 'one load_module, the harness\'s');
    $t->stop;

    my $u = instance();
    $u->write_config("load_module %%MODULE%%;\nhttp { }\n");
    is(scalar $u->test_config, 0, '%%MODULE%%: nginx -t passes');
    my @lm = grep { $_->{name} eq 'load_module' }
             Chatvisor::Test::parse_config($u->config);
    is_deeply([ map { $_->{args}[0] } @lm ], [ $u->module ],
              '%%MODULE%%: the template\'s load_module only, naming the copy');

    ok(!eval { $u->write_config("http { %%NOPE%% }\n"); 1 },
       'an unknown placeholder dies');
    like($@, qr/unknown placeholder %%NOPE%%/, '  and says which');
}

# ---- what the harness adds is not added twice ----

{
    my $t = instance();
    my $dir = $t->testdir;
    $t->write_config(<<'EOF');
worker_processes 2; pid %%TESTDIR%%/my.pid;
error_log %%TESTDIR%%/error.log info;
events { worker_connections 128; }
http { proxy_temp_path %%TESTDIR%%/my_proxy_temp;
    server {
        listen 127.0.0.1:%%PORT%%;
        error_log %%TESTDIR%%/server-error.log;
        location / { return 200 "ok\n"; }
    }
}
EOF
    my ($st, $out) = $t->test_config;
    is($st, 0, 'a template that sets them: nginx -t passes') or diag $out;
    my @d = Chatvisor::Test::parse_config($t->config);
    my %n;
    $n{"$_->{context}:$_->{name}"}++ for @d;
    is($n{':worker_processes'}, 1, 'worker_processes once');
    is($n{':pid'}, 1, 'pid once');
    is($n{':error_log'}, 1, 'error_log once in the main context');
    is($n{':events'}, 1, 'events once');
    is($n{':daemon'}, 1, 'daemon off, added');
    is($n{'http:proxy_temp_path'}, 1, 'proxy_temp_path once');
    is($n{'http:client_body_temp_path'}, 1, 'the other temp paths, added');
    $t->run;
    ok(-s "$dir/my.pid", 'the template\'s pid file is used');
    is(scalar(my @w = $t->worker_pids), 2, '2 workers as soon as run returns');

    # an error_log that is not in the main context does not stand for the
    # harness's own, nor does a commented-out one
    my $u = instance();
    $u->write_config("# error_log /dev/null;\nhttp { error_log %%TESTDIR%%/http.log; }\n");
    is(scalar $u->test_config, 0, 'error_log in http only: nginx -t passes');
    my @main = grep { $_->{context} eq '' && $_->{name} =~ /^(?:error_log|pid)$/ }
               Chatvisor::Test::parse_config($u->config);
    is_deeply([ map { $_->{name} } @main ], [ 'pid', 'error_log' ],
              'error_log in http only: the harness adds its main error_log');

    ok(!eval { $u->write_config("worker_processes 1; daemon on;\nhttp { }\n"); 1 },
       'daemon in a template dies, wherever it stands');
    like($@, qr/no `daemon` in templates/, '  and says why');
}

done_testing;
