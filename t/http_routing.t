#!/usr/bin/perl
# http_routing.t: server selection by Host (exact, longest wildcard, regex with named
# captures, default server, default = true), Host normalisation, absolute-form targets; route
# selection (path, path_prefix, path_regex, methods, headers), path normalisation before
# matching, variables in return bodies, return with location, and the -t shadowing warning.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Portico;

my $bin = portico_bin();
plan(skip_all => "no portico binary at $bin") unless -x $bin;

my $p = Portico->new(conf => <<'EOF');
servers = (
  { listen = ["127.0.0.1:%%PORT1%%"]; names = ["default.test"];
    routes = ( { match = { path_prefix = "/"; }; return = { status = 200; body = "default\n"; }; } ); },
  { listen = ["127.0.0.1:%%PORT1%%"]; names = ["example.com", "www.example.com"];
    routes = ( { match = { path_prefix = "/"; }; return = { status = 200; body = "exact $server_name\n"; }; } ); },
  { listen = ["127.0.0.1:%%PORT1%%"]; names = ["*.example.com"];
    routes = ( { match = { path_prefix = "/"; }; return = { status = 200; body = "wild1\n"; }; } ); },
  { listen = ["127.0.0.1:%%PORT1%%"]; names = ["*.sub.example.com"];
    routes = ( { match = { path_prefix = "/"; }; return = { status = 200; body = "wild2\n"; }; } ); },
  { listen = ["127.0.0.1:%%PORT1%%"]; names = ["~^[a-z]+\\.example\\.org$"];
    routes = ( { match = { path_prefix = "/"; }; return = { status = 200; body = "regex\n"; }; } ); },
  { listen = ["127.0.0.1:%%PORT1%%"]; names = ["routes.test"];
    routes = (
      { match = { path = "/exact"; }; return = { status = 200; body = "exact\n"; }; },
      { match = { path_prefix = "/pre/"; }; return = { status = 200; body = "prefix $uri\n"; }; },
      { match = { path_regex = "^/u/(\\d+)$"; }; return = { status = 200; body = "user $1\n"; }; },
      { match = { path = "/m"; methods = ["GET"]; }; return = { status = 200; body = "get\n"; }; },
      { match = { path = "/m"; methods = ["POST", "DELETE"]; }; return = { status = 200; body = "post-or-delete\n"; }; },
      { match = { path = "/h"; headers = ( { name = "X-Canary"; value = "1"; } ); }; return = { status = 200; body = "canary\n"; }; },
      { match = { path = "/h"; }; return = { status = 200; body = "plain\n"; }; },
      { match = { path = "/a"; }; return = { status = 200; body = "a\n"; }; },
      { match = { path = "/a/b"; }; return = { status = 200; body = "ab\n"; }; },
      { match = { path = "/vars"; };
        return = { status = 200; body = "host=$host uri=$uri args=$args x=$arg_x none=[$arg_none] ua=$http_user_agent c=$cookie_a m=$request_method ru=$request_uri sn=$server_name ra=$remote_addr s=$scheme\n"; }; },
      { match = { path = "/braces"; }; return = { status = 200; body = "${request_method}x\n"; }; },
      { match = { path = "/redir"; }; return = { status = 301; location = "https://example.net/new"; }; },
      { match = { path = "/redir2"; }; return = { status = 302; location = "/local?x=$arg_x"; }; },
      { match = { path = "/created"; }; return = { status = 201; body = "made\n"; }; }
    ); },
  { listen = ["127.0.0.1:%%PORT2%%"]; names = ["a.test"];
    routes = ( { match = { path_prefix = "/"; }; return = { status = 200; body = "first\n"; }; } ); },
  { listen = ( { address = "127.0.0.1:%%PORT2%%"; default = true; } ); names = ["b.test"];
    routes = ( { match = { path_prefix = "/"; }; return = { status = 200; body = "second\n"; }; } ); }
);
EOF

my $port = $p->port(1);

# (status, headers, body)
sub get
{
    my ($path, $host, @h) = @_;
    return http_parse(http_get($port, $path, Host => $host, @h));
}

