#!/usr/bin/perl
# reload_zero_loss.t: reloads and binary upgrades under load lose nothing (docs/http.md,
# "Reloads and graceful shutdown"). t/lib/reload_load.py runs 50 keep-alive clients, 10
# clients opening a connection per request and 5 WebSocket sessions, with 128 B and 1 MiB
# responses proxied to two test backends and a `return` route naming the configuration's
# generation; every response must be a complete 2xx wholly from one generation (its X-Gen
# header, its body, the backends that generation's upstream lists). Scenarios: 20 HUPs in
# 10 s, each changing the routes and the upstream's servers; USR2 -> WINCH -> QUIT; the
# rollback USR2 -> QUIT or TERM to the new master (a TERM while the old master runs on is a
# rollback: the new master stops gracefully, as with QUIT).

use strict;
use warnings;
use Test::More;
use JSON::PP ();
use Time::HiRes qw(time sleep);
use lib 't/lib';
use Portico;
use PorticoBackend;

my $bin = portico_bin();
plan(skip_all => "no portico binary at $bin") unless -x $bin;
plan(skip_all => 'no python3') unless system('python3 -c 1 2>/dev/null') == 0;

my $LOAD = Portico::repo_root() . '/t/lib/reload_load.py';

# gen % 3 picks the upstream's servers: 0 -> a, 1 -> a and b, 2 -> b (reload_load.py knows it)
sub conf_gen
{
    my ($g) = @_;
    my $a = '{ address = "127.0.0.1:%%PORT2%%"; }';
    my $b = '{ address = "127.0.0.1:%%PORT3%%"; }';
    my $servers = $g % 3 == 0 ? $a : $g % 3 == 1 ? "$a, $b" : $b;
    my $extra = $g % 2
        ? qq(,\n    { match = { path = "/odd"; }; return = { status = 200; body = "odd"; }; })
        : '';
    return <<"EOF";
worker_processes = 2;
worker_shutdown_timeout = "60s";
upstreams = ( { name = "app"; keepalive = 16; servers = ( $servers ); } );
servers = ( {
  listen = ["127.0.0.1:%%PORT1%%"];
  response_headers = ( { name = "X-Gen"; value = "$g"; always = true; } );
  routes = (
    { match = { path = "/gen"; }; return = { status = 200; body = "gen $g\\n"; }; },
    { match = { path = "/ws"; }; proxy = { upstream = "app"; websocket = true; }; },
    { match = { path_prefix = "/bytes"; }; proxy = { upstream = "app"; }; }$extra
  );
} );
EOF
}

