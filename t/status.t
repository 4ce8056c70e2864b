#!/usr/bin/perl
# status.t: the `status` route action (docs/settings.md, issue 4): Prometheus text exposition
# 0.0.4 checked by a strict parser (names, HELP/TYPE once and before the samples, contiguous
# families, label escaping, no duplicate series, cumulative histogram buckets ending in +Inf =
# _count), JSON with the same numbers, counters summed over two workers (N requests -> exactly
# N more), status classes per server/route/upstream server, upstream health 1/0 after a
# passive mark, reloads and worker restarts (totals never go backwards), GET/HEAD only,
# loopback-only unless the route has its own `access` (non-loopback shown with real_ip), and
# configuration errors.

use strict;
use warnings;
use Test::More;
use JSON::PP;
use IO::Socket::IP;
use lib 't/lib';
use Portico;
use PorticoBackend;

skip_unless_module('status', 'proxy', 'return', 'realip', 'access');

my $p = Portico->new(start => 0);
$p->allow(qr/exited on signal 9/);
my $live = PorticoBackend->new(port => $p->port(2), id => 'live');
my $dead_port = $p->port(3);    # reserved, nobody listens there

my $conf = <<'EOF';
worker_processes = 2;
http = { real_ip = { from = ["127.0.0.2"]; header = "X-Forwarded-For"; }; };
upstreams = (
  { name = "app"; next_upstream = ["error", "timeout"];
    servers = ( { address = "127.0.0.1:%%PORT2%%"; } ); },
  { name = "mixed"; balance = "round_robin"; max_fails = 1; fail_timeout = "300s";
    retries = 1; next_upstream = ["error", "timeout"];
    servers = ( { address = "127.0.0.1:%%PORT3%%"; }, { address = "127.0.0.1:%%PORT2%%"; } ); }
);
rate_limits = ( { name = "tight"; key = "$remote_addr"; rate = "1r/m"; } );
conn_limits = ( { name = "cl"; key = "$remote_addr"; max = 100; } );
servers = (
  { listen = ["127.0.0.1:%%PORT1%%"%%V6%%];
    names = ["we\"ird\\name"];
    routes = (
      { match = { path = "/metrics"; }; status = { format = "prometheus"; }; },
      { match = { path = "/metrics.json"; }; status = { format = "json"; }; },
      { match = { path = "/guarded"; }; status = { };
        access = ["allow 192.0.2.0/24", "deny all"]; },
      { match = { path = "/ok"; }; return = { status = 200; body = "ok\n"; }; },
      { match = { path = "/nf"; }; return = { status = 404; body = "nf\n"; }; },
      { match = { path = "/limited"; }; rate_limit = "tight"; conn_limit = "cl";
        return = { status = 200; body = "lim\n"; }; },
      { match = { path_prefix = "/mixed/"; }; proxy = { upstream = "mixed"; rewrite = "/echo"; }; },
      { match = { path_prefix = "/"; }; proxy = { upstream = "app"; }; }
    ); },
  { listen = ["127.0.0.1:%%PORT4%%"];
    routes = ( { match = { path_prefix = "/"; }; return = { status = 204; }; } ); }
);
EOF
my $v6 = have_ipv6();
$conf =~ s/%%V6%%/$v6 ? ', "[::1]:%%PORT5%%"' : ''/e;
$p->write_conf($conf);
$p->start;
ok($p->wait_for(sub { $p->worker_pids == 2 }, 10), 'two workers');

my $port = $p->port(1);
my $SRV = 'we"ird\\name';
my $LIVE = "127.0.0.1:" . $p->port(2);
# servers are labelled by first name and first listen address, routes by their default
# label (SERVER:MATCH, docs/metrics.md)
my $L1 = "127.0.0.1:" . $p->port(1);
my $L4 = "127.0.0.1:" . $p->port(4);
my $R3 = "$SRV:=/ok";
my $R7 = "$SRV:/";
my $DEAD = "127.0.0.1:$dead_port";

