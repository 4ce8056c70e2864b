#!/usr/bin/perl
# admin_drain.t: draining a server with a request in flight to it (two workers): the long
# request finishes with 200 from the drained server, the listing counts it active while it
# runs, and every new request goes to the other server (none reaches the drained one, not
# even over an idle pooled keep-alive connection it had); removing a server added at run
# time with a request in flight lets that request finish too.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Portico;
use PorticoBackend;
use PorticoAdmin;
use IO::Socket::INET;
use Time::HiRes qw(sleep time);

skip_unless_module('proxy');
skip_unless_module('admin');

# Starts a GET and returns the socket (the answer is read later).
sub start_get
{
    my ($port, $path) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Proto => 'tcp',
                                  Timeout => 5) or die "connect: $!";
    print $s "GET $path HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    return $s;
}

sub finish_get
{
    my ($s) = @_;
    my $raw = '';
    my $deadline = time + 10;
    while (time < $deadline) {
        my $n = sysread($s, my $buf, 65536);
        last unless $n;
        $raw .= $buf;
    }
    return http_parse($raw);
}

sub ids_fresh
{
    my ($port, $n, $path) = @_;
    return map { my (undef, undef, $b) = http_parse(http_get($port, $path)); $b } 1 .. $n;
}

sub count { my %c; $c{$_}++ for @_; return \%c; }

my $p = Portico->new(start => 0);
my @b = map { PorticoBackend->new(port => $p->port($_ + 2), id => chr(ord('a') + $_)) } 0 .. 2;
$p->write_conf(<<'EOF');
worker_processes = 2;
admin = { socket = "logs/admin.sock"; };
upstreams = (
  { name = "app"; keepalive = 8;
    servers = ( { address = "127.0.0.1:%%PORT2%%"; }, { address = "127.0.0.1:%%PORT3%%"; } ); }
);
servers = ( {
  listen = ["127.0.0.1:%%PORT1%%"];
  routes = ( { match = { path_prefix = "/app/"; };
               proxy = { upstream = "app"; strip_prefix = true; }; } );
} );
EOF
$p->start;
my $port = $p->port(1);

# pooled connections to both servers in both workers
ids_fresh($port, 20, '/app/id');

# the long request goes to a: b is drained meanwhile
my ($st) = admin($p, 'PATCH', '/upstreams/app/servers/1', '{"state": "drain"}');
is($st, 200, 'b drained');
my $long = start_get($port, '/app/sleep?ms=1500');
ok(wait_until(sub { $b[0]->stats->{open} >= 1 }, 5), 'the long request reached a');
($st) = admin($p, 'PATCH', '/upstreams/app/servers/0', '{"state": "drain"}');
is($st, 200, 'a drained with the request in flight');
($st) = admin($p, 'PATCH', '/upstreams/app/servers/1', '{"state": "up"}');
is($st, 200, 'b up again');
my ($s2, $d) = admin($p, 'GET', '/upstreams/app/servers/0');
is($d->{state}, 'drain', 'listed as draining');
is($d->{active}, 1, 'with its request in flight counted');

$_->reset for @b;
my $c = count(ids_fresh($port, 20, '/app/id'));
is($c->{b} || 0, 20, 'new requests go to b (both workers)');
is($c->{a} || 0, 0, 'none to the drained server');
my ($ls, undef, $lb) = finish_get($long);
is($ls, 200, 'the long request in flight finished with 200');
is($lb, 'a', '... from the drained server');
is($b[0]->stats->{requests}, 0, 'the drained backend got no new request (no pooled reuse)');
($s2, $d) = admin($p, 'GET', '/upstreams/app/servers/0');
is($d->{active}, 0, 'nothing in flight any more');

# an added server removed with a request in flight
($st, $d) = admin($p, 'POST', '/upstreams/app/servers',
                  '{"address": "127.0.0.1:' . $p->port(4) . '"}');
is($st, 201, 'c added');
my $cid = $d->{id};
($st) = admin($p, 'PATCH', '/upstreams/app/servers/1', '{"state": "down"}');
$long = start_get($port, '/app/sleep?ms=1000');
ok(wait_until(sub { $b[2]->stats->{open} >= 1 }, 5), 'a long request reached c');
($st) = admin($p, 'DELETE', "/upstreams/app/servers/$cid");
is($st, 200, 'c removed while busy');
($st) = admin($p, 'PATCH', '/upstreams/app/servers/1', '{"state": "up"}');
($ls, undef, $lb) = finish_get($long);
is($ls, 200, 'the request to the removed server finished with 200');
is($lb, 'c', '... from it');
$_->reset for @b;
$c = count(ids_fresh($port, 10, '/app/id'));
is($c->{c} || 0, 0, 'the removed server gets nothing new');
($st, $d) = admin($p, 'POST', '/upstreams/app/servers',
                  '{"address": "127.0.0.1:' . $p->port(5) . '"}');
is($d->{id}, $cid, 'its position is reused once nothing is in flight');

$p->stop;
done_testing();
