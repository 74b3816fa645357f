"""A guided tour of beamlet, following the seeds' journey: processes, messages, links and
monitors, a GenServer, a supervisor that heals, a million processes, the priority stress
test, and a parallel map over every core — ending with a table of what it measured.

    python examples/demo.py                 # the full tour (1,000,000 processes)
    python examples/demo.py --processes N   # a smaller stress test
"""

from __future__ import annotations

import argparse
import logging
import sys
import time

import beamlet
from beamlet import (ANY, Down, Exit, GenServer, Node, Process, Supervisor, Task, monitor,
                     receive, self_pid, send, sleep, spawn, spawn_link)

from counter import counter
from global_counter import GlobalCounter

measured: list[tuple[str, str, str]] = []   # (what, beamlet, the BEAM's published figure)


def step(title: str) -> None:
    print(f"\n\033[1m{title}\033[0m" if sys.stdout.isatty() else f"\n{title}")


# -- 1. Processes ------------------------------------------------------------------------------
async def hello(parent):
    print(f"  Hello from a new process! I am {self_pid()}")
    send(parent, "said hello")


async def processes() -> None:
    step("1. Processes: spawn one, it runs concurrently, then it is gone")
    pid = spawn(hello, self_pid())
    await receive("said hello")
    await sleep(0.001)
    print(f"  I am {self_pid()}; is {pid} still alive? {Process.alive(pid)}")


# -- 2. Messages -------------------------------------------------------------------------------
async def pong():
    while True:
        match await receive(timeout=0.2, default="timeout"):
            case ("ping", sender):
                send(sender, "pong")
            case "timeout":
                return


async def messages() -> None:
    step("2. Messages: state in a loop, requests in a mailbox, selective receive")
    pid = spawn(counter, 0)
    send(pid, ("increment", 5))
    send(pid, ("increment", 3))
    send(pid, ("get", self_pid()))
    _, n = await receive(("count", int))
    print(f"  The counter says {n}")
    ref = monitor(pid)
    send(pid, "stop")
    await receive(Down(ref, pid, ANY))
    p = spawn(pong)
    t0 = time.perf_counter()
    rounds = 10_000
    for _ in range(rounds):
        send(p, ("ping", self_pid()))
        await receive("pong")
    rate = rounds / (time.perf_counter() - t0)
    print(f"  Ping-pong: {rounds:,} round trips at {rate:,.0f} per second")
    measured.append(("ping-pong round trips/s", f"{rate:,.0f}", "2.0M (+S 1, measured)"))


# -- 3. Links and monitors ---------------------------------------------------------------------
async def crasher():
    raise RuntimeError("BOOM!")


async def links_and_monitors() -> None:
    step("3. Let it crash: links bring bad news, monitors just report it")
    Process.flag("trap_exit", True)
    pid = spawn_link(crasher)
    m = await receive(Exit(pid, ANY))
    print(f"  A linked process crashed; trapping exits, I got Exit(..., {m.reason!r})")
    Process.flag("trap_exit", False)
    watched = spawn(crasher)
    ref = monitor(watched)
    down = await receive(Down(ref, watched, ANY))
    print(f"  A monitored process went down with {down.reason!r}; I am fine")


# -- 4. GenServer ------------------------------------------------------------------------------
async def genserver() -> None:
    step("4. GenServer: a professional secret agent, reachable by name")
    await GlobalCounter.start(10)
    GlobalCounter.increment()
    GlobalCounter.increment()
    print(f"  The count is: {await GlobalCounter.get_value()}")
    await GenServer.stop("my_counter")


# -- 5. Supervisor -----------------------------------------------------------------------------
async def supervisor() -> None:
    step("5. Supervisor: kill the counter, watch it come back")
    children = [{"id": "counter", "start": (GlobalCounter.start, (0,))}]
    await Supervisor.start_link(children, strategy="one_for_one")
    GlobalCounter.increment()
    print(f"  Counter {Process.whereis('my_counter')} is at {await GlobalCounter.get_value()}")
    pid = Process.whereis("my_counter")
    t0 = time.perf_counter()
    Process.exit(pid, "kill")
    while (new := Process.whereis("my_counter")) in (None, pid):
        await sleep(0.0005)
    healed_ms = (time.perf_counter() - t0) * 1000
    print(f"  Killed it. Counter {new} is back, at {await GlobalCounter.get_value()}, "
          f"{healed_ms:.2f} ms later")
    measured.append(("supervisor: killed child back in", f"{healed_ms:.2f} ms", "-"))


# -- 6. A million processes --------------------------------------------------------------------
async def idle_worker(parent):
    send(parent, "ready")
    await receive()


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


def progress(done: int, total: int) -> None:
    width = 30
    filled = width * done // total
    print(f"\r  [{'#' * filled}{'.' * (width - filled)}] {done:>9,} / {total:,}", end="",
          flush=True)


