"""Scheduling benchmarks (issue 3): the priority stress test and the flood test.

    python bench/scheduling/sched_bench.py priority [--trials 200]
    python bench/scheduling/sched_bench.py flood [--messages 1000000]

Each prints one JSON line with its figures; `bench/scheduling/run.py` runs them beside the
BEAM's versions (priority.exs, flood.exs) and prints the comparison.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "src"))

import beamlet  # noqa: E402
from beamlet import Process, receive, self_pid, send, spawn  # noqa: E402


def spinner(parent):
    send(parent, "spinning")
    while True:
        pass


async def measured(parent, t0):
    sum(range(1, 1001))
    send(parent, ("done", time.perf_counter() - t0))


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


async def priority_main(spinners, trials):
    me = self_pid()
    hogs = []
    for _ in range(spinners):
        hogs.append(spawn(spinner, me, priority="low"))
        await receive("spinning")
    lat = []
    for _ in range(trials):
        await beamlet.sleep(0.005)
        t0 = time.perf_counter()
        spawn(measured, me, t0, priority="high")
        _, dt = await receive(("done", float))
        lat.append(dt * 1000)
    for h in hogs:
        Process.exit(h, "kill")
    return lat


def priority(trials):
    out = {}
    for n in (1, 3):
        lat = beamlet.run(priority_main, n, trials)
        out[f"spinners={n}"] = {"p50_ms": pct(lat, 50), "p99_ms": pct(lat, 99),
                                "max_ms": max(lat)}
    return out


async def sink(n, parent):
    for _ in range(n):
        await receive()
    send(parent, "flood_done")


async def flooder(target, n):
    for i in range(n):
        send(target, i)


async def ponger():
    while True:
        sender, ref = await receive()
        send(sender, ref)


async def pinger(parent, partner, stop_at):
    lat = []
    me = self_pid()
    while time.perf_counter() < stop_at[0]:
        t0 = time.perf_counter()
        send(partner, (me, t0))
        await receive(t0)
        lat.append((time.perf_counter() - t0) * 1000)
        await beamlet.sleep(0.001)
    send(parent, ("lat", lat))


async def flood_main(messages, pairs):
    me = self_pid()
    stop_at = [float("inf")]
    pingers = [spawn(pinger, me, spawn(ponger), stop_at) for _ in range(pairs)]
    await beamlet.sleep(0.01)
    t0 = time.perf_counter()
    s = spawn(sink, messages, me)
    spawn(flooder, s, messages)
    await receive("flood_done")
    flood_s = time.perf_counter() - t0
    stop_at[0] = 0
    lat = []
    for _ in pingers:
        _, xs = await receive(("lat", list))
        lat.extend(xs)
    return {"flood_s": flood_s, "pingpongs": len(lat), "p50_ms": pct(lat, 50),
            "p99_ms": pct(lat, 99), "max_ms": max(lat)}


def flood(messages):
    return beamlet.run(flood_main, messages, 50)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("which", choices=["priority", "flood"])
    ap.add_argument("--trials", type=int, default=200)
    ap.add_argument("--messages", type=int, default=1_000_000)
    a = ap.parse_args()
    res = priority(a.trials) if a.which == "priority" else flood(a.messages)
    print(json.dumps(res))
