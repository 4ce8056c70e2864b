#!/usr/bin/perl
# access.t: the `access` route setting (docs/settings.md, docs/http.md): rules in order with the
# first match deciding, no match allows (nginx), "deny all", IPv4 and IPv6 CIDRs (a [::1] listener),
# the exact 403 page with the request id (text and JSON, HEAD), the error-log line, access on
# return, static and proxy routes (a denied request never reaches the upstream), access checked
# before auth_basic (403 before 401), a denied Expect: 100-continue, real_ip when it is available,
# and bad rules as FILE:LINE errors at -t with a warning for shadowed rules.

use strict;
use warnings;
use Test::More;
use MIME::Base64 qw(encode_base64);
use lib 't/lib';
use Portico;
use PorticoBackend;

skip_unless_module('access', 'return', 'static', 'proxy');

my $v6 = Portico::have_ipv6();
my $p = Portico->new(start => 0, files => { 'html/index.html' => "static page\n",
                                            'html/s/file.txt' => "file\n" });
my $be = PorticoBackend->new(port => $p->port(3), id => 'b');
my (undef, $hash) = Portico::run_cmd('openssl', 'passwd', '-apr1', 'pw');
chomp $hash;
write_file($p->prefix . '/conf/htpasswd', "ann:$hash\n");
my $auth = has_module('auth_basic');
my $listen = $v6 ? '"127.0.0.1:%%PORT1%%", "[::1]:%%PORT2%%"' : '"127.0.0.1:%%PORT1%%"';
my $both = $auth ? 'auth_basic = { realm = "r"; users = "conf/htpasswd"; };' : '';

# the test client is trusted with its X-Request-Id (http.request_id.trust_from)
$p->write_conf(<<"EOF");
http = { request_id = { trust_from = ["127.0.0.1", "::1"]; }; };
upstreams = ( { name = "app"; servers = ( { address = "127.0.0.1:%%PORT3%%"; } ); } );
servers = ( {
  listen = [$listen];
  routes = (
    { match = { path = "/deny-all"; }; access = ["deny all"];
      return = { status = 200; body = "no\\n"; }; },
    { match = { path = "/lo4"; }; access = ["allow 127.0.0.1", "deny all"];
      return = { status = 200; body = "lo4\\n"; }; },
    { match = { path = "/lo6"; }; access = ["allow ::1", "deny all"];
      return = { status = 200; body = "lo6\\n"; }; },
    { match = { path = "/order-deny"; }; access = ["deny 127.0.0.1", "allow 127.0.0.0/8"];
      return = { status = 200; body = "od\\n"; }; },
    { match = { path = "/order-allow"; }; access = ["allow 127.0.0.0/8", "deny 127.0.0.1"];
      return = { status = 200; body = "oa\\n"; }; },
    { match = { path = "/v6net"; }; access = ["deny ::/0", "allow 0.0.0.0/0"];
      return = { status = 200; body = "v6net\\n"; }; },
    { match = { path = "/nomatch"; }; access = ["deny 10.0.0.0/8", "deny 2001:db8::/32"];
      return = { status = 200; body = "nomatch\\n"; }; },
    { match = { path = "/lone"; }; access = "deny 127.0.0.0/24";
      return = { status = 200; body = "lone\\n"; }; },
    { match = { path = "/both"; }; access = ["deny 127.0.0.1"]; $both
      return = { status = 200; body = "both\\n"; }; },
    { match = { path_prefix = "/s/"; }; access = ["deny all"]; static = { root = "html"; }; },
    { match = { path_prefix = "/p/"; }; access = ["deny 127.0.0.1"];
      proxy = { upstream = "app"; strip_prefix = true; }; },
    { match = { path_prefix = "/pa/"; }; access = ["allow 127.0.0.1", "deny all"];
      proxy = { upstream = "app"; strip_prefix = true; }; },
    { match = { path_prefix = "/"; }; static = { root = "html"; index = "index.html"; }; }
  );
} );
EOF
$p->start;
my $port = $p->port(1);

sub get4 { my ($path, @h) = @_; return http_parse(http_get($port, $path, @h)); }
sub get6 { my ($path, @h) = @_;
           return http_parse(http_get($p->port(2), $path, -host => '::1', @h)); }

# ---- IPv4 client ------------------------------------------------------------------------

my %v4 = ('/deny-all' => 403, '/lo4' => 200, '/lo6' => 403, '/order-deny' => 403,
          '/order-allow' => 200, '/v6net' => 200, '/nomatch' => 200, '/lone' => 403,
          '/' => 200);
for my $path (sort keys %v4) {
    my ($s) = get4($path);
    is($s, $v4{$path}, "127.0.0.1 $path: $v4{$path}");
}

# ---- IPv6 client ------------------------------------------------------------------------

