"""The priority stress test (seed: "The 'Priority' Stress Test").

A 'Heavy' process loops forever at low priority, never awaiting anything; a 'Fast' process at
high priority still finishes at once.

    python examples/priority_stress.py
"""

import time

import beamlet
from beamlet import Process, receive, self_pid, send, spawn


def heavy(parent):
    Process.flag("priority", "low")
    send(parent, "heavy_running")
    while True:  # infinite loop, no await: the scheduler hands it off
        pass


async def fast(parent):
    Process.flag("priority", "high")
    start = time.perf_counter()
    total = sum(range(1, 1001))
    elapsed_ms = (time.perf_counter() - start) * 1000
    print(f"High Priority task finished in {elapsed_ms:.0f}ms")
    send(parent, ("fast_done", total))


async def main():
    me = self_pid()
    h = spawn(heavy, me)
    await receive("heavy_running")
    spawn(fast, me)
    await receive(("fast_done", int))
    print(f"Heavy is still {Process.info(h, 'status')}")
    Process.exit(h, "kill")
    print(f"Heavy killed: alive? {Process.alive(h)}")


if __name__ == "__main__":
    beamlet.run(main)
