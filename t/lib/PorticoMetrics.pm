package PorticoMetrics;
# PorticoMetrics.pm: reads a status route's Prometheus text through the strict parser
# t/lib/prom_strict.py (which also checks the format) for the t/metrics_*.t tests.
#
#   my $m = metrics($port, '/metrics');   # { errors => [...], types => {...}, samples => {...} }
#   my $v = mval($m, 'portico_route_requests_total', route => 'api', server => 'x');
#   # mkey() builds the sample key the parser uses: NAME{a="1",b="2"} (labels sorted)
#   my $d = mdelta($m0, $m1, NAME, LABELS...);   # undef when either is missing
use strict;
use warnings;
use Exporter 'import';
use File::Temp qw(tempfile);
use JSON::PP;
use Portico;

our @EXPORT = qw(prom_parse metrics mkey mval mdelta);

sub prom_parse
{
    my ($text) = @_;
    my ($fh, $file) = tempfile(UNLINK => 1);
    binmode $fh;
    print $fh $text;
    close $fh;
    my $py = repo_root() . '/t/lib/prom_strict.py';
    my $out = `python3 \Q$py\E \Q$file\E`;
    unlink $file;
    my $r = eval { decode_json($out) };
    return $r || { errors => ["parser output: $out"], types => {}, samples => {} };
}

# The parsed document, with request_bytes / response_bytes: the sizes of the scrape itself
# on the wire (a later scrape counts it for the status route's server).
sub metrics
{
    my ($port, $path) = @_;
    my $req = http_request('GET', $path || '/metrics', Connection => 'close');
    my $r = http_raw($port, $req, timeout => 10) // '';
    return undef unless $r =~ m{^HTTP/1\.1 200 };
    my $i = index($r, "\r\n\r\n");
    my $m = prom_parse(substr($r, $i + 4));
    $m->{request_bytes} = length $req;
    $m->{response_bytes} = length $r;
    return $m;
}

sub mkey
{
    my ($name, %l) = @_;
    return $name . '{' . join(',', map { "$_=\"$l{$_}\"" } sort keys %l) . '}';
}

sub mval
{
    my ($m, $name, %l) = @_;
    return undef unless $m;
    return $m->{samples}{ mkey($name, %l) };
}

sub mdelta
{
    my ($m0, $m1, $name, %l) = @_;
    my ($a, $b) = (mval($m0, $name, %l), mval($m1, $name, %l));
    return undef unless defined $a && defined $b;
    return $b - $a;
}

1;
