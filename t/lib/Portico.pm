package Portico;

# Portico.pm: the black-box test helper for portico (in the spirit of nginx's Test::Nginx).
#
#   use Test::More;
#   use lib 't/lib';
#   use Portico;
#
#   my $p = Portico->new(conf => <<'EOF');
#   servers = ( { listen = ["127.0.0.1:%%PORT1%%"];
#                 routes = ( { match = { path_prefix = "/"; };
#                              return = { status = 200; body = "ok\n"; }; } ); } );
#   EOF
#   my ($status, $h, $body) = http_parse(http_get($p->port(1), '/'));
#   ...
#   done_testing();
#
# Each instance gets its own temporary prefix under /tmp (conf/, logs/, html/) and its own
# free loopback ports (reserved with a lock file per port under /tmp/portico-ports/ so that
# parallel test files never collide). Top-level settings the configuration does not give are
# added (worker_processes = 1, an info-level error log in logs/error.log, the pid file).
#
# Teardown: every started master is stopped by its PID (TERM, bounded wait, then KILL of the
# master and the workers it had). When an instance is stopped (explicitly, when it goes out of
# scope, or at done_testing()), one test checks that logs/error.log and logs/stderr.log hold
# no [crit] / [alert] / [emerg] line and no sanitizer report, except lines matching the
# patterns given with `allow => [qr/.../]` or $p->allow(qr/.../).
#
# Every loop is bounded in time; only 127.0.0.1 and ::1 are used.

use strict;
use warnings;

use Carp qw(croak);
use Exporter qw(import);
use Fcntl qw(:flock O_CREAT O_RDWR);
use File::Basename qw(dirname);
use File::Path qw(make_path);
use File::Spec;
use File::Temp qw(tempdir);
use IO::Socket::INET;
use IO::Socket::IP;
use POSIX qw(:sys_wait_h);
use Scalar::Util qw(weaken);
use Socket qw(SOL_SOCKET SO_REUSEADDR);
use Test::More ();
use Time::HiRes qw(sleep time);

our @EXPORT = qw(
    http_get http_head http_request http_raw http_exchange http_parse http_parse_all
    http_slow http_connect http_send http_read_response http_keepalive http_pipeline
    http_spread skip_unless_module has_module portico_bin repo_root wait_until read_file write_file
    quarantine_kb
);

our $PORT_DIR = '/tmp/portico-ports';
my @INSTANCES;                       # weak references to every live instance
my $REPO = File::Spec->rel2abs(dirname(__FILE__) . '/../..');

sub repo_root { return $REPO; }

sub portico_bin
{
    return $ENV{PORTICO_BIN} || "$REPO/objs/portico";
}

# At done_testing(): stop every instance still running and run its log check while tests may
# still be added (before the plan is printed).
if (Test2::API->can('test2_add_callback_testing_done')) {
    Test2::API::test2_add_callback_testing_done(sub {
        for my $p (grep { defined } @INSTANCES) {
            $p->stop;
        }
    });
}

# Interrupted (Ctrl-C, prove killed, output pipe closed): exit through END so that every
# started master is still stopped.
for my $sig (qw(INT TERM PIPE)) {
    $SIG{$sig} = sub { exit 1; } unless defined $SIG{$sig} && ref $SIG{$sig};
}

END {
    local $?;
    for my $p (grep { defined } @INSTANCES) {
        $p->_kill_all;
    }
}

# ---------------------------------------------------------------------------------------------
# files and small utilities

sub read_file
{
    my ($path) = @_;
    open(my $fh, '<:raw', $path) or return undef;
    local $/;
    my $text = <$fh>;
    close $fh;
    return defined $text ? $text : '';
}

sub write_file
{
    my ($path, $text, $mode) = @_;
    make_path(dirname($path), { mode => 0755 });
    open(my $fh, '>:raw', $path) or croak "cannot write $path: $!";
    print {$fh} $text;
    close $fh or croak "cannot close $path: $!";
    chmod(defined $mode ? $mode : 0644, $path);
    return $path;
}

# Calls $cond every 50 ms until it returns true or $timeout seconds (default 5) passed.
# Returns the condition's last value.
sub wait_until
{
    my ($cond, $timeout) = @_;
    $timeout = 5 unless defined $timeout;
    my $deadline = time + $timeout;
    while (1) {
        my $v = $cond->();
        return $v if $v;
        return $v if time >= $deadline;
        sleep 0.05;
    }
}

# ---------------------------------------------------------------------------------------------
# ports

