#!/usr/bin/perl
# http2.t: HTTP/2 towards clients as curl and nghttp see it (docs/http.md, docs/settings.md):
# ALPN h2 on `tls = true; http2 = true;` listeners and HTTP/1.1 beside it, HTTP/1.1 for
# h2-offering clients of TLS listeners without http2 (an h2-only client fails its handshake);
# h2c with prior knowledge on plain http2 listeners and HTTP/1.1 on the same port, `Upgrade:
# h2c` answered as HTTP/1.1 and not forwarded, the preface on a plain listener without http2
# (505); every route action over h2 with exact statuses, headers and bytes (return, static,
# proxy with its bodies and failures, access, auth_basic, rate_limit, conn_limit, headers,
# realip, cache, gzip; cookie crumbs), the access log ($server_protocol, $request), the 421
# rule per stream; and the -t errors of the http2 settings. Streams side by side and flow
# control are in http2_flow.t, frame-level defences in http2_defences.t.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Portico;
use PorticoBackend;
use PorticoH2;
use Digest::MD5 qw(md5_hex);
use Digest::SHA qw(sha256_hex);
use IO::Compress::Gzip qw(gzip);
use IO::Uncompress::Gunzip qw(gunzip);
use Time::HiRes qw(time);

skip_unless_module('http2', 'tls', 'return', 'static', 'proxy', 'access_log');
plan(skip_all => 'curl without HTTP/2 or no nghttp') unless h2_have_tools();

my %HAVE = map { $_ => has_module($_) }
    qw(access auth_basic rate_limit conn_limit headers realip cache gzip);

# $text when module $m is built, '' otherwise
sub with { my ($m, $text) = @_; return $HAVE{$m} ? $text : ''; }

my $D = h2_tmpdir();
my $certs = h2_cert('a.test');
h2_cert('b.test');

my $big = join('', map { pack('N', $_ * 2654435761 % 4294967296) } 0 .. (1 << 20) - 1);
my $gs_text = "gzip_static page\n" x 40;
my $gs_gz;
gzip(\$gs_text => \$gs_gz) or die 'gzip failed';
my $gz_body = "a body long enough for gzip to take it. " x 20;

my $htpasswd = '';
{
    my ($rc, $out) = Portico::run_cmd('openssl', 'passwd', '-apr1', 'h2secret');
    chomp $out;
    BAIL_OUT('openssl passwd failed') unless $rc == 0 && $out =~ /^\$apr1\$/;
    $htpasswd = "ann:$out\n";
}

my $p = Portico->new(start => 0, files => {
    'html/small.txt' => "small file\n", 'html/big.bin' => $big,
    'html/gs/page.txt' => $gs_text, 'html/gs/page.txt.gz' => $gs_gz,
    'conf/htpasswd' => $htpasswd });
my $be = PorticoBackend->new(port => $p->port(9), id => 'up');
my ($P1, $P2, $P3, $P4) = map { $p->port($_) } 1 .. 4;

