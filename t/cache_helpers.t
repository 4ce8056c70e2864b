#!/usr/bin/perl
# cache_helpers.t: the cache's two helper processes (modules/cache/pco_cache_loader.c and
# pco_cache_manager.c) and the cache figures of the status route.
#   - entries survive a restart: after stop and start, the first request once the loader
#     is done is a HIT answered from the file (the backend is not asked again); so do the
#     variants of a Vary response (the loader inserts their marker too);
#   - the loader removes corrupt, truncated and misplaced files and temporary files older
#     than a minute (newer ones stay), one notice per removal and one summary line;
#   - 10,000 entries written beforehand are loaded in less than a second, and served;
#   - max_size: the manager removes the least recently used entries first and unlinks their
#     files; inactive: entries unused for that long go;
#   - keys_size too small for what is on disk: the loader keeps what fits, unlinks the
#     files of the dropped entries, warns; portico_cache_evictions_total counts them;
#   - the gauges portico_cache_entries / portico_cache_disk_bytes (and JSON "caches") match
#     the files on disk; every portico_cache_* family has one TYPE and a series per zone;
#   - ps titles "portico: cache loader" / "portico: cache manager"; both respawned after
#     kill -9 (a respawned loader walks again and inserts nothing twice); replaced on HUP.

use strict;
use warnings;
use Test::More;
use JSON::PP;
use File::Find;
use lib 't/lib';
use Portico;
use PorticoBackend;
use PorticoCacheBackend;
use PorticoCacheEntry qw(cache_key_hex cache_entry_path write_cache_entry);

skip_unless_module('cache', 'proxy', 'status');

# ---- helpers ----------------------------------------------------------------------------

