package Chatvisor::OpenAPI;

# Checks requests and responses against docs/openapi.json, in core Perl.
#
#   my $api = Chatvisor::OpenAPI->new;           # docs/openapi.json
#   my @err = $api->check_response('GET', '/chatvisor/api/v1/agents?limit=2',
#                                  $res);        # HTTP::Tiny hash or a
#                                                # Chatvisor::HTTP::Response
#   my @err = $api->check_request('PUT', '/chatvisor/api/v1/agents/ann',
#                                 'application/json', $body_bytes);
#   my @err = $api->validate({ '$ref' => '#/components/schemas/Agent' }, $data);
#
# Each returns a list of readable errors, empty when all is well.
#
# check_response finds the operation by path (the servers[0] URL is the
# prefix; literal segments win over {params}) and method, then the response
# object of the status (exact, then 4XX/5XX, then default); an undocumented
# status is an error. It checks the response's required headers, its
# Content-Type, and its body against the schema (a response without content
# must have an empty body). A path the spec lacks must answer 404 with the
# NotFound body; a method the path lacks must answer 405 with the
# MethodNotAllowed body and an Allow header naming exactly the path's
# methods (HEAD and OPTIONS aside).
#
# The JSON Schema subset: $ref (local, "#/..."), type (a name or an array of
# names, so nullable is ["string", "null"]), enum, const, properties,
# required, additionalProperties (boolean or schema), items, minItems,
# maxItems, minLength, maxLength (in characters), pattern, minimum, maximum,
# format (date-time, uri), allOf, anyOf, oneOf, not. Annotations
# (description, examples, default, title...) are ignored; any other
# keyword dies, so the spec cannot use something this validator would
# silently skip. Bodies are decoded here from their bytes, so JSON numbers
# and strings are told apart reliably (123 is not "123").

use strict;
use warnings;

use B ();
use JSON::PP ();

my %ANNOTATION = map { $_ => 1 } qw(description examples example default title
    deprecated readOnly writeOnly $comment discriminator xml externalDocs);
my %KEYWORD = map { $_ => 1 } qw($ref type enum const properties required
    additionalProperties items minItems maxItems minLength maxLength pattern
    minimum maximum format allOf anyOf oneOf not);
my @METHODS = qw(get put post delete patch head options trace);

sub repo_root {
    require Chatvisor::Test;
    return Chatvisor::Test::repo_root();
}

sub new {
    my ($class, $file) = @_;
    $file //= repo_root() . '/docs/openapi.json';
    open my $fh, '<:raw', $file or die "open $file: $!\n";
    my $bytes = do { local $/; <$fh> };
    close $fh;
    my $doc = JSON::PP->new->utf8->decode($bytes);
    my $base = $doc->{servers} && $doc->{servers}[0]{url} // '';
    $base =~ s{/+$}{};
    my $self = bless { doc => $doc, base => $base, file => $file }, $class;
    $self->_check_keywords($doc->{components}{schemas}, '#/components/schemas');
    return $self;
}

sub doc  { $_[0]{doc} }
sub base { $_[0]{base} }

# ---- the document ----

# Follows $ref (repeatedly) to the node it names.
sub resolve {
    my ($self, $node) = @_;
    my %seen;
    while (ref $node eq 'HASH' && defined $node->{'$ref'}) {
        my $ref = $node->{'$ref'};
        die "circular \$ref $ref\n" if $seen{$ref}++;
        $node = $self->pointer($ref);
    }
    return $node;
}

