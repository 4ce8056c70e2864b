package PorticoH2Frames;

# PorticoH2Frames.pm: runs t/lib/h2client.py (the frame-level HTTP/2 client, on hyperframe and
# hpack from Debian's python3-h2, importable only by /usr/bin/python3) for the http2_*.t files.
#
#   use PorticoH2Frames;
#   h2_skip_unless_client();                 # skips the file when python3-h2 is missing
#   my $r = h2($p, $port, 'cases', { cases => [[ { headers => h2_fields('/x') } ]] });
#   my ($pid, $out) = h2_start($p, $port, 'load', {...}); ...; $r = h2_finish($pid, $out, 30);
#   $H2_ERR{PROTOCOL_ERROR}                  # HTTP/2 error codes by name
#
# The client's arguments go through a JSON file under the instance's logs/ (with its stdout
# and stderr); it runs in the background, is waited for with a bound and killed by its pid
# after it.

use strict;
use warnings;

use Exporter qw(import);
use JSON::PP ();
use POSIX qw(WNOHANG);
use Test::More ();
use Portico qw(repo_root write_file read_file wait_until);

our @EXPORT = qw(h2 h2_start h2_finish h2_fields h2_skip_unless_client h2_echo_headers
                 %H2_ERR);

our %H2_ERR = (NO_ERROR => 0, PROTOCOL_ERROR => 1, INTERNAL_ERROR => 2,
               FLOW_CONTROL_ERROR => 3, REFUSED_STREAM => 7, CANCEL => 8,
               ENHANCE_YOUR_CALM => 11);

my $CLIENT = repo_root() . '/t/lib/h2client.py';
my $RUNS = 0;

sub h2_skip_unless_client
{
    Test::More::plan(skip_all => '/usr/bin/python3 with python3-h2 is needed')
        unless system('/usr/bin/python3 -c "import h2, hpack, hyperframe" 2>/dev/null') == 0;
}

# Starts the client in the background: (pid, output file prefix).
sub h2_start
{
    my ($p, $port, $scenario, $args) = @_;
    my $n = ++$RUNS;
    my $out = $p->prefix . "/logs/h2-$n";
    write_file("$out.args", JSON::PP->new->encode($args));
    my $pid = fork();
    die "fork: $!" unless defined $pid;
    if ($pid == 0) {
        open(STDIN, '<', '/dev/null');
        open(STDOUT, '>', "$out.out");
        open(STDERR, '>', "$out.err");
        exec('/usr/bin/python3', $CLIENT, '--port', $port, '--args', "\@$out.args", $scenario)
            or POSIX::_exit(127);
    }
    return ($pid, $out);
}

# Waits for it (killed by its pid after $timeout s, 30 by default); its JSON answer, or {}.
sub h2_finish
{
    my ($pid, $out, $timeout) = @_;
    unless (wait_until(sub { waitpid($pid, WNOHANG) == $pid }, $timeout || 30)) {
        kill 'KILL', $pid;
        waitpid($pid, 0);
    }
    my $r = eval { JSON::PP->new->decode(read_file("$out.out") // '') };
    Test::More::diag('h2client: ' . (read_file("$out.err") // '')) unless $r;
    return $r || {};
}

sub h2
{
    my ($p, $port, $scenario, $args, $timeout) = @_;
    return h2_finish(h2_start($p, $port, $scenario, $args), $timeout);
}

# The pseudo-header fields of a request to localhost.
sub h2_fields
{
    my ($path, $method) = @_;
    return [[':method', $method || 'GET'], [':scheme', 'http'], [':authority', 'localhost'],
            [':path', $path]];
}

# The header fields of a backend /echo answer, names lowercased ({ name => [values] }), and
# the whole answer.
sub h2_echo_headers
{
    my ($body) = @_;
    my $e = eval { JSON::PP->new->decode($body) } || { headers => [] };
    my %h;
    push @{ $h{ lc $_->[0] } }, $_->[1] for @{ $e->{headers} };
    return (\%h, $e);
}

1;
