#!/usr/bin/perl
# proxy_protocol.t: the PROXY protocol on both sides.
# Listeners with `proxy_protocol = true`: v1 (TCP4, TCP6, UNKNOWN) and v2 (INET with TLVs,
# INET6, LOCAL, AF_UNIX) headers, on a plain and a TLS listener; the header's source is
# $remote_addr / $remote_port and $proxy_protocol_addr / $proxy_protocol_port (exact values
# in responses and in the access log, empty without addresses); X-Forwarded-For and
# X-Real-IP at the backend; access rules match the header's address; real_ip starts from
# it; a header split over several writes with pauses; the request (or the ClientHello) in
# the same write as the header; keep-alive requests keep the address; no header within
# client_header_timeout, a malformed header, a bare request, a bare TLS handshake: closed
# without a response, the malformed ones logged at [error] with the peer; rate_limit keys
# by the header's source.
# Upstream servers with `send_proxy_protocol = "v1" | "v2"`: exact header bytes recorded
# by a raw backend before each request, one new connection per client (never pooled),
# health checks that start with "PROXY UNKNOWN" / a v2 LOCAL header, and the header before
# the ClientHello of a TLS upstream. Bad values fail -t with FILE:LINE.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Portico;
use PorticoBackend;
use File::Temp qw(tempdir);
use IO::Socket::INET;
use Socket qw(inet_aton inet_pton AF_INET6);
use POSIX ();
use Time::HiRes qw(sleep time);

skip_unless_module('return', 'proxy', 'access', 'access_log', 'realip', 'health_check',
                   'rate_limit');

my $D = tempdir('portico-pp-XXXXXX', DIR => '/tmp', CLEANUP => 1);
my $SIG = "\r\n\r\n\0\r\nQUIT\n";

# ---- headers --------------------------------------------------------------------------------

sub v2
{
    my ($cmd, $fam, $body) = @_;
    return $SIG . chr(0x20 | $cmd) . chr($fam) . pack('n', length $body) . $body;
}

sub v2_inet
{
    my ($src, $dst, $sp, $dp, $tlv) = @_;
    return v2(1, 0x11, inet_aton($src) . inet_aton($dst) . pack('nn', $sp, $dp)
                       . (defined $tlv ? $tlv : ''));
}

sub v2_inet6
{
    my ($src, $dst, $sp, $dp) = @_;
    return v2(1, 0x21, inet_pton(AF_INET6, $src) . inet_pton(AF_INET6, $dst)
                       . pack('nn', $sp, $dp));
}

sub tlv { my ($t, $v) = @_; return chr($t) . pack('n', length $v) . $v; }

# ---- a client: sends the pieces (pausing between them), returns (raw answer, socket) -------

sub exchange
{
    my ($port, $pieces, %o) = @_;
    my $s = http_connect($port) or return ('', undef);
    for my $i (0 .. $#$pieces) {
        sleep($o{pause} || 0.2) if $i > 0;
        http_send($s, $pieces->[$i]);
    }
    my $raw = http_read_response($s, timeout => 5);
    return ($raw, $s);
}

sub body_of
{
    my ($raw) = @_;
    my ($st, $h, $b) = http_parse($raw);
    return defined $st ? "$st $b" : 'none';
}

sub get { my ($path, @h) = @_; return http_request('GET', $path, @h); }

# ---- a raw recording backend ----------------------------------------------------------------
# Every connection's bytes go to $D/<port>-<n> as they arrive; every complete request head
# gets "200 ok" (keep-alive). Killed by process group at the end.

my @RECORDERS;

sub recorder
{
    my ($port) = @_;
    my $l = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $port,
                                  Proto => 'tcp', Listen => 64, ReuseAddr => 1)
        or die "recorder on $port: $!";
    my $pid = fork();
    die "fork: $!" unless defined $pid;
    if ($pid == 0) {
        setpgrp(0, 0);
        $SIG{CHLD} = 'IGNORE';
        my $n = 0;
        while (1) {
            my $c = $l->accept or next;
            $n++;
            my $k = fork();
            if (defined $k && $k == 0) {
                close $l;
                record($c, "$D/$port-$n");
                POSIX::_exit(0);
            }
            close $c;
        }
    }
    close $l;
    push @RECORDERS, $pid;
    return $pid;
}

