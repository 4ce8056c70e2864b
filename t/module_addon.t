#!/usr/bin/perl
# module_addon.t: modules from outside the tree. Builds portico into its own build directory
# with `./configure --add-module=t/fixtures/echo_module` and most bundled modules left out
# with --without-NAME, then checks: -V lists what was built (with the module API version)
# and not what was left out; the echo module's content action (two route settings, a
# streamed body of any size through one buffer, HEAD, HTTP/1.0), its header filter, its
# variable and its LOG handler; its settings' bounds under -t; a registration that fails at
# conf_done (t/fixtures/register_probe_module, built in alongside) is reported by the engine
# in one line naming the module and what was registered. A second build with a module
# whose default is invalid must refuse to start, naming the module and the setting, and a
# third, with a module built for another module API version, likewise with both versions.

use strict;
use warnings;
use Test::More;
use File::Temp qw(tempdir);
use Digest::MD5 qw(md5_hex);
use lib 't/lib';

# builds binaries of its own: it tests the build, which make test covers; make test-asan
# (PORTICO_TEST_ASAN) leaves it out
plan(skip_all => 'builds its own binaries: run by make test') if $ENV{PORTICO_TEST_ASAN};
use Portico;

my $repo = repo_root();
my @without = map { "--without-$_" } qw(tls proxy status health_check upstream_hash
    upstream_ip_hash upstream_least_conn upstream_random_two upstream_round_robin upstream
    static auth_basic rate_limit conn_limit access headers realip example cache admin resolver);

# Builds portico with the module in fixture $name into a fresh directory; returns the binary.
sub build_with
{
    my (@names) = @_;
    my $name = join(' ', @names);
    my $add = join(' ', map { "--add-module='$repo/t/fixtures/$_'" } @names);
    my $dir = tempdir("portico-addon-XXXXXX", DIR => '/tmp', CLEANUP => 1);
    my $log = "$dir/build.log";
    my $rc = system("cd '$repo' && ./configure --builddir='$dir' "
                    . "$add @without >'$log' 2>&1 "
                    . "&& make -j2 -f '$dir/Makefile' build >>'$log' 2>&1");
    if ($rc != 0) {
        diag(read_file($log));
        BAIL_OUT("building with t/fixtures/$name failed");
    }
    return "$dir/portico";
}

my $bin = build_with('echo_module', 'register_probe_module');
local $ENV{PORTICO_BIN} = $bin;

# ---- -V ------------------------------------------------------------------------------------
my ($rc, $out, $err) = Portico::run_cmd($bin, '-V');
my ($api) = ($out . $err) =~ /^module API version: (\d+)$/m;
my ($mods) = ($out . $err) =~ /^modules: (.*)$/m;
is($rc, 0, '-V exits 0');
ok(defined $api && $api >= 1, '-V names the module API version');
my %built = map { $_ => 1 } split ' ', $mods // '';
ok($built{echo}, '-V lists the out-of-tree module');
ok($built{http} && $built{return} && $built{access_log}, '-V lists the bundled modules kept');
ok(!$built{$_}, "--without-$_ leaves $_ out") for qw(tls proxy static example);

# ---- the module at work -----------------------------------------------------------------------
my $p = Portico->new(conf => <<'EOF');
http = { log_formats = ( { name = "echo"; format = "$request_uri $status $echo_lines"; } );
         access_log = { path = "logs/access.log"; format = "echo"; }; };
servers = ( {
  listen = ["127.0.0.1:%%PORT1%%"];
  routes = (
    { match = { path = "/echo"; }; echo_headers = true; },
    { match = { path = "/big"; }; echo_headers = true; echo_repeat = 50000; },
    { match = { path_prefix = "/"; }; return = { status = 200; body = "plain\n"; }; }
  );
} );
EOF

my $raw = http_raw($p->port(1), "GET /echo HTTP/1.1\r\nHost: a.test\r\nX-One: 1\r\n"
                   . "Connection: close\r\n\r\n");
my ($s, $h, $b) = http_parse($raw);
is($s, 200, 'echo route: 200');
is($b, "Host: a.test\nX-One: 1\nConnection: close\n", 'echo route: the request headers');
is($h->{'x-echo-lines'}, 3, 'header filter: X-Echo-Lines');
is($h->{'transfer-encoding'}, 'chunked', 'a body of unknown length is chunked on HTTP/1.1');

($s, $h, $b) = http_parse(http_raw($p->port(1), "HEAD /echo HTTP/1.1\r\nHost: a.test\r\n"
                                   . "Connection: close\r\n\r\n"));
is($s, 200, 'HEAD: 200');
is($b, '', 'HEAD: no body');
is($h->{'x-echo-lines'}, 2, 'HEAD: X-Echo-Lines');

$raw = http_raw($p->port(1), "GET /echo HTTP/1.0\r\nX-Ten: 10\r\n\r\n");
($s, $h, $b) = http_parse($raw);
is($b, "X-Ten: 10\n", 'HTTP/1.0: the body, delimited by close');
ok(!exists $h->{'transfer-encoding'}, 'HTTP/1.0: no chunked encoding');

