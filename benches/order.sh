#!/usr/bin/env bash
# Which recipe takes a free job slot first, measured against a baseline build of serpent in one
# run: a graph of a chain (z1 -> z2 -> z3) and four recipes nothing needs (a, b, c, d), each
# holding its job slot for SECONDS, built with --jobs 2 by this checkout's serpent and by the
# baseline's. The recipes sleep rather than compile, so other work on the machine does not move
# the figures. The ideal is 4 x SECONDS (the chain beside the four); starting a and b first
# costs one more.
# Usage: benches/order.sh [BASELINE_REV] [SECONDS] [RUNS]   (default 99bb408, the commit before
# the job tokens were handed out by chain length; 2 seconds; 5 runs)
set -euo pipefail
cd "$(dirname "$0")/.."
baseline_rev="${1:-99bb408}"
seconds="${2:-2}"
runs="${3:-5}"
scratch="$(mktemp -d)"
trap 'git worktree remove --force "$scratch/baseline" >/dev/null 2>&1 || true; rm -rf "$scratch"' EXIT
cargo build --release --quiet
# The baseline is built once per revision, into target/, and kept for the next run.
baseline_target="$PWD/target/bench-baseline-$(git rev-parse --short "$baseline_rev")"
if [ ! -x "$baseline_target/release/serpent" ]; then
    git worktree add --detach --quiet "$scratch/baseline" "$baseline_rev"
    (cd "$scratch/baseline" && CARGO_TARGET_DIR="$baseline_target" cargo build --release --quiet)
fi

project="$scratch/project"
mkdir -p "$project/recipes/stage1"
cp -r stdlib recipes/targets "$project/" && mv "$project/targets" "$project/recipes/"
cp recipes/stage1/stage.rhai "$project/recipes/stage1/"
recipe() {
    local name="$1" depends="$2"
    cat > "$project/recipes/stage1/$name.rhai" <<RHAI
const NAME = "$name";
const VERSION = "1";
const DEPENDS = [$depends];
fn install(ctx) {
    ctx.run(["sleep", "$seconds"]);
    ctx.write(\`\${ctx.destdir}/share/$name\`, "$name");
}
RHAI
}
for name in a b c d z1; do recipe "$name" ""; done
recipe z2 '"z1"'
recipe z3 '"z2"'

wall() {
    local bin="$1" work="$scratch/work-$2" start
    rm -rf "$work"
    start=$(date +%s%N)
    "$bin" --root "$project" build --target x86_64 --jobs 2 --work-dir "$work" --quiet >/dev/null 2>&1
    echo "scale=1; ($(date +%s%N) - $start) / 1000000000" | bc
}
# Which thread reads a free token first is up to the kernel, so each build runs RUNS times.
runs() {
    local times=()
    for _ in $(seq "$runs"); do times+=("$(wall "$1" "$2")"); done
    echo "${times[*]}"
}
echo "| serpent | wall times (s) of $runs builds, 7 recipes of ${seconds} s on 2 job slots |"
echo "|---|---|"
echo "| baseline $baseline_rev | $(runs "$baseline_target/release/serpent" baseline) |"
echo "| this checkout ($(git rev-parse --short HEAD)) | $(runs "$PWD/target/release/serpent" current) |"
echo "| ideal | $((4 * seconds)) |"
