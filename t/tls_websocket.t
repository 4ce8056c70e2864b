#!/usr/bin/perl
# tls_websocket.t: WebSocket tunnels over TLS (docs/http.md, docs/tls.md, issue 5 item d), on each
# of client --TLS--> portico --plain--> backend, client --plain--> portico --TLS--> backend
# (upstream `tls` verified against the test CA) and TLS on both sides: the 101 and its
# headers, small frames (text, binary, 16- and 64-bit lengths, ping/pong) echoed exactly, a
# 2 MiB message each way at the same time (full duplex over SSL_write/SSL_read with partial
# writes), a client close seen by the backend and a backend close seen by the client (and a
# relayed close frame); a TLS client leaving without close_notify or with a reset in the
# middle of a push; tunnel_timeout closing an idle TLS tunnel and not a busy one; a client
# that stops reading while the backend pushes 64 MiB: the worker's RSS stays bounded, the
# backend is held back, then every byte arrives in order; no descriptor left in the worker.
# The 101 carries portico's Server, Date and X-Request-Id; a tunnel the backend ends cleanly
# closes the TLS client connection with close_notify.
# TLS peers are t/lib/ws_tls.py (a backend and a command-driven client: Perl has no TLS
# module here); certificates are made with the openssl CLI at test time.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Portico;
use PorticoBackend;
use File::Temp qw(tempdir);
use Digest::SHA qw(sha1 sha256_hex);
use MIME::Base64 qw(encode_base64);
use JSON::PP ();
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(sleep time);

skip_unless_module('tls', 'proxy');
plan(skip_all => 'no openssl CLI') unless system('openssl version >/dev/null 2>&1') == 0;
plan(skip_all => 'no python3 ssl') unless system('python3 -c "import ssl" 2>/dev/null') == 0;

my $D = tempdir('portico-wstls-XXXXXX', DIR => '/tmp', CLEANUP => 1);
my $HELPER = repo_root() . '/t/lib/ws_tls.py';
my $MiB = 1 << 20;

sub sh
{
    my ($cmd) = @_;
    system("$cmd >>$D/openssl.log 2>&1") == 0 or BAIL_OUT("failed: $cmd");
}

# a CA, portico's certificate for a.test, the TLS backend's for backend.test
sh("openssl req -x509 -newkey rsa:2048 -nodes -keyout $D/ca.key -out $D/ca.crt -days 30 "
   . "-subj '/CN=WS Test CA' -addext basicConstraints=critical,CA:TRUE "
   . "-addext keyUsage=critical,keyCertSign,cRLSign");
for my $leaf (['a', 'a.test'], ['backend', 'backend.test']) {
    my ($name, $cn) = @$leaf;
    sh("openssl req -newkey rsa:2048 -nodes -keyout $D/$name.key -out $D/$name.csr "
       . "-subj '/CN=$cn'");
    write_file("$D/$name.ext", "subjectAltName=DNS:$cn\n");
    sh("openssl x509 -req -in $D/$name.csr -CA $D/ca.crt -CAkey $D/ca.key -CAcreateserial "
       . "-out $D/$name.crt -days 30 -extfile $D/$name.ext");
}

# ---- helper processes (stopped by PID) ----------------------------------------------------

my @PIDS;
END { local $?; for my $pid (@PIDS) { kill 'KILL', $pid; waitpid($pid, 0); } }

sub stop_pid
{
    my ($pid) = @_;
    @PIDS = grep { $_ != $pid } @PIDS;
    kill 'TERM', $pid;
    kill 'KILL', $pid unless wait_until(sub { waitpid($pid, WNOHANG) != 0 }, 5);
    waitpid($pid, 0);
}

