#!/usr/bin/perl
# tls_shutdown.t: graceful shutdown (QUIT) of a worker holding idle TLS connections. An idle
# keep-alive HTTPS client connection and an idle pooled TLS connection to an upstream are
# both closed with a TLS close_notify (a clean TLS close, not a bare TCP FIN that the peer
# must treat as a truncation attack), and the worker exits promptly. The peers are small
# Python TLS programs (the ssl module with suppress_ragged_eofs off tells the two closes
# apart: b'' after close_notify, SSLEOFError without).

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Portico;
use File::Temp qw(tempdir);

skip_unless_module('tls', 'return', 'proxy');
plan(skip_all => 'no openssl CLI') unless system('openssl version >/dev/null 2>&1') == 0;
plan(skip_all => 'no python3') unless system('python3 -c "import ssl" >/dev/null 2>&1') == 0;

my $D = tempdir('portico-tlsshut-XXXXXX', DIR => '/tmp', CLEANUP => !$ENV{PORTICO_KEEP});
system("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout $D/k.pem "
       . "-out $D/c.pem -days 30 -subj /CN=localhost -addext subjectAltName=DNS:localhost "
       . ">$D/openssl.log 2>&1") == 0 or BAIL_OUT('openssl req failed');

# A TLS HTTP backend: answers each request with a keep-alive 200, and when a connection
# ends writes "clean" (close_notify received) or "ragged" (EOF without it) to the file.
Portico::write_file("$D/backend.py", <<'PY');
import socket, ssl, sys
port, cert, key, out = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(('127.0.0.1', port))
ls.listen(8)
ls.settimeout(60)
open(out + '.ready', 'w').close()
s, _ = ls.accept()
s.settimeout(60)
t = ctx.wrap_socket(s, server_side=True, suppress_ragged_eofs=False)
buf = b''
result = 'none'
try:
    while True:
        d = t.recv(4096)
        if not d:
            result = 'clean'
            break
        buf += d
        while b'\r\n\r\n' in buf:
            head, buf = buf.split(b'\r\n\r\n', 1)
            body = b'from tls backend\n'
            t.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n' % len(body) + body)
except ssl.SSLEOFError:
    result = 'ragged'
except Exception as e:
    result = 'error ' + type(e).__name__
with open(out + '.tmp', 'w') as f:
    f.write(result + '\n')
import os
os.rename(out + '.tmp', out)
PY

# A TLS client: one keep-alive request, prints the response's body, then waits for the
# server to close and prints "clean" or "ragged".
Portico::write_file("$D/client.py", <<'PY');
import socket, ssl, sys
port = int(sys.argv[1])
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
s = socket.create_connection(('127.0.0.1', port), timeout=30)
t = ctx.wrap_socket(s, server_hostname='localhost', suppress_ragged_eofs=False)
t.sendall(b'GET /hello HTTP/1.1\r\nHost: localhost\r\n\r\n')
buf = b''
while b'\r\n\r\n' not in buf:
    buf += t.recv(4096)
head, body = buf.split(b'\r\n\r\n', 1)
n = int([l.split(b':')[1] for l in head.split(b'\r\n') if l.lower().startswith(b'content-length')][0])
while len(body) < n:
    body += t.recv(4096)
sys.stdout.write(body.decode())
sys.stdout.flush()
sys.stdin.readline()            # the test sends QUIT to portico, then a line here
try:
    d = t.recv(4096)
    print('clean' if d == b'' else 'data')
except ssl.SSLEOFError:
    print('ragged')
except Exception as e:
    print('error', type(e).__name__)
PY

my $p = Portico->new(start => 0);
my $BP = $p->port(3);
$p->write_conf(<<"EOF");
worker_processes = 1;
worker_shutdown_timeout = "20s";
upstreams = ( { name = "tb"; keepalive = 4;
                tls = { enable = true; ca = "$D/c.pem"; server_name = "localhost"; };
                servers = ( { address = "127.0.0.1:$BP"; } ); } );
servers = (
  { listen = ( { address = "127.0.0.1:%%PORT1%%"; tls = true; } );
    tls = { certificate = "$D/c.pem"; key = "$D/k.pem"; };
    routes = ( { match = { path = "/hello"; };
                 return = { status = 200; body = "hello over tls\\n"; }; } ); },
  { listen = ( { address = "127.0.0.1:%%PORT2%%"; } );
    routes = ( { match = { path_prefix = "/"; }; proxy = { upstream = "tb"; }; } ); }
);
EOF

my $bpid = fork() // BAIL_OUT("fork: $!");
if ($bpid == 0) {
    open(STDERR, ">", "$D/backend.err");
    exec('python3', "$D/backend.py", $BP, "$D/c.pem", "$D/k.pem", "$D/backend.result");
    exit 127;
}
ok(Portico::wait_until(sub { -e "$D/backend.result.ready" }, 15), 'TLS backend listening');

$p->start;

# the pooled upstream TLS connection: one proxied request, then idle in the pool
my ($s, $h, $b) = http_parse(Portico::http_get($p->port(2), '/x'));
is($s, 200, 'proxied over TLS: 200');
is($b, "from tls backend\n", 'proxied over TLS: body');

# the idle keep-alive HTTPS client connection
use IPC::Open2;
my $cpid = open2(my $cout, my $cin, 'python3', "$D/client.py", $p->port(1));
my $line = <$cout>;
is($line, "hello over tls\n", 'HTTPS keep-alive request answered');

my $t0 = time;
$p->signal('QUIT');
ok($p->wait_exit(15), 'QUIT: portico exits with idle TLS connections open');
ok(time - $t0 < 10, 'QUIT: idle connections did not hold the worker until the timeout');

print $cin "\n";
close $cin;
my $end = <$cout> // '';
waitpid($cpid, 0);
is($end, "clean\n", 'idle HTTPS client connection closed with close_notify');

ok(Portico::wait_until(sub { -f "$D/backend.result" }, 15), 'backend saw its connection end');
is(Portico::read_file("$D/backend.result"), "clean\n",
   'idle pooled upstream TLS connection closed with close_notify');
waitpid($bpid, 0);

$p->check_logs;
done_testing();
