#!/usr/bin/perl
# proxy_failures.t: upstream failures (docs/http.md, docs/settings.md): 502 for a refused connection
# and each kind of bad response, a truncated closed client connection when the head was already
# sent, 503 when no server is left or all are at max_conns, 504 on read_timeout, retries the client
# never notices ($upstream_addr lists both tries), a written POST never replayed, a GET retried
# after no response, passive health seen by every worker, error bodies without backend addresses.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Portico;
use PorticoBackend;
use Time::HiRes qw(sleep);

skip_unless_module('proxy');

my $p = Portico->new(start => 0);
# PORT2: nothing listens (refused). PORT3: good backend "a". PORT4: backend "n" that never
# answers. PORT5: backend "b". PORT6: backend "r" resetting every connection. PORT7: "c".
my $ba = PorticoBackend->new(port => $p->port(3), id => 'a');
my $bn = PorticoBackend->new(port => $p->port(4), id => 'n', mode => ['no-response']);
my $bb = PorticoBackend->new(port => $p->port(5), id => 'b');
my $br = PorticoBackend->new(port => $p->port(6), id => 'r', mode => ['reset']);
my $bc = PorticoBackend->new(port => $p->port(7), id => 'c');
my @ports = map { $p->port($_) } 2 .. 7;

$p->write_conf(<<'EOF2');
worker_processes = 2;
http = {
  log_formats = ( { name = "up";
                    format = "$request_uri $status [$upstream_addr] [$upstream_status]"; } );
  access_log = { path = "logs/access.log"; format = "up"; };
};
upstreams = (
  { name = "refused"; servers = ( { address = "127.0.0.1:%%PORT2%%"; } ); },
  { name = "one"; retries = 0; read_timeout = "1s";
    servers = ( { address = "127.0.0.1:%%PORT3%%"; } ); },
  { name = "alldown"; servers = ( { address = "127.0.0.1:%%PORT3%%"; down = true; },
                                  { address = "127.0.0.1:%%PORT5%%"; down = true; } ); },
  { name = "mc"; servers = ( { address = "127.0.0.1:%%PORT3%%"; max_conns = 1; } ); },
  { name = "retry"; retries = 1; max_fails = 0;
    servers = ( { address = "127.0.0.1:%%PORT2%%"; }, { address = "127.0.0.1:%%PORT3%%"; } ); },
  { name = "noresp"; retries = 1; max_fails = 0;
    servers = ( { address = "127.0.0.1:%%PORT4%%"; }, { address = "127.0.0.1:%%PORT5%%"; } ); },
  { name = "passive"; retries = 1; max_fails = 2; fail_timeout = "60s";
    servers = ( { address = "127.0.0.1:%%PORT6%%"; }, { address = "127.0.0.1:%%PORT7%%"; } ); }
);
servers = ( {
  listen = ["127.0.0.1:%%PORT1%%"];
  routes = (
    { match = { path_prefix = "/refused/"; };
      proxy = { upstream = "refused"; strip_prefix = true; }; },
    { match = { path_prefix = "/one/"; };     proxy = { upstream = "one"; strip_prefix = true; }; },
    { match = { path_prefix = "/alldown/"; };
      proxy = { upstream = "alldown"; strip_prefix = true; }; },
    { match = { path_prefix = "/mc/"; };      proxy = { upstream = "mc"; strip_prefix = true; }; },
    { match = { path_prefix = "/retry/"; };
      proxy = { upstream = "retry"; strip_prefix = true; }; },
    { match = { path_prefix = "/noresp/"; };
      proxy = { upstream = "noresp"; strip_prefix = true; }; },
    { match = { path_prefix = "/passive/"; };
      proxy = { upstream = "passive"; strip_prefix = true; }; }
  );
} );
EOF2
$p->start;
my $port = $p->port(1);
my @error_bodies;

sub get
{
    my ($path, @h) = @_;
    my ($s, $h, $b) = http_parse(http_get($port, $path, -timeout => 8, @h));
    push @error_bodies, [$path, $b] if defined $s && $s >= 400;
    return ($s, $h, $b);
}

# --- 502
my ($s, $h, $b) = get('/refused/id');
is($s, 502, 'connection refused: 502');
like($b, qr/\Q$h->{'x-request-id'}\E/, '502 body carries the request id')
    if defined $h->{'x-request-id'};
for my $bad (qw(status-line both-cl-te huge-header bad-header reset no-response)) {
    ($s) = get("/one/bad/$bad");
    is($s, 502, "upstream /bad/$bad: 502");
}
($s, $h, $b) = get('/one/id');
is("$s $b", '200 a', 'the upstream still serves after bad responses');

