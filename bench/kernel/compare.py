"""The kernel benchmarks before and after a change, in one run: beamlet at a git revision beside
beamlet of the working tree, each workload alternating between the two, the median of each.

    python bench/kernel/compare.py --base REV [--rounds 5] [--quick] [workload ...]

The base revision is checked out into a temporary git worktree and run with this tree's
`kernel_bench.py` (so both run the same workload code). On these shared 2-core machines a
single run moves by ±20%; alternating rounds and taking medians is what makes the ratio mean
something.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DEFAULT = ["pingpong", "pingpong_timeout", "oneway", "ring", "spawn", "selective"]


def run_once(src: str, workload: str, quick: bool) -> float:
    """One workload on the beamlet found in ``src``: its rate (or 1/seconds for spawn)."""
    code = (f"import sys; sys.path.insert(0, {src!r}); sys.path.insert(1, {HERE!r}); "
            "import json, kernel_bench as kb; "
            f"print(json.dumps(kb.WORKLOADS[{workload!r}]({quick!r})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    if "us_per_exchange" in result:  # selective: exchanges/s past the largest backlog
        return 1e6 / max(result["us_per_exchange"].values())
    return result["per_second"] if "per_second" in result else 1.0 / result["seconds"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--base", required=True, help="git revision to compare against")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("workloads", nargs="*", default=DEFAULT)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = os.path.join(tmp, "base")
        subprocess.run(["git", "-C", ROOT, "worktree", "add", "--detach", base, a.base],
                       check=True, capture_output=True)
        # its C accelerators too, as this tree has them built (else the base would be measured
        # with the pure-Python fallbacks)
        subprocess.run([sys.executable, "setup.py", "build_ext", "--inplace"], cwd=base,
                       check=True, capture_output=True)
        try:
            print(f"{'workload':18} {'base':>12} {'now':>12} {'now/base':>9}")
            for w in a.workloads:
                before, after = [], []
                for _ in range(a.rounds):
                    before.append(run_once(os.path.join(base, "src"), w, a.quick))
                    after.append(run_once(os.path.join(ROOT, "src"), w, a.quick))
                b, n = statistics.median(before), statistics.median(after)
                print(f"{w:18} {b:12,.0f} {n:12,.0f} {n / b:9.2f}")
        finally:
            subprocess.run(["git", "-C", ROOT, "worktree", "remove", "--force", base],
                           check=False, capture_output=True)


if __name__ == "__main__":
    main()
