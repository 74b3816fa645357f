"""DynamicSupervisor: a supervisor that starts no children of its own, as Elixir's.

A `Supervisor` is given its children up front and knows them by id; a DynamicSupervisor
starts empty and children are added on demand with `start_child` (one per connection, per
job, per game...), known only by their pids. It watches them exactly as a "one_for_one"
supervisor does: a child that ends is restarted according to its ``restart`` value, under
the same restart-intensity limit (more than ``max_restarts`` restarts within ``max_seconds``
and the supervisor stops every child and exits with "shutdown"). ``max_children`` caps how
many children it runs at once.

    ("ok", sup) = await DynamicSupervisor.start_link(max_children=1000, name="workers")
    ("ok", pid) = await DynamicSupervisor.start_child("workers", (Worker, job))
    await DynamicSupervisor.terminate_child("workers", pid)        # "ok"

Child specs are those of `Supervisor` (a module, ``(module, arg)`` or a dict); the "id" is
not used. ``extra_arguments`` given to `start_link` are put in front of each child's start
arguments, which lets every child receive, say, the same configuration.

On shutdown all children are sent their exit signal at once (not one by one as a `Supervisor`
does), then waited for, each up to its own ``shutdown`` time before it is killed.

Module form, as with `Supervisor`::

    class Workers(DynamicSupervisor):
        def init(self, arg):
            return DynamicSupervisor.init(max_children=arg)
"""

from __future__ import annotations

import logging
import types
from collections.abc import Iterable
from time import monotonic
from typing import Any

from beamlet import ANY, Down, Exit, Pid, Process, monitor, receive, self_pid, unlink

from .gen_server import GenServer, Server, StartResult, _is_clean
from .supervisor import (
    RestartIntensity,
    SpecError,
    _count,
    check_flags,
    check_spec,
    module_init,
    shutdown_child,
    spec_dict,
    start_child_fn,
    who,
)

__all__ = ["DynamicSupervisor"]

log = logging.getLogger("beamlet")
_FLAG_DEFAULTS = {"strategy": "one_for_one", "max_children": None, "max_restarts": 3,
                  "max_seconds": 5, "extra_arguments": ()}
_COROUTINE = types.CoroutineType


class _DChild:
    __slots__ = ("pid", "start", "restart", "shutdown", "type", "modules")

    def __init__(self, spec: dict[Any, Any], extra: tuple[Any, ...]) -> None:
        start = spec["start"]
        if extra:
            start = (start[0], (*extra, *start[1]), *start[2:])
        self.pid: Any = None
        self.start = start
        self.restart = spec["restart"]
        self.shutdown = spec["shutdown"]
        self.type = spec["type"]
        self.modules = spec["modules"]


class _DState:
    __slots__ = ("name", "intensity", "max_children", "extra", "children")

    def __init__(self, name: Any, flags: dict[Any, Any]) -> None:
        self.name = name
        self.intensity = RestartIntensity(flags["max_restarts"], flags["max_seconds"])
        self.max_children = flags["max_children"]
        self.extra = tuple(flags["extra_arguments"])
        # key: the child's pid, or while a failed restart waits to be retried, its old pid
        # (then child.pid is "restarting"); insertion order is start order
        self.children: dict[Pid, _DChild] = {}


