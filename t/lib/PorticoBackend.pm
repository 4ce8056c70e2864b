package PorticoBackend;

# PorticoBackend.pm: starts and stops t/lib/backend.py test backends for the proxy tests.
#
#   use PorticoBackend;
#   my $p = Portico->new(start => 0);                  # reserve ports, start later
#   my $b = PorticoBackend->new(port => $p->port(2), id => 'a', mode => ['no-response'],
#                               keepalive_close_after => 200);
#   $p->write_conf(...); $p->start;
#   my $st = $b->stats;       # { connections => n, requests => m }
#   my $log = $b->requests_log;       # [ [method, target], ... ]
#   $b->stop;                 # also done when the object goes away and at exit
#   PorticoBackend->recorder(port => P, dir => D); recorded(D)
#                             # records the exact bytes of each connection (see recorder)
#   PorticoBackend->new(port => P, listen => ['unix:/tmp/x.sock', '[::1]:N'], peer_pids => 1)
#                             # also serves on those addresses (stats stay on the port);
#                             # stats then has by_listener / peer_pids (see backend.py)
#   PorticoBackend->new(port => P, script => 'other.py')
#                             # runs t/lib/other.py (same --port/--id arguments, prints
#                             # "ready"); subclasses such as PorticoCacheBackend use it
#
# The backend prints "ready" once it listens; new() waits for it at most 10 s. Backends are
# stopped by PID (TERM, bounded wait, KILL). Only 127.0.0.1 is used.

use strict;
use warnings;

use Carp qw(croak);
use Exporter qw(import);
use File::Basename qw(dirname);
use IO::Socket::INET;
use JSON::PP ();
use POSIX qw(:sys_wait_h);
use Scalar::Util qw(weaken);
use Time::HiRes qw(sleep time);

our @EXPORT = qw(backend_get json_decode pattern_bytes write_all recorded);

my $SCRIPT = dirname(__FILE__) . '/backend.py';
my @ALL;

sub new
{
    my ($class, %o) = @_;
    croak "port required" unless $o{port};
    my $script = $o{script} ? dirname(__FILE__) . "/$o{script}" : $SCRIPT;
    my @cmd = ('python3', $script, '--port', $o{port}, '--id', defined $o{id} ? $o{id} : 'b');
    push @cmd, map { ('--mode', $_) } @{ $o{mode} || [] };
    push @cmd, '--keepalive-close-after', $o{keepalive_close_after}
        if $o{keepalive_close_after};
    push @cmd, map { ('--listen', $_) } @{ $o{listen} || [] };
    push @cmd, '--peer-pids' if $o{peer_pids};
    pipe(my $r, my $w) or croak "pipe: $!";
    my $pid = fork();
    croak "fork: $!" unless defined $pid;
    if ($pid == 0) {
        close $r;
        open(STDIN, '<', '/dev/null');
        open(STDOUT, '>&', $w);
        exec(@cmd) or POSIX::_exit(127);
    }
    close $w;
    my $self = bless { pid => $pid, port => $o{port}, id => $o{id} }, $class;
    push @ALL, $self;
    weaken($ALL[-1]);
    my $deadline = time + 10;
    my $got = '';
    while (time < $deadline && $got !~ /ready/) {
        my $rin = '';
        vec($rin, fileno($r), 1) = 1;
        my $n = select(my $rout = $rin, undef, undef, $deadline - time);
        last unless $n && $n > 0;
        my $k = sysread($r, my $buf, 256);
        last unless $k;
        $got .= $buf;
    }
    close $r;
    unless ($got =~ /ready/) {
        $self->stop;
        croak "backend on port $o{port} did not become ready";
    }
    return $self;
}

sub port { return $_[0]{port}; }
sub pid  { return $_[0]{pid}; }
sub id   { return $_[0]{id}; }

