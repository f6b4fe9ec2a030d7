package Chatvisor::NatsJWT;

# NATS decentralized authentication (operator mode) for the tests, made
# with what Debian 12 has: core Perl and the `openssl` command. Debian
# packages neither `nsc` nor the `nats` CLI, so t/131 makes its operator,
# accounts, users, .creds files and the servers' config itself.
#
#   use Chatvisor::NatsJWT;
#   my $dir = '/tmp/x';                          # where keys are written
#   my $op  = Chatvisor::NatsJWT::Key->new($dir, 'operator');
#   my $sys = Chatvisor::NatsJWT::Key->new($dir, 'account');
#   my $acc = Chatvisor::NatsJWT::Key->new($dir, 'account');
#   my $usr = Chatvisor::NatsJWT::Key->new($dir, 'user');
#   my $ojwt = Chatvisor::NatsJWT::operator_jwt($op, system_account => $sys);
#   my $sjwt = Chatvisor::NatsJWT::account_jwt($op, $sys, name => 'SYS');
#   my $ajwt = Chatvisor::NatsJWT::account_jwt($op, $acc, name => 'APP',
#                                   jetstream => 1, revoked => { $pub => T });
#   my $ujwt = Chatvisor::NatsJWT::user_jwt($acc, $usr, name => 'n', exp => T);
#   write a .creds file: Chatvisor::NatsJWT::creds($ujwt, $usr)
#   the servers' config: Chatvisor::NatsJWT::server_config($ojwt, $sys,
#                                   { $sys->public => $sjwt, ... })
#   Chatvisor::NatsJWT::have_openssl()   the openssl command does ed25519
#
# NKeys (the key format of nats-io/nkeys): an Ed25519 key, as text.
#   public:  base32(prefix byte, 32-byte public key, CRC16) without
#            padding: 56 characters, the first saying the type (O
#            operator, A account, U user)
#   seed:    base32(two bytes, 32-byte private seed, CRC16): the first
#            byte is the seed prefix (18 << 3) with the type's prefix's
#            top 3 bits, the second the type's low 5 bits shifted up 3,
#            so a user's seed starts "SU", an account's "SA"
#   CRC16:   XMODEM (polynomial 0x1021, initial 0), little-endian
#   base32:  RFC 4648 alphabet A-Z2-7
#
# JWTs (nats-io/jwt v2): header {"typ":"JWT","alg":"ed25519-nkey"}, the
# claims, both base64url without padding, and the Ed25519 signature of
# "header.claims" by the issuer's key. Claims: jti (base32 of the
# SHA-512/256 of the standard claims without jti, as the v2 library
# makes it; servers do not check it), iat, iss (the issuer's public key),
# sub (the subject's), name, exp when given, and nats: {type, version 2,
# ...the type's own fields}.
#   operator: signed by itself; system_account
#   account:  signed by the operator; limits (unlimited; JetStream's
#             disk_storage and mem_storage unlimited with jetstream => 1,
#             else none: no JetStream), revocations {user key => time: a
#             user JWT issued at or before it is refused}
#   user:     signed by its account; pub/sub permissions empty (all
#             allowed), no limits

use strict;
use warnings;

use Digest::SHA ();
use File::Temp ();
use JSON::PP ();
use MIME::Base64 ();

my $JSON = JSON::PP->new->utf8->canonical;

our %PREFIX = (
    seed     => 18 << 3,
    operator => 14 << 3,
    account  => 0,
    user     => 20 << 3,
);

my @B32 = ('A' .. 'Z', '2' .. '7');

sub base32 {
    my ($bytes) = @_;
    my $bits = unpack 'B*', $bytes;
    $bits .= '0' x ((5 - length($bits) % 5) % 5);
    return join '', map { $B32[oct "0b$_"] } $bits =~ /(.{5})/g;
}

sub base32_decode {
    my ($text) = @_;
    my %v = map { $B32[$_] => $_ } 0 .. $#B32;
    my $bits = join '', map {
        defined $v{$_} ? sprintf('%05b', $v{$_}) : die "not base32: $_\n"
    } split //, $text;
    $bits = substr($bits, 0, length($bits) - length($bits) % 8);
    return pack 'B*', $bits;
}

