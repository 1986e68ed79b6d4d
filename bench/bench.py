"""Runs every benchmark contender against one local worker and writes
bench/results/latest.{json,md,png}. Called by bench/run.sh; see bench/README.md.
"""

from __future__ import annotations

import concurrent.futures
import http.client
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from typing import Any, Dict, List, Optional

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
RESULTS = os.environ.get("BENCH_RESULTS") or os.path.join(BENCH, "results")
sys.path.insert(0, os.path.join(ROOT, "tests", "harness"))

SECONDS = os.environ.get("BENCH_SECONDS", "2")
WARMUP = os.environ.get("BENCH_WARMUP", "0.5")
# The JIT needs longer before the JVM's steady state.
JVM_WARMUP = os.environ.get("BENCH_JVM_WARMUP", "3")
CONCURRENCY = [int(c) for c in os.environ.get("BENCH_CONCURRENCY", "1,16,256").split(",")]
METHODS = [m for m in os.environ.get("BENCH_METHODS", "echo,increment").split(",") if m]
BURST = int(os.environ.get("BENCH_BURST", "20000"))
SOCKETS = int(os.environ.get("BENCH_SOCKETS", "5000"))
PROBE_CALLS = int(os.environ.get("BENCH_PROBE_CALLS", "1000"))
CASE_TIMEOUT = float(os.environ.get("BENCH_CASE_TIMEOUT", "120"))
ONLY = [c for c in os.environ.get("BENCH_ONLY", "").split(",") if c]
ROUNDS = max(1, int(os.environ.get("BENCH_ROUNDS", "3")))
QUIET_TIMEOUT = float(os.environ.get("BENCH_QUIET_TIMEOUT", "30"))
# The worker runs as deployed (no test_* methods, no per-call test bookkeeping)
# unless BENCH_TEST_HOOKS=1.
TEST_HOOKS = os.environ.get("BENCH_TEST_HOOKS", "0") == "1"
RUN_ID = str(int(time.time()))

PY = os.path.join(BENCH, ".venv", "bin", "python")
RUST = os.path.join(ROOT, "target", "release", "cfd-bench")

# name: (language, role, command prefix, cases it has)
HTTP, WS_SEQ, WS_BURST, SOCK, PROBE = "http", "ws_seq", "ws_burst", "sockets", "probe"
ALL = {HTTP, WS_SEQ, WS_BURST, SOCK}
TIMED = {HTTP, WS_SEQ, WS_BURST}  # run BENCH_ROUNDS times; the median round is reported
# The BEAM flags that turn off its schedulers' spinning before they sleep.
NO_BUSY_WAIT = "+sbwt none +sbwtdcpu none +sbwtdio none"
CONTENDERS: List[Dict[str, Any]] = [
    dict(name="rust-raw", lang="Rust", role="floor", cmd=[RUST, "raw"], cases=ALL,
         what="reqwest 0.13 / tokio-tungstenite 0.30 loop (8 KiB WebSocket read buffer, as the core)"),
    dict(name="rust-core", lang="Rust", role="core", cmd=[RUST, "core"], cases=ALL,
         what="cloudflare-durable crate"),
    # The core called from plain OS threads, no host language around it
    # (bench/rust/src/host_threads.rs): what the thread crossing every binding
    # makes costs by itself, and what calls driven on the caller's thread would.
    dict(name="rust-core-hop", lang="Rust", role="diagnostic", cmd=[RUST, "core-hop"], cases={HTTP},
         what="cloudflare-durable crate called from OS threads through one shared runtime worker (spawn + channel, as the bindings)"),
    dict(name="rust-core-owned", lang="Rust", role="diagnostic", cmd=[RUST, "core-owned"], cases={HTTP},
         what="cloudflare-durable crate called from OS threads, each driving its own current-thread runtime and client"),
    dict(name="py-async", lang="Python", role="binding", cmd=[PY, os.path.join(BENCH, "python", "contenders.py"), "py-async"],
         cases=ALL, what="cloudflare_durable.AsyncClient"),
    dict(name="py-sync", lang="Python", role="binding", cmd=[PY, os.path.join(BENCH, "python", "contenders.py"), "py-sync"],
         cases={HTTP, WS_SEQ, WS_BURST}, what="cloudflare_durable.Client (threads)"),
    dict(name="aiohttp", lang="Python", role="peer", cmd=[PY, os.path.join(BENCH, "python", "contenders.py"), "aiohttp"],
         cases={HTTP}, what="aiohttp 3.14"),
    dict(name="httpx-async", lang="Python", role="peer", cmd=[PY, os.path.join(BENCH, "python", "contenders.py"), "httpx-async"],
         cases={HTTP}, what="httpx 0.28 AsyncClient"),
    dict(name="httpx-sync", lang="Python", role="peer", cmd=[PY, os.path.join(BENCH, "python", "contenders.py"), "httpx-sync"],
         cases={HTTP}, what="httpx 0.28 Client (threads)"),
    dict(name="requests", lang="Python", role="peer", cmd=[PY, os.path.join(BENCH, "python", "contenders.py"), "requests"],
         cases={HTTP}, what="requests 2.34 Session (threads)"),
    dict(name="websockets", lang="Python", role="peer", cmd=[PY, os.path.join(BENCH, "python", "contenders.py"), "websockets"],
         cases={WS_SEQ, WS_BURST, SOCK}, what="websockets 17.4 (asyncio)"),
    dict(name="elixir-nif", lang="Elixir", role="binding", cmd=[os.path.join(BENCH, "elixir", "run.sh"), "nif"],
         cases=ALL | {PROBE}, what="CloudflareDurable (Rustler NIF)"),
    dict(name="httpc", lang="Elixir", role="peer", cmd=[os.path.join(BENCH, "elixir", "run.sh"), "httpc"],
         cases={HTTP, PROBE}, what="OTP :httpc"),
    # The same two with the schedulers' busy-wait off (the documented VM flags for
    # I/O-bound nodes): how much of each one's CPU is the idle BEAM spinning.
    dict(name="elixir-nif-nowait", lang="Elixir", role="binding (VM flags)",
         cmd=[os.path.join(BENCH, "elixir", "run.sh"), "nif"], cases={HTTP, WS_SEQ, WS_BURST},
         env={"ERL_FLAGS": NO_BUSY_WAIT}, what=f"CloudflareDurable (Rustler NIF), `{NO_BUSY_WAIT}`"),
    dict(name="httpc-nowait", lang="Elixir", role="peer (VM flags)",
         cmd=[os.path.join(BENCH, "elixir", "run.sh"), "httpc"], cases={HTTP},
         env={"ERL_FLAGS": NO_BUSY_WAIT}, what=f"OTP :httpc, `{NO_BUSY_WAIT}`"),
    dict(name="kotlin-uniffi", lang="Kotlin", role="binding", cmd=[os.path.join(BENCH, "kotlin", "run.sh"), "uniffi"],
         cases=ALL, what="DurableClient (uniffi)"),
    dict(name="jdk-http", lang="Kotlin", role="peer", cmd=[os.path.join(BENCH, "kotlin", "run.sh"), "jdk"],
         cases=ALL, what="java.net.http HttpClient / WebSocket (JDK 17)"),
]


