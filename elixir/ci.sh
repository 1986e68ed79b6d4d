#!/usr/bin/env bash
# Lints the NIF crate (clippy), builds the Elixir package (NIF included), runs
# its ExUnit suite against a local worker, and runs dialyzer. Idempotent; works on a fresh clone.
set -euo pipefail
cd "$(dirname "$0")"

if ! command -v mix >/dev/null 2>&1 || ! command -v dialyzer >/dev/null 2>&1 \
   || [ ! -f /usr/lib/erlang/usr/include/erl_nif.h ]; then
  ../scripts/apt-install.sh elixir erlang-dev erlang-dialyzer
fi

export MIX_HOME="${MIX_HOME:-$HOME/.mix}"
export HEX_OFFLINE=1

echo "== clippy on the NIF crate"
(cd .. && cargo clippy -q -p cloudflare_durable_nif --all-targets -- -D warnings)

echo "== mix test (builds the NIF with cargo, starts a local worker)"
MIX_ENV=test mix compile
set +e
MIX_ENV=test mix test 2>&1 | tee /tmp/cloudflare_durable_elixir_test.log
test_status=${PIPESTATUS[0]}
set -e

echo "== dialyzer"
PLT_DIR="$HOME/.cache/cloudflare_durable_elixir"
OTP=$(erl -noshell -eval 'io:format("~s", [erlang:system_info(otp_release)]), halt().')
PLT="$PLT_DIR/otp$OTP.plt"
ELIXIR_EBIN=$(elixir -e 'IO.write(:code.lib_dir(:elixir, :ebin))')
LOGGER_EBIN=$(elixir -e 'IO.write(:code.lib_dir(:logger, :ebin))')
mkdir -p "$PLT_DIR"
if [ ! -f "$PLT" ]; then
  echo "   building the PLT once (a few minutes), cached at $PLT"
  dialyzer -pa "$ELIXIR_EBIN" --build_plt --output_plt "$PLT" \
    --apps erts kernel stdlib compiler crypto "$ELIXIR_EBIN" "$LOGGER_EBIN" >/dev/null || true
fi
# Analyse the dev build: the test build also holds the test-only :telemetry stand-in.
MIX_ENV=dev mix compile
set +e
dialyzer -pa "$ELIXIR_EBIN" --plt "$PLT" _build/dev/lib/cloudflare_durable/ebin
dialyzer_status=$?
set -e

echo "== format"
set +e
mix format --check-formatted
format_status=$?
set -e

summary=$(grep -E '^[0-9]+ tests?, ' /tmp/cloudflare_durable_elixir_test.log | tail -1 || true)
echo
echo "== elixir summary: mix test: ${summary:-no result} (exit $test_status); dialyzer exit $dialyzer_status; format exit $format_status"
[ "$test_status" -eq 0 ] && [ "$dialyzer_status" -eq 0 ] && [ "$format_status" -eq 0 ]