my $conf = <<"EOF";
http = {
  log_formats = ( { name = "h2"; format = "\$server_protocol \\"\$request\\" \$status \$body_bytes_sent"; } );
  access_log = { path = "logs/access.log"; format = "h2"; };
  @{[ with('realip', 'real_ip = { from = ["127.0.0.1"]; header = "X-Real-IP"; };') ]}
  @{[ with('gzip', 'gzip = { types = ["text/plain"]; min_length = 256; };') ]}
};
upstreams = (
  { name = "app"; servers = ( { address = "127.0.0.1:%%PORT9%%"; } ); },
  { name = "slow"; retries = 0; read_timeout = "1s";
    servers = ( { address = "127.0.0.1:%%PORT9%%"; } ); },
  { name = "dead"; retries = 0; servers = ( { address = "127.0.0.1:%%PORT8%%"; } ); }
);
@{[ with('rate_limit', 'rate_limits = ( { name = "one"; key = "$http_x_key"; rate = "1r/m"; } );') ]}
@{[ with('conn_limit', 'conn_limits = ( { name = "cl"; key = "$remote_addr"; max = 1; } );') ]}
@{[ with('cache', 'caches = ( { name = "main"; path = "cache/main"; } );') ]}
servers = (
  { listen = ( { address = "127.0.0.1:%%PORT1%%"; tls = true; http2 = true; },
               { address = "127.0.0.1:%%PORT2%%"; http2 = true; } );
    names = ["a.test"];
    client_max_body_size = "64m";
    tls = { certificate = "$certs/a.test.crt"; key = "$certs/a.test.key"; };
    routes = (
      { match = { path = "/r"; };
        return = { status = 200; body = "hi \$server_protocol \$request\\n"; }; },
      { match = { path = "/204"; }; return = { status = 204; }; },
      { match = { path = "/redir"; }; return = { status = 301; location = "/r"; }; },
@{[ with('headers', <<'R') ]}
      { match = { path = "/hdr"; };
        response_headers = ( { name = "X-Set"; value = "v $request_method"; },
                             { name = "Content-Type"; value = "text/x-h2"; } );
        return = { status = 200; body = "hdr\n"; }; },
      { match = { path_prefix = "/ph/"; };
        response_headers = ( { name = "X-Backend-Id"; value = ""; },
                             { name = "X-Set"; value = "1"; } );
        proxy = { upstream = "app"; strip_prefix = true; }; },
R
@{[ with('access', <<'R') ]}
      { match = { path = "/deny"; }; access = ["deny all"];
        return = { status = 200; body = "no\n"; }; },
R
@{[ with('auth_basic', <<'R') ]}
      { match = { path_prefix = "/admin/"; };
        auth_basic = { realm = "h2 area"; users = "conf/htpasswd"; };
        return = { status = 200; body = "admin $remote_user\n"; }; },
R
@{[ with('rate_limit', <<'R') ]}
      { match = { path = "/limited"; }; rate_limit = "one";
        return = { status = 200; body = "limited\n"; }; },
R
@{[ with('conn_limit', <<'R') ]}
      { match = { path_prefix = "/cl/"; }; conn_limit = "cl";
        proxy = { upstream = "app"; strip_prefix = true; }; },
R
@{[ with('cache', <<'R') ]}
      { match = { path_prefix = "/c/"; }; proxy = { upstream = "app"; strip_prefix = true; };
        cache = { zone = "main"; valid = ( { status = [200]; time = "10m"; } ); }; },
R
@{[ with('gzip', <<"R") ]}
      { match = { path = "/gz"; }; return = { status = 200; body = "$gz_body"; }; gzip = true; },
R
      { match = { path = "/ip"; }; return = { status = 200; body = "\$remote_addr\\n"; }; },
      { match = { path = "/cookie"; }; return = { status = 200; body = "[\$http_cookie]\\n"; }; },
      { match = { path_prefix = "/p504/"; }; proxy = { upstream = "slow"; strip_prefix = true; }; },
      { match = { path_prefix = "/p502/"; }; proxy = { upstream = "dead"; strip_prefix = true; }; },
      { match = { path_prefix = "/p/"; }; proxy = { upstream = "app"; strip_prefix = true; }; },
      { match = { path_prefix = "/gs/"; }; static = { root = "html"; gzip_static = true; }; },
      { match = { path_prefix = "/"; }; static = { root = "html"; }; }
    ); },
  { listen = ( { address = "127.0.0.1:%%PORT1%%"; tls = true; http2 = true; } );
    names = ["b.test"];
    tls = { certificate = "$certs/b.test.crt"; key = "$certs/b.test.key"; protocols = ["TLSv1.3"]; };
    routes = ( { match = { path_prefix = "/"; };
                 return = { status = 200; body = "b \$server_protocol\\n"; }; } ); },
  { listen = ( { address = "127.0.0.1:%%PORT3%%"; tls = true; },
               { address = "127.0.0.1:%%PORT4%%"; } );
    tls = { certificate = "$certs/a.test.crt"; key = "$certs/a.test.key"; };
    routes = ( { match = { path_prefix = "/"; };
                 return = { status = 200; body = "h1 \$server_protocol\\n"; }; } ); }
);
EOF
$p->write_conf($conf);
$p->start;

# h2 with prior knowledge on the plain http2 port; h2 by ALPN on the TLS one
sub c2 { my ($path, @a) = @_; return h2_curl("http://127.0.0.1:$P2$path", '--http2-prior-knowledge', @a); }
sub t2 { my ($path, @a) = @_; return h2_curl("https://127.0.0.1:$P1$path", '-k', '--http2', @a); }

# ---- ALPN ------------------------------------------------------------------------------------
my $r = t2('/r');
h2_resp_ok($r, 200, "hi HTTP/2.0 GET /r HTTP/2.0\n", 'ALPN h2');
is(join(',', @{ $r->{names} }), 'server,date,content-type,content-length,x-request-id',
   'ALPN h2: the header names, in order');
is($r->{headers}{'content-length'}, 28, 'ALPN h2: content-length');
is($r->{headers}{'content-type'}, 'text/plain; charset=utf-8', 'ALPN h2: content-type');
$r = h2_curl("https://127.0.0.1:$P1/r", '-k', '--http1.1');
h2_resp_ok($r, 200, "hi HTTP/1.1 GET /r HTTP/1.1\n", 'http2 TLS listener, --http1.1', '1.1');
$r = h2_curl("https://127.0.0.1:$P3/r", '-k', '--http2');
h2_resp_ok($r, 200, "h1 HTTP/1.1\n", 'TLS listener without http2, curl --http2', '1.1');

