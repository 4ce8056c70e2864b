#!/usr/bin/perl
# user_group.t: the top-level `group` setting beside `user` (docs/settings.md): started as root,
# workers and helpers run with that group (real, effective, saved), or with the user's primary
# group without it; an unknown group is a FILE:LINE error of -t and of the start. The files the
# master creates for the workers are theirs: the error and access logs (mode 0640, again after
# USR1 reopens them) and the cache folder (0700). Run as root only.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Portico;

my $bin = portico_bin();
plan(skip_all => "no portico binary at $bin") unless -x $bin;
plan(skip_all => 'needs root (workers switch user and group)') unless $> == 0;

my @nobody = getpwnam('nobody');
plan(skip_all => 'no user nobody') unless @nobody;
my ($uid, $primary) = @nobody[2, 3];
# a group that is not nobody's primary one
my ($gname, $gid);
for my $g (qw(daemon adm users bin sys)) {
    my @gr = getgrnam($g);
    if (@gr && $gr[2] != $primary) {
        ($gname, $gid) = ($g, $gr[2]);
        last;
    }
}
plan(skip_all => 'no second group to switch to') unless defined $gname;
my $have_cache = ((Portico::run_cmd($bin, '-V'))[1] // '') =~ /^modules:.*\bcache\b/m;

my $conf = <<'EOF';
user = "nobody";
GROUP
http = { access_log = { path = "logs/access.log"; }; };
CACHES
servers = ( {
  listen = ["127.0.0.1:%%PORT1%%"];
  routes = ( { match = { path_prefix = "/"; }; return = { status = 200; body = "ok\n"; }; } );
} );
EOF

sub conf_for
{
    my ($group, $cache) = @_;
    (my $c = $conf) =~ s/GROUP/defined $group ? "group = \"$group\";" : ''/e;
    $c =~ s/CACHES/$cache ? 'caches = ( { name = "main"; path = "cache\/main"; } );' : ''/e;
    return $c;
}

# "Uid:"/"Gid:" of /proc/PID/status: (real, effective, saved, filesystem)
sub ids
{
    my ($pid, $what) = @_;
    my $st = read_file("/proc/$pid/status") // '';
    return $st =~ /^$what:\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)/m ? "$1 $2 $3 $4" : '';
}

sub owner
{
    my @s = stat($_[0]);
    return @s ? sprintf('%d:%d %04o', $s[4], $s[5], $s[2] & 07777) : '';
}

# ---- group set: workers (and the cache helpers) run with it ----------------------------------

{
    my $p = Portico->new(conf => conf_for($gname, $have_cache));
    ok($p->wait_for(sub { $p->worker_pids == 1 }, 10), 'one worker');
    my ($w) = $p->worker_pids;
    is(ids($w, 'Uid'), "$uid $uid $uid $uid", 'worker runs as nobody');
    is(ids($w, 'Gid'), "$gid $gid $gid $gid", "worker runs with group $gname");
    is(ids($p->pid, 'Uid'), '0 0 0 0', 'the master stays root');
    like(http_get($p->port(1), '/'), qr/\AHTTP\/1\.1 200 /, 'serves');

    my $prefix = $p->prefix;
    is(owner("$prefix/logs/error.log"), "$uid:$gid 0640", 'error log: nobody:group, 0640');
    ok($p->wait_for(sub { -s "$prefix/logs/access.log" }, 5), 'access log written');
    is(owner("$prefix/logs/access.log"), "$uid:$gid 0640", 'access log: nobody:group, 0640');

    rename("$prefix/logs/access.log", "$prefix/logs/access.log.1");
    rename("$prefix/logs/error.log", "$prefix/logs/error.log.1");
    $p->signal('USR1');
    ok($p->wait_for(sub { -e "$prefix/logs/access.log" && -e "$prefix/logs/error.log" }, 10),
       'USR1: logs reopened');
    http_get($p->port(1), '/');
    ok($p->wait_for(sub { -s "$prefix/logs/access.log" }, 5),
       'USR1: the worker writes the new access log');
    is(owner("$prefix/logs/access.log"), "$uid:$gid 0640",
       'USR1: new access log nobody:group, 0640');
    is(owner("$prefix/logs/error.log"), "$uid:$gid 0640", 'USR1: new error log nobody:group, 0640');

    SKIP: {
        skip('no cache module in this build', 3) unless $have_cache;
        is(owner("$prefix/cache/main"), "$uid:$gid 0700", 'cache folder: nobody:group, 0700');
        is(owner("$prefix/cache/main/tmp"), "$uid:$gid 0700",
           'cache tmp folder: nobody:group, 0700');
        my @helpers = grep { (Portico::title($_) // '') =~ /cache/ } $p->children;
        my @wrong = grep { ids($_, 'Gid') ne "$gid $gid $gid $gid" } @helpers;
        ok(@helpers > 0 && @wrong == 0, 'cache helpers run with the group too');
    }
    $p->stop;
    # the renamed files are the test's leftovers, not portico's
}

# ---- no group: the user's primary group ------------------------------------------------------

{
    my $p = Portico->new(conf => conf_for(undef, 0));
    ok($p->wait_for(sub { $p->worker_pids == 1 }, 10), 'one worker');
    my ($w) = $p->worker_pids;
    is(ids($w, 'Gid'), "$primary $primary $primary $primary",
       'no group: the primary group of nobody');
    my (undef, $out) = Portico::run_cmd($bin, '-T', '-p', $p->prefix . '/', '-c', $p->conf_file);
    like($out // '', qr/^group = "";$/m, '-T shows the default group ""');
    $p->stop;
}

# ---- an unknown group ------------------------------------------------------------------------

{
    my $p = Portico->new(conf => conf_for('no-such-group-pco', 0), start => 0);
    my $line = $p->line_of(qr/^group = /);
    my $file = $p->conf_file;
    my ($rc, $out, $err) = Portico::run_cmd($bin, '-t', '-p', $p->prefix . '/', '-c', $file);
    is($rc, 1, '-t: unknown group fails');
    like($err, qr/^\Q$file\E:$line: group: unknown group "no-such-group-pco"$/m,
         '-t: FILE:LINE: group: unknown group');
    ($rc, $out, $err) = Portico::run_cmd($bin, '-p', $p->prefix . '/', '-c', $file,
                                         '-g', 'daemon = false;');
    is($rc, 1, 'start: unknown group fails');
    like($err, qr/^\Q$file\E:$line: group: unknown group/m, 'start: the same message');
}

done_testing();