# the body only
sub body
{
    my ($path, $host, @h) = @_;
    my (undef, undef, $b) = get($path, $host, @h);
    return $b;
}

# ---- server selection -----------------------------------------------------------------------

is(body('/', 'example.com'), "exact example.com\n", 'exact name');
is(body('/', 'www.example.com'), "exact example.com\n", 'exact second name ($server_name is the first)');
is(body('/', 'foo.example.com'), "wild1\n", 'wildcard');
is(body('/', 'a.b.c.example.com'), "wild1\n", 'wildcard matches any depth');
is(body('/', 'x.sub.example.com'), "wild2\n", 'longest wildcard wins');
is(body('/', 'acme.example.org'), "regex\n", 'regex name');
is(body('/', 'ac-me.example.org'), "default\n", 'regex not matching: default server');
is(body('/', 'unknown.test'), "default\n", 'unknown host: first server is the default');
is(body('/', 'sub.example.com'), "wild1\n", '*.sub.example.com does not match sub.example.com');
is(body('/', 'WWW.Example.COM'), "exact example.com\n", 'Host is lowercased');
is(body('/', 'example.com.'), "exact example.com\n", 'one trailing dot is removed');
is(body('/', 'example.com:8080'), "exact example.com\n", 'the port is removed');
is(body('/', 'Example.COM.:80'), "exact example.com\n", 'upper case, trailing dot and port');

{
    my ($s, $h, $b) = http_parse(http_raw($port,
        "GET http://foo.example.com/x HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n"));
    is($b, "wild1\n", 'absolute-form target overrides Host');

    ($s, $h, $b) = http_parse(http_raw($port, "GET / HTTP/1.0\r\n\r\n"));
    is($s, 200, 'HTTP/1.0 without Host: 200');
    is($b, "default\n", 'HTTP/1.0 without Host: default server');

    ($s, $h, $b) = http_parse(http_raw($p->port(2), "GET / HTTP/1.0\r\n\r\n"));
    is($b, "second\n", 'default = true on a later server');
    ($s, $h, $b) = http_parse(http_get($p->port(2), '/', Host => 'a.test'));
    is($b, "first\n", 'default = true: named servers still selected by Host');
    ($s, $h, $b) = http_parse(http_get($p->port(2), '/', Host => 'nope.test'));
    is($b, "second\n", 'default = true: unknown Host');
}

# ---- route selection --------------------------------------------------------------------------

my $R = 'routes.test';
is(body('/exact', $R), "exact\n", 'path');
is((get('/exact/', $R))[0], 404, 'path is exact');
is(body('/pre/x/y', $R), "prefix /pre/x/y\n", 'path_prefix');
is((get('/pre', $R))[0], 404, 'path_prefix /pre/ does not match /pre');
is(body('/u/42', $R), "user 42\n", 'path_regex with $1');
is((get('/u/abc', $R))[0], 404, 'path_regex not matching: 404');
is(body('/m', $R), "get\n", 'methods GET');
{
    my ($s, $h, $b) = http_parse(http_head($port, '/m', Host => $R));
    is($s, 200, 'methods GET implies HEAD');
    is($h->{'content-length'}, 4, 'HEAD: Content-Length of the GET');
    is($b, '', 'HEAD: no body');

    ($s, $h, $b) = http_parse(http_raw($port, http_request('POST', '/m', Host => $R,
                                                           Connection => 'close', body => 'x')));
    is($b, "post-or-delete\n", 'methods POST');
    ($s, $h, $b) = http_parse(http_raw($port, http_request('DELETE', '/m', Host => $R,
                                                           Connection => 'close')));
    is($b, "post-or-delete\n", 'methods DELETE');
    ($s) = http_parse(http_raw($port, http_request('PUT', '/m', Host => $R,
                                                   Connection => 'close', body => 'x')));
    is($s, 404, 'no method matches: 404');
}
is(body('/h', $R, 'X-Canary' => '1'), "canary\n", 'header condition');
is(body('/h', $R, 'x-canary' => '1'), "canary\n", 'header name is case-insensitive');
is(body('/h', $R, 'X-Canary' => '2'), "plain\n", 'header value is exact');
is(body('/h', $R), "plain\n", 'header absent');
is((get('/nothing', $R))[0], 404, 'no route: 404');

