#!/usr/bin/perl
# tcp_nodelay.t: TCP_NODELAY on client connections is set when a write could wait behind an
# earlier one not yet acknowledged, and only then (docs/performance.md): a plain connection
# answered in one write has none (a connection per request costs no setsockopt); the second
# request of a keep-alive connection, a response that takes more than one write and a
# WebSocket tunnel have it; a TLS connection has it from the accept (its session tickets are
# written before the response). The option is read from the worker's own socket
# (t/lib/sockopt.py borrows the descriptor with pidfd_getfd), not inferred from timing.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Portico;
use PorticoBackend;
use File::Temp qw(tempdir);

skip_unless_module('return', 'proxy');

my $p = Portico->new(start => 0);
my $be = PorticoBackend->new(port => $p->port(2), id => 'a');
$p->write_conf(<<'EOF2');
worker_processes = 1;
upstreams = ( { name = "app"; servers = ( { address = "127.0.0.1:%%PORT2%%"; } ); } );
servers = ( {
  listen = ["127.0.0.1:%%PORT1%%"];
  routes = (
    { match = { path = "/small"; }; return = { status = 200; body = "small\n"; }; },
    { match = { path = "/ws"; }; proxy = { upstream = "app"; websocket = true; }; },
    { match = { path_prefix = "/"; }; proxy = { upstream = "app"; }; }
  );
} );
EOF2
$p->start;
wait_until(sub { $p->worker_pids == 1 }, 5);
my ($w) = $p->worker_pids;

# the server side's TCP_NODELAY for the client socket $s: '0', '1', or why it is unknown
sub nodelay
{
    my ($s) = @_;
    my $out = `python3 t/lib/sockopt.py $w ${\ $s->sockport} 2>&1`;
    chomp $out;
    return $out;
}

my $probe = http_connect($p->port(1));
http_send($probe, http_request('GET', '/small'));
http_read_response($probe);
my $first = nodelay($probe);
plan(skip_all => "cannot read the socket options of worker $w: $first") if $first !~ /^[01]$/;

is($first, '0', 'one response in one write: no TCP_NODELAY (no system call)');
http_send($probe, http_request('GET', '/small'));
my ($st, undef, $body) = http_parse(http_read_response($probe));
is("$st $body", "200 small\n", 'the second request on the connection is answered');
is(nodelay($probe), '1', '... and the connection has TCP_NODELAY from its second response on');
close $probe;

# a proxied response of 4 MiB goes out in many writes: the option is set at the second
my $big = http_connect($p->port(1));
http_send($big, http_request('GET', '/bytes?n=4194304'));
($st, undef, $body) = http_parse(http_read_response($big, timeout => 20));
is("$st " . length($body // ''), '200 4194304', 'a 4 MiB proxied response is whole');
is(nodelay($big), '1', '... and its connection has TCP_NODELAY (more than one write)');
close $big;

# a proxied small response: one write, no option
my $one = http_connect($p->port(1));
http_send($one, http_request('GET', '/bytes?n=100'));
($st, undef, $body) = http_parse(http_read_response($one));
is("$st " . length($body // ''), '200 100', 'a small proxied response');
is(nodelay($one), '0', '... in one write: no TCP_NODELAY');
close $one;

# a WebSocket tunnel carries small messages both ways: set when the tunnel starts
my $ws = http_connect($p->port(1));
http_send($ws, "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
          . "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
like(http_read_response($ws, timeout => 5), qr{^HTTP/1\.1 101 }, 'a WebSocket upgrade is relayed');
is(nodelay($ws), '1', '... and the tunnel has TCP_NODELAY');
close $ws;

SKIP: {
    skip 'no tls module', 1 unless has_module('tls');
    skip 'no openssl CLI', 1 unless system('openssl version >/dev/null 2>&1') == 0;
    my $D = tempdir('portico-nodelay-XXXXXX', DIR => '/tmp', CLEANUP => 1);
    system("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
           . "-keyout $D/a.key -out $D/a.crt -days 30 -subj '/CN=a.test' >$D/log 2>&1") == 0
        or BAIL_OUT('openssl req failed');
    my $t = Portico->new(start => 0);
    $t->write_conf(<<"EOF2");
worker_processes = 1;
servers = ( {
  listen = ( { address = "127.0.0.1:%%PORT1%%"; tls = true; } );
  tls = { certificate = "$D/a.crt"; key = "$D/a.key"; };
  routes = ( { match = { path_prefix = "/"; }; return = { status = 200; body = "tls\\n"; }; } );
} );
EOF2
    $t->start;
    wait_until(sub { $t->worker_pids == 1 }, 5);
    my ($tw) = $t->worker_pids;
    # handshake, one request, then ask for the option while the connection is open
    my $out = `python3 - $tw ${\ $t->port(1)} <<'PY' 2>&1
import socket, ssl, subprocess, sys
pid, port = sys.argv[1], int(sys.argv[2])
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10),
                    server_hostname="a.test")
s.sendall(b"GET / HTTP/1.1\\r\\nHost: a.test\\r\\n\\r\\n")
data = b""
while not data.endswith(b"tls\\n"):
    d = s.recv(4096)
    if not d:
        break
    data += d
opt = subprocess.run([sys.executable, "t/lib/sockopt.py", pid, str(s.getsockname()[1])],
                     capture_output=True, text=True).stdout.strip()
print(data.split(b" ")[1].decode(), opt)
PY
`;
    chomp $out;
    is($out, '200 1', 'TLS: the response is served and the connection has TCP_NODELAY');
    $t->stop;
}

$p->stop;
done_testing();
