#!/usr/bin/env bash
# Per-run overhead of the sandbox: RUNS runs of a static busybox `true` through
# `serpent sandbox-run` (full isolation: user, mount, pid, ipc, uts and network namespaces,
# /proc, /dev, /tmp, a read-only bind) against RUNS runs of the same busybox through
# `serpent sandbox-run --no-isolation` (the same serpent startup and spawn, no namespaces).
# The difference per run is the cost of the sandbox itself; the goal is <= 5 ms.
#
# Usage: benches/sandbox.sh [RUNS]   (default 200; needs /bin/busybox from busybox-static)
set -euo pipefail
runs="${1:-200}"
cd "$(dirname "$0")/.."
cargo build --release --quiet
bin="$PWD/target/release/serpent"
scratch="$(mktemp -d /tmp/sandbox-bench.XXXXXX)"
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$scratch/root" "$scratch/prev/bin"
cp /bin/busybox "$scratch/prev/bin/busybox"
ln -s busybox "$scratch/prev/bin/true"
ns() { date +%s%N; }

# Warm up both paths (page cache, the first mount of each kind).
"$bin" sandbox-run --stage-root "$scratch/root" --bind "$scratch/prev:/serpent:ro" -- /serpent/bin/true
"$bin" sandbox-run --no-isolation --stage-root "$scratch/root" -- "$scratch/prev/bin/true"

start=$(ns)
for ((i = 0; i < runs; i++)); do
    "$bin" sandbox-run --no-isolation --stage-root "$scratch/root" -- "$scratch/prev/bin/true"
done
host=$(( $(ns) - start ))

start=$(ns)
for ((i = 0; i < runs; i++)); do
    "$bin" sandbox-run --stage-root "$scratch/root" --bind "$scratch/prev:/serpent:ro" \
        -- /serpent/bin/true
done
sandboxed=$(( $(ns) - start ))

awk -v runs="$runs" -v host="$host" -v sandboxed="$sandboxed" 'BEGIN {
    printf "host (--no-isolation): %8.3f ms/run  (%d runs, %.2f s)\n", host / runs / 1e6, runs, host / 1e9
    printf "sandboxed:             %8.3f ms/run  (%d runs, %.2f s)\n", sandboxed / runs / 1e6, runs, sandboxed / 1e9
    printf "overhead:              %8.3f ms/run  (goal <= 5 ms)\n", (sandboxed - host) / runs / 1e6
}'
