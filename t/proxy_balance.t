#!/usr/bin/perl
# proxy_balance.t: balancers behind the proxy action with test backends: smooth weighted
# round robin (3:1 over 300 requests is exactly 225/75 with one worker), least_conn with one
# slow backend, hash stability when a server is removed, ip_hash stable, random_two, backup
# only when the primaries are down, `down = true` servers never used.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Portico;
use PorticoBackend;
use IO::Socket::INET;
use Time::HiRes qw(sleep);

skip_unless_module('proxy');

# Sends $n GET requests for $path (a code ref or a string) over keep-alive connections;
# returns the list of bodies (the backend ids).
sub ids
{
    my ($port, $n, $path) = @_;
    my @reqs = map { http_request('GET', ref $path ? $path->($_) : $path) } 1 .. $n;
    my @out;
    while (@reqs) {
        my @batch = splice(@reqs, 0, 50);
        my @res = http_keepalive($port, \@batch);
        push @out, map { my (undef, undef, $b) = http_parse($_); $b } @res;
        push @out, ('') x (@batch - @res);
    }
    return @out;
}

sub count { my %c; $c{$_}++ for @_; return \%c; }

my $p = Portico->new(start => 0);
my @b = map { PorticoBackend->new(port => $p->port($_ + 2), id => chr(ord('a') + $_)) } 0 .. 4;
$p->write_conf(<<'EOF2');
upstreams = (
  { name = "wrr"; balance = "round_robin";
    servers = ( { address = "127.0.0.1:%%PORT2%%"; weight = 3; },
                { address = "127.0.0.1:%%PORT3%%"; weight = 1; },
                { address = "127.0.0.1:%%PORT4%%"; down = true; } ); },
  { name = "lc"; balance = "least_conn";
    servers = ( { address = "127.0.0.1:%%PORT2%%"; }, { address = "127.0.0.1:%%PORT3%%"; } ); },
  { name = "iph"; balance = "ip_hash";
    servers = ( { address = "127.0.0.1:%%PORT2%%"; }, { address = "127.0.0.1:%%PORT3%%"; },
                { address = "127.0.0.1:%%PORT4%%"; } ); },
  { name = "h4"; balance = "hash"; hash_key = "$args";
    servers = ( { address = "127.0.0.1:%%PORT2%%"; }, { address = "127.0.0.1:%%PORT3%%"; },
                { address = "127.0.0.1:%%PORT4%%"; }, { address = "127.0.0.1:%%PORT5%%"; } ); },
  { name = "h3"; balance = "hash"; hash_key = "$args";
    servers = ( { address = "127.0.0.1:%%PORT2%%"; }, { address = "127.0.0.1:%%PORT3%%"; },
                { address = "127.0.0.1:%%PORT4%%"; } ); },
  { name = "r2"; balance = "random_two";
    servers = ( { address = "127.0.0.1:%%PORT2%%"; }, { address = "127.0.0.1:%%PORT3%%"; } ); },
  { name = "bk"; max_fails = 1; fail_timeout = "30s";
    servers = ( { address = "127.0.0.1:%%PORT5%%"; },
                { address = "127.0.0.1:%%PORT6%%"; backup = true; } ); }
);
servers = ( {
  listen = ["127.0.0.1:%%PORT1%%"];
  routes = (
    { match = { path_prefix = "/wrr/"; }; proxy = { upstream = "wrr"; strip_prefix = true; }; },
    { match = { path_prefix = "/lc/"; };  proxy = { upstream = "lc"; strip_prefix = true; }; },
    { match = { path_prefix = "/iph/"; }; proxy = { upstream = "iph"; strip_prefix = true; }; },
    { match = { path_prefix = "/h4/"; };  proxy = { upstream = "h4"; strip_prefix = true; }; },
    { match = { path_prefix = "/h3/"; };  proxy = { upstream = "h3"; strip_prefix = true; }; },
    { match = { path_prefix = "/r2/"; };  proxy = { upstream = "r2"; strip_prefix = true; }; },
    { match = { path_prefix = "/bk/"; };  proxy = { upstream = "bk"; strip_prefix = true; }; }
  );
} );
EOF2
$p->start;
my $port = $p->port(1);