# A ws_tls.py backend on $port (TLS with $cert); its events go to $events.
sub ws_backend
{
    my ($port, $events, @tls) = @_;
    pipe(my $r, my $w) or die "pipe: $!";
    my $pid = fork();
    die "fork: $!" unless defined $pid;
    if ($pid == 0) {
        close $r;
        open(STDIN, '<', '/dev/null');
        open(STDOUT, '>&', $w);
        exec('python3', $HELPER, 'server', '--port', $port, '--events', $events, @tls)
            or POSIX::_exit(127);
    }
    close $w;
    push @PIDS, $pid;
    my $got = '';
    wait_until(sub {
        my $rin = '';
        vec($rin, fileno($r), 1) = 1;
        if (select(my $rout = $rin, undef, undef, 0.2) > 0) {
            my $n = sysread($r, my $buf, 64);
            $got .= $buf if $n;
            return 1 unless $n;
        }
        return $got =~ /ready/;
    }, 10);
    close $r;
    BAIL_OUT("ws backend on $port did not start") unless $got =~ /ready/;
    return $pid;
}

# The events of the backend connection whose upgrade target contained $tag:
# { id, target, eof => HOW, close => 1, sent => BYTES, duplex => [sent, got] }.
sub conn_events
{
    my ($events, $tag) = @_;
    my $text = read_file($events) // '';
    my ($id, $target) = $text =~ /^upgrade (\d+) (\S*\Q$tag\E\S*)$/m or return {};
    my %e = (id => $id, target => $target);
    for my $line (split /\n/, $text) {
        my ($ev, $cid, @rest) = split / /, $line;
        next unless defined $cid && $cid eq $id;
        $e{eof} = join(" ", @rest) if $ev eq "eof";
        $e{error} = $rest[0] if $ev eq 'error';
        $e{close} = 1 if $ev eq 'close';
        $e{sent} = $rest[0] if $ev eq 'sent';
        $e{duplex} = [@rest] if $ev eq 'duplex';
    }
    return \%e;
}

