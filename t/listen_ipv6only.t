#!/usr/bin/perl
# listen_ipv6only.t: `ipv6only` of a listen entry. The default (true) keeps a "[::]:PORT"
# listener to IPv6, so that "*:PORT" can listen beside it; `ipv6only = false` makes it take
# IPv4 clients too (as IPv4-mapped addresses). The option belongs to the socket, so two
# entries for the same address that disagree are a FILE:LINE error; an entry that does not
# set it follows the one that does.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Portico;

skip_unless_module('return');
plan(skip_all => 'no IPv6 loopback') unless have_ipv6();

my $route = 'routes = ( { match = { path_prefix = "/"; }; '
          . 'return = { status = 200; body = "ra=$remote_addr\n"; }; } );';

sub body_via
{
    my ($port, $host) = @_;
    my ($s, $h, $b) = http_parse(http_get($port, '/', -host => $host));
    return defined $s ? "$s $b" : 'no answer';
}

sub refused
{
    my ($port, $host) = @_;
    my $c = http_connect($port, host => $host);
    return $c ? 0 : 1;
}

# ---- default: IPv6 only ---------------------------------------------------------------------
{
    my $p = Portico->new(conf => <<"EOF", wait_ports => [2]);
servers = ( { listen = ["[::]:%%PORT1%%", "127.0.0.1:%%PORT2%%"]; $route } );
EOF
    is(body_via($p->port(1), '::1'), "200 ra=::1\n", 'default: [::] listener answers ::1');
    ok(refused($p->port(1), '127.0.0.1'), 'default: no IPv4 client on the [::] listener');
    $p->stop;
}

# ---- ipv6only = true, written: the same ---------------------------------------------------------
{
    my $p = Portico->new(conf => <<"EOF", wait_ports => [2]);
servers = ( { listen = ( { address = "[::]:%%PORT1%%"; ipv6only = true; }, "127.0.0.1:%%PORT2%%" ); $route } );
EOF
    ok(refused($p->port(1), '127.0.0.1'), 'ipv6only = true: no IPv4 client');
    $p->stop;
}

# ---- ipv6only = false: IPv4 clients too ---------------------------------------------------------
{
    my $p = Portico->new(conf => <<"EOF", wait_ports => [1]);
servers = ( { listen = ( { address = "[::]:%%PORT1%%"; ipv6only = false; } ); $route } );
EOF
    is(body_via($p->port(1), '::1'), "200 ra=::1\n", 'ipv6only = false: ::1 answered');
    is(body_via($p->port(1), '127.0.0.1'), "200 ra=::ffff:127.0.0.1\n",
       'ipv6only = false: an IPv4 client is answered, as an IPv4-mapped address');
    $p->stop;
}

# ---- an entry without the option follows the one that sets it ----------------------------------
{
    my $p = Portico->new(conf => <<"EOF", wait_ports => [1]);
servers = (
  { names = ["a"]; listen = "[::]:%%PORT1%%"; $route },
  { names = ["b"]; listen = ( { address = "[::]:%%PORT1%%"; ipv6only = false; } ); $route }
);
EOF
    is(body_via($p->port(1), '127.0.0.1'), "200 ra=::ffff:127.0.0.1\n",
       'one entry sets ipv6only = false, the other is silent: IPv4 clients answered');
    $p->stop;
}

# ---- a conflict: FILE:LINE ----------------------------------------------------------------------
{
    my $p = Portico->new(start => 0);
    my $f = $p->conf_file;
    $p->write_conf(<<"EOF");
servers = (
  { names = ["a"];
    listen = ( { address = "[::]:%%PORT1%%"; ipv6only = true; } ); $route },
  { names = ["b"];
    listen = ( { address = "[::]:%%PORT1%%"; ipv6only = false; } ); $route }
);
EOF
    my ($rc, $out) = $p->run_t('-t');
    isnt($rc, 0, 'conflicting ipv6only: -t fails');
    my $l1 = $p->line_of(qr/ipv6only = true/);
    my $l2 = $p->line_of(qr/ipv6only = false/);
    my $port = $p->port(1);
    like($out, qr/^\Q$f\E:$l2: .*"\[::\]:$port" has ipv6only = false here and true at \Q$f\E:$l1\b/m,
         'conflicting ipv6only: FILE:LINE of the second entry, naming the first');
}

done_testing();