# ---- normalisation ------------------------------------------------------------------------

is(body('/a/./b', $R), "ab\n", '/a/./b matches /a/b');
is(body('/a/x/../b', $R), "ab\n", '/a/x/../b matches /a/b');
is(body('//a', $R), "a\n", '//a matches /a');
is(body('/a//b', $R), "ab\n", '/a//b matches /a/b');
is(body('/%61', $R), "a\n", '/%61 matches /a');
is(body('/%61/%62', $R), "ab\n", '/%61/%62 matches /a/b');
is(body('/pre/%7Euser', $R), "prefix /pre/~user\n", '%7E decoded (unreserved) in $uri');
is(body('/pre/a%20b', $R), "prefix /pre/a%20b\n", '%20 stays encoded in $uri');

# ---- variables ------------------------------------------------------------------------------

is(body('/vars?x=1&y=2', 'Routes.TEST:8080', 'User-Agent' => 'tester/1.0',
       Cookie => 'b=2; a=xyz'),
   "host=routes.test uri=/vars args=x=1&y=2 x=1 none=[] ua=tester/1.0 c=xyz m=GET "
   . "ru=/vars?x=1&y=2 sn=routes.test ra=127.0.0.1 s=http\n", 'variables in a return body');
is(body('/./vars?x=%41', $R), "host=routes.test uri=/vars args=x=%41 x=%41 none=[] ua= c= m=GET "
   . "ru=/./vars?x=%41 sn=routes.test ra=127.0.0.1 s=http\n",
   'variables: raw args, absent values empty, $request_uri as sent');
is(body('/braces', $R), "GETx\n", '${name} syntax');

{
    my ($s, $h, $b) = get('/redir', $R);
    is($s, 301, 'return 301');
    is($h->{location}, 'https://example.net/new', 'return 301: Location');
    ($s, $h, $b) = get('/redir2?x=7', $R);
    is($s, 302, 'return 302');
    is($h->{location}, '/local?x=7', 'return 302: Location with a variable');
    ($s, $h, $b) = get('/created', $R);
    is($s, 201, 'return 201');
    is($b, "made\n", 'return 201: body');
    is($h->{'content-length'}, 5, 'return 201: Content-Length');
}

# ---- -t warns about a shadowed route ---------------------------------------------------------

{
    $p->write_conf(<<'EOF', 'conf/shadow.conf');
servers = ( {
  listen = ["127.0.0.1:%%PORT3%%"];
  routes = (
    { match = { path_prefix = "/"; }; return = { status = 200; }; },
    { match = { path = "/never"; }; return = { status = 204; }; }
  );
} );
EOF
    my $file = $p->prefix . '/conf/shadow.conf';
    my $line = $p->line_of(qr{"/never"}, 'conf/shadow.conf');
    my ($rc, $out) = $p->run_t('-t', '-c', $file);
    is($rc, 0, 'shadowed route: -t still succeeds') or diag($out);
    like($out, qr/^\Q$file\E:$line: warning: /m, 'shadowed route: warning at its FILE:LINE');

    $p->write_conf(<<'EOF', 'conf/shadow2.conf');
servers = ( {
  listen = ["127.0.0.1:%%PORT3%%"];
  routes = (
    { match = { path_prefix = "/api/"; }; return = { status = 200; }; },
    { match = { path_prefix = "/api/v2/"; }; return = { status = 204; }; },
    { match = { path = "/other"; }; return = { status = 204; }; }
  );
} );
EOF
    $file = $p->prefix . '/conf/shadow2.conf';
    $line = $p->line_of(qr{"/api/v2/"}, 'conf/shadow2.conf');
    ($rc, $out) = $p->run_t('-t', '-c', $file);
    is($rc, 0, 'shadowed prefix route: -t succeeds') or diag($out);
    like($out, qr/^\Q$file\E:$line: warning: /m, 'shadowed prefix route: warning');
    my $other = $p->line_of(qr{"/other"}, 'conf/shadow2.conf');
    unlike($out, qr/^\Q$file\E:$other: warning: /m, 'no warning for a reachable route');

    my ($rc2, $out2) = $p->run_t('-t');
    unlike($out2, qr/warning/, 'no shadowing warning for the main configuration');
}

