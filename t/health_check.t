#!/usr/bin/perl
# health_check.t: active health checks (docs/architecture.md, docs/settings.md) with
# worker_processes = 2: a server failing its check (status, refused, timeout) gets no
# traffic once `fall` checks failed and comes back after `rise` successes; the check's
# request (path, Host, Connection, User-Agent); `status` ranges and their -t errors;
# initial = "down"; transitions at notice; the checker respawned after kill -9 and still
# checking; a HUP reload keeps a down server down; one "portico: health checker" process for
# 300 servers.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Portico;
use PorticoBackend;
use File::Temp qw(tempdir);
use Time::HiRes qw(sleep time);

skip_unless_module('health_check');

my $dir = tempdir('portico-hc-XXXXXX', DIR => '/tmp', CLEANUP => 1);

sub set_mode { write_file("$dir/mode_$_[0]", $_[1]); }

sub hc_count
{
    my $t = read_file("$dir/hc_$_[0]") // '';
    my @n = $t =~ /^GET /mg;
    return scalar @n;
}

# A backend answering its id to every request but the check: /healthz answers as
# $dir/mode_ID says ("ok" 200, "fail" 500, "302", "hang" never) and is logged in $dir/hc_ID;
# other requests are counted in $dir/req_ID.
sub backend
{
    my ($port, $id) = @_;
    set_mode($id, 'ok') unless -e "$dir/mode_$id";
    return PorticoBackend->raw(port => $port, handler => sub {
        my ($sock, $head) = @_;
        if ($head =~ m{^GET /healthz }) {
            open(my $fh, '>>', "$dir/hc_$id") or die;
            print $fh "$head\n\n";
            close $fh;
            my $mode = read_file("$dir/mode_$id") // 'ok';
            if ($mode eq 'hang') {
                sleep 60;
                return;
            }
            my $st = $mode eq 'ok' ? '200 OK' : $mode eq '302' ? '302 Found'
                   : '500 Internal Server Error';
            print $sock "HTTP/1.1 $st\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
            return;
        }
        open(my $fh, '>>', "$dir/req_$id") or die;
        print $fh "x\n";
        close $fh;
        print $sock "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nConnection: close\r\n\r\n$id";
    });
}

