#!/usr/bin/perl
# admin_api.t: the admin API (docs/admin.md) on its Unix socket and as a route, with two
# workers: listing, drain / down / up (no new request reaches a drained or downed server
# from either worker: counted at the backends), weight changes (exact round-robin shares),
# servers added and removed (round robin, hash, least_conn, random_two, ip_hash), every
# change kept across a reload (HUP) and across a restart (the state file), bad input
# refused with its exact status and error, a client outside a route's access rules
# refused, and one notice line per change naming who made it.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Portico;
use PorticoBackend;
use PorticoAdmin;
use JSON::PP;
use Time::HiRes qw(sleep time);
use Digest::SHA qw(sha1);
use MIME::Base64 qw(encode_base64);

skip_unless_module('proxy');
skip_unless_module('admin');

my $json = JSON::PP->new->canonical;

sub ids
{
    my ($port, $n, $path) = @_;
    my @reqs = map { http_request('GET', ref $path ? $path->($_) : $path) } 1 .. $n;
    my @res = http_keepalive($port, \@reqs);
    return map { my (undef, undef, $b) = http_parse($_); $b } @res;
}

# $n requests, each on a new connection (both workers take some).
sub ids_fresh
{
    my ($port, $n, $path) = @_;
    return map {
        my (undef, undef, $b) = http_parse(http_get($port, ref $path ? $path->($_) : $path));
        $b
    } 1 .. $n;
}

sub count { my %c; $c{$_}++ for @_; return \%c; }

my $p = Portico->new(start => 0);
my @b = map { PorticoBackend->new(port => $p->port($_ + 2), id => chr(ord('a') + $_)) } 0 .. 3;
write_file($p->prefix . '/conf/htpasswd', 'ops:{SHA}' . encode_base64(sha1('pw'), '') . "\n");
mkdir $p->prefix . '/state';
chmod 01777, $p->prefix . '/state';
my $conf = <<'EOF';
worker_processes = 2;
admin = { socket = "logs/admin.sock"; mode = "0660"; state_file = "state/upstreams.json"; };
upstreams = (
  { name = "app"; max_servers = 4;
    servers = ( { address = "127.0.0.1:%%PORT2%%"; }, { address = "127.0.0.1:%%PORT3%%"; } ); },
  { name = "hh"; balance = "hash"; hash_key = "$args";
    servers = ( { address = "127.0.0.1:%%PORT2%%"; }, { address = "127.0.0.1:%%PORT3%%"; } ); },
  { name = "lc"; balance = "least_conn";
    servers = ( { address = "127.0.0.1:%%PORT2%%"; }, { address = "127.0.0.1:%%PORT3%%"; } ); },
  { name = "r2"; balance = "random_two";
    servers = ( { address = "127.0.0.1:%%PORT2%%"; }, { address = "127.0.0.1:%%PORT3%%"; } ); },
  { name = "ip"; balance = "ip_hash";
    servers = ( { address = "127.0.0.1:%%PORT2%%"; }, { address = "127.0.0.1:%%PORT3%%"; } ); }
);
servers = ( {
  listen = ["127.0.0.1:%%PORT1%%"];
  routes = (
    { match = { path_prefix = "/app/"; }; proxy = { upstream = "app"; strip_prefix = true; }; },
    { match = { path_prefix = "/hh/"; }; proxy = { upstream = "hh"; strip_prefix = true; }; },
    { match = { path_prefix = "/lc/"; }; proxy = { upstream = "lc"; strip_prefix = true; }; },
    { match = { path_prefix = "/r2/"; }; proxy = { upstream = "r2"; strip_prefix = true; }; },
    { match = { path_prefix = "/ip/"; }; proxy = { upstream = "ip"; strip_prefix = true; }; },
    { match = { path_prefix = "/admin/"; }; admin = true; },
    { match = { path = "/metrics"; }; status = { format = "prometheus"; }; },
    { match = { path = "/metrics.json"; }; status = { format = "json"; }; },
    { match = { path_prefix = "/fenced/"; }; admin = true;
      access = ["allow 10.0.0.0/8", "deny all"]; },
    { match = { path_prefix = "/authed/"; }; admin = true; access = ["allow 127.0.0.1"];
      auth_basic = { realm = "admin"; users = "conf/htpasswd"; }; }
  );
} );
EOF
$p->write_conf($conf);
$p->start;
my $port = $p->port(1);
my ($pa, $pb, $pc) = map { $p->port($_) } 2 .. 4;

