package PorticoCacheBackend;

# PorticoCacheBackend.pm: the scriptable origin of the cache tests (t/lib/cache_backend.py)
# and the small client helpers those tests share.
#
#   use PorticoCacheBackend;
#   my $b = PorticoCacheBackend->new(port => $p->port(2));
#   $b->set('/a', headers => [['Cache-Control', 'max-age=60']], body => "a {n}\n");
#   my $r = creq($p->port(1), 'GET', '/a');       # { status, h, body, xcs, cs, age, raw }
#   is($b->count('/a'), 1);
#   my $seen = $b->requests('/a');               # [ { method, headers => [[n, v]...] } ]
#   $b->stop;  PorticoCacheBackend->new(port => ...) again to bring it back
#
# The backend counts requests per target (path and query as sent); see cache_backend.py for
# every member of a spec. Every wait is bounded.

use strict;
use warnings;

use Carp qw(croak);
use Digest::SHA qw(sha256_hex);
use Exporter qw(import);
use IO::Socket::INET;
use JSON::PP ();
use Time::HiRes qw(time sleep);
use lib do { require File::Basename; File::Basename::dirname(__FILE__) };
use Portico;
use PorticoBackend ();

our @ISA = ('PorticoBackend');
our @EXPORT = qw(creq cget chead async_send async_read prom_text prom_value sha256_hex
                 pattern_bytes);

*pattern_bytes = \&PorticoBackend::pattern_bytes;

sub new
{
    my ($class, %o) = @_;
    return PorticoBackend::new($class, %o, script => 'cache_backend.py',
                               id => defined $o{id} ? $o{id} : 'c');
}

# A control request to the backend: (method, path, JSON body or undef) -> decoded answer.
sub _control
{
    my ($self, $method, $path, $data) = @_;
    my $body = defined $data ? JSON::PP->new->canonical->encode($data) : '';
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $self->{port},
                                  Proto => 'tcp', Timeout => 3)
        or croak "cache backend on port $self->{port}: $!";
    PorticoBackend::write_all($s, "$method $path HTTP/1.1\r\nHost: b\r\nConnection: close\r\n"
                              . "Content-Length: " . length($body) . "\r\n\r\n$body");
    my $raw = '';
    my $deadline = time + 5;
    while (time < $deadline) {
        my $rin = '';
        vec($rin, fileno($s), 1) = 1;
        last unless select(my $rout = $rin, undef, undef, $deadline - time);
        my $n = sysread($s, my $buf, 65536);
        last unless $n;
        $raw .= $buf;
    }
    close $s;
    my $i = index($raw, "\r\n\r\n");
    croak "cache backend: no answer to $path" if $i < 0;
    return JSON::PP->new->decode(substr($raw, $i + 4));
}

# set($target, status => 200, headers => [[n, v]...], body => '...', ...): the answer for
# $target (see cache_backend.py); set($target) alone restores the default answer.
sub set
{
    my ($self, $target, %spec) = @_;
    $self->_control('POST', '/__set', { target => $target, spec => %spec ? \%spec : undef });
    return $self;
}

sub info     { return $_[0]->_control('POST', '/__info', { target => $_[1] }); }
sub count    { return $_[0]->info($_[1])->{count}; }
sub requests { return $_[0]->info($_[1])->{requests}; }
sub reset    { $_[0]->_control('GET', '/__reset'); return $_[0]; }

# The value of header $name (any case) of the $i-th request the backend saw for $target
# (0-based; -1 the last), undef when absent.
sub seen_header
{
    my ($self, $target, $i, $name) = @_;
    my $r = $self->requests($target)->[$i] or return undef;
    my @v = map { $_->[1] } grep { lc $_->[0] eq lc $name } @{ $r->{headers} };
    return @v ? join(', ', @v) : undef;
}

# ---------------------------------------------------------------------------------------------
# client helpers

sub _result
{
    my ($raw) = @_;
    my ($status, $h, $body) = http_parse($raw);
    return { status => $status // 0, h => $h, body => $body, raw => $raw,
             xcs => $h->{'x-cache-status'} // '', cs => $h->{'cache-status'} // '',
             age => $h->{age} };
}

# creq($port, METHOD, $path, headers..., -timeout => S): one request on a fresh connection
# (Connection: close); the parsed answer.
sub creq
{
    my ($port, $method, $path, @h) = @_;
    my (@headers, %o);
    while (@h) {
        my ($k, $v) = splice(@h, 0, 2);
        if ($k =~ /^-(\w+)$/) { $o{$1} = $v; } else { push @headers, $k, $v; }
    }
    my $req = http_request($method, $path, Connection => 'close', @headers);
    my $raw = http_raw($port, $req, timeout => $o{timeout} // 5);
    my $r = _result($raw);
    if ($method eq 'HEAD') {
        # http_parse takes a Content-Length body after a HEAD answer: there must be none
        my $i = index($raw, "\r\n\r\n");
        $r->{body} = $i < 0 ? '' : substr($raw, $i + 4);
    }
    return $r;
}

sub cget  { my ($port, $path, @h) = @_; return creq($port, 'GET', $path, @h); }
sub chead { my ($port, $path, @h) = @_; return creq($port, 'HEAD', $path, @h); }

# A request sent now whose answer is read later with async_read (many can be in flight).
sub async_send
{
    my ($port, $method, $path, @h) = @_;
    my $s = http_connect($port, timeout => 3) or return undef;
    http_send($s, http_request($method, $path, Connection => 'close', @h));
    return { sock => $s, t0 => time };
}

# The parsed answer of an async_send, read until the server closes (at most $timeout s);
# also { elapsed => seconds from the send to the end of the answer }.
sub async_read
{
    my ($a, $timeout) = @_;
    return _result('') unless $a && $a->{sock};
    my $s = $a->{sock};
    my $deadline = time + ($timeout // 10);
    my $raw = '';
    while (time < $deadline) {
        my $rin = '';
        vec($rin, fileno($s), 1) = 1;
        last unless select(my $rout = $rin, undef, undef, $deadline - time);
        my $n = sysread($s, my $buf, 1 << 20);
        last unless $n;
        $raw .= $buf;
    }
    close $s;
    my $r = _result($raw);
    $r->{elapsed} = time - $a->{t0};
    return $r;
}

# The Prometheus text of the status route $path.
sub prom_text
{
    my ($port, $path) = @_;
    my ($st, $h, $body) = http_parse(http_get($port, $path));
    return $body // '';
}

# The value of the sample 'name{labels}' exactly as written (undef when absent).
sub prom_value
{
    my ($text, $sample) = @_;
    for my $line (split /\n/, $text) {
        next if $line =~ /^#/;
        my ($name, $v) = $line =~ /^(.+) (\S+)$/ or next;
        return $v + 0 if $name eq $sample;
    }
    return undef;
}

1;