# --- head already sent: truncated, closed client connection
{
    my $r = http_exchange($port, http_request('GET', '/one/bad/cl-mismatch'), timeout => 5);
    like($r->{raw}, qr{^HTTP/1\.1 200 }, 'cl-mismatch: head passed on');
    ok($r->{eof}, 'cl-mismatch: client connection closed');
    my $i = index($r->{raw}, "\r\n\r\n");
    my $body = $i >= 0 ? substr($r->{raw}, $i + 4) : '';
    my ($cl) = $r->{raw} =~ /^Content-Length:\s*(\d+)/mi;
    ok(!defined $cl || length($body) < $cl, 'cl-mismatch: no complete body')
        or diag("body length " . length($body));
    ok(length($body) < 1000, 'cl-mismatch: fewer bytes than declared');

    # keep-alive client: the connection must close too, no second response on it
    my @res = http_keepalive($port, [ http_request('GET', '/one/bad/close-mid-body'),
                                      http_request('GET', '/one/id') ], timeout => 5);
    like($res[0] || '', qr{^HTTP/1\.1 200 }, 'close-mid-body: head passed on');
    unlike($res[0] || '', qr/\r\n0\r\n\r\n\z/, 'close-mid-body: no final chunk');
    ok(@res < 2 || $res[1] !~ m{^HTTP/}, 'close-mid-body: connection not reused');
}

# --- 503
($s, $h, $b) = get('/alldown/id');
is($s, 503, 'every server down: 503');
{
    my $before = $ba->stats->{requests};
    ($s) = get('/alldown/id');
    is($ba->stats->{requests}, $before, 'every server down: no connect attempt');
}
{
    my $held = http_connect($port);
    http_send($held, http_request('GET', '/mc/sleep?ms=1500'));
    ok(wait_until(sub { grep { $_->[1] =~ /sleep/ } @{ $ba->requests_log || [] } }, 5),
       'max_conns: first request in progress');
    ($s) = get('/mc/id');
    is($s, 503, 'max_conns reached: 503');
    my ($s1, undef, $b1) = http_parse(http_read_response($held, timeout => 5));
    is("$s1 $b1", '200 a', 'max_conns: the first request completes');
    close $held;
    ($s, undef, $b) = get('/mc/id');
    is("$s $b", '200 a', 'max_conns: free again');
}

# --- 504
($s) = get('/one/sleep?ms=3000');
is($s, 504, 'read_timeout 1s with a 3 s backend: 504');

# --- retry the client never notices
for my $i (1 .. 4) {
    ($s, $h, $b) = get("/retry/id?try=$i");
    is("$s $b", '200 a', "retry $i: first server refused, answered by the second");
}
my $p2 = $p->port(2);
my $p3 = $p->port(3);
my $both = qr/^\/retry\/id\?try=\d 200 \[127\.0\.0\.1:$p2, 127\.0\.0\.1:$p3\] \[502, 200\]$/m;
ok(wait_until(sub { ($p->access_log || '') =~ $both }, 5),
   '$upstream_addr lists both tries')
    or diag($p->access_log);

# --- POST not replayed once written; GET retried
{
    my $body = 'x' x 1000;
    my %st;
    for my $i (1 .. 4) {
        my ($ps) = http_parse(http_raw($port, http_request('POST', "/noresp/upload?n=$i",
                                        Connection => 'close', body => $body), timeout => 8));
        $st{$i} = $ps;
    }
    my @failed = grep { ($st{$_} || 0) == 502 } 1 .. 4;
    my @ok = grep { ($st{$_} || 0) == 200 } 1 .. 4;
    is(@failed + @ok, 4, 'POST: every answer is 200 or 502');
    ok(@failed >= 1, 'POST to the non-answering server: 502') or diag(explain(\%st));
    my %seen_b = map { $_->[1] => 1 } @{ $bb->requests_log || [] };
    my %seen_n = map { $_->[1] => 1 } @{ $bn->requests_log || [] };
    for my $i (@failed) {
        ok($seen_n{"/upload?n=$i"}, "POST $i reached the first server");
        ok(!$seen_b{"/upload?n=$i"}, "POST $i written once: never replayed on the second server");
    }
    for my $i (1 .. 4) {
        ($s, $h, $b) = get("/noresp/id?g=$i");
        is("$s $b", '200 b', "GET $i: answered (retried after no response)");
    }
    %seen_n = map { $_->[1] => 1 } @{ $bn->requests_log || [] };
    ok(scalar(grep { $seen_n{"/id?g=$_"} } 1 .. 4) >= 1, 'GET: the non-answering server was tried');
}

# --- passive health shared by both workers
{
    my $tries = 0;
    while ($br->stats->{connections} < 2 && $tries++ < 40) {
        ($s, undef, $b) = get('/passive/id');
        is("$s $b", '200 c', 'passive: answered by the healthy server') if $tries <= 2;
    }
    my $seen = $br->stats->{connections};
    ok($seen >= 2, "passive: the failing server was tried ($seen)");
    my $all_ok = 1;
    for my $i (1 .. 30) {
        ($s, undef, $b) = get("/passive/id?after=$i");
        $all_ok = 0 unless "$s $b" eq '200 c';
    }
    ok($all_ok, 'passive: 30 requests on new connections all answered');
    is($br->stats->{connections}, $seen, 'passive: after max_fails no worker sends it anything');
}

# --- no backend address in any error body
my @leaks = grep { my $b = $_->[1]; grep { index($b, "127.0.0.1:$_") >= 0 } @ports } @error_bodies;
ok(@error_bodies >= 9, 'error bodies collected');
is(scalar @leaks, 0, 'no error body reveals a backend address')
    or diag(explain(\@leaks));

$p->stop;
done_testing();
