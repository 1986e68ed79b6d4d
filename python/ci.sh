#!/usr/bin/env bash
# Python package CI: fresh virtualenv, `pip install ./python` (maturin build
# of the native module), clippy and the native crate's own unit tests, mypy --strict,
# stubtest, then pytest against a local worker started by
# tests/harness/worker.py. Idempotent; works on a fresh clone.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
VENV="${CFD_PY_VENV:-$HERE/.venv}"

step() { printf '\n==> %s\n' "$*"; }

step "virtualenv at $VENV"
if ! python3 -m venv "$VENV" 2>/dev/null; then
    # Debian's system python needs python3-venv.
    "$HERE/../scripts/apt-install.sh" python3-venv
    python3 -m venv "$VENV"
fi
PY="$VENV/bin/python"
"$PY" -m pip install -q --upgrade pip
"$PY" -m pip install -q "maturin>=1.16,<2" "pytest>=8" "pytest-asyncio>=1.0" "mypy>=1.10" \
    "hypothesis>=6.100" "opentelemetry-api>=1.20"

step "pip install ./python (maturin build)"
(cd "$HERE/.." && "$PY" -m pip install -q --force-reinstall --no-deps ./python)

step "native crate: clippy, and its unit tests (in an embedded interpreter)"
(
    cd "$HERE/.."
    export PYO3_PYTHON="$PY"
    cargo clippy -q -p cloudflare_durable_python --all-targets -- -D warnings
    cargo test -q -p cloudflare_durable_python
)

cd "$HERE"
step "mypy --strict (package and examples)"
"$PY" -m mypy --strict src/cloudflare_durable examples

step "stubtest (_native.pyi against the native module)"
"$PY" -m mypy.stubtest cloudflare_durable._native

step "pytest"
set +e
"$PY" -m pytest -q -p no:cacheprovider "$@"
status=$?
set -e
if [ "$status" -eq 0 ]; then
    echo "python: mypy, stubtest and pytest passed"
else
    echo "python: pytest FAILED (exit $status)"
fi
exit "$status"
