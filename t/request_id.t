#!/usr/bin/perl
# request_id.t: `http.request_id = { trust_from = [CIDRs]; }`. A client's X-Request-Id is
# kept only when the immediate peer is in trust_from and the value is valid
# ([A-Za-z0-9._:-]{1,128}); otherwise a 32-hex id is generated. By default nobody is trusted.
# The address checked is the TCP peer, not the one real_ip reads from X-Forwarded-For. The
# id is checked where it shows: the response header, the error body, the upstream request,
# the access log. Bad entries in trust_from are -t errors at their FILE:LINE; -T prints it.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Portico;
use PorticoBackend;

skip_unless_module('return', 'proxy', 'realip', 'access_log');

my $HEX = qr/^[0-9a-f]{32}$/;

sub conf
{
    my ($http) = @_;
    return <<"EOF";
http = { $http
  log_formats = ( { name = "rid"; format = "\$request_id \$request_uri"; } );
  access_log = { path = "logs/access.log"; format = "rid"; };
};
upstreams = ( { name = "app"; servers = ( { address = "127.0.0.1:%%PORT2%%"; } ); } );
servers = ( { listen = ["127.0.0.1:%%PORT1%%"];
  routes = (
    { match = { path_prefix = "/up/"; }; proxy = { upstream = "app"; strip_prefix = true; }; },
    { match = { path = "/missing"; }; return = { status = 404; }; },
    { match = { path_prefix = "/"; }; return = { status = 200; body = "ok\\n"; }; }
  ); } );
EOF
}

