#!/usr/bin/perl
# tls_io.t: the TLS I/O layer under read-ahead (docs/tls.md): the server contexts read what
# the socket holds, so records can wait inside OpenSSL where epoll will not report them.
# Requests that arrive together with others or with the handshake must all be answered:
# 10 pipelined GETs in one write, each its own TLS record (all answered, in order, exact
# bodies); pipelined GETs whose last one comes later; the request in the same write as the
# client Finished (TLS 1.3 full handshake, TLS 1.2 resumed); a 4 MiB POST body proxied with
# Content-Length and chunked; a 4 MiB proxied response read slowly through a small receive
# buffer; 200 sequential requests on one keep-alive connection. The client is a small Python
# ssl program written at test time (memory BIOs give control over records and writes);
# certificates come from the openssl CLI as in t/tls.t.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Portico;
use PorticoBackend;
use File::Temp qw(tempdir);
use Digest::SHA ();

skip_unless_module('tls', 'return', 'proxy');
plan(skip_all => 'no openssl CLI') unless system('openssl version >/dev/null 2>&1') == 0;
plan(skip_all => 'no python3 ssl') unless system('python3 -c "import ssl" >/dev/null 2>&1') == 0;

my $D = tempdir('portico-tlsio-XXXXXX', DIR => '/tmp', CLEANUP => 1);

sub sh
{
    my ($cmd) = @_;
    system("$cmd >>$D/openssl.log 2>&1") == 0 or BAIL_OUT("failed: $cmd");
}

sh("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout $D/a.key "
   . "-out $D/a.crt -days 30 -subj '/CN=a.test' -addext subjectAltName=DNS:a.test");

write_file("$D/client.py", <<'PY');
import socket, ssl, sys, time

def pattern(n):
    base = bytes(i % 251 for i in range(251 * 64))
    out = bytearray()
    while len(out) < n:
        out += base
    return bytes(out[:n])

CONTEXTS = {}

def context(version):
    """One context per version: a session can only be offered through its own context."""
    if version not in CONTEXTS:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        if version == "1.2":
            ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        elif version == "1.3":
            ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        CONTEXTS[version] = ctx
    return CONTEXTS[version]

class Tls:
    def __init__(self, port, version=None, rcvbuf=None, session=None):
        ctx = context(version)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(20)
        self.sock.connect(("127.0.0.1", port))
        self.inc, self.out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.obj = ctx.wrap_bio(self.inc, self.out, server_hostname="a.test", session=session)
        self.eof = False
        while True:
            try:
                self.obj.do_handshake()
                break
            except ssl.SSLWantReadError:
                self.flush()
                data = self.sock.recv(65536)
                if not data:
                    raise SystemExit("EOF in handshake")
                self.inc.write(data)
        # the client Finished (TLS 1.3) is still in self.out: flush() or send it with data

    def flush(self):
        data = self.out.read()
        if data:
            self.sock.sendall(data)

    def records(self, parts):
        """Each part its own TLS record, all sent with one write (plus what is pending)."""
        for p in parts:
            self.obj.write(p)
        self.flush()

    def read_some(self, size=65536):
        """Plaintext available after at most one recv; b'' at EOF."""
        while True:
            try:
                return self.obj.read(size)
            except ssl.SSLWantReadError:
                pass
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                self.eof = True
                return b""
            if self.eof:
                return b""
            data = self.sock.recv(size)
            if not data:
                self.inc.write_eof()
                self.eof = True
            else:
                self.inc.write(data)

    def read_all(self, delay=0, size=65536):
        buf = bytearray()
        deadline = time.time() + 60
        while time.time() < deadline:
            d = self.read_some(size)
            if not d:
                break
            buf += d
            if delay:
                time.sleep(delay)
        return bytes(buf)

    def read_response(self, buf):
        """One response with Content-Length from buf + the connection; returns (resp, rest)."""
        while b"\r\n\r\n" not in buf:
            d = self.read_some()
            if not d:
                raise SystemExit("EOF before a head")
            buf += d
        head, _, rest = buf.partition(b"\r\n\r\n")
        n = 0
        for line in head.split(b"\r\n")[1:]:
            k, _, v = line.partition(b":")
            if k.strip().lower() == b"content-length":
                n = int(v.strip())
        while len(rest) < n:
            d = self.read_some()
            if not d:
                raise SystemExit("EOF in a body")
            rest += d
        return head + b"\r\n\r\n" + rest[:n], rest[n:]

