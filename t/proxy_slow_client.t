#!/usr/bin/perl
# proxy_slow_client.t: timers of the proxy's response relay, request body and tunnel run only
# while portico waits for that side (read_timeout while waiting for upstream bytes,
# send_timeout while waiting for the client to drain, client_body_timeout while waiting for
# body bytes, tunnel_timeout while nothing moves either way), and a response cut short is
# logged as such: the client sees the short body (no terminating chunk), the error log says
# what happened with the byte counts, the access log keeps the status and marks the line
# ($request_completion empty, "incomplete" at the end of a combined line, null in JSON).
#
#   - an 8 MiB body to a client reading 64 KiB every 20 ms through a 1 s read_timeout
#     (Content-Length and chunked): every byte arrives, checksums match;
#   - response heads arriving slowly (102 Processing, a head in pieces) past read_timeout;
#   - a slow uploading client (gaps under client_body_timeout, total over it) and a slow
#     upstream reading the body (gaps under send_timeout; the client's body timer must not
#     run while portico waits for the upstream);
#   - an early answer relayed slowly while the client has stopped sending its body;
#   - WebSocket tunnels with one side idle while the other streams past tunnel_timeout;
#   - a backend stalling mid-body (Content-Length, chunked), one closing, one resetting;
#   - a client that stops reading: send_timeout, logged, the upstream connection not pooled.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Portico;
use PorticoBackend;
use Digest::SHA qw(sha256_hex);
use Socket qw(PF_INET SOCK_STREAM SOL_SOCKET SO_RCVBUF SO_LINGER pack_sockaddr_in inet_aton);
use IO::Handle;
use Time::HiRes qw(sleep time);

skip_unless_module('proxy');

my $p = Portico->new(start => 0);
my @P = map { $p->port($_) } 0 .. 9;
# Bigger than what the kernel buffers on loopback (the sender's socket buffer grows up to
# tcp_wmem's 4 MiB) plus what the client takes within read_timeout, so that portico itself
# waits on the client for longer than read_timeout.
my $BIG = 8 << 20;

# PORT2: backend.py (bytes, chunked, WebSocket echo)
my $bb = PorticoBackend->new(port => $P[2], id => 'b');

# PORT7: a head, a 0.1 s pause (portico finds nothing to read: its upstream read timer
# starts), then N bytes at full speed, with Content-Length or (/chunked) chunked.
my $fast = PorticoBackend->raw(port => $P[7], handler => sub {
    my ($c, $head) = @_;
    my ($n) = $head =~ /[?&]n=(\d+)/;
    my $chunked = $head =~ m{^GET /chunked};
    write_all($c, "HTTP/1.1 200 OK\r\n"
                  . ($chunked ? "Transfer-Encoding: chunked" : "Content-Length: $n")
                  . "\r\nConnection: close\r\n\r\n") or return;
    sleep 0.1;
    my $data = pattern_bytes($n);
    for (my $off = 0; $off < $n; $off += 65536) {
        my $part = substr($data, $off, 65536);
        write_all($c, $chunked ? sprintf("%x\r\n", length $part) . "$part\r\n" : $part)
            or return;
    }
    write_all($c, "0\r\n\r\n") if $chunked;
});

