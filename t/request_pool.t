#!/usr/bin/perl
# request_pool.t: what a request costs in its pool. A --with-debug build logs, for every
# request, "request pool: N chunks, N large, N bytes used, N bytes zeroed" once it is
# logged (pco_http_request.c). A proxied keep-alive request with a handful of headers must
# fit one 8 KiB chunk: the request and the proxy's context carry no fixed header arrays (the
# lists start small in the pool and grow), and the pool clears only the small structs.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Portico;
use PorticoBackend;

skip_unless_module('proxy');
my (undef, $v_out, $v_err) = Portico::run_cmd(portico_bin(), '-V');
plan skip_all => 'needs a --with-debug build (the pool report is a debug log line)'
    unless (($v_out // '') . ($v_err // '')) =~ /^configure arguments:.*--with-debug/m;

my $p = Portico->new(start => 0);
my $b = PorticoBackend->new(port => $p->port(2), id => 'a');
$p->write_conf(<<'EOF2');
error_log = { path = "logs/error.log"; level = "debug"; };
upstreams = ( { name = "app"; servers = ( { address = "127.0.0.1:%%PORT2%%"; } ); } );
servers = ( {
  listen = ["127.0.0.1:%%PORT1%%"];
  routes = ( { match = { path_prefix = "/"; }; proxy = { upstream = "app"; }; } );
} );
EOF2
$p->start;

# The pool reports of the requests whose request line matches $re, in order.
sub reports
{
    my ($re) = @_;
    my @r;
    for my $l (split /\n/, $p->error_log) {
        next unless $l =~ /request pool: (\d+) chunks, (\d+) large, (\d+) bytes used, (\d+) bytes/;
        my @n = ($1, $2, $3, $4);
        push @r, \@n if $l =~ $re;
    }
    return @r;
}

my @hdrs = ('User-Agent' => 'test/1', Accept => '*/*', 'Accept-Language' => 'en',
            'X-One' => '1', 'X-Two' => '2');
my @res = http_keepalive($p->port(1),
                         [ map { http_request('GET', "/bytes?n=128&k=$_", @hdrs) } 1 .. 3 ]);
is(scalar @res, 3, 'three proxied keep-alive requests answered');
is((http_parse($res[-1]))[0], 200, 'the last one: 200');
ok(wait_until(sub { scalar(reports(qr{GET /bytes\?n=128&k=3 })) == 1 }),
   'the last one was reported');
for my $k (1 .. 3) {
    my ($r) = reports(qr{GET /bytes\?n=128&k=$k });
    $r //= [ -1, -1, -1, -1 ];
    diag("request $k: $r->[0] chunks, $r->[1] large, $r->[2] bytes used, "
         . "$r->[3] bytes zeroed");
    is($r->[0], 1, "request $k: one pool chunk");
    cmp_ok($r->[3], '<', 3072,
           "request $k: under 3 KiB cleared (8 KiB before the lists moved out)");
}

done_testing();
