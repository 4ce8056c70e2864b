#!/usr/bin/perl
# access_log.t: the access log: the combined format (exact fields), JSON lines with the
# required keys and number types, a named format, escaping, access_log = false, per-server
# files, buffered lines flushed within about a second, and USR1 reopening.

use strict;
use warnings;
use Test::More;
use JSON::PP;
use lib 't/lib';
use Portico;

skip_unless_module('access_log', 'return');

my $p = Portico->new(conf => <<'EOF');
http = {
  log_formats = ( { name = "short"; format = "$remote_addr $request_method $uri $status \"$http_user_agent\""; } );
  access_log = { path = "logs/access.log"; format = "combined"; };
};
servers = (
  { listen = ["127.0.0.1:%%PORT1%%"];
    routes = ( { match = { path = "/missing"; }; return = { status = 404; body = "no\n"; }; },
               { match = { path_prefix = "/"; }; return = { status = 200; body = "ok\n"; }; } ); },
  { listen = ["127.0.0.1:%%PORT2%%"];
    access_log = { path = "logs/json.log"; format = "json"; };
    routes = ( { match = { path_prefix = "/"; }; return = { status = 200; body = "json\n"; }; } ); },
  { listen = ["127.0.0.1:%%PORT3%%"];
    access_log = { path = "logs/short.log"; format = "short"; };
    routes = ( { match = { path_prefix = "/"; }; return = { status = 200; body = "short\n"; }; } ); },
  { listen = ["127.0.0.1:%%PORT4%%"];
    access_log = false;
    routes = ( { match = { path_prefix = "/"; }; return = { status = 200; body = "off\n"; }; } ); }
);
EOF

# Waits (bounded) for a line of log $name containing $needle; returns it.
sub log_line
{
    my ($name, $needle, $timeout) = @_;
    my $found;
    $p->wait_for(sub {
        my $t = $p->access_log($name) // '';
        ($found) = grep { index($_, $needle) >= 0 } split /\n/, $t;
        defined $found;
    }, defined $timeout ? $timeout : 3);
    return $found;
}

my $month = qr/(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)/;

# ---- combined -------------------------------------------------------------------------------