def log(*a: Any) -> None:
    print(*a, file=sys.stderr, flush=True)


def fire_burst(url: str, object_name: str, count: int, parallel: int = 4) -> None:
    """Makes the object broadcast `count` events of type "bench", 64 per
    batched call (POST …/batch of `broadcast` calls), from this process."""
    parsed = urllib.parse.urlsplit(url)
    batches = []
    for start in range(0, count, 64):
        calls = [{"method": "broadcast", "params": {"event": {"type": "bench", "i": i}}}
                 for i in range(start, min(count, start + 64))]
        batches.append(json.dumps({"calls": calls}))
    local = threading.local()

    def send(body: str) -> None:
        conn = getattr(local, "conn", None)
        if conn is None:
            conn = local.conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=60)
        conn.request("POST", f"/object/{object_name}/batch", body, {"Content-Type": "application/json"})
        reply = conn.getresponse()
        data = reply.read()
        if reply.status != 200:
            raise RuntimeError(f"batch broadcast: {reply.status} {data[:200]!r}")

    with concurrent.futures.ThreadPoolExecutor(parallel) as pool:
        list(pool.map(send, batches))


def prime(url: str, names: List[str]) -> None:
    """Calls `echo` once on each object so that creating the objects is not
    part of any contender's measurement."""
    parsed = urllib.parse.urlsplit(url)

    def one(name: str) -> None:
        conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=60)
        conn.request("POST", f"/object/{name}/method/echo", "{}", {"Content-Type": "application/json"})
        conn.getresponse().read()
        conn.close()

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(one, names))


def worker_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) the worker process has used so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_for_quiet_worker(pid: Optional[int]) -> float:
    """Waits until the worker is idle (under 10% of a core over 0.25 s), at
    most QUIET_TIMEOUT seconds, and returns how long that took. After 5,000
    sockets close, workerd stays busy for 2-3.5 s; a contender started then
    would be measured against a worker still cleaning up. A worker that is
    gone is not waited for (the contender's own run reports the failure)."""
    if pid is None:
        return 0.0
    started = time.monotonic()
    try:
        before = worker_cpu_s(pid)
        while time.monotonic() - started < QUIET_TIMEOUT:
            time.sleep(0.25)
            now = worker_cpu_s(pid)
            if now - before < 0.025:
                break
            before = now
        else:
            log(f"worker still busy after {QUIET_TIMEOUT:.0f} s; starting anyway")
    except OSError:
        pass
    return time.monotonic() - started


