#!/usr/bin/perl
# gzip.t: on-the-fly gzip (docs/http.md "Compression"): routes with gzip = true compress
# listed types for clients that accept gzip; the decompressed bytes are the original ones
# (proxied with Content-Length, chunked and close-delimited, 8 MiB to a slow reader,
# `return` bodies, HTTP/1.0 close-delimited); nothing is compressed for q=0, identity, no
# Accept-Encoding, other types, short bodies, encoded bodies, 206, HEAD, 204, 304, or static
# files; Vary is added or merged, a strong ETag weakened; the worker's memory stays bounded
# over 50 concurrent compressed streams. gzip_static serves FILE.gz as it is (not a .gz that
# is a directory or a link out of the root). -t names bad types, levels and values.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Portico;
use PorticoBackend;
use IO::Uncompress::Gunzip qw(gunzip $GunzipError);
use IO::Compress::Gzip ();
use Time::HiRes qw(sleep time);

skip_unless_module('gzip');
skip_unless_module('proxy');

# compressible text, and hex digits (compresses to about half: many output buffers)
sub text_body
{
    my ($n) = @_;
    my ($s, $i) = ('', 0);
    $s .= "line " . $i++ . ": the quick brown fox\n" while length $s < $n;
    return substr($s, 0, $n);
}
srand(12);
my $HEX = join('', map { sprintf '%08x', int rand 4294967295 } 1 .. (8 << 20) / 8);
my %BODY = (small => 'x' x 100, text => text_body(200_000), hex => $HEX,
            mib => substr($HEX, 0, 1 << 20));

