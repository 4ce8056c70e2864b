#!/usr/bin/perl
# proxy_bodies.t: 8 MiB+ bodies through the proxy both ways, verified by SHA-256: uploads
# with Content-Length and chunked; downloads with Content-Length, chunked and delimited by
# close, to HTTP/1.1 and HTTP/1.0 clients (1.0 never gets chunked).

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Portico;
use PorticoBackend;
use Digest::SHA qw(sha256_hex);

skip_unless_module('proxy');

my $p = Portico->new(start => 0);
my $ba = PorticoBackend->new(port => $p->port(2), id => 'a');
$p->write_conf(<<'EOF2');
http = { client_max_body_size = "64m"; };
upstreams = ( { name = "app"; servers = ( { address = "127.0.0.1:%%PORT2%%"; } ); } );
servers = ( {
  listen = ["127.0.0.1:%%PORT1%%"];
  routes = ( { match = { path_prefix = "/"; }; proxy = { upstream = "app"; }; } );
} );
EOF2
$p->start;
my $port = $p->port(1);

my $n = 8 * 1024 * 1024 + 13;
my $data = pattern_bytes($n);
my $sha = sha256_hex($data);

# uploads
{
    my $raw = http_raw($port, http_request('POST', '/upload', Connection => 'close',
                                           body => $data), timeout => 30);
    my ($s, $h, $b) = http_parse($raw);
    my $j = json_decode($b);
    is($s, 200, 'upload 8 MiB with Content-Length: 200');
    is($j && $j->{length}, $n, 'upload with Content-Length: length');
    is($j && $j->{sha256}, $sha, 'upload with Content-Length: sha256');
}
{
    my $chunked = '';
    for (my $off = 0; $off < $n; $off += 100000) {
        my $part = substr($data, $off, 100000);
        $chunked .= sprintf("%x\r\n", length $part) . $part . "\r\n";
    }
    $chunked .= "0\r\n\r\n";
    my $raw = http_raw($port, http_request('POST', '/upload', Connection => 'close',
                                           'Transfer-Encoding' => 'chunked',
                                           body => $chunked), timeout => 30);
    my ($s, $h, $b) = http_parse($raw);
    my $j = json_decode($b);
    is($s, 200, 'upload 8 MiB chunked: 200');
    is($j && $j->{length}, $n, 'upload chunked: length');
    is($j && $j->{sha256}, $sha, 'upload chunked: sha256');
}

# downloads
for my $kind (qw(bytes chunked close)) {
    for my $proto ('HTTP/1.1', 'HTTP/1.0') {
        my $r = http_exchange($port, http_request('GET', "/$kind?n=$n", protocol => $proto,
                                                  Connection => 'close'), timeout => 30);
        my ($s, $h, $b) = http_parse($r->{raw});
        is($s, 200, "download /$kind to $proto: 200");
        is(length $b, $n, "download /$kind to $proto: length");
        is(sha256_hex($b), $sha, "download /$kind to $proto: sha256");
        ok(!defined $h->{'transfer-encoding'}, "download /$kind to HTTP/1.0: not chunked")
            if $proto eq 'HTTP/1.0';
    }
}

# a large download and a large upload on one keep-alive connection
{
    my $m = 2 * 1024 * 1024 + 5;
    my $d2 = pattern_bytes($m);
    my @res = http_keepalive($port, [ http_request('GET', "/chunked?n=$m"),
                                      http_request('POST', '/upload', body => $d2),
                                      http_request('GET', "/close?n=$m") ], timeout => 30);
    is(scalar @res, 3, 'keep-alive: three large exchanges');
    my (undef, undef, $b1) = http_parse($res[0] || '');
    is(sha256_hex($b1), sha256_hex($d2), 'keep-alive: chunked download');
    my (undef, undef, $b2) = http_parse($res[1] || '');
    my $j = json_decode($b2);
    is($j && $j->{sha256}, sha256_hex($d2), 'keep-alive: upload');
    my (undef, $h3, $b3) = http_parse($res[2] || '');
    is(sha256_hex($b3), sha256_hex($d2), 'keep-alive: close-delimited upstream body');
}

$p->stop;
done_testing();