{
    my ($s) = http_parse(http_get($p->port(1), '/c1?a=1', 'User-Agent' => 'agent/1.0',
                                  Referer => 'http://ref.test/'));
    is($s, 200, 'combined: request served');
    my $line = log_line('access.log', '/c1?a=1');
    ok(defined $line, 'combined: line flushed within 3 s');
    like($line // '', qr{^127\.0\.0\.1 - - \[\d{2}/$month/\d{4}:\d{2}:\d{2}:\d{2} \+0000\] "GET /c1\?a=1 HTTP/1\.1" 200 3 "http://ref\.test/" "agent/1\.0"$},
         'combined: exact format');

    http_get($p->port(1), '/missing');
    $line = log_line('access.log', '/missing');
    like($line // '', qr{\] "GET /missing HTTP/1\.1" 404 3 "-" "-"$},
         'combined: status, bytes and absent values as -');

    http_raw($p->port(1), "HEAD /hd HTTP/1.0\r\n\r\n");
    $line = log_line('access.log', '/hd');
    like($line // '', qr{\] "HEAD /hd HTTP/1\.0" 200 0 "-" "-"$}, 'combined: HEAD sends 0 body bytes');

    http_raw($p->port(1), "GET /bad HTTP/1.1\r\n\r\n");
    $line = log_line('access.log', '/bad');
    like($line // '', qr{\] "GET /bad HTTP/1\.1" 400 \d+ }, 'combined: a 400 is logged');

    http_get($p->port(1), '/esc', 'User-Agent' => "x\"y\\z\tw\xe9");
    $line = log_line('access.log', '/esc');
    like($line // '', qr{"x\\x22y\\x5cz\\x09w\\xe9"$}i, 'combined: " \\ control and 8-bit bytes escaped as \\xHH');
}

# ---- json -------------------------------------------------------------------------------------

{
    my ($s, $h) = http_parse(http_get($p->port(2), '/j?x=1', Host => 'json.test',
                                      'User-Agent' => "ua \"q\"\t\xe9"));
    my $line = log_line('json.log', '/j?x=1');
    ok(defined $line, 'json: line flushed');
    my $j = eval { JSON::PP->new->decode($line // '') };
    is(ref $j, 'HASH', 'json: the line parses') or diag($line);
    $j ||= {};
    for my $k (qw(time remote_addr request_id method uri protocol host status body_bytes_sent
                  request_time upstream_addr upstream_status upstream_response_time user_agent
                  referer))
    {
        ok(exists $j->{$k}, "json: key $k");
    }
    like($j->{time} // '', qr/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+00:00$/, 'json: time iso8601');
    is($j->{remote_addr}, '127.0.0.1', 'json: remote_addr');
    is($j->{request_id}, $h->{'x-request-id'}, 'json: request_id is the response X-Request-Id');
    is($j->{method}, 'GET', 'json: method');
    is($j->{uri}, '/j?x=1', 'json: uri');
    is($j->{protocol}, 'HTTP/1.1', 'json: protocol');
    is($j->{host}, 'json.test', 'json: host');
    is($j->{status}, 200, 'json: status');
    is($j->{body_bytes_sent}, 5, 'json: body_bytes_sent');
    is($j->{user_agent}, "ua \"q\"\t\x{e9}", 'json: user_agent escaped and decoded back');
    ok(!defined $j->{referer}, 'json: absent referer is null');
    ok(!defined $j->{upstream_addr}, 'json: absent upstream_addr is null');
    like($line // '', qr/"status"\s*:\s*200[,}]/, 'json: status is a number');
    like($line // '', qr/"body_bytes_sent"\s*:\s*5[,}]/, 'json: body_bytes_sent is a number');
    like($line // '', qr/"request_time"\s*:\s*\d+\.\d{3}[,}]/,
         'json: request_time is a number of seconds with three decimals');
    like($line // '', qr/"referer"\s*:\s*null[,}]/, 'json: null literal');
    unlike($p->access_log('access.log') // '', qr{/j\?x=1}, 'json: not in the http-level log');
}

# ---- named format -----------------------------------------------------------------------------

{
    http_get($p->port(3), '/n1', 'User-Agent' => "a\"b");
    my $line = log_line('short.log', '/n1');
    like($line // '', qr/^127\.0\.0\.1 GET \/n1 200 "a\\x22b"$/i, 'named format: exact line');
}

# ---- access_log = false ---------------------------------------------------------------------

{
    my ($s, $h, $b) = http_parse(http_get($p->port(4), '/offpath'));
    is($b, "off\n", 'access_log = false: served');
    http_get($p->port(1), '/marker-after-off');
    ok(defined log_line('access.log', '/marker-after-off'), 'later line flushed');
    sleep 1.5;
    my $all = join('', map { $p->access_log($_) // '' } qw(access.log json.log short.log));
    unlike($all, qr{/offpath}, 'access_log = false: nothing logged');
}

# ---- reopen on USR1 -------------------------------------------------------------------------

{
    my $logs = $p->prefix . '/logs';
    http_get($p->port(1), '/before-reopen');
    ok(defined log_line('access.log', '/before-reopen'), 'before reopen: logged');
    ok(rename("$logs/access.log", "$logs/access.log.1"), 'log renamed');
    $p->signal('USR1');
    my $ok = $p->wait_for(sub {
        http_get($p->port(1), '/after-reopen');
        my $t = $p->access_log('access.log');
        defined $t && $t =~ m{/after-reopen};
    }, 10);
    ok($ok, 'USR1: a new access.log is created and written');
    unlike($p->access_log('access.log') // '', qr{/before-reopen}, 'USR1: old lines stay in the old file');
    like(read_file("$logs/access.log.1") // '', qr{/before-reopen}, 'USR1: renamed file kept its lines');
}

done_testing();
