"""Turns bench/results/latest.json into latest.md (tables, ratios vs targets)
and latest.png (the same figures). `python report.py [latest.json]` redraws."""

from __future__ import annotations

import json
import os
import sys
from typing import Any, Dict, List, Optional, Tuple

FLOOR = "rust-raw"
BINDINGS = ["py-async", "py-sync", "elixir-nif", "kotlin-uniffi"]
PEERS = {"Python": ["aiohttp", "httpx-async", "httpx-sync", "requests"], "Elixir": ["httpc"],
         "Kotlin": ["jdk-http"]}
LANG = {"py-async": "Python", "py-sync": "Python", "elixir-nif": "Elixir", "kotlin-uniffi": "Kotlin"}


def ok(r: Optional[Dict[str, Any]]) -> bool:
    return bool(r) and "not_run" not in r and (r.get("ops", 0) > 0 or r.get("probe_samples", 0) > 0)


def fmt(v: Optional[float], digits: int = 0) -> str:
    if v is None:
        return "–"
    return f"{v:,.{digits}f}"


def round_ratios(result: Dict[str, Any], base: float) -> List[float]:
    """Each of a contender's rounds (CPU per operation) over the floor's
    median `base`; empty when it ran only once. Against the floor's median
    rather than its round of the same pass: one slow floor round would
    otherwise make every contender's round in that pass look cheap."""
    rounds = result.get("rounds_cpu_us_per_op") or []
    return [x / base for x in rounds] if len(rounds) >= 2 and base else []


def targets(res: Dict[str, Dict[str, Any]]) -> List[Tuple[str, str, str, str, str, str]]:
    """Rows: (target, contender, workload, value, ratio, verdict). A CPU
    verdict also gives each round's ratio and in how many rounds the target
    was met, so a verdict the rounds disagree on shows as such."""
    rows = []

    def add(label: str, name: str, case: str, value: Optional[float], base: Optional[float],
            limit: float, at_most: bool, unit: str, why: str = "", per_round: bool = False) -> None:
        if name not in res.get(case, {}):
            return  # this contender has no such case
        r = res.get(case, {}).get(name)
        if not ok(r):
            reason = (r or {}).get("not_run", "no result")
            rows.append((label, name, case, "–", "–", f"not run: {reason}"))
            return
        if value is None or not base:
            rows.append((label, name, case, fmt(value, 1) + unit, "–", f"no baseline{why}"))
            return
        ratio = value / base
        met = ratio <= limit if at_most else ratio >= limit
        verdict = "met" if met else "**not met**"
        each_round = round_ratios(r, base) if per_round else []
        if each_round:
            hits = sum(1 for x in each_round if (x <= limit if at_most else x >= limit))
            verdict += (f" (rounds {min(each_round):.2f}-{max(each_round):.2f}×, "
                        f"met in {hits} of {len(each_round)})")
        rows.append((label, name, case, fmt(value, 1) + unit, f"{ratio:.2f}×", verdict))

    def val(case: str, name: str, field: str) -> Optional[float]:
        r = res.get(case, {}).get(name)
        return r.get(field) if ok(r) else None

    http_cases = [k for k in res if k.startswith("http ")]
    for case in http_cases:
        floor = val(case, FLOOR, "cpu_us_per_op")
        add("Rust core CPU/call ≤ 1.1× floor", "rust-core", case, val(case, "rust-core", "cpu_us_per_op"),
            floor, 1.1, True, " µs", per_round=True)
        for b in BINDINGS:
            add("CPU/call ≤ 1.5× floor", b, case, val(case, b, "cpu_us_per_op"), floor, 1.5, True, " µs",
                per_round=True)
            peers = [(val(case, p, "ops_per_s") or 0.0, p) for p in PEERS[LANG[b]]]
            best = max(peers) if peers else (0.0, "")
            add(f"calls/s ≥ best {LANG[b]} peer ({best[1] or 'none'})", b, case,
                val(case, b, "ops_per_s"), best[0] or None, 1.0, False, "/s")
    case = "ws_burst"
    for k in res:
        if k.startswith("ws_burst"):
            case = k
    floor = val(case, FLOOR, "cpu_us_per_op")
    add("Rust core CPU/message ≤ 1.1× floor", "rust-core", case, val(case, "rust-core", "cpu_us_per_op"),
        floor, 1.1, True, " µs", per_round=True)
    for b in BINDINGS:
        add("CPU/message ≤ 1.5× floor", b, case, val(case, b, "cpu_us_per_op"), floor, 1.5, True, " µs",
            per_round=True)
    floor = val("ws_seq", FLOOR, "cpu_us_per_op")
    add("Rust core CPU/socket call ≤ 1.1× floor", "rust-core", "ws_seq", val("ws_seq", "rust-core", "cpu_us_per_op"),
        floor, 1.1, True, " µs", per_round=True)
    ws_peer = val("ws_seq", "websockets", "ops_per_s")
    for b in BINDINGS:
        add("socket calls/s ≥ 2× websockets lib", b, "ws_seq", val("ws_seq", b, "ops_per_s"), ws_peer, 2.0,
            False, "/s")
    case = next((k for k in res if k.startswith("sockets")), "sockets")
    floor = val(case, FLOOR, "bytes_per_socket")
    for b in ["rust-core"] + BINDINGS:
        v = val(case, b, "bytes_per_socket")
        add("memory/idle socket ≤ 1.5× floor", b, case, v / 1024 if v is not None else None,
            floor / 1024 if floor else None, 1.5, True, " KiB")
    case = next((k for k in res if k.startswith("probe")), "probe")
    r = res.get(case, {}).get("elixir-nif")
    if ok(r):
        p99 = r["probe_p99_us"]
        verdict = "met" if p99 < 1000 else "**not met**"
        if not r.get("ops"):
            verdict += " (no call completed inside the window: see FINDINGS.md)"
        longs = (f"; {r['long_schedules']} runs ≥ 1 ms, longest {r['long_schedule_max_ms']} ms"
                 if "long_schedules" in r else "")
        rows.append(("probe scheduling delay p99 < 1 ms (1,000 calls in flight)", "elixir-nif", case,
                     f"{p99:.0f} µs (max {r['probe_max_us']:.0f} µs{longs})", f"{p99 / 1000:.2f}× 1 ms", verdict))
    else:
        rows.append(("probe scheduling delay p99 < 1 ms (1,000 calls in flight)", "elixir-nif", case, "–", "–",
                     f"not run: {(r or {}).get('not_run', 'no result')}"))
    return rows


