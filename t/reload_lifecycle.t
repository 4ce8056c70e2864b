#!/usr/bin/perl
# reload_lifecycle.t: how an old-generation worker retires its connections (docs/http.md,
# "Reloads and graceful shutdown"): an idle keep-alive connection that sends a request within
# the grace period is answered with Connection: close, one that stays silent is half-closed
# (end of file, never a reset) after about a second, pipelined requests already read are all
# answered; a worker whose master was killed finishes its request and exits; a failed reload
# is logged, counted on the status route and makes `-s reload` exit 1; start-up retries a
# bind() that meets an address in use.

use strict;
use warnings;
use Test::More;
use IO::Socket::IP;
use POSIX ();
use Time::HiRes qw(time sleep);
use lib 't/lib';
use Portico;
use PorticoBackend;

my $bin = portico_bin();
plan(skip_all => "no portico binary at $bin") unless -x $bin;

my $conf = <<'EOF';
worker_processes = 1;
upstreams = ( { name = "b"; servers = ( { address = "127.0.0.1:%%PORT2%%"; } ); } );
servers = ( {
  listen = ["127.0.0.1:%%PORT1%%" EXTRA];
  routes = (
    { match = { path_prefix = "/status"; }; status = { format = "prometheus"; }; },
    { match = { path_prefix = "/sleep"; }; proxy = { upstream = "b"; }; },
    { match = { path_prefix = "/"; }; return = { status = 200; body = "BODY\n"; }; }
  );
} );
EOF

sub conf_with
{
    my ($body, $extra) = @_;
    (my $c = $conf) =~ s/BODY/$body/;
    $c =~ s/ EXTRA/defined $extra ? qq(, "127.0.0.1:$extra") : ''/e;
    return $c;
}

sub get_on
{
    my ($s, $path) = @_;
    http_send($s, http_request('GET', $path)) or return (undef, {}, '');
    return http_parse(http_read_response($s, timeout => 5));
}

