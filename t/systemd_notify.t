#!/usr/bin/perl
# systemd_notify.t: the systemd notify protocol (docs/building.md, "systemd"). A unix datagram
# socket stands in for systemd's NOTIFY_SOCKET and records every datagram the master sends:
# READY=1 once it serves; RELOADING=1 (with MONOTONIC_USEC) then READY=1 on a HUP, good or
# bad configuration; MAINPID=<new>/READY=1 from a binary started by USR2 and, when that new
# binary is stopped (rollback), no STOPPING=1 from it but MAINPID=<old>/READY=1 from the old
# master; STOPPING=1 on QUIT. Also an abstract-namespace socket ("@name"), and nothing sent
# (and no error) without NOTIFY_SOCKET.

use strict;
use warnings;
use Test::More;
use Socket qw(SOCK_DGRAM);
use IO::Socket::UNIX;
use IO::Select;
use File::Temp qw(tempdir);
use lib 't/lib';
use Portico;

my $bin = portico_bin();
plan(skip_all => "no portico binary at $bin") unless -x $bin;

my $conf = <<'EOF';
worker_processes = 1;
servers = ( {
  listen = ["127.0.0.1:%%PORT1%%"];
  routes = ( { match = { path_prefix = "/"; }; return = { status = 200; body = "BODY\n"; }; } );
} );
EOF

sub conf_with { my ($body) = @_; (my $c = $conf) =~ s/BODY/$body/; return $c; }
sub body_of { my ($p) = @_; return (http_parse(http_get($p->port(1), '/')))[2] // ''; }

my $dir = tempdir('portico-notify-XXXXXX', DIR => '/tmp', CLEANUP => 1);
my $path = "$dir/notify.sock";
my $sock = IO::Socket::UNIX->new(Type => SOCK_DGRAM, Local => $path)
    or plan(skip_all => "cannot create a unix datagram socket: $!");
my $sel = IO::Select->new($sock);

# The next datagram, or undef after $timeout seconds.
sub next_msg
{
    my ($timeout) = @_;
    return undef unless $sel->can_read($timeout // 10);
    my $buf = '';
    return defined($sock->recv($buf, 4096)) ? $buf : undef;
}

# ---- start, reloads, upgrade rolled back, stop ----------------------------------------------

{
    local $ENV{NOTIFY_SOCKET} = $path;
    my $p = Portico->new(conf => conf_with('v1'));
    is(next_msg(), "READY=1\n", 'start: READY=1');
    is(body_of($p), "v1\n", 'serving when READY=1 arrived');

    $p->write_conf(conf_with('v2'));
    $p->signal('HUP');
    like(next_msg() // '', qr/\ARELOADING=1\nMONOTONIC_USEC=\d+\n\z/,
         'HUP: RELOADING=1 with MONOTONIC_USEC');
    is(next_msg(), "READY=1\n", 'HUP: READY=1 when the reload is done');
    # the old workers may still take a connection or two while they retire
    my $v2 = $p->wait_for(sub { body_of($p) eq "v2\n" }, 5);
    ok($v2, 'the new configuration serves');

    my $good = read_file($p->conf_file);
    write_file($p->conf_file, $good . "worker_connections = 5;\n");
    $p->signal('HUP');
    like(next_msg() // '', qr/\ARELOADING=1\n/, 'bad HUP: RELOADING=1');
    is(next_msg(), "READY=1\n", 'bad HUP: READY=1 all the same (the old one runs)');
    like($p->error_log // '', qr/configuration reload failed/, 'bad HUP: logged');
    is(body_of($p), "v2\n", 'bad HUP: still serving v2');
    write_file($p->conf_file, $good);

    my $pidfile = $p->prefix . '/logs/portico.pid';
    my $old = $p->pid;
    $p->signal('USR2');
    my $m = next_msg(15) // '';
    like($m, qr/\AMAINPID=(\d+)\nREADY=1\n\z/, 'USR2: the new master sends MAINPID and READY');
    my ($new) = $m =~ /MAINPID=(\d+)/;
    $new //= 0;
    isnt($new, $old, 'USR2: MAINPID names the new master');
    ok($p->wait_for(sub { (read_file($pidfile) // '') eq "$new\n" }, 10),
       'USR2: MAINPID is the pid in portico.pid');
    kill 'TERM', $new if $new;
    is(next_msg(15), "MAINPID=$old\nREADY=1\n",
       'new binary stopped: the old master takes MAINPID back, no STOPPING=1 from the new one');
    ok($p->wait_for(sub { (read_file($pidfile) // '') eq "$old\n" }, 10),
       'rollback: portico.pid names the old master again');

    $p->signal('QUIT');
    is(next_msg(), "STOPPING=1\n", 'QUIT: STOPPING=1');
    ok($p->wait_exit(15), 'QUIT: the master exits');
    is(next_msg(1), undef, 'nothing more is sent');
    $p->stop;
}

# ---- an abstract socket; no NOTIFY_SOCKET ----------------------------------------------------

SKIP: {
    my $name = "portico-test-$$-" . int(rand(1e9));
    my $abs = IO::Socket::UNIX->new(Type => SOCK_DGRAM, Local => "\0$name");
    skip('no abstract unix sockets here', 1) unless $abs;
    local $ENV{NOTIFY_SOCKET} = "\@$name";
    my $p = Portico->new(conf => conf_with('a'));
    my $got;
    if (IO::Select->new($abs)->can_read(10)) {
        $abs->recv($got, 4096);
    }
    is($got, "READY=1\n", 'NOTIFY_SOCKET=@name: READY=1 in the abstract namespace');
    $p->stop;
}

{
    delete local $ENV{NOTIFY_SOCKET};
    my $p = Portico->new(conf => conf_with('plain'));
    is(body_of($p), "plain\n", 'without NOTIFY_SOCKET: serves');
    $p->signal('HUP');
    ok($p->wait_for(sub { ($p->error_log // '') =~ /reconfiguring/ }, 10), 'HUP handled');
    $p->stop;
    unlike($p->error_log // '', qr/NOTIFY_SOCKET/, 'without NOTIFY_SOCKET: nothing logged');
    is(next_msg(1), undef, 'and nothing sent');
}

done_testing();
