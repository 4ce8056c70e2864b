#!/usr/bin/perl
# process.t: the master and its workers (docs/architecture.md): process titles, HUP with a good and
# a bad configuration, QUIT with a request in flight, TERM, a killed worker respawned, USR1, the pid
# file, and the worker_connections limit.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Portico;

my $bin = portico_bin();
plan(skip_all => "no portico binary at $bin") unless -x $bin;

my $conf = <<'EOF';
worker_processes = 2;
servers = ( {
  listen = ["127.0.0.1:%%PORT1%%"];
  routes = ( { match = { path_prefix = "/"; }; return = { status = 200; body = "BODY\n"; }; } );
} );
EOF

sub conf_with { my ($body) = @_; (my $c = $conf) =~ s/BODY/$body/; return $c; }
sub body_of { my ($p) = @_; return (http_parse(http_get($p->port(1), '/')))[2] // ''; }

my $p = Portico->new(conf => conf_with('v1'));
$p->allow(qr/exited on signal 9/);
my $pidfile = $p->prefix . '/logs/portico.pid';

# ---- processes and titles -------------------------------------------------------------------

ok($p->wait_for(sub { $p->worker_pids == 2 }, 5), 'worker_processes = 2: two workers');
my @w1 = $p->worker_pids;
like(Portico::title($p->pid) // '', qr/^portico: master process .*portico/,
     'master title: portico: master process <command line>');
is(Portico::title($w1[0]), 'portico: worker process', 'worker title');
is(scalar(grep { Portico::title($_) !~ /^portico: worker process$/ } $p->children), 0,
   'no other children without upstreams or caches');
is(read_file($pidfile), $p->pid . "\n", 'pid file names the master');
is(body_of($p), "v1\n", 'serving v1');

# ---- HUP with a good configuration --------------------------------------------------------

$p->write_conf(conf_with('v2'));
$p->signal('HUP');
ok($p->wait_for(sub { body_of($p) eq "v2\n" }, 10), 'HUP: the new configuration answers');
my %old = map { $_ => 1 } @w1;
ok($p->wait_for(sub {
    my @w = $p->worker_pids;
    @w == 2 && !grep { $old{$_} } @w;
}, 15), 'HUP: two new workers replaced the old ones');
my @w2 = $p->worker_pids;
ok($p->wait_for(sub { !grep { kill 0, $_ } @w1 }, 15), 'HUP: the old workers exited');
like($p->error_log // '', qr/\[notice\] \d+#\d+: .*reconfiguring/, 'HUP: reconfiguring logged');

# ---- HUP with a bad configuration ---------------------------------------------------------

{
    my $good = read_file($p->conf_file);
    write_file($p->conf_file, $good . "worker_connections = 5;\n");
    my $line = $p->line_of(qr/^worker_connections = 5;/);
    my $file = $p->conf_file;
    $p->signal('HUP');
    ok($p->wait_for(sub { ($p->error_log // '') =~ /\Q$file\E:$line: .*worker_connections/ }, 10),
       'bad HUP: the error is logged with FILE:LINE');
    is(body_of($p), "v2\n", 'bad HUP: still serving the old configuration');
    is_deeply([ $p->worker_pids ], \@w2, 'bad HUP: old workers untouched');
    write_file($p->conf_file, $good);
}

# ---- a killed worker is respawned -----------------------------------------------------------

{
    my $victim = $w2[0];
    kill 'KILL', $victim;
    ok($p->wait_for(sub {
        my @w = $p->worker_pids;
        @w == 2 && !grep { $_ == $victim } @w;
    }, 10), 'kill -9 of a worker: respawned');
    like($p->error_log // '', qr/worker process $victim exited on signal 9/,
         'kill -9: "exited on signal 9" logged');
    is(body_of($p), "v2\n", 'kill -9: still serving');
}

# ---- USR1 -----------------------------------------------------------------------------------

{
    my $logs = $p->prefix . '/logs';
    ok(rename("$logs/error.log", "$logs/error.log.old"), 'error log renamed');
    $p->signal('USR1');
    ok($p->wait_for(sub { -e "$logs/error.log" }, 5), 'USR1: error.log reopened (created)');
    $p->signal('HUP');
    ok($p->wait_for(sub { ($p->error_log // '') =~ /reconfiguring/ }, 10),
       'USR1: later lines go to the new file');
}

# ---- QUIT with a request in flight ------------------------------------------------------------

{
    my $s = http_connect($p->port(1));
    http_send($s, "GET /slow HTTP/1.1\r\nHost: localhost\r\n");
    sleep 0.5;
    my @w = $p->worker_pids;
    $p->signal('QUIT');
    sleep 0.5;
    http_send($s, "Connection: close\r\n\r\n");
    my ($st, $h, $b) = http_parse(http_read_response($s, timeout => 5));
    is($st, 200, 'QUIT: the request in flight gets its response');
    is($b, "v2\n", 'QUIT: its body');
    close $s;
    ok($p->wait_exit(15), 'QUIT: the master exits');
    is($p->exit_status, 0, 'QUIT: exit status 0');
    ok(!-e $pidfile, 'QUIT: pid file removed');
    ok($p->wait_for(sub { !grep { kill 0, $_ } @w }, 5), 'QUIT: the workers exited');
    my $c = http_connect($p->port(1));
    ok(!$c, 'QUIT: the port is closed');
    $p->stop;
}

# ---- TERM -------------------------------------------------------------------------------------

{
    my $q = Portico->new(conf => conf_with('t'));
    my @w = $q->worker_pids;
    $q->signal('TERM');
    ok($q->wait_exit(10), 'TERM: the master exits');
    is($q->exit_status, 0, 'TERM: exit status 0');
    ok(!-e ($q->prefix . '/logs/portico.pid'), 'TERM: pid file removed');
    ok($q->wait_for(sub { !grep { kill 0, $_ } @w }, 5), 'TERM: the workers exited');
    $q->stop;
}

# ---- worker_connections ---------------------------------------------------------------------

{
    my $q = Portico->new(conf => "worker_connections = 16;\n" . conf_with('wc'));
    $q->allow(qr/worker_connections|connections are not enough/);
    ok($q->wait_for(sub { $q->worker_pids == 2 }, 5), 'worker_connections: workers up');
    my @w = $q->worker_pids;
    my @socks;
    for (1 .. 60) {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $q->port(1),
                                      Proto => 'tcp', Timeout => 1);
        push @socks, $s if $s;
    }
    ok(scalar @socks >= 16, 'many idle connections opened (' . scalar(@socks) . ')');
    sleep 0.5;
    close $_ for @socks;
    @socks = ();
    ok($q->wait_for(sub { body_of($q) eq "wc\n" }, 10), 'worker_connections: serving after they close');
    is_deeply([ $q->worker_pids ], \@w, 'worker_connections: no worker died');
    ok($q->alive, 'worker_connections: the master runs');
    $q->stop;
}

done_testing();
