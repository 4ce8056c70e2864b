#!/usr/bin/perl
# realip.t: real_ip (docs/settings.md, docs/http.md): off by default (the header ignored); with a
# trusted peer the client is the rightmost untrusted address of X-Forwarded-For (trusted
# entries skipped, the leftmost when all are trusted, an unparsable entry stops the walk);
# an untrusted peer's header is ignored; IPv6 entries and peers; every field of the header
# counts; a custom header (X-Real-IP); unix-socket peers with "unix:"; the access log and
# the upstream (X-Real-IP, X-Forwarded-For) see the result; bad `from` entries fail -t with
# FILE:LINE; -T prints the setting back; $realip_remote_addr is the peer.

use strict;
use warnings;
use Test::More;
use IO::Socket::UNIX;
use lib 't/lib';
use Portico;
use PorticoBackend;

skip_unless_module('realip', 'return', 'proxy', 'access_log');

my $v6 = have_ipv6();

sub body_of
{
    my ($raw) = @_;
    my ($s, $h, $b) = http_parse($raw);
    return defined $s && $s == 200 ? $b : "status " . (defined $s ? $s : 'none');
}

# $remote_addr as the return route sees it, with the given request headers.
sub addr_of
{
    my ($port, @h) = @_;
    return body_of(http_get($port, '/ip', @h));
}

# The headers the echo backend saw: { lc name => [values] }.
sub seen
{
    my ($raw) = @_;
    my ($s, $h, $b) = http_parse($raw);
    my $e = json_decode($b) or return {};
    my %m;
    push @{ $m{ lc $_->[0] } }, $_->[1] for @{ $e->{headers} };
    return \%m;
}

my $routes = <<'EOF';
  routes = (
    { match = { path = "/ip"; }; return = { status = 200; body = "$remote_addr\n"; }; },
    { match = { path = "/peer"; };
      return = { status = 200; body = "$realip_remote_addr $remote_addr\n"; }; },
    { match = { path_prefix = "/"; }; proxy = { upstream = "app"; }; }
  );
EOF

my $listen6 = $v6 ? ', "[::1]:%%PORT3%%"' : '';

# ---- off by default ------------------------------------------------------------------------

{
    my $p = Portico->new(conf => <<EOF);
servers = ( { listen = ["127.0.0.1:%%PORT1%%"];
  routes = ( { match = { path = "/ip"; };
               return = { status = 200; body = "\$remote_addr\\n"; }; } );
} );
EOF
    my $port = $p->port(1);
    is(addr_of($port), "127.0.0.1\n", 'off: $remote_addr is the peer');
    is(addr_of($port, 'X-Forwarded-For' => '203.0.113.7'), "127.0.0.1\n",
       'off by default: X-Forwarded-For ignored');
    is(addr_of($port, 'X-Real-IP' => '203.0.113.7'), "127.0.0.1\n",
       'off by default: X-Real-IP ignored');
    $p->stop;
}

# ---- trusted peer: X-Forwarded-For -------------------------------------------------------

my $p = Portico->new(start => 0);
my $be = PorticoBackend->new(port => $p->port(2), id => 'a');
$p->write_conf(<<EOF);
http = {
  real_ip = { from = ["127.0.0.0/8", "10.0.0.0/8", "2001:db8::/32"]; };
  log_formats = ( { name = "ip"; format = "\$remote_addr \$request_uri"; } );
  access_log = { path = "logs/access.log"; format = "ip"; };
};
upstreams = ( { name = "app"; servers = ( { address = "127.0.0.1:%%PORT2%%"; } ); } );
servers = ( { listen = ["127.0.0.1:%%PORT1%%"$listen6];
$routes} );
EOF
$p->start;
my $port = $p->port(1);

is(addr_of($port), "127.0.0.1\n", 'trusted peer without the header: the peer');
is(addr_of($port, 'X-Forwarded-For' => '203.0.113.7'), "203.0.113.7\n",
   'trusted peer: the address in X-Forwarded-For');
is(addr_of($port, 'X-Forwarded-For' => '198.51.100.1, 203.0.113.7'), "203.0.113.7\n",
   'rightmost untrusted address, not the leftmost');
is(addr_of($port, 'X-Forwarded-For' => '203.0.113.7, 10.1.1.1'), "203.0.113.7\n",
   'a trusted entry on the right is skipped');
is(addr_of($port, 'X-Forwarded-For' => '198.51.100.1, 203.0.113.7, 10.1.1.1, 127.0.0.9'),
   "203.0.113.7\n", 'several trusted entries skipped (recursive)');
