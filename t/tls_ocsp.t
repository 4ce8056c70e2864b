#!/usr/bin/perl
# tls_ocsp.t: OCSP stapling (docs/tls.md "OCSP stapling", docs/settings.md tls.ocsp_*):
# -t errors with FILE:LINE (no responder, issuer missing from the chain, unreadable or invalid
# ocsp_file, a response for another certificate or signed by a stranger, https responder, a
# setting without ocsp_stapling); a response fetched by the "ocsp" helper from a local
# `openssl ocsp` responder (a delegated responder certificate) stapled by both of 2 workers;
# a dead responder keeps the last good response (warn logged); a restarted responder that
# says "revoked" is picked up by the refresh; ocsp_file (signed by the CA itself) stapled,
# re-read on reload, a bad one failing the reload. With python3-cryptography
# (t/lib/ocsp_responder.py): a response that expires while its responder is dead stops being
# stapled, an ocsp_file that expires stops being stapled, an expired one is a -t warning.
# The status route's portico_tls_ocsp_fetches_total{result} and JSON "tls_ocsp" move by
# exactly one for a failed fetch and for a good one. The client is `openssl s_client -status`.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Portico;
use File::Temp qw(tempdir);
use POSIX qw(WNOHANG);
use JSON::PP ();
use PorticoMetrics ();

skip_unless_module('tls', 'return');
plan(skip_all => 'no openssl CLI') unless system('openssl version >/dev/null 2>&1') == 0;
my $PY = system('python3 -c "import cryptography" >/dev/null 2>&1') == 0;

my $D = tempdir('portico-ocsp-XXXXXX', DIR => '/tmp', CLEANUP => 1);
chmod 0755, $D;

sub sh
{
    my ($cmd) = @_;
    system("$cmd >>$D/openssl.log 2>&1") == 0 or BAIL_OUT("failed: $cmd");
}

# The instance first: the responder's port (PORT2) goes into the certificates' AIA.
my $p = Portico->new();
my $R = $p->port(2);

sub ca
{
    my ($name, $cn) = @_;
    sh("openssl req -x509 -newkey rsa:2048 -nodes -keyout $D/$name.key -out $D/$name.crt "
       . "-days 30 -subj '/CN=$cn' -addext basicConstraints=critical,CA:TRUE "
       . "-addext keyUsage=critical,keyCertSign,cRLSign");
}

sub cert
{
    my ($name, $cn, $ca, $ext) = @_;
    sh("openssl req -newkey rsa:2048 -nodes -keyout $D/$name.key -out $D/$name.csr -subj '/CN=$cn'");
    write_file("$D/$name.ext", $ext);
    sh("openssl x509 -req -in $D/$name.csr -CA $D/$ca.crt -CAkey $D/$ca.key -CAcreateserial "
       . "-out $D/$name.leaf -days 20 -extfile $D/$name.ext");
    write_file("$D/$name.crt", read_file("$D/$name.leaf") . read_file("$D/$ca.crt"));
}

ca('ca', 'Portico OCSP Test CA');
ca('rogue', 'Rogue CA');
cert('signer', 'Portico OCSP Responder', 'ca',
     "keyUsage=critical,digitalSignature\nextendedKeyUsage=OCSPSigning\n");
cert('a', 'a.test', 'ca', "subjectAltName=DNS:a.test\n"
     . "authorityInfoAccess=OCSP;URI:http://127.0.0.1:$R/\n");
cert('other', 'other.test', 'ca', "subjectAltName=DNS:other.test\n"
     . "authorityInfoAccess=OCSP;URI:http://127.0.0.1:$R/\n");
cert('noaia', 'noaia.test', 'ca', "subjectAltName=DNS:noaia.test\n");

sub serial
{
    my ($name) = @_;
    my $s = `openssl x509 -noout -serial -in $D/$name.leaf`;
    $s =~ /serial=([0-9A-F]+)/ or BAIL_OUT("no serial for $name");
    return $1;
}

sub index_txt
{
    my ($state) = @_;
    my $line = $state eq 'good'
        ? "V\t301231235959Z\t\t" . serial('a') . "\tunknown\t/CN=a.test\n"
        : "R\t301231235959Z\t261201000000Z\t" . serial('a') . "\tunknown\t/CN=a.test\n";
    write_file("$D/index.txt", $line);
    write_file("$D/index.txt.attr", "unique_subject = no\n");
}