# ---- the strict Prometheus text parser ---------------------------------------------------
# Returns { samples => { 'name{k="v",...}' => value }, types => { family => type }, errors }.
sub parse_prom
{
    my ($text) = @_;
    my (%types, %help, %samples, @errors, %done, $current);
    my $family_of = sub {
        my ($name) = @_;
        return $name if exists $types{$name};
        for my $sfx (qw(bucket sum count)) {
            my $f = $name;
            return $f if $f =~ s/_$sfx$// && exists $types{$f};
        }
        return undef;
    };
    push @errors, 'no trailing newline' unless $text =~ /\n\z/;
    for my $line (split /\n/, $text) {
        if ($line =~ /^# HELP (\S+) (.+)$/) {
            push @errors, "HELP twice for $1" if $help{$1}++;
            push @errors, "bad name $1" unless $1 =~ /^portico_[a-z_][a-z0-9_]*$/;
            next;
        }
        if ($line =~ /^# TYPE (\S+) (counter|gauge|histogram|summary|untyped)$/) {
            push @errors, "TYPE twice for $1" if exists $types{$1};
            push @errors, "TYPE without HELP first for $1" unless $help{$1};
            $done{$current} = 1 if defined $current;
            $types{$1} = $2;
            $current = $1;
            next;
        }
        if ($line =~ /^#/) {
            push @errors, "bad comment: $line";
            next;
        }
        unless ($line =~ /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/) {
            push @errors, "bad sample line: $line";
            next;
        }
        my ($name, $lab, $value) = ($1, $2, $3);
        push @errors, "bad value: $line"
            unless $value =~ /^(?:[+-]?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|[+-]Inf|NaN)$/;
        my $fam = $family_of->($name);
        if (!defined $fam) {
            push @errors, "sample before its TYPE: $line";
            next;
        }
        push @errors, "sample of $fam outside its block: $line"
            if $done{$fam} || $fam ne $current;
        push @errors, "suffix on a non-histogram: $line"
            if $name ne $fam && $types{$fam} ne 'histogram';
        my @labels;
        if (defined $lab) {
            my $rest = $lab;
            while (length $rest) {
                unless ($rest =~ s/^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"//) {
                    push @errors, "bad labels: $line";
                    last;
                }
                my ($k, $v) = ($1, $2);
                $v =~ s/\\(["\\n])/$1 eq 'n' ? "\n" : $1/ge;
                push @labels, [$k, $v];
                last unless length $rest;
                unless ($rest =~ s/^,//) {
                    push @errors, "bad label separator: $line";
                    last;
                }
            }
        }
        my $key = $name . '{' . join(',', map { "$_->[0]=\"$_->[1]\"" }
                                     sort { $a->[0] cmp $b->[0] } @labels) . '}';
        push @errors, "duplicate series: $key" if exists $samples{$key};
        $samples{$key} = $value;
    }
    # histograms: per label set, le ascending, cumulative, ending at +Inf == _count
    for my $fam (grep { $types{$_} eq 'histogram' } keys %types) {
        my %sets;
        for my $k (keys %samples) {
            next unless $k =~ /^\Q$fam\E_bucket\{(.*)\}$/;
            my $l = $1;
            my ($le) = $l =~ /le="([^"]*)"/;
            (my $rest = $l) =~ s/,?le="[^"]*"//;
            $rest =~ s/^,//;
            push @{ $sets{$rest} }, [$le, $samples{$k}];
        }
        for my $set (keys %sets) {
            my $num = sub { $_[0] eq '+Inf' ? 9e99 : $_[0] };
            my @b = sort { $num->($a->[0]) <=> $num->($b->[0]) }
                    @{ $sets{$set} };
            push @errors, "$fam\{$set}: last bucket is not +Inf" unless $b[-1][0] eq '+Inf';
            for my $i (1 .. $#b) {
                push @errors, "$fam\{$set}: buckets not cumulative" if $b[$i][1] < $b[$i - 1][1];
            }
            my $count = $samples{"${fam}_count\{$set}"};
            push @errors, "$fam\{$set}: +Inf bucket != _count"
                unless defined $count && $count == $b[-1][1];
            push @errors, "$fam\{$set}: no _sum" unless defined $samples{"${fam}_sum\{$set}"};
        }
    }
    return { samples => \%samples, types => \%types, errors => \@errors };
}