sub get
{
    my ($port, $path, @h) = @_;
    my ($status, $h, $body) = http_parse(http_get($port, $path, @h));
    return ($status // 0, $h // {}, $body // '');
}

sub cache_status { my ($h) = @_; return $h->{'x-cache-status'} // ''; }

# Every regular file under $dir except DIR/tmp: { path => size }.
sub entry_files
{
    my ($dir) = @_;
    my %f;
    return {} unless -d $dir;
    find({ no_chdir => 1, wanted => sub {
        $File::Find::prune = 1 if -d $_ && $_ eq "$dir/tmp";
        $f{$_} = -s _ if -f $_;
    } }, $dir);
    return \%f;
}

sub metric
{
    my ($port, $name) = @_;
    my ($s, $h, $b) = get($port, '/metrics');
    return undef unless $s == 200;
    return $b =~ /^\Q$name\E (\d+)$/m ? $1 + 0 : undef;
}

sub helper_pids
{
    my ($p, $what) = @_;
    return grep { (Portico::title($_) // '') eq "portico: cache $what" } $p->children;
}

# The loader's summary lines for zone $zone: ([loaded, removed, ms], ...).
sub summaries
{
    my ($p, $zone) = @_;
    my $log = $p->error_log // '';
    my @s;
    my $re = qr/cache "\Q$zone\E": (\d+) entries loaded, (\d+) invalid files removed/;
    while ($log =~ /$re in (\d+) ms/g) {
        push @s, [$1, $2, $3];
    }
    return @s;
}

# Files a test writes as root must belong to the worker user (`user`, "nobody" by default),
# like the ones portico writes: the loader runs as that user and unlinks the invalid ones.
sub chown_tree
{
    my ($dir) = @_;
    return unless $> == 0;
    my ($uid, $gid) = (getpwnam('nobody'))[2, 3];
    find({ no_chdir => 1, wanted => sub { chown($uid, $gid, $_) } }, $dir);
}

sub backend_requests { my ($b) = @_; return $b->stats->{requests}; }

my $CONF = <<'EOF';
worker_processes = 1;
caches = (
  { name = "main"; path = "cache/main"; },
  { name = "small"; path = "cache/small"; max_size = "%%MAX%%"; },
  { name = "idle"; path = "cache/idle"; inactive = "2s"; },
  { name = "tiny"; path = "cache/tiny"; keys_size = "64k"; }
);
upstreams = ( { name = "app"; servers = ( { address = "127.0.0.1:%%PORT2%%"; } ); } );
servers = (
  { listen = ["127.0.0.1:%%PORT1%%"];
    routes = (
      { match = { path = "/metrics"; }; status = { format = "prometheus"; }; },
      { match = { path = "/metrics.json"; }; status = { format = "json"; }; },
      { match = { path_prefix = "/small/"; }; proxy = { upstream = "app"; rewrite = "/bytes"; };
        cache = { zone = "small"; key = "$request_uri";
                  valid = ( { status = [200]; time = "10m"; } ); }; },
      { match = { path_prefix = "/idle/"; }; proxy = { upstream = "app"; rewrite = "/bytes"; };
        cache = { zone = "idle"; key = "$request_uri";
                  valid = ( { status = [200]; time = "10m"; } ); }; },
      { match = { path_prefix = "/"; }; proxy = { upstream = "app"; };
        cache = { zone = "main"; key = "$request_uri";
                  valid = ( { status = [200]; time = "10m"; } ); }; }
    ); }
);
EOF

# One entry of the "small" zone: body 1000 bytes; the file is about 1.3 KiB.
my $MAX = 4500;
(my $conf = $CONF) =~ s/%%MAX%%/$MAX/;

my $p = Portico->new(start => 0);
$p->allow(qr/exited on signal 9/);
my $be = PorticoBackend->new(port => $p->port(2), id => 'b');
$p->write_conf($conf);
$p->start;
my $port = $p->port(1);
my $dir = $p->prefix . '/cache/main';

# ---- ps titles, loader summary on an empty directory --------------------------------------

ok(wait_until(sub { helper_pids($p, 'loader') == 1 && helper_pids($p, 'manager') == 1 }, 10),
   'ps: one "portico: cache loader" and one "portico: cache manager"');
ok(wait_until(sub { summaries($p, 'main') >= 1 }, 10), 'loader: summary line for "main"');
is_deeply([ (summaries($p, 'main'))[0]->@[0, 1] ], [0, 0], 'empty directory: 0 loaded, 0 removed');

# ---- a stored entry survives a restart ----------------------------------------------------

my ($s, $h, $b) = get($port, '/bytes?n=300');
is($s, 200, 'first request: 200');
is(cache_status($h), 'MISS', 'first request: MISS');
my $want = $b;
is(length($want), 300, 'body of 300 bytes');
my $hex = cache_key_hex('/bytes?n=300');
my $file = cache_entry_path($dir, $hex);
ok(wait_until(sub { -f $file }, 5), "entry file $hex stored at DIR/x/yz/hex");
($s, $h, $b) = get($port, '/bytes?n=300');
is(cache_status($h), 'HIT', 'second request: HIT');
my $asked = backend_requests($be);
is($asked, 1, 'backend asked once');

$p->stop;

# meanwhile: corrupt, truncated, misplaced and temporary files
my $bad = write_cache_entry($dir, key_text => '/corrupt', body => 'x');
open(my $fh, '+<:raw', $bad) or die; print {$fh} 'XXXX'; close($fh);
my $trunc = write_cache_entry($dir, key_text => '/trunc', body => 'y' x 50);
truncate($trunc, 150) or die;
my $other = cache_key_hex('/elsewhere');
my $misplaced = write_cache_entry($dir, key_text => '/elsewhere', body => 'z',
                                  path => "$dir/0/00/$other");
my $badname = "$dir/0/00/not-a-key";
write_file($badname, 'junk');
my ($old_tmp, $new_tmp) = ("$dir/tmp/old.1", "$dir/tmp/new.1");
write_file($old_tmp, 'partial');
write_file($new_tmp, 'partial');
utime(time - 120, time - 120, $old_tmp);
chown_tree($dir);

my $before = () = summaries($p, 'main');     # the log file goes on across restarts
$p->start;
ok(wait_until(sub { summaries($p, 'main') > $before }, 10), 'after restart: loader summary');
my @sum = summaries($p, 'main');
is_deeply([ $sum[-1]->@[0, 1] ], [1, 5], 'after restart: 1 entry loaded, 5 invalid files removed');
($s, $h, $b) = get($port, '/bytes?n=300');
is($s, 200, 'after restart: 200');
is(cache_status($h), 'HIT', 'after restart: the first request is a HIT');
is($b, $want, 'after restart: the stored body');
is(backend_requests($be), $asked, 'after restart: backend not asked');

ok(!-e $bad, 'corrupt file removed');
ok(!-e $trunc, 'truncated file removed');
ok(!-e $misplaced, 'file in the wrong folder removed');
ok(!-e $badname, 'file with a name that is not a key removed');
ok(!-e $old_tmp, 'temporary file older than a minute removed');
ok(-e $new_tmp, 'recent temporary file kept');
ok(-e $file, 'the valid entry kept');
my $log = $p->error_log;
like($log, qr/\[notice\].*cache "main": removed \Q$bad\E: not a valid cache entry/,
     'notice: corrupt file');
like($log, qr/\[notice\].*cache "main": removed \Q$trunc\E: truncated or wrong size/,
     'notice: truncated file');
like($log, qr/\[notice\].*cache "main": removed \Q$misplaced\E: in the wrong folder/,
     'notice: misplaced file');
like($log, qr/\[notice\].*cache "main": removed \Q$old_tmp\E: stale temporary file/,
     'notice: stale temporary file');

# ---- gauges ------------------------------------------------------------------------------

sub disk_bytes { my $f = entry_files($_[0]); my $t = 0; $t += $_ for values %$f; return $t; }

ok(wait_until(sub { (metric($port, 'portico_cache_entries{zone="main"}') // -1) == 1 }, 5),
   'gauge: portico_cache_entries{zone="main"} 1');
is(metric($port, 'portico_cache_disk_bytes{zone="main"}'), disk_bytes($dir),
   'gauge: portico_cache_disk_bytes{zone="main"} = the entry file\'s size');
ok(metric($port, 'portico_cache_hits_total{zone="main"}') >= 1, 'counter: hits');
my (undef, undef, $prom) = get($port, '/metrics');
for my $f (qw(hits_total:counter misses_total:counter expired_total:counter stale_total:counter
              updating_total:counter revalidated_total:counter bypass_total:counter
              served_bytes_total:counter evictions_total:counter entries:gauge
              disk_bytes:gauge)) {
    my ($name, $type) = split /:/, $f;
    my $types = () = $prom =~ /^# TYPE portico_cache_\Q$name\E \Q$type\E\n/mg;
    my $series = () = $prom =~ /^portico_cache_\Q$name\E\{zone="(?:main|small|idle|tiny)"\}
                                 \ \d+\n/mgx;
    ok($types == 1 && $series == 4, "portico_cache_$name: one TYPE $type, a series per zone");
}
my ($js, $jh, $jb) = get($port, '/metrics.json');
my $j = eval { decode_json($jb) } // {};
is($j->{caches}{main}{entries}, 1, 'JSON: caches.main.entries = 1');
is($j->{caches}{main}{disk_bytes}, disk_bytes($dir), 'JSON: caches.main.disk_bytes');
ok(exists $j->{caches}{small} && exists $j->{caches}{idle}, 'JSON: every zone listed');

# ---- helpers respawned after kill -9 -----------------------------------------------------

for my $what ('loader', 'manager') {
    my ($old) = helper_pids($p, $what);
    ok($old, "$what running");
    kill 'KILL', $old if $old;
    ok(wait_until(sub { my ($n) = helper_pids($p, $what); $n && $n != $old }, 15),
       "kill -9: the cache $what is respawned");
    like($p->error_log, qr/cache $what process $old exited on signal 9/, "kill -9 $what: logged");
}
ok(wait_until(sub { summaries($p, 'main') > $before + 1 }, 10),
   'the respawned loader walks again');
is_deeply([ (summaries($p, 'main'))[-1]->@[0, 1] ], [1, 0],
          'the respawned loader: 1 entry (already in the index), nothing removed');
($s, $h) = get($port, '/bytes?n=300');
is(cache_status($h), 'HIT', 'after the respawns: still a HIT');
ok(wait_until(sub { (metric($port, 'portico_cache_entries{zone="main"}') // -1) == 1 }, 5),
   'after the respawns: the gauge says 1 entry (nothing inserted twice)');

# ---- a reload: new helpers, the index kept, the new loader walks again ---------------------

my @old_helpers = (helper_pids($p, 'loader'), helper_pids($p, 'manager'));
my $walks = () = summaries($p, 'main');
$p->signal('HUP');
ok(wait_until(sub { summaries($p, 'main') > $walks }, 10), 'HUP: the new loader walks again');
ok(wait_until(sub {
    my @now = (helper_pids($p, 'loader'), helper_pids($p, 'manager'));
    @now == 2 && !grep { my $o = $_; grep { $_ == $o } @now } @old_helpers;
}, 10), 'HUP: one new loader and one new manager, the old ones gone');
($s, $h) = get($port, '/bytes?n=300');
is(cache_status($h), 'HIT', 'HUP: still a HIT');
is(backend_requests($be), $asked, 'HUP: backend not asked');

# ---- max_size: least recently used first, files unlinked -------------------------------

my $small = $p->prefix . '/cache/small';
my %sf;
for my $i (1 .. 3) {
    ($s, $h) = get($port, "/small/$i?n=1000");
    is(cache_status($h), 'MISS', "small $i: MISS");
    $sf{$i} = cache_entry_path($small, cache_key_hex("/small/$i?n=1000"));
    ok(wait_until(sub { -f $sf{$i} }, 5), "small $i: stored");
}
ok(disk_bytes($small) <= $MAX, 'three entries fit in max_size');
($s, $h) = get($port, '/small/1?n=1000');
is(cache_status($h), 'HIT', 'small 1: HIT (now the most recently used)');
($s, $h) = get($port, '/small/4?n=1000');
$sf{4} = cache_entry_path($small, cache_key_hex('/small/4?n=1000'));
ok(wait_until(sub { !-e $sf{2} }, 5), 'over max_size: the least recently used (2) is unlinked');
ok(-e $sf{1} && -e $sf{3} && -e $sf{4}, 'the others stay');
ok(disk_bytes($small) <= $MAX, 'disk use back under max_size');
like($p->error_log, qr/\[info\].*cache "small": 1 entries removed \(\d+ bytes\)/,
     'info line for the pass');
($s, $h) = get($port, '/small/2?n=1000');
is(cache_status($h), 'MISS', 'small 2: gone from the index too (MISS)');

# ---- inactive ----------------------------------------------------------------------------

my $idle = $p->prefix . '/cache/idle';
($s, $h) = get($port, '/idle/a?n=10');
is(cache_status($h), 'MISS', 'idle: MISS');
my $if = cache_entry_path($idle, cache_key_hex('/idle/a?n=10'));
ok(wait_until(sub { -f $if }, 5), 'idle: stored');
ok(wait_until(sub { !-e $if }, 8), 'idle: removed after inactive = 2s');
ok(wait_until(sub { (metric($port, 'portico_cache_entries{zone="idle"}') // -1) == 0 }, 5),
   'idle: gauge back to 0');
($s, $h) = get($port, '/idle/a?n=10');
is(cache_status($h), 'MISS', 'idle: MISS again');

unlike($p->error_log, qr/\[error\]/, 'no [error] line (every unlink and read succeeded)');
$p->stop;

# ---- 10,000 entries written beforehand: loaded within a second ---------------------------

my $q = Portico->new(start => 0);
my $be2 = PorticoBackend->new(port => $q->port(2), id => 'c');
(my $conf2 = $CONF) =~ s/%%MAX%%/0/;
$q->write_conf($conf2);
my $qdir = $q->prefix . '/cache/main';
for my $i (1 .. 10000) {
    write_cache_entry($qdir, key_text => "/pre/$i", status => 200,
                      headers => "Content-Type: text/plain\r\n", body => "entry $i\n");
}
# an index of 64 KiB holds a few hundred entries: the loader keeps what fits
my $tdir = $q->prefix . '/cache/tiny';
for my $i (1 .. 1000) {
    write_cache_entry($tdir, key_text => "/tiny/$i", body => "t$i\n");
}
chown_tree($tdir);
$q->start;
ok(wait_until(sub { summaries($q, 'main') >= 1 }, 10), '10,000 entries: loader summary');
my ($n, $rm, $ms) = @{ (summaries($q, 'main'))[0] // [0, 0, 99999] };
is($n, 10000, '10,000 entries loaded');
is($rm, 0, 'none removed');
cmp_ok($ms, '<', 1000, "loaded in less than a second ($ms ms)");
diag("10,000 entries loaded in $ms ms");
($s, $h, $b) = get($q->port(1), '/pre/5000');
is($s, 200, 'a pre-written entry: 200');
is(cache_status($h), 'HIT', 'a pre-written entry: HIT');
is($b, "entry 5000\n", 'a pre-written entry: its body');
is(backend_requests($be2), 0, 'backend never asked');
ok(wait_until(sub { (metric($q->port(1), 'portico_cache_entries{zone="main"}') // -1) == 10000 },
              5), 'gauge: 10000 entries');

# ---- keys_size too small: the least recently used entries dropped, files unlinked ---------

ok(wait_until(sub { summaries($q, 'tiny') >= 1 }, 10), 'tiny: loader summary');
is((summaries($q, 'tiny'))[0][0], 1000, 'tiny: 1000 valid entries read');
like($q->error_log,
     qr/\[warn\].*cache "tiny": keys_size is too small for the entries on disk: \d+ entries/,
     'tiny: warning about keys_size');
my ($dropped) = $q->error_log =~ /cache "tiny": keys_size is too small .*: (\d+) entries dropped/;
my $kept;
ok(wait_until(sub { $kept = metric($q->port(1), 'portico_cache_entries{zone="tiny"}');
                    defined $kept && $kept > 0 }, 5), 'tiny: entries gauge');
cmp_ok($kept, '<', 1000, "tiny: $kept entries kept");
is(scalar(keys %{ entry_files($tdir) }), $kept, 'tiny: the files of dropped entries unlinked');
is($dropped, 1000 - $kept, 'tiny: dropped + kept = 1000');
ok(wait_until(sub { (metric($q->port(1), 'portico_cache_evictions_total{zone="tiny"}') // -1)
                    == 1000 - $kept }, 5), 'tiny: portico_cache_evictions_total counts them');
($s, $h, $b) = get($q->port(1), '/metrics.json');
is((eval { decode_json($b) } // {})->{caches}{tiny}{evictions}, 1000 - $kept,
   'tiny: JSON evictions');
unlike($q->error_log, qr/\[error\]/, 'no [error] line');
$q->stop;

# ---- Vary: the variants and their marker come back after a restart ------------------------

my $v = Portico->new(start => 0);
my $vb = PorticoCacheBackend->new(port => $v->port(2));
$v->write_conf($conf2);
$vb->set('/v', headers => [['Cache-Control', 'max-age=600'], ['Vary', 'Accept-Encoding']],
         body => "v {n}\n");
$v->start;
my $vr = cget($v->port(1), '/v', 'Accept-Encoding' => 'gzip');
is("$vr->{xcs} $vr->{body}", "MISS v 1\n", 'Vary: gzip variant stored');
$vr = cget($v->port(1), '/v', 'Accept-Encoding' => 'br');
is("$vr->{xcs} $vr->{body}", "MISS v 2\n", 'Vary: br variant stored');
ok(wait_until(sub { keys %{ entry_files($v->prefix . '/cache/main') } == 2 }, 5),
   'Vary: two entry files');
$v->stop;
$v->start;
ok(wait_until(sub { summaries($v, 'main') >= 2 }, 10), 'Vary: loader summary after restart');
is((summaries($v, 'main'))[-1][0], 2, 'Vary: 2 entries loaded');
$vr = cget($v->port(1), '/v', 'Accept-Encoding' => 'gzip');
is("$vr->{xcs} $vr->{body}", "HIT v 1\n", 'Vary after restart: the gzip variant is a HIT');
$vr = cget($v->port(1), '/v', 'Accept-Encoding' => 'br');
is("$vr->{xcs} $vr->{body}", "HIT v 2\n", 'Vary after restart: the br variant is a HIT');
$vr = cget($v->port(1), '/v', 'Accept-Encoding' => 'identity');
is("$vr->{xcs} $vr->{body}", "MISS v 3\n", 'Vary after restart: another value is a MISS');
is($vb->count('/v'), 3, 'Vary: three backend requests in all');
$v->stop;

done_testing();
