package Chatvisor::Webhooks;

# What the webhook tests (t/9*-webhooks-*.t) share: the requests a
# Chatvisor::Receiver got, read as events, and the checks every request
# must pass.
#
#   use Chatvisor::Webhooks qw(events_of wait_events check_requests ...);
#   my @ev = events_of($rx->log);          # the webhooks (json decoded)
#   @ev = wait_events($rx, sub { ... @_ ... }, 10);   # until cond(@events)
#   check_requests(\@ev, secret => $whsec, wrong => [1], name => 'A');
#   my %by = by_conversation(@ev);         # conv id => [events in arrival order]
#   first_arrivals(@ev)                    # each event id once, first arrival
#   my $cnt = count_type('message.created', @ev);
#
# check_requests adds a handful of tests for a list of requests, each over
# all of them (the failing ones are shown): the body matches
# #/components/schemas/WebhookEvent of docs/openapi.json, webhook-id is the
# body's id, the timestamp is the attempt's (within 30 s of its arrival),
# Content-Type is application/json, the reference implementation
# (standardwebhooks, in the receiver) and Chatvisor::Receiver::signature_ok
# agree on every secret the receiver knows, the secret given verifies, and
# the receiver's secrets at the indexes of wrong => [...] do not.

use strict;
use warnings;

use Exporter 'import';
use JSON::PP ();
use Test::More ();
use Time::HiRes ();

use Chatvisor::API ();
use Chatvisor::Receiver ();

our @EXPORT_OK = qw(events_of wait_events check_requests by_conversation
                    first_arrivals count_type ids_of wait_until);

my $JSON = JSON::PP->new->utf8->canonical;

# the receiver's log entries that are webhooks (not its control calls)
sub events_of { grep { $_->{method} eq 'POST' && $_->{path} !~ m{^/_} } @_ }

sub wait_events {
    my ($rx, $cond, $timeout) = @_;
    my @log = $rx->wait_for(sub { $cond->(events_of(@_)) }, $timeout);
    return events_of(@log);
}

# polls cond() every 50 ms until it is true or timeout seconds passed;
# returns its last value
sub wait_until {
    my ($cond, $timeout) = @_;
    my $deadline = Time::HiRes::time() + ($timeout // 10);
    while (1) {
        my $v = $cond->();
        return $v if $v || Time::HiRes::time() > $deadline;
        Time::HiRes::sleep(0.05);
    }
}

sub count_type {
    my ($type, @ev) = @_;
    return scalar grep { ($_->{json}{type} // '') eq $type } @ev;
}

sub ids_of { map { $_->{json}{id} } @_ }

# conversation id => its events, in the order they arrived
sub by_conversation {
    my %by;
    for my $e (@_) {
        my $c = $e->{json}{data}{conversation} or next;
        push @{ $by{ $c->{id} } }, $e;
    }
    return %by;
}

# each event once, at its first arrival, in arrival order
sub first_arrivals {
    my %seen;
    return grep { !$seen{ $_->{json}{id} // '' }++ } @_;
}

sub check_requests {
    my ($entries, %o) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $name = $o{name} ? "$o{name}: " : '';
    my @e = @$entries;
    my $n = @e;
    my $spec = Chatvisor::API::spec_for();
    my (@schema, @id, @ts, @ct, @agree, @ours, @theirs, @wrong);
    for my $x (@e) {
        my $h = $x->{headers} || {};
        my $label = ($x->{json}{type} // '?') . ' ' . ($h->{'webhook-id'} // '?');
        my @err = $x->{json} ? $spec->validate(
            { '$ref' => '#/components/schemas/WebhookEvent' }, $x->{json}, 'body')
                              : ('not JSON: ' . substr($x->{body}, 0, 200));
        push @schema, "$label: @err" if @err;
        push @id, "$label: body id " . ($x->{json}{id} // 'none')
            unless defined $h->{'webhook-id'} && $x->{json}
                   && $h->{'webhook-id'} eq ($x->{json}{id} // '');
        my $ts = $h->{'webhook-timestamp'} // '';
        push @ts, "$label: webhook-timestamp $ts, arrived at " . int($x->{at} / 1000)
            unless $ts =~ /^\d+$/ && abs($ts - $x->{at} / 1000) < 30;
        push @ct, "$label: " . ($h->{'content-type'} // 'none')
            unless ($h->{'content-type'} // '') =~ m{^application/json\b};
        my @secrets = @{ $o{secrets} || [] };
        for my $i (0 .. $#secrets) {
            my $ref = $x->{verified}[$i] ? 1 : 0;
            my $own = Chatvisor::Receiver::signature_ok($secrets[$i], $x) ? 1 : 0;
            push @agree, "$label: secret $i: standardwebhooks says $ref, signature_ok $own"
                if $ref != $own;
        }
        if (defined $o{secret}) {
            push @ours, $label unless Chatvisor::Receiver::signature_ok($o{secret}, $x);
            my ($i) = grep { $secrets[$_] eq $o{secret} } 0 .. $#secrets;
            push @theirs, $label unless defined $i && $x->{verified}[$i];
        }
        for my $i (@{ $o{wrong} || [] }) {
            push @wrong, "$label: secret $i verifies"
                if $x->{verified}[$i]
                   || Chatvisor::Receiver::signature_ok($secrets[$i], $x);
        }
    }
    Test::More::ok($n > 0, "${name}requests to check: $n");
    Test::More::ok(!@schema, "${name}every body is a WebhookEvent of docs/openapi.json")
        or Test::More::diag(join "\n", @schema);
    Test::More::ok(!@id, "${name}webhook-id is the event's id") or Test::More::diag(join "\n", @id);
    Test::More::ok(!@ts, "${name}webhook-timestamp is the attempt's time")
        or Test::More::diag(join "\n", @ts);
    Test::More::ok(!@ct, "${name}Content-Type: application/json")
        or Test::More::diag(join "\n", @ct);
    Test::More::ok(!@agree, "${name}standardwebhooks and signature_ok agree on every signature")
        or Test::More::diag(join "\n", @agree);
    if (defined $o{secret}) {
        Test::More::ok(!@theirs, "${name}the secret verifies every request (standardwebhooks)")
            or Test::More::diag(join "\n", @theirs);
        Test::More::ok(!@ours, "${name}the secret verifies every request (signature_ok)")
            or Test::More::diag(join "\n", @ours);
    }
    if ($o{wrong}) {
        Test::More::ok(!@wrong, "${name}a wrong secret verifies none")
            or Test::More::diag(join "\n", @wrong);
    }
    return !(@schema || @id || @ts || @ct || @agree || @ours || @theirs || @wrong);
}

1;
