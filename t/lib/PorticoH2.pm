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
# Only the loopback addresses the tests give are used.

use strict;
use warnings;

use Exporter qw(import);
use File::Temp qw(tempdir);
use Portico ();

our @EXPORT = qw(h2_curl h2_nghttp h2_cert h2_tmpdir h2_have_tools);

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

1;
