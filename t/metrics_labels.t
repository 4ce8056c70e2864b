#!/usr/bin/perl
# metrics_labels.t: how the status route labels servers and routes (docs/metrics.md): two
# servers sharing a first name on different listeners are separate series (listen label,
# exact deltas over two workers); a route is labelled by its `name`, else by a stable default
# "SERVER:MATCH" ("=PATH" exact, "~REGEX", the prefix as written, "*" for no path condition,
# "#2" for a second route of a server with the same match; "_" for a server without names);
# $route_name gives the same label in the access log; the JSON document uses the same labels.

use strict;
use warnings;
use Test::More;
use JSON::PP;
use lib 't/lib';
use Portico;
use PorticoMetrics;

skip_unless_module('status', 'return', 'access_log');

my $p = Portico->new(conf => <<'EOF2');
worker_processes = 2;
http = {
  log_formats = ( { name = "rn"; format = "$server_port $uri $status route=$route_name"; } );
  access_log = { path = "logs/access.log"; format = "rn"; };
};
servers = (
  { listen = ["127.0.0.1:%%PORT1%%"];
    names = ["example.test", "www.example.test"];
    routes = ( { match = { path_prefix = "/"; }; return = { status = 301; location = "https://example.test/"; }; } ); },
  { listen = ["127.0.0.1:%%PORT2%%"];
    names = ["example.test"];
    routes = (
      { name = "metrics"; match = { path = "/metrics"; }; status = { }; },
      { match = { path = "/metrics.json"; }; status = { format = "json"; }; },
      { name = "api"; match = { path_prefix = "/api/"; }; return = { status = 200; body = "api\n"; }; },
      { match = { path_prefix = "/static/"; }; return = { status = 200; body = "s\n"; }; },
      { match = { path = "/exact"; }; return = { status = 200; body = "e\n"; }; },
      { match = { path_regex = "^/re[0-9]+$"; }; return = { status = 200; body = "r\n"; }; },
      { match = { path_prefix = "/m/"; methods = ["POST"]; }; return = { status = 201; body = "p\n"; }; },
      { match = { path_prefix = "/m/"; }; return = { status = 200; body = "m\n"; }; },
      { match = { methods = ["DELETE"]; }; return = { status = 204; }; }
    ); },
  { listen = ["127.0.0.1:%%PORT3%%"];
    routes = ( { match = { path_prefix = "/"; }; return = { status = 200; body = "anon\n"; }; } ); }
);
EOF2
ok($p->wait_for(sub { $p->worker_pids == 2 }, 10), 'two workers');

my ($P1, $P2, $P3) = map { $p->port($_) } 1 .. 3;
my ($L1, $L2, $L3) = map { "127.0.0.1:$_" } $P1, $P2, $P3;
sub code { my ($r) = @_; return defined $r && $r =~ m{^HTTP/1\.1 (\d+)} ? $1 : 0; }

my $m0 = metrics($P2);
ok($m0, 'scrape');
is_deeply($m0->{errors}, [], 'strict parse: no errors');

# the series exist with the documented labels, before any traffic
my %want = (
    'metrics' => 'a named route', 'api' => 'a named route',
    'example.test:/static/' => 'prefix', 'example.test:=/exact' => 'exact path',
    'example.test:~^/re[0-9]+$' => 'regex', 'example.test:/m/' => 'first /m/ route',
    'example.test:/m/#2' => 'second route with the same match', 'example.test:*' => 'no path',
    'example.test:=/metrics.json' => 'exact path',
);
for my $r (sort keys %want) {
    ok(defined mval($m0, 'portico_route_requests_total', server => 'example.test',
                    listen => $L2, route => $r), "route label \"$r\" ($want{$r})");
}
ok(defined mval($m0, 'portico_route_requests_total', server => 'example.test', listen => $L1,
                route => 'example.test:/'), 'the other server\'s route: its own listen label');
ok(defined mval($m0, 'portico_route_requests_total', server => '_', listen => $L3,
                route => '_:/'), 'a server without names: "_" in both labels');
