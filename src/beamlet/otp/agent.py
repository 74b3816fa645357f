"""Agent: a process that holds a state, read and changed through functions, as Elixir's ``Agent``.

An agent is the simplest way to share state between processes: the state lives in one
process, and every read or change is a function sent to it and applied there, one at a time.
Because the functions run inside the agent, updates never race; because the agent is a
GenServer, it starts synchronously, can be named and supervised, and a call that times out or
finds the agent dead exits the caller exactly as `GenServer.call` does (with a
``(GenServer, "call", [agent, request, timeout])`` reason).

Example::

    ("ok", counter) = await Agent.start_link(lambda: 0)
    await Agent.update(counter, lambda n: n + 1)                 # "ok"
    await Agent.get(counter, lambda n: n)                        # 1
    await Agent.get_and_update(counter, lambda n: (n, n * 10))   # 1 (state is now 10)
    Agent.cast(counter, lambda n: n + 5)                         # "ok", without waiting

Keep the functions quick: while one runs, every other client of the agent waits. Do the
expensive work in the caller (``get`` the data out, compute, then ``update``). A function may
be ``async def`` (its result is awaited, inside the agent). Extra positional arguments are
passed after the state, as Elixir's ``Agent.get(agent, module, fun, args)``:
``await Agent.get(agent, operator.add, 100)`` returns ``state + 100``.
"""

from __future__ import annotations

import inspect
import types
from collections.abc import Callable
from typing import Any

from beamlet import Process

from .gen_server import GenServer, Server, StartResult

__all__ = ["Agent"]

_COROUTINE = types.CoroutineType


def _bind(fn: Callable[..., Any], args: tuple[Any, ...]) -> Callable[..., Any]:
    if not callable(fn):
        raise TypeError(f"an Agent function must be callable, got {fn!r}")
    if not args:
        return fn
    return lambda state: fn(state, *args)


class _AgentServer(GenServer):
    """The GenServer an agent runs: requests are ``("get" | "update" | "get_and_update", fn)``
    calls and ``("cast", fn)`` casts."""

    def init(self, fn_args: tuple[Any, ...]) -> Any:
        fn, args = fn_args
        if not callable(fn):
            raise TypeError(f"an Agent function must be callable, got {fn!r}")
        # As Elixir's Agent: the initial call names the state function, not the server.
        Process.put("$initial_call", (fn, len(args)))
        state = fn(*args)
        if state.__class__ is _COROUTINE or inspect.isawaitable(state):
            return self._ainit(state)
        return ("ok", state)

    async def _ainit(self, aw: Any) -> Any:
        return ("ok", await aw)

    def handle_call(self, request: Any, from_: tuple[Any, ...], state: Any) -> Any:
        op, fn = request
        r = fn(state)
        if r.__class__ is _COROUTINE or inspect.isawaitable(r):
            return self._acall(op, r, state)
        if op == "get":
            return ("reply", r, state)
        if op == "update":
            return ("reply", "ok", r)
        if op == "get_and_update":
            reply, new_state = r
            return ("reply", reply, new_state)
        raise ValueError(f"unknown Agent request {request!r}")

    async def _acall(self, op: str, aw: Any, state: Any) -> Any:
        r = await aw
        if op == "get":
            return ("reply", r, state)
        if op == "update":
            return ("reply", "ok", r)
        reply, new_state = r
        return ("reply", reply, new_state)

    async def handle_cast(self, request: Any, state: Any) -> Any:
        _, fn = request
        r = fn(state)
        if r.__class__ is _COROUTINE or inspect.isawaitable(r):
            r = await r
        return ("noreply", r)


class Agent:
    """The Agent API (Elixir's ``Agent`` module). Not instantiated: call its functions."""

    def __new__(cls, *a: Any, **kw: Any) -> Any:
        raise TypeError("Agent is a namespace; use Agent.start_link(fn)")

    @classmethod
    async def start_link(cls, fn: Callable[..., Any], *args: Any, name: str | None = None,
                         timeout: float | None = None, priority: str = "normal") -> StartResult:
        """Start an agent linked to the caller, with ``fn(*args)`` as its initial state.

        Returns ``("ok", pid)``, or ``("error", ("already_started", pid))`` for a taken
        ``name``, or ``("error", reason)`` when ``fn`` fails (as `GenServer.start_link`).
        ``priority`` is the agent process's priority."""
        return await GenServer.start_link(_AgentServer, (fn, args), name=name, timeout=timeout,
                                          priority=priority)

    @classmethod
    async def start(cls, fn: Callable[..., Any], *args: Any, name: str | None = None,
                    timeout: float | None = None, priority: str = "normal") -> StartResult:
        """Same as `start_link`, without the link."""
        return await GenServer.start(_AgentServer, (fn, args), name=name, timeout=timeout,
                                     priority=priority)

    @staticmethod
    def child_spec(fn: Callable[..., Any]) -> dict[Any, Any]:
        """The spec a supervisor uses to run ``Agent.start_link(fn)``."""
        return {"id": Agent, "start": (Agent.start_link, (fn,)), "restart": "permanent",
                "shutdown": 5.0, "type": "worker"}

    @staticmethod
    async def get(agent: Server, fn: Callable[..., Any], *args: Any,
                  timeout: float | None = 5.0) -> Any:
        """``fn(state, *args)``, computed in the agent; the state is unchanged."""
        return await GenServer.call(agent, ("get", _bind(fn, args)), timeout)

    @staticmethod
    async def update(agent: Server, fn: Callable[..., Any], *args: Any,
                     timeout: float | None = 5.0) -> str:
        """Replace the state with ``fn(state, *args)``; "ok" once it is done."""
        ok: str = await GenServer.call(agent, ("update", _bind(fn, args)), timeout)
        return ok

    @staticmethod
    async def get_and_update(agent: Server, fn: Callable[..., Any], *args: Any,
                             timeout: float | None = 5.0) -> Any:
        """``fn(state, *args)`` returns ``(reply, new_state)``: store the new state, return
        the reply, in one step."""
        return await GenServer.call(agent, ("get_and_update", _bind(fn, args)), timeout)

    @staticmethod
    def cast(agent: Server, fn: Callable[..., Any], *args: Any) -> str:
        """Replace the state with ``fn(state, *args)`` without waiting; always "ok", even
        when the agent does not exist."""
        return GenServer.cast(agent, ("cast", _bind(fn, args)))

    @staticmethod
    async def stop(agent: Server, reason: Any = "normal", timeout: float | None = None) -> str:
        """Stop the agent with ``reason`` (as `GenServer.stop`); "ok"."""
        return await GenServer.stop(agent, reason, timeout)
