#!/usr/bin/perl
# http2_status.t: the status route's protocol and HTTP/2 families. Requests are counted by
# protocol version (portico_http_protocol_requests_total{protocol}, JSON http.protocols),
# HTTP/2 connections as they open and close (portico_http2_connections_active, _total), and
# a connection a defence ends (a PING flood) in portico_http2_connections_calm_total (JSON
# "http2"). The HTTP/2 clients are curl --http2-prior-knowledge and, for the flood,
# python3-h2.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Portico;

skip_unless_module('http2', 'status', 'return');
plan(skip_all => 'no curl') unless system('curl --version >/dev/null 2>&1') == 0;

my $p = Portico->new(start => 0);
$p->write_conf(<<'EOF2');
servers = ( {
  listen = ( { address = "127.0.0.1:%%PORT1%%"; http2 = true; } );
  routes = (
    { match = { path = "/metrics"; }; status = { }; },
    { match = { path = "/json"; }; status = { format = "json"; }; },
    { match = { path_prefix = "/"; }; return = { status = 200; body = "ok\n"; }; }
  );
} );
EOF2
$p->start;
my $port = $p->port(1);

sub curl
{
    my (@args) = @_;
    my ($rc, $out) = Portico::run_cmd('curl', '-s', '-m', '10', @args);
    return $out;
}

sub metric
{
    my ($text, $line) = @_;
    return $text =~ /^\Q$line\E (\d+)$/m ? $1 : undef;
}

# three requests over HTTP/1.1 (one HTTP/1.0), four over HTTP/2 on one connection (nghttp:
# curl 7.88 cannot reuse a prior-knowledge connection)
curl("http://127.0.0.1:$port/a") for 1 .. 2;
curl('--http1.0', "http://127.0.0.1:$port/b");
SKIP: {
    skip 'no nghttp (nghttp2-client)', 1 unless system('nghttp --version >/dev/null 2>&1') == 0;
    my ($rc, $out) = Portico::run_cmd('nghttp', '-n', '-s',
                                      map { ("http://127.0.0.1:$port/h2/$_") } 1 .. 4);
    is(scalar(() = $out =~ /^\s*\d+\s+\+\S+\s+\+\S+\s+\S+\s+200\b/mg), 4,
       'four HTTP/2 requests on one connection') or diag($out);
}

my $m;
ok($p->wait_for(sub {
        $m = curl("http://127.0.0.1:$port/metrics");
        (metric($m, 'portico_http2_connections_active') // -1) == 0
    }, 5), 'the HTTP/2 connection is closed: portico_http2_connections_active 0')
    or diag($m);
is(metric($m, 'portico_http_protocol_requests_total{protocol="HTTP/2.0"}'), 4,
   'portico_http_protocol_requests_total{protocol="HTTP/2.0"} 4')
    if system('nghttp --version >/dev/null 2>&1') == 0;
is(metric($m, 'portico_http_protocol_requests_total{protocol="HTTP/1.0"}'), 1,
   'portico_http_protocol_requests_total{protocol="HTTP/1.0"} 1');
# two /a, and the /metrics requests so far (this one included)
cmp_ok(metric($m, 'portico_http_protocol_requests_total{protocol="HTTP/1.1"}') // 0, '>=', 3,
       'portico_http_protocol_requests_total{protocol="HTTP/1.1"} counts HTTP/1.1');
is(metric($m, 'portico_http2_connections_total'), 1, 'portico_http2_connections_total 1')
    if system('nghttp --version >/dev/null 2>&1') == 0;
is(metric($m, 'portico_http2_connections_calm_total'), 0,
   'portico_http2_connections_calm_total 0');
like($m, qr/^# TYPE portico_http2_connections_active gauge$/m, 'active is a gauge');
like($m, qr/^# TYPE portico_http_protocol_requests_total counter$/m,
     'requests by protocol is a counter');

SKIP: {
    skip 'python3-h2 is not installed', 1
        unless system('/usr/bin/python3 -c "import h2" 2>/dev/null') == 0;
    # a connection kept open shows in the gauge
    my $hold = <<'EOF4';
import socket, sys, time
import h2.config, h2.connection
s = socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=5)
c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
c.initiate_connection()
s.sendall(c.data_to_send())
print('open', flush=True)
time.sleep(3)
EOF4
    my $pid = open(my $held, '-|', '/usr/bin/python3', '-c', $hold, $port);
    my $line = <$held>;
    ok($p->wait_for(sub {
            $m = curl("http://127.0.0.1:$port/metrics");
            (metric($m, 'portico_http2_connections_active') // 0) == 1
        }, 5), 'an open HTTP/2 connection: portico_http2_connections_active 1') or diag($m);
    kill 'TERM', $pid;
    close($held);
}

SKIP: {
    skip 'python3-h2 is not installed', 3
        unless system('/usr/bin/python3 -c "import h2" 2>/dev/null') == 0;
    # 1,001 PINGs in a row: the control-frame flood defence ends the connection
    my $py = <<'EOF3';
import socket, sys
import h2.config, h2.connection
s = socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=5)
c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
c.initiate_connection()
s.sendall(c.data_to_send())
for i in range(1001):
    c.ping(b'%08d' % i)
    s.sendall(c.data_to_send())
    if i % 50 == 0:
        try:
            s.settimeout(0.2)
            while s.recv(65536):
                pass
        except Exception:
            pass
try:
    s.settimeout(5)
    while s.recv(65536):
        pass
except Exception:
    pass
print('done')
EOF3
    my ($rc, $out) = Portico::run_cmd('/usr/bin/python3', '-c', $py, $port);
    like($out, qr/done/, 'the PING flood client ran');
    ok($p->wait_for(sub {
            $m = curl("http://127.0.0.1:$port/metrics");
            (metric($m, 'portico_http2_connections_calm_total') // 0) == 1
        }, 5), 'portico_http2_connections_calm_total 1 after a PING flood') or diag($m);
    my $j = curl("http://127.0.0.1:$port/json");
    like($j, qr/"http2":\{"connections_active":\d+,"connections_total":\d+,"connections_calm":1\}/,
         'JSON: http2 with connections_calm 1');
}

my $j = curl("http://127.0.0.1:$port/json");
like($j, qr/"protocols":\{"HTTP\/1\.0":1,"HTTP\/1\.1":\d+,"HTTP\/2\.0":\d+\}/,
     'JSON: http.protocols');

$p->stop;
$p->check_logs;
done_testing();