ok(!grep({ /^portico_route_requests_total\{.*route="\d+"/ } keys %{ $m0->{samples} }),
   'no route is labelled by a bare position');

# traffic: exact deltas per listener, per route
my @codes;
push @codes, code(http_get($P1, "/x$_")) for 1 .. 2;
push @codes, code(http_get($P2, '/api/v1'));
push @codes, code(http_get($P2, '/static/a.css')) for 1 .. 3;
push @codes, code(http_get($P2, '/exact'));
push @codes, code(http_get($P2, '/re42'));
push @codes, code(http_raw($P2, http_request('POST', '/m/x', Connection => 'close', body => 'b')));
push @codes, code(http_get($P2, '/m/y'));
push @codes, code(http_raw($P2, http_request('DELETE', '/zzz', Connection => 'close')));
push @codes, code(http_get($P3, '/anything'));
is("@codes", '301 301 200 200 200 200 200 200 201 200 204 200', 'answers');
my $m1 = metrics($P2);
is_deeply($m1->{errors}, [], 'strict parse: no errors');
is(mdelta($m0, $m1, 'portico_server_requests_total', server => 'example.test', listen => $L1), 2,
   'server example.test on the first listener: exactly 2 (the redirects)');
is(mdelta($m0, $m1, 'portico_server_responses_total', server => 'example.test', listen => $L1,
          class => '3xx'), 2, '... both 3xx');
is(mdelta($m0, $m1, 'portico_server_requests_total', server => 'example.test', listen => $L2),
   10, 'server example.test on the second listener: its 9 requests and the first scrape');
is(mdelta($m0, $m1, 'portico_server_responses_total', server => 'example.test', listen => $L2,
          class => '3xx'), 0, '... no 3xx there');
my %d = ('api' => 1, 'example.test:/static/' => 3, 'example.test:=/exact' => 1,
         'example.test:~^/re[0-9]+$' => 1, 'example.test:/m/' => 1, 'example.test:/m/#2' => 1,
         'example.test:*' => 1, 'metrics' => 1);
for my $r (sort keys %d) {
    is(mdelta($m0, $m1, 'portico_route_requests_total', server => 'example.test', listen => $L2,
              route => $r), $d{$r}, "route \"$r\": exactly $d{$r} more");
}
is(mdelta($m0, $m1, 'portico_server_requests_total', server => '_', listen => $L3), 1,
   'the unnamed server: 1');

# $route_name in the access log
ok($p->wait_for(sub { ($p->access_log // '') =~ /^$P3 \/anything 200 route=_:\/$/m }, 5),
   'access log: the unnamed server\'s route');
my $log = $p->access_log // '';
like($log, qr/^$P2 \/api\/v1 200 route=api$/m, '$route_name: the route\'s name');
like($log, qr/^$P2 \/re42 200 route=example\.test:~\^\/re\[0-9\]\+\$$/m,
     '$route_name: the default label');
like($log, qr/^$P2 \/m\/x 201 route=example\.test:\/m\/$/m, '$route_name: first /m/ route');
like($log, qr/^$P2 \/m\/y 200 route=example\.test:\/m\/#2$/m, '$route_name: the second one');

# JSON: the same labels
my $jr = http_get($P2, '/metrics.json') // '';
my $j = eval { decode_json(substr($jr, index($jr, "\r\n\r\n") + 4)) };
ok($j, 'JSON parses');
my @srv = grep { $_->{name} eq 'example.test' } @{ $j->{servers} || [] };
is(scalar @srv, 2, 'JSON: two servers named example.test');
is_deeply([ sort map { $_->{listen} } @srv ], [ sort $L1, $L2 ], 'JSON: told apart by listen');
my ($s2) = grep { $_->{listen} eq $L2 } @srv;
my ($static) = grep { $_->{route} eq 'example.test:/static/' } @{ $s2->{routes} };
is($static->{requests},
   mval($m1, 'portico_route_requests_total', server => 'example.test', listen => $L2,
        route => 'example.test:/static/'), 'JSON route by label = Prometheus');

$p->check_logs;
$p->stop;
done_testing;