# A DER response made by `openssl ocsp` itself, signed by the CA (no delegated responder).
sub openssl_response
{
    my ($out, $leaf) = @_;
    sh("openssl ocsp -issuer $D/ca.crt -cert $D/$leaf.leaf -no_nonce -reqout $D/req.der");
    sh("openssl ocsp -index $D/index.txt -rsigner $D/ca.crt -rkey $D/ca.key -CA $D/ca.crt "
       . "-reqin $D/req.der -respout $out -ndays 1");
}

# python3 t/lib/ocsp_responder.py with the given arguments (signed by the delegated signer).
sub py_args
{
    my (%o) = @_;
    return ('python3', Portico::repo_root() . '/t/lib/ocsp_responder.py',
            '--cert', "$D/a.leaf", '--issuer', "$D/ca.crt", '--signer', "$D/signer.leaf",
            '--key', "$D/signer.key", (defined $o{next} ? ('--next', $o{next}) : ()),
            (defined $o{out} ? ('--out', $o{out}) : ()),
            (defined $o{port} ? ('--port', $o{port}) : ()));
}

# Starts a responder process; returns its pid once its output says it listens. (A probe
# connection would not do: `openssl ocsp` 3.0 hangs on a connection closed without a request.)
my $nspawn = 0;
sub spawn
{
    my ($ready, @cmd) = @_;
    my $log = "$D/responder." . ++$nspawn . ".log";
    my $pid = fork();
    BAIL_OUT("fork: $!") unless defined $pid;
    if ($pid == 0) {
        open(STDIN, '<', '/dev/null');
        open(STDOUT, '>>', $log);
        open(STDERR, '>>', $log);
        exec(@cmd) or POSIX::_exit(127);
    }
    Portico::wait_until(sub { (read_file($log) // '') =~ $ready }, 10)
        or BAIL_OUT("responder did not start: " . (read_file($log) // ''));
    return $pid;
}

sub openssl_responder
{
    return spawn(qr/waiting for OCSP client connections/, 'openssl', 'ocsp', '-index', "$D/index.txt", '-port', $R,
                 '-rsigner', "$D/signer.crt", '-rkey', "$D/signer.key", '-CA', "$D/ca.crt",
                 '-ndays', '1');
}

sub reap
{
    my ($pid) = @_;
    kill 'TERM', $pid;
    Portico::wait_until(sub { waitpid($pid, WNOHANG) == $pid }, 10) or do {
        kill 'KILL', $pid;
        waitpid($pid, 0);
    };
}

# openssl s_client -status: (stapled status or '' when nothing was stapled, output).
sub status
{
    my ($port, $sni) = @_;
    $sni //= 'a.test';
    my ($rc, $out, $err) = Portico::run_cmd('sh', '-c', "exec openssl s_client -connect "
        . "127.0.0.1:$port -servername $sni -status -CAfile $D/ca.crt </dev/null");
    my $all = $out . $err;
    return ('', $all) if $all =~ /OCSP response: no response sent/;
    return ('', $all) unless $all =~ /OCSP Response Status: successful/;
    return ($all =~ /Cert Status: (\w+)/ ? $1 : '?', $all);
}

# One TLS connection held open by s_client: (stapled status, pid of the worker serving it).
sub status_and_worker
{
    my ($port, @workers) = @_;
    unlink "$D/hold.out";
    my $cpid = open(my $fh, '|-', "exec openssl s_client -connect 127.0.0.1:$port "
                    . "-servername a.test -status -CAfile $D/ca.crt >$D/hold.out 2>&1")
        or BAIL_OUT("s_client: $!");
    my $who;
    Portico::wait_until(sub {
        return 0 unless (read_file("$D/hold.out") // '') =~ /Verify return code/;
        my %inode;
        for my $f ('/proc/net/tcp', '/proc/net/tcp6') {
            open(my $t, '<', $f) or next;
            while (<$t>) {
                my @c = split ' ';
                next unless @c > 9 && $c[3] eq '01';
                $inode{ $c[9] } = 1 if $c[1] =~ /:([0-9A-F]{4})$/ && hex($1) == $port;
            }
        }
        for my $w (@workers) {
            opendir(my $dh, "/proc/$w/fd") or next;
            for my $fd (readdir $dh) {
                my $l = readlink("/proc/$w/fd/$fd") // '';
                $who = $w if $l =~ /^socket:\[(\d+)\]$/ && $inode{$1};
            }
        }
        return defined $who;
    }, 10);
    close $fh;
    my $out = read_file("$D/hold.out") // '';
    my $st = $out =~ /OCSP Response Status: successful/ && $out =~ /Cert Status: (\w+)/ ? $1 : '';
    return ($st, $who // 0);
}

# ---- -t: configuration errors ------------------------------------------------------------
sub conf
{
    my ($tls, $workers) = @_;
    return "worker_processes = " . ($workers // 1) . ";\n" . <<"EOF";
servers = (
  { listen = ( { address = "127.0.0.1:%%PORT1%%"; tls = true; reuseport = true; } );
    names = ["a.test"];
    tls = { $tls };
    routes = ( { match = { path_prefix = "/"; }; return = { status = 200; body = "ok"; }; } ); }
);
EOF
}

sub t_errors
{
    my ($tls, $re, $line_re, $name) = @_;
    my $q = Portico->new(conf => conf($tls), start => 0);
    my ($rc, $out) = $q->run_t('-t');
    my $line = $q->line_of($line_re);
    unlike($out, qr/Sanitizer|runtime error:/, "-t: no sanitizer report: $name");
    isnt($rc, 0, "-t fails: $name");
    like($out, qr/portico\.conf:$line: .*$re/, "-t FILE:LINE: $name") or diag($out);
}

my $pair = "certificate = \"$D/a.crt\"; key = \"$D/a.key\";";
index_txt('good');
write_file("$D/garbage.der", "not DER at all\n");
openssl_response("$D/other.der", 'other');
sh("openssl ocsp -issuer $D/ca.crt -cert $D/a.leaf -no_nonce -reqout $D/req.der");
sh("openssl ocsp -index $D/index.txt -rsigner $D/rogue.crt -rkey $D/rogue.key -CA $D/ca.crt "
   . "-reqin $D/req.der -respout $D/rogue.der -ndays 1");

t_errors("certificate = \"$D/noaia.crt\"; key = \"$D/noaia.key\";\n ocsp_stapling = true;",
         qr/tls\.ocsp_stapling: certificate "\/CN=noaia\.test" names no OCSP responder/,
         qr/ocsp_stapling/, 'no AIA and no ocsp_responder');
t_errors("certificate = \"$D/a.leaf\"; key = \"$D/a.key\";\n ocsp_stapling = true;",
         qr/the issuer of certificate "\/CN=a\.test" is not in its certificate file/,
         qr/ocsp_stapling/, 'issuer not in the chain');
t_errors("$pair ocsp_stapling = true;\n ocsp_file = \"$D/missing.der\";",
         qr/tls\.ocsp_file "\Q$D\E\/missing\.der": No such file or directory/,
         qr/ocsp_file/, 'unreadable ocsp_file');
t_errors("$pair ocsp_stapling = true;\n ocsp_file = \"$D/garbage.der\";",
         qr/tls\.ocsp_file "\Q$D\E\/garbage\.der": not a DER OCSP response/,
         qr/ocsp_file/, 'ocsp_file not DER');
t_errors("$pair ocsp_stapling = true;\n ocsp_file = \"$D/other.der\";",
         qr/ocsp_file .*: no status for this certificate in the response/,
         qr/ocsp_file/, 'ocsp_file for another certificate');
t_errors("$pair ocsp_stapling = true;\n ocsp_file = \"$D/rogue.der\";",
         qr/ocsp_file .*: signature not verified against the issuer/,
         qr/ocsp_file/, 'ocsp_file signed by another CA');
t_errors("$pair\n ocsp_responder = \"http://127.0.0.1:$R/\";",
         qr/tls\.ocsp_responder needs tls\.ocsp_stapling = true/,
         qr/ocsp_responder/, 'ocsp_responder without ocsp_stapling');
t_errors("$pair ocsp_stapling = true;\n ocsp_responder = \"https://127.0.0.1:$R/\";",
         qr/tls\.ocsp_responder "https:\/\/127\.0\.0\.1:$R\/" \(for certificate "\/CN=a\.test"\): an http:\/\/ URL expected/,
         qr/ocsp_responder/, 'https responder');
{
    # the same signature check passes with ocsp_verify = false
    my $q = Portico->new(conf => conf("$pair ocsp_stapling = true; ocsp_verify = false;\n"
                                      . " ocsp_file = \"$D/rogue.der\";"), start => 0);
    my ($rc, $out) = $q->run_t('-t');
    is($rc, 0, '-t: ocsp_verify = false accepts a response signed by another CA') or diag($out);
}

# ---- fetched from `openssl ocsp`, stapled by 2 workers, refreshed ------------------------
my $resp = openssl_responder();
$p->write_conf(conf("$pair ocsp_stapling = true; ocsp_refresh = \"1s\";", 2));
$p->start;
my $P = $p->port(1);
my $url = "http://127.0.0.1:$R/";
ok($p->wait_for(sub { ($p->error_log // '') =~ /\[info\] .*ocsp: certificate "\/CN=a\.test": response from \Q$url\E: good, nextUpdate in \d+s, next fetch in 1s/ }, 15),
   'helper: a good response fetched and logged') or diag($p->error_log);
my @w = $p->worker_pids;
is(scalar @w, 2, '2 workers');
my %seen;
my $all_good = 1;
for (1 .. 40) {
    my ($st, $who) = status_and_worker($P, @w);
    $all_good &&= $st eq 'good';
    $seen{$who}++;
    last if $seen{ $w[0] } && $seen{ $w[1] };
}
ok($all_good, 'every handshake stapled "Cert Status: good"');
ok($seen{ $w[0] } && $seen{ $w[1] }, 'both workers stapled') or diag(explain(\%seen));
ok((grep { Portico::title($_) =~ /^portico: ocsp/ } $p->children), 'a "portico: ocsp" helper runs');
my ($st, $out) = status($P);
like($out, qr/OCSP Response Status: successful/, 's_client: OCSP Response Status: successful');
is($st, 'good', 's_client: Cert Status: good');
{
    my ($rc, $o, $e) = Portico::run_cmd('sh', '-c', "exec openssl s_client -connect 127.0.0.1:$P "
        . "-servername a.test -CAfile $D/ca.crt </dev/null");
    unlike($o . $e, qr/OCSP response/, 'nothing stapled to a client that asks for no status');
}

# a reload: the new workers staple at once (the zone and its response are kept)
$p->signal('HUP');
ok($p->wait_for(sub { my @n = $p->worker_pids; @n == 2 && !grep { my $x = $_; grep { $_ == $x } @w } @n }, 15),
   'HUP: new workers');
($st) = status($P);
is($st, 'good', 'HUP: the new workers staple the kept response');
is(() = ($p->error_log =~ /ocsp helper started/g), 2, 'HUP: a new ocsp helper');

# the responder dies: fetches fail (warn), the last good response is still stapled
reap($resp);
ok($p->wait_for(sub { ($p->error_log // '') =~ /\[warn\] .*ocsp: certificate "\/CN=a\.test": fetch from \Q$url\E failed: .+; the last good response is stapled for \d+s, retry in 1s/ }, 15),
   'dead responder: the failure is logged at warn') or diag($p->error_log);
($st) = status($P);
is($st, 'good', 'dead responder: the last good response is still stapled');

# the certificate is revoked and the responder is back: the refresh staples "revoked"
index_txt('revoked');
$resp = openssl_responder();
ok($p->wait_for(sub { (status($P))[0] eq 'revoked' }, 15), 'refresh: "Cert Status: revoked" stapled');
like($p->error_log, qr/\[warn\] .*ocsp: certificate "\/CN=a\.test": response from \Q$url\E: revoked/,
     'a revoked status is logged at warn');
reap($resp);
$p->stop;

# ---- the status route counts the helper's fetches ------------------------------------------
# portico_tls_ocsp_fetches_total{result} and JSON "tls_ocsp": a failed fetch from a dead
# responder, then (the responder up, a reload: a slot with no response is fetched at once)
# an ok one; ocsp_refresh = "1h" and the 60 s retry keep any other fetch out of the test.
SKIP: {
    skip 'no status module', 11 unless Portico::has_module('status');

    my $q = Portico->new(conf => <<"EOF");
worker_processes = 1;
servers = (
  { listen = ( { address = "127.0.0.1:%%PORT1%%"; tls = true; } );
    names = ["a.test"];
    tls = { $pair ocsp_stapling = true; ocsp_refresh = "1h"; };
    routes = ( { match = { path_prefix = "/"; }; return = { status = 200; body = "ok"; }; } ); },
  { listen = ["127.0.0.1:%%PORT3%%"];
    routes = ( { match = { path = "/metrics"; }; status = { }; },
               { match = { path = "/json"; }; status = { format = "json"; }; } ); }
);
EOF
    my $S = $q->port(3);
    my $scrape = sub {
        my $m = PorticoMetrics::metrics($S, '/metrics');
        my ($s, $h, $b) = http_parse(http_get($S, '/json'));
        my $j = eval { JSON::PP::decode_json($b // '') } // {};
        return ($m, $j->{tls_ocsp});
    };
    my $n = sub { PorticoMetrics::mval($_[0], 'portico_tls_ocsp_fetches_total', result => $_[1]) };
    ok($q->wait_for(sub { ($q->error_log // '') =~ /\[warn\] .*ocsp: certificate "\/CN=a\.test": fetch from \Q$url\E failed/ }, 15),
       'metrics: a fetch from the dead responder failed') or diag($q->error_log);
    my ($m0, $j0) = $scrape->();
    is_deeply($m0->{errors}, [], 'metrics: strict parse');
    is($m0->{types}{portico_tls_ocsp_fetches_total}, 'counter', 'metrics: a counter family');
    is($n->($m0, 'failed'), 1, 'metrics: result="failed" is 1 after one failed fetch');
    is($n->($m0, 'ok'), 0, 'metrics: result="ok" is 0');
    is_deeply($j0, { fetches_ok => 0, fetches_failed => 1 }, 'json: tls_ocsp after the failure');

    index_txt('good');
    my $r2 = openssl_responder();
    $q->signal('HUP');
    ok($q->wait_for(sub { ($q->error_log // '') =~ /ocsp: certificate "\/CN=a\.test": response from \Q$url\E: good/ }, 15),
       'metrics: after the reload the responder answered') or diag($q->error_log);
    my ($m1, $j1) = $scrape->();
    is(PorticoMetrics::mdelta($m0, $m1, 'portico_tls_ocsp_fetches_total', result => 'ok'), 1,
       'metrics: one good fetch moves result="ok" by exactly 1');
    is(PorticoMetrics::mdelta($m0, $m1, 'portico_tls_ocsp_fetches_total', result => 'failed'), 0,
       'metrics: result="failed" unchanged (kept across the reload)');
    is_deeply($j1, { fetches_ok => 1, fetches_failed => 1 }, 'json: tls_ocsp after the good fetch');
    like(read_file(Portico::repo_root() . '/docs/metrics.md') // '',
         qr/`portico_tls_ocsp_fetches_total`/, 'docs/metrics.md documents the family');
    reap($r2);
    $q->stop;
}

# ---- ocsp_file: stapled, re-read on reload, a bad one fails the reload -------------------
{
    index_txt('good');
    openssl_response("$D/file.der", 'a');
    # the default server (other.test) staples nothing; SNI a.test switches to a.test's
    my $q = Portico->new(conf => <<"EOF");
servers = (
  { listen = ( { address = "127.0.0.1:%%PORT1%%"; tls = true; default = true; } );
    names = ["other.test"];
    tls = { certificate = "$D/other.crt"; key = "$D/other.key"; };
    routes = ( { match = { path_prefix = "/"; }; return = { status = 200; body = "o"; }; } ); },
  { listen = ( { address = "127.0.0.1:%%PORT1%%"; tls = true; } );
    names = ["a.test"];
    tls = { $pair ocsp_stapling = true;
            ocsp_file = "$D/file.der"; };
    routes = ( { match = { path_prefix = "/"; }; return = { status = 200; body = "a"; }; } ); }
);
EOF
    my $Q = $q->port(1);
    ($st, $out) = status($Q);
    is($st, 'good', 'ocsp_file: stapled (the server chosen by SNI)');
    ($st, $out) = status($Q, 'other.test');
    like($out, qr/OCSP response: no response sent/, 'a server without ocsp_stapling staples nothing');
    unlike($q->error_log, qr/ocsp helper started/, 'ocsp_file: no helper process');
    index_txt('revoked');
    openssl_response("$D/file.der", 'a');
    my @w1 = $q->worker_pids;
    $q->signal('HUP');
    ok($q->wait_for(sub { (status($Q))[0] eq 'revoked' }, 15), 'ocsp_file: re-read on reload');
    my @w2 = $q->worker_pids;
    write_file("$D/file.der", "broken\n");
    $q->signal('HUP');
    my $line = $q->line_of(qr/ocsp_file/);
    ok($q->wait_for(sub { ($q->error_log // '') =~ /portico\.conf:$line: .*tls\.ocsp_file .*not a DER OCSP response/ }, 15),
       'ocsp_file: a broken file fails the reload with FILE:LINE') or diag($q->error_log);
    ($st) = status($Q);
    is($st, 'revoked', 'ocsp_file: a failed reload keeps stapling the last response');
    is_deeply([ $q->worker_pids ], \@w2, 'ocsp_file: a failed reload keeps the workers');
    isnt("@w1", "@w2", 'ocsp_file: the good reload replaced the workers');
    $q->stop;
}

# ---- expiry (needs python3-cryptography for seconds-long nextUpdate) ---------------------
SKIP: {
    skip 'no python3 cryptography', 8 unless $PY;

    my ($rc, $o, $e) = Portico::run_cmd(py_args(next => -10, out => "$D/expired.der"));
    is($rc, 0, 'ocsp_responder.py wrote an expired response') or diag($e);
    my $q = Portico->new(conf => conf("$pair ocsp_stapling = true;\n ocsp_file = \"$D/expired.der\";"),
                         start => 0);
    my $line = $q->line_of(qr/ocsp_file/);
    ($rc, $o) = $q->run_t('-t');
    like($o, qr/portico\.conf:$line: .*tls\.ocsp_file "\Q$D\E\/expired\.der" for certificate "\/CN=a\.test": expired \d+ s ago \(nextUpdate\): not stapled/,
         '-t: an expired ocsp_file is a warning with FILE:LINE');
    is($rc, 0, '-t: an expired ocsp_file is not an error');
    $q->start;
    ($st, $out) = status($q->port(1));
    like($out, qr/OCSP response: no response sent/, 'an expired ocsp_file is not stapled');
    $q->stop;

    # a file response that expires while served
    Portico::run_cmd(py_args(next => 3, out => "$D/short.der"));
    $q = Portico->new(conf => conf("$pair ocsp_stapling = true;\n ocsp_file = \"$D/short.der\";"));
    ($st) = status($q->port(1));
    is($st, 'good', 'a short-lived ocsp_file is stapled');
    ok($q->wait_for(sub { (status($q->port(1)))[1] =~ /no response sent/ }, 15),
       'once past its nextUpdate it is no longer stapled');
    $q->stop;

    # a fetched response that expires while its responder is dead
    my $R3 = $p->port(3);
    my $py = spawn(qr/^ready/m, py_args(next => 4, port => $R3));
    $q = Portico->new(conf => conf("$pair ocsp_stapling = true;\n ocsp_responder = \"http://127.0.0.1:$R3/\";"));
    ok($q->wait_for(sub { (status($q->port(1)))[0] eq 'good' }, 15),
       'python responder: stapled');
    reap($py);
    ok($q->wait_for(sub { ($q->error_log // '') =~ /\[warn\] .*fetch from http:\/\/127\.0\.0\.1:$R3\/ failed: .*; nothing stapled/
                          && (status($q->port(1)))[1] =~ /no response sent/ }, 20),
       'dead responder: once past nextUpdate nothing is stapled (logged)') or diag($q->error_log);
    $q->stop;
}

done_testing();
