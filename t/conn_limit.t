#!/usr/bin/perl
# conn_limit.t: conn_limits (docs/settings.md, docs/http.md) with 2 workers: a slow proxied request
# holds its key's slot, so a second connection of the same key gets 503 (or the configured status),
# logged at info; the slot comes back when the request ends, after a client abort, and after kill -9
# of the workers holding it; idle keep-alive connections do not count; an empty key is not limited;
# a reload keeps the counts; -t errors with FILE:LINE.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Portico;
use PorticoBackend;
use Time::HiRes qw(sleep time);

# True once the master runs $n workers, none of them in @$old.
sub new_workers
{
    my ($p, $n, $old) = @_;
    my %old = map { $_ => 1 } @$old;
    return $p->wait_for(sub { my @w = $p->worker_pids; @w == $n && !grep { $old{$_} } @w }, 15);
}

skip_unless_module('conn_limit');
skip_unless_module('proxy');

my $p = Portico->new(start => 0);
my $be = PorticoBackend->new(port => $p->port(2), id => 'a');
$p->write_conf(<<'EOF2');
worker_processes = 2;
upstreams = ( { name = "app"; read_timeout = "60s";
                servers = ( { address = "127.0.0.1:%%PORT2%%"; } ); } );
conn_limits = (
  { name = "per_ip"; key = "$remote_addr"; max = 1; },
  { name = "by_hdr"; key = "$http_x_key"; max = 1; status = 429; }
);
servers = ( {
  listen = ( { address = "127.0.0.1:%%PORT1%%"; reuseport = true; } );
  routes = (
    { match = { path_prefix = "/sleep"; }; conn_limit = "per_ip"; proxy = { upstream = "app"; }; },
    { match = { path = "/fast"; }; conn_limit = "per_ip";
      return = { status = 200; body = "fast\n"; }; },
    { match = { path_prefix = "/h/"; }; conn_limit = "by_hdr";
      proxy = { upstream = "app"; strip_prefix = true; }; },
    { match = { path_prefix = "/"; }; return = { status = 200; body = "free\n"; }; }
  );
} );
EOF2
$p->allow(qr/exited on signal 9/);
$p->start;
my $port = $p->port(1);
ok($p->wait_for(sub { scalar($p->worker_pids) == 2 }, 10), 'two workers up');

# Starts a slow request on its own connection and waits until the backend has it.
sub hold
{
    my ($path, @h) = @_;
    my $before = scalar @{ $be->requests_log || [] };
    my $c = http_connect($port);
    http_send($c, http_request('GET', $path, @h));
    my $ok = wait_until(sub { scalar @{ $be->requests_log || [] } > $before }, 10);
    return ($c, $ok);
}

