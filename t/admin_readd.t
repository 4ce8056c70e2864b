#!/usr/bin/perl
# admin_readd.t: a server removed through the admin API (docs/admin.md) while a request to
# it is still in flight, then added again, goes back to its own position and slot: it keeps
# its id, the request in flight ends normally and `active` comes back to 0, and the server
# is still there after a reload (a second slot under the same key used to make the reload
# keep the removed slot and drop the server).

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Portico;
use PorticoBackend;
use PorticoAdmin;
use Time::HiRes qw(sleep time);

skip_unless_module('proxy');
skip_unless_module('admin');



# "id address" of every server of upstream app.
sub listing
{
    my ($p) = @_;
    my (undef, $d) = admin($p, 'GET', '/upstreams/app');
    return [ map { "$_->{id} $_->{address}" } @{ $d->{servers} } ];
}

my $p = Portico->new(start => 0);
my $port = $p->port(1);
my ($pa, $pc) = ($p->port(2), $p->port(3));
my $ba = PorticoBackend->new(port => $pa, id => 'a');
my $bc = PorticoBackend->new(port => $pc, id => 'c');
$p->write_conf(<<'EOF2');
worker_processes = 2;
admin = { socket = "logs/admin.sock"; };
upstreams = ( { name = "app"; max_servers = 4; servers = ( { address = "127.0.0.1:%%PORT2%%"; } ); } );
servers = ( {
  listen = ["127.0.0.1:%%PORT1%%"];
  routes = ( { match = { path_prefix = "/"; }; proxy = { upstream = "app"; }; } );
} );
EOF2
$p->start;

my ($st, $d) = admin($p, 'POST', '/upstreams/app/servers', qq({"address": "127.0.0.1:$pc"}));
is($st, 201, 'c added');
is($d->{id}, 1, 'at position 1');
($st) = admin($p, 'PATCH', '/upstreams/app/servers/0', '{"state": "down"}');
is($st, 200, 'a down: the next request goes to c');

# a request in flight to c for 2 s
my $slow = http_connect($port);
http_send($slow, "GET /sleep?ms=2000 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
ok(wait_until(sub { my (undef, $s) = admin($p, 'GET', '/upstreams/app/servers/1');
                    ref $s && $s->{active} == 1 }, 5), 'one request in flight to c');
($st) = admin($p, 'PATCH', '/upstreams/app/servers/0', '{"state": "up"}');

($st) = admin($p, 'DELETE', '/upstreams/app/servers/1');
is($st, 200, 'c removed while its request is in flight');
($st, $d) = admin($p, 'POST', '/upstreams/app/servers', qq({"address": "127.0.0.1:$pc"}));
is($st, 201, 'c added again');
is($d->{id}, 1, 'it is back at its own position');
is($d->{active}, 1, 'with its request in flight counted');

my ($code, undef, $body) = http_parse(http_read_response($slow, timeout => 8) // '');
is($code, 200, 'the request in flight ends normally');
is($body, 'c', 'answered by c');
ok(wait_until(sub { my (undef, $s) = admin($p, 'GET', '/upstreams/app/servers/1');
                    ref $s && $s->{active} == 0 }, 5), 'active is back to 0');

my %old = map { $_ => 1 } $p->worker_pids;
$p->signal('HUP');
ok(wait_until(sub { my @w = $p->worker_pids; @w == 2 && !grep { $old{$_} } @w }, 15),
   'HUP: new workers');
is_deeply(listing($p), [ "0 127.0.0.1:$pa", "1 127.0.0.1:$pc" ],
          'after the reload: c is still in the upstream');
my %seen;
for (1 .. 10) {
    my (undef, undef, $b) = http_parse(http_get($port, '/id'));
    $seen{$b}++;
}
ok(($seen{c} // 0) > 0, 'and it takes traffic') or diag explain \%seen;

$p->stop;
done_testing();
