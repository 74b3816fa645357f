"""The ``Process`` namespace, mirroring Elixir's ``Process`` module."""

from __future__ import annotations

import builtins
import os
import sys
from collections.abc import Callable
from types import CodeType
from typing import Any

from . import registry, scheduler as k, signals, timers
from .node import queues
from .ownership import entry
from .proc import DOOMED, EXITING, PRIORITIES, RUNNABLE, STATUS_NAMES, WAITING, Proc
from .terms import Pid, RemotePid
from .traps import RESCAN, TIMEOUT, UNREAD

_KERNEL_DIR = os.path.dirname(os.path.abspath(__file__))

_INFO_KEYS = (
    "status", "message_queue_len", "messages", "links", "monitors", "monitored_by",
    "trap_exit", "priority", "reductions", "registered_name", "memory", "current_function",
    "initial_call", "dictionary",
)


def _name_of(fn: Any) -> tuple[str, str, int]:
    """(module, qualname, arity) for a process function, as an Erlang MFA would read."""
    f = getattr(fn, "__func__", fn)
    code = getattr(f, "__code__", None)
    arity = code.co_argcount if code is not None else 0
    return (getattr(f, "__module__", None) or "?", getattr(f, "__qualname__", repr(f)), arity)


def _module_of(code: CodeType, fn: Any) -> str:
    f = getattr(fn, "__func__", fn)
    if getattr(f, "__code__", None) is code:
        module: str = getattr(f, "__module__", None) or "?"
        return module
    for name, mod in list(sys.modules.items()):
        if getattr(mod, "__file__", None) == code.co_filename:
            return name
    return os.path.splitext(os.path.basename(code.co_filename))[0]


def _current_function(p: Proc) -> tuple[str, str, int] | None:
    """Where the process is now: the innermost function of its own code (kernel frames, such
    as the `receive` it waits in, are skipped), as an Erlang MFA reads."""
    co = p.coro
    inner = None
    while co is not None:
        code = getattr(co, "cr_code", None) or getattr(co, "gi_code", None)
        if code is not None and os.path.dirname(code.co_filename) != _KERNEL_DIR:
            inner = code
        co = getattr(co, "cr_await", None) or getattr(co, "gi_yieldfrom", None)
    if inner is None:
        return _name_of(p.fn)
    return (_module_of(inner, p.fn), inner.co_qualname, inner.co_argcount)


def _in_flight(p: Proc) -> list[Any]:
    """A message handed straight to a process parked in `receive` that has not run since:
    still "in its mailbox" as far as anyone looking is concerned."""
    r = p.resume
    if p.state == RUNNABLE and r is not None and r is not TIMEOUT and r is not RESCAN:
        return [r]
    return []


def _status(p: Proc) -> str:
    """What the BEAM answers: a process that has messages it has not looked at yet handles
    them — and the question, which queues behind them — so it is seen "running"."""
    state = p.state
    if (state == WAITING and p.resume is UNREAD) or (state == RUNNABLE and _in_flight(p)):
        return "running"
    return STATUS_NAMES.get(state, "exiting")


def _memory(p: Proc) -> int:
    """Bytes held by the process: control block, coroutine frame, mailbox and dictionary."""
    size = sys.getsizeof(p)
    if p.coro is not None:
        size += sys.getsizeof(p.coro)
    if p.mbox is not None:
        size += sys.getsizeof(p.mbox) + sum(sys.getsizeof(m) for m in p.mbox)
    x = p.ext
    if x is not None:
        size += sys.getsizeof(x) + sys.getsizeof(x.links) + sys.getsizeof(x.monitors)
        if x.dict:
            size += sys.getsizeof(x.dict)
    return size


def _item(p: Proc, key: str) -> Any:
    x = p.ext
    if key == "status":
        return _status(p)
    if key == "message_queue_len":
        return (len(p.mbox) if p.mbox else 0) + len(_in_flight(p))
    if key == "messages":
        return _in_flight(p) + (list(p.mbox) if p.mbox else [])
    if key == "links":
        return list(x.links) if x else []
    if key == "monitors":
        return [("process", shown) for _, shown in x.monitors.values()] if x else []
    if key == "monitored_by":
        return list(x.monitored_by.values()) if x else []
    if key == "trap_exit":
        return x.trap if x else False
    if key == "priority":
        return PRIORITIES[p.prio]
    if key == "reductions":
        return p.reds
    if key == "registered_name":
        return x.name if x and x.name is not None else []
    if key == "memory":
        return _memory(p)
    if key == "current_function":
        return _current_function(p)
    if key == "initial_call":
        return _name_of(p.fn)
    if key == "dictionary":
        return dict(x.dict) if x and x.dict else {}
    raise ValueError(f"unknown Process.info key {key!r}; known keys: {', '.join(_INFO_KEYS)}")


def _proc_of(pid: Any) -> Proc | None:
    if not isinstance(pid, Pid):
        raise TypeError(f"Process.info takes a Pid, got {pid!r}")
    p = pid._proc
    if p is not None and p.state == DOOMED:
        signals.flush_signals(p)
    if p is None or p.state == EXITING or p.state == DOOMED:
        return None
    return p


