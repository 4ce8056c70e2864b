#!/usr/bin/perl
# rate_limit.t: rate_limits (docs/settings.md, docs/http.md): GCRA per key in a shared zone, so that
# with 2 and with 4 workers exactly burst + 1 requests of ~20 fresh connections pass at "1r/m", the
# rest 429 with Retry-After 1..60, logged at info and counted; an empty key is not limited; a
# configured status; the zone and its keys survive kill -9 of a worker and a HUP reload, a changed
# size starts fresh with a notice; a worker killed while it holds the zone lock (debug builds:
# X-Portico-Debug-Limit: crash-in-lock) stalls nobody; -t errors with FILE:LINE for bad rates and
# unknown limit names.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Portico;
use Time::HiRes qw(sleep time);

# True once the master runs $n workers, none of them in @$old.
sub new_workers
{
    my ($p, $n, $old) = @_;
    my %old = map { $_ => 1 } @$old;
    return $p->wait_for(sub { my @w = $p->worker_pids; @w == $n && !grep { $old{$_} } @w }, 15);
}

skip_unless_module('rate_limit');

sub conf_text
{
    my ($workers, $size) = @_;
    $size //= '64k';
    return <<"EOF2";
worker_processes = $workers;
rate_limits = (
  { name = "per_ip"; key = "\$remote_addr"; rate = "1r/m"; burst = 2; size = "$size"; },
  { name = "by_hdr"; key = "\$http_x_key"; rate = "1r/m"; status = 503; },
  { name = "fast"; key = "\$http_x_key"; rate = "2r/s"; },
  { name = "tiny"; key = "\$http_x_key"; rate = "1r/m"; size = "16k"; }
);
servers = ( {
  listen = ( { address = "127.0.0.1:%%PORT1%%"; reuseport = true; } );
  routes = (
    { match = { path = "/limited"; }; rate_limit = "per_ip";
      return = { status = 200; body = "ok\\n"; }; },
    { match = { path = "/hdr"; }; rate_limit = "by_hdr";
      return = { status = 200; body = "hdr\\n"; }; },
    { match = { path = "/fast"; }; rate_limit = "fast";
      return = { status = 200; body = "fast\\n"; }; },
    { match = { path = "/tiny"; }; rate_limit = "tiny";
      return = { status = 200; body = "tiny\\n"; }; },
    { match = { path_prefix = "/"; }; return = { status = 200; body = "free\\n"; }; }
  );
} );
EOF2
}

