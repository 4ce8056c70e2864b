#!/usr/bin/perl
# cache_stale.t: response caching (issue 12) once entries expire, and concurrent misses,
# against an origin that counts the requests it gets per target (t/lib/cache_backend.py),
# two workers: lock = true collapses 20 concurrent misses into exactly one backend request
# (all 20 get the same body), lock_timeout lets a waiter go upstream itself; revalidation of
# an expired entry (If-None-Match / If-Modified-Since seen by the backend, 304 -> 200 with
# the stored body, REVALIDATED, the new lifetime), a changed validator -> EXPIRED with the new
# body, request no-cache revalidates a fresh entry; use_stale error / timeout / http_500 and
# the backend down -> STALE with the old body; use_stale updating and the upstream's own
# stale-while-revalidate: every request, the one that refreshes included, gets UPDATING at once
# while one background request refreshes; the upstream's own stale-if-error without
# use_stale, and must-revalidate forbidding it.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Portico;
use PorticoCacheBackend;
use Time::HiRes qw(sleep time);
use List::Util qw(max);

skip_unless_module('cache', 'proxy');

my $p = Portico->new(start => 0);
my $b = PorticoCacheBackend->new(port => $p->port(2));
$p->write_conf(<<'EOF');
worker_processes = 2;
upstreams = (
  { name = "o"; retries = 0; connect_timeout = "1s"; read_timeout = "10s";
    servers = ( { address = "127.0.0.1:%%PORT2%%"; } ); },
  { name = "fast"; retries = 0; connect_timeout = "1s"; read_timeout = "1s";
    servers = ( { address = "127.0.0.1:%%PORT2%%"; } ); } );
caches = ( { name = "main"; path = "cache/main"; } );
servers = ( { listen = ["127.0.0.1:%%PORT1%%"];
  routes = (
    { match = { path_prefix = "/se/"; }; proxy = { upstream = "fast"; };
      cache = { zone = "main";
                use_stale = ["error", "timeout", "http_500", "http_502", "http_503",
                             "http_504"]; }; },
    { match = { path_prefix = "/up/"; }; proxy = { upstream = "o"; };
      cache = { zone = "main"; use_stale = ["updating"]; }; },
    { match = { path_prefix = "/lock/"; }; proxy = { upstream = "o"; };
      cache = { zone = "main"; lock = true; lock_timeout = "5s"; }; },
    { match = { path_prefix = "/lockt/"; }; proxy = { upstream = "o"; };
      cache = { zone = "main"; lock = true; lock_timeout = "1s"; }; },
    { match = { path_prefix = "/"; }; proxy = { upstream = "o"; };
      cache = { zone = "main"; }; }
  ); } );
EOF
$p->start;
ok($p->wait_for(sub { $p->worker_pids == 2 }, 10), 'two workers');
my $port = $p->port(1);

sub get { return cget($port, @_); }

sub res
{
    my ($r, $status, $xcs, $body, $name) = @_;
    is($r->{status}, $status, "$name: status $status");
    is($r->{xcs}, $xcs, "$name: X-Cache-Status $xcs");
    is($r->{body}, $body, "$name: body") if defined $body;
}

my $CC1 = [['Cache-Control', 'max-age=1']];
my $CC60 = [['Cache-Control', 'max-age=60']];
my $LM = 'Mon, 07 Dec 2026 10:00:00 GMT';
my $STALE_CS = qr/^portico; fwd=stale(?:; fwd-status=\d+)?(?:; ttl=-?\d+)?; detail=served-stale$/;

