"""Does the common path pay for the hand-off? Spawn, ping-pong and one-way throughput with the
watchdog on (the default) and off (``run(..., handoff=False)``), alternating in one run.

    python bench/scheduling/handoff_cost.py [--rounds 5]

Prints one JSON line: for each workload the median rate with and without, and their ratio
(the goal: at least 0.90).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "src"))

import beamlet  # noqa: E402
from beamlet import receive, self_pid, send, spawn  # noqa: E402


async def echo():
    while True:
        sender, n = await receive()
        send(sender, n)


async def pingpong(n=200_000):
    e = spawn(echo)
    me = self_pid()
    t = time.perf_counter()
    for i in range(n):
        send(e, (me, i))
        await receive()
    return n / (time.perf_counter() - t)


async def counter(n, parent):
    for _ in range(n):
        await receive()
    send(parent, "done")


async def oneway(n=500_000):
    c = spawn(counter, n, self_pid())
    t = time.perf_counter()
    for i in range(n):
        send(c, i)
    await receive("done")
    return n / (time.perf_counter() - t)


async def waiter(parent):
    send(parent, "ready")
    await receive()


async def spawning(n=200_000):
    me = self_pid()
    t = time.perf_counter()
    for _ in range(n):
        spawn(waiter, me)
    for _ in range(n):
        await receive()
    return n / (time.perf_counter() - t)


def main(rounds):
    rates: dict = {}
    for _ in range(rounds):
        for name, fn in (("spawn", spawning), ("pingpong", pingpong), ("oneway", oneway)):
            for handoff in (False, True):
                rates.setdefault((name, handoff), []).append(beamlet.run(fn, handoff=handoff))
    out = {}
    for name in ("spawn", "pingpong", "oneway"):
        off = statistics.median(rates[(name, False)])
        on = statistics.median(rates[(name, True)])
        out[name] = {"off_per_s": round(off), "on_per_s": round(on), "ratio": round(on / off, 3)}
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    print(json.dumps(main(ap.parse_args().rounds)))