sub statuses
{
    my ($port, $path, $n, @h) = @_;
    my (%count, @retry);
    for (1 .. $n) {
        my ($s, $h) = http_parse(http_get($port, $path, @h));
        $count{ $s // 'none' }++;
        push @retry, $h->{'retry-after'} if defined $s && $s == 429;
    }
    return (\%count, \@retry);
}

# ---- the limit holds per instance, with 2 and with 4 workers -------------------------------

for my $workers (2, 4) {
    my $p = Portico->new(start => 0);
    $p->write_conf(conf_text($workers));
    $p->start;
    my $port = $p->port(1);
    ok($p->wait_for(sub { scalar($p->worker_pids) == $workers }, 10), "$workers workers up");

    my ($count, $retry) = statuses($port, '/limited', 20);
    is($count->{200} // 0, 3, "$workers workers, 1r/m burst 2: exactly 3 of 20 admitted");
    is($count->{429} // 0, 17, "$workers workers: the other 17 got 429");
    is(scalar(grep { defined $_ && /^\d+$/ && $_ >= 1 && $_ <= 60 } @$retry), 17,
       "$workers workers: every 429 has Retry-After within 1..60");
    is(scalar(grep { defined $_ && $_ >= 45 } @$retry), 17,
       "$workers workers: Retry-After is the wait for the next slot (about 60 s, not 1)");

    my ($s, $h, $b) = http_parse(http_get($port, '/limited'));
    is($s, 429, "$workers workers: still limited");
    like($b, qr/^429 Too Many Requests\nrequest_id: [0-9a-f]{32}\n$/,
         "$workers workers: the error body");
    ($s, $h, $b) = http_parse(http_get($port, '/other'));
    is("$s $b", "200 free\n", "$workers workers: a route without a limit is not limited");

    my $re = qr/\[info\] \d+#\d+: limiting requests, excess: \d+\.\d{3} by zone "per_ip", /;
    my @lines = grep { /${re}client: 127\.0\.0\.1/ } split /\n/, ($p->error_log // '');
    is(scalar @lines, 18, "$workers workers: each rejection logged at info (nginx wording)");
    my %pids = map { /\] (\d+)#/ ? ($1 => 1) : () } @lines;
    # reuseport spreads the fresh connections over the workers' own sockets
    ok(scalar(keys %pids) >= 2, "$workers workers: the rejections came from several workers "
       . '(' . scalar(keys %pids) . ')');
    ok((grep { /excess: 3\.000 by zone/ || /excess: 2\.9\d\d by zone/ } @lines) > 0,
       "$workers workers: the excess is the bucket level (3 requests)");
    $p->stop;
}

# ---- keys, status, kill -9, reload -----------------------------------------------------------

my $p = Portico->new(start => 0);
$p->write_conf(conf_text(2));
$p->allow(qr/exited on signal 9/);
$p->start;
my $port = $p->port(1);
ok($p->wait_for(sub { scalar($p->worker_pids) == 2 }, 10), 'two workers up');

# an empty key is not limited (as nginx)
my ($count) = statuses($port, '/hdr', 5);
is($count->{200} // 0, 5, 'empty key: never limited');
# per key, with the configured status and no Retry-After for other statuses? (it is sent)
my ($s, $h, $b) = http_parse(http_get($port, '/hdr', 'X-Key' => 'alice'));
is($s, 200, 'key alice: first request admitted');
($s, $h, $b) = http_parse(http_get($port, '/hdr', 'X-Key' => 'alice'));
is($s, 503, 'key alice: second request gets the configured status 503');
like($h->{'retry-after'} // '', qr/^(4[5-9]|5\d|60)$/, 'status 503: Retry-After too');
($s, $h, $b) = http_parse(http_get($port, '/hdr', 'X-Key' => 'bob'));
is($s, 200, 'key bob: limited separately');
($s, $h, $b) = http_parse(http_get($port, '/hdr', 'X-Key' => 'x' x 300));
is($s, 200, 'a long key: first request admitted');
($s, $h, $b) = http_parse(http_get($port, '/hdr', 'X-Key' => 'x' x 300));
is($s, 503, 'a long key: second request limited');
($s, $h, $b) = http_parse(http_get($port, '/hdr', 'X-Key' => ('x' x 299) . 'y'));
is($s, 200, 'a long key differing in its last byte is another key');

my @seq = map { (http_parse(http_get($port, '/limited')))[0] } 1 .. 4;
is("@seq", '200 200 200 429', 'per_ip: burst 2 then limited');

# "fast" (2r/s): admitted now, then again when due
($s) = http_parse(http_get($port, '/fast', 'X-Key' => 'f'));
is($s, 200, '2r/s: first request admitted');

# kill -9 of a worker: the others keep serving, the state is kept
my @w = $p->worker_pids;
kill 'KILL', $w[0];
($s, $h, $b) = http_parse(http_get($port, '/other', -timeout => 10));
is("$s $b", "200 free\n", 'kill -9 of a worker: still serving');
ok($p->wait_for(sub { my @n = $p->worker_pids; @n == 2 && !grep { $_ == $w[0] } @n }, 10),
   'kill -9: the worker is respawned');
for (1 .. 4) {
    ($s) = http_parse(http_get($port, '/hdr', 'X-Key' => 'alice'));
    last if $s != 503;
}
is($s, 503, 'kill -9: key alice is still limited (state in the shared zone)');
sleep(1.2);
($s) = http_parse(http_get($port, '/fast', 'X-Key' => 'f'));
is($s, 200, 'kill -9: a 2r/s key is admitted again when due');

# HUP with the same name and size keeps the keys
my $before = () = ($p->error_log // '') =~ /reconfiguring/g;
$p->signal('HUP');
ok($p->wait_for(sub { (() = ($p->error_log // '') =~ /reconfiguring/g) > $before }, 10),
   'HUP: reconfiguring');
ok(new_workers($p, 2, \@w),
   'HUP: new workers');
($s) = http_parse(http_get($port, '/hdr', 'X-Key' => 'alice'));
is($s, 503, 'HUP: key alice still limited (zone kept)');
($s) = http_parse(http_get($port, '/limited'));
is($s, 429, 'HUP: per_ip still limited');

# a changed size starts fresh, with a notice
$p->write_conf(conf_text(2, "128k"));
$p->signal('HUP');
ok($p->wait_for(sub { ($p->error_log // '')
                          =~ /zone "rate_limit:per_ip" size changed, starting fresh/ }, 10),
   'HUP with another size: notice "starting fresh"');
ok($p->wait_for(sub { (http_parse(http_get($port, '/limited')))[0] == 200 }, 15),
   'HUP with another size: per_ip starts fresh');
($s) = http_parse(http_get($port, '/hdr', 'X-Key' => 'alice'));
is($s, 503, 'HUP with another size of per_ip: by_hdr (same size) keeps its keys');

# ---- a full table evicts the least recently used keys, warned once, no request failed -------

{
    my ($st) = http_parse(http_get($port, '/tiny', 'X-Key' => 'first'));
    is($st, 200, 'tiny zone: key "first" admitted');
    ($st) = http_parse(http_get($port, '/tiny', 'X-Key' => 'first'));
    is($st, 429, 'tiny zone: key "first" limited');
    my %c;
    for my $i (1 .. 200) {
        my ($x) = http_parse(http_get($port, '/tiny', 'X-Key' => "k$i"));
        $c{ $x // 'none' }++;
    }
    is($c{200} // 0, 200, 'tiny zone (16k): 200 new keys all admitted, none failed');
    ($st) = http_parse(http_get($port, '/tiny', 'X-Key' => 'first'));
    is($st, 200, 'tiny zone: the least recently used key was evicted (admitted afresh)');
    my @warn = ($p->error_log // '') =~ /\[warn\] [^\n]*rate limit zone "tiny" is full/g;
    is(scalar @warn, 1, 'tiny zone: "is full" warned once (at most once a minute)');
}

# ---- a worker killed while it holds the zone lock (debug builds) -----------------------------

SKIP: {
    my (undef, $v) = $p->run_t('-V');
    skip 'needs a --with-debug build (X-Portico-Debug-Limit)', 5 unless $v =~ /--with-debug/;
    my $raw = http_get($port, '/hdr', 'X-Key' => 'zed', 'X-Portico-Debug-Limit' => 'crash-in-lock',
                       -timeout => 5);
    is($raw, '', 'crash-in-lock: the worker died without answering');
    ok($p->wait_for(sub { ($p->error_log // '') =~ /dying while holding the rate limit zone lock/ },
                    5),
       'crash-in-lock: it said so');
    my $t0 = time;
    my @st;
    for (1 .. 6) {
        my ($x) = http_parse(http_get($port, '/hdr', 'X-Key' => "new$_", -timeout => 10));
        push @st, $x // 'none';
    }
    is("@st", '200 200 200 200 200 200', 'crash-in-lock: the zone is usable by every worker');
    ($s) = http_parse(http_get($port, '/hdr', 'X-Key' => 'alice', -timeout => 10));
    is($s, 503, 'crash-in-lock: the keys survived the repair');
    ok(time - $t0 < 30, 'crash-in-lock: nobody stalled');
}

$p->stop;

# ---- configuration errors --------------------------------------------------------------------

my $q = Portico->new(start => 0);
$q->write_conf(<<'EOF2');
rate_limits = (
  { name = "a"; rate = "10r/h"; },
  { name = "b"; rate = "0r/s"; },
  { name = "per_ip"; rate = "5r/s"; burst = -1; }
);
servers = ( {
  listen = ["127.0.0.1:%%PORT1%%"];
  routes = (
    { match = { path = "/x"; }; rate_limit = "per_iq"; return = { status = 200; }; },
    { match = { path = "/y"; }; rate_limit = "nothing"; return = { status = 200; }; }
  );
} );
EOF2
my ($rc, $out) = $q->run_t('-t');
my $file = $q->conf_file;
isnt($rc, 0, '-t: bad rate limits fail');
my $l = $q->line_of(qr/name = "a"/);
like($out, qr/\Q$file\E:$l: .*invalid rate "10r\/h"/, '-t: "10r/h" reported with FILE:LINE');
$l = $q->line_of(qr/name = "b"/);
like($out, qr/\Q$file\E:$l: .*invalid rate "0r\/s"/, '-t: "0r/s" reported with FILE:LINE');
$l = $q->line_of(qr/burst = -1/);
like($out, qr/\Q$file\E:$l: .*burst/, '-t: a negative burst reported with FILE:LINE');
$l = $q->line_of(qr/per_iq/);
like($out, qr/\Q$file\E:$l: .*no rate limit named "per_iq" \(did you mean "per_ip"\?\)/,
     '-t: unknown rate_limit name with FILE:LINE and a hint');
$l = $q->line_of(qr/"nothing"/);
like($out, qr/\Q$file\E:$l: .*no rate limit named "nothing"/, '-t: all errors at once');

$q->write_conf(<<'EOF2');
rate_limits = ( { name = "z"; rate = "10r/s"; burst = 5; } );
servers = ( { listen = ["127.0.0.1:%%PORT1%%"]; rate_limit = "z";
              routes = ( { match = { path = "/"; }; return = { status = 200; }; } ); } );
EOF2
($rc, $out) = $q->run_t('-T');
is($rc, 0, '-T: a valid rate limit');
like($out, qr/rate = "10r\/s";/, '-T: the rate printed back');
like($out, qr/status = 429;/, '-T: the default status 429');
like($out, qr/size = "?10m"?|size = 10485760/, '-T: the default size 10m');

done_testing();
