"""Run the scheduling benchmarks beside the BEAM's (when `elixir` is on PATH) and compare.

    python bench/scheduling/run.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def py(*args):
    out = subprocess.run([sys.executable, *args], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def beam(script, *args):
    if shutil.which("elixir") is None:
        return None
    out = subprocess.run(["elixir", "--erl", "+S 1", os.path.join(HERE, script), *args],
                         capture_output=True, text=True, check=True, cwd=HERE)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(quick):
    trials = "50" if quick else "200"
    msgs = "100000" if quick else "1000000"
    rows = []
    pb = py(os.path.join(HERE, "sched_bench.py"), "priority", "--trials", trials)
    pe = beam("priority.exs", trials)
    for k in ("spinners=1", "spinners=3"):
        b = pb[k]
        e = pe[k] if pe else None
        ok = b["p50_ms"] <= 1 and b["p99_ms"] <= 10
        rows.append((f"priority {k}: high proc p50 / p99 ms",
                     f"{b['p50_ms']:.3f} / {b['p99_ms']:.3f}",
                     f"{e['p50_ms']:.3f} / {e['p99_ms']:.3f}" if e else "-", "p50<=1, p99<=10", ok))
    fb = py(os.path.join(HERE, "sched_bench.py"), "flood", "--messages", msgs)
    fe = beam("flood.exs", msgs)
    rows.append(("flood: ping-pong p99 ms (1M msgs to one proc)", f"{fb['p99_ms']:.3f}",
                 f"{fe['p99_ms']:.3f}" if fe else "-", "<=5", fb["p99_ms"] <= 5))
    hc = py(os.path.join(HERE, "handoff_cost.py"), "--rounds", "2" if quick else "5")
    for k, v in hc.items():
        rows.append((f"hand-off cost: {k} rate on/off", f"{v['ratio']:.3f}", "-", ">=0.90",
                     v["ratio"] >= 0.90))
    w = max(len(r[0]) for r in rows)
    print(f"{'workload':{w}}  {'beamlet':>16}  {'BEAM':>16}  {'target':>16}")
    for name, b, e, target, ok in rows:
        print(f"{name:{w}}  {b:>16}  {e:>16}  {target:>16}  {'PASS' if ok else 'FAIL'}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    main(ap.parse_args().quick)
