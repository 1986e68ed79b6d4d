#!/usr/bin/env bash
# CI for the Swift package, short of compiling it (no Swift toolchain can be
# installed here): parses every .swift file with tree-sitter-swift and checks
# every call of the package's own declarations for its argument labels and
# the `try`/`await` it needs (check_swift.py, after its self-test). The generated files' freshness is
# checked by bindings/kotlin/ci.sh (bindings/generate.sh --check all).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.venv"
if ! python3 -m venv "$venv" 2>/dev/null; then
    "$here/../../scripts/apt-install.sh" python3-venv
    python3 -m venv "$venv"
fi
"$venv/bin/pip" install -q --disable-pip-version-check "tree-sitter==0.26.*" "tree-sitter-swift==0.7.*"
"$venv/bin/python" "$here/check_swift.py" --self-test "$here"
