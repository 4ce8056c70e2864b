#!/usr/bin/perl
# tls.t: TLS termination on `tls = true` listeners (docs/tls.md, docs/settings.md, docs/http.md):
# TLS 1.2 and 1.3, older versions refused, SNI certificate selection and the default certificate,
# RSA and ECDSA pairs on one server, the chain sent, ALPN http/1.1, plain HTTP on a TLS port (400),
# the handshake bounded by client_header_timeout, keep-alive and pipelining, a 4 MiB static file and
# a proxied response intact (X-Forwarded-Proto: https), $scheme and $ssl_*, client certificates (on
# / optional / off, 421 across servers), -t errors and warnings and a reload with a broken key that
# keeps the old workers serving. Certificates are made with the openssl CLI at test time; the client
# is `openssl s_client`.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Portico;
use PorticoBackend;
use File::Temp qw(tempdir);
use Digest::MD5 qw(md5_hex);
use Digest::SHA ();
use IO::Socket::INET;
use Time::HiRes qw(time);

skip_unless_module('tls', 'return', 'static', 'proxy');
plan(skip_all => 'no openssl CLI') unless system('openssl version >/dev/null 2>&1') == 0;

my $D = tempdir('portico-tls-XXXXXX', DIR => '/tmp', CLEANUP => 1);

sub sh
{
    my ($cmd) = @_;
    system("$cmd >>$D/openssl.log 2>&1") == 0 or BAIL_OUT("failed: $cmd");
}

# CA -> intermediate -> leaves; a second RSA leaf, an ECDSA leaf, a client, an expiring leaf.
sh("openssl req -x509 -newkey rsa:2048 -nodes -keyout $D/ca.key -out $D/ca.crt -days 30 "
   . "-subj '/CN=Portico Test CA' -addext basicConstraints=critical,CA:TRUE "
   . "-addext keyUsage=critical,keyCertSign,cRLSign");
write_file("$D/int.ext", "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n");
sh("openssl req -newkey rsa:2048 -nodes -keyout $D/int.key -out $D/int.csr -subj '/CN=Portico Int'");
sh("openssl x509 -req -in $D/int.csr -CA $D/ca.crt -CAkey $D/ca.key -CAcreateserial "
   . "-out $D/int.crt -days 30 -extfile $D/int.ext");

sub leaf
{
    my ($name, $cn, $alg, $days, $ext) = @_;
    my $new = $alg eq 'ec'
        ? "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1" : "-newkey rsa:2048";
    sh("openssl req $new -nodes -keyout $D/$name.key -out $D/$name.csr -subj '$cn'");
    write_file("$D/$name.ext", $ext);
    sh("openssl x509 -req -in $D/$name.csr -CA $D/int.crt -CAkey $D/int.key -CAcreateserial "
       . "-out $D/$name.leaf -days $days -extfile $D/$name.ext");
    write_file("$D/$name.crt", read_file("$D/$name.leaf") . read_file("$D/int.crt"));
}
leaf('a', '/CN=a.test', 'rsa', 60, "subjectAltName=DNS:a.test\n");
leaf('b', '/CN=b.test', 'rsa', 60, "subjectAltName=DNS:b.test,DNS:*.b.test\n");
leaf('ec', '/CN=a.test', 'ec', 60, "subjectAltName=DNS:a.test\n");
leaf('soon', '/CN=soon.test', 'rsa', 5, "subjectAltName=DNS:soon.test\n");
leaf('client', '/C=FR/O=Portico Tests/CN=client one', 'rsa', 60, "extendedKeyUsage=clientAuth\n");
# a client certificate from a CA the server does not trust
sh("openssl req -x509 -newkey rsa:2048 -nodes -keyout $D/rogue.key -out $D/rogue.crt -days 30 "
   . "-subj '/CN=rogue'");

my $big = join('', map { pack('N', $_ * 2654435761 % 4294967296) } 0 .. (1 << 20) - 1);

