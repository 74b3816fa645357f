"""Processes started across nodes: spawn requests both ways, and rpc on top of them.

Since OTP 23 a remote spawn is the ``SPAWN_REQUEST`` control message, answered by
``SPAWN_REPLY``; ``:rpc.call`` and ``:erpc.call`` are spawn requests of
``erpc:execute_call(Ref, M, F, A)`` with the ``monitor`` option, and the result comes back as
the spawned process's exit reason ``{Ref, return, Result}`` in the monitor's Down (research
section 3.2). This module serves such requests from other nodes — running what `rpc.export`
made callable, ``erpc:execute_call`` and ``execute_cast`` themselves, and, from another beamlet
node, any Python callable — and makes them (`spawn_request`, used by `Node.spawn` and by
`beamlet.dist.rpc`).

An Erlang node can call only what is exported: ``rpc.export(name, obj)`` makes every public
function of ``obj`` (a module, an object, a dict) callable as ``name:function``; ``erlang``
holds a few builtins (`node/0`, `nodes/0,1`, ...). Anything else answers as an undefined
function does on the BEAM (``undef``).
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from beamlet.dist.control import SPAWN_REPLY, SPAWN_REPLY_TT, SPAWN_REQUEST, SPAWN_REQUEST_TT
from beamlet.kernel import scheduler as _sched, signals as _signals
from beamlet.kernel.process_api import Process
from beamlet.kernel.registry import registered, whereis
from beamlet.kernel.terms import ANY, Pid, ProcessExit, Ref, RemotePid

if TYPE_CHECKING:
    from beamlet.dist.node import Dist

log = logging.getLogger("beamlet.dist")

LINKED, MONITORED = 1, 2  # SPAWN_REPLY's flags
BEAMLET_APPLY = ("beamlet", "apply")  # a Python callable and its args, from a beamlet node

_exports: dict[str, Any] = {}


class Undefined(LookupError):
    """``module:function/arity`` is not exported (the BEAM's ``undef``)."""

    def __init__(self, module: Any, function: Any, args: list[Any]) -> None:
        super().__init__(f"{module}:{function}/{len(args)} is not exported by this node")
        self.mfa = (module, function, args)


def export(module_name: str, obj: Any) -> None:
    """Make the public functions of ``obj`` (a module, an object or a dict of functions)
    callable by other nodes as ``module_name:function`` (`:rpc.call`, `:erpc.call`,
    `Node.spawn`). Exporting a name again replaces it; ``None`` removes it."""
    if not isinstance(module_name, str) or not module_name or len(module_name) > 255:
        raise ValueError(f"a module name is a str of 1 to 255 characters, got {module_name!r}")
    if obj is None:
        _exports.pop(module_name, None)
    else:
        _exports[module_name] = obj


def lookup(module: Any, function: Any, args: list[Any]) -> Callable[..., Any]:
    """The exported function ``module:function`` that takes ``args``; `Undefined` if none."""
    obj = _exports.get(module) if isinstance(module, str) else None
    if obj is None and module == "erlang":
        obj = _ErlangBuiltins
    if obj is None or not isinstance(function, str) or function.startswith("_"):
        raise Undefined(module, function, args)
    fn = obj.get(function) if isinstance(obj, dict) else getattr(obj, function, None)
    if not callable(fn):
        raise Undefined(module, function, args)
    try:
        inspect.signature(fn).bind(*args)
    except TypeError:
        raise Undefined(module, function, args) from None
    except ValueError:
        pass  # a builtin without a signature: let the call decide
    found: Callable[..., Any] = fn
    return found


async def apply(module: Any, function: Any, args: list[Any]) -> Any:
    """Call the exported ``module:function(*args)`` (awaiting it when it is a coroutine)."""
    result = lookup(module, function, args)(*args)
    if inspect.isawaitable(result):
        result = await result
    return result


class _ErlangBuiltins:
    """The ``erlang`` functions another node may ask a beamlet node about."""

    @staticmethod
    def node(pid: Any = None) -> str:
        from beamlet.kernel.runtime import node

        return node(pid)

    @staticmethod
    def nodes(kind: Any = "visible") -> list[str]:
        from beamlet.dist import nodes

        return nodes.Node.list(kind)

    @staticmethod
    def is_alive() -> bool:
        return True

    @staticmethod
    def processes() -> list[Pid]:
        return Process.list()

    @staticmethod
    def is_process_alive(pid: Pid) -> bool:
        return Process.alive(pid)

    @staticmethod
    def whereis(name: str) -> Any:
        found = whereis(name)
        return "undefined" if found is None else found

    @staticmethod
    def registered() -> list[str]:
        return list(registered())


# --- what runs in a process spawned for another node -----------------------------------------

async def _run_mfa(module: Any, function: Any, args: list[Any]) -> Any:
    """The body of a process spawned by ``module:function(args)``: an undefined function ends
    it with ``{undef, [{M, F, Args, []}]}``, as on the BEAM."""
    try:
        fn = lookup(module, function, args)
    except Undefined:
        raise ProcessExit(("undef", [(module, function, args, [])])) from None
    result = fn(*args)
    if inspect.isawaitable(result):
        result = await result
    return result


async def _execute_call(ref: Any, module: Any, function: Any, args: Any) -> None:
    """``erpc:execute_call/4``: run the call and end with ``{Ref, return, Result}`` (or
    ``{Ref, exit, Reason}`` / ``{Ref, error, Reason, Stack}``), which the caller's monitor
    carries back."""
    from beamlet.dist.node import reason_term

    if not isinstance(args, list):
        raise ProcessExit((ref, "error", "badarg", []))
    try:
        result = await apply(module, function, args)
    except Undefined:
        raise ProcessExit((ref, "error", "undef", [(module, function, args, [])])) from None
    except ProcessExit as stopped:
        raise ProcessExit((ref, "exit", stopped.reason)) from None
    except Exception as error:  # noqa: BLE001 - the caller gets it as erpc's "error" class
        raise ProcessExit((ref, "error", reason_term(error), [])) from None
    raise ProcessExit((ref, "return", result))


async def _execute_cast(module: Any, function: Any, args: Any) -> None:
    """``erpc:execute_cast/3``: run the call; nobody waits for the result."""
    if isinstance(args, list):
        await apply(module, function, args)


async def _beamlet_apply(fn: Any, args: Any) -> Any:
    """A Python callable another beamlet node asked us to run (`Node.spawn`)."""
    result = fn(*args)
    if inspect.isawaitable(result):
        result = await result
    return result


_BUILTIN_ENTRIES: dict[tuple[str, str, int], Callable[..., Any]] = {
    ("erpc", "execute_call", 4): _execute_call,
    ("erpc", "execute_cast", 3): _execute_cast,
}


def body_for(module: Any, function: Any,
             args: list[Any]) -> tuple[Callable[..., Any], tuple[Any, ...]]:
    """What a process spawned for ``module:function(args)`` runs: erpc's entry points, a
    Python callable from a beamlet node (``beamlet:apply(Fn, Args)``), or an exported
    function (an undefined one ends the process with ``undef``)."""
    entry = _BUILTIN_ENTRIES.get((module, function, len(args)))
    if entry is not None:
        return entry, tuple(args)
    if (module, function) == BEAMLET_APPLY and len(args) == 2 and callable(args[0]) \
            and isinstance(args[1], (list, tuple)):
        return _beamlet_apply, (args[0], tuple(args[1]))
    return _run_mfa, (module, function, args)


class Spawning:
    """Spawn requests in both directions for one node's distribution."""

    def __init__(self, dist: Dist) -> None:
        self.dist = dist
        self.requests: dict[Ref, tuple[Pid, str]] = {}  # our request id -> (caller, node)

    # --- serving requests from other nodes (owner thread) ------------------------------------

    def dispatch(self, node: str, control: tuple[Any, ...], payload: Any) -> None:
        tag = control[0]
        if tag in (SPAWN_REQUEST, SPAWN_REQUEST_TT):
            self._serve(node, control, payload)
        elif tag in (SPAWN_REPLY, SPAWN_REPLY_TT):
            self._on_reply(node, control)

    def _serve(self, node: str, control: tuple[Any, ...], args: Any) -> None:
        request_id, caller, mfa, options = control[1], control[2], control[4], control[5]
        if not isinstance(caller, RemotePid) or not (isinstance(mfa, tuple) and len(mfa) == 3):
            log.error("invalid spawn request from %s: %r", node, control)
            return
        options = options if isinstance(options, list) else []
        reply = _reply_option(options)
        if not isinstance(args, list) or len(args) != mfa[2]:
            self._reply(node, reply, request_id, caller, 0, "badarg")
            return
        body, body_args = body_for(mfa[0], mfa[1], args)
        proc = _sched.new_process(body, body_args)
        pid = proc.pid
        flags = 0
        if "link" in options and _signals.link_from_remote(caller, pid):
            self.dist.signals.links.setdefault(node, set()).add((pid, caller))
            flags |= LINKED
        if "monitor" in options and _signals.monitor_from_remote(caller, pid, request_id):
            self.dist.signals.watched.setdefault(node, {})[request_id] = (pid, None)
            flags |= MONITORED
        self._reply(node, reply, request_id, caller, flags, pid)

    def _reply(self, node: str, reply: str, request_id: Any, caller: RemotePid, flags: int,
               result: Any) -> None:
        failed = not isinstance(result, Pid)
        if reply == "no" or (reply == "error_only" and not failed) \
                or (reply == "success_only" and failed):
            return
        try:
            self.dist.send_control(node, (SPAWN_REPLY, request_id, caller, flags, result))
        except ValueError as error:
            log.error("cannot answer a spawn request from %s: %s", node, error)

    # --- our own requests (owner thread) ------------------------------------------------------

    def request(self, caller: Pid, node: str, module: Any, function: Any, args: list[Any],
                options: list[Any]) -> Ref:
        """Send a spawn request on behalf of ``caller`` (a process of ours); its reply comes
        to ``caller`` as ``("spawn_reply", ReqId, "ok", Pid)`` or ``(..., "error", Reason)``."""
        request_id = _sched.make_ref()
        self.requests[request_id] = (caller, node)
        control = (SPAWN_REQUEST, request_id, caller, caller, (module, function, len(args)),
                   options)
        try:
            self.dist.send_control(node, control, args)
        except ValueError:
            del self.requests[request_id]
            raise
        return request_id

    def _on_reply(self, node: str, control: tuple[Any, ...]) -> None:
        request_id, flags, result = control[1], control[3], control[4]
        entry = self.requests.pop(request_id, None) if isinstance(request_id, Ref) else None
        if entry is None:
            return
        caller = entry[0]
        if isinstance(result, RemotePid):
            if flags & LINKED and _signals.record_remote_link(caller, result):
                self.dist.signals.links.setdefault(node, set()).add((caller, result))
            if flags & MONITORED and _signals.record_remote_monitor(caller, result, request_id):
                self.dist.signals.watching.setdefault(node, {})[request_id] = caller
            _sched.send_from_outside(caller, ("spawn_reply", request_id, "ok", result))
        else:
            _sched.send_from_outside(caller, ("spawn_reply", request_id, "error", result))

    def refused(self, request_id: Any, why: str) -> None:
        """Our request ``request_id`` could not be sent (its arguments cannot travel): its
        caller hears so instead of waiting for ever."""
        entry = self.requests.pop(request_id, None)
        if entry is not None:
            _sched.send_from_outside(
                entry[0], ("spawn_reply", request_id, "error", ("cannot_send", why)))

    def connection_lost(self, node: str) -> None:
        """Requests to ``node`` still unanswered fail with "noconnection"."""
        for request_id, (caller, target) in list(self.requests.items()):
            if target == node:
                del self.requests[request_id]
                _sched.send_from_outside(
                    caller, ("spawn_reply", request_id, "error", "noconnection"))


def _reply_option(options: list[Any]) -> str:
    for option in options:
        if isinstance(option, tuple) and len(option) == 2 and option[0] == "reply":
            return str(option[1])
    return "yes"


async def spawn_request(node: str, module: Any, function: Any, args: list[Any], *,
                        link: bool = False, monitor: bool = False) -> tuple[Pid, Ref]:
    """Spawn ``module:function(*args)`` on ``node`` (Erlang's ``spawn_request``) from the
    calling process; return ``(pid, request_id)`` — the request id is the monitor's ref when
    ``monitor``. Raises ``ProcessExit`` with the reason when the node refuses or is not
    reachable ("noconnection"), as the BEAM's spawn would give."""
    from beamlet.dist.node import current

    dist = current()
    options: list[Any] = (["link"] if link else []) + (["monitor"] if monitor else [])
    me = _sched.self_pid()
    request_id = dist.spawning.request(me, node, module, function, list(args), options)
    reply = await _sched.receive(("spawn_reply", request_id, ANY, ANY))
    if reply[2] != "ok":
        match reply[3]:
            case ("cannot_send", why):
                raise ValueError(why)
        raise ProcessExit(reply[3])
    return reply[3], request_id
