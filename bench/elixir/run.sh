#!/usr/bin/env bash
# Elixir contenders: `run.sh check` builds; `run.sh nif|httpc CASE ARGS…` runs
# one case (bench.exs) inside the elixir/ Mix project (MIX_ENV=bench).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
project="${BENCH_ELIXIR_PROJECT:-$here/../../elixir}"
export MIX_ENV=bench
command -v mix >/dev/null || { echo "mix not found (apt-get install elixir erlang-dev)" >&2; exit 1; }
cd "$project"
if [ "${1:-}" = check ]; then
    mix compile >&2
    exit 0
fi
exec mix run --no-compile "$here/bench.exs" "$@"