sub crc16 {
    my ($bytes) = @_;
    my $crc = 0;
    for my $b (unpack 'C*', $bytes) {
        $crc ^= $b << 8;
        for (1 .. 8) {
            $crc = $crc & 0x8000 ? (($crc << 1) ^ 0x1021) & 0xffff
                                 : ($crc << 1) & 0xffff;
        }
    }
    return $crc;
}

# prefix bytes and key bytes, with their CRC, as text
sub encode {
    my ($raw) = @_;
    return base32($raw . pack('v', crc16($raw)));
}

# text back to its bytes (CRC checked, CRC removed)
sub decode {
    my ($text) = @_;
    my $raw = base32_decode($text);
    die "too short\n" if length $raw < 3;
    my ($body, $crc) = (substr($raw, 0, -2), unpack('v', substr($raw, -2)));
    die "bad CRC in $text\n" unless crc16($body) == $crc;
    return $body;
}

sub public_text {
    my ($type, $pub) = @_;
    my $p = $PREFIX{$type} // die "no nkey type $type\n";
    return encode(pack('C', $p) . $pub);
}

sub seed_text {
    my ($type, $seed) = @_;
    my $p = $PREFIX{$type} // die "no nkey type $type\n";
    return encode(pack('CC', $PREFIX{seed} | ($p >> 5), ($p & 31) << 3)
                  . $seed);
}

sub b64url {
    (my $s = MIME::Base64::encode_base64($_[0], '')) =~ tr{+/}{-_};
    $s =~ s/=+\z//;
    return $s;
}

sub b64url_decode {
    (my $s = $_[0]) =~ tr{-_}{+/};
    $s .= '=' x ((4 - length($s) % 4) % 4);
    return MIME::Base64::decode_base64($s);
}

sub _openssl {
    my ($args) = @_;
    my $out = `openssl $args 2>&1`;
    die "openssl $args: $out" if $?;
    return $out;
}

sub have_openssl {
    my $d = File::Temp::tempdir(CLEANUP => 1);
    return !system("openssl genpkey -algorithm ed25519 -outform DER"
                   . " -out $d/k.der >/dev/null 2>&1");
}

sub _slurp {
    my ($file) = @_;
    open my $fh, '<:raw', $file or die "read $file: $!\n";
    local $/;
    return scalar <$fh>;
}

sub _spew {
    my ($file, $bytes) = @_;
    open my $fh, '>:raw', $file or die "write $file: $!\n";
    print $fh $bytes;
    close $fh or die "write $file: $!\n";
}

# the standard claims of nats-io/jwt v2 (jti aside), hashed into the jti
my @STD = qw(aud exp iat iss name nbf sub);

# a JWT of CLAIMS (a hash without iss, iat, jti) signed by KEY
sub sign_jwt {
    my ($key, $claims) = @_;
    my %c = (%$claims, iss => $key->public);
    $c{iat} //= time;
    my %std = map { $_ => $c{$_} } grep { defined $c{$_} } @STD;
    $c{jti} = base32(Digest::SHA::sha512256($JSON->encode(\%std)));
    my $head = b64url($JSON->encode({ typ => 'JWT', alg => 'ed25519-nkey' }));
    my $body = b64url($JSON->encode(\%c));
    return "$head.$body." . b64url($key->sign("$head.$body"));
}

# the claims of a JWT (not verified)
sub claims {
    my ($jwt) = @_;
    my (undef, $body) = split /\./, $jwt;
    return $JSON->decode(b64url_decode($body));
}

sub operator_jwt {
    my ($op, %o) = @_;
    my %nats = (type => 'operator', version => 2);
    $nats{system_account} = $o{system_account}->public if $o{system_account};
    return sign_jwt($op, { sub => $op->public, name => $o{name} // 'test-op',
                           nats => \%nats });
}

sub account_jwt {
    my ($op, $acc, %o) = @_;
    my %limits = (subs => -1, data => -1, payload => -1, imports => -1,
                  exports => -1, wildcards => JSON::PP::true, conn => -1,
                  leaf => -1);
    if ($o{jetstream}) {
        %limits = (%limits, mem_storage => -1, disk_storage => -1,
                   streams => -1, consumer => -1);
    }
    my %nats = (type => 'account', version => 2, limits => \%limits,
                default_permissions => { pub => {}, sub => {} });
    $nats{revocations} = $o{revoked} if $o{revoked} && %{ $o{revoked} };
    return sign_jwt($op, { sub => $acc->public, name => $o{name} // 'acc',
                           nats => \%nats });
}

