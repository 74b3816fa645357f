"""The 1,000,000-process stress test (seed: "How fast Elixir can create these processes").

Each process waits 5 seconds and disappears, as in the seed; the spawning is timed, and the
memory per live process is measured while all of them are alive.

    python examples/stress_test.py [n]
"""

import sys
import time

import beamlet
from beamlet import Process, sleep, spawn


async def work():
    await sleep(5)


def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


async def main(n):
    before = rss()
    t0 = time.perf_counter()
    for _ in range(n):
        spawn(work)
    spawned = time.perf_counter() - t0
    await beamlet.yield_turn()  # let them all start (and park in sleep)
    while len(Process.list()) <= n // 2:
        await sleep(0.01)
    per_process = (rss() - before) / n
    print(f"Spawned {n:,} processes in {spawned:.2f} seconds.")
    print(f"Memory: {per_process:,.0f} bytes per process (the BEAM: about 2,600).")
    print(f"Alive right now: {len(Process.list()) - 1:,}")


if __name__ == "__main__":
    beamlet.run(main, int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
