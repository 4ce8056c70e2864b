#!/usr/bin/perl
# resolver.t: DNS re-resolution of upstream servers with `resolve = true` (docs/resolver.md),
# against t/lib/dns_server.py (a test DNS server answering from a JSON file the test
# rewrites), with worker_processes = 2 and no reload:
# - the name moves from 127.0.0.1 (backend a) to 127.0.0.2 (backend b, same port): every
#   worker sends its requests to b within TTL + slack, the change logged at notice;
# - two addresses: both used; back to one: only that one;
# - failures (SERVFAIL, no answer, NXDOMAIN, an empty answer) keep the last good addresses,
#   each logged at warn with the name, the upstream and the reason, and counted in the
#   status route's Prometheus and JSON output;
# - the TTL is clamped to 1 s (a TTL of 0 does not make the helper loop); `valid` replaces
#   the TTL; ipv6 = true uses the AAAA records too; one "portico: resolver" process,
#   respawned after kill -9;
# - reloads: a new helper looks up at once, counters go on; a reload while DNS does not
#   answer keeps the last good set (kept in the zone "resolver");
# - -t errors of the resolver block.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Portico;
use PorticoBackend;
use File::Temp qw(tempdir);
use JSON::PP ();
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(sleep time);

skip_unless_module('resolver', 'proxy', 'status');

my $dir = tempdir('portico-resolver-XXXXXX', DIR => '/tmp', CLEANUP => 1);
my $zone = "$dir/zone.json";
my $NAME = 'backend.test';

