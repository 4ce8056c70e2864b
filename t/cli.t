#!/usr/bin/perl
# cli.t: the command line (README.md): -v, -V, -h, unknown options, -t / -T with their
# FILE:LINE error reports, @include, -g, and -s signals through the pid file.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Portico;

my $bin = portico_bin();
plan(skip_all => "no portico binary at $bin") unless -x $bin;

my $server = <<'EOF';
servers = ( {
  listen = ["127.0.0.1:%%PORT1%%"];
  routes = ( { match = { path_prefix = "/"; }; return = { status = 200; body = "one\n"; }; } );
} );
EOF

# ---- -v, -V, -h, unknown option -------------------------------------------------------------

{
    my ($rc, $out, $err) = Portico::run_cmd($bin, '-v');
    is($rc, 0, '-v exits 0');
    is($out . $err, "portico/0.1.0\n", '-v prints portico/0.1.0');

    ($rc, $out, $err) = Portico::run_cmd($bin, '-V');
    my $all = $out . $err;
    is($rc, 0, '-V exits 0');
    like($all, qr{^portico/0\.1\.0$}m, '-V: version line');
    like($all, qr{^built by \S.*$}m, '-V: built by');
    like($all, qr{^built with .*OpenSSL[ /]\d.*PCRE2[ /]\d.*zlib[ /]\d.*libconfig[ /]\d}m,
         '-V: built with OpenSSL, PCRE2, zlib, libconfig versions');
    like($all, qr{^configure arguments:.*$}m, '-V: configure arguments');
    like($all, qr{^modules: .*\bcore\b.*\bhttp\b}m, '-V: modules lists core and http');

    ($rc, $out, $err) = Portico::run_cmd($bin, '-h');
    is($rc, 0, '-h exits 0');
    like($out . $err, qr/usage/i, '-h prints usage');
    like($out . $err, qr/-c\b.*/, '-h mentions -c');
    like($out . $err, qr/-s\b/, '-h mentions -s');

    ($rc, $out, $err) = Portico::run_cmd($bin, '-x');
    is($rc, 1, 'unknown option exits 1');
    like($out . $err, qr/usage/i, 'unknown option prints usage');
}

# ---- -t ok ------------------------------------------------------------------------------------

my $p = Portico->new(conf => $server, start => 0);
my $file = $p->conf_file;
{
    my ($rc, $out) = $p->run_t('-t');
    is($rc, 0, '-t on a good configuration exits 0') or diag($out);
    like($out, qr/\Q$file\E.*syntax is ok/, '-t: syntax is ok');
    like($out, qr/\Q$file\E.*test is successful/, '-t: test is successful');
}

# Runs -t on $text (written to conf/portico.conf) and returns (rc, output).
sub check_conf
{
    my ($text) = @_;
    $p->write_conf($text);
    return $p->run_t('-t');
}

# ---- -t errors --------------------------------------------------------------------------------

{
    my ($rc, $out) = check_conf("daemon = false;\nworker_connections = ;\n" . $server);
    my $line = $p->line_of(qr/^worker_connections = ;/);
    is($rc, 1, 'syntax error: exit 1');
    like($out, qr/^\Q$file\E:$line: .*syntax error/mi, 'syntax error: FILE:LINE');
    like($out, qr/test failed/, 'syntax error: test failed');
}

{
    my ($rc, $out) = check_conf("http = {\n  keepalive_timout = \"5s\";\n};\n" . $server);
    my $line = $p->line_of(qr/keepalive_timout/);
    is($rc, 1, 'unknown setting: exit 1');
    like($out, qr/^\Q$file\E:$line: .*unknown setting "keepalive_timout" \(did you mean "keepalive_timeout"\?\)/m,
         'unknown setting: FILE:LINE and did you mean');
}

{
    my ($rc, $out) = check_conf("worker_connections = \"many\";\n" . $server);
    my $line = $p->line_of(qr/^worker_connections/);
    is($rc, 1, 'wrong type: exit 1');
    like($out, qr/^\Q$file\E:$line: worker_connections: .*expected/m, 'wrong type: FILE:LINE');
}

