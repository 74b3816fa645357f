"""A live demo of beamlet's kernel: the seeds' process examples, then a million processes.

Run it with ``python examples/demo.py`` (``--processes N`` for a smaller stress test).
"""

from __future__ import annotations

import argparse
import logging
import time

import beamlet
from beamlet import (ANY, Down, Exit, Process, monitor, receive, self_pid, send, spawn,
                     spawn_link)


# -- 1. A stateful process: the counter loop ---------------------------------------------------
async def counter(count: int) -> None:
    while True:
        msg = await receive()
        match msg:
            case ("increment", amount):
                count += amount
            case ("get", caller):
                send(caller, ("count", count))
            case "stop":
                print(f"  Counter stopped at {count}")
                return


async def counter_demo() -> None:
    print("1. Counter: state lives in a loop, requests arrive as messages")
    pid = spawn(counter, 0)
    send(pid, ("increment", 5))
    send(pid, ("increment", 3))
    send(pid, ("get", self_pid()))
    _, n = await receive(("count", int))
    print(f"  {pid} counted to {n}")
    ref = monitor(pid)
    send(pid, "stop")
    await receive(Down(ref, pid, ANY))


# -- 2. Ping-pong, with the timeout bonus ------------------------------------------------------
async def pong() -> None:
    while True:
        match await receive(timeout=0.5, default="timeout"):
            case ("ping", sender):
                print("  Got ping!")
                send(sender, "pong")
            case "timeout":
                print("  pong: nobody has pinged me for 0.5 s, I'm leaving")
                return


async def ping_pong_demo() -> None:
    print("2. Ping-pong")
    pid = spawn(pong)
    for _ in range(3):
        send(pid, ("ping", self_pid()))
        await receive("pong")
        print("  Got pong!")
    ref = monitor(pid)
    await receive(Down(ref, pid, ANY))


# -- 3. The secret agent, who can change its own priority ---------------------------------------
async def secret_agent() -> None:
    while True:
        match await receive():
            case ("whisper", text):
                print(f"  Agent received a secret: {text}")
            case ("set_priority", level):
                Process.flag("priority", level)
                print(f"  Agent priority changed to: {Process.read_flag('priority')}")
            case "terminate":
                print("  Agent signing off. Over and out.")
                return


async def secret_agent_demo() -> None:
    print("3. Secret agent")
    agent = spawn(secret_agent)
    print(f"  Is agent alive? {Process.alive(agent)}")
    ref = monitor(agent)
    send(agent, ("whisper", "The eagle has landed."))
    send(agent, ("set_priority", "high"))
    send(agent, "terminate")
    await receive(Down(ref, agent, ANY))
    print(f"  Is agent alive? {Process.alive(agent)}")


# -- 4. Links and monitors --------------------------------------------------------------------
async def crasher() -> None:
    raise RuntimeError("BOOM!")


async def links_demo() -> None:
    print("4. Links and monitors")
    Process.flag("trap_exit", True)  # turn the exit signal into a message
    pid = spawn_link(crasher)
    exit_msg = await receive(Exit(pid, ANY))
    print(f"  linked {pid} crashed; trapped {exit_msg.reason!r}")
    Process.flag("trap_exit", False)
    watched = spawn(crasher)
    ref = monitor(watched)
    down = await receive(Down(ref, watched, ANY))
    print(f"  monitored {watched} went down with {down.reason!r}; I am still alive")


# -- 5. Priorities and a process stuck in a loop --------------------------------------------------
def heavy(parent: beamlet.Pid) -> None:
    """A 'Heavy' process that loops forever without ever awaiting."""
    send(parent, "heavy_started")
    while True:
        pass


async def fast(parent: beamlet.Pid, t0: float) -> None:
    send(parent, ("fast_done", (time.perf_counter() - t0) * 1000))


async def priority_demo() -> None:
    print("5. Priority stress test: a low-priority process spins forever")
    me = self_pid()
    hog = spawn(heavy, me, priority="low")
    await receive("heavy_started")
    timings = []
    for _ in range(20):
        spawn(fast, me, time.perf_counter(), priority="high")
        _, ms = await receive(("fast_done", float))
        timings.append(ms)
    timings.sort()
    print(f"  heavy is {Process.info(hog, 'status')}; a high-priority process still finishes in "
          f"{timings[len(timings) // 2]:.3f} ms (median of 20, worst {timings[-1]:.3f} ms)")
    Process.exit(hog, "kill")
    print(f"  killed the heavy process: alive? {Process.alive(hog)}")


# -- 6. A million processes -------------------------------------------------------------------
async def idle_worker(parent: beamlet.Pid) -> None:
    send(parent, "ready")
    await receive()


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


async def stress_demo(n: int) -> None:
    print(f"6. Stress test: {n:,} processes that each say 'ready' and wait")
    me = self_pid()
    before = rss_bytes()
    t0 = time.perf_counter()
    for _ in range(n):
        spawn(idle_worker, me)
    for _ in range(n):
        await receive("ready")
    elapsed = time.perf_counter() - t0
    per_proc = (rss_bytes() - before) / n
    print(f"  {n:,} processes spawned and heard from in {elapsed:.2f} s "
          f"({elapsed / n * 1e6:.2f} µs each)")
    print(f"  memory: {per_proc:,.0f} bytes per live process (the BEAM: ~2,600)")
    print(f"  live processes now: {len(Process.list()):,}")


async def main(n: int) -> None:
    print(f"beamlet {beamlet.__version__}: the BEAM process model in Python\n")
    await counter_demo()
    await ping_pong_demo()
    await secret_agent_demo()
    await links_demo()
    await priority_demo()
    await stress_demo(n)
    print("\nDone: the node stops every process still alive.")


class OneLineErrors(logging.Formatter):
    """Crash reports as one line (the full report, traceback included, goes through logging)."""

    def formatException(self, ei) -> str:  # noqa: N802 - logging's naming
        return ""

    def format(self, record: logging.LogRecord) -> str:
        exc = record.exc_info[1] if record.exc_info else None
        return f"  [logger] {record.getMessage()}: {exc!r}"


if __name__ == "__main__":
    handler = logging.StreamHandler()
    handler.setFormatter(OneLineErrors())
    logging.getLogger("beamlet").addHandler(handler)
    logging.getLogger("beamlet").propagate = False
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--processes", type=int, default=1_000_000)
    beamlet.run(main, ap.parse_args().processes)
