"""Monitors: watch a process without sharing its fate; spawn_monitor; demonitor
(seed: "Process Monitoring").

    python examples/monitors.py
"""

import logging

import beamlet
from beamlet import (ANY, Down, Process, demonitor, monitor, receive, self_pid, sleep, spawn,
                     spawn_monitor)


async def crashing_worker():
    print("Worker running...")
    await sleep(0.05)
    print("Worker crashing!")
    beamlet.exit("boom")


async def short_lived():
    print("Short-lived process running")
    beamlet.exit("completed")


async def main():
    pid = spawn(crashing_worker)
    ref = monitor(pid)
    print("Monitoring the worker")
    down = await receive(Down(ref, pid, ANY))
    print(f"Worker died with reason: {down.reason!r}")
    print(f"Monitor process still alive: {Process.alive(self_pid())}")

    pid, ref = spawn_monitor(short_lived)
    down = await receive(Down(ref, pid, ANY))
    print(f"Process exited with: {down.reason!r}")

    pid = spawn(sleep, 0.05)
    ref = monitor(pid)
    demonitor(ref, flush=True)
    print("Demonitored - we will not receive DOWN messages")
    got = await receive(Down(ref, ANY, ANY), timeout=0.1, default=None)
    print("No DOWN message received (as expected)" if got is None else f"Unexpected: {got}")


if __name__ == "__main__":
    logging.getLogger("beamlet").setLevel(logging.CRITICAL)
    beamlet.run(main)
