#!/usr/bin/perl
# keepalive_timeouts.t: the client-side timers of a kept-alive connection. After a response
# the connection waits under keepalive_timeout; once the first bytes of the next head arrive,
# client_header_timeout bounds the rest of that head (not keepalive_timeout, which is much
# longer here): a head left incomplete on a kept-alive connection is answered 408 (or the
# connection closed) after about client_header_timeout. A complete head arriving in one
# piece is answered, and a silent kept-alive connection is closed after keepalive_timeout.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Portico;
use Time::HiRes qw(time sleep);

my $p = Portico->new(conf => <<'EOF');
http = { client_header_timeout = "1s"; keepalive_timeout = "30s"; };
servers = (
  { listen = ["127.0.0.1:%%PORT1%%"];
    routes = ( { match = { path_prefix = "/"; };
                 return = { status = 200; body = "uri=$uri\n"; }; } ); },
  { listen = ["127.0.0.1:%%PORT2%%"]; keepalive_timeout = "1s";
    routes = ( { match = { path_prefix = "/"; };
                 return = { status = 200; body = "uri=$uri\n"; }; } ); }
);
EOF
my $H = "Host: localhost\r\n";

# an incomplete second head on a kept-alive connection
my $s = http_connect($p->port(1));
http_send($s, "GET /first HTTP/1.1\r\n$H\r\n");
my ($st, undef, $b) = http_parse(http_read_response($s));
is("$st $b", "200 uri=/first\n", 'first request answered');
sleep 0.3;
http_send($s, "GET /second HTTP/1.1\r\n");
my $t0 = time;
ok(http_closed($s, 5), 'incomplete second head: connection closed');
my $took = time - $t0;
ok($took >= 0.8 && $took < 3, sprintf('closed after client_header_timeout (1s), not '
                                     . 'keepalive_timeout (30s): %.2fs', $took));
($st) = http_parse(${*$s}{portico_buf} // '');
ok(!defined $st || $st == 408, 'incomplete second head: 408 or nothing')
    or diag(${*$s}{portico_buf});
close $s;

# a complete head after an idle pause longer than client_header_timeout
$s = http_connect($p->port(1));
http_send($s, "GET /a HTTP/1.1\r\n$H\r\n");
($st, undef, $b) = http_parse(http_read_response($s));
is("$st $b", "200 uri=/a\n", 'keep-alive: first request');
sleep 1.5;
http_send($s, "GET /b HTTP/1.1\r\n$H\r\n");
($st, undef, $b) = http_parse(http_read_response($s));
is("$st $b", "200 uri=/b\n",
   'keep-alive: a request after 1.5 s idle (longer than client_header_timeout) answered');
# the same head in two pieces: the second arrives within client_header_timeout
http_send($s, "GET /c HTTP/1.1\r\n");
sleep 0.5;
http_send($s, "$H\r\n");
($st, undef, $b) = http_parse(http_read_response($s));
is("$st $b", "200 uri=/c\n", 'keep-alive: a head in two pieces 0.5 s apart answered');
close $s;

# keepalive_timeout closes a silent kept-alive connection
$s = http_connect($p->port(2));
http_send($s, "GET /k HTTP/1.1\r\n$H\r\n");
($st, undef, $b) = http_parse(http_read_response($s));
is("$st $b", "200 uri=/k\n", 'keepalive_timeout 1s: request answered');
$t0 = time;
ok(http_closed($s, 5), 'keepalive_timeout 1s: silent connection closed');
$took = time - $t0;
ok($took >= 0.8 && $took < 3, sprintf('closed after about 1s: %.2fs', $took));
close $s;

$p->stop;
done_testing();
