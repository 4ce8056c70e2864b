#!/usr/bin/perl
# metrics_tls.t: the TLS families of the status route (docs/metrics.md "TLS"), per listener, summed
# over 2 workers: portico_tls_handshakes_total, portico_tls_handshakes_resumed_total and
# portico_tls_handshake_failures_total{reason} move by exactly one for each handshake, resumption
# (openssl s_client -sess_out / -sess_in) and refusal: no shared cipher, an unknown SNI name on a
# listener whose default server sets tls.reject_unknown_names, a client certificate refused by
# verify_client = "on", a refused version (protocol), a client that hangs up (other). Each failure
# is one [info] line "TLS handshake failed (REASON), client: 127.0.0.1, server: ADDR". JSON "tls".

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Portico;
use File::Temp qw(tempdir);
use IO::Socket::INET;
use JSON::PP qw(decode_json);

skip_unless_module('tls', 'status', 'return');
plan(skip_all => 'no openssl CLI') unless system('openssl version >/dev/null 2>&1') == 0;

my $D = tempdir('portico-mtls-XXXXXX', DIR => '/tmp', CLEANUP => 1);
sub sh { system("$_[0] >>$D/openssl.log 2>&1") == 0 or BAIL_OUT("failed: $_[0]"); }

sh("openssl req -x509 -newkey rsa:2048 -nodes -keyout $D/ca.key -out $D/ca.crt -days 30 "
   . "-subj '/CN=Metrics CA' -addext basicConstraints=critical,CA:TRUE "
   . "-addext keyUsage=critical,keyCertSign,cRLSign");
for my $n ('a', 'client') {
    sh("openssl req -newkey rsa:2048 -nodes -keyout $D/$n.key -out $D/$n.csr -subj '/CN=$n.test'");
    write_file("$D/$n.ext", $n eq 'a' ? "subjectAltName=DNS:a.test\n" : "extendedKeyUsage=clientAuth\n");
    sh("openssl x509 -req -in $D/$n.csr -CA $D/ca.crt -CAkey $D/ca.key -CAcreateserial "
       . "-out $D/$n.crt -days 30 -extfile $D/$n.ext");
}
sh("openssl req -x509 -newkey rsa:2048 -nodes -keyout $D/rogue.key -out $D/rogue.crt -days 30 "
   . "-subj '/CN=rogue'");

my $p = Portico->new(start => 0);
$p->write_conf(<<"EOF");
worker_processes = 2;
servers = (
  { listen = ( { address = "127.0.0.1:%%PORT1%%"; tls = true; } );
    names = ["a.test"];
    client_header_timeout = "1s";
    tls = { certificate = "$D/a.crt"; key = "$D/a.key"; reject_unknown_names = true; };
    routes = ( { match = { path = "/"; }; return = { status = 200; body = "a\\n"; }; } ); },
  { listen = ( { address = "127.0.0.1:%%PORT2%%"; tls = true; } );
    names = ["m.test"];
    tls = { certificate = "$D/a.crt"; key = "$D/a.key"; client_ca = "$D/ca.crt"; verify_client = "on"; };
    routes = ( { match = { path = "/"; }; return = { status = 200; body = "m\\n"; }; } ); },
  { listen = ["127.0.0.1:%%PORT3%%"];
    routes = ( { match = { path = "/status"; }; status = { format = "prometheus"; }; },
               { match = { path = "/status.json"; }; status = { format = "json"; }; } ); }
);
EOF
$p->allow(qr/exited on signal 9/);
$p->start;
my ($P1, $P2, $P3) = ($p->port(1), $p->port(2), $p->port(3));
my ($L1, $L2) = ("127.0.0.1:$P1", "127.0.0.1:$P2");

sub s_client
{
    my ($port, $args) = @_;
    write_file("$D/req", "GET / HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n");
    my ($rc, $out, $err) = Portico::run_cmd('sh', '-c', "exec openssl s_client -connect "
        . "127.0.0.1:$port -ign_eof -CAfile $D/ca.crt $args < $D/req");
    return ($out, $err);
}

sub prom
{
    my ($s, $h, $b) = http_parse(http_get($P3, '/status'));
    my %v;
    $v{$1} = $2 while $b =~ /^(portico_tls_\S+) (\d+)$/mg;
    return (\%v, $b);
}

