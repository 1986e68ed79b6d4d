"""Applies one rewrite to a generated file in place: the shared command line of
bindings/kotlin_status_pool.py and bindings/swift_cancellation.py, which
bindings/generate.sh runs on uniffi's output."""

import sys
from collections.abc import Callable


def rewrite_in_place(doc: str, script: str, rewrite: Callable[[str], str]) -> int:
    """Rewrites the file named on the command line with `rewrite`.

    Exits 2 (printing the usage line, the third line of `doc`) without exactly
    one argument, and 1 if `rewrite` raises ValueError: uniffi's output no
    longer has what the rewrite expects, so `script` needs updating.
    """
    if len(sys.argv) != 2:
        print(doc.strip().splitlines()[2], file=sys.stderr)
        return 2
    path = sys.argv[1]
    with open(path, encoding="utf-8") as f:
        text = f.read()
    try:
        text = rewrite(text)
    except ValueError as e:
        print(f"{path}: uniffi's output changed ({e}); update {script}", file=sys.stderr)
        return 1
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return 0
