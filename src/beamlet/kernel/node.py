"""The running node: its state record and the tables every kernel module shares.

One node runs in a Python process at a time. Everything that belongs to it is here, in one
place: the `NodeState` record (its name, first process, how it ended, its threads) and the
per-node tables below. The tables are created once and never rebound — a new node clears them
in place (`reset_tables`) — so the hot modules can bind them as their own fast globals.

Who writes what (one mechanism each):
- ``procs``: the scheduler adds a process at spawn; `signals` removes it when it dies.
- ``names``: `registry` registers and unregisters; `signals` drops a dead process's name.
- ``aliases``: `signals` (alias, unalias, monitor with alias=True, and death).
- ``queues``: the scheduler (and `signals`, which makes a doomed process runnable).
- ``dying``/``to_close``: `signals` queues deaths to announce and coroutines to close; the
  scheduler's loop closes them.
- ``inbox``: any thread appends work (`hand_in`); the loop runs it.
- ``wakeup``: any thread sets it; the loop sleeps on it and polls the sockets it watches
  (`io`).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from time import monotonic
from typing import TYPE_CHECKING, Any

from .io import Wakeup

if TYPE_CHECKING:
    from .proc import Proc
    from .terms import Ref

procs: dict[int, Proc] = {}                  # live processes by pid number
names: dict[str, Proc] = {}                  # the registry
aliases: dict[Ref, Proc] = {}                # active aliases
queues: list[deque[Proc]] = [deque(), deque(), deque(), deque()]   # max, high, normal, low
dying: deque[Proc] = deque()                 # processes whose deaths are yet to be announced
to_close: deque[Proc] = deque()              # killed processes whose coroutines are to close
inbox: deque[Callable[[], Any]] = deque()    # work handed in from other threads
wakeup = Wakeup()                            # wakes an idle loop; its watched sockets

current: NodeState | None = None             # the node running now (see `begin` / `end`)


class NodeState:
    """What `run`, `ThreadedNode` and the watchdog need to know about the node running now."""

    def __init__(self, name: str, schedulers: int) -> None:
        self.started = monotonic()  # when the node started (its uptime)
        self.name = name
        self.schedulers = schedulers
        self.main: Proc | None = None
        self.main_result: Any = None
        self.main_reason: Any = None
        self.main_exc: BaseException | None = None
        self.error: BaseException | None = None     # what stopped the node, if not main's end
        self.external = 0          # >0 while other threads may hand work in (no deadlock check)
        self.stopping = False
        self.done = threading.Event()
        self.threads: list[threading.Thread] = []   # scheduler threads started by hand-offs
        self.handing_off = False
        self.handoffs = 0           # how many times the kernel was handed to a new thread
        self.watched = False        # a watchdog runs (written by `handoff.Watchdog`)
        # The owner thread's sleeps (written by the scheduler's idle loop) and the watchdog's
        # rest while one lasts (written by `handoff`): an idle node costs the watchdog nothing.
        self.sleeps = 0             # how many times the owner thread went to sleep
        self.asleep = False         # the owner thread sleeps in the idle loop now
        self.watchdog_resting = False
        self.watchdog_alarm = threading.Event()   # set by the owner's wake-up, ends the rest
        self.on_stop: list[Callable[[], None]] = []   # run when the node has stopped


def begin(name: str, schedulers: int) -> NodeState:
    """Make a new node the current one, with empty tables."""
    global current
    if current is not None:
        raise RuntimeError("a beamlet node is already running in this Python process")
    reset_tables()
    current = NodeState(name, schedulers)
    return current


def end() -> None:
    """The current node is gone."""
    global current
    current = None
    for q in queues:
        q.clear()
    wakeup.reset()


def reset_tables() -> None:
    procs.clear()
    names.clear()
    aliases.clear()
    for q in queues:
        q.clear()
    dying.clear()
    to_close.clear()
    inbox.clear()
    wakeup.reset()


def name() -> str:
    """The current node's name (``"nonode@nohost"`` when none runs)."""
    node = current
    return node.name if node is not None else "nonode@nohost"