async def stress(n: int) -> None:
    step(f"6. Stress test: {n:,} processes that each say 'ready' and wait")
    me = self_pid()
    before = rss_bytes()
    t0 = time.perf_counter()
    chunk = max(1, n // 10)
    for i in range(n):
        spawn(idle_worker, me)
        if (i + 1) % chunk == 0:
            progress(i + 1, n)
    for _ in range(n):
        await receive("ready")
    elapsed = time.perf_counter() - t0
    per_proc = (rss_bytes() - before) / n
    print(f"\n  {n:,} processes spawned and heard from in {elapsed:.2f} s "
          f"({elapsed / n * 1e6:.2f} µs each); {len(Process.list()):,} alive")
    print(f"  Memory: {per_proc:,.0f} bytes per live process (the BEAM: about 2,600)")
    measured.append((f"spawn {n:,} processes", f"{elapsed:.2f} s",
                     "7.3 s for 1M (+S 1, measured)"))
    measured.append(("memory per live process", f"{per_proc:,.0f} B", "~2,600 B (published)"))


# -- 7. Priorities -----------------------------------------------------------------------------
def heavy(parent) -> None:
    send(parent, "heavy_started")
    while True:  # never awaits: the scheduler hands it off to a thread of its own
        pass


async def fast(parent, t0: float) -> None:
    sum(range(1, 1001))
    send(parent, ("fast_done", (time.perf_counter() - t0) * 1000))


async def priorities() -> None:
    step("7. Priority stress test: a low-priority process spins forever")
    me = self_pid()
    hog = spawn(heavy, me, priority="low")
    await receive("heavy_started")
    timings = []
    for _ in range(50):
        await sleep(0.002)
        spawn(fast, me, time.perf_counter(), priority="high")
        _, ms = await receive(("fast_done", float))
        timings.append(ms)
    timings.sort()
    p50, worst = timings[len(timings) // 2], timings[-1]
    print(f"  'Heavy' is {Process.info(hog, 'status')}; a high-priority process still "
          f"finishes in {p50:.3f} ms (median of 50, worst {worst:.3f} ms)")
    Process.exit(hog, "kill")
    print(f"  Killed 'Heavy' in the middle of its loop: alive? {Process.alive(hog)}")
    measured.append(("high-priority process beside a spinner, p50", f"{p50:.3f} ms",
                     "0.025 ms (+S 1, measured)"))


# -- 8. Every core ----------------------------------------------------------------------------
def collatz_steps(start: int) -> int:
    """Pure-Python CPU work (~20 ms): the Collatz steps of the numbers from ``start`` on."""
    steps = 0
    for n in range(start, start + 1_000):
        while n != 1:
            n = n // 2 if n % 2 == 0 else 3 * n + 1
            steps += 1
    return steps


async def every_core() -> None:
    step("8. Every core: a CPU-bound parallel map over a node per core")
    nodes = Node.list() + [beamlet.node()]
    print(f"  beamlet.run(main, cores=\"auto\") started {len(nodes) - 1} peer node(s), one OS "
          f"process each: {', '.join(nodes)}")
    items = [i * 1_000 + 1 for i in range(40)]
    t0 = time.perf_counter()
    here = [r async for r in Task.async_stream(items, collatz_steps, nodes=[beamlet.node()])]
    one = time.perf_counter() - t0
    t0 = time.perf_counter()
    spread = [r async for r in Task.async_stream(items, collatz_steps, nodes=nodes)]
    every = time.perf_counter() - t0
    assert spread == here
    print(f"  40 items of ~20 ms: {one:.2f} s on one node, {every:.2f} s over {len(nodes)} "
          f"nodes: {one / every:.2f}x faster")
    measured.append((f"CPU-bound map speed-up, {len(nodes)} cores", f"{one / every:.2f}x",
                     f"{len(nodes)}x at best"))


def table() -> None:
    step("What this run measured")
    w = max(len(r[0]) for r in measured)
    print(f"  {'':{w}}  {'beamlet':>12}  {'the BEAM':>30}")
    for what, ours, theirs in measured:
        print(f"  {what:{w}}  {ours:>12}  {theirs:>30}")


async def main(n: int) -> None:
    print(f"beamlet {beamlet.__version__}: the BEAM's process model, in Python")
    await processes()
    await messages()
    await links_and_monitors()
    await genserver()
    await supervisor()
    await stress(n)
    await priorities()
    await every_core()
    table()
    print("\nDone: the node stops every process still alive.")


class OneLineErrors(logging.Formatter):
    """Crash reports in one line (the full report, traceback included, goes through logging)."""

    def formatException(self, ei) -> str:  # noqa: N802 - logging's naming
        return ""

    def format(self, record: logging.LogRecord) -> str:
        exc = record.exc_info[1] if record.exc_info else None
        first = record.getMessage().splitlines()[0]
        return f"  [logger] {first}" + (f": {exc!r}" if exc is not None else "")


if __name__ == "__main__":
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(OneLineErrors())
    logging.getLogger("beamlet").addHandler(handler)
    logging.getLogger("beamlet").propagate = False
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--processes", type=int, default=1_000_000)
    beamlet.run(main, ap.parse_args().processes, cores="auto")
