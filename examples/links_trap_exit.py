"""Links and trap_exit: a hand-made supervisor hears that its worker crashed
(seed: "Trapping Exits").

    python examples/links_trap_exit.py
"""

import logging

import beamlet
from beamlet import Exit, Process, receive, self_pid, send, sleep, spawn, spawn_link


async def worker():
    print("Worker started")
    await sleep(0.1)
    raise RuntimeError("Worker crashed!")


async def supervisor(parent):
    Process.flag("trap_exit", True)  # exit signals become Exit messages
    print("Supervisor started")
    spawn_link(worker)
    print("Spawned worker")
    while True:
        match await receive():
            case Exit(pid, "normal"):
                print(f"Process {pid} exited normally")
            case Exit(pid, reason):
                print(f"Process crashed: {reason!r}")
                print("Supervisor could restart it here...")
                send(parent, "worker_down")
            case "stop":
                print("Supervisor stopping")
                return


async def main():
    sup = spawn(supervisor, self_pid())
    await receive("worker_down")
    ref = beamlet.monitor(sup)
    send(sup, "stop")
    await receive(beamlet.Down(ref, sup, beamlet.ANY))


if __name__ == "__main__":
    logging.getLogger("beamlet").setLevel(logging.CRITICAL)  # the crash is the point here
    beamlet.run(main)