is(addr_of($port, 'X-Forwarded-For' => '10.0.0.1, 10.0.0.2, 127.0.0.3'), "10.0.0.1\n",
   'all trusted: the leftmost');
is(addr_of($port, 'X-Forwarded-For' => '203.0.113.7, garbage, 10.0.0.5'), "10.0.0.5\n",
   'an unparsable entry stops the walk at the last good address');
is(addr_of($port, 'X-Forwarded-For' => '203.0.113.7, 10.0.0.5, 10.0.0.300'), "127.0.0.1\n",
   'unparsable rightmost entry: the header is ignored');
is(addr_of($port, 'X-Forwarded-For' => 'unknown'), "127.0.0.1\n",
   'only garbage: the peer');
is(addr_of($port, 'X-Forwarded-For' => ''), "127.0.0.1\n", 'empty header: the peer');
is(addr_of($port, 'X-Forwarded-For' => ' , ,'), "127.0.0.1\n", 'only commas: the peer');
is(addr_of($port, 'X-Forwarded-For' => '203.0.113.7,,10.0.0.1 ,'), "203.0.113.7\n",
   'empty entries and spaces skipped');
is(addr_of($port, 'X-Forwarded-For' => '203.0.113.7 10.0.0.1'), "127.0.0.1\n",
   'entries are separated by commas only');
is(addr_of($port, 'X-Forwarded-For' => '203.0.113.9:8080, 10.0.0.1'), "203.0.113.9\n",
   'an IPv4 entry with a port');
is(addr_of($port, 'X-Forwarded-For' => '1.2.3.4.5'), "127.0.0.1\n", 'bad IPv4: ignored');
is(addr_of($port, 'x-forwarded-for' => '203.0.113.8'), "203.0.113.8\n",
   'header name matched case-insensitively');
is(addr_of($port, 'X-Real-IP' => '203.0.113.7'), "127.0.0.1\n",
   'X-Real-IP is not the configured header: ignored');
is(body_of(http_get($port, '/peer', 'X-Forwarded-For' => '203.0.113.7')),
   "127.0.0.1 203.0.113.7\n", '$realip_remote_addr is the peer, $remote_addr the client');

# every field of the header, in order
{
    my $raw = http_raw($port, "GET /ip HTTP/1.1\r\nHost: a\r\nConnection: close\r\n"
                       . "X-Forwarded-For: 198.51.100.9\r\nX-Forwarded-For: 203.0.113.50, "
                       . "10.9.9.9\r\n\r\n");
    is(body_of($raw), "203.0.113.50\n", 'two X-Forwarded-For fields read as one list');
    $raw = http_raw($port, "GET /ip HTTP/1.1\r\nHost: a\r\nConnection: close\r\n"
                    . "X-Forwarded-For: 198.51.100.9\r\nX-Forwarded-For: 10.9.9.9\r\n\r\n");
    is(body_of($raw), "198.51.100.9\n", 'the walk continues into the earlier field');
}

# IPv6 entries
is(addr_of($port, 'X-Forwarded-For' => '2001:db9::7'), "2001:db9::7\n", 'an IPv6 client');
is(addr_of($port, 'X-Forwarded-For' => '2001:db9::7, 2001:db8:1::5'), "2001:db9::7\n",
   'a trusted IPv6 entry skipped');
is(addr_of($port, 'X-Forwarded-For' => '[2001:db9::8]:4430, 10.0.0.1'), "2001:db9::8\n",
   'a bracketed IPv6 entry with a port');
is(addr_of($port, 'X-Forwarded-For' => '[2001:db9::8]'), "2001:db9::8\n",
   'a bracketed IPv6 entry');
is(addr_of($port, 'X-Forwarded-For' => '2001:db9::1::2'), "127.0.0.1\n",
   'bad IPv6: ignored');
is(addr_of($port, 'X-Forwarded-For' => '::ffff:10.0.0.1, 2001:db8::2'), "::ffff:10.0.0.1\n",
   'all trusted (an IPv4-mapped entry matches 10.0.0.0/8): the leftmost');
is(addr_of($port, 'X-Forwarded-For' => '203.0.113.1, ::ffff:10.0.0.1'), "203.0.113.1\n",
   'an IPv4-mapped entry in an IPv4 range is skipped');

SKIP: {
    skip 'no IPv6 loopback', 2 unless $v6;
    is(addr_of($p->port(3), 'X-Forwarded-For' => '203.0.113.7', -host => '::1'), "::1\n",
       'IPv6 peer ::1 not in from: header ignored');
    is(addr_of($p->port(3), -host => '::1'), "::1\n", 'IPv6 peer: $remote_addr is ::1');
}

