#!/usr/bin/perl
# status_health.t: the active health-check details the checker publishes in the shared table
# (consecutive successes/failures, last check time, smoothed duration, last error) as the
# status route shows them, in Prometheus text and JSON; and the accepted-connections total.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Portico;
use PorticoBackend;
use JSON::PP;

skip_unless_module('health_check');
skip_unless_module('status');

my $p = Portico->new(start => 0);
my ($good, $bad) = ($p->port(2), $p->port(3));
my $be_good = PorticoBackend->raw(port => $good, handler => sub {
    my ($sock) = @_;
    print $sock "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
});
my $be_bad = PorticoBackend->raw(port => $bad, handler => sub {
    my ($sock) = @_;
    print $sock "HTTP/1.1 500 Oops\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
});

$p->write_conf(<<'EOF2');
worker_processes = 2;
upstreams = (
  { name = "app"; max_fails = 0;
    servers = ( { address = "127.0.0.1:%%PORT2%%"; }, { address = "127.0.0.1:%%PORT3%%"; } );
    health_check = { path = "/healthz"; interval = "200ms"; timeout = "1s"; fall = 2;
                     rise = 2; }; }
);
servers = ( {
  listen = ["127.0.0.1:%%PORT1%%"];
  routes = (
    { match = { path = "/status"; }; status = { format = "prometheus"; }; },
    { match = { path = "/status.json"; }; status = { format = "json"; }; },
    { match = { path_prefix = "/"; }; proxy = { upstream = "app"; }; }
  );
} );
EOF2
$p->start;

my $before = time;
my $data;
ok(wait_until(sub {
    my ($s, $h, $b) = http_parse(http_get($p->port(1), '/status.json'));
    return 0 unless defined $s && $s == 200;
    $data = eval { decode_json($b) } or return 0;
    my %by = map { $_->{address} => $_ } map { @{ $_->{servers} } } @{ $data->{upstreams} };
    my ($g, $x) = ($by{"127.0.0.1:$good"}, $by{"127.0.0.1:$bad"});
    return $g && $x && $g->{check_success_streak} >= 3 && $x->{check_failure_streak} >= 3;
}, 15), 'json: both servers checked at least three times');

my %by = map { $_->{address} => $_ } map { @{ $_->{servers} } } @{ $data->{upstreams} // [] };
my ($g, $x) = ($by{"127.0.0.1:$good"} // {}, $by{"127.0.0.1:$bad"} // {});
is($g->{check_failure_streak}, 0, 'json: the good server has no consecutive failure');
is($x->{check_success_streak}, 0, 'json: the failing server has no consecutive success');
is($x->{check_last_error}, 'status 500', 'json: the last error of the failing server');
ok(!exists $g->{check_last_error}, 'json: no last error for a server that never failed');
is($x->{up}, 0, 'json: the failing server is down');
is($g->{up}, 1, 'json: the good server is up');
ok($g->{check_last} >= $before - 1 && $g->{check_last} <= time + 1,
   'json: last check time is now (unix seconds)');
ok($g->{check_duration_us} > 0, 'json: a smoothed check duration is kept');

my ($s, $h, $b) = http_parse(http_get($p->port(1), '/status'));
is($s, 200, 'prometheus: 200');
like($b, qr/^# TYPE portico_upstream_server_check_failure_streak gauge$/m,
     'prometheus: check_failure_streak family typed');
like($b, qr/^portico_upstream_server_check_failure_streak\{upstream="app",server="127\.0\.0\.1:$bad"\} ([3-9]|\d\d+)$/m,
     'prometheus: consecutive failures of the failing server');
like($b, qr/^portico_upstream_server_check_success_streak\{upstream="app",server="127\.0\.0\.1:$good"\} ([3-9]|\d\d+)$/m,
     'prometheus: consecutive successes of the good server');
like($b, qr/^portico_upstream_server_check_duration_seconds\{upstream="app",server="127\.0\.0\.1:$good"\} 0\.\d{6}$/m,
     'prometheus: smoothed duration in seconds');
like($b, qr/^portico_upstream_server_check_last_timestamp_seconds\{upstream="app",server="127\.0\.0\.1:$bad"\} \d{10}$/m,
     'prometheus: last check timestamp');

# connections_total counts accepted client connections over both workers
sub total
{
    my ($st, $hd, $bd) = http_parse(http_get($p->port(1), '/status.json'));
    return decode_json($bd)->{connections_total};
}
my $t1 = total();
http_get($p->port(1), '/status.json') for 1 .. 5;
is(total() - $t1, 6, 'json: connections_total counts every accepted connection');
like(http_get($p->port(1), '/status'), qr/^portico_http_connections_total \d+$/m,
     'prometheus: http_connections_total');

$p->stop;
$p->check_logs;
done_testing;
