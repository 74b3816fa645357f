"""The values processes exchange: pids, refs, and the messages signals turn into.

A `Pid` and a `Ref` are compared by identity: the node hands out exactly one `Pid` object per
process and one `Ref` object per `make_ref()`, so equality and hashing stay at C speed (they sit in
every selective-receive pattern and in supervisors' dicts). When pids start to cross node
boundaries, the distribution layer interns foreign pids so that identity still means equality.
"""

from __future__ import annotations

from itertools import count
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from .proc import Proc
    from .timer_wheel import SendTimer

__all__ = ["Pid", "RemotePid", "Ref", "TimerRef", "Exit", "Down", "ProcessExit", "NoProc", "ANY"]


class Pid:
    """A process identifier, printed as Erlang prints it: ``<0.84.0>``.

    ``_proc`` points at the live process control block and is cleared when the process dies, so a
    pid kept in some message does not keep a dead process's memory alive.
    """

    # __weakref__: the distribution layer maps a pid that comes back from another node to this
    # very object, through a table that must not keep dead processes' pids alive
    __slots__ = ("_proc", "id", "node", "__weakref__")

    def __init__(self, proc: Proc | None, id: int, node: int = 0) -> None:
        self._proc = proc
        self.id = id
        self.node = node

    def __repr__(self) -> str:
        return f"<{self.node}.{self.id}.0>"

    def __reduce__(self) -> Any:
        raise TypeError("a Pid names a process of a running node and cannot be pickled")


class RemotePid(Pid):
    """The pid of a process on another node. The distribution layer (`beamlet.dist`) makes
    exactly one per remote identity, so identity still means equality; a message sent to it
    goes to the router the layer installed (`scheduler.set_remote_router`), or is dropped when
    no connection can carry it, as Erlang drops a message to an unreachable node."""

    __slots__ = ("node_name", "serial", "creation")  # (weakref-able through Pid)

    def __init__(self, node_name: str, id: int, serial: int, creation: int,
                 index: int) -> None:
        super().__init__(None, id, index)
        self.node_name = node_name
        self.serial = serial
        self.creation = creation

    def __repr__(self) -> str:
        return f"<{self.node}.{self.id}.{self.serial}>"


_ref_ids = count(1)


class Ref:
    """A unique reference (``make_ref()``), printed as ``#Ref<0.1.2.3>``.

    ``by`` and ``at`` remember which process made it and how many messages that process had
    been sent by then: no message it was sent earlier can hold this ref, which lets a
    `receive` waiting for a reply tagged with it skip the older backlog.
    """

    __slots__ = ("n", "by", "at", "__weakref__")  # weakref: as for Pid (the dist layer)

    def __init__(self, by: int = 0, at: int = 0) -> None:
        self.n = next(_ref_ids)
        self.by = by
        self.at = at

    def __repr__(self) -> str:
        n = self.n
        return f"#Ref<0.{n >> 36 & 0xFFFFFFFF}.{n >> 18 & 0x3FFFF}.{n & 0x3FFFF}>"


class TimerRef(Ref):
    """The reference `Process.send_after` returns; `cancel_timer` / `read_timer` take it."""

    __slots__ = ("entry",)
    entry: SendTimer  # set by the call that creates it (timers._start)


class Exit(NamedTuple):
    """The message a process trapping exits receives for an exit signal:
    ``{:EXIT, pid, reason}``."""

    pid: Any
    reason: Any


class Down(NamedTuple):
    """The message a monitor delivers: ``{:DOWN, ref, :process, pid, reason}``.

    For a monitor taken on a registered name, ``pid`` is the ``(name, node)`` tuple, as in Erlang.
    """

    ref: Ref
    pid: Any
    reason: Any


class ProcessExit(Exception):
    """Raised by `exit(reason)`: the calling process ends with ``reason``.

    User code may catch it, as Elixir's ``catch :exit, reason`` does; uncaught, the process ends
    with ``reason`` (not with this exception), so links and monitors see the bare reason.
    """

    def __init__(self, reason: Any) -> None:
        super().__init__(reason)
        self.reason = reason

    def __repr__(self) -> str:
        return f"ProcessExit({self.reason!r})"


class NoProc(LookupError):
    """The process a call needed does not exist (Erlang's ``noproc``)."""


class _Any:
    """The wildcard pattern ``_``: matches every value."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "ANY"


ANY: Any = _Any()
