#!/usr/bin/env python3
"""Run the reference Worker (worker/) on a local workerd for tests.

Both a CLI and a module (Python 3.9+, stdlib only):

    python3 tests/harness/worker.py start --state-dir DIR [--token T] [--no-test-hooks]
    python3 tests/harness/worker.py {stop,restart,kill,freeze,thaw,url} --state-dir DIR

    from worker import LocalWorker
    with LocalWorker("/tmp/state", token="secret") as w:
        ... w.url ... w.restart() ... w.freeze(); w.thaw()

`start` installs worker/node_modules if missing (`npm ci`), picks a free
loopback port, makes a fresh storage directory under DIR, starts workerd in
its own session (stdout and stderr to DIR/worker.log), waits until it answers
HTTP, writes DIR/worker.json and prints the URL. The other commands read
DIR/worker.json. Stopping is always SIGKILL: SIGTERM waits for open
WebSockets to go away, which can take over a minute.
"""

import argparse
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Optional

REPO = Path(__file__).resolve().parents[2]
WORKER_DIR = REPO / "worker"
CONFIG = WORKER_DIR / "workerd.capnp"
WORKERD = WORKER_DIR / "node_modules" / ".bin" / "workerd"

READY_TIMEOUT_S = 30.0  # bound on "started but not answering yet"
BIND_RETRY_S = 30.0  # bound on "port still held by the previous process"
EXIT_TIMEOUT_S = 10.0  # bound on "SIGKILLed process still present"
POLL_S = 0.02


class HarnessError(Exception):
    """A harness failure; the message says what and includes the log tail."""


def _log_tail(log: Path, lines: int = 30) -> str:
    try:
        text = log.read_text(errors="replace").splitlines()
    except OSError:
        return "(no worker.log)"
    return "\n".join(text[-lines:]) or "(worker.log is empty)"


def ensure_node_modules() -> None:
    """Run `npm ci` in worker/ once if workerd is not installed (under a lock)."""
    if WORKERD.exists():
        return
    lock_path = Path(tempfile.gettempdir()) / "cloudflare-durable-npm-ci.lock"
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if WORKERD.exists():  # another process installed it meanwhile
            return
        result = subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund"],
            cwd=WORKER_DIR,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        if result.returncode != 0 or not WORKERD.exists():
            raise HarnessError(f"npm ci in {WORKER_DIR} failed:\n{result.stdout[:3000]}")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pid_alive(pid: int) -> bool:
    """True while `pid` exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _is_our_workerd(pid: int, port: int) -> bool:
    """Guard against pid reuse: the pid must be a workerd on our port."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            args = f.read().decode(errors="replace").split("\0")
    except OSError:
        return False
    return any("workerd" in a for a in args[:2]) and f"http=127.0.0.1:{port}" in args