sub hs   { return "portico_tls_handshakes_total{listener=\"$_[0]\"}"; }
sub res  { return "portico_tls_handshakes_resumed_total{listener=\"$_[0]\"}"; }
sub failk { return "portico_tls_handshake_failures_total{listener=\"$_[0]\",reason=\"$_[1]\"}"; }
my @reasons = qw(no_shared_cipher unknown_sni bad_client_cert protocol other);

# every series exists at 0 before any handshake, with its family typed
my ($v, $text) = prom();
for my $l ($L1, $L2) {
    is($v->{ hs($l) }, 0, "$l: handshakes 0 at start");
    is($v->{ res($l) }, 0, "$l: resumed 0 at start");
    is($v->{ failk($l, $_) }, 0, "$l: failures{$_} 0 at start") for @reasons;
}
like($text, qr/^# TYPE portico_tls_handshakes_total counter$/m, 'handshakes typed counter');
like($text, qr/^# TYPE portico_tls_handshakes_resumed_total counter$/m, 'resumed typed counter');
like($text, qr/^# TYPE portico_tls_handshake_failures_total counter$/m, 'failures typed counter');
unlike($text, qr/listener="127\.0\.0\.1:$P3"/, 'the plain listener has no TLS series');

# Waits for the counter changes of %want (relative to $before) and that nothing else moved.
sub moved
{
    my ($before, $what, %want) = @_;
    my $now;
    Portico::wait_until(sub {
        ($now) = prom();
        for my $k (keys %want) { return 0 unless ($now->{$k} // -1) == $before->{$k} + $want{$k}; }
        return 1;
    }, 5);
    for my $k (sort keys %$before) {
        is($now->{$k} - $before->{$k}, $want{$k} // 0, "$what: $k moved by " . ($want{$k} // 0));
    }
    return $now;
}

sub log_lines { my ($re) = @_; return scalar(() = ($p->error_log // '') =~ /$re/g); }

# a full handshake, then a resumption from the saved session
($v) = prom();
my ($out, $err) = s_client($P1, "-servername a.test -tls1_2 -sess_out $D/sess");
like($out, qr/\r\n\r\na\n/, 'full handshake: the response');
$v = moved($v, 'full handshake', hs($L1) => 1);
($out, $err) = s_client($P1, "-servername a.test -tls1_2 -sess_in $D/sess");
like($out, qr/Reused, TLSv1\.2/, 'the client resumed its session');
$v = moved($v, 'resumed handshake', hs($L1) => 1, res($L1) => 1);

# no shared cipher: one failure, one log line with the client and the listener
($out, $err) = s_client($P1, "-servername a.test -tls1_2 -cipher AES128-GCM-SHA256");
unlike($out, qr/\r\n\r\na\n/, 'no shared cipher: no response');
$v = moved($v, 'no shared cipher', failk($L1, 'no_shared_cipher') => 1);
ok($p->wait_for(sub { log_lines(qr/\[info\] [^\n]*TLS handshake failed \(no shared cipher\), client: 127\.0\.0\.1, server: \Q$L1\E\n/) == 1 }, 3),
   'no shared cipher: one [info] line with the client and the listener');

# an unknown SNI name on a listener that refuses them; a known name and no name still pass
($out, $err) = s_client($P1, "-servername nobody.test -tls1_3");
unlike($out, qr/\r\n\r\na\n/, 'unknown SNI: no response');
like($err . $out, qr/unrecognized name/i, 'unknown SNI: alert unrecognized_name');
$v = moved($v, 'unknown SNI', failk($L1, 'unknown_sni') => 1);
ok($p->wait_for(sub { log_lines(qr/TLS handshake failed \(unknown server name\), client: 127\.0\.0\.1, server: \Q$L1\E\n/) == 1 }, 3),
   'unknown SNI: one log line');
($out, $err) = s_client($P1, "-noservername");
like($out, qr/\r\n\r\na\n/, 'no SNI: the default server answers');
$v = moved($v, 'no SNI', hs($L1) => 1);

# a version the server refuses
($out, $err) = s_client($P1, "-servername a.test -tls1_1 -cipher DEFAULT\@SECLEVEL=0");
$v = moved($v, 'TLS 1.1 refused', failk($L1, 'protocol') => 1);
ok($p->wait_for(sub { log_lines(qr/TLS handshake failed \((unsupported protocol|no protocols available|wrong version number)\), client: 127\.0\.0\.1, server: \Q$L1\E\n/) == 1 }, 3),
   'refused version: one log line');

# garbage instead of a ClientHello is a protocol failure too
{
    my $c = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $P1, Timeout => 5);
    print $c "\x16\x03\x01\x00\x05garbagegarbage";
    my $buf;
    sysread($c, $buf, 100);
    close $c;
}
$v = moved($v, 'garbage', failk($L1, 'protocol') => 1);

# a connection closed before its first byte is no handshake: neither counted nor logged
{
    my $c = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $P1, Timeout => 5);
    close $c;
}
# a client that hangs up in the middle of its ClientHello: other, logged as such
{
    my $c = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $P1, Timeout => 5);
    syswrite($c, "\x16\x03\x01\x02\x00\x01");
    select(undef, undef, undef, 0.2);
    close $c;
}
$v = moved($v, 'hang-up', failk($L1, 'other') => 1);
ok($p->wait_for(sub { log_lines(qr/TLS handshake failed \(peer closed connection\), client: 127\.0\.0\.1, server: \Q$L1\E\n/) == 1 }, 3),
   'hang-up: one log line');

# a client that stops in its ClientHello: the handshake times out (client_header_timeout 1s): other
{
    my $c = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $P1, Timeout => 5);
    my $buf;
    syswrite($c, "\x16\x03\x01\x02\x00\x01");
    $c->blocking(1);
    local $SIG{ALRM} = sub { die "timeout\n" };
    alarm 5;
    eval { sysread($c, $buf, 100); };
    alarm 0;
    close $c;
}
$v = moved($v, 'silent client', failk($L1, 'other') => 1);
ok($p->wait_for(sub { log_lines(qr/TLS handshake failed \(timed out\), client: 127\.0\.0\.1, server: \Q$L1\E\n/) == 1 }, 3),
   'timeout: one log line');

# verify_client = "on": a trusted certificate is a handshake; none or an untrusted one a refusal
($out, $err) = s_client($P2, "-servername m.test -cert $D/client.crt -key $D/client.key");
like($out, qr/\r\n\r\nm\n/, 'trusted client certificate: 200');
$v = moved($v, 'trusted client certificate', hs($L2) => 1);
($out, $err) = s_client($P2, "-servername m.test -cert $D/rogue.crt -key $D/rogue.key");
like($out, qr{HTTP/1\.1 400 }, 'untrusted client certificate: 400');
$v = moved($v, 'untrusted client certificate', failk($L2, 'bad_client_cert') => 1);
ok($p->wait_for(sub { log_lines(qr/TLS handshake failed \(bad client certificate: self-signed certificate\), client: 127\.0\.0\.1, server: \Q$L2\E\n/) == 1 }, 3),
   'untrusted client certificate: one log line with the verification error');
($out, $err) = s_client($P2, "-servername m.test");
$v = moved($v, 'no client certificate', failk($L2, 'bad_client_cert') => 1);
ok($p->wait_for(sub { log_lines(qr/TLS handshake failed \(bad client certificate: none sent\), client: 127\.0\.0\.1, server: \Q$L2\E\n/) == 1 }, 3),
   'no client certificate: one log line');

# every failure so far is exactly one line
is(log_lines(qr/TLS handshake failed/), 8, 'eight failures, eight log lines');

# JSON: the same numbers
my ($s, $h, $b) = http_parse(http_get($P3, '/status.json'));
my $j = decode_json($b);
is_deeply($j->{tls}{$L1}, { handshakes => 3, resumed => 1,
                            failures => { no_shared_cipher => 1, unknown_sni => 1,
                                          bad_client_cert => 0, protocol => 2, other => 2 } },
          'json: the first listener');
is_deeply($j->{tls}{$L2}, { handshakes => 1, resumed => 0,
                            failures => { no_shared_cipher => 0, unknown_sni => 0,
                                          bad_client_cert => 2, protocol => 0, other => 0 } },
          'json: the verify_client listener');

# a worker killed: its counts stay (folded), then a reload keeps them
kill 'KILL', $p->worker_pids;
ok(Portico::wait_until(sub { my @w = $p->worker_pids; @w == 2 }, 10), 'workers respawned');
my $after;
Portico::wait_until(sub { ($after) = prom(); defined $after->{ hs($L1) } }, 5);
is($after->{ hs($L1) }, 3, 'handshakes kept after the workers were killed');
is($after->{ failk($L2, 'bad_client_cert') }, 2, 'failures kept after the workers were killed');

$p->stop;
done_testing();
