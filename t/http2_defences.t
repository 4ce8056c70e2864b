#!/usr/bin/perl
# http2_defences.t: HTTP/2 at the frame level, driven by t/lib/h2client.py (hyperframe and
# hpack from Debian's python3-h2, under /usr/bin/python3 only):
# - the defences: rapid reset, CONTINUATION flood, HPACK bomb, SETTINGS / PING / PRIORITY /
#   WINDOW_UPDATE floods, the unread-ACK bound, a zero-window stall (send_timeout, then
#   http2_idle_timeout), each at its exact limit;
# - the HTTP/2 -> HTTP/1.1 downgrade smuggling vectors of RFC 9113 §8: each reset with
#   PROTOCOL_ERROR and never forwarded (the backend's log and a recording backend say so),
#   and what is allowed goes through as it should (te: trailers, cookie crumbs, a body
#   without content-length forwarded chunked);
# - graceful reload (HUP) and stop (QUIT) under load on one connection: GOAWAY NO_ERROR with
#   a last_stream_id that covers every stream answered, every stream up to it completed, none
#   above it processed, then the close; an idle connection at reload gets its GOAWAY too.

use strict;
use warnings;
use Test::More;
use JSON::PP ();
use POSIX qw(WNOHANG);
use Time::HiRes qw(sleep time);
use lib 't/lib';
use Portico;
use PorticoBackend;

skip_unless_module('http2', 'proxy', 'return');
plan(skip_all => '/usr/bin/python3 with python3-h2 is needed')
    unless system('/usr/bin/python3 -c "import h2, hpack, hyperframe" 2>/dev/null') == 0;

my $CLIENT = repo_root() . '/t/lib/h2client.py';
my %ERR = (NO_ERROR => 0, PROTOCOL_ERROR => 1, INTERNAL_ERROR => 2, FLOW_CONTROL_ERROR => 3,
           REFUSED_STREAM => 7, CANCEL => 8,
           ENHANCE_YOUR_CALM => 11);

# Starts the client in the background: (pid, output file).
my $RUNS = 0;
sub h2_start
{
    my ($p, $port, $scenario, $args) = @_;
    my $n = ++$RUNS;
    my $dir = $p->prefix . '/logs';
    write_file("$dir/h2-$n.args", JSON::PP->new->encode($args));
    my $pid = fork();
    die "fork: $!" unless defined $pid;
    if ($pid == 0) {
        open(STDIN, '<', '/dev/null');
        open(STDOUT, '>', "$dir/h2-$n.out");
        open(STDERR, '>', "$dir/h2-$n.err");
        exec('/usr/bin/python3', $CLIENT, '--port', $port, '--args', "\@$dir/h2-$n.args",
             $scenario) or POSIX::_exit(127);
    }
    return ($pid, "$dir/h2-$n");
}

