#!/usr/bin/env bash
# Profiles the Kotlin contender with async-profiler (CPU, every thread) and
# prints where its samples go, by thread and by the library's own pieces.
#
#   bench/experiments/kotlin_profile.sh WORKER_URL [CASE ARGS…]   default: http echo 16
#
# async-profiler comes from Maven Central (tools.profiler:async-profiler, a jar
# holding the agent). The window is BENCH_SECONDS (default 30) after the
# contender's warm-up; the JIT's own threads are reported apart. Profiling
# costs CPU itself: compare shares, not the µs per call it prints.
set -euo pipefail
url="${1:?usage: $0 WORKER_URL [CASE ARGS…]}"
shift
[ $# -gt 0 ] || set -- http echo 16
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
version=3.0
jar="$HOME/.m2/repository/tools/profiler/async-profiler/$version/async-profiler-$version.jar"
[ -f "$jar" ] || mvn -q -B dependency:get -Dartifact="tools.profiler:async-profiler:$version" >&2
(cd "$work" && unzip -q "$jar" 'linux-x64/*')
bash "$root/bench/kotlin/run.sh" check
cd "$root/bench/kotlin"
BENCH_URL="$url" BENCH_SECONDS="${BENCH_SECONDS:-30}" java \
    -agentpath:"$work/linux-x64/libasyncProfiler.so=start,event=cpu,interval=1ms,threads,collapsed,file=$work/profile.txt" \
    -Djna.library.path="$root/bindings/kotlin/native/linux-x86-64" \
    -cp "target/classes:$(cat target/cp.txt)" BenchKt uniffi "$@"
python3 - "$work/profile.txt" <<'PY'
import collections, re, sys

rows = []
for line in open(sys.argv[1]):
    stack, n = line.rstrip().rsplit(" ", 1)
    rows.append((stack.split(";"), int(n)))
total = sum(n for _, n in rows)
threads = collections.Counter()
for frames, n in rows:
    threads[re.sub(r"\d+", "N", frames[0])] += n
print(f"{total} samples")
for thread, n in threads.most_common(6):
    print(f"{n / total * 100:5.1f}%  {thread}")
pieces = {
    "JNA structures built by reflection (Structure.newInstance)": "Structure.newInstance",
    "JNA structures written (Structure.autoWrite)": "Structure.autoWrite",
    "JNA structures read (Structure.autoRead)": "Structure.autoRead",
    "lowering the call's record (FfiConverterTypeFfiMethodCall.lower)": "FfiConverterTypeFfiMethodCall.lower",
    "completing the future (rust_future_complete_rust_buffer)": "rust_future_complete_rust_buffer",
    "polling the future (rust_future_poll_rust_buffer)": "rust_future_poll_rust_buffer",
    "uniffi's handle map (ConcurrentHashMap)": "ConcurrentHashMap",
    "resuming the coroutine from the runtime thread (continuation callback)": "ContinuationCallbackImpl.callback",
    "waking a dispatcher thread (LockSupport.unpark)": "LockSupport.unpark",
    "a dispatcher thread parking (LockSupport.parkNanos)": "LockSupport.parkNanos",
    "JSON text to and from kotlinx.serialization (DurableClientKt.parse/text)": "DurableClientKt.",
    "kernel context switches (finish_task_switch)": "finish_task_switch",
}
print("share of all samples, each piece inclusive (pieces overlap):")
for label, needle in pieces.items():
    n = sum(n for frames, n in rows if any(needle in f for f in frames[1:]))
    print(f"{n / total * 100:5.1f}%  {label}")
PY