sub pointer {
    my ($self, $ref) = @_;
    $ref =~ m{^#(/.*)?$} or die "only local \$refs are supported: $ref\n";
    my $node = $self->{doc};
    for my $tok (grep { length } split m{/}, $1 // '') {
        $tok =~ s/~1/\//g;
        $tok =~ s/~0/~/g;
        if (ref $node eq 'HASH' && exists $node->{$tok}) { $node = $node->{$tok} }
        elsif (ref $node eq 'ARRAY' && $tok =~ /^\d+$/ && $tok < @$node) {
            $node = $node->[$tok];
        } else {
            die "unresolvable \$ref $ref\n";
        }
    }
    return $node;
}

sub _check_keywords {
    my ($self, $node, $where) = @_;
    return unless ref $node eq 'HASH';
    for my $name (sort keys %$node) {
        my $s = $node->{$name};
        $self->_check_schema($s, "$where/$name");
    }
}

sub _check_schema {
    my ($self, $s, $where) = @_;
    return if ref $s ne 'HASH';
    for my $k (keys %$s) {
        next if $KEYWORD{$k} || $ANNOTATION{$k} || $k =~ /^x-/;
        die "$self->{file}: $where uses '$k', which Chatvisor::OpenAPI does not check\n";
    }
    $self->_check_schema($s->{$_}, "$where/$_") for grep { $s->{$_} }
        qw(items additionalProperties not);
    $self->_check_keywords($s->{properties}, "$where/properties")
        if ref $s->{properties} eq 'HASH';
    for my $k (qw(allOf anyOf oneOf)) {
        next unless ref $s->{$k} eq 'ARRAY';
        $self->_check_schema($s->{$k}[$_], "$where/$k/$_") for 0 .. $#{ $s->{$k} };
    }
}

# ---- JSON values ----

# Decodes JSON bytes; dies on invalid JSON.
sub decode_json {
    my ($bytes) = @_;
    return JSON::PP->new->utf8->allow_nonref->decode($bytes);
}

# The JSON type of a decoded value: null, boolean, object, array, integer,
# number or string. Numbers are told from strings by their flags: a decoded
# number has a numeric value and no string one.
sub json_type {
    my $b = B::svref_2object(\$_[0]);
    return 'null' unless defined $_[0];
    my $r = ref $_[0];
    if ($r) {
        return 'object' if $r eq 'HASH';
        return 'array' if $r eq 'ARRAY';
        return 'boolean' if JSON::PP::is_bool($_[0]);
        return 'object' if $r eq 'Math::BigInt' || $r eq 'Math::BigFloat';
        return "perl $r";
    }
    my $f = $b->FLAGS;
    if (($f & (B::SVp_IOK() | B::SVp_NOK())) && !($f & B::SVf_POK())) {
        my $v = $_[0];
        return ($v == int($v) && $v !~ /[eE.]|inf|nan/i) ? 'integer' : 'number'
            if $f & B::SVp_NOK() && !($f & B::SVp_IOK());
        return 'integer';
    }
    return 'string';
}

sub _is_type {
    my ($want, $have) = @_;
    return 1 if $want eq $have;
    return 1 if $want eq 'number' && $have eq 'integer';
    return 0;
}

# A canonical text of a value, for enum/const comparisons.
sub _canon {
    my ($v) = @_;
    my $t = json_type($v);
    return 'null' if $t eq 'null';
    return $v ? 'true' : 'false' if $t eq 'boolean';
    return 'n:' . (0 + $v) if $t eq 'integer' || $t eq 'number';
    return 's:' . $v if $t eq 'string';
    return '[' . join(',', map { _canon($_) } @$v) . ']' if $t eq 'array';
    return '{' . join(',', map { "$_=" . _canon($v->{$_}) } sort keys %$v) . '}'
        if $t eq 'object';
    return "?$t";
}

sub _show {
    my ($v) = @_;
    my $s = eval { JSON::PP->new->canonical->allow_nonref->allow_blessed
                   ->convert_blessed->encode($v) } // "$v";
    $s = substr($s, 0, 120) . '...' if length $s > 123;
    return $s;
}

my $DATE_TIME = qr/^\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])[Tt]
                   (?:[01]\d|2[0-3]):[0-5]\d:(?:[0-5]\d|60)(?:\.\d+)?
                   (?:[Zz]|[+-](?:[01]\d|2[0-3]):[0-5]\d)$/x;

# ---- schema validation ----

