#!/usr/bin/perl
# auth_basic.t: `auth_basic = { realm; users; }` (docs/settings.md, docs/http.md): each hash format
# with the right and a wrong password ({SHA}, $apr1$, $5$, $6$, bcrypt), a missing header, malformed
# Authorization values, an unknown user, the exact 401 with WWW-Authenticate (realm escaped),
# $remote_user in the access log, routes without auth untouched, a reload that picks up a changed
# users file, a malformed file as a -t error with its line number (and a reload that keeps the old
# workers), and the -t warnings. Limits: Basic credentials over 4 KiB of base64 are a 400 with an
# [info] line and no hashing, a NUL byte in them a 401 without hashing, ':' belongs to the password,
# bcrypt reads 72 bytes of it, an empty hash is a -t error, and a file mixing hash schemes or costs
# is a -t warning (timing tells its users from unknown ones).

use strict;
use warnings;
use Test::More;
use MIME::Base64 qw(encode_base64);
use Digest::SHA qw(sha1);
use lib 't/lib';
use Portico;

skip_unless_module('auth_basic', 'return', 'access_log');

# ---- hashes, made at test time ---------------------------------------------------------------

sub cmd_out
{
    my (@cmd) = @_;
    my ($rc, $out) = Portico::run_cmd(@cmd);
    return undef unless defined $rc && $rc == 0;
    chomp $out;
    return $out;
}

my %hash;
$hash{apr1} = cmd_out('openssl', 'passwd', '-apr1', 'pw-apr1');
$hash{sha256} = cmd_out('openssl', 'passwd', '-5', 'pw-five');
$hash{sha512} = cmd_out('openssl', 'passwd', '-6', 'pw-six');
$hash{sha} = '{SHA}' . encode_base64(sha1('pw-sha'), '');
$hash{bcrypt} = cmd_out('python3', '-W', 'ignore', '-c',
                        'import crypt; print(crypt.crypt("pw-bcrypt", '
                        . 'crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16)))');
undef $hash{bcrypt} unless defined $hash{bcrypt} && $hash{bcrypt} =~ /^\$2[aby]\$/;
if (!defined $hash{bcrypt}) {
    my $h = cmd_out('htpasswd', '-nbB', '-C', '4', 'x', 'pw-bcrypt');
    $hash{bcrypt} = $1 if defined $h && $h =~ /^x:(\$2[aby]\$\S+)/;
}
$hash{colon} = cmd_out('openssl', 'passwd', '-apr1', 'a:b:c');
# bcrypt of 72 'p's, for the 72-byte limit
$hash{b72} = cmd_out('python3', '-W', 'ignore', '-c',
                     'import crypt; print(crypt.crypt("p" * 72, '
                     . 'crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16)))');
undef $hash{b72} unless defined $hash{b72} && $hash{b72} =~ /^\$2[aby]\$/;
for my $k (qw(apr1 sha256 sha512 colon)) {
    BAIL_OUT("openssl passwd did not give a $k hash") unless defined $hash{$k};
}

my $users = join('', "# test users\n", "\n",
                 "ann:$hash{apr1}\n", "fay:$hash{sha256}\r\n", "six:$hash{sha512}:a comment\n",
                 "sha:$hash{sha}\n", "col:$hash{colon}\n",
                 defined $hash{bcrypt} ? "bea:$hash{bcrypt}\n" : "",
                 defined $hash{b72} ? "b72:$hash{b72}\n" : "");

my $conf = <<'EOF';
http = {
  log_formats = ( { name = "auth"; format = "$remote_user $status $request_uri"; } );
  access_log = { path = "logs/access.log"; format = "auth"; };
};
servers = ( {
  listen = ["127.0.0.1:%%PORT1%%"];
  routes = (
    { match = { path_prefix = "/admin/"; };
      auth_basic = { realm = "admin \"area\""; users = "conf/htpasswd"; };
      return = { status = 200; body = "admin $remote_user\n"; }; },
    { match = { path_prefix = "/other/"; };
      auth_basic = { realm = "other"; users = "conf/htpasswd"; };
      return = { status = 200; body = "other\n"; }; },
    { match = { path_prefix = "/"; }; return = { status = 200; body = "open $remote_user.\n"; }; }
  );
} );
EOF

