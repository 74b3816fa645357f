"""Run the kernel benchmarks beside the BEAM's (when `elixir` is on PATH) and compare.

    python bench/kernel/run.py [--quick] [workload ...]

Each workload runs in a fresh process, beamlet first, then the BEAM with
``elixir --erl "+P 5000000 +S 1"``; the table gives both figures, their ratio and the target.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ORDER = ["spawn", "skynet", "pingpong", "pingpong_timeout", "oneway", "ring", "selective"]


def beamlet_run(w, quick):
    cmd = [sys.executable, os.path.join(HERE, "kernel_bench.py"), w]
    cmd += ["--quick"] if quick else []
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def beam_run(w, quick):
    if shutil.which("elixir") is None:
        return None
    cmd = ["elixir", "--erl", "+P 5000000 +S 1", "kernel.exs", w] + (["quick"] if quick else [])
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=HERE)
    return json.loads(out.stdout.strip().splitlines()[-1])


def rows_for(w, b, e):
    """(label, beamlet, BEAM, ratio, target, ok) rows for one workload."""
    if w == "spawn":
        ratio = b["seconds"] / e["seconds"] if e else None
        yield ("spawn 1M: seconds", f"{b['seconds']:.2f}", e and f"{e['seconds']:.2f}",
               ratio, "time <= 0.5x", ratio is None or ratio <= 0.5)
        bp = b["bytes_per_process"]
        yield ("spawn 1M: RSS bytes per live process", f"{bp:.0f}",
               e and f"{e['bytes_per_process']:.0f}", None, "<= 1100", bp <= 1100)
    elif w == "skynet":
        ratio = b["seconds"] / e["seconds"] if e else None
        yield ("skynet 1M leaves: seconds", f"{b['seconds']:.2f}", e and f"{e['seconds']:.2f}",
               ratio, "time <= 1.0x", ratio is None or ratio <= 1.0)
    elif w in ("pingpong", "pingpong_timeout", "oneway", "ring"):
        goal = {"pingpong": 0.2, "pingpong_timeout": 0.2, "oneway": 0.1, "ring": 0.15}[w]
        ratio = b["per_second"] / e["per_second"] if e else None
        label = {"pingpong": "ping-pong round trips/s",
                 "pingpong_timeout": "ping-pong, receive with timeout, /s",
                 "oneway": "one-way messages/s",
                 "ring": "ring 10k procs, hops/s"}[w]
        yield (label, f"{b['per_second']:,.0f}", e and f"{e['per_second']:,.0f}", ratio,
               f"rate >= {goal}x", ratio is None or ratio >= goal)
    elif w == "selective":
        us = b["us_per_exchange"]
        growth = us["backlog=100000"] / us["backlog=1000"]
        eus = e["us_per_exchange"] if e else None
        for k, v in us.items():
            yield (f"selective receive, {k}: us/exchange", f"{v:.2f}",
                   eus and f"{eus[k]:.2f}", None, "", True)
        yield ("selective receive: cost at 100k / cost at 1k backlog", f"{growth:.2f}", None,
               None, "<= 2 (O(1))", growth <= 2)


def main(quick, workloads):
    rows = []
    for w in workloads:
        b = beamlet_run(w, quick)
        e = beam_run(w, quick)
        rows.extend(rows_for(w, b, e))
    w0 = max(len(r[0]) for r in rows)
    print(f"{'workload':{w0}}  {'beamlet':>12}  {'BEAM':>12}  {'ratio':>6}  {'target':>14}")
    for label, b, e, ratio, target, ok in rows:
        r = f"{ratio:.2f}" if ratio is not None else "-"
        verdict = "PASS" if ok else "FAIL"
        print(f"{label:{w0}}  {b:>12}  {e or '-':>12}  {r:>6}  {target:>14}  {verdict}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("workloads", nargs="*", default=ORDER)
    a = ap.parse_args()
    main(a.quick, a.workloads)
