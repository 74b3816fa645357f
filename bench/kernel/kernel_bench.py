"""Kernel benchmarks (issue 2), one workload per run, each printing one JSON line.

    python bench/kernel/kernel_bench.py WORKLOAD [--quick]

WORKLOAD is one of spawn, skynet, pingpong, pingpong_timeout, oneway, ring, selective.

The same workloads for the BEAM are in kernel.exs; run.py runs both and compares.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "src"))

import beamlet  # noqa: E402
from beamlet import ANY, make_ref, receive, self_pid, send, spawn  # noqa: E402


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def waiter(parent):
    send(parent, "ready")
    await receive()


async def spawn_main(n):
    me = self_pid()
    before = rss()
    t0 = time.perf_counter()
    for _ in range(n):
        spawn(waiter, me)
    for _ in range(n):
        await receive()
    elapsed = time.perf_counter() - t0
    return {"n": n, "seconds": elapsed, "bytes_per_process": (rss() - before) / n}


async def sky(num, size, div, parent):
    if size == 1:
        send(parent, num)
        return
    me = self_pid()
    step = size // div
    for i in range(div):
        spawn(sky, num + i * step, step, div, me)
    total = 0
    for _ in range(div):
        total += await receive()
    send(parent, total)


async def skynet_main(n):
    t0 = time.perf_counter()
    spawn(sky, 0, n, 10, self_pid())
    total = await receive()
    assert total == n * (n - 1) // 2
    return {"n": n, "seconds": time.perf_counter() - t0}


async def echo():
    while True:
        sender, m = await receive()
        send(sender, m)


async def pingpong_main(n):
    e = spawn(echo)
    me = self_pid()
    t0 = time.perf_counter()
    for i in range(n):
        send(e, (me, i))
        await receive()
    return {"n": n, "per_second": n / (time.perf_counter() - t0)}


async def pingpong_timeout_main(n):
    """Ping-pong where every wait has a timeout, as every GenServer.call's does."""
    e = spawn(echo)
    me = self_pid()
    t0 = time.perf_counter()
    for i in range(n):
        send(e, (me, i))
        await receive(timeout=5.0)
    return {"n": n, "per_second": n / (time.perf_counter() - t0)}


async def counter(n, parent):
    for _ in range(n):
        await receive()
    send(parent, "done")


async def oneway_main(n):
    c = spawn(counter, n, self_pid())
    t0 = time.perf_counter()
    for i in range(n):
        send(c, i)
    await receive("done")
    return {"n": n, "per_second": n / (time.perf_counter() - t0)}


async def ring_node(nxt):
    while True:
        m = await receive()
        send(nxt, m - 1)
        if m == 0:
            return


async def ring_main(size, hops):
    me = self_pid()
    nxt = me
    for _ in range(size):
        nxt = spawn(ring_node, nxt)
    t0 = time.perf_counter()
    send(nxt, hops)
    while True:
        m = await receive()
        if m <= 0:
            break
        send(nxt, m - 1)
    return {"size": size, "hops": hops, "per_second": hops / (time.perf_counter() - t0)}


async def replier():
    while True:
        sender, ref = await receive()
        send(sender, ("reply", ref, 1))


async def selective_main(exchanges):
    """Reply-to-a-fresh-ref exchanges with a backlog of unmatched messages growing 10x."""
    me = self_pid()
    r = spawn(replier)
    out = {}
    queued = 0
    for backlog in (1_000, 10_000, 100_000):
        for i in range(backlog - queued):
            send(me, ("junk", i))
        queued = backlog
        t0 = time.perf_counter()
        for _ in range(exchanges):
            ref = make_ref()
            send(r, (me, ref))
            await receive(("reply", ref, ANY))
        out[f"backlog={backlog}"] = (time.perf_counter() - t0) / exchanges * 1e6
    return {"us_per_exchange": out}


WORKLOADS = {
    "spawn": lambda q: beamlet.run(spawn_main, 100_000 if q else 1_000_000),
    "skynet": lambda q: beamlet.run(skynet_main, 100_000 if q else 1_000_000),
    "pingpong": lambda q: beamlet.run(pingpong_main, 100_000 if q else 1_000_000),
    "pingpong_timeout": lambda q: beamlet.run(pingpong_timeout_main, 100_000 if q else 1_000_000),
    "oneway": lambda q: beamlet.run(oneway_main, 100_000 if q else 1_000_000),
    "ring": lambda q: beamlet.run(ring_main, 10_000, 100_000 if q else 1_000_000),
    "selective": lambda q: beamlet.run(selective_main, 2_000 if q else 10_000),
}

if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("workload", choices=sorted(WORKLOADS))
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    print(json.dumps(WORKLOADS[a.workload](a.quick)))
