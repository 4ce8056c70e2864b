#!/usr/bin/perl
# http_parse.t: strict request parsing over raw sockets (docs/http.md): every rejection with
# its status and the connection closed after it; slow and byte-by-byte heads; pipelining,
# keep-alive, HTTP/1.0, keepalive_requests, 100-continue, chunked bodies, HEAD; the headers
# every response carries; error bodies (text and JSON) with the request id.

use strict;
use warnings;
use Test::More;
use JSON::PP;
use lib 't/lib';
use Portico;

my $bin = portico_bin();
plan(skip_all => "no portico binary at $bin") unless -x $bin;

my $p = Portico->new(conf => <<'EOF');
http = {
  max_header_size = "4k";
  max_uri_size = "1k";
  client_max_body_size = 100;
  client_header_timeout = "1s";
  request_id = { trust_from = ["127.0.0.1"]; };     # the test client's X-Request-Id is kept
};
servers = (
  {
    listen = ["127.0.0.1:%%PORT1%%"];
    routes = ( { match = { path_prefix = "/"; };
                 return = { status = 200; body = "uri=$uri\n"; }; } );
  },
  {
    listen = ["127.0.0.1:%%PORT2%%"];
    keepalive_requests = 3;
    routes = ( { match = { path_prefix = "/"; };
                 return = { status = 200; body = "uri=$uri\n"; }; } );
  },
  {
    listen = ["127.0.0.1:%%PORT3%%"];
    routes = ( { match = { path = "/only"; }; return = { status = 200; body = "only\n"; }; } );
  }
);
EOF

my $port = $p->port(1);
my $H = "Host: localhost\r\n";

# Sends $req, expects status $want and the connection closed by the server.
sub rejects
{
    my ($req, $want, $name) = @_;
    my $r = http_exchange($port, $req, timeout => 5);
    my ($status) = http_parse($r->{raw});
    is($status, $want, "$name: $want");
    ok($r->{eof}, "$name: connection closed");
}

# ---- rejections -------------------------------------------------------------------------------

rejects("POST / HTTP/1.1\r\n${H}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
        . "5\r\nhello\r\n0\r\n\r\n", 400, 'Content-Length with Transfer-Encoding');
rejects("POST / HTTP/1.1\r\n${H}Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
        400, 'differing Content-Length');
rejects("POST / HTTP/1.1\r\n${H}Content-Length: 5, 6\r\n\r\nhello!", 400,
        'differing Content-Length in one line');
rejects("POST / HTTP/1.1\r\n${H}Content-Length: abc\r\n\r\n", 400, 'invalid Content-Length');
rejects("POST / HTTP/1.1\r\n${H}Content-Length: -1\r\n\r\n", 400, 'negative Content-Length');
rejects("POST / HTTP/1.1\r\n${H}Content-Length: +5\r\n\r\nhello", 400,
        'Content-Length with a sign');
rejects("POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked, gzip\r\n\r\n", 400,
        'Transfer-Encoding not chunked last');
rejects("POST / HTTP/1.1\r\n${H}Transfer-Encoding: gzip\r\n\r\n", 400,
        'Transfer-Encoding gzip alone');
rejects("POST / HTTP/1.1\r\n${H}Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501,
        'Transfer-Encoding gzip, chunked');
rejects("POST / HTTP/1.0\r\n${H}Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400,
        'Transfer-Encoding in HTTP/1.0');
