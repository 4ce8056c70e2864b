#!/usr/bin/perl
# cache_failures.t: response caching (issue 12) when things go wrong, against an origin that
# counts the requests it gets per target (t/lib/cache_backend.py): a body that fails mid-way
# (Content-Length or chunked, the backend closes early) is never served from the cache; a
# kill -9 of the worker while it streams a big body into the cache never serves a partial
# body afterwards and does not leave the key locked (lock = true, lock_timeout 10s); after a
# restart the loader makes stored entries hits again and a partial write is not one of them;
# a cache path where entries cannot be written (a regular file where a level folder should
# be, then where the temporary folder should be; works as root too) degrades to proxying:
# complete, correct responses and one error line per failed store, nothing stored.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Portico;
use PorticoCacheBackend;
use File::Path qw(remove_tree);
use Time::HiRes qw(sleep time);

skip_unless_module('cache', 'proxy');

my $p = Portico->new(start => 0);
$p->allow(qr/exited on signal 9/);
my $b = PorticoCacheBackend->new(port => $p->port(2));
$p->write_conf(<<'EOF');
upstreams = ( { name = "o"; retries = 0; read_timeout = "10s";
                servers = ( { address = "127.0.0.1:%%PORT2%%"; } ); } );
caches = ( { name = "main"; path = "cache/main"; } );
servers = ( { listen = ["127.0.0.1:%%PORT1%%"];
  routes = (
    { match = { path_prefix = "/lock/"; }; proxy = { upstream = "o"; };
      cache = { zone = "main"; lock = true; lock_timeout = "10s"; }; },
    { match = { path_prefix = "/"; }; proxy = { upstream = "o"; };
      cache = { zone = "main"; }; }
  ); } );
EOF
$p->start;
my $port = $p->port(1);

sub get { return cget($port, @_); }

my $CC60 = [['Cache-Control', 'max-age=60']];
my $MIB = 1 << 20;
my $MIB_SHA = sha256_hex(pattern_bytes($MIB));

# ---- a body that fails mid-way ------------------------------------------------------------------
for my $c (['/cut/cl', 0], ['/cut/ch', 1]) {
    my ($t, $chunked) = @$c;
    my $how = $chunked ? 'chunked' : 'Content-Length';
    $b->set($t, headers => $CC60, size => $MIB, chunked => $chunked, close_after => 100_000);
    my $r = get($t, -timeout => 10);
    ok(length($r->{body}) < $MIB, "$how body cut by the backend: the client got less than 1 MiB")
        or diag('got ' . length($r->{body}));
    sleep 0.3;
    $b->set($t, headers => $CC60, size => $MIB, chunked => $chunked);
    $r = get($t, -timeout => 10);
    is($r->{xcs}, 'MISS', "$how: after the cut body, a MISS (nothing was stored)");
    is(sha256_hex($r->{body}), $MIB_SHA, "$how: then the whole body");
    is($b->count($t), 2, "$how: the backend was asked again");
    $r = get($t, -timeout => 10);
    is($r->{xcs}, 'HIT', "$how: the complete body was stored");
    is(sha256_hex($r->{body}), $MIB_SHA, "$how: the hit is byte-identical");
}

# ---- kill -9 of the worker mid-write --------------------------------------------------------------
my $BIG = 8 * $MIB;
my $BIG_SHA = sha256_hex(pattern_bytes($BIG));

# Starts GET $t (the backend streams 8 MiB over about 2.5 s), reads until 1 MiB arrived, then
# kills the worker with SIGKILL and waits for its replacement. True when all that happened.
sub kill_mid_write
{
    my ($t) = @_;
    $b->set($t, headers => $CC60, size => $BIG, chunk => 65536, chunk_delay_ms => 20);
    my ($old) = $p->worker_pids;
    my $s = http_connect($port) or return 0;
    http_send($s, http_request('GET', $t, Connection => 'close'));
    my ($got, $deadline) = (0, time + 5);
    while ($got < $MIB && time < $deadline) {
        my $rin = '';
        vec($rin, fileno($s), 1) = 1;
        last unless select(my $rout = $rin, undef, undef, $deadline - time);
        my $n = sysread($s, my $buf, 65536);
        last unless $n;
        $got += $n;
    }
    return 0 unless $got >= $MIB;
    kill 'KILL', $old;
    close $s;
    my $ok = $p->wait_for(sub { my @w = $p->worker_pids; @w == 1 && $w[0] != $old }, 10);
    $b->set($t, headers => $CC60, size => $BIG);    # the next fetch is quick
    return $ok;
}

ok(kill_mid_write('/lock/k1'), 'kill -9 mid-write: 1 MiB arrived, worker killed and replaced');
my $r = get('/lock/k1', -timeout => 15);
is($r->{status}, 200, 'after kill -9: 200');
is($r->{xcs}, 'MISS', 'after kill -9: a MISS, not the partial entry');
is(sha256_hex($r->{body}), $BIG_SHA, 'after kill -9: the whole 8 MiB body');
is($b->count('/lock/k1'), 2, 'after kill -9: the backend was asked again');
$r = get('/lock/k1', -timeout => 15);
is($r->{xcs}, 'HIT', 'after kill -9: the complete body was stored');
is(sha256_hex($r->{body}), $BIG_SHA, 'after kill -9: the hit is byte-identical');

