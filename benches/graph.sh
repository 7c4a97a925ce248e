#!/usr/bin/env bash
# Build-graph figures, each measured in this one run:
#   (a) the null build of the mini and default spins (every instance faked as built under its
#       recorded key): median wall time of `serpent build` over 21 runs, and ninja's null build of
#       a graph of 152 edges beside them;
#   (b) a spin of N small C packages (three serial "configure" compiles, then a make of four
#       files)
#       built with --jobs 2, against the same packages built one after another;
#   (c) the largest number of compiler processes alive at once during (b).
# Usage: benches/graph.sh [PACKAGES]   (default 4)
set -euo pipefail
cd "$(dirname "$0")/.."
packages="${1:-4}"
cargo build --release --quiet
bin="$PWD/target/release/serpent"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
ms() { echo $(( $(date +%s%N) / 1000000 )); }

# (a) null builds: a spin with every instance faked as built, and ninja with nothing to do
cp -r recipes stdlib "$scratch/"
median_of_21() {
    local times=() start
    for _ in $(seq 21); do
        start=$(ms)
        "$@" >/dev/null
        times+=($(( $(ms) - start )))
    done
    printf '%s\n' "${times[@]}" | sort -n | sed -n 11p
}
null_build() {
    local spin="$1" work="$scratch/builds-$1"
    mkdir -p "$work"
    # Dependents are keyed on their dependencies' outputs, so records are faked a layer at a time
    # until the plan has nothing left to build.
    while (cd "$scratch" && "$bin" plan --spin "$spin" --work-dir "$work" --format json) > "$scratch/plan.json" &&
        python3 - "$work" "$scratch/plan.json" <<'PY'
import hashlib, json, os, sys
work, plan = sys.argv[1], sys.argv[2]
faked = 0
for item in json.load(open(plan))["instances"]:
    if item["status"] == "built":
        continue
    target, stage, name = item["id"].split("/")
    base = f"{work}/{target}/{stage}"
    os.makedirs(f"{base}/pkgs/{name}", exist_ok=True)
    os.makedirs(f"{base}/records", exist_ok=True)
    record = {"id": item["id"], "name": item["name"], "version": item["version"],
              "recipe": item["recipe"], "key": item["key"], "inputs": {}, "seconds": 0.0,
              "output": hashlib.sha256(item["id"].encode()).hexdigest()}
    json.dump(record, open(f"{base}/records/{name}.json", "w"))
    faked += 1
sys.exit(0 if faked else 1)
PY
    do :; done
    local instances median
    instances=$(python3 -c "import json; print(len(json.load(open('$scratch/plan.json'))['instances']))")
    median=$(cd "$scratch" && median_of_21 "$bin" -q build --spin "$spin" --work-dir "$work")
    echo "(a) null build of the $spin spin ($instances instances): median ${median} ms over 21 runs"
}
null_build mini
null_build default
# ninja's null build of a graph of 150 compiles and a link, for scale.
graph="$scratch/ninja"
mkdir -p "$graph"
{
    echo "rule cc"
    echo "  command = cc -c \$in -o \$out"
    echo "rule link"
    echo "  command = cc \$in -o \$out"
    for n in $(seq 150); do
        echo "int f$n(void) { return $n; }" > "$graph/f$n.c"
        echo "build f$n.o: cc f$n.c"
    done
    echo "int main(void) { return 0; }" > "$graph/main.c"
    echo "build main.o: cc main.c"
    echo "build program: link main.o $(seq -f 'f%g.o' -s ' ' 150)"
} > "$graph/build.ninja"
(cd "$graph" && ninja -j 2 >/dev/null)
median=$(cd "$graph" && median_of_21 ninja -j 2)
echo "(a) ninja's null build of 152 edges: median ${median} ms over 21 runs"

# (b) and (c): N packages, each three serial compiles then a parallel make of four files.
project="$scratch/multi"
mkdir -p "$project/recipes/stage1"
cp -r stdlib "$project/"
cp -r recipes/targets "$project/recipes/"
cp recipes/stage1/stage.rhai "$project/recipes/stage1/"
cat > "$scratch/cc" <<CC
#!/bin/sh
# Counts the compilers alive at once, then compiles.
flock $scratch/count.lock sh -c 'n=\$((\$(cat $scratch/count 2>/dev/null || echo 0)+1)); echo \$n > $scratch/count; m=\$(cat $scratch/count.max 2>/dev/null || echo 0); [ \$n -gt \$m ] && echo \$n > $scratch/count.max; true'
clang "\$@"; status=\$?
flock $scratch/count.lock sh -c 'echo \$((\$(cat $scratch/count)-1)) > $scratch/count'
exit \$status
CC
chmod +x "$scratch/cc"
# A translation unit that keeps the optimizer busy for a while.
for i in $(seq 1500); do
    echo "double f$i(double x) { double s = 0; for (int k = 0; k < $((i % 7 + 3)); k++) s += x * k / (k + 1.5); return s + $i; }"
done > "$scratch/body.c"
for n in $(seq 0 $((packages - 1))); do
    cat > "$project/recipes/stage1/p$n.rhai" <<RECIPE
const NAME = "p$n";
const VERSION = "1";
fn build(ctx) {
    // The serial part, like a configure script's checks, then four files in parallel.
    ctx.copy("$scratch/body.c", "configure.c");
    for k in 0..3 { ctx.run(["$scratch/cc", "-O2", "-c", "configure.c", "-o", "configure.o"]); }
    for k in 0..4 { ctx.copy("$scratch/body.c", \`u\${k}.c\`); }
    ctx.write("Makefile", "all: u0.o u1.o u2.o u3.o\\n%.o: %.c\\n\\t$scratch/cc -O2 -c \$< -o \$@\\n");
    ctx.make([]);
}
fn install(ctx) { ctx.write(\`\${ctx.destdir}/share/p$n\`, "done"); }
RECIPE
done
start=$(ms)
for n in $(seq 0 $((packages - 1))); do
    (cd "$project" && "$bin" -q run "recipes/stage1/p$n.rhai" --target x86_64 --jobs 2 --work-dir "$scratch/seq")
done
sequential=$(( $(ms) - start ))
rm -f "$scratch/count" "$scratch/count.max"
start=$(ms)
(cd "$project" && "$bin" -q build --target x86_64 --jobs 2 --work-dir "$scratch/par")
parallel=$(( $(ms) - start ))
most=$(cat "$scratch/count.max")
echo "(b) $packages packages with --jobs 2: ${parallel} ms; one after another: ${sequential} ms; ratio $(awk -v p="$parallel" -v s="$sequential" 'BEGIN { printf "%.2f", p / s }')"
echo "(c) most compiler processes alive at once with --jobs 2: $most"
