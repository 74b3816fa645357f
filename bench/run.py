"""Run every benchmark suite: kernel, scheduling, OTP, distribution (each beside the BEAM when
`elixir` is on PATH).

    python bench/run.py [--quick]
"""

import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

if __name__ == "__main__":
    extra = sys.argv[1:]
    for suite in ("kernel", "scheduling", "otp"):
        print(f"\n== {suite} ==", flush=True)
        subprocess.run([sys.executable, os.path.join(HERE, suite, "run.py"), *extra], check=True)
    print("\n== dist ==", flush=True)
    subprocess.run([sys.executable, os.path.join(HERE, "dist", "dist_bench.py"), *extra],
                   check=True)
