"""A Python node in an Elixir cluster (docs/distribution.md walks through it with iex).

Run ``python examples/elixir_cluster.py`` (it is the node ``py@<host>``, cookie "beamlet"),
then in another terminal ``iex --sname ex --cookie beamlet`` and, in iex::

    GenServer.call({:counter, :"py@<host>"}, :increment)   # Elixir calls a Python GenServer
    :rpc.call(:"py@<host>", :py_math, :fib, [30])           # ... and Python functions

When the Elixir node connects, the Python node calls back into it: it asks for the Elixir
version with `rpc.call` and, if iex registered an Agent as ``:notes``, reads it with
`GenServer.call` — Python calling Elixir. ``--stop-after N`` ends the node once N nodes have
come and gone (for the tests); otherwise Ctrl-C stops it.
"""

from __future__ import annotations

import sys
from typing import Any

import beamlet
from beamlet import GenServer, Node, ProcessExit, receive, rpc


class Counter(GenServer):
    """A counter Elixir can call: ``:increment`` and ``:get``."""

    async def init(self, start: int) -> Any:
        return ("ok", start)

    async def handle_call(self, request: Any, from_: Any, count: int) -> Any:
        if request == "increment":
            return ("reply", count + 1, count + 1)
        if request == "get":
            return ("reply", count, count)
        return ("reply", ("error", "unknown_request"), count)


class PyMath:
    """Functions Elixir can call with ``:rpc.call(:"py@host", :py_math, ...)``."""

    @staticmethod
    def fib(n: int) -> int:
        a, b = 0, 1
        for _ in range(n):
            a, b = b, a + b
        return a

    @staticmethod
    def upcase(text: bytes) -> bytes:  # an Elixir string arrives as bytes
        return text.upper()


async def greet(elixir_node: str) -> None:
    """Call back into a node that just connected: Python calling Elixir."""
    version = await rpc.call(elixir_node, "Elixir.System", "version", [])
    print(f"{elixir_node} connected; it runs Elixir {version.decode()}", flush=True)
    try:
        notes = await GenServer.call(("notes", elixir_node), ("get", _identity()), 2)
        print(f"its :notes agent holds {notes!r}", flush=True)
    except ProcessExit as stopped:
        print(f"it has no :notes agent ({stopped.reason[0]})", flush=True)


def _identity() -> Any:
    """Agent.get's function, as an Erlang fun cannot be made in Python: the Agent protocol
    also takes ``{M, F, A}``, applied with the state first: ``Function.identity/1``."""
    return ("Elixir.Function", "identity", [])


async def main(stop_after: int | None) -> None:
    await GenServer.start(Counter, 0, name="counter")
    rpc.export("py_math", PyMath)
    Node.monitor_nodes(True)
    print(f"{beamlet.node()} is up (cookie {Node.get_cookie()}); in another terminal:",
          flush=True)
    print(f"  iex --sname ex --cookie {Node.get_cookie()}", flush=True)
    gone = 0
    while stop_after is None or gone < stop_after:
        match await receive():
            case ("nodeup", name):
                await greet(name)
            case ("nodedown", name):
                print(f"{name} left", flush=True)
                gone += 1


if __name__ == "__main__":
    stop_after = int(sys.argv[sys.argv.index("--stop-after") + 1]) \
        if "--stop-after" in sys.argv else None
    try:
        beamlet.run(main, stop_after, name="py", cookie="beamlet")
    except KeyboardInterrupt:
        pass
