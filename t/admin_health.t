#!/usr/bin/perl
# admin_health.t: active health checks cover servers added at run time by the admin API
# (docs/admin.md), with two workers: an added server whose check fails is marked down by
# the health checker (the admin listing shows "unhealthy", it gets no request), comes back
# when its check passes; an upstream with initial = "down" gets an added server down until
# its checks pass; a removed server is no longer checked (checks counted at the backend over
# a bounded window); a position given to another server starts fresh (the new server is
# neither down from the old one's checks nor logged as coming up); a reload that drops the
# health_check block clears an added server's down mark.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Portico;
use PorticoBackend;
use PorticoAdmin;
use File::Temp qw(tempdir);
use Time::HiRes qw(sleep time);

skip_unless_module('proxy');
skip_unless_module('admin');
skip_unless_module('health_check');

my $dir = tempdir('portico-ahc-XXXXXX', DIR => '/tmp', CLEANUP => 1);

sub set_mode { write_file("$dir/mode_$_[0]", $_[1]); }

# Check requests (GET /healthz) received by backend $id, and their heads.
sub hc_log   { return read_file("$dir/hc_$_[0]") // ''; }
sub hc_count { my @n = hc_log($_[0]) =~ /^GET /mg; return scalar @n; }

# A backend answering its id; /healthz answers 200 or 500 as $dir/mode_ID says and is logged.
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
            my $st = (read_file("$dir/mode_$id") // 'ok') eq 'ok'
                   ? '200 OK' : '500 Internal Server Error';
            print $sock "HTTP/1.1 $st\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
            return;
        }
        print $sock "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nConnection: close\r\n\r\n$id";
    });
}


# The `health` of server $id of upstream $u in the admin listing ('' when not listed).
sub health
{
    my ($p, $u, $id) = @_;
    my ($st, $d) = admin($p, 'GET', "/upstreams/$u/servers/$id");
    return $st == 200 ? $d->{health} : '';
}

my $p = Portico->new(start => 0);
my $port = $p->port(1);
my ($pa, $pc, $pd, $pe) = map { $p->port($_) } 2 .. 5;
set_mode('c', 'fail');
set_mode('e', 'fail');
my %be = (a => backend($pa, 'a'), c => backend($pc, 'c'), d => backend($pd, 'd'),
          e => backend($pe, 'e'));

$p->write_conf(<<'EOF2');
worker_processes = 2;
admin = { socket = "logs/admin.sock"; };
upstreams = (
  { name = "app"; max_fails = 0; max_servers = 4;
    servers = ( { address = "127.0.0.1:%%PORT2%%"; } );
    health_check = { path = "/healthz"; interval = "200ms"; timeout = "1s"; fall = 2; rise = 2; }; },
  { name = "init"; max_fails = 0; max_servers = 4;
    servers = ( { address = "127.0.0.1:%%PORT2%%"; } );
    health_check = { path = "/healthz"; interval = "200ms"; timeout = "1s"; fall = 2; rise = 2;
                     initial = "down"; }; }
);
servers = ( {
  listen = ["127.0.0.1:%%PORT1%%"];
  routes = (
    { match = { path_prefix = "/init/"; }; proxy = { upstream = "init"; }; },
    { match = { path = "/metrics"; }; status = { format = "prometheus"; }; },
    { match = { path_prefix = "/"; }; proxy = { upstream = "app"; }; }
  );
} );
EOF2
$p->start;

# --- an added server failing its check: checked, marked down, no traffic
my ($st, $d) = admin($p, 'POST', '/upstreams/app/servers', qq({"address": "127.0.0.1:$pc"}));
is($st, 201, 'app: server c added');
is($d->{id}, 1, 'app: at position 1');
ok(wait_until(sub { hc_count('c') >= 2 }, 10), 'the added server is checked');
like(hc_log('c'), qr{^GET /healthz HTTP/1\.1\r\nHost: 127\.0\.0\.1:$pc\r\n}m,
     'its check request names it in Host');
ok(wait_until(sub { health($p, 'app', 1) eq 'unhealthy' }, 10),
   'admin listing: health "unhealthy" after fall failed checks');
like($p->error_log, qr/upstream server 127\.0\.0\.1:$pc of "app" is down \(health check: status 500\)/,
     'the transition is logged at notice');
is_deeply(http_spread($port, '/x', 20), { a => 20 },
          'a server down by checks gets no request (2 workers)');
my (undef, undef, $metrics) = http_parse(http_get($port, '/metrics'));
my $series = qq(upstream="app",server="127.0.0.1:$pc");
like($metrics, qr/^portico_upstream_server_check_state\{\Q$series\E\} 0$/m,
     'metrics: the added server\'s check state is 0');
