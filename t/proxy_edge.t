#!/usr/bin/perl
# proxy_edge.t: proxy edge cases (docs/http.md, issue 3): interim responses (100 absorbed,
# 103 forwarded to HTTP/1.1 clients only, even more than the socket holds, 101 without an
# upgrade -> 502), chunked responses with trailers (trailers dropped, as nginx does),
# Expect: 100-continue through the proxy, a client that goes away (499 with upstream status
# "-", the upstream connection never pooled), $upstream_* formats (one value per try, the
# time covering the whole response, "-" / null when never upstream), and bad upstream
# responses (invalid chunk size, HTTP/1.0 close-delimited, gzip+chunked, negative or
# overflowing Content-Length, more than 100 headers).

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Portico;
use PorticoBackend;
use Digest::SHA qw(sha256_hex);
use Socket qw(PF_INET SOCK_STREAM SOL_SOCKET SO_RCVBUF pack_sockaddr_in inet_aton);
use Time::HiRes qw(sleep time);

skip_unless_module('proxy');

my $p = Portico->new(start => 0);

# Reads $len body bytes (what is in $$rest first).
sub rd
{
    my ($c, $rest, $len) = @_;
    while (length $$rest < $len) {
        my $n = sysread($c, my $buf, 65536);
        return undef unless $n;
        $$rest .= $buf;
    }
    return substr($$rest, 0, $len, '');
}

sub next_head
{
    my ($c, $rest) = @_;
    while (index($$rest, "\r\n\r\n") < 0) {
        my $n = sysread($c, my $buf, 65536);
        return undef unless $n;
        $$rest .= $buf;
    }
    my $i = index($$rest, "\r\n\r\n");
    my $head = substr($$rest, 0, $i);
    substr($$rest, 0, $i + 4, '');
    return $head;
}

