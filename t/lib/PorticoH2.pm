package PorticoH2;

# PorticoH2.pm: HTTP/2 clients for the black-box tests, wrapping curl and nghttp (each run
# bounded by Portico::run_cmd's 20 s).
#
#   use PorticoH2;
#   my $r = h2_curl("http://127.0.0.1:$port/x", '--http2-prior-knowledge');
#   $r->{version}   # curl's %{http_version}: "2", "1.1"
#   $r->{status}, $r->{headers} ({lowercased name => value, repeats joined with ", "}),
#   $r->{names} (the header names exactly as received), $r->{body}, $r->{rc}, $r->{err},
#   $r->{connects} (%{num_connects})
#   my $n = h2_nghttp(['-s'], "http://127.0.0.1:$port/a", ...);   # {rc, out, err}
#   my $dir = h2_cert('a.test');      # $dir/a.test.crt + .key, self-signed, made once
#
#   h2_resp_ok($r, 200, "body\n", 'name');   # status, protocol, lowercase names, body
#   my $x = h2_python('h2_request.py', @args);  # runs t/lib/SCRIPT with /usr/bin/python3:
#                                               # its JSON output decoded, or undef
#
# Only the loopback addresses the tests give are used.

use strict;
use warnings;

use Exporter qw(import);
use File::Temp qw(tempdir);
use Digest::MD5 ();
use JSON::PP ();
use Portico ();
use Test::More ();

our @EXPORT = qw(h2_curl h2_nghttp h2_cert h2_tmpdir h2_have_tools h2_resp_ok h2_python);

my $TMP;

sub h2_tmpdir
{
    $TMP = tempdir('portico-h2-XXXXXX', DIR => '/tmp', CLEANUP => 1) unless defined $TMP;
    return $TMP;
}

# True when curl speaks HTTP/2 and nghttp is installed.
sub h2_have_tools
{
    my ($rc, $out) = Portico::run_cmd('curl', '--version');
    return 0 unless $rc == 0 && $out =~ /^Features:.*\bHTTP2\b/m;
    ($rc) = Portico::run_cmd('nghttp', '--version');
    return $rc == 0;
}

# The response headers curl dumped (-D): the last head (interim ones skipped).
sub _parse_head
{
    my ($text) = @_;
    my @heads = grep { /\S/ } split /\r?\n\r?\n/, $text;
    my $head = @heads ? $heads[-1] : '';
    my @lines = split /\r?\n/, $head;
    shift @lines;                      # the status line
    my (%h, @names);
    for my $l (@lines) {
        my ($n, $v) = $l =~ /^([^:]+):[ \t]*(.*?)[ \t]*$/ or next;
        push @names, $n;
        $n = lc $n;
        $h{$n} = exists $h{$n} ? "$h{$n}, $v" : $v;
    }
    return (\%h, \@names);
}

# h2_curl(URL, CURL ARGS...): one request; the body goes to a file and is read back raw.
sub h2_curl
{
    my ($url, @args) = @_;
    my $d = h2_tmpdir();
    my $n = ++$PorticoH2::N;
    my ($hf, $bf) = ("$d/h$n", "$d/b$n");
    unlink $hf, $bf;
    my ($rc, $out, $err) = Portico::run_cmd(
        'curl', '-sS', '--max-time', '15', '-D', $hf, '-o', $bf,
        '-w', '%{http_version} %{http_code} %{num_connects} %{time_total}', @args, $url);
    my ($version, $status, $connects, $time) = split / /, $out;
    my ($h, $names) = _parse_head(Portico::read_file($hf) // '');
    my $r = { rc => $rc, err => $err, version => $version, status => $status,
              connects => $connects, time => $time, headers => $h, names => $names,
              body => Portico::read_file($bf) // '' };
    unlink $hf, $bf;
    return $r;
}

# h2_nghttp(\@args, URL...): runs nghttp; {rc, out (the bodies, or -s statistics), err}.
sub h2_nghttp
{
    my ($args, @urls) = @_;
    my ($rc, $out, $err) = Portico::run_cmd('nghttp', @$args, @urls);
    return { rc => $rc, out => $out, err => $err };
}

# A self-signed certificate for $cn (subjectAltName DNS:$cn) in h2_tmpdir(), made once;
# returns the directory ($dir/$cn.crt, $dir/$cn.key).
sub h2_cert
{
    my ($cn) = @_;
    my $d = h2_tmpdir();
    unless (-f "$d/$cn.crt") {
        my ($rc, $out, $err) = Portico::run_cmd(
            'openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt',
            'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', "$d/$cn.key", '-out',
            "$d/$cn.crt", '-days', '30', '-subj', "/CN=$cn", '-addext',
            "subjectAltName=DNS:$cn");
        die "openssl req for $cn failed: $err" unless $rc == 0;
    }
    return $d;
}

# h2_resp_ok($r, STATUS, BODY or undef, NAME, VERSION = '2'): the tests of one h2_curl
# result: protocol, status, every header name lowercase, no connection-specific header, the
# body (compared by length and MD5 when long).
sub h2_resp_ok
{
    my ($r, $status, $body, $name, $version) = @_;
    $version //= '2';
    Test::More::is($r->{version}, $version, "$name: HTTP/$version") or Test::More::diag($r->{err});
    Test::More::is($r->{status}, $status, "$name: status $status");
    if ($version eq '2') {
        Test::More::is(join(',', grep { /[A-Z]/ } @{ $r->{names} }), '', "$name: header names lowercase");
        Test::More::is(join(',', grep { /^(connection|keep-alive|transfer-encoding|upgrade|proxy-connection)$/ }
                     map { lc } @{ $r->{names} }), '', "$name: no connection-specific header");
    }
    return unless defined $body;
    if (length($body) <= 300) {
        Test::More::is($r->{body}, $body, "$name: body");
    } else {
        Test::More::is(length($r->{body}), length($body), "$name: body length");
        Test::More::is(Digest::MD5::md5_hex($r->{body}), Digest::MD5::md5_hex($body), "$name: body md5");
    }
}

# h2_python(SCRIPT, ARGS...): runs t/lib/SCRIPT (a python3-h2 client) with /usr/bin/python3
# (python3-h2 is a Debian package: the python3 on PATH may lack it); returns its JSON output
# decoded, or undef (with a diagnostic) when it printed none. h2_python() without arguments
# is true when /usr/bin/python3 has the h2 module.
sub h2_python
{
    my ($script, @args) = @_;
    return system('/usr/bin/python3 -c "import h2" 2>/dev/null') == 0 unless defined $script;
    my ($rc, $out, $err) = Portico::run_cmd('/usr/bin/python3', Portico::repo_root() . "/t/lib/$script", @args);
    my $v = eval { JSON::PP->new->decode($out) };
    Test::More::diag("$script @args: exit $rc, $err") unless defined $v;
    return $v;
}

1;
