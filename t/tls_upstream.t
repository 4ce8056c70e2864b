#!/usr/bin/perl
# tls_upstream.t: TLS to upstream servers (docs/settings.md upstream `tls`, docs/tls.md): a verified
# upstream (200, a 1 MiB response and a POST body intact), verification failures (wrong CA, wrong
# server_name, the address's IP as the default name) -> 502 logged at error with the reason and
# counted by passive health, verify = false, a client certificate (mTLS backend), keep-alive reuse
# of TLS connections, session resumption on a new upstream connection, active health checks over TLS
# (up through a verified handshake, down on a failed one) and -t errors for a bad `ca`. Certificates
# are made with the openssl CLI at test time; the TLS backend is a second portico instance with `tls
# = true` listeners (and `openssl s_server -www` for resumption: its page says "Reused" or "New").

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Portico;
use PorticoBackend;
use File::Temp qw(tempdir);
use Digest::SHA qw(sha256_hex);
use JSON::PP qw(decode_json);
use POSIX ();
use IO::Socket::INET;

skip_unless_module('tls', 'return', 'static', 'proxy', 'access_log', 'health_check');
plan(skip_all => 'no openssl CLI') unless system('openssl version >/dev/null 2>&1') == 0;

my $D = tempdir('portico-uptls-XXXXXX', DIR => '/tmp', CLEANUP => 1);

sub sh
{
    my ($cmd) = @_;
    system("$cmd >>$D/openssl.log 2>&1") == 0 or BAIL_OUT("failed: $cmd");
}

# a CA, the backend's certificate for backend.test, a client certificate, an unrelated CA
sh("openssl req -x509 -newkey rsa:2048 -nodes -keyout $D/ca.key -out $D/ca.crt -days 30 "
   . "-subj '/CN=Upstream Test CA' -addext basicConstraints=critical,CA:TRUE "
   . "-addext keyUsage=critical,keyCertSign,cRLSign");
sub leaf
{
    my ($name, $cn, $ext) = @_;
    sh("openssl req -newkey rsa:2048 -nodes -keyout $D/$name.key -out $D/$name.csr -subj '$cn'");
    Portico::write_file("$D/$name.ext", $ext);
    sh("openssl x509 -req -in $D/$name.csr -CA $D/ca.crt -CAkey $D/ca.key -CAcreateserial "
       . "-out $D/$name.crt -days 30 -extfile $D/$name.ext");
}
leaf('backend', '/CN=backend.test', "subjectAltName=DNS:backend.test\n");
leaf('client', '/CN=portico client', "extendedKeyUsage=clientAuth\n");
sh("openssl req -x509 -newkey rsa:2048 -nodes -keyout $D/other.key -out $D/other.crt -days 30 "
   . "-subj '/CN=Other CA' -addext basicConstraints=critical,CA:TRUE");

my $big = join('', map { pack('N', $_ * 2654435761 % 4294967296) } 0 .. (1 << 18) - 1);

# --- the TLS backend: port 1 plain TLS, port 2 TLS with client certificates required
my $b = Portico->new(start => 0, files => { 'html/big.bin' => $big });
my $py = PorticoBackend->new(port => $b->port(3), id => 'py');
$b->write_conf(<<"EOF");
http = {
  log_formats = ( { name = "conn"; format = "\$connection \$request_uri \$status"; } );
  access_log = { path = "logs/access.log"; format = "conn"; };
};
upstreams = ( { name = "py"; servers = ( { address = "127.0.0.1:%%PORT3%%"; } ); } );
servers = (
  { listen = ( { address = "127.0.0.1:%%PORT1%%"; tls = true; } );
    names = ["backend.test"];
    tls = { certificate = "$D/backend.crt"; key = "$D/backend.key"; };
    routes = (
      { match = { path = "/healthz"; }; return = { status = 200; body = "healthy\\n"; }; },
      { match = { path = "/upload"; }; proxy = { upstream = "py"; }; },
      { match = { path = "/big.bin"; }; static = { root = "html"; }; },
      { match = { path_prefix = "/"; };
        return = { status = 200; body = "tls backend \$ssl_protocol\\n"; }; }
    ); },
  { listen = ( { address = "127.0.0.1:%%PORT2%%"; tls = true; } );
    names = ["backend.test"];
    tls = { certificate = "$D/backend.crt"; key = "$D/backend.key"; client_ca = "$D/ca.crt";
            verify_client = "on"; };
    routes = ( { match = { path_prefix = "/"; };
                 return = { status = 200; body = "mtls \$ssl_client_s_dn\\n"; }; } ); }
);
EOF
$b->start;

