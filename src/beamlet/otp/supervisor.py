"""Supervisor: a process that starts, watches and restarts other processes, as Elixir's.

A supervisor starts its children in order, links to each, traps exits, and when a child ends
decides what to do from the child's ``restart`` value and its own ``strategy``:

- "one_for_one": only the child that ended is restarted;
- "one_for_all": the other children are stopped too (newest first) and all are restarted in
  start order;
- "rest_for_one": the children started after the one that ended are stopped (newest first),
  then it and they are restarted in start order.

A child's ``restart`` is "permanent" (always restarted), "transient" (restarted only after an
abnormal exit: not after "normal", "shutdown" or ``("shutdown", term)``) or "temporary" (never
restarted, and forgotten once it ends). So that a child that keeps crashing cannot make the
supervisor loop for ever, restarts are rate-limited: more than ``max_restarts`` restarts within
``max_seconds`` and the supervisor gives up, stops its remaining children and exits with
"shutdown", which lets *its* supervisor try a restart at a higher level. ``max_restarts=2``
allows exactly two restarts; the third crash within the window shuts the supervisor down.

Children are stopped in reverse start order, each according to its ``shutdown``: a number of
seconds (the child is sent a "shutdown" exit signal, then killed if it is still alive after
that long; a GenServer child that traps exits runs ``terminate`` in between), "brutal_kill"
(killed at once, no ``terminate``) or "infinity" (waited for, as befits a supervisor child).

Child specifications. A child is given as a GenServer-like class ``Module`` (its
``child_spec(None)``), as ``(Module, arg)`` (``Module.child_spec(arg)``), or as a dict::

    {"id": term,                              # required, unique within the supervisor
     "start": (fn, args) | (fn, args, kwargs),  # fn returns ("ok", pid) | "ignore" | ("error", r),
                                              # or an awaitable of that, and links the child
     "restart": "permanent",                  # | "transient" | "temporary"
     "shutdown": 5.0,                         # | "brutal_kill" | "infinity" (supervisors' default)
     "type": "worker",                        # | "supervisor"
     "modules": [Module]}                     # optional; default: the class of fn

Starting. In list form::

    ("ok", sup) = await Supervisor.start_link([Stack, (Counter, 0)], strategy="one_for_one")

or in module form, where ``init`` returns `Supervisor.init`'s result (or "ignore")::

    class App(Supervisor):
        def init(self, arg):
            return Supervisor.init([Stack, (Counter, arg)], strategy="one_for_all")

    ("ok", sup) = await App.start_link(0, name="app")

If a child fails to start during ``start_link``, the children already started are stopped and
the result is ``("error", ("shutdown", ("failed_to_start_child", id, reason)))``; a start
function that raises appears as ``reason == ("EXIT", exception)``.

Bad specifications and flags are answered as OTP answers them, not raised: ``start_link``
returns ``("error", ("start_spec", why))`` for a bad child (``"missing_id"``,
``("invalid_restart_type", r)``, ``("duplicate_child_name", id)``...) and ``("error",
("supervisor_data", why))`` for a bad flag (``("invalid_strategy", s)``, ``("invalid_intensity",
n)``, ``("invalid_period", t)``); `start_child` returns ``("error", why)``. Keys OTP does not
know are ignored. Only a value that is no child form at all raises TypeError in the caller, as
Elixir raises ArgumentError.

A supervisor is itself a GenServer (the functions below are calls to it) and can be a child of
another supervisor: give it ``"type": "supervisor"``, or use ``Module.child_spec(arg)`` of a
module-form supervisor, which does that for you.
"""

from __future__ import annotations

import inspect
import logging
import types
from collections import deque
from collections.abc import Callable, Iterable
from time import monotonic
from typing import Any, Protocol

from beamlet import (
    ANY,
    Down,
    Exit,
    Pid,
    Process,
    ProcessExit,
    monitor,
    receive,
    self_pid,
    unlink,
)

from .gen_server import GenServer, Server, StartResult, _is_clean

__all__ = ["Supervisor"]

log = logging.getLogger("beamlet")

