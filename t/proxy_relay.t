#!/usr/bin/perl
# proxy_relay.t: how a proxied response body is relayed (issue 14). A body that fits the
# 16 KiB response head buffer goes out from it, with no relay buffer; a longer one takes a
# 64 KiB relay buffer; both come from per-worker caches of mapped buffers whose counters the
# status module shows (buffers_taken / buffers_in_use / buffers_mapped_bytes per cache), and
# the buffers a burst left unused are unmapped within seconds. Exact bytes at the edges: an
# empty body, a body exactly filling the head buffer with its head, one byte more, a body
# arriving in pieces, chunked bodies split across reads (small, and large enough to move to
# the relay buffer), close-delimited, HEAD, 304, pipelined keep-alive responses, 1 MiB; and
# the same bodies through gzip and the cache, still exact.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Portico;
use PorticoBackend;
use JSON::PP;
use Digest::SHA qw(sha256_hex);
use IO::Uncompress::Gunzip qw(gunzip $GunzipError);
use Time::HiRes qw(sleep time);

skip_unless_module('proxy', 'status');
my $HAVE_GZIP = has_module('gzip');
my $HAVE_CACHE = has_module('cache');

my $HBUF = 16384;       # PCO_PROXY_BUF_SIZE: the response head buffer
my $OBUF = 65536;       # PCO_PROXY_OBUF_SIZE: a relay buffer

