#!/usr/bin/perl
# status_reload_hooks.t: the status module's per-server try counting is a registration of
# the configuration cycle (a try observer of the upstream module), not a process-wide hook.
# A HUP with a configuration that is rejected (a bad value) but whose status part has no
# upstream to count must leave the running generation counting: in the old workers, and in
# a worker respawned after a kill -9 that follows the failed reload (it is forked from the
# master, which loaded and rejected the broken configuration).

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Portico;
use PorticoBackend;

skip_unless_module('status', 'proxy', 'return');

my $p = Portico->new(start => 0);
$p->allow(qr/exited on signal 9/);
$p->allow(qr/configuration reload failed/);
$p->allow(qr/worker_connections/);
my $be = PorticoBackend->new(port => $p->port(2), id => 'be');

my $good = <<'EOF2';
worker_processes = 1;
upstreams = ( { name = "app"; servers = ( { address = "127.0.0.1:%%PORT2%%"; } ); } );
servers = (
  { listen = ["127.0.0.1:%%PORT1%%"];
    routes = (
      { match = { path = "/metrics"; }; status = { format = "prometheus"; }; },
      { match = { path_prefix = "/"; }; proxy = { upstream = "app"; }; }
    ); }
);
EOF2
# no upstream for status to count (so no observer is registered) and a bad value
my $bad = <<'EOF2';
worker_processes = 1;
worker_connections = 5;
servers = (
  { listen = ["127.0.0.1:%%PORT1%%"];
    routes = (
      { match = { path = "/metrics"; }; status = { format = "prometheus"; }; },
      { match = { path_prefix = "/"; }; return = { status = 200; body = "new\n"; }; }
    ); }
);
EOF2

$p->write_conf($good);
$p->start;
ok($p->wait_for(sub { $p->worker_pids == 1 }, 10), 'one worker');

my $key = 'portico_upstream_server_tries_total{upstream="app",server="127.0.0.1:'
        . $p->port(2) . '"}';

sub tries
{
    my $r = http_get($p->port(1), '/metrics') // '';
    return undef unless $r =~ m{^HTTP/1\.1 200 };
    return $r =~ /^\Q$key\E (\d+)\r?$/m ? $1 : undef;
}

sub proxied
{
    my ($n) = @_;
    my $ok = 0;
    for (1 .. $n) {
        my $r = http_get($p->port(1), '/echo') // '';
        $ok++ if $r =~ m{^HTTP/1\.1 200 } && $r !~ /\r\n\r\nnew\n/;
    }
    return $ok;
}

my $t0 = tries();
ok(defined $t0, 'the tries counter is exposed');
is(proxied(3), 3, 'three proxied requests');
is(tries(), $t0 + 3, 'three tries counted');

# ---- a rejected reload ----------------------------------------------------------------------
my @w1 = $p->worker_pids;
$p->write_conf($bad);
my $line = $p->line_of(qr/^worker_connections = 5;/);
my $file = $p->conf_file;
$p->signal('HUP');
ok($p->wait_for(sub { ($p->error_log // '') =~ /\Q$file\E:$line: .*worker_connections/ }, 10),
   'the broken configuration is rejected');
ok($p->wait_for(sub { ($p->error_log // '') =~ /configuration reload failed/ }, 10),
   'reload failed, the old configuration kept');
is_deeply([ $p->worker_pids ], \@w1, 'the old worker is untouched');
is(proxied(3), 3, 'still proxying after the failed reload');
is(tries(), $t0 + 6, 'the old worker still counts tries');

# ---- a worker respawned after the failed reload ---------------------------------------------
my ($victim) = @w1;
kill 'KILL', $victim;
ok($p->wait_for(sub {
    my @w = $p->worker_pids;
    @w == 1 && $w[0] != $victim;
}, 10), 'kill -9: the worker is respawned');
is(proxied(3), 3, 'the respawned worker proxies (old configuration)');
is(tries(), $t0 + 9, 'the respawned worker counts tries (the registration of its cycle)');

$p->check_logs;
$p->stop;
done_testing;
