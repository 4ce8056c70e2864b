#!/usr/bin/perl
# conf_nested.t: a member of a group (return, proxy, proxy.set_headers[i], health_check,
# tls) that the module finds wrong is reported at its own FILE:LINE with its own path, not
# at the line that opens the group; and a group whose optional member fails to parse still
# counts as written, so the module's checks of its other members run in the same -t run
# (every error at once).

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Portico;

skip_unless_module('return', 'proxy', 'upstream', 'health_check');

my $p = Portico->new(start => 0);
my $f = $p->conf_file;

# Asserts that the -t output has exactly this line.
sub has_line
{
    my ($out, $want, $name) = @_;
    my @lines = split /\n/, $out;
    ok((grep { $_ eq $want } @lines), $name) or diag("want: $want\ngot:\n$out");
}

# ---- members of multi-line groups report their own lines ------------------------------------
$p->write_conf(<<'EOF2');
upstreams = ( {
  name = "app";
  servers = ( { address = "127.0.0.1:%%PORT2%%"; } );
  health_check = {
    interval = "1s";
    path = "no-slash";
  };
} );
servers = ( { listen = ["127.0.0.1:%%PORT1%%"];
  routes = (
    { match = { path = "/r"; };
      return = {
        status = 302;
        location = "/to${unclosed";
      }; },
    { match = { path = "/p"; };
      proxy = {
        upstream = "apq";
        rewrite = "/x";
      }; },
    { match = { path = "/h"; };
      proxy = {
        upstream = "app";
        set_headers = ( { name = "X-A";
                          value = "${x"; } );
      }; }
  ); } );
EOF2
my ($rc, $out) = $p->run_t('-t');
isnt($rc, 0, 'member errors: -t fails');
my $l = $p->line_of(qr/location = "\/to/);
has_line($out, "$f:$l: servers[0].routes[0].return.location: bad template \"/to\${unclosed\": "
             . "unterminated \${", 'return.location: at its own line');
$l = $p->line_of(qr/upstream = "apq"/);
has_line($out, "$f:$l: servers[0].routes[1].proxy.upstream: no upstream named \"apq\" "
             . "(did you mean \"app\"?)", 'proxy.upstream: at its own line');
$l = $p->line_of(qr/value = "\$\{x"/);
has_line($out, "$f:$l: servers[0].routes[2].proxy.set_headers[0].value: bad template "
             . "\"\${x\": unterminated \${", 'a member of a list element: at its own line');
$l = $p->line_of(qr/path = "no-slash"/);
has_line($out, "$f:$l: upstreams[0].health_check.path: health_check.path: \"no-slash\" must "
             . "start with \"/\" and contain no spaces or control characters",
         'health_check.path: at its own line');
unlike($out, qr/\.(return|proxy|health_check): /, 'nothing reported at the groups themselves');

# ---- one bad member does not hide the checks of the others ----------------------------------
$p->write_conf(<<'EOF2');
upstreams = ( { name = "app"; servers = ( { address = "127.0.0.1:%%PORT2%%"; } ); } );
servers = ( { listen = ["127.0.0.1:%%PORT1%%"];
  routes = (
    { match = { path = "/p"; };
      proxy = {
        upstream = "app";
        websocket = "yes";
        rewrite = "relative";
      }; },
    { match = { path = "/r"; };
      return = {
        status = 302;
        body = 5;
        location = "/to${unclosed";
      }; }
  ); } );
EOF2
($rc, $out) = $p->run_t('-t');
isnt($rc, 0, 'bad members: -t fails');
$l = $p->line_of(qr/websocket = "yes"/);
has_line($out, "$f:$l: servers[0].routes[0].proxy.websocket: expected true or false, got a string",
         'the type error of proxy.websocket');
$l = $p->line_of(qr/rewrite = "relative"/);
has_line($out, "$f:$l: servers[0].routes[0].proxy.rewrite: rewrite must start with \"/\"",
         'and, in the same run, the check of proxy.rewrite');
$l = $p->line_of(qr/body = 5/);
has_line($out, "$f:$l: servers[0].routes[1].return.body: expected a string, got an integer",
         'the type error of return.body');
$l = $p->line_of(qr/location = "\/to/);
has_line($out, "$f:$l: servers[0].routes[1].return.location: bad template \"/to\${unclosed\": "
             . "unterminated \${", 'and, in the same run, the check of return.location');
unlike($out, qr/route has no action/, 'no "route has no action" for the routes with bad members');

# ---- a required member that fails leaves nothing to check: no second error ------------------
$p->write_conf(<<'EOF2');
servers = ( { listen = ["127.0.0.1:%%PORT1%%"];
  routes = ( { match = { path = "/r"; };
               return = {
                 status = "x";
                 location = "/a";
               }; } ); } );
EOF2
($rc, $out) = $p->run_t('-t');
isnt($rc, 0, 'bad required member: -t fails');
$l = $p->line_of(qr/status = "x"/);
has_line($out, "$f:$l: servers[0].routes[0].return.status: expected an integer, got a string",
         'the type error of return.status');
unlike($out, qr/status must be within/, 'no second error about the status it does not have');

# ---- tls: the file that cannot be read is reported at its member's line ---------------------
SKIP: {
    skip 'module tls not compiled in', 2 unless Portico::has_module('tls');
    $p->write_conf(<<'EOF2');
servers = ( { listen = ( { address = "127.0.0.1:%%PORT1%%"; tls = true; } );
  tls = {
    certificate = "/nonexistent/a.crt";
    key = "/nonexistent/a.key";
    ciphers = "NO-SUCH-CIPHER";
  };
  routes = ( { match = { path = "/"; }; return = { status = 200; }; } ); } );
EOF2
    ($rc, $out) = $p->run_t('-t');
    $l = $p->line_of(qr/certificate = /);
    has_line($out, "$f:$l: servers[0].tls.certificate: tls.certificate \"/nonexistent/a.crt\": "
                 . "No such file or directory", 'tls.certificate: at its own line');
    $l = $p->line_of(qr/ciphers = /);
    like($out, qr/^\Q$f\E:$l: servers\[0\]\.tls\.ciphers: tls\.ciphers "NO-SUCH-CIPHER": /m,
         'tls.ciphers: at its own line');
}

done_testing();