my $p = Portico->new(conf => $conf, files => { 'conf/htpasswd' => $users });
my $port = $p->port(1);

sub basic { return 'Basic ' . encode_base64($_[0], ''); }

sub get
{
    my ($path, @h) = @_;
    return http_parse(http_get($port, $path, @h));
}

# The exact 401: status line, challenge, plain-text body with the request id.
sub is_401
{
    my ($raw, $what, $realm) = @_;
    $realm = 'admin \\"area\\"' unless defined $realm;
    my ($s, $h, $b) = http_parse($raw);
    is($s, 401, "$what: 401");
    like($raw, qr{^HTTP/1\.1 401 Unauthorized\r\n}, "$what: status line");
    my @www = $raw =~ /^WWW-Authenticate: ([^\r\n]*)\r$/mgi;
    is_deeply(\@www, ["Basic realm=\"$realm\""], "$what: one WWW-Authenticate, realm quoted");
    my $rid = $h->{'x-request-id'} // '';
    is($b, "401 Unauthorized\nrequest_id: $rid\n", "$what: error body with the request id");
}

# ---- each format, right and wrong --------------------------------------------------------

my @formats = (['ann', 'pw-apr1', '$apr1$'], ['fay', 'pw-five', '$5$'], ['six', 'pw-six', '$6$'],
               ['sha', 'pw-sha', '{SHA}']);
push @formats, ['bea', 'pw-bcrypt', 'bcrypt'] if defined $hash{bcrypt};
for my $f (@formats) {
    my ($user, $pw, $name) = @$f;
    my ($s, $h, $b) = get('/admin/x', Authorization => basic("$user:$pw"));
    is($s, 200, "$name: right password: 200");
    is($b, "admin $user\n", "$name: \$remote_user is the user");
    is_401(http_get($port, '/admin/x', Authorization => basic("$user:${pw}x")),
           "$name: wrong password");
    is_401(http_get($port, '/admin/x', Authorization => basic("$user:")),
           "$name: empty password");
}
if (!defined $hash{bcrypt}) {
    SKIP: { skip('no bcrypt hash generator (python3 crypt with bcrypt, or htpasswd -B)', 1); }
}
# bcrypt again within the cache lifetime: still right, still wrong for a wrong one
SKIP: {
    skip('no bcrypt hash', 2) unless defined $hash{bcrypt};
    my ($s) = get('/admin/y', Authorization => basic('bea:pw-bcrypt'));
    is($s, 200, 'bcrypt: second request (cached verification) 200');
    ($s) = get('/admin/y', Authorization => basic('bea:pw-bcryp'));
    is($s, 401, 'bcrypt: a wrong password is not taken from the cache');
}

# ---- missing and malformed credentials -------------------------------------------------------

is_401(http_get($port, '/admin/x'), 'no Authorization');
is_401(http_get($port, '/admin/x', Authorization => basic('nobody:pw-apr1')), 'unknown user');
is_401(http_get($port, '/admin/x', Authorization => basic(':pw-apr1')), 'empty user');
is_401(http_get($port, '/admin/x', Authorization => 'Basic !!notbase64'), 'bad base64');
is_401(http_get($port, '/admin/x', Authorization => 'Basic ' . encode_base64('annpw', '')),
       'no colon in the credentials');
is_401(http_get($port, '/admin/x', Authorization => 'Bearer abc.def'), 'another scheme');
is_401(http_get($port, '/admin/x', Authorization => 'Basic'), 'scheme without credentials');
is_401(http_get($port, '/other/x'), 'other realm', 'other');
{
    my ($s) = get('/admin/x', Authorization => 'bAsIc ' . encode_base64('ann:pw-apr1', ''));
    is($s, 200, 'the scheme is case-insensitive');
    my $raw = http_raw($port, "GET /admin/x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n"
                       . 'Authorization: ' . basic('ann:pw-apr1') . "\r\n"
                       . 'Authorization: ' . basic('ann:pw-apr1') . "\r\n\r\n");
    ($s) = http_parse($raw);
    is($s, 400, 'two Authorization headers: 400');
    # HEAD gets the same head, without a body
    $raw = http_head($port, '/admin/x');
    like($raw, qr{^HTTP/1\.1 401 .*\r\nWWW-Authenticate: Basic realm="admin \\"area\\""\r\n}s,
         'HEAD: 401 with the challenge');
    # a route without auth_basic is untouched, and $remote_user is empty there
    my ($s2, $h2, $b2) = get('/open', Authorization => basic('ann:wrong'));
    is($s2, 200, 'route without auth_basic: 200 whatever the credentials');
    is($b2, "open .\n", 'route without auth_basic: $remote_user empty');
    ok(!exists $h2->{'www-authenticate'}, 'route without auth_basic: no challenge');
}