# 50,000 rounds of 3 lines: 3.4 MB through one 8 KiB buffer, far above the request pool cap.
my $line = "Host: big.test\nX-Pad: 0123456789abcdef\nConnection: close\n";
$raw = http_raw($p->port(1), "GET /big HTTP/1.1\r\nHost: big.test\r\n"
                . "X-Pad: 0123456789abcdef\r\nConnection: close\r\n\r\n", timeout => 20);
($s, $h, $b) = http_parse($raw);
is($s, 200, 'a large streamed body: 200');
is(length($b), 50000 * length($line), 'a large streamed body: every byte');
is(md5_hex($b), md5_hex($line x 50000), 'a large streamed body: the right bytes');
is($h->{'x-echo-lines'}, 150000, 'a large streamed body: X-Echo-Lines');

($s, $h, $b) = http_parse(http_get($p->port(1), '/other'));
is($b, "plain\n", 'another route: untouched');
ok(!exists $h->{'x-echo-lines'}, 'another route: no X-Echo-Lines');

ok(wait_until(sub { ($p->access_log // '') =~ m{^/other 200 -$}m }, 5),
   'access log: $echo_lines absent on another route');
my $log = $p->access_log // '';
like($log, qr{^/echo 200 3$}m, 'access log: $echo_lines');
like($log, qr{^/big 200 150000$}m, 'access log: $echo_lines of the large body');
like($p->error_log, qr/\[notice\] .*echo: 150000 lines, status 200/,
     'LOG handler: its error-log line');
$p->stop;

# ---- -t: the module's settings are checked like any other -----------------------------------
my $t = Portico->new(conf => <<'EOF', start => 0);
servers = ( { listen = ["127.0.0.1:%%PORT1%%"];
  routes = ( { match = { path = "/"; }; echo_headers = true; echo_repeat = 0; } ); } );
EOF
($rc, $out) = $t->run_t('-t');
is($rc, 1, '-t: echo_repeat = 0 fails');
like($out, qr/portico\.conf:\d+: \S*echo_repeat: must be between 1 and 1000000 \(got 0\)/, "-t: FILE:LINE and the bound") or diag($out);

# ---- a failed registration is reported once, by the engine, naming module and what ----------
for my $case (['phase', 'cannot register a handler for phase 42: no such phase'],
              ['content', 'cannot register a handler for phase 4: the CONTENT phase runs the '
                          . "route's action only (pco_http_route_set_action)"],
              ['filter', 'cannot register body filter priority 300: no function given'],
              ['variable', 'cannot register variable "$probe": no getter given'])
{
    my ($probe, $msg) = @$case;
    my $r = Portico->new(conf => <<"EOF", start => 0);
register_probe = "$probe";
servers = ( { listen = ["127.0.0.1:%%PORT1%%"];
  routes = ( { match = { path = "/"; }; return = { status = 200; }; } ); } );
EOF
    my ($prc, $pout) = $r->run_t('-t');
    is($prc, 1, "register_probe = $probe: -t fails");
    my @got = $pout =~ /^(\S+:\d+: module "register_probe": [^\n]*)$/mg;
    is(scalar @got, 1, "register_probe = $probe: one line") or diag($pout);
    like($got[0] // '', qr/portico\.conf:\d+: module "register_probe": \Q$msg\E$/,
         "register_probe = $probe: names the module and the registration") or diag($pout);
}

# ---- a module with an invalid default is refused at start, by name ----------------------------
my $bad = build_with('bad_default_module');
local $ENV{PORTICO_BIN} = $bad;
my $q = Portico->new(conf => <<'EOF', start => 0);
servers = ( { listen = ["127.0.0.1:%%PORT1%%"];
  routes = ( { match = { path = "/"; }; return = { status = 200; }; },
             { match = { path = "/x"; }; return = { status = 200; }; } ); } );
EOF
($rc, $out) = $q->run_t('-t');
is($rc, 1, 'an invalid module default: -t fails');
my @lines = $out =~ /(module "bad_default": setting "bad_delay": invalid default[^\n]*)/g;
is(scalar @lines, 1, 'an invalid module default: reported once, naming module and setting')
    or diag($out);
unlike($out, qr/portico\.conf/, 'an invalid module default: not blamed on the configuration');

# ---- a module built for another module API version is refused at start, by name ---------------
my $old = build_with('old_api_module');
local $ENV{PORTICO_BIN} = $old;
($rc, $out) = $q->run_t('-t');
is($rc, 1, 'another module API version: -t fails');
like($out, qr/^portico: module "old_api" is built for module API version (\d+), this binary uses version (\d+)$/m,
     'another module API version: the module and both versions named') or diag($out);
($rc, $out, $err) = Portico::run_cmd($old, '-V');
like($out . $err, qr/^modules: .*\bold_api\b/m, '-V still lists the modules built in');

done_testing();
