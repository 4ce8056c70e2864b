#!/usr/bin/perl
# access_log_json_fields.t: format = "json" with `fields` (docs/logging.md): the keys in the
# order listed, renaming ("client=remote_addr"), "$" allowed before a name, numbers for
# status, bytes and times, null for absent values, the per-try upstream variables as arrays
# ([null/number/string] per try), JSON escaping of quotes, backslashes, tabs, valid UTF-8
# and invalid bytes (\u00XX), the TLS variables over a TLS listener ($ssl_protocol,
# $ssl_cipher, $ssl_server_name, $ssl_session_reused, $ssl_client_verify) including a
# resumed session, and -t errors at FILE:LINE. Every line is parsed by Python's json module
# (strict: a raw control character in a string fails) and compared as a whole object.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Portico;
use PorticoBackend;
use File::Temp qw(tempdir);

skip_unless_module('access_log', 'return', 'proxy', 'tls');
plan(skip_all => 'no openssl CLI') unless system('openssl version >/dev/null 2>&1') == 0;
plan(skip_all => 'no python3') unless system('python3 -c 1 >/dev/null 2>&1') == 0;

my $D = tempdir('portico-jf-XXXXXX', DIR => '/tmp', CLEANUP => 1);
system("openssl req -x509 -newkey rsa:2048 -nodes -keyout $D/a.key -out $D/a.crt -days 30 "
       . "-subj '/CN=a.test' -addext subjectAltName=DNS:a.test >$D/openssl.log 2>&1") == 0
    or BAIL_OUT('openssl req failed');

my $p = Portico->new(start => 0);
my $be = PorticoBackend->new(port => $p->port(4), id => 'up');
$p->write_conf(<<"EOF");
http = {
  access_log = { path = "logs/fields.log"; format = "json";
                 fields = ["remote_addr", "status", "request_time", "client=remote_addr",
                           "ua=http_user_agent", "\$request_method", "uri", "x=arg_x",
                           "upstream_addr", "upstream_status", "upstream_response_time",
                           "ssl_protocol", "body_bytes_sent"]; };
};
upstreams = ( { name = "two"; max_fails = 0;
                servers = ( { address = "127.0.0.1:%%PORT5%%"; },
                            { address = "127.0.0.1:%%PORT4%%"; } ); } );
servers = (
  { listen = ["127.0.0.1:%%PORT1%%"];
    routes = ( { match = { path_prefix = "/echo/"; }; proxy = { upstream = "two"; }; },
               { match = { path_prefix = "/"; }; return = { status = 200; body = "ok\\n"; }; } ); },
  { listen = ( { address = "127.0.0.1:%%PORT2%%"; tls = true; } );
    names = ["a.test"];
    tls = { certificate = "$D/a.crt"; key = "$D/a.key"; };
    access_log = { path = "logs/tls.log"; format = "json";
                   fields = ["ssl_protocol", "ssl_cipher", "ssl_server_name", "ssl_session_reused",
                             "ssl_client_verify", "scheme", "status"]; };
    routes = ( { match = { path_prefix = "/"; }; return = { status = 200; body = "tls\\n"; }; } ); },
  { listen = ["127.0.0.1:%%PORT3%%"];
    access_log = { path = "logs/fixed.log"; format = "json"; };
    routes = ( { match = { path_prefix = "/"; }; return = { status = 204; }; } ); }
);
EOF
$p->start;