sub user_jwt {
    my ($acc, $user, %o) = @_;
    my %c = (sub => $user->public, name => $o{name} // 'user',
             nats => { type => 'user', version => 2, pub => {}, sub => {},
                       subs => -1, data => -1, payload => -1 });
    $c{exp} = $o{exp} if defined $o{exp};
    $c{iat} = $o{iat} if defined $o{iat};
    return sign_jwt($acc, \%c);
}

# a .creds file's text, as `nsc generate creds` lays it out (libnats reads
# the first "-----" block as the JWT and the second as the seed)
sub creds {
    my ($jwt, $user) = @_;
    my $seed = $user->seed;
    return <<"EOF";
-----BEGIN NATS USER JWT-----
$jwt
------END NATS USER JWT------

************************* IMPORTANT *************************
NKEY Seed printed below can be used to sign and prove identity.
NKEYs are sensitive and should be treated as secrets.

-----BEGIN USER NKEY SEED-----
$seed
------END USER NKEY SEED------

*************************************************************
EOF
}

# the operator-mode part of a nats-server config: the accounts' JWTs kept
# in memory (resolver MEMORY), ACCOUNTS: {public key => JWT}
sub server_config {
    my ($op_jwt, $sys, $accounts) = @_;
    my $pre = join '', map { "    $_: \"$accounts->{$_}\"\n" }
                       sort keys %$accounts;
    return <<"EOF";
operator: "$op_jwt"
system_account: "${\ $sys->public }"
resolver: MEMORY
resolver_preload: {
$pre}
EOF
}

# ---------------------------------------------------------------------------

package Chatvisor::NatsJWT::Key;

# An Ed25519 key pair made by `openssl genpkey`, kept as a DER file in DIR
# (openssl signs with it); TYPE: operator, account or user.
#   ->public  the public NKey ("O...", "A...", "U...")
#   ->seed    the seed NKey ("SO...", "SA...", "SU...")
#   ->sign(BYTES)   the 64-byte Ed25519 signature (openssl pkeyutl -rawin)

my $N = 0;

sub new {
    my ($class, $dir, $type) = @_;
    die "no nkey type $type\n" unless defined $PREFIX{$type};
    my $file = "$dir/nkey-$$-" . ++$N . '.der';
    Chatvisor::NatsJWT::_openssl(
        "genpkey -algorithm ed25519 -outform DER -out $file");
    chmod 0600, $file;
    # PKCS#8 of an Ed25519 key: the 32-byte seed is the DER's last 32
    # bytes; the SubjectPublicKeyInfo's are the public key
    my $der = Chatvisor::NatsJWT::_slurp($file);
    my $pubfile = "$file.pub";
    Chatvisor::NatsJWT::_openssl("pkey -inform DER -in $file -pubout"
                                 . " -outform DER -out $pubfile");
    my $pub = Chatvisor::NatsJWT::_slurp($pubfile);
    die "not an Ed25519 key\n" unless length $der == 48 && length $pub == 44;
    return bless { type => $type, file => $file, dir => $dir,
                   seed_raw => substr($der, -32),
                   pub_raw => substr($pub, -32) }, $class;
}

sub type { $_[0]{type} }

sub public {
    my ($self) = @_;
    return $self->{public} //=
        Chatvisor::NatsJWT::public_text($self->{type}, $self->{pub_raw});
}

sub seed {
    my ($self) = @_;
    return Chatvisor::NatsJWT::seed_text($self->{type}, $self->{seed_raw});
}

sub sign {
    my ($self, $bytes) = @_;
    my $in = "$self->{file}.in";
    my $out = "$self->{file}.sig";
    Chatvisor::NatsJWT::_spew($in, $bytes);
    Chatvisor::NatsJWT::_openssl("pkeyutl -sign -rawin -keyform DER"
                                 . " -inkey $self->{file} -in $in -out $out");
    my $sig = Chatvisor::NatsJWT::_slurp($out);
    unlink $in, $out;
    die "not an Ed25519 signature\n" unless length $sig == 64;
    return $sig;
}

1;
