#!/usr/bin/perl
# request_memory.t: the request pool's cap. A module that allocates more than a request may
# use (here `return` with a body template that expands to about 300 KB) gets NULL; the
# request is answered with 500 and the error log names the module and the limit, once.
# The cap is documented in docs/modules.md ("Memory").

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Portico;

skip_unless_module('return');

my $big = '$host' x 30000;
my $p = Portico->new(conf => <<EOF);
servers = ( {
  listen = ["127.0.0.1:%%PORT1%%"];
  routes = (
    { match = { path = "/big"; }; return = { status = 200; body = "$big"; }; },
    { match = { path_prefix = "/"; }; return = { status = 200; body = "small \$host\\n"; }; }
  );
} );
EOF

my ($s, $h, $b) = http_parse(http_get($p->port(1), '/big', Host => 'host.test'));
is($s, 500, 'a template that outgrows the request memory: 500');
my @lines = grep { /request memory limit/ } split /\n/, $p->error_log;
is(scalar @lines, 1, 'one error-log line');
like($lines[0] // '', qr/\[error\] .*module "return": request memory limit of \d+ bytes reached \(\d+ in use, \d+ more asked for\)/,
     'the line names the module and the limit');
like($lines[0] // '', qr/request: "GET \/big HTTP\/1\.1"/, 'the line carries the request');

($s, $h, $b) = http_parse(http_get($p->port(1), '/small', Host => 'host.test'));
is($s, 200, 'another request on the same worker: served');
is($b, "small host.test\n", 'another request: its body');

done_testing();