my $p = Portico->new(start => 0, files => { 'html/big.bin' => $big, 'html/small.txt' => "small\n" });
my $be = PorticoBackend->new(port => $p->port(4), id => 'up');
my $vars = '$scheme|$ssl_protocol|$ssl_cipher|$ssl_client_verify|$ssl_client_s_dn|$server_name';
my $conf = <<"EOF2";
upstreams = ( { name = "app"; servers = ( { address = "127.0.0.1:%%PORT4%%"; } ); } );
servers = (
  { listen = ( { address = "127.0.0.1:%%PORT1%%"; tls = true; } );
    names = ["a.test"];
    client_header_timeout = "2s";
    tls = { certificate = ["$D/a.crt", "$D/ec.crt"]; key = ["$D/a.key", "$D/ec.key"]; };
    routes = (
      { match = { path = "/vars"; }; return = { status = 200; body = "$vars\\n"; }; },
      { match = { path_prefix = "/echo"; }; proxy = { upstream = "app"; }; },
      { match = { path_prefix = "/bytes"; }; proxy = { upstream = "app"; }; },
      { match = { path_prefix = "/"; }; static = { root = "html"; }; }
    ); },
  { listen = ( { address = "127.0.0.1:%%PORT1%%"; tls = true; } );
    names = ["b.test", "*.b.test"];
    tls = { certificate = "$D/b.crt"; key = "$D/b.key"; protocols = ["TLSv1.3"]; };
    routes = ( { match = { path_prefix = "/"; }; return = { status = 200; body = "b $vars\\n"; }; } ); },
  { listen = ( { address = "127.0.0.1:%%PORT2%%"; tls = true; default = true; } );
    names = ["m.test"];
    tls = { certificate = "$D/a.crt"; key = "$D/a.key"; client_ca = "$D/ca.crt"; verify_client = "on"; };
    routes = ( { match = { path_prefix = "/"; }; return = { status = 200; body = "m $vars\\n"; }; } ); },
  { listen = ( { address = "127.0.0.1:%%PORT2%%"; tls = true; } );
    names = ["o.test"];
    tls = { certificate = "$D/b.crt"; key = "$D/b.key"; client_ca = "$D/ca.crt"; verify_client = "optional"; };
    routes = ( { match = { path_prefix = "/"; }; return = { status = 200; body = "o $vars\\n"; }; } ); },
  { listen = ["127.0.0.1:%%PORT3%%"];
    routes = ( { match = { path_prefix = "/"; }; return = { status = 200; body = "plain $vars\\n"; }; } ); }
);
EOF2
$p->write_conf($conf);
$p->start;
my ($P1, $P2, $P3) = ($p->port(1), $p->port(2), $p->port(3));

