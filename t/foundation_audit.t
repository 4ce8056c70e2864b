#!/usr/bin/perl
# foundation_audit.t: the behaviours of issue 2 (foundation) that had no test elsewhere, one
# block per bullet of the issue (named in each block's comment): the repository layout,
# ./configure (options, generated module list, --add-module, one-line missing-library error),
# make install (twice: an existing configuration is kept), scripts/install-deps naming the
# Fedora/Alpine packages, daemonising, worker_processes = "auto", the privilege drop to `user`
# (and `user` ignored with a notice when not root), RLIMIT_NOFILE raised, the
# worker_connections limit (no reset, queued clients served later), EMFILE (paused, no spin),
# HUP with requests in flight and worker_shutdown_timeout, listener backlog and reuseport,
# -c default, -g merging groups, -t warnings/errors, Server/X-Request-Id/Date on every error
# status, keep-alive and body timeouts, zero values of docs/http.md, lingering close, and the error
# log's request context (docs/settings.md).

use strict;
use warnings;
use Test::More;
use File::Temp qw(tempdir);
use File::Basename qw(dirname);
use POSIX qw(:sys_wait_h);
use Socket qw(SOL_SOCKET SO_RCVBUF);
use Time::HiRes qw(sleep time);
use lib 't/lib';

# builds binaries of its own: it tests the build, which make test covers; make test-asan
# (PORTICO_TEST_ASAN) leaves it out
plan(skip_all => 'builds its own binaries: run by make test') if $ENV{PORTICO_TEST_ASAN};
use Portico;

my $bin = portico_bin();
plan(skip_all => "no portico binary at $bin") unless -x $bin;

my $repo = repo_root();
my $is_root = $> == 0;
my ($V_rc, $V_out, $V_err) = Portico::run_cmd($bin, '-V');
my $debug_build = ($V_out . $V_err) =~ /^configure arguments:.*--with-debug/m;
my $asan_build = ($V_out . $V_err) =~ /^configure arguments:.*--with-sanitizers/m;

sub ret_conf
{
    my ($body, $head) = @_;
    $head = '' unless defined $head;
    return $head . <<"EOF";
servers = ( {
  listen = ["127.0.0.1:%%PORT1%%"];
  routes = ( { match = { path_prefix = "/"; }; return = { status = 200; body = "$body\\n"; }; } );
} );
EOF
}

sub body_of { my ($port) = @_; return (http_parse(http_get($port, '/')))[2] // ''; }

# The pid of the only worker (waits for its title; 0 when there is none).
sub one_worker
{
    my ($p) = @_;
    my @w;
    wait_until(sub { @w = $p->worker_pids; @w == 1 }, 10);
    return @w == 1 ? $w[0] : 0;
}

# Field N (0-based, after the command name) of /proc/PID/stat.
sub stat_field
{
    my ($pid, $n) = @_;
    my $st = read_file("/proc/$pid/stat") // return undef;
    $st =~ s/^.*\)\s+//s;
    return (split ' ', $st)[$n];
}

sub soft_nofile
{
    my ($pid) = @_;
    my $l = read_file("/proc/$pid/limits") // '';
    return $l =~ /^Max open files\s+(\d+)/m ? $1 : undef;
}

# Runs ./configure from the repository root with a temporary build directory.
sub configure
{
    my (@args) = @_;
    my $dir = tempdir('portico-audit-cfg-XXXXXX', DIR => '/tmp', CLEANUP => 1);
    my $cwd = Cwd::getcwd();
    chdir $repo or die "chdir $repo: $!";
    my ($rc, $out, $err) = Portico::run_cmd('./configure', "--builddir=$dir/b", @args);
    chdir $cwd;
    return ($rc, $out . $err, "$dir/b");
}

# ---- Build and layout: the top level exactly as asked ------------------------------------------

for my $d (qw(core modules conf scripts t auto docs)) {
    ok(-d "$repo/$d", "layout: $d/");
}
for my $f (qw(configure Makefile CHANGES README.md .ci/run scripts/install-deps scripts/bench
              conf/portico.conf conf/mime.types))
{
    ok(-f "$repo/$f", "layout: $f");
}
ok(-x "$repo/$_", "layout: $_ is executable") for qw(configure .ci/run scripts/install-deps);
like(read_file("$repo/README.md") // '', qr/```sh\nmake run\nmake test\n```/,
     'layout: README quick start is make run / make test');

# ---- Build: ./configure options (docs/building.md) -----------------------------------------------

