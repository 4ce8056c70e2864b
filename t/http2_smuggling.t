#!/usr/bin/perl
# http2_smuggling.t: the HTTP/2 -> HTTP/1.1 downgrade smuggling vectors of RFC 9113 §8,
# driven by t/lib/h2client.py (through PorticoH2Frames.pm): each malformed head is reset with
# PROTOCOL_ERROR, the connection goes on, and nothing reaches the backend; content-length
# disagreeing with the DATA is reset too, and no byte past it ever goes upstream (a recording
# backend keeps what it got); what is allowed goes through as it should (te: trailers, cookie
# crumbs, a body without content-length forwarded chunked).

use strict;
use warnings;
use Test::More;
use JSON::PP ();
use Time::HiRes qw(sleep time);
use lib 't/lib';
use Portico;
use PorticoBackend;
use PorticoH2Frames;

skip_unless_module('http2', 'proxy', 'return');
h2_skip_unless_client();

my $p = Portico->new(start => 0);
my $be = PorticoBackend->new(port => $p->port(2), id => 'a');
my $recdir = $p->prefix . '/rec';
my $rec = PorticoBackend->recorder(port => $p->port(3), dir => $recdir);
$p->write_conf(<<'EOF');
http = { client_max_body_size = "10m"; };
upstreams = ( { name = "app"; servers = ( { address = "127.0.0.1:%%PORT2%%"; } ); },
              { name = "rec"; servers = ( { address = "127.0.0.1:%%PORT3%%"; } ); } );
servers = ( {
  listen = ( { address = "127.0.0.1:%%PORT1%%"; http2 = true; } );
  routes = (
    { match = { path_prefix = "/rec/"; }; proxy = { upstream = "rec"; strip_prefix = true; }; },
    { match = { path_prefix = "/"; }; proxy = { upstream = "app"; }; }
  );
} );
EOF
$p->start;
my $port = $p->port(1);

# --- the smuggling vectors in the head: each malformed (RFC 9113 §8.2, §8.3), reset with
# PROTOCOL_ERROR, the connection goes on, and nothing reaches the backend.
{
    $be->reset;
    my $g = sub { my ($name, @extra) = @_; return [ @{ h2_fields("/echo?v=$name") }, @extra ]; };
    my $post = sub { return [ @{ h2_fields("/echo?v=$_[0]", 'POST') } ]; };
    my @vectors = (
        ['transfer-encoding: chunked', { headers => $g->('te-chunked',
                                                         ['transfer-encoding', 'chunked']) }],
        ['connection', { headers => $g->('connection', ['connection', 'close']) }],
        ['keep-alive', { headers => $g->('keep-alive', ['keep-alive', 'timeout=5']) }],
        ['proxy-connection', { headers => $g->('proxy-connection',
                                               ['proxy-connection', 'keep-alive']) }],
        ['upgrade', { headers => $g->('upgrade', ['upgrade', 'websocket']) }],
        ['te: gzip', { headers => $g->('te-gzip', ['te', 'gzip']) }],
        ['te: trailers, gzip', { headers => $g->('te-list', ['te', 'trailers, gzip']) }],
        ['CR in a value', { headers => $g->('cr', ['x-a', "a\rb"]) }],
        ['LF in a value', { headers => $g->('lf', ['x-a', "a\nX-Injected: 1"]) }],
        ['NUL in a value', { headers => $g->('nul', ['x-a', "a\0b"]) }],
        ['CRLF in :path', { headers => [ [':method', 'GET'], [':scheme', 'http'],
                                         [':authority', 'localhost'],
                                         [':path', "/echo?v=crlf-path HTTP/1.1\r\nX-I: 1"] ] }],
        ['uppercase in a name', { headers => $g->('upper', ['X-Upper', '1']) }],
        ['space in a name', { headers => $g->('space', ['x a', '1']) }],
        ['colon in a name', { headers => $g->('colon', ['x:a', '1']) }],
        ['duplicated :path', { headers => $g->('dup-path', [':path', '/echo?v=dup-path2']) }],
        ['duplicated :method', { headers => [ [':method', 'GET'], [':method', 'POST'],
                                              [':scheme', 'http'], [':authority', 'localhost'],
                                              [':path', '/echo?v=dup-method'] ] }],
        ['no :scheme', { headers => [ [':method', 'GET'], [':authority', 'localhost'],
                                      [':path', '/echo?v=no-scheme'] ] }],
        ['no :path', { headers => [ [':method', 'GET'], [':scheme', 'http'],
                                    [':authority', 'localhost'] ] }],
        ['no :method', { headers => [ [':scheme', 'http'], [':authority', 'localhost'],
                                      [':path', '/echo?v=no-method'] ] }],
        ['pseudo-header after a regular one', { headers => [
            [':method', 'GET'], [':scheme', 'http'], ['x-a', '1'], [':authority', 'localhost'],
            [':path', '/echo?v=pseudo-after'] ] }],
        ['unknown pseudo-header', { headers => $g->('unknown-pseudo', [':foo', '1']) }],
        [':status in a request', { headers => $g->('status-pseudo', [':status', '200']) }],
        [':path not starting with /', { headers => [ [':method', 'GET'], [':scheme', 'http'],
                                                     [':authority', 'localhost'],
                                                     [':path', 'echo?v=no-slash'] ] }],
        [':path absolute', { headers => [ [':method', 'GET'], [':scheme', 'http'],
                                          [':authority', 'localhost'],
                                          [':path', 'http://localhost/echo?v=absolute'] ] }],
        ['host disagreeing with :authority', { headers => $g->('host', ['host', 'evil']) }],
        ['two content-lengths that disagree', { headers => $g->('two-cl',
            ['content-length', '0'], ['content-length', '5']) }],
        ['content-length 5 and END_STREAM on HEADERS', { headers => $g->('cl-no-data'),
                                                         content_length => 5 }],
        ['content-length not a number', { headers => $g->('cl-nan', ['content-length',
                                                                     '5, 5']) }],
        ['empty :path', { headers => [ [':method', 'GET'], [':scheme', 'http'],
                                       [':authority', 'localhost'], [':path', ''] ] }],
        ['userinfo in :authority', { headers => [ [':method', 'GET'], [':scheme', 'http'],
                                                  [':authority', 'user@localhost'],
                                                  [':path', '/echo?v=userinfo'] ] }],
        ['space in :method', { headers => [ [':method', 'GET /x'], [':scheme', 'http'],
                                            [':authority', 'localhost'],
                                            [':path', '/echo?v=method-space'] ] }],
    );
    my $r = h2($p, $port, 'cases', { cases => [ map { [ $_->[1] ] } @vectors ] }, 60);
    my @res = @{ $r->{cases} || [] };
    is(scalar @res, scalar @vectors, 'smuggling: every vector ran');
    for my $i (0 .. $#vectors) {
        my ($name) = @{ $vectors[$i] };
        my $x = $res[$i][0] || {};
        ok(!defined $x->{status} && defined $x->{rst} && $x->{rst} == $H2_ERR{PROTOCOL_ERROR}
           && !defined $x->{goaway} && !defined $x->{closed},
           "smuggling: $name: RST_STREAM PROTOCOL_ERROR, no response, connection open")
            or diag(JSON::PP->new->canonical->encode($x));
    }
    is_deeply($be->requests_log, [], 'smuggling: nothing reached the backend')
        or diag(explain($be->requests_log));

}