my $p = Portico->new(start => 0);
# GET /NAME?k=v...: body NAME; cl=0 chunked, cl=close close-delimited; type, ce, vary,
# etag, status as given
my $raw = PorticoBackend->raw(port => $p->port(2), backlog => 128, handler => sub {
    my ($c, $head) = @_;
    my ($name, $q) = $head =~ m{^\S+ /(\w+)\??(\S*)};
    my %o = map { split /=/, $_, 2 } grep { length } split /&/, $q;
    s/%20/ /g for values %o;
    my $body = $BODY{$name} // '';
    my $st = $o{status} // 200;
    my $h = "HTTP/1.1 $st X\r\nContent-Type: " . ($o{type} // 'text/plain; charset=utf-8') . "\r\n";
    $h .= "Content-Encoding: $o{ce}\r\n" if $o{ce};
    $h .= "Vary: $o{vary}\r\n" if $o{vary};
    $h .= "ETag: $o{etag}\r\n" if $o{etag};
    $h .= "Content-Range: bytes 0-99/1000\r\n" if $st == 206;
    $body = '' if $st == 204 || $st == 304 || $head =~ /^HEAD/;
    my $cl = $o{cl} // 1;
    if ($st == 204 || $st == 304) {
        write_all($c, "$h\r\n");
    } elsif ($cl eq 'close') {
        write_all($c, "${h}Connection: close\r\n\r\n$body");
    } elsif ($cl && $o{pause}) {
        # half the body, a pause (the response is mid-stream), the rest
        my $half = int(length($body) / 2);
        write_all($c, $h . "Content-Length: " . length($body) . "\r\n\r\n"
                  . substr($body, 0, $half));
        sleep $o{pause};
        write_all($c, substr($body, $half));
    } elsif ($cl) {
        write_all($c, $h . "Content-Length: " . length($BODY{$name} // '') . "\r\n\r\n$body");
    } else {
        write_all($c, "${h}Transfer-Encoding: chunked\r\n\r\n");
        for (my $i = 0; $i < length $body; $i += 65536) {
            my $part = substr($body, $i, 65536);
            write_all($c, sprintf("%x\r\n", length $part) . "$part\r\n");
        }
        write_all($c, "0\r\n\r\n");
    }
});

mkdir $p->prefix . '/html';
mkdir $p->prefix . '/html/html';
write_file($p->prefix . '/html/html/page.html', $BODY{text});
# gzip_static: a.txt with a.txt.gz, b.txt alone, c.txt whose .gz is a directory, d.txt whose
# .gz is a symbolic link leaving the root, and an index with its .gz
my $H = $p->prefix . '/html';
mkdir "$H/gs";
mkdir "$H/gs/dir";
mkdir "$H/gs/c.txt.gz";
my %GS;
for my $f ('a.txt', 'b.txt', 'c.txt', 'd.txt', 'dir/index.html') {
    write_file("$H/gs/$f", "plain $f\n" x 50);
}
for my $f ('a.txt', 'dir/index.html') {
    # the .gz is not the gzip of the original: serving it as it is must be visible
    IO::Compress::Gzip::gzip(\("from the .gz of $f\n" x 20) => \$GS{$f})
        or die "gzip failed";
    write_file("$H/gs/$f.gz", $GS{$f});
}
write_file($p->prefix . '/outside.gz', 'outside the root');
symlink($p->prefix . '/outside.gz', "$H/gs/d.txt.gz") or die "symlink: $!";
$p->write_conf(<<'EOF2');
http = { gzip = { types = ["text/plain", "application/json"]; level = 6; min_length = 256; }; };
upstreams = ( { name = "b"; retries = 0; read_timeout = "30s";
                servers = ( { address = "127.0.0.1:%%PORT2%%"; } ); } );
servers = ( { listen = ["127.0.0.1:%%PORT1%%"];
  routes = (
    { match = { path = "/ret"; }; return = { status = 200; body = "%%RETBODY%%"; };
      gzip = true; },
    { match = { path_prefix = "/html/"; }; static = { root = "html"; }; gzip = true; },
    { match = { path_prefix = "/gs/"; }; static = { root = "html"; gzip_static = true; }; },
    { match = { path_prefix = "/off/"; }; proxy = { upstream = "b"; strip_prefix = true; }; },
    { match = { path_prefix = "/"; }; proxy = { upstream = "b"; }; gzip = true; }
  ); } );
EOF2
my $conf = read_file($p->conf_file);
my $retbody = join(',', map { "{\\\"n\\\": $_}" } 1 .. 200);
$conf =~ s/%%RETBODY%%/$retbody/;
write_file($p->conf_file, $conf);
# RSS bounds below are raised by the ASan quarantine (see Portico.pm).
my $QUARANTINE = quarantine_kb();
$p->start_small_quarantine;
my $port = $p->port(1);

sub get
{
    my ($path, @h) = @_;
    my ($st, $h, $b) = http_parse(http_get($port, $path, @h, -timeout => 30));
    return ($st // 0, $h, $b);
}

sub gunz { my ($z) = @_; my $out; gunzip(\$z => \$out) or return "gunzip: $GunzipError";
           return $out; }

my @GZ = ('Accept-Encoding' => 'gzip, deflate');

# compressed: Content-Length and chunked from upstream, and the whole 8 MiB
for my $case (['/text', 'text, Content-Length'], ['/text?cl=0', 'text, chunked'],
              ['/text?cl=close', 'text, close-delimited'], ['/hex', '8 MiB, Content-Length'],
              ['/hex?cl=0', '8 MiB, chunked'])
{
    my ($path, $what) = @$case;
    my ($name) = $path =~ m{^/(\w+)};
    my ($st, $h, $b) = get($path, @GZ);
    is("$st " . ($h->{'content-encoding'} // '-') . ' ' . ($h->{'transfer-encoding'} // '-')
       . ' ' . ($h->{'content-length'} // '-'), "200 gzip chunked -", "$what: gzip, chunked");
    is($h->{vary}, 'Accept-Encoding', "$what: Vary");
    ok(length $b < length $BODY{$name}, "$what: smaller (" . length($b) . " bytes)");
    ok(gunz($b) eq $BODY{$name}, "$what: decompressed body identical");
}

# an 8 MiB compressed stream to a client that reads slowly
{
    my $s = http_connect($port, timeout => 5);
    write_all($s, "GET /hex HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n");
    my $raw_resp = '';
    my $deadline = time + 60;
    while (time < $deadline) {
        my $n = sysread($s, my $buf, 32768);
        last unless $n;
        $raw_resp .= $buf;
        sleep 0.002;
    }
    close $s;
    my ($st, $h, $b) = http_parse($raw_resp);
    is("$st " . ($h->{'content-encoding'} // '-'), '200 gzip', 'slow reader: gzip');
    ok(gunz($b) eq $HEX, 'slow reader: 8 MiB decompressed identical');
}

# a client that goes away mid-stream: the deflate state is released (a leak would show under
# LeakSanitizer when the worker exits), the worker serves on
{
    for (1 .. 3) {
        my $s = http_connect($port, timeout => 5);
        write_all($s, "GET /hex HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n");
        my $got = 0;
        my $deadline = time + 10;
        while ($got < 65536 && time < $deadline) {
            my $n = sysread($s, my $buf, 16384);
            last unless $n;
            $got += $n;
        }
        close $s;
    }
    my ($st, $h, $b) = get('/text', @GZ);
    ok($st == 200 && gunz($b) eq $BODY{text}, 'after clients left mid-stream: served as before');
}

# not compressed (Vary still says the answer depends on Accept-Encoding)
for my $case (['gzip;q=0', 'q=0'], ['gzip;q=0.000, deflate', 'q=0.000'], ['identity', 'identity only'],
              [undef, 'no Accept-Encoding'], ['*;q=0', '*;q=0'], ['gzip;q=0, *', 'gzip;q=0 with *'],
              ['br', 'br only'])
{
    my ($ae, $what) = @$case;
    my ($st, $h, $b) = get('/text', defined $ae ? ('Accept-Encoding' => $ae) : ());
    is("$st " . ($h->{'content-encoding'} // '-') . ' ' . ($h->{'content-length'} // '-'),
       "200 - " . length $BODY{text}, "$what: not compressed, Content-Length kept");
    is($h->{vary}, 'Accept-Encoding', "$what: Vary");
    ok($b eq $BODY{text}, "$what: body as sent");
}
for my $ae ('*', 'x-gzip', 'GZIP;q=0.5', 'deflate, gzip;q=1.0') {
    my ($st, $h, $b) = get('/text', 'Accept-Encoding' => $ae);
    is("$st " . ($h->{'content-encoding'} // '-'), '200 gzip', "Accept-Encoding: $ae: compressed");
    ok(gunz($b) eq $BODY{text}, "Accept-Encoding: $ae: decompressed identical");
}

# not eligible: type, length, encoding, status, route
my @not = (['/text?type=image/png', 'type not listed', undef],
           ['/small', 'body under min_length with Content-Length', undef],
           ['/text?ce=br', 'already Content-Encoding', undef],
           ['/text?status=206', '206', undef],
           ['/text?status=500', '500', undef],
           ['/off/text', 'route without gzip', undef]);
for my $case (@not) {
    my ($path, $what, $vary) = @$case;
    my ($name) = $path =~ m{/(\w+)(\?|$)};
    my ($st, $h, $b) = get($path, @GZ);
    is($h->{'content-encoding'} // '-', $path =~ /ce=br/ ? 'br' : '-', "$what: not compressed");
    ok($b eq $BODY{$name}, "$what: body as sent");
    is($h->{vary}, $vary, "$what: Vary " . ($vary // 'absent'));
}
{
    # a short body of unknown length is compressed (its length is not known in advance)
    my ($st, $h, $b) = get('/small?cl=0', @GZ);
    is($h->{'content-encoding'} // '-', 'gzip', 'short chunked body: compressed');
    ok(gunz($b) eq $BODY{small}, 'short chunked body: decompressed identical');
}
for my $stc (204, 304) {
    my ($st, $h) = get("/text?status=$stc", @GZ);
    is("$st " . ($h->{'content-encoding'} // '-'), "$stc -", "$stc: no Content-Encoding");
}
{
    # HEAD: as nginx, the identity headers (Content-Length of the identity body)
    my $r = http_head($port, '/text', @GZ);
    my ($st, $h) = http_parse($r);
    is("$st " . ($h->{'content-encoding'} // '-') . ' ' . ($h->{'content-length'} // '-')
       . ' ' . ($h->{vary} // '-'), "200 - " . length($BODY{text}) . ' Accept-Encoding',
       'HEAD: not compressed, identity Content-Length, Vary as GET');
}

# Vary merged, ETag weakened
{
    my ($st, $h, $b) = get('/text?vary=Cookie', @GZ);
    is($h->{vary}, 'Cookie, Accept-Encoding', 'Vary merged with an existing one');
    ($st, $h) = get('/text?vary=accept-encoding', @GZ);
    is($h->{vary}, 'accept-encoding', 'Vary already naming Accept-Encoding: unchanged');
    ($st, $h) = get('/text?etag="v1"', @GZ);
    is($h->{etag}, 'W/"v1"', 'strong ETag weakened');
    ($st, $h) = get('/text?etag=W/"v2"', @GZ);
    is($h->{etag}, 'W/"v2"', 'weak ETag kept');
    ($st, $h) = get('/text?etag="v3"');
    is($h->{etag}, '"v3"', 'uncompressed: ETag untouched');
}

# HTTP/1.0: close-delimited compressed body
{
    my $r = http_raw($port, "GET /text HTTP/1.0\r\nAccept-Encoding: gzip\r\n\r\n", timeout => 10);
    my ($st, $h, $b) = http_parse($r);
    is("$st " . ($h->{'content-encoding'} // '-') . ' ' . ($h->{'transfer-encoding'} // '-')
       . ' ' . ($h->{'content-length'} // '-') . ' ' . ($h->{connection} // '-'),
       '200 gzip - - close', 'HTTP/1.0: gzip, close-delimited');
    ok(gunz($b) eq $BODY{text}, 'HTTP/1.0: decompressed identical');
}

# keep-alive: two compressed responses on one connection
{
    my @r = http_keepalive($port, [map { http_request('GET', '/text', @GZ) } 1 .. 2],
                           timeout => 10);
    is(scalar @r, 2, 'keep-alive: two responses');
    my $ok = grep { my ($st, $h, $b) = http_parse($_); gunz($b) eq $BODY{text} } @r;
    is($ok, 2, 'keep-alive: both decompress identical');
}

# return bodies are compressed
{
    (my $want = $retbody) =~ s/\\"/"/g;
    my ($st, $h, $b) = get('/ret', @GZ);
    is("$st " . ($h->{'content-encoding'} // '-'), '200 gzip', 'return body: compressed');
    is(gunz($b), $want, 'return body: decompressed identical');
}

# static files are sent as they are (sendfile; precompressed files: gzip_static)
{
    my ($st, $h, $b) = get('/html/page.html', 'Accept-Encoding' => 'gzip');
    is("$st " . ($h->{'content-encoding'} // '-'), '200 -', 'static file: not compressed');
    ok($b eq $BODY{text}, 'static file: bytes as on disk');
}

# gzip_static: FILE.gz as it is, for clients that accept gzip
{
    my ($st, $h, $b) = get('/gs/a.txt', 'Accept-Encoding' => 'gzip');
    is("$st " . ($h->{'content-encoding'} // '-') . ' ' . ($h->{'content-type'} // '-') . ' '
       . ($h->{'content-length'} // '-') . ' ' . ($h->{vary} // '-'),
       "200 gzip text/plain " . length($GS{'a.txt'}) . " Accept-Encoding",
       'gzip_static: a.txt.gz with the type of a.txt, its length, Vary');
    ok($b eq $GS{'a.txt'}, 'gzip_static: the exact bytes of a.txt.gz');
    for my $ae (undef, 'gzip;q=0', 'identity') {
        ($st, $h, $b) = get('/gs/a.txt', defined $ae ? ('Accept-Encoding' => $ae) : ());
        is("$st " . ($h->{'content-encoding'} // '-') . ' ' . ($h->{vary} // '-'),
           '200 - Accept-Encoding', 'gzip_static, Accept-Encoding ' . ($ae // 'absent')
           . ': the original, with Vary');
        ok($b eq "plain a.txt\n" x 50, 'gzip_static, Accept-Encoding ' . ($ae // 'absent')
           . ': its bytes');
    }
    for my $f ('b.txt', 'c.txt', 'd.txt') {
        ($st, $h, $b) = get("/gs/$f", 'Accept-Encoding' => 'gzip');
        is("$st " . ($h->{'content-encoding'} // '-'), '200 -',
           "gzip_static: $f (no usable $f.gz) sent as it is");
        ok($b eq "plain $f\n" x 50, "gzip_static: $f bytes");
    }
    ($st, $h, $b) = get('/gs/dir/', 'Accept-Encoding' => 'gzip');
    is("$st " . ($h->{'content-encoding'} // '-') . ' ' . ($h->{'content-type'} // '-'),
       '200 gzip text/html', 'gzip_static: index.html.gz for a directory');
    ok($b eq $GS{'dir/index.html'}, 'gzip_static: the exact bytes of index.html.gz');
    ($st, $h, $b) = get('/gs/a.txt', 'Accept-Encoding' => 'gzip', Range => 'bytes=0-9');
    is("$st " . ($h->{'content-encoding'} // '-') . ' ' . ($h->{'content-range'} // '-'),
       '206 gzip bytes 0-9/' . length($GS{'a.txt'}), 'gzip_static: a Range of the .gz bytes');
    ok($b eq substr($GS{'a.txt'}, 0, 10), 'gzip_static: the range bytes');
    ($st, $h) = http_parse(http_head($port, '/gs/a.txt', 'Accept-Encoding' => 'gzip'));
    is("$st " . ($h->{'content-encoding'} // '-') . ' ' . ($h->{'content-length'} // '-'),
       '200 gzip ' . length($GS{'a.txt'}), 'gzip_static: HEAD describes the .gz');
}

# memory: 50 concurrent compressed 1 MiB streams (each paused mid-body by the backend, so
# that every deflate state is alive and used at the same time), twice
my ($worker) = $p->worker_pids;
sub rss_kb { my $st = read_file("/proc/$worker/status") // '';
             my ($kb) = $st =~ /^VmRSS:\s+(\d+) kB/m; return $kb // 0; }
sub round
{
    my @s;
    for (1 .. 50) {
        my $s = http_connect($port, timeout => 5) or next;
        write_all($s, "GET /mib?pause=1.5 HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n"
                  . "Connection: close\r\n\r\n");
        push @s, $s;
    }
    sleep 1;                         # every stream half way, paused
    my $peak = rss_kb();
    my $ok = 0;
    for my $s (@s) {
        my $r = http_read_response($s, timeout => 30);
        my ($st, $h, $b) = http_parse($r);
        $ok++ if gunz($b) eq $BODY{mib};
        close $s;
    }
    return ($ok, $peak);
}
get('/mib', @GZ);
my $base = rss_kb();
# the first round may be served from fresh mappings and a later one from the heap the
# allocator keeps: every round stays under the bound, and the third adds nothing to the
# second (nothing kept per request)
my @peak;
for my $i (1 .. 3) {
    my ($ok, $peak) = round();
    push @peak, $peak;
    is($ok, 50, "round $i: 50 concurrent streams, all decompress identical");
    ok($peak - $base < 32 * 1024 + $QUARANTINE, "round $i: VmRSS grew by " . ($peak - $base)
       . " kB (< 32 MiB: 50 x 270 KiB of deflate state and buffers, the proxy's buffers;"
       . " a body kept whole would be over 50 MiB)");
}
# (a leak of per-stream state would add about 13 MiB a round; the allocator's own drift under
# a parallel test run has been seen at 3.5 MiB)
ok($peak[2] - $peak[1] < 6 * 1024 + $QUARANTINE, "round 3 peak within 6 MiB of round 2's ("
   . ($peak[2] - $peak[1]) . " kB)");

$p->check_logs;
$p->stop;

# -t: bad types and levels, FILE:LINE
{
    my $q = Portico->new(start => 0);
    $q->write_conf(<<'EOF2');
http = {
  gzip = {
    types = ["text/html", "texthtml", "text/"];
    level = 10;
  };
};
servers = ( { listen = ["127.0.0.1:%%PORT1%%"];
  routes = ( { match = { path_prefix = "/"; }; return = { status = 200; }; gzip = "yes"; } ); } );
EOF2
    my ($rc, $out) = $q->run_t('-t');
    my $f = $q->conf_file;
    is($rc, 1, '-t: bad gzip settings fail');
    like($out, qr{^\Q$f\E:@{[ $q->line_of(qr/level = 10/) ]}: http\.gzip\.level: must be between 1 and 9 \(got 10\)$}m,
         '-t: level out of range, at its line');
    like($out, qr{^\Q$f\E:@{[ $q->line_of(qr/gzip = "yes"/) ]}: servers\[0\]\.routes\[0\]\.gzip: expected true or false}m,
         '-t: route gzip must be a bool');
    $q->write_conf(<<'EOF2');
http = {
  gzip = {
    types = ["text/html", "texthtml", "text/"];
  };
};
servers = ( { listen = ["127.0.0.1:%%PORT1%%"];
  routes = ( { match = { path_prefix = "/"; }; return = { status = 200; }; gzip = true; } ); } );
EOF2
    ($rc, $out) = $q->run_t('-t');
    is($rc, 1, '-t: bad types fail');
    like($out, qr{^\Q$f\E:@{[ $q->line_of(qr/texthtml/) ]}: http\.gzip\.types: "texthtml" is not a media type}m,
         '-t: "texthtml" named at its line');
    like($out, qr{^\Q$f\E:@{[ $q->line_of(qr/texthtml/) ]}: http\.gzip\.types: "text/" is not a media type}m,
         '-t: "text/" named at its line');
}
done_testing();
