"""A beamlet node in an OS process of its own that other nodes' dashboards may read.

``python observed_node.py NAME COOKIE EPMD_PORT`` starts the node, exposes it
(`beamlet.observe.collector.expose`), registers ``py_sink`` (a process that never reads its
mailbox) with 250 messages queued, prints ``ready NAME`` and runs until it is killed.
"""

from __future__ import annotations

import sys

import beamlet
from beamlet import receive, register, send, spawn
from beamlet.observe.collector import expose


async def sink() -> None:
    await receive("a message nobody sends")


async def main() -> None:
    expose()
    pid = spawn(sink)
    register(pid, "py_sink")
    for i in range(250):
        send(pid, ("job", i))
    print(f"ready {beamlet.node()}", flush=True)
    await receive("stop")


if __name__ == "__main__":
    beamlet.run(main, name=sys.argv[1], cookie=sys.argv[2], epmd_port=int(sys.argv[3]))
