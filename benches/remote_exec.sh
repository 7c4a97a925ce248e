#!/usr/bin/env bash
# Remote execution's cost per recipe instance against buildbox-casd's local execution service on
# loopback (installed by scripts/setup; serpent's `buildbox-run` is its runner), each measured in
# this one run over N tiny recipes (one 64 KiB file each, no sources, no compiler):
#   (a) building them here,
#   (b) building each on the worker (--remote-executor): input root uploaded, action run, package
#       pulled back,
#   (c) pulling all of them from the executor's cache into a wiped work dir.
# Each figure is the median of 5 runs, divided by N; the instances are independent and built
# with the default --jobs, two at a time on two cores.
# Usage: benches/remote_exec.sh [N]   (default 20; SERPENT=path/to/serpent skips the release build)
set -euo pipefail
cd "$(dirname "$0")/.."
count="${1:-20}"
if [ -z "${SERPENT:-}" ]; then
    cargo build --release --quiet
    SERPENT="$PWD/target/release/serpent"
fi
casd="${SERPENT_BUILDBOX:-${XDG_CACHE_HOME:-$HOME/.cache}/serpent/buildbox}/buildbox-casd"
[ -x "$casd" ] || { echo "buildbox-casd is not installed at $casd: run scripts/setup" >&2; exit 1; }
scratch="$(mktemp -d)"
server=""
cleanup() {
    if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
    rm -rf "$scratch"
}
trap cleanup EXIT
ms() { echo $(( $(date +%s%N) / 1000000 )); }

port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
"$casd" --bind="127.0.0.1:$port" --buildbox-run="$SERPENT" --runner-arg=buildbox-run --jobs=2 \
    "$scratch/cas" >"$scratch/casd.log" 2>&1 &
server=$!
until python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 1)" 2>/dev/null; do sleep 0.2; done
executor="grpc://127.0.0.1:$port"

project="$scratch/project"
mkdir -p "$project/recipes/stage1"
cp -r stdlib "$project/"
cp -r recipes/targets "$project/recipes/"
cp recipes/stage1/stage.rhai "$project/recipes/stage1/"
# Each round gets recipes of its own (a different salt), so no round finds another's results.
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
# The summary line is checked: a figure for executions that did not execute would be worthless.
build() {
    local expected="$1"; shift
    local output
    output="$(cd "$project" && "$SERPENT" build --target x86_64 --work-dir "$project/build" "$@" 2>&1)"
    case "$output" in
        *"$expected"*) ;;
        *) echo "expected \"$expected\", got: $output" >&2; exit 1 ;;
    esac
    if [ "$#" -gt 0 ] && [ "$expected" = "built $count recipe instance(s), 0 up to date" ]; then
        local remote
        remote="$(grep -c ': built on worker ' <<<"$output" || true)"
        [ "$remote" = "$count" ] || { echo "only $remote of $count built on the worker: $output" >&2; exit 1; }
    fi
}

median() { sort -n | sed -n 3p; }
per_instance() { echo "scale=1; $1 / $count" | bc; }
declare -A figures
for round in 1 2 3 4 5; do
    write_recipes "$round"
    built="built $count recipe instance(s), 0 up to date"
    rm -rf "$project/build"; start=$(ms); build "$built"; figures[a]+="$(( $(ms) - start ))"$'\n'
    rm -rf "$project/build"; start=$(ms); build "$built" --remote-executor "$executor"; figures[b]+="$(( $(ms) - start ))"$'\n'
    rm -rf "$project/build"; start=$(ms); build "$count pulled from the remote cache" --remote-executor "$executor"; figures[c]+="$(( $(ms) - start ))"$'\n'
done
for part in a b c; do
    total="$(printf '%s' "${figures[$part]}" | median)"
    case "$part" in
        a) what="built here" ;;
        b) what="built on the worker" ;;
        c) what="pulled from the executor's cache" ;;
    esac
    echo "($part) $what: ${total} ms for $count instances, $(per_instance "$total") ms each (median of 5)"
done
