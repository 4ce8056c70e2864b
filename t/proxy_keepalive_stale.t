#!/usr/bin/perl
# proxy_keepalive_stale.t: pooled upstream connections the backend closes. A backend that
# closes each connection right after a keep-alive response (no Connection: close): GETs,
# sequential and pipelined, all get 200 with their exact bodies and reach the backend
# exactly once (a GET written to a connection closed meanwhile is sent again on a fresh
# one); a POST is never sent twice (it gets 200 and reached the backend once, or, when it
# was written to a connection the backend had just closed, 502 without reaching it). A
# backend that closes idle connections after a delay: GET and POST both get 200, once each.
# And the pool keeps at most `keepalive` idle connections after a burst that returned more.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Portico;
use PorticoBackend;
use File::Temp qw(tempdir);
use Time::HiRes qw(sleep);

skip_unless_module('proxy');

my $p = Portico->new(start => 0);
my $dir = tempdir(CLEANUP => 1);
# answers one request per connection, keep-alive framing, then closes; records each request
# it read (method, path, body) in its own file
my $imm = PorticoBackend->raw(port => $p->port(2), handler => sub {
    my ($c, $head, $rest) = @_;
    my ($m, $path) = $head =~ m{^(\S+) (\S+)};
    my $want = $head =~ /^content-length:[ \t]*(\d+)/im ? $1 : 0;
    while (length $rest < $want) {
        my $n = sysread($c, my $buf, 65536);
        last unless $n;
        $rest .= $buf;
    }
    my $tmp = "$dir/.tmp-$$";
    open(my $fh, '>', $tmp) or return;
    print $fh "$m $path $rest";
    close $fh;
    rename $tmp, "$dir/req-$$";
    my $body = "$m $path $rest";
    syswrite($c, "HTTP/1.1 200 OK\r\nContent-Length: " . length($body) . "\r\n\r\n$body");
});
my $del = PorticoBackend->new(port => $p->port(3), id => 'd', keepalive_close_after => 200);
my $burst = PorticoBackend->new(port => $p->port(4), id => 'b');
$p->write_conf(<<'EOF2');
upstreams = (
  { name = "imm"; keepalive = 8; servers = ( { address = "127.0.0.1:%%PORT2%%"; } ); },
  { name = "del"; keepalive = 8; servers = ( { address = "127.0.0.1:%%PORT3%%"; } ); },
  { name = "burst"; keepalive = 2; servers = ( { address = "127.0.0.1:%%PORT4%%"; } ); }
);
servers = ( {
  listen = ["127.0.0.1:%%PORT1%%"];
  routes = (
    { match = { path_prefix = "/del/"; }; proxy = { upstream = "del"; strip_prefix = true; }; },
    { match = { path_prefix = "/burst/"; };
      proxy = { upstream = "burst"; strip_prefix = true; }; },
    { match = { path_prefix = "/"; }; proxy = { upstream = "imm"; }; }
  );
} );
EOF2
$p->start;
my $port = $p->port(1);

sub recorded_requests
{
    opendir(my $dh, $dir) or return ();
    my @out;
    for my $f (grep { /^req-/ } readdir $dh) {
        open(my $fh, '<', "$dir/$f") or next;
        local $/;
        push @out, scalar <$fh>;
        unlink "$dir/$f";
    }
    closedir $dh;
    return sort @out;
}

# sequential GETs on one client connection
my @res = http_keepalive($port, [ map { http_request('GET', "/seq$_") } 1 .. 30 ]);
my @good = grep { my ($s, undef, $b) = http_parse($res[$_ - 1] || '');
                  "$s $b" eq "200 GET /seq$_ " } 1 .. 30;
is(scalar @good, 30, 'closing backend: 30 sequential GETs answered 200 with their bodies');
is_deeply([ recorded_requests() ], [ sort map { "GET /seq$_ " } 1 .. 30 ],
          'closing backend: each GET reached the backend exactly once');

# pipelined GETs: the next request is handled right after the previous response, often
# before the backend's close of the pooled connection was seen
my $s = http_connect($port);
http_send($s, join('', map { http_request('GET', "/pipe$_") } 1 .. 20));
my $ok = 0;
for my $i (1 .. 20) {
    my ($st, undef, $b) = http_parse(http_read_response($s, timeout => 5));
    $ok++ if "$st $b" eq "200 GET /pipe$i ";
}
close $s;
is($ok, 20, 'closing backend: 20 pipelined GETs answered 200 in order with their bodies');
is_deeply([ recorded_requests() ], [ sort map { "GET /pipe$_ " } 1 .. 20 ],
          'closing backend: each pipelined GET reached the backend exactly once');

# POSTs: never sent twice
@res = http_keepalive($port, [ map { http_request('POST', "/post$_", body => "b$_") } 1 .. 20 ]);
my (%status, @answered);
for my $i (1 .. 20) {
    my ($st, undef, $b) = http_parse($res[$i - 1] || '');
    $st //= 'none';
    $status{$st}++;
    push @answered, "POST /post$i b$i" if $st eq '200' && $b eq "POST /post$i b$i";
}
is(($status{200} // 0) + ($status{502} // 0), 20,
   'closing backend: every POST answered 200 or 502 (' . join(', ', map { "$_: $status{$_}" }
                                                          sort keys %status) . ')');
is_deeply([ recorded_requests() ], [ sort @answered ],
          'closing backend: the POSTs answered 200 reached the backend once, the others never');

# a backend closing idle connections after 200 ms
my ($st, undef, $b) = http_parse(http_get($port, '/del/id'));
is("$st $b", '200 d', 'delayed close: first GET');
sleep 0.5;
($st, undef, $b) = http_parse(http_get($port, '/del/id'));
is("$st $b", '200 d', 'delayed close: GET after the backend closed the pooled connection');
sleep 0.5;
($st, undef, $b) = http_parse(
    http_keepalive($port, [ http_request('POST', '/del/upload', body => 'x' x 100) ]));
like("$st $b", qr/^200 \{.*"length": ?100\b/,
     'delayed close: POST after the backend closed the pooled connection');
is($del->stats->{requests}, 3, 'delayed close: every request reached the backend once');

# a burst: six requests on six connections finish together; two idle connections stay
my @socks = map { http_connect($port) } 1 .. 6;
http_send($_, http_request('GET', '/burst/sleep?ms=300')) for @socks;
$ok = 0;
for my $c (@socks) {
    my ($bs, undef, $bb) = http_parse(http_read_response($c, timeout => 5));
    $ok++ if "$bs $bb" eq '200 b';
}
close $_ for @socks;
is($ok, 6, 'burst: six concurrent requests answered');
ok(wait_until(sub { ($burst->stats->{open} // -1) == 2 }, 3),
   'burst: the pool keeps keepalive = 2 idle connections (backend sees '
   . ($burst->stats->{open} // 'none') . ' open)');
is($burst->stats->{connections}, 6, 'burst: six upstream connections were opened');

$p->stop;
done_testing();