# Rewrites the zone (aside + rename: the server never reads half a file).
sub zone
{
    my (%o) = @_;
    my $z = { mode => $o{mode} // 'answer',
              names => { $NAME => { A => $o{a} // [], AAAA => $o{aaaa} // [],
                                    ttl => $o{ttl} // 1 } } };
    write_file("$zone.tmp", JSON::PP->new->canonical->encode($z));
    rename("$zone.tmp", $zone) or die "rename: $!";
}

sub queries
{
    my $t = read_file("$zone.log") // '';
    my @q = $t =~ /^\Q$NAME\E A$/mg;
    return scalar @q;
}

# The test DNS server on a free UDP port of 127.0.0.1 ("ready PORT" on its stdout).
zone(a => ['127.0.0.1']);
pipe(my $rd, my $wr) or die "pipe: $!";
my $dns_pid = fork() // die "fork: $!";
if ($dns_pid == 0) {
    close $rd;
    open(STDOUT, '>&', $wr);
    exec('python3', 't/lib/dns_server.py', '--zone', $zone) or POSIX::_exit(127);
}
close $wr;
my $ready = eval {
    local $SIG{ALRM} = sub { die "timeout\n" };
    alarm 10;
    my $l = <$rd>;
    alarm 0;
    $l;
} // '';
my ($dns_port) = $ready =~ /ready (\d+)/;
ok($dns_port, 'test DNS server ready') or BAIL_OUT('no DNS server');
END {
    if ($dns_pid) {
        kill 'TERM', $dns_pid;
        waitpid($dns_pid, 0);
    }
}

my $p = Portico->new(start => 0);
$p->allow(qr/resolver process \d+ exited on signal 9/);
my ($port, $bport, $cport) = ($p->port(1), $p->port(2), $p->port(3));
# a on 127.0.0.1:bport; b on 127.0.0.2:bport (its control port cport)
my $be_a = PorticoBackend->new(port => $bport, id => 'a', peer_pids => 1);
my $be_b = PorticoBackend->new(port => $cport, id => 'b', listen => ["127.0.0.2:$bport"],
                               peer_pids => 1);

(my $conf = <<'EOF') =~ s/%%DNS%%/$dns_port/g;
worker_processes = 2;
resolver = { nameservers = ["127.0.0.1:%%DNS%%"]; timeout = "300ms"; attempts = 1;
             ipv6 = false; };
upstreams = ( {
  name = "app"; max_fails = 0; keepalive = 0;
  servers = ( { address = "NAME:%%PORT2%%"; resolve = true; } );
} );
servers = ( {
  # one socket per worker: the kernel spreads the test's connections over both (with one
  # shared socket an idle machine hands every connection to the same worker)
  listen = ( { address = "127.0.0.1:%%PORT1%%"; reuseport = true; } );
  routes = (
    { match = { path = "/metrics"; }; status = { format = "prometheus"; }; },
    { match = { path = "/metrics.json"; }; status = { format = "json"; }; },
    { match = { path_prefix = "/"; }; proxy = { upstream = "app"; }; }
  );
} );
EOF
$conf =~ s/NAME/$NAME/g;
$p->write_conf($conf);
$p->start;
ok($p->wait_for(sub { $p->worker_pids == 2 }, 10), 'two workers');
my @workers = sort $p->worker_pids;

sub log_has
{
    my ($re, $n) = @_;
    my @m = ($p->error_log // '') =~ /$re/g;
    return @m >= ($n // 1);
}

sub resolver_pid
{
    my @h = grep { (Portico::title($_) // '') eq 'portico: resolver' } $p->children;
    return @h == 1 ? $h[0] : undef;
}

my $up = qr/resolver: "\Q$NAME\E" of upstream "app" is/;

# ---- start: the name -> 127.0.0.1
ok(wait_until(sub { log_has(qr/\[notice\] .*$up 127\.0\.0\.1:$bport \(ttl 1 s\)$/m) }, 10),
   'first lookup (the name did not resolve at load) logged at notice with address and TTL');
ok(resolver_pid(), 'one "portico: resolver" process');
is_deeply(http_spread($port, '/id', 10), { a => 10 }, 'name -> 127.0.0.1: backend a');

# ---- the record moves to 127.0.0.2: every worker follows within TTL + slack, no reload
$be_b->reset;
zone(a => ['127.0.0.2']);
my $t0 = time;
ok(wait_until(sub { log_has(qr/\[notice\] .*$up 127\.0\.0\.2:$bport \(ttl 1 s\)$/m) }, 10),
   'the change is logged at notice');
cmp_ok(time - $t0, '<', 1 + 3, 'picked up within TTL (1 s) + slack');
is_deeply(http_spread($port, '/id', 20), { b => 20 }, 'name -> 127.0.0.2: backend b only');
my %seen_pids;
ok(wait_until(sub {
       http_spread($port, '/id', 4);
       %seen_pids = %{ $be_b->stats->{peer_pids} || {} };
       return 2 == grep { $seen_pids{$_} } @workers;
   }, 15), 'both workers send to the new address') or diag explain \%seen_pids;
is_deeply([ sort $p->worker_pids ], \@workers, 'no reload: the same workers');
unlike($p->error_log, qr/reconfigur|reload/i, 'no reload in the log');

# ---- two addresses: both used
zone(a => ['127.0.0.1', '127.0.0.2']);
ok(wait_until(sub { log_has(qr/$up 127\.0\.0\.1:$bport, 127\.0\.0\.2:$bport \(/m) }, 10),
   'two addresses logged');
my $r = http_spread($port, '/id', 30);
ok($r->{a} && $r->{b} && $r->{a} + $r->{b} == 30, 'two addresses: both used')
    or diag explain $r;

# ---- failures keep the last good addresses
sub prom
{
    my ($s, $h, $b) = http_parse(http_get($port, '/metrics', -timeout => 10));
    my %v;
    for my $l (split /\n/, $b // '') {
        $v{$1} = $2 if $l =~ /^(portico_resolver_\w+\{[^}]*\}) (\d+)$/;
    }
    return \%v;
}
my $labels = qq({upstream="app",name="$NAME"});
my $m0 = prom();
ok(defined $m0->{"portico_resolver_lookups_total$labels"}, 'lookups counter in Prometheus')
    or diag explain $m0;
is($m0->{"portico_resolver_addresses$labels"}, 2, 'addresses gauge: 2');
my $fail0 = $m0->{"portico_resolver_failures_total$labels"} // -1;
is($fail0, 0, 'no failure so far');

my $n = 0;
for my $case ([ 'servfail', 'SERVFAIL' ], [ 'drop', 'timed out' ], [ 'nxdomain', 'NXDOMAIN' ],
              [ 'answer', 'no addresses', [] ])
{
    my ($mode, $why, $a) = @$case;
    $n++;
    zone(mode => $mode, a => $a // ['127.0.0.1', '127.0.0.2']);
    my $re = qr/\[warn\] .*resolver: lookup of "\Q$NAME\E" for upstream "app" failed: \Q$why\E; keeping its current addresses$/m;
    ok(wait_until(sub { log_has($re) }, 10), "$why: logged at warn with name, upstream, reason");
    $r = http_spread($port, '/id', 20);
    ok($r->{a} && $r->{b} && $r->{a} + $r->{b} == 20, "$why: both last good addresses kept")
        or diag explain $r;
    my $m = prom();
    cmp_ok($m->{"portico_resolver_failures_total$labels"} // 0, '>=', $n,
           "$why: failures counter moved");
}
my $m1 = prom();
cmp_ok($m1->{"portico_resolver_lookups_total$labels"},
       '>', $m0->{"portico_resolver_lookups_total$labels"}, 'lookups counter moved');
is($m1->{"portico_resolver_addresses$labels"}, 2, 'addresses gauge still 2');
my ($s, $h, $b) = http_parse(http_get($port, '/metrics.json', -timeout => 10));
my $j = eval { JSON::PP->new->decode($b) } || {};
my ($e) = grep { $_->{name} eq $NAME } @{ $j->{resolver} || [] };
ok($e && $e->{upstream} eq 'app' && $e->{failures} >= 4 && $e->{lookups} > $e->{failures}
   && $e->{addresses} == 2, 'JSON: resolver entry with lookups, failures, addresses')
    or diag explain $j->{resolver};

# ---- back to one address after the outage; retried quickly (at most the TTL here)
zone(a => ['127.0.0.1'], ttl => 0);
ok(wait_until(sub { log_has(qr/\[notice\] .*$up 127\.0\.0\.1:$bport \(ttl 0 s\)$/m) }, 10),
   'recovered: the new set logged');
is_deeply(http_spread($port, '/id', 20), { a => 20 }, 'one address again: backend a only');

# ---- a TTL of 0 is clamped to 1 s: about one query a second, not a loop
my $q0 = queries();
sleep 3;
my $dq = queries() - $q0;
ok($dq >= 2 && $dq <= 5, "TTL 0 clamped to 1 s: $dq queries in 3 s");

# ---- kill -9 of the helper: respawned, looks up again
my $rp = resolver_pid();
kill 'KILL', $rp if $rp;
ok(wait_until(sub { my $x = resolver_pid(); $x && $x != $rp }, 15),
   'kill -9: the resolver is respawned');
zone(a => ['127.0.0.2'], ttl => 1);
ok(wait_until(sub { log_has(qr/$up 127\.0\.0\.2:$bport \(ttl 1 s\)$/m, 2) }, 10),
   'kill -9: lookups continue');
is_deeply(http_spread($port, '/id', 10), { b => 10 }, 'after the respawn: backend b');

# ---- a reload: a new helper looks the name up at once; counters go on
my $lookups = prom()->{"portico_resolver_lookups_total$labels"};
my $old_helper = resolver_pid();
# requests all through the reload: the name is unknown to the system resolver the master
# uses at load, so the new workers start with the set the old helper kept in the zone
my (%during, $hup);
my $t1 = time;
while (time - $t1 < 3) {
    if (!$hup && time - $t1 > 0.3) {
        $p->signal('HUP');
        $hup = 1;
    }
    my ($s1, $h1, $b1) = http_parse(http_get($port, '/id', -timeout => 8));
    $during{ !defined $s1 ? 'none' : $s1 == 200 ? $b1 : $s1 }++;
}
is_deeply([ keys %during ], [ 'b' ], 'reload: every request during it went to b')
    or diag explain \%during;
ok(wait_until(sub { my @w = $p->worker_pids; @w == 2 && !grep { my $o = $_; grep { $_ == $o } @workers } @w }, 15),
   'reload: new workers');
ok(wait_until(sub { my $x = resolver_pid(); $x && $x != $old_helper }, 15), 'reload: a new resolver');
ok(wait_until(sub { log_has(qr/$up 127\.0\.0\.2:$bport \(ttl 1 s\)$/m, 3) }, 10),
   'reload: the new resolver looked the name up');
is_deeply(http_spread($port, '/id', 10), { b => 10 }, 'reload: backend b');
cmp_ok(prom()->{"portico_resolver_lookups_total$labels"}, '>', $lookups,
       'reload: the lookups counter continues');

# ---- a reload while DNS does not answer: the new generation starts with the kept set
zone(mode => 'drop', a => ['127.0.0.2'], ttl => 1);
my $timeouts = () = ($p->error_log // '') =~ /failed: timed out;/g;
ok(wait_until(sub { log_has(qr/failed: timed out; keeping its current addresses$/m, $timeouts + 1) }, 10),
   'DNS down before the reload');
@workers = sort $p->worker_pids;
$old_helper = resolver_pid();
$p->signal('HUP');
ok(wait_until(sub { my @w = $p->worker_pids; @w == 2 && !grep { my $o = $_; grep { $_ == $o } @workers } @w }, 15),
   'reload during the outage: new workers');
ok(wait_until(sub { my $x = resolver_pid(); $x && $x != $old_helper }, 15),
   'reload during the outage: a new resolver');
ok(wait_until(sub { log_has(qr/failed: timed out; keeping its current addresses$/m, $timeouts + 2) }, 10),
   'reload during the outage: the new resolver\'s lookup fails too');
is_deeply(http_spread($port, '/id', 10), { b => 10 },
          'reload during the outage: the kept address (b) serves');
zone(a => ['127.0.0.2'], ttl => 1);
$p->stop;

# ---- valid replaces the TTL; ipv6 = true adds the AAAA records
my $v6 = Portico::have_ipv6();
zone(a => ['127.0.0.1'], aaaa => $v6 ? ['::1'] : [], ttl => 3600);
my $be_c = $v6 ? PorticoBackend->new(port => $p->port(4), id => 'c', listen => ["[::1]:$bport"])
               : undef;
my $v = Portico->new(start => 0);
(my $vconf = $conf) =~ s/ipv6 = false;/ipv6 = true; valid = "1s";/;
$vconf =~ s/%%PORT2%%/$bport/g;
$v->write_conf($vconf);
$v->start;
$q0 = queries();
ok(wait_until(sub { queries() >= $q0 + 3 }, 8), 'valid = "1s": asked every second despite a 1 h TTL');
my $t6 = read_file("$zone.log") // '';
like($t6, qr/^\Q$NAME\E AAAA$/m, 'ipv6 = true: AAAA asked');
SKIP: {
    skip 'no IPv6 loopback', 1 unless $v6;
    my %seen6;
    for (1 .. 30) {
        my ($s6, $h6, $b6) = http_parse(http_get($v->port(1), '/id', -timeout => 8));
        $seen6{ !defined $s6 ? 'none' : $s6 == 200 ? $b6 : $s6 }++;
    }
    ok($seen6{a} && $seen6{c} && $seen6{a} + $seen6{c} == 30,
       'ipv6 = true: the A (127.0.0.1) and the AAAA (::1) address both used')
        or diag explain \%seen6;
}
$v->stop;

# ---- -t errors
my $t = Portico->new(start => 0);
for my $c ([ 'nameservers = ["dns.example"];', qr/resolver\.nameservers: invalid "dns\.example": expected "IP", "IP:PORT" or "\[IPv6\]:PORT"/ ],
           [ 'nameservers = ["127.0.0.1:0"];', qr/resolver\.nameservers: invalid "127\.0\.0\.1:0"/ ],
           [ 'valid = "500ms";', qr/resolver\.valid: must be 0 \(the TTL\) or at least 1s/ ],
           [ 'attempts = 0;', qr/resolver\.attempts: must be between 1 and 10 \(got 0\)/ ])
{
    my ($set, $re) = @$c;
    $t->write_conf(<<"EOF");
resolver = { $set };
servers = ( { listen = ["127.0.0.1:%%PORT1%%"];
              routes = ( { match = { path_prefix = "/"; }; return = { status = 204; }; } ); } );
EOF
    my $line = $t->line_of(qr/^resolver =/);
    my ($rc, $out) = $t->run_t('-t');
    isnt($rc, 0, "-t fails: $set");
    like($out, qr/portico\.conf:$line: $re/, "-t: FILE:LINE and the reason: $set");
}

# resolve = true on an address or a unix socket: nothing to look up
$t->write_conf(<<"EOF");
upstreams = ( { name = "lit";
                servers = ( { address = "127.0.0.1:80"; resolve = true; },
                            { address = "[::1]:80"; resolve = true; },
                            { address = "unix:/tmp/x.sock"; resolve = true; },
                            { address = "$NAME:80"; resolve = true; } ); } );
servers = ( { listen = ["127.0.0.1:%%PORT1%%"];
              routes = ( { match = { path_prefix = "/"; }; proxy = { upstream = "lit"; }; } ); } );
EOF
my $lline = $t->line_of(qr/^upstreams =/);
my ($lrc, $lout) = $t->run_t('-t');
isnt($lrc, 0, '-t fails: resolve = true on addresses');
for my $c ([ 0, '127.0.0.1:80' ], [ 1, '[::1]:80' ], [ 2, 'unix:/tmp/x.sock' ]) {
    like($lout, qr/portico\.conf:$lline: upstreams\[0\]: servers\[$c->[0]\]: resolve = true needs HOST:PORT with a host name to look up \(got "\Q$c->[1]\E"\)/,
         "-t: resolve = true on $c->[1]: FILE:LINE and the reason");
}
unlike($lout, qr/servers\[3\]: resolve/, '-t: a host name is fine');

# a name whose counter key would be too long: resolved, not counted, -t warns
my $long = 'u' x 80;
$t->write_conf(<<"EOF");
upstreams = ( { name = "$long";
                servers = ( { address = "$NAME:80"; resolve = true; } ); } );
servers = ( { listen = ["127.0.0.1:%%PORT1%%"];
              routes = ( { match = { path_prefix = "/"; }; proxy = { upstream = "$long"; }; } ); } );
EOF
my $uline = $t->line_of(qr/^upstreams =/);
my ($rc, $out) = $t->run_t('-t');
is($rc, 0, '-t: a key too long for a counter is no error');
like($out, qr/portico\.conf:$uline: warning: upstreams\[0\]: resolver: upstream "$long", name "\Q$NAME\E": too long to be counted/,
     '-t: ... but a warning at the upstream') or diag $out;

done_testing();
