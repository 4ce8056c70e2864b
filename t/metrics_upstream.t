#!/usr/bin/perl
# metrics_upstream.t: the per-upstream-server traffic statistics of the status route
# (docs/metrics.md) move by exactly what happened, summed over two workers: bytes both ways
# (against what a raw backend saw and what the client got), connect errors (a refused port),
# timeouts (read_timeout), bad responses (invalid and oversized heads), upstream aborts
# (close mid-body, close or reset before the response), client aborts (499: counted for the
# route, its server and the upstream server), retries (both servers refused), max_conns
# rejections (503), latency histograms (connect, header, response) with sub-millisecond
# buckets; bytes and client aborts per route and server; the JSON document agrees; every
# scrape passes the strict parser; a reload keeps the counts.

use strict;
use warnings;
use Test::More;
use JSON::PP;
use IO::Socket::INET;
use Time::HiRes qw(sleep);
use lib 't/lib';
use Portico;
use PorticoBackend;
use PorticoMetrics;

skip_unless_module('status', 'proxy');

my $p = Portico->new(start => 0);
my $rec = "/tmp/portico-metrics-rec-$$";
mkdir $rec;
my $FIXED = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello";
my $fixed = PorticoBackend->raw(port => $p->port(2), handler => sub {
    my ($c, $head, $rest) = @_;
    if (open(my $fh, '>>', "$rec/sent")) {
        print $fh length($head) + 4 + length($rest), "\n";
        close $fh;
    }
    print $c $FIXED;
});
my $be = PorticoBackend->new(port => $p->port(4), id => 'be');

$p->write_conf(<<'EOF2');
worker_processes = 2;
upstreams = (
  { name = "fixed"; keepalive = 0; servers = ( { address = "127.0.0.1:%%PORT2%%"; } ); },
  { name = "refused"; max_fails = 0; servers = ( { address = "127.0.0.1:%%PORT3%%"; } ); },
  { name = "slow"; max_fails = 0; keepalive = 0; read_timeout = "300ms";
    servers = ( { address = "127.0.0.1:%%PORT4%%"; } ); },
  { name = "bad"; max_fails = 0; keepalive = 0; next_upstream = ["off"];
    servers = ( { address = "127.0.0.1:%%PORT4%%"; } ); },
  { name = "twice"; max_fails = 0; retries = 1; next_upstream = ["error"];
    servers = ( { address = "127.0.0.1:%%PORT3%%"; }, { address = "127.0.0.1:%%PORT5%%"; } ); },
  { name = "limited"; max_fails = 0; keepalive = 0;
    servers = ( { address = "127.0.0.1:%%PORT4%%"; max_conns = 1; } ); },
  { name = "hold"; max_fails = 0; keepalive = 0;
    servers = ( { address = "127.0.0.1:%%PORT4%%"; } ); },
  { name = "ws"; servers = ( { address = "127.0.0.1:%%PORT4%%"; } ); }
);
servers = (
  { listen = ["127.0.0.1:%%PORT1%%"];
    names = ["up.test"];
    routes = (
      { match = { path = "/metrics"; }; status = { }; },
      { match = { path = "/metrics.json"; }; status = { format = "json"; }; },
      { name = "fixed"; match = { path = "/fixed"; }; proxy = { upstream = "fixed"; }; },
      { match = { path = "/refused"; }; proxy = { upstream = "refused"; }; },
      { match = { path = "/sleep"; }; proxy = { upstream = "slow"; }; },
      { match = { path_prefix = "/bad/"; }; proxy = { upstream = "bad"; }; },
      { match = { path = "/twice"; }; proxy = { upstream = "twice"; }; },
      { match = { path = "/limited"; }; proxy = { upstream = "limited"; rewrite = "/sleep"; }; },
      { name = "hold"; match = { path = "/hold"; }; proxy = { upstream = "hold"; rewrite = "/sleep"; }; },
      { match = { path = "/ws"; }; proxy = { upstream = "ws"; websocket = true; }; }
    ); }
);
EOF2
$p->start;
ok($p->wait_for(sub { $p->worker_pids == 2 }, 10), 'two workers');

my $P = $p->port(1);
my $L = "127.0.0.1:$P";
my %S = (fixed => "127.0.0.1:" . $p->port(2), refused => "127.0.0.1:" . $p->port(3),
         be => "127.0.0.1:" . $p->port(4), other => "127.0.0.1:" . $p->port(5));
sub us { my ($u, $s) = @_; return (upstream => $u, server => $S{$s}); }