_STRATEGIES = ("one_for_one", "one_for_all", "rest_for_one")
_RESTARTS = ("permanent", "transient", "temporary")
_TYPES = ("worker", "supervisor")
_FLAG_DEFAULTS = {"strategy": "one_for_one", "max_restarts": 3, "max_seconds": 5}
_COROUTINE = types.CoroutineType


# ------------------------------------------------------------------------------ child specs
class SpecError(Exception):
    """A child spec or a supervisor flag that OTP would refuse; ``reason`` is OTP's term for
    it (``"missing_id"``, ``("invalid_restart_type", x)``, ...), which the supervisor functions
    return as ``("error", reason)`` rather than raise."""

    def __init__(self, reason: Any) -> None:
        super().__init__(reason)
        self.reason = reason


def _is_seconds(x: Any) -> bool:
    return (type(x) is int or type(x) is float) and x >= 0


def _default_modules(fn: Callable[..., Any]) -> list[Any]:
    owner = getattr(fn, "__self__", None)
    if isinstance(owner, type):
        return [owner]
    if owner is not None and not isinstance(owner, types.ModuleType):
        return [type(owner)]
    return [fn]


def spec_dict(child: Any) -> dict[Any, Any]:
    """The spec dict of any accepted child form, not checked yet: a module gives its
    ``child_spec(None)``, ``(module, arg)`` its ``child_spec(arg)``, a dict itself.

    Any other value raises TypeError, as Elixir raises ArgumentError for a child that is none
    of these forms (that is a programming error, not a start failure)."""
    if isinstance(child, type):
        return _module_spec(child, None)
    if type(child) is tuple and len(child) == 2 and isinstance(child[0], type):
        return _module_spec(child[0], child[1])
    if isinstance(child, dict):
        return child
    raise TypeError(f"invalid child spec {child!r}: supervisors expect each child to be a "
                    "module, a (module, arg) tuple or a dict with at least 'id' and 'start'")


def _valid_start(start: Any) -> bool:
    return (isinstance(start, (tuple, list)) and len(start) in (2, 3) and callable(start[0])
            and isinstance(start[1], (tuple, list))
            and (len(start) == 2 or isinstance(start[2], dict)))


def check_spec(spec: dict[Any, Any]) -> dict[Any, Any]:
    """The full child spec (every key filled in) of a spec dict, or `SpecError` with OTP's
    reason for the first thing wrong in it (``supervisor:check_childspec``)."""
    # Keys OTP does not know are ignored, as OTP ignores them.
    if "id" not in spec:
        raise SpecError("missing_id")
    if "start" not in spec:
        raise SpecError("missing_start")
    start = spec["start"]
    if not _valid_start(start):
        raise SpecError(("invalid_mfa", start))
    restart = spec.get("restart", "permanent")
    if restart not in _RESTARTS:
        raise SpecError(("invalid_restart_type", restart))
    ctype = spec.get("type", "worker")
    if ctype not in _TYPES:
        raise SpecError(("invalid_child_type", ctype))
    shutdown = spec.get("shutdown", "infinity" if ctype == "supervisor" else 5.0)
    if not (shutdown == "brutal_kill" or shutdown == "infinity" or _is_seconds(shutdown)):
        raise SpecError(("invalid_shutdown", shutdown))
    modules = spec.get("modules")
    if modules is None:
        modules = _default_modules(start[0])
    elif modules != "dynamic" and not isinstance(modules, (list, tuple)):
        raise SpecError(("invalid_modules", modules))
    return {"id": spec["id"], "start": tuple(start), "restart": restart, "shutdown": shutdown,
            "type": ctype, "modules": list(modules) if modules != "dynamic" else modules}


def normalize_spec(child: Any) -> dict[Any, Any]:
    """A full child spec dict from any accepted child form: TypeError for a value that is no
    child form, `SpecError` for a spec that OTP would refuse."""
    return check_spec(spec_dict(child))


