#!/usr/bin/perl
# conf_messages.t: configuration mistakes that used to pass or to say too little.
#   - A server name given twice on one listening address (exact names and wildcards without
#     case, regexes as written) is an error naming both places, also across included files;
#     the same name on different addresses is fine; a name listed twice in one server is
#     reported once.
#   - libconfig syntax errors show the offending line and what was probably meant: an
#     nginx-style `name value;` line or `name { ... }` block, an unquoted string, a missing
#     `,` between list elements, a missing or extra closing bracket, an unclosed string;
#     the same for -g.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Portico;

skip_unless_module('return');

my $p = Portico->new(start => 0);
my $f = $p->conf_file;
my $prefix = $p->prefix;
my $route = 'routes = ( { match = { path_prefix = "/"; }; return = { status = 200; }; } );';

# ---- duplicate server names ------------------------------------------------------------------

$p->write_conf(<<"EOF");
servers = (
  { listen = ["127.0.0.1:%%PORT1%%"];
    names = ["a.test", "*.w.test", "~^x\\\\.test\$", "~^y\$"];
    $route },
  { listen = ["127.0.0.1:%%PORT1%%", "127.0.0.1:%%PORT2%%"];
    names = ["A.Test", "*.W.TEST", "~^x\\\\.test\$", "~^Y\$", "c.test", "C.test"];
    $route },
  { listen = ["127.0.0.1:%%PORT2%%"];
    names = ["a.test"];
    $route }
);
EOF
my ($rc, $out) = $p->run_t('-t');
is($rc, 1, 'duplicate server names: exit 1');
my $l1 = $p->line_of(qr/names = \["a\.test", "\*\.w/);
my $l2 = $p->line_of(qr/names = \["A\.Test"/);
my $l3 = $p->line_of(qr/names = \["a\.test"\];/);
my ($a1, $a2) = ('127.0.0.1:' . $p->port(1), '127.0.0.1:' . $p->port(2));
like($out, qr/^\Q$f\E:$l2: servers\[1\]\.names: duplicate server name "A\.Test" on \Q$a1\E: already given by the server at \Q$f\E:$l1$/m,
     'an exact name, another case: both places');
like($out, qr/^\Q$f\E:$l2: servers\[1\]\.names: duplicate server name "\*\.W\.TEST" on \Q$a1\E: already given by the server at \Q$f\E:$l1$/m,
     'a wildcard name: both places');
like($out, qr/^\Q$f\E:$l2: servers\[1\]\.names: duplicate server name "~\^x\\\.test\$" on \Q$a1\E: already given by the server at \Q$f\E:$l1$/m,
     'a regex written the same: both places');
unlike($out, qr/"~\^Y\$"/, 'regexes are compared as written: ~^y$ and ~^Y$ differ');
like($out, qr/^\Q$f\E:$l3: servers\[2\]\.names: duplicate server name "a\.test" on \Q$a2\E: already given by the server at \Q$f\E:$l2$/m,
     'the second address of a server has its own table');
is(scalar(() = $out =~ /"C\.test" is listed twice/g), 1,
   'a name listed twice in one server: reported once for its two addresses');
like($out, qr/^\Q$f\E:$l2: servers\[1\]\.names: server name "C\.test" is listed twice$/m,
     'listed twice: its FILE:LINE');
is(scalar(() = $out =~ /duplicate server name/g), 4, 'no other duplicate reported');

# the same name on two addresses is ordinary
$p->write_conf(<<"EOF");
servers = (
  { listen = ["127.0.0.1:%%PORT1%%"]; names = ["a.test"]; $route },
  { listen = ["127.0.0.1:%%PORT2%%"]; names = ["a.test"]; $route }
);
EOF
($rc, $out) = $p->run_t('-t');
is($rc, 0, 'the same name on different addresses is fine') or diag($out);

# across an included file: both files named
$p->write_conf(<<"EOF", 'conf/sites/b.conf');
servers = (
  { listen = ["127.0.0.1:%%PORT1%%"];
    names = ["www.a.test"]; $route }
);
EOF
$p->write_conf(<<"EOF");
include = "conf/sites/*.conf";
servers = ( { listen = ["127.0.0.1:%%PORT1%%"]; names = ["www.a.test"]; $route } );
EOF
($rc, $out) = $p->run_t('-t');
is($rc, 1, 'a name also used in an included file: exit 1');
$l1 = $p->line_of(qr/names = \["www/);
like($out, qr/^\Q$prefix\E\/conf\/sites\/b\.conf:3: servers\[1\]\.names: duplicate server name "www\.a\.test" on \Q$a1\E: already given by the server at \Q$f\E:$l1$/m,
     'across files: the included FILE:LINE and the main FILE:LINE');

# ---- syntax errors: the line and a hint ----------------------------------------------------------

my @cases = (
    [ "servers = ( {\n  listen 80;\n} );\n", 2,
      'syntax error in `listen 80;`: libconfig settings are written `name = value;` (did you mean `listen = 80;`?)' ],
    [ "http {\n  server_tokens = true;\n};\n", 1,
      'syntax error in `http {`: libconfig groups are written `http = { ... };`' ],
    [ "worker_processes auto;\n", 1,
      'syntax error in `worker_processes auto;`: libconfig settings are written `name = value;` (did you mean `worker_processes = "auto";`?)' ],
    [ "error_log = { level = notice; };\n", 1,
      'syntax error in `error_log = { level = notice; };`: strings are written in double quotes (did you mean `level = "notice";`?)' ],
    [ "servers = (\n  { a = 1; }\n  { b = 2; }\n);\n", 3,
      'syntax error in `{ b = 2; }`: missing `,` at the end of line 2 (the elements of a list are separated by commas)' ],
    [ "servers = ( { listen = [\"x\"];\n  routes = ();\n);\n", 3,
      'syntax error in `);`: `)` where the `{` opened at line 1 is still open: missing `}`' ],
    [ "servers = ( { listen = [\"x\"];\n  routes = ();\n", 3,
      'syntax error at the end of the file: missing `}`: the `{` opened at line 1 is not closed' ],
    [ "http = { server_tokens = true; };\n};\n", 2,
      'syntax error in `};`: `}` closes nothing: one `}` too many, or one `{` missing before it' ],
    [ "pid = \"logs/x.pid;\nuser = \"nobody\";\n", 3,
      'syntax error at the end of the file: a `"` is probably missing on line 1 (the string opened there ends on line 2)' ],
    [ "http = { names = [\"a\", \"b\", ]; };\n", 1,
      'syntax error in `http = { names = ["a", "b", ]; };`: a `,` after the last element of an array is not allowed' ],
);
for my $c (@cases) {
    my ($text, $line, $msg) = @$c;
    # no default lines: the line numbers are those of the text
    write_file($f, $text);
    ($rc, $out) = $p->run_t('-t');
    is($rc, 1, "syntax error (line $line): exit 1");
    my ($first) = split /\n/, $out;
    is($first, "$f:$line: $msg", "syntax error: $msg");
}

# in a file pasted with libconfig's @include: that file's path (joined to the directory of
# the main file) and the hint
write_file("$prefix/conf/inc/part.conf", "http = {\n  server_tokens true;\n};\n");
write_file($f, "\@include \"inc/part.conf\"\n");
($rc, $out) = $p->run_t('-t');
like($out, qr/^\Q$prefix\E\/conf\/inc\/part\.conf:2: syntax error in `server_tokens true;`: libconfig settings are written `name = value;` \(did you mean `server_tokens = true;`\?\)$/m,
     '@include: the pasted file, its line and the hint');

# a long line is cut
write_file($f, "names " . ('x' x 100) . ";\n");
($rc, $out) = $p->run_t('-t');
like($out, qr/^\Q$f\E:1: syntax error in `names x{54}\.\.\.`: /m, 'a long line is shown cut to 60 bytes');

# -g
$p->write_conf("servers = ( { listen = [\"127.0.0.1:%%PORT1%%\"]; $route } );\n");
($rc, $out) = $p->run_t('-t', '-g', 'daemon off;');
is($rc, 1, '-g syntax error: exit 1');
like($out, qr/^-g:1: syntax error in `daemon off;`: libconfig settings are written `name = value;` \(did you mean `daemon = "off";`\?\)$/m,
     '-g syntax error: the text and the hint');

done_testing();
