#!/usr/bin/perl
# cache_basic.t: response caching (issue 12), what is stored and how a stored response is
# served, against an origin that counts the requests it gets per target
# (t/lib/cache_backend.py): MISS then HIT (X-Cache-Status, Cache-Status, Age, the stored
# headers and bytes), HEAD on a hit, `valid` when the upstream gives no freshness (and not
# stored for other statuses), max-age / s-maxage / Expires, expiry -> EXPIRED, response
# no-store / private / no-cache / Set-Cookie (store_set_cookie), the Authorization rule,
# request no-store -> BYPASS and no-cache / Pragma -> EXPIRED, Vary variants (normalised
# values; Vary: * not stored), client If-None-Match / If-Modified-Since -> 304 from the
# cache, Range on a hit (206, 416), other methods passed through, 5 MiB bodies byte-identical
# (Content-Length and chunked), a gzip route with the cache, $upstream_cache_status in an
# access log format, and no cache headers on a route without a cache.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Portico;
use PorticoCacheBackend;
use IO::Uncompress::Gunzip qw(gunzip $GunzipError);
use Time::HiRes qw(sleep time);

skip_unless_module('cache', 'proxy');
my $HAVE_GZIP = has_module('gzip');

my $p = Portico->new(start => 0);
my $b = PorticoCacheBackend->new(port => $p->port(2));
my $gzip_http = $HAVE_GZIP
    ? 'gzip = { types = ["text/plain"]; level = 6; min_length = 256; };' : '';
my $gzip_route = $HAVE_GZIP ? 'gzip = true;' : '';
$p->write_conf(<<"EOF");
http = { $gzip_http
  log_formats = ( { name = "cache"; format = "\$request_uri \$status \$upstream_cache_status"; } ); };
upstreams = ( { name = "o"; retries = 0; read_timeout = "10s";
                servers = ( { address = "127.0.0.1:%%PORT2%%"; } ); } );
caches = ( { name = "main"; path = "cache/main"; } );
servers = ( { listen = ["127.0.0.1:%%PORT1%%"];
  access_log = { path = "logs/cache.log"; format = "cache"; };
  routes = (
    { match = { path_prefix = "/novalid/"; }; proxy = { upstream = "o"; };
      cache = { zone = "main"; }; },
    { match = { path_prefix = "/cookie/"; }; proxy = { upstream = "o"; };
      cache = { zone = "main"; store_set_cookie = true; }; },
    { match = { path_prefix = "/gz/"; }; proxy = { upstream = "o"; };
      cache = { zone = "main"; }; $gzip_route },
    { match = { path_prefix = "/plain/"; }; proxy = { upstream = "o"; }; },
    { match = { path_prefix = "/"; }; proxy = { upstream = "o"; };
      cache = { zone = "main"; valid = ( { status = [200, 301]; time = "10m"; } ); }; }
  ); } );
EOF
$p->start;
my $port = $p->port(1);

my $MISS_STORED = qr/^portico; fwd=miss(?:; fwd-status=200)?; stored$/;
my $EXPIRED_STORED = qr/^portico; fwd=stale(?:; fwd-status=200)?; stored$/;

sub get { return cget($port, @_); }

# res($r, status, X-Cache-Status, body, name): three exact checks
sub res
{
    my ($r, $status, $xcs, $body, $name) = @_;
    is($r->{status}, $status, "$name: status $status");
    is($r->{xcs}, $xcs, "$name: X-Cache-Status $xcs");
    body_is($r->{body}, $body, "$name: body") if defined $body;
}