sub status_metric
{
    my ($p, $name) = @_;
    my (undef, undef, $body) = http_parse(http_get($p->port(1), '/status'));
    return ($body // '') =~ /^\Q$name\E (\d+)$/m ? $1 : undef;
}

# The worker of the old generation, once it has started its graceful shutdown.
sub shutting_down
{
    my ($pid) = @_;
    return (Portico::title($pid) // '') eq 'portico: worker process is shutting down';
}

my $p = Portico->new(start => 0);
my $b = PorticoBackend->new(port => $p->port(2), id => 'b1');
$p->write_conf(conf_with('v1'));
$p->start;
$p->allow(qr/master process \d+ is gone/);
$p->allow(qr/\[emerg\] .*bind\(\) to 127\.0\.0\.1:\d+ failed \(98/);    # the failed reload

# ---- idle keep-alive connections at a reload ---------------------------------------------

{
    my ($w) = $p->worker_pids;
    my $busy = http_connect($p->port(1));
    my $silent = http_connect($p->port(1));
    my $pipe = http_connect($p->port(1));
    is((get_on($busy, '/'))[2], "v1\n", 'keep-alive connection 1 served');
    is((get_on($silent, '/'))[2], "v1\n", 'keep-alive connection 2 served');
    # a slow request with a second one pipelined behind it, both read at once
    http_send($pipe, http_request('GET', '/sleep?ms=1200') . http_request('GET', '/'));
    my $inflight = http_connect($p->port(1));
    http_send($inflight, http_request('GET', '/sleep?ms=1200'));
    sleep 0.2;

    $p->write_conf(conf_with('v2'));
    $p->signal('HUP');
    ok(wait_until(sub { shutting_down($w) }, 10), 'HUP: the old worker is shutting down');
    my $t0 = time;

    my ($st, $h, $body) = get_on($busy, '/');
    is($st, 200, 'a request on an idle connection during the grace period is answered');
    is($body, "v1\n", '... by the old configuration, wholly');
    is(lc($h->{connection} // ''), 'close', '... with Connection: close');
    ok(http_closed($busy, 3), '... and the connection is closed after it');

    ok(!http_closed($silent, 0.5), 'a silent idle connection is kept open for a while');
    ok(http_closed($silent, 3), '... then closed');
    ok(!${*$silent}{portico_reset}, '... with an end of file, not a reset');
    my $held = time - $t0;
    ok($held >= 0.7 && $held < 4, "... about a second after the shutdown began ($held s)");

    my $raw = http_read_response($pipe, timeout => 5);
    my ($st1, $h1, $b1) = http_parse($raw);
    is("$st1 $b1", '200 b1', 'pipelined: the slow request is answered');
    ok(!defined $h1->{connection}, '... keeping the connection for the request read behind it');
    my ($st2, $h2, $b2) = http_parse(http_read_response($pipe, timeout => 5));
    is("$st2 $b2", "200 v1\n", 'pipelined: the second request is answered too');
    is(lc($h2->{connection} // ''), 'close', '... with Connection: close');
    ok(http_closed($pipe, 3), '... then the connection is closed');

    my ($st3, $h3, $b3) = http_parse(http_read_response($inflight, timeout => 5));
    is("$st3 $b3", '200 b1', 'a request in flight at the reload is answered');
    is(lc($h3->{connection} // ''), 'close', '... with Connection: close');
    ok(http_closed($inflight, 3), '... then the connection is closed');

    ok(wait_until(sub { !kill 0, $w }, 10), 'the old worker exits');
    is((http_parse(http_get($p->port(1), '/')))[2], "v2\n", 'the new configuration serves');
}

# ---- a failed reload changes nothing and is visible ----------------------------------------

{
    my $taken = IO::Socket::IP->new(LocalHost => '127.0.0.1', LocalPort => $p->port(5),
                                    Listen => 5, ReuseAddr => 1)
        or die "cannot occupy port: $!";
    $p->write_conf(conf_with('v3', $p->port(5)));
    my ($rc, $out) = $p->run_t('-s', 'reload');
    is($rc, 1, '-s reload: exit status 1 when the master could not apply the configuration');
    like($out, qr/reload failed: the master process \d+ keeps the running configuration/,
         '-s reload: says so');
    like($p->error_log, qr/\[error\] .*configuration reload failed, keeping the old one/,
         'error log: the failure');
    like($p->error_log, qr/bind\(\) to 127\.0\.0\.1:\d+ failed/, 'error log: the reason');
    is((http_parse(http_get($p->port(1), '/')))[2], "v2\n", 'the running configuration serves');
    is(status_metric($p, 'portico_reloads_failed_total'), 1, 'status: one failed reload');
    is(status_metric($p, 'portico_reloads_total'), 1, 'status: one reload done');

    close $taken;
    ($rc, $out) = $p->run_t('-s', 'reload');
    is($rc, 0, '-s reload: exit status 0 once the reload is applied') or diag($out);
    ok(wait_until(sub { ((http_parse(http_get($p->port(1), '/')))[2] // '') eq "v3\n" }, 5),
       'the new configuration serves');
    is(status_metric($p, 'portico_reloads_total'), 2, 'status: two reloads done');
    is(status_metric($p, 'portico_reloads_failed_total'), 1, 'status: still one failed');
}

# ---- a worker whose master is gone ---------------------------------------------------------

{
    my ($w) = $p->worker_pids;
    my $c = http_connect($p->port(1));
    http_send($c, http_request('GET', '/sleep?ms=1500'));
    sleep 0.3;
    kill 'KILL', $p->pid;
    ok(wait_until(sub { !$p->alive }, 5), 'master killed');
    my ($st, $h, $body) = http_parse(http_read_response($c, timeout => 5));
    is("$st $body", '200 b1', 'the in-flight request is answered after the master died');
    is(lc($h->{connection} // ''), 'close', '... with Connection: close');
    ok(wait_until(sub { !kill 0, $w }, 10), 'the orphaned worker exits');
    like($p->error_log, qr/\[alert\] .*master process \d+ is gone: finishing in-flight requests/,
         'error log: why the worker exits');
    $p->stop;
}

# ---- start-up retries a bind() that meets an address in use --------------------------------

sub occupy
{
    my ($port) = @_;
    my $s = IO::Socket::IP->new(LocalHost => '127.0.0.1', LocalPort => $port, Listen => 5,
                                ReuseAddr => 1);
    die "cannot occupy port $port: $!" unless $s;
    return $s;
}

{
    my $q = Portico->new(start => 0);
    $q->allow(qr/bind\(\) to 127\.0\.0\.1:\d+ failed \(98/);
    $q->write_conf(conf_with('up'));
    my $sock = occupy($q->port(1));
    my $t0 = time;
    my ($rc, $out, $err) = Portico::run_cmd($bin, '-p', $q->prefix . '/', '-c', $q->conf_file,
                                   '-g', 'daemon = false;');
    my $took = time - $t0;
    is($rc, 1, 'an address in use for good: the start fails');
    ok($took >= 1.8 && $took < 8, "... after the retries ($took s)");
    my $port = $q->port(1);
    my $retry = qr/\[warn\] .*bind\(\) to 127\.0\.0\.1:$port failed, trying again in 500 ms \(98: /;
    is(scalar(() = $err =~ /$retry/g), 4,
       '... four retries announced');
    like($err, qr/still could not bind\(\) to 127\.0\.0\.1:$port after 5 tries 500 ms apart/,
         '... and a clear last message');

    # the port is freed after about a second: the start succeeds
    my $kid = fork();
    die "fork: $!" unless defined $kid;
    if ($kid == 0) {
        sleep 1;
        POSIX::_exit(0);
    }
    close $sock;            # the child keeps the socket open for a second
    $q->start;
    # (start() returns as soon as a connection is accepted, by the child's socket too)
    my $up = sub { ((http_parse(http_get($q->port(1), '/', timeout => 1)))[2] // '') eq "up\n" };
    ok(wait_until($up, 10),
       'an address in use for a second: the start succeeds and serves');
    like($q->stderr_log // '', qr/\[warn\] .*trying again in 500 ms/, '... after a retry');
    ok($q->alive, '... and the master runs');
    waitpid($kid, 0);
    $q->stop;
}

done_testing();