{
    my ($rc, $out) = check_conf("http = { keepalive_timeout = \"10x\"; };\n" . $server);
    my $line = $p->line_of(qr/keepalive_timeout = "10x"/);
    is($rc, 1, 'bad duration unit: exit 1');
    like($out, qr/^\Q$file\E:$line: .*keepalive_timeout/m, 'bad duration unit: FILE:LINE');

    ($rc, $out) = check_conf("http = { client_max_body_size = \"1q\"; };\n" . $server);
    $line = $p->line_of(qr/client_max_body_size = "1q"/);
    is($rc, 1, 'bad size unit: exit 1');
    like($out, qr/^\Q$file\E:$line: .*client_max_body_size/m, 'bad size unit: FILE:LINE');
}

{
    my ($rc, $out) = check_conf("worker_connections = 5;\n" . $server);
    my $line = $p->line_of(qr/^worker_connections = 5;/);
    is($rc, 1, 'below minimum: exit 1');
    like($out, qr/^\Q$file\E:$line: worker_connections: must be between 16 and 1048576 \(got 5\)$/m,
         'below minimum: FILE:LINE, the range and the value');
}

{
    my ($rc, $out) = check_conf(<<'EOF');
servers = ( {
  listen = ["127.0.0.1:%%PORT1%%"];
  routes = (
    { match = { path_regex = "^/(a"; }; return = { status = 200; }; }
  );
} );
EOF
    my $line = $p->line_of(qr/path_regex/);
    is($rc, 1, 'bad regex: exit 1');
    like($out, qr/^\Q$file\E:$line: .*missing closing parenthesis/m,
         'bad regex: FILE:LINE with the PCRE2 message');
    like($out, qr/^\Q$file\E:$line: .*offset\D*4\b/m, 'bad regex: PCRE2 error offset');
}

{
    my ($rc, $out) = check_conf(<<'EOF');
servers = ( {
  listen = ["127.0.0.1:%%PORT1%%", "127.0.0.1:%%PORT1%%"];
  routes = ( { match = { path_prefix = "/"; }; return = { status = 200; }; } );
} );
EOF
    my $line = $p->line_of(qr/listen/);
    is($rc, 1, 'duplicate listener: exit 1');
    like($out, qr/^\Q$file\E:$line: .*duplicate/mi, 'duplicate listener: FILE:LINE');
}

{
    my ($rc, $out) = check_conf(<<'EOF');
servers = ( {
  listen = ["127.0.0.1:%%PORT1%%"];
  routes = (
    { match = { path = "/x"; }; }
  );
} );
EOF
    my $line = $p->line_of(qr/path = "\/x"/);
    is($rc, 1, 'route without action: exit 1');
    like($out, qr/^\Q$file\E:$line: .*no action/m, 'route without action: FILE:LINE');
}

{
    my ($rc, $out) = check_conf(<<'EOF');
worker_connections = 5;
http = { keepalive_timout = "5s"; };
servers = ( {
  listen = ["127.0.0.1:%%PORT1%%"];
  routes = (
    { match = { path_regex = "^/(a"; }; return = { status = 200; }; }
  );
} );
EOF
    is($rc, 1, 'several errors: exit 1');
    my @lines = grep { /^\Q$file\E:\d+: / && !/warning/ } split /\n/, $out;
    is(scalar @lines, 3, 'several errors: all three reported') or diag($out);
    my @want = ($p->line_of(qr/^worker_connections/), $p->line_of(qr/keepalive_timout/),
                $p->line_of(qr/path_regex/));
    for my $l (@want) {
        like($out, qr/^\Q$file\E:$l: /m, "several errors: line $l reported");
    }
}

# ---- @include -------------------------------------------------------------------------------

{
    $p->write_conf(<<'EOF', 'conf/inc/servers.conf');
servers = ( {
  listen = ["127.0.0.1:%%PORT1%%"];
  routes = ( { match = { path_prefix = "/"; }; return = { status = 200; body = "included\n"; }; } );
} );
EOF
    my ($rc, $out) = check_conf("\@include \"inc/servers.conf\"\n");
    is($rc, 0, '@include of a file relative to the configuration directory') or diag($out);

    $p->write_conf(<<'EOF', 'conf/inc/servers.conf');
servers = ( {
  listen = ["127.0.0.1:%%PORT1%%"];
  bogus_setting = 1;
  routes = ( { match = { path_prefix = "/"; }; return = { status = 200; }; } );
} );
EOF
    ($rc, $out) = check_conf("\@include \"inc/servers.conf\"\n");
    is($rc, 1, 'error in an included file: exit 1');
    like($out, qr{inc/servers\.conf:3: .*bogus_setting}, 'error in an included file: its FILE:LINE');
}

