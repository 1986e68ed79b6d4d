#!/usr/bin/env bash
# Every test suite of the project, against real local workers: the Rust core
# (format, lint, unit and integration tests), the worker's unit tests and
# protocol checks, then each host package's own
# ci.sh (Elixir, Python, Kotlin + Swift generation, Swift parse and call
# labels). Installs what it needs.
# Prints one summary line per suite; exits non-zero if any failed.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

results=()
failed=0
run() {
  local name=$1; shift
  echo
  echo "================ $name"
  local start=$SECONDS
  if "$@"; then
    results+=("PASS  $name ($((SECONDS - start)) s)")
  else
    results+=("FAIL  $name ($((SECONDS - start)) s)")
    failed=1
  fi
}

core() {
  (cd worker && [ -d node_modules ] || npm ci --no-audit --no-fund) &&
  cargo fmt --all --check &&
  cargo clippy -p cloudflare-durable -p cloudflare-durable-cli --all-targets -- -D warnings &&
  cargo test -p cloudflare-durable -p cloudflare-durable-cli
}

worker_suite() {
  node --test worker/test/ &&
  python3 tests/harness/smoke_worker.py
}

run "rust core and CLI" core
run "worker (unit tests, then PROTOCOL.md checks against workerd)" worker_suite
run "fuzz (core decoders, ${FUZZ_SECONDS:-30} s per target)" bash scripts/fuzz.sh "${FUZZ_SECONDS:-30}"
for suite in elixir/ci.sh python/ci.sh bindings/kotlin/ci.sh bindings/swift/ci.sh; do
  if [ -x "$suite" ]; then
    run "$suite" bash "$suite"
  else
    results+=("FAIL  $suite (missing)")
    failed=1
  fi
done

echo
echo "================ summary"
printf '%s\n' "${results[@]}"
exit $failed
