#!/usr/bin/env bash
# Compare GNU `tar -xJf` with `serpent unpack` on one archive.
#
# Usage: benches/unpack.sh ARCHIVE [RUNS]
#
# Both extract with one leading component stripped, into fresh directories on
# the same filesystem (under $BENCH_DIR, default /tmp), alternating, RUNS times
# each (default 2); the best time of each is reported. The page cache is left
# alone.
set -euo pipefail
archive=$(realpath "${1:?usage: benches/unpack.sh ARCHIVE [RUNS]}")
runs=${2:-2}
cd "$(dirname "$0")/.."
cargo build --release --quiet
bin=$PWD/target/release/serpent
work=$(mktemp -d "${BENCH_DIR:-/tmp}/unpack-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
# Outputs are moved aside and deleted only at the end: on ext4 without a
# journal, allocating inodes next to recently deleted ones is much slower
# (the kernel's recently_deleted() check), so deleting between runs would
# make each later run pay for the earlier ones.
mkdir "$work/trash"

now() { date +%s.%N; }
min() { awk -v a="$1" -v b="${2:-}" 'BEGIN { print (b == "" || a + 0 < b + 0) ? a : b }'; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }

best_tar=
best_serpent=
for i in $(seq "$runs"); do
    mkdir "$work/tar"
    t0=$(now)
    tar -xJf "$archive" -C "$work/tar" --strip-components 1
    t1=$(now)
    mv "$work/tar" "$work/trash/tar.$i"
    t=$(elapsed "$t0" "$t1")
    best_tar=$(min "$t" "$best_tar")
    echo "run $i: tar $t s" >&2

    t0=$(now)
    "$bin" unpack "$archive" "$work/serpent" --strip 1 >/dev/null
    t1=$(now)
    mv "$work/serpent" "$work/trash/serpent.$i"
    t=$(elapsed "$t0" "$t1")
    best_serpent=$(min "$t" "$best_serpent")
    echo "run $i: serpent $t s" >&2
done
printf 'tar: %.2f s\n' "$best_tar"
printf 'serpent: %.2f s\n' "$best_serpent"
awk -v a="$best_serpent" -v b="$best_tar" 'BEGIN { printf "ratio: %.2f\n", a / b }'
