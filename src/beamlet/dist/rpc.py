"""`rpc` and `erpc`: calling a function on another node, as Erlang's ``:rpc`` and ``:erpc``.

Both are a spawn request of ``erpc:execute_call(Ref, M, F, A)`` on the other node with a
monitor (`beamlet.dist.spawning`): the call runs in a process of its own there and its outcome
comes back as that process's exit reason. They differ only in how a failure reaches the
caller: `rpc.call` returns ``("badrpc", reason)``, `erpc.call` raises (an `ErpcError` for an
error or a throw, `ProcessExit` with ``("exception", reason)`` for an exit), as in Erlang.

The other way, Erlang (and beamlet) nodes call what this node exports: `rpc.export`.
"""

from __future__ import annotations

from typing import Any

from beamlet.dist import spawning
from beamlet.kernel import scheduler as _sched, signals as _signals
from beamlet.kernel.terms import ANY, Down, ProcessExit

__all__ = ["ErpcError", "erpc", "rpc"]


class ErpcError(Exception):
    """What `erpc.call` raises when the remote call raised (``kind`` "error", with the
    remote ``stack``) or threw (``kind`` "throw"), or when erpc itself failed (``reason``
    ``("erpc", "timeout" | "noconnection" | "notsup" | ...)``)."""

    def __init__(self, kind: str, reason: Any, stack: Any = None) -> None:
        super().__init__(f"{kind}: {reason!r}")
        self.kind = kind
        self.reason = reason
        self.stack = stack if stack is not None else []


async def _call(node: str, module: str, function: str, args: list[Any],
                timeout: float | None) -> tuple[str, Any]:
    """Run the call; ``(kind, value)``: ("return", result), ("throw", value), ("exit",
    reason), ("error", (reason, stack)), or ("erpc", reason) when erpc failed."""
    if not isinstance(args, list):
        raise TypeError(f"rpc args are a list, got {args!r}")
    if timeout is not None and (not isinstance(timeout, (int, float)) or timeout < 0):
        raise ValueError(f"timeout is None or seconds >= 0, got {timeout!r}")
    if node == _sched.node_name_now():
        return await _call_here(module, function, args)
    ref = _sched.make_ref()
    try:
        pid, request = await spawning.spawn_request(
            node, "erpc", "execute_call", [ref, module, function, args], monitor=True)
    except ProcessExit as refused:
        return "erpc", refused.reason
    down = await _sched.receive(Down(request, ANY, ANY), timeout=timeout, default=None)
    if down is None:
        _signals.demonitor(request, flush=True)
        _signals.exit_pid(pid, "kill")
        return "erpc", "timeout"
    match down.reason:
        case (r, "return", result) if r is ref:
            return "return", result
        case (r, "throw", value) if r is ref:
            return "throw", value
        case (r, "exit", reason) if r is ref:
            return "exit", reason
        case (r, "error", reason, stack) if r is ref:
            return "error", (reason, stack)
        case "noconnection":
            return "erpc", "noconnection"
        case other:
            return "exit", other  # killed, or ended some other way before answering


async def _call_here(module: str, function: str, args: list[Any]) -> tuple[str, Any]:
    try:
        return "return", await spawning.apply(module, function, args)
    except spawning.Undefined:
        return "error", ("undef", [(module, function, args, [])])
    except ProcessExit as stopped:
        return "exit", stopped.reason
    except Exception as error:  # noqa: BLE001 - reported as the call's error
        return "error", (error, [])


class rpc:  # noqa: N801 - named as Erlang's module
    """Erlang's ``:rpc``: results, or ``("badrpc", reason)``."""

    export = staticmethod(spawning.export)

    @staticmethod
    async def call(node: str, module: str, function: str, args: list[Any],
                   timeout: float | None = None) -> Any:
        """``module:function(*args)`` on ``node``: its result, or ``("badrpc", reason)`` —
        ``("EXIT", reason)`` when it exited or raised, "nodedown" when the node could not be
        reached, "timeout" after ``timeout`` seconds (None: no limit)."""
        kind, value = await _call(node, module, function, args, timeout)
        if kind == "return" or kind == "throw":
            return value
        if kind == "erpc":
            return ("badrpc", "nodedown" if value == "noconnection" else value)
        return ("badrpc", ("EXIT", value))

    @staticmethod
    async def cast(node: str, module: str, function: str, args: list[Any]) -> bool:
        """Run ``module:function(*args)`` on ``node`` without waiting; True."""
        if node == _sched.node_name_now():
            _sched.spawn(spawning.apply, module, function, args)
            return True
        from beamlet.dist.node import current

        dist = current()
        dist.spawning.request(_sched.self_pid(), node, "erpc", "execute_cast",
                              [module, function, args], [("reply", "no")])
        return True


class erpc:  # noqa: N801 - named as Erlang's module
    """Erlang's ``:erpc``: results, or the failure raised in the caller."""

    export = staticmethod(spawning.export)

    @staticmethod
    async def call(node: str, module: str, function: str, args: list[Any],
                   timeout: float | None = None) -> Any:
        """``module:function(*args)`` on ``node``; raises `ErpcError` ("error" / "throw", or
        ``("erpc", reason)`` when the node is unreachable or the call timed out) or exits
        the caller (`ProcessExit`) with ``("exception", reason)`` when the call exited, as
        ``:erpc.call`` does."""
        kind, value = await _call(node, module, function, args, timeout)
        if kind == "return":
            return value
        if kind == "exit":
            raise ProcessExit(("exception", value))
        if kind == "error":
            reason, stack = value
            raise ErpcError("error", reason, stack)
        if kind == "throw":
            raise ErpcError("throw", value)
        raise ErpcError("error", ("erpc", value))

    @staticmethod
    async def cast(node: str, module: str, function: str, args: list[Any]) -> bool:
        """`rpc.cast`."""
        return await rpc.cast(node, module, function, args)