sub stop
{
    my ($self) = @_;
    my $pid = $self->{pid} or return;
    $self->{pid} = undef;
    kill 'TERM', $pid;
    my $deadline = time + 5;
    while (time < $deadline) {
        my $r = waitpid($pid, WNOHANG);
        return if $r == $pid || $r == -1;
        sleep 0.02;
    }
    kill 'KILL', $pid;
    waitpid($pid, 0);
}

sub DESTROY { my ($self) = @_; local ($?, $!, $@); $self->stop; }

END { for my $b (@ALL) { $b->stop if $b; } }

# GET directly on the backend (not through portico); returns the body or undef.
sub backend_get
{
    my ($port, $path) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Proto => 'tcp',
                                  Timeout => 3) or return undef;
    print $s "GET $path HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n";
    my $raw = '';
    my $deadline = time + 5;
    while (time < $deadline) {
        my $rin = '';
        vec($rin, fileno($s), 1) = 1;
        my $n = select(my $rout = $rin, undef, undef, $deadline - time);
        last unless $n && $n > 0;
        my $k = sysread($s, my $buf, 65536);
        last unless $k;
        $raw .= $buf;
    }
    close $s;
    my $i = index($raw, "\r\n\r\n");
    return undef if $i < 0;
    return substr($raw, $i + 4);
}

# Writes all of $bytes to the socket (a raw backend's answer); false when the peer went away.
sub write_all
{
    my ($c, $bytes) = @_;
    local $SIG{PIPE} = 'IGNORE';
    my $off = 0;
    while ($off < length $bytes) {
        my $n = syswrite($c, $bytes, length($bytes) - $off, $off);
        return 0 unless $n;
        $off += $n;
    }
    return 1;
}

sub json_decode
{
    my ($text) = @_;
    return undef unless defined $text && length $text;
    my $v = eval { JSON::PP->new->decode($text) };
    return $v;
}

sub stats        { return json_decode(backend_get($_[0]{port}, '/__stats')); }
sub requests_log { return json_decode(backend_get($_[0]{port}, "/__log")); }
sub reset        { return backend_get($_[0]{port}, '/__reset'); }

# The backend's deterministic byte pattern (byte i = i % 251), $n bytes.
sub pattern_bytes
{
    my ($n) = @_;
    my $unit = join('', map { chr } 0 .. 250);
    my $s = $unit x int($n / 251 + 1);
    return substr($s, 0, $n);
}

# PorticoBackend->raw(port => N, handler => sub { my ($sock, $head, $rest) = @_; ... },
#                     backlog => 64)
# A scripted backend for bytes backend.py cannot produce (interim responses, trailers, bad
# framing, a backend that never reads): a forked Perl server on 127.0.0.1:N, listening
# before raw() returns. Each connection is served in its own forked child, which reads the
# request head (up to 64 KiB; $head without the empty line, bytes after it in $rest), calls
# the handler (which writes the answer itself) and closes the connection when it returns.
# stop() (also on destruction and at exit) kills the server and its children by process
# group.
sub raw
{
    my ($class, %o) = @_;
    croak "port required" unless $o{port};
    my $l = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $o{port},
                                  Proto => 'tcp', Listen => $o{backlog} || 64, ReuseAddr => 1)
        or croak "raw backend on port $o{port}: $!";
    my $pid = fork();
    croak "fork: $!" unless defined $pid;
    if ($pid == 0) {
        setpgrp(0, 0);
        $SIG{CHLD} = 'IGNORE';
        $SIG{$_} = 'DEFAULT' for qw(TERM INT PIPE);
        @ALL = ();
        open(STDIN, '<', '/dev/null');
        while (1) {
            my $c = $l->accept or next;
            my $k = fork();
            if (defined $k && $k == 0) {
                close $l;
                $SIG{PIPE} = 'IGNORE';
                my ($head, $rest) = ('', '');
                my $deadline = time + 10;
                while (index($rest, "\r\n\r\n") < 0 && length $rest < 65536
                       && time < $deadline)
                {
                    my $rin = '';
                    vec($rin, fileno($c), 1) = 1;
                    last unless select(my $rout = $rin, undef, undef, $deadline - time);
                    my $n = sysread($c, my $buf, 65536);
                    last unless $n;
                    $rest .= $buf;
                }
                my $i = index($rest, "\r\n\r\n");
                if ($i >= 0) {
                    $head = substr($rest, 0, $i);
                    $rest = substr($rest, $i + 4);
                    eval { $o{handler}->($c, $head, $rest); 1 };
                }
                close $c;
                POSIX::_exit(0);
            }
            close $c;
        }
    }
    close $l;
    my $self = bless { pid => $pid, port => $o{port}, id => 'raw' }, 'PorticoBackend::Raw';
    push @ALL, $self;
    weaken($ALL[-1]);
    return $self;
}