# Errors of $data against $schema ("$where: message" each).
sub validate {
    my ($self, $schema, $data, $where) = @_;
    my @err;
    $self->_v($schema, $data, $where // '$', \@err);
    return @err;
}

sub _v {
    my ($self, $s, $d, $at, $err) = @_;
    return if !ref $s && $s;            # true schema
    if (!ref $s || JSON::PP::is_bool($s)) {
        push @$err, "$at: not allowed here" unless $s;
        return;
    }
    if (defined $s->{'$ref'}) {
        $self->_v($self->pointer($s->{'$ref'}), $d, $at, $err);
    }
    my $type = json_type($d);

    if (defined $s->{type}) {
        my @t = ref $s->{type} ? @{ $s->{type} } : ($s->{type});
        unless (grep { _is_type($_, $type) } @t) {
            push @$err, "$at: expected " . join(' or ', @t) . ", got $type "
                        . _show($d);
            return;
        }
    }
    if ($s->{enum}) {
        my $c = _canon($d);
        push @$err, "$at: " . _show($d) . " is not one of "
                    . _show($s->{enum})
            unless grep { _canon($_) eq $c } @{ $s->{enum} };
    }
    if (exists $s->{const}) {
        push @$err, "$at: " . _show($d) . " is not " . _show($s->{const})
            unless _canon($d) eq _canon($s->{const});
    }

    if ($type eq 'object') {
        my $props = $s->{properties} || {};
        for my $r (@{ $s->{required} || [] }) {
            push @$err, "$at: required member '$r' is missing"
                unless exists $d->{$r};
        }
        for my $k (sort keys %$d) {
            if (exists $props->{$k}) {
                $self->_v($props->{$k}, $d->{$k}, "$at.$k", $err);
            } elsif (exists $s->{additionalProperties}) {
                my $ap = $s->{additionalProperties};
                if (ref $ap eq 'HASH') {
                    $self->_v($ap, $d->{$k}, "$at.$k", $err);
                } elsif (!$ap) {
                    push @$err, "$at: member '$k' is not in the schema";
                }
            }
        }
    }
    if ($type eq 'array') {
        push @$err, "$at: " . @$d . " items, fewer than $s->{minItems}"
            if defined $s->{minItems} && @$d < $s->{minItems};
        push @$err, "$at: " . @$d . " items, more than $s->{maxItems}"
            if defined $s->{maxItems} && @$d > $s->{maxItems};
        if (ref $s->{items} eq 'HASH') {
            $self->_v($s->{items}, $d->[$_], "$at\[$_]", $err) for 0 .. $#$d;
        }
    }
    if ($type eq 'string') {
        my $len = length $d;
        push @$err, "$at: " . _show($d) . " is shorter than $s->{minLength}"
            if defined $s->{minLength} && $len < $s->{minLength};
        push @$err, "$at: string of $len characters, longer than $s->{maxLength}"
            if defined $s->{maxLength} && $len > $s->{maxLength};
        push @$err, "$at: " . _show($d) . " does not match /$s->{pattern}/"
            if defined $s->{pattern} && $d !~ /$s->{pattern}/;
        if (defined $s->{format}) {
            if ($s->{format} eq 'date-time') {
                push @$err, "$at: " . _show($d) . " is not an RFC 3339 date-time"
                    unless $d =~ $DATE_TIME;
            } elsif ($s->{format} eq 'uri') {
                push @$err, "$at: " . _show($d) . " is not an absolute URI"
                    unless $d =~ m{^[A-Za-z][A-Za-z0-9+.-]*:[^\s]+$};
            }
        }
    }
    if ($type eq 'integer' || $type eq 'number') {
        push @$err, "$at: $d is less than $s->{minimum}"
            if defined $s->{minimum} && $d < $s->{minimum};
        push @$err, "$at: $d is more than $s->{maximum}"
            if defined $s->{maximum} && $d > $s->{maximum};
    }

    if ($s->{allOf}) {
        $self->_v($_, $d, $at, $err) for @{ $s->{allOf} };
    }
    if ($s->{anyOf}) {
        my @all;
        my $ok = 0;
        for my $sub (@{ $s->{anyOf} }) {
            my @e;
            $self->_v($sub, $d, $at, \@e);
            if (!@e) { $ok = 1; last }
            push @all, @e;
        }
        push @$err, "$at: matches none of anyOf (" . join('; ', @all) . ")"
            unless $ok;
    }
    if ($s->{oneOf}) {
        my ($n, @all) = (0);
        for my $sub (@{ $s->{oneOf} }) {
            my @e;
            $self->_v($sub, $d, $at, \@e);
            if (@e) { push @all, @e } else { $n++ }
        }
        push @$err, "$at: matches none of oneOf (" . join('; ', @all) . ")"
            if $n == 0;
        push @$err, "$at: matches $n of oneOf, not exactly one" if $n > 1;
    }
    if ($s->{not}) {
        my @e;
        $self->_v($s->{not}, $d, $at, \@e);
        push @$err, "$at: matches a 'not' schema" unless @e;
    }
}

# ---- operations ----

# (path template, path item, {param => value}) for a request path, or ().
sub find_path {
    my ($self, $path) = @_;
    $path =~ s/[?#].*//s;
    my $base = $self->{base};
    return () unless substr($path, 0, length $base) eq $base;
    my $rest = substr($path, length $base);
    $rest = '/' if $rest eq '';
    my @segs = split m{/}, $rest, -1;
    my ($best, $best_lit, %best_params);
    for my $tmpl (keys %{ $self->{doc}{paths} }) {
        my @t = split m{/}, $tmpl, -1;
        next unless @t == @segs;
        my ($lit, %p) = (0);
        my $ok = 1;
        for my $i (0 .. $#t) {
            if ($t[$i] =~ /^\{(\w+)\}$/) {
                my $name = $1;
                if ($segs[$i] eq '') { $ok = 0; last }
                (my $v = $segs[$i]) =~ s/%([0-9A-Fa-f]{2})/chr hex $1/ge;
                $p{$name} = $v;
            } elsif ($t[$i] eq $segs[$i]) {
                $lit++;
            } else {
                $ok = 0;
                last;
            }
        }
        next unless $ok;
        if (!defined $best || $lit > $best_lit) {
            ($best, $best_lit, %best_params) = ($tmpl, $lit, %p);
        }
    }
    return () unless defined $best;
    return ($best, $self->{doc}{paths}{$best}, \%best_params);
}

# The methods a path item has, upper case.
sub path_methods {
    my ($self, $item) = @_;
    return map { uc } grep { $item->{$_} } @METHODS;
}

sub _query {
    my ($path) = @_;
    my ($q) = $path =~ /\?([^#]*)/ or return {};
    my %q;
    for my $pair (split /&/, $q) {
        next if $pair eq '';
        my ($k, $v) = split /=/, $pair, 2;
        for ($k, $v) {
            next unless defined;
            tr/+/ /;
            s/%([0-9A-Fa-f]{2})/chr hex $1/ge;
        }
        push @{ $q{$k} }, $v // '';
    }
    return \%q;
}

sub _param_value {
    my ($self, $schema, $text) = @_;
    my $s = $self->resolve($schema);
    my @t = ref $s->{type} ? @{ $s->{type} } : ($s->{type} // 'string');
    if (grep { $_ eq 'integer' } @t) {
        return undef unless $text =~ /^-?\d+$/;
        return 0 + $text;
    }
    if (grep { $_ eq 'number' } @t) {
        return undef unless $text =~ /^-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?$/;
        return 0 + $text;
    }
    return "$text";
}

# Checks a request the test is about to send: parameters and body. The body
# is bytes; content_type its Content-Type (undef: none).
sub check_request {
    my ($self, $method, $path, $content_type, $body) = @_;
    my @err;
    my ($tmpl, $item, $params) = $self->find_path($path)
        or return ("no path in the spec for $path");
    my $op = $item->{lc $method}
        or return ("$tmpl has no \U$method\E operation in the spec");
    my $q = _query($path);
    my @decl = (@{ $item->{parameters} || [] }, @{ $op->{parameters} || [] });
    my %seen;
    for my $p (map { $self->resolve($_) } @decl) {
        my ($name, $in) = ($p->{name}, $p->{in});
        next if $seen{"$in:$name"}++;
        my $text;
        if ($in eq 'path') { $text = $params->{$name} }
        elsif ($in eq 'query') { $text = $q->{$name} ? $q->{$name}[0] : undef }
        else { next }
        if (!defined $text) {
            push @err, "$in parameter '$name' is required" if $p->{required};
            next;
        }
        my $v = $self->_param_value($p->{schema}, $text);
        if (!defined $v) {
            push @err, "$in parameter '$name': '$text' is not of its type";
            next;
        }
        push @err, $self->validate($p->{schema}, $v, "$in parameter '$name'");
    }
    my %known = map { $_->{name} => 1 } grep { $_->{in} eq 'query' }
                map { $self->resolve($_) } @decl;
    push @err, map { "query parameter '$_' is not in the spec" }
               grep { !$known{$_} } sort keys %$q;

    my $rb = $op->{requestBody} ? $self->resolve($op->{requestBody}) : undef;
    if (!defined $body || $body eq '') {
        push @err, "$method $tmpl needs a body" if $rb && $rb->{required};
        return @err;
    }
    return (@err, "$method $tmpl takes no body") unless $rb;
    my $ct = lc($content_type // '');
    $ct =~ s/\s*;.*//s;
    my $media = $rb->{content}{$ct}
        or return (@err, "$method $tmpl does not take Content-Type '$ct'");
    my $data;
    if ($ct eq 'application/x-www-form-urlencoded') {
        my $f = _query("?$body");
        $data = { map { $_ => $f->{$_}[0] } keys %$f };
    } else {
        $data = eval { decode_json($body) };
        return (@err, "body is not JSON: $@") if $@;
    }
    push @err, $self->validate($media->{schema}, $data, 'body');
    return @err;
}

# Normalizes an answer: (status, header getter, body bytes).
sub _answer {
    my ($res) = @_;
    if (Scalar::Util::blessed($res) && $res->can('header_all')) {
        return ($res->status, sub { my @v = $res->header_all($_[0]); @v },
                $res->body);
    }
    my $h = $res->{headers} || {};
    return ($res->{status}, sub {
        my $v = $h->{ lc $_[0] };
        return () unless defined $v;
        return ref $v ? @$v : ($v);
    }, $res->{content} // '');
}

# Checks an answer to METHOD PATH against the spec.
sub check_response {
    my ($self, $method, $path, $res) = @_;
    require Scalar::Util;
    my ($status, $hdr, $body) = _answer($res);
    my $m = lc $method;
    my ($tmpl, $item) = $self->find_path($path);
    my $where = "\U$method\E $path -> $status";

    my $resp;
    if (!defined $tmpl) {
        return ("$where: no such path in the spec, so 404 was expected")
            unless $status == 404;
        $resp = $self->pointer('#/components/responses/NotFound');
    } elsif (!$item->{$m} && !($m eq 'head' && $item->{get})) {
        return ("$where: the spec has no \U$method\E for $tmpl, so 405 was expected")
            unless $status == 405;
        $resp = $self->pointer('#/components/responses/MethodNotAllowed');
        my %want = map { $_ => 1 } grep { !/^(?:HEAD|OPTIONS)$/ }
                   $self->path_methods($item);
        my ($allow) = $hdr->('Allow');
        my %got = map { uc($_) => 1 } grep { length }
                  split /\s*,\s*/, $allow // '';
        delete @got{qw(HEAD OPTIONS)};
        my $w = join ', ', sort keys %want;
        my $g = join ', ', sort keys %got;
        return ("$where: Allow is '" . ($allow // '(none)') . "', the spec has $w")
            if $w ne $g;
    } else {
        my $op = $item->{$m} // $item->{get};
        my $r = $op->{responses} || {};
        my $key = exists $r->{$status} ? $status
                : exists $r->{ substr($status, 0, 1) . 'XX' } ? substr($status, 0, 1) . 'XX'
                : exists $r->{default} ? 'default' : undef;
        return ("$where: status $status is not documented for \U$method\E $tmpl"
                . " (documented: " . join(', ', sort keys %$r) . ")"
                . ($body ne '' ? "; body: " . substr($body, 0, 300) : ''))
            unless defined $key;
        $resp = $r->{$key};
    }
    $resp = $self->resolve($resp);

    my @err;
    for my $name (sort keys %{ $resp->{headers} || {} }) {
        my $h = $self->resolve($resp->{headers}{$name});
        my @v = $hdr->($name);
        if (!@v) {
            push @err, "$where: header $name is missing" if $h->{required};
            next;
        }
        push @err, map { "$where: header $_" }
                   $self->validate($h->{schema}, "$v[0]", $name) if $h->{schema};
    }
    return @err if $m eq 'head';

    my $content = $resp->{content};
    if (!$content || !%$content) {
        push @err, "$where: the spec has no body for this answer, got "
                   . length($body) . " bytes" if length $body;
        return @err;
    }
    my ($ct) = $hdr->('Content-Type');
    my $base = lc($ct // '');
    $base =~ s/\s*;.*//s;
    my $media = $content->{$base};
    if (!$media) {
        return (@err, "$where: Content-Type '" . ($ct // '(none)')
                      . "' is not one of " . join(', ', sort keys %$content));
    }
    my $data = eval { decode_json($body) };
    return (@err, "$where: body is not JSON (" . ($@ =~ s/\s+$//r) . "): "
                  . substr($body, 0, 200)) if $@;
    push @err, map { "$where: $_" } $self->validate($media->{schema}, $data, 'body');
    return @err;
}

1;
