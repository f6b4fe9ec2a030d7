#!/usr/bin/perl

# The demo's backend: a plain "application" that serves demo/site/ on
# 127.0.0.1 and knows nothing about chat. nginx proxies it and injects the
# widget on the way out. Core Perl only; the HTTP server is the one the
# tests use for their fake upstream (t/lib/Chatvisor/HTTPServer.pm).
#
#   perl demo/backend.pl [--port 8081] [--root demo/site] [--pid-file FILE]
#
# Pretty URLs: /pricing serves pricing.html, / serves index.html. POST
# /contact answers with a thank-you page. Unknown paths get 404.html.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../t/lib";

use Getopt::Long qw(GetOptions);
use Chatvisor::HTTPServer;

my $port = 8081;
my $root = "$FindBin::Bin/site";
my $pid_file;
GetOptions('port=i' => \$port, 'root=s' => \$root, 'pid-file=s' => \$pid_file)
    or die "usage: $0 [--port N] [--root DIR] [--pid-file FILE]\n";
die "$0: $root is not a directory\n" unless -d $root;

my %TYPES = (
    html => 'text/html; charset=utf-8',
    css  => 'text/css; charset=utf-8',
    js   => 'application/javascript; charset=utf-8',
    svg  => 'image/svg+xml',
    png  => 'image/png',
    ico  => 'image/x-icon',
    txt  => 'text/plain; charset=utf-8',
);

sub slurp {
    my ($path) = @_;
    open my $fh, '<:raw', $path or return undef;
    local $/;
    return scalar <$fh>;
}

sub file_response {
    my ($file, $status) = @_;
    my $body = slurp($file) // return undef;
    my ($ext) = $file =~ /\.(\w+)$/;
    return {
        status  => $status // 200,
        headers => [
            'Content-Type'  => $TYPES{ lc($ext // '') } // 'application/octet-stream',
            'Cache-Control' => 'no-cache',
        ],
        body  => $body,
        delay => 0,
    };
}

sub not_found {
    return file_response("$root/404.html", 404) // {
        status => 404, headers => [ 'Content-Type' => 'text/plain' ],
        body => "not found\n", delay => 0,
    };
}

sub html_escape {
    my ($s) = @_;
    $s =~ s/&/&amp;/g; $s =~ s/</&lt;/g; $s =~ s/>/&gt;/g;
    $s =~ s/"/&quot;/g; $s =~ s/'/&#39;/g;
    return $s;
}

sub thanks {
    my ($req) = @_;
    my %form;
    for my $pair (split /&/, $req->{body} // '') {
        my ($k, $v) = split /=/, $pair, 2;
        $form{ Chatvisor::HTTPServer::url_decode($k) }
            = Chatvisor::HTTPServer::url_decode($v // '');
    }
    my $page = slurp("$root/contact.html") // return not_found();
    my $name = html_escape($form{name} || 'there');
    my $note = qq{<section class="hero"><div class="notice"><strong>Thanks, $name!</strong>}
             . q{ We got your message and will reply by email. Or say hi in the chat}
             . q{ right now.</div></section>};
    $page =~ s{<main class="wrap">}{<main class="wrap">\n$note};
    return { headers => [ 'Content-Type' => $TYPES{html} ], body => $page, delay => 0 };
}

sub handle {
    my ($req) = @_;
    my $path = $req->{path};
    print STDERR scalar(localtime), " $req->{method} $req->{uri}\n";

    return thanks($req) if $req->{method} eq 'POST' && $path eq '/contact';
    return { status => 405, headers => [ Allow => 'GET, HEAD, POST',
             'Content-Type' => 'text/plain' ], body => "method not allowed\n" }
        unless $req->{method} eq 'GET' || $req->{method} eq 'HEAD';

    return not_found() if $path =~ m{(?:^|/)\.} || $path !~ m{^/};
    $path .= 'index.html' if $path =~ m{/$};
    my $file = "$root$path";
    $file .= '.html' if !-f $file && -f "$file.html";
    return not_found() unless -f $file;
    return file_response($file) // not_found();
}

my $server = Chatvisor::HTTPServer->new(port => $port, handler => \&handle);
$server->listen;
if ($pid_file) {
    open my $fh, '>', $pid_file or die "$0: write $pid_file: $!\n";
    print $fh "$$\n";
    close $fh;
}
my $main_pid = $$;
$SIG{TERM} = $SIG{INT} = sub {
    unlink $pid_file if $pid_file && $$ == $main_pid;
    exit 0;
};
print STDERR "demo backend: serving $root on http://127.0.0.1:$port/\n";
$server->run;
