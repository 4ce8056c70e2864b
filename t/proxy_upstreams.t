#!/usr/bin/perl
# proxy_upstreams.t: upstream servers and pools (docs/settings.md, docs/http.md): [::1]:PORT,
# unix:/path and host-name servers (resolved by the master at load and at reload), $upstream_addr
# for each, -t errors with FILE:LINE, a HUP with an unresolvable name keeping the old workers, a
# reload that changes the servers; least_conn and max_conns counted per instance with two workers
# (the backend sees which worker connects); the keep-alive pool (keepalive_requests,
# keepalive_timeout, keepalive = 0, bounded idle connections, upstream Connection: close);
# one-server upstreams ignore passive marks; passive state kept across a reload for the same server
# and reset for a removed one; -T upstream defaults; the per-worker connection counters logged at
# exit.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Portico;
use PorticoBackend;
use Socket qw(getaddrinfo getnameinfo AF_INET AF_INET6 SOCK_STREAM NI_NUMERICHOST
              NI_NUMERICSERV);
use Time::HiRes qw(sleep time);

skip_unless_module('proxy');

sub body_of
{
    my ($raw) = @_;
    my (undef, undef, $b) = http_parse($raw);
    return $b;
}

sub status_of
{
    my ($raw) = @_;
    my ($s) = http_parse($raw);
    return $s // 0;
}

# Every numeric address getaddrinfo gives for $host (stream sockets), "IP:PORT"/"[v6]:PORT".
sub resolved
{
    my ($host, $port) = @_;
    my ($err, @res) = getaddrinfo($host, $port, { socktype => SOCK_STREAM });
    return () if $err;
    my @out;
    for my $ai (@res) {
        next unless $ai->{family} == AF_INET || $ai->{family} == AF_INET6;
        my ($e, $ip) = getnameinfo($ai->{addr}, NI_NUMERICHOST | NI_NUMERICSERV);
        next if $e;
        push @out, $ai->{family} == AF_INET6 ? "[$ip]:$port" : "$ip:$port";
    }
    return @out;
}

my $V6 = have_ipv6();

# ---- addresses: [::1]:PORT, unix:/path, host names; $upstream_addr ------------------------