# True when ::1 can be bound here (IPv6 loopback tests skip otherwise).
sub have_ipv6
{
    my $s = IO::Socket::IP->new(LocalHost => '::1', LocalPort => 0, Proto => 'tcp', Listen => 1);
    return $s ? 1 : 0;
}
push @EXPORT, 'have_ipv6';

# Finds a free loopback TCP port and keeps a lock on /tmp/portico-ports/PORT for the life of
# the returned handle.
sub _reserve_port
{
    unless (-d $PORT_DIR) {
        mkdir $PORT_DIR;
        chmod 01777, $PORT_DIR;
    }
    for (1 .. 200) {
        my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Proto => 'tcp',
                                      Listen => 1)
            or next;
        my $port = $s->sockport;
        close $s;
        next if $port < 1024;
        sysopen(my $lock, "$PORT_DIR/$port", O_CREAT | O_RDWR, 0666) or next;
        unless (flock($lock, LOCK_EX | LOCK_NB)) {
            close $lock;
            next;
        }
        # A port locked by us may still be in use by something else: check once more.
        my $chk = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $port,
                                        Proto => 'tcp', Listen => 1, ReuseAddr => 0);
        unless ($chk) {
            close $lock;
            next;
        }
        close $chk;
        return ($port, $lock);
    }
    croak "no free port found";
}

# ---------------------------------------------------------------------------------------------
# instances

# Portico->new(conf => TEXT, start => 1, allow => [qr/.../], files => { 'html/a' => 'x' },
#              defaults => 1, wait_ports => [1, 2], args => [...])
sub new
{
    my ($class, %o) = @_;
    my $self = bless {
        conf_text => $o{conf},
        allow     => [ @{ $o{allow} || [] } ],
        ports     => {},
        locks     => [],
        pid       => undef,
        workers   => [],
        checked   => 0,
        defaults  => exists $o{defaults} ? $o{defaults} : 1,
        args      => $o{args} || [],
    }, $class;

    my $prefix = tempdir('portico-test-XXXXXX', DIR => '/tmp',
                         CLEANUP => $ENV{PORTICO_KEEP} ? 0 : 1);
    chmod 0755, $prefix;
    $self->{prefix} = $prefix;
    for my $d (qw(conf logs html)) {
        mkdir "$prefix/$d";
        chmod 0755, "$prefix/$d";
    }
    # Workers run as nobody (tests run as root) and reopen access logs on USR1.
    chmod 01777, "$prefix/logs";
    my $mime = "$REPO/conf/mime.types";
    write_file("$prefix/conf/mime.types", read_file($mime)) if -f $mime;

    for my $n (1 .. 9) {
        my ($port, $lock) = _reserve_port();
        $self->{ports}{$n} = $port;
        push @{ $self->{locks} }, $lock;
    }

    if ($o{files}) {
        for my $f (sort keys %{ $o{files} }) {
            write_file("$prefix/$f", $o{files}{$f});
        }
    }

    push @INSTANCES, $self;
    weaken($INSTANCES[-1]);

    if (defined $o{conf}) {
        $self->write_conf($o{conf});
    }
    if (defined $o{conf} && (!exists $o{start} || $o{start})) {
        $self->start(wait_ports => $o{wait_ports});
    }
    return $self;
}

sub prefix    { return $_[0]{prefix}; }
sub conf_file { return "$_[0]{prefix}/conf/portico.conf"; }
sub port      { return $_[0]{ports}{ $_[1] || 1 }; }
sub pid       { return $_[0]{pid}; }

sub allow
{
    my ($self, @re) = @_;
    push @{ $self->{allow} }, @re;
    return $self;
}

# Replaces %%PORTn%% and %%PREFIX%% (no trailing slash).
sub expand
{
    my ($self, $text) = @_;
    $text =~ s/%%PORT(\d)%%/$self->{ports}{$1}/g;
    $text =~ s/%%PREFIX%%/$self->{prefix}/g;
    return $text;
}

# Writes conf/portico.conf (or another file under the prefix with $name). Top-level settings
# that the text does not give are added first, each on one line, so FILE:LINE assertions must
# use $p->line_of(...) rather than fixed numbers.
sub write_conf
{
    my ($self, $text, $name) = @_;
    $name = 'conf/portico.conf' unless defined $name;
    $text = $self->expand($text);
    if ($self->{defaults} && $name eq 'conf/portico.conf') {
        my $head = '';
        $head .= "worker_processes = 1;\n" unless $text =~ /^\s*worker_processes\s*=/m;
        $head .= "error_log = { path = \"logs/error.log\"; level = \"info\"; };\n"
            unless $text =~ /^\s*error_log\s*=/m;
        $head .= "pid = \"logs/portico.pid\";\n" unless $text =~ /^\s*pid\s*=/m;
        $text = $head . $text;
    }
    write_file("$self->{prefix}/$name", $text);
    $self->{conf_written}{$name} = $text;
    return "$self->{prefix}/$name";
}

