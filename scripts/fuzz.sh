#!/usr/bin/env bash
# Fuzzes the core's protocol decoders and input encoders (core/fuzz) for a
# bounded time per target: `scripts/fuzz.sh [SECONDS]` (default 30).
# Uses stable Rust with RUSTC_BOOTSTRAP (cargo fuzz needs nightly flags) and
# no sanitizer: the targets look for panics and broken invariants.
set -euo pipefail
seconds=${1:-30}
root=$(cd "$(dirname "$0")/.." && pwd)
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked --quiet
cd "$root/core"
export RUSTC_BOOTSTRAP=1
for target in decode_frame error_body path_segments; do
  out=$(cargo fuzz run --sanitizer none -O "$target" -- -max_total_time="$seconds" 2>&1) || {
    echo "$out" | tail -40
    echo "fuzz target $target FAILED"
    exit 1
  }
  echo "fuzz $target: $(echo "$out" | grep -E '^Done' | tail -1)"
done