# The lines of a log, each parsed by Python's json module and written back canonically
# (sorted keys, ", " and ": "); a float request_time / response time becomes "<n>" so that
# whole objects compare exactly. A line Python refuses comes back as "INVALID: line".
sub parsed
{
    my ($name) = @_;
    my $text = $p->access_log($name) // '';
    Portico::write_file("$D/in.jsonl", $text);
    my ($rc, $out, $err) = Portico::run_cmd('python3', '-c', <<'PY', "$D/in.jsonl");
import json, sys
def num(v):
    return "<n>" if isinstance(v, (int, float)) and not isinstance(v, bool) else v
for line in open(sys.argv[1], encoding="latin-1").read().encode("latin-1").split(b"\n"):
    if not line:
        continue
    try:
        o = json.loads(line.decode("utf-8"))
    except Exception as e:
        print("INVALID: %r %s" % (line, e)); continue
    for k in ("request_time", "upstream_response_time"):
        if k in o:
            o[k] = [num(x) for x in o[k]] if isinstance(o[k], list) else num(o[k])
    print(json.dumps(o, sort_keys=True, ensure_ascii=True))
PY
    return grep { length } split /\n/, $out;
}

sub wait_line
{
    my ($name, $needle) = @_;
    my $found;
    $p->wait_for(sub { ($found) = grep { index($_, $needle) >= 0 } parsed($name); defined $found }, 4);
    return $found // '';
}

