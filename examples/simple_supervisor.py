"""A hand-made supervisor with a restart window (seed: "Supervisor Trees (Conceptual
Example)"). In production use `beamlet.Supervisor`; this shows what it does for you.

The flaky worker crashes on its first two starts and then does its work (the seed crashes at
random; a fixed pattern keeps the output the same every run).

    python examples/simple_supervisor.py
"""

import logging
import time

import beamlet
from beamlet import Exit, Process, receive, self_pid, send, sleep, spawn, spawn_link


def simple_supervisor(worker_fn, max_restarts=3, restart_window=5.0):
    async def supervisor_loop(parent):
        Process.flag("trap_exit", True)
        restart_times = []
        worker = None
        while True:
            if worker is None or not Process.alive(worker):
                print("[Supervisor] Starting worker...")
                worker = spawn_link(worker_fn)
            match await receive():
                case Exit(pid, "normal") if pid is worker:
                    print("[Supervisor] Worker exited normally")
                    send(parent, "worker_done")
                    worker = None
                    await receive("stop")
                    print("[Supervisor] Stopping...")
                    return
                case Exit(pid, reason) if pid is worker:
                    print(f"[Supervisor] Worker crashed: {reason!r}")
                    now = time.monotonic()
                    restart_times = [t for t in restart_times if now - t < restart_window]
                    if len(restart_times) >= max_restarts:
                        print("[Supervisor] Too many restarts - giving up")
                        send(parent, "gave_up")
                        return
                    print("[Supervisor] Restarting worker...")
                    await sleep(0.01)  # brief delay before restart
                    restart_times.append(now)
                    worker = None
                case "stop":
                    print("[Supervisor] Stopping...")
                    if worker is not None:
                        Process.exit(worker, "shutdown")
                    return

    return supervisor_loop


starts = 0


async def flaky_worker():
    global starts
    starts += 1
    print(f"[Worker {starts}] Starting...")
    if starts <= 2:
        print(f"[Worker {starts}] Crashing!")
        raise RuntimeError("Random failure")
    for i in range(1, 6):
        print(f"[Worker {starts}] Working... {i}")
        await sleep(0.01)
    print(f"[Worker {starts}] Done!")


async def main():
    sup = spawn(simple_supervisor(flaky_worker, max_restarts=5), self_pid())
    await receive("worker_done")
    send(sup, "stop")
    await sleep(0.01)


if __name__ == "__main__":
    logging.getLogger("beamlet").setLevel(logging.CRITICAL)
    beamlet.run(main)