# --- the socket: mode set, listing
my $mode = (stat($p->prefix . '/logs/admin.sock'))[2] & 07777;
is(sprintf('%04o', $mode), '0660', 'the socket file has the configured mode');
my ($st, $d, $head) = admin($p, 'GET', '/upstreams');
is($st, 200, 'GET /upstreams: 200');
like($head, qr{\r\nContent-Type: application/json\r\n}i, 'JSON answer');
is(scalar @{ $d->{upstreams} }, 5, 'five upstreams');
my $app = $d->{upstreams}[0];
is($app->{name}, 'app', 'first upstream app');
is($app->{max_servers}, 4, 'its capacity');
is_deeply([ map { "$_->{id} $_->{address} $_->{origin} $_->{state} $_->{weight}" }
            @{ $app->{servers} } ],
          [ "0 127.0.0.1:$pa config up 1", "1 127.0.0.1:$pb config up 1" ],
          'servers with id, address, origin, state, weight');
($st, $d) = admin($p, 'GET', '/upstreams/app/servers/1');
is($st, 200, 'GET one server');
is($d->{address}, "127.0.0.1:$pb", 'the right one');
ok(exists $d->{$_}, "server has $_") for qw(backup max_conns health active requests configured);

# --- drain: no new requests from either worker
($st, $d) = admin($p, 'PATCH', '/upstreams/app/servers/0', '{"state": "drain"}');
is($st, 200, 'PATCH drain: 200');
is($d->{state}, 'drain', 'the answer shows drain');
$_->reset for @b;
my $c = count(ids_fresh($port, 40, '/app/id'));
is($c->{a} || 0, 0, 'drained: no request on new connections (both workers)');
is($c->{b} || 0, 40, 'all to the other server');
is($b[0]->stats->{requests}, 0, 'the drained backend saw none');
my (undef, undef, $m0) = http_parse(http_get($port, '/metrics'));
like($m0, qr/^portico_upstream_server_up\{upstream="app",server="127\.0\.0\.1:$pa"\} 0$/m,
     'metrics: a draining server is not up');

# --- down, then up with weight 3: exact 3:1 on one connection
($st) = admin($p, 'PATCH', '/upstreams/app/servers/0', '{"state": "down"}');
is($st, 200, 'PATCH down');
$_->reset for @b;
$c = count(ids_fresh($port, 20, '/app/id'));
is($c->{a} || 0, 0, 'down: no request');
($st, $d) = admin($p, 'PATCH', '/upstreams/app/servers/0', '{"state": "up", "weight": 3}');
is($st, 200, 'PATCH up + weight');
is($d->{weight}, 3, 'weight 3');
$c = count(ids($port, 40, '/app/id'));
is($c->{a} || 0, 30, 'weight 3: 30 of 40');
is($c->{b} || 0, 10, 'weight 1: 10 of 40');

# --- add a server, then remove it
($st, $d) = admin($p, 'POST', '/upstreams/app/servers',
                  qq({"address": "127.0.0.1:$pc", "weight": 1, "max_conns": 0}));
is($st, 201, 'POST: 201');
is($d->{id}, 2, 'the new server takes position 2');
is($d->{origin}, 'api', 'origin api');
$c = count(ids($port, 50, '/app/id'));
is_deeply($c, { a => 30, b => 10, c => 10 }, 'the added server takes its share (3:1:1)');
# its traffic statistics are in the status route like a configured server's
my $series = qq(upstream="app",server="127.0.0.1:$pc");
my (undef, undef, $metrics) = http_parse(http_get($port, '/metrics'));
like($metrics, qr/^portico_upstream_server_response_seconds_count\{\Q$series\E\} 10$/m,
     'metrics: the added server\'s 10 tries in its response histogram');
like($metrics, qr/^portico_upstream_server_received_bytes_total\{\Q$series\E\} [1-9]\d*$/m,
     'metrics: bytes received from the added server');
like($metrics, qr/^portico_upstream_server_tries_total\{\Q$series\E\} 10$/m,
     'metrics: the added server\'s tries');
like($metrics, qr/^portico_upstream_server_up\{\Q$series\E\} 1$/m, 'metrics: it is up');
# and in the JSON document, in its upstream's servers after the configured ones
sub json_server
{
    my ($addr) = @_;
    my (undef, undef, $body) = http_parse(http_get($port, '/metrics.json'));
    my ($app) = grep { $_->{name} eq 'app' } @{ $json->decode($body)->{upstreams} };
    my ($srv) = grep { $_->{address} eq $addr } @{ $app->{servers} };
    return $srv;
}
my $js = json_server("127.0.0.1:$pc");
ok($js, 'JSON: the added server is listed');
is($js->{tries}, 10, 'JSON: its tries');
is($js->{up}, 1, 'JSON: up');
is($js->{response_seconds}{count}, 10, 'JSON: its response histogram');
ok(!exists $js->{responses}, 'JSON: no responses by class for a server added at run time');
like($metrics, qr/^portico_upstream_server_active\{\Q$series\E\} 0$/m,
     'metrics: nothing in flight to it');
