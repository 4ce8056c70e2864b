#!/usr/bin/perl
# cache_purge.t: PURGE and the cache figures of the status route (issue 12), two workers,
# against an origin that counts the requests it gets per target (t/lib/cache_backend.py):
# PURGE allowed by the zone's `purge` list -> 200 and the next GET is a MISS (entries stored
# by either worker), PURGE of a missing entry -> 404, PURGE from an address the list does not
# allow (a non-matching allow, "deny all", no list at all) -> 403 and the entry stays, PURGE
# of a Vary entry removes every variant, `PURGE /prefix*` removes exactly the entries whose
# key starts with the prefix (404 when none); then the per-zone counters in Prometheus
# (portico_cache_{hits,misses,expired,stale,updating,revalidated,bypass,served_bytes}_total,
# the entries and disk_bytes gauges, evictions) with exact numbers after a known sequence.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Portico;
use PorticoCacheBackend;
use Time::HiRes qw(sleep time);

skip_unless_module('cache', 'proxy', 'status');

my $p = Portico->new(start => 0);
my $b = PorticoCacheBackend->new(port => $p->port(2));
$p->write_conf(<<'EOF');
worker_processes = 2;
upstreams = ( { name = "o"; retries = 0; read_timeout = "10s";
                servers = ( { address = "127.0.0.1:%%PORT2%%"; } ); } );
caches = (
  { name = "main"; path = "cache/main"; purge = ["allow 127.0.0.1", "deny all"]; },
  { name = "other_net"; path = "cache/other"; purge = ["allow 10.0.0.0/8"]; },
  { name = "denied"; path = "cache/denied"; purge = ["deny all"]; },
  { name = "nolist"; path = "cache/nolist"; },
  { name = "stats"; path = "cache/stats"; }
);
servers = ( { listen = ["127.0.0.1:%%PORT1%%"];
  routes = (
    { match = { path = "/metrics"; }; status = { format = "prometheus"; }; },
    { match = { path_prefix = "/on/"; }; proxy = { upstream = "o"; };
      cache = { zone = "other_net"; }; },
    { match = { path_prefix = "/dn/"; }; proxy = { upstream = "o"; };
      cache = { zone = "denied"; }; },
    { match = { path_prefix = "/nl/"; }; proxy = { upstream = "o"; };
      cache = { zone = "nolist"; }; },
    { match = { path_prefix = "/s/st/"; }; proxy = { upstream = "o"; };
      cache = { zone = "stats"; use_stale = ["error"]; }; },
    { match = { path_prefix = "/s/"; }; proxy = { upstream = "o"; };
      cache = { zone = "stats"; }; },
    { match = { path_prefix = "/"; }; proxy = { upstream = "o"; };
      cache = { zone = "main"; }; }
  ); } );
EOF
$p->start;
ok($p->wait_for(sub { $p->worker_pids == 2 }, 10), 'two workers');
my $port = $p->port(1);

sub get   { return cget($port, @_); }
sub purge { return creq($port, 'PURGE', @_); }

my $CC60 = [['Cache-Control', 'max-age=60']];

# Stores $t (several GETs, so that with two workers either may have stored or served it) and
# checks it is a hit.
sub store
{
    my ($t, $name) = @_;
    $b->set($t, headers => $CC60, body => "$t {n}\n") unless $b->count($t);
    get($t) for 1 .. 2;
    my $r = get($t);
    is($r->{xcs}, 'HIT', "$name: $t stored");
}

# ---- PURGE allowed ------------------------------------------------------------------------------
store('/a', 'purge allowed');
my $r = purge('/a');
is($r->{status}, 200, 'PURGE /a (allowed, stored): 200');
$r = get('/a');
is($r->{xcs}, 'MISS', 'after PURGE: MISS');
is($r->{body}, "/a 2\n", 'after PURGE: the backend answered again');
is($b->count('/a'), 2, 'after PURGE: two backend requests in all');
is(purge('/missing')->{status}, 404, 'PURGE of an entry never stored: 404');
is(purge('/a?x=1')->{status}, 404, 'PURGE: the query is part of the key (404)');
is(get('/a')->{xcs}, 'HIT', 'the 404 PURGE did not touch /a');
# many entries, purged one after the other, each from a fresh connection (either worker)
for my $i (1 .. 6) {
    $b->set("/m/$i", headers => $CC60, body => "m $i\n");
    get("/m/$i");
}
is(scalar(grep { purge("/m/$_")->{status} == 200 } 1 .. 6), 6, 'six stored entries: six PURGE 200');
is(scalar(grep { purge("/m/$_")->{status} == 404 } 1 .. 6), 6, 'purged again: six 404');
is(scalar(grep { get("/m/$_")->{xcs} eq 'MISS' } 1 .. 6), 6, 'purged entries: six MISS');

# ---- PURGE denied -----------------------------------------------------------------------------------
for my $c (['/on/x', 'allow 10.0.0.0/8 only'], ['/dn/x', 'deny all'], ['/nl/x', 'no purge list'])
{
    my ($t, $why) = @$c;
    store($t, "purge denied ($why)");
    is(purge($t)->{status}, 403, "PURGE $t ($why): 403");
    is(get($t)->{xcs}, 'HIT', "PURGE $t ($why): the entry stays");
    is(purge("$t*")->{status}, 403, "wildcard PURGE $t* ($why): 403");
}

# ---- PURGE of a Vary entry -----------------------------------------------------------------------
$b->set('/vary', headers => [@$CC60, ['Vary', 'Accept-Language']],
        body => "v {h:accept-language} {n}\n");
