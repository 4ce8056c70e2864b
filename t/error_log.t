#!/usr/bin/perl
# error_log.t: the error log: line format `YYYY/MM/DD HH:MM:SS [level] PID#N: message` and
# level filtering (docs/settings.md).

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Portico;

my $bin = portico_bin();
plan(skip_all => "no portico binary at $bin") unless -x $bin;

my $conf = <<'EOF2';
servers = ( {
  listen = ["127.0.0.1:%%PORT1%%"];
  routes = ( { match = { path_prefix = "/"; }; return = { status = 200; body = "ok\n"; }; } );
} );
EOF2

my $line_re = qr{^\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2} \[(debug|info|notice|warn|error|crit|alert|emerg)\] \d+#\d+: \S.*$};

# ---- format (level info) --------------------------------------------------------------------

{
    my $p = Portico->new(conf => "error_log = { path = \"logs/error.log\"; level = \"info\"; };\n"
                                 . $conf);
    http_get($p->port(1), '/');
    my $ok = $p->wait_for(sub { ($p->error_log // '') =~ /\[notice\]/ }, 5);
    ok($ok, 'info level: notice lines are written');
    my @lines = grep { length } split /\n/, $p->error_log // '';
    ok(scalar @lines, 'error log has lines');
    my @bad = grep { $_ !~ $line_re } @lines;
    is(scalar @bad, 0, 'every line has the documented format') or diag(join("\n", @bad));
    my $mpid = $p->pid;
    like($p->error_log // '', qr/^\S+ \S+ \[\w+\] $mpid#\d+: /m, 'master lines carry its pid');
    my @w = $p->worker_pids;
    like($p->error_log // '', qr/\b\Q$w[0]\E\b/, 'the worker pid is named (start worker process)')
        if @w;
    my ($y, $mo, $d) = (gmtime)[5, 4, 3];
    my ($ly, $lm, $ld) = (localtime)[5, 4, 3];
    my @dates = (sprintf('%04d/%02d/%02d', $y + 1900, $mo + 1, $d),
                 sprintf('%04d/%02d/%02d', $ly + 1900, $lm + 1, $ld));
    ok((grep { index($lines[-1] // '', $_) == 0 } @dates), 'lines carry today\'s date');
    $p->stop;
}

# ---- level filtering ------------------------------------------------------------------------

{
    my $p = Portico->new(conf => "error_log = { path = \"logs/error.log\"; level = \"error\"; };\n"
                                 . $conf);
    http_get($p->port(1), '/');

    # A reload with a broken configuration is logged at error level.
    my $good = read_file($p->conf_file);
    write_file($p->conf_file, $good . "bogus_setting = 1;\n");
    $p->signal('HUP');
    my $ok = $p->wait_for(sub { ($p->error_log // '') =~ /\[error\]/ }, 10);
    ok($ok, 'level error: error lines are written');
    my $log = $p->error_log // '';
    unlike($log, qr/\[(notice|info|debug)\]/, 'level error: no notice/info/debug lines');
    like($log, qr/bogus_setting/, 'level error: the failed reload names the problem');
    my @bad = grep { length && $_ !~ $line_re } split /\n/, $log;
    is(scalar @bad, 0, 'level error: every line has the format') or diag(join("\n", @bad));
    my (undef, undef, $b) = http_parse(http_get($p->port(1), '/'));
    is($b, "ok\n", 'still serving after the failed reload');
    $p->stop;
}

# ---- stderr ---------------------------------------------------------------------------------

{
    my $p = Portico->new(conf => "error_log = { path = \"stderr\"; level = \"notice\"; };\n"
                                 . $conf);
    my $ok = $p->wait_for(sub { ($p->stderr_log // '') =~ /\[notice\]/ }, 5);
    ok($ok, 'path "stderr": lines go to stderr');
    my @lines = grep { /\[\w+\] \d+#/ } split /\n/, $p->stderr_log // '';
    my @bad = grep { $_ !~ $line_re } @lines;
    is(scalar @bad, 0, 'stderr lines have the format') or diag(join("\n", @bad));
    ok(!-s ($p->prefix . '/logs/error.log'), 'path "stderr": no error.log written');
    $p->stop;
}

done_testing();