# The scripted backend: answers by path, serving requests on one connection until told to
# close. /pid answers the serving process id (one process per connection).
my %raw = (
    '/pid' => sub { my ($c) = @_; write_all($c, "HTTP/1.1 200 OK\r\nContent-Length: " . length($$)
                                       . "\r\n\r\n$$"); 1 },
    '/103' => sub {
        my ($c) = @_;
        write_all($c, "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n"
               . "Connection: X-Drop\r\nX-Drop: 1\r\n\r\n");
        sleep 0.1;
        write_all($c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello");
        1;
    },
    '/103many' => sub {
        my ($c) = @_;
        my $link = '<' . ('l' x 12000) . '>; rel=preload';
        write_all($c, join('', map { "HTTP/1.1 103 Early Hints\r\nLink: $link\r\nX-N: $_\r\n\r\n" }
                            1 .. 400) . "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ndone");
        1;
    },
    '/100' => sub {
        my ($c, $head, $rest) = @_;
        my ($len) = $head =~ /^Content-Length:\s*(\d+)/mi;
        write_all($c, "HTTP/1.1 100 Continue\r\n\r\n");
        my $body = rd($c, $rest, $len || 0);
        my $res = sha256_hex($body // '') . " " . length($body // '');
        write_all($c, "HTTP/1.1 200 OK\r\nContent-Length: " . length($res) . "\r\n\r\n$res");
        1;
    },
    '/101' => sub {
        write_all($_[0], "HTTP/1.1 101 Switching Protocols\r\nUpgrade: foo\r\n"
                  . "Connection: upgrade\r\n\r\n");
        sleep 1;
        0;
    },
    '/trailers' => sub {
        write_all($_[0], "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n"
                  . "5\r\nhello\r\n6\r\n world\r\n0\r\nX-Sum: abc\r\nX-Other: 2\r\n\r\n");
        1;
    },
    '/badchunk' => sub {
        write_all($_[0], "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                  . "5\r\nhello\r\nzz\r\nxx\r\n0\r\n\r\n");
        1;
    },
    '/http10' => sub {
        write_all($_[0], "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n"
                  . pattern_bytes(100000));
        0;
    },
    '/te-gzip' => sub {
        write_all($_[0], "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
                  . "5\r\nhello\r\n0\r\n\r\n");
        1;
    },
    '/cl-neg' => sub { write_all($_[0], "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\nx"); 0 },
    '/cl-overflow' => sub {
        write_all($_[0], "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\nx");
        0;
    },
    '/headers' => sub {
        my ($c, $head) = @_;
        my ($n) = $head =~ /[?&]n=(\d+)/;
        write_all($c, "HTTP/1.1 200 OK\r\n" . join('', map { "X-H-$_: $_\r\n" } 1 .. $n)
               . "Content-Length: 2\r\n\r\nok");
        1;
    },
    '/slowtail' => sub {
        my ($c) = @_;
        write_all($c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\na");
        sleep 0.6;
        write_all($c, "b");
        1;
    },
    '/slowbody' => sub {
        my ($c) = @_;
        write_all($c, "HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n" . ('a' x 1000));
        sleep 1;
        write_all($c, 'b' x 999000);
        1;
    },
);

my $bp = PorticoBackend->raw(port => $p->port(2), handler => sub {
    my ($c, $head, $rest) = @_;
    while (defined $head) {
        my ($path) = $head =~ m{^\S+ (/[^? ]*)};
        my $h = $raw{$path // ''} or last;
        last unless $h->($c, $head, \$rest);
        $head = next_head($c, \$rest);
    }
});
my $bk = PorticoBackend->new(port => $p->port(3), id => 'k');
my ($p2, $p3, $p4) = map { $p->port($_) } 2 .. 4;

$p->write_conf(<<'EOF');
http = {
  client_max_body_size = "16m";
  log_formats = ( { name = "up";
                    format = "$request_uri $status [$upstream_addr] [$upstream_status] "
                             "[$upstream_response_time]"; } );
  access_log = { path = "logs/access.log"; format = "up"; };
};
upstreams = (
  { name = "raw"; retries = 0; keepalive = 8;
    servers = ( { address = "127.0.0.1:%%PORT2%%"; } ); },
  { name = "ka"; keepalive = 8; servers = ( { address = "127.0.0.1:%%PORT3%%"; } ); },
  { name = "retry"; retries = 1; max_fails = 0;
    servers = ( { address = "127.0.0.1:%%PORT4%%"; }, { address = "127.0.0.1:%%PORT3%%"; } ); }
);
servers = (
  { listen = ["127.0.0.1:%%PORT1%%"];
    routes = (
      { match = { path_prefix = "/raw/"; }; proxy = { upstream = "raw"; strip_prefix = true; }; },
      { match = { path_prefix = "/ka/"; }; proxy = { upstream = "ka"; strip_prefix = true; }; },
      { match = { path_prefix = "/retry/"; };
        proxy = { upstream = "retry"; strip_prefix = true; }; },
      { match = { path = "/ret"; }; return = { status = 200; body = "ok\n"; }; }
    ); },
  { listen = ["127.0.0.1:%%PORT5%%"];
    access_log = { path = "logs/json.log"; format = "json"; };
    routes = (
      { match = { path_prefix = "/ka/"; }; proxy = { upstream = "ka"; strip_prefix = true; }; },
      { match = { path = "/ret"; }; return = { status = 200; body = "ok\n"; }; }
    ); }
);
EOF
$p->start;
my $port = $p->port(1);
my @workers;
wait_until(sub { @workers = $p->worker_pids; scalar @workers }, 5);

sub log_has
{
    my ($re, $name) = @_;
    return wait_until(sub { ($p->access_log($name) || '') =~ $re }, 5);
}

sub raw_pid
{
    my ($s, undef, $b) = http_parse(http_get($port, '/raw/pid', -timeout => 5));
    return ($s // 0) == 200 ? $b : "status " . ($s // 'none');
}

# --- 1. interim responses
{
    my @all = http_parse_all(http_get($port, '/raw/103', -timeout => 5));
    is(join(' ', map { $_->[0] } @all), '103 200', '103 forwarded to an HTTP/1.1 client');
    is($all[0][1]{link}, '</a.css>; rel=preload', '103: Link header passed on');
    ok(!exists $all[0][1]{'x-drop'} && !exists $all[0][1]{connection},
       '103: hop-by-hop headers dropped');
    is($all[1][2], 'hello', '103: the final response follows intact');

    my $raw = http_raw($port, http_request('GET', '/raw/103', protocol => 'HTTP/1.0'),
                       timeout => 5);
    @all = http_parse_all($raw);
    is(join(' ', map { $_->[0] } @all), '200', '103 dropped for an HTTP/1.0 client');
    is($all[0][2], 'hello', 'HTTP/1.0: final body intact');

    # four hundred large 103s (4.6 MiB, more than the socket buffers hold) to a client that
    # does not read at first (a small receive buffer):
    # they may wait for the client's socket, and still all arrive, in order, before the 200
    socket(my $sk, PF_INET, SOCK_STREAM, 0) or die;
    setsockopt($sk, SOL_SOCKET, SO_RCVBUF, 4096);
    connect($sk, pack_sockaddr_in($port, inet_aton('127.0.0.1'))) or die "connect: $!";
    write_all($sk, http_request('GET', '/raw/103many', Connection => 'close'));
    sleep 1;
    my ($got, $deadline) = ('', time + 10);
    while (time < $deadline) {
        my $rin = '';
        vec($rin, fileno($sk), 1) = 1;
        last unless select(my $rout = $rin, undef, undef, $deadline - time);
        my $n = sysread($sk, my $buf, 65536);
        last unless $n;
        $got .= $buf;
    }
    close $sk;
    @all = http_parse_all($got);
    is(join(' ', map { $_->[0] . '-' . ($_->[1]{'x-n'} // '') } @all),
       join(' ', (map { "103-$_" } 1 .. 400), '200-'),
       '400 large 103s to a slow client: all forwarded, in order');
    is($all[-1][2], 'done', 'the final response follows them intact');

    # 100 from the upstream is absorbed: the client sees portico's own 100 only
    my $s = http_connect($port);
    my $body = 'e' x 5000;
    http_send($s, "POST /raw/100 HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                  . "Content-Length: 5000\r\nConnection: close\r\n\r\n");
    my $first = http_read_response($s, timeout => 5);
    like($first, qr{^HTTP/1\.1 100 Continue\r\n}, 'Expect: portico answers 100 Continue');
    http_send($s, $body);
    my $rest = http_read_response($s, timeout => 5);
    my ($st, undef, $b) = http_parse($rest);
    is("$st $b", "200 " . sha256_hex($body) . " 5000", 'upload after 100 arrives intact');
    is(scalar(() = ($first . $rest) =~ m{HTTP/1\.1 100 }g), 1,
       'the upstream 100 Continue is not forwarded (one 100 in all)');
    close $s;

    ($st) = http_parse(http_get($port, '/raw/101', -timeout => 5));
    is($st, 502, '101 without a WebSocket upgrade: 502');
}

# --- 2. chunked response with trailers: body intact, trailers dropped
{
    my $closed;
    my @res = http_keepalive($port, [ http_request('GET', '/raw/trailers'),
                                      http_request('GET', '/raw/pid') ], timeout => 5);
    my ($st, $h, $b) = http_parse($res[0] // '');
    is("$st $b", '200 hello world', 'chunked with trailers: body intact (HTTP/1.1)');
    is($h->{'transfer-encoding'}, 'chunked', 'HTTP/1.1 client: chunked');
    unlike($res[0] // '', qr/X-Sum|X-Other/i, 'trailers dropped (nginx behaviour)');
    like($res[1] // '', qr{^HTTP/1\.1 200 }, 'the client connection stays usable');

    my $r = http_exchange($port, http_request('GET', '/raw/trailers', protocol => 'HTTP/1.0'),
                          timeout => 5);
    my $i = index($r->{raw}, "\r\n\r\n");
    is(substr($r->{raw}, $i + 4), 'hello world', 'HTTP/1.0 client: de-chunked, no trailers');
    unlike(substr($r->{raw}, 0, $i), qr/Transfer-Encoding/i, 'HTTP/1.0: no chunked framing');
    ok($r->{eof}, 'HTTP/1.0: delimited by close');
}

# --- 3. Expect: 100-continue through the proxy
{
    my $body = pattern_bytes(300000);
    my $s = http_connect($port);
    http_send($s, "PUT /ka/echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                  . "Content-Length: 300000\r\nConnection: close\r\n\r\n");
    my $first = http_read_response($s, timeout => 5);
    is($first, "HTTP/1.1 100 Continue\r\n\r\n", 'Expect: 100 Continue before the body');
    http_send($s, $body);
    my ($st, undef, $b) = http_parse(http_read_response($s, timeout => 10));
    close $s;
    my $j = json_decode($b) || {};
    is($st, 200, 'Expect upload: 200');
    ok(!grep({ lc $_->[0] eq 'expect' } @{ $j->{headers} || [] }), 'Expect not forwarded');
    is(($j->{body_length} // 0) . ' ' . ($j->{body_sha256} // ''),
       '300000 ' . sha256_hex($body), 'Expect upload arrives intact');
}

# --- 8. the client goes away
{
    my $s = http_connect($port);
    http_send($s, http_request('GET', '/ka/sleep?ms=4000'));
    sleep 0.5;
    close $s;
    my $t0 = time;
    ok(log_has(qr{^/ka/sleep\?ms=4000 499 \[127\.0\.0\.1:$p3\] \[-\] \[\d+\.\d{3}\]$}m),
       'client gone before the response head: 499, upstream status "-"')
        or diag($p->access_log);
    ok(time - $t0 < 3.4, 'logged before the upstream answered');
    my ($st, undef, $b) = http_parse(http_get($port, '/ka/id', -timeout => 5));
    is("$st $b", '200 k', 'the worker keeps serving');

    # mid-body: the (pooled) upstream connection is closed, never reused
    my $pid1 = raw_pid();
    like($pid1, qr/^\d+$/, 'raw backend answers');
    is(raw_pid(), $pid1, 'keep-alive: the upstream connection is reused');
    $s = http_connect($port);
    http_send($s, http_request('GET', '/raw/slowbody'));
    my $got = '';
    my $deadline = time + 5;
    while (length($got) < 1000 && time < $deadline) {
        my $n = sysread($s, my $buf, 65536);
        last unless $n;
        $got .= $buf;
    }
    like($got, qr{^HTTP/1\.1 200 }, 'mid-body: head received');
    close $s;
    sleep 0.3;
    my $pid2 = raw_pid();
    like($pid2, qr/^\d+$/, 'after the client went away mid-body: served');
    isnt($pid2, $pid1, 'the aborted upstream connection was not returned to the pool');
}

# --- 9. $upstream_* formats
{
    my ($st, undef, $b) = http_parse(http_get($port, '/retry/id?v=1', -timeout => 5));
    is("$st $b", '200 k', 'retry: answered by the second server');
    ok(log_has(qr{^/retry/id\?v=1\ 200\ \[127\.0\.0\.1:$p4,\ 127\.0\.0\.1:$p3\]\ \[502,\ 200\]
                  \ \[\d+\.\d{3},\ \d+\.\d{3}\]$}mx),
       'one value per try, ", " separated, seconds with milliseconds')
        or diag($p->access_log);
    ($st, undef, $b) = http_parse(http_get($port, '/raw/slowtail', -timeout => 5));
    is("$st $b", '200 ab', 'a response whose last byte comes late');
    ok(log_has(qr{^/raw/slowtail\ 200\ \[127\.0\.0\.1:$p2\]\ \[200\]
                  \ \[(?:0\.[5-9]\d\d|[1-9]\.\d{3})\]$}mx),
       '$upstream_response_time covers the whole response (as nginx), not just the head')
        or diag($p->access_log);
    http_get($port, '/ret');
    ok(log_has(qr{^/ret 200 \[-\] \[-\] \[-\]$}m), 'never went upstream: "-"')
        or diag($p->access_log);
    http_get($p->port(5), '/ret');
    http_get($p->port(5), '/ka/id');
    ok(log_has(qr/"uri":"\/ret".*"upstream_addr":null,"upstream_status":null,
                  "upstream_response_time":null/x, 'json.log'),
       'json: null when never upstream') or diag($p->access_log('json.log'));
    ok(log_has(qr/"upstream_addr":"127\.0\.0\.1:$p3","upstream_status":200,
                  "upstream_response_time":\d+\.\d{3}[,}]/x, 'json.log'),
       'json: one try as numbers') or diag($p->access_log('json.log'));
}

# --- 11. bad upstream responses
{
    my $pid1 = raw_pid();
    my $closed;
    my @res = http_keepalive($port, [ http_request('GET', '/raw/badchunk'),
                                      http_request('GET', '/raw/pid') ],
                             timeout => 5, closed => \$closed);
    like($res[0] // '', qr{^HTTP/1\.1 200 .*\r\n\r\n5\r\nhello\r\n\z}s,
         'invalid chunk size mid-body: truncated after the good chunk');
    is(scalar @res, 1, 'invalid chunk size: no second response on that connection');
    ok($closed, 'invalid chunk size: client connection closed');
    my $pid2 = raw_pid();
    like($pid2, qr/^\d+$/, 'served after the invalid chunk');
    isnt($pid2, $pid1, 'the upstream connection with bad framing was not pooled');

    my $want = pattern_bytes(100000);
    my ($st, $h, $b) = http_parse(http_get($port, '/raw/http10', -timeout => 5));
    is($st, 200, 'HTTP/1.0 upstream without length: 200');
    is($h->{'transfer-encoding'}, 'chunked', 'HTTP/1.0 upstream: re-framed chunked for 1.1');
    ok($b eq $want, 'HTTP/1.0 upstream: close-delimited body intact');
    my $r = http_exchange($port, http_request('GET', '/raw/http10', protocol => 'HTTP/1.0'),
                          timeout => 5);
    my $i = index($r->{raw}, "\r\n\r\n");
    ok($i > 0 && substr($r->{raw}, $i + 4) eq $want && $r->{eof},
       'HTTP/1.0 upstream to an HTTP/1.0 client: close-delimited, intact');

    for my $bad (qw(te-gzip cl-neg cl-overflow)) {
        ($st) = http_parse(http_get($port, "/raw/$bad", -timeout => 5));
        is($st, 502, "upstream $bad: 502");
    }
    ($st) = http_parse(http_get($port, '/raw/headers?n=101', -timeout => 5));
    is($st, 502, 'more than 100 response headers: 502');
    ($st, $h) = http_parse(http_get($port, '/raw/headers?n=50', -timeout => 5));
    is("$st " . ($h->{'x-h-50'} // ''), '200 50', '50 response headers pass');
    # 100 upstream headers (99 + Content-Length: the proxy's limit) plus portico's own
    my $raw = http_get($port, '/raw/headers?n=99', -timeout => 5);
    ($st, $h) = http_parse($raw);
    is("$st " . ($h->{'x-h-1'} // '') . ' ' . ($h->{'x-h-99'} // ''), '200 1 99',
       '100 response headers pass');
    is(scalar(() = $raw =~ /^X-H-\d+: \d+\r$/mig), 99, 'all of them, in the response');
    is(join(',', $p->worker_pids), join(',', @workers), 'the worker never restarted');
}

$p->stop;
done_testing();
