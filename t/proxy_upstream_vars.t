#!/usr/bin/perl
# proxy_upstream_vars.t: $upstream_addr, $upstream_status and $upstream_response_time over
# more tries than the proxy keeps without allocating (four): six refused tries are listed in
# order, joined by ", ", in the access log (a guard for the per-try lists, which overflow
# into the request pool after four entries; the output is the same as before that change).

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Portico;

skip_unless_module('proxy');

my $p = Portico->new(start => 0);
my @ports = map { $p->port($_) } 2 .. 7;    # nothing listens: every try is refused

$p->write_conf(<<'EOF2');
worker_processes = 1;
http = {
  log_formats = ( { name = "up";
                    format = "$request_uri $status [$upstream_addr] [$upstream_status] [$upstream_response_time]"; } );
  access_log = { path = "logs/access.log"; format = "up"; };
};
upstreams = (
  { name = "six"; retries = 5; max_fails = 0;
    servers = ( { address = "127.0.0.1:%%PORT2%%"; }, { address = "127.0.0.1:%%PORT3%%"; },
                { address = "127.0.0.1:%%PORT4%%"; }, { address = "127.0.0.1:%%PORT5%%"; },
                { address = "127.0.0.1:%%PORT6%%"; }, { address = "127.0.0.1:%%PORT7%%"; } ); }
);
servers = ( {
  listen = ["127.0.0.1:%%PORT1%%"];
  routes = (
    { match = { path_prefix = "/six/"; };
      proxy = { upstream = "six"; strip_prefix = true; }; }
  );
} );
EOF2
$p->start;

my ($s) = http_parse(http_get($p->port(1), '/six/x', -timeout => 8));
is($s, 502, 'six refused tries: 502');
ok(wait_until(sub { ($p->access_log || '') =~ /^\/six\/x / }, 5), 'logged')
    or diag($p->access_log);
my ($line) = grep { m{^/six/x } } split /\n/, $p->access_log;
like($line, qr{^/six/x 502 \[(127\.0\.0\.1:\d+(?:, )?){6}\] \[502, 502, 502, 502, 502, 502\] \[(\d+\.\d{3}(?:, )?){6}\]$},
     'six entries in each variable, ", " between them');
my ($addrs) = $line =~ /\[([^\]]*)\]/;
is(join(',', sort split /, /, $addrs), join(',', sort map { "127.0.0.1:$_" } @ports),
   'each server once');
my @t = $line =~ /(\d+\.\d{3})/g;
is(scalar @t, 6, 'six times');

$p->stop;
done_testing();