# ---- entries that will expire -----------------------------------------------------------------
my %store = (
    '/rv/etag'    => { headers => $CC1, etag => '"r1"', body => "rv {n}\n" },
    '/rv/lm'      => { headers => $CC1, last_modified => $LM, body => "lm {n}\n" },
    '/rv/changed' => { headers => $CC1, etag => '"r1"', body => "ch {n}\n" },
    '/rv/nc'      => { headers => $CC60, etag => '"n1"', body => "nc {n}\n" },
    '/se/close'   => { headers => $CC1, body => "sec {n}\n" },
    '/se/500'     => { headers => $CC1, body => "se5 {n}\n" },
    '/se/404'     => { headers => $CC1, body => "se4 {n}\n" },
    '/se/timeout' => { headers => $CC1, body => "set {n}\n" },
    '/se/down'    => { headers => $CC1, body => "sed {n}\n" },
    '/up/a'       => { headers => $CC1, body => "up {n}\n" },
    '/sie/a'      => { headers => [['Cache-Control', 'max-age=1, stale-if-error=60']],
                       body => "sie {n}\n" },
    '/sie/500'    => { headers => [['Cache-Control', 'max-age=1, stale-if-error=60']],
                       body => "sie5 {n}\n" },
    '/sie/mr'     => { headers => [['Cache-Control',
                                    'max-age=1, stale-if-error=60, must-revalidate']],
                       body => "siemr {n}\n" },
    '/nostale/a'  => { headers => $CC1, body => "nos {n}\n" },
    '/swr/a'      => { headers => [['Cache-Control', 'max-age=1, stale-while-revalidate=60']],
                       body => "swr {n}\n" },
);
for my $t (sort keys %store) {
    $b->set($t, %{ $store{$t} });
    my $r = get($t);
    ok($r->{status} == 200 && $r->{xcs} eq 'MISS', "$t: stored (200 MISS)")
        or diag("$r->{status} $r->{xcs}");
}
my $stored_at = time;