def workload_table(case: str, rows: Dict[str, Dict[str, Any]], who: Dict[str, Dict[str, Any]]) -> List[str]:
    out = []
    floor = rows.get(FLOOR) if ok(rows.get(FLOOR)) else None
    if case.startswith("sockets"):
        out.append("| contender | role | sockets open | time to open (s) | RSS per socket (KiB) | × floor | CPU µs per open | note |")
        out.append("|---|---|---:|---:|---:|---:|---:|---|")
        for name, r in rows.items():
            role = who.get(name, {}).get("role", "")
            if not ok(r):
                out.append(f"| {name} | {role} | | | | | | not run: {r.get('not_run', 'no result')} |")
                continue
            kib = r["bytes_per_socket"] / 1024
            ratio = f"{r['bytes_per_socket'] / floor['bytes_per_socket']:.2f}" if floor and floor["bytes_per_socket"] else "–"
            out.append(f"| {name} | {role} | {r['ops']:,} | {r['open_s']:.2f} | {kib:.1f} | {ratio} | "
                       f"{r['cpu_us_per_op']:.0f} | {r.get('note', '')} |")
        return out
    if case.startswith("probe"):
        out.append("| contender | calls completed/s | yield delay p50 (µs) | p99 (µs) | max (µs) | 1 ms timer lateness p50 (µs) | p99 (µs) | samples | runs ≥ 1 ms (VM `long_schedule`) | longest (ms) | note |")
        out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
        for name, r in rows.items():
            if not ok(r):
                out.append(f"| {name} | | | | | | | | | | not run: {r.get('not_run', 'no result')} |")
                continue
            out.append(f"| {name} | {r['ops_per_s']:,.0f} | {r['probe_p50_us']:.0f} | {r['probe_p99_us']:.0f} | "
                       f"{r['probe_max_us']:.0f} | {r.get('timer_late_p50_us', 0):.0f} | {r.get('timer_late_p99_us', 0):.0f} | "
                       f"{r.get('probe_samples', 0)} | {r.get('long_schedules', '–')} | {r.get('long_schedule_max_ms', '–')} | "
                       f"{r.get('note', '')} |")
        return out
    burst = case.startswith("ws_burst")
    unit = "messages/s" if burst else "calls/s"
    per = "message" if burst else "call"
    lat = "" if burst else " p50 (ms) | p99 (ms) |"
    out.append(f"| contender | role | {unit} |{lat} client CPU µs per {per} | CPU × floor | note |")
    out.append("|---|---|---:|" + ("" if burst else "---:|---:|") + "---:|---:|---|")
    for name, r in rows.items():
        role = who.get(name, {}).get("role", "")
        if not ok(r):
            out.append(f"| {name} | {role} | |" + ("" if burst else " | |") + f" | | not run: {r.get('not_run', 'no result')} |")
            continue
        ratio = f"{r['cpu_us_per_op'] / floor['cpu_us_per_op']:.2f}" if floor and floor["cpu_us_per_op"] else "–"
        lats = "" if burst else f" {r['p50_us'] / 1000:.2f} | {r['p99_us'] / 1000:.2f} |"
        note = r.get('note', '')
        if len(r.get('rounds_cpu_us_per_op', [])) > 1:
            note = (f"rounds: {' / '.join(f'{v:.1f}' for v in r['rounds_cpu_us_per_op'])} µs"
                    + (f", {r['rounds_failed']} failed" if r.get('rounds_failed') else "")
                    + (f"; {note}" if note else ""))
        out.append(f"| {name} | {role} | {r['ops_per_s']:,.0f} |{lats} {r['cpu_us_per_op']:.1f} | {ratio} | {note} |")
    return out


