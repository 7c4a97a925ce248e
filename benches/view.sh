#!/usr/bin/env bash
# The cost of a build's view of its stage (see src/view.rs), measured in this one run against
# the obvious baseline, GNU `cp -al` of the same packages into one folder:
#   a stage of PACKAGES packages of FILES files each (in nested folders, with a link apiece),
#   and a recipe depending on all of them; serpent's figure is the one `-v` prints for that
#   recipe's view (assembly plus the record of each file's size and time), median of 5 runs.
# Usage: benches/view.sh [PACKAGES] [FILES]   (default 8 packages of 2000 files)
set -euo pipefail
cd "$(dirname "$0")/.."
packages="${1:-8}"
files="${2:-2000}"
cargo build --release --quiet
bin="$PWD/target/release/serpent"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$scratch/recipes/stage1"
cp -r stdlib "$scratch/"
cp -r recipes/targets "$scratch/recipes/"
cp recipes/stage1/stage.rhai "$scratch/recipes/stage1/"
cat > "$scratch/files.sh" <<'SH'
# files.sh DESTDIR NAME COUNT: COUNT small headers in 50 folders, and a link.
for i in $(seq 1 "$3"); do
    d="$1/usr/include/$2/$((i % 50))"
    mkdir -p "$d" && echo "$i" > "$d/f$i.h"
done
ln -s "$2" "$1/usr/include/link-$2"
SH
depends=""
for p in $(seq 1 "$packages"); do
    cat > "$scratch/recipes/stage1/p$p.rhai" <<RHAI
const NAME = "p$p";
const VERSION = "1";
fn install(ctx) {
    ctx.run(["sh", "$scratch/files.sh", ctx.destdir, "p$p", "$files"]);
}
RHAI
    depends="$depends\"p$p\", "
done
cat > "$scratch/recipes/stage1/all.rhai" <<RHAI
const NAME = "all";
const VERSION = "1";
const DEPENDS = [$depends];
fn install(ctx) { ctx.write(\`\${ctx.destdir}/done\`, "1"); }
RHAI
cd "$scratch"
"$bin" build --target x86_64 --work-dir w -q
runs=()
for run in 1 2 3 4 5; do
    echo "// run $run" >> recipes/stage1/all.rhai
    ms=$("$bin" run recipes/stage1/all.rhai --target x86_64 --work-dir w -v 2>&1 |
        sed -n 's/.*its view of the stage is .* assembled in \([0-9]*\) ms/\1/p')
    runs+=("$ms")
done
median() { printf '%s\n' "$@" | sort -n | sed -n "$(( ($# + 1) / 2 ))p"; }
baseline=()
for run in 1 2 3 4 5; do
    rm -rf copy && mkdir copy
    start=$(date +%s%N)
    for p in $(seq 1 "$packages"); do cp -al "w/x86_64/stage1/pkgs/p$p/." copy/; done
    baseline+=($(( ($(date +%s%N) - start) / 1000000 )))
done
echo "view of $packages packages x $files files: serpent $(median "${runs[@]}") ms, cp -al $(median "${baseline[@]}") ms (medians of 5)"
