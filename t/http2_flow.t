#!/usr/bin/perl
# http2_flow.t: streams side by side on one HTTP/2 connection and flow control, as curl,
# nghttp, h2load and python3-h2 clients see it (docs/http.md, docs/settings.md): a slow
# stream holds up none of the fast ones (curl --parallel, nghttp timings, h2load -m50); a
# stream whose client window stays shut holds up only itself; streams the client cancels and
# a connection closed with streams in flight leave the connection and the worker serving;
# responses that do not wait for the request body (RST_STREAM NO_ERROR); 16 KiB client
# windows; 16 KiB stream / 64 KiB connection windows on the server (5 MB uploads with and
# without content-length, parallel uploads, a body sent before the client has our SETTINGS).

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Portico;
use PorticoBackend;
use PorticoH2;
use Digest::MD5 qw(md5_hex);
use Digest::SHA qw(sha256_hex);

skip_unless_module('http2', 'tls', 'return', 'static', 'proxy');
plan(skip_all => 'curl without HTTP/2 or no nghttp') unless h2_have_tools();

my %HAVE = (access => has_module('access'));
my $D = h2_tmpdir();
my $certs = h2_cert('a.test');
my $big = pattern_bytes(4 * 1024 * 1024 + 3);
my $five = pattern_bytes(5 * 1024 * 1024);

my $p = Portico->new(start => 0, files => { 'html/big.bin' => $big });
my $be = PorticoBackend->new(port => $p->port(9), id => 'up');
my ($P1, $P2) = map { $p->port($_) } 1 .. 2;
my $deny = $HAVE{access} ? '{ match = { path = "/deny"; }; access = ["deny all"];
        return = { status = 200; body = "no\n"; }; },' : '';
$p->write_conf(<<"EOF");
upstreams = ( { name = "app"; servers = ( { address = "127.0.0.1:%%PORT9%%"; } ); } );
servers = (
  { listen = ( { address = "127.0.0.1:%%PORT1%%"; tls = true; http2 = true; },
               { address = "127.0.0.1:%%PORT2%%"; http2 = true; } );
    tls = { certificate = "$certs/a.test.crt"; key = "$certs/a.test.key"; };
    routes = (
      { match = { path = "/r"; };
        return = { status = 200; body = "hi \$server_protocol \$request\\n"; }; },
      $deny
      { match = { path_prefix = "/p/"; }; proxy = { upstream = "app"; strip_prefix = true; }; },
      { match = { path_prefix = "/"; }; static = { root = "html"; }; }
    ); }
);
EOF
$p->start;

sub c2 { my ($path, @a) = @_; return h2_curl("http://127.0.0.1:$P2$path", '--http2-prior-knowledge', @a); }

my $r;

