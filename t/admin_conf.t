#!/usr/bin/perl
# admin_conf.t: configuration of the runtime server table and the admin API: a
# `resolve = true` server whose name does not resolve is a warning (the instance starts, the
# upstream answers 503 until the resolver gives it addresses) while the same name without
# resolve is an error; max_servers below the configured servers, a bad admin.mode, an
# unknown admin.group and an admin socket on a server's listen address are FILE:LINE errors.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Portico;

skip_unless_module('proxy');
skip_unless_module('admin');

my $p = Portico->new(start => 0);
my $servers = <<'EOF';
servers = ( {
  listen = ["127.0.0.1:%%PORT1%%"];
  routes = ( { match = { path_prefix = "/"; }; proxy = { upstream = "app"; }; } );
} );
EOF

# resolve = true: a warning, and the instance runs
$p->write_conf(<<"EOF");
upstreams = ( { name = "app";
  servers = ( { address = "no-such-host.invalid:80"; resolve = true; } ); } );
$servers
EOF
my $line = $p->line_of(qr/no-such-host/);
my ($rc, $out) = $p->run_t('-t');
is($rc, 0, 'resolve = true with a name that does not resolve: -t passes');
like($out, qr{portico\.conf:$line: warning: upstreams\[0\]\.servers\[0\]: host "no-such-host\.invalid" not found: [^\n]*; resolve = true: the server gets its addresses when the name resolves},
     'FILE:LINE warning');
$p->start;
my ($st) = http_parse(http_get($p->port(1), '/'));
is($st, 503, 'no address yet: 503');
$p->stop;

# without resolve: an error
$p->write_conf(<<"EOF");
upstreams = ( { name = "app"; servers = ( { address = "no-such-host.invalid:80"; } ); } );
$servers
EOF
$line = $p->line_of(qr/no-such-host/);
($rc, $out) = $p->run_t('-t');
isnt($rc, 0, 'the same name without resolve: an error');
like($out, qr{portico\.conf:$line: upstreams\[0\]\.servers\[0\]: host "no-such-host\.invalid" not found},
     'FILE:LINE error');

# max_servers below the configured servers
$p->write_conf(<<"EOF");
upstreams = ( { name = "app"; max_servers = 1;
  servers = ( { address = "127.0.0.1:1"; }, { address = "127.0.0.1:2"; } ); } );
$servers
EOF
$line = $p->line_of(qr/max_servers/);
($rc, $out) = $p->run_t('-t');
isnt($rc, 0, 'max_servers below the configured servers: an error');
like($out, qr{portico\.conf:$line: upstreams\[0\]\.max_servers: upstream "app": max_servers 1 is less than its 2 configured servers},
     'its message');

# admin block errors
for my $t ([ 'mode = "0999";', qr{admin\.mode: "0999" is not an octal mode \(e\.g\. "0660"\)} ],
           [ 'group = "no-such-group-x";', qr{admin\.group: unknown group "no-such-group-x"} ],
           [ 'socket = "' . $p->prefix . '/logs/s.sock"; mode = "0600";', undef ])
{
    my ($set, $re) = @$t;
    $p->write_conf(<<"EOF");
admin = { $set };
upstreams = ( { name = "app"; servers = ( { address = "127.0.0.1:1"; } ); } );
$servers
EOF
    ($rc, $out) = $p->run_t('-t');
    if ($re) {
        isnt($rc, 0, "admin { $set }: an error");
        like($out, qr{portico\.conf:\d+: $re}, '... its message');
    } else {
        is($rc, 0, 'an absolute socket path is fine') or diag($out);
    }
}
$p->write_conf(<<"EOF");
admin = { socket = "logs/a.sock"; };
upstreams = ( { name = "app"; servers = ( { address = "127.0.0.1:1"; } ); } );
servers = ( {
  listen = ["127.0.0.1:%%PORT1%%", "unix:%%PREFIX%%/logs/a.sock"];
  routes = ( { match = { path_prefix = "/"; }; proxy = { upstream = "app"; }; } );
} );
EOF
($rc, $out) = $p->run_t('-t');
isnt($rc, 0, 'the admin socket on a server\'s listen address: an error');
like($out, qr{"unix:[^"]*/logs/a\.sock" is already the listen address of a server},
     '... its message');

done_testing();
