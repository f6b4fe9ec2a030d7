package Chatvisor::Cobrowse;

# Co-browsing clients for the tests (docs/cobrowse.md), on top of the
# visitors and agents of Chatvisor::Chat, and rrweb-like event batches.
#
#   use Chatvisor::Cobrowse qw(:all);
#   my $r = cb_start($agent, $conv);                  # POST .../cobrowse
#   cb_decide($visitor, 'allow');                      # POST cobrowse
#   cb_send($visitor, full_snapshot(bytes => 1000), recorder => 'r1',
#           full => 1);                                # POST cobrowse/events
#   my $v = cb_view($agent, $conv, after => 0);        # GET .../events
#   my $held = cb_start_view($agent, $conv, after => 3);
#   cb_pointer($agent, $conv, x => 10, y => 20, click => 1);
#   cb_state($visitor); cb_vstop($visitor); cb_astop($agent, $conv);
#   my $p = cb_visitor_poll($visitor, after => $cursor, cobrowse => $g);
#
# Answers are Chatvisor::Chat's hashes: status, headers, content, json.
# Batches are JSON text (arrays of objects), what a recorder POSTs:
#   full_snapshot(bytes => N, mark => 'x')   a meta and a full snapshot
#                                            event with about N bytes of text
#   incremental(n => N, bytes => B, mark => 'x')  N mouse-move-like events
#   snapshot_of(SIZE, FILL)  a full snapshot of exactly SIZE bytes, its
#                           text FILL (default 'x') repeated; put together
#                           as text (JSON::PP takes seconds over megabytes)
#   conversation($t)        a new visitor with a conversation: (visitor, id)

use strict;
use warnings;

use JSON::PP ();
use Time::HiRes ();

use Chatvisor::Chat ();

use Exporter 'import';
our @EXPORT_OK = qw(cb_start cb_decide cb_send cb_view cb_start_view
                    cb_pointer cb_state cb_vstop cb_astop cb_visitor_poll
                    full_snapshot incremental snapshot_of conversation
                    decode);
our %EXPORT_TAGS = (all => \@EXPORT_OK);

my $JSON = JSON::PP->new->utf8->canonical;

sub decode { Chatvisor::Chat::decode_json($_[0]) }

sub snapshot_of {
    my ($size, $fill) = @_;
    $fill //= 'x';
    my $head = '[{"type":4,"timestamp":1,"data":{"href":"http://shop.example/'
             . 'big","width":1280,"height":800}},{"type":2,"timestamp":2,'
             . '"data":{"node":{"type":0,"id":1,"childNodes":[{"type":3,'
             . '"id":2,"textContent":"';
    my $tail = '"}]},"initialOffset":{"left":0,"top":0}}}]';
    return $head . ($fill x ($size - length($head) - length($tail))) . $tail;
}

# ------------------------------------------------------------- batches

my $TS = 1_760_000_000_000;

sub full_snapshot {
    my (%o) = @_;
    my $text = ($o{mark} // 'page') . ' ' . ('x' x ($o{bytes} // 64));
    return $JSON->encode([
        { type => 4, timestamp => ++$TS,
          data => { href => 'http://shop.example/p/1', width => 1280,
                    height => 800 } },
        { type => 2, timestamp => ++$TS,
          data => { initialOffset => { left => 0, top => 0 },
                    node => { type => 0, id => 1, childNodes => [
                        { type => 2, id => 2, tagName => 'html',
                          attributes => {}, childNodes => [
                              { type => 3, id => 3, textContent => $text },
                          ] },
                    ] } } },
    ]);
}

sub incremental {
    my (%o) = @_;
    my $pad = 'y' x ($o{bytes} // 0);
    return $JSON->encode([ map {
        { type => 3, timestamp => ++$TS,
          data => { source => 1, mark => ($o{mark} // 'move') . " $_",
                    positions => [ { x => $_, y => 2 * $_, id => 3,
                                     timeOffset => 0 } ],
                    $o{bytes} ? (pad => $pad) : () } }
    } 1 .. ($o{n} // 1) ]);
}

# a visitor whose first message opened a conversation: (visitor, conv id)
sub conversation {
    my ($t, $text) = @_;
    my $v = Chatvisor::Chat::Visitor->new($t);
    my $r = $v->post($text // 'Hello, can you look at my page?');
    die "conversation: $r->{status} $r->{content}\n" unless $r->{status} == 201;
    return ($v, $r->{json}{conversation_id});
}

# ----------------------------------------------------------- the visitor

sub cb_state {
    my ($v) = @_;
    return $v->request(GET => 'v1/visitor/cobrowse');
}

sub cb_decide {
    my ($v, $decision, %o) = @_;
    return $v->request(POST => 'v1/visitor/cobrowse',
                       json => { decision => $decision }, %o);
}

# cb_send($v, $json_text, recorder => 'r1', full => 1, headers => {...})
sub cb_send {
    my ($v, $body, %q) = @_;
    my %o;
    for my $k (qw(headers content_type timeout)) {
        $o{$k} = delete $q{$k} if exists $q{$k};
    }
    $q{recorder} //= 'r1';
    delete $q{recorder} if $q{recorder} eq '';
    return $v->request(POST => 'v1/visitor/cobrowse/events'
                       . Chatvisor::Chat::query(%q), body => $body, %o);
}

sub cb_vstop {
    my ($v, %o) = @_;
    return $v->request(POST => 'v1/visitor/cobrowse/stop', json => {}, %o);
}

# the chat's long-poll, held: after, cobrowse (generation), pointer
sub cb_visitor_poll {
    my ($v, %q) = @_;
    return $v->start_poll(%q);
}

# ------------------------------------------------------------- the agent

sub cb_start {
    my ($a, $conv, %o) = @_;
    return $a->write(POST => "conversations/$conv/cobrowse", {}, %o);
}

sub cb_view {
    my ($a, $conv, %q) = @_;
    $q{after} //= 0;
    return $a->get("conversations/$conv/cobrowse/events"
                   . Chatvisor::Chat::query(%q));
}

sub cb_start_view {
    my ($a, $conv, %q) = @_;
    $q{after} //= 0;
    return Chatvisor::Chat::start($a->{t}, GET =>
        "v1/agent/conversations/$conv/cobrowse/events"
        . Chatvisor::Chat::query(%q), headers => $a->headers);
}

sub cb_pointer {
    my ($a, $conv, %b) = @_;
    $b{click} = $b{click} ? JSON::PP::true() : JSON::PP::false()
        if exists $b{click} && !ref $b{click};
    return $a->write(POST => "conversations/$conv/cobrowse/pointer", \%b);
}

sub cb_astop {
    my ($a, $conv, %o) = @_;
    return $a->write(POST => "conversations/$conv/cobrowse/stop", {}, %o);
}

1;
