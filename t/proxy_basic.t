#!/usr/bin/perl
# proxy_basic.t: the proxy action against one test backend (t/lib/backend.py): plain GET,
# HEAD, 204/304 without body, Server replaced, rewrite with $1 keeping the query,
# strip_prefix, HTTP/1.0 clients, pipelining through the proxy.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Portico;
use PorticoBackend;

skip_unless_module('proxy');

my $p = Portico->new(start => 0);
my $ba = PorticoBackend->new(port => $p->port(2), id => 'a');
$p->write_conf(<<'EOF2');
upstreams = ( { name = "app"; servers = ( { address = "127.0.0.1:%%PORT2%%"; } ); } );
servers = ( {
  listen = ["127.0.0.1:%%PORT1%%"];
  routes = (
    { match = { path_prefix = "/svc/"; }; proxy = { upstream = "app"; strip_prefix = true; }; },
    { match = { path_regex = "^/u/(\\d+)$"; }; 
      proxy = { upstream = "app"; rewrite = "/echo/u$1"; }; },
    { match = { path_regex = "^/q/(\\d+)$"; }; 
      proxy = { upstream = "app"; rewrite = "/echo/q?n=$1"; }; },
    { match = { path_prefix = "/"; }; proxy = { upstream = "app"; }; }
  );
} );
EOF2
$p->start;
my $port = $p->port(1);

my ($s, $h, $b) = http_parse(http_get($port, '/id'));
is($s, 200, 'GET /id through the proxy: 200');
is($b, 'a', 'GET /id: the backend answered');
is($h->{server}, 'portico', 'upstream Server replaced by portico');
ok(!exists $h->{'x-backend-id'} || $h->{'x-backend-id'} eq 'a', 'ordinary upstream header kept');
like($h->{'x-request-id'} || '', qr/^[A-Za-z0-9._:-]{1,128}$/, 'X-Request-Id on the response');
ok(defined $h->{date}, 'Date on the response');

($s, $h, $b) = http_parse(http_get($port, '/echo?x=1&y=%41'));
my $e = json_decode($b);
is($s, 200, 'GET /echo: 200');
is($e && $e->{method}, 'GET', 'echo: method');
is($e && $e->{path}, '/echo?x=1&y=%41', 'echo: the original target reaches the upstream');

# HEAD
my $raw = http_head($port, '/bytes?n=100');
($s, $h, $b) = http_parse($raw);
is($s, 200, 'HEAD through the proxy: 200');
is($h->{'content-length'}, '100', 'HEAD: Content-Length of the GET');
is($b, '', 'HEAD: no body');
my $log = $ba->requests_log;
is($log && $log->[-1][0], 'HEAD', 'HEAD passed on as HEAD');

# 204 and 304 without body, connection still usable
for my $code (204, 304) {
    my @r = http_keepalive($port, [ http_request('GET', "/status?code=$code"),
                                    http_request('GET', '/id') ]);
    is(scalar @r, 2, "$code then another request on the same connection");
    my ($s1, $h1, $b1) = http_parse($r[0] || '');
    is($s1, $code, "$code passed through");
    is($b1, '', "$code: no body");
    ok(!defined $h1->{'transfer-encoding'}, "$code: no Transfer-Encoding");
    my ($s2, undef, $b2) = http_parse($r[1] || '');
    is("$s2 $b2", '200 a', "request after $code answered");
}

for my $code (200, 201, 404, 500, 503) {
    ($s, $h, $b) = http_parse(http_get($port, "/status?code=$code"));
    is($s, $code, "upstream status $code passed through");
    is($b, "status $code\n", "upstream body for $code passed through");
}

# strip_prefix
($s, $h, $b) = http_parse(http_get($port, '/svc/echo?q=1'));
$e = json_decode($b);
is($e && $e->{path}, '/echo?q=1', 'strip_prefix: /svc/echo?q=1 -> /echo?q=1');

# rewrite with $1 keeps the query
($s, $h, $b) = http_parse(http_get($port, '/u/42?x=1'));
$e = json_decode($b);
is($s, 200, 'rewrite route: 200');
is($e && $e->{path}, '/echo/u42?x=1', 'rewrite /echo/u$1 keeps the query string');
($s, $h, $b) = http_parse(http_get($port, '/u/42'));
$e = json_decode($b);
is($e && $e->{path}, '/echo/u42', 'rewrite without query');
($s, $h, $b) = http_parse(http_get($port, '/q/7?x=1'));
$e = json_decode($b);
is($e && $e->{path}, '/echo/q?n=7', 'rewrite with its own ? replaces the query');

# HTTP/1.0 client
$raw = http_raw($port, http_request('GET', '/chunked?n=1000', protocol => 'HTTP/1.0'));
($s, $h, $b) = http_parse($raw);
like($raw, qr{^HTTP/1\.[01] 200 }, 'HTTP/1.0 client: 200');
ok(!defined $h->{'transfer-encoding'}, 'HTTP/1.0 client: never chunked');
is($b, pattern_bytes(1000), 'HTTP/1.0 client: chunked upstream body delivered whole');

# pipelining through the proxy
my @reqs = (http_request('GET', '/id'), http_request('GET', '/bytes?n=10'),
            http_request('GET', '/echo/p3'), http_request('HEAD', '/bytes?n=5'),
            http_request('GET', '/chunked?n=20'), http_request('GET', '/status?code=404'));
my @res = http_pipeline($port, \@reqs);
is(scalar @res, 6, 'pipelining: six responses');
my @parsed = map { [ http_parse($_) ] } @res;
is($parsed[0][2], 'a', 'pipelined 1: /id');
is($parsed[1][2], pattern_bytes(10), 'pipelined 2: /bytes');
my $pe = json_decode($parsed[2][2] || '');
is($pe && $pe->{path}, '/echo/p3', 'pipelined 3: /echo/p3');
is($parsed[3][0] . ' ' . $parsed[3][1]{'content-length'}, '200 5', 'pipelined 4: HEAD');
is($parsed[4][2], pattern_bytes(20), 'pipelined 5: chunked');
is($parsed[5][0], 404, 'pipelined 6: 404');

$p->stop;
done_testing();