class _DynamicSupervisorServer(GenServer):
    """The GenServer a DynamicSupervisor runs."""

    async def init(self, how: tuple[Any, ...]) -> Any:
        r = await module_init(how)
        if r == "ignore":
            return "ignore"
        if not (type(r) is tuple and len(r) == 2 and r[0] == "ok" and isinstance(r[1], dict)):
            return ("stop", ("bad_return", (how[1] if how[0] == "module" else DynamicSupervisor,
                                            "init", r)))
        try:
            flags = check_flags(r[1], _FLAG_DEFAULTS)
        except SpecError as e:
            return ("stop", e.reason)
        name = Process.info(self_pid(), "registered_name") or None
        return ("ok", _DState(name, flags))

    async def handle_call(self, req: Any, from_: tuple[Any, ...], st: _DState) -> Any:
        op = req[0] if type(req) is tuple else req
        if op == "start_child":
            mc = st.max_children
            if mc is not None and len(st.children) >= mc:
                return ("reply", ("error", "max_children"), st)
            c = _DChild(req[1], st.extra)
            r = await start_child_fn(c.start, False)
            if type(r) is tuple and r[0] == "ok":
                c.pid = r[1]
                st.children[r[1]] = c
            return ("reply", r, st)
        if op == "terminate_child":
            pid = req[1]
            gone = st.children.pop(pid, None) if isinstance(pid, Pid) else None
            if gone is None:
                return ("reply", ("error", "not_found"), st)
            if isinstance(gone.pid, Pid):
                r = await _shutdown_one(gone)
                if r != "ok":
                    _report_shutdown(st, gone, r)
            return ("reply", "ok", st)
        if op == "which_children":
            return ("reply", [(None, c.pid, c.type, c.modules) for c in st.children.values()], st)
        if op == "count_children":
            return ("reply", _count(st.children.values()), st)
        return ("reply", ("error", ("unknown_call", req)), st)

    async def handle_info(self, msg: Any, st: _DState) -> Any:
        if msg.__class__ is Exit:
            c = st.children.get(msg.pid)
            if c is None or c.pid is not msg.pid:
                return ("noreply", st)
            return await self._child_exited(st, msg.pid, c, msg.reason)
        log.error("DynamicSupervisor %s received unexpected message: %r", who(st.name), msg)
        return ("noreply", st)

    async def _child_exited(self, st: _DState, pid: Pid, c: _DChild, reason: Any) -> Any:
        clean = _is_clean(reason)
        if c.restart == "temporary" or (c.restart == "transient" and clean):
            del st.children[pid]
            if not clean:
                log.error("Child %r of DynamicSupervisor %s terminated: %r",
                          pid, who(st.name), reason)
            return ("noreply", st)
        (log.error if not clean else log.info)(
            "Child %r of DynamicSupervisor %s terminated: %r; restarting",
            pid, who(st.name), reason)
        return await self._restart(st, pid, c)

    async def _restart(self, st: _DState, key: Pid, c: _DChild) -> Any:
        if not st.intensity.add():
            log.error("DynamicSupervisor %s reached its maximum restart intensity (%d restarts "
                      "in %s s); shutting down", who(st.name), st.intensity.max_restarts,
                      st.intensity.max_seconds)
            del st.children[key]
            return ("stop", "shutdown", st)
        r = await start_child_fn(c.start, False)
        if r == "ignore":
            del st.children[key]
        elif r[0] == "ok":
            del st.children[key]
            c.pid = r[1]
            st.children[r[1]] = c
        else:
            log.error("Child of DynamicSupervisor %s failed to restart: %r; trying again",
                      who(st.name), r[1])
            c.pid = "restarting"
            GenServer.cast(self_pid(), ("$try_again_restart", key))
        return ("noreply", st)

    async def handle_cast(self, msg: Any, st: _DState) -> Any:
        if type(msg) is tuple and len(msg) == 2 and msg[0] == "$try_again_restart":
            c = st.children.get(msg[1])
            if c is not None and c.pid == "restarting":
                return await self._restart(st, msg[1], c)
            return ("noreply", st)
        log.error("DynamicSupervisor %s received unexpected cast: %r", who(st.name), msg)
        return ("noreply", st)

    async def terminate(self, reason: Any, st: _DState) -> None:
        """Send every child its exit signal at once, then wait for them all."""
        waiting: dict[Any, tuple[_DChild, Any]] = {}   # monitor ref -> (child, deadline)
        now = monotonic()
        for c in st.children.values():
            pid = c.pid
            if not isinstance(pid, Pid):
                continue
            mref = monitor(pid)
            unlink(pid)
            gone = await receive(Exit(pid, ANY), timeout=0, default=None)
            if gone is not None:
                await receive(Down(mref, ANY, ANY))
                if not _is_clean(gone.reason):
                    _report_shutdown(st, c, ("error", gone.reason))
                continue
            if c.shutdown == "brutal_kill":
                Process.exit(pid, "kill")
                waiting[mref] = (c, None)
            else:
                Process.exit(pid, "shutdown")
                waiting[mref] = (c, None if c.shutdown == "infinity" else now + c.shutdown)
        st.children.clear()
        killed: set[Any] = set()
        while waiting:
            deadlines = [d for (_, d) in waiting.values() if d is not None]
            t = None
            if deadlines:
                t = max(0.0, min(deadlines) - monotonic())
            d = await receive(lambda m: m.__class__ is Down and m.ref in waiting,
                              timeout=t, default=None)
            if d is None:
                now = monotonic()
                for mref, (c, dl) in list(waiting.items()):
                    if dl is not None and dl <= now:
                        Process.exit(c.pid, "kill")
                        killed.add(mref)
                        waiting[mref] = (c, None)
                continue
            c, _ = waiting.pop(d.ref)
            expected = "killed" if c.shutdown == "brutal_kill" else "shutdown"
            if d.ref in killed or d.reason != expected:
                _report_shutdown(st, c, ("error", d.reason))


