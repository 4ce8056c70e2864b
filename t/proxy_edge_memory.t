#!/usr/bin/perl
# proxy_edge_memory.t: memory stays bounded while large bodies stream through the proxy
# (docs/http.md): a 256 MiB
# download to a client that reads slowly and a 256 MiB upload to a backend that reads
# slowly each grow the worker's VmRSS by less than 16 MiB, and the bytes arrive intact
# (SHA-256 compared).

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Portico;
use PorticoBackend;
use Digest::SHA;
use Time::HiRes qw(sleep time);

skip_unless_module('proxy');

my $TOTAL = 256 << 20;
my $UNIT = pattern_bytes(251 * 4177);    # ~1 MiB, a whole number of pattern periods

# Calls $cb->($bytes) with the first $n bytes of the pattern, ~1 MiB at a time.
sub each_part
{
    my ($n, $cb) = @_;
    while ($n > 0) {
        my $part = $n >= length $UNIT ? $UNIT : substr($UNIT, 0, $n);
        $n -= length $part;
        return 0 unless $cb->($part);
    }
    return 1;
}

my $p = Portico->new(start => 0);

# /down?n=N: N pattern bytes with Content-Length, written as fast as the proxy takes them.
# /up: reads the body slowly (about 1 MiB per 15 ms), answers "SHA256 LENGTH".
my $raw = PorticoBackend->raw(port => $p->port(2), handler => sub {
    my ($c, $head, $rest) = @_;
    if ($head =~ m{^GET /down\?n=(\d+)}) {
        my $n = $1;
        write_all($c, "HTTP/1.1 200 OK\r\nContent-Length: $n\r\nConnection: close\r\n\r\n");
        each_part($n, sub { write_all($c, $_[0]) });
        return;
    }
    my ($len) = $head =~ /^Content-Length:\s*(\d+)/mi;
    $len ||= 0;
    my $sha = Digest::SHA->new(256);
    $sha->add($rest);
    my $got = length $rest;
    my $since = 0;
    while ($got < $len) {
        my $n = sysread($c, my $buf, 65536);
        last unless $n;
        $sha->add($buf);
        $got += $n;
        $since += $n;
        if ($since >= (1 << 20)) {
            $since = 0;
            sleep 0.015;
        }
    }
    my $res = $sha->hexdigest . " $got";
    write_all($c, "HTTP/1.1 200 OK\r\nContent-Length: " . length($res)
           . "\r\nConnection: close\r\n\r\n$res");
});

$p->write_conf(<<'EOF');
http = { client_max_body_size = 0; };
upstreams = ( { name = "raw"; retries = 0; read_timeout = "60s"; send_timeout = "60s";
                servers = ( { address = "127.0.0.1:%%PORT2%%"; } ); } );
servers = ( { listen = ["127.0.0.1:%%PORT1%%"];
              routes = ( { match = { path_prefix = "/"; }; proxy = { upstream = "raw"; }; } ); } );
EOF
$p->start;
my $port = $p->port(1);
my $worker;
wait_until(sub { ($worker) = $p->worker_pids; $worker }, 5);

sub rss_kb
{
    my $st = read_file("/proc/$worker/status") // '';
    my ($kb) = $st =~ /^VmRSS:\s+(\d+) kB/m;
    return $kb // 0;
}

my $want = Digest::SHA->new(256);
each_part($TOTAL, sub { $want->add($_[0]); 1 });
$want = $want->hexdigest;

# Streams $n bytes of the pattern as a POST /up body on a fresh connection; returns the
# response, sampling the worker's RSS into $$max.
sub upload
{
    my ($n, $max) = @_;
    my $s = http_connect($port, timeout => 5) or return '';
    write_all($s, "POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: $n\r\nConnection: close\r\n\r\n");
    my $i = 0;
    each_part($n, sub {
        $$max = rss_kb() if $max && $i++ % 8 == 0 && rss_kb() > $$max;
        write_all($s, $_[0]);
    });
    my $r = http_read_response($s, timeout => 60);
    close $s;
    return $r;
}

# Downloads /down?n=N reading slowly; returns (status, sha256 of the body, length).
sub download
{
    my ($n, $max) = @_;
    my $s = http_connect($port, timeout => 5) or return (0, '', 0);
    write_all($s, "GET /down?n=$n HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    my ($buf, $status, $got, $since) = ('', 0, 0, 0);
    my $sha = Digest::SHA->new(256);
    my $deadline = time + 120;
    my $i = 0;
    while (time < $deadline) {
        my $k = sysread($s, my $chunk, 65536);
        last unless $k;
        if (!$status) {
            $buf .= $chunk;
            my $e = index($buf, "\r\n\r\n");
            next if $e < 0;
            ($status) = $buf =~ m{^HTTP/1\.1 (\d+)};
            $chunk = substr($buf, $e + 4);
        }
        $sha->add($chunk);
        $got += length $chunk;
        $since += length $chunk;
        if ($since >= (1 << 20)) {
            $since = 0;
            $$max = rss_kb() if $max && $i++ % 8 == 0 && rss_kb() > $$max;
            sleep 0.01;
        }
    }
    close $s;
    return ($status, $sha->hexdigest, $got);
}

# warm up both directions, then take the baseline
my ($st) = download(1 << 20);
is($st, 200, 'warm-up download');
like(upload(1 << 20), qr{^HTTP/1\.1 200 }, 'warm-up upload');
my $base = rss_kb();
ok($base > 0, "worker $worker VmRSS readable ($base kB)");

my $max = $base;
my ($sha, $len);
($st, $sha, $len) = download($TOTAL, \$max);
is("$st $len", "200 $TOTAL", '256 MiB download: complete');
is($sha, $want, '256 MiB download: bytes intact (sha256)');
ok($max - $base < 16 * 1024, "download: VmRSS grew by " . ($max - $base) . " kB (< 16 MiB)");

$base = rss_kb();
$max = $base;
my $r = upload($TOTAL, \$max);
my ($got) = $r =~ /\r\n\r\n(.*)\z/s;
is($got // '', "$want $TOTAL", '256 MiB upload to a slow backend: bytes intact (sha256)');
ok($max - $base < 16 * 1024, "upload: VmRSS grew by " . ($max - $base) . " kB (< 16 MiB)");
is(join(',', $p->worker_pids), $worker, 'the same worker served everything');

$p->stop;
done_testing();
