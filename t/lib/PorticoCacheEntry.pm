package PorticoCacheEntry;

# PorticoCacheEntry.pm: writes cache entry files the way the cache module stores them
# (modules/cache/pco_cache_entry.h: the "PCOC" header, then the body), for tests that
# pre-fill a cache directory (the cache loader's tests) or corrupt an entry on purpose.
#
#   use PorticoCacheEntry qw(cache_key_hex cache_entry_path write_cache_entry);
#   my $path = write_cache_entry("$prefix/cache/main", key_text => 'http127.0.0.1/a',
#                                headers => "Content-Type: text/plain\r\n", body => "hello\n");
#
# The key is the first 16 bytes of SHA-256 of the key text (pco_cache_key_hash); the file is
# DIR/<last hex digit>/<the two before it>/<32 hex digits> (levels 1:2).

use strict;
use warnings;

use Digest::SHA qw(sha256);
use Exporter qw(import);
use File::Basename qw(dirname);
use File::Path qw(make_path);

our @EXPORT_OK = qw(cache_key cache_key_hex cache_entry_path cache_entry_bytes
                    write_cache_entry);

sub cache_key     { return substr(sha256($_[0]), 0, 16); }
sub cache_key_hex { return unpack('H*', cache_key($_[0])); }

# DIR/c/29/<hex>
sub cache_entry_path
{
    my ($dir, $hex) = @_;
    return "$dir/" . substr($hex, -1) . '/' . substr($hex, -3, 2) . "/$hex";
}

# The whole file. Fields (defaults): key_text (required), key (16 bytes: the hash of
# key_text), status (200), date / expires / last_modified (-1), response_time (now),
# lifetime (3600), initial_age (0), swr / sie (-1: none), no_stale (0), etag (''),
# vary (''), headers (''), body (''), body_len (the body's length).
sub cache_entry_bytes
{
    my (%e) = @_;
    my $text = $e{key_text};
    my $key = $e{key} // cache_key($text);
    my ($etag, $vary, $headers, $body) = map { $e{$_} // '' } qw(etag vary headers body);
    my $hlen = 120 + length($text) + length($etag) + length($vary) + length($headers);

    return pack('a4 n n N n n a16 q> q> q> q> q> q> q> q> Q> N N N N',
                'PCOC', 1, $e{no_stale} ? 1 : 0, $hlen, $e{status} // 200, 0, $key,
                $e{date} // -1, $e{expires} // -1, $e{last_modified} // -1,
                $e{response_time} // time(), $e{lifetime} // 3600, $e{initial_age} // 0,
                $e{swr} // -1, $e{sie} // -1, $e{body_len} // length($body),
                length($text), length($etag), length($vary), length($headers))
           . $text . $etag . $vary . $headers . $body;
}

# Writes the entry under $dir (into DIR/tmp, then renamed into place, as the server does)
# and returns its path. `path` overrides where it goes.
sub write_cache_entry
{
    my ($dir, %e) = @_;
    my $hex = unpack('H*', $e{key} // cache_key($e{key_text}));
    my $path = $e{path} // cache_entry_path($dir, $hex);
    my $tmp = "$dir/tmp/writer.$$";

    make_path(dirname($path), "$dir/tmp");
    open(my $fh, '>:raw', $tmp) or die "$tmp: $!";
    print {$fh} cache_entry_bytes(%e);
    close($fh) or die "$tmp: $!";
    rename($tmp, $path) or die "rename $tmp: $!";
    return $path;
}

1;