async def _shutdown_one(c: _DChild) -> Any:
    r = await shutdown_child(c.pid, c.shutdown)
    if c.shutdown == "brutal_kill" and r == ("error", "killed"):
        return "ok"
    return r


def _report_shutdown(st: _DState, c: _DChild, r: Any) -> None:
    if not _is_clean(r[1]):
        log.error("Child %r of DynamicSupervisor %s shut down abnormally: %r",
                  c.pid, who(st.name), r[1])


class DynamicSupervisor:
    """The DynamicSupervisor API, and the base class of a module-form one (define ``init``)."""

    @classmethod
    async def start_link(cls, *args: Any, name: str | None = None,
                         timeout: float | None = None, priority: str = "normal",
                         **flags: Any) -> StartResult:
        """Start a dynamic supervisor linked to the caller: ``("ok", pid)`` |
        ``("error", reason)``.

        ``DynamicSupervisor.start_link(strategy="one_for_one", max_children=None,
        max_restarts=3, max_seconds=5, extra_arguments=(), name=None)``, or in module form
        ``Module.start_link(arg, name=None)`` (or ``DynamicSupervisor.start_link(Module,
        arg)``), which runs ``Module().init(arg)``."""
        return await GenServer.start_link(_DynamicSupervisorServer, _how(cls, args, flags),
                                          name=name, timeout=timeout, priority=priority)

    @classmethod
    async def start(cls, *args: Any, name: str | None = None, timeout: float | None = None,
                    priority: str = "normal", **flags: Any) -> StartResult:
        """Same as `start_link` without the link."""
        return await GenServer.start(_DynamicSupervisorServer, _how(cls, args, flags),
                                     name=name, timeout=timeout, priority=priority)

    @staticmethod
    def init(*, strategy: str = "one_for_one", max_children: int | None = None,
             max_restarts: int = 3, max_seconds: float = 5,
             extra_arguments: Iterable[Any] = ()) -> tuple[Any, ...]:
        """What a module-form ``init`` returns: ``("ok", flags)``.

        As in Elixir the values are checked when the supervisor starts: a bad one makes its
        start return ``("error", ("supervisor_data", (what, value)))``."""
        return ("ok", {"strategy": strategy, "max_children": max_children,
                       "max_restarts": max_restarts, "max_seconds": max_seconds,
                       "extra_arguments": tuple(extra_arguments)
                       if isinstance(extra_arguments, (list, tuple)) else extra_arguments})

    @classmethod
    def child_spec(cls, arg: Any = None, **overrides: Any) -> dict[Any, Any]:
        """The spec to run this (module-form) dynamic supervisor under another supervisor.

        ``DynamicSupervisor.child_spec({"max_children": 10, "name": "jobs"})`` gives the spec
        of a list-form one, with ``arg`` the keyword options of `start_link`."""
        if cls is DynamicSupervisor:
            opts = dict(arg or {})
            return {"id": opts.get("name") or DynamicSupervisor,
                    "start": (DynamicSupervisor.start_link, (), opts),
                    "restart": "permanent", "shutdown": "infinity", "type": "supervisor"}
        return {"id": cls, "start": (cls.start_link, (arg,)), "restart": "permanent",
                "shutdown": "infinity", "type": "supervisor", **overrides}

    @staticmethod
    async def start_child(sup: Server, child: Any) -> Any:
        """Start a child under ``sup``: ``("ok", pid)`` | ``("ok", pid, info)`` | ``"ignore"``
        | ``("error", "max_children")`` | ``("error", reason)`` (a raise in its start function
        gives ``("error", exception)``, an exit ``("error", reason)``, as in Elixir)
        | ``("error", reason)`` for a spec OTP refuses: ``("invalid_child_spec", spec)``
        without a "start", ``("invalid_mfa", start)``,
        ``("invalid_restart_type", r)``, ... (checked before ``sup`` is asked)."""
        spec = spec_dict(child)
        if "start" not in spec:
            return ("error", ("invalid_child_spec", spec))
        try:
            spec = check_spec(_with_id(spec))
        except SpecError as e:
            return ("error", e.reason)
        return await GenServer.call(sup, ("start_child", spec), None)

    @staticmethod
    async def terminate_child(sup: Server, pid: Pid) -> Any:
        """Stop the child ``pid`` (it is not restarted): "ok" | ("error", "not_found")."""
        return await GenServer.call(sup, ("terminate_child", pid), None)

    @staticmethod
    async def which_children(sup: Server) -> list[tuple[Any, ...]]:
        """``[(None, pid | "restarting", type, modules)]``, in start order."""
        children: list[tuple[Any, ...]] = await GenServer.call(sup, "which_children", None)
        return children

    @staticmethod
    async def count_children(sup: Server) -> dict[Any, Any]:
        """``{"specs", "active", "supervisors", "workers"}`` counts."""
        counts: dict[Any, Any] = await GenServer.call(sup, "count_children", None)
        return counts

    @staticmethod
    async def stop(sup: Server, reason: Any = "normal", timeout: float | None = None) -> str:
        """Stop the supervisor and all its children; "ok"."""
        return await GenServer.stop(sup, reason, timeout)


def _with_id(child: Any) -> Any:
    """The id of a dynamic child does not matter: let a dict spec leave it out."""
    if isinstance(child, dict) and "id" not in child:
        return {"id": None, **child}
    return child


def _how(cls: type, args: tuple[Any, ...], flags: dict[Any, Any]) -> tuple[Any, ...]:
    if cls is DynamicSupervisor and args and isinstance(args[0], type) \
            and issubclass(args[0], DynamicSupervisor):
        # DynamicSupervisor.start_link(Module, arg), as Elixir's start_link/3
        cls, args = args[0], args[1:]
    if cls is DynamicSupervisor:
        if args:
            raise TypeError("DynamicSupervisor.start_link takes keyword options only")
        return ("list", DynamicSupervisor.init(**flags), None)
    if flags:
        raise TypeError(f"{cls.__qualname__}.start_link(arg, name=None) takes no flags; "
                        "return them from init with DynamicSupervisor.init(...)")
    if len(args) > 1:
        raise TypeError(f"{cls.__qualname__}.start_link(arg, name=None) takes one argument")
    return ("module", cls, args[0] if args else None)
