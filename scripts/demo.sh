#!/usr/bin/env bash
# The README's demo: start the reference worker on a local workerd, then run
# the Rust demo against it (create a counter, increment it, watch the live
# update arrive over a WebSocket). Installs what it needs; stops the worker
# on exit.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
state=$(mktemp -d)
trap 'python3 "$root/tests/harness/worker.py" stop --state-dir "$state" >/dev/null 2>&1 || true; rm -rf "$state"' EXIT

echo "== building the demo (first build takes a few minutes)"
cargo build --release --quiet -p cloudflare-durable --example demo --manifest-path "$root/Cargo.toml"
echo "== starting the reference worker on workerd"
url=$(python3 "$root/tests/harness/worker.py" start --state-dir "$state")
echo "== worker at $url"
CLOUDFLARE_WORKER_URL="$url" "$root/target/release/examples/demo"