# The 1-based line number of the first line of a written file matching $re.
sub line_of
{
    my ($self, $re, $name) = @_;
    $name = 'conf/portico.conf' unless defined $name;
    my $text = read_file("$self->{prefix}/$name");
    my @lines = split /\n/, $text, -1;
    for my $i (0 .. $#lines) {
        return $i + 1 if $lines[$i] =~ $re;
    }
    croak "no line matching $re in $name";
}

sub _listen_ports
{
    my ($self) = @_;
    my $text = read_file($self->conf_file) || '';
    my %seen;
    my @addrs;
    my $add = sub {
        my ($host, $port) = @_;
        push @addrs, [$host, $port] unless $seen{"$host $port"}++;
    };
    while ($text =~ /^[^#\n]*listen[^\n]*$/mg) {
        my $line = $&;
        while ($line =~ /(127\.0\.0\.1|\[::1\]):(\d+)/g) {
            $add->($1 eq '[::1]' ? '::1' : $1, $2);
        }
    }
    # listen = ( { address = "127.0.0.1:N"; ... } ) across lines (upstream server addresses
    # are not waited for: pass wait_ports to start for unusual layouts)
    while ($text =~ /listen\s*=\s*\(\s*\{\s*address\s*=\s*"(127\.0\.0\.1|\[::1\]):(\d+)"/g) {
        $add->($1 eq '[::1]' ? '::1' : $1, $2);
    }
    return @addrs;
}


# Under ASan every free waits in a quarantine (256 MiB by default) and shows in the RSS, so a
# test that bounds RSS starts portico with start_small_quarantine (an 8 MiB quarantine in a
# sanitizer build) and raises its bounds by quarantine_kb() (8192 there, 0 otherwise).
my $QUARANTINE_KB;
sub quarantine_kb
{
    unless (defined $QUARANTINE_KB) {
        my ($rc, $out, $err) = run_cmd(portico_bin(), '-V');
        $QUARANTINE_KB = ($out . $err) =~ /--with-sanitizers/ ? 8 * 1024 : 0;
    }
    return $QUARANTINE_KB;
}

sub start_small_quarantine
{
    my ($self, %o) = @_;
    local $ENV{ASAN_OPTIONS} = join(':', grep { defined && length } $ENV{ASAN_OPTIONS},
                                    'quarantine_size_mb=8') if quarantine_kb();
    return $self->start(%o);
}

sub start
{
    my ($self, %o) = @_;
    croak "already started" if $self->{pid} && $self->alive;
    my $bin = portico_bin();
    croak "no portico binary at $bin (set PORTICO_BIN)" unless -x $bin;
    my $prefix = $self->{prefix};
    my @cmd = ($bin, '-p', "$prefix/", '-c', $self->conf_file, '-g', 'daemon = false;',
               @{ $self->{args} });
    my $pid = fork();
    croak "fork: $!" unless defined $pid;
    if ($pid == 0) {
        open(STDIN, '<', '/dev/null');
        open(STDOUT, '>>', "$prefix/logs/stderr.log");
        open(STDERR, '>>', "$prefix/logs/stderr.log");
        exec(@cmd) or POSIX::_exit(127);
    }
    $self->{pid} = $pid;
    $self->{exit_status} = undef;
    $self->{checked} = 0;

    my @addrs = $o{wait_ports}
        ? map { ['127.0.0.1', $self->port($_)] } @{ $o{wait_ports} }
        : $self->_listen_ports;
    my $ok = wait_until(sub {
        return 'dead' unless $self->alive;
        for my $a (@addrs) {
            my $s = IO::Socket::IP->new(PeerHost => $a->[0], PeerPort => $a->[1],
                                        Proto => 'tcp', Timeout => 1);
            return 0 unless $s;
            close $s;
        }
        return 'up';
    }, 10);
    if (!$ok || $ok ne 'up') {
        my $why = $ok ? 'exited' : 'did not accept on every listen port within 10 s';
        Test::More::diag("portico $why; stderr.log:\n" . ($self->stderr_log || '')
                         . "error.log:\n" . ($self->error_log || ''));
        $self->_kill_all;
        croak "portico failed to start ($why)";
    }
    $self->{workers} = [ $self->worker_pids ];
    return $self;
}

# True while the master we started runs (reaps it when it has exited).
sub alive
{
    my ($self) = @_;
    return 0 unless $self->{pid};
    return 0 if defined $self->{exit_status};
    my $r = waitpid($self->{pid}, WNOHANG);
    if ($r == $self->{pid} || $r == -1) {
        $self->{exit_status} = $?;
        return 0;
    }
    return 1;
}

sub exit_status { return $_[0]{exit_status}; }

# Waits (bounded) for the master to exit; true when it did.
sub wait_exit
{
    my ($self, $timeout) = @_;
    return wait_until(sub { !$self->alive }, defined $timeout ? $timeout : 10);
}

sub _proc_stat
{
    my ($pid) = @_;
    my $stat = read_file("/proc/$pid/stat");
    return unless defined $stat;
    # "pid (comm) state ppid ..." where comm may hold spaces and parentheses
    $stat =~ /\)\s+(\S)\s+(\d+)/ or return;
    return ($1, $2);
}

# Children of the master (workers and helpers), from /proc/*/stat.
sub children
{
    my ($self) = @_;
    return () unless $self->{pid};
    my @kids;
    opendir(my $dh, '/proc') or return ();
    for my $d (readdir $dh) {
        next unless $d =~ /^\d+$/;
        my ($state, $ppid) = _proc_stat($d);
        next unless defined $ppid && $ppid == $self->{pid};
        next if $state eq 'Z';
        push @kids, $d + 0;
    }
    closedir $dh;
    return sort { $a <=> $b } @kids;
}

# Children whose title reads "portico: worker process" (also "... is shutting down" when
# $all is true).
sub worker_pids
{
    my ($self, $all) = @_;
    return grep {
        my $t = title($_);
        defined $t && ($all ? $t =~ /^portico: worker process/
                            : $t eq 'portico: worker process');
    } $self->children;
}

# The process title as ps shows it (NULs and padding turned into spaces, trimmed).
sub title
{
    my ($pid) = @_;
    my $c = read_file("/proc/$pid/cmdline");
    return undef unless defined $c;
    $c =~ s/\0+/ /g;
    $c =~ s/\s+$//;
    return $c;
}

sub signal
{
    my ($self, $sig, $pid) = @_;
    $pid = $self->{pid} unless defined $pid;
    return kill($sig, $pid);
}

# Stops the master: TERM, up to 10 s, then KILL of the master and of the children it had.
# Then runs the log check (once). Returns the master's wait status.
sub stop
{
    my ($self, %o) = @_;
    if ($self->{pid} && $self->alive) {
        my @kids = $self->children;
        kill 'TERM', $self->{pid};
        unless ($self->wait_exit(10)) {
            Test::More::diag("portico master $self->{pid} ignored TERM for 10 s: KILL");
            $self->_kill_all(@kids);
        }
        # The workers should have gone with the master; make sure.
        my @left = grep { kill 0, $_ } @kids;
        if (@left && wait_until(sub { !grep { kill 0, $_ } @left }, 5) == 0) {
            kill 'KILL', grep { kill 0, $_ } @left;
        }
    }
    $self->check_logs unless $self->{checked} || $o{no_check};
    return $self->{exit_status};
}

sub _kill_all
{
    my ($self, @kids) = @_;
    return unless $self->{pid};
    @kids = $self->children unless @kids;
    if ($self->alive) {
        kill 'KILL', $self->{pid};
        wait_until(sub { !$self->alive }, 5);
    }
    for my $k (@kids) {
        kill 'KILL', $k if kill 0, $k;
    }
}

sub DESTROY
{
    my ($self) = @_;
    local ($?, $@, $!);
    return unless $self->{pid};
    eval { $self->stop; 1 };
}

sub error_log  { return read_file("$_[0]{prefix}/logs/error.log"); }
sub stderr_log { return read_file("$_[0]{prefix}/logs/stderr.log"); }

sub access_log
{
    my ($self, $name) = @_;
    return read_file("$self->{prefix}/logs/" . (defined $name ? $name : 'access.log'));
}

sub wait_for
{
    my ($self, $cond, $timeout) = @_;
    return wait_until($cond, $timeout);
}

# One test: no [crit]/[alert]/[emerg] line and no sanitizer output in the logs, except what
# the test allowed.
sub check_logs
{
    my ($self) = @_;
    $self->{checked} = 1;
    return unless $self->{pid};
    my @bad;
    for my $f ('logs/error.log', 'logs/stderr.log') {
        my $text = read_file("$self->{prefix}/$f");
        next unless defined $text;
        for my $line (split /\n/, $text) {
            next unless $line =~ /\[(crit|alert|emerg)\]|Sanitizer|runtime error:/;
            next if grep { $line =~ $_ } @{ $self->{allow} };
            push @bad, "$f: $line";
        }
    }
    Test::More::ok(!@bad, "no crit/alert/sanitizer lines in the logs of $self->{prefix}")
        or Test::More::diag(join("\n", @bad[0 .. ($#bad < 30 ? $#bad : 30)]));
}

# Runs the binary with -p and -c of this instance (unless @args has its own -c), returns
# (exit code, stdout, stderr).
sub run
{
    my ($self, @args) = @_;
    my $bin = portico_bin();
    my @cmd = ($bin);
    push @cmd, '-p', "$self->{prefix}/" unless grep { $_ eq '-p' } @args;
    push @cmd, '-c', $self->conf_file unless grep { $_ eq '-c' } @args;
    return run_cmd(@cmd, @args);
}

# Returns (exit code, stdout + stderr).
sub run_t
{
    my ($self, @args) = @_;
    my ($rc, $out, $err) = $self->run(@args);
    return ($rc, $out . $err);
}

# Runs a command with a 20 s bound; returns (exit code, stdout, stderr). Exit code 128+N when
# killed by signal N, -1 when it could not run.
sub run_cmd
{
    my (@cmd) = @_;
    my $dir = tempdir('portico-run-XXXXXX', DIR => '/tmp', CLEANUP => 1);
    my $pid = fork();
    return (-1, '', "fork: $!") unless defined $pid;
    if ($pid == 0) {
        open(STDIN, '<', '/dev/null');
        open(STDOUT, '>', "$dir/out");
        open(STDERR, '>', "$dir/err");
        exec(@cmd) or POSIX::_exit(127);
    }
    my $st;
    my $done = wait_until(sub {
        my $r = waitpid($pid, WNOHANG);
        if ($r == $pid) {
            $st = $?;
            return 1;
        }
        return 0;
    }, 20);
    unless ($done) {
        kill 'KILL', $pid;
        waitpid($pid, 0);
        $st = $?;
    }
    my $rc = ($st & 127) ? 128 + ($st & 127) : $st >> 8;
    my ($out, $err) = (read_file("$dir/out") // '', read_file("$dir/err") // '');
    # A sanitizer report from a short run (-t, -T, -s, -V) fails the test file too.
    if (($out . $err) =~ /Sanitizer|runtime error:/) {
        Test::More::fail("no sanitizer output from: @cmd");
        Test::More::diag($err);
    }
    return ($rc, $out, $err);
}

# has_module('static'): true when `portico -V` lists the module.
my %MODULES;
sub has_module
{
    my ($name) = @_;
    unless (%MODULES) {
        my ($rc, $out, $err) = run_cmd(portico_bin(), '-V');
        my ($mods) = ($out . $err) =~ /^modules:\s*(.*)$/m;
        %MODULES = map { $_ => 1 } split /[\s,]+/, defined $mods ? $mods : '';
        $MODULES{''} = 1;
    }
    return $MODULES{$name} ? 1 : 0;
}

# skip_unless_module('static'): skips the whole file when `portico -V` does not list it.
sub skip_unless_module
{
    my (@names) = @_;
    my $bin = portico_bin();
    # A missing binary is a failed build, never a reason to skip.
    Test::More::BAIL_OUT("no portico binary at $bin (set PORTICO_BIN)") unless -x $bin;
    for my $n (@names) {
        Test::More::plan(skip_all => "module $n not compiled in") unless has_module($n);
    }
}

# ---------------------------------------------------------------------------------------------
# HTTP over raw sockets

sub http_connect
{
    my ($port, %o) = @_;
    my $host = $o{host} || '127.0.0.1';
    my $s = IO::Socket::IP->new(PeerHost => $host, PeerPort => $port, Proto => 'tcp',
                                Timeout => $o{timeout} || 3);
    return $s;
}

sub http_send
{
    my ($s, $bytes) = @_;
    local $SIG{PIPE} = 'IGNORE';
    my $off = 0;
    while ($off < length $bytes) {
        my $n = syswrite($s, $bytes, length($bytes) - $off, $off);
        return 0 unless defined $n && $n > 0;
        $off += $n;
    }
    return 1;
}

# Reads whatever arrives within $timeout (seconds) into the socket's buffer. Returns the
# number of bytes read, 0 at EOF (sets eof), undef on timeout or error.
sub _fill
{
    my ($s, $deadline) = @_;
    my $left = $deadline - time;
    return undef if $left <= 0;
    my $rin = '';
    vec($rin, fileno($s), 1) = 1;
    my $n = select(my $rout = $rin, undef, undef, $left);
    return undef unless $n && $n > 0;
    my $buf;
    my $r = sysread($s, $buf, 65536);
    if (!defined $r) {
        ${*$s}{portico_eof} = 1;     # ECONNRESET counts as closed
        ${*$s}{portico_reset} = 1;
        return 0;
    }
    if ($r == 0) {
        ${*$s}{portico_eof} = 1;
        return 0;
    }
    ${*$s}{portico_buf} .= $buf;
    return $r;
}

sub _buf { my ($s) = @_; ${*$s}{portico_buf} = '' unless defined ${*$s}{portico_buf};
           return \${*$s}{portico_buf}; }

# True when the peer closed the connection (EOF or reset) within $timeout seconds, with no
# further bytes, or when it was already seen closed.
sub http_closed
{
    my ($s, $timeout) = @_;
    my $deadline = time + (defined $timeout ? $timeout : 3);
    while (1) {
        return 1 if ${*$s}{portico_eof};
        my $r = _fill($s, $deadline);
        return 0 unless defined $r;
    }
}
push @EXPORT, 'http_closed';

# Reads one complete response (a 1xx interim response counts as one) using its framing.
# $method is the request's method (HEAD responses have no body). Returns the raw bytes, or
# what arrived so far when the connection closed or the timeout passed.
sub http_read_response
{
    my ($s, %o) = @_;
    my $deadline = time + (defined $o{timeout} ? $o{timeout} : 3);
    my $method = $o{method} || 'GET';
    my $buf = _buf($s);
    my $head_end;
    while (1) {
        my $i = index($$buf, "\r\n\r\n");
        if ($i >= 0) {
            $head_end = $i + 4;
            last;
        }
        if (${*$s}{portico_eof} || !defined _fill($s, $deadline)) {
            return substr($$buf, 0, length $$buf, '');
        }
    }
    my $head = substr($$buf, 0, $head_end);
    my ($status) = $head =~ m{^HTTP/\d\.\d (\d{3})};
    $status = 0 unless defined $status;
    if (($status >= 100 && $status < 200) || $status == 204 || $status == 304
        || $method eq 'HEAD')
    {
        return substr($$buf, 0, $head_end, '');
    }
    if ($head =~ /^Transfer-Encoding:[ \t]*chunked[ \t]*\r$/mi) {
        my $pos = $head_end;
        while (1) {
            # chunk-size line
            my $le = index($$buf, "\r\n", $pos);
            while ($le < 0) {
                if (${*$s}{portico_eof} || !defined _fill($s, $deadline)) {
                    return substr($$buf, 0, length $$buf, '');
                }
                $le = index($$buf, "\r\n", $pos);
            }
            my $line = substr($$buf, $pos, $le - $pos);
            my ($hex) = $line =~ /^([0-9a-fA-F]+)/;
            return substr($$buf, 0, length $$buf, '') unless defined $hex;
            my $size = hex $hex;
            $pos = $le + 2;
            if ($size == 0) {
                # trailers up to an empty line
                while (1) {
                    my $e = index($$buf, "\r\n", $pos);
                    if ($e < 0) {
                        if (${*$s}{portico_eof} || !defined _fill($s, $deadline)) {
                            return substr($$buf, 0, length $$buf, '');
                        }
                        next;
                    }
                    my $empty = $e == $pos;
                    $pos = $e + 2;
                    return substr($$buf, 0, $pos, '') if $empty;
                }
            }
            while (length($$buf) < $pos + $size + 2) {
                if (${*$s}{portico_eof} || !defined _fill($s, $deadline)) {
                    return substr($$buf, 0, length $$buf, '');
                }
            }
            $pos += $size + 2;
        }
    }
    if ($head =~ /^Content-Length:[ \t]*(\d+)[ \t]*\r$/mi) {
        my $want = $head_end + $1;
        while (length($$buf) < $want) {
            if (${*$s}{portico_eof} || !defined _fill($s, $deadline)) {
                return substr($$buf, 0, length $$buf, '');
            }
        }
        return substr($$buf, 0, $want, '');
    }
    # close-delimited
    while (!${*$s}{portico_eof} && defined _fill($s, $deadline)) { }
    return substr($$buf, 0, length $$buf, '');
}

# Builds a request: http_request('GET', '/x', Host => 'a', 'X-A' => 'b'). Host defaults to
# localhost (undef value: header left out); protocol => 'HTTP/1.0'; body => '...' (adds
# Content-Length unless given or chunked).
sub http_request
{
    my ($method, $path, @h) = @_;
    my %opt;
    my @headers;
    while (@h) {
        my ($k, $v) = splice(@h, 0, 2);
        if ($k eq 'protocol' || $k eq 'body') {
            $opt{$k} = $v;
            next;
        }
        push @headers, [$k, $v];
    }
    my $proto = $opt{protocol} || 'HTTP/1.1';
    unshift @headers, ['Host', 'localhost'] unless grep { lc $_->[0] eq 'host' } @headers;
    my $req = "$method $path $proto\r\n";
    for my $h (@headers) {
        next unless defined $h->[1];
        $req .= "$h->[0]: $h->[1]\r\n";
    }
    if (defined $opt{body}) {
        $req .= "Content-Length: " . length($opt{body}) . "\r\n"
            unless grep { $_->[0] =~ /^(content-length|transfer-encoding)$/i } @headers;
        $req .= "\r\n" . $opt{body};
    } else {
        $req .= "\r\n";
    }
    return $req;
}

# Splits header pairs from connection options given as '-host' => '::1', '-timeout' => 5.
sub _split_opts
{
    my (@h) = @_;
    my (@headers, %o);
    while (@h) {
        my ($k, $v) = splice(@h, 0, 2);
        if ($k =~ /^-(\w+)$/) {
            $o{$1} = $v;
        } else {
            push @headers, $k, $v;
        }
    }
    return (\@headers, \%o);
}

# What $n GETs of $path answer, each on a fresh connection (so the workers share them), as
# { BODY => count } for 200s (a test backend's body is its id) and { STATUS => count } for
# the rest, 'none' for no answer within 8 s: http_spread($port, '/id', 20) -> { a => 20 }
sub http_spread
{
    my ($port, $path, $n) = @_;
    my %seen;
    for (1 .. $n) {
        my ($s, undef, $b) = http_parse(http_get($port, $path, -timeout => 8));
        $seen{ !defined $s ? 'none' : $s == 200 ? $b : $s }++;
    }
    return \%seen;
}

# GET over a fresh connection with `Connection: close`; returns the raw response.
# http_get($port, '/path', 'X-Header' => 'v', -host => '::1', -timeout => 5)
sub http_get
{
    my ($port, $path, @h) = @_;
    my ($headers, $o) = _split_opts(@h);
    my $req = http_request('GET', $path, (grep { /^connection$/i } @$headers)
                           ? () : (Connection => 'close'), @$headers);
    return http_raw($port, $req, %$o);
}

sub http_head
{
    my ($port, $path, @h) = @_;
    my ($headers, $o) = _split_opts(@h);
    return http_raw($port, http_request('HEAD', $path, Connection => 'close', @$headers), %$o);
}

# Sends raw bytes and reads until the server closes or the timeout (default 3 s) passes.
# Options: timeout, host, slow (seconds between bytes), shutdown (half-close after sending).
sub http_raw
{
    my ($port, $bytes, %o) = @_;
    my $r = http_exchange($port, $bytes, %o);
    return $r->{raw};
}

# As http_raw, returns { raw => bytes, eof => 1 when the server closed, reset => 1 }.
sub http_exchange
{
    my ($port, $bytes, %o) = @_;
    my $timeout = defined $o{timeout} ? $o{timeout} : 3;
    my $s = http_connect($port, %o) or return { raw => '', eof => 0, error => "$!" };
    if ($o{slow}) {
        for my $ch (split //, $bytes) {
            last unless http_send($s, $ch);
            sleep $o{slow};
        }
    } else {
        http_send($s, $bytes);
    }
    shutdown($s, 1) if $o{shutdown};
    my $deadline = time + $timeout;
    while (!${*$s}{portico_eof}) {
        last unless defined _fill($s, $deadline);
    }
    my $res = { raw => ${ _buf($s) }, eof => ${*$s}{portico_eof} ? 1 : 0,
                reset => ${*$s}{portico_reset} ? 1 : 0 };
    close $s;
    return $res;
}

# Sends a request one byte at a time ($delay seconds apart, default 0.005) and returns the
# raw response (read until close).
sub http_slow
{
    my ($port, $bytes, %o) = @_;
    return http_raw($port, $bytes, slow => (defined $o{delay} ? $o{delay} : 0.005), %o);
}

# Sends each request after the previous response arrived, on one connection. Returns the
# raw responses (fewer when the server closed early); in list context, also whether the
# connection was closed after the last one is available via http_keepalive_ex.
sub http_keepalive
{
    my ($port, $reqs, %o) = @_;
    my $s = http_connect($port, %o) or return ();
    my @res;
    for my $req (@$reqs) {
        last if ${*$s}{portico_eof} && !length ${ _buf($s) };
        last unless http_send($s, $req);
        my ($m) = $req =~ /^(\S+)/;
        my $r = http_read_response($s, method => $m, timeout => $o{timeout});
        last unless length $r;
        push @res, $r;
    }
    if ($o{closed}) {
        ${ $o{closed} } = http_closed($s, defined $o{close_timeout} ? $o{close_timeout} : 3);
    }
    close $s;
    return @res;
}

# Sends every request at once on one connection and reads the responses in order (1xx
# responses are skipped). Option closed => \$flag as for http_keepalive.
sub http_pipeline
{
    my ($port, $reqs, %o) = @_;
    my $s = http_connect($port, %o) or return ();
    http_send($s, join('', @$reqs));
    my @res;
    for my $req (@$reqs) {
        my ($m) = $req =~ /^(\S+)/;
        my $r;
        do {
            $r = http_read_response($s, method => $m, timeout => $o{timeout});
        } while (length $r && $r =~ m{^HTTP/\d\.\d 1\d\d } && $r !~ m{^HTTP/\d\.\d 101 });
        last unless length $r;
        push @res, $r;
    }
    if ($o{closed}) {
        ${ $o{closed} } = http_closed($s, defined $o{close_timeout} ? $o{close_timeout} : 3);
    }
    close $s;
    return @res;
}

# (status, {lowercased name => value, repeated values joined with ", "}, body). Interim 1xx
# responses in front are skipped. A chunked body is de-chunked. Status is undef when no
# status line was found.
sub http_parse
{
    my ($raw) = @_;
    return (undef, {}, '') unless defined $raw;
    my @all = http_parse_all($raw);
    return (undef, {}, '') unless @all;
    for my $r (@all) {
        next if $r->[0] >= 100 && $r->[0] < 200 && $r->[0] != 101;
        return @$r;
    }
    return @{ $all[-1] };
}

# Every response found in $raw, each [status, headers, body, head_text].
sub http_parse_all
{
    my ($raw) = @_;
    my @out;
    while (length $raw) {
        my $i = index($raw, "\r\n\r\n");
        last if $i < 0;
        my $head = substr($raw, 0, $i);
        $raw = substr($raw, $i + 4);
        my @lines = split /\r\n/, $head;
        my $sl = shift @lines;
        my ($status) = $sl =~ m{^HTTP/\d\.\d (\d{3})(?: |$)} or last;
        my %h;
        for my $l (@lines) {
            my ($n, $v) = $l =~ /^([^:]+):[ \t]*(.*?)[ \t]*$/ or next;
            $n = lc $n;
            $h{$n} = exists $h{$n} ? "$h{$n}, $v" : $v;
        }
        my $body = '';
        if (($status >= 100 && $status < 200) || $status == 204 || $status == 304) {
            # no body
        } elsif (($h{'transfer-encoding'} || '') =~ /chunked$/i) {
            while ($raw =~ s/^([0-9a-fA-F]+)[^\r\n]*\r\n//) {
                my $n = hex $1;
                if ($n == 0) {
                    $raw =~ s/^(?:[^\r\n]+\r\n)*\r\n//;
                    last;
                }
                $body .= substr($raw, 0, $n);
                $raw = length($raw) >= $n + 2 ? substr($raw, $n + 2) : '';
            }
        } elsif (defined $h{'content-length'} && $h{'content-length'} =~ /^\d+$/) {
            my $n = $h{'content-length'};
            $body = substr($raw, 0, $n);
            $raw = length($raw) > $n ? substr($raw, $n) : '';
        } else {
            $body = $raw;
            $raw = '';
        }
        push @out, [$status + 0, \%h, $body, $sl];
    }
    return @out;
}

1;