# ---- one connection, many streams: a slow one holds up none of the fast ones -----------------
{
    # curl multiplexes its parallel transfers on one TLS connection (with prior knowledge
    # curl 7.88 fails a reused connection: its bug #10634, so this one runs over ALPN h2)
    my @o = ('-sSk', '--http2', '--parallel', '--parallel-max', '50', '--max-time', '15', '-w',
             '%{url} %{http_version} %{http_code} %{num_connects} %{size_download} %{time_total}\n');
    my @urls = ("https://127.0.0.1:$P1/p/sleep?ms=1500",
                map { "https://127.0.0.1:$P1/p/bytes?n=" . (100000 + 977 * $_) } 1 .. 30);
    my ($rc, $out, $err) = Portico::run_cmd('curl', @o, map { ('-o', "$D/par$_", $urls[$_]) } 0 .. $#urls);
    my %res = map { my @f = split / /; ($f[0] => \@f) } split /\n/, $out;
    my ($slow, @fast) = map { $res{$_} || [] } @urls;
    is(scalar(grep { ($_->[1] // '') eq '2' && ($_->[2] // '') eq '200' } $slow, @fast), 31,
       'curl --parallel: 31 streams, all HTTP/2 200');
    my $connects = 0;
    $connects += $_->[3] // 1 for $slow, @fast;
    is($connects, 1, 'curl --parallel: one connection');
    my $bad = grep { read_file("$D/par$_") ne pattern_bytes(100000 + 977 * $_) } 1 .. 30;
    is($bad, 0, 'curl --parallel: every fast body intact');
    cmp_ok($slow->[5] // 0, '>=', 1.45, 'curl --parallel: the slow stream took its 1.5 s');
    my ($max) = sort { $b <=> $a } map { $_->[5] // 99 } @fast;
    cmp_ok($max, '<', 1.0, 'curl --parallel: every fast stream done within 1 s, before the slow one')
        or diag($out, $err);

    # nghttp's per-stream timings, over h2c
    my $n = h2_nghttp(['-n', '-s'], "http://127.0.0.1:$P2/p/sleep?ms=1500",
                      map { "http://127.0.0.1:$P2/p/bytes?n=200000&i=$_" } 1 .. 10);
    my @rows = $n->{out} =~ m{^\s*\d+\s+\+(\S+)\s+\+\S+\s+\S+\s+(\d{3})\s+(\S+)\s+(\S+)$}mg;
    my (%end, %ok);
    while (my ($t, $code, $size, $path) = splice(@rows, 0, 4)) {
        $t = $t =~ /^([\d.]+)(us|ms|s)$/ ? $1 / { us => 1e6, ms => 1e3, s => 1 }->{$2} : 99;
        $end{$path} = $t;
        # nghttp rounds sizes: 200000 bytes show as 195K
        $ok{$path} = $code == 200 && $size eq ($path =~ /sleep/ ? '2' : '195K');
    }
    is(scalar(grep { $_ } values %ok), 11, 'nghttp: 11 streams, all 200 with their sizes (as nghttp rounds them)')
        or diag($n->{out}, $n->{err});
    my @f = map { $end{"/p/bytes?n=200000&i=$_"} // 99 } 1 .. 10;
    ($max) = sort { $b <=> $a } @f;
    cmp_ok($end{'/p/sleep?ms=1500'} // 0, '>=', 1.45, 'nghttp: the slow stream ends after 1.5 s');
    cmp_ok($max, '<', 1.0, 'nghttp: every fast stream ended within 1 s');
}

SKIP: {
    # h2load: 100 requests, 50 streams at a time on one connection, half of them slow
    skip 'no h2load', 3 unless (Portico::run_cmd('h2load', '--version'))[0] == 0;
    my ($hrc, $hout, $herr) = Portico::run_cmd('h2load', '-n100', '-c1', '-m50',
        "http://127.0.0.1:$P2/p/sleep?ms=500", "http://127.0.0.1:$P2/p/bytes?n=100000");
    like($hout, qr/^requests: 100 total, 100 started, 100 done, 100 succeeded, 0 failed, 0 errored, 0 timeout$/m,
         'h2load -n100 -c1 -m50: every request succeeded');
    like($hout, qr/^status codes: 100 2xx, 0 3xx, 0 4xx, 0 5xx$/m, 'h2load: 100 2xx');
    like($hout, qr/^traffic: .* \(5000100\) data$/m, 'h2load: 50 x 100000 bytes + 50 x 2 bytes of bodies');
}

# ---- a stream whose client window stays shut holds up only itself ---------------------------
SKIP: {
    skip 'no python3-h2 under /usr/bin/python3', 4
        unless h2_python();
    for my $slow ('/p/bytes?n=' . length($five), '/big.bin') {
        my $x = h2_python('h2_stall.py', $P2, $slow, '/p/chunked?n=1000000') // {};
        my $want = $slow =~ /big/ ? $big : $five;
        is(join(' ', map { $_ // 'undef' } $x->{slow_before_fast}, $x->{fast}{status},
                $x->{fast}{length}, $x->{fast}{sha256}, $x->{slow_at_fast_end}),
           '65535 200 1000000 ' . sha256_hex(pattern_bytes(1000000)) . ' 65535',
           "$slow with its window shut: another stream asked for then ends, intact, meanwhile");
        is(join(' ', map { $_ // 'undef' } $x->{slow}{status}, $x->{slow}{length}, $x->{slow}{sha256}),
           '200 ' . length($want) . ' ' . sha256_hex($want),
           "$slow, its window opened afterwards: intact");
    }
}

# ---- streams the client gives up on: the connection goes on, the worker too ----------------------
SKIP: {
    skip 'no python3-h2 under /usr/bin/python3', 11
        unless h2_python();
    my @workers = $p->worker_pids;
    for my $case (['download', '/p/bytes?n=' . length $five], ['download', '/big.bin'],
                  ['upload', '/p/upload'], ['waiting', '/p/sleep?ms=700'])
    {
        my ($mode, $path) = @$case;
        my $x = h2_python('h2_cancel.py', $P2, $mode, '/r?after', $path) // {};
        is(($x->{after}{status} // 'none') . ' ' . ($x->{after}{body} // ''),
           "200 hi HTTP/2.0 GET /r?after HTTP/2.0\n", "$mode $path cancelled: the next stream on the connection 200");
    }
    my $x = h2_python('h2_cancel.py', $P2, 'close', '/r', '/p/bytes?n=' . length($five),
                      '/p/sleep?ms=700', '/big.bin', '/p/chunked?n=3000000') // {};
    is(scalar keys %{ $x->{streams} || {} }, 4, 'a connection closed with four streams in flight');
    sleep 1;       # the sleeping upstream answers a request whose client is gone
    is(join(',', $p->worker_pids), join(',', @workers), 'the same worker serves on');
    $r = c2('/r');
    h2_resp_ok($r, 200, "hi HTTP/2.0 GET /r HTTP/2.0\n", 'after the cancels and the close');
}

# ---- a request body the response does not wait for ---------------------------------------------
# The response ends the stream, then RST_STREAM NO_ERROR stops the upload (RFC 9113 8.1), and
# the connection goes on. (curl 7.88 takes that reset for a failed upload: python3-h2 here.)
SKIP: {
    skip 'no python3-h2 under /usr/bin/python3', 6
        unless h2_python();
    for my $case (['/r', 200, "hi HTTP/2.0 POST /r HTTP/2.0\n"], ['/deny', 403, qr/^403 Forbidden\n/]) {
        my ($path, $status, $body) = @$case;
        next if $path eq '/deny' && !$HAVE{access};
        my $x = h2_python('h2_request.py', '--body', 3_000_000, '--repeat', 2, $P2, 'POST', $path) // [];
        for my $i (0, 1) {
            my $y = $x->[$i] // {};
            is(($y->{status} // 'none') . ' ' . ($y->{reset} // 'no reset'), "$status 0",
               "POST 3 MB to $path, request $i on one connection: $status, then RST_STREAM NO_ERROR");
        }
        if (ref $body) {
            like($x->[1]{body} // '', $body, "POST 3 MB to $path: the body");
        } else {
            is($x->[1]{body}, $body, "POST 3 MB to $path: the body");
        }
    }
}

# ---- the client's small windows ------------------------------------------------------------
{
    # nghttp -w 14 -W 16: 16 KiB stream and 64 KiB connection windows on the client's side
    my $n = h2_nghttp(['-w', '14', '-W', '16'], "http://127.0.0.1:$P2/p/bytes?n=" . length $five);
    is(length $n->{out}, length $five, 'nghttp 16 KiB windows, 5 MiB over h2c: the length');
    is(md5_hex($n->{out}), md5_hex($five), 'nghttp 16 KiB windows, 5 MiB over h2c: md5');
    $n = h2_nghttp(['-w', '14', '-W', '16'], "https://127.0.0.1:$P1/big.bin");
    is(md5_hex($n->{out}), md5_hex($big), 'nghttp 16 KiB windows, static 4 MiB over TLS h2: md5');
}

# ---- the server's small windows: 16 KiB per stream, 64 KiB per connection ------------------
{
    my $w = Portico->new(start => 0);
    my $wb = PorticoBackend->new(port => $w->port(9), id => 'w');
    $w->write_conf(<<"EOF");
upstreams = ( { name = "app"; servers = ( { address = "127.0.0.1:%%PORT9%%"; } ); } );
servers = ( {
  listen = ( { address = "127.0.0.1:%%PORT1%%"; tls = true; http2 = true; },
             { address = "127.0.0.1:%%PORT2%%"; http2 = true; } );
  http2_initial_window_size = "16k";
  http2_connection_window_size = "64k";
  client_max_body_size = "64m";
  tls = { certificate = "$certs/a.test.crt"; key = "$certs/a.test.key"; };
  routes = ( { match = { path_prefix = "/p/"; }; proxy = { upstream = "app"; strip_prefix = true; }; } );
} );
EOF
    $w->start;
    my ($W1, $W2) = ($w->port(1), $w->port(2));
    my $up5 = pattern_bytes(5 * 1000 * 1000 + 7);
    write_file("$D/up5", $up5);
    for my $u ("http://127.0.0.1:$W2", "https://127.0.0.1:$W1") {
        my @h2 = $u =~ /^https/ ? ('-k', '--http2') : ('--http2-prior-knowledge');
        my $r = h2_curl("$u/p/upload", @h2, '--data-binary', "\@$D/up5");
        my $e = json_decode($r->{body}) // {};
        is("$r->{version} $r->{status} " . ($e->{length} // '') . ' ' . ($e->{sha256} // ''),
           "2 200 @{[ length $up5 ]} @{[ sha256_hex($up5) ]}",
           "16k/64k windows, $u: 5 MB upload with content-length intact");
        $r = h2_curl("$u/p/bytes?n=" . length $five, @h2);
        h2_resp_ok($r, 200, $five, "16k/64k windows, $u: 5 MiB download");
    }
    my ($rc, $out, $err) = Portico::run_cmd('sh', '-c',
        "exec curl -sS --max-time 15 --http2-prior-knowledge -T - http://127.0.0.1:$W2/p/upload < $D/up5");
    my $e = json_decode($out) // {};
    is(($e->{length} // '') . ' ' . ($e->{sha256} // ''), "@{[ length $up5 ]} @{[ sha256_hex($up5) ]}",
       '16k/64k windows: 5 MB upload without content-length (chunked upstream) intact');

    # four uploads at once share the 64 KiB connection window
    # (--data-binary is not per URL: each upload is a --next group of its own)
    my @o = ('-sSk', '--http2', '--max-time', '15', '-w', '%{num_connects} ');
    my @parts = map { pattern_bytes(2_000_000 + $_ * 13) } 1 .. 4;
    write_file("$D/part$_", $parts[$_ - 1]) for 1 .. 4;
    ($rc, $out, $err) = Portico::run_cmd('curl', '--parallel', map {
        ($_ > 1 ? '--next' : (), @o, '--data-binary', "\@$D/part$_", '-o', "$D/partres$_",
         "https://127.0.0.1:$W1/p/upload?$_")
    } 1 .. 4);
    my $c = 0;
    $c += $_ for split ' ', $out;
    is($c, 1, '16k/64k windows: four parallel uploads on one connection');
    for my $i (1 .. 4) {
        $e = json_decode(read_file("$D/partres$i")) // {};
        is(($e->{length} // '') . ' ' . ($e->{sha256} // ''),
           length($parts[$i - 1]) . ' ' . sha256_hex($parts[$i - 1]),
           "16k/64k windows: parallel upload $i intact");
    }
    # a body sent before the client has our SETTINGS fills the default 65535-byte window,
    # not our 16 KiB one: taken whole, not reset
  SKIP: {
        skip 'no python3-h2 under /usr/bin/python3', 2
            unless h2_python();
        my $x = h2_python('h2_early_body.py', $W2, 65535, '/p/upload') // {};
        is(($x->{status} // 'none') . ' ' . ($x->{reset} // 'no reset'), '200 no reset',
           '16k/64k windows: 65535 body bytes sent before our SETTINGS: 200, no RST_STREAM');
        $e = json_decode($x->{body}) // {};
        is(($e->{length} // '') . ' ' . ($e->{sha256} // ''), "65535 " . ($x->{sha256} // '?'),
           '16k/64k windows: the early body intact upstream');
    }
    my $n = h2_nghttp(['-w', '14', '-W', '16'], "http://127.0.0.1:$W2/p/bytes?n=" . length $five);
    is(md5_hex($n->{out}), md5_hex($five), '16k/64k windows on both sides (nghttp -w 14 -W 16): 5 MiB intact');
    $w->stop;
    $wb->stop;
}

done_testing();
