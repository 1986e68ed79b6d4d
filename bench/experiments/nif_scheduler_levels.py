"""Experiment, not part of the package: the Elixir NIF's `http echo 1` (or
another case, CASE="ws_seq") split by thread in several fresh VMs, to see which level each VM runs at and why
(bench/results/FINDINGS.md, "The NIF's two levels").

For each VM it runs the bench's own Elixir program for 8 s, reads every
thread's CPU time and context switches from /proc/<pid>/task/* over 3 s of
the measured window, then reads each scheduler's current system call 50
times (232 = epoll_wait, 202 = futex on x86-64). With PERF=1 it counts the
threads' system calls with `perf stat --per-thread` over those 3 s instead
of sleeping. One JSON line per VM; per-thread figures are
[CPU µs, voluntary, involuntary switches] per call, calls estimated from
the program's own calls/s.

Usage, from the repository root with a worker running
(`python3 tests/harness/worker.py start --state-dir /tmp/kw --no-test-hooks`)
and the Elixir bench built (`bench/elixir/run.sh check`):

    BENCH_URL=$(python3 tests/harness/worker.py url --state-dir /tmp/kw) \\
        python3 bench/experiments/nif_scheduler_levels.py 8

ELIXIR_ERL_OPTIONS passes VM flags (e.g. "+S 2:2"); TASKSET="taskset -c 0"
confines the VM to CPUs; CASE picks the bench program's case ("http echo 1"
unless set; "ws_seq" gives socket round trips, and "calls" then counts them).
"""

import glob
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SYSCALLS = ",".join(
    "syscalls:sys_enter_" + name
    for name in ("sched_yield", "futex", "epoll_wait", "epoll_pwait", "write", "read")
)


def read(path):
    """The text of a small /proc file."""
    with open(path) as f:
        return f.read()


def threads(pid):
    """{tid: (name, CPU ns, voluntary, involuntary switches)} of a process."""
    out = {}
    for task in glob.glob(f"/proc/{pid}/task/*"):
        try:
            name = read(task + "/comm").strip()
            cpu_ns = int(read(task + "/schedstat").split()[0])
            status = read(task + "/status")
        except OSError:
            continue  # the thread ended meanwhile
        vol = int(status.split("\nvoluntary_ctxt_switches:")[1].split()[0])
        inv = int(status.split("nonvoluntary_ctxt_switches:")[1].split()[0])
        out[task.rsplit("/", 1)[1]] = (name, cpu_ns, vol, inv)
    return out


def beam_of(pid):
    """The beam.smp process that `pid` execs into or starts."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        children = subprocess.run(
            ["pgrep", "-P", str(pid)], check=False, capture_output=True, text=True
        ).stdout
        for candidate in [pid] + [int(c) for c in children.split()]:
            try:
                if read(f"/proc/{candidate}/comm").startswith("beam"):
                    return candidate
            except OSError:
                pass
        time.sleep(0.05)
    raise SystemExit("no beam.smp process appeared")


def syscall_counts(pid, seconds):
    """{'<thread>-<tid> <syscall>': count} over `seconds`, from perf."""
    report = subprocess.run(
        [
            "perf",
            "stat",
            "--per-thread",
            "-x",
            ",",
            "-e",
            SYSCALLS,
            "-p",
            str(pid),
            "--",
            "sleep",
            str(seconds),
        ],
        check=False,
        capture_output=True,
        text=True,
    ).stderr
    counts = {}
    for line in report.splitlines():
        fields = line.split(",")
        if len(fields) > 3 and fields[1].strip().isdigit() and int(fields[1]) > 0:
            event = fields[3].split(":")[-1].replace("sys_enter_", "")
            counts[f"{fields[0].strip()} {event}"] = int(fields[1])
    return counts


def one_vm():
    env = dict(os.environ, BENCH_SECONDS="8", BENCH_WARMUP="1")
    prefix = os.environ.get("TASKSET", "").split()
    program = subprocess.Popen(
        prefix
        + [f"{ROOT}/bench/elixir/run.sh", "nif"]
        + os.environ.get("CASE", "http echo 1").split(),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
        text=True,
    )
    beam = beam_of(program.pid)
    time.sleep(5)  # VM start, compile check, warm-up
    before = threads(beam)
    started = time.monotonic()
    counts = {}
    if os.environ.get("PERF"):
        counts = syscall_counts(beam, 3)
    else:
        time.sleep(3)
    after = threads(beam)
    elapsed = time.monotonic() - started
    schedulers = [
        t for t, v in after.items() if v[0].endswith("_scheduler") and "dirty" not in v[0]
    ]
    in_syscall = {}
    for _ in range(50):
        for tid in schedulers:
            try:
                now = read(f"/proc/{beam}/task/{tid}/syscall").split()[0]
            except OSError:
                continue
            seen = in_syscall.setdefault(after[tid][0], {})
            seen[now] = seen.get(now, 0) + 1
        time.sleep(0.001)
    result = json.loads(program.communicate()[0].strip().splitlines()[-1])
    calls = result["ops_per_s"] * elapsed
    per_thread = {}
    for tid, (name, cpu_ns, vol, inv) in after.items():
        if tid not in before:
            continue
        _, cpu_ns_before, vol_before, inv_before = before[tid]
        cpu_us = (cpu_ns - cpu_ns_before) / 1e3 / calls
        if cpu_us > 1:
            per_thread[f"{name}:{tid}"] = [
                round(cpu_us, 1),
                round((vol - vol_before) / calls, 2),
                round((inv - inv_before) / calls, 2),
            ]
    line = {
        "cpu_us_per_call": round(result["cpu_us_per_op"], 1),
        "calls_per_s": round(result["ops_per_s"]),
        "threads": per_thread,
        "in_syscall": in_syscall,
    }
    if counts:
        line["syscalls_per_call"] = {
            k: round(v / calls, 2) for k, v in counts.items() if v / calls >= 0.05
        }
    print(json.dumps(line), flush=True)


if __name__ == "__main__":
    for _ in range(int(sys.argv[1]) if len(sys.argv) > 1 else 4):
        one_vm()
