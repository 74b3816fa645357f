"""The distribution workloads on a beamlet node: dist_node.exs's server and client in Python.

    python dist_node.py server NAME COOKIE EPMD_PORT
    python dist_node.py client NAME COOKIE EPMD_PORT WORKLOAD SERVER_NODE N

The server registers ``bench`` and prints ``ready <node>``; the client runs one workload
against the server node and prints one JSON line. The wire protocol is the one dist_node.exs
describes (its atoms are ``str`` here, its binaries ``bytes``), so either side can be an
Elixir node. dist_bench.py starts these and compares them with Elixir's.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "src"))

import beamlet  # noqa: E402
from beamlet import ANY, GenServer, Pid, flush, receive, register, self_pid, send, spawn  # noqa: E402

# Only against a lost message: every awaited one normally comes within a few seconds (less than
# dist_bench.py's guard on the whole run, so that the client says what it missed).
GUARD_SECONDS = 30.0
BIG_BYTES = 100_000_000
CALL_BYTES = 100_000
ONEWAY_ACK_EVERY = 500
ONEWAY_WINDOW = 10 * ONEWAY_ACK_EVERY


class Gen(GenServer):
    """Answers ``("echo", x)`` with ``x``: a small term, or the 100 KB binary it was given."""

    def init(self, state: Any) -> Any:
        return ("ok", state)

    def handle_call(self, request: Any, from_: Any, state: Any) -> Any:
        _, value = request
        return ("reply", value, state)


# --- server ------------------------------------------------------------------------------


async def serve() -> None:
    """Start what a client asks for and send it the pid."""
    while True:
        _, kind, arg, client = await receive(("start", str, ANY, ANY))
        send(client, ("started", await start(kind, arg)))


async def start(kind: str, arg: Any) -> Pid:
    if kind == "echo":
        return spawn(echo)
    if kind == "counter":
        n, every, client = arg
        return spawn(count, n, every, client)
    if kind == "sink":
        return spawn(sink)
    if kind == "gen":
        match await GenServer.start(Gen, None):
            case ("ok", pid):
                return pid  # type: ignore[no-any-return]  # StartResult's pid is Any
            case failed:
                raise RuntimeError(f"the GenServer did not start: {failed!r}")
    raise ValueError(f"no such kind of process: {kind!r}")


async def echo() -> None:
    while True:
        sender, value = await receive()
        send(sender, value)


async def count(n: int, every: int, client: Pid) -> None:
    """Receive ``n`` messages, acknowledging every ``every`` and the last."""
    for seen in range(1, n + 1):
        await receive()
        if seen % every == 0 or seen == n:
            send(client, ("ack", seen))


async def sink() -> None:
    while True:
        _, data, sender = await receive(("big", bytes, ANY))
        send(sender, ("got", len(data)))


# --- client ------------------------------------------------------------------------------


async def remote(server: str, kind: str, arg: Any) -> Pid:
    """A fresh process of ``kind`` on the server node."""
    send(("bench", server), ("start", kind, arg, self_pid()))
    started = await receive(("started", ANY), timeout=GUARD_SECONDS, default=None)
    if started is None:
        raise TimeoutError(f"the server {server} did not start {kind} in {GUARD_SECONDS:.0f} s")
    return started[1]  # type: ignore[no-any-return]  # a RemotePid, decoded from the wire


async def round_trips(echo_pid: Pid, n: int) -> None:
    me = self_pid()
    for i in range(1, n + 1):
        send(echo_pid, (me, i))
        if await receive(i, timeout=GUARD_SECONDS, default=None) is None:
            raise TimeoutError(f"round trip {i}: no answer in {GUARD_SECONDS:.0f} s")


def rate(n: int, started: float) -> dict[str, float]:
    return {"n": n, "per_second": n / (time.perf_counter() - started)}


async def pingpong(server: str, n: int) -> dict[str, float]:
    echo_pid = await remote(server, "echo", None)
    await round_trips(echo_pid, n // 10)
    started = time.perf_counter()
    await round_trips(echo_pid, n)
    return rate(n, started)


async def oneway(server: str, n: int) -> dict[str, float]:
    """Integers to a counter, never more than `ONEWAY_WINDOW` ahead of its last ack; the
    rate is at its ack of the n-th, so it counts what arrived, not what was queued."""
    counter = await remote(server, "counter", (n, ONEWAY_ACK_EVERY, self_pid()))
    started = time.perf_counter()
    sent = acked = 0
    while acked < n:
        if sent < n and sent - acked < ONEWAY_WINDOW:
            sent += 1
            send(counter, sent)
        else:
            ack = await receive(("ack", int), timeout=GUARD_SECONDS, default=None)
            if ack is None:
                raise TimeoutError(f"the counter has not acknowledged past {acked} of {n} "
                                   f"in {GUARD_SECONDS:.0f} s")
            acked = ack[1]
    return rate(n, started)


async def call(server: str, n: int) -> dict[str, float]:
    gen = await remote(server, "gen", None)
    for i in range(n // 10):
        await GenServer.call(gen, ("echo", i))
    started = time.perf_counter()
    for i in range(n):
        if await GenServer.call(gen, ("echo", i)) != i:
            raise AssertionError("the GenServer answered another request")
    return rate(n, started)


async def call_100k(server: str, n: int) -> dict[str, float]:
    gen = await remote(server, "gen", None)
    data = b"\x07" * CALL_BYTES
    for _ in range(n // 10):
        await GenServer.call(gen, ("echo", data))
    started = time.perf_counter()
    for _ in range(n):
        if await GenServer.call(gen, ("echo", data)) != data:
            raise AssertionError("the GenServer answered with another binary")
    return rate(n, started)


async def big_latency(server: str, n: int) -> dict[str, float]:
    """``n`` 100 MB binaries to a sink, one after another; during each, a second process
    does round trips to an echo on the same node and records each one's time."""
    echo_pid = await remote(server, "echo", None)
    sink_pid = await remote(server, "sink", None)
    await round_trips(echo_pid, 100)
    data = b"\x07" * BIG_BYTES
    me = self_pid()
    samples: list[float] = []
    transfers: list[float] = []
    for _ in range(n):
        pinger = spawn(ping_while, echo_pid, me)
        started = time.perf_counter()
        send(sink_pid, ("big", data, me))
        await receive(("got", BIG_BYTES), timeout=GUARD_SECONDS)
        transfers.append(time.perf_counter() - started)
        send(pinger, "stop")
        samples += (await receive(("samples", list), timeout=GUARD_SECONDS))[1]
    samples.sort()

    def pick(q: float) -> float:
        return samples[min(len(samples) - 1, int(q * len(samples)))] * 1000

    return {"n": n, "samples": len(samples), "p50_ms": pick(0.5), "p99_ms": pick(0.99),
            "max_ms": samples[-1] * 1000, "transfer_seconds": sum(transfers) / n}


async def ping_while(echo_pid: Pid, parent: Pid) -> None:
    """Round trips until told to stop; then the duration of each, in seconds, to the parent."""
    me = self_pid()
    samples = []
    while not flush("stop"):
        started = time.perf_counter()
        send(echo_pid, (me, "ping"))
        await receive("ping")
        samples.append(time.perf_counter() - started)
    send(parent, ("samples", samples))


WORKLOADS = {"pingpong": pingpong, "oneway": oneway, "call": call, "call_100k": call_100k,
             "big_latency": big_latency}


async def server_main() -> None:
    register(self_pid(), "bench")
    print(f"ready {beamlet.node()}", flush=True)
    await serve()


def main(argv: list[str]) -> None:
    role, name, cookie, epmd_port, *rest = argv
    options: dict[str, Any] = {"name": name, "cookie": cookie, "epmd_port": int(epmd_port)}
    if role == "server":
        beamlet.run(server_main, **options)
    else:
        workload, server, n = rest
        result = beamlet.run(WORKLOADS[workload], server, int(n), **options)
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
