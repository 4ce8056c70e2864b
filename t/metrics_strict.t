#!/usr/bin/perl
# metrics_strict.t: the status route's Prometheus text passes the strict parser
# t/lib/prom_strict.py (which must itself reject each kind of mistake: checked first on
# broken documents), with label values that need escaping, after traffic of every kind, with
# two workers; every family it writes is documented in docs/metrics.md; and, where promtool
# is installed, `promtool check metrics` finds nothing (skipped otherwise).

use strict;
use warnings;
use Test::More;
use IPC::Open3;
use lib 't/lib';
use Portico;
use PorticoBackend;
use PorticoMetrics;

# ---- the parser rejects what it must ----------------------------------------------------------
my $good = <<'EOT';
# HELP portico_a_total A counter.
# TYPE portico_a_total counter
portico_a_total{x="q\"b\\n\n"} 3
# HELP portico_h Hist.
# TYPE portico_h histogram
portico_h_bucket{le="0.1"} 1
portico_h_bucket{le="+Inf"} 2
portico_h_sum 0.5
portico_h_count 2
EOT
is_deeply(prom_parse($good)->{errors}, [], 'a valid document parses');
is(prom_parse($good)->{samples}{"portico_a_total{x=\"q\"b\\n\n\"}"}, 3, 'escapes undone');
my %bad = (
    'no HELP'            => "# TYPE portico_a_total counter\nportico_a_total 1\n",
    'TYPE twice'         => "# HELP portico_a_total a\n# TYPE portico_a_total counter\n# TYPE portico_a_total counter\nportico_a_total 1\n",
    'sample first'       => "portico_a_total 1\n# HELP portico_a_total a\n# TYPE portico_a_total counter\n",
    'duplicate series'   => "# HELP portico_a_total a\n# TYPE portico_a_total counter\nportico_a_total{x=\"1\"} 1\nportico_a_total{x=\"1\"} 2\n",
    'reopened family'    => "# HELP portico_a_total a\n# TYPE portico_a_total counter\nportico_a_total 1\n# HELP portico_b b\n# TYPE portico_b gauge\nportico_b 1\nportico_a_total{x=\"2\"} 1\n",
    'bad escape'         => "# HELP portico_a_total a\n# TYPE portico_a_total counter\nportico_a_total{x=\"\\t\"} 1\n",
    'bad label name'     => "# HELP portico_a_total a\n# TYPE portico_a_total counter\nportico_a_total{1x=\"a\"} 1\n",
    'counter no _total'  => "# HELP portico_a a\n# TYPE portico_a counter\nportico_a 1\n",
    'bad value'          => "# HELP portico_b b\n# TYPE portico_b gauge\nportico_b 1x\n",
    'not cumulative'     => "# HELP portico_h h\n# TYPE portico_h histogram\nportico_h_bucket{le=\"1\"} 2\nportico_h_bucket{le=\"+Inf\"} 1\nportico_h_sum 1\nportico_h_count 1\n",
    'no +Inf'            => "# HELP portico_h h\n# TYPE portico_h histogram\nportico_h_bucket{le=\"1\"} 1\nportico_h_sum 1\nportico_h_count 1\n",
    '+Inf != count'      => "# HELP portico_h h\n# TYPE portico_h histogram\nportico_h_bucket{le=\"+Inf\"} 2\nportico_h_sum 1\nportico_h_count 1\n",
    'no trailing newline'=> "# HELP portico_b b\n# TYPE portico_b gauge\nportico_b 1",
    'stray comment'      => "# HELP portico_b b\n# TYPE portico_b gauge\n# hello\nportico_b 1\n",
);
for my $k (sort keys %bad) {
    ok(scalar @{ prom_parse($bad{$k})->{errors} }, "rejected: $k");
}

# ---- portico's document ------------------------------------------------------------------------
skip_unless_module('status', 'proxy', 'return', 'rate_limit', 'conn_limit');
my $p = Portico->new(start => 0);
my $be = PorticoBackend->new(port => $p->port(2), id => 'be');
$p->write_conf(<<'EOF2');
worker_processes = 2;
upstreams = (
  { name = "app\"x"; servers = ( { address = "127.0.0.1:%%PORT2%%"; },
                                { address = "127.0.0.1:%%PORT2%%"; weight = 2; } ); },
  { name = "gone"; max_fails = 0; retries = 1;
    servers = ( { address = "127.0.0.1:%%PORT3%%"; }, { address = "127.0.0.1:%%PORT3%%"; backup = true; } ); }
);
rate_limits = ( { name = "rl"; key = "$remote_addr"; rate = "1r/m"; } );
conn_limits = ( { name = "cl"; key = "$remote_addr"; max = 100; } );
servers = (
  { listen = ["127.0.0.1:%%PORT1%%"];
    names = ["we\"ird\\name"];
    routes = (
      { match = { path = "/metrics"; }; status = { }; },
      { name = "line\nbreak \"and\" \\"; match = { path = "/odd"; }; return = { status = 200; body = "o\n"; }; },
      { match = { path = "/limited"; }; rate_limit = "rl"; conn_limit = "cl"; return = { status = 200; }; },
      { match = { path_prefix = "/gone"; }; proxy = { upstream = "gone"; }; },
      { match = { path_prefix = "/"; }; proxy = { upstream = "app\"x"; }; }
    ); },
  { listen = ["127.0.0.1:%%PORT4%%"]; names = ["we\"ird\\name"];
    routes = ( { match = { path_prefix = "/"; }; return = { status = 204; }; } ); }
);
EOF2
$p->start;
ok($p->wait_for(sub { $p->worker_pids == 2 }, 10), 'two workers');
my $P = $p->port(1);
http_get($P, $_, -timeout => 10) for qw(/echo /bytes?n=5000 /odd /limited /limited /gone /nothere);
http_get($p->port(4), '/');
my $req = http_request('GET', '/metrics', Connection => 'close');
my $r = http_raw($P, $req, timeout => 10) // '';
like($r, qr{^HTTP/1\.1 200 }, 'scrape: 200');
my $body = substr($r, index($r, "\r\n\r\n") + 4);
my $m = prom_parse($body);
is_deeply($m->{errors}, [], 'strict parse: no errors') or diag($body);
ok(defined mval($m, 'portico_route_requests_total', server => "we\"ird\\name",
                listen => "127.0.0.1:$P", route => "line\nbreak \"and\" \\"),
   'a route name with a newline, quotes and a backslash round-trips');
ok(defined mval($m, 'portico_upstream_server_received_bytes_total', upstream => "app\"x",
                server => "127.0.0.1:" . $p->port(2)),
   'two entries with one address: one series (summed)');
cmp_ok(scalar(keys %{ $m->{types} }), '>=', 50, 'families: ' . scalar(keys %{ $m->{types} }));

# every family written is documented
my $doc = read_file(repo_root() . '/docs/metrics.md') // '';
my @undoc = grep { $doc !~ /`\Q$_\E`/ } sort keys %{ $m->{types} };
is_deeply(\@undoc, [], 'every family is in docs/metrics.md');

# promtool, when installed
SKIP: {
    my $promtool = `command -v promtool 2>/dev/null`;
    chomp $promtool;
    skip 'promtool not installed', 2 unless $promtool;
    my $pid = open3(my $in, my $out, undef, $promtool, 'check', 'metrics');
    print $in $body;
    close $in;
    local $/;
    my $text = <$out> // '';
    waitpid($pid, 0);
    is($? >> 8, 0, 'promtool check metrics: exit 0');
    is($text, '', 'promtool check metrics: nothing to say') or diag($text);
}

$p->check_logs;
$p->stop;
done_testing;
