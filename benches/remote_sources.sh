#!/usr/bin/env bash
# A large source through the remote cache against BuildGrid on loopback (installed by
# scripts/setup), with a loopback HTTP server as upstream. One source of SIZE MiB (random bytes),
# each step's wall time and serpent's peak memory (maximum resident set size):
#   (a) `serpent fetch` from upstream into an empty store,
#   (b) `serpent fetch --remote-cache-write`: found in the store, uploaded to the cache,
#   (c) `serpent fetch --remote-cache` from the cache into an empty store, upstream gone.
# Usage: benches/remote_sources.sh [SIZE]   (default 256; SERPENT=path/to/serpent skips the
# release build)
set -euo pipefail
cd "$(dirname "$0")/.."
size="${1:-256}"
if [ -z "${SERPENT:-}" ]; then
    cargo build --release --quiet
    SERPENT="$PWD/target/release/serpent"
fi
bgd="${SERPENT_BUILDGRID:-${XDG_CACHE_HOME:-$HOME/.cache}/serpent/buildgrid}/bin/bgd"
[ -x "$bgd" ] || { echo "BuildGrid is not installed at $bgd: run scripts/setup" >&2; exit 1; }
scratch="$(mktemp -d)"
servers=()
cleanup() {
    for pid in "${servers[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
    rm -rf "$scratch"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_for() { until python3 -c "import socket; socket.create_connection(('127.0.0.1', $1), 1)" 2>/dev/null; do sleep 0.5; done; }

grid_port="$(free_port)"
sed "s/PORT/$grid_port/" tests/integration/remote_cache/buildgrid.yml > "$scratch/buildgrid.yml"
# The source must fit in BuildGrid's memory storage, with room for the rest.
sed -i "s/size: 512M/size: $(( size * 2 + 64 ))M/" "$scratch/buildgrid.yml"
"$bgd" server start "$scratch/buildgrid.yml" >"$scratch/buildgrid.log" 2>&1 &
servers+=($!)
mkdir -p "$scratch/dist"
head -c "$(( size * 1024 * 1024 ))" /dev/urandom > "$scratch/dist/big.tar"
http_port="$(free_port)"
python3 -m http.server --bind 127.0.0.1 --directory "$scratch/dist" "$http_port" >/dev/null 2>&1 &
servers+=($!)
wait_for "$grid_port"
wait_for "$http_port"
cache="grpc://127.0.0.1:$grid_port"
sha="$(sha256sum "$scratch/dist/big.tar" | cut -d' ' -f1)"

project="$scratch/project"
mkdir -p "$project/recipes/stage1"
cp -r stdlib "$project/"
cp -r recipes/targets "$project/recipes/"
cp recipes/stage1/stage.rhai "$project/recipes/stage1/"
write_recipe() {
    cat > "$project/recipes/stage1/big.rhai" <<EOF
const NAME = "big";
const VERSION = "1";
const SOURCES = [#{ url: "$1", sha256: "$sha", unpack: false }];

fn install(ctx) {}
EOF
}
# Runs serpent fetch, checks it says where the source came from, prints seconds and peak MiB.
fetch() {
    local expected="$1"; shift
    local out
    out="$(cd "$project" && /usr/bin/time -f '%e %M' -o "$scratch/time" \
        "$SERPENT" fetch --store "$scratch/store" "$@" 2>"$scratch/stderr")" \
        || { cat "$scratch/stderr" >&2; exit 1; }
    case "$out" in
        *"$expected"*) ;;
        *) echo "expected \"$expected\", got: $out" >&2; cat "$scratch/stderr" >&2; exit 1 ;;
    esac
    read -r seconds kib < "$scratch/time"
    echo "$seconds s, $(( kib / 1024 )) MiB peak"
}

write_recipe "http://127.0.0.1:$http_port/big.tar"
a="$(fetch '(from upstream)')"
b="$(fetch '(in the store)' --remote-cache "$cache" --remote-cache-write)"
rm -rf "$scratch/store"
write_recipe "http://127.0.0.1:1/big.tar"
c="$(fetch "(from the remote cache $cache)" --remote-cache "$cache")"
echo "one source of $size MiB"
echo "(a) from upstream: $a"
echo "(b) in the store, uploaded: $b"
echo "(c) from the cache: $c"