def write(data: Dict[str, Any], results_dir: str) -> None:
    m = data["machine"]
    res = data["results"]
    who = {c["name"]: c for c in data["contenders"]}
    s = m["settings"]
    md = ["# Benchmarks: the bindings side by side with their peers", ""]
    md.append(f"Run {m['date']} on {m['cpu']}, {m['cores']} cores, {m['mem_gib']} GiB, Linux {m['kernel']}; "
              f"load average before {m['load_before'][0]:.2f} / {m['load_before'][1]:.2f} / {m['load_before'][2]:.2f}, "
              f"after {m['load_after'][0]:.2f} / {m['load_after'][1]:.2f} / {m['load_after'][2]:.2f}; "
              f"the whole run took {m['duration_s']:.0f} s. Code: commit {m.get('commit', '?')}.")
    md.append("")
    md.append(f"Command: `make bench` (= `bash bench/run.sh`). Settings: {s['seconds']} s measured per case after "
              f"{s['warmup']} s warm-up ({s.get('jvm_warmup', s['warmup'])} s for the JVM, then until its JIT is quiet, at most 20 s more), concurrency {', '.join(map(str, s['concurrency']))}, burst of "
              f"{s['burst']:,} broadcasts, {s['sockets']:,} idle sockets, {s['probe_calls']:,} calls in flight for the probe. "
              + (f"Each HTTP and WebSocket-message case goes round all its contenders {s['rounds']} times; the "
                 "figures are each contender's median round by CPU per operation (the note lists every "
                 "round's CPU), and a CPU verdict adds the ratio of each of the contender's rounds to the "
                 "floor's median and in how many rounds the target was met. " if s.get('rounds', 1) > 1 else "") +
              f"One local worker (workerd, test hooks {'on' if s.get('test_hooks', True) else 'off'}) serves every contender, each in its own process, one "
              "after the other. Client CPU is user + system time of the contender's process over the measured "
              "phase only (see bench/README.md for how each language reads it). The server is the bottleneck "
              "for calls/s on this machine: compare CPU per call first.")
    md.append("")
    md.append("## Targets (ratios in this run; floor = the raw Rust loop, same workload, same run)")
    md.append("")
    md.append("| target | contender | workload | value | ratio | verdict |")
    md.append("|---|---|---|---:|---:|---|")
    for row in targets(res):
        md.append("| " + " | ".join(row) + " |")
    md.append("")
    titles = {"http": "HTTP method call", "ws_seq": "WebSocket: sequential round trips (echo over the socket)",
              "ws_burst": "WebSocket: burst of server broadcasts delivered into the host's loop",
              "sockets": "Many idle WebSockets from one process", "probe": "Elixir: scheduler probe with calls in flight"}
    for case, rows in res.items():
        if not rows:
            continue
        kind = case.split()[0]
        md.append(f"## {titles.get(kind, kind)}: `{case}`")
        md.append("")
        md.extend(workload_table(case, rows, who))
        md.append("")
    md.append("## Contenders")
    md.append("")
    md.append("| name | language | role | what |")
    md.append("|---|---|---|---|")
    for c in data["contenders"]:
        md.append(f"| {c['name']} | {c['lang']} | {c['role']} | {c['what']} |")
    md.append("")
    with open(os.path.join(results_dir, "latest.md"), "w") as f:
        f.write("\n".join(md))
    chart(data, os.path.join(results_dir, "latest.png"))