# The X-Request-Id values the upstream saw for a proxied request, and the response's.
sub upstream_rid
{
    my ($p, $id) = @_;
    my ($s, $h, $b) = http_parse(http_get($p->port(1), '/up/echo', 'X-Request-Id' => $id));
    my $e = json_decode($b // '') // {};
    my @up = map { $_->[1] } grep { lc($_->[0]) eq 'x-request-id' } @{ $e->{headers} || [] };
    return (\@up, $h->{'x-request-id'} // '');
}

# The X-Request-Id the client gets back for a request that sent $id.
sub rid_of
{
    my ($p, $path, $id) = @_;
    my ($s, $h, $b) = http_parse(http_get($p->port(1), $path, 'X-Request-Id' => $id));
    return ($h->{'x-request-id'} // '', $s, $b);
}

# ---- default: never trusted ------------------------------------------------------------------

{
    my $p = Portico->new(conf => conf(''), start => 0);
    my $be = PorticoBackend->new(port => $p->port(2), id => 'a');
    $p->start;
    my ($rid, $s) = rid_of($p, '/', 'client-id-1');
    is($s, 200, 'default: 200');
    like($rid, $HEX, 'default: the response carries a generated 32-hex id');
    isnt($rid, 'client-id-1', "default: the client's X-Request-Id is not taken");

    my ($rid2, $s2, $b2) = rid_of($p, '/missing', 'client-id-2');
    is($s2, 404, 'default: 404');
    like($rid2, $HEX, 'default: the 404 carries a generated id');
    is($b2, "404 Not Found\nrequest_id: $rid2\n", 'default: the error body names the generated id');

    my ($up, $rid3) = upstream_rid($p, 'client-id-3');
    like($rid3, $HEX, 'default, proxied: a generated id');
    is_deeply($up, [$rid3], 'default, proxied: the upstream gets the generated id only');

    ok($p->wait_for(sub { ($p->access_log // '') =~ m{ /up/echo$}m }, 5), 'access log written');
    my $log = $p->access_log // '';
    like($log, qr{^\Q$rid\E /$}m, 'default: $request_id in the access log is the generated id');
    unlike($log, qr{client-id}, "default: the client's id is nowhere in the access log");
    $p->stop;
    $be->stop;
}

# ---- trusted peer: kept when valid ----------------------------------------------------------

{
    my $p = Portico->new(conf => conf('request_id = { trust_from = ["127.0.0.0/8"]; };'),
                         start => 0);
    my $be = PorticoBackend->new(port => $p->port(2), id => 'a');
    $p->start;
    my ($rid, $s) = rid_of($p, '/', 'abc-123.X:y_z');
    is($rid, 'abc-123.X:y_z', 'trusted: a valid X-Request-Id is kept');
    ($rid) = rid_of($p, '/', 'a' x 128);
    is($rid, 'a' x 128, 'trusted: 128 bytes are kept');
    ($rid) = rid_of($p, '/', 'a' x 129);
    like($rid, $HEX, 'trusted but 129 bytes: generated');
    ($rid) = rid_of($p, '/', 'bad id!');
    like($rid, $HEX, 'trusted but invalid characters: generated');
    my ($up, $rid2) = upstream_rid($p, 'lb-7');
    is($rid2, 'lb-7', 'trusted, proxied: returned to the client');
    is_deeply($up, ['lb-7'], 'trusted, proxied: passed upstream');
    $p->stop;
    $be->stop;
}

# ---- the immediate peer is what is checked -------------------------------------------------

{
    # real_ip makes 10.9.9.9 the client, but the peer (127.0.0.1) is not in trust_from
    my $p = Portico->new(conf => conf('request_id = { trust_from = ["10.0.0.0/8", "::1"]; };'
                                      . ' real_ip = { from = ["127.0.0.1"]; };'), start => 0);
    my $be = PorticoBackend->new(port => $p->port(2), id => 'a');
    $p->start;
    my ($s, $h) = http_parse(http_get($p->port(1), '/', 'X-Request-Id' => 'from-behind',
                                      'X-Forwarded-For' => '10.9.9.9'));
    is($s, 200, 'real_ip client in trust_from: 200');
    like($h->{'x-request-id'} // '', $HEX,
         'real_ip client in trust_from, peer not: the id is generated');
    $p->stop;
    $be->stop;
}

# ---- configuration -------------------------------------------------------------------------

{
    my $q = Portico->new(start => 0);
    my $file = $q->conf_file;
    $q->write_conf(<<'EOF');
http = {
  request_id = {
    trust_from = [
      "10.1.2.3/8",
      "not-an-address",
      "192.0.2.0/24"
    ];
  };
};
servers = ( { listen = ["127.0.0.1:%%PORT1%%"];
  routes = ( { match = { path = "/"; }; return = { status = 204; }; } ); } );
EOF
    my ($rc, $out) = $q->run_t('-t');
    is($rc, 1, 'bad trust_from: -t fails');
    my $l1 = $q->line_of(qr{"10\.1\.2\.3/8"});
    my $l2 = $q->line_of(qr{"not-an-address"});
    like($out, qr{^\Q$file\E:$l1: .*request_id\.trust_from.*"10\.1\.2\.3/8": host bits set in the address}m,
         'bad trust_from: FILE:LINE of the entry, host bits') or diag($out);
    like($out, qr{^\Q$file\E:$l2: .*"not-an-address": invalid address}m,
         'bad trust_from: FILE:LINE of the entry, invalid address') or diag($out);
    unlike($out, qr{192\.0\.2}, 'bad trust_from: the good entry is not reported');

    $q->write_conf(<<'EOF');
http = { request_id = { trust_from = 7; }; };
servers = ( { listen = ["127.0.0.1:%%PORT1%%"];
  routes = ( { match = { path = "/"; }; return = { status = 204; }; } ); } );
EOF
    ($rc, $out) = $q->run_t('-t');
    my $l = $q->line_of(qr{trust_from = 7});
    is($rc, 1, 'trust_from = 7: -t fails');
    like($out, qr{^\Q$file\E:$l: .*expected a string or an array of strings}m,
         'trust_from = 7: FILE:LINE, wrong type') or diag($out);

    $q->write_conf(<<'EOF');
servers = ( { listen = ["127.0.0.1:%%PORT1%%"];
  request_id = { trust_from = ["127.0.0.1"]; };
  routes = ( { match = { path = "/"; }; return = { status = 204; }; } ); } );
EOF
    ($rc, $out) = $q->run_t('-t');
    is($rc, 1, 'request_id in a server: -t fails (http scope only)');

    $q->write_conf(<<'EOF');
http = { request_id = { trust_from = ["10.0.0.0/8", "192.0.2.7", "::1", "unix:"]; }; };
servers = ( { listen = ["127.0.0.1:%%PORT1%%"];
  routes = ( { match = { path = "/"; }; return = { status = 204; }; } ); } );
EOF
    ($rc, $out) = $q->run_t('-T');
    is($rc, 0, 'good trust_from: -T passes') or diag($out);
    like($out, qr{trust_from = \[ "10\.0\.0\.0/8", "192\.0\.2\.7/32", "::1/128", "unix:" \]},
         '-T prints request_id.trust_from') or diag($out);
}

done_testing();