def check_flags(flags: dict[Any, Any], defaults: dict[Any, Any]) -> dict[Any, Any]:
    """Supervisor flags with defaults filled in, or `SpecError` with OTP's
    ``("supervisor_data", ...)`` reason for the first bad one."""
    full = {**defaults, **flags}
    strategies = _STRATEGIES if "max_children" not in defaults else ("one_for_one",)
    if full["strategy"] not in strategies:
        raise SpecError(("supervisor_data", ("invalid_strategy", full["strategy"])))
    r = full["max_restarts"]
    if isinstance(r, bool) or not isinstance(r, int) or r < 0:
        raise SpecError(("supervisor_data", ("invalid_intensity", r)))
    t = full["max_seconds"]
    if isinstance(t, bool) or not isinstance(t, (int, float)) or not t > 0:
        raise SpecError(("supervisor_data", ("invalid_period", t)))
    if "max_children" in defaults:
        m = full["max_children"]
        if m == "infinity":
            full["max_children"] = m = None
        if m is not None and (isinstance(m, bool) or not isinstance(m, int) or m < 0):
            raise SpecError(("supervisor_data", ("invalid_max_children", m)))
        e = full["extra_arguments"]
        if not isinstance(e, (list, tuple)):
            raise SpecError(("supervisor_data", ("invalid_extra_arguments", e)))
    return full


def _module_spec(module: type, arg: Any) -> dict[Any, Any]:
    cs = getattr(module, "child_spec", None)
    if cs is None:
        raise TypeError(f"{module!r} has no child_spec(arg): give a spec dict instead")
    spec = cs(arg)
    if not isinstance(spec, dict):
        raise TypeError(f"{module.__qualname__}.child_spec returned {spec!r}, not a dict")
    return spec


async def start_child_fn(start: tuple[Any, ...], wrap: bool = True) -> Any:
    """Run a child's start function: ("ok", pid) | ("ok", pid, info) | "ignore" |
    ("error", reason), with a raise or an exit turned into ("error", ("EXIT", reason)) as
    OTP's supervisor does, or with ``wrap=False`` into ("error", reason) as Elixir's
    DynamicSupervisor does (the reason of a raise being the exception)."""
    fn, args = start[0], start[1]
    try:
        r = fn(*args, **start[2]) if len(start) == 3 else fn(*args)
        while r.__class__ is _COROUTINE or inspect.isawaitable(r):
            r = await r
    except ProcessExit as e:
        return ("error", ("EXIT", e.reason) if wrap else e.reason)
    except Exception as e:  # noqa: BLE001 - a failed start is a value
        return ("error", ("EXIT", e) if wrap else e)
    if type(r) is tuple and r:
        if r[0] == "ok" and len(r) in (2, 3) and isinstance(r[1], Pid):
            return r
        if r[0] == "error" and len(r) == 2:
            return r
    if r == "ignore":
        return "ignore"
    return ("error", r)


async def shutdown_child(pid: Pid, shutdown: Any) -> Any:
    """Stop one child as OTP's supervisor does; "ok" or ("error", reason) when it ended
    otherwise than asked (it had already died, or had to be killed)."""
    mref = monitor(pid)
    unlink(pid)
    # It may have died already, its Exit still queued: then report that reason.
    gone = await receive(Exit(pid, ANY), timeout=0, default=None)
    if gone is not None:
        await receive(Down(mref, ANY, ANY))
        return ("error", gone.reason)
    if shutdown == "brutal_kill":
        Process.exit(pid, "kill")
        d = await receive(Down(mref, ANY, ANY))
        return "ok" if d.reason == "killed" else ("error", d.reason)
    Process.exit(pid, "shutdown")
    if shutdown == "infinity":
        d = await receive(Down(mref, ANY, ANY))
    else:
        d = await receive(Down(mref, ANY, ANY), timeout=shutdown, default=None)
        if d is None:
            Process.exit(pid, "kill")
            d = await receive(Down(mref, ANY, ANY))
            return ("error", d.reason)
    return "ok" if d.reason == "shutdown" else ("error", d.reason)


class RestartIntensity:
    """The restart rate limit: at most ``max_restarts`` restarts within ``max_seconds``."""

    __slots__ = ("max_restarts", "max_seconds", "times")

    def __init__(self, max_restarts: int, max_seconds: float) -> None:
        self.max_restarts = max_restarts
        self.max_seconds = max_seconds
        self.times: deque[Any] = deque()

    def add(self) -> bool:
        """Count one restart; False when that exceeds the limit (time to give up)."""
        now = monotonic()
        times = self.times
        times.append(now)
        while times and times[0] < now - self.max_seconds:
            times.popleft()
        return len(times) <= self.max_restarts


