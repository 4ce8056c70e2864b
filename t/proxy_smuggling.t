#!/usr/bin/perl
# proxy_smuggling.t: request smuggling vectors at the front (CL.TE, TE.CL, TE.TE with
# obfuscated Transfer-Encoding, Content-Length games, chunk framing, bare CR/LF, NUL,
# obs-fold, absolute-form, trailers, extensions, underscores), one table row each, against
# a backend that records exactly the bytes it receives. Each vector is either rejected with
# its exact status and nothing reaches the backend, or forwarded as exactly one request
# whose bytes are asserted in full: framing of portico's own, and nothing after it (the
# client's trailing bytes, sent with Connection: close, are never read as a request).

use strict;
use warnings;
use Test::More;
use File::Path qw(remove_tree);
use Time::HiRes qw(sleep time);
use lib 't/lib';
use Portico;
use PorticoBackend;

skip_unless_module('proxy');

my $p = Portico->new(start => 0);
my $dir = $p->prefix . '/rec';
my $rec = PorticoBackend->recorder(port => $p->port(2), dir => $dir);
$p->write_conf(<<'EOF');
http = { request_id = { trust_from = ["127.0.0.1"]; }; };
upstreams = ( { name = "rec"; servers = ( { address = "127.0.0.1:%%PORT2%%"; } ); } );
servers = ( {
  listen = ["127.0.0.1:%%PORT1%%"];
  names = ["s.test"];
  max_header_size = "1k";
  routes = ( { match = { path_prefix = "/"; }; proxy = { upstream = "rec"; }; } );
} );
EOF
$p->start;
my $port = $p->port(1);

my $SMUGGLED = "GET /smuggled HTTP/1.1\r\nHost: s.test\r\n\r\n";
my $OURS = "X-Forwarded-For: 127.0.0.1\r\nX-Real-IP: 127.0.0.1\r\n"
           . "X-Forwarded-Proto: http\r\nX-Forwarded-Host: s.test\r\nX-Request-Id: smug\r\n";

# The client's request: the request line, Host, the vector's header lines (raw, each with
# its own terminator), our id and Connection: close, then the body bytes.
sub req
{
    my ($line, $hdrs, $body) = @_;
    return "$line\r\nHost: s.test\r\n" . $hdrs . "X-Request-Id: smug\r\nConnection: close\r\n"
           . "\r\n" . (defined $body ? $body : '');
}

# What the backend must record: the request line, Host, the client's headers that pass,
# ours, the framing header and the body.
sub fwd
{
    my ($line, $hdrs, $framing, $body) = @_;
    return "$line\r\nHost: s.test\r\n" . $hdrs . $OURS . $framing
           . "Connection: keep-alive\r\n\r\n" . (defined $body ? $body : '');
}