# ---- limits: length, NUL, ':' and bcrypt's 72 bytes -----------------------------------------

{
    # 3100 bytes of password: 4140 bytes of base64, over the 4096 cap
    my $cred = encode_base64('toolong:' . ('x' x 3100), '');
    my $raw = http_get($port, '/admin/x', Authorization => "Basic $cred");
    my ($s, $h, $b) = http_parse($raw);
    is($s, 400, 'credentials over 4 KiB of base64: 400');
    like($raw, qr{^HTTP/1\.1 400 Bad Request\r\n}, 'over-long credentials: status line');
    ok(!exists $h->{'www-authenticate'}, 'over-long credentials: no challenge');
    my $len = length("Basic $cred");
    ok($p->wait_for(sub { ($p->error_log // '') =~ /\[info\] .*auth_basic: Basic credentials longer than 4096 bytes of base64 \($len bytes in the Authorization header\), refused unchecked/ }, 5),
       'over-long credentials: the [info] line says why');
    unlike($p->error_log // '', qr/"toolong"/, 'over-long credentials: never looked up or hashed');

    # exactly 4096 bytes of base64 is still checked (an unknown user: 401 and its line)
    $cred = encode_base64('atlimit:' . ('y' x 3064), '');
    is(length($cred), 4096, 'the credentials at the limit are 4096 bytes of base64');
    is_401(http_get($port, '/admin/x', Authorization => "Basic $cred"), 'at the limit');
    ok($p->wait_for(sub { ($p->error_log // '') =~ /auth_basic: user "atlimit" was not found/ }, 5),
       'at the limit: the user is looked up');
    # over the limit in another scheme: not Basic's business, the usual 401
    is_401(http_get($port, '/admin/x', Authorization => 'Bearer ' . ('z' x 5000)),
           'a long Bearer token');

    # a NUL byte in the password or the user name: 401, no lookup, an [info] line
    is_401(http_get($port, '/admin/x', Authorization => basic("ann:pw-apr1\0x")),
           'NUL in the password');
    is_401(http_get($port, '/admin/x', Authorization => basic("nu\0ll:pw-apr1")),
           'NUL in the user name');
    my $log = $p->error_log // '';
    my $nul = () = $log =~ /\[info\] .*auth_basic: NUL byte in the Basic credentials/g;
    is($nul, 2, 'NUL: two [info] lines');
    unlike($log, qr/user "nu\?ll"/, 'NUL: the user is not looked up');

    # the user name ends at the first ':'; the password may hold more
    my ($s2, $h2, $b2) = get('/admin/x', Authorization => basic('col:a:b:c'));
    is($s2, 200, "':' in the password: 200");
    is($b2, "admin col\n", "':' in the password: the user is the part before the first ':'");
    is_401(http_get($port, '/admin/x', Authorization => basic('col:a:b')),
           "':' in the password: a shorter one is refused");
}
SKIP: {
    skip('no bcrypt hash generator (python3 crypt with bcrypt)', 3) unless defined $hash{b72};
    # bcrypt reads 72 bytes, as the htpasswd that made the hash did
    my ($s) = get('/admin/x', Authorization => basic('b72:' . ('p' x 72)));
    is($s, 200, 'bcrypt: a 72-byte password');
    ($s) = get('/admin/x', Authorization => basic('b72:' . ('p' x 72) . 'more'));
    is($s, 200, 'bcrypt: bytes after the 72nd are not checked');
    ($s) = get('/admin/x', Authorization => basic('b72:' . ('p' x 71)));
    is($s, 401, 'bcrypt: 71 of the 72 bytes are refused');
}

# ---- keep-alive: a 401 keeps the connection usable ----------------------------------------

{
    my @res = http_keepalive($port, [
        http_request('GET', '/admin/k1'),
        http_request('GET', '/admin/k2', Authorization => basic('ann:pw-apr1')),
    ]);
    is(scalar(@res), 2, 'keep-alive: two responses on one connection');
    is((http_parse($res[0] // ''))[0], 401, 'keep-alive: first 401');
    is((http_parse($res[1] // ''))[0], 200, 'keep-alive: then 200 with credentials');
}

# ---- $remote_user in the access log ------------------------------------------------------

{
    get('/admin/logged', Authorization => basic('fay:pw-five'));
    get('/admin/denied', Authorization => basic('fay:nope'));
    my $log = '';
    $p->wait_for(sub {
        $log = $p->access_log // '';
        $log =~ m{/admin/logged} && $log =~ m{/admin/denied};
    }, 5);
    like($log, qr{^fay 200 /admin/logged$}m, 'access log: $remote_user of a verified request');
    like($log, qr{^- 401 /admin/denied$}m, 'access log: "-" for a refused one');
}
like($p->error_log // '', qr/\[error\] .*auth_basic: user "fay": password mismatch/,
     'error log: the mismatch is logged at error level');
unlike($p->error_log // '', qr/nope/, 'error log: the password is never logged');

# ---- reload picks up a changed file --------------------------------------------------------

{
    my $pw2 = cmd_out('openssl', 'passwd', '-apr1', 'new-pw');
    write_file($p->prefix . '/conf/htpasswd', "ann:$pw2\nnew:$pw2\n");
    my @old = $p->worker_pids;
    $p->signal('HUP');
    ok($p->wait_for(sub {
        (get('/admin/x', Authorization => basic('new:new-pw')))[0] == 200;
    }, 15), 'reload: a user added to the file is accepted');
    ok($p->wait_for(sub { !grep { kill 0, $_ } @old }, 15), 'reload: the old workers left');
    my ($s) = get('/admin/x', Authorization => basic('ann:pw-apr1'));
    is($s, 401, 'reload: the old password of a changed user is refused');
    ($s) = get('/admin/x', Authorization => basic('ann:new-pw'));
    is($s, 200, 'reload: the new password is accepted');
    ($s) = get('/admin/x', Authorization => basic('six:pw-six'));
    is($s, 401, 'reload: a removed user is refused');

    # a malformed file: the reload fails and the workers stay
    my @w = $p->worker_pids;
    my $file = $p->prefix . '/conf/htpasswd';
    write_file($file, "ann:$pw2\n# fine\nbroken line without colon\nnew:plaintext\n");
    $p->signal('HUP');
    ok($p->wait_for(sub { ($p->error_log // '') =~ /\Q$file\E:3: malformed line/ }, 10),
       'bad reload: the users file error is logged with its line');
    like($p->error_log // '', qr/\Q$file\E:4: user "new": unknown password hash format/,
         'bad reload: every error of the file is logged');
    ($s) = get('/admin/x', Authorization => basic('new:new-pw'));
    is($s, 200, 'bad reload: still serving with the previous users');
    is_deeply([ $p->worker_pids ], \@w, 'bad reload: old workers untouched');
}
$p->stop;

# ---- -t: errors with their lines, warnings ---------------------------------------------------

{
    my $q = Portico->new(conf => $conf, start => 0, files => {
        'conf/htpasswd' => "# c\nok:$hash{apr1}\nnocolon\n:$hash{apr1}\nplain:secret123\n"
                         . "ok2:{SHA}short\nnohash:\nnohash2::a comment\n" });
    my ($rc, $out) = $q->run_t('-t');
    my $f = $q->prefix . '/conf/htpasswd';
    my $cl = $q->line_of(qr/auth_basic = \{ realm = "admin/);
    my $cf = $q->conf_file;
    is($rc, 1, '-t: a malformed users file fails');
    like($out, qr/^\Q$f\E:3: malformed line: no ":" between the user name and the hash \(users file of servers\[0\]\.routes\[0\]\.auth_basic\.users at \Q$cf\E:$cl\)$/m,
         '-t: no colon: USERSFILE:LINE and the line of the setting');
    like($out, qr/^\Q$f\E:4: empty user name/m, '-t: empty user name');
    like($out, qr/^\Q$f\E:5: user "plain": unknown password hash format \(plain-text passwords are not accepted/m,
         '-t: plain-text password refused');
    like($out, qr/^\Q$f\E:6: user "ok2": malformed \{SHA\} hash/m, '-t: malformed {SHA}');
    like($out, qr/^\Q$f\E:7: user "nohash": empty password hash/m, '-t: an empty hash');
    like($out, qr/^\Q$f\E:8: user "nohash2": empty password hash/m,
         '-t: an empty hash before a comment');
    unlike($out, qr/secret123/, '-t: the plain-text password is not printed');

    write_file($q->prefix . '/conf/htpasswd', "sha:$hash{sha}\n");
    ($rc, $out) = $q->run_t('-t');
    is($rc, 0, '-t: {SHA} only warns');
    like($out, qr/^\Q$f\E:1: warning: \{SHA\} hashes are unsalted/m, '-t: {SHA} warning');
    like($out, qr/^\Q$cf\E:$cl: warning: servers\[0\]\.routes\[0\]\.auth_basic: auth_basic on the plain-HTTP listener 127\.0\.0\.1:\d+/m,
         '-t: plain-HTTP listener warning');

    # mixed schemes: unknown users are checked against the first crypt(3) entry (line 2);
    # users of another scheme or cost can be told apart by timing, which -t says
    write_file($q->prefix . '/conf/htpasswd', "ann:$hash{apr1}\nfay:$hash{sha256}\n"
               . "six:$hash{sha512}\n");
    ($rc, $out) = $q->run_t('-t');
    is($rc, 0, '-t: mixed hash schemes only warn');
    like($out, qr/^\Q$f\E:1: warning: user "ann" and others: hash scheme or cost differs from line 2's, which unknown users are checked against: the time of a refusal tells that such a user exists \(give every user the same scheme and cost\)/m,
         '-t: mixed schemes: the first odd entry, the line of the dummy\'s model') or diag($out);
    write_file($q->prefix . '/conf/htpasswd', "fay:$hash{sha256}\nann:$hash{apr1}\n");
    ($rc, $out) = $q->run_t('-t');
    like($out, qr/^\Q$f\E:2: warning: user "ann": hash scheme or cost differs from line 1's/m,
         '-t: one odd entry named alone');
    write_file($q->prefix . '/conf/htpasswd', "fay:$hash{sha256}\nsix:$hash{sha256}\n");
    ($rc, $out) = $q->run_t('-t');
    unlike($out, qr/hash scheme or cost differs/, '-t: one scheme and cost: no such warning');

    unlink($q->prefix . '/conf/htpasswd');
    ($rc, $out) = $q->run_t('-t');
    is($rc, 1, '-t: a missing users file fails');
    like($out, qr/^\Q$cf\E:$cl: servers\[0\]\.routes\[0\]\.auth_basic\.users: cannot open users file "\Q$f\E": No such file or directory$/m,
         '-t: missing file named at the line of the setting');

    # an empty users file is only a warning; a control character in the realm an error
    write_file($q->prefix . '/conf/htpasswd', "# nobody yet\n");
    ($rc, $out) = $q->run_t('-t');
    is($rc, 0, '-t: a users file without users passes');
    like($out, qr/^\Q$cf\E:$cl: warning: .*users file "\Q$f\E" lists no user/m,
         '-t: a users file without users is warned about');
    (my $bad = $conf) =~ s/realm = "other";/realm = "a\\tb";/;
    $q->write_conf($bad);
    ($rc, $out) = $q->run_t('-t');
    my $ol = $q->line_of(qr/realm = "a\\tb"/);
    is($rc, 1, '-t: a control character in the realm fails');
    like($out, qr/^\Q$cf\E:$ol: servers\[0\]\.routes\[1\]\.auth_basic\.realm: realm contains a control character$/m,
         '-t: realm error at its line');

    # realm and users are required
    $q->write_conf(<<'EOF');
servers = ( { listen = ["127.0.0.1:%%PORT1%%"];
  routes = ( { match = { path_prefix = "/"; };
               auth_basic = { realm = "x"; };
               return = { status = 200; }; } ); } );
EOF
    ($rc, $out) = $q->run_t('-t');
    my $l = $q->line_of(qr/auth_basic = \{ realm = "x"/);
    is($rc, 1, '-t: auth_basic without users fails');
    like($out, qr/portico\.conf:$l: .*auth_basic.*users/, '-t: missing users named with its line');
}

done_testing();
