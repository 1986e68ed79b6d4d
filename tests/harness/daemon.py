"""Start and stop the harness's small helper servers as detached processes.

Each helper script (`fault_proxy.py`, `hostile_server.py`,
`cloudflare_api_mock.py`, `tls_server.py`) runs itself with `serve --port P`
in a new session; `start` waits (bounded) until the port accepts, and the
pid and port are kept in `DIR/<name>.json` for `stop`. Python 3.9+, stdlib
only, loopback only.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import List

READY_TIMEOUT_S = 10.0


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(script: str, state_dir: Path, name: str, serve_args: List[str]) -> int:
    """Runs `script serve --state-dir DIR --port P …` detached; returns P once it accepts.

    Raises SystemExit with the log's path if it exits or does not listen in time.
    """
    state_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log_path = state_dir / f"{name}.log"
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, script, "serve", "--state-dir", str(state_dir), "--port", str(port), *serve_args],
            stdout=log, stderr=log, start_new_session=True,
        )
    deadline = time.monotonic() + READY_TIMEOUT_S
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise SystemExit(f"{name} did not start listening; see {log_path}")
            time.sleep(0.02)
    (state_dir / f"{name}.json").write_text(json.dumps({"pid": proc.pid, "port": port}))
    return port


def pid(state_dir: Path, name: str) -> int:
    """The pid `start` recorded."""
    return json.loads((state_dir / f"{name}.json").read_text())["pid"]


def stop(state_dir: Path, name: str) -> None:
    """SIGKILLs the process `start` recorded; quiet when it is already gone."""
    try:
        os.kill(pid(state_dir, name), signal.SIGKILL)
    except (OSError, FileNotFoundError, ValueError, KeyError):
        pass
