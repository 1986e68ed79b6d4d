#!/usr/bin/env bash
# CI for the Kotlin/JVM package (and the Swift package's generated code):
# lints and unit-tests the uniffi crate, builds the Rust cdylib in release, checks that the committed uniffi bindings
# (Kotlin and Swift) match a fresh generation, ships the .so inside the jar's
# resources (linux-x86-64/), and runs the JUnit suite against the local worker.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cd "$repo"

need() { command -v "$1" >/dev/null 2>&1; }
if ! need mvn || ! need java || ! need npm || ! need python3; then
  apt_packages=()
  need mvn || apt_packages+=(maven)
  need java || apt_packages+=(openjdk-17-jdk-headless)
  need npm || apt_packages+=(npm)
  need python3 || apt_packages+=(python3)
  scripts/apt-install.sh "${apt_packages[@]}"
fi

echo "== the uniffi crate: clippy and its own unit tests"
cargo clippy -q -p cloudflare_durable_uniffi --all-targets -- -D warnings
cargo test -q -p cloudflare_durable_uniffi

echo "== generated bindings are up to date (builds the cdylib in release)"
bindings/generate.sh --check all

target_dir="$(cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
mkdir -p "$here/native/linux-x86-64"
cp "$target_dir/release/libcloudflare_durable_uniffi.so" "$here/native/linux-x86-64/"

echo "== ktlint-free format check: no tabs, no trailing spaces in hand-written Kotlin"
if grep -rnP '\t| +$' "$here/src/main" "$here/src/test"; then
  echo "formatting: tabs or trailing spaces above" >&2
  exit 1
fi

echo "== the README's usage example is the one ReadmeExampleTest runs"
python3 - "$here" <<'PY'
import re, sys, textwrap
here = sys.argv[1]
readme = open(f"{here}/README.md").read()
test = open(f"{here}/src/test/kotlin/com/cloudflare/durable/ReadmeExampleTest.kt").read()
example = re.search(r"## Usage.*?```kotlin\n(.*?)```", readme, re.S).group(1)
tested = textwrap.dedent(re.search(r"// README-BEGIN\n(.*?)\s*// README-END", test, re.S).group(1))
if example.strip() != tested.strip():
    sys.exit("README.md usage example differs from ReadmeExampleTest")
PY

echo "== mvn test (the worker is started by the tests through tests/harness/worker.py)"
cd "$here"
set +e
mvn -B -ntp test 2>&1 | tee "$here/target-mvn.log"
status=${PIPESTATUS[0]}
set -e
summary="$(grep -E 'Tests run: [0-9]+, Failures' "$here/target-mvn.log" | tail -1 || true)"
rm -f "$here/target-mvn.log"
echo "== kotlin: ${summary:-no test summary} (mvn exit $status)"
exit "$status"
