#!/usr/bin/perl
# proxy_headers.t: request and response header handling of the proxy action (docs/http.md,
# "Trust"): hop-by-hop removal, X-Forwarded-*, X-Real-IP, Host as sent, X-Request-Id both
# ways, set_headers replace/remove, Server replaced, upstream hop-by-hop headers removed.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Portico;
use PorticoBackend;

skip_unless_module('proxy');

my $p = Portico->new(start => 0);
my $ba = PorticoBackend->new(port => $p->port(2), id => 'a');
$p->write_conf(<<'EOF2');
http = { request_id = { trust_from = ["127.0.0.1"]; }; };
upstreams = ( { name = "app"; servers = ( { address = "127.0.0.1:%%PORT2%%"; } ); } );
servers = ( {
  listen = ["127.0.0.1:%%PORT1%%"];
  routes = (
    { match = { path_prefix = "/set/"; };
      proxy = { upstream = "app"; strip_prefix = true;
                set_headers = ( { name = "X-Env"; value = "prod"; },
                                { name = "User-Agent"; value = ""; },
                                { name = "X-Via-Host"; value = "h=$host"; } ); }; },
    { match = { path_prefix = "/"; }; proxy = { upstream = "app"; }; }
  );
} );
EOF2
$p->start;
my $port = $p->port(1);

# The headers the upstream saw: { lc name => [values] }.
sub seen
{
    my ($raw) = @_;
    my ($s, $h, $b) = http_parse($raw);
    my $e = json_decode($b) or return ({}, $h, $s);
    my %m;
    push @{ $m{ lc $_->[0] } }, $_->[1] for @{ $e->{headers} };
    return (\%m, $h, $s);
}

my ($up, $h, $s) = seen(http_raw($port, http_request('GET', '/echo',
    Host => 'example.test:81', Connection => 'close, X-Drop', 'X-Drop' => '1',
    'Keep-Alive' => 'timeout=5', 'Proxy-Connection' => 'keep-alive',
    Upgrade => 'h2c', 'HTTP2-Settings' => 'AAMAAABkAAQAoAAAAAIAAAAA',
    'X-Forwarded-For' => '1.2.3.4', 'X-Real-IP' => '9.9.9.9',
    'X-Forwarded-Proto' => 'https', 'X-Forwarded-Host' => 'evil.test',
    'X-Request-Id' => 'abc-123.x:y', 'X-Custom' => 'kept')));
is($s, 200, 'echo with many headers: 200');
is_deeply($up->{host}, ['example.test:81'], 'upstream gets Host as the client sent it');
ok(!$up->{'x-drop'}, 'header listed in Connection removed');
ok(!$up->{'keep-alive'}, 'Keep-Alive removed');
ok(!$up->{'proxy-connection'}, 'Proxy-Connection removed');
ok(!$up->{upgrade}, 'Upgrade: h2c never passed on');
ok(!$up->{'http2-settings'}, 'HTTP2-Settings removed');
ok(!grep({ /x-drop/i } @{ $up->{connection} || [] }),
   'client Connection tokens not passed on');
is_deeply($up->{'x-forwarded-for'}, ['1.2.3.4, 127.0.0.1'], 'X-Forwarded-For appended');
is_deeply($up->{'x-real-ip'}, ['127.0.0.1'], 'X-Real-IP replaced');
is_deeply($up->{'x-forwarded-proto'}, ['http'], 'X-Forwarded-Proto replaced');
is_deeply($up->{'x-forwarded-host'}, ['example.test:81'], 'X-Forwarded-Host = Host as sent');
is_deeply($up->{'x-request-id'}, ['abc-123.x:y'], 'valid client X-Request-Id passed upstream');
is($h->{'x-request-id'}, 'abc-123.x:y', 'the same X-Request-Id returned to the client');
is_deeply($up->{'x-custom'}, ['kept'], 'ordinary header passed on');

($up, $h, $s) = seen(http_get($port, '/echo'));
is_deeply($up->{'x-forwarded-for'}, ['127.0.0.1'], 'X-Forwarded-For set when absent');

($up, $h, $s) = seen(http_raw($port, "GET /echo HTTP/1.1\r\nHost: a\r\nConnection: close\r\n"
    . "X-Forwarded-For: 1.1.1.1\r\nx-forwarded-for: 2.2.2.2, 3.3.3.3\r\n\r\n"));
is_deeply($up->{'x-forwarded-for'}, ['1.1.1.1, 2.2.2.2, 3.3.3.3, 127.0.0.1'],
          'two X-Forwarded-For fields joined in order, then the peer');
my ($rid) = @{ $up->{'x-request-id'} || [''] };
like($rid, qr/^[0-9a-f]{32}$/, 'X-Request-Id generated (32 hex)');
is($h->{'x-request-id'}, $rid, 'generated X-Request-Id: same both ways');

($up, $h, $s) = seen(http_get($port, '/echo', 'X-Request-Id' => 'bad id!'));
($rid) = @{ $up->{'x-request-id'} || [''] };
like($rid, qr/^[0-9a-f]{32}$/, 'invalid client X-Request-Id replaced');
is($h->{'x-request-id'}, $rid, 'replaced X-Request-Id: same both ways');
is(scalar @{ $up->{'x-request-id'} || [] }, 1, 'exactly one X-Request-Id upstream');

# set_headers
($up, $h, $s) = seen(http_get($port, '/set/echo', 'X-Env' => 'dev', 'User-Agent' => 'ua/1',
                              Host => 'site.test'));
is_deeply($up->{'x-env'}, ['prod'], 'set_headers replaces a header of the same name');
ok(!$up->{'user-agent'}, 'set_headers with an empty value removes the header');
is_deeply($up->{'x-via-host'}, ['h=site.test'], 'set_headers expands variables');

# response side
my ($rs, $rh, $rb) = http_parse(http_get($port, '/hop'));
is($rs, 200, '/hop: 200');
is($rh->{server}, 'portico', 'Server: portico');
ok(!exists $rh->{'x-hop'}, 'upstream header listed in its Connection removed');
ok(!exists $rh->{'keep-alive'}, 'upstream Keep-Alive removed');
is($rh->{'x-kept'}, '1', 'ordinary upstream response header kept');
is($rb, "hop\n", '/hop body');

$p->stop;
done_testing();
