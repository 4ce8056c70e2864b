#!/usr/bin/perl
# static.t: the static module: Content-Type from conf/mime.types, Content-Length,
# Last-Modified and If-Modified-Since, ranges, index files, directory redirects, refusals
# (missing, dot-files, climbing, symbolic links leaving the root, methods), HEAD, and a
# 1 MiB file served byte-exact.

use strict;
use warnings;
use Test::More;
use Digest::SHA qw(sha256_hex);
use lib 't/lib';
use Portico;

skip_unless_module('static');

my $mtime = 1700000000;    # Tue, 14 Nov 2023 22:13:20 GMT
my $lm = 'Tue, 14 Nov 2023 22:13:20 GMT';
my $big = join('', map { chr(($_ * 7 + ($_ >> 8)) & 0xff) } 0 .. 1024 * 1024 - 1);

my $p = Portico->new(conf => <<'EOF', start => 0);
servers = ( {
  listen = ["127.0.0.1:%%PORT1%%"];
  routes = (
    { match = { path_prefix = "/"; }; static = { root = "html"; index = "index.html"; }; }
  );
} );
EOF

my $html = $p->prefix . '/html';
my %files = (
    'index.html'     => "<p>home</p>\n",
    'a.txt'          => "0123456789abcdef\n",
    'style.css'      => "body{}\n",
    'data.json'      => "{}\n",
    'pic.png'        => "\x89PNG\r\n\x1a\n",
    'blob.bin'       => "\x00\x01\x02",
    'noext'          => "plain\n",
    '.hidden'        => "secret\n",
    'dir/index.html' => "<p>dir</p>\n",
    'dir/.git/config' => "x\n",
    'noindex/x.txt'  => "x\n",
    'a b.txt'        => "space\n",
    'big.bin'        => $big,
);
for my $f (keys %files) {
    write_file("$html/$f", $files{$f});
    utime($mtime, $mtime, "$html/$f");
}
write_file($p->prefix . '/secret.txt', "outside\n");
symlink('../secret.txt', "$html/out.txt");
symlink($p->prefix . '/conf', "$html/outdir");
$p->start;

my $port = $p->port(1);

sub get
{
    my ($path, @h) = @_;
    return http_parse(http_get($port, $path, @h));
}

