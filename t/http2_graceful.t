#!/usr/bin/perl
# http2_graceful.t: graceful reload (HUP) and stop (QUIT) under load on one HTTP/2
# connection, driven by t/lib/h2client.py (through PorticoH2Frames.pm): GOAWAY NO_ERROR with a
# last_stream_id that covers every stream answered, every stream up to it completed with its
# body, none above it processed (the client opens streams blind to the GOAWAY, so some always
# are), then the close; an idle connection at reload gets its GOAWAY and is closed at once.

use strict;
use warnings;
use Test::More;
use JSON::PP ();
use Time::HiRes qw(sleep time);
use lib 't/lib';
use Portico;
use PorticoBackend;
use PorticoH2Frames;

skip_unless_module('http2', 'proxy', 'return');
h2_skip_unless_client();

my $q = Portico->new(start => 0);
my $qb = PorticoBackend->new(port => $q->port(2), id => 'q');
$q->write_conf(<<'EOF');
worker_shutdown_timeout = "30s";
upstreams = ( { name = "app"; keepalive = 32;
                servers = ( { address = "127.0.0.1:%%PORT2%%"; } ); } );
servers = ( {
  listen = ( { address = "127.0.0.1:%%PORT1%%"; http2 = true; } );
  routes = ( { match = { path_prefix = "/"; }; proxy = { upstream = "app"; }; } );
} );
EOF
$q->start;

# Runs ~20 concurrent streams to /sleep (300-800 ms) on one connection, has the client send
# $sig once the load runs, and judges the outcome.
sub graceful_under_load
{
    my ($sig) = @_;
    $qb->reset;
    my $ready = $q->prefix . "/logs/load-$sig.ready";
    # the client sends the signal itself, then opens streams blind to the GOAWAY for 0.5 s
    my ($pid, $out) = h2_start($q, $q->port(1), 'load',
                               { path => '/sleep', sleeps => [300, 550, 800],
                                 concurrency => 20, duration => 25, ready => $ready,
                                 signal_pid => $q->pid, signal => $sig, blind => 0.5 });
    ok(wait_until(sub { -e $ready }, 10), "$sig under load: the load runs");
    my $r = h2_finish($pid, $out, 35);
    my @g = @{ $r->{goaways} || [] };
    is(scalar @g, 1, "$sig under load: one GOAWAY");
    is($g[0]{code}, $H2_ERR{NO_ERROR}, "$sig under load: GOAWAY NO_ERROR");
    my $last = $g[0]{last} // -1;
    my @streams = @{ $r->{streams} || [] };
    my @below = grep { $_->{id} <= $last } @streams;
    my @above = grep { $_->{id} > $last } @streams;
    my @answered = grep { defined $_->{status} } @streams;
    ok(!grep({ $_->{id} > $last } @answered),
       "$sig under load: last_stream_id $last covers every answered stream");
    cmp_ok(scalar @below, '>=', 30, "$sig under load: " . scalar(@below) . ' streams below it');
    my @bad = grep { !(($_->{status} // 0) == 200 && $_->{end} && !defined $_->{rst}
                       && $_->{body} eq 'q') } @below;
    is(scalar @bad, 0, "$sig under load: every one completed with 200 and its body")
        or diag(explain([ @bad[0 .. ($#bad < 4 ? $#bad : 4)] ]));
    my @late = grep { ($_->{ended_at} // 0) > $g[0]{at} } @below;
    cmp_ok(scalar @late, '>', 0,
           "$sig under load: " . scalar(@late) . ' of them completed after the GOAWAY');
    cmp_ok(scalar @above, '>', 0, "$sig under load: " . scalar(@above)
           . ' streams were opened past it before the client saw the GOAWAY');
    ok(!grep({ defined $_->{status} || defined $_->{rst} } @above),
       "$sig under load: they got no answer");
    my %seen = map { ($_->[1] =~ /[?&]s=(\d+)$/) ? ($1 => 1) : () } @{ $qb->requests_log || [] };
    is(scalar(grep { $seen{ $_->{id} } } @above), 0,
       "$sig under load: the backend never saw a stream above it");
    is(scalar(grep { !$seen{ $_->{id} } } @below), 0,
       "$sig under load: the backend saw every stream below it");
    ok(defined $r->{closed} && $r->{closed} >= $g[0]{at},
       "$sig under load: then the connection closed");
    return $r;
}

graceful_under_load('HUP');
ok(wait_until(sub { !grep { Portico::title($_) =~ /shutting down/ } $q->children }, 30),
   'HUP: the old worker exited');
my $r = h2($q, $q->port(1), 'cases', { cases => [[ { headers => h2_fields('/id') } ]] });
is($r->{cases}[0][0]{status}, 200, 'HUP: the new worker serves HTTP/2');

# an idle connection at reload: GOAWAY NO_ERROR naming its one stream, then the close
{
    my $ready = $q->prefix . '/logs/idle.ready';
    my ($pid, $out) = h2_start($q, $q->port(1), 'idle', { path => '/id', wait => 10,
                                                          ready => $ready });
    ok(wait_until(sub { -e $ready }, 10), 'idle at reload: the connection is up');
    sleep 0.2;
    my $t = time;
    $q->signal('HUP');
    $r = h2_finish($pid, $out, 20);
    is($r->{first}{status}, 200, 'idle at reload: its request was served');
    is_deeply([ map { [$_->{last}, $_->{code}] } @{ $r->{goaways} || [] } ],
              [[1, $H2_ERR{NO_ERROR}]], 'idle at reload: GOAWAY 1 NO_ERROR');
    ok(defined $r->{closed} && $r->{closed} - $r->{idle_from} < 3,
       'idle at reload: closed at once, not after the idle timeout');
}

graceful_under_load('QUIT');
ok($q->wait_exit(30), 'QUIT: the master exited');
$q->stop;

done_testing();