# the access log and the upstream see the client
{
    is(addr_of($port, 'X-Forwarded-For' => '192.0.2.44, 10.0.0.1'), "192.0.2.44\n",
       'request for the access log');
    my $up = seen(http_get($port, '/echo', 'X-Forwarded-For' => '203.0.113.7, 10.1.1.1',
                           'X-Real-IP' => '9.9.9.9'));
    is_deeply($up->{'x-real-ip'}, ['203.0.113.7'], 'upstream X-Real-IP = the real client');
    is_deeply($up->{'x-forwarded-for'}, ['203.0.113.7, 10.1.1.1, 127.0.0.1'],
              'upstream X-Forwarded-For = the list as sent + ", 127.0.0.1"');
    $up = seen(http_get($port, '/echo/2'));
    is_deeply($up->{'x-real-ip'}, ['127.0.0.1'], 'no header: upstream X-Real-IP = the peer');
    is_deeply($up->{'x-forwarded-for'}, ['127.0.0.1'], 'no header: X-Forwarded-For = peer');

    my $log = '';
    wait_until(sub {
        $log = $p->access_log // '';
        return $log =~ m{^203\.0\.113\.7 /echo$}m && $log =~ m{^127\.0\.0\.1 /echo/2$}m;
    }, 10);
    like($log, qr{^192\.0\.2\.44 /ip$}m, 'access log: $remote_addr is the real client');
    like($log, qr{^203\.0\.113\.7 /echo$}m, 'access log: the proxied request too');
    like($log, qr{^127\.0\.0\.1 /echo/2$}m, 'access log: the peer without the header');
}
$p->stop;

# ---- peer not trusted; a custom header ---------------------------------------------------

{
    my $q = Portico->new(conf => <<EOF);
http = { real_ip = { from = ["10.0.0.0/8", "::1"]; header = "X-Real-IP"; }; };
servers = ( { listen = ["127.0.0.1:%%PORT1%%"$listen6];
  routes = ( { match = { path = "/ip"; };
               return = { status = 200; body = "\$remote_addr\\n"; }; } );
} );
EOF
    is(addr_of($q->port(1), 'X-Real-IP' => '203.0.113.7'), "127.0.0.1\n",
       'peer 127.0.0.1 not in from: header ignored');
    SKIP: {
        skip 'no IPv6 loopback', 4 unless $v6;
        my $p3 = $q->port(3);
        is(addr_of($p3, 'X-Real-IP' => '203.0.113.7', -host => '::1'), "203.0.113.7\n",
           'trusted IPv6 peer ::1, header X-Real-IP: the client');
        is(addr_of($p3, 'X-Real-IP' => '2001:db8::99', -host => '::1'), "2001:db8::99\n",
           'X-Real-IP with an IPv6 client');
        is(addr_of($p3, 'X-Forwarded-For' => '203.0.113.7', -host => '::1'), "::1\n",
           'custom header: X-Forwarded-For ignored');
        is(addr_of($p3, 'X-Real-IP' => 'nonsense', -host => '::1'), "::1\n",
           'X-Real-IP garbage: the peer');
    }
    $q->stop;
}

# ---- unix-socket peers -----------------------------------------------------------------------

{
    my $q = Portico->new(start => 0);
    my $sock = $q->prefix . '/logs/front.sock';
    $q->write_conf(<<EOF);
http = { real_ip = { from = ["unix:"]; }; };
servers = ( { listen = ["127.0.0.1:%%PORT1%%", "unix:$sock"];
  routes = ( { match = { path = "/ip"; };
               return = { status = 200; body = "\$remote_addr\\n"; }; } );
} );
EOF
    $q->start;
    ok(wait_until(sub { -S $sock }, 10), 'unix listener is up');
    my $unix_get = sub {
        my ($hdr) = @_;
        my $s = IO::Socket::UNIX->new(Peer => $sock, Type => SOCK_STREAM) or return "connect: $!";
        print {$s} "GET /ip HTTP/1.1\r\nHost: a\r\nConnection: close\r\n$hdr\r\n";
        my $raw = '';
        my $deadline = time + 10;
        while (time < $deadline) {
            my $n = sysread($s, my $chunk, 65536);
            last unless $n;
            $raw .= $chunk;
        }
        close $s;
        return body_of($raw);
    };
    is($unix_get->("X-Forwarded-For: 203.0.113.5, 10.0.0.1\r\n"), "10.0.0.1\n",
       'unix: trusts unix-socket peers (10.0.0.1 is not in from)');
    is($unix_get->("X-Forwarded-For: 203.0.113.5\r\n"), "203.0.113.5\n",
       'unix: the client from the header');
    is($unix_get->(''), "unix:\n", 'unix peer without the header: unix:');
    is(addr_of($q->port(1), 'X-Forwarded-For' => '203.0.113.5'), "127.0.0.1\n",
       'unix: TCP peers stay untrusted');
    $q->stop;
}

