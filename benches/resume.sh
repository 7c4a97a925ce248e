#!/usr/bin/env bash
# Resuming a killed build, measured in this one run on a real package (stage2's busybox of the
# mini spin, for the host's architecture):
#   (a) a fresh build's wall time;
#   (b) the same build killed (SIGKILL to serpent's process group) halfway through (a)'s time,
#       then the rerun's wall time, which resumes in the kept build folder.
# Usage: benches/resume.sh [WORK_DIR]   (default: a new folder; busybox's dependencies are built
# there first, which takes a few minutes)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
bin="$PWD/target/release/serpent"
work="${1:-$(mktemp -d)}"
arch="$(uname -m)"
recipe=recipes/stage2/busybox.rhai
serpent() { "$bin" -q --spin mini --target "$arch" --work-dir "$work" --offline "$@"; }
record="$work/$arch/stage2/records/busybox.json"
seconds() { python3 -c "import time; print(f'{time.monotonic():.1f}')"; }

serpent run "$recipe"
rm -f "$record"
start=$(seconds)
serpent run "$recipe"
fresh=$(python3 -c "print(round($(seconds) - $start, 1))")

rm -f "$record"
setsid "$bin" -q --spin mini --target "$arch" --work-dir "$work" --offline run "$recipe" &
leader=$!
sleep "$(python3 -c "print($fresh / 2)")"
kill -KILL -- "-$leader"
wait "$leader" 2>/dev/null || true
test ! -f "$record"
start=$(seconds)
serpent run "$recipe"
resumed=$(python3 -c "print(round($(seconds) - $start, 1))")

echo "busybox, $arch: fresh build ${fresh} s; killed at $(python3 -c "print(round($fresh / 2, 1))") s, the resumed rerun took ${resumed} s ($(python3 -c "print(round($resumed / $fresh, 2))") of a fresh build)"
