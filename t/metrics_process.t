#!/usr/bin/perl
# metrics_process.t: the process families of the status route (docs/metrics.md "Process"), with
# 2 workers and a health checker: portico_build_info's labels are the versions `portico -V`
# prints; portico_process_start_time_seconds is the master's start and stays across reloads;
# portico_config_generation goes 1 -> 2 with a reload, and
# portico_config_last_reload_success_timestamp_seconds from 0 to the reload's time; a rejected
# reload moves portico_reloads_failed_total only; kill -9 of a worker moves
# portico_worker_restarts_total; portico_process_open_fds{kind} and
# portico_process_resident_memory_bytes{kind} are above 0 for master, worker and health_checker
# and the worker series is the sum of both workers (what /proc says of each). JSON "process".

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Portico;
use PorticoBackend;
use JSON::PP qw(decode_json);
use Time::HiRes qw(time sleep);

skip_unless_module('status', 'health_check', 'proxy');

my $p = Portico->new(start => 0);
my $be = PorticoBackend->raw(port => $p->port(2), handler => sub {
    my ($sock) = @_;
    print $sock "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
});
my $conf = <<'EOF';
worker_processes = 2;
upstreams = ( { name = "app"; servers = ( { address = "127.0.0.1:%%PORT2%%"; } );
                health_check = { path = "/"; interval = "1s"; }; } );
servers = ( {
  listen = ["127.0.0.1:%%PORT1%%"];
  routes = (
    { match = { path = "/status"; }; status = { format = "prometheus"; }; },
    { match = { path = "/status.json"; }; status = { format = "json"; }; },
    { match = { path_prefix = "/"; }; proxy = { upstream = "app"; }; }
  );
} );
EOF
$p->write_conf($conf);
$p->allow(qr/exited on signal 9/);
$p->allow(qr/configuration reload failed/);
my $t_start = int(time);
$p->start;
my $t_started = time;