sub pat
{
    my ($n, $seed) = @_;
    my $unit = join('', map { chr(97 + ($_ * 7 + ($seed // 0)) % 26) } 0 .. 250) . "\n";
    my $s = $unit x (int($n / length $unit) + 1);
    return substr($s, 0, $n);
}

sub head_of
{
    my ($len, %o) = @_;
    my $h = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n";
    $h .= "Cache-Control: max-age=600\r\n" if $o{cache};
    return $h . "Content-Length: $len\r\n\r\n";
}

# the body that, with its head (5-digit length), exactly fills the head buffer
my $FILL = $HBUF - length(head_of(10000));
my $BIG = 1 << 20;
my $SLOW = 200000;

sub chunk { my ($d) = @_; return sprintf("%x\r\n", length $d) . $d . "\r\n"; }

# Each entry: [pieces written 0.1 s apart (\N: a pause of N s instead), keep the connection].
my %script = (
    '/small'  => sub { [[head_of(128, @_) . pat(128, 1)]] },
    '/empty'  => sub { [[head_of(0)]] },
    '/fill'   => sub { [[head_of($FILL) . pat($FILL, 2)]] },
    '/fill1'  => sub { [[head_of($FILL + 1) . pat($FILL + 1, 3)]] },
    '/pieces' => sub { my $b = pat(5000, 4);
                       [[head_of(5000) . substr($b, 0, 10), substr($b, 10, 2000),
                         substr($b, 2010)]] },
    '/chunked' => sub {
        [["HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
          . "5\r\nhel", "lo\r\n1", "0\r\n" . pat(16, 5) . "\r", "\n3;x=y\r\nabc\r\n0\r\n",
          "\r\n"]] },
    '/chunkbig' => sub {
        my $body = '';
        $body .= chunk(pat(7000, $_)) for 1 .. 30;
        [["HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
          . substr($body, 0, 30000), substr($body, 30000) . "0\r\n\r\n"]] },
    '/closed' => sub { [["HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n"
                         . "abc", "defg"], 0] },
    '/304'    => sub { [["HTTP/1.1 304 Not Modified\r\nETag: \"e\"\r\n\r\n"]] },
    '/big'    => sub { [[head_of($BIG) . pat($BIG, 6)]] },
    '/slow'   => sub { my $b = pat($SLOW, 7);
                       [[head_of($SLOW) . substr($b, 0, 100), \3, substr($b, 100)]] },
);
$script{'/gz' . $_} = $script{$_} for keys %script;
$script{'/c' . $_} = sub { [[head_of(128, cache => 1) . pat(128, 1)]] } for ('/small');

my %want = (
    '/small' => pat(128, 1), '/empty' => '', '/fill' => pat($FILL, 2),
    '/fill1' => pat($FILL + 1, 3), '/pieces' => pat(5000, 4),
    '/chunked' => 'hello' . pat(16, 5) . 'abc',
    '/chunkbig' => join('', map { pat(7000, $_) } 1 .. 30),
    '/closed' => 'abcdefg', '/big' => pat($BIG, 6), '/slow' => pat($SLOW, 7),
);

my $p = Portico->new(start => 0);
my $raw = PorticoBackend->raw(port => $p->port(2), backlog => 256, handler => sub {
    my ($c, $head, $rest) = @_;
    while (1) {
        my ($m, $path) = $head =~ m{^(\S+) (/[^? ]*)};
        my $s = $script{$path // ''} or return;
        my ($pieces, $keep) = @{ $s->() };
        $keep //= 1;
        if ($m eq 'HEAD') {
            my $h = $pieces->[0];
            $pieces = [substr($h, 0, index($h, "\r\n\r\n") + 4)];
        }
        for my $i (0 .. $#$pieces) {
            my $piece = $pieces->[$i];
            if (ref $piece) {       # \N: a pause of N seconds
                sleep $$piece;
                next;
            }
            sleep 0.1 if $i > 0;
            write_all($c, $piece);
        }
        return unless $keep;
        while (index($rest, "\r\n\r\n") < 0) {
            my $n = sysread($c, my $buf, 65536);
            return unless $n;
            $rest .= $buf;
        }
        my $i = index($rest, "\r\n\r\n");
        $head = substr($rest, 0, $i);
        $rest = substr($rest, $i + 4);
    }
});

my $gz_http = $HAVE_GZIP
    ? 'gzip = { types = ["text/plain"]; level = 1; min_length = 1; };' : '';
my $gz_route = $HAVE_GZIP
    ? '{ match = { path_prefix = "/gz/"; }; proxy = { upstream = "raw"; }; gzip = true; },'
    : '';
my $cache_top = $HAVE_CACHE ? 'caches = ( { name = "z"; path = "cache/z"; } );' : '';
my $cache_route = $HAVE_CACHE
    ? '{ match = { path_prefix = "/c/"; }; proxy = { upstream = "raw"; };'
      . ' cache = { zone = "z"; }; },' : '';
$p->write_conf(<<"EOF");
worker_processes = 1;
http = { $gz_http };
$cache_top
upstreams = ( { name = "raw"; retries = 0; keepalive = 16; read_timeout = "10s";
                servers = ( { address = "127.0.0.1:%%PORT2%%"; } ); } );
servers = ( { listen = ["127.0.0.1:%%PORT1%%"];
  routes = (
    { match = { path = "/st"; }; status = { format = "json"; }; },
    $gz_route
    $cache_route
    { match = { path_prefix = "/"; }; proxy = { upstream = "raw"; }; }
  ); } );
EOF
$p->start;
my $port = $p->port(1);

# the status counters: { taken => { cache => n }, in_use => ..., mapped => ... }
sub bufs
{
    my ($s, undef, $b) = http_parse(http_get($port, '/st', -timeout => 5));
    return undef unless ($s // 0) == 200;
    my $j = eval { decode_json($b) } or return undef;
    return { taken => $j->{buffers_taken}, in_use => $j->{buffers_in_use},
             mapped => $j->{buffers_mapped_bytes} };
}

sub body_is
{
    my ($got, $want, $name) = @_;
    return is($got, $want, $name) if length($want) <= 200 && length($got // '') <= 200;
    ok(defined $got && $got eq $want, $name)
        or diag(sprintf('got %d bytes (%s), want %d bytes (%s)', length($got // ''),
                        sha256_hex($got // ''), length $want, sha256_hex($want)));
}

# ---- 1. exact bytes, and which took a relay buffer ------------------------------------------
my %relay = (
    '/small' => 0, '/empty' => 0, '/fill' => 0, '/fill1' => 0, '/pieces' => 0,
    '/chunked' => 0, '/closed' => 0, '/big' => 1, '/slow' => 1,
);
for my $path (sort keys %want) {
    my $before = bufs();
    my ($s, $h, $b) = http_parse(http_get($port, $path, -timeout => 10));
    is($s, 200, "$path: 200");
    body_is($b, $want{$path}, "$path: exact body (" . length($want{$path}) . " bytes)");
    is($h->{'content-length'}, length $want{$path}, "$path: Content-Length")
        unless $path =~ /chunk|closed/;
    my $after = bufs();
    is($after->{taken}{proxy_head} - $before->{taken}{proxy_head}, 1,
       "$path: one head buffer taken");
    next unless exists $relay{$path};
    is($after->{taken}{proxy_relay} - $before->{taken}{proxy_relay}, $relay{$path},
       "$path: " . ($relay{$path} ? 'a relay buffer taken' : 'no relay buffer taken'));
}

# ---- 2. HEAD and 304: no body, no relay buffer ---------------------------------------------
{
    my $before = bufs();
    my $r = http_raw($port, http_request('HEAD', '/big', Connection => 'close'), timeout => 5);
    like($r, qr{^HTTP/1.1 200 OK\r\n}, 'HEAD: 200');
    like($r, qr{\r\nContent-Length: $BIG\r\n}, 'HEAD: the upstream Content-Length');
    like($r, qr{\r\n\r\n\z}, 'HEAD: no body bytes');
    $r = http_raw($port, http_request('GET', '/304', Connection => 'close'), timeout => 5);
    like($r, qr{^HTTP/1.1 304 Not Modified\r\n}, '304 passed on');
    like($r, qr{\r\nETag: "e"\r\n}, '304: ETag kept');
    like($r, qr{\r\n\r\n\z}, '304: no body bytes');
    unlike($r, qr{Content-Length|Transfer-Encoding}i, '304: no framing headers');
    my $after = bufs();
    is($after->{taken}{proxy_relay} - $before->{taken}{proxy_relay}, 0,
       'HEAD and 304: no relay buffer');
}

# ---- 3. pipelined keep-alive responses, in order, exact ------------------------------------
{
    my @paths = ('/small', '/chunked', '/fill1', '/empty', '/pieces', '/big', '/small');
    my @res = http_pipeline($port, [map { http_request('GET', $_) } @paths], timeout => 10);
    is(scalar @res, scalar @paths, 'pipelined: every response');
    for my $i (0 .. $#paths) {
        my ($s, undef, $b) = http_parse($res[$i] // '');
        is($s, 200, "pipelined $i ($paths[$i]): 200");
        body_is($b, $want{ $paths[$i] }, "pipelined $i ($paths[$i]): exact body");
    }
}

# ---- 4. gzip and the cache see every byte --------------------------------------------------
SKIP: {
    skip 'no gzip module', 2 * 9 unless $HAVE_GZIP;
    for my $path (sort grep { $_ ne '/slow' } keys %want) {
        my ($s, $h, $b) = http_parse(http_get($port, "/gz$path", 'Accept-Encoding' => 'gzip',
                                              -timeout => 10));
        my $out;
        if (($h->{'content-encoding'} // '') eq 'gzip') {
            gunzip(\$b => \$out) or $out = "gunzip: $GunzipError";
        } else {
            $out = $b;      # too short to compress
        }
        is($s, 200, "gzip $path: 200");
        body_is($out, $want{$path}, "gzip $path: decompresses to the exact body");
    }
}
SKIP: {
    skip 'no cache module', 4 unless $HAVE_CACHE;
    my ($s, $h, $b) = http_parse(http_get($port, '/c/small', -timeout => 5));
    body_is($b, pat(128, 1), 'cache: the first response exact');
    my $ok = wait_until(sub {
        ($s, $h, $b) = http_parse(http_get($port, '/c/small', -timeout => 5));
        ($h->{'x-cache-status'} // '') eq 'HIT';
    }, 5);
    ok($ok, 'cache: stored from the head buffer, then a hit');
    body_is($b, pat(128, 1), 'cache: the hit exact');
    is($h->{'content-length'}, 128, 'cache: the hit\'s Content-Length');
}

# ---- 5. a burst: relay buffers in use, then unmapped once unused ---------------------------
{
    my $N = 80;
    my @c;
    for (1 .. $N) {
        my $s = http_connect($port) or last;
        http_send($s, http_request('GET', '/slow', Connection => 'close'));
        push @c, $s;
    }
    is(scalar @c, $N, "burst: $N clients");
    my $peak;
    my $held = wait_until(sub { $peak = bufs(); ($peak->{in_use}{proxy_relay} // 0) == $N }, 10);
    ok($held, "burst: $N relay buffers in use at once")
        or diag("in use: " . ($peak->{in_use}{proxy_relay} // 'none'));
    cmp_ok($peak->{mapped}{proxy_relay}, '>=', $N * $OBUF, 'burst: their bytes mapped');
    my $good = 0;
    for my $s (@c) {
        my $r = http_read_response($s, timeout => 15);
        my ($st, undef, $b) = http_parse($r);
        $good++ if ($st // 0) == 200 && $b eq $want{'/slow'};
        close $s;
    }
    is($good, $N, 'burst: every body exact');
    my $end;
    my $back = wait_until(sub {
        $end = bufs();
        ($end->{mapped}{proxy_relay} // -1) <= 4 * $OBUF
            && ($end->{mapped}{proxy_head} // -1) <= 16 * $HBUF;
    }, 8);
    ok($back, 'after the burst: the unused buffers are unmapped (down to the low-water marks)')
        or diag("mapped: relay $end->{mapped}{proxy_relay}, head $end->{mapped}{proxy_head}");
    is($end->{in_use}{proxy_relay}, 0, 'after the burst: no relay buffer in use');
    is($end->{in_use}{proxy_head}, 0, 'after the burst: no head buffer in use');
    my ($s, undef, $b) = http_parse(http_get($port, '/big', -timeout => 10));
    body_is($b, $want{'/big'}, 'after the trim: a 1 MiB body still exact');
}

$p->stop;
$p->check_logs;
done_testing();
