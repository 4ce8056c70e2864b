#!/usr/bin/perl
# syslog.t: error and access logs sent to syslog targets (docs/logging.md), received by
# t/lib/syslog_sink.py on a Unix datagram socket and on UDP: the exact RFC 5424 framing
# (PRI from facility and severity, version 1, UTC timestamp with milliseconds, HOSTNAME or
# "-" with nohostname, APP-NAME from tag, PROCID the sending process, MSGID "access" or
# "error", no structured data, the message text without a newline); error-log severities
# from the line's level; a missing socket, a UDP port nobody listens on and a receiver that
# stops reading never delay requests and are counted in portico_syslog_dropped_total; a
# receiver that restarts is reconnected; USR1 keeps the targets; -t refuses bad targets at
# FILE:LINE.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Portico;
use POSIX qw(WNOHANG);
use Sys::Hostname qw(hostname);
use Time::HiRes qw(time sleep);
use Time::Local qw(timegm);
use JSON::PP;

skip_unless_module('access_log', 'return', 'status');
plan(skip_all => 'no python3') unless system('python3 -c 1 >/dev/null 2>&1') == 0;

my $p = Portico->new(start => 0);
my $pre = $p->prefix;
my $SINK = Portico::repo_root() . '/t/lib/syslog_sink.py';
my %sinks;

# Starts a sink writing to logs/NAME.jsonl; waits (bounded) until it is bound.
sub sink
{
    my ($name, @args) = @_;
    my $out = "$pre/logs/$name.jsonl";
    unlink "$out.ready";
    my $pid = fork();
    die "fork: $!" unless defined $pid;
    if ($pid == 0) {
        open(STDIN, '<', '/dev/null');
        exec('python3', $SINK, '--out', $out, '--lifetime', '120', @args) or POSIX::_exit(127);
    }
    $sinks{$name} = $pid;
    wait_until(sub { -e "$out.ready" }, 10) or BAIL_OUT("sink $name did not start");
    return $pid;
}

sub stop_sink
{
    my ($name) = @_;
    my $pid = delete $sinks{$name} or return;
    kill 'TERM', $pid;
    wait_until(sub { waitpid($pid, WNOHANG) == $pid }, 5) or do { kill 'KILL', $pid; waitpid($pid, 0) };
}
END { local $?; stop_sink($_) for keys %sinks; }

sub messages
{
    my ($name) = @_;
    my $t = Portico::read_file("$pre/logs/$name.jsonl") // '';
    return map { decode_json($_) } grep { length } split /\n/, $t;
}

# The first message of sink NAME whose msg matches RE, waited for at most 5 s.
sub message
{
    my ($name, $re) = @_;
    my $m;
    wait_until(sub { ($m) = grep { defined $_->{msg} && $_->{msg} =~ $re } messages($name); defined $m }, 5);
    return $m;
}

sub dropped
{
    my ($s, $h, $b) = http_parse(http_get($p->port(1), '/status'));
    return $b =~ /^portico_syslog_dropped_total (\d+)$/m ? $1 : -1;
}

sink('err', '--unix', "$pre/logs/err.sock");
sink('acc', '--unix', "$pre/logs/acc.sock");
sink('udp', '--udp', $p->port(5));
sink('slow', '--unix', "$pre/logs/slow.sock", '--pause', "$pre/logs/pause");

$p->write_conf(<<'EOF');
error_log = { path = "syslog:server=unix:%%PREFIX%%/logs/err.sock,facility=daemon,tag=portico_err"; level = "info"; };
http = { access_log = { path = "syslog:server=unix:%%PREFIX%%/logs/acc.sock,facility=local3,tag=pt.access,severity=notice"; format = "combined"; }; };
servers = (
  { listen = ["127.0.0.1:%%PORT1%%"];
    routes = ( { match = { path = "/status"; }; status = { format = "prometheus"; }; },
               { match = { path_prefix = "/"; }; return = { status = 200; body = "ok\n"; }; } ); },
  { listen = ["127.0.0.1:%%PORT2%%"];
    access_log = { path = "syslog:server=127.0.0.1:%%PORT5%%,nohostname"; format = "json"; fields = ["status", "uri"]; };
    routes = ( { match = { path_prefix = "/"; }; return = { status = 200; body = "ok\n"; }; } ); },
  { listen = ["127.0.0.1:%%PORT3%%"];
    access_log = { path = "syslog:server=unix:%%PREFIX%%/logs/none.sock"; };
    routes = ( { match = { path_prefix = "/"; }; return = { status = 200; body = "ok\n"; }; } ); },
  { listen = ["127.0.0.1:%%PORT4%%"];
    access_log = { path = "syslog:server=unix:%%PREFIX%%/logs/slow.sock"; };
    routes = ( { match = { path_prefix = "/"; }; return = { status = 200; body = "ok\n"; }; } ); },
  { listen = ["127.0.0.1:%%PORT6%%"];
    access_log = { path = "syslog:server=127.0.0.1:%%PORT7%%"; };
    routes = ( { match = { path_prefix = "/"; }; return = { status = 200; body = "ok\n"; }; } ); }
);
EOF
$p->start;
my $master = $p->pid;
my $host = hostname();
$host =~ s/[^\x21-\x7e]//g;