# --- smooth weighted round robin
$_->reset for @b;
my $c = count(ids($port, 300, '/wrr/id'));
is($c->{a} || 0, 225, 'weight 3: 225 of 300');
is($c->{b} || 0, 75, 'weight 1: 75 of 300');
is($c->{c} || 0, 0, 'down = true: never used');
is($b[2]->stats->{requests}, 0, 'down server saw no request');
my @seq = ids($port, 8, '/wrr/id');
is(scalar(grep { $_ eq 'b' } @seq), 2, 'smooth: 2 of any 8 consecutive go to weight 1');
ok(!grep({ $seq[$_] eq 'b' && $seq[$_ + 1] eq 'b' } 0 .. 6),
   'smooth: weight 1 never twice in a row');

# --- least_conn: one slow request keeps a busy; the others go to the idle server
$_->reset for @b;
my $slow = http_connect($port);
http_send($slow, http_request('GET', '/lc/sleep?ms=2500'));
sleep 0.5;
my ($busy) = grep { @{ $b[$_]->requests_log || [] } } 0, 1;
ok(defined $busy, 'least_conn: the slow request reached a backend');
$busy = 0 unless defined $busy;
my $idle_id = $b[1 - $busy]->id;
my @lc = ids($port, 20, '/lc/id');
is(scalar(grep { $_ eq $idle_id } @lc), 20,
   'least_conn: 20 of 20 go to the server without the slow request');
my ($ss) = http_parse(http_read_response($slow, timeout => 6));
is($ss, 200, 'least_conn: the slow request completes');
close $slow;
@lc = ids($port, 20, '/lc/id');
my $lcc = count(@lc);
ok(($lcc->{a} || 0) > 0 && ($lcc->{b} || 0) > 0, 'least_conn: both used once idle again');

# --- ip_hash: one client address always maps to one server
my $ic = count(ids($port, 30, '/iph/id'));
is(scalar(keys %$ic), 1, 'ip_hash: 30 requests from 127.0.0.1 on one server');
ok(!exists $ic->{''}, 'ip_hash: all answered');

# --- hash: consistent, and removing a server remaps only its share
my @keys = map { "/id?k=$_" } 1 .. 80;
my @m4 = ids($port, 80, sub { "/h4$keys[$_[0] - 1]" });
my @again = ids($port, 80, sub { "/h4$keys[$_[0] - 1]" });
is_deeply(\@again, \@m4, 'hash: the same key always maps to the same server');
my @m3 = ids($port, 80, sub { "/h3$keys[$_[0] - 1]" });
my $on_d = grep { $_ eq 'd' } @m4;
ok($on_d > 0, "hash: the 4th server gets a share ($on_d of 80)");
ok(scalar(keys %{ count(@m4) }) == 4, 'hash: all four servers used over 80 keys');
my @moved = grep { $m4[$_] ne 'd' && $m4[$_] ne $m3[$_] } 0 .. 79;
is(scalar @moved, 0, 'hash: keys not on the removed server keep their server')
    or diag("moved: @moved");
ok(!grep({ $_ eq 'd' || $_ eq '' } @m3), 'hash without d: all on the remaining servers');

# --- random_two
my $rc = count(ids($port, 100, '/r2/id'));
is(($rc->{a} || 0) + ($rc->{b} || 0), 100, 'random_two: 100 answered');
ok(($rc->{a} || 0) > 0 && ($rc->{b} || 0) > 0, 'random_two: both servers used');

# --- backup only when every primary is down
$_->reset for @b;
my $bc = count(ids($port, 20, '/bk/id'));
is($bc->{d} || 0, 20, 'backup: primary up, 20 of 20 on the primary');
is($b[4]->stats->{requests}, 0, 'backup: not used while the primary is up');
$b[3]->stop;
my @after = ids($port, 10, '/bk/id');
is(scalar(grep { $_ eq 'e' } @after), 10, 'backup: primary down, the backup answers every request');

$p->stop;
done_testing();
