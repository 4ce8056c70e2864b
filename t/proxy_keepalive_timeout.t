#!/usr/bin/perl
# proxy_keepalive_timeout.t: an upstream's keepalive_timeout runs for each idle pooled
# connection from the moment it was given back: of two idle connections, the one used again
# later is closed later (the pool keeps one timer for its oldest connection).

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Portico;
use PorticoBackend;
use Time::HiRes qw(time sleep);

skip_unless_module('proxy');

my $p = Portico->new(start => 0);
my $b = PorticoBackend->new(port => $p->port(2), id => 'kt');
$p->write_conf(<<'EOF2');
upstreams = (
  { name = "kt"; keepalive = 4; keepalive_timeout = "1s";
    servers = ( { address = "127.0.0.1:%%PORT2%%"; } ); }
);
servers = ( {
  listen = ["127.0.0.1:%%PORT1%%"];
  routes = ( { match = { path_prefix = "/"; }; proxy = { upstream = "kt"; }; } );
} );
EOF2
$p->start;
my $port = $p->port(1);
my $state = sub {
    my $st = $b->stats;
    return join(' ', $st->{open} // '-', $st->{peer_closed} // '-');
};

# two concurrent requests: two upstream connections, both idle from about t0
my @s = map {
    my $s = http_connect($port);
    http_send($s, http_request('GET', '/sleep?ms=200'));
    $s;
} 1 .. 2;
my $ok = grep { my ($st, undef, $body) = http_parse(http_read_response($_, timeout => 5));
                "$st $body" eq '200 kt' } @s;
close $_ for @s;
my $t0 = time;
is($ok, 2, 'two concurrent requests answered');
is($state->(), '2 0', 'two idle upstream connections');

# 0.5 s later one of them is used again: its idle time starts over
sleep 0.5;
my ($st, undef, $body) = http_parse(http_get($port, '/id'));
is("$st $body", '200 kt', 'a request 0.5 s later');
is($b->stats->{connections}, 2, 'it reused a pooled connection');

# the other one goes at about t0 + 1 s, the reused one at about t0 + 1.5 s
ok($p->wait_for(sub { $state->() eq '1 1' }, 3), 'the connection idle since t0 closed first');
my $first = time - $t0;
ok($p->wait_for(sub { $state->() eq '0 2' }, 3), 'then the reused one');
my $second = time - $t0;
ok($first >= 0.8 && $first < 1.45, sprintf('first closed after about 1 s: %.2f s', $first));
ok($second >= 1.3 && $second < 2.5, sprintf('second closed after about 1.5 s: %.2f s', $second));

$p->stop;
done_testing();
