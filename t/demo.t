#!/usr/bin/perl
# demo.t: conf/portico.conf (the demo users read first) passes -t, and, moved to free ports,
# serves its front (proxied, round robin, to both backends), /healthz, /status (metrics) and
# both backends.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Portico;

my $bin = portico_bin();
plan(skip_all => "no portico binary at $bin") unless -x $bin;

my $demo = read_file(repo_root() . '/conf/portico.conf');
ok(defined $demo, 'conf/portico.conf exists');
# a build without the status module (--without-status) checks the rest
$demo =~ s/^.*\bstatus = \{ format.*\n//m unless has_module('status');

my $p = Portico->new(start => 0, defaults => 0);
$p->write_conf($demo);
my ($rc, $out) = $p->run_t('-t');
is($rc, 0, 'the demo configuration passes -t') or diag($out);
unlike($out, qr/warning/, 'the demo configuration has no warnings');

(my $moved = $demo) =~ s/127\.0\.0\.1:808([012])/"127.0.0.1:%%PORT" . ($1 + 1) . "%%"/ge;
$moved =~ s/^worker_processes = "auto";/worker_processes = 1;/m;
$p->write_conf($moved);
$p->start;

my ($s, $h, $b) = http_parse(http_get($p->port(1), '/healthz'));
is($s, 200, 'demo /healthz: 200');
is($b, "ok\n", 'demo /healthz: ok');

($s, $h, $b) = http_parse(http_get($p->port(1), '/'));
is($s, 200, 'demo front: 200');
like($b, qr/^backend [12] answered GET \/\n\z/, 'demo front: proxied to a demo backend');
my %seen;
for my $i (1 .. 4) {
    ($s, $h, $b) = http_parse(http_get($p->port(1), "/lb?i=$i"));
    $seen{$1} = 1 if $b =~ /^backend ([12]) answered GET \/lb\?i=$i\n\z/;
}
is(join(',', sort keys %seen), '1,2', 'demo front: round robin across both backends');

SKIP: {
    skip 'status module not compiled in', 3 unless has_module('status');
    ($s, $h, $b) = http_parse(http_get($p->port(1), '/status'));
    is($s, 200, 'demo /status: 200');
    is($h->{'content-type'}, 'text/plain; version=0.0.4; charset=utf-8',
       'demo /status: Prometheus text');
    like($b, qr/^portico_http_requests_total \d+$/m,
         'demo /status: a portico_http_requests_total line');
}

($s, $h, $b) = http_parse(http_get($p->port(2), '/x?y=1'));
is($b, "backend 1 answered GET /x?y=1\n", 'demo backend 1');
($s, $h, $b) = http_parse(http_get($p->port(3), '/z'));
is($b, "backend 2 answered GET /z\n", 'demo backend 2');

done_testing();
