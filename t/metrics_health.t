#!/usr/bin/perl
# metrics_health.t: the health families of the status route (docs/metrics.md "Health"):
# portico_upstream_server_check_state (1 up, 0 down) and
# portico_upstream_server_check_last_change_timestamp_seconds per server of an upstream with a
# health_check, following the checker when a server flips down and back up (JSON "health" too);
# the consecutive counts are gauges named portico_upstream_server_check_{success,failure}_streak
# (the old names, which read like counters, are gone); servers without checks have no series.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Portico;
use PorticoBackend;
use JSON::PP qw(decode_json);

skip_unless_module('health_check', 'status', 'proxy');

my $p = Portico->new(start => 0);
my ($A, $B, $C) = ($p->port(2), $p->port(3), $p->port(4));
my $flag = $p->prefix . '/healthy';
Portico::write_file($flag, "1");
# A answers 200 while the flag file exists, 500 otherwise
my $be = PorticoBackend->raw(port => $A, handler => sub {
    my ($sock) = @_;
    my $st = -e $flag ? "200 OK" : "500 Oops";
    print $sock "HTTP/1.1 $st\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
});

$p->write_conf(<<'EOF');
worker_processes = 2;
upstreams = (
  { name = "app"; max_fails = 0;
    servers = ( { address = "127.0.0.1:%%PORT2%%"; },
                { address = "127.0.0.1:%%PORT3%%"; down = true; } );
    health_check = { path = "/healthz"; interval = "200ms"; timeout = "1s"; fall = 2; rise = 2; }; },
  { name = "plain"; servers = ( { address = "127.0.0.1:%%PORT4%%"; } ); }
);
servers = ( {
  listen = ["127.0.0.1:%%PORT1%%"];
  routes = (
    { match = { path = "/status"; }; status = { format = "prometheus"; }; },
    { match = { path = "/status.json"; }; status = { format = "json"; }; },
    { match = { path_prefix = "/p"; }; proxy = { upstream = "plain"; }; },
    { match = { path_prefix = "/"; }; proxy = { upstream = "app"; }; }
  );
} );
EOF
$p->start;

my $state = "portico_upstream_server_check_state{upstream=\"app\",server=\"127.0.0.1:$A\"}";
my $change = "portico_upstream_server_check_last_change_timestamp_seconds{upstream=\"app\","
             . "server=\"127.0.0.1:$A\"}";
sub prom
{
    my ($s, $h, $b) = http_parse(http_get($p->port(1), '/status'));
    my %v;
    $v{$1} = $2 while $b =~ /^(portico_upstream_server_check_\S+) (\d+(?:\.\d+)?)$/mg;
    return (\%v, $b);
}
sub health_json
{
    my ($s, $h, $b) = http_parse(http_get($p->port(1), '/status.json'));
    my $j = eval { decode_json($b) } or return undef;
    my @e = grep { $_->{server} eq "127.0.0.1:$A" } @{ $j->{health} };
    return { json => $j, entry => $e[0] };
}

# up from the start: state 1, no flip yet
my ($v, $text);
ok(Portico::wait_until(sub { ($v, $text) = prom(); ($v->{"portico_upstream_server_check_success_streak{upstream=\"app\",server=\"127.0.0.1:$A\"}"} // 0) >= 2 }, 10),
   'the server is checked');
is($v->{$state}, 1, 'state 1 while the checks pass');
is($v->{$change}, 0, 'no state change yet: 0');
like($text, qr/^# TYPE portico_upstream_server_check_state gauge$/m, 'state typed gauge');
like($text, qr/^# TYPE portico_upstream_server_check_last_change_timestamp_seconds gauge$/m,
     'last change typed gauge');
like($text, qr/^# TYPE portico_upstream_server_check_success_streak gauge$/m, 'success streak typed gauge');
like($text, qr/^# TYPE portico_upstream_server_check_failure_streak gauge$/m, 'failure streak typed gauge');
unlike($text, qr/portico_upstream_server_check_(successes|failures)\b/, 'the counter-like names are gone');
unlike($text, qr/check_state\{upstream="app",server="127\.0\.0\.1:$B"\}/, 'a `down` server has no state');
unlike($text, qr/check_state\{upstream="plain"/, 'an upstream without health_check has no state');
is(scalar(() = $text =~ /^portico_upstream_server_check_state\{/mg), 1, 'one state series');

# the server starts failing: down after `fall` failures, the change time is now
unlink $flag;
my $t0 = time;
ok(Portico::wait_until(sub { ($v) = prom(); ($v->{$state} // 1) == 0 }, 10), 'state 0 once the server is down');
my $down_at = $v->{$change};
ok($down_at >= $t0 - 1 && $down_at <= time + 1, "change time is the flip's (within the last seconds): $down_at");
ok($v->{"portico_upstream_server_check_failure_streak{upstream=\"app\",server=\"127.0.0.1:$A\"}"} >= 2,
   'failure streak at least `fall`');
my $h = health_json();
is_deeply($h->{entry}, { upstream => 'app', server => "127.0.0.1:$A", state => 0,
                         last_change => $down_at }, 'json: the down server');
is(scalar @{ $h->{json}{health} }, 1, 'json: only checked servers are listed');
ok(exists $h->{json}{upstreams}[0]{servers}[0]{check_failure_streak}, 'json: check_failure_streak');
ok(!exists $h->{json}{upstreams}[0]{servers}[0]{check_failures}, 'json: check_failures renamed');

# the server comes back: up after `rise` successes, a later change time
sleep 1.1;
Portico::write_file($flag, "1");
ok(Portico::wait_until(sub { ($v) = prom(); ($v->{$state} // 0) == 1 }, 10), 'state 1 once the server is back');
ok($v->{$change} > $down_at, 'the change time moved with the flip back up');
ok($v->{$change} <= time + 1, 'the change time is not in the future');

# a reload keeps the state and the change time of a server that stays
my $up_at = $v->{$change};
$p->signal('HUP');
sleep 1;
($v) = prom();
is($v->{$state}, 1, 'after a reload: still up');
is($v->{$change}, $up_at, 'after a reload: the same change time');

$be->stop;
$p->stop;
done_testing();