def chart(data: Dict[str, Any], path: str) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib missing: no chart", file=sys.stderr)
        return
    res = data["results"]
    names = [c["name"] for c in data["contenders"]]
    colors = {n: plt.cm.tab20(i % 20) for i, n in enumerate(names)}
    http_cases = [k for k in res if k.startswith("http ")]
    fig, axes = plt.subplots(3, 2, figsize=(16, 15))
    m = data["machine"]
    fig.suptitle(f"CloudflareDurable clients vs peers ({m['date']}, {m['cores']} cores, "
                 f"load {m['load_before'][0]:.1f}→{m['load_after'][0]:.1f}); missing bar = not run",
                 fontsize=12)

    def grouped(ax: Any, cases: List[str], field: str, title: str, scale: float = 1.0, log: bool = False) -> None:
        present = [n for n in names if any(ok(res[c].get(n)) for c in cases)]
        width = 0.8 / max(1, len(present))
        for i, n in enumerate(present):
            xs, ys = [], []
            for j, c in enumerate(cases):
                r = res[c].get(n)
                if ok(r) and r.get(field) is not None:
                    xs.append(j + i * width)
                    ys.append(r[field] * scale)
            ax.bar(xs, ys, width, label=n, color=colors[n])
        ax.set_xticks([j + 0.4 - width / 2 for j in range(len(cases))])
        ax.set_xticklabels([c.replace("http ", "") for c in cases], fontsize=8)
        ax.set_title(title)
        if log:
            ax.set_yscale("log")
        ax.grid(axis="y", alpha=0.3)

    def single(ax: Any, case: Optional[str], field: str, title: str, scale: float = 1.0) -> None:
        if case is None:
            ax.set_visible(False)
            return
        present = [(n, res[case][n]) for n in names if ok(res[case].get(n)) and res[case][n].get(field) is not None]
        ax.barh([n for n, _ in present], [r[field] * scale for _, r in present],
                color=[colors[n] for n, _ in present])
        ax.invert_yaxis()
        ax.set_title(title)
        ax.grid(axis="x", alpha=0.3)

    grouped(axes[0][0], http_cases, "cpu_us_per_op", "HTTP: client CPU µs per call (lower is better, log)", log=True)
    grouped(axes[0][1], http_cases, "ops_per_s", "HTTP: calls/s (higher is better)")
    axes[0][0].legend(fontsize=7, ncol=2)
    find = lambda p: next((k for k in res if k.startswith(p)), None)  # noqa: E731
    single(axes[1][0], find("ws_seq"), "ops_per_s", "WebSocket sequential round trips/s")
    single(axes[1][1], find("ws_burst"), "cpu_us_per_op", "WebSocket burst: client CPU µs per message delivered")
    single(axes[2][0], find("sockets"), "bytes_per_socket", "5,000 idle WebSockets: RSS KiB per socket", 1 / 1024)
    single(axes[2][1], find("ws_seq"), "cpu_us_per_op", "WebSocket sequential: client CPU µs per call")
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    fig.savefig(path, dpi=80)


if __name__ == "__main__":
    here = os.path.dirname(os.path.abspath(__file__))
    src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "results", "latest.json")
    with open(src) as f:
        write(json.load(f), os.path.dirname(os.path.abspath(src)))