# ---- -T and -g ----------------------------------------------------------------------------

$p->write_conf("worker_processes = 1;\n" . $server);
{
    my ($rc, $out, $err) = $p->run('-T');
    is($rc, 0, '-T exits 0') or diag($err);
    like($out, qr/\bkeepalive_timeout = "75s";/, '-T prints defaults (keepalive_timeout)');
    like($out, qr/\bkeepalive_requests = 1000;/, '-T prints defaults (keepalive_requests)');
    like($out, qr/\bworker_processes = 1;/, '-T prints the file value');

    my $dump = $out;
    $dump =~ s/\A.*?^# configuration file[^\n]*\n//ms;
    $p->write_conf($dump, 'conf/dump.conf');
    my ($rc2, $out2) = $p->run_t('-t', '-c', $p->prefix . '/conf/dump.conf');
    is($rc2, 0, '-T output is accepted by -t') or diag($out2);

    my ($rc3, $out3) = $p->run('-T', '-c', $p->prefix . '/conf/dump.conf');
    is($out3 =~ s/^#[^\n]*\n//mgr, $out =~ s/^#[^\n]*\n//mgr, '-T of the -T output is the same');

    ($rc, $out, $err) = $p->run('-T', '-g', 'worker_processes = 3;');
    is($rc, 0, '-T -g exits 0') or diag($err);
    like($out, qr/\bworker_processes = 3;/, '-g overrides a setting of the file');
    unlike($out, qr/\bworker_processes = 1;/, '-g: the file value is gone');

    ($rc, $out, $err) = $p->run('-t', '-g', 'worker_connections = 5;');
    is($rc, 1, '-g with a bad value fails -t');
}

# ---- -s -----------------------------------------------------------------------------------

$p->write_conf($server);
$p->start;
{
    my (undef, undef, $body) = http_parse(http_get($p->port(1), '/'));
    is($body, "one\n", 'started');

    my $pidfile = $p->prefix . '/logs/portico.pid';
    is(read_file($pidfile), $p->pid . "\n", 'pid file names the master');

    (my $two = $server) =~ s/one/two/;
    $p->write_conf($two);
    my ($rc, $out) = $p->run_t('-s', 'reload');
    is($rc, 0, '-s reload exits 0') or diag($out);
    ok($p->wait_for(sub { (http_parse(http_get($p->port(1), '/')))[2] eq "two\n" }, 10),
       '-s reload: the new configuration answers');

    rename($p->prefix . '/logs/access.log', $p->prefix . '/logs/access.log.old');
    ($rc, $out) = $p->run_t('-s', 'reopen');
    is($rc, 0, '-s reopen exits 0') or diag($out);
    ok(has_module('access_log') ? $p->wait_for(sub {
        http_get($p->port(1), '/after-reopen');
        my $t = $p->access_log;
        defined $t && $t =~ m{/after-reopen};
    }, 10) : $p->wait_for(sub { -e ($p->prefix . '/logs/error.log') }, 5),
       '-s reopen: a new access log is written');

    ($rc, $out) = $p->run_t('-s', 'quit');
    is($rc, 0, '-s quit exits 0') or diag($out);
    ok($p->wait_exit(15), '-s quit: the master exits');
    ok(!-e $pidfile, '-s quit: pid file removed');

    ($rc, $out) = $p->run_t('-s', 'reload');
    is($rc, 1, '-s without a running master exits 1');
    $p->stop;
}

{
    my $q = Portico->new(conf => $server);
    my ($rc, $out) = $q->run_t('-s', 'stop');
    is($rc, 0, '-s stop exits 0') or diag($out);
    ok($q->wait_exit(10), '-s stop: the master exits');
    ok(!-e ($q->prefix . '/logs/portico.pid'), '-s stop: pid file removed');

    ($rc, $out) = $q->run_t('-s', 'bogus');
    isnt($rc, 0, '-s with an unknown signal name fails');
    $q->stop;
}

done_testing();