# PORT8: a slow head: four 102 Processing 0.4 s apart then the answer (/interim), or the
# answer's head in four pieces 0.4 s apart (/dribble).
my $slowhead = PorticoBackend->raw(port => $P[8], handler => sub {
    my ($c, $head) = @_;
    my @parts = $head =~ m{^GET /interim}
        ? (("HTTP/1.1 102 Processing\r\n\r\n") x 4, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nslow")
        : ("HTTP/1.1 200 OK\r\n", "Content-Length: 4\r\n", "X-Slow: 1\r\n", "\r\nslow");
    for my $part (@parts) {
        sleep 0.4;
        write_all($c, $part) or return;
    }
    sleep 0.5;
});

# PORT3: declares 1000000 bytes (or chunked: /chunked), sends 300000, then stalls, or
# closes (/close), or resets the connection (/reset).
my $stall = PorticoBackend->raw(port => $P[3], handler => sub {
    my ($c, $head) = @_;
    my $data = pattern_bytes(300000);
    if ($head =~ m{^GET /chunked}) {
        write_all($c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                      . sprintf("%x\r\n", length $data) . "$data\r\n");
    } else {
        write_all($c, "HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n$data");
    }
    return if $head =~ m{^GET /close};
    if ($head =~ m{^GET /reset}) {
        sleep 0.3;      # what was written has left; then a reset
        setsockopt($c, SOL_SOCKET, SO_LINGER, pack('ii', 1, 0));
        close $c;
        return;
    }
    sleep 30;
});

# PORT4: reads the request body 64 KiB every 20 ms, then answers its length and sha256.
my $slowread = PorticoBackend->raw(port => $P[4], handler => sub {
    my ($c, $head, $rest) = @_;
    my ($len) = $head =~ /^Content-Length:\s*(\d+)/mi;
    my $deadline = time + 15;
    while (length $rest < $len && time < $deadline) {
        sleep 0.02;
        my $n = sysread($c, my $buf, 65536);
        last unless $n;
        $rest .= $buf;
    }
    my $body = length($rest) . ' ' . sha256_hex($rest);
    write_all($c, "HTTP/1.1 200 OK\r\nContent-Length: " . length($body)
                  . "\r\nConnection: close\r\n\r\n$body");
});

# PORT5: answers at once, without reading the body, 6 pieces of 1000 bytes 0.25 s apart.
my $early = PorticoBackend->raw(port => $P[5], handler => sub {
    my ($c) = @_;
    write_all($c, "HTTP/1.1 200 OK\r\nContent-Length: 6000\r\nConnection: close\r\n\r\n");
    for (1 .. 6) {
        sleep 0.25;
        write_all($c, 'e' x 1000) or return;
    }
    sleep 1;
});

# PORT6: WebSocket: answers 101, then either sends a frame every 0.25 s for 1.5 s (/push),
# or reads for 1.5 s and answers one frame with the number of bytes read (/pull).
my $ws = PorticoBackend->raw(port => $P[6], handler => sub {
    my ($c, $head, $rest) = @_;
    write_all($c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                  . "Connection: Upgrade\r\nSec-WebSocket-Accept: x\r\n\r\n");
    my $t0 = time;
    if ($head =~ m{^GET /push}) {
        for my $i (1 .. 6) {
            sleep 0.25;
            write_all($c, "\x81\x05push$i") or return;
        }
        sleep 0.2;
        return;
    }
    my $got = length $rest;
    while (time < $t0 + 1.5) {
        my $rin = '';
        vec($rin, fileno($c), 1) = 1;
        next unless select(my $rout = $rin, undef, undef, 0.1);
        my $n = sysread($c, my $buf, 65536);
        last unless $n;
        $got += $n;
    }
    my $msg = "got $got";
    write_all($c, "\x81" . chr(length $msg) . $msg);
    sleep 0.2;
});

$p->write_conf(<<'EOF');
http = {
  send_timeout = "1s";  client_body_timeout = "1s";  client_max_body_size = 0;
  log_formats = ( { name = "t"; format =
    "$request_uri $status $body_bytes_sent [$request_completion] [$upstream_status] $upstream_response_time";
  } );
  access_log = { path = "logs/access.log"; format = "t"; };
};
upstreams = (
  { name = "b"; read_timeout = "1s"; send_timeout = "1s"; keepalive = 8;
    servers = ( { address = "127.0.0.1:%%PORT2%%"; } ); },
  { name = "fast"; read_timeout = "1s"; retries = 0;
    servers = ( { address = "127.0.0.1:%%PORT7%%"; } ); },
  { name = "slowhead"; read_timeout = "1s"; retries = 0;
    servers = ( { address = "127.0.0.1:%%PORT8%%"; } ); },
  { name = "stall"; read_timeout = "1s"; retries = 0;
    servers = ( { address = "127.0.0.1:%%PORT3%%"; } ); },
  { name = "slowread"; read_timeout = "10s"; send_timeout = "1s"; retries = 0;
    servers = ( { address = "127.0.0.1:%%PORT4%%"; } ); },
  { name = "early"; read_timeout = "1s"; send_timeout = "1s"; retries = 0;
    servers = ( { address = "127.0.0.1:%%PORT5%%"; } ); },
  { name = "ws"; read_timeout = "1s"; retries = 0;
    servers = ( { address = "127.0.0.1:%%PORT6%%"; } ); }
);
servers = ( {
  listen = ["127.0.0.1:%%PORT1%%"];
  routes = (
    { match = { path_prefix = "/b/"; }; proxy = { upstream = "b"; strip_prefix = true; }; },
    { match = { path_prefix = "/slowhead/"; };
      proxy = { upstream = "slowhead"; strip_prefix = true; }; },
    { match = { path_prefix = "/fast/"; };
      proxy = { upstream = "fast"; strip_prefix = true; }; },
    { match = { path_prefix = "/combined-b/"; };
      access_log = { path = "logs/combined.log"; format = "combined"; };
      proxy = { upstream = "b"; strip_prefix = true; }; },
    { match = { path_prefix = "/json-b/"; };
      access_log = { path = "logs/json.log"; format = "json"; };
      proxy = { upstream = "b"; strip_prefix = true; }; },
    { match = { path_prefix = "/combined/"; };
      access_log = { path = "logs/combined.log"; format = "combined"; };
      proxy = { upstream = "stall"; strip_prefix = true; }; },
    { match = { path_prefix = "/json/"; };
      access_log = { path = "logs/json.log"; format = "json"; };
      proxy = { upstream = "stall"; strip_prefix = true; }; },
    { match = { path_prefix = "/stall/"; };
      proxy = { upstream = "stall"; strip_prefix = true; }; },
    { match = { path_prefix = "/slowread/"; };
      proxy = { upstream = "slowread"; strip_prefix = true; }; },
    { match = { path_prefix = "/early/"; };
      proxy = { upstream = "early"; strip_prefix = true; }; },
    { match = { path_prefix = "/ws/"; };
      proxy = { upstream = "ws"; strip_prefix = true; websocket = true;
                tunnel_timeout = "1s"; }; }
  );
} );
EOF
$p->start;
my $port = $P[1];

sub log_line
{
    my ($re, $file) = @_;
    my $text = wait_until(sub {
        my $t = $p->access_log($file) // '';
        return $t =~ $re ? $t : undef;
    }, 5);
    return $text;
}

# A client socket with a small receive buffer (so that back-pressure reaches portico soon).
sub small_client
{
    socket(my $s, PF_INET, SOCK_STREAM, 0) or die "socket: $!";
    setsockopt($s, SOL_SOCKET, SO_RCVBUF, 65536) or die "SO_RCVBUF: $!";
    connect($s, pack_sockaddr_in($port, inet_aton('127.0.0.1'))) or die "connect: $!";
    $s->autoflush(1);
    return $s;
}

# Reads everything until EOF (or $limit seconds), at most $chunk bytes every $pause seconds.
sub slow_read
{
    my ($s, $chunk, $pause, $limit) = @_;
    my $data = '';
    my $deadline = time + $limit;
    while (time < $deadline) {
        my $rin = '';
        vec($rin, fileno($s), 1) = 1;
        next unless select(my $rout = $rin, undef, undef, 0.2);
        my $n = sysread($s, my $buf, $chunk);
        last unless $n;
        $data .= $buf;
        sleep $pause;
    }
    return $data;
}

sub split_response
{
    my ($raw) = @_;
    my $i = index($raw, "\r\n\r\n");
    return (undef, undef) if $i < 0;
    return (substr($raw, 0, $i + 4), substr($raw, $i + 4));
}

# De-chunks $body; returns (data, complete) where complete says the last chunk was seen.
sub dechunk
{
    my ($body) = @_;
    my ($out, $pos) = ('', 0);
    while (1) {
        my $le = index($body, "\r\n", $pos);
        return ($out, 0) if $le < 0;
        my $size = hex substr($body, $pos, $le - $pos);
        return ($out, substr($body, $le + 2, 2) eq "\r\n") if $size == 0;
        return ($out . substr($body, $le + 2), 0) if length($body) < $le + 2 + $size + 2;
        $out .= substr($body, $le + 2, $size);
        $pos = $le + 2 + $size + 2;
    }
}

# ---- a slow client gets the whole body: read_timeout does not run while it drains ------------
for my $kind ('bytes', 'chunked') {
    my $s = small_client();
    my $t0 = time;
    print $s "GET /fast/$kind?n=$BIG HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    my ($head, $body) = split_response(slow_read($s, 65536, 0.02, 25));
    close $s;
    ok(defined $head && $head =~ m{^HTTP/1\.1 200 }, "slow client, $kind: 200");
    my $complete = 1;
    ($body, $complete) = dechunk($body // '') if $kind eq 'chunked';
    is(length($body // ''), $BIG, "slow client, $kind: every byte arrives");
    ok($complete, "slow client, $kind: the terminating chunk arrives");
    is(sha256_hex($body // ''), sha256_hex(pattern_bytes($BIG)), "slow client, $kind: checksum");
    ok(time - $t0 > 2, "slow client, $kind: the client was slower than read_timeout");
    my $bytes = $kind eq 'bytes' ? $BIG : '\d+';      # chunked: the framing counts too
    ok(log_line(qr{^/fast/$kind\?n=$BIG 200 $bytes \[OK\] \[200\] \d+\.\d{3}$}m),
       "slow client, $kind: logged complete") or diag($p->access_log);
}
unlike($p->error_log // '', qr/timed out/, 'slow clients: no timeout logged');

# ---- a head arriving slowly: read_timeout (1 s) runs between reads, not over the whole head --
{
    my $raw = http_get($port, '/slowhead/interim', -timeout => 5);
    is(() = $raw =~ m{HTTP/1\.1 102 }g, 4, 'interim responses: the four 102 passed on');
    like($raw, qr{HTTP/1\.1 200 OK\r\n.*\r\n\r\nslow$}s, 'interim responses over 1.6 s: 200');
    $raw = http_get($port, '/slowhead/dribble', -timeout => 5);
    like($raw, qr{^HTTP/1\.1 200 OK\r\n.*X-Slow: 1\r\n(?:.*\r\n)?\r\nslow$}s,
         'a head in pieces over 1.6 s: 200') or diag($raw);
}

# ---- request bodies -------------------------------------------------------------------------
# A client uploading 32 KiB every 0.3 s (2 s in all, client_body_timeout 1 s).
{
    my $total = 7 * 32768;
    my $upload = 'u' x $total;
    my $s = http_connect($port);
    http_send($s, "POST /b/upload HTTP/1.1\r\nHost: x\r\nContent-Length: $total\r\n"
                  . "Connection: close\r\n\r\n");
    for my $i (0 .. 6) {
        sleep 0.3;
        http_send($s, substr($upload, $i * 32768, 32768));
    }
    my ($st, $h, $b) = http_parse(http_read_response($s, timeout => 5));
    is($st, 200, 'slow upload: 200');
    my $j = json_decode($b);
    is($j && $j->{length}, $total, 'slow upload: the whole body reached the upstream');
    is($j && $j->{sha256}, sha256_hex($upload), 'slow upload: checksum');
}

# An upstream reading the body 64 KiB every 20 ms (8 MiB, more than the socket buffers: about
# 3 s; send_timeout 1 s): the client is not read meanwhile, and its client_body_timeout (1 s)
# must not run either.
{
    my $total = 8 << 20;
    my $upload = pattern_bytes($total);
    my $s = http_connect($port);
    local $SIG{PIPE} = 'IGNORE';
    http_send($s, "POST /slowread/ HTTP/1.1\r\nHost: x\r\nContent-Length: $total\r\n"
                  . "Connection: close\r\n\r\n$upload");
    my ($st, $h, $b) = http_parse(http_read_response($s, timeout => 20));
    is($st, 200, 'slow upstream reader: 200');
    is($b, "$total " . sha256_hex($upload), 'slow upstream reader: the whole body, checksum');
}

# An early answer relayed over 1.5 s while the client has stopped sending its body: the
# client's body timer must not cut the response.
{
    my $s = http_connect($port);
    http_send($s, "POST /early/ HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n"
                  . ('p' x 1000));
    my ($st, $h, $b) = http_parse(http_read_response($s, timeout => 8));
    is($st, 200, 'early answer: 200');
    is($b, 'e' x 6000, 'early answer: the whole response while the body is not sent');
    ok(log_line(qr{^/early/ 200 6000 \[OK\] \[200\] \d+\.\d{3}$}m), 'early answer: logged complete')
        or diag($p->access_log);
}

# ---- tunnels: one side idle while the other streams, 1.5 s with tunnel_timeout 1 s ------------
{
    my $s = http_connect($port);
    http_send($s, "GET /ws/push HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                  . "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                  . "Sec-WebSocket-Version: 13\r\n\r\n");
    my $data = slow_read($s, 65536, 0, 6);
    like($data, qr{^HTTP/1\.1 101 }, 'tunnel, upstream streams: 101');
    like($data, qr{push1.*push6$}s, 'tunnel, upstream streams, client idle: all frames arrive');
}
{
    my $s = http_connect($port);
    http_send($s, "GET /ws/pull HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                  . "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                  . "Sec-WebSocket-Version: 13\r\n\r\n");
    my $sent = 0;
    for (1 .. 6) {
        sleep 0.2;
        http_send($s, "\x82\x7e\x03\xe8" . ('w' x 1000)) or last;
        $sent += 1004;
    }
    my $data = slow_read($s, 65536, 0, 5);
    like($data, qr{^HTTP/1\.1 101 }, 'tunnel, client streams: 101');
    like($data, qr{got $sent$}, 'tunnel, client streams, upstream idle: every byte arrived');
}

# ---- an upstream failing after the head: the response is cut and logged as cut -------------
# (the requests first, each cut after read_timeout or at once, then the logs at one go)
my %cut = map { $_ => http_get($port, $_, -timeout => 8) }
    qw(/stall/cl /stall/chunked /stall/close /stall/reset /combined/cl /json/cl);
http_get($port, $_) for qw(/combined-b/id /json-b/id);
{
    my ($head, $body) = split_response($cut{'/stall/cl'});
    like($head // '', qr{^HTTP/1\.1 200 .*Content-Length: 1000000\r\n}s,
         'stall, Content-Length: head passed on');
    is(length($body // ''), 300000, 'stall, Content-Length: exactly the bytes received');
    is($body, pattern_bytes(300000), 'stall, Content-Length: the bytes are intact');
    ok(log_line(qr{^/stall/cl 200 300000 \[-\] \[200\] \d+\.\d{3}$}m), 'stall: access log marks it cut')
        or diag($p->access_log);
    like($p->error_log // '', qr{\[error\] .*upstream 127\.0\.0\.1:$P[3] timed out reading the response body \(300000 of 1000000 bytes received, 300000 sent\), client: .*"GET /stall/cl }, 'stall: error log line')
        or diag($p->error_log);
}
{
    my ($head, $body) = split_response($cut{'/stall/chunked'});
    like($head // '', qr{^HTTP/1\.1 200 .*Transfer-Encoding: chunked\r\n}s,
         'stall, chunked: head passed on');
    my ($data, $complete) = dechunk($body // '');
    is(length $data, 300000, 'stall, chunked: exactly the bytes received');
    ok(!$complete, 'stall, chunked: no terminating chunk');
    ok(log_line(qr{^/stall/chunked 200 \d+ \[-\] \[200\] \d+\.\d{3}$}m), 'stall, chunked: logged cut')
        or diag($p->access_log);
    like($p->error_log // '', qr{timed out reading the response body \(300000 bytes of a chunked body received, \d+ sent\), client: .*"GET /stall/chunked }, 'stall, chunked: error log line');
}
{
    my ($head, $body) = split_response($cut{'/stall/close'});
    is(length($body // ''), 300000, 'premature close: the short body');
    ok(log_line(qr{^/stall/close 200 300000 \[-\] \[200\] \d+\.\d{3}$}m), 'premature close: logged cut')
        or diag($p->access_log);
    like($p->error_log // '', qr{\[error\] .*upstream 127\.0\.0\.1:$P[3] prematurely closed the connection \(300000 of 1000000 bytes received, 300000 sent\)}, 'premature close: error log line');
}
{
    my ($head, $body) = split_response($cut{'/stall/reset'});
    like($head // '', qr{^HTTP/1\.1 200 }, 'upstream reset: head passed on');
    ok(length($body // '') < 1000000, 'upstream reset: the short body');
    ok(log_line(qr{^/stall/reset 200 \d+ \[-\] \[200\] \d+\.\d{3}$}m),
       'upstream reset: logged cut') or diag($p->access_log);
    like($p->error_log // '', qr{\[error\] .*upstream 127\.0\.0\.1:$P[3] failed reading the response body \(\d+ of 1000000 bytes received, \d+ sent\) \(104: Connection reset by peer\)}, 'upstream reset: error log line')
        or diag($p->error_log);
}
# The default formats mark it too; complete responses are logged as before.
{
    my $c = log_line(qr{"GET /combined-b/id HTTP/1\.1" 200 1 "-" "-"$}m, 'combined.log') // '';
    like($c, qr{"GET /combined/cl HTTP/1\.1" 200 300000 "-" "-" incomplete$}m,
         'combined: a cut response ends with "incomplete"');
    like($c, qr{"GET /combined-b/id HTTP/1\.1" 200 1 "-" "-"$}m,
         'combined: a complete response is the plain combined line');
    my $j = log_line(qr{"uri":"/json-b/id"}, 'json.log') // '';
    my ($cutj) = $j =~ /^(.*"uri":"\/json\/cl".*)$/m;
    my ($okj) = $j =~ /^(.*"uri":"\/json-b\/id".*)$/m;
    like($cutj // '', qr{"status":200,"body_bytes_sent":300000,}, 'json: status and bytes kept');
    like($cutj // '', qr{"request_completion":null}, 'json: request_completion null when cut');
    like($okj // '', qr{"request_completion":"OK"}, 'json: request_completion "OK"');
}

# ---- a client that stops reading: send_timeout, logged, upstream connection not pooled ------
{
    $bb->reset;
    my $s = small_client();
    print $s "GET /b/bytes?n=$BIG HTTP/1.1\r\nHost: x\r\n\r\n";
    sleep 2;       # send_timeout 1 s
    my $got = slow_read($s, 1 << 20, 0, 3);
    close $s;
    my ($head, $body) = split_response($got);
    ok(defined $head && length($body) < $BIG, 'stopped client: the response was cut');
    ok(log_line(qr{^/b/bytes\?n=$BIG 200 \d+ \[-\] \[200\] \d+\.\d{3}$}m),
       'stopped client: status kept, marked cut, the try\'s time recorded') or diag($p->access_log);
    like($p->error_log // '', qr{\[info\] .*client timed out sending the response \(\d+ of \d+ bytes sent\)},
         'stopped client: error log line');
    my $st = wait_until(sub { my $x = $bb->stats; $x && $x->{open} == 0 ? $x : undef }, 5);
    ok($st, 'stopped client: the upstream connection was closed, not pooled');
}

done_testing();