{
    my $p = Portico->new(start => 0);
    my $sock = $p->prefix . '/b.sock';
    my $b6 = $V6 ? PorticoBackend->new(port => $p->port(2), id => 'six',
                                       listen => ['[::1]:' . $p->port(3)]) : undef;
    my $bu = PorticoBackend->new(port => $p->port(4), id => 'unix', listen => ["unix:$sock"]);
    my $bl = PorticoBackend->new(port => $p->port(5), id => 'local');
    my $v6conf = $V6 ? <<'EOF' : '';
  { name = "v6"; servers = ( { address = "[::1]:%%PORT3%%"; } ); },
EOF
    my $v6route = $V6 ? <<'EOF' : '';
    { match = { path_prefix = "/v6/"; }; proxy = { upstream = "v6"; strip_prefix = true; }; },
EOF
    $p->write_conf(<<"EOF");
upstreams = (
$v6conf  { name = "ux"; servers = ( { address = "unix:$sock"; } ); },
  { name = "lh"; servers = ( { address = "localhost:%%PORT5%%"; } ); }
);
http = { log_formats = ( { name = "ua"; format = "\$request_uri \$upstream_addr"; } );
         access_log = { path = "logs/access.log"; format = "ua"; }; };
servers = ( {
  listen = ["127.0.0.1:%%PORT1%%"];
  routes = (
$v6route    { match = { path_prefix = "/ux/"; };
      proxy = { upstream = "ux"; strip_prefix = true; }; },
    { match = { path_prefix = "/lh/"; }; proxy = { upstream = "lh"; strip_prefix = true; }; }
  );
} );
EOF
    $p->start;
    my $port = $p->port(1);
  SKIP: {
        skip 'no IPv6 loopback', 3 unless $V6;
        is(body_of(http_get($port, '/v6/id?a=v6')), 'six', '[::1]:PORT: the IPv6 backend answers');
        is($b6->stats->{by_listener}{'[::1]:' . $p->port(3)}, 1,
           '[::1]:PORT: the request came over IPv6');
        ok($p->wait_for(sub { ($p->access_log // '') =~ m{^/v6/id\?a=v6 (\S+)$}m }, 5),
           'v6: logged');
        my ($a) = ($p->access_log // '') =~ m{^/v6/id\?a=v6 (\S+)$}m;
        is($a, '[::1]:' . $p->port(3), '$upstream_addr prints [::1]:PORT');
    }
    is(body_of(http_get($port, '/ux/id?a=ux')), 'unix', 'unix:/path: the backend answers');
    is($bu->stats->{by_listener}{"unix:$sock"}, 1, 'unix:/path: the request came over the socket');
    ok($p->wait_for(sub { ($p->access_log // '') =~ m{^/ux/id\?a=ux (\S+)$}m }, 5), 'ux: logged');
    my ($ua) = ($p->access_log // '') =~ m{^/ux/id\?a=ux (\S+)$}m;
    is($ua, "unix:$sock", '$upstream_addr prints unix:/path');

    # localhost: each address the resolver gives is a server (here: what getaddrinfo says)
    my @want = resolved('localhost', $p->port(5));
    ok(@want >= 1, "localhost resolves here (@want)");
    my @reach = grep { !/^\[/ } @want;      # the backend listens on 127.0.0.1 only
    my %seen;
    for my $i (1 .. 2 * @want) {
        my $r = http_get($port, "/lh/id?a=lh$i");
        $seen{body_of($r)}++;
    }
    ok($p->wait_for(sub { ($p->access_log // '') =~ m{^/lh/id\?a=lh@{[2 * @want]} }m }, 5),
       'lh: logged');
    my %addrs;
    for my $line (split /\n/, $p->access_log // '') {
        $addrs{$1}++ if $line =~ m{^/lh/id\?a=lh\d+ (.*)$};
    }
    my @first = map { (split /, /)[0] } keys %addrs;
    my %fs = map { $_ => 1 } @first;
    is_deeply([ sort keys %fs ], [ sort @want ],
              'localhost:PORT: every resolved address is a server ($upstream_addr)');
    ok($seen{local}, 'localhost:PORT: the backend on 127.0.0.1 answers') if @reach;

    # -T shows the servers as written; reload with an unresolvable name keeps the old workers
    my @w = $p->worker_pids;
    my $good = read_file($p->conf_file);
    (my $bad = $good) =~ s/"localhost:(\d+)"/"no-such-host.invalid:$1"/;
    write_file($p->conf_file, $bad);
    my $line = $p->line_of(qr/no-such-host\.invalid/);
    my $file = $p->conf_file;
    my ($rc, $out) = $p->run_t('-t');
    is($rc, 1, '-t: an unresolvable host fails');
    like($out, qr/\Q$file\E:$line: .*no-such-host\.invalid/,
         '-t: FILE:LINE and the name of the host');
    $p->signal('HUP');
    ok($p->wait_for(sub { ($p->error_log // '') =~ /\Q$file\E:$line: .*no-such-host\.invalid/ },
                    15), 'HUP with an unresolvable name: the error is logged with FILE:LINE');
    is(body_of(http_get($port, '/ux/id')), 'unix', 'HUP with an unresolvable name: still serving');
    is_deeply([ $p->worker_pids ], \@w, 'HUP with an unresolvable name: old workers untouched');

    # a reload that changes the upstream's servers takes effect
    (my $moved = $good) =~ s/"localhost:(\d+)"/"unix:$sock"/;
    write_file($p->conf_file, $moved);
    $p->signal('HUP');
    ok($p->wait_for(sub { body_of(http_get($port, '/lh/id')) eq 'unix' }, 15),
       'HUP changing the servers: the new server answers');
    my %old = map { $_ => 1 } @w;
    ok($p->wait_for(sub { my @n = $p->worker_pids; @n && !grep { $old{$_} } @n }, 15),
       'HUP changing the servers: new workers');
    my $before = $bl->stats->{requests};
    is(body_of(http_get($port, '/lh/id')), 'unix',
       'HUP changing the servers: stays on the new one');
    is($bl->stats->{requests}, $before, 'HUP changing the servers: the removed one gets nothing');
    $p->stop;
}

# ---- a name that does not resolve fails the start -------------------------------------------

{
    my $p = Portico->new(start => 0, conf => <<'EOF');
upstreams = ( { name = "app"; servers = ( { address = "127.0.0.1:%%PORT2%%"; },
                                          { address = "no-such-host.invalid:80"; } ); } );
servers = ( { listen = ["127.0.0.1:%%PORT1%%"];
  routes = ( { match = { path_prefix = "/"; }; proxy = { upstream = "app"; }; } ); } );
EOF
    my $line = $p->line_of(qr/no-such-host\.invalid/);
    my $file = $p->conf_file;
    my ($rc, $out) = $p->run_t('-g', 'daemon = false;');
    is($rc, 1, 'start with an unresolvable server name: exit status 1');
    like($out, qr/\Q$file\E:$line: .*host "no-such-host\.invalid" not found/,
         'start with an unresolvable server name: FILE:LINE and the name');
    ok(!http_connect($p->port(1)), 'start with an unresolvable server name: nothing listens');
}

# ---- least_conn and max_conns count per instance (two workers) ----------------------------

{
    my $p = Portico->new(start => 0);
    my ($ba, $bb) = map { PorticoBackend->new(port => $p->port($_ + 2), id => chr(97 + $_),
                                              peer_pids => 1) } 0 .. 1;
    $p->write_conf(<<'EOF');
worker_processes = 2;
upstreams = (
  { name = "lc"; balance = "least_conn";
    servers = ( { address = "127.0.0.1:%%PORT2%%"; }, { address = "127.0.0.1:%%PORT3%%"; } ); },
  { name = "mc";
    servers = ( { address = "127.0.0.1:%%PORT2%%"; max_conns = 1; },
                { address = "127.0.0.1:%%PORT3%%"; max_conns = 1; } ); }
);
servers = ( {
  listen = ( { address = "127.0.0.1:%%PORT1%%"; reuseport = true; } );
  routes = (
    { match = { path_prefix = "/lc/"; }; proxy = { upstream = "lc"; strip_prefix = true; }; },
    { match = { path_prefix = "/mc/"; }; proxy = { upstream = "mc"; strip_prefix = true; }; }
  );
} );
EOF
    $p->start;
    my $port = $p->port(1);
    ok($p->wait_for(sub { $p->worker_pids == 2 }, 10), 'two workers');
    my %workers = map { $_ => 1 } $p->worker_pids;

    # holds a slow request; returns (socket, the backend among @free that got it)
    my $hold = sub {
        my ($path, @free) = @_;
        my $s = http_connect($port);
        http_send($s, http_request('GET', $path));
        my $on;
        $p->wait_for(sub {
            for my $b (@free) {
                my $st = $b->stats;
                return $on = $b if $st && $st->{requests} >= 1;
            }
            return 0;
        }, 10);
        return ($s, $on);
    };
    # $n fresh connections; returns { "STATUS BODY" => count }
    my $fresh = sub {
        my ($path, $n) = @_;
        my %c;
        for (1 .. $n) {
            my $r = http_get($port, $path);
            $c{ status_of($r) . ' ' . (status_of($r) == 200 ? body_of($r) : '') }++;
        }
        return \%c;
    };

    $_->reset for $ba, $bb;
    # (long sleeps: the checks below must finish while they are held, even on a loaded machine)
    my ($s1, $slow) = $hold->('/lc/sleep?ms=15000', $ba, $bb);
    ok($slow, 'least_conn: the slow request reached a backend');
    my $other = ($slow && $slow == $ba) ? $bb : $ba;
    my $oid = $other->id;
    my $c = $fresh->('/lc/id', 24);
    is_deeply($c, { "200 $oid" => 24 },
              'least_conn: every new request goes to the server without the slow one');
    my $pids = $other->stats->{peer_pids} || {};
    is(scalar(grep { $workers{$_} } keys %$pids), 2,
       'least_conn: both workers sent requests to it (the counts are per instance)');
    is($slow ? $slow->stats->{requests} : -1, 1, 'least_conn: the busy server got nothing more');
    close $s1;         # not waited for: the upstream "lc" is not used again

    # max_conns = 1 on each: one held -> all to the other; both held -> 503 at once
    $_->reset for $ba, $bb;
    my ($m1, $busy) = $hold->('/mc/sleep?ms=15000', $ba, $bb);
    ok($busy, 'max_conns: a slow request holds one server');
    my $free = ($busy && $busy == $ba) ? $bb : $ba;
    my $fid = $free->id;
    $c = $fresh->('/mc/id', 24);
    is_deeply($c, { "200 $fid" => 24 }, 'max_conns: a server at its limit gets no new request');
    $pids = $free->stats->{peer_pids} || {};
    is(scalar(grep { $workers{$_} } keys %$pids), 2,
       'max_conns: counted per instance (both workers avoided the busy server)');
    $free->reset;
    my ($m2) = $hold->('/mc/sleep?ms=15000', $free);
    is($free->stats->{requests}, 1, 'max_conns: a second slow request holds the other server');
    my $before = $ba->stats->{requests} + $bb->stats->{requests};
    $c = $fresh->('/mc/id', 16);
    is_deeply($c, { '503 ' => 16 }, 'max_conns: every server at its limit: 503');
    is($ba->stats->{requests} + $bb->stats->{requests}, $before,
       'max_conns: no request reached a backend (no queueing, no connect)');
    is(status_of(http_read_response($m1, timeout => 40)), 200, 'max_conns: held request 1 done');
    is(status_of(http_read_response($m2, timeout => 40)), 200, 'max_conns: held request 2 done');
    close $_ for $m1, $m2;
    is(status_of(http_get($port, '/mc/id')), 200, 'max_conns: served again once released');
    $p->stop;
}

# ---- the keep-alive pool ---------------------------------------------------------------------

{
    my $p = Portico->new(start => 0);
    my %b = map { $_->[0] => PorticoBackend->new(port => $p->port($_->[1]), id => $_->[0]) }
            ([kr => 2], [kt => 3], [k0 => 4], [kb => 5], [kc => 6], [kl => 7]);
    $p->write_conf(<<'EOF');
upstreams = (
  { name = "kr"; keepalive_requests = 3; keepalive_timeout = "60s";
    servers = ( { address = "127.0.0.1:%%PORT2%%"; } ); },
  { name = "kt"; keepalive_timeout = "1s"; servers = ( { address = "127.0.0.1:%%PORT3%%"; } ); },
  { name = "k0"; keepalive = 0; servers = ( { address = "127.0.0.1:%%PORT4%%"; } ); },
  { name = "kb"; keepalive = 2; keepalive_timeout = "60s";
    servers = ( { address = "127.0.0.1:%%PORT5%%"; } ); },
  { name = "kc"; servers = ( { address = "127.0.0.1:%%PORT6%%"; } ); },
  { name = "kl"; keepalive_timeout = "60s"; servers = ( { address = "127.0.0.1:%%PORT7%%"; } ); }
);
servers = ( {
  listen = ["127.0.0.1:%%PORT1%%"];
  routes = (
    { match = { path_prefix = "/kr/"; }; proxy = { upstream = "kr"; strip_prefix = true; }; },
    { match = { path_prefix = "/kt/"; }; proxy = { upstream = "kt"; strip_prefix = true; }; },
    { match = { path_prefix = "/k0/"; }; proxy = { upstream = "k0"; strip_prefix = true; }; },
    { match = { path_prefix = "/kb/"; }; proxy = { upstream = "kb"; strip_prefix = true; }; },
    { match = { path_prefix = "/kc/"; }; proxy = { upstream = "kc"; strip_prefix = true; }; },
    { match = { path_prefix = "/kl/"; }; proxy = { upstream = "kl"; strip_prefix = true; }; }
  );
} );
EOF
    $p->start;
    my $port = $p->port(1);
    my $settled = sub {
        my ($b, $open, $closed) = @_;
        return $p->wait_for(sub {
            my $st = $b->stats;
            $st && $st->{open} == $open && $st->{peer_closed} == $closed;
        }, 15);
    };

    # keepalive_requests = 3: 10 requests use 4 connections, 3 of them closed by portico
    is(body_of(http_get($port, '/kr/id')), 'kr', "kr: request $_") for 1 .. 10;
    is($b{kr}->stats->{connections}, 4, 'keepalive_requests = 3: 10 requests, 4 connections');
    ok($settled->($b{kr}, 1, 3), 'keepalive_requests: portico closed each used-up connection');

    # keepalive_timeout = "1s": portico closes the idle connection; "60s" keeps it
    is(body_of(http_get($port, '/kl/id')), 'kl', 'kl: answered');
    is(body_of(http_get($port, '/kt/id')), 'kt', 'kt: answered');
    ok($settled->($b{kt}, 0, 1), 'keepalive_timeout = 1s: portico closed the idle connection');
    my $st = $b{kl}->stats;
    is_deeply([ $st->{open}, $st->{peer_closed} ], [1, 0],
              'keepalive_timeout = 60s: the idle connection is still open');
    is(body_of(http_get($port, '/kl/id')), 'kl', 'kl: answered again');
    is($b{kl}->stats->{connections}, 1, 'keepalive_timeout = 60s: reused');

    # keepalive = 0: one connection per request, none kept
    is(body_of(http_get($port, '/k0/id')), 'k0', "k0: request $_") for 1 .. 5;
    is($b{k0}->stats->{connections}, 5, 'keepalive = 0: one connection per request');
    ok($p->wait_for(sub { ($b{k0}->stats->{open} // -1) == 0 }, 15),
       'keepalive = 0: no connection kept open');
    my $echo = json_decode(body_of(http_get($port, '/k0/echo')));
    is_deeply([ map { $_->[1] } grep { lc $_->[0] eq 'connection' } @{ $echo->{headers} || [] } ],
              ['close'], 'keepalive = 0: the upstream request says Connection: close');

    # keepalive = 2: after 6 concurrent requests, 2 idle connections stay
    my @s = map {
        my $s = http_connect($port);
        http_send($s, http_request('GET', '/kb/sleep?ms=4000'));
        $s;
    } 1 .. 6;
    ok($p->wait_for(sub { ($b{kb}->stats->{connections} // 0) == 6 }, 10),
       'keepalive = 2: six concurrent requests, six connections');
    is(body_of(http_read_response($_, timeout => 20)), 'kb', 'kb: answered') for @s;
    close $_ for @s;
    ok($settled->($b{kb}, 2, 4), 'keepalive = 2: two idle connections kept, four closed');
    is(body_of(http_get($port, '/kb/id')), 'kb', 'kb: answered again');
    is($b{kb}->stats->{connections}, 6, 'keepalive = 2: the next request reuses a kept one');

    # an upstream "Connection: close" stops pooling that connection (the backend keeps it)
    is(body_of(http_get($port, '/kc/close-header')), 'kc', "kc: request $_") for 1 .. 2;
    is($b{kc}->stats->{connections}, 2, 'upstream Connection: close: not reused');
    ok($settled->($b{kc}, 0, 2), 'upstream Connection: close: portico closed it');

    # a reload: the old worker closes its pooled connections at once (kl, kr and kb keep
    # theirs for 60 s) and exits
    my @old = $p->worker_pids;
    is($b{kl}->stats->{open}, 1, 'before the reload: kl has a pooled connection');
    $p->signal('HUP');
    ok($p->wait_for(sub { @old && !grep { kill 0, $_ } @old }, 20),
       'HUP: the old worker exits without waiting for its idle upstream connections');
    ok($p->wait_for(sub { ($b{kl}->stats->{open} // -1) == 0 }, 10),
       'HUP: the old worker closed its pooled connections');

    # the connection counters: 28 tries, 8 on a pooled connection (kr 6, kl 1, kb 1)
    $p->signal('QUIT');
    ok($p->wait_exit(20), 'QUIT: the master exits');
    my $log = $p->error_log // '';
    my $counts = 'requests 28, reused 8, opened 20';
    like($log, qr/\[info\] \d+#\d+: upstream connections \(worker\): \Q$counts\E$/m,
         'the worker logs its upstream connection counters at exit');
    like($log, qr/\[info\] \d+#\d+: upstream connections \(total\): \Q$counts\E$/m,
         'the master logs the instance totals at exit');
    $p->stop;
}

# ---- configuration errors, all at once, and -T defaults -------------------------------------

{
    my $p = Portico->new(conf => <<'EOF', start => 0);
upstreams = (
  { name = "h"; balance = "hash"; hash_key = "$uri";
    servers = ( { address = "127.0.0.1:%%PORT2%%"; },
                { address = "127.0.0.1:%%PORT3%%"; backup = true; } ); },
  { name = "i"; balance = "ip_hash";
    servers = ( { address = "127.0.0.1:%%PORT2%%"; },
                { address = "127.0.0.1:%%PORT3%%"; backup = true; } ); },
  { name = "w0"; servers = ( { address = "127.0.0.1:%%PORT2%%"; weight = 0; } ); },
  { name = "wn"; servers = ( { address = "127.0.0.1:%%PORT2%%"; max_conns = -1; } ); },
  { name = "kn"; keepalive = -1; servers = ( { address = "127.0.0.1:%%PORT2%%"; } ); },
  { name = "bal"; balance = "fastest"; servers = ( { address = "127.0.0.1:%%PORT2%%"; } ); },
  { name = "nh"; balance = "hash"; servers = ( { address = "127.0.0.1:%%PORT2%%"; } ); },
  { name = "h"; servers = ( { address = "127.0.0.1:%%PORT2%%"; } ); }
);
servers = ( { listen = ["127.0.0.1:%%PORT1%%"];
  routes = ( { match = { path_prefix = "/"; }; proxy = { upstream = "nope"; }; } ); } );
EOF
    my $f = $p->conf_file;
    my ($rc, $out) = $p->run_t('-t');
    is($rc, 1, '-t: upstream errors fail the check');
    my $l = sub { $p->line_of($_[0]) };
    my $hb = $l->(qr/name = "h"; balance = "hash"/) + 2;
    my $ib = $l->(qr/name = "i"; balance = "ip_hash"/) + 2;
    like($out, qr/^\Q$f\E:$hb: .*backup servers cannot be used with balance = "hash"/m,
         '-t: backup with hash is an error at the backup server');
    like($out, qr/^\Q$f\E:$ib: .*backup servers cannot be used with balance = "ip_hash"/m,
         '-t: backup with ip_hash is an error at the backup server');
    my $w0 = $l->(qr/name = "w0"/);
    like($out, qr/^\Q$f\E:$w0: .*weight: must be between 1 and 1000 \(got 0\)/m, '-t: weight 0');
    my $wn = $l->(qr/name = "wn"/);
    like($out, qr/^\Q$f\E:$wn: .*max_conns: must be between 0 and 1000000 \(got -1\)/m, '-t: negative max_conns');
    my $kn = $l->(qr/name = "kn"/);
    like($out, qr/^\Q$f\E:$kn: .*keepalive: must be between 0 and 100000 \(got -1\)/m, '-t: negative keepalive');
    my $bal = $l->(qr/name = "bal"/);
    like($out, qr/^\Q$f\E:$bal: .*unknown balance "fastest"/m, '-t: unknown balance');
    my $nh = $l->(qr/name = "nh"/);
    like($out, qr/^\Q$f\E:$nh: .*balance = "hash" needs hash_key/m, '-t: hash without hash_key');
    my $dup = $l->(qr/name = "h"; servers/);
    like($out, qr/^\Q$f\E:$dup: .*duplicate upstream name "h"/m, '-t: duplicate upstream name');
    my $rt = $l->(qr/upstream = "nope"/);
    like($out, qr/^\Q$f\E:$rt: .*no upstream named "nope"/m,
         '-t: a route naming an unknown upstream');

    $p->write_conf(<<'EOF');
upstreams = ( { name = "app"; servers = ( { address = "127.0.0.1:%%PORT2%%"; } ); } );
servers = ( { listen = ["127.0.0.1:%%PORT1%%"];
  routes = ( { match = { path_prefix = "/"; }; proxy = { upstream = "app"; }; } ); } );
EOF
    ($rc, $out) = $p->run_t('-T');
    is($rc, 0, '-T: ok');
    my ($up) = $out =~ /^(upstreams = \(.*?^\);)/ms;
    $up //= '';
    for my $kv ('balance = "round_robin";', 'keepalive = 32;', 'keepalive_timeout = "4s";',
                'keepalive_requests = 1000;', 'connect_timeout = "5s";', 'read_timeout = "1m";',
                'send_timeout = "1m";', 'retries = 2;', 'next_upstream = [ "error", "timeout" ];',
                'next_upstream_timeout = "0s";', 'max_fails = 1;', 'fail_timeout = "10s";',
                'weight = 1;', 'max_conns = 0;', 'backup = false;', 'down = false;')
    {
        like($up, qr/^\s*\Q$kv\E$/m, "-T prints the upstream default $kv");
    }
}

# ---- passive health: one server ignores marks; state kept across a reload ------------------

{
    my $p = Portico->new(start => 0);
    my $ba = PorticoBackend->new(port => $p->port(2), id => 'a', mode => ['no-response']);
    my $bb = PorticoBackend->new(port => $p->port(3), id => 'b');
    my $bc = PorticoBackend->new(port => $p->port(4), id => 'c');
    my $conf = sub {
        my ($servers) = @_;
        return <<"EOF";
upstreams = (
  { name = "one"; max_fails = 1; fail_timeout = "60s";
    next_upstream = ["error", "timeout", "502"];
    servers = ( { address = "127.0.0.1:%%PORT4%%"; } ); },
  { name = "ps"; max_fails = 1; fail_timeout = "60s";
    servers = ( $servers ); }
);
servers = ( { listen = ["127.0.0.1:%%PORT1%%"];
  routes = (
    { match = { path_prefix = "/one/"; }; proxy = { upstream = "one"; strip_prefix = true; }; },
    { match = { path_prefix = "/ps/"; }; proxy = { upstream = "ps"; strip_prefix = true; }; }
  ); } );
EOF
    };
    my $both = '{ address = "127.0.0.1:%%PORT2%%"; }, { address = "127.0.0.1:%%PORT3%%"; }';
    $p->write_conf($conf->($both));
    $p->start;
    $p->allow(qr/upstream/);
    my $port = $p->port(1);
    my $reload = sub {
        my ($text) = @_;
        my %old = map { $_ => 1 } $p->worker_pids;
        $p->write_conf($text);
        $p->signal('HUP');
        return $p->wait_for(sub {
            my @w = $p->worker_pids;
            @w && !grep { $old{$_} } @w and !grep { kill 0, $_ } keys %old;
        }, 20);
    };

    # one server: a failure (a listed status) does not mark it down
    is(status_of(http_get($port, '/one/status?code=502')), 502, 'one server: a failing answer');
    is(body_of(http_get($port, '/one/id')), 'c', 'one server: still used after max_fails failures');
    is(status_of(http_get($port, '/one/status?code=502')), 502, 'one server: failing again');
    is(body_of(http_get($port, '/one/id')), 'c', 'one server: passive marks are ignored');

    # a fails once (no response) and is marked down for 60 s; the client never notices
    my %got;
    $got{ body_of(http_get($port, '/ps/id')) }++ for 1 .. 4;
    is_deeply(\%got, { b => 4 }, 'passive: every answer from b');
    is($ba->stats->{requests}, 1, 'passive: a was tried once, then marked down');
    ok($reload->($conf->($both =~ s/PORT3%%"; }/PORT3%%"; weight = 2; }/r)),
       'HUP keeping both servers: new workers');
    %got = ();
    $got{ body_of(http_get($port, '/ps/id')) }++ for 1 .. 6;
    is_deeply(\%got, { b => 6 }, 'passive state survives a reload for the same server');
    is($ba->stats->{requests}, 1, 'passive: a still gets nothing after the reload');

    # removing a resets its state: when it comes back it is tried again
    ok($reload->($conf->('{ address = "127.0.0.1:%%PORT3%%"; }')), 'HUP removing a');
    is(body_of(http_get($port, '/ps/id')), 'b', 'a removed: b answers');
    ok($reload->($conf->($both)), 'HUP adding a back');
    %got = ();
    $got{ body_of(http_get($port, '/ps/id')) }++ for 1 .. 4;
    is_deeply(\%got, { b => 4 }, 'a back: the client never notices its failure');
    is($ba->stats->{requests}, 2, 'a removed and added again: fresh state, tried again');
    $p->stop;
}

done_testing();
