"""The process control block.

A `Proc` is what the scheduler keeps for every live process. Its hot fields (those that spawn,
send, receive and the run loop touch) are slots on `Proc` itself; everything a process only
needs once it links, monitors, registers, traps exits or uses its dictionary lives in an `Ext`
created on first use, which keeps a plain process small (the goal is ~1 KB per live process,
coroutine included).

States: a process is RUNNABLE (in a run queue), RUNNING (being stepped), WAITING (parked in
`receive` or `sleep`), DOOMED (a fatal exit signal from another process is pending: it dies when
it is next scheduled, as a BEAM process handles its signals when it runs), EXITING (dead to the
world; its links and monitors are being told) or DEAD.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .terms import Pid, Ref

DEAD = 0
RUNNABLE = 1
RUNNING = 2
WAITING = 3
EXITING = 4
DOOMED = 5

STATUS_NAMES = {RUNNABLE: "runnable", RUNNING: "running", WAITING: "waiting", EXITING: "exiting"}

PRIORITIES = ("max", "high", "normal", "low")
PRIORITY_INDEX = {name: i for i, name in enumerate(PRIORITIES)}


class Proc:
    """One lightweight process: a coroutine, a mailbox, and the scheduler's bookkeeping."""

    __slots__ = (
        "pid",      # its Pid
        "coro",     # the coroutine that is the process's body
        "mbox",     # collections.deque of queued messages, created on first queued message
        "state",    # one of the states above
        "pats",     # while WAITING: None (any message), a tuple of patterns, or () (sleep)
        "resume",   # the value the next step sends into the coroutine
        "rq",       # the run queue of its priority
        "prio",     # index into PRIORITIES
        "reds",     # reductions: steps and messages taken
        "timer",    # the timer entry of a receive/sleep timeout, or None
        "enq",      # messages ever queued in mbox (for the fresh-ref receive optimisation)
        "ext",      # Ext, or None while the process has no links, monitors, name, ...
        "fn",       # the function it was spawned with (Process.info "initial_call")
        "reason",   # exit reason, once DOOMED or EXITING
    )

    pid: Pid  # set by spawn right after construction, from the process's number

    def __init__(self, coro: Any, rq: Any, prio: int, fn: Any) -> None:
        self.coro = coro
        self.mbox: deque[Any] | None = None
        self.state = RUNNABLE
        self.pats: tuple[Any, ...] | None = None
        self.resume: Any = None
        self.rq: deque[Proc] = rq  # None only in scheduler's _BATCH_BREAK, which never runs
        self.prio = prio
        self.reds = 0
        self.timer: dict[Any, float] | None = None  # the timer-wheel slot it is filed in
        self.enq = 0
        self.ext: Ext | None = None
        self.fn = fn
        self.reason: Any = None

    def x(self) -> Ext:
        """The extension record, created on first use."""
        e = self.ext
        if e is None:
            e = self.ext = Ext()
        return e

    def __repr__(self) -> str:
        return f"<Proc {self.pid!r} {STATUS_NAMES.get(self.state, 'dead')}>"


class Ext:
    """What only some processes need: links, monitors, a name, flags, a dictionary, aliases."""

    __slots__ = ("links", "monitors", "monitored_by", "trap", "name", "dict", "aliases", "late",
                 "pending")

    def __init__(self) -> None:
        self.links: set[Pid] = set()              # Pids this process is linked to
        # ref -> (target Pid, what Down names: pid or (name, node))
        self.monitors: dict[Ref, tuple[Any, Any]] = {}
        self.monitored_by: dict[Ref, Pid] = {}    # ref -> watcher Pid
        self.trap = False
        self.name: str | None = None
        self.dict: dict[Any, Any] | None = None
        self.aliases: set[Any] | None = None
        # Links (peer Pids) and monitors (refs) made while this process was DOOMED: on the
        # BEAM their requests queue behind the fatal signal, so they end in "noproc".
        self.late: list[Any] | None = None   # [("link", peer pid) | ("monitor", ref), ...]
        # Signals the process sent itself that it has not handled yet, in order (see
        # `signals.handle_pending`): ("exit", from, reason) for an exit signal it traps,
        # ("link", from, reason) for one through a link made to a doomed process that died
        # while the process asked about it, ("linkmsg", Exit) for the Exit of a link made
        # while trapping to a dead process, ("msg", message) for a message it sent itself
        # after those.
        self.pending: list[Any] | None = None
