#!/usr/bin/perl
# proxy_websocket.t: WebSocket through the proxy (docs/http.md): with `websocket = true` the
# upstream's 101 starts a byte tunnel (echo of small and large frames, ping, close); with
# `websocket = false` (the default) Upgrade is dropped and the request is an ordinary one;
# h2c upgrades are never passed on.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Portico;
use PorticoBackend;
use Digest::SHA qw(sha1);
use MIME::Base64 qw(encode_base64);
use Time::HiRes qw(time);

skip_unless_module('proxy');

my $p = Portico->new(start => 0);
my $ba = PorticoBackend->new(port => $p->port(2), id => 'a');
$p->write_conf(<<'EOF2');
upstreams = ( { name = "app"; servers = ( { address = "127.0.0.1:%%PORT2%%"; } ); } );
servers = ( {
  listen = ["127.0.0.1:%%PORT1%%"];
  routes = (
    { match = { path_prefix = "/on/"; };  
      proxy = { upstream = "app"; strip_prefix = true; websocket = true; }; },
    { match = { path_prefix = "/off/"; }; 
      proxy = { upstream = "app"; strip_prefix = true; websocket = false; }; },
    { match = { path_prefix = "/"; };     proxy = { upstream = "app"; }; }
  );
} );
EOF2
$p->start;
my $port = $p->port(1);

my $key = 'dGhlIHNhbXBsZSBub25jZQ==';
my $accept = encode_base64(sha1($key . '258EAFA5-E914-47DA-95CA-C5AB0DC85B11'), '');

sub ws_request
{
    my ($path, @extra) = @_;
    return http_request('GET', $path, Upgrade => 'websocket', Connection => 'Upgrade',
                        'Sec-WebSocket-Key' => $key, 'Sec-WebSocket-Version' => '13', @extra);
}

sub frame
{
    my ($op, $payload) = @_;
    my $mask = pack('N', 0x12345678);
    my $len = length $payload;
    my $h = chr(0x80 | $op);
    if ($len < 126) {
        $h .= chr(0x80 | $len);
    } elsif ($len < 65536) {
        $h .= chr(0x80 | 126) . pack('n', $len);
    } else {
        $h .= chr(0x80 | 127) . pack('NN', 0, $len);
    }
    my $m = $payload ^ (substr($mask x (int($len / 4) + 1), 0, $len));
    return $h . $mask . $m;
}

# Reads one unmasked frame: (opcode, payload), or () on timeout/close.
sub read_frame
{
    my ($s, $buf) = @_;
    my $deadline = time + 5;
    my $need = sub {
        my ($n) = @_;
        while (length($$buf) < $n) {
            return 0 if time > $deadline;
            my $rin = '';
            vec($rin, fileno($s), 1) = 1;
            my $k = select(my $rout = $rin, undef, undef, $deadline - time);
            return 0 unless $k && $k > 0;
            my $r = sysread($s, my $chunk, 65536);
            return 0 unless $r;
            $$buf .= $chunk;
        }
        return 1;
    };
    $need->(2) or return ();
    my ($b0, $b1) = unpack('CC', $$buf);
    my $len = $b1 & 0x7f;
    my $pos = 2;
    if ($len == 126) {
        $need->(4) or return ();
        $len = unpack('n', substr($$buf, 2, 2));
        $pos = 4;
    } elsif ($len == 127) {
        $need->(10) or return ();
        my ($hi, $lo) = unpack('NN', substr($$buf, 2, 8));
        $len = $lo;
        $pos = 10;
    }
    $need->($pos + $len) or return ();
    my $payload = substr($$buf, $pos, $len);
    substr($$buf, 0, $pos + $len, '');
    return ($b0 & 0x0f, $payload);
}

# websocket = true
{
    my $s = http_connect($port);
    http_send($s, ws_request('/on/ws'));
    my $head = http_read_response($s, timeout => 5);
    like($head, qr{^HTTP/1\.1 101 }, 'websocket = true: 101');
    like($head, qr/^Upgrade:\s*websocket\r$/mi, '101 carries Upgrade: websocket');
    like($head, qr/^Sec-WebSocket-Accept:\s*\Q$accept\E\r$/mi, 'Sec-WebSocket-Accept passed on');
    my $buf = ${*$s}{portico_buf} // '';
    ${*$s}{portico_buf} = '';

    http_send($s, frame(1, 'hello'));
    my ($op, $pl) = read_frame($s, \$buf);
    is($op, 1, 'text frame echoed: opcode');
    is($pl, 'hello', 'text frame echoed: payload');

    my $big = join('', map { chr($_ % 251) } 0 .. 199_999);
    http_send($s, frame(2, $big));
    ($op, $pl) = read_frame($s, \$buf);
    is($op, 2, 'binary 200 kB frame echoed: opcode');
    ok(defined $pl && $pl eq $big, 'binary 200 kB frame echoed: payload');

    http_send($s, frame(9, 'p'));
    ($op, $pl) = read_frame($s, \$buf);
    is($op, 10, 'ping answered with pong through the tunnel');

    http_send($s, frame(8, pack('n', 1000)));
    ($op, $pl) = read_frame($s, \$buf);
    is($op, 8, 'close frame echoed');
    ok(http_closed($s, 5), 'tunnel closed after the backend closed');
    close $s;
}

# websocket = false: Upgrade dropped, ordinary request
{
    my ($st, $h, $b) = http_parse(http_raw($port, ws_request('/off/ws', Connection => 'close')));
    isnt($st, 101, 'websocket = false: no 101');
    is($st, 426, 'websocket = false: the backend saw no Upgrade (its 426 passed on)');

    ($st, $h, $b) = http_parse(http_raw($port, ws_request('/off/echo', Connection => 'close')));
    my $e = json_decode($b);
    ok($e && !grep({ lc $_->[0] eq 'upgrade' } @{ $e->{headers} }),
       'websocket = false: Upgrade not passed on');

    ($st) = http_parse(http_raw($port, ws_request('/ws', Connection => 'close')));
    is($st, 426, 'default route (no websocket setting): no tunnel');
}

# h2c never passed on, even where websocket is allowed
{
    my ($st, $h, $b) = http_parse(http_get($port, '/on/echo', Upgrade => 'h2c',
                                           'HTTP2-Settings' => 'AAMAAABkAAQAoAAAAAIAAAAA',
                                           Connection => 'Upgrade, HTTP2-Settings, close'));
    is($st, 200, 'h2c upgrade: ordinary 200');
    my $e = json_decode($b);
    ok($e && !grep({ $_->[0] =~ /^(upgrade|http2-settings)$/i } @{ $e->{headers} }),
       'h2c: Upgrade and HTTP2-Settings dropped');
}

$p->stop;
done_testing();