sub prom
{
    my ($s, $h, $b) = http_parse(http_get($p->port(1), '/status'));
    my %v;
    $v{$1} = $2 while ($b // '') =~ /^(portico_\S+) (\d+)$/mg;
    return (\%v, $b // '');
}

# build_info: the versions -V reports, and always 1
my ($rc, $vout, $verr) = $p->run('-V');
my $vtext = $vout . $verr;
my ($ver) = $vtext =~ m{portico/(\S+)};
my ($ossl, $pcre, $zlib, $lc) = $vtext =~ /built with OpenSSL (\S+), PCRE2 (\S+), zlib (\S+), libconfig (\S+)/;
my ($v, $text) = prom();
like($text, qr/^# TYPE portico_build_info gauge$/m, 'build_info typed gauge');
my ($labels) = $text =~ /^portico_build_info\{(.*)\} 1$/m;
ok(defined $labels, 'build_info is 1');
my %l = ($labels // '') =~ /(\w+)="([^"]*)"/g;
is($l{version}, $ver, "build_info version $ver");
is($l{openssl}, $ossl, "build_info openssl $ossl");
is($l{pcre2}, $pcre, "build_info pcre2 $pcre");
is($l{zlib}, $zlib, "build_info zlib $zlib");
is($l{libconfig}, $lc, "build_info libconfig $lc");
if (Portico::has_module('http2')) {
    like($l{nghttp2} // '', qr/^\d+\.\d+\.\d+/, 'build_info nghttp2 (http2 built)');
}

# the whole exposition is well-formed: every sample under its family's TYPE, no family or
# series twice (a strict reading of the text format 0.0.4)
{
    my (%type, %series, @bad);
    my $family;
    for my $line (split /\n/, $text) {
        if ($line =~ /^# TYPE (\w+) (counter|gauge|histogram)$/) {
            push @bad, "TYPE $1 twice" if $type{$1}++;
            $family = $1;
        } elsif ($line =~ /^# HELP \w+ \S/) {
        } elsif ($line =~ /^(\w+)(\{(?:\w+="(?:[^"\\]|\\.)*"(?:,|(?=\})))*\})? -?\d+(?:\.\d+)?$/) {
            my ($n, $l) = ($1, $2 // '');
            (my $base = $n) =~ s/_(bucket|sum|count)$// unless defined $type{$n};
            push @bad, "sample $n outside its family" unless defined $family && ($n eq $family || $base eq $family);
            push @bad, "series $n$l twice" if $series{"$n$l"}++;
        } else {
            push @bad, "malformed: $line";
        }
    }
    ok(!@bad, 'the Prometheus text is well-formed') or diag(join("\n", @bad[0 .. ($#bad < 10 ? $#bad : 10)]));
}

# start time, generation 1, no reload yet
my $start = $v->{portico_process_start_time_seconds};
ok($start >= $t_start - 1 && $start <= $t_started + 1, "start time is the master's start ($start)");
is($v->{portico_config_generation}, 1, 'generation 1 at start');
is($v->{portico_config_last_reload_success_timestamp_seconds}, 0, 'no reload yet: 0');
for my $f (qw(process_start_time_seconds config_generation config_last_reload_success_timestamp_seconds
              process_open_fds process_resident_memory_bytes)) {
    like($text, qr/^# TYPE portico_$f gauge$/m, "$f typed gauge");
}

# descriptors and memory per kind
sub fds_of { opendir(my $d, "/proc/$_[0]/fd") or return 0; my $n = grep { !/^\./ } readdir $d; return $n; }
sub rss_of { my $s = Portico::read_file("/proc/$_[0]/statm") // ''; my (undef, $r) = split / /, $s; return ($r // 0) * 4096; }
my @workers;
ok(Portico::wait_until(sub { @workers = $p->worker_pids; @workers == 2 }, 5), 'two workers');
sleep 2.2;    # every process has refreshed its gauges at least once since
($v) = prom();
for my $k (qw(master worker health_checker)) {
    ok(($v->{"portico_process_open_fds{kind=\"$k\"}"} // 0) > 0, "open fds of $k > 0");
    ok(($v->{"portico_process_resident_memory_bytes{kind=\"$k\"}"} // 0) > 1_000_000,
       "RSS of $k > 1 MB");
}
my $wfds = fds_of($workers[0]) + fds_of($workers[1]);
my $got = $v->{'portico_process_open_fds{kind="worker"}'};
ok(abs($got - $wfds) <= 2, "worker fds are the sum over both workers ($got, /proc: $wfds)");
ok($got > fds_of($workers[0]), 'worker fds: more than one worker has');
my $mfds = fds_of($p->pid);
ok(abs($v->{'portico_process_open_fds{kind="master"}'} - $mfds) <= 1,
   "master fds as /proc says ($mfds)");
my $wrss = rss_of($workers[0]) + rss_of($workers[1]);
$got = $v->{'portico_process_resident_memory_bytes{kind="worker"}'};
ok($got > $wrss * 0.7 && $got < $wrss * 1.3, "worker RSS is the sum over both workers ($got, /proc: $wrss)");

# a successful reload: generation 2, last reload time now, start time unchanged
my $t_reload = time;
$p->signal('HUP');
ok(Portico::wait_until(sub { ($v) = prom(); ($v->{portico_config_generation} // 0) == 2 }, 10),
   'generation 2 after a reload');
my $last = $v->{portico_config_last_reload_success_timestamp_seconds};
ok($last >= int($t_reload) - 1 && $last <= time + 1, "last reload time is the reload's ($last)");
is($v->{portico_process_start_time_seconds}, $start, 'start time unchanged by the reload');
is($v->{portico_reloads_total}, 1, 'reloads_total 1');
is($v->{portico_reloads_failed_total}, 0, 'reloads_failed_total 0');

# a rejected reload: failed +1, generation and last reload time unchanged
sleep 1.1;
$p->write_conf($conf . "worker_processes = \"many\";\n");
$p->signal('HUP');
ok($p->wait_for(sub { ($p->error_log // '') =~ /configuration reload failed/ }, 10), 'the bad reload failed');
ok(Portico::wait_until(sub { ($v) = prom(); ($v->{portico_reloads_failed_total} // 0) == 1 }, 5),
   'reloads_failed_total 1');
is($v->{portico_config_generation}, 2, 'generation unchanged by the failed reload');
is($v->{portico_config_last_reload_success_timestamp_seconds}, $last, 'last reload time unchanged');
is($v->{portico_reloads_total}, 1, 'reloads_total unchanged');

# kill -9 of a worker: restarts +1
ok(Portico::wait_until(sub { @workers = $p->worker_pids; @workers == 2 }, 10), 'two new workers');
my $restarts = $v->{portico_worker_restarts_total};
is($restarts, 0, 'no restart yet');
kill 'KILL', $workers[0];
ok(Portico::wait_until(sub { ($v) = prom(); ($v->{portico_worker_restarts_total} // 0) == 1 }, 10),
   'worker_restarts_total 1 after kill -9');
ok(Portico::wait_until(sub { my @w = $p->worker_pids; @w == 2 }, 10), 'the worker was respawned');

# JSON: the same facts
my ($s, $h, $b) = http_parse(http_get($p->port(1), '/status.json'));
my $j = decode_json($b)->{process};
is($j->{build}{version}, $ver, 'json: build version');
is($j->{build}{openssl}, $ossl, 'json: build openssl');
is($j->{start_time}, $start, 'json: start time');
is($j->{config_generation}, 2, 'json: generation');
is($j->{last_reload}, $last, 'json: last reload');
ok($j->{kinds}{$_}{open_fds} > 0 && $j->{kinds}{$_}{resident_memory_bytes} > 0, "json: $_ fds and RSS")
    for qw(master worker health_checker);

$be->stop;
$p->stop;
done_testing();