SKIP: {
    skip('no IPv6 loopback', 9) unless $v6;
    my %six = ('/deny-all' => 403, '/lo4' => 403, '/lo6' => 200, '/order-deny' => 200,
               '/order-allow' => 200, '/v6net' => 403, '/nomatch' => 200, '/lone' => 200,
               '/' => 200);
    for my $path (sort keys %six) {
        my ($s) = get6($path);
        is($s, $six{$path}, "::1 $path: $six{$path}");
    }
}

# ---- the 403 page ------------------------------------------------------------------------

{
    my $raw = http_get($port, '/deny-all');
    my ($s, $h, $b) = http_parse($raw);
    like($raw, qr{^HTTP/1\.1 403 Forbidden\r\n}, '403: status line');
    my $rid = $h->{'x-request-id'} // '';
    like($rid, qr/^[0-9a-f]{32}$/, '403: X-Request-Id');
    is($b, "403 Forbidden\nrequest_id: $rid\n", '403: body with the request id');
    is($h->{'content-type'}, 'text/plain; charset=utf-8', '403: text/plain');
    ok(!exists $h->{'www-authenticate'}, '403: no challenge');

    ($s, $h, $b) = get4('/deny-all', Accept => 'application/json', 'X-Request-Id' => 'req-42');
    is($s, 403, '403 as JSON: status');
    is($b, qq({"status":403,"error":"Forbidden","request_id":"req-42"}\n),
       '403 as JSON: body with the client\'s request id');

    $raw = http_head($port, '/deny-all');
    ($s, $h, $b) = http_parse($raw);
    is($s, 403, 'HEAD: 403');
    is($b, '', 'HEAD: no body');

    ok($p->wait_for(sub { ($p->error_log // '') =~
                          /\[error\] \d+#\d+: access forbidden by rule 1, client: 127\.0\.0\.1, request: "GET \/deny-all HTTP\/1\.1"/ }, 5),
       'error log: access forbidden by rule N, with the client and the request');
    like($p->error_log // '', qr/access forbidden by rule 1, client: 127\.0\.0\.1, request: "GET \/order-deny /,
         'error log: the deciding rule is named');
}

# ---- keep-alive and bodies ---------------------------------------------------------------

{
    my @res = http_keepalive($port, [ http_request('GET', '/deny-all'),
                                      http_request('GET', '/lo4') ]);
    is(scalar(@res), 2, 'keep-alive: the connection survives a 403');
    is((http_parse($res[1] // ''))[2], "lo4\n", 'keep-alive: next request served');

    my ($s) = http_parse(http_raw($port, http_request('POST', '/deny-all', Connection => 'close',
                                                      body => 'x' x 5000)));
    is($s, 403, 'POST with a body to a denied route: 403');

    # no 100 Continue for a request that ACCESS refuses
    my $raw = http_raw($port, "POST /deny-all HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n"
                       . "Expect: 100-continue\r\nConnection: close\r\n\r\n", timeout => 3);
    like($raw, qr{^HTTP/1\.1 403 }, 'Expect: 100-continue on a denied route: 403 at once');
    unlike($raw, qr{^HTTP/1\.1 100 }m, 'Expect: 100-continue on a denied route: no 100');
}

# ---- static and proxy routes --------------------------------------------------------------

{
    my ($s, $h, $b) = get4('/s/file.txt');
    is($s, 403, 'static route with deny all: 403');
    isnt($b, "file\n", 'static route: the file is not sent');

    $be->reset;
    ($s) = get4('/p/x');
    is($s, 403, 'proxy route denying 127.0.0.1: 403');
    ($s, $h, $b) = get4('/pa/id');
    is($s, 200, 'proxy route allowing 127.0.0.1: 200');
    is($b, 'b', 'proxy route allowing 127.0.0.1: the backend answered');
    my $log = $be->requests_log || [];
    is_deeply([ map { $_->[1] } @$log ], ['/id'], 'the denied request never reached the upstream');
  SKIP: {
        skip('no IPv6 loopback', 1) unless $v6;
        ($s, $h, $b) = get6('/p/id');
        is($s, 200, 'proxy route: ::1 is not denied by "deny 127.0.0.1"');
    }
}

# ---- access before auth_basic -----------------------------------------------------------------

SKIP: {
    skip('auth_basic not compiled in', 4) unless $auth;
    my $cred = 'Basic ' . encode_base64('ann:pw', '');
    my ($s, $h) = get4('/both');
    is($s, 403, 'access + auth_basic, denied client: 403, not 401');
    ok(!exists $h->{'www-authenticate'}, 'denied client: no challenge');
    ($s) = get4('/both', Authorization => $cred);
    is($s, 403, 'denied client with valid credentials: still 403');
  SKIP: {
        skip('no IPv6 loopback', 3) unless $v6;
        ($s, $h) = get6('/both');
        is($s, 401, 'allowed client without credentials: 401');
        is($h->{'www-authenticate'}, 'Basic realm="r"', 'allowed client: challenge');
        ($s) = get6('/both', Authorization => $cred);
        is($s, 200, 'allowed client with credentials: 200');
    }
}
$p->stop;

# ---- real_ip: the rules see the address from the trusted header ---------------------------

{
    my $q = Portico->new(start => 0);
    $q->write_conf(<<'EOF');
http = { real_ip = { from = ["127.0.0.1"]; header = "X-Forwarded-For"; }; };
servers = ( { listen = ["127.0.0.1:%%PORT1%%"];
  routes = ( { match = { path_prefix = "/"; }; access = ["allow 192.0.2.0/24", "deny all"];
               return = { status = 200; body = "in\n"; }; } ); } );
EOF
    my ($rc, $out) = $q->run_t('-t');
  SKIP: {
        skip('real_ip is not available yet', 3) if $rc != 0 && $out =~ /real_ip/;
        $q->start;
        my ($s) = http_parse(http_get($q->port(1), '/', 'X-Forwarded-For' => '192.0.2.9'));
        is($s, 200, 'real_ip: the forwarded client 192.0.2.9 is allowed');
        ($s) = http_parse(http_get($q->port(1), '/', 'X-Forwarded-For' => '198.51.100.1'));
        is($s, 403, 'real_ip: the forwarded client 198.51.100.1 is denied');
        ($s) = http_parse(http_get($q->port(1), '/'));
        is($s, 403, 'real_ip: the peer 127.0.0.1 itself is denied');
        $q->stop;
    }
}

# ---- -t: bad rules with their lines, shadowed rules -------------------------------------------

{
    my $q = Portico->new(start => 0);
    $q->write_conf(<<'EOF');
servers = ( { listen = ["127.0.0.1:%%PORT1%%"];
  routes = (
    { match = { path = "/a"; };
      access = [
        "allow",
        "permit 10.0.0.1",
        "allow 300.1.1.1",
        "deny 10.0.0.1/8",
        "allow 10.0.0.0/33",
        "allow 1.2.3.4 5.6.7.8",
        "deny all",
        "allow ::1/129" ];
      return = { status = 200; }; },
    { match = { path = "/b"; }; access = 5; return = { status = 200; }; }
  );
} );
EOF
    my ($rc, $out) = $q->run_t('-t');
    my $cf = $q->conf_file;
    is($rc, 1, '-t: bad rules fail');
    my @want = (['"allow",', 1, qr/a rule reads "allow ADDRESS" or "deny ADDRESS"/],
                ['"permit 10', 2, qr/a rule reads/],
                ['"allow 300', 3, qr/invalid address/],
                ['"deny 10.0.0.1/8"', 4, qr/host bits/],
                ['"allow 10.0.0.0/33"', 5, qr/prefix length/],
                ['"allow 1.2.3.4 5', 6, qr/one address per rule/],
                ['"allow ::1/129"', 8, qr/prefix length/]);
    for my $w (@want) {
        my ($text, $n, $msg) = @$w;
        my $line = $q->line_of(qr/^\s*\Q$text\E/);
        like($out, qr/^\Q$cf\E:$line: servers\[0\]\.routes\[0\]\.access\[\d\]: rule $n "[^"]*": $msg/m,
             "-t: rule $n reported at its line $line");
    }
    my $l5 = $q->line_of(qr/access = 5;/);
    like($out, qr/^\Q$cf\E:$l5: .*access.*list of rules/m, '-t: access = 5 reported');
    is(scalar(() = $out =~ /^\Q$cf\E:\d+: (?!warning)/mg), 8, '-t: every error, each once');

    $q->write_conf(<<'EOF');
servers = ( { listen = ["127.0.0.1:%%PORT1%%"];
  routes = ( { match = { path = "/a"; };
               access = ["allow 127.0.0.1", "deny all", "allow 10.0.0.0/8"];
               return = { status = 200; }; } ); } );
EOF
    ($rc, $out) = $q->run_t('-t');
    my $l = $q->line_of(qr/access = \[/);
    is($rc, 0, '-t: a shadowed rule is only a warning');
    like($out, qr/^\Q$cf\E:$l: warning: servers\[0\]\.routes\[0\]\.access: rule 3 can never match: rule 2 \("deny all"\) matches every client$/m,
         '-t: shadowed rule warning');

    ($rc, $out) = $q->run_t('-T');
    like($out, qr/access = \[ ?"allow 127\.0\.0\.1", "deny all", "allow 10\.0\.0\.0\/8" ?\];/,
         '-T prints the rules');
}

done_testing();