for my $l ('en', 'fr') {
    get('/vary', 'Accept-Language' => $l) for 1 .. 2;
}
is($b->count('/vary'), 2, 'Vary: two variants stored');
is(purge('/vary')->{status}, 200, 'PURGE of a Vary entry: 200');
is(get('/vary', 'Accept-Language' => 'en')->{xcs}, 'MISS', 'PURGE of a Vary entry: en removed');
is(get('/vary', 'Accept-Language' => 'fr')->{xcs}, 'MISS', 'PURGE of a Vary entry: fr removed');

# ---- wildcard PURGE -------------------------------------------------------------------------------
my @in = ('/w/a', '/w/b', '/w/c/d', '/w/e?q=1');
my @out = ('/wx/e', '/w', '/other/w/a');
store($_, 'wildcard') for @in, @out;
$r = purge('/w/*');
is($r->{status}, 200, 'PURGE /w/*: 200');
for my $t (@in) {
    is(get($t)->{xcs}, 'MISS', "PURGE /w/*: $t removed");
}
for my $t (@out) {
    is(get($t)->{xcs}, 'HIT', "PURGE /w/*: $t kept");
}
is(purge('/nothing/here/*')->{status}, 404, 'wildcard PURGE matching nothing: 404');
is(purge('/w/*')->{status}, 200, 'PURGE /w/* again (the GETs stored them again): 200');
is(purge('/w/*')->{status}, 404, 'PURGE /w/* once more: 404');
is(get('/wx/e')->{xcs}, 'HIT', 'after the wildcard PURGEs: /wx/e still kept');

# ---- the status route: per-zone figures -----------------------------------------------------------
# A known sequence in the zone "stats": 4 MISS, 3 HIT, 1 BYPASS, 1 EXPIRED, 1 REVALIDATED,
# 1 STALE, 0 UPDATING; body bytes served from the cache: 2 x 1000 (hits on /s/a), 200 (hit
# on /s/e), 30 (REVALIDATED /s/r), 4 (STALE /s/st/x).
my $before = prom_text($port, '/metrics');
is(prom_value($before, 'portico_cache_hits_total{zone="stats"}'), 0, 'stats zone: 0 hits at first')
    or diag('cache lines: ' . join("\n", grep { /cache/ } split /\n/, $before));
$b->set('/s/a', headers => $CC60, size => 1000);
$b->set('/s/b', headers => $CC60, size => 10);
$b->set('/s/e', headers => [['Cache-Control', 'max-age=1']], size => 200);
$b->set('/s/r', headers => [['Cache-Control', 'max-age=1']], etag => '"s1"', size => 30);
$b->set('/s/st/x', headers => [['Cache-Control', 'max-age=1']], size => 4);
my @seq;
push @seq, [get('/s/a'), 'MISS'], [get('/s/a'), 'HIT'], [get('/s/a'), 'HIT'];
push @seq, [get('/s/b', 'Cache-Control' => 'no-store'), 'BYPASS'];
push @seq, [get('/s/e'), 'MISS'], [get('/s/r'), 'MISS'], [get('/s/st/x'), 'MISS'];
sleep 2.5;
$b->set('/s/e', headers => [['Cache-Control', 'max-age=60']], size => 200);
$b->set('/s/r', headers => [['Cache-Control', 'max-age=60']], etag => '"s1"', size => 30);
$b->set('/s/st/x', action => 'close');
push @seq, [get('/s/e'), 'EXPIRED'], [get('/s/e'), 'HIT'];
push @seq, [get('/s/r'), 'REVALIDATED'], [get('/s/st/x'), 'STALE'];
for my $i (0 .. $#seq) {
    is($seq[$i][0]{xcs}, $seq[$i][1], "stats sequence $i: $seq[$i][1]");
}
my %want = (hits => 3, misses => 4, expired => 1, stale => 1, updating => 0,
            revalidated => 1, bypass => 1, served_bytes => 2234, evictions => 0);
my $m = prom_text($port, '/metrics');
for my $k (sort keys %want) {
    my $name = "portico_cache_${k}_total";
    is(prom_value($m, "$name\{zone=\"stats\"}"), $want{$k}, "$name\{zone=\"stats\"} = $want{$k}");
    ok($m =~ /^# TYPE $name counter$/m, "$name is a counter");
}
is(prom_value($m, 'portico_cache_hits_total{zone="denied"}'), 3,
   'portico_cache_hits_total{zone="denied"} = 3 (another zone counts apart)');
# the gauges are set by the cache manager (every second)
my $entries;
$p->wait_for(sub {
    $m = prom_text($port, '/metrics');
    $entries = prom_value($m, 'portico_cache_entries{zone="stats"}');
    return defined $entries && $entries == 4;
}, 5);
is($entries, 4, 'portico_cache_entries{zone="stats"} = 4 (a, e, r, st/x; b was bypassed)');
ok($m =~ /^# TYPE portico_cache_entries gauge$/m, 'portico_cache_entries is a gauge');
my $disk = prom_value($m, 'portico_cache_disk_bytes{zone="stats"}');
ok(defined $disk && $disk >= 1234 && $disk <= 1234 + 4 * 65536,
   'portico_cache_disk_bytes{zone="stats"}: at least the 1234 body bytes, at most 64 KiB more an entry')
    or diag('disk_bytes ' . ($disk // 'absent'));
ok($m =~ /^# TYPE portico_cache_disk_bytes gauge$/m, 'portico_cache_disk_bytes is a gauge');

$p->stop;
done_testing();