# --- openssl s_server -www (resumption)
my $f = Portico->new(start => 0);
my $sport = $f->port(9);
my $spid = fork();
die "fork: $!" unless defined $spid;
if ($spid == 0) {
    open(STDIN, '<', '/dev/null');
    open(STDOUT, '>', "$D/s_server.log");
    open(STDERR, '>&', \*STDOUT);
    exec('openssl', 's_server', '-www', '-accept', $sport, '-cert', "$D/backend.crt",
         '-key', "$D/backend.key") or POSIX::_exit(127);
}
my $sready = wait_until(sub {
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $sport, Timeout => 2);
    return defined $s;
}, 10);

# --- the front: /NAME/... goes to upstream NAME (prefix stripped)
my $bp = $b->port(1);
my $routes = join(",\n", map {
    qq(    { match = { path_prefix = "/$_/"; };\n)
    . qq(      proxy = { upstream = "$_"; strip_prefix = true; }; })
} qw(good wrongca wrongname byaddr noverify mtls nocert stall resume hcgood hcbad));
$f->allow(qr/TLS handshake with upstream/);
$f->write_conf(<<"EOF");
upstreams = (
  { name = "good"; keepalive = 4; servers = ( { address = "127.0.0.1:$bp"; } );
    tls = { enable = true; ca = "$D/ca.crt"; server_name = "backend.test"; }; },
  { name = "wrongca"; max_fails = 1; fail_timeout = "60s"; retries = 1;
    servers = ( { address = "127.0.0.1:$bp"; }, { address = "127.0.0.1:${\ $b->port(2)}"; } );
    tls = { enable = true; ca = "$D/other.crt"; server_name = "backend.test"; }; },
  { name = "wrongname"; max_fails = 0; servers = ( { address = "127.0.0.1:$bp"; } );
    tls = { enable = true; ca = "$D/ca.crt"; server_name = "other.test"; }; },
  { name = "byaddr"; max_fails = 0; servers = ( { address = "127.0.0.1:$bp"; } );
    tls = { enable = true; ca = "$D/ca.crt"; }; },
  { name = "noverify"; max_fails = 0; servers = ( { address = "127.0.0.1:$bp"; } );
    tls = { enable = true; verify = false; ca = "$D/other.crt"; }; },
  { name = "mtls"; max_fails = 0; servers = ( { address = "127.0.0.1:${\ $b->port(2)}"; } );
    tls = { enable = true; ca = "$D/ca.crt"; server_name = "backend.test";
            certificate = "$D/client.crt"; key = "$D/client.key"; }; },
  { name = "nocert"; max_fails = 0; servers = ( { address = "127.0.0.1:${\ $b->port(2)}"; } );
    tls = { enable = true; ca = "$D/ca.crt"; server_name = "backend.test"; }; },
  { name = "stall"; max_fails = 0; connect_timeout = "1s"; retries = 0;
    servers = ( { address = "127.0.0.1:${\ $b->port(3)}"; } );
    tls = { enable = true; ca = "$D/ca.crt"; server_name = "backend.test"; }; },
  { name = "resume"; keepalive = 0; max_fails = 0;
    servers = ( { address = "127.0.0.1:$sport"; } );
    tls = { enable = true; ca = "$D/ca.crt"; server_name = "backend.test"; }; },
  { name = "hcgood"; max_fails = 0; servers = ( { address = "127.0.0.1:$bp"; } );
    tls = { enable = true; ca = "$D/ca.crt"; server_name = "backend.test"; };
    health_check = { path = "/healthz"; interval = "300ms"; timeout = "3s"; rise = 2; fall = 2;
                     initial = "down"; }; },
  { name = "hcbad"; max_fails = 0; servers = ( { address = "127.0.0.1:$bp"; } );
    tls = { enable = true; ca = "$D/other.crt"; server_name = "backend.test"; };
    health_check = { path = "/healthz"; interval = "300ms"; timeout = "3s"; rise = 2; fall = 2; }; }
);
servers = ( {
  listen = ["127.0.0.1:%%PORT1%%"];
  routes = (
$routes
  );
} );
EOF
$f->start;
my $fp = $f->port(1);

