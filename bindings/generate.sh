#!/usr/bin/env bash
# Regenerates the uniffi host bindings from the Rust crate bindings/uniffi.
#
#   bindings/generate.sh [kotlin|swift|all]   write the generated files in place
#   bindings/generate.sh --check [kotlin|swift|all]
#                                             regenerate into a temp dir and fail
#                                             if the committed files differ
#
# Policy: generated code is committed (so it can be reviewed, and the Swift
# package is usable without a Rust toolchain) and verified by `--check`, which
# bindings/kotlin/ci.sh runs. Never edit the generated files by hand: the one
# rewrite of uniffi's Kotlin (bindings/kotlin_status_pool.py) and the one of its
# Swift (bindings/swift_cancellation.py) run from here.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
check=0
if [[ "${1:-}" == "--check" ]]; then
  check=1
  shift
fi
what="${1:-all}"
case "$what" in kotlin | swift | all) ;; *)
  echo "usage: $0 [--check] [kotlin|swift|all]" >&2
  exit 2
  ;;
esac

cd "$repo"
cargo build --release -p cloudflare_durable_uniffi
target_dir="$(cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
lib="$target_dir/release/libcloudflare_durable_uniffi.so"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# Where each generated file lives in the repository.
kotlin_src="com/cloudflare/durable/cloudflare_durable_uniffi.kt"
kotlin_dst="bindings/kotlin/src/generated/kotlin/$kotlin_src"
swift_dst="bindings/swift/Sources/CloudflareDurable/Generated/CloudflareDurable.swift"
header_dst="bindings/swift/Sources/CloudflareDurableFFI/include/CloudflareDurableFFI.h"

generate() { # language
  cargo run --release -q -p uniffi-bindgen -- generate "$lib" \
    --language "$1" --no-format --out-dir "$tmp/$1" >/dev/null
}

# place SRC DST: copy (or, with --check, compare) one generated file.
status=0
place() {
  if ((check)); then
    if ! diff -u "$repo/$2" "$1" >"$tmp/diff" 2>&1; then
      echo "generated code is stale: $2 (run bindings/generate.sh)" >&2
      head -40 "$tmp/diff" >&2
      status=1
    else
      echo "up to date: $2"
    fi
  else
    mkdir -p "$(dirname "$repo/$2")"
    cp "$1" "$repo/$2"
    echo "wrote $2"
  fi
}

if [[ "$what" == kotlin || "$what" == all ]]; then
  generate kotlin
  # The one rewrite applied to uniffi's output (see the script for why).
  python3 "$here/kotlin_status_pool.py" "$tmp/kotlin/$kotlin_src"
  place "$tmp/kotlin/$kotlin_src" "$kotlin_dst"
fi
if [[ "$what" == swift || "$what" == all ]]; then
  generate swift
  # The one rewrite applied to uniffi's Swift (see the script for why).
  python3 "$here/swift_cancellation.py" "$tmp/swift/CloudflareDurable.swift"
  place "$tmp/swift/CloudflareDurable.swift" "$swift_dst"
  # SwiftPM builds the C module map itself from the umbrella header
  # include/CloudflareDurableFFI.h, so uniffi's .modulemap is not used.
  place "$tmp/swift/CloudflareDurableFFI.h" "$header_dst"
fi
exit "$status"
