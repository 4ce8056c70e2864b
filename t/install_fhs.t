#!/usr/bin/perl
# install_fhs.t: installing like a system service (docs/building.md, "Install layout",
# "systemd", "Packaging"). Builds objs-deb/ with the FHS layout (as scripts/package-deb does)
# and checks: `portico -V` and `-T` show the compiled-in paths; `make install DESTDIR=...` puts
# every file where the layout says with its mode and never overwrites an existing configuration
# or logrotate snippet; the unit passes `systemd-analyze verify` (where it exists) and holds the
# stop, reload and hardening settings; the logrotate snippet sends USR1; the man page's
# settings agree with docs/settings.md; the prefix layout of the stock build puts the unit,
# snippet and man page under the prefix; the production configuration serves its welcome page. Then, where dpkg-deb exists, the package: its
# control fields, conffiles, contents and maintainer scripts, lintian (where installed), and
# `portico -t` on the configuration extracted into a scratch root. Every command is bounded.

use strict;
use warnings;
use Test::More;
use File::Temp qw(tempdir);
use Cwd qw(getcwd);
use lib 't/lib';
use Portico;

my $repo = Portico::repo_root();
my $B = 'objs-deb';

sub have { return system("command -v $_[0] >/dev/null 2>&1") == 0; }

# Runs a command from the repository root with a time bound: (exit code, output).
sub run
{
    my ($secs, @cmd) = @_;
    my $dir = tempdir('portico-inst-run-XXXXXX', DIR => '/tmp', CLEANUP => 1);
    my $pid = fork();
    die "fork: $!" unless defined $pid;
    if ($pid == 0) {
        chdir $repo;
        open(STDIN, '<', '/dev/null');
        open(STDOUT, '>', "$dir/out");
        open(STDERR, '>&', \*STDOUT);
        exec('timeout', '-k', '5', $secs, @cmd) or POSIX::_exit(127);
    }
    waitpid($pid, 0);
    my $rc = $? >> 8;
    return ($rc, read_file("$dir/out") // '');
}

sub mode { my @s = stat($_[0]); return @s ? sprintf('%04o', $s[2] & 07777) : 'missing'; }

plan(skip_all => 'no timeout(1)') unless have('timeout');

my @fhs = ('--prefix=/usr/share/portico', '--sbin-path=/usr/sbin/portico',
           '--conf-path=/etc/portico/portico.conf',
           '--error-log-path=/var/log/portico/error.log',
           '--http-log-path=/var/log/portico/access.log', '--pid-path=/run/portico.pid',
           '--cache-path=/var/cache/portico', '--user=portico', '--group=portico');

# ---- configure and build with FHS paths ------------------------------------------------------

my ($rc, $out) = run(120, './configure', "--builddir=$B", @fhs);
is($rc, 0, 'configure with FHS paths') or diag($out);
($rc, $out) = run(900, 'make', '-s', '-f', "$B/Makefile", '-j2', 'build');
is($rc, 0, "build $B") or BAIL_OUT("cannot build $B: $out");
my $bin = "$repo/$B/portico";

($rc, $out) = run(20, $bin, '-V');
like($out, qr{^prefix: /usr/share/portico/$}m, '-V: prefix');
is(($out =~ /^(paths: .*)$/m)[0] // '',
   'paths: conf /etc/portico/portico.conf, error log /var/log/portico/error.log, '
   . 'access log /var/log/portico/access.log, pid /run/portico.pid, cache /var/cache/portico',
   '-V: the compiled-in paths');
like($out, qr{^user: portico, group: portico$}m, '-V: user and group');
like($out, qr{^configure arguments: .*--conf-path=/etc/portico/portico\.conf}m,
     '-V: configure arguments');

($rc, $out) = run(20, $bin, '-t', '-c', '/nonexistent/portico.conf');
like($out, qr{/nonexistent/portico\.conf}, '-c still overrides the compiled-in path');
($rc, $out) = run(20, $bin, '-h');
like($out, qr{-c FILE\s+configuration file \(default: /etc/portico/portico\.conf\)},
     '-h names the absolute default');

# --prefix alone keeps the prefix layout; values that would need quoting are refused
{
    my $tmpb = tempdir('portico-inst-cfg-XXXXXX', DIR => '/tmp', CLEANUP => 1);
    my ($crc, $cout) = run(120, './configure', "--builddir=$tmpb/b", '--prefix=/opt/pco');
    is($crc, 0, 'configure --prefix alone') or diag($cout);
    my $h = read_file("$tmpb/b/pco_auto_config.h") // '';
    my %def = $h =~ /^#define (PCO_\w+)\s+(.*)$/mg;
    is(join(' ', map { "$_=" . ($def{$_} // '?') }
                 qw(PCO_PREFIX PCO_CONF_PATH PCO_ERROR_LOG_PATH PCO_HTTP_LOG_PATH PCO_PID_PATH
                    PCO_CACHE_PATH PCO_USER PCO_GROUP PCO_STOCK_LAYOUT)),
       'PCO_PREFIX="/opt/pco/" PCO_CONF_PATH="conf/portico.conf" '
       . 'PCO_ERROR_LOG_PATH="logs/error.log" PCO_HTTP_LOG_PATH="logs/access.log" '
       . 'PCO_PID_PATH="logs/portico.pid" PCO_CACHE_PATH="cache" PCO_USER="nobody" '
       . 'PCO_GROUP="" PCO_STOCK_LAYOUT=1',
       '--prefix alone: every path prefix-relative, as before');
    ($crc, $cout) = run(60, './configure', "--builddir=$tmpb/c", '--conf-path=/etc/a b.conf');
    is($crc, 1, 'a path with a space is refused');
    like($cout, qr/^configure: error: --conf-path: unusable value "\/etc\/a b\.conf"$/m,
         'with one line naming the option');
}

# ---- make install DESTDIR --------------------------------------------------------------------

my $dest = tempdir('portico-inst-XXXXXX', DIR => '/tmp', CLEANUP => 1);
($rc, $out) = run(300, 'make', '-s', '-f', "$B/Makefile", '-o', 'build', 'install',
                  "DESTDIR=$dest");
is($rc, 0, 'make install DESTDIR') or diag($out);

my %want = (
    'usr/sbin/portico'                     => '0755',
    'etc/portico/portico.conf'             => '0644',
    'etc/portico/portico.conf.default'     => '0644',
    'etc/portico/mime.types'               => '0644',
    'etc/systemd/system/portico.service'   => '0644',
    'etc/logrotate.d/portico'              => '0644',
    'usr/share/man/man8/portico.8'         => '0644',
    'usr/share/portico/html/index.html'    => '0644',
    'var/log/portico'                      => '0750',
    'var/cache/portico'                    => '0750',
);
for my $f (sort keys %want) {
    is(mode("$dest/$f"), $want{$f}, "installed $f, mode $want{$f}");
}
ok(!-e "$dest/etc/logrotate.d/portico.default", 'no second snippet for logrotate to read');
ok(!-e "$dest/run" && !-e "$dest/usr/share/portico/sbin", 'nothing in /run, no prefix sbin');
is(read_file("$dest/etc/portico/portico.conf"), read_file("$repo/conf/production.conf"),
   'the installed configuration is the production one');
unlike(read_file("$dest/etc/portico/portico.conf"), qr{docs/|8081|demo}i,
       'it refers to no unshipped document and is not the demo');

# the installed configuration with the installed binary (users that exist here)
my @t = ($dest . '/usr/sbin/portico', '-p', "$dest/usr/share/portico/",
         '-c', "$dest/etc/portico/portico.conf", '-g', 'user = "nobody"; group = "nogroup";');
($rc, $out) = run(20, @t, '-T');
is($rc, 0, 'installed configuration: -T passes') or diag($out);
like($out, qr{^pid = "/run/portico\.pid";$}m, '-T: compiled-in pid path');
like($out, qr{^  path = "/var/log/portico/error\.log";$}m, '-T: compiled-in error log');
like($out, qr{path = "/var/log/portico/access\.log";}, '-T: compiled-in access log');
like($out, qr{^daemon = true;$}m, '-T: the file daemonises (the unit adds -g)');

# an existing configuration and snippet survive a second install
write_file("$dest/etc/portico/portico.conf", "# mine\n");
write_file("$dest/etc/logrotate.d/portico", "# mine too\n");
($rc, $out) = run(300, 'make', '-s', '-f', "$B/Makefile", '-o', 'build', 'install',
                  "DESTDIR=$dest");
is($rc, 0, 'make install again') or diag($out);
is(read_file("$dest/etc/portico/portico.conf"), "# mine\n", 'existing portico.conf kept');
is(read_file("$dest/etc/logrotate.d/portico"), "# mine too\n", 'existing snippet kept');
ok(-x "$dest/usr/sbin/portico.old", 'the previous binary kept as portico.old');

# ---- the unit --------------------------------------------------------------------------------

my $unit = read_file("$dest/etc/systemd/system/portico.service") // '';
for my $line ('Type=notify', 'ExecStart=/usr/sbin/portico -g "daemon = false;"',
              'ExecReload=/usr/sbin/portico -t', 'ExecReload=/bin/kill -HUP $MAINPID',
              'KillMode=mixed', 'KillSignal=SIGQUIT', 'TimeoutStopSec=40s',
              'Restart=on-failure', 'NoNewPrivileges=yes', 'ProtectSystem=full',
              'ProtectHome=yes', 'PrivateTmp=yes', 'NotifyAccess=all',
              'CapabilityBoundingSet=CAP_NET_BIND_SERVICE CAP_SETUID CAP_SETGID CAP_CHOWN '
              . 'CAP_DAC_OVERRIDE CAP_KILL')
{
    like($unit, qr/^\Q$line\E$/m, "unit: $line");
}
unlike($unit, qr/^AmbientCapabilities/m, 'unit: no ambient capabilities (runs as root)');
SKIP: {
    skip('no systemd-analyze', 1) unless have('systemd-analyze');
    # verify checks that the programs exist: point the copy at the build
    my $tmp = tempdir('portico-unit-XXXXXX', DIR => '/tmp', CLEANUP => 1);
    (my $u = $unit) =~ s{/usr/sbin/portico}{$bin}g;
    write_file("$tmp/portico.service", $u);
    my ($vrc, $vout) = run(60, 'systemd-analyze', 'verify', '--man=no', "$tmp/portico.service");
    is($vrc, 0, 'systemd-analyze verify passes') or diag($vout);
}

# ---- logrotate, man page ---------------------------------------------------------------------

my $lr = read_file("$dest/etc/logrotate.d/portico.default")
      // read_file("$B/portico.logrotate") // '';
like($lr, qr{^/var/log/portico/\*\.log \{$}m, 'logrotate: the log folder');
like($lr, qr{kill -USR1 "\$\(cat /run/portico\.pid\)"}, 'logrotate: USR1 to the master');
like($lr, qr/^\s+nocreate$/m, 'logrotate: portico creates the new files itself');

my $man = read_file("$dest/usr/share/man/man8/portico.8") // '';
like($man, qr{^\.TH PORTICO 8 }m, 'man: .TH');
like($man, qr{^\.I /etc/portico/portico\.conf$}m, 'man: FILES names the configuration');
like($man, qr{^\\fBerror_log\.path\\fR\nscopes:\ \(member\);\ type:\ string;
               \ default:\ \\fB"/var/log/portico/error\.log"\\fR$}mx,
     'man: the defaults of this build');
SKIP: {
    skip('no groff', 1) unless have('groff');
    my ($grc, $gout) = run(30, 'sh', '-c',
                           "groff -man -Tutf8 -ww $dest/usr/share/man/man8/portico.8"
                           . ' 2>&1 >/dev/null | grep -v "can.t break line"');
    is($gout, '', 'man: groff has no complaint (beyond long defaults)');
}

# ---- the stock build: prefix layout; its man page agrees with docs/settings.md ---------------

SKIP: {
    my $mf = "$repo/objs/Makefile";
    skip('no stock build in objs/', 6) unless -f $mf && -x "$repo/objs/portico";
    my ($prefix) = (read_file($mf) // '') =~ /^PREFIX = (.*?)\/?$/m;
    my $d2 = tempdir('portico-inst2-XXXXXX', DIR => '/tmp', CLEANUP => 1);
    my ($r2, $o2) = run(300, 'make', '-s', '-f', $mf, '-o', 'build', 'install', "DESTDIR=$d2");
    is($r2, 0, 'prefix layout: make install') or diag($o2);
    for my $f ('conf/portico.service', 'conf/portico.logrotate', 'share/man/man8/portico.8') {
        ok(-f "$d2$prefix/$f", "prefix layout: $f");
    }
    like(read_file("$d2$prefix/conf/portico.service") // '',
         qr{^ExecStart=\Q$prefix\E/sbin/portico -g}m,
         'prefix layout: the unit runs PREFIX/sbin/portico');

    # (make install wrote objs/portico.8)
    # every row of docs/settings.md is a .TP entry of the stock man page, with the same
    # scopes, type, default and help (the roff escaping done here independently)
    my $md = read_file("$repo/docs/settings.md") // '';
    my $roff = read_file("$repo/objs/portico.8") // '';
    my $esc = sub {
        my ($s) = @_;
        $s =~ s/\\\|/\x01/g;
        $s =~ s/\\/\\e/g;
        my $n = 0;
        $s =~ s/`/($n++ % 2) ? '\\fR' : '\\fB'/ge;
        $s =~ s/-/\\-/g;
        $s =~ s/\x01/|/g;
        return $s;
    };
    my ($rows, $bad) = (0, 0);
    for my $line (split /\n/, $md) {
        next unless $line =~ /^\| `/;
        my @c = map { s/^\s+|\s+$//gr } split /(?<!\\)\|/, $line;
        shift @c;
        $rows++;
        my $entry = ".TP\n" . $esc->($c[0]) . "\n"
                  . ($c[1] ne '' ? 'scopes: ' . $esc->($c[1]) . '; ' : '')
                  . 'type: ' . $esc->($c[2])
                  . ($c[3] ne '' ? '; default: ' . $esc->($c[3]) : '') . "\n"
                  . ($c[4] ne '' ? ".br\n" . $esc->($c[4]) . "\n" : '');
        if (index($roff, $entry) < 0) {
            diag("not in the man page: $line") if $bad++ < 3;
        }
    }
    ok($rows > 100, "docs/settings.md has $rows settings");
    is($bad, 0, 'man page and docs/settings.md agree on every setting');
}

# ---- the production configuration serves (on a test port instead of :80) --------------------

SKIP: {
    my $pb = portico_bin();
    skip('no portico binary', 4) unless -x $pb;
    (my $prod = read_file("$repo/conf/production.conf")) =~ s/"\*:80"/"127.0.0.1:%%PORT1%%"/
        or BAIL_OUT('no *:80 listener in conf/production.conf');
    my $page = read_file("$repo/html/index.html");
    my $p = Portico->new(conf => $prod, files => { 'html/index.html' => $page });
    my ($st, $h, $body) = http_parse(http_get($p->port(1), '/'));
    is($st, 200, 'production configuration: / answers 200');
    is($body, $page, 'production configuration: the welcome page');
    ($st, $h, $body) = http_parse(http_get($p->port(1), '/healthz'));
    is("$st $body", "200 ok\n", 'production configuration: /healthz');
    $p->stop;
}

# ---- the Debian package ----------------------------------------------------------------------

SKIP: {
    skip('no dpkg-deb', 1) unless have('dpkg-deb') && have('dpkg');
    my $outdir = tempdir('portico-deb-XXXXXX', DIR => '/tmp', CLEANUP => 1);
    my ($prc, $pout) = run(900, 'scripts/package-deb', "--builddir=$B", "--out=$outdir");
    is($prc, 0, 'scripts/package-deb') or diag($pout);
    my ($deb) = $pout =~ m{^(\S+\.deb)$}m;
    $deb //= '';
    ok(-f $deb, "package written: $deb");

    my (undef, $fields) = run(20, 'dpkg-deb', '-f', $deb);
    like($fields, qr/^Package: portico$/m, 'control: Package');
    like($fields, qr/^Version: \d+\.\d+\.\d+-1$/m, 'control: Version');
    like($fields, qr/^Depends: adduser, .*\blibssl3\b/m, 'control: Depends (adduser, libraries)');
    my (undef, $conffiles) = run(20, 'dpkg-deb', '-I', $deb, 'conffiles');
    is($conffiles,
       "/etc/logrotate.d/portico\n/etc/portico/mime.types\n/etc/portico/portico.conf\n",
       'conffiles: dpkg keeps edited configuration on upgrade');
    my (undef, $list) = run(20, 'dpkg-deb', '-c', $deb);
    for my $p ('./usr/sbin/portico', './etc/portico/portico.conf',
               './lib/systemd/system/portico.service', './etc/logrotate.d/portico',
               './usr/share/man/man8/portico.8.gz', './var/log/portico/',
               './var/cache/portico/', './usr/share/portico/html/index.html')
    {
        like($list, qr{ \Q$p\E$}m, "package holds $p");
    }
    unlike($list, qr{\.default$}m, 'no *.default copies in the package');

    my $ctl = tempdir('portico-debctl-XXXXXX', DIR => '/tmp', CLEANUP => 1);
    run(20, 'dpkg-deb', '-e', $deb, $ctl);
    my $postinst = read_file("$ctl/postinst") // '';
    like($postinst, qr/adduser --system --group [^\n]*\\\n[^\n]* portico$/m,
         'postinst: creates the portico system user');
    like($postinst, qr{chown portico:adm /var/log/portico},
         'postinst: log folder to the worker user');
    like($postinst, qr{chown portico:portico /var/cache/portico}, 'postinst: cache folder too');
    for my $s (qw(postinst prerm postrm)) {
        my ($src) = run(20, 'sh', '-n', "$ctl/$s");
        is($src, 0, "$s: valid sh");
    }

    my $scratch = tempdir('portico-debroot-XXXXXX', DIR => '/tmp', CLEANUP => 1);
    my ($xrc, $xout) = run(60, 'dpkg', '-x', $deb, $scratch);
    is($xrc, 0, 'dpkg -x into a scratch root') or diag($xout);
    my ($trc, $tout) = run(20, "$scratch/usr/sbin/portico", '-t',
                           '-p', "$scratch/usr/share/portico/",
                           '-c', "$scratch/etc/portico/portico.conf",
                           '-g', 'user = "nobody"; group = "nogroup";');
    is($trc, 0, 'the packaged binary accepts the packaged configuration (-t)') or diag($tout);
    like($tout, qr{\Q$scratch\E/etc/portico/portico\.conf test is successful}, '-t: successful');

    SKIP: {
        skip('no lintian', 1) unless have('lintian');
        my ($lrc, $lout) = run(300, 'lintian', '--fail-on', 'error', $deb);
        is($lrc, 0, 'lintian: no error') or diag($lout);
    }
}

done_testing();