# ---- a reload logs configuration warnings at [warn], not [error] -----------------------------

{
    my $w = Portico->new(conf => <<'EOF');
servers = ( { listen = ["127.0.0.1:%%PORT1%%"];
              routes = ( { match = { path_prefix = "/"; }; return = { status = 200; }; } ); } );
EOF
    $w->write_conf(<<'EOF');
servers = ( {
  listen = ["127.0.0.1:%%PORT1%%"];
  routes = (
    { match = { path_prefix = "/"; }; return = { status = 200; }; },
    { match = { path = "/never"; }; return = { status = 204; }; }
  );
} );
EOF
    my $file = $w->conf_file;
    my $line = $w->line_of(qr{"/never"});
    $w->signal('HUP');
    ok($w->wait_for(sub { ($w->error_log // '') =~ /warning: .*route can never match/ }, 15),
       'reload with a warning: the warning is logged');
    like($w->error_log, qr/ \[warn\] \d+#\d+: \Q$file\E:$line: warning: .*route can never match/,
         'reload: the warning is logged at [warn] with its FILE:LINE');
    unlike($w->error_log, qr/\[error\].*warning:/, 'reload: no warning logged at [error]');
    $w->stop;
}

# ---- named captures (server name regex and path_regex) ----------------------------------------

SKIP: {
    my $q = eval { Portico->new(conf => <<'EOF') };
servers = (
  { listen = ["127.0.0.1:%%PORT1%%"]; names = ["default.test"];
    routes = ( { match = { path_regex = "^/named/(?<word>[a-z]+)$"; }; return = { status = 200; body = "word=$word\n"; }; } ); },
  { listen = ["127.0.0.1:%%PORT1%%"]; names = ["~^(?<tenant>[a-z]+)\\.example\\.org$"];
    routes = ( { match = { path_prefix = "/"; }; return = { status = 200; body = "tenant=$tenant\n"; }; } ); }
);
EOF
    ok($q, 'named captures as variables: configuration accepted') or diag($@);
    skip('named captures not accepted', 2) unless $q;
    my ($s, $h, $b) = http_parse(http_get($q->port(1), '/', Host => 'acme.example.org'));
    is($b, "tenant=acme\n", 'regex server name with a named capture in a return body');
    ($s, $h, $b) = http_parse(http_get($q->port(1), '/named/hello', Host => 'default.test'));
    is($b, "word=hello\n", 'path_regex named capture in a return body');
    $q->stop;
}

# ---- IPv6 loopback listener --------------------------------------------------------------------

SKIP: {
    skip('no IPv6 loopback', 4) unless have_ipv6();
    my $q = Portico->new(conf => <<'EOF');
servers = ( {
  listen = ["[::1]:%%PORT1%%", "127.0.0.1:%%PORT2%%"];
  routes = ( { match = { path_prefix = "/"; }; return = { status = 200; body = "ra=$remote_addr\n"; }; } );
} );
EOF
    my ($s, $h, $b) = http_parse(http_get($q->port(1), '/', -host => '::1'));
    is($s, 200, '[::1] listener: 200');
    is($b, "ra=::1\n", '[::1] listener: $remote_addr is ::1');
    ($s, $h, $b) = http_parse(http_get($q->port(1), '/', -host => '::1', Host => '[::1]:80'));
    is($s, 200, 'Host: [::1]:80 accepted');
    ($s, $h, $b) = http_parse(http_get($q->port(2), '/'));
    is($b, "ra=127.0.0.1\n", 'IPv4 listener of the same server');
    $q->stop;
}

done_testing();