my $ext = 'x' x 1100;
my @rows = (
    # [ name, request bytes, expected status, expected recorded bytes or undef ]
    [ 'CL.TE: Content-Length then Transfer-Encoding',
      req('POST /t HTTP/1.1', "Content-Length: 6\r\nTransfer-Encoding: chunked\r\n",
          "0\r\n\r\nX" . $SMUGGLED), 400 ],
    [ 'TE.CL: Transfer-Encoding then Content-Length',
      req('POST /t HTTP/1.1', "Transfer-Encoding: chunked\r\nContent-Length: 4\r\n",
          "5c\r\n" . $SMUGGLED . "\r\n0\r\n\r\n"), 400 ],
    [ 'TE: chunked, identity (chunked not last)',
      req('POST /t HTTP/1.1', "Transfer-Encoding: chunked, identity\r\n",
          "0\r\n\r\n"), 400 ],
    [ 'TE: xchunked', req('POST /t HTTP/1.1', "Transfer-Encoding: xchunked\r\n",
                          "0\r\n\r\n"), 400 ],
    [ 'TE: chunked twice in two headers',
      req('POST /t HTTP/1.1', "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
          "0\r\n\r\n"), 400 ],
    [ 'TE: chunked, chunked in one header',
      req('POST /t HTTP/1.1', "Transfer-Encoding: chunked, chunked\r\n", "0\r\n\r\n"), 400 ],
    [ 'TE: identity then chunked in two headers (unknown coding)',
      req('POST /t HTTP/1.1', "Transfer-Encoding: identity\r\nTransfer-Encoding: chunked\r\n",
          "0\r\n\r\n"), 501 ],
    [ 'TE: gzip, chunked', req('POST /t HTTP/1.1', "Transfer-Encoding: gzip, chunked\r\n",
                               "0\r\n\r\n"), 501 ],
    [ 'TE: space before the colon',
      req('POST /t HTTP/1.1', "Transfer-Encoding : chunked\r\n", "0\r\n\r\n"), 400 ],
    [ 'TE: obs-fold continuation',
      req('POST /t HTTP/1.1', "Transfer-Encoding: identity\r\n chunked\r\n", "0\r\n\r\n"),
      400 ],
    [ 'TE in HTTP/1.0', req('POST /t HTTP/1.0', "Transfer-Encoding: chunked\r\n",
                            "0\r\n\r\n"), 400 ],
    [ 'TE with Content-Length: 0',
      req('POST /t HTTP/1.1', "Content-Length: 0\r\nTransfer-Encoding: chunked\r\n",
          "0\r\n\r\n"), 400 ],
    [ 'CL: two differing values', req('POST /t HTTP/1.1',
                                      "Content-Length: 5\r\nContent-Length: 6\r\n",
                                      "hello!"), 400 ],
    [ 'CL: differing values in one list',
      req('POST /t HTTP/1.1', "Content-Length: 5, 6\r\n", "hello!"), 400 ],
    [ 'CL: signed +5', req('POST /t HTTP/1.1', "Content-Length: +5\r\n", "hello"), 400 ],
    [ 'CL: negative', req('POST /t HTTP/1.1', "Content-Length: -1\r\n", "hello"), 400 ],
    [ 'CL: hex 0x5', req('POST /t HTTP/1.1', "Content-Length: 0x5\r\n", "hello"), 400 ],
    [ 'CL: two numbers with a space', req('POST /t HTTP/1.1', "Content-Length: 5 6\r\n",
                                          "hello"), 400 ],
    [ 'CL: 20 digits', req('POST /t HTTP/1.1', "Content-Length: 99999999999999999999\r\n",
                           "hello"), 400 ],
    [ 'CL: space before the colon',
      req('POST /t HTTP/1.1', "Content-Length : 5\r\n", "hello"), 400 ],
    [ 'chunk size over 16 hex digits',
      req('POST /t HTTP/1.1', "Transfer-Encoding: chunked\r\n",
          "10000000000000005\r\nhello\r\n0\r\n\r\n"), 400 ],
    [ 'chunk size 0x5', req('POST /t HTTP/1.1', "Transfer-Encoding: chunked\r\n",
                            "0x5\r\nhello\r\n0\r\n\r\n"), 400 ],
    [ 'chunk size with leading space', req('POST /t HTTP/1.1', "Transfer-Encoding: chunked\r\n",
                                           " 5\r\nhello\r\n0\r\n\r\n"), 400 ],
    [ 'chunk data longer than its size',
      req('POST /t HTTP/1.1', "Transfer-Encoding: chunked\r\n",
          "5\r\nhello!\r\n0\r\n\r\n"), 400 ],
    [ 'bare LF after a chunk size', req('POST /t HTTP/1.1', "Transfer-Encoding: chunked\r\n",
                                        "5\nhello\r\n0\r\n\r\n"), 400 ],
    [ 'bare CR in a header value', req('GET /t HTTP/1.1', "X-A: a\rb\r\n"), 400 ],
    [ 'NUL in a header value', req('GET /t HTTP/1.1', "X-A: a\0b\r\n"), 400 ],
    [ 'obs-fold of an ordinary header', req('GET /t HTTP/1.1', "X-A: a\r\n\tb\r\n"), 400 ],
    [ 'header line without a colon', req('GET /t HTTP/1.1', "X-A b\r\n"), 400 ],
    [ 'two Host headers', req('GET /t HTTP/1.1', "Host: evil.example\r\n"), 400 ],
    [ 'Host with a slash', "GET /t HTTP/1.1\r\nHost: s.test/x\r\nConnection: close\r\n\r\n",
      400 ],
    [ 'space in the target', req('GET /a b HTTP/1.1', ''), 400 ],
    [ 'HTTP/2.0 request line', req('GET /t HTTP/2.0', ''), 505 ],
    [ 'chunk extension over max_header_size',
      req('POST /t HTTP/1.1', "Transfer-Encoding: chunked\r\n",
          "5;e=$ext\r\nhello\r\n0\r\n\r\n"), 431 ],
    [ 'trailer over max_header_size',
      req('POST /t HTTP/1.1', "Transfer-Encoding: chunked\r\n",
          "5\r\nhello\r\n0\r\nX-T: $ext\r\n\r\n"), 431 ],

    # forwarded, each as exactly one request
    [ 'CL with trailing bytes: exactly CL bytes go',
      req('POST /t HTTP/1.1', "Content-Length: 5\r\n", "hello" . $SMUGGLED), 200,
      fwd('POST /t HTTP/1.1', '', "Content-Length: 5\r\n", 'hello') ],
    [ 'CL: identical duplicates count as one',
      req('POST /t HTTP/1.1', "Content-Length: 5\r\nContent-Length: 5\r\n", "hello"), 200,
      fwd('POST /t HTTP/1.1', '', "Content-Length: 5\r\n", 'hello') ],
    [ 'CL: identical values in one list count as one',
      req('POST /t HTTP/1.1', "Content-Length: 5, 5\r\n", "hello"), 200,
      fwd('POST /t HTTP/1.1', '', "Content-Length: 5\r\n", 'hello') ],
    [ 'TE: leading space and upper case are still chunked (re-framed)',
      req('POST /t HTTP/1.1', "Transfer-Encoding:   CHUNKED\r\n",
          "5\r\nhello\r\n0\r\n\r\n" . $SMUGGLED), 200,
      fwd('POST /t HTTP/1.1', '', "Content-Length: 5\r\n", 'hello') ],
    [ 'TE: tab before the value',
      req('POST /t HTTP/1.1', "Transfer-Encoding:\tchunked\r\n", "3\r\nabc\r\n0\r\n\r\n"),
      200, fwd('POST /t HTTP/1.1', '', "Content-Length: 3\r\n", 'abc') ],
    [ 'chunked with extensions and trailers: both dropped',
      req('POST /t HTTP/1.1', "Transfer-Encoding: chunked\r\n",
          "3;a=b;c=\"d\"\r\nabc\r\n2 ; x\r\nde\r\n0;last\r\nHost: evil.example\r\n"
          . "X-Forwarded-For: 6.6.6.6\r\nAuthorization: Basic Zm9vOmJhcg==\r\n"
          . "Transfer-Encoding: chunked\r\n\r\n" . $SMUGGLED), 200,
      fwd('POST /t HTTP/1.1', '', "Content-Length: 5\r\n", 'abcde') ],
    [ 'chunked, empty body', req('POST /t HTTP/1.1', "Transfer-Encoding: chunked\r\n",
                                 "0\r\n\r\n"), 200,
      fwd('POST /t HTTP/1.1', '', "Content-Length: 0\r\n", '') ],
    [ 'Transfer_Encoding (underscore) is ignored',
      req('POST /t HTTP/1.1', "Transfer_Encoding: chunked\r\nContent-Length: 5\r\n",
          "hello"), 200,
      fwd('POST /t HTTP/1.1', '', "Content-Length: 5\r\n", 'hello') ],
    [ 'Content_Length (underscore) is ignored',
      req('POST /t HTTP/1.1', "Content_Length: 40\r\nContent-Length: 5\r\n", "hello"), 200,
      fwd('POST /t HTTP/1.1', '', "Content-Length: 5\r\n", 'hello') ],
    [ 'absolute-form: the target authority wins over Host',
      "GET http://s.test/abs?x HTTP/1.1\r\nHost: evil.example\r\nX-Request-Id: smug\r\n"
      . "Connection: close\r\n\r\n", 200,
      fwd('GET /abs?x HTTP/1.1', '', '') ],
    [ 'bare LF line ends in the head: forwarded with CRLF',
      "POST /t HTTP/1.1\nHost: s.test\nContent-Length: 2\nX-Request-Id: smug\n"
      . "Connection: close\n\nhi", 200,
      fwd('POST /t HTTP/1.1', '', "Content-Length: 2\r\n", 'hi') ],
    [ 'HTTP/1.0 with Content-Length goes as HTTP/1.1',
      req('POST /t HTTP/1.0', "Content-Length: 2\r\n", "hi" . $SMUGGLED), 200,
      fwd('POST /t HTTP/1.1', '', "Content-Length: 2\r\n", 'hi') ],
    [ 'Proxy header and hop-by-hop TE/Trailer dropped',
      req('GET /t HTTP/1.1', "Proxy: http://evil.example:3128\r\nTE: trailers\r\n"
          . "Trailer: X-T\r\nX-Kept: 1\r\n"), 200,
      fwd('GET /t HTTP/1.1', "X-Kept: 1\r\n", '') ],
);

