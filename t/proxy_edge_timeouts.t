#!/usr/bin/perl
# proxy_edge_timeouts.t: upstream timeouts and retries (docs/settings.md, docs/http.md):
# connect_timeout -> 504 (a loopback listener with backlog 0 whose queue is already full drops
# further SYNs), send_timeout -> 504 against a backend that never reads a large upload (and an early
# answer from such a backend passed on, the client connection then closed), next_upstream statuses
# (502/503/504 retried for an idempotent request with its held body, never for a written POST, the
# upstream's own answer passed on otherwise), retries = 0, next_upstream_timeout bounding the tries,
# tunnel_timeout closing an idle WebSocket.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Portico;
use PorticoBackend;
use Digest::SHA qw(sha256_hex);
use IO::Socket::INET;
use Socket qw(PF_INET SOCK_STREAM SOL_SOCKET SO_REUSEADDR pack_sockaddr_in inet_aton);
use Time::HiRes qw(sleep time);

skip_unless_module('proxy');

my $p = Portico->new(start => 0);
my @P = map { $p->port($_) } 0 .. 9;

# PORT2: backlog 0, its one queue slot taken by a connection never accepted.
socket(my $full, PF_INET, SOCK_STREAM, 0) or die "socket: $!";
setsockopt($full, SOL_SOCKET, SO_REUSEADDR, 1);
bind($full, pack_sockaddr_in($P[2], inet_aton('127.0.0.1'))) or die "bind: $!";
listen($full, 0) or die "listen: $!";
my $filler = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $P[2], Timeout => 3)
    or die "filler: $!";
my $probe = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $P[2], Timeout => 1);
ok(!$probe, 'the full accept queue drops further SYNs (connect times out)');

# PORT3, 6, 7: read the request head, then nothing (never read the body, never answer).
my @silent = map {
    PorticoBackend->raw(port => $_, handler => sub { sleep 30; })
} @P[3, 6, 7];

# PORT4: "A" answers the status of ?code= (default 503) after reading the body.
my $ba = PorticoBackend->raw(port => $P[4], handler => sub {
    my ($c, $head, $rest) = @_;
    my ($len) = $head =~ /^Content-Length:\s*(\d+)/mi;
    my $deadline = time + 5;
    while (length $rest < ($len || 0) && time < $deadline) {
        last unless sysread($c, my $buf, 65536);
        $rest .= $buf;
    }
    my ($code) = $head =~ /[?&]code=(\d+)/;
    $code ||= 503;
    my $body = "A $code";
    local $SIG{PIPE} = 'IGNORE';
    syswrite($c, "HTTP/1.1 $code X\r\nContent-Length: " . length($body)
                 . "\r\nConnection: close\r\n\r\n$body");
});
# PORT8: answers 413 as soon as the head arrived, then never reads.
my $be = PorticoBackend->raw(port => $P[8], handler => sub {
    my ($c) = @_;
    local $SIG{PIPE} = 'IGNORE';
    syswrite($c, "HTTP/1.1 413 Too Large\r\nContent-Length: 3\r\nConnection: close\r\n\r\nbig");
    sleep 30;
});
# PORT5: backend.py "b" (uploads, WebSocket echo).
my $bb = PorticoBackend->new(port => $P[5], id => 'b');