# ---- lock: 20 concurrent misses, two workers, one backend request -------------------------------
$b->set('/lock/a', headers => $CC60, delay_ms => 500, body => "lock {n}\n");
my @a = map { async_send($port, 'GET', '/lock/a') } 1 .. 20;
my @r = map { async_read($_, 10) } @a;
is(scalar(grep { $_->{status} == 200 } @r), 20, 'lock: 20 answers 200');
is(scalar(grep { $_->{body} eq "lock 1\n" } @r), 20, 'lock: all 20 got the one body');
is($b->count('/lock/a'), 1, 'lock: exactly one backend request');
my %xcs;
$xcs{ $_->{xcs} }++ for @r;
is($xcs{MISS} // 0, 1, 'lock: one MISS');
is($xcs{HIT} // 0, 19, 'lock: 19 HIT (served from the new entry)')
    or diag(join(', ', map { "$_=$xcs{$_}" } sort keys %xcs));
ok(max(map { $_->{elapsed} } @r) < 3, 'lock: every waiter answered within 3 s');

# lock_timeout 1s: a waiter goes to the backend itself after 1 s
$b->set('/lockt/a', headers => $CC60, delay_ms => 2000, body => "lt {n}\n");
my $first = async_send($port, 'GET', '/lockt/a');
sleep 0.2;
my $second = async_send($port, 'GET', '/lockt/a');
my ($r1, $r2) = (async_read($first, 10), async_read($second, 10));
is($r1->{status}, 200, 'lock_timeout: the holder 200');
is($r2->{status}, 200, 'lock_timeout: the waiter 200');
is($b->count('/lockt/a'), 2, 'lock_timeout 1s: the waiter went to the backend itself');
ok($r2->{elapsed} >= 2.9, 'lock_timeout: the waiter waited 1 s, then 2 s of backend')
    or diag("elapsed $r2->{elapsed}");

# ---- every stored entry is now expired ----------------------------------------------------------
sleep(2.5 - (time - $stored_at)) if time - $stored_at < 2.5;

# ---- revalidation ------------------------------------------------------------------------------
$b->set('/rv/etag', headers => $CC60, etag => '"r1"', body => "rv {n}\n");
my $r = get('/rv/etag');
res($r, 200, 'REVALIDATED', "rv 1\n", 'expired entry, ETag, backend 304');
like($r->{cs}, qr/^portico; fwd=stale; fwd-status=304\b/, 'REVALIDATED: Cache-Status fwd=stale; fwd-status=304')
    or diag("Cache-Status: $r->{cs}");
is($b->seen_header('/rv/etag', 1, 'If-None-Match'), '"r1"', 'the backend saw If-None-Match: "r1"');
is($b->count('/rv/etag'), 2, 'revalidation: one more backend request');
$r = get('/rv/etag');
res($r, 200, 'HIT', "rv 1\n", 'after REVALIDATED: a hit');
like($r->{cs}, qr/^portico; hit; ttl=(59|60)$/, 'after REVALIDATED: the 304 gave the new lifetime')
    or diag("Cache-Status: $r->{cs}");
is($r->{h}{'cache-control'}, 'max-age=60', 'after REVALIDATED: the stored headers were refreshed');

$b->set('/rv/lm', headers => $CC60, last_modified => $LM, body => "lm {n}\n");
res(get('/rv/lm'), 200, 'REVALIDATED', "lm 1\n", 'expired entry, Last-Modified, backend 304');
is($b->seen_header('/rv/lm', 1, 'If-Modified-Since'), $LM, 'the backend saw If-Modified-Since');
res(get('/rv/lm'), 200, 'HIT', "lm 1\n", 'after REVALIDATED (Last-Modified): a hit');

$b->set('/rv/changed', headers => $CC60, etag => '"r2"', body => "ch {n}\n");
res(get('/rv/changed'), 200, 'EXPIRED', "ch 2\n", 'validator changed: 200 from the backend');
is($b->seen_header('/rv/changed', 1, 'If-None-Match'), '"r1"', 'changed: If-None-Match "r1" sent');
$r = get('/rv/changed');
res($r, 200, 'HIT', "ch 2\n", 'changed: the new body was stored');
is($r->{h}{etag}, '"r2"', 'changed: the new ETag was stored');

res(get('/rv/nc', 'Cache-Control' => 'no-cache'), 200, 'REVALIDATED', "nc 1\n",
    'request no-cache on a fresh entry with ETag: revalidated');
is($b->seen_header('/rv/nc', 1, 'If-None-Match'), '"n1"', 'request no-cache: If-None-Match sent');

# ---- use_stale: error, http_500, timeout ----------------------------------------------------------
$b->set('/se/close', action => 'close');
$r = get('/se/close');
res($r, 200, 'STALE', "sec 1\n", 'use_stale error: backend closed without answering');
like($r->{cs}, $STALE_CS, 'STALE: Cache-Status fwd=stale ... detail=served-stale')
    or diag("Cache-Status: $r->{cs}");
# a connection closed without an answer may be a kept-alive one the backend dropped: the
# proxy may try once more on a new connection
my $n = $b->count('/se/close');
ok($n == 2 || $n == 3, 'use_stale error: the backend was asked (once, or twice with the retry)')
    or diag("count $n");
$b->set('/se/500', status => 500, body => "boom\n");
res(get('/se/500'), 200, 'STALE', "se5 1\n", 'use_stale http_500: the stale entry instead of 500');
$b->set('/se/404', status => 404, body => "gone {n}\n");
res(get('/se/404'), 404, 'EXPIRED', "gone 2\n", 'use_stale: a 404 is not an error, passed on');
$b->set('/se/timeout', headers => $CC1, delay_ms => 1500, body => "set {n}\n");
$r = get('/se/timeout');
res($r, 200, 'STALE', "set 1\n", 'use_stale timeout: read_timeout 1s passed');

# ---- use_stale updating ------------------------------------------------------------------------------
$b->set('/up/a', headers => $CC60, delay_ms => 1500, body => "up {n}\n");
my $refresh = async_send($port, 'GET', '/up/a');
sleep 0.3;
my @upd = map { async_send($port, 'GET', '/up/a') } 1 .. 3;
@upd = map { async_read($_, 5) } @upd;
for my $i (0 .. $#upd) {
    res($upd[$i], 200, 'UPDATING', "up 1\n", "use_stale updating: request $i during the refresh");
    ok($upd[$i]->{elapsed} < 0.8, "use_stale updating: request $i answered at once")
        or diag("elapsed $upd[$i]->{elapsed}");
}
like($upd[0]->{cs}, qr/^portico; hit; ttl=-?\d+$/, 'UPDATING: Cache-Status hit; ttl=...')
    or diag("Cache-Status: $upd[0]->{cs}");
$r = async_read($refresh, 10);
# the request that found the entry stale is answered from it at once too: the refresh runs
# behind its answer (a background request)
res($r, 200, 'UPDATING', "up 1\n", 'use_stale updating: the request that refreshes');
ok($r->{elapsed} < 0.8, 'use_stale updating: the refreshing request answered at once')
    or diag("elapsed $r->{elapsed}");
my $new = $p->wait_for(sub { my $x = get('/up/a'); $x->{xcs} eq 'HIT' ? $x : 0 }, 5);
ok($new && $new->{body} eq "up 2\n", 'use_stale updating: then the new entry');
is($b->count('/up/a'), 2, 'use_stale updating: one refresh request');

# ---- the upstream's stale-while-revalidate (no use_stale) -----------------------------------------
# Within the response's own window, as with use_stale updating: the request that finds the
# entry stale is answered from it at once and the refresh runs behind its answer; requests
# that arrive meanwhile get the stale entry too.
$b->set('/swr/a', headers => $CC60, delay_ms => 1000, body => "swr {n}\n");
$refresh = async_send($port, 'GET', '/swr/a');
sleep 0.3;
my @swr = map { async_send($port, 'GET', '/swr/a') } 1 .. 2;
unshift @swr, $refresh;
@swr = map { async_read($_, 5) } @swr;
for my $i (0 .. $#swr) {
    my $who = $i == 0 ? 'the request that refreshes' : "request $i during the refresh";
    res($swr[$i], 200, 'UPDATING', "swr 1\n", "stale-while-revalidate: $who");
    ok($swr[$i]->{elapsed} < 0.8, "stale-while-revalidate: $who answered at once")
        or diag("elapsed $swr[$i]->{elapsed}");
    ok(defined $swr[$i]->{age}, "stale-while-revalidate: $who has an Age");
}
$new = $p->wait_for(sub { my $x = get('/swr/a'); $x->{xcs} eq 'HIT' ? $x : 0 }, 5);
ok($new && $new->{body} eq "swr 2\n", 'stale-while-revalidate: then the new entry');
is($b->count('/swr/a'), 2, 'stale-while-revalidate: one refresh request');

# ---- the upstream's stale-if-error with the backend answering 500 ---------------------------------
$b->set('/sie/500', status => 500, body => "boom\n");
res(get('/sie/500'), 200, 'STALE', "sie5 1\n", 'stale-if-error=60 (no use_stale): 500 -> STALE');

# ---- the backend down -------------------------------------------------------------------------------
my $bport = $b->port;
$b->stop;
$r = get('/se/down');
res($r, 200, 'STALE', "sed 1\n", 'use_stale error, backend down: STALE with the old body');
res(get('/sie/a'), 200, 'STALE', "sie 1\n", 'stale-if-error=60 (no use_stale), backend down');
is(get('/sie/mr')->{status}, 502, 'stale-if-error with must-revalidate, backend down: 502');
is(get('/nostale/a')->{status}, 502, 'no use_stale, no stale-if-error, backend down: 502');
$r = get('/never/stored');
is($r->{status}, 502, 'backend down, nothing stored: 502');

$b = PorticoCacheBackend->new(port => $bport);
$b->set('/se/down', headers => $CC60, body => "back {n}\n");
res(get('/se/down'), 200, 'EXPIRED', "back 1\n", 'backend back: the entry is refreshed');
res(get('/se/down'), 200, 'HIT', "back 1\n", 'backend back: then a hit');

$p->stop;
done_testing();