sub get_status
{
    my ($path, @h) = @_;
    my ($s, $h, $b) = http_parse(http_get($port, $path || '/metrics', @h, -timeout => 10));
    return ($s, $h, $b);
}

sub prom
{
    my ($s, $h, $b) = get_status('/metrics');
    return undef unless defined $s && $s == 200;
    my $m = parse_prom($b);
    return $m;
}

sub val
{
    my ($m, $key) = @_;
    return $m->{samples}{$key};
}

sub delta
{
    my ($m_a, $m_b, $key) = @_;
    return undef unless defined val($m_a, $key) && defined val($m_b, $key);
    return val($m_b, $key) - val($m_a, $key);
}

# ---- format and headers --------------------------------------------------------------------
my ($s, $h, $b) = get_status('/metrics');
is($s, 200, 'GET /metrics (status route): 200');
is($h->{'content-type'}, 'text/plain; version=0.0.4; charset=utf-8', 'Prometheus content type');
my $m = parse_prom($b);
is_deeply($m->{errors}, [], 'strict Prometheus parse: no errors') or diag($b);
is($m->{types}{portico_http_requests_total}, 'counter', 'portico_http_requests_total is a counter');
is($m->{types}{portico_upstream_response_seconds}, 'histogram', 'latency histogram family');
like($b, qr/^portico_server_requests_total\{server="we\\"ird\\\\name",listen="127\.0\.0\.1:\d+"\} \d+$/m,
     'label value escaped: \\" and \\\\');
ok(defined val($m, "portico_server_requests_total{listen=\"$L1\",server=\"$SRV\"}"), 'escaped label parses back');
ok(defined val($m, "portico_server_requests_total{listen=\"$L4\",server=\"_\"}"), 'a server without names: "_"');
ok(defined val($m, 'portico_reloads_total{}'), 'reloads exposed');
ok(defined val($m, 'portico_worker_restarts_total{}'), 'worker restarts exposed');
ok(defined val($m, 'portico_http_connections_active{}'), 'active connections exposed');
ok(defined val($m, 'portico_http_connections_idle{}'), 'idle connections exposed');
ok(defined val($m, "portico_upstream_server_up{server=\"$LIVE\",upstream=\"app\"}"),
   'upstream server health exposed');

($s, $h, $b) = http_parse(http_head($port, '/metrics'));
is($s, 200, 'HEAD: 200');
is($b, '', 'HEAD: no body');
($s, $h, $b) = http_parse(http_raw($port, http_request('POST', '/metrics', Connection => 'close',
                                                         body => 'x')));
is($s, 405, 'POST: 405');
is($h->{allow}, 'GET, HEAD', '405 with Allow: GET, HEAD');

# ---- counters summed over two workers: N requests -> exactly N more -------------------------
my $m0 = prom();
my $N = 24;
my $okc = 0;
for (1 .. $N) {
    my ($st) = http_parse(http_get($port, '/ok'));
    $okc++ if defined $st && $st == 200;
}
is($okc, $N, "$N requests to /ok answered");
my $m1 = prom();
my $rk = "portico_route_requests_total{listen=\"$L1\",route=\"$R3\",server=\"$SRV\"}";
is(val($m1, $rk) - val($m0, $rk), $N, 'route counter: exactly N more');
is(val($m1, "portico_route_responses_total{class=\"2xx\",listen=\"$L1\",route=\"$R3\",server=\"$SRV\"}")
   - val($m0, "portico_route_responses_total{class=\"2xx\",listen=\"$L1\",route=\"$R3\",server=\"$SRV\"}"),
   $N, 'route 2xx: exactly N more');
is(val($m1, 'portico_http_requests_total{}') - val($m0, 'portico_http_requests_total{}'), $N + 1,
   'http_requests_total: N more (+1 for the status request in between)');
is(val($m1, "portico_server_requests_total{listen=\"$L1\",server=\"$SRV\"}")
   - val($m0, "portico_server_requests_total{listen=\"$L1\",server=\"$SRV\"}"), $N + 1,
   'server counter: N more (+1 for the status request)');

# ---- status classes: 200, 404, 502 -----------------------------------------------------------
for (1 .. 3) { http_get($port, '/nf'); }
for (1 .. 2) { http_get($port, '/status?code=502'); }
for (1 .. 4) { http_get($port, '/echo'); }
my $m2 = prom();
my %d;
for my $c (qw(2xx 4xx 5xx)) {
    my $k = "portico_server_responses_total{class=\"$c\",listen=\"$L1\",server=\"$SRV\"}";
    $d{$c} = val($m2, $k) - val($m1, $k);
}
is($d{'4xx'}, 3, 'server 4xx: 3 more');
is($d{'5xx'}, 2, 'server 5xx: 2 more (upstream 502)');
is($d{'2xx'}, 5, 'server 2xx: 4 proxied + the status request');
my $hk = 'portico_http_responses_total{class="4xx"}';
is(val($m2, $hk) - val($m1, $hk), 3, 'http 4xx: 3 more');
my $uk = "{server=\"$LIVE\",upstream=\"app\"}";
my $uc5 = "{class=\"5xx\",server=\"$LIVE\",upstream=\"app\"}";
my $uc2 = "{class=\"2xx\",server=\"$LIVE\",upstream=\"app\"}";
is(delta($m1, $m2, "portico_upstream_server_tries_total$uk"),
   6, 'upstream server tries: 6 more');
is(delta($m1, $m2, "portico_upstream_server_responses_total$uc5"),
   2, 'upstream server 5xx: 2 more');
is(delta($m1, $m2, "portico_upstream_server_responses_total$uc2"),
   4, 'upstream server 2xx: 4 more');
is(val($m2, 'portico_upstream_response_seconds_count{upstream="app"}')
   - val($m1, 'portico_upstream_response_seconds_count{upstream="app"}'), 6,
   'latency histogram: 6 more observations');
is_deeply($m2->{errors}, [], 'strict parse after traffic (histogram cumulative, +Inf = count)');
my $rk502 = "portico_route_responses_total{class=\"5xx\",listen=\"$L1\",route=\"$R7\",server=\"$SRV\"}";
is(val($m2, $rk502) - val($m1, $rk502), 2, 'proxy route 5xx: 2 more');

# ---- JSON: the same numbers ------------------------------------------------------------------
($s, $h, $b) = get_status('/metrics.json');
is($s, 200, 'GET /metrics.json: 200');
is($h->{'content-type'}, 'application/json', 'JSON content type');
my $j = eval { JSON::PP->new->decode($b) };
ok($j, 'JSON parses') or diag($@, $b);
my $m3 = prom();
if ($j) {
    my ($srv) = grep { $_->{name} eq $SRV } @{ $j->{servers} };
    ok($srv, 'JSON: the server by name (escaped string)');
    is($srv->{routes}[3]{requests}, val($m3, $rk), 'JSON route requests = Prometheus');
    is($srv->{routes}[3]{responses}{'2xx'},
       val($m3, "portico_route_responses_total{class=\"2xx\",listen=\"$L1\",route=\"$R3\",server=\"$SRV\"}"),
       'JSON route 2xx = Prometheus');
    my ($app) = grep { $_->{name} eq 'app' } @{ $j->{upstreams} };
    my ($ls) = grep { $_->{address} eq $LIVE } @{ $app->{servers} };
    is($ls->{tries}, val($m3, "portico_upstream_server_tries_total$uk"), 'JSON tries = Prometheus');
    is($ls->{up}, 1, 'JSON: live server up');
    is($app->{response_seconds}{count},
       val($m3, 'portico_upstream_response_seconds_count{upstream="app"}'),
       'JSON histogram count = Prometheus');
    is($j->{reloads}, val($m3, 'portico_reloads_total{}'), 'JSON reloads = Prometheus');
    ok(!ref $j->{reloads} && $b =~ /"reloads":\d+/, 'numbers are JSON numbers');
}

# ---- upstream health: a server passively marked down reads 0 ---------------------------------
# Requests until the dead server has had a try (the first pick of a worker's round robin;
# bounded at 20 requests).
my ($mixed_n, $mixed_ok, $m4) = (0, 0);
my $dead_tries = "portico_upstream_server_tries_total{server=\"$DEAD\",upstream=\"mixed\"}";
while ($mixed_n < 20) {
    my ($st) = http_parse(http_get($port, '/mixed/x'));
    $mixed_n++;
    $mixed_ok++ if defined $st && $st == 200;
    $m4 = prom();
    last if $m4 && (val($m4, $dead_tries) || 0) >= 1;
}
is($mixed_ok, $mixed_n, 'mixed upstream: every request answered (retried on the live server)');
my $dk = "server=\"$DEAD\",upstream=\"mixed\"";
my $lk = "server=\"$LIVE\",upstream=\"mixed\"";
is(val($m4, "portico_upstream_server_up{server=\"$DEAD\",upstream=\"mixed\"}"), 0,
   'dead server passively marked down: up = 0');
is(val($m4, "portico_upstream_server_up{server=\"$LIVE\",upstream=\"mixed\"}"), 1,
   'live server: up = 1');
cmp_ok(val($m4, "portico_upstream_server_tries_total{server=\"$DEAD\",upstream=\"mixed\"}"),
       '>=', 1, 'dead server: its try counted');
# a refused connection reads 502 in $upstream_status (as in nginx)
is(val($m4, "portico_upstream_server_responses_total{class=\"5xx\",$dk}"),
   val($m4, "portico_upstream_server_tries_total{server=\"$DEAD\",upstream=\"mixed\"}"),
   'dead server: every try a 502');
is(val($m4, "portico_upstream_server_responses_total{class=\"2xx\",$lk}"),
   $mixed_n, 'live server of mixed: one 2xx response per request');

# ---- rate-limit and connection-limit rejections ------------------------------------------------
my @ls = map { (http_parse(http_get($port, '/limited')))[0] } 1 .. 3;
is_deeply(\@ls, [200, 429, 429], 'rate limit 1r/m: one admitted, two rejected');
my $m6 = prom();
is(val($m6, 'portico_rate_limit_rejected_total{limit="tight"}'), 2,
   'rate_limit_rejected_total{limit="tight"} = 2');
is(val($m6, 'portico_conn_limit_rejected_total{limit="cl"}'), 0,
   'conn_limit_rejected_total{limit="cl"} = 0');
($s, $h, $b) = get_status('/metrics.json');
my $j2 = eval { JSON::PP->new->decode($b) } || {};
is($j2->{rate_limit_rejected}{tight}, 2, 'JSON: rate_limit_rejected.tight = 2');
is($j2->{conn_limit_rejected}{cl}, 0, 'JSON: conn_limit_rejected.cl = 0');

# ---- access: loopback only, unless the route has its own `access` ----------------------------
# real_ip trusts 127.0.0.2, so a request from it with X-Forwarded-For looks non-loopback.
my $xff = 'X-Forwarded-For';
sub get_from
{
    my ($ip, $path, @h) = @_;
    my $sock = IO::Socket::IP->new(PeerHost => '127.0.0.1', PeerPort => $port, LocalHost => $ip,
                                   Proto => 'tcp', Timeout => 5) or return undef;
    http_send($sock, http_request('GET', $path, Connection => 'close', @h));
    my $raw = '';
    my $deadline = time + 10;
    while (time < $deadline) {
        my $rin = '';
        vec($rin, fileno($sock), 1) = 1;
        last unless select(my $rout = $rin, undef, undef, 1) >= 0;
        my $n = sysread($sock, my $buf, 65536);
        last if defined $n && $n == 0;
        $raw .= $buf if $n;
    }
    return $raw;
}

SKIP: {
    my $probe = get_from('127.0.0.2', '/metrics');
    skip 'cannot use 127.0.0.2 as a client address', 4 unless defined $probe && length $probe;
    ($s) = http_parse(get_from('127.0.0.2', '/metrics', $xff => '192.0.2.1'));
    is($s, 403, 'non-loopback client (real_ip): 403');
    ($s) = http_parse(get_from('127.0.0.2', '/metrics', $xff => '127.0.0.9'));
    is($s, 200, 'loopback client via real_ip: 200');
    ($s) = http_parse(get_from('127.0.0.2', '/guarded', $xff => '192.0.2.1'));
    is($s, 200, 'route with its own access: its allow list decides (allowed)');
    ($s) = http_parse(http_get($port, '/guarded'));
    is($s, 403, 'route with its own access: loopback denied by it');
}

SKIP: {
    skip 'no IPv6 loopback here', 1 unless $v6;
    ($s) = http_parse(http_get($p->port(5), '/metrics', -host => '::1'));
    is($s, 200, 'IPv6 loopback client (::1): 200');
}

# ---- reload and worker restarts: counters go on, never backwards -----------------------------
my $before = prom();
$p->signal('HUP');
ok($p->wait_for(sub { my $x = prom(); $x && val($x, 'portico_reloads_total{}')
                                      == val($before, 'portico_reloads_total{}') + 1 }, 15),
   'HUP: reloads + 1');
my $after = prom();
is(val($after, $rk), val($before, $rk), 'after reload: the route counter kept its total');
my $tk = 'portico_http_requests_total{}';
cmp_ok(val($after, $tk), '>', val($before, $tk),
       'after reload: http_requests_total did not go backwards');
ok($p->wait_for(sub { $p->worker_pids == 2 }, 15), 'two workers after the reload');
{
    # the JSON "http" object: its own counters only (it once showed the reload count as
    # received_bytes, sent_bytes and client_aborts)
    my ($s2, $h2, $b2) = get_status('/metrics.json');
    my $jh = eval { JSON::PP->new->decode($b2) } // {};
    is(join(',', sort keys %{ $jh->{http} // {} }), 'protocols,requests,responses',
       'JSON http: requests, responses, protocols (no byte counters at this level)');
    is($jh->{reloads}, val($after, 'portico_reloads_total{}'), 'JSON reloads = Prometheus');
}

my ($victim) = $p->worker_pids;
kill 'KILL', $victim;
ok($p->wait_for(sub { my $x = prom(); $x && val($x, 'portico_worker_restarts_total{}')
                                      == val($after, 'portico_worker_restarts_total{}') + 1 }, 15),
   'kill -9 of a worker: worker_restarts + 1');
my $m5 = prom();
is(val($m5, $rk), val($after, $rk), 'after kill -9: the route counter kept its total');
cmp_ok(val($m5, $tk), '>=', val($after, $tk),
       'after kill -9: totals not backwards');
is(val($m5, "portico_upstream_server_tries_total$uk"),
   val($after, "portico_upstream_server_tries_total$uk"),
   'after kill -9: upstream tries kept');
is_deeply($m5->{errors}, [], 'strict parse at the end');

$p->stop;

# ---- configuration errors --------------------------------------------------------------------
{
    my $q = Portico->new(start => 0, conf => <<'EOF');
servers = ( { listen = ["127.0.0.1:%%PORT1%%"];
  routes = (
    { match = { path = "/a"; }; status = { format = "xml"; }; },
    { match = { path = "/b"; }; status = { }; return = { status = 200; }; }
  ); } );
EOF
    my ($rc, $out) = $q->run_t('-t');
    my $l1 = $q->line_of(qr/"xml"/);
    my $l2 = $q->line_of(qr/path = "\/b"/);
    isnt($rc, 0, 'bad status settings: -t fails');
    like($out, qr/portico\.conf:$l1: .*format/, 'unknown format: FILE:LINE');
    like($out, qr/portico\.conf:$l2: .*(action|status|return)/, 'two actions: FILE:LINE');
}

done_testing();