# the lock of the killed worker is released: a new request does not wait for lock_timeout
ok(kill_mid_write('/lock/k3'), 'kill -9 mid-write again (lock = true)');
my $t0 = time;
$r = get('/lock/k3', -timeout => 15);
my $took = time - $t0;
is(sha256_hex($r->{body}), $BIG_SHA, 'lock of a killed worker: the whole body');
ok($took < 5, 'lock of a killed worker: released at once, not after lock_timeout 10s')
    or diag(sprintf('took %.1f s', $took));

# ---- restart: the loader, and no partial entry ------------------------------------------------------
$b->set('/persist/a', headers => [['Cache-Control', 'max-age=600']], size => 5000);
get('/persist/a');
is(get('/persist/a')->{xcs}, 'HIT', 'restart: /persist/a stored before');
ok(kill_mid_write('/lock/k2'), 'restart: kill -9 mid-write of /lock/k2 first');
$p->stop(no_check => 1);
$p->start;
sleep 1.2;
$r = get('/persist/a');
is($r->{xcs}, 'HIT', 'after a restart: the loader made the stored entry a hit');
is($r->{body}, pattern_bytes(5000), 'after a restart: its bytes');
is($b->count('/persist/a'), 1, 'after a restart: the backend was not asked');
$r = get('/lock/k2', -timeout => 15);
is($r->{xcs}, 'MISS', 'after a restart: the killed write is not an entry');
is(sha256_hex($r->{body}), $BIG_SHA, 'after a restart: the whole body from the backend');

# ---- entries cannot be written ----------------------------------------------------------------------
my $q = Portico->new(start => 0);
my $qb = PorticoCacheBackend->new(port => $q->port(2));
$q->write_conf(<<'EOF');
upstreams = ( { name = "o"; retries = 0; servers = ( { address = "127.0.0.1:%%PORT2%%"; } ); } );
caches = ( { name = "u"; path = "cache/u"; } );
servers = ( { listen = ["127.0.0.1:%%PORT1%%"];
  routes = ( { match = { path_prefix = "/"; }; proxy = { upstream = "o"; };
               cache = { zone = "u"; }; } ); } );
EOF
$q->start;
my $dir = $q->prefix . '/cache/u';
ok($q->wait_for(sub { -d $dir }, 3), 'the cache path was created at start');
sleep 1.2;    # the loader has walked the (empty) folder
# A regular file where every first-level folder (one hex digit) would be: the entry cannot
# be renamed into place (works as root, which mode bits would not stop).
my $made = 0;
for my $d (0 .. 9, 'a' .. 'f') {
    next if -e "$dir/$d";
    write_file("$dir/$d", "not a folder\n");
    $made++;
}
is($made, 16, 'sixteen level folders replaced by files');

sub error_lines
{
    return scalar grep { /\[(error|crit|alert|emerg)\]/ } split /\n/, $q->error_log // '';
}

my $e0 = error_lines();
my $qport = $q->port(1);
my $SHA200K = sha256_hex(pattern_bytes(200_000));
$qb->set('/u/a', headers => $CC60, size => 200_000);
$r = cget($qport, '/u/a');
is($r->{status}, 200, 'unwritable level folder: 200');
is(sha256_hex($r->{body}), $SHA200K, 'unwritable level folder: the whole body');
is($r->{xcs}, 'MISS', 'unwritable level folder: MISS');
$q->wait_for(sub { error_lines() > $e0 }, 2);
is(error_lines() - $e0, 1, 'unwritable level folder: one error line')
    or diag($q->error_log);
$r = cget($qport, '/u/a');
ok($r->{status} == 200 && $r->{xcs} eq 'MISS' && sha256_hex($r->{body}) eq $SHA200K,
   'unwritable level folder: the next request is proxied again, whole');
is($qb->count('/u/a'), 2, 'unwritable level folder: nothing was stored');
is(error_lines() - $e0, 2, 'unwritable level folder: one error line per failed store');

# the temporary folder is a file: the store fails before any byte is written
remove_tree("$dir/tmp");
write_file("$dir/tmp", "not a folder\n");
my $e1 = error_lines();
$qb->set('/u/b', headers => $CC60, size => $MIB);
for my $i (1 .. 3) {
    $r = cget($qport, '/u/b', -timeout => 10);
    ok($r->{status} == 200 && $r->{xcs} eq 'MISS' && sha256_hex($r->{body}) eq $MIB_SHA,
       "unwritable temporary folder, request $i: 200 MISS with the whole 1 MiB");
}
is($qb->count('/u/b'), 3, 'unwritable temporary folder: every request proxied');
$q->wait_for(sub { error_lines() >= $e1 + 3 }, 2);
is(error_lines() - $e1, 3, 'unwritable temporary folder: one error line per failed store')
    or diag($q->error_log);
$q->stop;

$p->stop;
done_testing();