sub recent
{
    my ($ts) = @_;
    return 0 unless $ts =~ /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)\.\d{3}Z$/;
    my $t = timegm($6, $5, $4, $3, $2 - 1, $1);
    return abs($t - time()) < 30;
}

# ---- access log over a Unix socket ---------------------------------------------------------
{
    my ($s) = http_parse(http_get($p->port(1), '/s1?a=1', 'User-Agent' => 'ua/1'));
    is($s, 200, 'request served');
    my $m = message('acc', qr{/s1\?a=1});
    ok($m, 'access line received over the Unix socket') or diag(explain([messages('acc')]));
    $m //= {};
    is($m->{pri}, 19 * 8 + 5, 'PRI = local3 (19) * 8 + notice (5) = 157');
    is($m->{app}, 'pt.access', 'APP-NAME is the tag');
    is($m->{hostname}, $host, 'HOSTNAME is this host');
    # the workers read now, not at start: a worker forked just before the start returned may not
    # have set its title yet, and it may be the one that served this request
    my @now = $p->worker_pids;
    ok((grep { $_ == ($m->{procid} // 0) } @now), 'PROCID is the worker')
        or diag("procid " . ($m->{procid} // "none") . ", workers @now");
    is($m->{msgid}, 'access', 'MSGID access');
    ok(recent($m->{timestamp} // ''), 'TIMESTAMP is UTC, now, with milliseconds');
    like($m->{msg} // '', qr{^127\.0\.0\.1 - - \[[^\]]+\] "GET /s1\?a=1 HTTP/1\.1" 200 3 "-" "ua/1"$},
         'MSG is the combined line, without a newline');
    ok(!(grep { exists $_->{bad} } messages('acc')), 'every datagram is strict RFC 5424');
}

# ---- access log over UDP, nohostname, defaults ------------------------------------------------
{
    http_get($p->port(2), '/u1');
    my $m = message('udp', qr{/u1}) // {};
    is($m->{pri}, 23 * 8 + 6, 'UDP: PRI = local7 * 8 + info = 190 (the defaults)');
    is($m->{hostname}, '-', 'nohostname: HOSTNAME is the NILVALUE -');
    is($m->{app}, 'portico', 'default tag portico');
    is($m->{msg}, '{"status":200,"uri":"/u1"}', 'a JSON line with fields is the message');
}

# ---- error log --------------------------------------------------------------------------------
{
    my $m = message('err', qr/start worker process/) // {};
    is($m->{pri}, 3 * 8 + 5, 'error log: PRI = daemon (3) * 8 + notice (5)');
    is($m->{procid}, $master, 'error log: PROCID is the master');
    is($m->{msgid}, 'error', 'error log: MSGID error');
    is($m->{app}, 'portico_err', 'error log: tag');
    like($m->{msg} // '', qr/^\[notice\] $master#\d+: start worker process \d+$/,
         'error log: the line without its local time');
    like($p->stderr_log // '', qr/ \[notice\] $master#\d+: start worker process/,
         'daemon = false: lines copied to stderr too');
}

# ---- never blocking: no socket, UDP port closed, a receiver that stops reading ------------------
{
    my $d0 = dropped();
    ok($d0 >= 0, 'portico_syslog_dropped_total exposed');
    my $t0 = time();
    my $ok = 0;
    for my $i (1 .. 30) {
        my ($s) = http_parse(http_get($p->port(3), "/none$i"));
        $ok++ if defined $s && $s == 200;
    }
    is($ok, 30, 'missing Unix socket: every request answered');
    cmp_ok(time() - $t0, '<', 10, 'missing Unix socket: 30 requests in bounded time');
    my $d1 = dropped();
    cmp_ok($d1 - $d0, '>=', 30, 'missing Unix socket: each line dropped and counted');

    $ok = 0;
    for my $i (1 .. 6) {
        my ($s) = http_parse(http_get($p->port(6), "/udp$i"));
        $ok++ if defined $s && $s == 200;
    }
    is($ok, 6, 'UDP port without a receiver: every request answered');
    my $d2 = dropped();
    cmp_ok($d2 - $d1, '>=', 1, 'UDP refused (ICMP): losses counted');

    # The receiver's queue holds max_dgram_qlen datagrams (10 by default, 512 with systemd's
    # sysctl) within the sender's buffer: 4 KiB lines fill it after a few dozen at most.
    Portico::write_file("$pre/logs/pause", "1");
    $t0 = time();
    my ($sent, $d3) = (0, $d2);
    $ok = 0;
    while ($sent < 600 && $d3 - $d2 < 20 && time() - $t0 < 20) {
        for my $i (1 .. 20) {
            $sent++;
            my ($s) = http_parse(http_get($p->port(4), "/slow$sent", 'User-Agent' => 'x' x 4000));
            $ok++ if defined $s && $s == 200;
        }
        $d3 = dropped();
    }
    is($ok, $sent, "receiver not reading: every request answered ($sent)");
    cmp_ok(time() - $t0, '<', 20, 'receiver not reading: bounded time');
    cmp_ok($d3 - $d2, '>=', 20, 'receiver not reading: the lines that did not fit are counted')
        or diag("dropped $d2 -> $d3 after $sent");
    unlink "$pre/logs/pause";
    my @slow;
    wait_until(sub { @slow = messages('slow'); @slow + ($d3 - $d2) >= $sent }, 10);
    cmp_ok(scalar @slow, '>=', 1, 'the queued lines arrive once it reads again');
    is(scalar @slow + ($d3 - $d2), $sent, 'every line either delivered or counted');
}

# ---- a receiver that restarts is reconnected -----------------------------------------------------
{
    stop_sink('acc');
    rename "$pre/logs/acc.jsonl", "$pre/logs/acc-old.jsonl";
    sink('acc', '--unix', "$pre/logs/acc.sock");
    my $got;
    my $t0 = time();
    wait_until(sub {
        http_get($p->port(1), '/again');
        ($got) = grep { ($_->{msg} // '') =~ m{/again} } messages('acc');
        defined $got;
    }, 8);
    ok($got, 'a restarted Unix receiver gets lines again');
    cmp_ok(time() - $t0, '<', 5, 'reconnected within the retry bound');
}

# ---- USR1 keeps the targets ----------------------------------------------------------------------
{
    $p->signal('USR1');
    sleep 0.5;
    http_get($p->port(2), '/after-usr1');
    ok(message('udp', qr{/after-usr1}), 'USR1: syslog lines still sent');
}

$p->check_logs;
$p->stop;

# ---- -t: bad targets at FILE:LINE -------------------------------------------------------------
sub bad_target
{
    my ($access, $elog) = @_;
    my $q = Portico->new(start => 0);
    my $conf = '';
    $conf .= "error_log = { path = \"$elog\"; };\n" if defined $elog;
    $conf .= "servers = ( { listen = [\"127.0.0.1:%%PORT1%%\"];\n"
           . "  access_log = { path = \"" . ($access // 'logs/a.log') . "\"; };\n"
           . "  routes = ( { match = { path_prefix = \"/\"; }; return = { status = 200; }; } ); } );\n";
    $q->write_conf($conf);
    my $line = $q->line_of(defined $elog ? qr/error_log =/ : qr/access_log =/);
    my ($rc, $out) = $q->run_t('-t');
    return ($rc, $out, $q->conf_file . ":$line: ");
}
{
    my @cases = (
        [ 'syslog:server=unix:dev/log', qr/bad unix socket path "dev\/log"/ ],
        [ 'syslog:server=127.0.0.1:70000', qr/bad port in "127\.0\.0\.1:70000"/ ],
        [ 'syslog:server=unix:/dev/log,facility=local8', qr/unknown facility "local8"/ ],
        [ 'syslog:server=unix:/dev/log,severity=loud', qr/unknown severity "loud"/ ],
        [ 'syslog:server=unix:/dev/log,tag=a:b', qr/bad tag "a:b"/ ],
        [ 'syslog:facility=user', qr/no server=/ ],
        [ 'syslog:server=unix:/dev/log,bogus', qr/unknown parameter "bogus"/ ],
    );
    for my $c (@cases) {
        my ($rc, $out, $at) = bad_target($c->[0]);
        isnt($rc, 0, "-t fails: $c->[0]");
        like($out, qr/^\Q$at\E\S*access_log\S*: bad syslog target "\Q$c->[0]\E": .*$c->[1]/m,
             "access_log $c->[0]: FILE:LINE and the reason") or diag($out);
    }
    my ($rc, $out, $at) = bad_target(undef, 'syslog:server=unix:/dev/log,facility=nope');
    like($out, qr/^\Q$at\Eerror_log\.path: bad syslog target ".*": unknown facility "nope"/m,
         'error_log: bad target at FILE:LINE') or diag($out);
    ($rc, $out, $at) = bad_target(undef, 'syslog:server=unix:/dev/log,severity=info');
    like($out, qr/^\Q$at\Eerror_log\.path: severity= is for access logs/m,
         'error_log: severity= refused at FILE:LINE') or diag($out);
    ($rc, $out) = bad_target('syslog:server=unix:/nonexistent/sock', 'syslog:server=unix:/nonexistent/sock2');
    is($rc, 0, '-t: a socket that does not exist yet is fine (checked when sending)') or diag($out);
}

done_testing();