require Cwd;
{
    my $mod = tempdir('portico-audit-mod-XXXXXX', DIR => '/tmp', CLEANUP => 1);
    write_file("$mod/config", "pco_module_name=auditmod\npco_module_sources=\"pco_auditmod.c\"\n"
               . "pco_module_requires=\"http\"\npco_module_pkgconfig=\"\"\npco_module_libs=\"\"\n"
               . "pco_module_default=yes\n");
    write_file("$mod/pco_auditmod.c", "/* configure-only test module */\n");
    my ($rc, $out, $b) = configure('--prefix=/opt/audit-prefix', '--cc=cc',
                                   '--cc-opt=-DPCO_AUDIT_CC_OPT=1', '--ld-opt=-L/audit-ld-opt',
                                   '--without-realip', "--add-module=$mod");
    is($rc, 0, 'configure with every option: exit 0') or diag($out);
    my $mk = read_file("$b/Makefile") // '';
    like($mk, qr/^CC = cc$/m, 'configure --cc: CC in the generated Makefile');
    like($mk, qr/^CFLAGS = .*-DPCO_AUDIT_CC_OPT=1/m, 'configure --cc-opt: in CFLAGS');
    like($mk, qr/^LDFLAGS = .*-L\/audit-ld-opt/m, 'configure --ld-opt: in LDFLAGS');
    like($mk, qr{^PREFIX = /opt/audit-prefix/?$}m, 'configure --prefix: PREFIX');
    like($mk, qr{\Q$mod\E/pco_auditmod\.c}, '--add-module: its source is built');
    my $list = read_file("$b/pco_modules.c") // '';
    like($list, qr/\bpco_auditmod_module\b/, '--add-module: in the generated module list');
    unlike($list, qr/\bpco_realip_module\b/, '--without-realip: left out of the module list');
    unlike($list, qr/\bpco_example_module\b/, 'the example module is not built by default');
    like($list, qr/\bpco_cache_module\b/, 'the cache module is built by default');
    like($list, qr/\bpco_static_module\b/, 'generated module list: bundled modules present');
    ok(-f "$b/pco_auto_config.h", 'configure writes a config header');

    # A library whose header cannot be compiled: one line naming the Debian package.
    my $inc = tempdir('portico-audit-inc-XXXXXX', DIR => '/tmp', CLEANUP => 1);
    write_file("$inc/pcre2.h", "#error hidden by foundation_audit.t\n");
    ($rc, $out) = configure("--cc-opt=-I$inc");
    is($rc, 1, 'configure with PCRE2 missing: exit 1');
    my @errs = grep { /error/i } split /\n/, $out;
    is(scalar @errs, 1, 'configure with PCRE2 missing: exactly one error line') or diag($out);
    is($errs[0] // '', 'configure: error: PCRE2 not found (Debian: apt-get install libpcre2-dev)',
       'configure with PCRE2 missing: the line names the Debian package');

    # libnghttp2 is optional: missing, the http2 module is left out with one warning line;
    # --with-http2 makes that an error; --without-http2 does not even look for it.
    my $have_h2 = system('pkg-config --exists libnghttp2 2>/dev/null') == 0;
    if ($have_h2) {
        ($rc, $out, $b) = configure();
        is($rc, 0, 'configure with libnghttp2: exit 0') or diag($out);
        like(read_file("$b/pco_modules.c") // '', qr/\bpco_http2_module\b/,
             'the http2 module is built by default when libnghttp2 is there');
        like(read_file("$b/Makefile") // '', qr/^LIBS = .*-lnghttp2/m,
             'with libnghttp2: -lnghttp2 is linked');
    }
    my $inc2 = tempdir('portico-audit-inc-XXXXXX', DIR => '/tmp', CLEANUP => 1);
    mkdir "$inc2/nghttp2";
    write_file("$inc2/nghttp2/nghttp2.h", "#error hidden by foundation_audit.t\n");
    ($rc, $out, $b) = configure("--cc-opt=-I$inc2");
    is($rc, 0, 'configure with libnghttp2 missing: exit 0 (the module is optional)')
        or diag($out);
    my @warns = grep { /warning|error/i } split /\n/, $out;
    is_deeply(\@warns, ['configure: warning: libnghttp2 1.52 or later not found: the http2 '
                        . 'module is left out (Debian: apt-get install libnghttp2-dev; '
                        . '--without-http2 silences this)'],
              'configure with libnghttp2 missing: one warning naming the Debian package');
    unlike(read_file("$b/pco_modules.c") // '', qr/\bpco_http2_module\b/,
           'libnghttp2 missing: the http2 module is left out');
    unlike(read_file("$b/Makefile") // '', qr/nghttp2/, 'libnghttp2 missing: not linked');
    ($rc, $out) = configure("--cc-opt=-I$inc2", '--with-http2');
    is($rc, 1, 'configure --with-http2 with libnghttp2 missing: exit 1');
    @errs = grep { /error|warning/i } split /\n/, $out;
    is_deeply(\@errs, ['configure: error: --with-http2: libnghttp2 1.52 or later not found '
                       . '(Debian: apt-get install libnghttp2-dev)'],
              'configure --with-http2 with libnghttp2 missing: one error line');
    ($rc, $out, $b) = configure('--without-http2');
    is($rc, 0, 'configure --without-http2: exit 0') or diag($out);
    unlike($out, qr/nghttp2/, 'configure --without-http2: libnghttp2 is not probed');
    unlike(read_file("$b/pco_modules.c") // '', qr/\bpco_http2_module\b/,
           '--without-http2: the http2 module is left out');
    unlike(read_file("$b/Makefile") // '', qr/nghttp2/, '--without-http2: not linked');
}

# ---- Build: make install (prefix layout, an existing conf never overwritten) -------------------

SKIP: {
    my $mf = dirname($bin) . '/Makefile';
    skip('no generated Makefile next to the binary', 12) unless -f $mf;
    my $dest = tempdir('portico-audit-inst-XXXXXX', DIR => '/tmp', CLEANUP => 1);
    my ($prefix) = (read_file($mf) // '') =~ /^PREFIX = (.*?)\/?$/m;
    my $root = "$dest$prefix";
    my $cwd = Cwd::getcwd();
    chdir $repo;
    # -o build: install what is built, never rebuild a shared build directory from a test
    my ($rc, $out, $err) = Portico::run_cmd('make', '-s', '-f', $mf, '-o', 'build', 'install',
                                            "DESTDIR=$dest");
    is($rc, 0, 'make install: exit 0') or diag($out . $err);
    ok(-x "$root/sbin/portico", 'make install: sbin/portico');
    ok(-f "$root/conf/portico.conf", 'make install: conf/portico.conf');
    ok(-f "$root/conf/mime.types", 'make install: conf/mime.types');
    ok(-d "$root/logs", 'make install: logs/');
    ok(-d "$root/cache", 'make install: cache folder');
    is(read_file("$root/conf/portico.conf"), read_file("$repo/conf/production.conf"),
       'make install: the production starting point (conf/production.conf), not the demo');
    write_file("$root/conf/portico.conf", "# the operator's own configuration\n");
    ($rc, $out, $err) = Portico::run_cmd('make', '-s', '-f', $mf, '-o', 'build', 'install',
                                         "DESTDIR=$dest");
    chdir $cwd;
    is($rc, 0, 'make install again: exit 0') or diag($out . $err);
    is(read_file("$root/conf/portico.conf"), "# the operator's own configuration\n",
       'make install again: the existing conf/portico.conf is not overwritten');
    ok(-f "$root/conf/portico.conf.default", 'make install again: the shipped one beside it');
    write_file("$root/conf/portico.conf", read_file("$repo/conf/portico.conf"));
    ($rc, $out, $err) = Portico::run_cmd("$root/sbin/portico", '-p', "$root/", '-t');
    is($rc, 0, 'installed binary: -t accepts the installed configuration') or diag($out . $err);
    like($out . $err, qr{\Q$root\E/conf/portico\.conf test is successful},
         'installed binary: -c defaults to PREFIX/conf/portico.conf');
}

# ---- Build: scripts/install-deps names the packages for Fedora/Alpine --------------------------

SKIP: {
    my $ok = $is_root && system('sh -c "command -v unshare && command -v mount" >/dev/null 2>&1') == 0
        && system('unshare -m true >/dev/null 2>&1') == 0;
    skip('needs root and mount namespaces (unshare -m)', 4) unless $ok;
    my $tmp = tempdir('portico-audit-os-XXXXXX', DIR => '/tmp', CLEANUP => 1);
    for my $os (['fedora', qr/dnf install -y .*\bopenssl-devel\b.*\bpcre2-devel\b.*\bzlib-devel\b.*\blibconfig-devel\b/],
                ['alpine', qr/apk add .*\bopenssl-dev\b.*\bpcre2-dev\b.*\bzlib-dev\b.*\blibconfig-dev\b/])
    {
        my ($id, $re) = @$os;
        write_file("$tmp/os-release-$id", "ID=$id\nNAME=$id\n");
        my ($rc, $out, $err) = Portico::run_cmd('unshare', '-m', 'sh', '-c',
            "mount --bind $tmp/os-release-$id /etc/os-release && $repo/scripts/install-deps");
        is($rc, 1, "install-deps on $id: exit 1 (nothing installed)");
        like($out . $err, $re, "install-deps on $id: names the $id packages");
    }
}

# ---- Engine: daemonise unless daemon = false ---------------------------------------------------

{
    my $p = Portico->new(conf => ret_conf('daemon', "daemon = true;\n"), start => 0);
    my ($rc, $out, $err) = $p->run();
    is($rc, 0, 'daemon = true: the command returns 0') or diag($out . $err);
    my $pidfile = $p->prefix . '/logs/portico.pid';
    my $mpid;
    wait_until(sub { ($mpid) = (read_file($pidfile) // '') =~ /^(\d+)\n\z/; $mpid }, 10);
    ok($mpid, 'daemon = true: pid file written');
    $mpid //= 0;
    ok($mpid && wait_until(sub { body_of($p->port(1)) eq "daemon\n" }, 10),
       'daemon = true: serving in the background');
    like(Portico::title($mpid) // '', qr/^portico: master process/, 'daemon = true: master title');
    isnt(stat_field($mpid, 1) // 0, $$, 'daemon = true: the master is not our child');
    is(stat_field($mpid, 3), $mpid, 'daemon = true: the master leads its own session');
    ($rc, $out, $err) = $p->run('-s', 'stop');
    is($rc, 0, 'daemon = true: -s stop') or diag($out . $err);
    my $gone = wait_until(sub { !kill(0, $mpid) || (stat_field($mpid, 0) // 'Z') eq 'Z' }, 15);
    ok($gone, 'daemon = true: the master exits on -s stop');
    kill 'KILL', $mpid if $mpid && !$gone;
}

# ---- Engine: worker_processes = "auto" = online CPUs; daemon = false logs to stderr too --------

{
    my $cpus = `getconf _NPROCESSORS_ONLN 2>/dev/null` || 0;
    $cpus =~ s/\s+//g;
    my $p = Portico->new(conf => ret_conf('auto', "worker_processes = \"auto\";\n"));
    ok($p->wait_for(sub { $p->worker_pids == $cpus }, 10),
       "worker_processes = \"auto\": $cpus workers (online CPUs)");
    ok($p->wait_for(sub { ($p->stderr_log // '') =~ /\[notice\] \d+#\d+: start worker process/ }, 5),
       'daemon = false: the error log also goes to stderr');
    like($p->error_log // '', qr/\[notice\] \d+#\d+: start worker process/,
         'daemon = false: and to the error log file');
    $p->stop;
}

# ---- Engine: drops privileges to `user` when root; `user` ignored with a notice otherwise -----

SKIP: {
    skip('not running as root', 6) unless $is_root;
    my $uid = getpwnam('nobody');
    skip('no user nobody', 6) unless defined $uid;
    my $p = Portico->new(conf => ret_conf('user'));
    my ($w) = one_worker($p);
    # the title is set just before the switch: wait for the worker to finish starting
    body_of($p->port(1));
    my $st = '';
    wait_until(sub { $st = read_file("/proc/$w/status") // ''; $st =~ /^Uid:\s+$uid\s/m }, 10);
    like($st, qr/^Uid:\s+$uid\s+$uid\s+$uid\s+$uid$/m, 'root: the worker runs as nobody (default user)');
    my $gid = (getpwnam('nobody'))[3];
    like($st, qr/^Gid:\s+$gid\s+$gid\s/m, "root: and its group ($gid)");
    like(read_file('/proc/' . $p->pid . '/status') // '', qr/^Uid:\s+0\s/m, 'root: the master stays root');
    $p->stop;

    skip('no setpriv', 3) unless system('sh -c "command -v setpriv" >/dev/null 2>&1') == 0;
    my $wrap = tempdir('portico-audit-wrap-XXXXXX', DIR => '/tmp', CLEANUP => 1);
    chmod 0755, $wrap;
    write_file("$wrap/portico", "#!/bin/sh\nexec setpriv --reuid=$uid --regid=$uid --clear-groups "
               . "$bin \"\$@\"\n", 0755);
    local $ENV{PORTICO_BIN} = "$wrap/portico";
    my $q = Portico->new(conf => ret_conf('nonroot', "user = \"root\";\n"));
    is(body_of($q->port(1)), "nonroot\n", 'not root: serving');
    like($q->error_log // '', qr/\[notice\] \d+#\d+: user is ignored: not running as root/,
         'not root: `user` ignored with a notice');
    my ($w2) = one_worker($q);
    body_of($q->port(1));
    like(read_file("/proc/$w2/status") // '', qr/^Uid:\s+$uid\s/m, 'not root: the worker keeps the uid');
    $q->stop;

    # not root, hard RLIMIT_NOFILE too low for worker_connections: raised to the hard limit, warned
    skip('no prlimit', 3) unless system('sh -c "command -v prlimit" >/dev/null 2>&1') == 0;
    write_file("$wrap/portico", "#!/bin/sh\nexec prlimit --nofile=100:200 setpriv --reuid=$uid "
               . "--regid=$uid --clear-groups $bin \"\$@\"\n", 0755);
    my $r = Portico->new(conf => ret_conf('lowlimit', "worker_connections = 1024;\n"));
    my ($w3) = one_worker($r);
    is(soft_nofile($w3), 200, 'not root, hard limit 200: the soft limit is raised to it');
    my $warn = '\[warn\] \d+#\d+: RLIMIT_NOFILE is 200 \(hard limit\), below the 2112 '
        . 'that worker_connections needs';
    like($r->error_log // '', qr/$warn/,
         'not root, hard limit 200: a warning in the error log names both numbers');
    is(body_of($r->port(1)), "lowlimit\n", 'not root, hard limit 200: serving');
    $r->stop;
}

# ---- Engine: RLIMIT_NOFILE raised to fit worker_connections ------------------------------------

SKIP: {
    skip('no prlimit', 2) unless system('sh -c "command -v prlimit" >/dev/null 2>&1') == 0;
    my $hard = `prlimit --pid $$ --nofile --noheadings --raw --output HARD` // '';
    $hard =~ s/\s+//g;
    skip("hard RLIMIT_NOFILE $hard below 4096", 2) unless $hard eq 'unlimited' || $hard >= 4096;
    system('prlimit', '--pid', $$, "--nofile=256:$hard") == 0 or skip('prlimit failed', 2);
    my $p = Portico->new(conf => ret_conf('nofile', "worker_connections = 1024;\n"));
    system('prlimit', '--pid', $$, "--nofile=1024:$hard");
    my ($w) = one_worker($p);
    is(soft_nofile($w), 2 * 1024 + 64, 'RLIMIT_NOFILE raised from 256 to 2 * worker_connections + 64');
    is(body_of($p->port(1)), "nofile\n", 'RLIMIT_NOFILE: serving');
    $p->stop;
}

# ---- Engine: worker_rlimit_nofile sets the limit exactly, and warns when it is too small ------

SKIP: {
    skip('no prlimit', 4) unless system('sh -c "command -v prlimit" >/dev/null 2>&1') == 0;
    my $hard = `prlimit --pid $$ --nofile --noheadings --raw --output HARD` // '';
    $hard =~ s/\s+//g;
    skip("hard RLIMIT_NOFILE $hard below 4096", 4) unless $hard eq 'unlimited' || $hard >= 4096;
    my $p = Portico->new(conf => ret_conf('exact', "worker_connections = 16;\n"
                                                   . "worker_rlimit_nofile = 300;\n"));
    my ($w) = one_worker($p);
    is(soft_nofile($w), 300, 'worker_rlimit_nofile = 300 below the soft limit: set exactly');
    unlike($p->error_log // '', qr/worker_rlimit_nofile/, 'enough for worker_connections: no warning');
    $p->stop;
    my $q = Portico->new(conf => ret_conf('small', "worker_connections = 1024;\n"
                                                   . "worker_rlimit_nofile = 500;\n"));
    ($w) = one_worker($q);
    is(soft_nofile($w), 500, 'worker_rlimit_nofile = 500: set');
    like($q->error_log // '', qr/\[warn\] \d+#\d+: worker_rlimit_nofile 500 is below the 2112 that worker_connections needs/,
         'worker_rlimit_nofile below 2 * worker_connections + 64: a warning in the error log');
    $q->stop;
}

# ---- Engine: at worker_connections a worker stops accepting (no reset), then resumes ----------

{
    my $p = Portico->new(conf => ret_conf('wc', "worker_connections = 16;\n"));
    $p->allow(qr/worker_connections are not enough/);
    my @socks;
    for (1 .. 24) {
        my $s = http_connect($p->port(1)) or next;
        push @socks, $s;
    }
    is(scalar @socks, 24, 'worker_connections: 24 TCP connections established (kernel queue)');
    http_send($_, "GET / HTTP/1.1\r\nHost: x\r\n\r\n") for @socks;
    my (@served, @waiting);
    for my $s (@socks) {
        my $r = http_read_response($s, timeout => 1);
        if (length $r) { push @served, $s; } else { push @waiting, $s; }
    }
    ok(@served >= 1 && @served <= 15, 'worker_connections = 16: at most 15 clients served ('
       . scalar(@served) . ')');
    ok(@waiting >= 9, 'worker_connections: the others wait (' . scalar(@waiting) . ')');
    is(scalar(grep { ${*$_}{portico_eof} } @waiting), 0,
       'worker_connections: waiting clients are neither reset nor closed');
    close $_ for @served;
    my $ok = 0;
    for my $s (@waiting) {
        my ($st, $h, $b) = http_parse(http_read_response($s, timeout => 10));
        $ok++ if defined $st && $st == 200 && $b eq "wc\n";
    }
    is($ok, scalar @waiting, 'worker_connections: waiting clients served once slots free up');
    close $_ for @waiting;
    my @lines = grep { /worker_connections are not enough/ } split /\n/, $p->error_log // '';
    ok(@lines >= 1, 'worker_connections: the limit is logged');
    my %per_sec;
    $per_sec{ substr($_, 0, 19) }++ for @lines;
    is(scalar(grep { $_ > 1 } values %per_sec), 0, 'worker_connections: logged at most once a second');
    $p->stop;
}

# ---- Engine: EMFILE handled without spinning ------------------------------------------------

SKIP: {
    skip('no prlimit', 5) unless system('sh -c "command -v prlimit" >/dev/null 2>&1') == 0;
    my $hard = `prlimit --pid $$ --nofile --noheadings --raw --output HARD` // '';
    $hard =~ s/\s+//g;
    system('prlimit', '--pid', $$, "--nofile=30:$hard") == 0 or skip('prlimit failed', 5);
    my $p = eval {
        Portico->new(conf => ret_conf('emfile', "worker_connections = 1024;\nworker_rlimit_nofile = 40;\n"));
    };
    system('prlimit', '--pid', $$, "--nofile=1024:$hard");
    skip("start failed: $@", 5) unless $p;
    $p->allow(qr/accept4\(\) failed, pausing accepts/);
    my ($w) = one_worker($p);
    is(soft_nofile($w), 40, 'EMFILE: the worker runs with worker_rlimit_nofile = 40');
    my @socks = grep { defined } map { http_connect($p->port(1)) } 1 .. 60;
    http_send($_, "GET / HTTP/1.1\r\nHost: x\r\n\r\n") for @socks;
    sleep 0.5;
    my $cpu0 = (stat_field($w, 11) // 0) + (stat_field($w, 12) // 0);
    sleep 2;
    my $cpu1 = (stat_field($w, 11) // 0) + (stat_field($w, 12) // 0);
    ok($cpu1 - $cpu0 < 60, 'EMFILE: the worker does not spin (' . ($cpu1 - $cpu0)
       . ' ticks of CPU in 2 s)');
    ok($p->wait_for(sub { ($p->error_log // '') =~
                          /\[alert\] \d+#\d+: accept4\(\) failed, pausing accepts for 100ms \(24: /
                    }, 5), 'EMFILE: logged');
    my (@served, @waiting);
    for my $s (@socks) {
        my $r = http_read_response($s, timeout => 0.3);
        if (length $r) { push @served, $s; } else { push @waiting, $s; }
    }
    close $_ for @served;
    my $ok = 0;
    for my $s (@waiting) {
        my ($st) = http_parse(http_read_response($s, timeout => 10));
        $ok++ if defined $st && $st == 200;
    }
    ok(@waiting > 0, 'EMFILE: some clients waited (' . scalar(@waiting) . ')');
    is($ok, scalar @waiting, 'EMFILE: accepting resumes once descriptors are free');
    close $_ for @waiting;
    $p->stop;
}

# ---- Signals: HUP lets old workers finish in-flight requests, closes idle keep-alive,
#      and bounds the rest by worker_shutdown_timeout ----------------------------------------

{
    my $head = "worker_shutdown_timeout = \"3s\";\nhttp = { client_header_timeout = \"60s\"; };\n";
    my $p = Portico->new(conf => ret_conf('v1', $head));
    my ($w) = one_worker($p);
    my $idle = http_connect($p->port(1));
    http_send($idle, "GET /idle HTTP/1.1\r\nHost: x\r\n\r\n");
    is((http_parse(http_read_response($idle)))[0], 200, 'HUP: an idle keep-alive connection');
    my $slow = http_connect($p->port(1));
    http_send($slow, "GET /slow HTTP/1.1\r\nHost: x\r\n");
    my $stuck = http_connect($p->port(1));
    http_send($stuck, "GET /stuck HTTP/1.1\r\n");
    sleep 0.5;
    $p->write_conf(ret_conf('v2', $head));
    my $t0 = time;
    $p->signal('HUP');
    ok($p->wait_for(sub { body_of($p->port(1)) eq "v2\n" }, 10), 'HUP: new workers answer');
    is(Portico::title($w) // '', 'portico: worker process is shutting down',
       'HUP: the old worker reads "worker process is shutting down"');
    ok(http_closed($idle, 5), 'HUP: the idle keep-alive connection is closed');
    http_send($slow, "Connection: close\r\n\r\n");
    my ($st, $h, $b) = http_parse(http_read_response($slow, timeout => 5));
    is("$st $b", "200 v1\n", 'HUP: the in-flight request finishes on the old configuration');
    # a retiring worker half-closes after Connection: close and waits (up to 2 s) for the
    # client's end: a client that has its answer closes, so only the stuck one is left
    close $slow;
    ok(http_closed($stuck, 15), 'HUP: a stuck request is closed by worker_shutdown_timeout');
    ok($p->wait_for(sub { !kill 0, $w }, 15), 'HUP: the old worker exits');
    my $took = time - $t0;
    ok($took >= 2 && $took < 15, sprintf('HUP: after about worker_shutdown_timeout (%.1f s)', $took));
    like($p->error_log // '', qr/\[notice\] $w#\d+: shutdown timeout: closing 1 connections?/,
         'HUP: the shutdown timeout is logged');
    $p->stop;
}

# ---- Signals: under load, a reload fails no request (docs/architecture.md), with and without reuse

for my $rp (qw(false true)) {
    my $conf = <<"EOF";
worker_processes = 2;
servers = ( {
  listen = ( { address = "127.0.0.1:%%PORT1%%"; reuseport = $rp; } );
  routes = ( { match = { path_prefix = "/"; }; return = { status = 200; body = "BODY\\n"; }; } );
} );
EOF
    my $p = Portico->new(conf => $conf =~ s/BODY/v0/r);
    my $kid = fork();
    die "fork: $!" unless defined $kid;
    if ($kid == 0) {
        for my $i (1 .. 3) {
            sleep 0.8;
            $p->write_conf($conf =~ s/BODY/v$i/r);
            kill 'HUP', $p->pid;
        }
        POSIX::_exit(0);
    }
    my ($ok, $bad, %seen) = (0, 0);
    my $end = time + 4;
    while (time < $end) {
        my ($st, $h, $b) = http_parse(http_raw($p->port(1),
            "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", timeout => 10));
        if (defined $st && $st == 200) { $ok++; $seen{$b}++; } else { $bad++; }
    }
    waitpid($kid, 0);
    ok($p->wait_for(sub { body_of($p->port(1)) eq "v3\n" }, 10), "reuseport = $rp: last reload active");
    is($bad, 0, "reuseport = $rp: three HUPs under load, no request failed ($ok succeeded)");
    ok($ok > 50, "reuseport = $rp: requests kept flowing during the reloads");
    $p->stop;
}

# ---- Signals: HUP binds new listeners, closes removed ones; a bind failure keeps the old -----

{
    my $mk = sub {
        my ($ports, $body) = @_;
        my $l = join(', ', map { "\"127.0.0.1:%%PORT$_%%\"" } @$ports);
        return "servers = ( { listen = [$l];\n  routes = ( { match = { path_prefix = \"/\"; }; "
            . "return = { status = 200; body = \"$body\\n\"; }; } ); } );\n";
    };
    my $p = Portico->new(conf => $mk->([1], 'a'));
    $p->allow(qr/\[emerg\] \d+#\d+: bind\(\) to 127\.0\.0\.1:\d+ failed \(98: /);
    $p->write_conf($mk->([2], 'b'));
    $p->signal('HUP');
    ok($p->wait_for(sub { body_of($p->port(2)) eq "b\n" }, 10), 'HUP: a new listener is bound');
    ok($p->wait_for(sub { !http_connect($p->port(1)) }, 10), 'HUP: a removed listener is closed');

    my $busy = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $p->port(3),
                                     Listen => 5, ReuseAddr => 1);
    ok($busy, 'a port held by another program');
    $p->write_conf($mk->([2, 3], 'c'));
    $p->signal('HUP');
    ok($p->wait_for(sub { ($p->error_log // '') =~ /configuration reload failed, keeping the old one/ }, 10),
       'HUP with a port in use: the reload fails and says so');
    like($p->error_log // '', qr/\[emerg\] \d+#\d+: bind\(\) to 127\.0\.0\.1:${\ $p->port(3)} failed \(98: /,
         'HUP with a port in use: the bind error is logged');
    is(body_of($p->port(2)), "b\n", 'HUP with a port in use: the old configuration still serves');
    close $busy if $busy;
    $p->stop;
}

# ---- Signals: INT is a fast stop like TERM ----------------------------------------------------

{
    my $p = Portico->new(conf => ret_conf('int', "worker_processes = 2;\n"));
    ok($p->wait_for(sub { $p->worker_pids == 2 }, 10), 'INT: two workers');
    my @w = $p->worker_pids;
    $p->signal('INT');
    ok($p->wait_exit(10), 'INT: the master exits');
    is($p->exit_status, 0, 'INT: exit status 0');
    ok(!-e ($p->prefix . '/logs/portico.pid'), 'INT: pid file removed');
    ok($p->wait_for(sub { !grep { kill 0, $_ } @w }, 5), 'INT: the workers exited');
    $p->stop;
}

# ---- Workers: connection memory and descriptors are released when connections close ---------

{
    my $p = Portico->new(conf => ret_conf('mem'));
    my ($w) = one_worker($p);
    ok($w, "memory: the worker ($w)");
    my $rss = sub { ((read_file("/proc/$w/status") // '') =~ /VmRSS:\s+(\d+)/)[0] // 0 };
    my $fds = sub { scalar(() = glob("/proc/$w/fd/*")) };
    body_of($p->port(1));
    # the baseline once the worker has closed that connection: the client sees its EOF (the
    # FIN, sent by shutdown with the response's last bytes) just before the worker's close()
    my ($fd0, $stable) = ($fds->(), 0);
    wait_until(sub { my $n = $fds->(); $stable = $n == $fd0 ? $stable + 1 : 0; $fd0 = $n;
                     $stable >= 4 }, 5);
    my $round = sub {
        my @s = grep { defined } map { http_connect($p->port(1)) } 1 .. 300;
        http_send($_, "GET / HTTP/1.1\r\nHost: x\r\nX-Pad: " . ('p' x 8000) . "\r\n") for @s;
        sleep 0.5;
        close $_ for @s;
        return scalar @s;
    };
    is($round->(), 300, 'memory: 300 connections with half-sent 8 KB heads');
    ok($p->wait_for(sub { $fds->() == $fd0 }, 10), 'memory: descriptors back to the baseline');
    my $r1 = $rss->();
    $round->();
    $round->();
    ok($p->wait_for(sub { $fds->() == $fd0 }, 10), 'memory: descriptors back after two more rounds');
    my $r2 = $rss->();
    SKIP: {
        # ASan keeps freed memory in quarantine (and LeakSanitizer checks at exit instead)
        skip('sanitizer build: RSS is not meaningful', 1) if $asan_build;
        ok($r2 - $r1 < 2048, "memory: two more rounds do not grow the worker (RSS $r1 -> $r2 kB)");
    }
    is(body_of($p->port(1)), "mem\n", 'memory: still serving');
    $p->stop;
}

# ---- Engine: listeners: backlog (clamped to somaxconn) and reuseport per worker ---------------

SKIP: {
    skip('no ss', 3) unless system('sh -c "command -v ss" >/dev/null 2>&1') == 0;
    my $somax = read_file('/proc/sys/net/core/somaxconn') // 4096;
    $somax =~ s/\s+//g;
    my $p = Portico->new(conf => <<'EOF');
worker_processes = 2;
servers = ( {
  listen = ( { address = "127.0.0.1:%%PORT1%%"; reuseport = true; backlog = 77; },
             { address = "127.0.0.1:%%PORT2%%"; },
             { address = "127.0.0.1:%%PORT3%%"; backlog = 1000000000; } );
  routes = ( { match = { path_prefix = "/"; }; return = { status = 200; body = "l\n"; }; } );
} );
EOF
    ok($p->wait_for(sub { $p->worker_pids == 2 }, 10), 'listeners: two workers');
    my $ss = sub {
        my ($port) = @_;
        return grep { /^LISTEN/ } split /\n/, `ss -Hltn 'sport = :$port' 2>/dev/null`;
    };
    my @l1 = $ss->($p->port(1));
    is(join(',', map { (split ' ', $_)[2] } @l1), '77,77',
       'reuseport: one listening socket per worker, backlog 77');
    my @l2 = $ss->($p->port(2));
    is(join(',', map { (split ' ', $_)[2] } @l2), '511', 'backlog default 511, one shared socket');
    my @l3 = $ss->($p->port(3));
    is(join(',', map { (split ' ', $_)[2] } @l3), $somax, 'backlog clamped to somaxconn');
    $p->stop;
}

# ---- Command line: -g merges groups; -t errors and warnings ---------------------------------

{
    my $p = Portico->new(conf => ret_conf('g', "http = { keepalive_requests = 7; };\n"), start => 0);
    my ($rc, $out, $err) = $p->run('-T', '-g', 'http = { keepalive_timeout = "5s"; };');
    is($rc, 0, '-g with a group: exit 0') or diag($err);
    my ($http) = $out =~ /^http = \{\n(.*?)^\};/ms;
    like($http // '', qr/^\s+keepalive_timeout = "5s";/m, '-g merges a group: its value');
    like($http // '', qr/^\s+keepalive_requests = 7;/m, '-g merges a group: the file values stay');

    $p->write_conf(<<'EOF');
servers = ( {
  listen = ["127.0.0.1:%%PORT1%%"];
  routes = ( { match = { path_prefix = "/"; }; return = { status = 302; location = "$arg_next"; }; } );
} );
EOF
    my $line = $p->line_of(qr/arg_next/);
    my $file = $p->conf_file;
    my ($rc2, $out2) = $p->run_t('-t');
    is($rc2, 0, 'location starting with a variable: -t still succeeds') or diag($out2);
    like($out2, qr/^\Q$file\E:$line: warning: .*location starts with a variable/m,
         '-t warns about a location starting with a variable (open redirect)');

    $p->write_conf("error_log = { path = \"logs/error.log\"; level = \"debug\"; };\n" . ret_conf('d'));
    $line = $p->line_of(qr/level = "debug"/);
    my ($rc3, $out3) = $p->run_t('-t');
    if ($debug_build) {
        is($rc3, 0, 'error_log level debug accepted by a --with-debug build') or diag($out3);
    } else {
        is($rc3, 1, 'error_log level debug without --with-debug: exit 1');
        like($out3, qr/^\Q$file\E:$line: .*--with-debug/m, 'level debug: FILE:LINE names --with-debug');
    }
}

# ---- HTTP: Server, X-Request-Id, Date and Connection: close on every error status ------------

{
    my $p = Portico->new(conf => <<'EOF', start => 0);
http = { max_header_size = "4k"; max_uri_size = "1k"; client_max_body_size = 100;
         client_header_timeout = "1s"; request_id = { trust_from = ["127.0.0.1"]; }; };
servers = ( {
  listen = ["127.0.0.1:%%PORT1%%"];
  routes = (
    { match = { path_prefix = "/s/"; }; static = { root = "html"; }; },
    { match = { path_prefix = "/"; }; return = { status = 200; body = "ok\n"; }; }
  );
} );
EOF
    write_file($p->prefix . '/html/s/noindex/x.txt', "x\n");
    write_file($p->prefix . '/html/s/unreadable.txt', "u\n", 0600);
    $p->start;
    my $H = "Host: x\r\n";
    my @cases = (
        [400, "GET / HTTP/1.1\r\n\r\n", 'no Host'],
        [405, "TRACE / HTTP/1.1\r\n$H\r\n", 'TRACE'],
        [413, "POST / HTTP/1.1\r\n${H}Content-Length: 101\r\n\r\n" . ('b' x 101), 'body too large'],
        [414, "GET /" . ('a' x 2000) . " HTTP/1.1\r\n$H\r\n", 'URI too long'],
        [417, "POST / HTTP/1.1\r\n${H}Expect: foo\r\nContent-Length: 1\r\n\r\nx", 'Expect: foo'],
        [431, "GET / HTTP/1.1\r\n${H}X-Big: " . ('a' x 5000) . "\r\n\r\n", 'head too large'],
        [505, "GET / HTTP/2.0\r\n$H\r\n", 'HTTP/2.0'],
    );
    for my $c (@cases) {
        my ($want, $req, $what) = @$c;
        my $r = http_exchange($p->port(1), $req, timeout => 5);
        my ($st, $h, $b) = http_parse($r->{raw});
        is($st, $want, "$what: $want");
        is($h->{server}, 'portico', "$what: Server: portico");
        like($h->{'x-request-id'} // '', qr/^[0-9a-f]{32}$/, "$what: X-Request-Id");
        like($h->{date} // '', qr/ GMT$/, "$what: Date");
        is(lc($h->{connection} // ''), 'close', "$what: Connection: close");
        like($b, qr/^$want .*\nrequest_id: \Q$h->{'x-request-id'}\E\n\z/s,
             "$what: body with status and request id") if $h->{'x-request-id'};
        ok($r->{eof}, "$what: connection closed");
    }
    for my $c ([403, '/s/noindex/', 'directory without index'],
               [403, '/s/unreadable.txt', 'unreadable file'],
               [404, '/s/missing.txt', 'missing file'],
               [301, '/s/noindex', 'directory without slash'])
    {
        my ($want, $path, $what) = @$c;
        my ($st, $h) = http_parse(http_get($p->port(1), $path, 'X-Request-Id' => "rid-$want"));
        is($st, $want, "static $what: $want (as nginx)");
        is($h->{server}, 'portico', "static $what: Server: portico");
        is($h->{'x-request-id'}, "rid-$want", "static $what: X-Request-Id");
    }
    write_file($p->prefix . '/html/s/f.txt', "0123456789\n");
    utime(1700000000, 1700000000, $p->prefix . '/html/s/f.txt');
    for my $c ([304, ['If-Modified-Since' => 'Tue, 14 Nov 2023 22:13:20 GMT'], 'not modified'],
               [206, [Range => 'bytes=0-1'], 'range'],
               [416, [Range => 'bytes=100-200'], 'unsatisfiable range'])
    {
        my ($want, $hdrs, $what) = @$c;
        my ($st, $h) = http_parse(http_get($p->port(1), '/s/f.txt', @$hdrs));
        is($st, $want, "static $what: $want");
        is($h->{server}, 'portico', "static $what: Server: portico");
        like($h->{'x-request-id'} // '', qr/^[0-9a-f]{32}$/, "static $what: X-Request-Id");
        like($h->{date} // '', qr/ GMT$/, "static $what: Date");
    }
    # a slow head: 408 or a close, with the headers when there is a response
    my $s = http_connect($p->port(1));
    http_send($s, "GET / HTTP/1.1\r\n");
    ok(http_closed($s, 8), 'slow head: closed after client_header_timeout');
    my ($st, $h) = http_parse(${*$s}{portico_buf} // '');
    if (defined $st) {
        is($st, 408, 'slow head: 408');
        is($h->{server}, 'portico', 'slow head 408: Server: portico');
    }
    close $s;
    $p->stop;
}

# ---- HTTP: timeouts and zero values (docs/http.md) ----------------------------------------------

{
    my $p = Portico->new(conf => <<'EOF', start => 0);
http = { keepalive_timeout = "1s"; client_body_timeout = "1s"; send_timeout = "1s";
         client_max_body_size = 100; request_id = { trust_from = ["127.0.0.1"]; }; };
servers = (
  { listen = ["127.0.0.1:%%PORT1%%"];
    routes = ( { match = { path_prefix = "/big"; }; static = { root = "html"; }; },
               { match = { path_prefix = "/"; }; return = { status = 200; body = "ok\n"; }; } ); },
  { listen = ["127.0.0.1:%%PORT2%%"]; keepalive_timeout = 0; client_max_body_size = 0;
    server_tokens = true;
    routes = ( { match = { path_prefix = "/"; }; return = { status = 200; body = "zero\n"; }; } ); }
);
EOF
    write_file($p->prefix . '/html/big/file.bin', 'b' x (16 * 1024 * 1024));
    $p->start;

    my $c = http_connect($p->port(1));
    http_send($c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    is((http_parse(http_read_response($c)))[0], 200, 'keepalive_timeout 1s: first response');
    my $t0 = time;
    ok(http_closed($c, 6), 'keepalive_timeout 1s: the idle connection is closed');
    ok(time - $t0 >= 0.8, 'keepalive_timeout 1s: not before the timeout');

    # client_body_timeout: the body never completes
    $c = http_connect($p->port(1));
    http_send($c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nab");
    ok(http_closed($c, 8), 'client_body_timeout: a stalled body is closed');

    my ($s, $h, $b);
    my $closed;
    my @r = http_keepalive($p->port(2), [ "GET / HTTP/1.1\r\nHost: x\r\n\r\n" ], closed => \$closed);
    ($s, $h, $b) = http_parse($r[0] // '');
    is(lc($h->{connection} // ''), 'close', 'keepalive_timeout = 0: Connection: close');
    ok($closed, 'keepalive_timeout = 0: closed after the response');
    like($h->{server} // '', qr{^portico/\d+\.\d+\.\d+$}, 'server_tokens = true: Server: portico/X.Y.Z');
    ($s) = http_parse(http_raw($p->port(2), "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 300000\r\n"
                                            . "Connection: close\r\n\r\n" . ('y' x 300000), timeout => 10));
    is($s, 200, 'client_max_body_size = 0: unlimited');

    # lingering close: a 413 while the client is still sending a large body
    {
        local $SIG{PIPE} = 'IGNORE';
        my $sk = http_connect($p->port(1));
        $sk->blocking(0);
        my $req = "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n" . ('z' x 2000000);
        my ($off, $resp, $reset) = (0, '', 0);
        my $end = time + 10;
        while (time < $end) {
            if ($off < length $req) {
                my $n = syswrite($sk, $req, 65536, $off);
                $off += $n if defined $n;
            }
            my $n = sysread($sk, my $buf, 65536);
            if (defined $n) {
                last if $n == 0;
                $resp .= $buf;
                last if $resp =~ /\r\n\r\n.*request_id: \S+\n/s;
            } elsif (!$!{EAGAIN}) {
                $reset = 1;
                last;
            }
            sleep 0.002;
        }
        like($resp, qr{^HTTP/1\.1 413 }, 'lingering close: the client reads the 413 while sending');
        ok(!$reset || length $resp, 'lingering close: no reset before the response');
        close $sk;
    }

    # send_timeout, and the error log context of docs/settings.md (client, request, request_id)
    my $d = http_connect($p->port(1));
    setsockopt($d, SOL_SOCKET, SO_RCVBUF, 4096);
    http_send($d, "GET /big/file.bin HTTP/1.1\r\nHost: x\r\nX-Request-Id: audit-send-timeout\r\n\r\n");
    my $got = '';
    my $end = time + 5;
    while (time < $end && $got !~ /\r\n\r\n/) {
        my $rin = '';
        vec($rin, fileno($d), 1) = 1;
        select(my $rout = $rin, undef, undef, 0.2) or next;
        sysread($d, my $buf, 1024) or last;
        $got .= $buf;
    }
    like($got, qr{^HTTP/1\.1 200 }, 'send_timeout: the response starts');
    my $re = '^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \[info\] \d+#\d+: client timed out sending the response '
        . '\(\d+ of \d+ bytes sent\), '
        . 'client: 127\.0\.0\.1, (?:server: \S+, )?request: "GET /big/file\.bin HTTP/1\.1", '
        . 'request_id: audit-send-timeout$';
    $re = qr/$re/m;
    ok($p->wait_for(sub { ($p->error_log // '') =~ $re }, 10),
       'send_timeout: logged with client, request and request_id (docs/settings.md line)')
        or diag($p->error_log);
    close $d;
    $p->stop;
}

# ---- HTTP: 100 Continue only after routing and the body-size check; never to HTTP/1.0 --------

{
    my $p = Portico->new(conf => <<'EOF');
http = { client_max_body_size = 100; };
servers = ( {
  listen = ["127.0.0.1:%%PORT1%%"];
  routes = ( { match = { path_prefix = "/r"; }; return = { status = 200; body = "ok\n"; }; } );
} );
EOF
    my $H = "Host: x\r\nExpect: 100-continue\r\n";
    my $r = http_exchange($p->port(1), "POST /none HTTP/1.1\r\n${H}Content-Length: 5\r\n\r\n",
                          timeout => 5);
    is(join(',', $r->{raw} =~ m{^HTTP/1\.1 (\d+)}mg), '404',
       'Expect: 100-continue without a matching route: 404 and no 100');
    $r = http_exchange($p->port(1), "POST /r HTTP/1.1\r\n${H}Content-Length: 500\r\n\r\n",
                       timeout => 5);
    is(join(',', $r->{raw} =~ m{^HTTP/1\.1 (\d+)}mg), '413',
       'Expect: 100-continue with a body over the limit: 413 and no 100');
    $r = http_exchange($p->port(1), "POST /r HTTP/1.0\r\n${H}Content-Length: 5\r\n\r\nhello",
                       timeout => 5);
    is(join(',', $r->{raw} =~ m{^HTTP/1\.\d (\d+)}mg), '200', 'HTTP/1.0 never gets 100 Continue');
    $p->stop;
}

# ---- Bad input: random bytes never crash or stall a worker --------------------------------------

{
    my $p = Portico->new(conf => ret_conf('alive', "http = { client_header_timeout = \"2s\"; };\n"));
    my ($w) = one_worker($p);
    ok($w, "random input: the worker ($w)");
    srand(20261129);
    my @pieces = ("GET / HTTP/1.1\r\n", "Host: x\r\n", "Content-Length: 3\r\n",
                  "Transfer-Encoding: chunked\r\n", "\r\n", "0\r\n\r\n", "5;a=b\r\nhello\r\n",
                  "%2e%2e/", "//", "\x00", "\xff", " ", ":", "\n", "HTTP/1.0", "Expect: 100-continue\r\n");
    my $answered = 0;
    for my $i (1 .. 200) {
        my $req = '';
        for (1 .. 1 + int(rand(12))) {
            $req .= rand() < 0.6 ? $pieces[int(rand(@pieces))]
                                 : join('', map { chr(int(rand(256))) } 1 .. int(rand(20)));
        }
        my $x = http_exchange($p->port(1), $req, timeout => 0.3, shutdown => 1);
        $answered++ if $x->{raw} =~ m{^HTTP/1\.1 \d{3} };
    }
    ok($answered > 0, "random input: answered with a status line ($answered of 200)");
    is(join(',', $p->worker_pids), $w, 'random input: the worker never died');
    is(body_of($p->port(1)), "alive\n", 'random input: still serving');
    $p->stop;
}

# ---- HTTP: pipelining with keepalive_requests: every answered request arrives before the close

{
    my $p = Portico->new(conf => ret_conf('kr', "http = { keepalive_requests = 3; };\n"));
    my $sk = http_connect($p->port(1));
    http_send($sk, join('', map { "GET /$_ HTTP/1.1\r\nHost: x\r\n\r\n" } 1 .. 8));
    my @st;
    for (1 .. 8) {
        my $r = http_read_response($sk, timeout => 3);
        last unless length $r;
        push @st, (http_parse($r))[0];
    }
    is(join(',', @st), '200,200,200', 'keepalive_requests = 3 with 8 pipelined: three responses, '
       . 'none lost to a reset');
    ok(http_closed($sk, 3), 'keepalive_requests: then closed');
    $p->stop;
}

done_testing();