def run_case(c: Dict[str, Any], url: str, case: List[str], prefix: str, worker_pid: Optional[int]) -> Dict[str, Any]:
    objects = int(os.environ.get("BENCH_OBJECTS", "16"))
    if case[0] == HTTP:
        prime(url, [f"{prefix}-h-{i}" for i in range(objects)])
    elif case[0] == SOCK:
        prime(url, [f"{prefix}-s-{i}" for i in range(100)])
    warmup = JVM_WARMUP if c["lang"] == "Kotlin" else WARMUP
    env = dict(os.environ, **c.get("env", {}), BENCH_URL=url, BENCH_SECONDS=SECONDS, BENCH_WARMUP=warmup,
               BENCH_PREFIX=prefix, BENCH_PROBE_CALLS=str(PROBE_CALLS))
    cmd = c["cmd"] + case
    quiet_s = wait_for_quiet_worker(worker_pid)
    if quiet_s > 1:
        log(f"{' '.join(case):22} {c['name']:14} waited {quiet_s:.1f} s for the worker to go idle")
    started = time.monotonic()
    err = tempfile.TemporaryFile(mode="w+")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True, env=env, cwd=BENCH)
    lines: List[str] = []
    timer = threading.Timer(CASE_TIMEOUT, proc.kill)
    timer.start()
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            line = line.strip()
            if line == "READY" and case[0] == WS_BURST:
                try:
                    fire_burst(url, f"{prefix}-burst", int(case[1]))
                except Exception as e:  # reported as the case's failure
                    proc.kill()
                    lines.append(json.dumps({"failed": f"burst helper: {e}"}))
            elif line:
                lines.append(line)
        proc.wait()
    finally:
        timer.cancel()
    err.seek(0)
    stderr = err.read().strip()
    elapsed = time.monotonic() - started
    if proc.returncode == 3:
        return {"na": True}
    result: Optional[Dict[str, Any]] = None
    for line in reversed(lines):
        if line.startswith("{"):
            try:
                result = json.loads(line)
                break
            except ValueError:
                pass
    if result is not None and "failed" not in result and proc.returncode < 0:
        # The measurement was printed; the process died afterwards.
        result["note"] = f"result printed, then the process died (signal {-proc.returncode}) at exit"
        proc.returncode = 0
    if proc.returncode != 0 or result is None or "failed" in (result or {}):
        reason = (result or {}).get("failed") or (stderr.splitlines() or [f"exit {proc.returncode}"])[-1]
        if proc.returncode and proc.returncode < 0:
            reason = f"killed after {CASE_TIMEOUT:.0f} s" if elapsed >= CASE_TIMEOUT else f"signal {-proc.returncode}"
        return {"not_run": reason[:200]}
    if case[0] in (HTTP, WS_SEQ) and result.get("wall_s", 0) < 0.5 * float(SECONDS):
        return {"not_run": f"measurement window missed (wall {result.get('wall_s', 0):.3f} s)"}
    if "warmup_s" in result:
        settled = "JIT settled" if result.get("jit_settled") else "JIT still compiling"
        result["note"] = result.get("note", "") + f"window opened after {result['warmup_s']:.1f} s ({settled})"
    if result.get("errors"):
        result["note"] = result.get("note", "") + f"{result['errors']} errors; first: " + (stderr.splitlines() or ["?"])[0][:120]
    result["process_s"] = elapsed
    return result