class Process:
    """Elixir's ``Process`` module. Plain calls, except `sleep`, which is awaited."""

    def __new__(cls, *a: Any, **kw: Any) -> Any:
        raise TypeError("Process is a namespace; call its functions, e.g. Process.info(pid)")

    register = staticmethod(registry.register)
    unregister = staticmethod(registry.unregister)
    whereis = staticmethod(registry.whereis)
    registered = staticmethod(registry.registered)
    link = staticmethod(signals.link)
    unlink = staticmethod(signals.unlink)
    monitor = staticmethod(signals.monitor)
    demonitor = staticmethod(signals.demonitor)
    exit = staticmethod(signals.exit_pid)
    alias = staticmethod(signals.alias)
    unalias = staticmethod(signals.unalias)
    send_after = staticmethod(timers.send_after)
    start_timer = staticmethod(timers.start_timer)
    cancel_timer = staticmethod(timers.cancel_timer)
    read_timer = staticmethod(timers.read_timer)
    sleep = staticmethod(k.sleep)
    send = staticmethod(k.send)

    @staticmethod
    @entry
    def alive(pid: Pid) -> bool:
        """Whether ``pid`` is a live process of this node (another node's pid: ValueError,
        as the BEAM's ``badarg``; ask that node with rpc)."""
        k.current()
        _local_only(pid, "Process.alive")
        return signals.is_alive(pid)

    @staticmethod
    @entry
    def list() -> list[Pid]:
        """Every live process, oldest first."""
        k.current()
        return [p.pid for p in k.procs().values() if p.state != EXITING]

    @staticmethod
    @entry
    def info(pid: Pid, key: str | builtins.list[str] | None = None) -> Any:
        """What the kernel knows of a live process (None for a dead one).

        With a key, the value alone; with a list of keys, a dict of those; without, a dict of
        every key except ``registered_name``, which appears only when the process has a name
        (as on the BEAM). Keys: status, message_queue_len, messages, links, monitors,
        monitored_by, trap_exit, priority, reductions, registered_name, memory,
        current_function, initial_call, dictionary.
        """
        me = k.current()
        _local_only(pid, "Process.info")
        if pid is me.pid and me.ext is not None and me.ext.pending is not None:
            signals.handle_pending(me, signals.AT_INFO)  # it looks at its signals first
        p = _proc_of(pid)
        if isinstance(key, (list, tuple)):
            for one in key:
                if one not in _INFO_KEYS:
                    raise ValueError(f"unknown Process.info key {one!r}")
            return None if p is None else {one: _item(p, one) for one in key}
        if key is not None:
            if key not in _INFO_KEYS:
                raise ValueError(f"unknown Process.info key {key!r}")
            return None if p is None else _item(p, key)
        if p is None:
            return None
        out = {key: _item(p, key) for key in _INFO_KEYS}
        if out["registered_name"] == []:
            del out["registered_name"]
        return out

    @staticmethod
    @entry
    def flag(name: str, value: Any) -> Any:
        """Set a process flag of the caller ("trap_exit" or "priority"); return the old value."""
        me = k.current()
        if name == "trap_exit":
            return signals.trap_exit(value)
        if name == "priority":
            idx = k.priority_index(value)
            old = PRIORITIES[me.prio]
            me.prio = idx
            me.rq = queues[idx]
            return old
        raise ValueError(f"unknown process flag {name!r}; known: 'trap_exit', 'priority'")

    @staticmethod
    @entry
    def read_flag(name: str) -> Any:
        """The caller's current value of a process flag."""
        me = k.current()
        if name == "trap_exit":
            return me.ext.trap if me.ext else False
        if name == "priority":
            return PRIORITIES[me.prio]
        raise ValueError(f"unknown process flag {name!r}; known: 'trap_exit', 'priority'")

    @staticmethod
    @entry
    def get(key: Any = ..., default: Any = None) -> Any:
        """A value from the caller's process dictionary (the whole dict when no key is given)."""
        me = k.current()
        d = me.ext.dict if me.ext else None
        if key is ...:
            return dict(d) if d else {}
        return d.get(key, default) if d else default

    @staticmethod
    @entry
    def put(key: Any, value: Any) -> Any:
        """Store ``value`` under ``key`` in the caller's dictionary; return the old value, or
        None."""
        x = k.current().x()
        if x.dict is None:
            x.dict = {}
        old = x.dict.get(key)
        x.dict[key] = value
        return old

    @staticmethod
    @entry
    def delete(key: Any) -> Any:
        """Remove ``key`` from the caller's dictionary; return its old value or None."""
        me = k.current()
        d = me.ext.dict if me.ext else None
        return d.pop(key, None) if d else None

    @staticmethod
    @entry
    def get_keys(*value: Any) -> builtins.list[Any]:
        """Every key in the caller's dictionary; with a value, the keys that hold it
        (Elixir's ``Process.get_keys/0`` and ``/1``)."""
        if len(value) > 1:
            raise TypeError(f"get_keys takes at most one value, got {len(value)}")
        me = k.current()
        d = me.ext.dict if me.ext else None
        if not d:
            return []
        if not value:
            return list(d)
        return [key for key, v in d.items() if v == value[0]]

    @staticmethod
    def spawn(fn: Callable[..., Any], *args: Any, priority: str = "normal") -> Pid:
        """Same as `beamlet.spawn`."""
        return k.spawn(fn, *args, priority=priority)


def _local_only(pid: Any, what: str) -> None:
    """The BEAM answers ``badarg`` to a question about another node's process."""
    if isinstance(pid, RemotePid):
        raise ValueError(f"{what} asks about processes of this node; {pid!r} lives on "
                         f"{pid.node_name} (ask it with rpc)")