$p->write_conf(<<'EOF');
http = {
  client_max_body_size = 0;
  log_formats = ( { name = "up";
                    format = "$request_uri $status [$upstream_addr] [$upstream_status]"; } );
  access_log = { path = "logs/access.log"; format = "up"; };
};
upstreams = (
  { name = "ct"; connect_timeout = "1s"; retries = 0;
    servers = ( { address = "127.0.0.1:%%PORT2%%"; } ); },
  { name = "st"; send_timeout = "1s"; read_timeout = "30s"; retries = 0;
    servers = ( { address = "127.0.0.1:%%PORT3%%"; } ); },
  { name = "s5xx"; retries = 1; max_fails = 0;
    next_upstream = ["error", "timeout", "502", "503", "504"];
    servers = ( { address = "127.0.0.1:%%PORT4%%"; weight = 100; },
                { address = "127.0.0.1:%%PORT5%%"; weight = 1; } ); },
  { name = "r0"; retries = 0; max_fails = 0;
    next_upstream = ["error", "timeout", "502", "503", "504"];
    servers = ( { address = "127.0.0.1:%%PORT4%%"; weight = 100; },
                { address = "127.0.0.1:%%PORT5%%"; weight = 1; } ); },
  { name = "nut"; read_timeout = "1s"; next_upstream_timeout = "1500ms"; retries = 5;
    max_fails = 0;
    servers = ( { address = "127.0.0.1:%%PORT3%%"; }, { address = "127.0.0.1:%%PORT6%%"; },
                { address = "127.0.0.1:%%PORT7%%"; } ); },
  { name = "early"; send_timeout = "30s"; retries = 0;
    servers = ( { address = "127.0.0.1:%%PORT8%%"; } ); },
  { name = "ws"; servers = ( { address = "127.0.0.1:%%PORT5%%"; } ); }
);
servers = ( {
  listen = ["127.0.0.1:%%PORT1%%"];
  routes = (
    { match = { path_prefix = "/ct/"; }; proxy = { upstream = "ct"; strip_prefix = true; }; },
    { match = { path_prefix = "/st/"; }; proxy = { upstream = "st"; strip_prefix = true; }; },
    { match = { path_prefix = "/s5xx/"; };
      proxy = { upstream = "s5xx"; strip_prefix = true; }; },
    { match = { path_prefix = "/early/"; };
      proxy = { upstream = "early"; strip_prefix = true; }; },
    { match = { path_prefix = "/r0/"; }; proxy = { upstream = "r0"; strip_prefix = true; }; },
    { match = { path_prefix = "/nut/"; }; proxy = { upstream = "nut"; strip_prefix = true; }; },
    { match = { path_prefix = "/ws/"; };
      proxy = { upstream = "ws"; strip_prefix = true; websocket = true;
                tunnel_timeout = "1s"; }; }
  );
} );
EOF
$p->start;
my $port = $P[1];

sub log_has
{
    my ($re) = @_;
    return wait_until(sub { ($p->access_log || '') =~ $re }, 5);
}

# --- connect_timeout
{
    my $t0 = time;
    my ($st) = http_parse(http_get($port, '/ct/x', -timeout => 10));
    is($st, 504, 'connect_timeout: 504');
    ok(time - $t0 >= 0.9, 'connect_timeout: after about 1 s');
    ok(log_has(qr{^/ct/x 504 \[127\.0\.0\.1:$P[2]\] \[504\]$}m), 'connect_timeout logged')
        or diag($p->access_log);
}

# Uploads 64 MiB to $path without blocking, reading the answer meanwhile; returns
# (response bytes, body bytes sent, seconds taken).
sub big_upload
{
    my ($path) = @_;
    my $s = http_connect($port);
    my $total = 64 << 20;
    http_send($s, "POST $path HTTP/1.1\r\nHost: x\r\nContent-Length: $total\r\n\r\n");
    $s->blocking(0);
    my $chunk = 'u' x 65536;
    my ($sent, $resp, $eof) = (0, '', 0);
    my $t0 = time;
    my $deadline = $t0 + 20;
    local $SIG{PIPE} = 'IGNORE';
    while (time < $deadline && !$eof) {
        my ($rin, $win) = ('', '');
        vec($rin, fileno($s), 1) = 1;
        vec($win, fileno($s), 1) = 1 if $sent < $total;
        next unless select(my $rout = $rin, my $wout = $win, undef, 0.5);
        if (vec($rout, fileno($s), 1)) {
            my $n = sysread($s, my $buf, 65536);
            $eof = 1 unless $n;
            $resp .= $buf if $n;
        }
        if ($sent < $total && vec($wout, fileno($s), 1)) {
            my $n = syswrite($s, $chunk);
            $sent += $n if $n;
        }
    }
    close $s;
    return ($resp, $sent, time - $t0, $total);
}

# --- send_timeout: the backend never reads a 64 MiB upload
{
    my ($resp, $sent, $took, $total) = big_upload('/st/upload');
    like($resp, qr{^HTTP/1\.1 504 }, 'send_timeout: 504 while the backend never reads');
    ok($sent < $total, 'send_timeout: answered before the whole body went') or diag($sent);
    ok($took < 15, 'send_timeout: no hang, connection closed');
    ok(log_has(qr{^/st/upload 504 \[127\.0\.0\.1:$P[3]\] \[504\]$}m), 'send_timeout logged')
        or diag($p->access_log);

    # an early answer from a backend that stops reading is passed on, then the client
    # connection closes (its body was not read)
    ($resp, $sent, $took, $total) = big_upload('/early/upload');
    my ($st, $h, $b) = http_parse($resp);
    is("$st $b", '413 big', 'early upstream answer during the upload: passed on');
    is($h->{connection}, 'close', 'early answer: the client connection closes');
    ok($took < 15, 'early answer: no wait for send_timeout') or diag($took);
    ok(log_has(qr{^/early/upload 413 \[127\.0\.0\.1:$P[8]\] \[413\]$}m), 'early answer logged')
        or diag($p->access_log);
}

