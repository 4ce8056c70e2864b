#!/usr/bin/perl
# auth-timing.pl: a by-hand measurement (not a test) of auth_basic's timing: the median time
# of a refused request for a known user with a wrong password against an unknown user, on
# an htpasswd file of bcrypt cost-10 hashes (made with Python's crypt) and on the same file
# with one {SHA} entry that sorts first; plus an over-long password (11.5 KB) on bcrypt and
# on an $apr1$ (MD5-crypt) file, and the longest password still checked (3063 bytes, 4092
# bytes of base64) on that file. Usage, from the repository root:
#     PORTICO_BIN=$PWD/objs/portico perl scripts/auth-timing.pl [ROUNDS]
# Prints medians in milliseconds; both kinds of request are interleaved so that machine
# load falls on both alike. Loopback only; stops the portico it started.
use strict;
use warnings;
use lib 't/lib';
use Portico;
use MIME::Base64 qw(encode_base64);
use Time::HiRes qw(time);

my $rounds = $ARGV[0] || 40;
my $users = '';
for my $u (qw(alice bob carol dave)) {
    my $h = `python3 -W ignore -c 'import crypt; print(crypt.crypt("pw-$u", crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=1024)))'`;
    chomp $h;
    die "no bcrypt hash from python3 crypt\n" unless $h =~ /^\$2b\$10\$/;
    $users .= "$u:$h\n";
}
my $six = `openssl passwd -apr1 pw-six`;
chomp $six;
# the same users behind an {SHA} entry that sorts first ("aaa")
my %files = ('conf/htpasswd' => $users, 'conf/six' => "six:$six\n",
             'conf/mixed' => $users . "aaa:{SHA}" . encode_base64('x' x 20, '') . "\n");
my $p = Portico->new(files => \%files, conf => <<'CONF');
worker_processes = 1;
http = { max_header_size = "64k"; };
servers = ( { listen = ["127.0.0.1:%%PORT1%%"];
  routes = ( { match = { path_prefix = "/mixed/"; };
               auth_basic = { realm = "t"; users = "conf/mixed"; };
               return = { status = 200; }; },
             { match = { path_prefix = "/six/"; };
               auth_basic = { realm = "t"; users = "conf/six"; };
               return = { status = 200; }; },
             { match = { path_prefix = "/"; };
               auth_basic = { realm = "t"; users = "conf/htpasswd"; };
               return = { status = 200; }; } ); } );
CONF

sub once
{
    my ($cred, $path) = @_;
    my $t0 = time;
    my $raw = http_get($p->port(1), $path // '/', Authorization => 'Basic ' . encode_base64($cred, ''));
    my $dt = (time - $t0) * 1000;
    my ($s) = http_parse($raw);
    return ($dt, $s);
}

sub median { my @s = sort { $a <=> $b } @_; return $s[int(@s / 2)]; }

my (%t, %st);
once('alice:warm-up') for 1 .. 3;
for my $i (1 .. $rounds) {
    for my $k (['known', 'bob:wrong-password'], ['unknown', 'zed:wrong-password'],
               ['long-bcrypt', 'bob:' . ('x' x 11500)],
               ['long-apr1', 'six:' . ('x' x 11500), '/six/'],
               ['apr1', 'six:wrong-password', '/six/'],
               ['max-apr1', 'six:' . ('x' x 3063), '/six/'],
               ['mixed-known', 'bob:wrong-password', '/mixed/'],
               ['mixed-unknown', 'zed:wrong-password', '/mixed/']) {
        my ($dt, $s) = once($k->[1], $k->[2]);
        push @{ $t{ $k->[0] } }, $dt;
        $st{ $k->[0] }{$s}++;
    }
}
for my $k (qw(known unknown long-bcrypt apr1 max-apr1 long-apr1 mixed-known mixed-unknown)) {
    printf "%-14s median %7.2f ms  min %7.2f ms  statuses %s\n", $k, median(@{ $t{$k} }),
           (sort { $a <=> $b } @{ $t{$k} })[0],
           join(',', map { "${_}x$st{$k}{$_}" } sort keys %{ $st{$k} });
}
$p->stop;
