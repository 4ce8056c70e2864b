#!/usr/bin/perl
# headers.t: route-level response_headers (docs/http.md): added or replaced on 2xx/3xx
# responses, on every response with `always = true`, values with variables.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Portico;

skip_unless_module('headers', 'return');

my $p = Portico->new(conf => <<'EOF2');
servers = ( {
  listen = ["127.0.0.1:%%PORT1%%"];
  routes = (
    { match = { path = "/add"; };
      response_headers = ( { name = "Strict-Transport-Security"; value = "max-age=63072000"; },
                           { name = "X-Method"; value = "$request_method $uri"; } );
      return = { status = 200; body = "add\n"; }; },
    { match = { path = "/replace"; };
      response_headers = ( { name = "Content-Type"; value = "text/x-test"; } );
      return = { status = 200; body = "replace\n"; }; },
    { match = { path = "/redirect"; };
      response_headers = ( { name = "X-Redirect"; value = "yes"; } );
      return = { status = 302; location = "/elsewhere"; }; },
    { match = { path = "/notalways"; };
      response_headers = ( { name = "X-Frame-Options"; value = "DENY"; } );
      return = { status = 404; body = "missing\n"; }; },
    { match = { path = "/always"; };
      response_headers = ( { name = "X-Frame-Options"; value = "DENY"; always = true; } );
      return = { status = 404; body = "missing\n"; }; },
    { match = { path_prefix = "/"; }; return = { status = 200; body = "plain\n"; }; }
  );
} );
EOF2

my $port = $p->port(1);

my ($s, $h, $b) = http_parse(http_get($port, '/add'));
is($s, 200, 'add: 200');
is($h->{'strict-transport-security'}, 'max-age=63072000', 'add: header added');
is($h->{'x-method'}, 'GET /add', 'add: value with variables');
is($b, "add\n", 'add: body untouched');

($s, $h, $b) = http_parse(http_get($port, '/replace'));
is($h->{'content-type'}, 'text/x-test', 'replace: Content-Type replaced (one value)');

($s, $h, $b) = http_parse(http_get($port, '/redirect'));
is($s, 302, 'redirect: 302');
is($h->{'x-redirect'}, 'yes', 'redirect: added on 3xx');

($s, $h, $b) = http_parse(http_get($port, '/notalways'));
is($s, 404, 'not always: 404');
ok(!exists $h->{'x-frame-options'}, 'not always: not added on 4xx');

($s, $h, $b) = http_parse(http_get($port, '/always'));
is($s, 404, 'always: 404');
is($h->{'x-frame-options'}, 'DENY', 'always: added on 4xx');

($s, $h, $b) = http_parse(http_head($port, '/add'));
is($h->{'strict-transport-security'}, 'max-age=63072000', 'HEAD: header added');

($s, $h, $b) = http_parse(http_get($port, '/other'));
ok(!exists $h->{'strict-transport-security'}, 'other route: nothing added');

done_testing();