sub status_of { my ($r) = @_; return defined $r && $r =~ m{^HTTP/1\.1 (\d+)} ? $1 : 0; }

my $m0 = metrics($P);
ok($m0, 'first scrape');
is_deeply($m0->{errors}, [], 'strict parse: no errors');

# ---- bytes, latency, route and server bytes ---------------------------------------------------
my ($req_bytes, $resp_bytes, $ok) = (0, 0, 0);
for my $i (1 .. 3) {
    my $req = http_request('GET', "/fixed?i=$i", Connection => 'close');
    my $r = http_raw($P, $req, timeout => 10) // '';
    $ok++ if status_of($r) == 200 && $r =~ /\r\n\r\nhello\z/;
    $req_bytes += length $req;
    $resp_bytes += length $r;
}
is($ok, 3, 'three proxied requests');
my $m1 = metrics($P);
is(mdelta($m0, $m1, 'portico_upstream_server_received_bytes_total', us('fixed', 'fixed')),
   3 * length($FIXED), 'upstream server received bytes: exactly the three responses');
my $sent = 0;
if (open(my $fh, '<', "$rec/sent")) { $sent += $_ for <$fh>; close $fh; }
cmp_ok($sent, '>', 3 * 30, 'the backend recorded the request sizes');
is(mdelta($m0, $m1, 'portico_upstream_server_sent_bytes_total', us('fixed', 'fixed')), $sent,
   "upstream server sent bytes: exactly what the backend read ($sent)");
for my $h (qw(connect header response)) {
    is(mdelta($m0, $m1, "portico_upstream_server_${h}_seconds_count", us('fixed', 'fixed')), 3,
       "$h latency histogram: 3 more observations");
    ok(defined mval($m1, "portico_upstream_server_${h}_seconds_bucket", us('fixed', 'fixed'),
                    le => '0.0001'), "$h histogram has a 100 us bucket");
}
is(mdelta($m0, $m1, 'portico_upstream_response_seconds_count', upstream => 'fixed'), 3,
   'the per-upstream histogram still counts (3 more)');
is(mdelta($m0, $m1, 'portico_upstream_server_tries_total', us('fixed', 'fixed')), 3,
   'tries: 3 more');
my %R = (server => 'up.test', listen => $L, route => 'fixed');
is(mdelta($m0, $m1, 'portico_route_requests_total', %R), 3, 'route requests: 3 more');
is(mdelta($m0, $m1, 'portico_route_received_bytes_total', %R), $req_bytes,
   "route received bytes: exactly the requests ($req_bytes)");
is(mdelta($m0, $m1, 'portico_route_sent_bytes_total', %R), $resp_bytes,
   "route sent bytes: exactly the responses ($resp_bytes)");
my %SV = (server => 'up.test', listen => $L);
is(mdelta($m0, $m1, 'portico_server_received_bytes_total', %SV),
   $req_bytes + $m0->{request_bytes}, 'server received bytes: the requests and the scrape');
is(mdelta($m0, $m1, 'portico_server_sent_bytes_total', %SV),
   $resp_bytes + $m0->{response_bytes}, 'server sent bytes: the responses and the scrape');

# ---- connect errors, timeouts, bad responses, aborts ------------------------------------------
my @st;
push @st, status_of(http_get($P, '/refused', -timeout => 10)) for 1 .. 2;
is("@st", '502 502', 'refused port: 502 twice');
is(status_of(http_get($P, '/sleep?ms=3000', -timeout => 10)), 504, 'read_timeout: 504');
is(status_of(http_get($P, "/bad/$_", -timeout => 10)), 502, "/bad/$_: 502")
    for qw(status-line huge-header no-response reset);
my $cut = http_get($P, '/bad/close-mid-body', -timeout => 10) // '';
is(status_of($cut), 200, 'close mid-body: the head went out (200), then the cut');
my $m2 = metrics($P);
is_deeply($m2->{errors}, [], 'strict parse: no errors');
is(mdelta($m1, $m2, 'portico_upstream_server_connect_errors_total', us('refused', 'refused')), 2,
   'connect errors: exactly 2');
is(mdelta($m1, $m2, 'portico_upstream_server_timeouts_total', us('slow', 'be')), 1,
   'timeouts: exactly 1');
is(mdelta($m1, $m2, 'portico_upstream_server_bad_responses_total', us('bad', 'be')), 2,
   'bad responses (invalid status line, oversized head): exactly 2');
