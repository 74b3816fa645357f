"""OTP benchmarks (issue 4), one workload per run, each printing one JSON line.

    python bench/otp/otp_bench.py call|agent|restarts|stream [--quick]

call: GenServer.call round trips per second from one client. agent: Agent.get per second.
restarts: restarts per second of a child that crashes at once under a one_for_one supervisor
with a high intensity. stream: Task.async_stream items per second over 100,000 items with
max_concurrency 100. The BEAM's versions are in otp.exs; run.py compares them.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "src"))

import beamlet  # noqa: E402
from beamlet import Agent, GenServer, Supervisor, receive, self_pid, send, spawn_link  # noqa: E402


class Echo(GenServer):
    def handle_call(self, request, from_, state):
        return ("reply", request, state)


async def call_main(n):
    _, pid = await GenServer.start_link(Echo, None)
    call = GenServer.call
    t = time.perf_counter()
    for i in range(n):
        await call(pid, i)
    return {"n": n, "per_second": n / (time.perf_counter() - t)}


async def agent_main(n):
    _, agent = await Agent.start_link(lambda: 42)
    get = Agent.get
    ident = lambda s: s  # noqa: E731
    t = time.perf_counter()
    for _ in range(n):
        await get(agent, ident)
    return {"n": n, "per_second": n / (time.perf_counter() - t)}


async def crasher(counter):
    send(counter, "started")
    beamlet.exit("boom")


def start_crasher(counter):
    return ("ok", spawn_link(crasher, counter))


async def restarts_main(n):
    me = self_pid()
    child = {"id": "c", "start": (start_crasher, (me,)), "restart": "permanent"}
    t = time.perf_counter()
    await Supervisor.start_link([child], strategy="one_for_one",
                                max_restarts=10 * n, max_seconds=3600)
    for _ in range(n + 1):
        await receive("started")
    return {"n": n, "per_second": n / (time.perf_counter() - t)}


async def stream_main(n):
    from beamlet import Task

    t = time.perf_counter()
    count = 0
    async for _item in Task.async_stream(range(n), lambda x: x * 2, max_concurrency=100):
        count += 1
    assert count == n
    return {"n": n, "per_second": n / (time.perf_counter() - t)}


WORKLOADS = {
    "call": (call_main, 100_000),
    "agent": (agent_main, 100_000),
    "restarts": (restarts_main, 20_000),
    "stream": (stream_main, 100_000),
}

if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("workload", choices=sorted(WORKLOADS))
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    logging.getLogger("beamlet").setLevel(logging.CRITICAL)  # the BEAM side silences Logger too
    fn, n = WORKLOADS[a.workload]
    print(json.dumps(beamlet.run(fn, n // 10 if a.quick else n)))
