#!/usr/bin/perl
# http2_websocket.t: WebSocket over HTTP/2 (RFC 8441). An `http2 = true` listener announces
# SETTINGS_ENABLE_CONNECT_PROTOCOL; an extended CONNECT with :protocol websocket to a route
# with `websocket = true` reaches the upstream as an HTTP/1.1 GET with Upgrade, Connection and
# a Sec-WebSocket-Key, the upstream's 101 becomes a 200 (without the handshake's own headers)
# and frames go both ways, small and larger than the stream windows, until the client ends its
# stream and the server ends its own. Another :protocol is answered 501; a route that does not
# tunnel resets the stream when it would answer 2xx, and answers an error status as it is; the
# access log has the request as "GET /path HTTP/2.0". The client is t/lib/h2ws.py
# (python3-h2).

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Portico;
use PorticoBackend;

skip_unless_module('proxy', 'http2', 'return');
plan(skip_all => 'python3-h2 is not installed (/usr/bin/python3 -c "import h2")')
    unless system('/usr/bin/python3 -c "import h2" 2>/dev/null') == 0;

my $p = Portico->new(start => 0);
my $be = PorticoBackend->new(port => $p->port(2), id => 'ws');
$p->write_conf(<<'EOF2');
upstreams = ( { name = "app"; servers = ( { address = "127.0.0.1:%%PORT2%%"; } ); } );
http = { log_formats = ( { name = "h2"; format = "$server_protocol \"$request\" $status"; } ); };
servers = ( {
  listen = ( { address = "127.0.0.1:%%PORT1%%"; http2 = true; } );
  http2_initial_window_size = "16k";
  access_log = { format = "h2"; };
  routes = (
    { match = { path_prefix = "/on/"; };
      proxy = { upstream = "app"; strip_prefix = true; websocket = true; }; },
    { match = { path_prefix = "/off/"; };
      proxy = { upstream = "app"; strip_prefix = true; }; },
    { match = { path_prefix = "/"; }; return = { status = 200; body = "plain\n"; }; }
  );
} );
EOF2
$p->start;

sub h2ws
{
    my (@args) = @_;
    my $cmd = join(' ', '/usr/bin/python3', Portico::repo_root() . '/t/lib/h2ws.py',
                   $p->port(1), @args);
    my $out = `timeout 20 $cmd 2>&1`;
    return $out;
}

# the tunnel: frames of 5 bytes, 100,000 (over the 16 KiB stream window) and 70,000 bytes
my $out = h2ws('/on/ws', 'websocket', 5, 100000, 70000);
like($out, qr/^connect_protocol 1$/m, 'SETTINGS_ENABLE_CONNECT_PROTOCOL = 1');
like($out, qr/^status 200$/m, 'the upstream\'s 101 becomes 200');
unlike($out, qr/^header (upgrade|connection|sec-websocket-accept) /mi,
       'no Upgrade, Connection or Sec-WebSocket-Accept towards the HTTP/2 client');
like($out, qr/^header x-request-id [0-9a-f]{32}$/m, 'X-Request-Id as on every response');
for my $size (5, 100000, 70000) {
    like($out, qr/^echo $size ok$/m, "a $size-byte frame is echoed intact");
}
like($out, qr/^end$/m, 'the client ends its stream, the server ends its own');

my $log = $be->requests_log;
my @ws = grep { $_->[1] eq '/ws' } @$log;
is(scalar @ws, 1, 'the upstream saw one request for /ws');
is($ws[0][0], 'GET', '... as a GET') if @ws;

# another protocol
$out = h2ws('/on/ws', 'foo');
like($out, qr/^status 501$/m, ':protocol other than websocket: 501');

# a route that does not tunnel: 2xx would open a tunnel the route does not run
$out = h2ws('/plain');
like($out, qr/^reset 2$/m, 'a return route\'s 200 to an extended CONNECT resets the stream '
     . '(INTERNAL_ERROR)');
$out = h2ws('/off/status?code=403');
like($out, qr/^status 403$/m, 'an error status from a route that does not tunnel goes as is');

ok($p->wait_for(sub { ($p->access_log // '') =~ m{^HTTP/2\.0 "GET /on/ws HTTP/2\.0" 200$}m },
                5),
   'access log: HTTP/2.0 "GET /on/ws HTTP/2.0" 200')
    or diag($p->access_log);
like($p->error_log, qr/extended CONNECT \(WebSocket\) to a route that does not tunnel/,
     'the reset is logged');

$p->stop;
$p->check_logs;
done_testing();