def who(name: Any) -> str:
    return repr(name) if name is not None else repr(self_pid())


# ------------------------------------------------------------------------------ the server
class _Child:
    __slots__ = ("id", "pid", "start", "restart", "shutdown", "type", "modules", "spec")

    def __init__(self, spec: dict[Any, Any]) -> None:
        self.id = spec["id"]
        self.pid: Any = None          # Pid | None | "restarting"
        self.start = spec["start"]
        self.restart = spec["restart"]
        self.shutdown = spec["shutdown"]
        self.type = spec["type"]
        self.modules = spec["modules"]
        self.spec = spec

    def row(self) -> tuple[Any, ...]:
        return (self.id, self.pid, self.type, self.modules)


class _State:
    __slots__ = ("name", "strategy", "intensity", "children", "by_pid")

    def __init__(self, name: Any, strategy: str, intensity: RestartIntensity) -> None:
        self.name = name
        self.strategy = strategy
        self.intensity = intensity
        self.children: list[_Child] = []     # in start order
        self.by_pid: dict[Pid, _Child] = {}

    def find(self, cid: Any) -> _Child | None:
        for c in self.children:
            if c.id == cid:
                return c
        return None


def _not_stopped(c: Any) -> tuple[Any, ...] | None:
    """The error for restart_child / delete_child on a child that is not a stopped one."""
    if c is None:
        return ("error", "not_found")
    if isinstance(c.pid, Pid):
        return ("error", "running")
    if c.pid == "restarting":
        return ("error", "restarting")
    return None


async def module_init(how: tuple[Any, ...]) -> Any:
    """In a supervisor process: trap exits, then get its flags and children, from the list
    form (``("list", result, None)``) or by calling the module form's ``init(arg)``."""
    Process.flag("trap_exit", True)
    kind, a, b = how
    # As Elixir: ("supervisor", Module, 1), a list-form one naming Supervisor (Elixir's
    # Supervisor.Default), whether it is a Supervisor or a DynamicSupervisor.
    Process.put("$initial_call", ("supervisor", a if kind == "module" else Supervisor, 1))
    if kind == "list":
        return a
    r = a().init(b)
    while r.__class__ is _COROUTINE or inspect.isawaitable(r):
        r = await r
    return r


