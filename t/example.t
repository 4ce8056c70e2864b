#!/usr/bin/perl
# example.t: the example module (docs/modules.md): `example_header = "hi"` on a route adds
# `X-Example: hi` to its responses and defines $example.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Portico;

skip_unless_module('example', 'return');

my $p = Portico->new(conf => <<'EOF2');
servers = ( {
  listen = ["127.0.0.1:%%PORT1%%"];
  routes = (
    { match = { path = "/hi"; }; example_header = "hi"; return = { status = 200; body = "hi\n"; }; },
    { match = { path = "/var"; }; example_header = "there"; return = { status = 200; body = "v=$example\n"; }; },
    { match = { path = "/err"; }; example_header = "e"; return = { status = 404; body = "no\n"; }; },
    { match = { path_prefix = "/"; }; return = { status = 200; body = "plain\n"; }; }
  );
} );
EOF2

my ($s, $h, $b) = http_parse(http_get($p->port(1), '/hi'));
is($s, 200, 'example route: 200');
is($h->{'x-example'}, 'hi', 'example_header = "hi" adds X-Example: hi');
is($b, "hi\n", 'example route: body untouched');

($s, $h, $b) = http_parse(http_head($p->port(1), '/hi'));
is($h->{'x-example'}, 'hi', 'X-Example on HEAD too');

($s, $h, $b) = http_parse(http_get($p->port(1), '/var'));
is($h->{'x-example'}, 'there', 'another value');
is($b, "v=there\n", '$example variable');

($s, $h, $b) = http_parse(http_get($p->port(1), '/other'));
is($b, "plain\n", 'route without the setting: served');
ok(!exists $h->{'x-example'}, 'route without the setting: no X-Example');

{
    my $q = Portico->new(conf => <<'EOF2', start => 0);
servers = ( {
  listen = ["127.0.0.1:%%PORT1%%"];
  routes = ( { match = { path = "/"; }; example_header = 5; return = { status = 200; }; } );
} );
EOF2
    my ($rc, $out) = $q->run_t('-t');
    my $line = $q->line_of(qr/example_header/);
    is($rc, 1, 'example_header with a wrong type: -t fails');
    like($out, qr/portico\.conf:$line: .*example_header/, 'example_header wrong type: FILE:LINE');
}

done_testing();
