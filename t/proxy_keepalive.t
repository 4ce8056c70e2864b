#!/usr/bin/perl
# proxy_keepalive.t: upstream keep-alive: 100 sequential requests reuse pooled connections
# (the backend sees far fewer connections than requests), a pooled connection the backend
# closed while idle is detected and the request still gets 200, an upstream Connection: close
# only stops pooling that connection.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Portico;
use PorticoBackend;
use Time::HiRes qw(sleep);

skip_unless_module('proxy');

my $p = Portico->new(start => 0);
my $ba = PorticoBackend->new(port => $p->port(2), id => 'a');
my $bs = PorticoBackend->new(port => $p->port(3), id => 's', keepalive_close_after => 200);
$p->write_conf(<<'EOF2');
upstreams = (
  { name = "app"; keepalive = 8; servers = ( { address = "127.0.0.1:%%PORT2%%"; } ); },
  { name = "stale"; keepalive = 8; keepalive_timeout = "30s";
    servers = ( { address = "127.0.0.1:%%PORT3%%"; } ); }
);
servers = ( {
  listen = ["127.0.0.1:%%PORT1%%"];
  routes = (
    { match = { path_prefix = "/stale/"; }; proxy = { upstream = "stale"; strip_prefix = true; }; },
    { match = { path_prefix = "/"; }; proxy = { upstream = "app"; }; }
  );
} );
EOF2
$p->start;
my $port = $p->port(1);

# 100 sequential requests on one client connection
my @res = http_keepalive($port, [ map { http_request('GET', "/id?i=$_") } 1 .. 100 ]);
is(scalar(grep { my ($s, undef, $b) = http_parse($_); "$s $b" eq '200 a' } @res), 100,
   '100 sequential requests answered');
my $st = $ba->stats;
is($st->{requests}, 100, 'backend saw 100 requests');
ok($st->{connections} <= 2, "upstream keep-alive: $st->{connections} connections for 100 requests");

# 50 sequential requests, each on a new client connection
$ba->reset;
my $ok = 0;
for my $i (1 .. 50) {
    my ($s, undef, $b) = http_parse(http_get($port, "/id?n=$i"));
    $ok++ if "$s $b" eq '200 a';
}
is($ok, 50, '50 requests on new client connections answered');
$st = $ba->stats;
ok($st->{connections} <= 2,
   "pool shared across client connections: $st->{connections} connections");

# mixed framings keep the pooled connection usable
$ba->reset;
@res = http_keepalive($port, [ http_request('GET', '/bytes?n=1000'),
                               http_request('GET', '/chunked?n=1000'),
                               http_request('HEAD', '/bytes?n=1000'),
                               http_request('GET', '/status?code=204'),
                               http_request('GET', '/status?code=304'),
                               http_request('GET', '/id') ]);
is(scalar @res, 6, 'mixed framings: six responses');
my (undef, undef, $last) = http_parse($res[5] || '');
is($last, 'a', 'mixed framings: last response intact');
ok($ba->stats->{connections} <= 1, 'mixed framings: one upstream connection');

# upstream Connection: close only stops pooling that connection
$ba->reset;
@res = http_keepalive($port, [ http_request('GET', '/close?n=10'), http_request('GET', '/id'),
                               http_request('GET', '/id') ]);
is(scalar @res, 3, 'after an upstream close-delimited response the client connection stays');
my (undef, undef, $b1) = http_parse($res[0] || '');
is($b1, pattern_bytes(10), 'close-delimited body');
(undef, undef, $b1) = http_parse($res[2] || '');
is($b1, 'a', 'next requests answered');

# a pooled connection closed by the backend while idle
my ($s, undef, $b) = http_parse(http_get($port, '/stale/id'));
is("$s $b", '200 s', 'stale: first request');
sleep 0.5;
($s, undef, $b) = http_parse(http_get($port, '/stale/id'));
is("$s $b", '200 s', 'stale: request after the backend closed the pooled connection: 200');
sleep 0.5;
for my $i (1 .. 3) {
    ($s, undef, $b) = http_parse(http_get($port, "/stale/id?i=$i"));
    is("$s $b", '200 s', "stale: request $i right after");
}
is($bs->stats->{requests}, 5, 'stale: every request reached the backend once');

$p->stop;
done_testing();
