#!/usr/bin/perl
# headers_lists.t: the request's and the upstream response's header lists start small in
# the request pool and grow; what goes through them must not depend on that. A request with
# exactly the maximum of headers (100) reaches the backend whole and in order, one more is
# 431; an upstream response with 90 headers (and 100) reaches the client whole and in order,
# 101 is 502; duplicated names keep their order both ways; response_headers adding 30 headers,
# removing 21 and replacing one on top of 90 upstream ones; the cache adding If-None-Match to a
# request whose list is exactly full (16, the starting room) and to a longer one.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Portico;
use PorticoBackend;

skip_unless_module('proxy', 'headers');
my $HAVE_CACHE = has_module('cache');

my $p = Portico->new(start => 0);
my $b = PorticoBackend->new(port => $p->port(2), id => 'a');

# /many/N?dup=D: N headers "X-R-i: v-i" with D "Set-Cookie: c=i" lines among them (after the
# first ten), then 2 body bytes.
my $raw = PorticoBackend->raw(port => $p->port(3), handler => sub {
    my ($c, $head) = @_;
    my ($n, $query) = $head =~ m{^GET /(?:many|edit)/(\d+)(?:\?(\S*))? };
    my ($dup) = ($query // '') =~ /dup=(\d+)/;
    $dup //= 0;
    my $out = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n";
    my $k = 1;
    for my $i (1 .. ($n // 0) - 1) {
        if ($i > 10 && $k <= $dup) {
            $out .= "Set-Cookie: c=$k\r\n";
            $k++;
        } else {
            $out .= "X-R-$i: v-$i\r\n";
        }
    }
    print $c "$out\r\nok";
});

my $adds = join(",\n", (map { qq({ name = "X-Add-$_"; value = "a-$_"; }) } 1 .. 30),
                       (map { qq({ name = "X-R-$_"; value = ""; }) } 20 .. 39));
my $cache_conf = $HAVE_CACHE ? 'caches = ( { name = "main"; path = "cache/main"; } );' : '';
my $cache_route = $HAVE_CACHE
    ? '{ match = { path_prefix = "/c/"; }; proxy = { upstream = "cache"; };
         cache = { zone = "main"; }; },' : '';
$p->write_conf(<<"EOF2");
upstreams = ( { name = "app"; servers = ( { address = "127.0.0.1:%%PORT2%%"; } ); },
              { name = "raw"; servers = ( { address = "127.0.0.1:%%PORT3%%"; } ); },
              { name = "cache"; servers = ( { address = "127.0.0.1:%%PORT4%%"; } ); } );
$cache_conf
servers = ( {
  listen = ["127.0.0.1:%%PORT1%%"];
  routes = (
    $cache_route
    { match = { path_prefix = "/many/"; }; proxy = { upstream = "raw"; }; },
    { match = { path_prefix = "/edit/"; }; proxy = { upstream = "raw"; };
      response_headers = ( $adds,
                           { name = "X-R-5"; value = ""; },
                           { name = "X-R-7"; value = "new-7"; } ); },
    { match = { path_prefix = "/"; }; proxy = { upstream = "app"; }; }
  );
} );
EOF2
$p->start;
my $port = $p->port(1);

# The header lines of a raw response, in order: [[name, value]...].
sub lines_of
{
    my ($r) = @_;
    my ($head) = split /\r\n\r\n/, $r, 2;
    my @l = split /\r\n/, $head // '';
    shift @l;
    return [ map { [ /^([^:]+):\s*(.*)$/ ] } @l ];
}

# The request headers the echo backend saw whose name matches $re, in order.
sub seen
{
    my ($r, $re) = @_;
    my (undef, undef, $body) = http_parse($r);
    my $e = json_decode($body) or return [];
    return [ grep { $_->[0] =~ $re } @{ $e->{headers} } ];
}

# ---- request headers --------------------------------------------------------------------------

# Host and Connection are two of the 100.
my @x = map { ("X-H-$_" => "h-$_") } 1 .. 98;
my $r = http_get($port, '/echo', @x);
is((http_parse($r))[0], 200, '100 request headers: 200');
is_deeply(seen($r, qr/^X-H-/), [ map { ["X-H-$_", "h-$_"] } 1 .. 98 ],
          '100 request headers: all 98 X-H-* reach the backend, in order');
$r = http_get($port, '/echo', @x, 'X-H-99' => 'h-99');
is((http_parse($r))[0], 431, '101 request headers: 431');

# duplicated names, around the starting room (16) and past it
my @d = map { ('X-Dup' => "d-$_", 'X-Other' => "o-$_") } 1 .. 20;
$r = http_get($port, '/echo', @d);
is_deeply(seen($r, qr/^X-(Dup|Other)$/),
          [ map { (['X-Dup', "d-$_"], ['X-Other', "o-$_"]) } 1 .. 20 ],
          '40 request headers with repeated names: kept in order');

# exactly the starting room, then one past it, on one keep-alive connection
my @res = http_keepalive($port, [
    http_request('GET', '/echo/a', map { ("X-K-$_" => "k-$_") } 1 .. 15),
    http_request('GET', '/echo/b', map { ("X-K-$_" => "k-$_") } 1 .. 16),
    http_request('GET', '/echo/c', 'X-K-1' => 'k-1') ]);
is(scalar @res, 3, 'keep-alive: 16, 17 and 2 headers answered');
is_deeply(seen($res[0], qr/^X-K-/), [ map { ["X-K-$_", "k-$_"] } 1 .. 15 ], '16 headers: all');
is_deeply(seen($res[1], qr/^X-K-/), [ map { ["X-K-$_", "k-$_"] } 1 .. 16 ], '17 headers: all');
is_deeply(seen($res[2], qr/^X-K-/), [ ['X-K-1', 'k-1'] ], 'then 2 headers: only those');

# ---- upstream response headers ----------------------------------------------------------------

for my $n (17, 90, 100) {
    $r = http_get($port, "/many/$n");
    is((http_parse($r))[0], 200, "$n upstream headers: 200");
    is_deeply([ grep { $_->[0] =~ /^X-R-/ } @{ lines_of($r) } ],
              [ map { ["X-R-$_", "v-$_"] } 1 .. $n - 1 ],
              "$n upstream headers: every X-R-* reaches the client, in order");
}
$r = http_get($port, '/many/101');
is((http_parse($r))[0], 502, '101 upstream headers: 502');

$r = http_get($port, '/many/90?dup=30');
is_deeply([ grep { $_->[0] eq 'Set-Cookie' } @{ lines_of($r) } ],
          [ map { ['Set-Cookie', "c=$_"] } 1 .. 30 ],
          '30 Set-Cookie among 90 upstream headers: all, in order');

# response_headers on top: 30 added, 21 removed, one replaced (a replacement is appended:
# after the upstream's headers and the added ones)
$r = http_get($port, '/edit/90');
my @got = grep { $_->[0] =~ /^X-(R|Add)-/ } @{ lines_of($r) };
my @kept = grep { $_ != 5 && $_ != 7 && ($_ < 20 || $_ > 39) } 1 .. 89;
is_deeply(\@got, [ (map { ["X-R-$_", "v-$_"] } @kept),
                   (map { ["X-Add-$_", "a-$_"] } 1 .. 30), ['X-R-7', 'new-7'] ],
          'response_headers: 30 added, 21 removed, X-R-7 replaced, the rest in order')
    or diag(join("\n", map { "$_->[0]: $_->[1]" } @got));

# ---- the cache adds a validator to the request's list -----------------------------------------

SKIP: {
    skip 'no cache module', 6 unless $HAVE_CACHE;
    require PorticoCacheBackend;
    my $cb = PorticoCacheBackend->new(port => $p->port(4));
    for my $n (16, 40) {
        my $t = "/c/rv$n";
        $cb->set($t, headers => [['Cache-Control', 'max-age=60']], etag => '"e1"',
                 body => "rv {n}\n");
        my $first = PorticoCacheBackend::creq($port, 'GET', $t);
        is($first->{status}, 200, "$n headers: stored");
        # Host, Connection and Cache-Control are three of them
        my @h = map { ("X-C-$_" => "c-$_") } 1 .. $n - 3;
        PorticoCacheBackend::creq($port, 'GET', $t, 'Cache-Control' => 'no-cache', @h);
        is($cb->seen_header($t, 1, 'If-None-Match'), '"e1"',
           "$n request headers: the revalidation carries If-None-Match");
        my $seen = $cb->requests($t)->[1]{headers} // [];
        is_deeply([ grep { $_->[0] =~ /^X-C-/ } @$seen ],
                  [ map { ["X-C-$_", "c-$_"] } 1 .. $n - 3 ],
                  "$n request headers: all reach the origin, in order");
    }
}

done_testing();
