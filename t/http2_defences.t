#!/usr/bin/perl
# http2_defences.t: the HTTP/2 defences at the frame level, driven by t/lib/h2client.py
# (through PorticoH2Frames.pm), each at its exact limit: rapid reset, by the client or by streams it
# makes the server reset; CONTINUATION flood; HPACK bomb; SETTINGS / PING / PRIORITY /
# WINDOW_UPDATE floods and the unread-ACK bound; a zero-window stall (send_timeout, then
# http2_idle_timeout); connection errors that nghttp2 handles itself close the connection at
# once; streams past http2_max_concurrent_streams. The smuggling vectors are in
# http2_smuggling.t, reload and stop in http2_graceful.t.

use strict;
use warnings;
use Test::More;
use Digest::SHA qw(sha256_hex);
use JSON::PP ();
use Time::HiRes qw(sleep time);
use lib 't/lib';
use Portico;
use PorticoBackend;
use PorticoH2Frames;

skip_unless_module('http2', 'proxy', 'return');
h2_skip_unless_client();

sub count_lines
{
    my ($p, $re) = @_;
    return scalar grep { $_ =~ $re } split /\n/, ($p->error_log // '');
}

sub rss_kb
{
    my ($pid) = @_;
    my ($kb) = (read_file("/proc/$pid/status") // '') =~ /^VmRSS:\s+(\d+)/m;
    return $kb || 0;
}

my $p = Portico->new(start => 0);
my $be = PorticoBackend->new(port => $p->port(2), id => 'a');
$p->write_conf(<<'EOF');
http = { http2_rapid_reset_limit = 20; http2_idle_timeout = "2s";
         http2_max_header_list_size = "16k"; http2_max_concurrent_streams = 16; };
upstreams = ( { name = "app"; servers = ( { address = "127.0.0.1:%%PORT2%%"; } ); } );
servers = ( {
  listen = ( { address = "127.0.0.1:%%PORT1%%"; http2 = true; } );
  routes = (
    { match = { path = "/r"; }; return = { status = 200; body = "r\n"; }; },
    { match = { path_prefix = "/slow/"; }; send_timeout = "1s";
      proxy = { upstream = "app"; strip_prefix = true; }; },
    { match = { path_prefix = "/"; }; proxy = { upstream = "app"; }; }
  );
} );
EOF
$p->start;
my $port = $p->port(1);
my ($worker) = $p->worker_pids;

# --- rapid reset (CVE-2023-44487): 20 cancelled streams are allowed within 10 s, the 21st
# ends the connection; the GOAWAY names the 21st stream (41) as the last one processed.
{
    my $re = qr/\[warn\] .*HTTP\/2 connection from 127\.0\.0\.1 ended: rapid reset$/;
    my $r = h2($p, $port, 'rapid_reset', { count => 20, path => '/sleep?ms=500',
                                           then_path => '/r' });
    is_deeply($r->{goaways}, [], 'rapid reset: 20 cancelled streams (the limit): no GOAWAY');
    is($r->{then}{status}, 200, 'rapid reset: the connection still serves after 20');
    is($r->{then}{body}, "r\n", 'rapid reset: its body');
    is(count_lines($p, $re), 0, 'rapid reset: no warning below the limit');

    $r = h2($p, $port, 'rapid_reset', { count => 21, path => '/sleep?ms=500', then_path => '/r' });
    is(scalar @{ $r->{goaways} || [] }, 1, 'rapid reset: 21 cancelled streams: one GOAWAY');
    is($r->{goaways}[0]{code}, $H2_ERR{ENHANCE_YOUR_CALM}, 'rapid reset: ENHANCE_YOUR_CALM');
    is($r->{goaways}[0]{last}, 41, 'rapid reset: last_stream_id is the 21st stream');
    ok(defined $r->{closed}, 'rapid reset: the connection is closed');
    ok(!exists $r->{then}, 'rapid reset: nothing more was served');
    ok(wait_until(sub { count_lines($p, $re) == 1 }, 3), 'rapid reset: one warning logged');
}

# --- the same limit counts the streams the client makes the server reset once their requests
# started (MadeYouReset, CVE-2025-8671): here DATA past content-length, sent after the head,
# so each request has reached the backend before its stream is reset with PROTOCOL_ERROR.
{
    my $re = qr/\[warn\] .*HTTP\/2 connection from 127\.0\.0\.1 ended: rapid reset$/;
    my $base = count_lines($p, $re);
    $be->reset;
    my $r = h2($p, $port, 'rapid_reset', { count => 20, path => '/echo?v=myr', how =>
                                           'content_length', then_path => '/r' });
    is($r->{reset}, 20, 'server-side resets: 20 streams reset by the server');
    is_deeply($r->{goaways}, [], 'server-side resets: 20 (the limit): no GOAWAY');
    is($r->{then}{status}, 200, 'server-side resets: the connection still serves after 20');
    cmp_ok(scalar @{ $be->requests_log || [] }, '>', 0,
           'server-side resets: their requests had reached the backend');

    $r = h2($p, $port, 'rapid_reset', { count => 21, path => '/echo?v=myr', how =>
                                        'content_length', then_path => '/r' });
    is($r->{reset}, 21, 'server-side resets: 21 streams reset by the server');
    is_deeply([ map { [$_->{last}, $_->{code}] } @{ $r->{goaways} || [] } ],
              [[41, $H2_ERR{ENHANCE_YOUR_CALM}]],
              'server-side resets: the 21st: GOAWAY 41 ENHANCE_YOUR_CALM');
    ok(defined $r->{closed}, 'server-side resets: the connection is closed');
    ok(!exists $r->{then}, 'server-side resets: nothing more was served');
    ok(wait_until(sub { count_lines($p, $re) == $base + 1 }, 3),
       'server-side resets: one warning logged');
}

# --- CONTINUATION flood: a header block of HEADERS and 4 CONTINUATION frames is served; a
# 5th CONTINUATION, or a block that never ends, ends the connection (stream 1 was answered,
# stream 3 had been opened: last_stream_id 3).
{
    my $re = qr/\[warn\] .*HTTP\/2 connection from 127\.0\.0\.1 ended: CONTINUATION flood$/;
    my $r = h2($p, $port, 'continuation', { frames => 4, end => JSON::PP::true });
    is($r->{first}{status}, 200, 'CONTINUATION: stream 1 answered');
    is($r->{second}{status}, 200, 'CONTINUATION: HEADERS + 4 CONTINUATION frames: 200');
    is($r->{second}{body}, "r\n", 'CONTINUATION: its body');
    is_deeply($r->{goaways}, [], 'CONTINUATION: 4 frames: no GOAWAY');

    for my $case ([5, 1], [1000, 0]) {
        my ($n, $end) = @$case;
        my $what = $end ? "$n CONTINUATION frames" : "$n CONTINUATION frames, no END_HEADERS";
        $r = h2($p, $port, 'continuation', { frames => $n, end => $end ? JSON::PP::true
                                                                       : JSON::PP::false });
        is($r->{first}{status}, 200, "CONTINUATION: $what: stream 1 answered first");
        is_deeply([ map { [$_->{last}, $_->{code}] } @{ $r->{goaways} || [] } ],
                  [[3, $H2_ERR{ENHANCE_YOUR_CALM}]],
                  "CONTINUATION: $what: GOAWAY last_stream_id 3, ENHANCE_YOUR_CALM");
        ok(defined $r->{closed}, "CONTINUATION: $what: the connection is closed");
        is($r->{second}{status}, undef, "CONTINUATION: $what: stream 3 never answered");
    }
    ok(wait_until(sub { count_lines($p, $re) == 2 }, 3), 'CONTINUATION: two warnings logged');
}

# --- HPACK bomb: one 4000-byte field repeated 5000 times through the dynamic table is a
# header block of a few KiB that decodes to 20 MB: 431, nothing forwarded, the worker does
# not grow, and the connection's HPACK state stays right (the next request is served).
{
    $be->reset;
    my $before = rss_kb($worker);
    my $bomb = { headers => h2_fields('/echo?bomb'), repeat => [['x-bomb', 'a' x 4000, 5000]] };
    my $after = { headers => h2_fields('/echo?after') };
    my $r = h2($p, $port, 'cases', { cases => [ map { [$bomb, $after] } 1 .. 8 ] }, 60);
    my @c = @{ $r->{cases} || [] };
    is(scalar @c, 8, 'HPACK bomb: 8 connections ran');
    ok($c[0][0]{block_len} < 16384, "HPACK bomb: the block is $c[0][0]{block_len} bytes")
        if @c;
    is_deeply([ map { $_->[0]{status} } @c ], [ (431) x 8 ], 'HPACK bomb: each answered 431');
    is_deeply([ map { $_->[0]{rst} } @c ], [ (undef) x 8 ], 'HPACK bomb: no stream reset');
    is_deeply([ map { $_->[1]{status} } @c ], [ (200) x 8 ],
              'HPACK bomb: the next request on each connection is served');
    is_deeply([ map { ($_->[1]{body} =~ /"path": "([^"]*)"/)[0] } @c ], [ ('/echo?after') x 8 ],
              'HPACK bomb: ... with its own head');
    is_deeply([ map { $_->[1] } @{ $be->requests_log || [] } ], [ ('/echo?after') x 8 ],
              'HPACK bomb: the bombs never reached the backend');
    my $grew = rss_kb($worker) - $before;
    cmp_ok($grew, '<', 2048 + quarantine_kb(), "HPACK bomb: the worker grew by $grew KiB");

    # the bound counts the decoded list as HTTP/2 does: a 12 KiB field passes 16k
    $r = h2($p, $port, 'cases', { cases => [[ { headers => [ @{ h2_fields('/r') },
                                                             ['x-big', 'b' x 12000] ] } ]] });
    is($r->{cases}[0][0]{status}, 200, 'header list size: 12000 bytes under 16k: 200');
    $r = h2($p, $port, 'cases', { cases => [[ { headers => [ @{ h2_fields('/r') },
                                                             ['x-big', 'b' x 17000] ] } ]] });
    is($r->{cases}[0][0]{status}, 431, 'header list size: 17000 bytes over 16k: 431');
}

# --- HPACK encoding: the server indexes nothing it sends (nghttp2's deflate table is 0, as
# nginx and HAProxy keep none), so an idle connection holds no table of response fields:
# the same response fields twice on one connection, and the client's decoder table stays
# empty while every field arrives whole.
{
    my $req = { headers => h2_fields('/echo?hpack') };
    my $r = h2($p, $port, 'cases', { cases => [[ $req, $req, $req ]] });
    my @s = @{ $r->{cases}[0] || [] };
    is_deeply([ map { $_->{status} } @s ], [200, 200, 200], 'HPACK: three responses');
    is_deeply([ map { $_->{peer_indexed} } @s ], [0, 0, 0],
              'HPACK: none of their fields entered the client\'s dynamic table');
    is_deeply([ map { scalar grep { $_->[0] eq 'content-type' } @{ $_->{headers} } } @s ],
              [1, 1, 1], 'HPACK: ... and each response has its content-type');
}

# --- control frame floods: 1000 PING, SETTINGS or PRIORITY frames per 10 s are allowed (the
# client's first SETTINGS counts), one more ends the connection. Written 50 at a time and
# read between, so that nghttp2's bound on unread ACKs (100 queued) is not what trips.
{
    my $re = qr/\[warn\] .*HTTP\/2 connection from 127\.0\.0\.1 ended: control frame flood$/;
    my $base = count_lines($p, $re);
    my %limit = (ping => 999, settings => 999, priority => 999);
    for my $kind (qw(ping settings priority)) {
        my $n = $limit{$kind};
        my $r = h2($p, $port, 'flood', { kind => $kind, count => $n, batch => 50,
                                         then_path => '/r' });
        is_deeply($r->{goaways}, [], "$kind flood: $n frames (the limit): no GOAWAY");
        is($r->{then}{status}, 200, "$kind flood: $n frames: the connection still serves");
        is($r->{ping_acks}, $n, "ping flood: $n ACKs") if $kind eq 'ping';
        is($r->{settings_acks}, $n + 1, "settings flood: $n + 1 ACKs") if $kind eq 'settings';

        $r = h2($p, $port, 'flood', { kind => $kind, count => $n + 1, batch => 50,
                                      then_path => '/r' });
        is_deeply([ map { [$_->{last}, $_->{code}] } @{ $r->{goaways} || [] } ],
                  [[0, $H2_ERR{ENHANCE_YOUR_CALM}]],
                  "$kind flood: " . ($n + 1) . ' frames: GOAWAY 0 ENHANCE_YOUR_CALM');
        ok(defined $r->{closed}, "$kind flood: the connection is closed");
        ok(!exists $r->{then}, "$kind flood: nothing more was served");
    }
    # nghttp2 bounds the ACKs queued and not yet written (100): 200 PINGs in one write
    my $r = h2($p, $port, 'flood', { kind => 'ping', count => 200, batch => 200,
                                     then_path => '/r' });
    is_deeply([ map { [$_->{last}, $_->{code}] } @{ $r->{goaways} || [] } ],
              [[0, $H2_ERR{ENHANCE_YOUR_CALM}]],
              'unread ACKs: 200 PINGs in one write: GOAWAY 0 ENHANCE_YOUR_CALM');
    is($r->{ping_acks}, 0, 'unread ACKs: no ACK was written');
    ok(defined $r->{closed}, 'unread ACKs: the connection is closed');
    ok(wait_until(sub { count_lines($p, $re) == $base + 4 }, 3),
       'control frame floods: four warnings logged');
}

# --- WINDOW_UPDATE flood: more than 1000 WINDOW_UPDATE frames with no DATA sent in between
# end the connection. A download with a 1 KiB stream window, whose client sends two
# WINDOW_UPDATE frames per DATA frame (thousands in all), is not a flood.
{
    my $r = h2($p, $port, 'download', { path => '/bytes?n=2000000', window => 1024 }, 60);
    is($r->{status}, 200, 'download with a 1 KiB window: 200');
    is($r->{length}, 2000000, 'download with a 1 KiB window: every byte');
    is($r->{sha256}, sha256_hex(pattern_bytes(2000000)),
       'download with a 1 KiB window: the right bytes');
    cmp_ok($r->{window_updates_sent}, '>', 2000,
           "download with a 1 KiB window: $r->{window_updates_sent} WINDOW_UPDATE frames sent");
    is_deeply($r->{goaways}, [], 'download with a 1 KiB window: no GOAWAY');

    $r = h2($p, $port, 'flood', { kind => 'window_update', count => 1000, batch => 50,
                                  then_path => '/r' });
    is_deeply($r->{goaways}, [], 'WINDOW_UPDATE flood: 1000 frames: no GOAWAY');
    is($r->{then}{status}, 200, 'WINDOW_UPDATE flood: 1000 frames: the connection serves');

    $r = h2($p, $port, 'flood', { kind => 'window_update', count => 1001, batch => 50,
                                  then_path => '/r' });
    is_deeply([ map { [$_->{last}, $_->{code}] } @{ $r->{goaways} || [] } ],
              [[0, $H2_ERR{ENHANCE_YOUR_CALM}]],
              'WINDOW_UPDATE flood: 1001 frames: GOAWAY 0 ENHANCE_YOUR_CALM');
    ok(!exists $r->{then}, 'WINDOW_UPDATE flood: nothing more was served');
}

# --- zero-window stall: SETTINGS_INITIAL_WINDOW_SIZE 0; stream 1's window never opens: its
# head comes (HEADERS are not flow-controlled), no byte of its body, and after send_timeout
# (1s) it is reset; stream 3, whose window the client opens, completes at once meanwhile;
# then, no stream left, the connection ends after http2_idle_timeout (2s).
{
    my $r = h2($p, $port, 'zero_window', { stalled => '/slow/bytes?n=200000',
                                           other => '/slow/bytes?n=100000', wait => 6 });
    my ($s1, $s3) = ($r->{stalled}, $r->{other});
    is($s3->{status}, 200, 'zero window: the other stream: 200');
    ok($s3->{end} && $s3->{body} eq pattern_bytes(100000),
       'zero window: the other stream: its whole body');
    cmp_ok($r->{other_done_at}, '<', 0.9, 'zero window: ... before the stalled one timed out');
    is($s1->{status}, 200, 'zero window: the stalled stream got its head');
    is($s1->{body_len}, 0, 'zero window: ... and no body byte');
    is($s1->{rst}, $H2_ERR{INTERNAL_ERROR}, 'zero window: the stalled stream is reset');
    ok($s1->{rst_at} >= 0.9 && $s1->{rst_at} < 2.5, "zero window: after send_timeout "
       . "($s1->{rst_at} s)");
    is_deeply([ map { [$_->{last}, $_->{code}] } @{ $r->{goaways} || [] } ],
              [[3, $H2_ERR{NO_ERROR}]], 'zero window: then GOAWAY 3 NO_ERROR');
    my $idle = ($r->{goaways}[0]{at} // 0) - ($s1->{rst_at} // 0);
    ok($idle >= 1.8 && $idle < 3.5, "zero window: ... after http2_idle_timeout ($idle s)");
    ok(defined $r->{closed}, 'zero window: the connection is closed');
    my $to = qr{client timed out sending the response \(\d+ of 200000 bytes sent\)};
    like($p->error_log, qr{\[info\] .*$to.*"GET /slow/bytes\?n=200000 HTTP/2\.0"},
         'zero window: the timeout is logged with the request');
}

# --- connection errors nghttp2 handles itself (its GOAWAY is queued, the input call does not
# fail): the connection closes once the GOAWAY is out, not after http2_idle_timeout (2s), and
# not never when streams were in flight (nghttp2 sends nothing more for them). Frames are
# [type, flags, stream, payload] built by hand.
{
    my @errors = (
        ['DATA on stream 0', [[0, 0, 0, '78']], [0, $H2_ERR{PROTOCOL_ERROR}]],
        ['PING on stream 1', [[6, 0, 1, '00' x 8]], [0, $H2_ERR{PROTOCOL_ERROR}]],
        ['HEADERS on an even stream', [[1, 5, 2, '82']], [0, $H2_ERR{PROTOCOL_ERROR}]],
        ['connection window past 2^31-1', [[8, 0, 0, '7fffffff']],
         [0, $H2_ERR{FLOW_CONTROL_ERROR}]],
    );
    for my $e (@errors) {
        my ($name, $frames, $goaway) = @$e;
        my $r = h2($p, $port, 'raw', { frames => $frames, wait => 4 });
        is_deeply([ map { [$_->{last}, $_->{code}] } @{ $r->{goaways} || [] } ], [$goaway],
                  "connection error: $name: GOAWAY @$goaway");
        ok(defined $r->{closed} && $r->{closed} < 1,
           "connection error: $name: closed at once (" . ($r->{closed} // 'never') . ' s)');
    }

    # the client's own GOAWAY, no stream open: nothing more will come, the connection closes
    my $r = h2($p, $port, 'raw', { path => '/r', frames => [[7, 0, 0, '00' x 8]], wait => 4 });
    is($r->{first}{status}, 200, "client's GOAWAY: the request before it was served");
    ok(defined $r->{closed} && $r->{closed} < 1,
       "client's GOAWAY: closed at once (" . ($r->{closed} // 'never') . ' s)');

    # a 17th stream past http2_max_concurrent_streams (16, acknowledged) is a connection
    # error to nghttp2: GOAWAY naming the 16th; the 16 slow requests are cancelled and the
    # connection closes at once, not when they would have ended (3 s) nor never
    $r = h2($p, $port, 'rapid_reset', { count => 17, path => '/sleep?ms=3000', how => 'open',
                                        then_path => '/r', pump => 5 });
    is_deeply([ map { [$_->{last}, $_->{code}] } @{ $r->{goaways} || [] } ],
              [[31, $H2_ERR{PROTOCOL_ERROR}]], 'streams past the limit: GOAWAY 31 PROTOCOL_ERROR');
    ok(defined $r->{closed} && $r->{closed} < 1,
       'streams past the limit: closed at once (' . ($r->{closed} // 'never') . ' s)');
    is($r->{answered}, 0, 'streams past the limit: nothing answered after the GOAWAY');

    # before the client acknowledged the setting, the 17th is refused alone
    $r = h2($p, $port, 'rapid_reset', { count => 17, path => '/sleep?ms=300', how => 'open',
                                        hold_ack => JSON::PP::true, then_path => '/r',
                                        pump => 1.5 });
    is_deeply($r->{goaways}, [], 'streams past the limit, not acknowledged: no GOAWAY')
        or diag(explain($r->{goaways}));
    is($r->{reset}, 1, 'streams past the limit, not acknowledged: one stream reset');
    is($r->{answered}, 16, 'streams past the limit, not acknowledged: the 16 others answered');
    is($r->{rst_codes}{33}, $H2_ERR{REFUSED_STREAM},
       'streams past the limit, not acknowledged: the 17th refused (REFUSED_STREAM)');
}

done_testing();