($st, $d) = admin($p, 'POST', '/upstreams/app/servers', qq({"address": "127.0.0.1:$pc"}));
is($st, 409, 'the same address again: 409');
is($d->{error}, "server 127.0.0.1:$pc is already in upstream \"app\"", 'duplicate error');
($st, $d) = admin($p, 'DELETE', '/upstreams/app/servers/2');
is($st, 200, 'DELETE: 200');
is_deeply($d, { removed => 2 }, 'removed');
$_->reset for @b;
$c = count(ids_fresh($port, 20, '/app/id'));
is($c->{c} || 0, 0, 'the removed server gets nothing');
(undef, undef, $metrics) = http_parse(http_get($port, '/metrics'));
unlike($metrics, qr/\Q$series\E/, 'metrics: a removed server has no series');
ok(!json_server("127.0.0.1:$pc"), 'JSON: a removed server is not listed');
($st, $d) = admin($p, 'DELETE', '/upstreams/app/servers/0');
is($st, 409, 'a configured server cannot be removed');
is($d->{error}, 'server 0 is in the configuration: drain it, then remove it from the '
   . 'configuration and reload', 'its error');

# --- the other balancers: drain and add
for my $u (qw(hh lc r2 ip)) {
    ($st) = admin($p, 'PATCH', "/upstreams/$u/servers/1", '{"state": "drain"}');
    is($st, 200, "$u: drain server 1");
    $c = count(ids_fresh($port, 20, sub { "/$u/id?k=$_[0]" }));
    is($c->{b} || 0, 0, "$u: the drained server gets nothing");
    is($c->{a} || 0, 20, "$u: the other gets everything");
    ($st) = admin($p, 'PATCH', "/upstreams/$u/servers/1", '{"state": "up"}');
}
($st) = admin($p, 'POST', '/upstreams/hh/servers', qq({"address": "127.0.0.1:$pc"}));
is($st, 201, 'hash: add a server');
$c = count(ids($port, 60, sub { "/hh/id?k=$_[0]" }));
ok(($c->{c} || 0) > 0, 'hash: the ring includes the added server');
($st) = admin($p, 'DELETE', '/upstreams/hh/servers/2');
$c = count(ids($port, 60, sub { "/hh/id?k=$_[0]" }));
is($c->{c} || 0, 0, 'hash: removed from the ring');
($st, $d) = admin($p, 'POST', '/upstreams/hh/servers',
                  qq({"address": "127.0.0.1:$pc", "backup": true}));
is($st, 400, 'hash: a backup server is refused');
is($d->{error}, 'backup servers cannot be used with balance = "hash"', 'its error');

