"""A beamlet node in an OS process of its own, for the cluster tests.

``python beamlet_node.py NAME COOKIE EPMD_PORT [TICKTIME]`` starts a distributed node that
serves the names the tests use, prints ``ready NAME`` and runs until it is killed or told
``"stop"``:

- ``echo`` (a GenServer): ``{"ok", request}`` for any call, ``node()`` for ``"node"``;
- ``py_echo``: ``(from, msg)`` answered with ``("reply", msg, node())``;
- ``spawner``: ``("spawn_victim", from)`` answered with ``("victim", pid)``, a process that
  exits with R on ``("exit", R)``;
- rpc module ``tools``: ``tools:add(a, b)``, ``tools:node_name()``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

import beamlet
from beamlet import ANY, GenServer, exit, receive, register, send, spawn


@dataclass(frozen=True)
class Point:
    """A value of the tests' own, to cross between nodes (defined here, so that this node
    can unpickle it without the test modules' imports)."""

    x: int
    y: int


async def remote_worker() -> None:
    """A worker a supervisor on another node starts here: it crashes when told."""
    await receive("crash")
    raise RuntimeError("told to crash")


class Echo(GenServer):
    async def init(self, arg: Any) -> Any:
        return ("ok", None)

    async def handle_call(self, request: Any, from_: Any, state: Any) -> Any:
        if request == "node":
            return ("reply", beamlet.node(), state)
        return ("reply", ("ok", request), state)


async def victim() -> None:
    (_, reason) = await receive(("exit", ANY))
    exit(reason)


async def py_echo() -> None:
    while True:
        message = await receive()
        match message:
            case ("spawn_victim", sender):
                send(sender, ("victim", spawn(victim)))
            case (sender, payload):
                send(sender, ("reply", payload, beamlet.node()))


class Tools:
    @staticmethod
    def add(a: int, b: int) -> int:
        return a + b

    @staticmethod
    def node_name() -> str:
        return beamlet.node()


async def main() -> None:
    register(spawn(py_echo), "py_echo")
    await GenServer.start(Echo, None, name="echo")
    beamlet.rpc.export("tools", Tools)
    register(beamlet.self_pid(), "keeper")
    print(f"ready {beamlet.node()}", flush=True)
    await receive("stop")


if __name__ == "__main__":
    name, cookie, epmd_port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    ticktime = float(sys.argv[4]) if len(sys.argv) > 4 else 60.0
    beamlet.run(main, name=name, cookie=cookie, epmd_port=epmd_port, net_ticktime=ticktime)