# Runs the load for $duration s while $actions runs; returns the load's JSON result.
sub run_load
{
    my ($p, $duration, $actions) = @_;
    my $dir = $p->prefix . '/logs';
    unlink "$dir/load.ready", "$dir/load.json";
    my $pid = fork();
    die "fork: $!" unless defined $pid;
    if ($pid == 0) {
        open(STDOUT, '>', "$dir/load.json");
        open(STDERR, '>', "$dir/load.err");
        exec('python3', $LOAD, '--port', $p->port(1), '--duration', $duration, '--check-gen',
             '--ready-file', "$dir/load.ready") or POSIX::_exit(127);
    }
    wait_until(sub { -e "$dir/load.ready" }, 10);
    $actions->();
    my $done = wait_until(sub { waitpid($pid, POSIX::WNOHANG()) == $pid }, $duration + 40);
    unless ($done) {
        kill 'KILL', $pid;
        waitpid($pid, 0);
    }
    my $json = read_file("$dir/load.json") // '';
    my $r = eval { JSON::PP::decode_json($json) };
    diag('load client: ' . (read_file("$dir/load.err") // '')) unless $r;
    return $r || { requests => 0, errors => { 'no result' => 1 }, samples => [] };
}

sub judge
{
    my ($what, $r, %o) = @_;
    my $errors = 0;
    $errors += $_ for values %{ $r->{errors} || {} };
    diag(sprintf('%s: %d requests, %d ok, %d non-2xx, %d errors, %d mixed, gens %s, '
                 . '%d WebSocket messages, %d WebSocket errors', $what, $r->{requests},
                 $r->{ok} // 0, $r->{non2xx} // 0, $errors, $r->{mixed} // 0,
                 join(',', @{ $r->{gens} || [] }), $r->{ws_messages} // 0,
                 $r->{ws_errors} // 0));
    return if $o{report_only};
    ok($r->{requests} >= 200, "$what: the load ran ($r->{requests} requests)");
    is($errors, 0, "$what: no socket error, no cut response")
        or diag(JSON::PP->new->canonical->encode($r->{errors}) . "\n"
                . join("\n", @{ $r->{samples} || [] }));
    is($r->{non2xx} // -1, 0, "$what: no non-2xx");
    is($r->{mixed} // -1, 0, "$what: every response wholly from one configuration");
    is($r->{ws_errors} // -1, 0, "$what: the WebSocket sessions lasted");
    ok(($r->{ws_messages} // 0) > 0, "$what: WebSocket messages echoed");
    is($r->{unfinished_threads} // -1, 0, "$what: every client finished");
}

sub new_instance
{
    my $p = Portico->new(start => 0);
    my $a = PorticoBackend->new(port => $p->port(2), id => 'a');
    my $b = PorticoBackend->new(port => $p->port(3), id => 'b');
    $p->write_conf(conf_gen(0));
    $p->start;
    return ($p, $a, $b);
}

sub new_master
{
    my ($p, $old) = @_;
    my $pidfile = $p->prefix . '/logs/portico.pid';
    my $new;
    wait_until(sub {
        return 0 unless (read_file("$pidfile.oldbin") // '') eq "$old\n";
        ($new) = (read_file($pidfile) // '') =~ /^(\d+)\n\z/;
        return $new && $new != $old && (Portico::title($new) // '') =~ /^portico: master/;
    }, 15);
    return $new;
}

sub stop_pid
{
    my ($pid) = @_;
    return unless $pid && kill 0, $pid;
    kill 'TERM', $pid;
    kill 'KILL', $pid unless wait_until(sub { !kill 0, $pid }, 15);
}

# ---- 20 HUPs in 10 s, each changing routes and upstream servers ----------------------------
# (the load runs 3 s past the last HUP: on a loaded machine the last generation's workers
# may take more than a second to answer)

{
    my ($p, @b) = new_instance();
    my $hups = 0;
    my $r = run_load($p, 13, sub {
        for my $g (1 .. 20) {
            sleep 0.5;
            $p->write_conf(conf_gen($g));
            $hups++ if $p->signal('HUP');
        }
    });
    is($hups, 20, '20 HUPs sent');
    judge('20 HUPs', $r);
    ok(grep({ $_ == 20 } @{ $r->{gens} || [] }), 'the last generation answered');
    cmp_ok(scalar(@{ $r->{gens} || [] }), '>=', 10, 'answers from many generations');
    unlike($p->error_log // '', qr/reload failed/, 'every reload applied');
    $p->stop;
}

# ---- binary upgrade: USR2 -> WINCH -> QUIT ---------------------------------------------------

{
    my ($p, @b) = new_instance();
    my $old = $p->pid;
    my $new;
    my $r = run_load($p, 8, sub {
        sleep 1;
        $p->write_conf(conf_gen(1));
        $p->signal('USR2');
        $new = new_master($p, $old);
        sleep 1;
        $p->signal('WINCH');
        wait_until(sub { $p->worker_pids(1) == 0 }, 30);
        $p->signal('QUIT');
        $p->wait_exit(30);
    });
    ok($new, 'USR2: a new master');
    ok(!$p->alive, 'the old master exited after QUIT');
    judge('USR2, WINCH, QUIT', $r);
    is_deeply($r->{gens}, [0, 1], 'both binaries answered');
    stop_pid($new);
    $p->stop;
}

# ---- rollback: USR2, then QUIT or TERM to the new master -------------------------------------

for my $how ('QUIT', 'TERM') {
    my ($p, @b) = new_instance();
    my $old = $p->pid;
    my $new;
    my $r = run_load($p, 6, sub {
        sleep 1;
        $p->write_conf(conf_gen(1));
        $p->signal('USR2');
        $new = new_master($p, $old);
        sleep 1.5;
        kill $how, $new if $new;
        wait_until(sub { !kill 0, $new }, 30) if $new;
    });
    ok($new && !kill(0, $new), "USR2 then $how to the new master: it exited");
    ok($p->alive, '... the old master runs on');
    ok(wait_until(sub { (read_file($p->prefix . '/logs/portico.pid') // '') eq "$old\n" }, 10),
       '... and the pid file names it again');
    judge("rollback USR2, $how to the new master", $r);
    if ($how eq 'TERM') {
        like($p->error_log // '', qr/received while the old master \d+ runs on: a binary upgrade rolled back, shutting down gracefully/,
             'TERM to the new master while the old runs: a graceful rollback, logged');
    }
    stop_pid($new);
    $p->stop;
}

done_testing();
