#!/usr/bin/env bash
# The remote cache's cost per recipe instance against BuildGrid on loopback (installed by
# scripts/setup), each measured in this one run over N tiny recipes (one 64 KiB file each, no
# sources, no compiler):
#   (a) building them with no cache,
#   (b) building them with a read-only cache that holds none of them (one lookup each),
#   (c) building them and uploading each (--remote-cache-write),
#   (d) pulling all of them into a wiped work dir.
# Each figure is the median of 5 runs, divided by N.
# With --mini-stage1, real packages instead: the mini spin's stage1 for x86_64 from the source
# store scripts/setup seeds (SERPENT_TEST_STORE overrides it), (a) built with no cache, (c) built
# and uploaded, (d) pulled whole into a wiped work dir (the median of 5 pulls).
# Usage: benches/remote_cache.sh [N | --mini-stage1]   (default N=40; SERPENT=path/to/serpent
# skips the release build)
set -euo pipefail
cd "$(dirname "$0")/.."
mode=tiny
if [ "${1:-}" = "--mini-stage1" ]; then mode=mini; shift; fi
count="${1:-40}"
if [ -z "${SERPENT:-}" ]; then
    cargo build --release --quiet
    SERPENT="$PWD/target/release/serpent"
fi
bgd="${SERPENT_BUILDGRID:-${XDG_CACHE_HOME:-$HOME/.cache}/serpent/buildgrid}/bin/bgd"
[ -x "$bgd" ] || { echo "BuildGrid is not installed at $bgd: run scripts/setup" >&2; exit 1; }
scratch="$(mktemp -d)"
server=""
cleanup() {
    if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
    rm -rf "$scratch"
}
trap cleanup EXIT

port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
sed "s/PORT/$port/" tests/integration/remote_cache/buildgrid.yml > "$scratch/buildgrid.yml"
"$bgd" server start "$scratch/buildgrid.yml" >"$scratch/buildgrid.log" 2>&1 &
server=$!
until python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 1)" 2>/dev/null; do sleep 0.5; done
cache="grpc://127.0.0.1:$port"
ms() { echo $(( $(date +%s%N) / 1000000 )); }

# One build of the mini spin's stage1 into a wiped work dir, its wall time in ms on stdout;
# the summary must say `expected`, or the figure would time something else.
mini_build() {
    local expected="$1"; shift
    rm -rf "$mini_work"
    local start summary
    start=$(ms)
    summary="$("$SERPENT" "${mini[@]}" build stage1 "$@" 2>/dev/null)"
    case "$summary" in
        *"$expected"*) ;;
        *) echo "expected \"$expected\", got: $summary" >&2; exit 1 ;;
    esac
    echo $(( $(ms) - start ))
}

if [ "$mode" = mini ]; then
    store="${SERPENT_TEST_STORE:-${XDG_CACHE_HOME:-$HOME/.cache}/serpent/sources}"
    mini_work="$scratch/mini"
    mini=(--root "$PWD" --spin mini --target x86_64 --store "$store" --work-dir "$mini_work")
    instances="$("$SERPENT" "${mini[@]}" plan stage1 --format json \
        | python3 -c 'import json, sys; print(len(json.load(sys.stdin)["instances"]))')"
    built="built $instances recipe instance(s), 0 up to date"
    local_ms="$(mini_build "$built")"
    upload_ms="$(mini_build "$built" --remote-cache "$cache" --remote-cache-write)"
    size="$(du -sb --apparent-size "$mini_work/x86_64/stage1/pkgs" | cut -f1)"
    files="$(find "$mini_work/x86_64/stage1/pkgs" -type f | wc -l)"
    pulls=""
    for _ in 1 2 3 4 5; do
        pulls+="$(mini_build "$instances pulled from the remote cache" --remote-cache "$cache")"$'\n'
    done
    pull_ms="$(printf '%s' "$pulls" | sort -n | sed -n 3p)"
    echo "mini stage1 (x86_64): $instances instances, $files files, $(( size / 1048576 )) MiB"
    echo "(a) built, no cache: $local_ms ms"
    echo "(c) built and uploaded: $upload_ms ms"
    echo "(d) pulled from the cache: $pull_ms ms (median of 5)"
    exit 0
fi

project="$scratch/project"
mkdir -p "$project/recipes/stage1"
cp -r stdlib "$project/"
cp -r recipes/targets "$project/recipes/"
cp recipes/stage1/stage.rhai "$project/recipes/stage1/"
# Each round gets recipes of its own (a different salt), so no round finds another's entries.
write_recipes() {
    for i in $(seq "$count"); do
        cat > "$project/recipes/stage1/r$i.rhai" <<EOF
const NAME = "r$i";
const VERSION = "$1";

fn install(ctx) {
    ctx.shell(\`head -c 65536 /dev/zero | tr '\\\\0' '$i' > \${ctx.destdir}/r$i.dat\`);
}
EOF
    done
}
# Prints nothing but the summary line, which is checked: a figure for pulls that did not pull
# would be worthless.
build() {
    local expected="$1"; shift
    local summary
    summary="$(cd "$project" && "$SERPENT" build --target x86_64 --work-dir "$project/build" "$@" 2>/dev/null)"
    case "$summary" in
        *"$expected"*) ;;
        *) echo "expected \"$expected\", got: $summary" >&2; exit 1 ;;
    esac
}

median() { sort -n | sed -n 3p; }
per_instance() { echo "scale=1; $1 / $count" | bc; }
declare -A figures
for round in 1 2 3 4 5; do
    write_recipes "$round"
    built="built $count recipe instance(s), 0 up to date"
    rm -rf "$project/build"; start=$(ms); build "$built"; figures[a]+="$(( $(ms) - start ))"$'\n'
    rm -rf "$project/build"; start=$(ms); build "$built" --remote-cache "$cache"; figures[b]+="$(( $(ms) - start ))"$'\n'
    rm -rf "$project/build"; start=$(ms); build "$built" --remote-cache "$cache" --remote-cache-write; figures[c]+="$(( $(ms) - start ))"$'\n'
    rm -rf "$project/build"; start=$(ms); build "$count pulled from the remote cache" --remote-cache "$cache"; figures[d]+="$(( $(ms) - start ))"$'\n'
done
for part in a b c d; do
    total="$(printf '%s' "${figures[$part]}" | median)"
    case "$part" in
        a) what="built, no cache" ;;
        b) what="built, the cache missed" ;;
        c) what="built and uploaded" ;;
        d) what="pulled from the cache" ;;
    esac
    echo "($part) $what: ${total} ms for $count instances, $(per_instance "$total") ms each (median of 5)"
done