# --- bad input
my @bad = (
    [ 'PATCH', '/upstreams/app/servers/0', '{bad', 400,
      'invalid JSON: at byte 1: member name expected' ],
    [ 'PATCH', '/upstreams/app/servers/0', '{"state": "up"} x', 400,
      'invalid JSON: at byte 16: trailing bytes after the object' ],
    [ 'PATCH', '/upstreams/app/servers/0', '{"weight": 1.5}', 400,
      'invalid JSON: at byte 12: numbers must be integers' ],
    [ 'PATCH', '/upstreams/app/servers/0', '{"weight": {"a": 1}}', 400,
      'invalid JSON: at byte 11: nested values are not accepted' ],
    [ 'PATCH', '/upstreams/app/servers/0', '{"colour": "red"}', 400, 'unknown field "colour"' ],
    [ 'PATCH', '/upstreams/app/servers/0', '{"weight": 0}', 400,
      '"weight" must be an integer 1..1000' ],
    [ 'PATCH', '/upstreams/app/servers/0', '{"state": "sleepy"}', 400,
      '"state" must be "up", "drain" or "down"' ],
    [ 'PATCH', '/upstreams/app/servers/0', '{}', 400,
      'nothing to change: give "state" and/or "weight"' ],
    [ 'POST', '/upstreams/app/servers', '{"weight": 2}', 400, '"address" is required' ],
    [ 'POST', '/upstreams/app/servers', '{"address": "backend.test:80"}', 400,
      'invalid address "backend.test:80": IP:port, [IPv6]:port or unix:/path (host names '
      . 'are not resolved here)' ],
    [ 'POST', '/upstreams/app/servers', qq({"address": "127.0.0.1:$pc", "backup": 1}), 400,
      '"backup" must be true or false' ],
    [ 'GET', '/upstreams/nope', '', 404, 'no upstream "nope"' ],
    [ 'GET', '/upstreams/app/servers/9', '', 404, 'no server "9" in upstream "app"' ],
    [ 'GET', '/upstreams/app/servers/x1', '', 404, 'no server "x1" in upstream "app"' ],
    [ 'GET', '/other', '', 404, 'no such resource' ],
    [ 'PUT', '/upstreams/app/servers/0', '{}', 405, 'method not allowed' ],
    [ 'DELETE', '/upstreams', '', 405, 'method not allowed' ],
    [ 'PATCH', '/upstreams/app/servers/0', '{"state": "' . ('x' x 5000) . '"}', 413,
      'request body too large (4096 bytes at most)' ],
);
for my $t (@bad) {
    my ($m, $path, $body, $want, $err) = @$t;
    ($st, $d, $head) = admin($p, $m, $path, $body);
    is($st, $want, "$m $path " . substr($body, 0, 30) . ": $want");
    is(ref $d ? $d->{error} : $d, $err, '... error text');
}
($st, $d, $head) = admin($p, 'PUT', '/upstreams/app/servers/0', '{}');
like($head, qr{\r\nAllow: GET, HEAD, PATCH, DELETE(?:\r\n|\z)}, '405 names the allowed methods');

# the upstream full: max_servers = 4 (2 configured + 2)
($st) = admin($p, 'POST', '/upstreams/app/servers', qq({"address": "127.0.0.1:$pc"}));
is($st, 201, 'add one');
($st) = admin($p, 'POST', '/upstreams/app/servers', qq({"address": "127.0.0.1:$b[3]{port}"}));
is($st, 201, 'add another');
($st, $d) = admin($p, 'POST', '/upstreams/app/servers', '{"address": "127.0.0.1:1"}');
is($st, 409, 'full: 409');
is($d->{error}, 'upstream "app" is full (max_servers = 4)', 'full: error');
($st) = admin($p, 'DELETE', '/upstreams/app/servers/3');
is($st, 200, 'make room again');

# --- the route: loopback without access works, access rules refuse
my ($rs, undef, $rb) = http_parse(http_get($port, '/admin/upstreams/app'));
is($rs, 200, 'admin route from loopback: 200');
is($json->decode($rb)->{name}, 'app', 'the route strips its prefix');
($rs, undef, $rb) = http_request_raw($port, 'PATCH', '/admin/upstreams/app/servers/1',
                                     '{"weight": 2}');
is($rs, 200, 'PATCH through the route');
($rs) = http_parse(http_get($port, '/fenced/upstreams'));
is($rs, 403, 'a client outside the access rules: 403');