class _SupervisorServer(GenServer):
    """The GenServer a supervisor runs (OTP's ``supervisor`` behaviour)."""

    async def init(self, how: tuple[Any, ...]) -> Any:
        r = await module_init(how)
        if r == "ignore":
            return "ignore"
        if not (type(r) is tuple and len(r) == 2 and r[0] == "ok" and type(r[1]) is tuple
                and len(r[1]) == 2):
            return ("stop", ("bad_return", (how[1] if how[0] == "module" else Supervisor,
                                            "init", r)))
        flags, specs = r[1]
        if not isinstance(flags, dict):
            return ("stop", ("supervisor_data", ("invalid_type", flags)))
        try:
            flags = check_flags(flags, _FLAG_DEFAULTS)
        except SpecError as e:
            return ("stop", e.reason)
        name = Process.info(self_pid(), "registered_name") or None
        st = _State(name, flags["strategy"], RestartIntensity(flags["max_restarts"],
                                                              flags["max_seconds"]))
        for spec in specs:
            try:
                spec = normalize_spec(spec)
            except SpecError as e:
                return ("stop", ("start_spec", e.reason))
            except TypeError:   # no child form at all (a module-form init's own list)
                return ("stop", ("start_spec", ("invalid_child_spec", spec)))
            if st.find(spec["id"]) is not None:
                return ("stop", ("start_spec", ("duplicate_child_name", spec["id"])))
            st.children.append(_Child(spec))
        for c in list(st.children):
            r = await self._start(st, c)
            if r[0] == "error":
                await self._terminate_children(st, list(st.children))
                return ("stop", ("shutdown", ("failed_to_start_child", c.id, r[1])))
        return ("ok", st)

    async def _start(self, st: _State, c: _Child) -> Any:
        """Start child ``c``: ("ok", pid[, info]) | ("ok", None) for ignore | ("error", r)."""
        r = await start_child_fn(c.start)
        if r == "ignore":
            c.pid = None
            if c.restart == "temporary":
                st.children.remove(c)
            return ("ok", None)
        if r[0] == "ok":
            c.pid = r[1]
            st.by_pid[r[1]] = c
            return r
        log.error("Child %r of Supervisor %s failed to start: %r", c.id, who(st.name), r[1])
        return r

    async def _stop(self, st: _State, c: _Child) -> None:
        """Shut child ``c`` down (if running) and mark it stopped."""
        pid = c.pid
        if isinstance(pid, Pid):
            del st.by_pid[pid]
            r = await shutdown_child(pid, c.shutdown)
            if r != "ok" and not (c.shutdown == "brutal_kill" and r == ("error", "killed")):
                if not _is_clean(r[1]):
                    log.error("Child %r of Supervisor %s shut down abnormally: %r",
                              c.id, who(st.name), r[1])
        c.pid = None

    async def _terminate_children(self, st: _State, children: list[_Child]) -> None:
        """Stop ``children`` newest first; temporary ones are forgotten."""
        for c in reversed(children):
            await self._stop(st, c)
            if c.restart == "temporary":
                st.children.remove(c)

    # ---------------------------------------------------------------------- child exits
    async def handle_info(self, msg: Any, st: _State) -> Any:
        if msg.__class__ is Exit:
            c = st.by_pid.pop(msg.pid, None)
            if c is None:
                return ("noreply", st)
            return await self._child_exited(st, c, msg.reason)
        log.error("Supervisor %s received unexpected message: %r", who(st.name), msg)
        return ("noreply", st)

    async def _child_exited(self, st: _State, c: _Child, reason: Any) -> Any:
        c.pid = None
        clean = _is_clean(reason)
        if c.restart == "temporary" or (c.restart == "transient" and clean):
            if not clean:
                log.error("Child %r of Supervisor %s terminated: %r", c.id, who(st.name), reason)
            if c.restart == "temporary":
                st.children.remove(c)
            return ("noreply", st)
        (log.error if not clean else log.info)(
            "Child %r of Supervisor %s terminated: %r; restarting", c.id, who(st.name), reason)
        return await self._restart(st, c)

    async def _restart(self, st: _State, c: _Child) -> Any:
        if not st.intensity.add():
            log.error("Supervisor %s reached its maximum restart intensity (%d restarts in %s "
                      "s); shutting down", who(st.name), st.intensity.max_restarts,
                      st.intensity.max_seconds)
            return ("stop", "shutdown", st)
        if st.strategy == "one_for_one":
            group = [c]
        else:
            i = st.children.index(c)
            if st.strategy == "one_for_all":
                group = list(st.children)
            else:
                group = st.children[i:]
            await self._terminate_children(st, [x for x in group if x is not c])
            group = [x for x in group if x in st.children or x is c]
        for x in group:
            if x is not c and x not in st.children:
                continue
            r = await self._start(st, x)
            if r[0] == "error":
                # Try again later (each attempt counts as a restart), as OTP does.
                x.pid = "restarting"
                for y in group[group.index(x) + 1:]:
                    y.pid = None
                GenServer.cast(self_pid(), ("$try_again_restart", x.id))
                break
        return ("noreply", st)

    async def handle_cast(self, msg: Any, st: _State) -> Any:
        if type(msg) is tuple and len(msg) == 2 and msg[0] == "$try_again_restart":
            c = st.find(msg[1])
            if c is not None and c.pid == "restarting":
                return await self._restart(st, c)
            return ("noreply", st)
        log.error("Supervisor %s received unexpected cast: %r", who(st.name), msg)
        return ("noreply", st)

    # ---------------------------------------------------------------------- API calls
    async def handle_call(self, req: Any, from_: tuple[Any, ...], st: _State) -> Any:
        op = req[0] if type(req) is tuple else req
        if op == "which_children":
            return ("reply", [c.row() for c in reversed(st.children)], st)
        if op == "count_children":
            return ("reply", _count(st.children), st)
        if op == "start_child":
            return ("reply", await self._start_child(st, req[1]), st)
        cid = req[1]
        c = st.find(cid)
        if op == "terminate_child":
            if c is None:
                return ("reply", ("error", "not_found"), st)
            await self._stop(st, c)
            if c.restart == "temporary":
                st.children.remove(c)
            return ("reply", "ok", st)
        if op == "restart_child":
            err = _not_stopped(c)
            if err is not None:
                return ("reply", err, st)
            assert c is not None  # _not_stopped answers "not_found" for a missing child
            r = await self._start(st, c)
            if r == ("ok", None):
                return ("reply", ("ok", None), st)
            return ("reply", r, st)
        if op == "delete_child":
            err = _not_stopped(c)
            if err is not None:
                return ("reply", err, st)
            assert c is not None  # _not_stopped answers "not_found" for a missing child
            st.children.remove(c)
            return ("reply", "ok", st)
        return ("reply", ("error", ("unknown_call", req)), st)

    async def _start_child(self, st: _State, spec: dict[Any, Any]) -> Any:
        c = st.find(spec["id"])
        if c is not None:
            if isinstance(c.pid, Pid):
                return ("error", ("already_started", c.pid))
            return ("error", "already_present")
        c = _Child(spec)
        st.children.append(c)
        r = await self._start(st, c)
        if r[0] == "error":
            if c in st.children:
                st.children.remove(c)
            return ("error", (r[1], spec))
        return r

    async def terminate(self, reason: Any, st: _State) -> None:
        await self._terminate_children(st, list(st.children))


