package Chatvisor::Widget;

# Finding and reading the injected widget tag in a response body.
#
#   my @tags = find_tags($body);   # every <script ... data-chatvisor ...>
#   # each: { html, offset, attrs => { name => decoded value }, raw_attrs,
#   #         strict => 1 when the tag has the exact contract format,
#   #         src, prefix, hash }
#   my $orig = strip_tags($body);  # the body with the tags cut out
#
# Contract format (attribute order beyond src is not fixed):
#   <script async src="PREFIXwidget.js?v=HASH" name="value" ...></script>
# with HASH 16 hex digits and values HTML-attribute-escaped.

use strict;
use warnings;

use Exporter 'import';
our @EXPORT_OK = qw(find_tags strip_tags html_unescape html_escape);

# Loose: anything that looks like our tag, so a malformed one is still found
# (and reported as not strict).
my $LOOSE = qr{<script\b[^>]*\bdata-chatvisor\b[^>]*>(?:</script>)?}i;

my $STRICT = qr{\A<script async src="([^"<>]*)"((?: [a-z][a-z0-9-]*="[^"<>]*")*)></script>\z};

sub find_tags {
    my ($body) = @_;
    my @tags;
    while ($body =~ /$LOOSE/g) {
        my $html = $&;
        my $tag = { html => $html, offset => $-[0], strict => 0, attrs => {},
                    raw_attrs => {} };
        my @order;
        while ($html =~ /\s([a-zA-Z][a-zA-Z0-9-]*)(?:="([^"]*)")?/g) {
            my ($k, $v) = ($1, $2 // '');
            push @order, $k;
            $tag->{raw_attrs}{$k} = $v;
            $tag->{attrs}{$k} = html_unescape($v);
        }
        $tag->{order} = \@order;
        if ($html =~ $STRICT) {
            $tag->{strict} = 1;
        }
        if (defined(my $src = $tag->{attrs}{src})) {
            $tag->{src} = $src;
            if ($src =~ m{\A(.*/)widget\.js\?v=([0-9a-f]{16})\z}) {
                $tag->{prefix} = $1;
                $tag->{hash} = $2;
            }
        }
        push @tags, $tag;
    }
    return @tags;
}

sub strip_tags {
    my ($body) = @_;
    $body =~ s/$LOOSE//g;
    return $body;
}

sub html_unescape {
    my ($s) = @_;
    $s =~ s{&(#[xX][0-9a-fA-F]+|#[0-9]+|amp|lt|gt|quot|apos);}{
        my $e = $1;
        $e eq 'amp'  ? '&' :
        $e eq 'lt'   ? '<' :
        $e eq 'gt'   ? '>' :
        $e eq 'quot' ? '"' :
        $e eq 'apos' ? "'" :
        $e =~ /^#[xX](.*)/ ? _chr(hex $1) : _chr(substr($e, 1))
    }ge;
    return $s;
}

# Code points as UTF-8 bytes (the bodies are bytes).
sub _chr {
    my ($cp) = @_;
    my $c = chr $cp;
    utf8::encode($c);
    return $c;
}

sub html_escape {
    my ($s) = @_;
    $s =~ s/&/&amp;/g;
    $s =~ s/</&lt;/g;
    $s =~ s/>/&gt;/g;
    $s =~ s/"/&quot;/g;
    $s =~ s/'/&#39;/g;
    return $s;
}

1;