like($metrics, qr/^portico_upstream_server_up\{\Q$series\E\} 0$/m, 'metrics: it is not up');
like($metrics, qr/^portico_upstream_server_check_failure_streak\{\Q$series\E\} [2-9]\d*$/m,
     'metrics: its failed checks in a row');

# --- its check passes: up, takes traffic
set_mode('c', 'ok');
ok(wait_until(sub { health($p, 'app', 1) eq 'up' }, 10), 'admin listing: "up" after rise successes');
like($p->error_log, qr/upstream server 127\.0\.0\.1:$pc of "app" is up/, 'logged up');
my $r = http_spread($port, '/x', 20);
ok(($r->{c} // 0) > 0 && ($r->{a} // 0) > 0 && ($r->{a} + $r->{c}) == 20,
   'up again: it takes its share') or diag explain $r;

# --- removed: no more checks
set_mode('c', 'fail');
ok(wait_until(sub { health($p, 'app', 1) eq 'unhealthy' }, 10), 'c down again');
($st) = admin($p, 'DELETE', '/upstreams/app/servers/1');
is($st, 200, 'c removed');
sleep 0.5;                               # the checker's refresh (200 ms) and a check in flight
my $n = hc_count('c');
sleep 1.2;                               # six check intervals
is(hc_count('c'), $n, 'a removed server gets no more checks');

# --- position 1 given to another server: it starts fresh (not down from c's state)
($st, $d) = admin($p, 'POST', '/upstreams/app/servers', qq({"address": "127.0.0.1:$pd"}));
is($st, 201, 'app: server d added');
is($d->{id}, 1, 'd takes the position c had');
is($d->{health}, 'up', 'd starts up (initial = "up"), not with c\'s down state');
ok(wait_until(sub { hc_count('d') >= 3 }, 10), 'd is checked');
like(hc_log('d'), qr{^Host: 127\.0\.0\.1:$pd\r$}m, 'd\'s checks name d');
$r = http_spread($port, '/x', 20);
ok(($r->{d} // 0) > 0 && ($r->{a} // 0) + $r->{d} == 20, 'd takes traffic') or diag explain $r;
unlike($p->error_log, qr/127\.0\.0\.1:$pd of "app" is (?:up|down)/,
       'd never went through a transition (no inherited down state)');
is(hc_count('c'), $n, 'c still unchecked');

# --- initial = "down": an added server takes no traffic before its checks pass
($st, $d) = admin($p, 'POST', '/upstreams/init/servers', qq({"address": "127.0.0.1:$pe"}));
is($st, 201, 'init: server e added');
is($d->{health}, 'unhealthy', 'initial = "down": it starts unhealthy');
is_deeply(http_spread($port, '/init/x', 10), { a => 10 }, 'initial = "down": no request to it');
ok(wait_until(sub { hc_count('e') >= 3 }, 10), 'initial = "down": it is checked');
is(health($p, 'init', 1), 'unhealthy', 'failing checks keep it down');
unlike($p->error_log, qr/127\.0\.0\.1:$pe of "init" is down/,
       'no transition logged for the initial state');
set_mode('e', 'ok');
ok(wait_until(sub { health($p, 'init', 1) eq 'up' }, 10), 'initial = "down": up after rise');
$r = http_spread($port, '/init/x', 20);
ok(($r->{e} // 0) > 0, 'and it takes traffic') or diag explain $r;

# --- a reload that drops the health_check block: the added server's down mark goes too
set_mode('e', 'fail');
ok(wait_until(sub { health($p, 'init', 1) eq 'unhealthy' }, 10), 'e down by checks');
my $conf = read_file($p->conf_file);
$conf =~ s/(name = "init";.*?)\n    health_check = \{[^}]*\}; \}/$1 }/s or die 'conf edit';
write_file($p->conf_file, $conf);
my %old = map { $_ => 1 } $p->worker_pids;
$p->signal('HUP');
ok(wait_until(sub { my @w = $p->worker_pids; @w == 2 && !grep { $old{$_} } @w }, 15),
   'HUP: new workers');
is(health($p, 'init', 1), 'up', 'HUP without health_check: the added server is not down');
$r = http_spread($port, '/init/x', 20);
ok(($r->{e} // 0) > 0 && ($r->{a} // 0) + $r->{e} == 20, 'and it takes traffic again')
    or diag explain $r;
$n = hc_count('e');
sleep 1;
is(hc_count('e'), $n, 'and it is no longer checked');

$p->stop;
done_testing();
