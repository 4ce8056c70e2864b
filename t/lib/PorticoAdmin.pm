package PorticoAdmin;
# PorticoAdmin.pm: one request to a test instance's admin API on its Unix socket
# (PREFIX/logs/admin.sock, as the t/admin_*.t configurations set it), for those tests.
#
#   my ($status, $data, $head) = admin($p, 'PATCH', '/upstreams/app/servers/0',
#                                      '{"state": "drain"}');
#   # $data: the decoded JSON body, or the raw body text when it is not JSON
use strict;
use warnings;
use Exporter 'import';
use IO::Socket::UNIX;
use JSON::PP;
use Time::HiRes qw(time);

our @EXPORT = qw(admin);

my $json = JSON::PP->new;

# One request on a new connection (Connection: close), read until the server closes or for
# 5 s at most; returns (status, decoded body or raw text, raw head).
sub admin
{
    my ($p, $method, $path, $body) = @_;
    my $s = IO::Socket::UNIX->new(Peer => $p->prefix . '/logs/admin.sock', Timeout => 5)
        or die "connect: $!";
    $body = '' unless defined $body;
    print $s "$method $path HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n"
        . "Content-Length: " . length($body) . "\r\n\r\n$body";
    my $raw = '';
    my $deadline = time + 5;
    while (time < $deadline) {
        my $n = sysread($s, my $buf, 65536);
        last unless $n;
        $raw .= $buf;
    }
    my ($head, $text) = split /\r\n\r\n/, $raw, 2;
    my ($status) = $head =~ m{^HTTP/1\.1 (\d+)};
    my $data = eval { $json->decode($text) };
    return ($status, defined $data ? $data : $text, $head);
}

1;
