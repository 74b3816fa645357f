"""Run the OTP benchmarks beside the BEAM's (when `elixir` is on PATH) and compare.

    python bench/otp/run.py [--quick] [workload ...]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
GOALS = {"call": ("GenServer.call round trips/s", 0.15), "agent": ("Agent.get calls/s", 0.15),
         "restarts": ("restarts/s, one_for_one, child crashing at once", 0.25),
         "stream": ("Task.async_stream items/s, 100k items, max_concurrency 100", 0.25)}


def measure(cmd, cwd=None):
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=cwd)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(quick, workloads):
    q = ["--quick"] if quick else []
    print(f"{'workload':58}  {'beamlet':>10}  {'BEAM':>10}  {'ratio':>6}  {'target':>10}")
    for w in workloads:
        label, goal = GOALS[w]
        try:
            b = measure([sys.executable, os.path.join(HERE, "otp_bench.py"), w, *q])["per_second"]
        except subprocess.CalledProcessError as e:
            print(f"{label:58}  failed: {e.stderr.strip().splitlines()[-1] if e.stderr else e}")
            continue
        e = None
        if shutil.which("elixir"):
            e = measure(["elixir", "--erl", "+S 1", "otp.exs", w] + (["quick"] if quick else []),
                        cwd=HERE)["per_second"]
        ratio = b / e if e else None
        ok = ratio is None or ratio >= goal
        print(f"{label:58}  {b:>10,.0f}  {e or 0:>10,.0f}  {ratio or 0:>6.2f}  "
              f"{'>= ' + str(goal) + 'x':>10}  {'PASS' if ok else 'FAIL'}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("workloads", nargs="*", default=list(GOALS))
    a = ap.parse_args()
    main(a.quick, a.workloads)