# --- content-length disagreeing with the DATA (RFC 9113 §8.1.1): the stream is reset with
# PROTOCOL_ERROR when the DATA shows it. Bodies are streamed, so by then the head may have
# gone upstream (with a kept-alive upstream connection, even when HEADERS and DATA come in one
# write); what must hold is that no byte past content-length goes, the upstream never gets a
# request whose body is short of it, and the client's next "request" never goes at all. A
# recording backend keeps exactly the bytes it received.
{
    my @cl;
    for my $same (1, 0) {
        my $w = $same ? JSON::PP::true : JSON::PP::false;
        push @cl, [ { headers => h2_fields("/rec/cl-more-$same", 'POST'), content_length => 5,
                      data => ['0123456789'], same_write => $w } ],
                  [ { headers => h2_fields("/rec/cl-less-$same", 'POST'), content_length => 10,
                      data => ['01234'], same_write => $w } ],
                  [ { headers => h2_fields("/rec/cl-zero-$same", 'POST'), content_length => 0,
                      data => ["GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"],
                      same_write => $w } ];
    }
    my $r = h2($p, $port, 'cases', { cases => \@cl }, 60);
    my @res = map { $_->[0] } @{ $r->{cases} || [] };
    is(scalar @res, 6, 'content-length: every case ran');
    for my $i (0 .. 5) {
        my $x = $res[$i] || {};
        my ($name) = $cl[$i][0]{headers}[3][1] =~ m{/rec/(\S+)};
        if ($name =~ /zero/) {
            # the head said the request is whole: it may be answered before the DATA comes
            ok(($x->{status} // 0) == 200
               || (!defined $x->{status} && ($x->{rst} // -1) == $H2_ERR{PROTOCOL_ERROR}),
               "content-length: $name: answered as a whole request, or reset");
        } else {
            ok(!defined $x->{status} && ($x->{rst} // -1) == $H2_ERR{PROTOCOL_ERROR},
               "content-length: $name: RST_STREAM PROTOCOL_ERROR, no response")
                or diag(JSON::PP->new->canonical->encode($x));
        }
        ok(!defined $x->{goaway} && !defined $x->{closed}, "content-length: $name: the "
           . 'connection goes on');
    }
    wait_until(sub { scalar(() = recorded($recdir)) >= 2 }, 5);
    sleep 0.5;
    my @got = recorded($recdir);
    my %body;
    for my $conn (@got) {
        my ($path, $head, $rest) = $conn =~ m{^POST /(\S+) HTTP/1\.1\r\n(.*?)\r\n\r\n(.*)\z}s
            or next;
        $body{$path} = $rest;
        like($head, qr/^Content-Length: (5|10|0)\r?$/m,
             "content-length: $path: the declared length went upstream");
    }
    ok(!grep({ /smuggled|56789/ } @got), 'content-length: no byte past it went upstream')
        or diag(explain(\@got));
    for my $same (1, 0) {
        ok(($body{"cl-more-$same"} // '') =~ /^(|01234)$/,
           "content-length: cl-more-$same: at most the declared bytes went upstream");
        ok(($body{"cl-less-$same"} // '') =~ /^(|01234)$/,
           "content-length: cl-less-$same: never a whole request upstream");
        is($body{"cl-zero-$same"} // '', '', "content-length: cl-zero-$same: an empty body");
    }

    # the upstream connection that carried a short body is not used again
    $be->reset;
    $r = h2($p, $port, 'cases', { cases => [
        [ { headers => h2_fields('/echo?v=short', 'POST'), content_length => 10,
            data => ['01234'], same_write => JSON::PP::false } ],
        [ { headers => h2_fields('/echo?v=next') } ] ] });
    is($r->{cases}[0][0]{rst}, $H2_ERR{PROTOCOL_ERROR},
       'short body to a kept-alive upstream: reset');
    is($r->{cases}[1][0]{status}, 200, 'short body: the next request: 200');
    like($r->{cases}[1][0]{body}, qr{"path": "/echo\?v=next"}, 'short body: ... its own answer');
}

# --- what is allowed goes through: te: trailers (dropped by the proxy as for HTTP/1.1),
# cookie crumbs joined with "; ", a body without content-length (DATA, then END_STREAM)
# forwarded chunked with the exact bytes, a request with content-length and its DATA.
{
    $be->reset;
    my $r = h2($p, $port, 'cases', { cases => [[
        { headers => [ @{ h2_fields('/echo?v=te') }, ['te', 'trailers'] ] },
        { headers => [ @{ h2_fields('/echo?v=cookie') }, ['cookie', 'a=1'], ['x-b', '2'],
                       ['cookie', 'b=2'], ['cookie', 'c=3'] ] },
        { headers => h2_fields('/echo?v=chunked', 'POST'), body_n => 300000 },
        { headers => h2_fields('/echo?v=cl', 'POST'), content_length => 10,
          data => ['01234', '56789'] },
    ]] }, 60);
    my ($te, $cookie, $chunked, $cl) = @{ $r->{cases}[0] || [] };

    is($te->{status}, 200, 'te: trailers: 200');
    my ($h) = h2_echo_headers($te->{body});
    ok(!exists $h->{te}, 'te: trailers: not forwarded (hop-by-hop)');
    my ($s1, $h1, $b1) = http_parse(http_get($port, '/echo?v=te11', TE => 'trailers'));
    my ($h11) = h2_echo_headers($b1);
    is(exists $h11->{te}, exists $h->{te}, 'te: trailers: as over HTTP/1.1');

    is($cookie->{status}, 200, 'cookie crumbs: 200');
    ($h) = h2_echo_headers($cookie->{body});
    is_deeply($h->{cookie}, ['a=1; b=2; c=3'], 'cookie crumbs: one field, joined with "; "');
    is_deeply($h->{'x-b'}, ['2'], 'cookie crumbs: the field between them kept');

    is($chunked->{status}, 200, 'body without content-length: 200');
    my $e;
    ($h, $e) = h2_echo_headers($chunked->{body});
    is_deeply($h->{'transfer-encoding'}, ['chunked'], 'body without content-length: chunked');
    ok(!exists $h->{'content-length'}, 'body without content-length: no content-length');
    is($e->{body_length}, 300000, 'body without content-length: every byte');
    is($e->{body_sha256}, $chunked->{sent_sha256}, 'body without content-length: the bytes');

    is($cl->{status}, 200, 'body with content-length: 200');
    ($h, $e) = h2_echo_headers($cl->{body});
    is_deeply($h->{'content-length'}, ['10'], 'body with content-length: forwarded');
    is($e->{body_length}, 10, 'body with content-length: 10 bytes');
    is_deeply([ map { $_->[1] } @{ $be->requests_log || [] } ],
              [ '/echo?v=te', '/echo?v=cookie', '/echo?v=chunked', '/echo?v=cl',
                '/echo?v=te11' ], 'allowed: each request reached the backend once');
}

done_testing();