sub ctype { my ($h) = @_; my $t = $h->{'content-type'} // ''; $t =~ s/\s*;.*//; return $t; }

{
    my ($s, $h, $b) = get('/a.txt');
    is($s, 200, 'file: 200');
    is($b, $files{'a.txt'}, 'file: body');
    is($h->{'content-length'}, length $files{'a.txt'}, 'file: Content-Length');
    is(ctype($h), 'text/plain', 'file: .txt is text/plain');
    is($h->{'last-modified'}, $lm, 'file: Last-Modified');
    is($h->{'accept-ranges'}, 'bytes', 'file: Accept-Ranges');

    is(ctype((get('/style.css'))[1]), 'text/css', '.css is text/css');
    is(ctype((get('/data.json'))[1]), 'application/json', '.json is application/json');
    is(ctype((get('/pic.png'))[1]), 'image/png', '.png is image/png');
    is(ctype((get('/index.html'))[1]), 'text/html', '.html is text/html');
    is(ctype((get('/noext'))[1]), 'application/octet-stream', 'no extension: octet-stream');

    ($s, $h, $b) = get('/a%20b.txt');
    is($s, 200, 'percent-encoded space in a file name');
    is($b, "space\n", 'percent-encoded space: body');
}

# ---- conditional and range requests ----------------------------------------------------------

{
    my ($s, $h, $b) = get('/a.txt', 'If-Modified-Since' => $lm);
    is($s, 304, 'If-Modified-Since equal: 304');
    is($b, '', '304: no body');
    ($s) = get('/a.txt', 'If-Modified-Since' => 'Wed, 15 Nov 2023 00:00:00 GMT');
    is($s, 304, 'If-Modified-Since later: 304');
    ($s, $h, $b) = get('/a.txt', 'If-Modified-Since' => 'Mon, 13 Nov 2023 00:00:00 GMT');
    is($s, 200, 'If-Modified-Since earlier: 200');
    is($b, $files{'a.txt'}, 'If-Modified-Since earlier: body');

    my $size = length $files{'a.txt'};
    ($s, $h, $b) = get('/a.txt', Range => 'bytes=0-4');
    is($s, 206, 'Range 0-4: 206');
    is($b, '01234', 'Range 0-4: body');
    is($h->{'content-range'}, "bytes 0-4/$size", 'Range 0-4: Content-Range');
    is($h->{'content-length'}, 5, 'Range 0-4: Content-Length');

    ($s, $h, $b) = get('/a.txt', Range => 'bytes=10-');
    is($s, 206, 'Range 10-: 206');
    is($b, "abcdef\n", 'Range 10-: body');
    is($h->{'content-range'}, "bytes 10-16/$size", 'Range 10-: Content-Range');

    ($s, $h, $b) = get('/a.txt', Range => 'bytes=-3');
    is($s, 206, 'Range -3: 206');
    is($b, "ef\n", 'Range -3: the last three bytes');

    ($s, $h, $b) = get('/a.txt', Range => 'bytes=5-1000');
    is($s, 206, 'Range past the end is clamped: 206');
    is($b, "56789abcdef\n", 'Range past the end: body');

    ($s, $h, $b) = get('/a.txt', Range => 'bytes=100-200');
    is($s, 416, 'unsatisfiable Range: 416');
    is($h->{'content-range'}, "bytes */$size", '416: Content-Range bytes */size');

    ($s, $h, $b) = get('/a.txt', Range => 'bytes=0-1,3-4');
    is($s, 200, 'several ranges: the whole file');
    is($b, $files{'a.txt'}, 'several ranges: body');
}

# ---- directories and refusals ----------------------------------------------------------------

{
    my ($s, $h, $b) = get('/');
    is($s, 200, '/: index.html');
    is($b, $files{'index.html'}, '/: index body');
    is(ctype($h), 'text/html', '/: text/html');

    ($s, $h, $b) = get('/dir/');
    is($b, $files{'dir/index.html'}, 'directory with slash: index.html');

    ($s, $h, $b) = get('/dir');
    is($s, 301, 'directory without slash: 301');
    like($h->{location} // '', qr{^(?:http://[^/]+)?/dir/$}, 'directory without slash: Location');

    ($s, $h) = get('/dir?q=1');
    like($h->{location} // '', qr{^(?:http://[^/]+)?/dir/\?q=1$}, '301 keeps the query');

    ($s) = get('/noindex/');
    ok($s == 403 || $s == 404, "directory without index: 403 or 404 ($s)");
    ($s) = get('/missing.txt');
    is($s, 404, 'missing file: 404');
    ($s) = get('/a.txt/x');
    is($s, 404, 'file used as a directory: 404');
    ($s, $h, $b) = get('/.hidden');
    ok($s == 404 || $s == 403, "dot-file refused ($s)");
    unlike($b, qr/secret/, 'dot-file: content not served');
    ($s) = get('/dir/.git/config');
    ok($s == 404 || $s == 403, "file under a dot-directory refused ($s)");
    ($s) = get('/%2ehidden');
    ok($s == 404 || $s == 403, "encoded dot-file refused ($s)");

    my $r = http_raw($port, "GET /../secret.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    ($s, $h, $b) = http_parse($r);
    is($s, 400, '.. climbing above the root: 400');
    $r = http_raw($port, "GET /dir/../../secret.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    is((http_parse($r))[0], 400, 'dir/../.. climbing: 400');

    ($s, $h, $b) = get('/out.txt');
    ok($s == 403 || $s == 404, "symbolic link leaving the root refused ($s)");
    unlike($b, qr/outside/, 'symbolic link leaving the root: content not served');
    ($s, $h, $b) = get('/outdir/portico.conf');
    ok($s == 403 || $s == 404, "directory link leaving the root refused ($s)");
}

# ---- methods ----------------------------------------------------------------------------------

{
    my ($s, $h, $b) = http_parse(http_head($port, '/a.txt'));
    is($s, 200, 'HEAD: 200');
    is($b, '', 'HEAD: no body');
    is($h->{'content-length'}, length $files{'a.txt'}, 'HEAD: Content-Length');
    is($h->{'last-modified'}, $lm, 'HEAD: Last-Modified');

    ($s, $h, $b) = http_parse(http_raw($port, http_request('POST', '/a.txt', Connection => 'close',
                                                           body => 'x')));
    is($s, 405, 'POST: 405');
    like($h->{allow} // '', qr/^GET, HEAD$/, 'POST: Allow: GET, HEAD');
}

# ---- a 1 MiB file -------------------------------------------------------------------------

{
    my ($s, $h, $b) = get('/big.bin');
    is($s, 200, '1 MiB: 200');
    is($h->{'content-length'}, length $big, '1 MiB: Content-Length');
    is(length $b, length $big, '1 MiB: length');
    is(sha256_hex($b), sha256_hex($big), '1 MiB: byte-exact');

    my @r = http_keepalive($port, [ "GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n",
                                    "GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n" ], timeout => 10);
    is(scalar @r, 2, '1 MiB then a small file on one connection');
    is(sha256_hex((http_parse($r[0]))[2]), sha256_hex($big), 'keep-alive 1 MiB: byte-exact');
    is((http_parse($r[1] // ''))[2], $files{'a.txt'}, 'keep-alive: next response intact');

    ($s, $h, $b) = get('/big.bin', Range => 'bytes=1000000-1000009');
    is($b, substr($big, 1000000, 10), '1 MiB: a range in the middle');
}

done_testing();