def get(path, close=False):
    return ("GET %s HTTP/1.1\r\nHost: a.test\r\n%s\r\n"
            % (path, "Connection: close\r\n" if close else "")).encode()

def main():
    port, mode, args = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
    out = sys.stdout.buffer
    if mode == "pipeline":          # N GETs, one record each, one write
        n = int(args[0])
        t = Tls(port)
        t.records([get("/r/%d" % i, i == n - 1) for i in range(n)])
        out.write(t.read_all())
    elif mode == "pipeline-late":   # N-1 GETs in one write, the last one DELAY s later
        n, delay = int(args[0]), float(args[1])
        t = Tls(port)
        t.records([get("/r/%d" % i) for i in range(n - 1)])
        time.sleep(delay)
        t.records([get("/r/%d" % (n - 1), True)])
        out.write(t.read_all())
    elif mode == "early":           # the request in the same write as the client Finished
        session = None
        if args[0] == "1.2":
            # a resumed TLS 1.2 handshake ends with the client's Finished: a first connection
            # gets the session
            t = Tls(port, version="1.2")
            t.records([get("/r/first", True)])
            t.read_all()
            session = t.obj.session
        t = Tls(port, version=args[0], session=session)
        t.obj.write(get("/r/early", True))
        t.flush()
        sys.stderr.write("version %s reused %s\n" % (t.obj.version(), t.obj.session_reused))
        out.write(t.read_all())
    elif mode in ("post-cl", "post-chunked"):
        size = int(args[0])
        body = pattern(size)
        t = Tls(port)
        if mode == "post-cl":
            head = ("POST /upload HTTP/1.1\r\nHost: a.test\r\nContent-Length: %d\r\n"
                    "Connection: close\r\n\r\n" % size).encode()
            t.obj.write(head)
            for i in range(0, size, 16384):
                t.obj.write(body[i:i + 16384])
                t.flush()
        else:
            head = (b"POST /upload HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\n"
                    b"Connection: close\r\n\r\n")
            t.obj.write(head)
            i = 0
            while i < size:
                c = body[i:i + 10007]
                t.obj.write(b"%x\r\n" % len(c) + c + b"\r\n")
                t.flush()
                i += len(c)
            t.obj.write(b"0\r\n\r\n")
        t.flush()
        out.write(t.read_all())
    elif mode == "slow":            # a big response read 4 KiB at a time with pauses
        t = Tls(port, rcvbuf=8192)
        t.records([get(args[0], True)])
        out.write(t.read_all(delay=0.002, size=4096))
    elif mode == "keepalive":       # N sequential requests on one connection
        n = int(args[0])
        t = Tls(port)
        buf = b""
        for i in range(n):
            t.records([get("/r/%d" % i, i == n - 1)])
            resp, buf = t.read_response(buf)
            out.write(resp)
    else:
        raise SystemExit("unknown mode")
    out.flush()

main()
PY

my $p = Portico->new(start => 0);
my $be = PorticoBackend->new(port => $p->port(2), id => 'up');
$p->write_conf(<<"EOF2");
upstreams = ( { name = "app"; servers = ( { address = "127.0.0.1:%%PORT2%%"; } ); } );
servers = (
  { listen = ( { address = "127.0.0.1:%%PORT1%%"; tls = true; } );
    names = ["a.test"];
    client_max_body_size = "8m";
    tls = { certificate = "$D/a.crt"; key = "$D/a.key"; };
    routes = (
      { match = { path_prefix = "/r/"; }; return = { status = 200; body = "\$request_uri\\n"; }; },
      { match = { path_prefix = "/"; }; proxy = { upstream = "app"; }; }
    ); }
);
EOF2
$p->start;
my $P1 = $p->port(1);

