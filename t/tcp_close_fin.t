#!/usr/bin/perl
# tcp_close_fin.t: a response after which the connection closes (Connection: close) leaves
# with its FIN in the same TCP segment as its last bytes (the writes pass MSG_MORE, the close
# flushes both), one packet less each way per connection (docs/performance.md). Counted with
# the client socket's TCP_INFO (tcpi_segs_in): a closed response must arrive in as many
# segments as the same response on a kept-alive connection, whose end has no FIN at all. The
# response must still be whole and the connection closed, also when the close finds input
# left unread (a reset then: the held bytes must have gone out before it).

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Portico;
use PorticoBackend;

skip_unless_module('return', 'proxy');

my $p = Portico->new(start => 0);
my $be = PorticoBackend->new(port => $p->port(2), id => 'a');
$p->write_conf(<<'EOF2');
upstreams = ( { name = "app"; servers = ( { address = "127.0.0.1:%%PORT2%%"; } ); } );
servers = ( {
  listen = ["127.0.0.1:%%PORT1%%"];
  routes = (
    { match = { path = "/small"; }; return = { status = 200; body = "small\n"; }; },
    { match = { path_prefix = "/"; }; proxy = { upstream = "app"; }; }
  );
} );
EOF2
$p->start;
my $port = $p->port(1);
my $dir = $p->prefix;

# prints "SEGMENTS_IN BODY_LENGTH EOF" for one request on a fresh connection
write_file("$dir/segs.py", <<'PY');
import socket, struct, sys
port, path, close = int(sys.argv[1]), sys.argv[2], sys.argv[3] == "close"
s = socket.create_connection(("127.0.0.1", port), timeout=10)
s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\n%s\r\n"
           % (path, "Connection: close\r\n" if close else "")).encode())
data = b""
while b"\r\n\r\n" not in data:
    data += s.recv(65536)
head, body = data.split(b"\r\n\r\n", 1)
length = int([l.split(b":")[1] for l in head.split(b"\r\n")
              if l.lower().startswith(b"content-length:")][0])
while len(body) < length:
    body += s.recv(65536)
eof = False
if close:
    eof = s.recv(1) == b""
# struct tcp_info: tcpi_segs_out and tcpi_segs_in, u32 at offsets 136 and 140 (Linux 4.2)
segs_in = struct.unpack_from("I", s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256), 140)[0]
print(segs_in, len(body), "eof" if eof else "open")
PY

sub segs
{
    my ($path, $mode) = @_;
    my $out = `python3 $dir/segs.py $port $path $mode 2>&1`;
    chomp $out;
    return $out;
}

for my $case (['/small', 6, 'return'], ['/bytes?n=1000', 1000, 'proxy']) {
    my ($path, $len, $what) = @$case;
    my ($ka_segs, $ka_len, $ka_state) = split ' ', segs($path, 'keep');
    is("$ka_len $ka_state", "$len open", "$what, kept alive: the whole body, the connection open");
    my ($cl_segs, $cl_len, $cl_state) = split ' ', segs($path, 'close');
    is("$cl_len $cl_state", "$len eof", "$what, Connection: close: the whole body, then EOF");
    is($cl_segs, $ka_segs, "$what: the FIN came in the body's last segment "
       . "($cl_segs segments in, $ka_segs without a FIN)");
}

# A close with input left unread (a body the route never read, a request pipelined after
# `Connection: close`) resets the connection: the bytes MSG_MORE held must have left first.
{
    my ($st, undef, $body) = http_parse(http_raw($port, "POST /small HTTP/1.1\r\nHost: x\r\n"
        . "Content-Length: 300000\r\nConnection: close\r\n\r\n" . ('y' x 300000), timeout => 10));
    is(($st // '') . ' ' . ($body // ''), "200 small\n",
       'a 300 KB body left unread: the response still arrives whole');
    my $raw = http_raw($port, "GET /small HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        . "GET /small HTTP/1.1\r\nHost: x\r\n\r\n", timeout => 10);
    ($st, undef, $body) = http_parse($raw // '');
    is(($st // '') . ' ' . ($body // ''), "200 small\n",
       'a request pipelined after Connection: close: the first response arrives whole');
    is(() = ($raw // '') =~ m{HTTP/1\.1 200}g, 1, '... and only the first is answered');
}

$p->stop;
done_testing();
