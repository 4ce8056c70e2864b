#!/usr/bin/perl
# conf_hardening.t: configurations that used to pass -t and then misbehave.
# - No servers (an empty or truncated file, `servers = ()`): -t and start fail with
#   FILE:LINE: no servers configured; a reload into such a file is refused with an [error]
#   line and the running listeners keep answering (they used to be closed).
# - CR, LF and other control characters in configured header values (response_headers,
#   return.location, proxy.set_headers, proxy.rewrite, example_header) and non-token header
#   names are -t errors at their line (they used to be sent as-is, injecting headers).
# - Integers beyond 32 bits keep their value (libconfig 1.5 kept the low 32 bits:
#   keepalive_requests = 4294967296 became 0, unlimited) and every numeric setting is range
#   checked: "NAME: must be between A and B (got V)".
# - Shared memory zone sizes (shared_memory, rate_limits.size, conn_limits.size,
#   tls.session_cache) have bounds.
# The run-time check of header values expanded from variables is unit-tested in
# t/unit/test_http_template.c (no request variable can carry CR or LF today).

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Portico;

skip_unless_module('return', 'headers', 'proxy', 'upstream');

my $p = Portico->new(start => 0);
my $f = $p->conf_file;
my ($rc, $out, $l);

my $ok_server = <<'EOF';
servers = ( { listen = ["127.0.0.1:%%PORT1%%"];
  routes = ( { match = { path_prefix = "/"; }; return = { status = 200; body = "ok\n"; }; } ); } );
EOF

# ---- no servers ---------------------------------------------------------------------------------
Portico::write_file($f, '');
($rc, $out) = $p->run_t('-t');
isnt($rc, 0, 'empty file: -t fails');
like($out, qr/^\Q$f\E:1: no servers configured$/m, 'empty file: FILE:1: no servers configured');

$p->write_conf("# only a comment\nworker_connections = 64;\n");
($rc, $out) = $p->run_t('-t');
isnt($rc, 0, 'no servers setting: -t fails');
like($out, qr/^\Q$f\E:1: no servers configured$/m, 'no servers setting: reported');

$p->write_conf("servers = ();\n");
($rc, $out) = $p->run_t('-t');
isnt($rc, 0, 'servers = (): -t fails');
$l = $p->line_of(qr/^servers = \(\);/);
like($out, qr/^\Q$f\E:$l: servers: no servers configured \(the list is empty\)$/m,
     'servers = (): reported at its line');

$p->write_conf(<<'EOF');
servers = ( { listen = [];
  routes = ( { match = { path_prefix = "/"; }; return = { status = 200; }; } ); } );
EOF
($rc, $out) = $p->run_t('-t');
isnt($rc, 0, 'a server without a listen address: -t fails');
$l = $p->line_of(qr/listen = \[\]/);
like($out, qr/^\Q$f\E:$l: servers\[0\]: server has no listen address$/m,
     'a server without a listen address: reported at its line');

$p->write_conf("daemon = false;\n");
my ($src, $sout, $serr) = $p->run();
isnt($src, 0, 'no servers: start fails');
like($serr, qr/no servers configured/, 'no servers: start says why');