sub record
{
    my ($c, $file) = @_;
    local $SIG{PIPE} = 'IGNORE';
    my ($all, $answered) = ('', 0);
    my $deadline = time + 15;
    while (time < $deadline) {
        my $rin = '';
        vec($rin, fileno($c), 1) = 1;
        last unless select(my $rout = $rin, undef, undef, $deadline - time);
        my $k = sysread($c, my $buf, 65536);
        last unless $k;
        $all .= $buf;
        write_file($file, $all);
        my @heads = ($all =~ /(?:GET|POST) \S+ HTTP\/1\.1\r\n.*?\r\n\r\n/sg);
        while ($answered < @heads) {
            write_all($c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok") or last;
            $answered++;
        }
    }
}

# Recorded connections of $port: [ bytes, ... ] in accept order.
sub recorded_on
{
    my ($port) = @_;
    my @r;
    for (my $n = 1; -e "$D/$port-$n"; $n++) {
        push @r, read_file("$D/$port-$n");
    }
    return \@r;
}

END { kill 'KILL', -$_ for @RECORDERS; }

# ---- TLS client (python: header bytes, then the handshake on the same socket) --------------

my $tls_ok = system('openssl version >/dev/null 2>&1') == 0
             && system('python3 -c "import ssl" >/dev/null 2>&1') == 0;
if ($tls_ok && has_module('tls')) {
    system("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
           . "-keyout $D/a.key -out $D/a.crt -days 30 -subj '/CN=a.test' "
           . "-addext subjectAltName=DNS:a.test >$D/openssl.log 2>&1") == 0
        or BAIL_OUT('openssl req failed');
} else {
    $tls_ok = 0;
}

write_file("$D/ppclient.py", <<'PY');
import binascii, socket, ssl, sys, time
port, hdr, mode, path = int(sys.argv[1]), binascii.unhexlify(sys.argv[2]), sys.argv[3], sys.argv[4]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
s = socket.create_connection(("127.0.0.1", port), timeout=10)
inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
obj = ctx.wrap_bio(inc, out, server_hostname="a.test")
first = True
try:
    while True:
        try:
            obj.do_handshake()
            break
        except ssl.SSLWantReadError:
            data = out.read()
            if first:
                first = False
                if mode == "split":
                    # the header in pieces of 5 bytes with pauses, then the ClientHello alone
                    for i in range(0, len(hdr), 5):
                        s.sendall(hdr[i:i + 5])
                        time.sleep(0.05)
                    time.sleep(0.1)
                else:
                    data = hdr + data     # header and ClientHello in one write
            if data:
                s.sendall(data)
            d = s.recv(65536)
            if not d:
                print("EOF in handshake")
                sys.exit(0)
            inc.write(d)
except (ssl.SSLError, OSError) as e:
    print("handshake failed")
    sys.exit(0)
obj.write(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n")
s.sendall(out.read())
buf = b""
while True:
    try:
        d = obj.read(65536)
        if not d:
            break
        buf += d
        continue
    except ssl.SSLWantReadError:
        pass
    except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
        break
    d = s.recv(65536)
    if not d:
        break
    inc.write(d)
sys.stdout.write(buf.decode("latin-1"))
PY

sub tls_get
{
    my ($port, $hdr, $mode, $path) = @_;
    my $hex = unpack('H*', $hdr);
    my $out = `python3 $D/ppclient.py $port '$hex' $mode $path 2>&1`;
    return $out;
}

# ---- configuration ----------------------------------------------------------------------------

my $p = Portico->new(start => 0);
my ($P1, $P2, $P3, $P5, $P6, $P7) = map { $p->port($_) } 1, 2, 3, 5, 6, 7;
my $be = PorticoBackend->new(port => $P3, id => 'echo');
recorder($P5);
recorder($P6);
recorder($P7);

my $routes = <<'EOF';
    routes = (
      { match = { path = "/ip"; };
        return = { status = 200;
          body = "$remote_addr|$remote_port|$proxy_protocol_addr|$proxy_protocol_port\n"; }; },
      { match = { path = "/deny"; }; access = ["deny 203.0.113.0/24", "allow all"];
        return = { status = 200; body = "in\n"; }; },
      { match = { path = "/limited"; }; rate_limit = "per_ip";
        return = { status = 200; body = "ok\n"; }; },
      { match = { path_prefix = "/v1/"; }; proxy = { upstream = "pp1"; }; },
      { match = { path_prefix = "/v2/"; }; proxy = { upstream = "pp2"; }; },
      { match = { path_prefix = "/tls/"; }; proxy = { upstream = "pptls"; }; },
      { match = { path_prefix = "/"; }; proxy = { upstream = "app"; }; }
    );
EOF
my $tls_server = $tls_ok ? <<"EOF" : '';
  { listen = ( { address = "127.0.0.1:%%PORT2%%"; tls = true; proxy_protocol = true; } );
    tls = { certificate = "$D/a.crt"; key = "$D/a.key"; };
$routes  },
EOF

# (without the tls module the upstream stays, plain, for the route; its test is skipped)
my $uptls = $tls_ok ? 'tls = { enable = true; verify = false; };' : '';
my $pptls = <<"EOF";
,
  { name = "pptls"; connect_timeout = "1s"; $uptls
    servers = ( { address = "127.0.0.1:%%PORT7%%"; send_proxy_protocol = "v1"; } ); }
EOF
$p->write_conf(<<"EOF");
http = {
  real_ip = { from = ["192.0.2.0/24"]; };
  log_formats = ( { name = "pp";
    format = "\$remote_addr \$remote_port [\$proxy_protocol_addr] [\$proxy_protocol_port] \$request_uri"; } );
  access_log = { path = "logs/access.log"; format = "pp"; };
};
rate_limits = ( { name = "per_ip"; key = "\$remote_addr"; rate = "1r/m"; status = 503; } );
upstreams = (
  { name = "app"; servers = ( { address = "127.0.0.1:%%PORT3%%"; } ); },
  { name = "pp1"; keepalive = 8;
    servers = ( { address = "127.0.0.1:%%PORT5%%"; send_proxy_protocol = "v1"; } );
    health_check = { path = "/healthz"; interval = "300ms"; }; },
  { name = "pp2"; keepalive = 8;
    servers = ( { address = "127.0.0.1:%%PORT6%%"; send_proxy_protocol = "v2"; } );
    health_check = { path = "/healthz"; interval = "300ms"; }; }$pptls
);
servers = (
$tls_server
  { listen = ( { address = "127.0.0.1:%%PORT1%%"; proxy_protocol = true; } );
    client_header_timeout = "1s";
$routes  }
);
EOF
$p->start;

my $req = get('/ip');

# ---- v1 ------------------------------------------------------------------------------------

my ($raw, $s) = exchange($P1, ["PROXY TCP4 198.51.100.7 10.0.0.1 56324 443\r\n$req"]);
is(body_of($raw), "200 198.51.100.7|56324|198.51.100.7|56324\n",
   'v1 TCP4, request in the same write: the header\'s source is the client');
http_send($s, $req);
is(body_of(http_read_response($s, timeout => 5)), "200 198.51.100.7|56324|198.51.100.7|56324\n",
   'the next keep-alive request keeps the address');
close $s;

($raw) = exchange($P1, ["PROXY TCP6 2001:db8::7 2001:db8::1 40000 80\r\n$req"]);
is(body_of($raw), "200 2001:db8::7|40000|2001:db8::7|40000\n", 'v1 TCP6');

$s = http_connect($P1);
my $myport = $s->sockport;
http_send($s, "PROXY UNKNOWN\r\n$req");
is(body_of(http_read_response($s, timeout => 5)), "200 127.0.0.1|$myport||\n",
   'v1 UNKNOWN: the TCP peer, $proxy_protocol_* empty');
close $s;

($raw) = exchange($P1, ["PRO", "XY TCP4 198.51.", "100.8 10.0.0.1 1234 4", "43\r", "\n",
                        "GET /ip HTTP/1.1\r\n", "Host: x\r\n\r\n"], pause => 0.1);
is(body_of($raw), "200 198.51.100.8|1234|198.51.100.8|1234\n",
   'v1 header and request split over 7 writes with pauses');

# ---- v2 ------------------------------------------------------------------------------------

my $tlvs = tlv(0x02, 'example.com') . tlv(0x04, '') . tlv(0x05, 'id-1') . tlv(0xEE, 'x' x 300);
($raw) = exchange($P1, [v2_inet('198.51.100.9', '10.0.0.1', 5000, 443, $tlvs) . $req]);
is(body_of($raw), "200 198.51.100.9|5000|198.51.100.9|5000\n", 'v2 INET with TLVs');

($raw) = exchange($P1, [v2_inet6('2001:db8::9', '2001:db8::1', 6000, 443) . $req]);
is(body_of($raw), "200 2001:db8::9|6000|2001:db8::9|6000\n", 'v2 INET6');

$s = http_connect($P1);
$myport = $s->sockport;
http_send($s, v2(0, 0x00, '') . $req);
is(body_of(http_read_response($s, timeout => 5)), "200 127.0.0.1|$myport||\n",
   'v2 LOCAL: the TCP peer');
close $s;

my $unix = pack('a108 a108', '/run/lb.sock', '/run/portico.sock');
($raw) = exchange($P1, [v2(1, 0x31, $unix) . $req]);
is(body_of($raw), "200 unix:/run/lb.sock||unix:/run/lb.sock|\n",
   'v2 AF_UNIX: the path, no port');

my $h2 = v2_inet('198.51.100.10', '10.0.0.1', 7000, 443, tlv(0x02, 'a.example'));
($raw) = exchange($P1, [substr($h2, 0, 5), substr($h2, 5, 9), substr($h2, 14, 6),
                        substr($h2, 20) . substr($req, 0, 10), substr($req, 10)]);
is(body_of($raw), "200 198.51.100.10|7000|198.51.100.10|7000\n",
   'v2 header split over 4 writes, the last with the start of the request');

# ---- what the rest of portico sees ----------------------------------------------------------

($raw) = exchange($P1, ["PROXY TCP4 203.0.113.9 10.0.0.1 1000 443\r\n" . get('/deny')]);
is((http_parse($raw))[0], 403, 'access rules deny by the header\'s address');
($raw) = exchange($P1, ["PROXY TCP4 198.51.100.1 10.0.0.1 1000 443\r\n" . get('/deny')]);
is(body_of($raw), "200 in\n", 'another address is allowed');

my @lim = map {
    body_of((exchange($P1, ["PROXY TCP4 $_ 10.0.0.1 1000 443\r\n" . get('/limited')]))[0])
        =~ s/\n.*//sr
} '198.51.100.40', '198.51.100.40', '198.51.100.41';
is_deeply(\@lim, ['200 ok', '503 503 Service Unavailable', '200 ok'],
          'rate_limit keyed by $remote_addr: one bucket per header source, not per peer')
    or diag(explain(\@lim));

sub seen
{
    my ($r) = @_;
    my ($st, $h, $b) = http_parse($r);
    my $e = json_decode($b) or return {};
    my %m;
    push @{ $m{ lc $_->[0] } }, $_->[1] for @{ $e->{headers} };
    return \%m;
}

my $up = seen((exchange($P1, ["PROXY TCP4 198.51.100.7 10.0.0.1 1000 443\r\n"
                              . get('/echo', 'X-Forwarded-For' => '10.9.9.9')]))[0]);
is_deeply($up->{'x-forwarded-for'}, ['10.9.9.9, 198.51.100.7'],
          'X-Forwarded-For at the backend: the header\'s source appended');
is_deeply($up->{'x-real-ip'}, ['198.51.100.7'], 'X-Real-IP at the backend');

($raw) = exchange($P1, ["PROXY TCP4 192.0.2.5 10.0.0.1 1000 443\r\n"
                        . get('/ip', 'X-Forwarded-For' => '203.0.113.50')]);
is(body_of($raw), "200 203.0.113.50|1000|192.0.2.5|1000\n",
   'real_ip trusts the header\'s source (192.0.2.0/24) and starts from it');

ok($p->wait_for(sub { (($p->access_log // '') =~ tr/\n//) >= 14 }, 5), 'access log written');
my @log = split /\n/, $p->access_log // '';
is($log[0], '198.51.100.7 56324 [198.51.100.7] [56324] /ip', 'access log: v1 addresses');
like($log[3], qr/^127\.0\.0\.1 \d+ \[-\] \[-\] \/ip$/, 'access log: UNKNOWN, absent variables')
    or diag($log[3]);
is($log[5], '198.51.100.9 5000 [198.51.100.9] [5000] /ip', 'access log: v2 addresses');

# ---- refusals: closed without a response ----------------------------------------------------

$s = http_connect($P1);
my $t0 = time;
ok(http_closed($s, 5), 'no header: closed after client_header_timeout');
is(${ Portico::_buf($s) }, '', '... without a response byte');
cmp_ok(time - $t0, '>=', 0.8, '... not before the timeout');
close $s;

$s = http_connect($P1);
$myport = $s->sockport;
http_send($s, $req);
ok(http_closed($s, 5), 'a bare request on a proxy_protocol listener: closed');
is(${ Portico::_buf($s) }, '', '... without a response');
close $s;
ok($p->wait_for(sub { ($p->error_log // '') =~ /\[error\] .*broken PROXY protocol header \(no PROXY protocol signature\): "GET \/ip HTTP\/1\.1\\x0D\\x0AHost: .*client: 127\.0\.0\.1:$myport, listener: 127\.0\.0\.1:$P1/ }, 5),
   'logged at [error] with the peer and the bytes');

$s = http_connect($P1);
$myport = $s->sockport;
http_send($s, "PROXY TCP4 1.2.3.4 5.6.7.8 99999 80\r\n$req");
ok(http_closed($s, 5), 'malformed v1 (port 99999): closed');
is(${ Portico::_buf($s) }, '', '... without a response');
close $s;
ok($p->wait_for(sub { ($p->error_log // '') =~ /\[error\] .*broken PROXY protocol header \(bad v1 port\).*client: 127\.0\.0\.1:$myport,/ }, 5),
   'malformed v1 logged with the peer');

$s = http_connect($P1);
$myport = $s->sockport;
http_send($s, $SIG . "\x21\x11" . pack('n', 4090));
ok(http_closed($s, 5), 'v2 announcing more than 4096 bytes: closed at once');
close $s;
ok($p->wait_for(sub { ($p->error_log // '') =~ /broken PROXY protocol header \(v2 header too long\).*client: 127\.0\.0\.1:$myport,/ }, 5),
   'oversize v2 logged');

$s = http_connect($P1);
http_send($s, v2_inet('198.51.100.9', '10.0.0.1', 5000, 443, "\x02\x00\x09abc"));
ok(http_closed($s, 5), 'v2 with a TLV running past the header: closed');
close $s;

$s = http_connect($P1);
http_send($s, "PROXY TCP4 198.51.100.7 10.0.0.1 56");
shutdown($s, 1);
ok(http_closed($s, 5), 'EOF inside the header: closed');
close $s;

# ---- TLS listener ----------------------------------------------------------------------------

SKIP: {
    skip 'no tls module, openssl CLI or python3 ssl', 6 unless $tls_ok;
    my $out = tls_get($P2, "PROXY TCP4 198.51.100.20 10.0.0.1 2000 443\r\n", 'together', '/ip');
    is(body_of($out), "200 198.51.100.20|2000|198.51.100.20|2000\n",
       'TLS: v1 header and ClientHello in one write');
    $out = tls_get($P2, v2_inet('198.51.100.21', '10.0.0.1', 2001, 443, tlv(0x05, 'u')),
                   'split', '/ip');
    is(body_of($out), "200 198.51.100.21|2001|198.51.100.21|2001\n",
       'TLS: v2 header in 5-byte pieces, then the handshake');
    $out = tls_get($P2, v2_inet6('2001:db8::21', '2001:db8::1', 2002, 443), 'together', '/ip');
    is(body_of($out), "200 2001:db8::21|2002|2001:db8::21|2002\n", 'TLS: v2 INET6');
    $out = tls_get($P2, v2(0, 0, ''), 'together', '/ip');
    like(body_of($out), qr/^200 127\.0\.0\.1\|\d+\|\|\n\z/, 'TLS: v2 LOCAL keeps the peer');
    $out = tls_get($P2, '', 'together', '/ip');
    like($out, qr/^(EOF in handshake|handshake failed)\n\z/,
         'TLS without a header: closed during the handshake, no response');
    ok($p->wait_for(sub { ($p->error_log // '') =~ /broken PROXY protocol header \(no PROXY protocol signature\): "\\x16\\x03.*listener: 127\.0\.0\.1:$P2/ }, 5),
       'TLS without a header: logged');
}

# ---- send_proxy_protocol ---------------------------------------------------------------------

my %want = (
    v1 => [ "PROXY TCP4 198.51.100.31 127.0.0.1 3001 $P1\r\n",
            "PROXY TCP4 198.51.100.32 127.0.0.1 3002 $P1\r\n" ],
    v2 => [ v2_inet('198.51.100.31', '127.0.0.1', 3001, $P1),
            v2_inet('198.51.100.32', '127.0.0.1', 3002, $P1) ],
);
for my $v ('v1', 'v2') {
    for my $i (1, 2) {
        ($raw) = exchange($P1, ["PROXY TCP4 198.51.100.3$i 10.0.0.1 300$i 443\r\n"
                                . get("/$v/req$i")]);
        is(body_of($raw), '200 ok', "send_proxy_protocol $v: client $i answered");
    }
    my $port = $v eq 'v1' ? $P5 : $P6;
    my $hh = $v eq 'v1' ? "PROXY UNKNOWN\r\n" : v2(0, 0x00, '');
    my @conns = grep { index($_, $hh) != 0 } @{ recorded_on($port) };
    is(scalar @conns, 2, "$v: one upstream connection per client (none reused)");
    for my $i (1, 2) {
        my $c = $conns[$i - 1] // '';
        my $h = $want{$v}[$i - 1];
        is(unpack('H*', substr($c, 0, length $h)), unpack('H*', $h),
           "$v: connection $i starts with the exact header");
        like(substr($c, length $h), qr/^GET \/$v\/req$i HTTP\/1\.1\r\n/,
             "$v: ... followed by the request");
    }
    my ($hc) = grep { /GET \/healthz/ } @{ recorded_on($port) };
    ok(defined $hc && substr($hc, 0, length($hh) + 12) eq $hh . 'GET /healthz',
       "$v: health checks start with " . ($v eq 'v1' ? 'PROXY UNKNOWN' : 'a v2 LOCAL header'))
        or diag(defined $hc ? unpack('H*', substr($hc, 0, 40)) : 'no health check seen');
}

SKIP: {
    skip 'no tls module, openssl CLI or python3 ssl', 2 unless $tls_ok;
    ($raw) = exchange($P1, ["PROXY TCP4 198.51.100.33 10.0.0.1 3003 443\r\n" . get('/tls/x')]);
    is((http_parse($raw))[0], 504, 'TLS upstream that never answers the handshake: 504');
    my $h = "PROXY TCP4 198.51.100.33 127.0.0.1 3003 $P1\r\n";
    my $c = recorded_on($P7)->[0] // '';
    is(unpack('H*', substr($c, 0, length($h) + 2)), unpack('H*', $h . "\x16\x03"),
       'TLS upstream: the PROXY header comes before the ClientHello');
}

$p->check_logs;
$p->stop;

# ---- configuration errors ----------------------------------------------------------------------

{
    my $c = Portico->new(start => 0);
    $c->write_conf(<<'EOF');
upstreams = ( { name = "app";
  servers = ( { address = "127.0.0.1:%%PORT2%%"; send_proxy_protocol = "v3"; } ); } );
servers = ( { listen = ( { address = "127.0.0.1:%%PORT1%%"; proxy_protocol = "yes"; } );
  routes = ( { match = { path_prefix = "/"; }; proxy = { upstream = "app"; }; } ); } );
EOF
    my ($rc, $out) = $c->run_t('-t');
    isnt($rc, 0, '-t fails on bad PROXY protocol settings');
    my $f = $c->conf_file;
    my ($l1, $l2) = ($c->line_of(qr/"v3"/), $c->line_of(qr/"yes"/));
    like($out, qr/\Q$f\E:$l1: upstreams\[0\]\.servers\[0\]\.send_proxy_protocol: .*v3/,
         'send_proxy_protocol = "v3": FILE:LINE');
    like($out, qr/\Q$f\E:$l2: servers\[0\]\.listen\[0\]\.proxy_protocol: must be true or false/,
         'proxy_protocol = "yes": FILE:LINE');
}

done_testing();