sub get_status
{
    my ($path, @h) = @_;
    my ($s, undef, $b) = http_parse(http_get($port, $path, @h, -timeout => 10));
    return wantarray ? ($s // 'none', $b) : ($s // 'none');
}

# ---- a request in progress holds the slot ----------------------------------------------------

is(get_status('/fast'), 200, 'nothing in progress: admitted');
my ($c, $ok) = hold('/sleep?ms=3000');
ok($ok, 'a slow request reached the backend');
my @st = map { scalar get_status('/fast') } 1 .. 6;
is("@st", '503 503 503 503 503 503',
   'a second connection of the key gets 503 whichever worker takes it');
is(get_status('/other'), 200, 'a route without the limit is not limited');
my $raw = http_read_response($c, timeout => 15);
my ($s, undef, $b) = http_parse($raw);
is("$s $b", '200 a', 'the slow request completed');
close $c;
ok(wait_until(sub { get_status('/fast') == 200 }, 10), 'the slot is free once it ended');
like($p->error_log // '',
     qr/\[info\] \d+#\d+: limiting connections by zone "per_ip", client: 127\.0\.0\.1/,
     'rejection logged at info (nginx wording)');

# ---- idle keep-alive connections do not count ------------------------------------------------

{
    my $k = http_connect($port);
    http_send($k, http_request('GET', '/fast'));
    my ($ks, undef, $kb) = http_parse(http_read_response($k, timeout => 10));
    is("$ks $kb", "200 fast\n", 'keep-alive connection: first request');
    my @r = map { scalar get_status('/fast') } 1 .. 3;
    is("@r", '200 200 200', 'an idle keep-alive connection does not hold the slot');
    http_send($k, http_request('GET', '/fast'));
    ($ks) = http_parse(http_read_response($k, timeout => 10));
    is($ks, 200, 'the keep-alive connection serves its next request');
    close $k;
}

# ---- the configured status, keys, empty key --------------------------------------------------

($c, $ok) = hold('/h/sleep?ms=3000', 'X-Key' => 'k1');
ok($ok, 'slow request with key k1');
is(get_status('/h/id', 'X-Key' => 'k1'), 429, 'same key: the configured status 429');
is(get_status('/h/id', 'X-Key' => 'k2'), 200, 'another key is counted apart');
is(get_status('/h/id'), 200, 'an empty key is not limited');
close $c;        # client abort while the upstream is still working
ok(wait_until(sub { get_status('/h/id', 'X-Key' => 'k1') == 200 }, 15),
   'client abort: the slot comes back');

# ---- a reload keeps the counts ---------------------------------------------------------------

($c, $ok) = hold('/sleep?ms=4000');
ok($ok, 'slow request before HUP');
my @w = $p->worker_pids;
$p->signal('HUP');
ok(new_workers($p, 2, \@w),
   'HUP: new workers');
is(get_status('/fast'), 503, 'HUP: the in-flight request of an old worker still counts');
($s) = http_parse(http_read_response($c, timeout => 15));
is($s, 200, 'HUP: the old worker finished its request');
close $c;
ok(wait_until(sub { get_status('/fast') == 200 }, 10), 'HUP: then the slot is free');

# ---- kill -9 of the workers holding slots ----------------------------------------------------

($c, $ok) = hold('/sleep?ms=30000');
ok($ok, 'a long request holds the slot');
is(get_status('/fast'), 503, 'held');
@w = $p->worker_pids;
kill 'KILL', @w;
ok(new_workers($p, 2, \@w),
   'kill -9 of every worker: respawned');
close $c;
my $t0 = time;
ok(wait_until(sub { get_status('/fast') == 200 }, 10),
   'kill -9: the dead worker\'s slot was given back by the next worker');
ok(time - $t0 < 10, 'kill -9: within the respawn time');

$p->stop;

# ---- configuration errors --------------------------------------------------------------------

my $q = Portico->new(start => 0);
$q->write_conf(<<'EOF2');
conn_limits = (
  { name = "per_ip"; max = 0; },
  { name = "bad name"; max = 1; }
);
servers = ( {
  listen = ["127.0.0.1:%%PORT1%%"];
  routes = (
    { match = { path = "/x"; }; conn_limit = "per_ib"; return = { status = 200; }; }
  );
} );
EOF2
my ($rc, $out) = $q->run_t('-t');
my $file = $q->conf_file;
isnt($rc, 0, '-t: bad connection limits fail');
my $l = $q->line_of(qr/max = 0/);
like($out, qr/\Q$file\E:$l: .*max/, '-t: max = 0 reported with FILE:LINE');
$l = $q->line_of(qr/bad name/);
like($out, qr/\Q$file\E:$l: .*invalid connection limit name "bad name"/,
     '-t: a bad name reported with FILE:LINE');
$l = $q->line_of(qr/per_ib/);
like($out, qr/\Q$file\E:$l: .*no connection limit named "per_ib" \(did you mean "per_ip"\?\)/,
     '-t: unknown conn_limit name with FILE:LINE and a hint');

done_testing();