is(mdelta($m1, $m2, 'portico_upstream_server_aborts_total', us('bad', 'be')), 3,
   'upstream aborts (no response, reset, close mid-body): exactly 3');
is(mdelta($m1, $m2, 'portico_upstream_server_connect_errors_total', us('bad', 'be')), 0,
   'no connect error counted for answered connects');
is(mdelta($m1, $m2, 'portico_upstream_server_timeouts_total', us('refused', 'refused')), 0,
   'no timeout counted for a refused connect');
is(mdelta($m1, $m2, 'portico_upstream_server_connect_seconds_count', us('refused', 'refused')),
   0, 'a refused connect is not a connect latency');
is(mdelta($m1, $m2, 'portico_upstream_server_response_seconds_count', us('bad', 'be')), 5,
   'response histogram: every try of the bad upstream (5)');

# ---- retries ----------------------------------------------------------------------------------
push @st, status_of(http_get($P, '/twice', -timeout => 10)) for 1 .. 2;
my $m3 = metrics($P);
is(mdelta($m2, $m3, 'portico_upstream_retries_total', upstream => 'twice'), 2,
   'upstream retries: exactly 2 (one per request)');
is((mdelta($m2, $m3, 'portico_upstream_server_retries_total', us('twice', 'refused')) // 0)
   + (mdelta($m2, $m3, 'portico_upstream_server_retries_total', us('twice', 'other')) // 0), 2,
   'per-server retries sum to 2');
is((mdelta($m2, $m3, 'portico_upstream_server_connect_errors_total', us('twice', 'refused')) // 0)
   + (mdelta($m2, $m3, 'portico_upstream_server_connect_errors_total', us('twice', 'other')) // 0),
   4, 'both servers refused each request: 4 connect errors');
is(mdelta($m2, $m3, 'portico_upstream_retries_total', upstream => 'refused'), 0,
   'a one-server upstream never retries');

# ---- max_conns ----------------------------------------------------------------------------------
my $busy = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $P, Timeout => 5);
print $busy http_request('GET', '/limited?ms=3000', Connection => 'close');
ok(wait_until(sub {
    my $m = metrics($P);
    (mval($m, 'portico_upstream_server_active', us('limited', 'be')) // 0) == 1;
}, 5), 'the slow request holds the only connection max_conns allows');
is(status_of(http_get($P, '/limited?ms=1', -timeout => 10)), 503, 'max_conns reached: 503');
my $first = '';
{
    local $/;
    $busy->blocking(1);
    $first = <$busy> // '';
}
is(status_of($first), 200, 'the held request is answered');
close $busy;
my $m4 = metrics($P);
is(mdelta($m3, $m4, 'portico_upstream_max_conns_rejected_total', upstream => 'limited'), 1,
   'max_conns rejections: exactly 1');
is(mdelta($m3, $m4, 'portico_upstream_max_conns_rejected_total', upstream => 'refused'), 0,
   'other upstreams: none');

# ---- client aborts (499) ----------------------------------------------------------------------
my $c = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $P, Timeout => 5);
print $c http_request('GET', '/hold?ms=1500', Connection => 'close');
sleep 0.4;
close $c;
my %H = (server => 'up.test', listen => $L, route => 'hold');
ok(wait_until(sub {
    (mdelta($m4, metrics($P), 'portico_route_client_aborts_total', %H) // 0) >= 1;
}, 5), 'the client went away: counted');
my $m5 = metrics($P);
is(mdelta($m4, $m5, 'portico_route_client_aborts_total', %H), 1, 'route client aborts: exactly 1');
is(mdelta($m4, $m5, 'portico_route_responses_total', %H, class => '4xx'), 1,
   'the 499 is a 4xx of the route');
is(mdelta($m4, $m5, 'portico_server_client_aborts_total', %SV), 1,
   'server client aborts: exactly 1');
is(mdelta($m4, $m5, 'portico_upstream_server_client_aborts_total', us('hold', 'be')), 1,
   'upstream server client aborts: exactly 1');
ok($p->wait_for(sub { ($p->access_log // '') =~ /" 499 / }, 5), 'the access log has the 499');

# ---- JSON agrees ------------------------------------------------------------------------------
my $jr = http_get($P, '/metrics.json', -timeout => 10) // '';
my $j = eval { decode_json(substr($jr, index($jr, "\r\n\r\n") + 4)) };
ok($j, 'JSON parses');
my ($ju) = grep { $_->{name} eq 'fixed' } @{ $j->{upstreams} || [] };
my ($js) = grep { $_->{address} eq $S{fixed} } @{ $ju->{servers} || [] };
is($js->{received_bytes},
   mval($m5, 'portico_upstream_server_received_bytes_total', us('fixed', 'fixed')),
   'JSON received_bytes = Prometheus');
is($js->{header_seconds}{count},
   mval($m5, 'portico_upstream_server_header_seconds_count', us('fixed', 'fixed')),
   'JSON header histogram count = Prometheus');
is($js->{header_seconds}{buckets}[0]{le}, 0.0001, 'JSON: first bucket at 100 us');
my ($jl) = grep { $_->{name} eq 'limited' } @{ $j->{upstreams} || [] };
is($jl->{max_conns_rejected}, 1, 'JSON max_conns_rejected');
my ($jt) = grep { $_->{name} eq 'twice' } @{ $j->{upstreams} || [] };
is($jt->{retries}, 2, 'JSON upstream retries');
my ($jsrv) = grep { $_->{name} eq 'up.test' } @{ $j->{servers} || [] };
is($jsrv->{listen}, $L, 'JSON server listen');
my ($jrt) = grep { $_->{route} eq 'hold' } @{ $jsrv->{routes} || [] };
is($jrt->{client_aborts}, 1, 'JSON route client_aborts, route by name');

# ---- WebSocket tunnel bytes count for the upstream server ------------------------------------
{
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $P, Timeout => 5);
    print $s http_request('GET', '/ws', Upgrade => 'websocket', Connection => 'Upgrade',
                          'Sec-WebSocket-Key' => 'dGhlIHNhbXBsZSBub25jZQ==',
                          'Sec-WebSocket-Version' => '13');
    my ($head, $buf) = ('', '');
    my $deadline = time + 5;
    while (index($buf, "\r\n\r\n") < 0 && time < $deadline) {
        sysread($s, my $chunk, 4096) or last;
        $buf .= $chunk;
    }
    like($buf, qr{^HTTP/1\.1 101 }, 'WebSocket: 101');
    my $ma = metrics($P);
    is(mval($ma, 'portico_upstream_server_header_seconds_count', us('ws', 'be')), 1,
       'WebSocket: the 101 is a response head (header histogram)');
    my $payload = 'w' x 1000;
    my $mask = pack('N', 0x01020304);
    my $frame = chr(0x82) . chr(0x80 | 126) . pack('n', 1000) . $mask
                . ($payload ^ substr($mask x 250, 0, 1000));
    print $s $frame;
    my $echo = '';
    while (length($echo) < 1004 && time < $deadline + 5) {
        sysread($s, my $chunk, 4096) or last;
        $echo .= $chunk;
    }
    is(length $echo, 1004, 'WebSocket: the frame echoed (1004 bytes)');
    my $mb = metrics($P);
    is(mdelta($ma, $mb, 'portico_upstream_server_sent_bytes_total', us('ws', 'be')),
       length $frame, 'tunnel: the frame\'s bytes sent to the upstream server');
    is(mdelta($ma, $mb, 'portico_upstream_server_received_bytes_total', us('ws', 'be')), 1004,
       'tunnel: the echo\'s bytes received from it');
    close $s;
}

# ---- a reload keeps the counts ----------------------------------------------------------------
my @w = $p->worker_pids;
$p->signal('HUP');
ok($p->wait_for(sub {
    my @n = $p->worker_pids;
    @n == 2 && !grep { my $o = $_; grep { $_ == $o } @w } @n;
}, 15), 'reloaded: two new workers');
my $m6 = metrics($P);
is_deeply($m6->{errors}, [], 'strict parse after the reload');
for my $f (['portico_upstream_server_received_bytes_total', us('fixed', 'fixed')],
           ['portico_upstream_server_connect_errors_total', us('refused', 'refused')],
           ['portico_upstream_server_header_seconds_count', us('fixed', 'fixed')],
           ['portico_upstream_retries_total', upstream => 'twice'],
           ['portico_route_sent_bytes_total', %R],
           ['portico_server_client_aborts_total', %SV])
{
    my ($name, @l) = @$f;
    my ($before, $after) = (mval($m5, $name, @l), mval($m6, $name, @l));
    ok(defined $before && $before > 0 && defined $after && $after == $before,
       "$name kept across the reload (" . ($before // 'undef') . ')');
}

$p->check_logs;
$p->stop;
system('rm', '-rf', $rec);
done_testing;