my $n = h2_nghttp([], "https://127.0.0.1:$P3/r");
is($n->{out}, '', 'nghttp (h2 only) to a TLS listener without http2: no response');
like($n->{err}, qr/^Some requests were not processed\. total=1, processed=0$/m,
     'nghttp (h2 only) to a TLS listener without http2: not processed');
{
    my ($rc, $out, $err) = Portico::run_cmd(
        'sh', '-c', "exec openssl s_client -connect 127.0.0.1:$P3 -alpn h2 </dev/null");
    like($err, qr/alert no application protocol/, 'ALPN h2 only, no http2: "no application protocol" alert');
    ($rc, $out, $err) = Portico::run_cmd(
        'sh', '-c', "exec openssl s_client -connect 127.0.0.1:$P1 -alpn h2 </dev/null");
    like($out, qr/^ALPN protocol: h2$/m, 'ALPN h2 only, http2 listener: h2 selected');
    ($rc, $out, $err) = Portico::run_cmd(
        'sh', '-c', "exec openssl s_client -connect 127.0.0.1:$P1 -alpn http/1.1,h2 </dev/null");
    like($out, qr/^ALPN protocol: h2$/m, 'ALPN, the client preferring http/1.1: the server picks h2 first');
}
ok($p->wait_for(sub { ($p->error_log // '') =~ /\[info\] .*TLS handshake failed \(no application protocol\), client: 127\.0\.0\.1, server: / }, 3),
   'the failed handshake is logged at info');

# ---- h2c -------------------------------------------------------------------------------------
$r = c2('/r');
h2_resp_ok($r, 200, "hi HTTP/2.0 GET /r HTTP/2.0\n", 'h2c prior knowledge');
$n = h2_nghttp([], "http://127.0.0.1:$P2/r");
is($n->{out}, "hi HTTP/2.0 GET /r HTTP/2.0\n", 'nghttp h2c: the body');
is($n->{rc}, 0, 'nghttp h2c: exit 0');
$r = h2_curl("http://127.0.0.1:$P2/r");
h2_resp_ok($r, 200, "hi HTTP/1.1 GET /r HTTP/1.1\n", 'plain http2 listener, HTTP/1.1 client', '1.1');
{
    my ($s, $h, $b) = http_parse(http_get($P2, '/r', Connection => 'close'));
    is($s, 200, 'plain http2 listener, raw HTTP/1.1: 200');
    my $raw = http_get($P2, '/p/echo', Connection => 'Upgrade, HTTP2-Settings, close',
                       Upgrade => 'h2c', 'HTTP2-Settings' => 'AAMAAABkAARAAAAAAAIAAAAA');
    like($raw, qr{^HTTP/1\.1 200 OK\r\n}, 'Upgrade: h2c: answered as HTTP/1.1 200, no 101');
    ($s, $h, $b) = http_parse($raw);
    ok(!exists $h->{upgrade}, 'Upgrade: h2c: no Upgrade in the response');
    my $echo = json_decode($b) // {};
    my @names = map { lc $_->[0] } @{ $echo->{headers} || [] };
    is(join(',', grep { /^(upgrade|http2-settings)$/ } @names), '',
       'Upgrade: h2c: neither Upgrade nor HTTP2-Settings forwarded');
    is($echo->{version}, 'HTTP/1.1', 'Upgrade: h2c: the upstream request is HTTP/1.1');
    $raw = http_get($P2, '/r', Connection => 'Upgrade, HTTP2-Settings, close',
                    Upgrade => 'h2c', 'HTTP2-Settings' => 'AAMAAABkAARAAAAAAAIAAAAA');
    ($s, $h, $b) = http_parse($raw);
    is("$s $b", "200 hi HTTP/1.1 GET /r HTTP/1.1\n", 'Upgrade: h2c to return: HTTP/1.1 200');

    # the preface on a plain listener without http2
    my $x = http_exchange($P4, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
    ($s, $h, $b) = http_parse($x->{raw});
    like($x->{raw}, qr{^HTTP/1\.1 505 HTTP Version Not Supported\r\n},
         'preface on a listener without http2: HTTP/1.1 505');
    is($h->{connection}, 'close', 'preface on a listener without http2: Connection: close');
    is($x->{eof}, 1, 'preface on a listener without http2: then closed');
    $r = h2_curl("http://127.0.0.1:$P4/r", '--http2-prior-knowledge');
    isnt($r->{rc}, 0, 'curl --http2-prior-knowledge on a listener without http2: fails');
}

# ---- return ----------------------------------------------------------------------------------
$r = c2('/r', '-X', 'HEAD');
h2_resp_ok($r, 200, '', 'HEAD on return');
is($r->{headers}{'content-length'}, 29, 'HEAD on return: content-length of the GET body ("... HEAD /r ...")');
$r = c2('/204');
h2_resp_ok($r, 204, '', 'return 204');
ok(!exists $r->{headers}{'content-length'}, 'return 204: no content-length');
$r = c2('/redir');
h2_resp_ok($r, 301, undef, 'return 301');
is($r->{headers}{location}, '/r', 'return 301: location');

# ---- static ----------------------------------------------------------------------------------
$r = c2('/small.txt');
h2_resp_ok($r, 200, "small file\n", 'static small');
is($r->{headers}{'content-type'}, 'text/plain', 'static small: content-type');
is($r->{headers}{'content-length'}, 11, 'static small: content-length');
is($r->{headers}{'accept-ranges'}, 'bytes', 'static small: accept-ranges');
my $lm = $r->{headers}{'last-modified'};
$r = c2('/small.txt', '-H', "If-Modified-Since: $lm");
h2_resp_ok($r, 304, '', 'static If-Modified-Since: 304');
$r = c2('/big.bin');
h2_resp_ok($r, 200, $big, 'static 4 MiB over h2c');
is($r->{headers}{'content-length'}, 4194304, 'static 4 MiB: content-length');
$r = t2('/big.bin');
h2_resp_ok($r, 200, $big, 'static 4 MiB over TLS h2');
$r = c2('/big.bin', '-X', 'HEAD');
h2_resp_ok($r, 200, '', 'static HEAD');
is($r->{headers}{'content-length'}, 4194304, 'static HEAD: content-length');
$r = c2('/big.bin', '-H', 'Range: bytes=1000-2999');
h2_resp_ok($r, 206, substr($big, 1000, 2000), 'static Range');
is($r->{headers}{'content-range'}, 'bytes 1000-2999/4194304', 'static Range: content-range');
is($r->{headers}{'content-length'}, 2000, 'static Range: content-length');
$r = c2('/big.bin', '-H', 'Range: bytes=5000000-');
h2_resp_ok($r, 416, undef, 'static Range beyond the end: 416');
is($r->{headers}{'content-range'}, 'bytes */4194304', 'static 416: content-range');
$r = c2('/nope.txt');
h2_resp_ok($r, 404, undef, 'static missing');
like($r->{body}, qr/^404 Not Found\nrequest_id: [0-9a-f]{32}\n$/, 'static missing: the 404 body');
$r = c2('/gs/page.txt', '-H', 'Accept-Encoding: gzip');
h2_resp_ok($r, 200, $gs_gz, 'gzip_static over h2');
is($r->{headers}{'content-encoding'}, 'gzip', 'gzip_static: content-encoding gzip');
is($r->{headers}{'content-length'}, length $gs_gz, 'gzip_static: content-length of the .gz');
$r = c2('/gs/page.txt');
h2_resp_ok($r, 200, $gs_text, 'gzip_static, no Accept-Encoding: the plain file');
ok(!exists $r->{headers}{'content-encoding'}, 'gzip_static, no Accept-Encoding: no content-encoding');

# ---- proxy -----------------------------------------------------------------------------------
sub echo_headers
{
    my ($r) = @_;
    my $e = json_decode($r->{body}) // {};
    my %h;
    for my $kv (@{ $e->{headers} || [] }) {
        my $k = lc $kv->[0];
        $h{$k} = exists $h{$k} ? "$h{$k}, $kv->[1]" : $kv->[1];
    }
    return ($e, \%h);
}

$r = c2('/p/echo?a=1', '-H', 'X-Custom: one');
h2_resp_ok($r, 200, undef, 'proxy GET echo over h2c');
my ($e, $eh) = echo_headers($r);
is("$e->{method} $e->{path} $e->{version}", 'GET /echo?a=1 HTTP/1.1', 'proxy GET: the upstream request line');
is($eh->{host}, "127.0.0.1:$P2", 'proxy GET: Host from :authority');
is($eh->{'x-forwarded-for'}, '127.0.0.1', 'proxy GET: X-Forwarded-For');
is($eh->{'x-forwarded-proto'}, 'http', 'proxy GET over h2c: X-Forwarded-Proto http');
is($eh->{'x-forwarded-host'}, "127.0.0.1:$P2", 'proxy GET: X-Forwarded-Host');
is($eh->{'x-custom'}, 'one', 'proxy GET: a client header forwarded');
is($eh->{'x-request-id'}, $r->{headers}{'x-request-id'}, 'proxy GET: X-Request-Id forwarded, as in the response');
ok(!exists $eh->{'content-length'} && !exists $eh->{'transfer-encoding'},
   'proxy GET: no Content-Length nor Transfer-Encoding on a bodiless GET');
is($e->{body_length}, 0, 'proxy GET: no body');
is($r->{headers}{'x-backend-id'}, 'up', 'proxy GET: the upstream header, lowercased');
is($r->{headers}{'content-type'}, 'application/json', 'proxy GET: content-type');
is($r->{headers}{'content-length'}, length $r->{body}, 'proxy GET: content-length');

$r = t2('/p/echo');
($e, $eh) = echo_headers($r);
h2_resp_ok($r, 200, undef, 'proxy GET echo over TLS h2');
is($eh->{'x-forwarded-proto'}, 'https', 'proxy GET over TLS h2: X-Forwarded-Proto https');
is($eh->{host}, "127.0.0.1:$P1", 'proxy GET over TLS h2: Host');

SKIP: {
    # RFC 9113 8.2.3: cookie crumbs in separate fields become one Cookie for HTTP/1.1
    skip 'no python3-h2 under /usr/bin/python3', 3
        unless h2_python();
    my $x = (h2_python('h2_request.py', $P2, 'GET', '/p/echo', 'cookie=a=1', 'x-two=1', 'cookie=b=2',
                       'x-two=2') // [])->[0] // {};
    is($x->{status}, 200, 'cookie crumbs: 200');
    ($e) = echo_headers({ body => $x->{body} // '' });
    is(join('|', map { "$_->[0]: $_->[1]" } grep { $_->[0] =~ /^(cookie|x-two)$/i } @{ $e->{headers} || [] }),
       'cookie: a=1; b=2|x-two: 1|x-two: 2',
       'cookie crumbs: one Cookie upstream, joined with "; "; other repeated fields kept');
    $x = (h2_python('h2_request.py', $P2, 'GET', '/cookie', 'cookie=a=1', 'cookie=b=2') // [])->[0] // {};
    is($x->{body}, "[a=1; b=2]\n", 'cookie crumbs: $http_cookie joined');
}

$r = c2('/p/hop');
h2_resp_ok($r, 200, "hop\n", 'proxy: upstream hop-by-hop headers');
is(join(',', grep { /^(x-hop|keep-alive|connection)$/ } @{ $r->{names} }), '',
   'proxy: Connection, Keep-Alive and the headers Connection names are dropped');
is($r->{headers}{'x-kept'}, '1', 'proxy: the other upstream headers kept');

my $up3 = join('', map { chr(($_ * 7 + 3) % 256) } 0 .. 255) x (3 * 1000 * 1000 / 256);
write_file("$D/up3", $up3);
$r = c2('/p/upload', '--data-binary', "\@$D/up3");
h2_resp_ok($r, 200, undef, 'proxy upload 3 MB with content-length');
$e = json_decode($r->{body}) // {};
is($e->{length}, length $up3, 'proxy upload 3 MB: length intact');
is($e->{sha256}, sha256_hex($up3), 'proxy upload 3 MB: sha256 intact');
$r = t2('/p/upload', '--data-binary', "\@$D/up3");
$e = json_decode($r->{body}) // {};
is("$r->{version} $r->{status} $e->{length} $e->{sha256}", "2 200 @{[ length $up3 ]} @{[ sha256_hex($up3) ]}",
   'proxy upload 3 MB over TLS h2: intact');
$r = c2('/p/echo', '--data-binary', "\@$D/up3");
($e, $eh) = echo_headers($r);
is($eh->{'content-length'}, length $up3, 'proxy upload: the upstream gets the content-length');
ok(!exists $eh->{'transfer-encoding'}, 'proxy upload with content-length: not chunked');
{
    # a body without content-length (curl -T - sends none over h2): forwarded chunked
    my ($rc, $out, $err) = Portico::run_cmd('sh', '-c',
        "exec curl -sS --max-time 15 --http2-prior-knowledge -w ' %{http_version}' -T - "
        . "http://127.0.0.1:$P2/p/echo < $D/up3");
    my ($json, $ver) = $out =~ /^(.*) (\S+)$/s;
    my ($ee, $eeh) = echo_headers({ body => $json // '' });
    is($ver, '2', 'upload without content-length: HTTP/2');
    is($eeh->{'transfer-encoding'}, 'chunked', 'upload without content-length: forwarded chunked');
    ok(!exists $eeh->{'content-length'}, 'upload without content-length: no Content-Length upstream');
    is("$ee->{method} $ee->{body_length} $ee->{body_sha256}", "PUT @{[ length $up3 ]} @{[ sha256_hex($up3) ]}",
       'upload without content-length: the body intact');
}

my $five = pattern_bytes(5 * 1024 * 1024);
$r = c2('/p/bytes?n=' . length $five);
h2_resp_ok($r, 200, $five, 'proxy download 5 MiB over h2c');
is($r->{headers}{'content-length'}, length $five, 'proxy download 5 MiB: content-length');
$r = t2('/p/bytes?n=' . length $five);
h2_resp_ok($r, 200, $five, 'proxy download 5 MiB over TLS h2');
$r = c2('/p/chunked?n=1000000');
h2_resp_ok($r, 200, pattern_bytes(1000000), 'proxy: an upstream chunked response');
ok(!exists $r->{headers}{'content-length'}, 'proxy chunked: no content-length');
$r = c2('/p/close?n=1000000');
h2_resp_ok($r, 200, pattern_bytes(1000000), 'proxy: an upstream close-delimited response');
ok(!exists $r->{headers}{'content-length'}, 'proxy close-delimited: no content-length');
$r = c2('/p/status?code=204');
h2_resp_ok($r, 204, '', 'proxy: an upstream 204');
$r = c2('/p/bytes?n=1000', '-X', 'HEAD');
h2_resp_ok($r, 200, '', 'proxy HEAD');
is($r->{headers}{'content-length'}, 1000, 'proxy HEAD: the upstream content-length');
$r = c2('/p/bytes?n=0');
h2_resp_ok($r, 200, '', 'proxy: an empty upstream body');
is($r->{headers}{'content-length'}, 0, 'proxy empty body: content-length 0');
$r = c2('/p/chunked?n=0');
h2_resp_ok($r, 200, '', 'proxy: an empty chunked upstream body');
$r = c2('/p/status?code=304');
h2_resp_ok($r, 304, '', 'proxy: an upstream 304');
$r = c2('/p/status?code=404');
h2_resp_ok($r, 404, "status 404\n", 'proxy: an upstream 404 passed on');
$r = c2('/p502/id');
h2_resp_ok($r, 502, undef, 'proxy to a closed port: 502');
like($r->{body}, qr/^502 Bad Gateway\nrequest_id: [0-9a-f]{32}\n$/, 'proxy 502: the body');
my $t0 = time;
$r = c2('/p504/sleep?ms=3000');
h2_resp_ok($r, 504, undef, 'proxy read_timeout: 504');
like($r->{body}, qr/^504 Gateway Timeout\nrequest_id: [0-9a-f]{32}\n$/, 'proxy 504: the body');
cmp_ok(time - $t0, '<', 2.8, 'proxy 504: after the 1 s read_timeout, not the upstream 3 s');

# ---- access, auth_basic, rate_limit, conn_limit, headers, realip, cache, gzip ----------------
SKIP: {
    skip 'no access module', 5 unless $HAVE{access};
    $r = c2('/deny');
    h2_resp_ok($r, 403, undef, 'access deny all');
    like($r->{body}, qr/^403 Forbidden\nrequest_id: [0-9a-f]{32}\n$/, 'access: the 403 body');
}
SKIP: {
    skip 'no auth_basic module', 14 unless $HAVE{auth_basic};
    $r = c2('/admin/x');
    h2_resp_ok($r, 401, undef, 'auth_basic without credentials');
    is($r->{headers}{'www-authenticate'}, 'Basic realm="h2 area"',
       'auth_basic: www-authenticate');
    $r = c2('/admin/x', '-u', 'ann:wrong');
    h2_resp_ok($r, 401, undef, 'auth_basic with a wrong password');
    $r = c2('/admin/x', '-u', 'ann:h2secret');
    h2_resp_ok($r, 200, "admin ann\n", 'auth_basic with the password');
}
SKIP: {
    skip 'no rate_limit module', 11 unless $HAVE{rate_limit};
    $r = c2('/limited', '-H', 'X-Key: k1');
    h2_resp_ok($r, 200, "limited\n", 'rate_limit: the first request');
    $r = c2('/limited', '-H', 'X-Key: k1');
    h2_resp_ok($r, 429, undef, 'rate_limit: the second within the minute');
    like($r->{headers}{'retry-after'} // '', qr/^(5[0-9]|60)$/, 'rate_limit 429: retry-after about 60');
    $r = c2('/limited', '-H', 'X-Key: k2');
    is($r->{status}, 200, 'rate_limit: another key passes');
}
SKIP: {
    skip 'no conn_limit module', 7 unless $HAVE{conn_limit};
    # Each stream is a request in progress, as nginx's limit_conn counts HTTP/2: a second
    # stream while the first runs is over max = 1, on the same connection as on another.
    my $n = h2_nghttp(['-s', '-n'], "http://127.0.0.1:$P2/cl/sleep?ms=1000",
                      "http://127.0.0.1:$P2/cl/id?late");
    my %code = $n->{out} =~ m{^\s*\d+\s+\S+\s+\S+\s+\S+\s+(\d{3})\s+\d+\s+(/cl/\S+)$}mg;
    my %by = reverse %code;
    is($by{'/cl/sleep?ms=1000'}, 200, 'conn_limit: the first stream passes');
    is($by{'/cl/id?late'}, 503, 'conn_limit: a second stream of the same client meanwhile: 503');
    $r = c2('/cl/id');
    h2_resp_ok($r, 200, 'up', 'conn_limit: once the first is done, 200 again');
}
SKIP: {
    skip 'no headers module', 14 unless $HAVE{headers};
    $r = c2('/hdr');
    h2_resp_ok($r, 200, "hdr\n", 'response_headers on return');
    is($r->{headers}{'x-set'}, 'v GET', 'response_headers: added, with variables');
    is($r->{headers}{'content-type'}, 'text/x-h2', 'response_headers: content-type replaced');
    $r = c2('/ph/id');
    h2_resp_ok($r, 200, 'up', 'response_headers on proxy');
    ok(!exists $r->{headers}{'x-backend-id'}, 'response_headers: an upstream header removed');
    is($r->{headers}{'x-set'}, '1', 'response_headers on proxy: added');
}
SKIP: {
    skip 'no realip module', 2 unless $HAVE{realip};
    $r = c2('/ip', '-H', 'X-Real-IP: 203.0.113.7');
    is("$r->{version} $r->{body}", "2 203.0.113.7\n", 'real_ip: $remote_addr from X-Real-IP over h2');
    $r = c2('/ip');
    is("$r->{version} $r->{body}", "2 127.0.0.1\n", 'real_ip: without the header, the peer');
}
SKIP: {
    skip 'no cache module', 22 unless $HAVE{cache};
    $r = c2('/c/id?h2');
    h2_resp_ok($r, 200, 'up', 'cache: the first GET');
    is($r->{headers}{'x-cache-status'}, 'MISS', 'cache: MISS over h2');
    $r = c2('/c/id?h2');
    h2_resp_ok($r, 200, 'up', 'cache: the second GET');
    is($r->{headers}{'x-cache-status'}, 'HIT', 'cache: HIT over h2');
    is($r->{headers}{'content-length'}, 2, 'cache HIT: content-length');
    # a large hit is read from the cache file into DATA frames
    $r = c2('/c/bytes?n=' . length $five);
    is("$r->{status} " . ($r->{headers}{'x-cache-status'} // ''), '200 MISS', 'cache: 5 MiB MISS');
    ok($p->wait_for(sub { $r = c2('/c/bytes?n=' . length $five);
                          ($r->{headers}{'x-cache-status'} // '') eq 'HIT' }, 5), 'cache: 5 MiB HIT');
    h2_resp_ok($r, 200, $five, 'cache: 5 MiB HIT over h2c');
    my $n = h2_nghttp(['-w', '14', '-W', '16'], "https://127.0.0.1:$P1/c/bytes?n=" . length $five);
    is(md5_hex($n->{out}), md5_hex($five), 'cache: 5 MiB HIT through 16 KiB client windows over TLS h2');
}
SKIP: {
    skip 'no gzip module', 18 unless $HAVE{gzip};
    $r = c2('/gz', '-H', 'Accept-Encoding: gzip');
    h2_resp_ok($r, 200, undef, 'gzip over h2');
    is($r->{headers}{'content-encoding'}, 'gzip', 'gzip: content-encoding gzip');
    my $plain;
    gunzip(\$r->{body} => \$plain);
    is($plain, $gz_body, 'gzip: the body inflates to the original');
    cmp_ok(length $r->{body}, '<', length $gz_body, 'gzip: smaller');
    $r = c2('/gz');
    h2_resp_ok($r, 200, $gz_body, 'gzip over h2, no Accept-Encoding: plain');
    $r = c2('/gz', '-X', 'HEAD', '-H', 'Accept-Encoding: gzip');
    h2_resp_ok($r, 200, '', 'gzip over h2, HEAD');
    is(($r->{headers}{'content-encoding'} // 'identity') . ' ' . ($r->{headers}{vary} // ''),
       'identity Accept-Encoding', 'gzip over h2, HEAD: the identity headers with Vary, as nginx');
}

# ---- the access log --------------------------------------------------------------------------
c2('/r?log');
h2_curl("http://127.0.0.1:$P2/r?log1");
ok($p->wait_for(sub { ($p->access_log // '') =~ /^HTTP\/1\.1 "GET \/r\?log1 HTTP\/1\.1" 200 /m }, 5),
   'access log: the HTTP/1.1 request');
like($p->access_log, qr/^HTTP\/2\.0 "GET \/r\?log HTTP\/2\.0" 200 32$/m,
     'access log: $server_protocol HTTP/2.0, $request "GET /r?log HTTP/2.0", $body_bytes_sent');
like($p->access_log, qr/^HTTP\/2\.0 "POST \/p\/upload HTTP\/2\.0" 200 \d+$/m,
     'access log: an h2 POST');

# ---- 421: the server :authority selects differs from the SNI server's TLS requirements --------
{
    my @ra = ('--resolve', "a.test:$P1:127.0.0.1", '--resolve', "b.test:$P1:127.0.0.1");
    $r = h2_curl("https://b.test:$P1/x", '-k', '--http2', @ra);
    h2_resp_ok($r, 200, "b HTTP/2.0\n", 'SNI b.test, :authority b.test');
    $r = h2_curl("https://a.test:$P1/r", '-k', '--http2', @ra, '-H', 'Host: b.test');
    h2_resp_ok($r, 421, undef, 'SNI a.test, :authority b.test (other protocols): 421');
    like($r->{body}, qr/^421 Misdirected Request\n/, '421: the body');
    $r = h2_curl("https://a.test:$P1/r", '-k', '--http2', @ra);
    h2_resp_ok($r, 200, "hi HTTP/2.0 GET /r HTTP/2.0\n", 'SNI a.test, :authority a.test: 200');
    # the rule holds per stream: on one connection (SNI a.test), :authority a.test, b.test,
    # a.test again
    my @o = ('-sSk', '--http2', @ra, '-o', '/dev/null', '-w', '%{http_code} %{num_connects}\n');
    my ($rc, $out) = Portico::run_cmd('curl', @o, "https://a.test:$P1/r", '--next', @o,
                                      '-H', 'Host: b.test', "https://a.test:$P1/r", '--next',
                                      @o, "https://a.test:$P1/r");
    is($out, "200 1\n421 0\n200 0\n", 'one connection: a.test 200, b.test 421, a.test 200');
}

# ---- -t: the http2 settings ----------------------------------------------------------------
{
    my $q = Portico->new(start => 0);
    my $cf = $q->conf_file;
    $q->write_conf(<<'EOF');
servers = (
  { listen = ( { address = "127.0.0.1:%%PORT1%%"; http2 = true; } );
    routes = ( { match = { path_prefix = "/"; }; return = { status = 200; }; } ); },
  { listen = ["127.0.0.1:%%PORT1%%"];
    names = ["other"];
    routes = ( { match = { path_prefix = "/"; }; return = { status = 200; }; } ); }
);
EOF
    my ($rc, $out) = $q->run_t('-t');
    my $l = $q->line_of(qr/names = \["other"\]/) - 1;
    is($rc, 1, '-t: http2 on an address another server lists without it fails');
    like($out, qr/^\Q$cf\E:$l: "127\.0\.0\.1:$q->{ports}{1}" has http2 = false here and true in another server \(one socket, one setting\)$/m,
         '-t: FILE:LINE of the listen entry without http2');

    $q->write_conf(<<'EOF');
servers = (
  { listen = ["127.0.0.1:%%PORT1%%"];
    routes = ( { match = { path_prefix = "/"; }; return = { status = 200; }; } ); },
  { listen = ( { address = "127.0.0.1:%%PORT1%%"; http2 = true; } );
    names = ["other"];
    routes = ( { match = { path_prefix = "/"; }; return = { status = 200; }; } ); }
);
EOF
    ($rc, $out) = $q->run_t('-t');
    $l = $q->line_of(qr/http2 = true/);
    like($out, qr/^\Q$cf\E:$l: "127\.0\.0\.1:$q->{ports}{1}" has http2 = true here and false in another server \(one socket, one setting\)$/m,
         '-t: the other order, FILE:LINE of the listen entry with http2');

    $q->write_conf(<<'EOF');
http = {
  http2_max_concurrent_streams = 0;
  http2_initial_window_size = "1000";
  http2_connection_window_size = "32k";
  http2_max_header_list_size = "2m";
  http2_rapid_reset_limit = 0;
  http2_idle_timeout = "soon";
};
servers = (
  { listen = ( { address = "127.0.0.1:%%PORT1%%"; http2 = true; } );
    http2_initial_window_size = "17m";
    routes = ( { match = { path_prefix = "/"; }; http2_idle_timeout = "5s";
                 return = { status = 200; }; } ); },
  { listen = ( { address = "127.0.0.1:%%PORT2%%"; http2 = "yes"; } );
    routes = ( { match = { path_prefix = "/"; }; return = { status = 200; }; } ); }
);
EOF
    ($rc, $out) = $q->run_t('-t');
    is($rc, 1, '-t: bad http2 settings fail');
    my @want = (
        [qr/http2_max_concurrent_streams = 0/, 'http.http2_max_concurrent_streams: must be between 1 and 65536 (got 0)'],
        [qr/http2_initial_window_size = "1000"/, 'http.http2_initial_window_size: must be between 1k and 16m (got 1000)'],
        [qr/http2_connection_window_size/, 'http.http2_connection_window_size: must be between 65535 and 256m (got 32k)'],
        [qr/http2_max_header_list_size/, 'http.http2_max_header_list_size: must be between 1k and 1m (got 2m)'],
        [qr/http2_rapid_reset_limit/, 'http.http2_rapid_reset_limit: must be between 1 and 1000000 (got 0)'],
        [qr/http2_idle_timeout = "soon"/, 'http.http2_idle_timeout: invalid duration "soon" (expected a number with a ms, s, m, h or d suffix)'],
        [qr/"17m"/, 'servers[0].http2_initial_window_size: must be between 1k and 16m (got 17m)'],
        [qr/http2 = "yes"/, 'servers[1].listen[0].http2: must be true or false'],
    );
    for my $w (@want) {
        my $line = $q->line_of($w->[0]);
        like($out, qr/^\Q$cf\E:$line: \Q$w->[1]\E$/m, "-t: $w->[1]");
    }
    my $rl = $q->line_of(qr/http2_idle_timeout = "5s"/);
    like($out, qr/^\Q$cf\E:$rl: .*http2_idle_timeout.*$/m, '-t: an http2 setting in a route is refused at its line')
        or diag($out);
}

done_testing();