def median_round(rounds: List[Dict[str, Any]]) -> Dict[str, Any]:
    """The round with the median client CPU per operation (the lower middle
    one for an even count), carrying every round's figure; a failed round
    counts only when no round succeeded."""
    done = [r for r in rounds if "not_run" not in r]
    if not done:
        return rounds[-1]
    ranked = sorted(done, key=lambda r: r.get("cpu_us_per_op", 0.0))
    chosen = dict(ranked[(len(ranked) - 1) // 2])
    chosen["rounds_cpu_us_per_op"] = [round(r.get("cpu_us_per_op", 0.0), 1) for r in done]
    chosen["rounds_failed"] = len(rounds) - len(done)
    return chosen


def availability(c: Dict[str, Any]) -> Optional[str]:
    """None when the contender can run, else the reason it cannot."""
    exe = c["cmd"][0]
    if not os.path.exists(exe):
        return f"{exe} missing"
    check = c["cmd"][:-1] + ["check"] if c["lang"] in ("Elixir", "Kotlin") else None
    if check is None:
        return None
    proc = subprocess.run(check, capture_output=True, text=True, cwd=BENCH, timeout=900)
    if proc.returncode != 0:
        tail = (proc.stderr.strip() or proc.stdout.strip() or f"exit {proc.returncode}").splitlines()[-1]
        return f"build failed: {tail[:160]}"
    return None


def machine() -> Dict[str, Any]:
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), "")
    except OSError:
        pass
    with open("/proc/meminfo") as f:
        mem_kb = int(f.readline().split()[1])
    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.strip()
        except OSError:
            return ""

    dirty = [d for d in ("core", "python", "elixir", "bindings")
             if git("status", "--porcelain", "--", d)]
    commit = git("rev-parse", "--short", "HEAD") + (f" (uncommitted changes in {', '.join(dirty)})" if dirty else "")
    return {"commit": commit, "cpu": cpu, "cores": os.cpu_count(), "mem_gib": round(mem_kb / 2**20, 1),
            "kernel": platform.release(), "python": platform.python_version(),
            "load_before": os.getloadavg()}


def main() -> None:
    from worker import LocalWorker
    import signal

    # SIGTERM unwinds like Ctrl-C, so the worker is stopped.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))

    info = machine()
    cases: List[List[str]] = []
    for m in METHODS:
        for conc in CONCURRENCY:
            cases.append([HTTP, m, str(conc)])
    cases += [[WS_SEQ], [WS_BURST, str(BURST)], [SOCK, str(SOCKETS)], [PROBE, str(PROBE_CALLS)]]
    contenders = [c for c in CONTENDERS if not ONLY or c["name"] in ONLY]
    reasons = {}
    for c in contenders:
        reasons[c["name"]] = availability(c)
        if reasons[c["name"]]:
            log(f"{c['name']}: not run: {reasons[c['name']]}")
    results: Dict[str, Dict[str, Any]] = {}
    state = tempfile.mkdtemp(prefix="cfd-bench-")
    started = time.time()
    with LocalWorker(state, test_hooks=TEST_HOOKS) as worker:
        url = worker.url
        log(f"worker at {url}")
        for case in cases:
            key = " ".join(case)
            results[key] = {}
            rounds: Dict[str, List[Dict[str, Any]]] = {}
            # Timed cases go round the contenders ROUNDS times, so that each
            # contender samples the machine at several moments.
            for round_no in range(ROUNDS if case[0] in TIMED else 1):
                for c in contenders:
                    if case[0] not in c["cases"]:
                        continue
                    name = c["name"]
                    if reasons[name]:
                        results[key][name] = {"not_run": reasons[name]}
                        continue
                    prefix = f"{name}-{case[0]}-{RUN_ID}-{round_no}"
                    r = run_case(c, url, case, prefix, worker.pid)
                    if r.get("na"):
                        continue
                    rounds.setdefault(name, []).append(r)
                    results[key][name] = median_round(rounds[name])
                    log(f"{key:22} {name:14} " + (
                        f"not run: {r['not_run']}" if "not_run" in r else
                        f"{r.get('ops_per_s', 0):9.0f}/s cpu {r.get('cpu_us_per_op', 0):7.1f} us/op"
                        + (f" p50 {r['p50_us']/1000:.2f} ms p99 {r['p99_us']/1000:.2f} ms" if 'p50_us' in r else "")
                        + (f" {r['bytes_per_socket']/1024:.1f} KiB/socket open {r['open_s']:.2f} s" if 'bytes_per_socket' in r else "")
                        + (f" probe p99 {r['probe_p99_us']:.0f} us max {r['probe_max_us']:.0f} us" if 'probe_p99_us' in r else "")))
    shutil.rmtree(state, ignore_errors=True)
    info["load_after"] = os.getloadavg()
    info["duration_s"] = round(time.time() - started, 1)
    info["settings"] = {"seconds": SECONDS, "warmup": WARMUP, "jvm_warmup": JVM_WARMUP, "concurrency": CONCURRENCY,
                        "burst": BURST, "sockets": SOCKETS, "probe_calls": PROBE_CALLS, "rounds": ROUNDS,
                        "test_hooks": TEST_HOOKS}
    info["date"] = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    out = {"machine": info, "contenders": [{k: v for k, v in c.items() if k in ("name", "lang", "role", "what")}
                                           for c in contenders], "results": results}
    os.makedirs(RESULTS, exist_ok=True)
    with open(os.path.join(RESULTS, "latest.json"), "w") as f:
        json.dump(out, f, indent=1, default=list)
    import report

    report.write(out, RESULTS)


if __name__ == "__main__":
    main()
