#!/usr/bin/perl
# fuzz_framework.t: the make fuzz machinery (t/fuzz/). Every line of t/fuzz/targets names
# existing files and has a seed corpus of a dozen or more small files; every fuzz_*.c is
# listed. t/fuzz/run, on two tiny targets built with clang here (skipped without clang and
# libFuzzer), prints one "ok" line with runs and coverage for a clean target, a "FAILED"
# line naming the kept input for one that aborts on its seed, and exits 1.

use strict;
use warnings;
use Test::More;
use File::Temp qw(tempdir);
use File::Path qw(make_path);
use Cwd qw(getcwd);
use lib 't/lib';
use Portico;

my $repo = getcwd();

# ---- t/fuzz/targets: names, files, corpora ------------------------------------------------------

my %targets;
open(my $fh, '<', 't/fuzz/targets') or die "t/fuzz/targets: $!";
while (my $line = <$fh>) {
    $line =~ s/#.*//;
    next unless $line =~ /\S/;
    like($line, qr/^[A-Za-z0-9_]+:\s*\S/, "targets: \"NAME: FILE...\" line");
    my ($name, $files) = $line =~ /^([A-Za-z0-9_]+):(.*)$/ or next;
    $targets{$name} = [ split(' ', $files) ];
}
close($fh);

for my $name (qw(http_parse upstream_response conf path)) {
    ok($targets{$name}, "targets: $name is listed");
}
for my $name (sort keys %targets) {
    for my $f (@{ $targets{$name} }) {
        next if $f eq 'libportico';
        ok(-f $f, "targets: $name: $f exists");
    }
    my @seeds = grep { -f } glob("t/fuzz/corpus/$name/*");
    cmp_ok(scalar(@seeds), '>=', 12, "corpus: $name has a dozen seeds or more");
    my @big = grep { -s $_ > 8192 } @seeds;
    is("@big", '', "corpus: $name seeds are small (8 KiB at most)");
}
for my $c (glob('t/fuzz/fuzz_*.c')) {
    my $listed = grep { grep { $_ eq $c } @$_ } values %targets;
    ok($listed, "targets: $c is listed");
}

# ---- t/fuzz/run: a clean target and a crashing one ------------------------------------------------

SKIP: {
    my $ok = system('clang -v >/dev/null 2>&1') == 0;
    my $rt = $ok ? `clang -print-resource-dir 2>/dev/null` : '';
    chomp($rt);
    $ok &&= scalar(() = glob("$rt/lib/*/libclang_rt.fuzzer*.a")) > 0;
    skip('needs clang and its libFuzzer runtime (scripts/install-deps --test)', 9) unless $ok;

    my $dir = tempdir('portico-fuzzrun-XXXXXX', DIR => '/tmp', CLEANUP => 1);
    make_path("$dir/b/fuzz", "$dir/t/fuzz/corpus/good", "$dir/t/fuzz/corpus/bad");
    write_file("$dir/t/fuzz/targets", "good: good.c\nbad: bad.c   # a comment\n");
    write_file("$dir/t/fuzz/lsan.supp", "\n");
    write_file("$dir/t/fuzz/corpus/good/a", "abc");
    write_file("$dir/t/fuzz/corpus/bad/a", "boom");
    my $head = "#include <stdint.h>\n#include <stddef.h>\n#include <stdlib.h>\n#include <string.h>\n"
        . "int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);\n"
        . "int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)\n";
    write_file("$dir/good.c", $head . "{ return n > 100000 && d[0] == 1; }\n");
    write_file("$dir/bad.c", $head . "{ if (n >= 4 && memcmp(d, \"boom\", 4) == 0) abort(); return 0; }\n");
    for my $t (qw(good bad)) {
        my ($rc, $out, $err) = Portico::run_cmd('clang', '-g', '-fsanitize=fuzzer,address',
                                                '-o', "$dir/b/fuzz/fuzz_$t", "$dir/$t.c");
        is($rc, 0, "clang builds the $t target") or diag($out . $err);
    }

    # not run_cmd: the crash report of the bad target is expected output here
    my $rc = system("cd $dir && timeout 120 $repo/t/fuzz/run b 2 > $dir/out 2>&1");
    open(my $oh, '<', "$dir/out") or die "$dir/out: $!";
    my $all = do { local $/; <$oh> };
    close($oh);
    is($rc >> 8, 1, 'run: exit 1 when a target crashed') or diag($all);
    like($all, qr/^fuzz: good: ok: \d+ runs in \d+ s, cov \d+, ft \d+, corpus 1 -> \d+$/m,
         'run: one ok line with runs and coverage for the clean target');
    like($all, qr{^fuzz: bad: FAILED \(exit \d+\): .*input: b/fuzz/bad-crash-[0-9a-f]+; see b/fuzz/bad\.log$}m,
         'run: one FAILED line naming the kept input');
    my @crash = glob("$dir/b/fuzz/bad-crash-*");
    is(scalar(@crash), 1, 'run: the crashing input is kept in the build directory');
    like($all, qr/^fuzz: FAILED$/m, 'run: overall FAILED');
    ok(!-e "$dir/t/fuzz/corpus/good/" . 'x' && scalar(() = glob("$dir/t/fuzz/corpus/good/*")) == 1,
       'run: the committed corpus is left as it was');

    my ($rc1, $out, $err) = Portico::run_cmd('sh', '-c', "cd $dir && $repo/t/fuzz/run b 1 good");
    is($rc1, 0, 'run: one named target, exit 0') or diag($out . $err);
}

done_testing();
