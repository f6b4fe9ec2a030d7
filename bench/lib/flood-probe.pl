#!/usr/bin/perl
# flood-probe — the latency probe of bench/flood: existing visitors post, an
# agent's console long-poll receives; the visitor-to-agent latency of each
# message, from writing its POST to reading the console answer that
# carries it.
#
#   flood-probe.pl PORT AGENT_COOKIE VISITORS_FILE SECONDS RATE
#
# VISITORS_FILE: one cv_visitor cookie a line (each has its conversation).
# RATE messages/second in all, the visitors in turn, one message in flight
# (a message due while the last is in flight waits; its latency counts
# from when it was sent). Keep-alive connections: one for the posts, one
# for the console poll, which is held again at once after each answer.
# Prints one line: n= p50= p90= p99= max= (ms) errors= (posts not 201).
use strict;
use warnings;

use IO::Socket::INET;
use IO::Select;
use Time::HiRes qw(time sleep);

my ($port, $agent, $vfile, $seconds, $rate) = @ARGV;
die "usage: flood-probe.pl PORT AGENT_COOKIE VISITORS_FILE SECONDS RATE\n"
    unless defined $rate;

open my $fh, '<', $vfile or die "$vfile: $!\n";
my @visitors = grep { length } map { chomp; $_ } <$fh>;
close $fh;
die "no visitors in $vfile\n" unless @visitors;

sub connect_ {
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Proto => 'tcp') or die "connect: $!\n";
    $s->autoflush(1);
    binmode $s;
    return $s;
}

# one HTTP/1.1 answer (Content-Length or chunked) off a socket with a
# buffer; undef until complete
sub take_answer {
    my ($buf) = @_;
    my $end = index($$buf, "\r\n\r\n");
    return undef if $end < 0;
    my $head = substr($$buf, 0, $end);
    my ($status) = $head =~ m{^HTTP/1\.\d (\d+)};
    if ($head =~ /^content-length:\s*(\d+)/im) {
        my $len = $1;
        return undef if length($$buf) < $end + 4 + $len;
        my $body = substr($$buf, $end + 4, $len);
        substr($$buf, 0, $end + 4 + $len) = '';
        return [ $status, $body ];
    }
    if ($head =~ /^transfer-encoding:\s*chunked/im) {
        my ($pos, $body) = ($end + 4, '');
        while (1) {
            my $nl = index($$buf, "\r\n", $pos);
            return undef if $nl < 0;
            my $size = hex substr($$buf, $pos, $nl - $pos);
            return undef if length($$buf) < $nl + 2 + $size + 2;
            $body .= substr($$buf, $nl + 2, $size);
            $pos = $nl + 2 + $size + 2;
            if ($size == 0) {
                substr($$buf, 0, $pos) = '';
                return [ $status, $body ];
            }
        }
    }
    substr($$buf, 0, $end + 4) = '';
    return [ $status, '' ];
}

my $poll = connect_();
my $post = connect_();
my ($pbuf, $qbuf) = ('', '');
my $cursor = 0;

sub send_poll {
    print $poll "GET /chatvisor/v1/agent/events?after=$cursor HTTP/1.1\r\n"
        . "Host: 127.0.0.1\r\nCookie: cv_agent=$agent\r\n\r\n";
}

sub read_into {
    my ($s, $buf) = @_;
    my $n = sysread($s, $$buf, 1 << 20, length $$buf);
    die "connection closed\n" unless $n;
}

# catch up with the log: answers that come at once move the cursor; the
# first that does not is held, the poll the probe starts with
send_poll();
while (1) {
    my $sel = IO::Select->new($poll);
    last unless $sel->can_read(0.5);
    read_into($poll, \$pbuf);
    while (my $a = take_answer(\$pbuf)) {
        die "console poll: $a->[0] $a->[1]\n" unless $a->[0] == 200;
        ($cursor) = $a->[1] =~ /"cursor":(\d+)/;
        send_poll();
    }
}

my (@lat, $errors);
$errors = 0;
my $start = time;
my $k = 0;
while (time - $start < $seconds) {
    $k++;
    my $due = $start + $k / $rate;
    my $wait = $due - time;
    sleep $wait if $wait > 0;

    my $cookie = $visitors[$k % @visitors];
    my $marker = "probe#$k#";
    my $body = qq({"text":"$marker"});
    my $t0 = time;
    print $post "POST /chatvisor/v1/visitor/messages HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        . "Cookie: cv_visitor=$cookie\r\nContent-Type: application/json\r\n"
        . 'Content-Length: ' . length($body) . "\r\n\r\n$body";

    my ($posted, $seen, $t1) = (0, 0);
    my $sel = IO::Select->new($poll, $post);
    while (!$posted || !$seen) {
        my @r = $sel->can_read(30) or die "no answer in 30 s\n";
        for my $s (@r) {
            if ($s == $post) {
                read_into($post, \$qbuf);
                if (my $a = take_answer(\$qbuf)) {
                    $posted = 1;
                    if ($a->[0] != 201) {
                        $errors++;
                        $seen = 1;      # it will never come
                    }
                }
            } else {
                read_into($poll, \$pbuf);
                while (my $a = take_answer(\$pbuf)) {
                    die "console poll: $a->[0] $a->[1]\n" unless $a->[0] == 200;
                    ($cursor) = $a->[1] =~ /"cursor":(\d+)/;
                    if (!$seen && index($a->[1], $marker) >= 0) {
                        $t1 = time;
                        $seen = 1;
                    }
                    send_poll();
                }
            }
        }
    }
    push @lat, ($t1 - $t0) * 1000 if defined $t1;
}

@lat = sort { $a <=> $b } @lat;
sub pct {
    my ($p) = @_;
    return 0 unless @lat;
    my $i = int($p / 100 * @lat + 0.5) - 1;
    $i = 0 if $i < 0;
    $i = $#lat if $i > $#lat;
    return $lat[$i];
}
printf "n=%d p50=%.2f p90=%.2f p99=%.2f max=%.2f errors=%d\n",
    scalar @lat, pct(50), pct(90), pct(99), @lat ? $lat[-1] : 0, $errors;
