#!/usr/bin/perl
# process_upgrade.t: the master's less common paths (docs/architecture.md): the respawn throttle
# after a burst of crashes, and USR2 + WINCH binary upgrade rolled back by stopping the new binary
# (the old master renames portico.pid.oldbin back and restarts its workers).

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Portico;

my $bin = portico_bin();
plan(skip_all => "no portico binary at $bin") unless -x $bin;

my $conf = <<'EOF';
worker_processes = WORKERS;
servers = ( {
  listen = ["127.0.0.1:%%PORT1%%"];
  routes = ( { match = { path_prefix = "/"; }; return = { status = 200; body = "up\n"; }; } );
} );
EOF

sub conf_n { my ($n) = @_; (my $c = $conf) =~ s/WORKERS/$n/; return $c; }
sub body_of { my ($p) = @_; return (http_parse(http_get($p->port(1), '/')))[2] // ''; }

# ---- respawn throttle -----------------------------------------------------------------------

{
    my $p = Portico->new(conf => conf_n(1));
    $p->allow(qr/exited on signal 9/);
    ok($p->wait_for(sub { $p->worker_pids == 1 }, 10), 'one worker');
    my $killed = 0;
    for my $i (1 .. 6) {
        my ($w) = $p->worker_pids;
        last unless $w;
        kill 'KILL', $w;
        $killed++;
        last unless $p->wait_for(sub { my @w = $p->worker_pids; @w == 1 && $w[0] != $w }, 15);
    }
    is($killed, 6, 'six crashes, each followed by a new worker');
    like($p->error_log // '',
         qr/\[warn\] \d+#0: worker process respawning too often, waiting 1000 ms/,
         'the sixth respawn within 10 s waits');
    is(body_of($p), "up\n", 'still serving after the throttled respawn');
    $p->stop;
}

# ---- USR2, WINCH, then the new binary goes away ---------------------------------------------

{
    my $p = Portico->new(conf => conf_n(2));
    my $pidfile = $p->prefix . '/logs/portico.pid';
    my $old = $p->pid;
    ok($p->wait_for(sub { $p->worker_pids == 2 }, 10), 'two workers');
    my @w1 = $p->worker_pids;

    $p->signal('USR2');
    ok($p->wait_for(sub {
        (read_file("$pidfile.oldbin") // '') eq "$old\n"
            && (read_file($pidfile) // '') =~ /^(\d+)\n\z/ && $1 != $old;
    }, 15), 'USR2: portico.pid.oldbin names the old master, portico.pid the new one');
    my ($new) = (read_file($pidfile) // '') =~ /^(\d+)/;
    $new //= 0;
    like($p->error_log // '', qr/\[notice\] $old#0: start new binary process $new\b/,
         'USR2: new binary logged');
    ok($p->wait_for(sub { (Portico::title($new) // '') =~ /^portico: master process/ }, 15),
       'USR2: the new master runs');

    $p->signal('WINCH');
    ok($p->wait_for(sub { $p->worker_pids(1) == 0 && !grep { kill 0, $_ } @w1 }, 20),
       'WINCH: the old workers are gone and not respawned');
    like($p->error_log // '', qr/gracefully shutting down worker processes/, 'WINCH: logged');
    is(body_of($p), "up\n", 'WINCH: the new binary serves');

    kill 'TERM', $new;
    ok($p->wait_for(sub { $p->worker_pids == 2 }, 20),
       'new binary gone: the old master starts its workers again');
    like($p->error_log // '', qr/\[notice\] $old#0: new binary process $new exited/,
         'new binary exit logged');
    ok($p->wait_for(sub {
        !-e "$pidfile.oldbin" && (read_file($pidfile) // '') eq "$old\n";
    }, 10), 'portico.pid names the old master again');
    is(body_of($p), "up\n", 'serving again');
    $p->stop;
}

done_testing();