# s_client: returns (stdout = the HTTP bytes, stderr = -brief handshake summary + errors).
sub tls
{
    my (%o) = @_;
    my $req = $o{req} // "GET " . ($o{path} // '/vars') . " HTTP/1.1\r\nHost: "
                        . ($o{host} // 'a.test') . "\r\nConnection: close\r\n\r\n";
    write_file("$D/req", $req);
    my $cmd = "exec openssl s_client -connect 127.0.0.1:$o{port} -brief -ign_eof -CAfile $D/ca.crt "
              . (defined $o{sni} ? "-servername $o{sni} " : "-noservername ")
              . ($o{args} // '') . " < $D/req";
    my ($rc, $out, $err) = Portico::run_cmd('sh', '-c', $cmd);
    return ($out, $err);
}

# ---- versions, ciphers, variables --------------------------------------------------------
my ($out, $err) = tls(port => $P1, sni => 'a.test', args => '-tls1_3');
my ($s, $h, $b) = http_parse($out);
is($s, 200, 'TLS 1.3: 200');
like($err, qr/Protocol version: TLSv1\.3/, 'TLS 1.3 negotiated');
is($b, "https|TLSv1.3|TLS_AES_128_GCM_SHA256|NONE||a.test\n", 'TLS 1.3: $scheme https, $ssl_protocol, $ssl_cipher, verify NONE');

($out, $err) = tls(port => $P1, sni => 'a.test', args => '-tls1_2');
($s, $h, $b) = http_parse($out);
is($s, 200, 'TLS 1.2: 200');
like($err, qr/Protocol version: TLSv1\.2/, 'TLS 1.2 negotiated');
like($b, qr/^https\|TLSv1\.2\|ECDHE-(RSA|ECDSA)-(AES\d+-GCM-SHA\d+|CHACHA20-POLY1305)\|NONE\|/,
     'TLS 1.2: an ECDHE cipher');

($out, $err) = tls(port => $P1, sni => 'a.test', args => '-tls1_2 -cipher AES128-GCM-SHA256');
is($out, '', 'TLS 1.2 without ECDHE offered: no response');
like($err, qr/handshake failure|no shared cipher/i, 'non-ECDHE refused by the server');

for my $v ('tls1_1', 'tls1') {
    ($out, $err) = tls(port => $P1, sni => 'a.test', args => "-$v -cipher DEFAULT\@SECLEVEL=0");
    is($out, '', "$v: no response");
    like($err, qr/alert protocol version|unsupported protocol|no protocols available/i,
         "$v refused");
}

# ---- SNI, default certificate, RSA + ECDSA, chain, ALPN ------------------------------------
($out, $err) = tls(port => $P1, sni => 'a.test');
like($err, qr/Peer certificate: CN = a\.test/, 'SNI a.test: a certificate');
like($err, qr/Verification: OK/, 'SNI a.test: chain verifies against the root only');
($out, $err) = tls(port => $P1, sni => 'x.b.test', host => 'x.b.test');
like($err, qr/Peer certificate: CN = b\.test/, 'SNI wildcard x.b.test: b certificate');
($s, $h, $b) = http_parse($out);
like($b, qr/^b https\|TLSv1\.3\|/, 'SNI x.b.test, Host x.b.test: server b answers');
($out, $err) = tls(port => $P1, sni => 'unknown.test');
like($err, qr/Peer certificate: CN = a\.test/, 'unknown SNI: default server certificate');
($out, $err) = tls(port => $P1);
like($err, qr/Peer certificate: CN = a\.test/, 'no SNI: default server certificate');
is((http_parse($out))[0], 200, 'no SNI: 200');

($out, $err) = tls(port => $P1, sni => 'a.test', args => '-tls1_2 -sigalgs ECDSA+SHA256');
like($err, qr/Signature type: ECDSA/, 'ECDSA-only client: ECDSA certificate');
($out, $err) = tls(port => $P1, sni => 'a.test', args => '-tls1_2 -sigalgs RSA+SHA256');
like($err, qr/Signature type: RSA/, 'RSA-only client: RSA certificate');
($out, $err) = tls(port => $P1, sni => 'a.test', args => '-tls1_3 -sigalgs ecdsa_secp256r1_sha256');
like($err, qr/Signature type: ECDSA/, 'TLS 1.3 ECDSA-only client: ECDSA certificate');

{
    my ($rc, $o2, $e2) = Portico::run_cmd('sh', '-c', "exec openssl s_client -connect 127.0.0.1:$P1 "
        . "-servername a.test -showcerts < /dev/null");
    my @certs = $o2 =~ /-----BEGIN CERTIFICATE-----/g;
    is(scalar @certs, 2, 'leaf and intermediate sent');
}

{
    my ($rc, $o2, $e2) = Portico::run_cmd('sh', '-c', "exec openssl s_client -connect "
        . "127.0.0.1:$P1 -servername a.test -alpn h2,http/1.1 < /dev/null");
    like($o2, qr{ALPN protocol: http/1\.1}, 'ALPN: http/1.1 selected');
}
($out, $err) = tls(port => $P1, sni => 'a.test', args => '-alpn h2');
is($out, '', 'ALPN h2 only: no response');
like($err, qr/no application protocol/, 'ALPN h2 only: no_application_protocol alert');

# protocols per server: b is TLS 1.3 only
($out, $err) = tls(port => $P1, sni => 'b.test', host => 'b.test', args => '-tls1_2');
is($out, '', 'b.test TLSv1.3-only: TLS 1.2 refused');

# ---- plain HTTP on the TLS port, handshake timeout ----------------------------------------
{
    my $raw = http_raw($P1, "GET / HTTP/1.1\r\nHost: a.test\r\n\r\n");
    ($s, $h, $b) = http_parse($raw);
    is($s, 400, 'plain HTTP to a TLS port: 400');
    is($b, "The plain HTTP request was sent to HTTPS port.\n", 'plain HTTP: the 400 body');
}
{
    my $c = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $P1, Timeout => 5);
    ok($c, 'connected for the handshake timeout');
    my $t0 = time;
    my $buf = '';
    my $closed = 0;
    $c->blocking(0);
    while (time - $t0 < 15) {
        my $n = sysread($c, $buf, 100);
        if (defined $n && $n == 0) { $closed = 1; last; }
        select(undef, undef, undef, 0.1);
    }
    ok($closed, 'silent client: closed by client_header_timeout (2s)');
    is($buf, '', 'silent client: nothing sent');
}
{
    my ($ps, $ph, $pb) = http_parse(http_get($P3, '/'));
    like($pb, qr/^plain http\|\|\|\|\|/, 'plain listener: $scheme http, $ssl_* empty');
}

# ---- keep-alive, pipelining, big static, proxy --------------------------------------------
{
    my $req = "GET /vars HTTP/1.1\r\nHost: a.test\r\n\r\n"
            . "GET /small.txt HTTP/1.1\r\nHost: a.test\r\n\r\n"
            . "GET /vars HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n";
    ($out, $err) = tls(port => $P1, sni => 'a.test', req => $req);
    my @r = http_parse_all($out);
    is(scalar @r, 3, 'pipelined over TLS: three responses');
    is_deeply([ map { $_->[0] } @r ], [200, 200, 200], 'pipelined: all 200');
    is($r[1][2], "small\n", 'pipelined: the static body');
}
($out, $err) = tls(port => $P1, sni => 'a.test', path => '/big.bin');
($s, $h, $b) = http_parse($out);
is($s, 200, '4 MiB static over TLS: 200');
is($h->{'content-length'}, 4 * 1024 * 1024, '4 MiB: Content-Length');
is(length $b, 4 * 1024 * 1024, '4 MiB: every byte');
is(md5_hex($b), md5_hex($big), '4 MiB: intact');

($out, $err) = tls(port => $P1, sni => 'a.test', path => '/echo');
($s, $h, $b) = http_parse($out);
is($s, 200, 'proxied over TLS: 200');
my $up = json_decode($b);
my %uh;
push @{ $uh{ lc $_->[0] } }, $_->[1] for @{ $up->{headers} || [] };
is_deeply($uh{'x-forwarded-proto'}, ['https'], 'proxied: X-Forwarded-Proto https upstream');

{
    my $body = pattern_bytes(900 * 1024 + 7);
    my $req = "POST /echo HTTP/1.1\r\nHost: a.test\r\nContent-Length: " . length($body)
            . "\r\nConnection: close\r\n\r\n" . $body;
    ($out, $err) = tls(port => $P1, sni => 'a.test', req => $req);
    ($s, $h, $b) = http_parse($out);
    is($s, 200, 'upload 900 KiB over TLS, proxied: 200');
    my $j = json_decode($b);
    is($j->{body_length}, length($body), 'upload: every byte reached the upstream');
    is($j->{body_sha256}, Digest::SHA::sha256_hex($body), 'upload: intact');

    ($out, $err) = tls(port => $P1, sni => 'a.test', path => '/bytes?n=3000001');
    ($s, $h, $b) = http_parse($out);
    is($s, 200, 'proxied 3 MB download over TLS: 200');
    is(length $b, 3000001, 'proxied download: every byte');
    ok($b eq pattern_bytes(3000001), 'proxied download: intact');
}

# ---- client certificates ------------------------------------------------------------------
my $cc = "-cert $D/client.crt -key $D/client.key -cert_chain $D/int.crt";
($out, $err) = tls(port => $P2, sni => 'm.test', host => 'm.test', args => $cc);
($s, $h, $b) = http_parse($out);
is($s, 200, 'verify on + client certificate: 200');
like($b, qr/^m https\|TLSv1\.3\|[^|]+\|SUCCESS\|CN=client one,O=Portico Tests,C=FR\|m\.test$/m,
     'verify on: $ssl_client_verify SUCCESS, $ssl_client_s_dn RFC 2253');
($out, $err) = tls(port => $P2, sni => 'm.test', host => 'm.test');
is((http_parse($out))[0], 400, 'verify on without a certificate: 400');
($out, $err) = tls(port => $P2, sni => 'm.test', host => 'm.test',
                   args => "-cert $D/rogue.crt -key $D/rogue.key");
is((http_parse($out))[0], 400, 'verify on, untrusted certificate: 400');
($out, $err) = tls(port => $P2, sni => 'o.test', host => 'o.test');
($s, $h, $b) = http_parse($out);
is($s, 200, 'verify optional without a certificate: 200');
like($b, qr/^o https\|[^|]+\|[^|]+\|NONE\|\|o\.test$/m, 'optional: $ssl_client_verify NONE');
($out, $err) = tls(port => $P2, sni => 'o.test', host => 'o.test',
                   args => "-cert $D/rogue.crt -key $D/rogue.key");
($s, $h, $b) = http_parse($out);
is($s, 200, 'verify optional, untrusted certificate: 200');
like($b, qr/^o https\|[^|]+\|[^|]+\|FAILED:[^|]+\|CN=rogue\|o\.test$/m,
     'optional: $ssl_client_verify FAILED:reason');
($out, $err) = tls(port => $P2, sni => 'o.test', host => 'm.test', args => $cc);
is((http_parse($out))[0], 421, 'SNI o.test (optional) but Host m.test (on): 421');
($out, $err) = tls(port => $P1, sni => 'a.test', host => 'b.test');
is((http_parse($out))[0], 421, 'SNI a.test but Host b.test (other protocols): 421');
($out, $err) = tls(port => $P1, sni => 'a.test', args => $cc);
like((http_parse($out))[2], qr/\|NONE\|\|a\.test$/m,
     'verify off: a client certificate is not requested');

# ---- -t: errors and warnings --------------------------------------------------------------
{
    my $t = Portico->new(start => 0);
    $t->write_conf(<<"EOF2");
servers = (
  { listen = ( { address = "127.0.0.1:%%PORT1%%"; tls = true; } );
    tls = { certificate = "$D/a.crt"; key = "$D/b.key"; };
    routes = ( { match = { path_prefix = "/"; }; return = { status = 200; }; } ); },
  { listen = ( { address = "127.0.0.1:%%PORT2%%"; tls = true; } );
    tls = { certificate = "$D/missing.crt"; key = "$D/a.key"; };
    routes = ( { match = { path_prefix = "/"; }; return = { status = 200; }; } ); },
  { listen = ( { address = "127.0.0.1:%%PORT3%%"; tls = true; } );
    tls = { certificate = "$D/soon.crt"; key = "$D/soon.key"; protocols = ["TLSv1.2", "SSLv3"]; };
    routes = ( { match = { path_prefix = "/"; }; return = { status = 200; }; } ); },
  { listen = ( { address = "127.0.0.1:%%PORT4%%"; tls = true; } );
    routes = ( { match = { path_prefix = "/"; }; return = { status = 200; }; } ); }
);
EOF2
    my ($rc, $o) = $t->run_t('-t');
    isnt($rc, 0, '-t: fails');
    my $f = $t->conf_file;
    my $l1 = $t->line_of(qr{b\.key});
    my $l2 = $t->line_of(qr{missing\.crt});
    my $l3 = $t->line_of(qr{soon\.crt});
    like($o, qr{\Q$f\E:$l1: .*tls\.key "\Q$D\E/b\.key" does not match certificate "\Q$D\E/a\.crt"},
         '-t: key not matching the certificate, FILE:LINE');
    like($o, qr{\Q$f\E:$l2: .*tls\.certificate "\Q$D\E/missing\.crt"}, '-t: missing file, FILE:LINE');
    like($o, qr{\Q$f\E:$l3: .*tls\.protocols: unknown "SSLv3"}, '-t: unknown protocol, FILE:LINE');
    like($o, qr{a server with a tls listener needs tls\.certificate}, '-t: no certificate');
    unlike($o, qr/BEGIN|PRIVATE KEY/, '-t: no key material in messages');

    $t->write_conf(<<"EOF2");
servers = (
  { listen = ( { address = "127.0.0.1:%%PORT3%%"; tls = true; } );
    tls = { certificate = "$D/soon.crt"; key = "$D/soon.key"; };
    routes = ( { match = { path_prefix = "/"; }; return = { status = 200; }; } ); }
);
EOF2
    ($rc, $o) = $t->run_t('-t');
    is($rc, 0, '-t: a certificate expiring soon is valid');
    unlike($o, qr/forward secrecy/, '-t: default ciphers are all ECDHE');
    $l3 = $t->line_of(qr{soon\.crt});
    like($o, qr{\Q$f\E:$l3: .*certificate "\Q$D\E/soon\.crt" expires within 30 days},
         '-t: expiry warning with FILE:LINE');

    $t->write_conf(<<"EOF2");
servers = (
  { listen = ( { address = "127.0.0.1:%%PORT3%%"; tls = true; } );
    tls = { certificate = "$D/a.crt"; key = "$D/a.key"; ciphers = "ECDHE+AESGCM:AES128-GCM-SHA256";
            verify_client = "on"; };
    routes = ( { match = { path_prefix = "/"; }; return = { status = 200; }; } ); },
  { listen = ( { address = "127.0.0.1:%%PORT4%%"; tls = true; } );
    tls = { certificate = "$D/a.crt"; key = "$D/a.key"; ciphers = "NOPE-NOTHING"; };
    routes = ( { match = { path_prefix = "/"; }; return = { status = 200; }; } ); }
);
EOF2
    ($rc, $o) = $t->run_t('-t');
    isnt($rc, 0, '-t: bad cipher list and verify_client without client_ca fail');
    my ($rcm, $om);
    my $l5 = $t->line_of(qr{AES128-GCM-SHA256});
    my $l6 = $t->line_of(qr{NOPE-NOTHING});
    like($o, qr{\Q$f\E:$l5: warning: .*"AES128-GCM-SHA256" without forward secrecy},
         '-t: non-ECDHE cipher warned, FILE:LINE');
    my $l7 = $t->line_of(qr{verify_client = "on"});
    like($o, qr{\Q$f\E:$l7: .*tls\.verify_client needs tls\.client_ca}, '-t: verify_client without client_ca');
    like($o, qr{\Q$f\E:$l6: .*tls\.ciphers "NOPE-NOTHING"}, '-t: unknown cipher list, FILE:LINE');

    $t->write_conf(<<"EOF2");
servers = (
  { listen = ( { address = "127.0.0.1:%%PORT3%%"; tls = true; } );
    tls = { certificate = "$D/a.crt"; key = "$D/a.key"; };
    routes = ( { match = { path_prefix = "/"; }; return = { status = 200; }; } ); },
  { listen = ( { address = "127.0.0.1:%%PORT3%%"; tls = false; } );
    routes = ( { match = { path_prefix = "/"; }; return = { status = 200; }; } ); }
);
EOF2
    ($rcm, $om) = $t->run_t('-t');
    isnt($rcm, 0, '-t: one address both tls and plain fails');
    my $l8 = $t->line_of(qr{tls = false});
    like($om, qr{\Q$f\E:$l8: .*is tls in one server and plain in another},
         '-t: tls/plain conflict on one address, FILE:LINE');
}

# ---- reload: certificates re-read; a broken key fails the reload --------------------------
{
    my @w1 = $p->worker_pids;
    write_file("$D/a.key.good", read_file("$D/a.key"));
    write_file("$D/a.key", "-----BEGIN PRIVATE KEY-----\nbroken\n-----END PRIVATE KEY-----\n");
    $p->signal('HUP');
    my $f = $p->conf_file;
    ok($p->wait_for(sub { ($p->error_log // '') =~ /\Q$f\E:\d+: .*tls\.key "\Q$D\E\/a\.key": cannot load/ }, 15),
       'HUP with a broken key: FILE:LINE error logged');
    unlike($p->error_log // '', qr/broken/, 'HUP: key contents never logged');
    ($out, $err) = tls(port => $P1, sni => 'a.test');
    is((http_parse($out))[0], 200, 'HUP with a broken key: still serving over TLS');
    is_deeply([ $p->worker_pids ], \@w1, 'HUP with a broken key: old workers untouched');

    # a good reload re-reads the files: a's certificate replaced by b's
    write_file("$D/a.key", read_file("$D/b.key"));
    write_file("$D/a.crt", read_file("$D/b.crt"));
    $p->signal('HUP');
    ok($p->wait_for(sub {
        my ($o3, $e3) = tls(port => $P1, sni => 'a.test', args => '-sigalgs rsa_pss_rsae_sha256');
        return $e3 =~ /Peer certificate: CN = b\.test/;
    }, 20), 'HUP: the new certificate is served');
}

$p->allow(qr/tls\.key/);
$p->stop;

# ---- renegotiation refused; session resumption (tickets shared, kept across reloads) ------
{
    my $r = Portico->new(start => 0);
    $r->write_conf(<<"EOF2");
worker_processes = 2;
servers = (
  { listen = ( { address = "127.0.0.1:%%PORT1%%"; tls = true; } );
    tls = { certificate = "$D/b.crt"; key = "$D/b.key"; session_cache = "off"; };
    routes = ( { match = { path_prefix = "/"; }; return = { status = 200; body = "r\\n"; }; } ); },
  { listen = ( { address = "127.0.0.1:%%PORT2%%"; tls = true; } );
    tls = { certificate = "$D/b.crt"; key = "$D/b.key"; session_tickets = false;
            session_cache = "off"; };
    routes = ( { match = { path_prefix = "/"; }; return = { status = 200; body = "r\\n"; }; } ); },
  { listen = ( { address = "127.0.0.1:%%PORT3%%"; tls = true; } );
    tls = { certificate = "$D/b.crt"; key = "$D/b.key"; session_tickets = false;
            session_cache = "1m"; };
    routes = ( { match = { path_prefix = "/"; }; return = { status = 200; body = "r\\n"; }; } ); }
);
EOF2
    $r->start;
    my ($R1, $R2, $R3) = ($r->port(1), $r->port(2), $r->port(3));
    my ($rc, $o, $e) = Portico::run_cmd('sh', '-c', "(echo R; sleep 2) | exec openssl s_client "
        . "-connect 127.0.0.1:$R1 -tls1_2");
    like($o . $e, qr/no renegotiation/, 'TLS 1.2 renegotiation refused');

    my %first;
    for my $v ('tls1_2', 'tls1_3') {
        for my $port ($R1, $R2, $R3) {
            my ($o1, $e1) = tls(port => $port, sni => 'b.test', host => 'b.test',
                                args => "-$v -sess_out $D/sess.$v.$port");
            $first{"$v.$port"} = $o1;
        }
        is((http_parse($first{"$v.$R1"}))[0], 200, "$v: first connection 200");
    }
    my @w1 = $r->worker_pids;
    $r->signal('HUP');
    ok($r->wait_for(sub {
        my @w = $r->worker_pids;
        return @w == 2 && !grep { my $x = $_; grep { $_ == $x } @w1 } @w;
    }, 20), 'HUP: new workers');
    for my $v ('tls1_2', 'tls1_3') {
        my ($rc2, $o2) = Portico::run_cmd('sh', '-c', "exec openssl s_client -connect "
            . "127.0.0.1:$R1 -$v -servername b.test -sess_in $D/sess.$v.$R1 < /dev/null");
        like($o2, qr/^Reused, /m, "$v: session resumed by the new workers (shared ticket keys)");
        ($rc2, $o2) = Portico::run_cmd('sh', '-c', "exec openssl s_client -connect "
            . "127.0.0.1:$R2 -$v -servername b.test -sess_in $D/sess.$v.$R2 < /dev/null");
        my ($rc3, $o3) = Portico::run_cmd('sh', '-c', "exec openssl s_client -connect "
            . "127.0.0.1:$R3 -$v -servername b.test -sess_in $D/sess.$v.$R3 < /dev/null");
        like($o3, qr/^Reused, /m, "$v: session resumed from the shared cache by the new workers");
        ok(!-s "$D/sess.$v.$R2" || ($o2 =~ /^New, /m && $o2 !~ /^Reused/m),
           "$v: no resumption with session_tickets = false, cache off");
    }
    # TLS 1.3 tickets: sent when something can resume them, none when nothing can
    my %tickets;
    for my $port ($R1, $R2, $R3) {
        my ($o4, $e4) = tls(port => $port, sni => 'b.test', host => 'b.test', args => '-tls1_3 -msg');
        $tickets{$port} = () = ($o4 . $e4) =~ /^<<< TLS 1\.3, Handshake \[length [0-9a-f]+\], NewSessionTicket/mg;
    }
    ok($tickets{$R1} > 0, "TLS 1.3, tickets on: NewSessionTicket sent ($tickets{$R1})");
    ok($tickets{$R3} > 0, "TLS 1.3, tickets off, cache on: NewSessionTicket sent ($tickets{$R3})");
    is($tickets{$R2}, 0, 'TLS 1.3, tickets off and cache off: no NewSessionTicket (nothing could resume)');
    $r->stop;
}
done_testing();