# PorticoBackend->recorder(port => N, dir => D)
# A raw backend that records exactly the bytes each connection sent: it reads the first
# request (its body by Content-Length or chunked framing), answers "200 ok" with
# Connection: close, reads on until the peer closes (at most 3 s), then writes everything
# it received to a new file in D (D/conn-<time>-<pid>, renamed into place when complete).
# recorded(D) returns the files' contents, oldest first.
sub recorder
{
    my ($class, %o) = @_;
    my $dir = $o{dir} or croak "dir required";
    mkdir $dir;
    return $class->raw(port => $o{port}, handler => sub {
        my ($c, $head, $rest) = @_;
        my $deadline = time + 3;
        my $more = sub {
            my $rin = '';
            vec($rin, fileno($c), 1) = 1;
            return 0 unless select(my $rout = $rin, undef, undef, $deadline - time) > 0;
            my $n = sysread($c, my $buf, 65536);
            return 0 unless $n;
            $rest .= $buf;
            return 1;
        };
        if ($head =~ /^content-length:[ \t]*(\d+)/im) {
            my $want = $1;
            1 while length $rest < $want && time < $deadline && $more->();
        } elsif ($head =~ /^transfer-encoding:[^\r\n]*chunked/im) {
            1 while !_chunked_done($rest) && time < $deadline && $more->();
        }
        write_all($c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
        1 while time < $deadline && $more->();
        my $tmp = "$dir/.tmp-$$";
        open(my $fh, '>:raw', $tmp) or return;
        print $fh "$head\r\n\r\n$rest";
        close $fh;
        rename $tmp, sprintf('%s/conn-%.6f-%d', $dir, time, $$);
    });
}

# True when $b holds a complete chunked body (sizes, data, last chunk, trailers).
sub _chunked_done
{
    my ($b) = @_;
    my $i = 0;
    while (1) {
        my $e = index($b, "\r\n", $i);
        return 0 if $e < 0;
        my ($hex) = substr($b, $i, $e - $i) =~ /^([0-9a-fA-F]+)/ or return 1;
        my $n = hex $hex;
        if ($n == 0) {
            return index($b, "\r\n\r\n", $e) >= 0;   # trailers end with an empty line
        }
        $i = $e + 2 + $n + 2;
        return 0 if $i > length $b;
    }
}

# The connections recorded in $dir (see recorder), oldest first.
sub recorded
{
    my ($dir) = @_;
    opendir(my $dh, $dir) or return ();
    my @f = sort grep { /^conn-/ } readdir $dh;
    closedir $dh;
    my @out;
    for my $f (@f) {
        open(my $fh, '<:raw', "$dir/$f") or next;
        local $/;
        push @out, scalar <$fh>;
        close $fh;
    }
    return @out;
}

package PorticoBackend::Raw;

our @ISA = ('PorticoBackend');

sub stop
{
    my ($self) = @_;
    my $pid = $self->{pid} or return;
    $self->{pid} = undef;
    kill 'KILL', -$pid;
    kill 'KILL', $pid;
    waitpid($pid, 0);
}

package PorticoBackend;


1;