# The command-driven client: $c = ws_client(); $c->(op => 'connect', ...) returns the answer.
sub ws_client
{
    pipe(my $in_r, my $in_w) or die "pipe: $!";
    pipe(my $out_r, my $out_w) or die "pipe: $!";
    my $pid = fork();
    die "fork: $!" unless defined $pid;
    if ($pid == 0) {
        close $in_w;
        close $out_r;
        open(STDIN, '<&', $in_r);
        open(STDOUT, '>&', $out_w);
        exec('python3', $HELPER, 'client') or POSIX::_exit(127);
    }
    close $in_r;
    close $out_w;
    push @PIDS, $pid;
    my $json = JSON::PP->new->canonical;
    my $pending = '';
    my $done = 0;
    return sub {
        my (%c) = @_;
        if ($c{op} eq 'quit') {
            return {} if $done++;
            local $SIG{PIPE} = 'IGNORE';
            syswrite($in_w, "{\"op\":\"quit\"}\n");
            close $in_w;
            close $out_r;
            stop_pid($pid);
            return {};
        }
        return { ok => 0, error => 'client gone' } if $done;
        local $SIG{PIPE} = 'IGNORE';
        syswrite($in_w, $json->encode(\%c) . "\n");
        my $deadline = time + ($c{timeout} // 10) + 30;
        while (index($pending, "\n") < 0 && time < $deadline) {
            my $rin = '';
            vec($rin, fileno($out_r), 1) = 1;
            next unless select(my $rout = $rin, undef, undef, $deadline - time) > 0;
            my $n = sysread($out_r, my $buf, 65536);
            last unless $n;
            $pending .= $buf;
        }
        my $i = index($pending, "\n");
        return { ok => 0, error => 'no answer from the client' } if $i < 0;
        my $line = substr($pending, 0, $i + 1, '');
        return $json->decode($line);
    };
}

# ---- portico and the backends -------------------------------------------------------------

my $p = Portico->new(start => 0);
my ($EVP, $EVT) = ("$D/plain.events", "$D/tls.events");
ws_backend($p->port(3), $EVP);
ws_backend($p->port(4), $EVT, '--cert', "$D/backend.crt", '--key', "$D/backend.key");

my $routes = join(",\n", map {
    my ($prefix, $up, $extra) = @$_;
    qq(    { match = { path_prefix = "/$prefix/"; };\n)
    . qq(      proxy = { upstream = "$up"; strip_prefix = true; websocket = true; $extra }; })
} ['p', 'plain', ''], ['t', 'tls', ''], ['p-idle', 'plain', 'tunnel_timeout = "1s";'],
  ['t-idle', 'tls', 'tunnel_timeout = "1s";'], ['p-busy', 'plain', 'tunnel_timeout = "3s";']);
$p->write_conf(<<"EOF");
upstreams = (
  { name = "plain"; servers = ( { address = "127.0.0.1:%%PORT3%%"; } ); },
  { name = "tls"; servers = ( { address = "127.0.0.1:%%PORT4%%"; } );
    tls = { enable = true; ca = "$D/ca.crt"; server_name = "backend.test"; }; }
);
servers = (
  { listen = ( { address = "127.0.0.1:%%PORT1%%"; tls = true; } );
    names = ["a.test"];
    tls = { certificate = "$D/a.crt"; key = "$D/a.key"; };
    routes = (
$routes
    ); },
  { listen = ["127.0.0.1:%%PORT2%%"];
    routes = (
$routes
    ); }
);
EOF
# RSS bounds below are raised by the ASan quarantine (see Portico.pm).
my $QUARANTINE = quarantine_kb();
$p->start_small_quarantine;
my ($TLSPORT, $PLAINPORT) = ($p->port(1), $p->port(2));
# (the listeners accept before the worker has set its title: wait for it)
my $WORKER;
wait_until(sub { ($WORKER) = $p->worker_pids; $WORKER }, 10);
ok($WORKER, 'the worker pid');

# The worker's open descriptors.
sub nfds
{
    opendir(my $d, "/proc/$WORKER/fd") or return -1;
    return scalar grep { /^\d+$/ } readdir $d;
}
# the baseline: the fewest over a second (the start-up probes' connections may still be open)
my $FDS = nfds();
for (1 .. 5) {
    sleep 0.2;
    my $n = nfds();
    $FDS = $n if $n < $FDS;
}

my $KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
# RFC 6455 §1.3: this key's accept value, with the RFC's GUID
my $ACCEPT = 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=';
is(encode_base64(sha1($KEY . '258EAFA5-E914-47DA-95CA-C5AB0DC85B11'), ''), $ACCEPT,
   'the RFC 6455 accept value');
my $TAG = 0;

# Connects a new client through portico (TLS front when $front_tls) to $path, tagged with a
# unique query argument for conn_events; returns ($client, $answer, $tag).
sub open_ws
{
    my ($front_tls, $path, %o) = @_;
    my $c = ws_client();
    my $tag = 'c' . ++$TAG;
    $path .= ($path =~ /\?/ ? '&' : '?') . "c=$tag";
    my $a = $c->(op => 'connect', port => $front_tls ? $TLSPORT : $PLAINPORT,
                 tls => $front_tls ? JSON::PP::true : JSON::PP::false, sni => 'a.test',
                 ca => "$D/ca.crt", path => $path, host => 'a.test', key => $KEY, %o);
    return ($c, $a, $tag);
}

# The 101 head as portico relays it: the status line and every header, exactly.
sub check_101
{
    my ($name, $a) = @_;
    ok($a->{ok}, "$name: connected") or diag($a->{error});
    my @lines = split /\r\n/, $a->{head} // '';
    is($lines[0], 'HTTP/1.1 101 Switching Protocols', "$name: 101 Switching Protocols");
    my %h;
    for my $l (@lines[1 .. $#lines]) {
        my ($n, $v) = $l =~ /^([^:]+):\s*(.*)$/ or next;
        push @{ $h{ lc $n } }, $v;
    }
    is_deeply($h{upgrade}, ['websocket'], "$name: Upgrade: websocket");
    is_deeply($h{connection}, ['upgrade'], "$name: one Connection: upgrade");
    is_deeply($h{'sec-websocket-accept'}, [$ACCEPT], "$name: Sec-WebSocket-Accept passed on");
    ok(!exists $h{'content-length'} && !exists $h{'transfer-encoding'},
       "$name: no body framing on the 101");
    is_deeply($h{server}, ['portico'], "$name: Server: portico on the 101 (not the backend's)");
    like(($h{'x-request-id'} // [''])->[0], qr/^[0-9a-f]{32}$/,
         "$name: X-Request-Id on the 101");
    is(scalar @{ $h{date} // [] }, 1, "$name: one Date on the 101");
}

sub pattern_sha
{
    my ($n, $offset) = @_;
    my $sha = Digest::SHA->new(256);
    my $unit = pattern_bytes(251 * 4177);          # ~1 MiB, whole pattern periods
    $unit = substr($unit, $offset) . substr($unit, 0, $offset) if $offset;
    while ($n > 0) {
        my $k = $n < length $unit ? $n : length $unit;
        $sha->add(substr($unit, 0, $k));
        $n -= $k;
    }
    return $sha->hexdigest;
}

# A tunnel the backend ended cleanly: over TLS the client gets close_notify (as from nginx),
# not a bare FIN that a TLS client reports as a truncation attack; a plain client gets EOF.
sub clean_close
{
    my ($ftls, $how, $name) = @_;
    return is($how, 'eof', "$name: plain client sees EOF") unless $ftls;
    is($how, 'close_notify', "$name: TLS client gets close_notify");
}

# ---- 1-3: echo, 2 MiB both ways, closes, on each TLS combination --------------------------

my @combos = (
    ['client TLS, backend plain', 1, 'p', $EVP, 'eof'],
    ['client plain, backend TLS', 0, 't', $EVT, 'close_notify'],
    ['TLS both sides',            1, 't', $EVT, 'close_notify'],
);
for my $combo (@combos) {
    my ($name, $ftls, $prefix, $events, $backend_sees) = @$combo;

    my ($c, $a, $tag) = open_ws($ftls, "/$prefix/echo");
    check_101($name, $a);
    is($a->{version}, $ftls ? 'TLSv1.3' : '', "$name: client side TLS version");

    $a = $c->(op => 'send', opcode => 1, text => 'hello');
    $a = $c->(op => 'recv');
    is("$a->{opcode} $a->{text}", '1 hello', "$name: text frame echoed exactly");
    for my $n (1, 125, 126, 65535, 65536, 300_001) {
        $c->(op => 'send', opcode => 2, n => $n);
        $a = $c->(op => 'recv', timeout => 20);
        is("$a->{opcode} $a->{len} $a->{sha256}", "2 $n " . pattern_sha($n, 7),
           "$name: binary frame of $n bytes echoed exactly");
    }
    $c->(op => 'send', opcode => 9, text => 'ping!');
    $a = $c->(op => 'recv');
    is("$a->{opcode} $a->{text}", '10 ping!', "$name: ping answered with a pong");

    # client closes: the backend sees its side of the tunnel end
    $a = $c->(op => 'close');
    ok(wait_until(sub { conn_events($events, $tag)->{eof} }, 10),
       "$name: client close reaches the backend within 10 s");
    is(conn_events($events, $tag)->{eof}, $backend_sees,
       "$name: the backend sees $backend_sees");
    $c->(op => 'quit');

    # 2 MiB each way at the same time
    ($c, $a, $tag) = open_ws($ftls, "/$prefix/duplex", rcvbuf => 65536);
    is(substr($a->{head} // '', 0, 12), 'HTTP/1.1 101', "$name: duplex tunnel up");
    my $n = 2 * $MiB;
    $a = $c->(op => 'duplex', n => $n, timeout => 120);
    ok($a->{ok}, "$name: 2 MiB both ways completed") or diag($a->{error});
    is("$a->{opcode} $a->{got_len}", "2 $n", "$name: 2 MiB from the backend, one frame");
    ok($a->{got_pattern}, "$name: 2 MiB from the backend intact");
    is("$a->{reply_opcode} $a->{reply}", "1 $n " . pattern_sha($n, 7),
       "$name: 2 MiB from the client reached the backend intact");
    is_deeply(conn_events($events, $tag)->{duplex}, [$n, $n],
              "$name: the backend sent and got 2 MiB");
    # the tunnel still works after the big transfer
    $c->(op => 'send', opcode => 1, text => 'after');
    $a = $c->(op => 'recv');
    is("$a->{opcode} $a->{text}", '1 after', "$name: tunnel usable after 2 MiB each way");

    # backend closes: the client sees the close
    $c->(op => 'send', opcode => 1, text => 'quit');
    $a = $c->(op => 'wait_closed', timeout => 10);
    like($a->{closed}, qr/^(close_notify|eof)$/,
         "$name: backend close reaches the client within 10 s ($a->{closed})");
    is($a->{extra}, 0, "$name: no stray bytes before the close");
    ok(conn_events($events, $tag)->{close}, "$name: the backend closed it");
    clean_close($ftls, $a->{closed}, "$name: backend close");
    $c->(op => 'quit');

    # a WebSocket close frame is relayed and the tunnel ends
    ($c, $a, $tag) = open_ws($ftls, "/$prefix/echo");
    $c->(op => 'send', opcode => 8, hex => '03e8');
    $a = $c->(op => 'recv');
    is("$a->{opcode} $a->{len} $a->{text}", "8 2 \x03\xe8", "$name: close frame echoed");
    $a = $c->(op => 'wait_closed', timeout => 10);
    like($a->{closed}, qr/^(close_notify|eof)$/, "$name: closed after the close frame");
    clean_close($ftls, $a->{closed}, "$name: close frame");
    $c->(op => 'quit');
}

# A TLS client that goes away without close_notify (a bare FIN, then a reset in the middle
# of a 64 MiB push): the tunnel ends and the backend connection is closed at once.
for my $abrupt (['client TLS, backend plain', 'p', $EVP, 'eof'],
                ['TLS both sides', 't', $EVT, 'close_notify'])
{
    my ($name, $prefix, $events, $backend_sees) = @$abrupt;
    my ($c, $a, $tag) = open_ws(1, "/$prefix/echo");
    $c->(op => 'send', opcode => 1, text => 'bye');
    $a = $c->(op => 'recv');
    is("$a->{opcode} $a->{text}", '1 bye', "$name, FIN without close_notify: tunnel up");
    $c->(op => 'close', notify => JSON::PP::false);
    ok(wait_until(sub { conn_events($events, $tag)->{eof} }, 10),
       "$name, FIN without close_notify: the backend connection is closed");
    is(conn_events($events, $tag)->{eof}, $backend_sees,
       "$name, FIN without close_notify: the backend sees $backend_sees");
    $c->(op => 'quit');

    ($c, $a, $tag) = open_ws(1, "/$prefix/flood?n=" . (64 * $MiB));
    ok(wait_until(sub { (conn_events($events, $tag)->{sent} // 0) >= $MiB }, 20),
       "$name, reset mid-flood: the backend is pushing");
    $c->(op => 'close', reset => JSON::PP::true);
    ok(wait_until(sub { conn_events($events, $tag)->{eof} }, 10),
       "$name, reset mid-flood: the backend connection is closed");
    like(conn_events($events, $tag)->{eof} // "", qr/^(close_notify|eof|reset)$/,
         "$name, reset mid-flood: the backend sees the end of the connection");
    $c->(op => 'quit');
}

# ---- 4: tunnel_timeout over TLS ------------------------------------------------------------

for my $idle (['client TLS', 1, 'p-idle', $EVP, 'eof'],
              ['backend TLS', 0, 't-idle', $EVT, 'close_notify'],
              ['TLS both sides', 1, 't-idle', $EVT, 'close_notify'])
{
    my ($name, $ftls, $prefix, $events, $backend_sees) = @$idle;
    my ($c, $a, $tag) = open_ws($ftls, "/$prefix/echo");
    $c->(op => 'send', opcode => 1, text => 'x');
    $a = $c->(op => 'recv');
    is("$a->{opcode} $a->{text}", '1 x', "idle $name: echo before going idle");
    $a = $c->(op => 'wait_closed', timeout => 20);
    # on a timeout nginx sends no close_notify either: both are accepted over TLS
    like($a->{closed}, $ftls ? qr/^(close_notify|eof)$/ : qr/^eof$/,
         "idle $name: tunnel_timeout 1s closes the client side ($a->{closed})");
    ok($a->{after} >= 0.5 && $a->{after} < 15,
       "idle $name: closed after the timeout, within 15 s ($a->{after})");
    ok(wait_until(sub { conn_events($events, $tag)->{eof} }, 10),
       "idle $name: the backend connection is closed too");
    is(conn_events($events, $tag)->{eof}, $backend_sees, "idle $name: backend sees $backend_sees");
    $c->(op => 'quit');
}
{
    # traffic every 0.5 s keeps a 3 s tunnel_timeout tunnel open for 6 s
    my ($c, $a, $tag) = open_ws(1, "/p-busy/echo");
    my ($ok, $bad) = (0, 0);
    my $t0 = time;
    while (time - $t0 < 6) {
        $c->(op => 'send', opcode => 1, text => "k$ok");
        $a = $c->(op => 'recv');
        if (!$a->{ok} || $a->{text} ne "k$ok") {
            $bad = 1;
            last;
        }
        $ok++;
        sleep 0.5;
    }
    ok(!$bad && time - $t0 >= 6, "busy TLS tunnel: open for 6 s past its 3 s timeout ($ok)");
    $a = $c->(op => 'wait_closed', timeout => 20);
    like($a->{closed}, qr/^(close_notify|eof)$/, "busy TLS tunnel: closed once idle");
    $c->(op => 'quit');
}

# ---- 5: a client that stops reading while the backend pushes 64 MiB -----------------------

sub rss_kb
{
    my ($pid) = @_;
    my ($kb) = (read_file("/proc/$pid/status") // '') =~ /^VmRSS:\s+(\d+) kB/m;
    return $kb // 0;
}

for my $flood (['client TLS, backend plain', 'p', $EVP], ['TLS both sides', 't', $EVT]) {
    my ($name, $prefix, $events) = @$flood;
    my $worker = $WORKER;
    my $base = rss_kb($worker);
    my $total = 64 * $MiB;
    my ($c, $a, $tag) = open_ws(1, "/$prefix/flood?n=$total", rcvbuf => 65536);
    is(substr($a->{head} // '', 0, 12), 'HTTP/1.1 101', "flood $name: tunnel up");
    # the client reads nothing; wait until the backend is held back (no progress for 3 s)
    my ($last, $since) = (-1, time);
    wait_until(sub {
        my $sent = conn_events($events, $tag)->{sent} // 0;
        if ($sent != $last) {
            ($last, $since) = ($sent, time);
        }
        return $sent >= $total || time - $since >= 3;
    }, 120);
    my $grow = rss_kb($worker) - $base;
    ok($last > 0 && $last < $total,
       "flood $name: the backend is held back ($last of $total bytes sent)");
    ok($grow < 32 * 1024 + $QUARANTINE,
       "flood $name: worker RSS grew by less than 32 MiB ($grow kB) while stalled");
    $a = $c->(op => 'read_stream', timeout => 300);
    ok($a->{ok}, "flood $name: the client read to the end") or diag($a->{error});
    is($a->{len}, $total, "flood $name: every byte arrived");
    ok($a->{in_order}, "flood $name: in order");
    is($a->{sha256}, pattern_sha($total, 0), "flood $name: checksum");
    is($a->{last}, 'end', "flood $name: then the backend's last frame");
    $grow = rss_kb($worker) - $base;
    ok($grow < 32 * 1024 + $QUARANTINE,
       "flood $name: worker RSS grew by less than 32 MiB ($grow kB) after 64 MiB");
    $c->(op => 'close');
    ok(wait_until(sub { conn_events($events, $tag)->{eof} }, 10),
       "flood $name: the backend sees the close");
    $c->(op => 'quit');
}

# every tunnel is over: the worker holds no descriptor more than before the first
ok(wait_until(sub { my $n = nfds(); $n >= 0 && $n <= $FDS }, 10),
   "the same worker, no descriptor left open (" . nfds() . ", before: $FDS)");

$p->stop;
done_testing();