rejects("GET / HTTP/1.1\r\n${H}X-Folded: a\r\n b\r\n\r\n", 400, 'obsolete line folding');
rejects("GET / HTTP/1.1\r\n${H}X-Space : a\r\n\r\n", 400, 'space before the colon');
rejects("GET / HTTP/1.1\r\n${H}X-Ctl: a\x01b\r\n\r\n", 400, 'control character in a value');
rejects("GET / HTTP/1.1\r\n${H}X-Del: a\x7fb\r\n\r\n", 400, 'DEL in a value');
rejects("GET / HTTP/1.1\r\n${H}X(Bad): a\r\n\r\n", 400, 'bad character in a name');
rejects("GET /a\x01b HTTP/1.1\r\n$H\r\n", 400, 'control character in the target');
rejects("GET /a\x7fb HTTP/1.1\r\n$H\r\n", 400, 'DEL in the target');
rejects("GET / HTTP/1.1\r\n\r\n", 400, 'no Host in HTTP/1.1');
rejects("GET / HTTP/1.1\r\n${H}Host: other\r\n\r\n", 400, 'two Host headers');
rejects("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400, 'Host with a slash');
rejects("GET / HTTP/1.1\r\nHost: a\\b\r\n\r\n", 400, 'Host with a backslash');
rejects("GET / HTTP/1.1\r\nHost: a..b\r\n\r\n", 400, 'Host with an empty label');
rejects("GET / HTTP/2.0\r\n$H\r\n", 505, 'HTTP/2.0');
rejects("GET / HTTP/3.1\r\n$H\r\n", 505, 'HTTP/3.1');
rejects("GET / HTTP/1.1\r\n$H" . join('', map { "X-H$_: v\r\n" } 1 .. 100) . "\r\n", 431,
        '101 request headers');
rejects("GET / HTTP/1.1\r\n${H}X-Big: " . ('a' x 5000) . "\r\n\r\n", 431,
        'head over max_header_size');
rejects("GET /" . ('a' x 2000) . " HTTP/1.1\r\n$H\r\n", 414, 'URI over max_uri_size');
rejects("POST / HTTP/1.1\r\n${H}Content-Length: 101\r\n\r\n" . ('b' x 101), 413,
        'Content-Length body over client_max_body_size');
rejects("POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n"
        . "40\r\n" . ('c' x 64) . "\r\n40\r\n" . ('c' x 64) . "\r\n0\r\n\r\n", 413,
        'chunked body over client_max_body_size');
rejects("CONNECT localhost:443 HTTP/1.1\r\nHost: localhost:443\r\n\r\n", 405, 'CONNECT');
rejects("TRACE / HTTP/1.1\r\n$H\r\n", 405, 'TRACE');
rejects("POST / HTTP/1.1\r\n${H}Expect: foo\r\nContent-Length: 1\r\n\r\nx", 417,
        'Expect: foo');
rejects("POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n"
        . "00000000000000005\r\nhello\r\n0\r\n\r\n", 400, 'chunk size with 17 hex digits');
rejects("POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n",
        400, 'bare LF in a chunk line');
rejects("POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
        400, 'chunk size not hex');
rejects("GET /../a HTTP/1.1\r\n$H\r\n", 400, 'path climbing above /');
rejects("GET /a/../../b HTTP/1.1\r\n$H\r\n", 400, 'path climbing above / from below');
rejects("GET /%2e%2e/a HTTP/1.1\r\n$H\r\n", 400, 'encoded dot-dot climbing above /');
rejects("GET /a%00b HTTP/1.1\r\n$H\r\n", 400, '%00 in the path');
rejects("GET /a%2Fb HTTP/1.1\r\n$H\r\n", 400, '%2F in the path');
rejects("GET /a%2fb HTTP/1.1\r\n$H\r\n", 400, '%2f in the path');
rejects("GET /a%5Cb HTTP/1.1\r\n$H\r\n", 400, '%5C in the path');
rejects("GET /a\\b HTTP/1.1\r\n$H\r\n", 400, 'raw backslash in the path');

# ---- accepted edge cases ---------------------------------------------------------------------

{
    my ($s, $h, $b) = http_parse(http_raw($port,
        "GET /q?a=|{}[]^\"\x80 HTTP/1.1\r\n${H}Connection: close\r\n\r\n"));
    is($s, 200, 'browser characters and bytes >= 0x80 in the query are accepted');

    ($s, $h, $b) = http_parse(http_raw($port, "POST /cl HTTP/1.1\r\n${H}Content-Length: 5\r\n"
                                       . "Content-Length: 5\r\nConnection: close\r\n\r\nhello"));
    is($s, 200, 'repeated identical Content-Length counts as one');

    ($s, $h, $b) = http_parse(http_raw($port,
        "GET / HTTP/1.1\r\n$H" . join('', map { "X-H$_: v\r\n" } 1 .. 98)
        . "Connection: close\r\n\r\n"));
    is($s, 200, '100 request headers are accepted');
}

# ---- slow clients -------------------------------------------------------------------------

{
    my $raw = http_slow($port, "GET /slow HTTP/1.1\r\n${H}Connection: close\r\n\r\n",
                        delay => 0.002);
    my ($s, $h, $b) = http_parse($raw);
    is($s, 200, 'head arriving one byte at a time: 200');
    is($b, "uri=/slow\n", 'head arriving one byte at a time: body');

    my $sock = http_connect($port);
    http_send($sock, "GET / HTTP/1.1\r\n");
    ok(http_closed($sock, 6), 'incomplete head: closed after client_header_timeout');
    my ($st) = http_parse(${*$sock}{portico_buf} // '');
    ok(!defined $st || $st == 408, 'incomplete head: 408 or nothing')
        or diag(${*$sock}{portico_buf});
    close $sock;
}

# ---- keep-alive and pipelining --------------------------------------------------------------

{
    my $closed;
    my @r = http_pipeline($port, [ map { "GET /p$_ HTTP/1.1\r\n$H\r\n" } 1 .. 3 ],
                          closed => \$closed, close_timeout => 0.5);
    is(scalar @r, 3, 'pipelined: three responses');
    is(join('', map { (http_parse($_))[2] } @r), "uri=/p1\nuri=/p2\nuri=/p3\n",
       'pipelined: answered in order');
    ok(!$closed, 'pipelined: the connection stays open');

    @r = http_keepalive($port, [ map { "GET /k$_ HTTP/1.1\r\n$H\r\n" } 1 .. 2 ]);
    is(join('', map { (http_parse($_))[2] } @r), "uri=/k1\nuri=/k2\n",
       'keep-alive: two requests on one connection');
    my ($s, $h) = http_parse($r[0]);
    ok(!defined $h->{connection} || lc $h->{connection} eq 'keep-alive',
       'keep-alive: no Connection: close');

    @r = http_keepalive($port, [ "GET /a HTTP/1.1\r\n${H}Connection: close\r\n\r\n" ],
                        closed => \$closed);
    ($s, $h) = http_parse($r[0]);
    is(lc($h->{connection} // ''), 'close', 'Connection: close answered with Connection: close');
    ok($closed, 'Connection: close: connection closed');

    @r = http_keepalive($port, [ "GET /a HTTP/1.0\r\n$H\r\n" ], closed => \$closed);
    ($s, $h) = http_parse($r[0]);
    is($s, 200, 'HTTP/1.0 without keep-alive: 200');
    ok($closed, 'HTTP/1.0 without keep-alive: connection closed');
    ok(!defined $h->{'transfer-encoding'}, 'HTTP/1.0: no chunked encoding');

    @r = http_keepalive($port, [ "GET /b1 HTTP/1.0\r\n${H}Connection: keep-alive\r\n\r\n",
                                 "GET /b2 HTTP/1.0\r\n${H}Connection: keep-alive\r\n\r\n" ],
                        closed => \$closed, close_timeout => 0.5);
    is(scalar @r, 2, 'HTTP/1.0 keep-alive: two responses on one connection');
    ($s, $h) = http_parse($r[0]);
    is(lc($h->{connection} // ''), 'keep-alive', 'HTTP/1.0 keep-alive: Connection: keep-alive');
    ok(!$closed, 'HTTP/1.0 keep-alive: connection open');

    # keepalive_requests = 3 on PORT2
    @r = http_keepalive($p->port(2), [ map { "GET /r$_ HTTP/1.1\r\n$H\r\n" } 1 .. 4 ],
                        closed => \$closed);
    is(scalar @r, 3, 'keepalive_requests: three responses');
    ($s, $h) = http_parse($r[1]);
    isnt(lc($h->{connection} // ''), 'close', 'keepalive_requests: second keeps alive');
    ($s, $h) = http_parse($r[2]);
    is(lc($h->{connection} // ''), 'close', 'keepalive_requests: third says close');
    ok($closed, 'keepalive_requests: closed after the third');
}

# ---- request bodies ---------------------------------------------------------------------------

{
    my $sock = http_connect($port);
    http_send($sock, "POST /e HTTP/1.1\r\n${H}Content-Length: 5\r\nExpect: 100-continue\r\n\r\n");
    my $first = http_read_response($sock);
    like($first, qr{^HTTP/1\.1 100 Continue\r\n\r\n\z}, 'Expect: 100-continue gets 100 Continue');
    http_send($sock, "hello");
    my ($s, $h, $b) = http_parse(http_read_response($sock));
    is($s, 200, '100-continue: then the response');
    is($b, "uri=/e\n", '100-continue: body');
    close $sock;

    my $closed;
    my @r = http_keepalive($port, [
        "POST /c1 HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n"
            . "5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n",
        "GET /c2 HTTP/1.1\r\n$H\r\n" ]);
    is(join('', map { (http_parse($_))[2] } @r), "uri=/c1\nuri=/c2\n",
       'chunked body discarded, next request on the same connection works');

    @r = http_pipeline($port, [
        "POST /d1 HTTP/1.1\r\n${H}Content-Length: 10\r\n\r\n0123456789",
        "GET /d2 HTTP/1.1\r\n$H\r\n" ]);
    is(join('', map { (http_parse($_))[2] } @r), "uri=/d1\nuri=/d2\n",
       'Content-Length body discarded, pipelined request follows');

    @r = http_pipeline($port, [ "HTTP/1.0 is not a method\r\n\r\n" ]);
    my ($st) = http_parse($r[0]);
    is($st, 400, 'garbage request line: 400');
}

# ---- HEAD ---------------------------------------------------------------------------------

{
    my @r = http_pipeline($port, [ "HEAD /h HTTP/1.1\r\n$H\r\n", "GET /h HTTP/1.1\r\n$H\r\n" ]);
    is(scalar @r, 2, 'HEAD then GET: two responses');
    my ($s1, $h1, $b1) = http_parse($r[0]);
    my ($s2, $h2, $b2) = http_parse($r[1]);
    is($s1, 200, 'HEAD: 200');
    is($r[0] =~ /\r\n\r\n(.*)\z/s ? $1 : 'x', '', 'HEAD: no body');
    is($h1->{'content-length'}, length("uri=/h\n"), 'HEAD: Content-Length of the GET');
    is($b2, "uri=/h\n", 'GET after HEAD: body intact');
}

# ---- response headers and request ids -------------------------------------------------------

{
    my ($s, $h, $b) = http_parse(http_get($port, '/'));
    is($h->{server}, 'portico', 'Server: portico');
    like($h->{date} // '', qr/^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/,
         'Date in IMF-fixdate');
    like($h->{'x-request-id'} // '', qr/^[0-9a-f]{32}$/, 'X-Request-Id: 32 hex');
    is($h->{'content-type'}, 'text/plain; charset=utf-8', 'return body is text/plain; charset=utf-8');

    my ($s2, $h2) = http_parse(http_get($port, '/'));
    isnt($h2->{'x-request-id'}, $h->{'x-request-id'}, 'request ids differ');

    ($s, $h) = http_parse(http_get($port, '/', 'X-Request-Id' => 'abc-123.X:y_z'));
    is($h->{'x-request-id'}, 'abc-123.X:y_z', 'a valid client X-Request-Id is echoed');

    ($s, $h) = http_parse(http_get($port, '/', 'X-Request-Id' => 'bad id!'));
    like($h->{'x-request-id'} // '', qr/^[0-9a-f]{32}$/, 'an invalid X-Request-Id is replaced');

    ($s, $h) = http_parse(http_get($port, '/', 'X-Request-Id' => 'a' x 129));
    like($h->{'x-request-id'} // '', qr/^[0-9a-f]{32}$/, 'a 129-byte X-Request-Id is replaced');

    ($s, $h) = http_parse(http_get($port, '/', 'X-Request-Id' => 'a' x 128));
    is($h->{'x-request-id'}, 'a' x 128, 'a 128-byte X-Request-Id is kept');

    ($s, $h, $b) = http_parse(http_get($p->port(3), '/nothing', 'X-Request-Id' => 'rid-404'));
    is($s, 404, 'no route: 404');
    is($h->{'x-request-id'}, 'rid-404', '404: request id header');
    like($b, qr/rid-404/, '404: the text error body carries the request id');
    like($b, qr/404/, '404: the text error body carries the status');
    like($h->{'content-type'} // '', qr{^text/plain}, '404: text/plain by default');

    ($s, $h, $b) = http_parse(http_get($p->port(3), '/nothing', 'X-Request-Id' => 'rid-json',
                                       Accept => 'application/json'));
    is($s, 404, 'JSON error: 404');
    like($h->{'content-type'} // '', qr{^application/json}, 'JSON error: content type');
    my $j = eval { decode_json($b) };
    is(ref $j, 'HASH', 'JSON error: body parses') or diag($b);
    is($j->{status}, 404, 'JSON error: status') if $j;
    is($j->{request_id}, 'rid-json', 'JSON error: request id') if $j;

    my $raw = http_raw($port, "GET / HTTP/1.1\r\nX-Request-Id: rid-400\r\n\r\n");
    ($s, $h, $b) = http_parse($raw);
    is($s, 400, '400 error page');
    my $rid = $h->{"x-request-id"} // "MISSING";
    like($b, qr/\Q$rid\E/, "400: the error body carries the request id");
    is(lc($h->{connection} // ''), 'close', '400: Connection: close');

    my $closed;
    my @r = http_keepalive($p->port(3), [ "HEAD /nothing HTTP/1.1\r\n$H\r\n" ],
                           closed => \$closed, close_timeout => 0.3);
    ($s, $h) = http_parse($r[0] // '');
    is($s, 404, 'HEAD of an error: 404');
    is($r[0] =~ /\r\n\r\n(.*)\z/s ? $1 : 'x', '', 'HEAD of an error: no body');
}

done_testing();
