#!/usr/bin/perl
# proxy_request_hygiene.t: what the upstream receives, byte for byte, from a backend that
# records each connection: request trailers and chunk extensions dropped and the body
# chunked again by portico; absolute-form targets sent in origin-form with the routed host
# in Host and X-Forwarded-Host; a set_headers Host replacing ours; header names with "_"
# ignored unless http.underscores_in_headers; HTTP/1.0 Upgrade proxied as an ordinary
# request; HTTP/1.0 without Host given the server's name (or the upstream's address).

use strict;
use warnings;
use Test::More;
use File::Path qw(remove_tree);
use Time::HiRes qw(sleep time);
use lib 't/lib';
use Portico;
use PorticoBackend;

skip_unless_module('proxy');

my $p = Portico->new(start => 0);
my $dir = $p->prefix . '/rec';
my $rec = PorticoBackend->recorder(port => $p->port(2), dir => $dir);
my $conf = <<'EOF';
%%HTTP%%
upstreams = ( { name = "rec"; servers = ( { address = "127.0.0.1:%%PORT2%%"; } ); } );
servers = (
 { listen = ["127.0.0.1:%%PORT1%%"];
   names = ["s.test", "*.s.test"];
   routes = (
     { match = { path_prefix = "/ws"; }; proxy = { upstream = "rec"; websocket = true; }; },
     { match = { path_prefix = "/sethost"; };
       proxy = { upstream = "rec"; set_headers = ( { name = "Host"; value = "internal.svc"; } ); }; },
     { match = { path_prefix = "/under"; };
       proxy = { upstream = "rec";
                 set_headers = ( { name = "X-Seen"; value = "[$http_x_under]"; } ); }; },
     { match = { path_prefix = "/"; }; proxy = { upstream = "rec"; }; }
   ); },
 { listen = ["127.0.0.1:%%PORT3%%"];
   names = ["evil.example"];
   routes = ( { match = { path_prefix = "/"; }; return = { status = 403; }; } ); },
 { listen = ["127.0.0.1:%%PORT4%%"];
   routes = ( { match = { path_prefix = "/"; }; proxy = { upstream = "rec"; }; } ); }
);
EOF
(my $c1 = $conf) =~ s/%%HTTP%%/http = { request_id = { trust_from = ["127.0.0.1"]; }; };/;
$p->write_conf($c1);
$p->start;
my $port = $p->port(1);
my $up = "127.0.0.1:" . $p->port(2);

my $OURS = "X-Forwarded-For: 127.0.0.1\r\nX-Real-IP: 127.0.0.1\r\nX-Forwarded-Proto: http\r\n";

# Sends the pieces (a pause between them), returns (status, [recorded connections]).
sub exchange
{
    my ($port_, @pieces) = @_;
    remove_tree($dir, { keep_root => 1 });
    my $s = http_connect($port_) or die "connect: $!";
    for my $i (0 .. $#pieces) {
        sleep 0.3 if $i > 0;
        http_send($s, $pieces[$i]);
    }
    my $raw = http_read_response($s, 'GET', 5);
    close $s;
    my ($st) = $raw =~ m{^HTTP/1\.[01] (\d{3})};
    my @conns;
    my $deadline = time + 5;
    until ((@conns = recorded($dir)) || time > $deadline) {
        sleep 0.02;
    }
    sleep 0.1;
    return ($st, [recorded($dir)]);
}

sub show
{
    my ($b) = @_;
    return '(none)' unless defined $b;
    $b =~ s/\r/\\r/g;
    $b =~ s/\n/\\n\n/g;
    return $b;
}

# ---- trailers and chunk extensions dropped, the body chunked by portico ----
my ($st, $got) = exchange($port,
    "POST /up HTTP/1.1\r\nHost: s.test\r\nTransfer-Encoding: chunked\r\nTrailer: Host\r\n"
    . "X-Request-Id: hyg-1\r\nConnection: close\r\n\r\na;first=1\r\n0123456789\r\n",
    "5;ext=\"two\"\r\nhello\r\n0;end\r\nHost: evil.example\r\nX-Forwarded-For: 6.6.6.6\r\n"
    . "Authorization: Basic Zm9vOmJhcg==\r\n\r\n");
