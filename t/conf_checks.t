#!/usr/bin/perl
# conf_checks.t: configuration checks and small behaviours from the foundation audit:
# listen entries report every mistake at once (type errors, unknown options with a
# suggestion, bad addresses) without a false "no listen address"; match.path and
# match.path_prefix must start with "/"; a 3xx return without a location is warned about;
# an unknown http-level access_log format is reported once, not once per server; a missing
# conf/mime.types is warned about at the first static route; access_log at route level
# (false = off, or a file of its own); a 204 carries no Content-Type.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Portico;

skip_unless_module('return', 'static', 'access_log');

my $p = Portico->new(start => 0);
my $f = $p->conf_file;

# ---- listen: every mistake of every entry, at once ---------------------------------------------
$p->write_conf(<<'EOF');
servers = (
  { listen = ["nonsense", "127.0.0.1:%%PORT1%%"];
    routes = ( { match = { path_prefix = "/"; }; return = { status = 200; }; } ); },
  { listen = ( { address = "127.0.0.1:%%PORT2%%";
                 backlog = "x";
                 tls = 3;
                 reuseprot = true; } );
    routes = ( { match = { path_prefix = "/"; }; return = { status = 200; }; } ); },
  { listen = ( { address = 8080; } );
    routes = ( { match = { path_prefix = "/"; }; return = { status = 200; }; } ); }
);
EOF
my ($rc, $out) = $p->run_t('-t');
isnt($rc, 0, 'listen errors: -t fails');
my $l = $p->line_of(qr/"nonsense"/);
like($out, qr/^\Q$f\E:$l: .*invalid listen address "nonsense"/m, 'bad address: FILE:LINE');
$l = $p->line_of(qr/backlog = "x"/);
like($out, qr/^\Q$f\E:$l: .*backlog: must be an integer$/m, 'backlog of the wrong type: a type error');
$l = $p->line_of(qr/tls = 3/);
like($out, qr/^\Q$f\E:$l: .*tls: must be true or false$/m, 'tls of the wrong type: reported too');
$l = $p->line_of(qr/reuseprot/);
like($out, qr/^\Q$f\E:$l: .*unknown listen option "reuseprot" \(did you mean "reuseport"\?\)$/m,
     'unknown option: reported with a suggestion');
$l = $p->line_of(qr/address = 8080/);
like($out, qr/^\Q$f\E:$l: .*address: must be a string$/m, 'address of the wrong type');
unlike($out, qr/server has no listen address/, 'no false "server has no listen address"');

# ---- match.path / path_prefix must start with "/"; 3xx without location -------------------------
$p->write_conf(<<'EOF');
servers = ( { listen = ["127.0.0.1:%%PORT1%%"];
  routes = (
    { match = { path = "x"; }; return = { status = 200; }; },
    { match = { path_prefix = "api/"; }; return = { status = 200; }; },
    { match = { path = "/old"; }; return = { status = 301; }; }
  ); } );
EOF
($rc, $out) = $p->run_t('-t');
isnt($rc, 0, 'relative match paths: -t fails');
$l = $p->line_of(qr/path = "x"/);
like($out, qr/^\Q$f\E:$l: .*match\.path "x" must start with "\/"$/m, 'match.path without "/"');
$l = $p->line_of(qr/path_prefix = "api\/"/);
like($out, qr/^\Q$f\E:$l: .*match\.path_prefix "api\/" must start with "\/"$/m,
     'match.path_prefix without "/"');
$l = $p->line_of(qr/status = 301/);
like($out, qr/^\Q$f\E:$l: warning: .*a 301 redirect without a location/m,
     'a 301 without location: warning at its line');

# ---- an unknown access_log format at http level: one error, not one per server -------------------
$p->write_conf(<<'EOF');
http = { access_log = { format = "nosuch"; }; };
servers = (
  { listen = ["127.0.0.1:%%PORT1%%"]; routes = ( { match = { path_prefix = "/"; }; return = { status = 200; }; } ); },
  { listen = ["127.0.0.1:%%PORT2%%"]; routes = ( { match = { path_prefix = "/"; }; return = { status = 200; }; } ); }
);
EOF
($rc, $out) = $p->run_t('-t');
isnt($rc, 0, 'unknown format: -t fails');
is(scalar(() = $out =~ /unknown log format "nosuch"/g), 1, 'unknown format: reported once');

# ---- a missing conf/mime.types: the warning points at the first static route ---------------------
unlink $p->prefix . '/conf/mime.types';
mkdir $p->prefix . '/html';
$p->write_conf(<<'EOF');
servers = ( { listen = ["127.0.0.1:%%PORT1%%"];
  routes = (
    { match = { path = "/x"; }; return = { status = 200; }; },
    { match = { path_prefix = "/"; }; static = { root = "html"; }; }
  ); } );
EOF
($rc, $out) = $p->run_t('-t');
is($rc, 0, 'no mime.types: -t still succeeds') or diag($out);
$l = $p->line_of(qr/static = /);
like($out, qr/^\Q$f\E:$l: warning: .*cannot open \S*mime\.types .*built-in MIME types/m,
     'no mime.types: warning at the static route, not at line 0');

# ---- access_log at route level; 204 without Content-Type -----------------------------------------
my $q = Portico->new(conf => <<'EOF');
http = { log_formats = ( { name = "short"; format = "$request_uri $status"; } );
         access_log = { path = "logs/main.log"; format = "short"; }; };
servers = ( { listen = ["127.0.0.1:%%PORT1%%"];
  routes = (
    { match = { path = "/quiet"; }; access_log = false; return = { status = 200; body = "q\n"; }; },
    { match = { path = "/own"; }; access_log = { path = "logs/own.log"; format = "short"; };
      return = { status = 200; body = "o\n"; }; },
    { match = { path = "/empty"; }; return = { status = 204; }; },
    { match = { path_prefix = "/"; }; return = { status = 200; body = "m\n"; }; }
  ); } );
EOF
for my $u ('/quiet', '/own', '/main', '/empty') {
    Portico::http_get($q->port(1), $u);
}
my $raw = Portico::http_get($q->port(1), '/empty');
like($raw, qr{^HTTP/1\.1 204 }, '204: status');
unlike($raw, qr/^Content-Type:/mi, '204: no Content-Type');
$q->stop;
is($q->access_log('main.log'), "/main 200\n/empty 204\n/empty 204\n",
   'route level: the inherited log gets the other routes, not /quiet (access_log = false) nor /own');
is($q->access_log('own.log'), "/own 200\n", 'route level: a route with a log of its own');

done_testing();