# --- next_upstream statuses
{
    my $body = pattern_bytes(3000);
    for my $code (502, 503, 504) {
        my ($st, undef, $b) = http_parse(http_raw($port, http_request('PUT',
            "/s5xx/upload?code=$code", Connection => 'close', body => $body), timeout => 5));
        my $j = json_decode($b) || {};
        is("$st " . ($j->{id} // '') . " " . ($j->{sha256} // ''),
           "200 b " . sha256_hex($body), "PUT after $code: retried with its held body");
        ok(log_has(qr{^/s5xx/upload\?code=$code\ 200
                      \ \[127\.0\.0\.1:$P[4],\ 127\.0\.0\.1:$P[5]\]\ \[$code,\ 200\]$}mx),
           "PUT after $code: both tries logged") or diag($p->access_log);
    }
    my ($st, undef, $b) = http_parse(http_raw($port, http_request('POST', '/s5xx/upload?code=503',
        Connection => 'close', body => $body), timeout => 5));
    is("$st $b", '503 A 503', 'a written POST is not retried: the upstream answer passes');
    ok(log_has(qr{^/s5xx/upload\?code=503 503 \[127\.0\.0\.1:$P[4]\] \[503\]$}m),
       'POST: one try') or diag($p->access_log);
    ($st, undef, $b) = http_parse(http_get($port, '/s5xx/x?code=500', -timeout => 5));
    is("$st $b", '500 A 500', 'a status not in next_upstream passes');
    ($st, undef, $b) = http_parse(http_get($port, '/r0/x?code=502', -timeout => 5));
    is("$st $b", '502 A 502', 'retries = 0: the upstream 502 passes, no other try');
    ok(log_has(qr{^/r0/x\?code=502 502 \[127\.0\.0\.1:$P[4]\] \[502\]$}m), 'retries = 0: one try')
        or diag($p->access_log);
}

# --- next_upstream_timeout: read_timeout 1s, 1.5 s in all: exactly two tries
{
    my $t0 = time;
    my ($st) = http_parse(http_get($port, '/nut/x', -timeout => 15));
    is($st, 504, 'next_upstream_timeout: 504');
    ok(log_has(qr{^/nut/x 504 \[127\.0\.0\.1:\d+, 127\.0\.0\.1:\d+\] \[504, 504\]$}m),
       'next_upstream_timeout: two tries, not three') or diag($p->access_log);
}

# --- tunnel_timeout
{
    my $s = http_connect($port);
    http_send($s, http_request('GET', '/ws/ws', Upgrade => 'websocket',
                               Connection => 'Upgrade',
                               'Sec-WebSocket-Key' => 'dGhlIHNhbXBsZSBub25jZQ==',
                               'Sec-WebSocket-Version' => '13'));
    my $head = http_read_response($s, timeout => 5);
    like($head, qr{^HTTP/1\.1 101 }, 'websocket: 101');
    my $mask = "\x01\x02\x03\x04";
    http_send($s, "\x81\x82" . $mask . ("hi" ^ "\x01\x02"));
    my $got = '';
    my $deadline = time + 5;
    while (length $got < 4 && time < $deadline) {
        my $rin = '';
        vec($rin, fileno($s), 1) = 1;
        last unless select(my $rout = $rin, undef, undef, 0.5) || time < $deadline;
        my $n = sysread($s, my $buf, 100);
        last unless $n;
        $got .= $buf;
    }
    is($got, "\x81\x02hi", 'websocket: echo through the tunnel');
    my $t0 = time;
    ok(http_closed($s, 8), 'idle tunnel closed');
    my $idle = time - $t0;
    ok($idle >= 0.8 && $idle < 6, "closed after tunnel_timeout 1s ($idle)");
    close $s;
}

close $filler;
close $full;
$p->stop;
done_testing();