is($st, 200, 'streamed chunked body with trailers: 200');
is(show($got->[0]), show("POST /up HTTP/1.1\r\nHost: s.test\r\n$OURS"
    . "X-Forwarded-Host: s.test\r\nX-Request-Id: hyg-1\r\nTransfer-Encoding: chunked\r\n"
    . "Connection: keep-alive\r\n\r\na\r\n0123456789\r\n5\r\nhello\r\n0\r\n\r\n"),
   'upstream gets clean chunks: no extensions, no trailers, no Trailer header');

# a long body: de-chunked content intact, portico's chunks at most one buffer each
my $big = join('', map { chr(65 + $_ % 26) } 0 .. 39999);
($st, $got) = exchange($port,
    "POST /big HTTP/1.1\r\nHost: s.test\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n"
    . "\r\n" . sprintf('%x;big=1', length $big) . "\r\n$big\r\n0\r\nX-T: 1\r\n\r\n");
is($st, 200, 'long chunked body: 200');
my ($head, $body) = split /\r\n\r\n/, $got->[0] // '', 2;
like($head // '', qr/\r\nTransfer-Encoding: chunked\r\n/, 'long body: sent chunked');
my ($data, $ok, @sizes) = ('', 1);
while (defined $body && $body =~ s/^([0-9a-f]+)\r\n//) {
    my $n = hex $1;
    push @sizes, $n;
    last if $n == 0;
    $data .= substr($body, 0, $n, '');
    $ok = 0 unless $body =~ s/^\r\n//;
}
ok($ok && $body eq "\r\n" && $sizes[-1] == 0, 'long body: well-formed chunks, empty trailer')
    or diag("sizes @sizes; left " . length($body // ''));
ok($data eq $big, 'long body: the data intact');
ok(@sizes >= 3 && !grep({ $_ > 16384 } @sizes), "long body: chunks of portico's own (@sizes)");

# ---- absolute-form: one host for routing and for the backend ----
($st, $got) = exchange($port, "GET http://S.test:8080/abs?x HTTP/1.1\r\nHost: evil.example\r\n"
                               . "X-Request-Id: hyg-2\r\nConnection: close\r\n\r\n");
is($st, 200, 'absolute-form routed by its authority (not the 403 server of Host)');
is(show($got->[0]), show("GET /abs?x HTTP/1.1\r\nHost: S.test:8080\r\n$OURS"
    . "X-Forwarded-Host: S.test:8080\r\nX-Request-Id: hyg-2\r\nConnection: keep-alive\r\n\r\n"),
   'absolute-form: origin-form target, Host and X-Forwarded-Host from the authority');
($st, $got) = exchange($port, "GET http://a.s.test HTTP/1.1\r\nHost: evil.example\r\n"
                               . "X-Request-Id: hyg-3\r\nConnection: close\r\n\r\n");
like($got->[0] // '', qr{^GET / HTTP/1\.1\r\nHost: a\.s\.test\r\n},
     'absolute-form without a path: "/"');

# ---- a set_headers Host replaces ours ----
($st, $got) = exchange($port, "GET /sethost HTTP/1.1\r\nHost: s.test\r\nX-Request-Id: hyg-4\r\n"
                               . "Connection: close\r\n\r\n");
is(show($got->[0]), show("GET /sethost HTTP/1.1\r\n$OURS"
    . "X-Forwarded-Host: s.test\r\nX-Request-Id: hyg-4\r\nHost: internal.svc\r\n"
    . "Connection: keep-alive\r\n\r\n"), 'set_headers Host: exactly one Host, the configured one');

# ---- underscores in header names: ignored by default ----
my $under = "GET /under HTTP/1.1\r\nHost: s.test\r\nX_Real_IP: 6.6.6.6\r\n"
            . "X_Under: v\r\nX-Request-Id: hyg-5\r\nConnection: close\r\n\r\n";
($st, $got) = exchange($port, $under);
is(show($got->[0]), show("GET /under HTTP/1.1\r\nHost: s.test\r\n$OURS"
    . "X-Forwarded-Host: s.test\r\nX-Request-Id: hyg-5\r\nX-Seen: []\r\n"
    . "Connection: keep-alive\r\n\r\n"),
   'underscore names dropped, and invisible to $http_* (default)');

# ---- Proxy (httpoxy) ----
($st, $got) = exchange($port, "GET /p HTTP/1.1\r\nHost: s.test\r\nProxy: http://6.6.6.6:3128\r\n"
                               . "X-Request-Id: hyg-6\r\nConnection: close\r\n\r\n");
is(show($got->[0]), show("GET /p HTTP/1.1\r\nHost: s.test\r\n$OURS"
    . "X-Forwarded-Host: s.test\r\nX-Request-Id: hyg-6\r\nConnection: keep-alive\r\n\r\n"),
   'Proxy request header dropped');

# ---- HTTP/1.0 Upgrade: an ordinary request ----
($st, $got) = exchange($port, "GET /ws HTTP/1.0\r\nHost: s.test\r\nUpgrade: websocket\r\n"
    . "Connection: upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    . "Sec-WebSocket-Version: 13\r\nX-Request-Id: hyg-7\r\n\r\n");
is($st, 200, 'HTTP/1.0 Upgrade: the ordinary response');
is(show($got->[0]), show("GET /ws HTTP/1.1\r\nHost: s.test\r\n"
    . "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n$OURS"
    . "X-Forwarded-Host: s.test\r\nX-Request-Id: hyg-7\r\nConnection: keep-alive\r\n\r\n"),
   'HTTP/1.0 Upgrade: no Upgrade, no Connection: upgrade upstream');

# ---- HTTP/1.0 without Host ----
($st, $got) = exchange($port, "GET /h10 HTTP/1.0\r\nX-Request-Id: hyg-8\r\n\r\n");
is(show($got->[0]), show("GET /h10 HTTP/1.1\r\nHost: s.test\r\n$OURS"
    . "X-Request-Id: hyg-8\r\nConnection: keep-alive\r\n\r\n"),
   'HTTP/1.0 without Host: the server\'s first name, no X-Forwarded-Host');
($st, $got) = exchange($p->port(4), "GET /h10 HTTP/1.0\r\nX-Request-Id: hyg-9\r\n\r\n");
is(show($got->[0]), show("GET /h10 HTTP/1.1\r\nHost: $up\r\n$OURS"
    . "X-Request-Id: hyg-9\r\nConnection: keep-alive\r\n\r\n"),
   'HTTP/1.0 without Host, server without names: the upstream address as configured');

$p->check_logs;
$p->stop;

# ---- http.underscores_in_headers = true ----
my $p2 = Portico->new(start => 0);
$dir = $p2->prefix . '/rec';
my $rec2 = PorticoBackend->recorder(port => $p2->port(2), dir => $dir);
(my $c2 = $conf) =~ s/%%HTTP%%/http = { underscores_in_headers = true; request_id = { trust_from = ["127.0.0.1"]; }; };/;
$p2->write_conf($c2);
$p2->start;
($st, $got) = exchange($p2->port(1), $under);
is(show($got->[0]), show("GET /under HTTP/1.1\r\nHost: s.test\r\nX_Real_IP: 6.6.6.6\r\n"
    . "X_Under: v\r\n$OURS"
    . "X-Forwarded-Host: s.test\r\nX-Request-Id: hyg-5\r\nX-Seen: [v]\r\n"
    . "Connection: keep-alive\r\n\r\n"),
   'underscores_in_headers = true: passed on and seen by $http_x_under');
$p2->check_logs;

done_testing;