class _Counted(Protocol):
    """What `_count` reads of a child, whether a Supervisor's or a DynamicSupervisor's."""

    pid: Any
    type: str


def _count(children: Iterable[_Counted]) -> dict[Any, Any]:
    specs = active = sups = workers = 0
    for c in children:
        specs += 1
        if isinstance(c.pid, Pid):
            active += 1
        if c.type == "supervisor":
            sups += 1
        else:
            workers += 1
    return {"specs": specs, "active": active, "supervisors": sups, "workers": workers}


# ------------------------------------------------------------------------------ public API
class Supervisor:
    """The Supervisor API, and the base class of a module-form supervisor (define ``init``)."""

    @classmethod
    async def start_link(cls, *args: Any, name: str | None = None,
                         timeout: float | None = None, priority: str = "normal",
                         **flags: Any) -> StartResult:
        """Start a supervisor linked to the caller; wait until every child has started.

        List form: ``Supervisor.start_link(children, strategy="one_for_one", max_restarts=3,
        max_seconds=5, name=None)``. Module form: ``Module.start_link(arg, name=None)`` (or
        ``Supervisor.start_link(Module, arg)``) runs ``Module().init(arg)``. Returns
        ``("ok", pid)``, ``"ignore"`` or ``("error", reason)``.
        """
        return await GenServer.start_link(_SupervisorServer, _how(cls, args, flags),
                                          name=name, timeout=timeout, priority=priority)

    @classmethod
    async def start(cls, *args: Any, name: str | None = None, timeout: float | None = None,
                    priority: str = "normal", **flags: Any) -> StartResult:
        """Same as `start_link` without the link (for tests and interactive use)."""
        return await GenServer.start(_SupervisorServer, _how(cls, args, flags),
                                     name=name, timeout=timeout, priority=priority)

    @staticmethod
    def init(children: Iterable[Any], *, strategy: str = "one_for_one", max_restarts: int = 3,
             max_seconds: float = 5) -> tuple[Any, ...]:
        """What a module-form ``init`` returns: ``("ok", (flags, child_specs))``.

        As in Elixir, only the shape of each child is checked here (TypeError for a value
        that is no child form); the supervisor checks the flags and specs when it starts, and
        its start returns ``("error", ("supervisor_data", ...))`` or ``("error",
        ("start_spec", ...))`` for a bad one."""
        specs = [spec_dict(c) for c in children]
        return ("ok", ({"strategy": strategy, "max_restarts": max_restarts,
                        "max_seconds": max_seconds}, specs))

    @classmethod
    def child_spec(cls, *args: Any, **overrides: Any) -> dict[Any, Any]:
        """``Supervisor.child_spec(child, **overrides)``: the full spec of any child form,
        with keys replaced (``Supervisor.child_spec((Agent, fn), id="cache")``).
        ``Module.child_spec(arg)`` of a module-form supervisor: its spec as a child."""
        if cls is Supervisor:
            if len(args) != 1:
                raise TypeError("Supervisor.child_spec(child, **overrides) takes one child")
            spec = {**spec_dict(args[0]), **overrides}
            try:
                return check_spec(spec)
            except SpecError:
                return spec     # as Elixir: not checked here, start_child will refuse it
        arg = args[0] if args else None
        spec = {"id": cls, "start": (cls.start_link, (arg,)), "restart": "permanent",
                "shutdown": "infinity", "type": "supervisor"}
        spec.update(overrides)
        return spec

    @staticmethod
    async def which_children(sup: Server) -> list[tuple[Any, ...]]:
        """``[(id, pid | "restarting" | None, type, modules)]``, newest child first."""
        children: list[tuple[Any, ...]] = await GenServer.call(sup, "which_children", None)
        return children

    @staticmethod
    async def count_children(sup: Server) -> dict[Any, Any]:
        """``{"specs", "active", "supervisors", "workers"}`` counts."""
        counts: dict[Any, Any] = await GenServer.call(sup, "count_children", None)
        return counts

    @staticmethod
    async def start_child(sup: Server, child: Any) -> Any:
        """Add and start a child: ``("ok", pid)`` | ``("ok", None)`` (it returned "ignore") |
        ``("error", ("already_started", pid))`` | ``("error", "already_present")`` (stopped,
        spec kept) | ``("error", (reason, spec))`` when it fails to start | ``("error",
        reason)`` for a spec OTP refuses (``"missing_id"``, ``("invalid_mfa", start)``, ...)."""
        try:
            spec = normalize_spec(child)
        except SpecError as e:
            return ("error", e.reason)
        return await GenServer.call(sup, ("start_child", spec), None)

    @staticmethod
    async def terminate_child(sup: Server, child_id: Any) -> Any:
        """Stop the child (its spec stays, unless temporary): "ok" | ("error", "not_found")."""
        return await GenServer.call(sup, ("terminate_child", child_id), None)

    @staticmethod
    async def restart_child(sup: Server, child_id: Any) -> Any:
        """Start a stopped child again: ("ok", pid) | ("error", "running" | "restarting" |
        "not_found") | ("error", reason)."""
        return await GenServer.call(sup, ("restart_child", child_id), None)

    @staticmethod
    async def delete_child(sup: Server, child_id: Any) -> Any:
        """Forget a stopped child's spec: "ok" | ("error", "running" | "restarting" |
        "not_found")."""
        return await GenServer.call(sup, ("delete_child", child_id), None)

    @staticmethod
    async def stop(sup: Server, reason: Any = "normal", timeout: float | None = None) -> str:
        """Stop the supervisor: its children are shut down newest first, then it exits."""
        return await GenServer.stop(sup, reason, timeout)


def _how(cls: type, args: tuple[Any, ...], flags: dict[Any, Any]) -> tuple[Any, ...]:
    if cls is Supervisor and args and isinstance(args[0], type) \
            and issubclass(args[0], Supervisor):
        # Supervisor.start_link(Module, arg), as Elixir's start_link/3
        cls, args = args[0], args[1:]
    if cls is Supervisor:
        if len(args) != 1:
            raise TypeError("Supervisor.start_link(children, strategy=..., ...) takes the list "
                            "of children")
        return ("list", Supervisor.init(args[0], **flags), None)
    if flags:
        raise TypeError(f"{cls.__qualname__}.start_link(arg, name=None) takes no flags; "
                        "return them from init with Supervisor.init(children, ...)")
    if len(args) > 1:
        raise TypeError(f"{cls.__qualname__}.start_link(arg, name=None) takes one argument")
    return ("module", cls, args[0] if args else None)