cmp_ok(scalar @rows, '>=', 30, 'at least 30 vectors');

for my $row (@rows) {
    my ($name, $bytes, $status, $want) = @$row;
    remove_tree($dir, { keep_root => 1 });
    my $s = http_connect($port) or die "connect: $!";
    http_send($s, $bytes);
    my $raw = http_read_response($s, 'GET', 5);
    close $s;
    my ($got) = $raw =~ m{^HTTP/1\.[01] (\d{3})};
    is($got, $status, "$name: $status");
    my @conns;
    if (defined $want) {
        my $deadline = time + 5;
        until ((@conns = recorded($dir)) || time > $deadline) {
            sleep 0.02;
        }
        sleep 0.1;
        @conns = recorded($dir);
        is(scalar @conns, 1, "$name: one backend connection");
        is(_show($conns[0]), _show($want), "$name: exact bytes recorded");
    } else {
        sleep 0.15;
        @conns = recorded($dir);
        is(scalar @conns, 0, "$name: nothing reached the backend");
    }
}

# The bytes with CR, LF and control characters visible, for readable failures.
sub _show
{
    my ($b) = @_;
    return undef unless defined $b;
    $b =~ s/\r/\\r/g;
    $b =~ s/\n/\\n\n/g;
    $b =~ s/([\x00-\x08\x0b-\x1f\x7f])/sprintf('\\x%02x', ord $1)/ge;
    return $b;
}

$p->check_logs;
done_testing;