# Runs the client; returns its stdout (the HTTP bytes) and stderr.
sub client
{
    my (@args) = @_;
    my ($rc, $out, $err) = Portico::run_cmd('python3', "$D/client.py", $P1, @args);
    diag("client @args: rc $rc: $err") if $rc != 0;
    return ($out, $err);
}

sub bodies { return [ map { $_->[2] } @_ ]; }

# ---- pipelining ---------------------------------------------------------------------------
{
    my ($out) = client('pipeline', 10);
    my @r = http_parse_all($out);
    is(scalar @r, 10, '10 pipelined GETs, one record each, one write: 10 responses');
    is_deeply([ map { $_->[0] } @r ], [ (200) x 10 ], 'pipelined: all 200');
    is_deeply(bodies(@r), [ map { "/r/$_\n" } 0 .. 9 ], 'pipelined: in order, exact bodies');
}
{
    my ($out) = client('pipeline-late', 5, 0.5);
    my @r = http_parse_all($out);
    is(scalar @r, 5, 'pipelined, the last GET 0.5 s later: 5 responses');
    is_deeply(bodies(@r), [ map { "/r/$_\n" } 0 .. 4 ], 'pipelined late: in order, exact bodies');
}

# ---- the request with the client Finished -------------------------------------------------
{
    my ($out, $err) = client('early', '1.3');
    my ($s, $h, $b) = http_parse($out);
    like($err, qr/^version TLSv1\.3 reused False$/m, 'TLS 1.3 full handshake');
    is($s, 200, 'TLS 1.3: request in the same write as the client Finished: 200');
    is($b, "/r/early\n", 'TLS 1.3, request with the Finished: exact body');

    ($out, $err) = client('early', '1.2');
    ($s, $h, $b) = http_parse($out);
    like($err, qr/^version TLSv1\.2 reused True$/m,
         'TLS 1.2 resumed (the client sends the last Finished)');
    is($s, 200, 'TLS 1.2 resumed: request in the same write as the client Finished: 200');
    is($b, "/r/early\n", 'TLS 1.2 resumed, request with the Finished: exact body');
}

# ---- 4 MiB request bodies, proxied --------------------------------------------------------
my $four = 4 * 1024 * 1024;
my $sha = Digest::SHA::sha256_hex(pattern_bytes($four));
for my $mode ('post-cl', 'post-chunked') {
    my ($out) = client($mode, $four);
    my ($s, $h, $b) = http_parse($out);
    is($s, 200, "$mode 4 MiB over TLS, proxied: 200");
    my $j = json_decode($b) || {};
    is($j->{length}, $four, "$mode: every byte reached the backend");
    is($j->{sha256}, $sha, "$mode: intact");
}

# ---- a 4 MiB response read slowly ---------------------------------------------------------
{
    my ($out) = client('slow', "/bytes?n=$four");
    my ($s, $h, $b) = http_parse($out);
    is($s, 200, '4 MiB proxied response read slowly: 200');
    is(length $b, $four, 'slow read: every byte');
    ok($b eq pattern_bytes($four), 'slow read: intact');
}

# ---- keep-alive ---------------------------------------------------------------------------
{
    my ($out) = client('keepalive', 200);
    my @r = http_parse_all($out);
    is(scalar @r, 200, '200 sequential requests on one connection: 200 responses');
    is_deeply(bodies(@r), [ map { "/r/$_\n" } 0 .. 199 ], 'keep-alive: exact bodies in order');
}

$p->stop;
unlike($p->error_log, qr/SSL_read failed|SSL_write failed/, 'no TLS I/O errors logged');

done_testing();