{
    my $q = Portico->new(conf => $ok_server);
    my ($s, undef, $b) = http_parse(http_get($q->port(1), '/'));
    is($s, 200, 'reload: serving before');
    my @w = $q->worker_pids;
    Portico::write_file($q->conf_file, '');
    $q->signal('HUP');
    ok($q->wait_for(sub { ($q->error_log // '') =~ /configuration reload failed, keeping the old one/ }, 10),
       'reload with an empty file: refused');
    like($q->error_log, qr/\[error\] .*\Q${\ $q->conf_file }\E:1: no servers configured/,
         'reload with an empty file: [error] line with FILE:LINE');
    ($s, undef, $b) = http_parse(http_get($q->port(1), '/'));
    is($s, 200, 'reload with an empty file: the old listener still answers');
    is($b, "ok\n", 'reload with an empty file: the old configuration serves');
    is_deeply([ $q->worker_pids ], \@w, 'reload with an empty file: workers untouched');
    $q->stop;
}

# ---- header injection from the configuration ------------------------------------------------
$p->write_conf(<<'EOF');
upstreams = ( { name = "b"; servers = ( { address = "127.0.0.1:%%PORT2%%"; } ); } );
servers = ( { listen = ["127.0.0.1:%%PORT1%%"];
  response_headers = ( { name = "X-A"; value = "a\r\nSet-Cookie: injected=1"; },
    { name = "X B"; value = "ok"; },
    { name = "X-Tab"; value = "a\tb"; } );
  routes = (
    { match = { path = "/r"; };
      return = { status = 302;
                 location = "/x\r\nSet-Cookie: injected=1"; }; },
    { match = { path = "/p"; };
      proxy = { upstream = "b";
                rewrite = "/a\nX-Injected: 1";
                set_headers = ( { name = "X-C"; value = "c\nSet-Cookie: injected=1"; } ); }; }
  ); } );
EOF
($rc, $out) = $p->run_t('-t');
isnt($rc, 0, 'control characters in header values: -t fails');
my $ctl = qr/control character 0x0(?:d|a) \(only tab is allowed: this text goes into a header line, which CR or LF would split\)/;
$l = $p->line_of(qr/name = "X-A"/);
like($out, qr/^\Q$f\E:$l: servers\[0\]\.response_headers\[0\]\.value: $ctl/m,
     'response_headers value with CR LF: FILE:LINE');
$l = $p->line_of(qr/name = "X B"/);
like($out, qr/^\Q$f\E:$l: servers\[0\]\.response_headers\[1\]\.name: invalid header name "X B" \(expected a token/m,
     'response_headers name with a space: FILE:LINE');
unlike($out, qr/X-Tab/, 'a tab in a value is fine');
$l = $p->line_of(qr/location = "\/x/);
like($out, qr/^\Q$f\E:$l: servers\[0\]\.routes\[0\]\.return\.location: $ctl/m,
     'return.location with CR LF: FILE:LINE');
$l = $p->line_of(qr/rewrite = /);
like($out, qr/^\Q$f\E:$l: servers\[0\]\.routes\[1\]\.proxy\.rewrite: $ctl/m,
     'proxy.rewrite with LF: FILE:LINE');
$l = $p->line_of(qr/name = "X-C"/);
like($out, qr/^\Q$f\E:$l: servers\[0\]\.routes\[1\]\.proxy\.set_headers\[0\]\.value: $ctl/m,
     'proxy.set_headers value with LF: FILE:LINE');

SKIP: {
    skip 'no example module', 1 unless has_module('example');
    $p->write_conf(<<'EOF');
servers = ( { listen = ["127.0.0.1:%%PORT1%%"];
  routes = ( { match = { path_prefix = "/"; };
               example_header = "e\x01x";
               return = { status = 200; }; } ); } );
EOF
    ($rc, $out) = $p->run_t('-t');
    $l = $p->line_of(qr/example_header/);
    like($out, qr/^\Q$f\E:$l: servers\[0\]\.routes\[0\]\.example_header: control character 0x01/m,
         'example_header with a control character: FILE:LINE');
}

# ---- integers beyond 32 bits, bounds --------------------------------------------------------
$p->write_conf(<<'EOF' . $ok_server);
worker_connections = 4294967312;
http = { keepalive_requests = 4294967296;
         keepalive_timeout = 4294967296;
         client_max_body_size = "2000g"; };
upstreams = ( { name = "u"; keepalive_requests = -4294967295;
                servers = ( { address = "127.0.0.1:1"; weight = 4294967297; } ); } );
EOF
($rc, $out) = $p->run_t('-t');
isnt($rc, 0, 'wide integers: -t fails');
$l = $p->line_of(qr/^worker_connections/);
like($out, qr/^\Q$f\E:$l: worker_connections: must be between 16 and 1048576 \(got 4294967312\)$/m,
     'worker_connections = 4294967312 (16 in 32 bits): out of range');
$l = $p->line_of(qr/keepalive_requests = 4294967296/);
like($out, qr/^\Q$f\E:$l: http\.keepalive_requests: must be between 0 and 2147483647 \(got 4294967296\)$/m,
     'keepalive_requests = 4294967296 (0 in 32 bits): out of range');
$l = $p->line_of(qr/keepalive_timeout = 4294967296/);
like($out, qr/^\Q$f\E:$l: http\.keepalive_timeout: must be between 0s and 1d \(got 4294967296s\)$/m,
     'a duration of 4294967296 seconds: out of range');
$l = $p->line_of(qr/"2000g"/);
like($out, qr/^\Q$f\E:$l: http\.client_max_body_size: must be between 0 and 1024g \(got 2000g\)$/m,
     'client_max_body_size = "2000g": out of range');
$l = $p->line_of(qr/keepalive_requests = -4294967295/);
like($out, qr/^\Q$f\E:$l: upstreams\[0\]\.keepalive_requests: must be between 0 and 1000000000 \(got -4294967295\)$/m,
     'upstream keepalive_requests = -4294967295 (1 in 32 bits): out of range');
$l = $p->line_of(qr/weight = 4294967297/);
like($out, qr/^\Q$f\E:$l: upstreams\[0\]\.servers\[0\]\.weight: must be between 1 and 1000 \(got 4294967297\)$/m,
     'weight = 4294967297 (1 in 32 bits): out of range');

$p->write_conf(<<'EOF');
http = { client_max_body_size = 3000000000; };
servers = ( { listen = ( { address = "127.0.0.1:%%PORT1%%"; backlog = 4294967807; } );
  routes = ( { match = { path_prefix = "/"; }; return = { status = 200; }; } ); } );
EOF
($rc, $out) = $p->run_t('-t');
$l = $p->line_of(qr/backlog = 4294967807/);
like($out, qr/^\Q$f\E:$l: .*backlog must be between 1 and 2147483647$/m,
     'listen backlog = 4294967807 (511 in 32 bits): out of range');
unlike($out, qr/client_max_body_size/, 'client_max_body_size = 3000000000: accepted');

$p->write_conf("http = { client_max_body_size = 3000000000; };\n" . $ok_server);
($rc, $out) = $p->run_t('-T');
is($rc, 0, '3000000000 in range: -T succeeds');
like($out, qr/^\s*client_max_body_size = 3000000000L?;$/m, '-T shows 3000000000, not a wrapped value');

$p->write_conf("worker_connections = 64;\n" . $ok_server);
($rc, $out) = $p->run_t('-t', '-g', 'worker_connections = 4294967312;');
like($out, qr/^-g:1: worker_connections: must be between 16 and 1048576 \(got 4294967312\)$/m,
     '-g worker_connections = 4294967312: out of range');

# ---- shared memory zone sizes ---------------------------------------------------------------
$p->write_conf(<<'EOF' . $ok_server);
shared_memory = "1";
EOF
($rc, $out) = $p->run_t('-t');
isnt($rc, 0, 'shared_memory = "1": -t fails');
$l = $p->line_of(qr/^shared_memory/);
like($out, qr/^\Q$f\E:$l: shared_memory: must be between 64k and 64g \(got 1\)$/m,
     'shared_memory = "1": too small');
$p->write_conf("shared_memory = \"100000g\";\n" . $ok_server);
($rc, $out) = $p->run_t('-t');
$l = $p->line_of(qr/^shared_memory/);
like($out, qr/^\Q$f\E:$l: shared_memory: must be between 64k and 64g \(got 100000g\)$/m,
     'shared_memory = "100000g": too large');
# shared_memory pays for the health and statistics zones: less than they need is an error
$p->write_conf("shared_memory = \"1m\";\n" . $ok_server);
($rc, $out) = $p->run_t('-t');
isnt($rc, 0, 'shared_memory = "1m": -t fails');
$l = $p->line_of(qr/^shared_memory/);
like($out, qr/^\Q$f\E:$l: shared_memory: the health and statistics zones need (\d+)k \(\d+ bytes\), more than the 1024k given$/m,
     'shared_memory = "1m": smaller than the zones it pays for');
$p->write_conf("shared_memory = \"8m\";\n" . $ok_server);
($rc, $out) = $p->run_t('-t');
is($rc, 0, 'shared_memory = "8m": enough') or diag($out);

SKIP: {
    skip 'no rate_limit or conn_limit module', 2
        unless has_module('rate_limit') && has_module('conn_limit');
    $p->write_conf(<<'EOF' . $ok_server);
rate_limits = ( { name = "r"; key = "$remote_addr"; rate = "10r/s"; size = "1"; } );
conn_limits = ( { name = "c"; key = "$remote_addr"; max = 1; size = "100000g"; } );
EOF
    ($rc, $out) = $p->run_t('-t');
    $l = $p->line_of(qr/rate_limits/);
    like($out, qr/^\Q$f\E:$l: rate_limits\[0\]\.size: must be between 16k and 16g \(got 1\)$/m,
         'rate_limits size = "1": too small');
    $l = $p->line_of(qr/conn_limits/);
    like($out, qr/^\Q$f\E:$l: conn_limits\[0\]\.size: must be between 16k and 16g \(got 100000g\)$/m,
         'conn_limits size = "100000g": too large');
}

SKIP: {
    skip 'no tls module or openssl CLI', 2
        unless has_module('tls') && system('openssl version >/dev/null 2>&1') == 0;
    my $d = $p->prefix;
    system("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
           . "-keyout $d/conf/k.pem -out $d/conf/c.pem -days 2 -subj /CN=t >/dev/null 2>&1");
    for my $size ('1', '100000g') {
        $p->write_conf(<<"EOF");
servers = ( { listen = ( { address = "127.0.0.1:%%PORT1%%"; tls = true; } );
  tls = { certificate = "$d/conf/c.pem"; key = "$d/conf/k.pem"; session_cache = "$size"; };
  routes = ( { match = { path_prefix = "/"; }; return = { status = 200; }; } ); } );
EOF
        ($rc, $out) = $p->run_t('-t');
        like($out, qr/^\Q$f\E:\d+: .*tls\.session_cache: must be between 64k and 64g \(got $size\)$/m,
             "tls.session_cache = \"$size\": out of range");
    }
}

# ---- a route naming an upstream whose own errors left it out: no "did you mean" itself ------
SKIP: {
    skip 'no proxy module', 2 unless has_module('proxy');
    my $u = Portico->new(start => 0);
    $u->write_conf(<<'EOF');
upstreams = ( { name = "s"; servers = ( { weight = 2; } ); } );
servers = ( { listen = ["127.0.0.1:%%PORT1%%"];
  routes = ( { match = { path = "/"; }; proxy = { upstream = "s"; }; } ); } );
EOF
    my ($urc, $uout) = $u->run_t('-t');
    like($uout, qr/proxy\.upstream: upstream "s" has errors \(see above\)$/m,
         'an upstream left out by its own errors: said so');
    unlike($uout, qr/did you mean "s"/, 'an upstream left out by its own errors: no "did you mean" itself');
}

done_testing();