sub http_request_raw
{
    my ($port_, $m, $path, $body) = @_;
    my $raw = http_raw($port_, "$m $path HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                       . "Content-Length: " . length($body) . "\r\n\r\n$body");
    return http_parse($raw);
}

# --- who: one notice line per change
my $log = $p->error_log;
like($log, qr{\[notice\] .*admin: uid \d+ pid \d+: upstream "app" server 0 127\.0\.0\.1:$pa: state drain},
     'drain logged with the peer uid and pid');
like($log, qr{admin: uid \d+ pid \d+: upstream "app" server 0 127\.0\.0\.1:$pa: state up weight 3},
     'state and weight in one line');
like($log, qr{admin: uid \d+ pid \d+: upstream "app": added server 2 127\.0\.0\.1:$pc weight 1 max_conns 0 backup false state up},
     'added logged');
like($log, qr{admin: uid \d+ pid \d+: upstream "app": removed server 2 127\.0\.0\.1:$pc},
     'removed logged');
like($log, qr{admin: client 127\.0\.0\.1: upstream "app" server 1 127\.0\.0\.1:$pb: weight 2},
     'a route change names the client');
my @lines = $log =~ /(admin: (?:uid|client) [^\n]*)/g;
is(scalar @lines, 19, 'one line per change');
# with auth_basic the line names the user
($rs) = http_parse(http_raw($port, "PATCH /authed/upstreams/app/servers/1 HTTP/1.1\r\n"
                            . "Host: x\r\nConnection: close\r\nContent-Length: 13\r\n\r\n"
                            . '{"weight": 2}'));
is($rs, 401, 'the auth_basic route wants credentials');
($rs) = http_parse(http_raw($port, "PATCH /authed/upstreams/app/servers/1 HTTP/1.1\r\n"
                            . "Host: x\r\nConnection: close\r\nContent-Length: 13\r\n"
                            . "Authorization: Basic " . encode_base64('ops:pw', '') . "\r\n\r\n"
                            . '{"weight": 2}'));
is($rs, 200, 'with them: 200');
like($p->error_log, qr{admin: client 127\.0\.0\.1 user "ops": upstream "app" server 1 127\.0\.0\.1:$pb: weight 2},
     'the line names the client and the user');

# --- reload: state, weights and added servers stay
($st) = admin($p, 'PATCH', '/upstreams/app/servers/1', '{"state": "drain"}');
is($st, 200, 'drain server 1 before the reload');
my @old = $p->worker_pids;
$p->signal('HUP');
ok(wait_until(sub {
    my @w = $p->worker_pids;
    return @w == 2 && !grep { my $o = $_; grep { $_ == $o } @w } @old;
}, 10), 'new workers after HUP');
($st, $d) = admin($p, 'GET', '/upstreams/app');
is_deeply([ map { "$_->{id} $_->{address} $_->{origin} $_->{state} $_->{weight}" }
            @{ $d->{servers} } ],
          [ "0 127.0.0.1:$pa config up 3", "1 127.0.0.1:$pb config drain 2",
            "2 127.0.0.1:$pc api up 1" ],
          'after the reload: states, weights and the added server kept');
$_->reset for @b;
$c = count(ids_fresh($port, 20, '/app/id'));
is($c->{b} || 0, 0, 'the drained server still gets nothing');
ok(($c->{c} || 0) > 0, 'the added server still gets requests');

# --- restart: the state file
ok(wait_until(sub {
    my $t = read_file($p->prefix . '/state/upstreams.json') || '';
    return $t =~ /"origin": "api"/ && $t =~ /"state": "drain"/;
}, 5), 'the state file was written');
my $sf = read_file($p->prefix . '/state/upstreams.json');
like($sf, qr{^\{"upstream": "app", "address": "127\.0\.0\.1:$pb", "origin": "config", "state": "drain", "weight": 2\}$}m,
     'state file: a configured server');
like($sf, qr{^\{"upstream": "app", "address": "127\.0\.0\.1:$pc", "origin": "api", "state": "up", "weight": 1, "max_conns": 0, "backup": false\}$}m,
     'state file: an added server');
$p->stop;
$p->start;
($st, $d) = admin($p, 'GET', '/upstreams/app');
is_deeply([ map { "$_->{id} $_->{address} $_->{origin} $_->{state} $_->{weight}" }
            @{ $d->{servers} } ],
          [ "0 127.0.0.1:$pa config up 3", "1 127.0.0.1:$pb config drain 2",
            "2 127.0.0.1:$pc api up 1" ],
          'after a restart: the state file applied');
like($p->stderr_log, qr{admin: state file ".*upstreams\.json": 3 changes applied, 0 skipped},
     'the master says what it applied');
$_->reset for @b;
$c = count(ids_fresh($port, 20, '/app/id'));
is($c->{b} || 0, 0, 'after the restart the drained server gets nothing');

# --- a reload whose upstream zone cannot be kept (many more servers): the state file
my $more = '';
for my $n (1 .. 10) {
    my @srv = map { '{ address = "127.0.0.1:' . (20000 + $n * 100 + $_) . '"; }' } 1 .. 30;
    $more .= "  { name = \"more$n\"; servers = ( " . join(', ', @srv) . " ); },\n";
}
(my $big = $conf) =~ s/^upstreams = \(\n/upstreams = (\n$more/m;
$p->write_conf($big);
@old = $p->worker_pids;
$p->signal('HUP');
ok(wait_until(sub {
    my @w = $p->worker_pids;
    return @w == 2 && !grep { my $o = $_; grep { $_ == $o } @w } @old;
}, 10), 'new workers after a reload with 300 more servers');
like($p->error_log, qr{pco_upstreams}, 'the zone was not kept') or diag($p->error_log);
($st, $d) = admin($p, 'GET', '/upstreams/app');
is_deeply([ map { "$_->{id} $_->{address} $_->{origin} $_->{state} $_->{weight}" }
            @{ $d->{servers} } ],
          [ "0 127.0.0.1:$pa config up 3", "1 127.0.0.1:$pb config drain 2",
            "2 127.0.0.1:$pc api up 1" ],
          'after a reload with a new zone: the state file applied');

$p->stop;
done_testing();
