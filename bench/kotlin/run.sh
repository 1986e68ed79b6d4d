#!/usr/bin/env bash
# Kotlin contenders: `run.sh check` builds (release cdylib + mvn compile);
# `run.sh uniffi|jdk CASE ARGS…` runs one case.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
command -v mvn >/dev/null || { echo "mvn not found" >&2; exit 1; }
command -v java >/dev/null || { echo "java not found" >&2; exit 1; }
if [ "${1:-}" = check ]; then
    [ -f "$root/bindings/kotlin/src/main/kotlin/com/cloudflare/durable/DurableClient.kt" ] ||
        { echo "bindings/kotlin has no DurableClient.kt" >&2; exit 1; }
    # The binding's packaged library (bindings/kotlin/ci.sh puts it there), which
    # matches its committed generated code; else a fresh release build.
    [ -f "$root/bindings/kotlin/native/linux-x86-64/libcloudflare_durable_uniffi.so" ] ||
        (cd "$root" && cargo build --release -q -p cloudflare_durable_uniffi) >&2
    (cd "$here" && mvn -q -B -ntp compile dependency:build-classpath -Dmdep.outputFile=target/cp.txt) >&2
    exit 0
fi
native_dir="${BENCH_KOTLIN_NATIVE:-$root/bindings/kotlin/native/linux-x86-64}"
[ -f "$native_dir/libcloudflare_durable_uniffi.so" ] || native_dir="$root/target/release"
exec java -Djna.library.path="$native_dir" \
    -cp "$here/target/classes:$(cat "$here/target/cp.txt")" BenchKt "$@"