sub req_count
{
    my $t = read_file("$dir/req_$_[0]") // '';
    return ($t =~ tr/\n//);
}

my $p = Portico->new(start => 0);
$p->allow(qr/health checker process \d+ exited on signal 9/);
my $port = $p->port(1);
my ($pa, $pb, $pc) = ($p->port(2), $p->port(3), $p->port(4));
my %be = (a => backend($pa, 'a'), b => backend($pb, 'b'), c => undef);
set_mode('c', 'fail');
$be{c} = backend($pc, 'c');

$p->write_conf(<<'EOF2');
worker_processes = 2;
upstreams = (
  { name = "app"; max_fails = 0;
    servers = ( { address = "127.0.0.1:%%PORT2%%"; }, { address = "127.0.0.1:%%PORT3%%"; } );
    health_check = { path = "/healthz"; interval = "200ms"; timeout = "1s"; fall = 2; rise = 2;
                     status = "200-299,302"; host = "hc.example"; }; },
  { name = "init"; max_fails = 0;
    servers = ( { address = "127.0.0.1:%%PORT4%%"; } );
    health_check = { path = "/healthz"; interval = "200ms"; fall = 2; rise = 2;
                     initial = "down"; }; }
);
servers = ( {
  listen = ["127.0.0.1:%%PORT1%%"];
  routes = (
    { match = { path_prefix = "/init/"; }; proxy = { upstream = "init"; }; },
    { match = { path_prefix = "/"; }; proxy = { upstream = "app"; }; }
  );
} );
EOF2
$p->start;

sub hc_pid
{
    my @h = grep { (Portico::title($_) // '') eq 'portico: health checker' } $p->children;
    return @h == 1 ? $h[0] : undef;
}

# --- initial = "down": no traffic before the first successful checks
my $r = http_spread($port, '/init/x', 10);
is_deeply($r, { 503 => 10 }, 'initial = "down": a never-checked server gets no traffic');
ok(wait_until(sub { hc_count('c') >= 3 }, 10), 'initial = "down": the server is checked');
is_deeply(http_spread($port, '/init/x', 5), { 503 => 5 },
          'initial = "down": failing checks keep it down');
is(req_count('c'), 0, 'initial = "down": the backend saw only checks');
set_mode('c', 'ok');
my $init_up = qr/\[notice\] .*upstream server 127\.0\.0\.1:$pc of "init" is up$/m;
ok(wait_until(sub { ($p->error_log // '') =~ $init_up }, 10),
   'initial = "down": up after rise successes, logged at notice');
is_deeply(http_spread($port, '/init/x', 4), { c => 4 }, 'initial = "down": traffic once up');
unlike($p->error_log, qr/127\.0\.0\.1:$pc of "init" is down/,
       'initial = "down": no transition logged for the initial state');

# --- both servers up: traffic to both; the check request
ok(wait_until(sub { hc_count('a') >= 2 && hc_count('b') >= 2 }, 10), 'both servers checked');
$r = http_spread($port, '/x', 20);
ok($r->{a} && $r->{b} && $r->{a} + $r->{b} == 20, 'both servers up: both get traffic')
    or diag explain $r;
my ($first) = split /\n\n/, read_file("$dir/hc_a");
my @lines = split /\r\n/, $first;
is($lines[0], 'GET /healthz HTTP/1.1', 'check: GET path HTTP/1.1');
is_deeply([ sort @lines[1 .. $#lines] ],
          [ 'Connection: close', 'Host: hc.example', 'User-Agent: portico-health-check' ],
          'check: Host, Connection: close, User-Agent');
my ($cfirst) = split /\n\n/, read_file("$dir/hc_c");
like($cfirst, qr/\r\nHost: 127\.0\.0\.1:$pc(\r\n|$)/, 'check: Host defaults to the server address');

# --- a failing status: no traffic within interval * fall + slack; back after rise
sub down_after
{
    my ($id, $port_of, $n, $why, $what, $timeout) = @_;
    my $t0 = time;
    my $srv = "upstream server 127.0.0.1:$port_of";
    my $re = qr/\[notice\] .*\Q$srv\E of "app" is down \(health check: ([^)]*)\)$/m;
    ok(wait_until(sub { my @m = ($p->error_log // '') =~ /$re/g; @m >= $n && $m[$n - 1] eq $why },
                  15),
       "$what: marked down, logged at notice with the reason");
    # interval * fall (+ timeout * fall when each check times out) + generous slack
    cmp_ok(time - $t0, '<', 0.2 * 2 + ($timeout // 0) * 2 + 6,
           "$what: within interval * fall + slack");
    my $other = $id eq 'b' ? 'a' : 'b';
    is_deeply(http_spread($port, '/x', 30), { $other => 30 },
              "$what: no traffic to the down server");
}

sub up_again
{
    my ($id, $port_of, $n, $what) = @_;
    my $re = qr/\[notice\] .*upstream server 127\.0\.0\.1:$port_of of "app" is up$/m;
    ok(wait_until(sub { my @m = ($p->error_log // '') =~ /$re/g; @m >= $n }, 10),
       "$what: up again, logged at notice");
    my $r2 = http_spread($port, '/x', 20);
    ok($r2->{$id} && ($r2->{a} // 0) + ($r2->{b} // 0) == 20, "$what: traffic again")
        or diag explain $r2;
}

set_mode('b', 'fail');
down_after('b', $pb, 1, 'status 500', 'status 500');
my $n = hc_count('b');
ok(wait_until(sub { hc_count('b') >= $n + 2 }, 10), 'a down server is still checked');
set_mode('b', '302');
up_again('b', $pb, 1, 'status 302 (listed in "200-299,302")');

# --- a check that times out counts as a failure
set_mode('b', 'hang');
down_after('b', $pb, 2, 'timed out', 'timeout', 1);
set_mode('b', 'ok');
up_again('b', $pb, 2, 'after the timeout');

# --- connection refused
$be{a}->stop;
down_after('a', $pa, 1, 'connection refused', 'refused');
$be{a} = backend($pa, 'a');
up_again('a', $pa, 1, 'listening again');

# --- kill -9 of the checker: respawned, checks go on
my $hc = hc_pid();
ok($hc, 'one health checker process');
kill 'KILL', $hc if $hc;
ok(wait_until(sub { my $x = hc_pid(); $x && $x != $hc }, 15), 'kill -9: the checker is respawned');
like($p->error_log, qr/health checker process $hc exited on signal 9/, 'kill -9: logged');
$n = hc_count('a');
ok(wait_until(sub { hc_count('a') >= $n + 3 }, 10), 'kill -9: checks continue');
set_mode('b', 'fail');
down_after('b', $pb, 3, 'status 500', 'after the respawn');

# --- HUP keeps a down server down (state in the shared zone)
my %old = map { $_ => 1 } $p->worker_pids;
my $oldhc = hc_pid();
$p->signal('HUP');
ok(wait_until(sub { my @w = $p->worker_pids; @w == 2 && !grep { $old{$_} } @w }, 15),
   'HUP: new workers');
my $before = req_count('b');
is_deeply(http_spread($port, '/x', 20), { a => 20 },
          'HUP: the down server gets no traffic right after');
is(req_count('b'), $before, 'HUP: the backend saw no request');
ok(wait_until(sub { my $x = hc_pid(); $x && $x != $oldhc }, 15), 'HUP: a new checker');
set_mode('b', 'ok');
up_again('b', $pb, 3, 'after the HUP');
my $downs = () = $p->error_log =~ /127\.0\.0\.1:$pb of "app" is down/g;
is($downs, 3, 'HUP: no new down transition for the kept state');

$p->stop;

# --- status ranges: FILE:LINE errors at -t
my $q = Portico->new(start => 0);
$q->write_conf(<<'EOF2');
upstreams = (
  { name = "u1"; servers = ( { address = "127.0.0.1:%%PORT2%%"; } );
    health_check = { status = "200-"; }; },
  { name = "u2"; servers = ( { address = "127.0.0.1:%%PORT2%%"; } );
    health_check = { status = "399-200"; path = "no-slash"; }; },
  { name = "u3"; servers = ( { address = "127.0.0.1:%%PORT2%%"; } );
    health_check = { status = "200 300"; }; }
);
servers = ( { listen = ["127.0.0.1:%%PORT1%%"];
              routes = ( { match = { path_prefix = "/"; }; proxy = { upstream = "u1"; }; } ); } );
EOF2
my ($rc, $out) = $q->run_t('-t');
my $file = $q->conf_file;
my $l1 = $q->line_of(qr/status = "200-"/);
my $l2 = $q->line_of(qr/status = "399-200"/);
my $l3 = $q->line_of(qr/status = "200 300"/);
is($rc, 1, '-t: bad status ranges fail');
like($out, qr/^\Q$file\E:$l1: .*health_check\.status: invalid "200-"/m,
     '-t: "200-" with FILE:LINE');
like($out, qr/^\Q$file\E:$l2: .*health_check\.status: invalid "399-200": .*end below/m,
     '-t: a reversed range');
like($out, qr/^\Q$file\E:$l2: .*health_check\.path: "no-slash" must start with "\/"/m,
     '-t: a path without "/"');
like($out, qr/^\Q$file\E:$l3: .*health_check\.status: invalid "200 300": .*commas/m,
     '-t: codes without commas');

# --- 300 servers: one checker process
my $m = Portico->new(start => 0);
my $list = join(",\n", map { "{ address = \"127.0.0.1:" . (1000 + $_) . "\"; }" } 1 .. 300);
$m->write_conf(<<"EOF2");
worker_processes = 2;
upstreams = ( { name = "big"; max_fails = 0; servers = ( $list );
                health_check = { interval = "1s"; timeout = "500ms"; }; } );
servers = ( { listen = ["127.0.0.1:%%PORT1%%"];
              routes = ( { match = { path_prefix = "/"; }; proxy = { upstream = "big"; }; } ); } );
EOF2
$m->start;
ok(wait_until(sub { my @d = ($m->error_log // '') =~ /of "big" is down/g; @d == 300 }, 20),
   '300 servers: every one checked (all refused: 300 down transitions)');
my @titles = map { Portico::title($_) // '' } $m->children;
is(scalar(grep { $_ eq 'portico: health checker' } @titles), 1,
   '300 servers: exactly one health checker process');
is(scalar(grep { $_ eq 'portico: worker process' } @titles), 2, '300 servers: two workers');
my ($s) = http_parse(http_get($m->port(1), '/', -timeout => 8));
is($s, 503, '300 servers all down: 503');
$m->stop;

# --- no health_check: no checker process
my $z = Portico->new(conf => <<'EOF2');
upstreams = ( { name = "u"; servers = ( { address = "127.0.0.1:%%PORT2%%"; } ); } );
servers = ( { listen = ["127.0.0.1:%%PORT1%%"];
              routes = ( { match = { path_prefix = "/"; }; proxy = { upstream = "u"; }; } ); } );
EOF2
ok(wait_until(sub { scalar($z->worker_pids) == 1 }, 10), 'no health_check: worker up');
is(scalar(grep { (Portico::title($_) // '') eq 'portico: health checker' } $z->children), 0,
   'no health_check: no checker process');
$z->stop;

done_testing();
