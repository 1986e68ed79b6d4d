#!/usr/bin/env bash
# One command for every benchmark: builds the contenders, starts one local
# worker, runs each contender in its own process on the same workloads, and
# writes bench/results/latest.{md,png,json}. Settings: BENCH_* variables
# (see bench/README.md). Not part of `make test`.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
cd "$root"

# 5,000 sockets per process, plus the worker's side of them.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
if [ "$(ulimit -n)" -lt 12000 ]; then echo "bench: open files limit $(ulimit -n) is too low for the socket case" >&2; fi
echo "bench: open files limit $(ulimit -n); load: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

# The Elixir and Kotlin contenders need their toolchains and the worker needs
# npm: install what is missing (apt), as elixir/ci.sh and bindings/kotlin/ci.sh do.
missing=()
command -v mix >/dev/null && [ -f /usr/lib/erlang/usr/include/erl_nif.h ] || missing+=(elixir erlang-dev)
command -v mvn >/dev/null || missing+=(maven)
command -v java >/dev/null || missing+=(openjdk-17-jdk-headless)
command -v npm >/dev/null || missing+=(npm)
scripts/apt-install.sh "${missing[@]}" >&2

echo "bench: Python venv (bench/.venv) with the peers, matplotlib and ./python" >&2
if [ ! -x "$here/.venv/bin/python" ]; then
    python3 -m venv "$here/.venv"
fi
"$here/.venv/bin/pip" install -q --disable-pip-version-check \
    "aiohttp==3.14.*" "httpx==0.28.*" "requests==2.34.*" "websockets==17.4.*" "matplotlib>=3.8" "maturin>=1.16,<2"
if [ "${BENCH_SKIP_PY_BUILD:-0}" != 1 ]; then
    "$here/.venv/bin/pip" install -q --disable-pip-version-check --force-reinstall --no-deps ./python
fi

echo "bench: cargo build --release -p cloudflare-durable-bench" >&2
cargo build --release -q -p cloudflare-durable-bench

# Elixir and Kotlin contenders build themselves ("check" step) from bench.py.
exec "$here/.venv/bin/python" "$here/bench.py" "$@"