class LocalWorker:
    """One workerd process serving worker/ with its state in `state_dir`."""

    def __init__(self, state_dir, token: Optional[str] = None, test_hooks: bool = True):
        self.state_dir = Path(state_dir).resolve()
        self.token = token
        self.test_hooks = test_hooks
        self.port: Optional[int] = None
        self.storage_dir: Optional[Path] = None
        self.pid: Optional[int] = None
        self._proc: Optional[subprocess.Popen] = None

    # ---- state file ---------------------------------------------------------

    @property
    def log_path(self) -> Path:
        return self.state_dir / "worker.log"

    @property
    def state_file(self) -> Path:
        return self.state_dir / "worker.json"

    @property
    def url(self) -> str:
        if self.port is None:
            raise HarnessError("the worker has not been started")
        return f"http://127.0.0.1:{self.port}"

    @classmethod
    def load(cls, state_dir) -> "LocalWorker":
        """A LocalWorker for the process described by DIR/worker.json."""
        w = cls(state_dir)
        try:
            info = json.loads(w.state_file.read_text())
        except (OSError, ValueError) as e:
            raise HarnessError(f"no usable {w.state_file} ({e}); run `start` first") from None
        w.port = info["port"]
        w.pid = info.get("pid")
        w.storage_dir = Path(info["storage_dir"])
        w.token = info.get("token")
        w.test_hooks = info.get("test_hooks", True)
        return w

    def _save(self, running: bool) -> None:
        info = {
            "pid": self.pid,
            "port": self.port,
            "url": self.url,
            "storage_dir": str(self.storage_dir),
            "test_hooks": self.test_hooks,
            "running": running,
        }
        if self.token:
            info["token"] = self.token
        tmp = self.state_file.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(info, indent=2) + "\n")
        tmp.replace(self.state_file)

    # ---- lifecycle ----------------------------------------------------------

    def start(self) -> "LocalWorker":
        """Start on a free port with fresh storage; returns self when ready."""
        ensure_node_modules()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.storage_dir = Path(tempfile.mkdtemp(prefix="storage-", dir=self.state_dir))
        self.port = free_port()
        # Another process may grab the port between free_port() and the bind:
        # then try a new one, as the storage is fresh anyway.
        self._spawn_until_ready(allow_new_port=True)
        return self

    def restart(self) -> "LocalWorker":
        """SIGKILL, then start again on the same port and the same storage."""
        if self.port is None or self.storage_dir is None:
            raise HarnessError("restart needs a worker that was started before")
        self.kill()
        self._spawn_until_ready(allow_new_port=False)
        return self

    def stop(self) -> None:
        """SIGKILL and wait until the process is gone."""
        self.kill()

    def kill(self) -> None:
        """SIGKILL (a crash: nothing is flushed) and wait until it is gone."""
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.kill()
            try:
                self._proc.wait(EXIT_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                raise HarnessError(f"workerd {self.pid} survived SIGKILL") from None
            self._proc = None
        elif self.pid is not None and self.port is not None and _is_our_workerd(self.pid, self.port):
            os.kill(self.pid, signal.SIGKILL)
            deadline = time.monotonic() + EXIT_TIMEOUT_S
            while _pid_alive(self.pid):
                if time.monotonic() > deadline:
                    raise HarnessError(f"workerd {self.pid} survived SIGKILL")
                time.sleep(POLL_S)
        if self.port is not None and self.storage_dir is not None and self.state_dir.exists():
            self._save(running=False)

    def freeze(self) -> None:
        """SIGSTOP: the process stays, sockets stay open, nothing answers."""
        self._signal(signal.SIGSTOP)

    def thaw(self) -> None:
        """SIGCONT after freeze()."""
        self._signal(signal.SIGCONT)

    def _signal(self, sig: int) -> None:
        if self.pid is None or self.port is None or not _is_our_workerd(self.pid, self.port):
            raise HarnessError("the worker is not running")
        os.kill(self.pid, sig)

    # ---- internals ----------------------------------------------------------

    def _spawn(self) -> subprocess.Popen:
        env = dict(os.environ)
        env.pop("CFD_API_TOKEN", None)
        env.pop("CFD_TEST_HOOKS", None)
        if self.token:
            env["CFD_API_TOKEN"] = self.token
        if self.test_hooks:
            env["CFD_TEST_HOOKS"] = "1"
        with open(self.log_path, "ab") as log:
            log.write(f"--- starting workerd on port {self.port} at {time.ctime()}\n".encode())
            log.flush()
            return subprocess.Popen(
                [
                    str(WORKERD), "serve", str(CONFIG),
                    "--socket-addr", f"http=127.0.0.1:{self.port}",
                    "--directory-path", f"disk={self.storage_dir}",
                ],
                cwd=WORKER_DIR,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # outlives the CLI, no terminal signals
            )

    def _spawn_until_ready(self, allow_new_port: bool) -> None:
        """Spawn and wait for HTTP; retry while the port is still in use."""
        bind_deadline = time.monotonic() + BIND_RETRY_S
        while True:
            log_size = self.log_path.stat().st_size if self.log_path.exists() else 0
            proc = self._spawn()
            self._proc, self.pid = proc, proc.pid
            if self._wait_ready(proc):
                self._save(running=True)
                return
            with open(self.log_path, "rb") as f:
                f.seek(log_size)
                new_log = f.read().decode(errors="replace")
            if "Address already in use" not in new_log and "EADDRINUSE" not in new_log:
                self.kill()
                raise HarnessError(
                    f"workerd did not answer on {self.url} (exit code {proc.returncode}); "
                    f"tail of {self.log_path}:\n{_log_tail(self.log_path)}"
                )
            self._proc = None
            if allow_new_port:
                self.port = free_port()
            elif time.monotonic() > bind_deadline:
                raise HarnessError(
                    f"port {self.port} still in use after {BIND_RETRY_S:.0f}s; tail of "
                    f"{self.log_path}:\n{_log_tail(self.log_path)}"
                )
            time.sleep(0.1)

    def _wait_ready(self, proc: subprocess.Popen) -> bool:
        """Poll until any HTTP answer (True) or the process exits (False)."""
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                return False
            try:
                urllib.request.urlopen(self.url + "/", timeout=1).close()
                return True
            except urllib.error.HTTPError:
                return True  # a 401/404 is an answer
            except (urllib.error.URLError, OSError):
                time.sleep(POLL_S)
        proc.kill()
        proc.wait()
        raise HarnessError(
            f"workerd did not answer on {self.url} within {READY_TIMEOUT_S:.0f}s; "
            f"tail of {self.log_path}:\n{_log_tail(self.log_path)}"
        )

    def __enter__(self) -> "LocalWorker":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["start", "stop", "restart", "kill", "freeze", "thaw", "url"])
    parser.add_argument("--state-dir", required=True, help="directory for worker.json, worker.log, storage")
    parser.add_argument("--token", help="start only: require this bearer token (CFD_API_TOKEN)")
    parser.add_argument("--no-test-hooks", action="store_true", help="start only: leave TEST_HOOKS off")
    args = parser.parse_args(argv)
    try:
        if args.command == "start":
            w = LocalWorker(args.state_dir, token=args.token, test_hooks=not args.no_test_hooks)
            w.start()
            print(w.url)
            return 0
        w = LocalWorker.load(args.state_dir)
        if args.command == "url":
            print(w.url)
        elif args.command == "restart":
            w.restart()
            print(w.url)
        else:
            getattr(w, args.command)()
        return 0
    except HarnessError as e:
        print(f"worker.py {args.command}: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
