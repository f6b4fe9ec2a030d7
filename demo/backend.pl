#!/usr/bin/perl

# The demo's backend: a plain "application" that serves demo/site/ on
# 127.0.0.1 and knows nothing about chat. nginx proxies it and injects the
# widget on the way out. Core Perl only; the HTTP server is the one the
# tests use for their fake upstream (t/lib/Chatvisor/HTTPServer.pm).
#
#   perl demo/backend.pl [--port 8081] [--root demo/site] [--pid-file FILE]
#                        [--webhook-secret FILE --inbox FILE]
#
# Pretty URLs: /pricing serves pricing.html, / serves index.html. POST
# /contact answers with a thank-you page. Unknown paths get 404.html.
#
# With --webhook-secret (the whsec_ file of conf/demo.conf's
# chatvisor_webhook) it is also a webhook receiver, as an integrator's
# would be: POST /webhooks takes the events nginx sends, checks their
# signature (docs/webhooks.md) and keeps them in --inbox, one JSON a line
# (each connection is its own process, so they meet in that file); GET
# /webhooks is a page that lists them, live; GET /webhooks.json the list.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../t/lib";

use Digest::SHA qw(hmac_sha256);
use Fcntl qw(:flock SEEK_END);
use Getopt::Long qw(GetOptions);
use JSON::PP ();
use MIME::Base64 qw(decode_base64 encode_base64);
use Chatvisor::HTTPServer;

my $port = 8081;
my $root = "$FindBin::Bin/site";
my ($pid_file, $secret_file, $inbox);
GetOptions('port=i' => \$port, 'root=s' => \$root, 'pid-file=s' => \$pid_file,
           'webhook-secret=s' => \$secret_file, 'inbox=s' => \$inbox)
    or die "usage: $0 [--port N] [--root DIR] [--pid-file FILE] [--webhook-secret FILE --inbox FILE]\n";
die "$0: $root is not a directory\n" unless -d $root;
die "$0: --webhook-secret needs --inbox\n" if $secret_file && !$inbox;

# the signing key: the base64 after whsec_
my $webhook_key;
if ($secret_file) {
    my $s = slurp_path($secret_file) // die "$0: read $secret_file: $!\n";
    $s =~ s/\s+\z//;
    $s =~ /\Awhsec_([A-Za-z0-9+\/=]+)\z/ or die "$0: $secret_file is not a whsec_ secret\n";
    $webhook_key = decode_base64($1);
}
my $JSON = JSON::PP->new->utf8->canonical;
my $INBOX_MAX = 200;             # events the page lists, newest first
my $SIGNATURE_TOLERANCE = 300;   # seconds, as docs/webhooks.md says

sub slurp_path {
    my ($path) = @_;
    open my $fh, '<:raw', $path or return undef;
    local $/;
    return scalar <$fh>;
}

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

sub plain {
    my ($status, $text) = @_;
    return { status => $status, headers => [ 'Content-Type' => $TYPES{txt} ],
             body => "$text\n", delay => 0 };
}

# a webhook, kept when its signature is one of ours and recent
sub webhook_receive {
    my ($req) = @_;
    my $h = $req->{headers};
    my ($id, $ts, $sigs) = map { $h->{$_} // '' }
        qw(webhook-id webhook-timestamp webhook-signature);
    my $body = $req->{body} // '';
    my $want = encode_base64(hmac_sha256("$id.$ts.$body", $webhook_key), '');
    return plain(401, 'bad signature')
        unless $ts =~ /\A\d+\z/ && abs(time - $ts) <= $SIGNATURE_TOLERANCE
            && grep { $_ eq "v1,$want" } split / /, $sigs;
    my $event = eval { $JSON->decode($body) };
    return plain(400, 'not JSON') unless ref $event eq 'HASH';
    open my $fh, '>>', $inbox or return plain(500, "inbox: $!");
    flock $fh, LOCK_EX;
    seek $fh, 0, SEEK_END;
    print $fh $JSON->encode({ received_at => time, event => $event }), "\n";
    close $fh;
    return { status => 204, headers => [], body => '', delay => 0 };
}

sub webhook_list {
    my @events;
    if (open my $fh, '<', $inbox) {
        flock $fh, LOCK_SH;
        while (my $l = <$fh>) {
            my $e = eval { $JSON->decode($l) } or next;
            push @events, $e;
            shift @events if @events > $INBOX_MAX;
        }
    }
    return { headers => [ 'Content-Type' => 'application/json',
                          'Cache-Control' => 'no-store' ],
             body => $JSON->encode([ reverse @events ]), delay => 0 };
}

sub handle {
    my ($req) = @_;
    my $path = $req->{path};
    print STDERR scalar(localtime), " $req->{method} $req->{uri}\n";

    return thanks($req) if $req->{method} eq 'POST' && $path eq '/contact';
    if ($webhook_key && $path eq '/webhooks') {
        return webhook_receive($req) if $req->{method} eq 'POST';
        return file_response("$root/webhooks.html") // not_found();
    }
    return webhook_list() if $webhook_key && $path eq '/webhooks.json';
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