# is() for bodies; long ones are reported by length and SHA-256, not dumped
sub body_is
{
    my ($got, $want, $name) = @_;
    return is($got, $want, $name) if length($want) <= 200 && length($got // '') <= 200;
    ok(defined $got && $got eq $want, $name)
        or diag(sprintf('got %d bytes (%s), want %d bytes (%s)', length($got // ''),
                        sha256_hex($got // ''), length $want, sha256_hex($want)));
}

sub hit_age_ok
{
    my ($r, $name) = @_;
    ok(defined $r->{age} && $r->{age} =~ /^[01]$/, "$name: Age 0 or 1")
        or diag('Age: ' . ($r->{age} // 'absent'));
}

my $CC60 = [['Cache-Control', 'max-age=60']];

# ---- MISS then HIT -------------------------------------------------------------------------
$b->set('/hit/a', headers => [@$CC60, ['X-Origin', 'one']], body => "hit a {n}\n");
my $r = get('/hit/a');
res($r, 200, 'MISS', "hit a 1\n", 'first GET');
like($r->{cs}, $MISS_STORED, 'first GET: Cache-Status fwd=miss; stored');
ok(!defined $r->{age}, 'first GET: no Age on a miss');
$r = get('/hit/a');
res($r, 200, 'HIT', "hit a 1\n", 'second GET');
like($r->{cs}, qr/^portico; hit; ttl=(59|60)$/, 'second GET: Cache-Status hit; ttl=59..60')
    or diag("Cache-Status: $r->{cs}");
hit_age_ok($r, 'second GET');
is($r->{h}{'x-origin'}, 'one', 'second GET: the stored upstream header');
is($r->{h}{'cache-control'}, 'max-age=60', 'second GET: the stored Cache-Control');
is($r->{h}{'content-length'}, 8, 'second GET: Content-Length of the stored body');
is($b->count('/hit/a'), 1, 'MISS then HIT: the backend saw one request');

my @ka = http_keepalive($port, [ map { http_request('GET', '/hit/a') } 1 .. 3 ]);
is(scalar @ka, 3, 'three hits on one keep-alive connection');
for my $i (0 .. $#ka) {
    my ($st, $h, $body) = http_parse($ka[$i]);
    ok($st == 200 && ($h->{'x-cache-status'} // '') eq 'HIT' && $body eq "hit a 1\n",
       "keep-alive hit $i: 200 HIT with the stored body");
}

# ---- HEAD on a hit -------------------------------------------------------------------------
$r = chead($port, '/hit/a');
res($r, 200, 'HIT', '', 'HEAD on a hit');
is($r->{h}{'content-length'}, 8, 'HEAD on a hit: Content-Length of the stored body');
is($b->count('/hit/a'), 1, 'HEAD on a hit: the backend saw nothing more');

# ---- other methods pass through ---------------------------------------------------------------
$r = creq($port, 'POST', '/hit/a', body => 'x');
is($r->{status}, 200, 'POST on a cached route: 200');
is($r->{body}, "hit a 2\n", 'POST on a cached route: the backend answered');
is($b->count('/hit/a'), 2, 'POST on a cached route: went to the backend');
res(get('/hit/a'), 200, 'HIT', "hit a 1\n", 'GET after the POST: still the stored entry');

# ---- valid ------------------------------------------------------------------------------------
$b->set('/v/ok', body => "v ok {n}\n");
res(get('/v/ok'), 200, 'MISS', "v ok 1\n", 'no freshness, valid 200: first');
$r = get('/v/ok');
res($r, 200, 'HIT', "v ok 1\n", 'no freshness, valid 200: stored for 10m');
like($r->{cs}, qr/^portico; hit; ttl=(599|600)$/, 'valid 10m: ttl=599..600')
    or diag("Cache-Status: $r->{cs}");
$b->set('/v/301', status => 301, headers => [['Location', 'http://x/']], body => "moved {n}\n");
res(get('/v/301'), 301, 'MISS', "moved 1\n", 'valid 301: first');
$r = get('/v/301');
res($r, 301, 'HIT', "moved 1\n", 'valid 301: stored');
is($r->{h}{location}, 'http://x/', 'valid 301: the stored Location');
$b->set('/v/404', status => 404, body => "nf {n}\n");
$r = get('/v/404');
res($r, 404, 'MISS', "nf 1\n", 'no valid for 404: first');
like($r->{cs}, qr/^portico; fwd=miss(?:; fwd-status=404)?$/, 'no valid for 404: not stored')
    or diag("Cache-Status: $r->{cs}");
res(get('/v/404'), 404, 'MISS', "nf 2\n", 'no valid for 404: second goes upstream');
is($b->count('/v/404'), 2, 'no valid for 404: two backend requests');
$b->set('/novalid/x', body => "nv {n}\n");
res(get('/novalid/x'), 200, 'MISS', "nv 1\n", 'no valid at all: first');
res(get('/novalid/x'), 200, 'MISS', "nv 2\n", 'no valid at all: not stored');
$b->set('/novalid/m', headers => $CC60, body => "nvm {n}\n");
get('/novalid/m');
res(get('/novalid/m'), 200, 'HIT', "nvm 1\n", 'no valid, max-age=60: stored');

# ---- max-age, s-maxage, Expires; expiry -----------------------------------------------------
$b->set('/f/exp', headers => [['Cache-Control', 'max-age=1']], body => "exp {n}\n");
$b->set('/f/s0', headers => [['Cache-Control', 'max-age=0, s-maxage=60']], body => "s0 {n}\n");
$b->set('/f/s1', headers => [['Cache-Control', 'max-age=60, s-maxage=1']], body => "s1 {n}\n");
$b->set('/f/exf', headers => [['Expires', '{now+60}']], body => "exf {n}\n");
$b->set('/f/ex1', headers => [['Expires', '{now+1}']], body => "ex1 {n}\n");
$b->set('/f/exp0', headers => [['Expires', '{now-60}']], body => "exp0 {n}\n");
$b->set('/f/excc', headers => [['Expires', '{now-60}'], @$CC60], body => "excc {n}\n");
$b->set('/f/ma0', headers => [['Cache-Control', 'max-age=0']], body => "ma0 {n}\n");
for my $t (qw(/f/exp /f/s0 /f/s1 /f/exf /f/ex1 /f/exp0 /f/excc /f/ma0)) {
    is(get($t)->{xcs}, 'MISS', "$t: first is a MISS");
}
# an entry is fresh for at least its lifetime, whole seconds or not (freshness is judged a
# second back): a max-age=1 entry asked again within the second is a hit
res(get('/f/exp'), 200, 'HIT', "exp 1\n", 'max-age=1: hit at once');
res(get('/f/s0'), 200, 'HIT', "s0 1\n", 'max-age=0, s-maxage=60: s-maxage wins, stored');
$r = get('/f/exf');
res($r, 200, 'HIT', "exf 1\n", 'Expires in 60 s: stored');
like($r->{cs}, qr/^portico; hit; ttl=(5[89]|60)$/, 'Expires in 60 s: ttl=58..60')
    or diag("Cache-Status: $r->{cs}");
res(get('/f/exp0'), 200, 'MISS', "exp0 2\n", 'Expires in the past: not stored (valid not used)');
res(get('/f/excc'), 200, 'HIT', "excc 1\n", 'max-age=60 wins over a past Expires');
res(get('/f/ma0'), 200, 'MISS', "ma0 2\n", 'max-age=0: not stored (valid not used)');
sleep 2.5;
# the refreshed entries live longer: a 1 s lifetime could end between two requests
$b->set('/f/exp', headers => $CC60, body => "exp {n}\n");
$b->set('/f/s1', headers => $CC60, body => "s1 {n}\n");
$b->set('/f/ex1', headers => [['Expires', '{now+60}']], body => "ex1 {n}\n");
$r = get('/f/exp');
res($r, 200, 'EXPIRED', "exp 2\n", 'max-age=1 after 2.5 s');
like($r->{cs}, $EXPIRED_STORED, 'EXPIRED: Cache-Status fwd=stale; stored')
    or diag("Cache-Status: $r->{cs}");
res(get('/f/exp'), 200, 'HIT', "exp 2\n", 'after EXPIRED: the new entry is a hit');
is($b->count('/f/exp'), 2, 'expiry: two backend requests in all');
res(get('/f/s1'), 200, 'EXPIRED', "s1 2\n", 's-maxage=1 wins over max-age=60: expired');
res(get('/f/s0'), 200, 'HIT', "s0 1\n", 's-maxage=60: still fresh after 2.5 s');
res(get('/f/ex1'), 200, 'EXPIRED', "ex1 2\n", 'Expires in 1 s: expired after 2.5 s');
$r = get('/f/exf');
res($r, 200, 'HIT', "exf 1\n", 'Expires in 60 s: still fresh');
ok(defined $r->{age} && $r->{age} >= 2 && $r->{age} <= 4, 'Age grew to 2..4 s')
    or diag('Age: ' . ($r->{age} // 'absent'));

# ---- responses that are not stored ----------------------------------------------------------
for my $c (['no-store', [['Cache-Control', 'no-store, max-age=60']]],
           ['private', [['Cache-Control', 'private, max-age=60']]],
           ['no-cache', [['Cache-Control', 'no-cache, max-age=60']]],
           ['Set-Cookie', [@$CC60, ['Set-Cookie', 'sid=1; Path=/']]],
           ['Vary: *', [@$CC60, ['Vary', '*']]])
{
    my ($name, $h) = @$c;
    (my $t = "/ns/$name") =~ s/[^\w\/-]/_/g;
    $b->set($t, headers => $h, body => "ns {n}\n");
    $r = get($t);
    res($r, 200, 'MISS', "ns 1\n", "response $name: first");
    unlike($r->{cs}, qr/stored/, "response $name: Cache-Status without stored");
    res(get($t), 200, 'MISS', "ns 2\n", "response $name: not stored");
    is($b->count($t), 2, "response $name: two backend requests");
}
$b->set('/cookie/a', headers => [@$CC60, ['Set-Cookie', 'sid=1; Path=/']], body => "ck {n}\n");
get('/cookie/a');
$r = get('/cookie/a');
res($r, 200, 'HIT', "ck 1\n", 'store_set_cookie = true: stored');
is($r->{h}{'set-cookie'}, 'sid=1; Path=/', 'store_set_cookie = true: the cookie is served');

# ---- Authorization ----------------------------------------------------------------------------
my @AUTH = (Authorization => 'Basic dTpw');
$b->set('/auth/plain', headers => $CC60, body => "ap {n}\n");
res(get('/auth/plain', @AUTH), 200, 'MISS', "ap 1\n", 'Authorization, max-age: first');
res(get('/auth/plain', @AUTH), 200, 'MISS', "ap 2\n", 'Authorization, max-age: not stored');
$b->set('/auth/public', headers => [['Cache-Control', 'public, max-age=60']], body => "apu {n}\n");
get('/auth/public', @AUTH);
res(get('/auth/public', @AUTH), 200, 'HIT', "apu 1\n", 'Authorization, public: stored');
$b->set('/auth/smax', headers => [['Cache-Control', 's-maxage=60']], body => "asm {n}\n");
get('/auth/smax', @AUTH);
res(get('/auth/smax', @AUTH), 200, 'HIT', "asm 1\n", 'Authorization, s-maxage: stored');

# ---- request Cache-Control --------------------------------------------------------------------
$b->set('/rq/ns', headers => $CC60, body => "rqns {n}\n");
$r = get('/rq/ns', 'Cache-Control' => 'no-store');
res($r, 200, 'BYPASS', "rqns 1\n", 'request no-store: BYPASS');
like($r->{cs}, qr/^portico; fwd=bypass(?:; fwd-status=200)?$/, 'BYPASS: Cache-Status fwd=bypass')
    or diag("Cache-Status: $r->{cs}");
res(get('/rq/ns'), 200, 'MISS', "rqns 2\n", 'after BYPASS: nothing was stored');
res(get('/rq/ns'), 200, 'HIT', "rqns 2\n", 'then a hit');
res(get('/rq/ns', 'Cache-Control' => 'no-store'), 200, 'BYPASS', "rqns 3\n",
    'request no-store on a stored entry: BYPASS to the backend');
res(get('/rq/ns'), 200, 'HIT', "rqns 2\n", 'the BYPASS did not replace the entry');
$b->set('/rq/nc', headers => $CC60, body => "rqnc {n}\n");
get('/rq/nc');
res(get('/rq/nc', 'Cache-Control' => 'no-cache'), 200, 'EXPIRED', "rqnc 2\n",
    'request no-cache on a fresh entry: fetched again');
res(get('/rq/nc'), 200, 'HIT', "rqnc 2\n", 'request no-cache: the new response was stored');
$b->set('/rq/pragma', headers => $CC60, body => "rqp {n}\n");
get('/rq/pragma');
res(get('/rq/pragma', Pragma => 'no-cache'), 200, 'EXPIRED', "rqp 2\n",
    'request Pragma: no-cache (no Cache-Control): fetched again');
is($b->count('/rq/pragma'), 2, 'Pragma: no-cache: two backend requests');

# ---- Vary -------------------------------------------------------------------------------------
$b->set('/vary/a', headers => [@$CC60, ['Vary', 'Accept-Language']],
        body => "lang={h:accept-language} n={n}\n");
my $AL = 'Accept-Language';
res(get('/vary/a', $AL => 'en'), 200, 'MISS', "lang=en n=1\n", 'Vary en: first');
res(get('/vary/a', $AL => 'fr'), 200, 'MISS', "lang=fr n=2\n", 'Vary fr: its own variant');
res(get('/vary/a', $AL => 'en'), 200, 'HIT', "lang=en n=1\n", 'Vary en: hit');
res(get('/vary/a', $AL => 'fr'), 200, 'HIT', "lang=fr n=2\n", 'Vary fr: hit');
is($b->count('/vary/a'), 2, 'Vary en/fr: two backend requests');
res(get('/vary/a', $AL => 'en, fr'), 200, 'MISS', "lang=en, fr n=3\n", 'Vary "en, fr": first');
res(get('/vary/a', $AL => 'en ,   fr'), 200, 'HIT', "lang=en, fr n=3\n",
    'Vary "en ,   fr": whitespace normalised, same variant');
res(get('/vary/a', 'accept-language' => 'de'), 200, 'MISS', "lang=de n=4\n", 'Vary de: first');
res(get('/vary/a', 'ACCEPT-LANGUAGE' => 'de'), 200, 'HIT', "lang=de n=4\n",
    'Vary: the request header name in any case');
res(get('/vary/a'), 200, 'MISS', "lang=- n=5\n", 'Vary, header absent: its own variant');
res(get('/vary/a'), 200, 'HIT', "lang=- n=5\n", 'Vary, header absent: hit');
res(get('/vary/a', $AL => ''), 200, 'MISS', "lang= n=6\n", 'Vary, empty header: not the absent one');
{
    my $x = get('/vary/a', $AL => 'EN');
    ok($x->{xcs} eq 'HIT' && $x->{body} eq "lang=en n=1\n", 'Vary "EN": same variant as "en"')
        or diag("$x->{xcs} $x->{body}");
}

# ---- client conditionals against a fresh entry ------------------------------------------------
my $LM = 'Mon, 07 Dec 2026 10:00:00 GMT';
$b->set('/cond/a', headers => $CC60, etag => '"c1"', last_modified => $LM, body => "cond {n}\n");
res(get('/cond/a'), 200, 'MISS', "cond 1\n", 'conditional: stored first');
for my $c (['If-None-Match', '"c1"', 304], ['If-None-Match', 'W/"c1"', 304],
           ['If-None-Match', '"x", "c1"', 304], ['If-None-Match', '*', 304],
           ['If-None-Match', '"other"', 200],
           ['If-Modified-Since', $LM, 304],
           ['If-Modified-Since', 'Mon, 07 Dec 2026 11:00:00 GMT', 304],
           ['If-Modified-Since', 'Mon, 07 Dec 2026 09:00:00 GMT', 200])
{
    my ($h, $v, $want) = @$c;
    $r = get('/cond/a', $h => $v);
    res($r, $want, 'HIT', $want == 304 ? '' : "cond 1\n", "$h: $v -> $want from the cache");
    is($r->{h}{etag}, '"c1"', "$h: $v: ETag sent");
}
is($b->count('/cond/a'), 1, 'client conditionals: the backend saw only the first request');

# ---- request only-if-cached ---------------------------------------------------------------------
$r = get('/oic/none', 'Cache-Control' => 'only-if-cached');
is($r->{status}, 504, 'only-if-cached, nothing stored: 504');
is($b->count('/oic/none'), 0, 'only-if-cached: the backend was not asked');
$b->set('/oic/a', headers => $CC60, body => "oic {n}\n");
res(get('/oic/a'), 200, 'MISS', "oic 1\n", 'only-if-cached: the entry stored');
res(get('/oic/a', 'Cache-Control' => 'only-if-cached'), 200, 'HIT', "oic 1\n",
    'only-if-cached, stored: a hit');

# ---- Range on a hit ---------------------------------------------------------------------------
my $R1000 = pattern_bytes(1000);
$b->set('/range/a', headers => $CC60, size => 1000);
$r = get('/range/a');
ok($r->{status} == 200 && $r->{body} eq $R1000, 'range entry: stored (200, 1000 bytes)');
for my $c (['bytes=100-199', 100, 199], ['bytes=-10', 990, 999], ['bytes=990-', 990, 999],
           ['bytes=995-2000', 995, 999], ['bytes=0-0', 0, 0])
{
    my ($range, $from, $to) = @$c;
    $r = get('/range/a', Range => $range);
    res($r, 206, 'HIT', substr($R1000, $from, $to - $from + 1), "Range $range");
    is($r->{h}{'content-range'}, "bytes $from-$to/1000", "Range $range: Content-Range");
    is($r->{h}{'content-length'}, $to - $from + 1, "Range $range: Content-Length");
}
$r = get('/range/a', Range => 'bytes=2000-3000');
is($r->{status}, 416, 'Range beyond the end: 416');
is($r->{h}{'content-range'}, 'bytes */1000', '416: Content-Range bytes */1000');
is($b->count('/range/a'), 1, 'ranges: the backend saw only the first request');

# ---- a miss that is a HEAD, a Range or a conditional request ----------------------------------
# whatever the miss answered, what it stored must be the whole 200 response
$b->set('/missk/head', headers => $CC60, body => "mh {n}\n");
$r = chead($port, '/missk/head');
ok($r->{status} == 200 && $r->{body} eq '', 'HEAD miss: 200 without a body');
$r = get('/missk/head');
ok($r->{status} == 200 && $r->{body} =~ /^mh \d\n$/, 'GET after a HEAD miss: 200 with the body')
    or diag("$r->{status} [$r->{body}]");
res(get('/missk/head'), 200, 'HIT', $r->{body}, 'GET after a HEAD miss: then a hit');
$b->set('/missk/range', headers => $CC60, size => 1000);
$r = get('/missk/range', Range => 'bytes=10-19');
ok(($r->{status} == 206 && $r->{body} eq substr($R1000, 10, 10))
   || ($r->{status} == 200 && $r->{body} eq $R1000),
   'Range on a miss: 206 with exactly bytes 10-19 (or the whole 200)')
    or diag("$r->{status}, " . length($r->{body}) . ' bytes');
$r = get('/missk/range');
ok($r->{status} == 200 && $r->{body} eq $R1000, 'GET after a Range miss: the whole 1000 bytes');
$b->set('/missk/inm', headers => $CC60, etag => '"i1"', body => "inm {n}\n");
$r = get('/missk/inm', 'If-None-Match' => '"i1"');
ok($r->{status} == 304 || ($r->{status} == 200 && $r->{body} eq "inm 1\n"),
   'If-None-Match on a miss: 304 (or the whole 200)') or diag($r->{status});
$r = get('/missk/inm');
ok($r->{status} == 200 && $r->{body} =~ /^inm \d\n$/, 'GET after a conditional miss: 200 with the body')
    or diag("$r->{status} [$r->{body}]");
res(get('/missk/inm'), 200, 'HIT', $r->{body}, 'GET after a conditional miss: then a hit');

# ---- large bodies -------------------------------------------------------------------------------
my $BIG = 5 << 20;
my $BIG_SHA = sha256_hex(pattern_bytes($BIG));
$b->set('/large/cl', headers => $CC60, size => $BIG);
$b->set('/large/ch', headers => $CC60, size => $BIG, chunked => 1);
for my $t ('/large/cl', '/large/ch') {
    for my $want ('MISS', 'HIT') {
        $r = get($t, -timeout => 20);
        is($r->{xcs}, $want, "$t 5 MiB: $want");
        is(length $r->{body}, $BIG, "$t 5 MiB $want: length");
        is(sha256_hex($r->{body}), $BIG_SHA, "$t 5 MiB $want: SHA-256 of the bytes");
    }
    is($b->count($t), 1, "$t 5 MiB: one backend request");
}

# ---- gzip on a cached route -------------------------------------------------------------------
SKIP: {
    skip 'gzip module not compiled in', 17 unless $HAVE_GZIP;
    my $text = join('', map { "line $_ of a compressible text\n" } 1 .. 800);
    $b->set('/gz/t', headers => [@$CC60, ['Content-Type', 'text/plain']], body => $text);
    my @seq = (['gzip', 'MISS'], [undef, undef], ['gzip', 'HIT'], [undef, 'HIT']);
    for my $i (0 .. $#seq) {
        my ($ae, $want) = @{ $seq[$i] };
        $r = get('/gz/t', defined $ae ? ('Accept-Encoding' => $ae) : ());
        my $plain = $r->{body};
        if (defined $ae) {
            is($r->{h}{'content-encoding'}, 'gzip', "gzip route $i (gzip): compressed");
            my $out;
            gunzip(\$r->{body} => \$out) or diag("gunzip: $GunzipError");
            $plain = $out;
        } else {
            ok(!defined $r->{h}{'content-encoding'}, "gzip route $i (none): not compressed");
        }
        body_is($plain, $text, "gzip route $i: the original bytes");
        is($r->{xcs}, $want, "gzip route $i: $want") if defined $want;
    }
    ok($b->count('/gz/t') <= 2, 'gzip route: at most one backend request per encoding');

    $b->set('/gz/v', headers => [@$CC60, ['Content-Type', 'text/plain'],
                                 ['Vary', 'Accept-Encoding']], body => $text,
            gzip_if_accepted => 1);
    my %bodies;
    for my $round (1, 2) {
        for my $ae ('gzip', undef) {
            $r = get('/gz/v', defined $ae ? ('Accept-Encoding' => $ae) : ());
            my $name = 'upstream varies on Accept-Encoding, ' . ($ae // 'none') . " round $round";
            my $plain = $r->{body};
            if (($r->{h}{'content-encoding'} // '') eq 'gzip') {
                gunzip(\$r->{body} => \(my $out));
                $plain = $out;
            }
            ok(($r->{h}{'content-encoding'} // 'none') eq (defined $ae ? 'gzip' : 'none')
               && $plain eq $text && $r->{xcs} eq ($round == 1 ? 'MISS' : 'HIT'),
               "$name: right encoding, original bytes, " . ($round == 1 ? 'MISS' : 'HIT'))
                or diag("CE " . ($r->{h}{'content-encoding'} // 'none') . ", $r->{xcs}");
        }
    }
    is($b->count('/gz/v'), 2, 'upstream varies on Accept-Encoding: one request per encoding');
}

# ---- a route without a cache --------------------------------------------------------------------
$r = get('/plain/x');
is($r->{status}, 200, 'route without cache: 200');
ok(!exists $r->{h}{'x-cache-status'} && !exists $r->{h}{'cache-status'},
   'route without cache: no X-Cache-Status / Cache-Status');

# ---- $upstream_cache_status -------------------------------------------------------------------
$b->set('/log/a', headers => $CC60, body => "log\n");
get('/log/a');
get('/log/a');
get('/log/a', 'Cache-Control' => 'no-store');
my $log = '';
$p->wait_for(sub {
    $log = $p->access_log('cache.log') // '';
    return $log =~ m{^/log/a 200 BYPASS$}m && $log =~ m{^/plain/x }m;
}, 5);
like($log, qr{^/log/a 200 MISS\n/log/a 200 HIT\n/log/a 200 BYPASS$}m,
     '$upstream_cache_status: MISS, HIT, BYPASS in the access log');
like($log, qr{^/plain/x 200 -$}m, '$upstream_cache_status: "-" on a route without cache');

$p->stop;
done_testing();