# ---- plain listener: order, renames, numbers, nulls, escaping --------------------------------
{
    my ($s) = http_parse(http_get($p->port(1), '/a?x=1', 'User-Agent' => "q\"b\\s\tu\xc3\xa9i\xe9\xff"));
    is($s, 200, 'request served');
    is(wait_line('fields.log', '"/a"'),
       '{"body_bytes_sent": 3, "client": "127.0.0.1", "remote_addr": "127.0.0.1", '
       . '"request_method": "GET", "request_time": "<n>", "ssl_protocol": null, "status": 200, '
       . '"ua": "q\"b\\\\s\tu\u00e9i\u00e9\u00ff", "upstream_addr": null, '
       . '"upstream_response_time": null, "upstream_status": null, "uri": "/a", "x": "1"}',
       'whole object: renamed keys, numbers, nulls; quote, backslash, tab escaped; UTF-8 kept, '
       . 'invalid bytes as \u00XX');
    my $raw = (grep { index($_, '"/a"') >= 0 } split /\n/, $p->access_log('fields.log'))[0] // '';
    like($raw, qr/^\{"remote_addr":"127\.0\.0\.1","status":200,"request_time":\d+\.\d{3},"client":/,
         'keys in the order of fields, numbers unquoted');
    like($raw, qr/"ua":"q\\"b\\\\s\\tu\xc3\xa9i\\u00e9\\u00ff"/, 'raw escapes: \" \\\\ \t, UTF-8 as is, \u00e9 \u00ff');
    like($raw, qr/,"x":"1","upstream_addr":null,/, 'absent values are null');
}

# ---- upstream tries as arrays -----------------------------------------------------------------
{
    my $line = '';
    for my $i (1 .. 3) {
        my ($s) = http_parse(http_get($p->port(1), "/echo/$i", -timeout => 8));
        is($s, 200, "proxied request $i answered") or diag($p->access_log("fields.log"));
        my $l = wait_line("fields.log", "\"/echo/$i\"");
        if ($l =~ /"upstream_status": \[502, 200\]/) { $line = $l; last; }
    }
    my ($P4, $P5) = ($p->port(4), $p->port(5));
    like($line, qr/"upstream_addr": \["127\.0\.0\.1:$P5", "127\.0\.0\.1:$P4"\]/,
         'upstream_addr: one string per try');
    like($line, qr/"upstream_response_time": \["<n>", "<n>"\]/, 'upstream_response_time: numbers');
    like($line, qr/"upstream_status": \[502, 200\]/, 'upstream_status: numbers, one per try');
}

# ---- the fixed set stays as it was ------------------------------------------------------------
{
    http_get($p->port(3), '/fixed');
    my $l = wait_line('fixed.log', '"/fixed"');
    like($l, qr/^\{"body_bytes_sent": 0, "host": "[^"]+", "method": "GET", "protocol": "HTTP\/1\.1", "referer": null, "remote_addr": "127\.0\.0\.1", "request_completion": "OK", "request_id": "[0-9a-f]+", "request_time": "<n>", "status": 204, "time": "[^"]+", "upstream_addr": null, "upstream_response_time": null, "upstream_status": null, "uri": "\/fixed", "user_agent": null\}$/,
         'without fields: the fixed set of keys');
}

# ---- TLS variables ----------------------------------------------------------------------------
sub tls_get
{
    my ($args) = @_;
    Portico::write_file("$D/req", "GET /t HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n");
    my ($rc, $out, $err) = Portico::run_cmd('sh', '-c', "exec openssl s_client -connect 127.0.0.1:"
        . $p->port(2) . " -ign_eof -servername a.test $args < $D/req 2>&1");
    return $out;
}
{
    my $out = tls_get("-tls1_3 -sess_out $D/sess");
    like($out, qr/HTTP\/1\.1 200/, 'TLS request served');
    my @l;
    $p->wait_for(sub { @l = parsed('tls.log'); @l >= 1 }, 4);
    is($l[0] // '', '{"scheme": "https", "ssl_cipher": "TLS_AES_128_GCM_SHA256", "ssl_client_verify": "NONE", '
       . '"ssl_protocol": "TLSv1.3", "ssl_server_name": "a.test", "ssl_session_reused": ".", "status": 200}',
       'TLS variables in a JSON line (full handshake)');
    SKIP: {
        skip 'no session saved by s_client', 2 unless -s "$D/sess";
        $out = tls_get("-tls1_3 -sess_in $D/sess");
        like($out, qr/Reused, TLSv1\.3/, 'session resumed');
        $p->wait_for(sub { @l = parsed('tls.log'); @l >= 2 }, 4);
        like($l[1] // '', qr/"ssl_session_reused": "r"/, '$ssl_session_reused is r when resumed');
    }
    http_get($p->port(1), '/plain-tls-null');
    like(wait_line('fields.log', '/plain-tls-null'), qr/"ssl_protocol": null/, 'TLS variable null on a plain listener');
}

$p->check_logs;
$p->stop;

# ---- -t errors --------------------------------------------------------------------------------
sub conf_error
{
    my ($fields, $format) = @_;
    $format //= 'json';
    my $q = Portico->new(start => 0);
    $q->write_conf(<<"EOF");
servers = ( { listen = ["127.0.0.1:%%PORT1%%"];
    access_log = { path = "logs/x.log"; format = "$format";
                   fields = $fields; };
    routes = ( { match = { path_prefix = "/"; }; return = { status = 200; }; } ); } );
EOF
    my $line = $q->line_of(qr/fields =/);
    my ($rc, $out) = $q->run_t('-t');
    return ($rc, $out, $q->conf_file . ":$line: ");
}
{
    my ($rc, $out, $at) = conf_error('["status", "nosuch_var"]');
    isnt($rc, 0, 'unknown variable: -t fails');
    like($out, qr/^\Q$at\Eservers\[0\]\.access_log\.fields: unknown variable "\$nosuch_var"$/m,
         'unknown variable: FILE:LINE and the name');
    ($rc, $out, $at) = conf_error('["status", "a b"]');
    like($out, qr/^\Q$at\E.*fields\[1\] "a b": a variable name is letters, digits and "_"$/m,
         'bad entry: FILE:LINE');
    ($rc, $out, $at) = conf_error('["status", "status=remote_addr"]');
    like($out, qr/^\Q$at\E.*fields\[1\]: duplicate key "status"/m, 'duplicate key: FILE:LINE');
    ($rc, $out, $at) = conf_error('["bad key!=status"]');
    like($out, qr/^\Q$at\E.*fields\[0\] "bad key!=status": a key is letters, digits/m, 'bad key: FILE:LINE');
    ($rc, $out, $at) = conf_error('["status"]', 'combined');
    like($out, qr/^\Q$at\E.*fields is for format = "json"/m, 'fields with combined: FILE:LINE');
}

done_testing();