sub get
{
    my ($path) = @_;
    return http_parse(http_get($fp, $path, -timeout => 15));
}

# --- verified TLS upstream
my ($s, $h, $body) = get('/good/x');
is($s, 200, 'verified TLS upstream: 200');
like($body, qr/^tls backend TLSv1\.[23]\n\z/, 'verified TLS upstream: the body over TLS 1.2+');
($s, $h, $body) = get('/good/big.bin');
is($s, 200, '1 MiB over TLS: 200');
is(length($body // ''), length($big), '1 MiB over TLS: length');
ok(defined $body && $body eq $big, '1 MiB over TLS: bytes intact');

my $post = join('', map { chr(($_ * 7) % 251) } 0 .. 300_000);
my $sock = http_connect($fp);
http_send($sock, "POST /good/upload HTTP/1.1\r\nHost: front\r\nContent-Length: "
          . length($post) . "\r\nConnection: close\r\n\r\n" . $post);
($s, $h, $body) = http_parse(http_read_response($sock, 'POST', 15));
is($s, 200, 'POST over TLS: 200');
my $j = eval { decode_json($body) } // {};
is($j->{length}, length($post), 'POST over TLS: the backend got every byte');
is($j->{sha256}, sha256_hex($post), 'POST over TLS: the body intact');

# --- keep-alive over TLS: one backend connection for several requests
for my $i (1 .. 4) {
    ($s) = get("/good/ka$i");
    is($s, 200, "keep-alive request $i: 200");
}
ok(wait_until(sub { (read_file($b->prefix . '/logs/access.log') // '') =~ m{ /ka4 200$}m }, 10),
   'keep-alive: the backend logged the requests');
my %conns = map { (split / /)[0] => 1 }
            grep { m{ /ka\d 200$} } split /\n/, read_file($b->prefix . '/logs/access.log');
is(scalar(keys %conns), 1, 'keep-alive: four requests on one TLS connection to the backend')
    or diag(read_file($b->prefix . '/logs/access.log'));

# --- verification failures
($s) = get('/wrongca/x');
is($s, 502, 'wrong CA: 502');
my $why = qr/failed: unable to get local issuer certificate/;
like($f->error_log, qr/\[error\] .*TLS handshake with upstream 127\.0\.0\.1:$bp of "wrongca" $why/,
     'wrong CA: logged at error with the reason');
($s) = get('/wrongca/x');
is($s, 503, 'wrong CA: the failure counts for passive health (server marked down: 503)');
($s) = get('/wrongname/x');
is($s, 502, 'wrong server_name: 502');
like($f->error_log,
     qr/\[error\] .*upstream 127\.0\.0\.1:$bp of "wrongname" failed: hostname mismatch/,
     'wrong server_name: logged with the reason');
($s) = get('/byaddr/x');
is($s, 502, 'no server_name: the address (an IP) is checked: 502');
like($f->error_log, qr/of "byaddr" failed: IP address mismatch/,
     'no server_name: IP address mismatch');
($s, $h, $body) = get('/noverify/x');
is($s, 200, 'verify = false with the wrong CA: 200');
like($body // '', qr/^tls backend TLSv1\.[23]\n\z/, 'verify = false: the body');

# --- a server that accepts TCP but never answers the handshake: connect_timeout covers it
($s) = get('/stall/x');
is($s, 504, 'handshake under connect_timeout: 504');
like($f->error_log, qr/\[error\] .*upstream 127\.0\.0\.1:\d+ timed out \(TLS handshake\)/,
     'handshake timeout: logged');

# --- client certificate
($s, $h, $body) = get('/mtls/x');
is($s, 200, 'client certificate: 200 from a backend that requires one');
is($body, "mtls CN=portico client\n", 'client certificate: the backend saw it');
($s) = get('/nocert/x');
ok($s == 502 || $s == 400, "no client certificate: refused by the backend ($s)");

# --- session resumption on a new upstream connection (s_server -www reports it)
SKIP: {
    skip('openssl s_server did not start', 3) unless $sready;
    ($s, $h, $body) = get('/resume/');
    is($s, 200, 'resumption: first request 200');
    like($body // '', qr/^New, /m, 'resumption: the first connection is a full handshake');
    ($s, $h, $body) = get('/resume/');
    like($body // '', qr/^Reused, /m, 'resumption: the next connection resumes the session')
        or diag($body);
}

# --- health checks over TLS
my $elog = sub { $f->error_log // '' };
my $up = qr/\[notice\] .*upstream server 127\.0\.0\.1:$bp of "hcgood" is up/;
my $down = qr/\[notice\] .*127\.0\.0\.1:$bp of "hcbad" is down /
           . qr/\(health check: TLS handshake failed\)/;
ok(wait_until(sub { $elog->() =~ $up }, 15),
   'health check over TLS: a verified backend is marked up');
($s) = get('/hcgood/x');
is($s, 200, 'health check over TLS: traffic once up');
ok(wait_until(sub { $elog->() =~ $down }, 15),
   'health check over TLS: a failed handshake marks the server down');
($s) = get('/hcbad/x');
is($s, 503, 'health check over TLS: no traffic to the down server');
ok(wait_until(sub { (read_file($b->prefix . '/logs/access.log') // '') =~ m{ /healthz 200$}m }, 10),
   'health check over TLS: the backend answered checks over TLS');

$f->stop;
kill('TERM', $spid);
waitpid($spid, 0);

# --- -t: a missing ca is reported with FILE:LINE
my $t = Portico->new(start => 0);
$t->write_conf(<<"EOF");
upstreams = ( { name = "x"; servers = ( { address = "127.0.0.1:1"; } );
                tls = { enable = true; ca = "$D/missing-ca.crt"; }; } );
servers = ( { listen = ["127.0.0.1:%%PORT1%%"];
              routes = ( { match = { path_prefix = "/"; }; proxy = { upstream = "x"; }; } ); } );
EOF
my ($rc, $o) = $t->run_t('-t');
isnt($rc, 0, '-t: a missing ca fails');
my $l = $t->line_of(qr/tls = \{/);
my $msg = qr/upstream "x": tls\.ca "[^"]*missing-ca\.crt": No such file or directory/;
like($o, qr/\Q${\ $t->conf_file}\E:$l: (?:\S+: )?$msg/,
     '-t: FILE:LINE of the tls block and the file');

# --- relative ca, certificate and key paths are relative to the prefix, as everywhere else
write_file($t->prefix . "/conf/$_", read_file("$D/$_")) for qw(ca.crt client.crt client.key);
$t->write_conf(<<"EOF");
upstreams = ( { name = "x"; servers = ( { address = "127.0.0.1:1"; } );
                tls = { enable = true; ca = "conf/ca.crt"; server_name = "backend.test";
                        certificate = "conf/client.crt"; key = "conf/client.key"; }; } );
servers = ( { listen = ["127.0.0.1:%%PORT1%%"];
              routes = ( { match = { path_prefix = "/"; }; proxy = { upstream = "x"; }; } ); } );
EOF
($rc, $o) = $t->run_t('-t');
is($rc, 0, '-t: relative tls.ca, tls.certificate and tls.key found under the prefix') or diag($o);

done_testing();