# ---- configuration errors and -T -----------------------------------------------------------

{
    my $q = Portico->new(start => 0);
    my $file = $q->conf_file;
    $q->write_conf(<<'EOF');
http = {
  real_ip = {
    from = [
      "10.0.0.1/8",
      "bogus",
      "10.0.0.0/33",
      "192.168.0.0/16"
    ];
  };
};
servers = ( { listen = ["127.0.0.1:%%PORT1%%"];
  routes = ( { match = { path = "/"; }; return = { status = 204; }; } ); } );
EOF
    my ($rc, $out) = $q->run_t('-t');
    isnt($rc, 0, 'bad real_ip.from: -t fails');
    my $l1 = $q->line_of(qr{"10\.0\.0\.1/8"});
    my $l2 = $q->line_of(qr{"bogus"});
    my $l3 = $q->line_of(qr{"10\.0\.0\.0/33"});
    like($out, qr{^\Q$file\E:$l1: .*"10\.0\.0\.1/8": host bits set}m,
         'FILE:LINE: host bits set') or diag($out);
    like($out, qr{^\Q$file\E:$l2: .*"bogus": invalid address}m, 'FILE:LINE: invalid address');
    like($out, qr{^\Q$file\E:$l3: .*"10\.0\.0\.0/33": prefix length out of range}m,
         'FILE:LINE: prefix length out of range');
    unlike($out, qr{192\.168}, 'the good entry is not reported');

    $q->write_conf(<<'EOF');
http = { real_ip = { from = 5; }; };
servers = ( { listen = ["127.0.0.1:%%PORT1%%"];
  routes = ( { match = { path = "/"; }; return = { status = 204; }; } ); } );
EOF
    ($rc, $out) = $q->run_t('-t');
    my $l = $q->line_of(qr{from = 5});
    isnt($rc, 0, 'real_ip.from = 5: -t fails');
    like($out, qr{^\Q$file\E:$l: .*expected a string or an array of strings}m,
         'FILE:LINE: wrong type') or diag($out);

    $q->write_conf(<<'EOF');
http = { real_ip = { from = ["10.0.0.0/8"]; header = "X Bad"; }; };
servers = ( { listen = ["127.0.0.1:%%PORT1%%"];
  routes = ( { match = { path = "/"; }; return = { status = 204; }; } ); } );
EOF
    ($rc, $out) = $q->run_t('-t');
    $l = $q->line_of(qr{real_ip});
    isnt($rc, 0, 'bad real_ip.header: -t fails');
    like($out, qr{^\Q$file\E:$l: .*"X Bad" is not a valid header name}m,
         'FILE:LINE: bad header name') or diag($out);

    $q->write_conf(<<'EOF');
servers = ( { listen = ["127.0.0.1:%%PORT1%%"];
  routes = ( { match = { path = "/"; }; real_ip = { from = ["10.0.0.0/8"]; };
               return = { status = 204; }; } ); } );
EOF
    ($rc, $out) = $q->run_t('-t');
    isnt($rc, 0, 'real_ip in a route: -t fails');

    $q->write_conf(<<'EOF');
http = { real_ip = { from = ["10.0.0.0/8", "192.0.2.7", "2001:db8::/32", "unix:"];
                     header = "X-Real-IP"; }; };
servers = ( { listen = ["127.0.0.1:%%PORT1%%"];
  routes = ( { match = { path = "/"; }; return = { status = 204; }; } ); } );
EOF
    ($rc, $out) = $q->run_t('-t');
    is($rc, 0, 'good real_ip: -t passes') or diag($out);
    ($rc, $out) = $q->run_t('-T');
    is($rc, 0, '-T exits 0');
    like($out, qr{from = \[ "10\.0\.0\.0/8", "192\.0\.2\.7/32", "2001:db8::/32", "unix:" \]},
         '-T prints real_ip.from') or diag($out);
    like($out, qr{header = "X-Real-IP"}, '-T prints real_ip.header');
}

done_testing();
