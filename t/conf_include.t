#!/usr/bin/perl
# conf_include.t: the top-level `include` (docs/configuration.md): paths relative to the
# prefix and absolute, glob patterns in sorted order, a lone string; the included lists
# appended to the main file's (servers, upstreams, rate_limits); -t, -T (the files listed,
# `include` commented so the dump loads again), start, and HUP picking up a changed or a new
# included file (a broken one leaves the running configuration alone); errors in an included
# file at its own FILE:LINE; a missing plain file is an error, a pattern matching nothing is
# not; settings an included file may not hold; no nested include.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Portico;

skip_unless_module('return', 'upstream', 'proxy', 'rate_limit');

my $p = Portico->new(start => 0);
my $prefix = $p->prefix;
my $main = $p->conf_file;

sub site
{
    my ($name, $body, $extra) = @_;
    $extra //= '';
    return <<"EOF";
servers = (
  { listen = ["127.0.0.1:%%PORT2%%"];
    names = ["$name.test"];
    routes = ( { match = { path_prefix = "/"; }; return = { status = 200; body = "$body\\n"; }; } ); }
);
$extra
EOF
}

sub body_for
{
    my ($host) = @_;
    my ($status, $h, $body) = http_parse(http_get($p->port(2), '/', Host => $host));
    return ($status // 0) . ' ' . ($body // '');
}

# ---- a main file with includes: relative glob, absolute path, relative plain path ------------

$p->write_conf(<<'EOF');
include = ["conf/conf.d/*.conf", "%%PREFIX%%/sites/extra.conf", "conf/single.conf",
           "conf/empty.d/*.conf"];
servers = (
  { listen = ["127.0.0.1:%%PORT1%%"];
    routes = (
      { match = { path_prefix = "/app/"; }; proxy = { upstream = "app"; }; rate_limit = "per_ip"; },
      { match = { path_prefix = "/"; }; return = { status = 200; body = "main\n"; }; }
    ); }
);
EOF
$p->write_conf(site('b', 'b1'), 'conf/conf.d/20-b.conf');
$p->write_conf(site('a', 'a1', 'upstreams = ( { name = "app"; servers = ( { address = "127.0.0.1:%%PORT5%%"; } ); } );'),
               'conf/conf.d/10-a.conf');
$p->write_conf("this is not a configuration file\n", 'conf/conf.d/README.txt');
$p->write_conf(<<'EOF', 'sites/extra.conf');
rate_limits = ( { name = "per_ip"; key = "$remote_addr"; rate = "100r/s"; } );
EOF
$p->write_conf(site('s', 's1'), 'conf/single.conf');
mkdir "$prefix/conf/empty.d";

my ($rc, $out) = $p->run_t('-t');
is($rc, 0, '-t: included servers, upstreams and rate_limits resolve') or diag($out);

# ---- -T ----------------------------------------------------------------------------------------

{
    my ($trc, $dump, $err) = $p->run('-T');
    is($trc, 0, '-T exits 0') or diag($err);
    my @inc = $dump =~ /^# included: (.*)$/mg;
    is_deeply(\@inc, ["$prefix/conf/conf.d/10-a.conf", "$prefix/conf/conf.d/20-b.conf",
                      "$prefix/sites/extra.conf", "$prefix/conf/single.conf"],
              '-T lists the included files, globs sorted, in include order');
    like($dump, qr/^# include = \[ "conf\/conf\.d\/\*\.conf", "\Q$prefix\E\/sites\/extra\.conf", "conf\/single\.conf", "conf\/empty\.d\/\*\.conf" \];  \(read: their contents are below\)$/m,
         '-T shows include as a comment');
    unlike($dump, qr/^\s*include\s*=/m, '-T has no live include');
    my @names = $dump =~ /names = \[ "([a-z]+)\.test" \]/g;
    is_deeply(\@names, [qw(a b s)], '-T: the included servers, appended in include order');
    like($dump, qr/name = "app";/, '-T: the included upstream');
    like($dump, qr/name = "per_ip";/, '-T: the included rate limit');

    # the dump loads again to the same effective configuration
    write_file("$prefix/conf/dump.conf", $dump);
    my ($rc2, $dump2, $err2) = $p->run('-T', '-c', "$prefix/conf/dump.conf");
    is($rc2, 0, 'the -T output loads') or diag($err2);
    my @strip = map { join("\n", grep { !/^#/ } split /\n/, $_) } ($dump, $dump2);
    is($strip[1], $strip[0], 'the -T output loads to the same configuration (nothing twice)');
}

# ---- start and HUP -------------------------------------------------------------------------------

$p->start(wait_ports => [1, 2]);
is((http_parse(http_get($p->port(1), '/')))[2], "main\n", 'the main file server answers');
is(body_for('a.test'), "200 a1\n", 'the server of conf.d/10-a.conf answers');
is(body_for('b.test'), "200 b1\n", 'the server of conf.d/20-b.conf answers');
is(body_for('s.test'), "200 s1\n", 'the server of a plain relative include answers');

$p->write_conf(site('a', 'a2', 'upstreams = ( { name = "app"; servers = ( { address = "127.0.0.1:%%PORT5%%"; } ); } );'),
               'conf/conf.d/10-a.conf');
$p->write_conf(site('c', 'c1'), 'conf/conf.d/30-c.conf');
$p->signal('HUP');
ok($p->wait_for(sub { body_for('a.test') eq "200 a2\n" }, 10), 'HUP: a changed included file takes effect');
is(body_for('c.test'), "200 c1\n", 'HUP: a new file matching the glob is read');

{
    my $bad = "$prefix/conf/conf.d/40-bad.conf";
    $p->write_conf("servers = ( {\n  listen 80;\n} );\n", 'conf/conf.d/40-bad.conf');
    $p->signal('HUP');
    ok($p->wait_for(sub { ($p->error_log // '') =~ /\Q$bad\E:2: syntax error in `listen 80;`/ }, 10),
       'bad HUP: the syntax error of the included file is logged at its FILE:LINE');
    is(body_for('a.test'), "200 a2\n", 'bad HUP: still serving the running configuration');
    unlink $bad;
}
$p->stop;

# ---- errors inside an included file: its own FILE:LINE ------------------------------------------

sub check_main
{
    my ($main_text) = @_;
    $p->write_conf($main_text);
    return $p->run_t('-t');
}

my $one = <<'EOF';
include = "conf/conf.d/*.conf";
servers = ( { listen = ["127.0.0.1:%%PORT1%%"];
  routes = ( { match = { path_prefix = "/"; }; return = { status = 200; }; } ); } );
EOF
unlink glob("$prefix/conf/conf.d/*.conf");
{
    my $inc = "$prefix/conf/conf.d/50-err.conf";
    $p->write_conf(<<'EOF', 'conf/conf.d/50-err.conf');
servers = (
  { listen = ["127.0.0.1:%%PORT2%%"];
    bogus_setting = 1;
    routes = ( { match = { path_prefix = "/"; }; return = { status = 2000; }; } ); }
);
EOF
    ($rc, $out) = check_main($one);
    is($rc, 1, 'an error in an included file: exit 1');
    my $l = $p->line_of(qr/bogus_setting/, 'conf/conf.d/50-err.conf');
    like($out, qr/^\Q$inc\E:$l: servers\[1\]\.bogus_setting: unknown setting "bogus_setting"$/m,
         'unknown setting: the included FILE:LINE');
    $l = $p->line_of(qr/status = 2000/, 'conf/conf.d/50-err.conf');
    like($out, qr/^\Q$inc\E:$l: servers\[1\]\.routes\[0\]\.return\.status: must be between 100 and 599 \(got 2000\)$/m,
         'bad value: the included FILE:LINE');
    unlink $inc;

    # settings an included file may not hold, and no nested include
    $p->write_conf(<<'EOF', 'conf/conf.d/60-top.conf');
worker_processes = 4;
http = { server_tokens = true; };
include = ["other.conf"];
EOF
    $inc = "$prefix/conf/conf.d/60-top.conf";
    ($rc, $out) = check_main($one);
    is($rc, 1, 'top-level settings in an included file: exit 1');
    like($out, qr/^\Q$inc\E:1: worker_processes: not allowed in an included file, which may hold only [a-z_, ]+; "worker_processes" belongs in the main file \Q$main\E$/m,
         'worker_processes in an included file: where it belongs');
    like($out, qr/^\Q$inc\E:2: http: not allowed in an included file/m, 'http in an included file');
    like($out, qr/^\Q$inc\E:3: include: an included file cannot include further files: list them in the include of the main file \Q$main\E$/m,
         'no nested include');
    for my $n (qw(servers upstreams rate_limits conn_limits caches)) {
        like($out, qr/which may hold only [a-z_, ]*\b$n\b/, "the message lists $n");
    }
    unlink $inc;

    # a syntax error in an included file: its FILE:LINE, the line and the hint
    $p->write_conf("servers = (\n  { listen = [\"127.0.0.1:%%PORT2%%\"]; }\n  { listen = [\"127.0.0.1:%%PORT3%%\"]; }\n);\n",
                   'conf/conf.d/70-syntax.conf');
    $inc = "$prefix/conf/conf.d/70-syntax.conf";
    ($rc, $out) = check_main($one);
    is($rc, 1, 'a syntax error in an included file: exit 1');
    like($out, qr/^\Q$inc\E:3: syntax error in `\{ listen = \["127\.0\.0\.1:\d+"\]; \}`: missing `,` at the end of line 2 \(the elements of a list are separated by commas\)$/m,
         'syntax error: the included FILE:LINE, the line and the hint');
    unlink $inc;

    # an element of the wrong type
    $p->write_conf("upstreams = \"app\";\n", 'conf/conf.d/80-type.conf');
    $inc = "$prefix/conf/conf.d/80-type.conf";
    ($rc, $out) = check_main($one);
    is($rc, 1, 'a list of the wrong type in an included file: exit 1');
    like($out, qr/^\Q$inc\E:1: upstreams: must be a list of groups \( \{ \.\.\. \}, \.\.\. \)$/m,
         'wrong type: reported at the included FILE:LINE');
    unlink $inc;
}

# ---- missing files, empty globs, a lone group in the main file ------------------------------------

{
    ($rc, $out) = check_main(<<'EOF');
include = ["conf/nothing/*.conf", "conf/none-*.conf"];
servers = ( { listen = ["127.0.0.1:%%PORT1%%"];
  routes = ( { match = { path_prefix = "/"; }; return = { status = 200; }; } ); } );
EOF
    is($rc, 0, 'patterns that match nothing (even in a missing directory) are fine') or diag($out);

    ($rc, $out) = check_main(<<'EOF');
include = ["conf/conf.d/*.conf",
           "conf/missing.conf"];
servers = ( { listen = ["127.0.0.1:%%PORT1%%"];
  routes = ( { match = { path_prefix = "/"; }; return = { status = 200; }; } ); } );
EOF
    is($rc, 1, 'a missing plain file: exit 1');
    my $l = $p->line_of(qr/missing\.conf/);
    like($out, qr/^\Q$main\E:$l: include\[1\]: cannot read the included file "\Q$prefix\E\/conf\/missing\.conf": No such file or directory$/m,
         'a missing plain file: the include entry FILE:LINE, the full path and why');

    ($rc, $out) = check_main(<<'EOF');
include = "/nonexistent-portico-dir/x.conf";
servers = ( { listen = ["127.0.0.1:%%PORT1%%"];
  routes = ( { match = { path_prefix = "/"; }; return = { status = 200; }; } ); } );
EOF
    like($out, qr/include: cannot read the included file "\/nonexistent-portico-dir\/x\.conf": No such file or directory$/m,
         'a missing absolute file: error');

    mkdir "$prefix/conf/dir.conf";
    ($rc, $out) = check_main(<<'EOF');
include = "conf/dir.conf";
servers = ( { listen = ["127.0.0.1:%%PORT1%%"];
  routes = ( { match = { path_prefix = "/"; }; return = { status = 200; }; } ); } );
EOF
    like($out, qr/include: cannot read the included file "\Q$prefix\E\/conf\/dir\.conf": it is a directory$/m,
         'a directory: error');

    $p->write_conf(site('a', 'a'), 'conf/conf.d/10-a.conf');
    ($rc, $out) = check_main(<<'EOF');
include = "conf/conf.d/*.conf";
servers = { listen = ["127.0.0.1:%%PORT1%%"];
  routes = ( { match = { path_prefix = "/"; }; return = { status = 200; }; } ); };
EOF
    is($rc, 1, 'servers written as one group in the main file: exit 1');
    $l = $p->line_of(qr/^servers = \{/);
    like($out, qr/^\Q$prefix\E\/conf\/conf\.d\/10-a\.conf:1: servers: cannot be added to the main file's servers, written as one group \{ \.\.\. \} at \Q$main\E:$l: write it as a list \( \{ \.\.\. \} \)$/m,
         'a lone group cannot be added to: both places');

    # the main file with no servers at all: the included ones are enough
    ($rc, $out) = check_main("include = \"conf/conf.d/*.conf\";\n");
    is($rc, 0, 'a main file without servers: the included ones serve') or diag($out);

    # a list the main file does not have starts in the included file
    $p->write_conf("servers = ();\n", 'conf/conf.d/10-a.conf');
    ($rc, $out) = check_main("include = \"conf/conf.d/*.conf\";\n");
    like($out, qr/^\Q$prefix\E\/conf\/conf\.d\/10-a\.conf:1: servers: no servers configured \(the list is empty\)$/m,
         'a list only the included file has: its messages name the included file');

    # -g may replace include like any other setting
    ($rc, $out) = $p->run_t('-t', '-g', 'include = [];');
    like($out, qr/no servers configured/, '-g include = [] reads nothing');
}

done_testing();