# Waits for it (bounded; killed by its pid after $timeout s) and returns its JSON answer.
sub h2_finish
{
    my ($pid, $out, $timeout) = @_;
    unless (wait_until(sub { waitpid($pid, WNOHANG) == $pid }, $timeout || 30)) {
        kill 'KILL', $pid;
        waitpid($pid, 0);
    }
    my $r = eval { JSON::PP->new->decode(read_file("$out.out") // '') };
    diag("h2client: " . (read_file("$out.err") // '')) unless $r;
    return $r || {};
}

sub h2
{
    my ($p, $port, $scenario, $args, $timeout) = @_;
    return h2_finish(h2_start($p, $port, $scenario, $args), $timeout);
}

sub fields
{
    my ($path, $method) = @_;
    return [[':method', $method || 'GET'], [':scheme', 'http'], [':authority', 'localhost'],
            [':path', $path]];
}

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

# The header fields of a JSON /echo answer, names lowercased: { name => [values] }.
sub echo_headers
{
    my ($body) = @_;
    my $e = eval { JSON::PP->new->decode($body) } || { headers => [] };
    my %h;
    push @{ $h{ lc $_->[0] } }, $_->[1] for @{ $e->{headers} };
    return (\%h, $e);
}

# ---------------------------------------------------------------------------------------------
# the defences and the smuggling vectors

my $p = Portico->new(start => 0);
my $be = PorticoBackend->new(port => $p->port(2), id => 'a');
my $recdir = $p->prefix . '/rec';
my $rec = PorticoBackend->recorder(port => $p->port(3), dir => $recdir);
$p->write_conf(<<'EOF');
http = { http2_rapid_reset_limit = 20; http2_idle_timeout = "2s";
         http2_max_header_list_size = "16k"; http2_max_concurrent_streams = 16;
         client_max_body_size = "10m"; };
upstreams = ( { name = "app"; servers = ( { address = "127.0.0.1:%%PORT2%%"; } ); },
              { name = "rec"; servers = ( { address = "127.0.0.1:%%PORT3%%"; } ); } );
servers = ( {
  listen = ( { address = "127.0.0.1:%%PORT1%%"; http2 = true; } );
  routes = (
    { match = { path = "/r"; }; return = { status = 200; body = "r\n"; }; },
    { match = { path_prefix = "/slow/"; }; send_timeout = "1s";
      proxy = { upstream = "app"; strip_prefix = true; }; },
    { match = { path_prefix = "/rec/"; }; proxy = { upstream = "rec"; strip_prefix = true; }; },
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
    is($r->{goaways}[0]{code}, $ERR{ENHANCE_YOUR_CALM}, 'rapid reset: ENHANCE_YOUR_CALM');
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
              [[41, $ERR{ENHANCE_YOUR_CALM}]],
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
                  [[3, $ERR{ENHANCE_YOUR_CALM}]],
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
    my $bomb = { headers => fields('/echo?bomb'), repeat => [['x-bomb', 'a' x 4000, 5000]] };
    my $after = { headers => fields('/echo?after') };
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
    $r = h2($p, $port, 'cases', { cases => [[ { headers => [ @{ fields('/r') },
                                                             ['x-big', 'b' x 12000] ] } ]] });
    is($r->{cases}[0][0]{status}, 200, 'header list size: 12000 bytes under 16k: 200');
    $r = h2($p, $port, 'cases', { cases => [[ { headers => [ @{ fields('/r') },
                                                             ['x-big', 'b' x 17000] ] } ]] });
    is($r->{cases}[0][0]{status}, 431, 'header list size: 17000 bytes over 16k: 431');
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
                  [[0, $ERR{ENHANCE_YOUR_CALM}]],
                  "$kind flood: " . ($n + 1) . ' frames: GOAWAY 0 ENHANCE_YOUR_CALM');
        ok(defined $r->{closed}, "$kind flood: the connection is closed");
        ok(!exists $r->{then}, "$kind flood: nothing more was served");
    }
    # nghttp2 bounds the ACKs queued and not yet written (100): 200 PINGs in one write
    my $r = h2($p, $port, 'flood', { kind => 'ping', count => 200, batch => 200,
                                     then_path => '/r' });
    is_deeply([ map { [$_->{last}, $_->{code}] } @{ $r->{goaways} || [] } ],
              [[0, $ERR{ENHANCE_YOUR_CALM}]],
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
    is($r->{sha256}, Digest_sha256(pattern_bytes(2000000)),
       'download with a 1 KiB window: the right bytes');
    cmp_ok($r->{window_updates_sent}, '>', 2000,
           "download with a 1 KiB window: $r->{window_updates_sent} WINDOW_UPDATE frames sent");
    is_deeply($r->{goaways}, [], 'download with a 1 KiB window: no GOAWAY');

    $r = h2($p, $port, 'flood', { kind => 'window_update', count => 1000, batch => 50,
                                  then_path => '/r' });
    is_deeply($r->{goaways}, [], 'WINDOW_UPDATE flood: 1000 frames: no GOAWAY');
    is($r->{then}{status}, 200, 'WINDOW_UPDATE flood: 1000 frames: the connection serves');

    # The bound is being added on the coordinator's side: until it lands this fails.
    local $TODO = 'the WINDOW_UPDATE flood bound is not in this branch yet';
    $r = h2($p, $port, 'flood', { kind => 'window_update', count => 1001, batch => 50,
                                  then_path => '/r' });
    is_deeply([ map { [$_->{last}, $_->{code}] } @{ $r->{goaways} || [] } ],
              [[0, $ERR{ENHANCE_YOUR_CALM}]],
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
    is($s1->{rst}, $ERR{INTERNAL_ERROR}, 'zero window: the stalled stream is reset');
    ok($s1->{rst_at} >= 0.9 && $s1->{rst_at} < 2.5, "zero window: after send_timeout "
       . "($s1->{rst_at} s)");
    is_deeply([ map { [$_->{last}, $_->{code}] } @{ $r->{goaways} || [] } ],
              [[3, $ERR{NO_ERROR}]], 'zero window: then GOAWAY 3 NO_ERROR');
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
        ['DATA on stream 0', [[0, 0, 0, '78']], [0, $ERR{PROTOCOL_ERROR}]],
        ['PING on stream 1', [[6, 0, 1, '00' x 8]], [0, $ERR{PROTOCOL_ERROR}]],
        ['HEADERS on an even stream', [[1, 5, 2, '82']], [0, $ERR{PROTOCOL_ERROR}]],
        ['connection window past 2^31-1', [[8, 0, 0, '7fffffff']],
         [0, $ERR{FLOW_CONTROL_ERROR}]],
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
              [[31, $ERR{PROTOCOL_ERROR}]], 'streams past the limit: GOAWAY 31 PROTOCOL_ERROR');
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
    is($r->{rst_codes}{33}, $ERR{REFUSED_STREAM},
       'streams past the limit, not acknowledged: the 17th refused (REFUSED_STREAM)');
}

# --- the smuggling vectors in the head: each malformed (RFC 9113 §8.2, §8.3), reset with
# PROTOCOL_ERROR, the connection goes on, and nothing reaches the backend.
{
    $be->reset;
    my $g = sub { my ($name, @extra) = @_; return [ @{ fields("/echo?v=$name") }, @extra ]; };
    my $post = sub { return [ @{ fields("/echo?v=$_[0]", 'POST') } ]; };
    my @vectors = (
        ['transfer-encoding: chunked', { headers => $g->('te-chunked',
                                                         ['transfer-encoding', 'chunked']) }],
        ['connection', { headers => $g->('connection', ['connection', 'close']) }],
        ['keep-alive', { headers => $g->('keep-alive', ['keep-alive', 'timeout=5']) }],
        ['proxy-connection', { headers => $g->('proxy-connection',
                                               ['proxy-connection', 'keep-alive']) }],
        ['upgrade', { headers => $g->('upgrade', ['upgrade', 'websocket']) }],
        ['te: gzip', { headers => $g->('te-gzip', ['te', 'gzip']) }],
        ['te: trailers, gzip', { headers => $g->('te-list', ['te', 'trailers, gzip']) }],
        ['CR in a value', { headers => $g->('cr', ['x-a', "a\rb"]) }],
        ['LF in a value', { headers => $g->('lf', ['x-a', "a\nX-Injected: 1"]) }],
        ['NUL in a value', { headers => $g->('nul', ['x-a', "a\0b"]) }],
        ['CRLF in :path', { headers => [ [':method', 'GET'], [':scheme', 'http'],
                                         [':authority', 'localhost'],
                                         [':path', "/echo?v=crlf-path HTTP/1.1\r\nX-I: 1"] ] }],
        ['uppercase in a name', { headers => $g->('upper', ['X-Upper', '1']) }],
        ['space in a name', { headers => $g->('space', ['x a', '1']) }],
        ['colon in a name', { headers => $g->('colon', ['x:a', '1']) }],
        ['duplicated :path', { headers => $g->('dup-path', [':path', '/echo?v=dup-path2']) }],
        ['duplicated :method', { headers => [ [':method', 'GET'], [':method', 'POST'],
                                              [':scheme', 'http'], [':authority', 'localhost'],
                                              [':path', '/echo?v=dup-method'] ] }],
        ['no :scheme', { headers => [ [':method', 'GET'], [':authority', 'localhost'],
                                      [':path', '/echo?v=no-scheme'] ] }],
        ['no :path', { headers => [ [':method', 'GET'], [':scheme', 'http'],
                                    [':authority', 'localhost'] ] }],
        ['no :method', { headers => [ [':scheme', 'http'], [':authority', 'localhost'],
                                      [':path', '/echo?v=no-method'] ] }],
        ['pseudo-header after a regular one', { headers => [
            [':method', 'GET'], [':scheme', 'http'], ['x-a', '1'], [':authority', 'localhost'],
            [':path', '/echo?v=pseudo-after'] ] }],
        ['unknown pseudo-header', { headers => $g->('unknown-pseudo', [':foo', '1']) }],
        [':status in a request', { headers => $g->('status-pseudo', [':status', '200']) }],
        [':path not starting with /', { headers => [ [':method', 'GET'], [':scheme', 'http'],
                                                     [':authority', 'localhost'],
                                                     [':path', 'echo?v=no-slash'] ] }],
        [':path absolute', { headers => [ [':method', 'GET'], [':scheme', 'http'],
                                          [':authority', 'localhost'],
                                          [':path', 'http://localhost/echo?v=absolute'] ] }],
        ['host disagreeing with :authority', { headers => $g->('host', ['host', 'evil']) }],
        ['two content-lengths that disagree', { headers => $g->('two-cl',
            ['content-length', '0'], ['content-length', '5']) }],
        ['content-length 5 and END_STREAM on HEADERS', { headers => $g->('cl-no-data'),
                                                         content_length => 5 }],
        ['content-length not a number', { headers => $g->('cl-nan', ['content-length',
                                                                     '5, 5']) }],
        ['empty :path', { headers => [ [':method', 'GET'], [':scheme', 'http'],
                                       [':authority', 'localhost'], [':path', ''] ] }],
        ['userinfo in :authority', { headers => [ [':method', 'GET'], [':scheme', 'http'],
                                                  [':authority', 'user@localhost'],
                                                  [':path', '/echo?v=userinfo'] ] }],
        ['space in :method', { headers => [ [':method', 'GET /x'], [':scheme', 'http'],
                                            [':authority', 'localhost'],
                                            [':path', '/echo?v=method-space'] ] }],
    );
    my $r = h2($p, $port, 'cases', { cases => [ map { [ $_->[1] ] } @vectors ] }, 60);
    my @res = @{ $r->{cases} || [] };
    is(scalar @res, scalar @vectors, 'smuggling: every vector ran');
    for my $i (0 .. $#vectors) {
        my ($name) = @{ $vectors[$i] };
        my $x = $res[$i][0] || {};
        ok(!defined $x->{status} && defined $x->{rst} && $x->{rst} == $ERR{PROTOCOL_ERROR}
           && !defined $x->{goaway} && !defined $x->{closed},
           "smuggling: $name: RST_STREAM PROTOCOL_ERROR, no response, connection open")
            or diag(JSON::PP->new->canonical->encode($x));
    }
    is_deeply($be->requests_log, [], 'smuggling: nothing reached the backend')
        or diag(explain($be->requests_log));

}

# --- content-length disagreeing with the DATA (RFC 9113 §8.1.1): the stream is reset with
# PROTOCOL_ERROR when the DATA shows it. Bodies are streamed, so by then the head may have
# gone upstream (with a kept-alive upstream connection, even when HEADERS and DATA come in one
# write); what must hold is that no byte past content-length goes, the upstream never gets a
# request whose body is short of it, and the client's next "request" never goes at all. A
# recording backend keeps exactly the bytes it received.
{
    my @cl;
    for my $same (1, 0) {
        my $w = $same ? JSON::PP::true : JSON::PP::false;
        push @cl, [ { headers => fields("/rec/cl-more-$same", 'POST'), content_length => 5,
                      data => ['0123456789'], same_write => $w } ],
                  [ { headers => fields("/rec/cl-less-$same", 'POST'), content_length => 10,
                      data => ['01234'], same_write => $w } ],
                  [ { headers => fields("/rec/cl-zero-$same", 'POST'), content_length => 0,
                      data => ["GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"],
                      same_write => $w } ];
    }
    my $r = h2($p, $port, 'cases', { cases => \@cl }, 60);
    my @res = map { $_->[0] } @{ $r->{cases} || [] };
    is(scalar @res, 6, 'content-length: every case ran');
    for my $i (0 .. 5) {
        my $x = $res[$i] || {};
        my ($name) = $cl[$i][0]{headers}[3][1] =~ m{/rec/(\S+)};
        if ($name =~ /zero/) {
            # the head said the request is whole: it may be answered before the DATA comes
            ok(($x->{status} // 0) == 200
               || (!defined $x->{status} && ($x->{rst} // -1) == $ERR{PROTOCOL_ERROR}),
               "content-length: $name: answered as a whole request, or reset");
        } else {
            ok(!defined $x->{status} && ($x->{rst} // -1) == $ERR{PROTOCOL_ERROR},
               "content-length: $name: RST_STREAM PROTOCOL_ERROR, no response")
                or diag(JSON::PP->new->canonical->encode($x));
        }
        ok(!defined $x->{goaway} && !defined $x->{closed}, "content-length: $name: the "
           . 'connection goes on');
    }
    wait_until(sub { scalar(() = recorded($recdir)) >= 2 }, 5);
    sleep 0.5;
    my @got = recorded($recdir);
    my %body;
    for my $conn (@got) {
        my ($path, $head, $rest) = $conn =~ m{^POST /(\S+) HTTP/1\.1\r\n(.*?)\r\n\r\n(.*)\z}s
            or next;
        $body{$path} = $rest;
        like($head, qr/^Content-Length: (5|10|0)\r?$/m,
             "content-length: $path: the declared length went upstream");
    }
    ok(!grep({ /smuggled|56789/ } @got), 'content-length: no byte past it went upstream')
        or diag(explain(\@got));
    for my $same (1, 0) {
        ok(($body{"cl-more-$same"} // '') =~ /^(|01234)$/,
           "content-length: cl-more-$same: at most the declared bytes went upstream");
        ok(($body{"cl-less-$same"} // '') =~ /^(|01234)$/,
           "content-length: cl-less-$same: never a whole request upstream");
        is($body{"cl-zero-$same"} // '', '', "content-length: cl-zero-$same: an empty body");
    }

    # the upstream connection that carried a short body is not used again
    $be->reset;
    $r = h2($p, $port, 'cases', { cases => [
        [ { headers => fields('/echo?v=short', 'POST'), content_length => 10,
            data => ['01234'], same_write => JSON::PP::false } ],
        [ { headers => fields('/echo?v=next') } ] ] });
    is($r->{cases}[0][0]{rst}, $ERR{PROTOCOL_ERROR}, 'short body to a kept-alive upstream: reset');
    is($r->{cases}[1][0]{status}, 200, 'short body: the next request: 200');
    like($r->{cases}[1][0]{body}, qr{"path": "/echo\?v=next"}, 'short body: ... its own answer');
}

# --- what is allowed goes through: te: trailers (dropped by the proxy as for HTTP/1.1),
# cookie crumbs joined with "; ", a body without content-length (DATA, then END_STREAM)
# forwarded chunked with the exact bytes, a request with content-length and its DATA.
{
    $be->reset;
    my $r = h2($p, $port, 'cases', { cases => [[
        { headers => [ @{ fields('/echo?v=te') }, ['te', 'trailers'] ] },
        { headers => [ @{ fields('/echo?v=cookie') }, ['cookie', 'a=1'], ['x-b', '2'],
                       ['cookie', 'b=2'], ['cookie', 'c=3'] ] },
        { headers => fields('/echo?v=chunked', 'POST'), body_n => 300000 },
        { headers => fields('/echo?v=cl', 'POST'), content_length => 10,
          data => ['01234', '56789'] },
    ]] }, 60);
    my ($te, $cookie, $chunked, $cl) = @{ $r->{cases}[0] || [] };

    is($te->{status}, 200, 'te: trailers: 200');
    my ($h) = echo_headers($te->{body});
    ok(!exists $h->{te}, 'te: trailers: not forwarded (hop-by-hop)');
    my ($s1, $h1, $b1) = http_parse(http_get($port, '/echo?v=te11', TE => 'trailers'));
    my ($h11) = echo_headers($b1);
    is(exists $h11->{te}, exists $h->{te}, 'te: trailers: as over HTTP/1.1');

    is($cookie->{status}, 200, 'cookie crumbs: 200');
    ($h) = echo_headers($cookie->{body});
    is_deeply($h->{cookie}, ['a=1; b=2; c=3'], 'cookie crumbs: one field, joined with "; "');
    is_deeply($h->{'x-b'}, ['2'], 'cookie crumbs: the field between them kept');

    is($chunked->{status}, 200, 'body without content-length: 200');
    my $e;
    ($h, $e) = echo_headers($chunked->{body});
    is_deeply($h->{'transfer-encoding'}, ['chunked'], 'body without content-length: chunked');
    ok(!exists $h->{'content-length'}, 'body without content-length: no content-length');
    is($e->{body_length}, 300000, 'body without content-length: every byte');
    is($e->{body_sha256}, $chunked->{sent_sha256}, 'body without content-length: the bytes');

    is($cl->{status}, 200, 'body with content-length: 200');
    ($h, $e) = echo_headers($cl->{body});
    is_deeply($h->{'content-length'}, ['10'], 'body with content-length: forwarded');
    is($e->{body_length}, 10, 'body with content-length: 10 bytes');
    is_deeply([ map { $_->[1] } @{ $be->requests_log || [] } ],
              [ '/echo?v=te', '/echo?v=cookie', '/echo?v=chunked', '/echo?v=cl',
                '/echo?v=te11' ], 'allowed: each request reached the backend once');
}

$p->stop;

# ---------------------------------------------------------------------------------------------
# graceful reload and stop under load

my $q = Portico->new(start => 0);
my $qb = PorticoBackend->new(port => $q->port(2), id => 'q');
$q->write_conf(<<'EOF');
worker_shutdown_timeout = "30s";
upstreams = ( { name = "app"; keepalive = 32; servers = ( { address = "127.0.0.1:%%PORT2%%"; } ); } );
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
    is($g[0]{code}, $ERR{NO_ERROR}, "$sig under load: GOAWAY NO_ERROR");
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
my $r = h2($q, $q->port(1), 'cases', { cases => [[ { headers => fields('/id') } ]] });
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
              [[1, $ERR{NO_ERROR}]], 'idle at reload: GOAWAY 1 NO_ERROR');
    ok(defined $r->{closed} && $r->{closed} - $r->{idle_from} < 3,
       'idle at reload: closed at once, not after the idle timeout');
}

graceful_under_load('QUIT');
ok($q->wait_exit(30), 'QUIT: the master exited');
$q->stop;

sub Digest_sha256
{
    require Digest::SHA;
    return Digest::SHA::sha256_hex($_[0]);
}

done_testing();
