"""The scheduler and the hot path: spawn, send, receive, and the run loop that steps processes.

These live in one module on purpose. The run loop, `send` and `receive` share a handful of
module globals (`_current`, the run queues) that Python reads fastest as globals of the same
module, and they are the code every message pays for. Links, monitors, the registry and
`Process.info` are in modules of their own and reach in here through plain functions; the
hand-off machinery is in `handoff.py`.

How a process runs. A process is a coroutine. The loop sends a value into it (`coro.send`); the
coroutine runs until it awaits `receive` (or `sleep`, or yields its turn) and then hands control
back by yielding `_WAIT` (parked: its state says why) or `None` (still runnable: back of the
queue). A message sent to a process that is parked in `receive` is matched against its patterns
right away, by the sender: if it matches it is handed over directly (never touching the mailbox)
and the receiver is queued to run; otherwise it joins the mailbox. So a selective receive costs
O(1) per arriving message however long the mailbox is.

Run queues. One deque per priority. The loop runs a batch (at most `_BATCH` steps) from the
highest non-empty queue, "max" and "high" strictly first: a batch ends as soon as a more urgent
queue has work. "low" waits `_LOW_EVERY` batches of "normal" work. Between batches the loop
fires due timers, runs work handed in from other threads and closes killed processes.

Preemption. A process that takes queued messages one after another yields every 256; one that
sends or spawns in a loop without awaiting runs a slice of the others from inside its call
every 1,024 calls (`_maybe_preempt`), as the BEAM would preempt it by reductions.

Threads. Exactly one thread *owns* the kernel at a time (`_owner`): it runs this loop, and only
it changes kernel state while the kernel is uncontended. A process that runs too long without awaiting (a CPU loop, a blocking
call) keeps its thread; the watchdog in `handoff.py` then makes that thread *detached* and
starts a new owner, so the other processes keep running (Go hands off its P the same way).
While any thread is detached the kernel is *contended*: every kernel entry checks the global
`_contended` first, and only then pays for the lock (`_klock`) that serialises the threads'
kernel work and makes ownership changes safe (`slow_entry`). Uncontended, the common path pays
one global read per kernel call and nothing else.
"""

from __future__ import annotations

import heapq
import logging
import threading
import types
from collections import deque
from itertools import count
from threading import get_ident
from time import monotonic
from types import FunctionType
from typing import Any, Callable

from . import bodies
from .patterns import first_match, match
from .proc import (
    DEAD,
    DOOMED,
    EXITING,
    PRIORITY_INDEX,
    RUNNABLE,
    RUNNING,
    WAITING,
    Proc,
)
from .terms import Down, Exit, NoProc, Pid, ProcessExit, Ref, TimerRef

log = logging.getLogger("beamlet")

_BATCH = 200
_LOW_EVERY = 8
_FAIR_MASK = 255          # a process taking queued messages yields every 256 of them
_SLICE_MASK = 1023        # a process sending/spawning lets others run every 1024 calls
_SLICE = 64               # steps of other processes run in such a slice

_WAIT = object()          # yielded by a process that parked itself (receive / sleep)
_TIMEOUT = object()       # resume value: the receive timed out
_RESCAN = object()        # resume value: look at the mailbox again (a pattern raised in a sender)
_UNSET: Any = object()
_CO_COROUTINE = 0x80

# ---------------------------------------------------------------------------------------------
# Node state. One node runs in a Python process at a time; `start_node` resets all of this.
# ---------------------------------------------------------------------------------------------
_current: Proc | None = None            # the process the owner thread is stepping
_queues: list[deque] = [deque(), deque(), deque(), deque()]   # max, high, normal, low
_procs: dict[int, Proc] = {}            # live processes by pid number
_names: dict[str, Proc] = {}            # the registry
_aliases: dict[Ref, Proc] = {}          # active aliases
_timers: list = []                      # heap of [when, seq, kind, a, b, c]; kind None = cancelled
_timer_seq = count()
_ids = count(1)
_dying: deque = deque()                 # processes whose deaths are yet to be announced
_to_close: deque = deque()              # killed processes whose coroutines are still to close
_inbox: deque = deque()                 # work from other threads, run by the owner
_wakeup = threading.Event()
_draining = False
_node: "NodeState | None" = None

# Hand-off state (see the module docstring and handoff.py).
_contended = False                      # some thread is detached: kernel entries take the lock
_owner: int | None = None               # ident of the thread that owns the kernel
_klock = threading.RLock()              # held by the owner while it changes state, if contended
_owned = _klock._is_owned               # type: ignore[attr-defined]
_detached: dict[int, Proc] = {}         # detached thread ident -> the process it is stepping
_detached_reds: dict[int, int] = {}     # its reductions when it was detached
_low_cut = 3                            # the owner runs queues 0.._low_cut (see handoff.py)
_nested = False                         # a slice of other processes runs inside a kernel call


class NodeState:
    """What `run`, `Node` and the watchdog need to know about the node currently running."""

    def __init__(self, name: str, schedulers: int) -> None:
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
        self.handoffs = 0           # how many times the watchdog handed the kernel off
        self.on_stop: list[Callable[[], None]] = []   # run when the node has stopped


class Deadlock(RuntimeError):
    """Every process waits in `receive` with no timeout, and nothing can ever wake one up."""


class _MainDone(BaseException):
    """Raised inside the loop when the main process has ended: unwinds to `run_loop`."""


class _Terminated(BaseException):
    """Unwinds a process that a signal has already killed (raised in its own thread).

    Its death has been announced by the time this is raised; the loop only lets it go.
    """


def outside_process() -> RuntimeError:
    return RuntimeError(
        "this beamlet call must be made from inside a beamlet process "
        "(start one with beamlet.run(fn) or Node.spawn)"
    )


# ---------------------------------------------------------------------------------------------
# Kernel entry when contended
# ---------------------------------------------------------------------------------------------
def slow_entry(fn: Callable, args: tuple, kw: dict | None = None) -> Any:
    """Enter the kernel while it is contended: run ``fn`` under the kernel lock.

    On the owner thread that is all. On a detached thread, ``fn`` runs as the process that
    thread is stepping (the `_current` the owner set is put back afterwards); if that process
    was killed meanwhile it unwinds here, before it can touch anything.
    """
    me = get_ident()
    with _klock:
        if _owner == me:
            return fn(*args, **(kw or {}))
        global _current
        proc = _detached.get(me)
        if proc is None:
            raise outside_process()
        if proc.state == EXITING:
            raise _Terminated()
        saved = _current
        _current = proc
        try:
            result = fn(*args, **(kw or {}))
        finally:
            _current = saved
        if proc.state == EXITING:  # killed by this very call, or while it ran
            raise _Terminated()
        return result


def entry(fn: Callable) -> Callable:
    """Decorate a kernel function that is not on the hot path: contended-safe entry."""

    def kernel_entry(*args: Any, **kw: Any) -> Any:
        if _contended and not _owned():
            return slow_entry(fn, args, kw)
        return fn(*args, **kw)

    kernel_entry.__name__ = fn.__name__
    kernel_entry.__qualname__ = fn.__qualname__
    kernel_entry.__doc__ = fn.__doc__
    kernel_entry.__module__ = fn.__module__
    kernel_entry.__wrapped__ = fn  # type: ignore[attr-defined]
    kernel_entry.__annotations__ = getattr(fn, "__annotations__", {})
    return kernel_entry


def current() -> Proc:
    """The calling process (a kernel call costs it a reduction); RuntimeError when called from
    outside any process."""
    p = _current
    if p is None:
        raise outside_process()
    p.reds += 1
    return p


# ---------------------------------------------------------------------------------------------
# Spawning
# ---------------------------------------------------------------------------------------------
def _coroutine_for(fn: Callable, args: tuple) -> Any:
    code = getattr(getattr(fn, "__func__", fn), "__code__", None)
    if code is not None and code.co_flags & _CO_COROUTINE:
        return fn(*args)
    if not callable(fn):
        raise TypeError(f"a process function must be callable, got {fn!r}")
    return bodies.run_sync(fn, args)


def priority_index(priority: str) -> int:
    try:
        return PRIORITY_INDEX[priority]
    except (KeyError, TypeError):
        raise ValueError(
            f"priority must be one of 'low', 'normal', 'high', 'max', got {priority!r}"
        ) from None


def new_process(fn: Callable, args: tuple, priority: str = "normal") -> Proc:
    """Create a process and queue it to run; the caller decides about links and monitors."""
    if _contended and not _owned():
        return slow_entry(new_process, (fn, args, priority))
    me = _current
    if me is None:
        if _node is None or get_ident() != _owner:
            raise outside_process()
    else:
        r = me.reds = me.reds + 1
        if not r & _SLICE_MASK and _maybe_preempt(me):
            return slow_entry(new_process, (fn, args, priority))
    prio = 2 if priority == "normal" else priority_index(priority)
    rq = _queues[prio]
    if fn.__class__ is FunctionType and fn.__code__.co_flags & _CO_COROUTINE:
        coro = fn(*args)
    else:
        coro = _coroutine_for(fn, args)
    p = Proc(coro, rq, prio, fn)
    n = next(_ids)
    p.pid = Pid(p, n)
    _procs[n] = p
    rq.append(p)
    return p


def spawn(fn: Callable, *args: Any, priority: str = "normal") -> Pid:
    """Start ``fn(*args)`` as a new process and return its pid at once.

    ``fn`` is an ``async def`` function (a lightweight process that can `receive`) or a plain
    callable (a process that runs it to completion). The new process does not inherit the
    caller's priority, links or trap_exit flag.
    """
    return new_process(fn, args, priority).pid


# ---------------------------------------------------------------------------------------------
# Sending
# ---------------------------------------------------------------------------------------------
def send(dest: Any, msg: Any) -> Any:
    """Send ``msg`` to ``dest`` (a `Pid`, a registered name, or ``(name, node)``); return ``msg``.

    A message to a dead pid is dropped silently, as on the BEAM. A message to a name nobody has
    registered raises `NoProc` (a LookupError); ``(name, node)`` to an unknown local name is
    dropped silently, as Erlang does.
    """
    if _contended and not _owned():
        return slow_entry(send, (dest, msg))
    me = _current
    if me is None:
        raise outside_process()
    r = me.reds = me.reds + 1
    if not r & _SLICE_MASK and _maybe_preempt(me):
        return slow_entry(send, (dest, msg))
    if dest.__class__ is Pid:
        p = dest._proc
        if p is None:
            return msg
        if p.state == WAITING:
            pats = p.pats
            if pats is None:
                p.resume = msg
                p.state = RUNNABLE
                if p.timer is not None:
                    _drop_timer(p)
                p.rq.append(p)
                return msg
            if pats:
                return _offer(p, pats, msg)
        mb = p.mbox
        if mb is None:
            mb = p.mbox = deque()
        mb.append(msg)
        p.enq += 1
        return msg
    return _send_other(dest, msg)


def _offer(p: Proc, pats: tuple, msg: Any) -> Any:
    """Deliver to a process waiting with patterns: hand over if it matches, else queue."""
    try:
        hit = first_match(pats, msg)
    except Exception:
        # A predicate raised: queue the message and let the receiver rescan in its own context,
        # where the predicate raises again and crashes the receiver, not the sender.
        _queue(p, msg)
        _wake(p, _RESCAN)
        return msg
    if hit:
        _wake(p, msg)
    else:
        _queue(p, msg)
    return msg


def _queue(p: Proc, msg: Any) -> None:
    mb = p.mbox
    if mb is None:
        mb = p.mbox = deque()
    mb.append(msg)
    p.enq += 1


def _wake(p: Proc, value: Any) -> None:
    """Make a waiting process runnable, resuming it with ``value``."""
    p.resume = value
    p.state = RUNNABLE
    if p.timer is not None:
        _drop_timer(p)
    p.rq.append(p)


def deliver(p: Proc, msg: Any) -> None:
    """Put ``msg`` in the mailbox of the live process ``p`` (the kernel's own sends use this)."""
    if p.state == WAITING:
        pats = p.pats
        if pats is None:
            _wake(p, msg)
            return
        if pats:
            _offer(p, pats, msg)
            return
    _queue(p, msg)


def _send_other(dest: Any, msg: Any) -> Any:
    t = type(dest)
    if t is Ref:  # an alias: how GenServer replies travel
        p = _aliases.get(dest)
        if p is not None:
            deliver(p, msg)
        return msg
    if t is str:
        p = _names.get(dest)
        if p is None:
            raise NoProc(f"cannot send to {dest!r}: no process is registered under that name")
        deliver(p, msg)
        return msg
    if t is tuple and len(dest) == 2 and type(dest[0]) is str:
        name, node_name = dest
        if node_name == node_name_now():
            p = _names.get(name)
            if p is not None:
                deliver(p, msg)
        return msg  # an unknown node: unreachable, the message is lost as in Erlang
    if isinstance(dest, Ref):
        p = _aliases.get(dest)
        if p is not None:
            deliver(p, msg)
        return msg
    if isinstance(dest, Pid):
        return send(dest, msg)
    raise TypeError(f"invalid destination {dest!r}: expected a Pid, a name (str) or (name, node)")


def node_name_now() -> str:
    return _node.name if _node is not None else "nonode@nohost"


# ---------------------------------------------------------------------------------------------
# Preemption at kernel calls
# ---------------------------------------------------------------------------------------------
def _maybe_preempt(me: Proc) -> bool:
    """A process has made `_SLICE_MASK` + 1 sends or spawns without awaiting: run a slice of
    the others from right here, inside its call, as the BEAM would preempt it by reductions.

    Returns whether the kernel is contended now (this thread may have been handed off while a
    process of the slice ran): the caller must then redo its call through `slow_entry`.
    """
    global _nested
    if _nested or _contended or _node is None or get_ident() != _owner:
        return _contended
    _nested = True
    try:
        _run_slice(me)
    finally:
        _nested = False
    if me.state == EXITING and not _contended:
        raise _Terminated()
    return _contended


def _run_slice(me: Proc) -> None:
    global _current, _contended
    tid = get_ident()
    node = _node
    handed_off = False
    try:
        q = _housekeep_and_pick()
        if q is not None and node is not None:
            cut = me.prio if me.prio < 2 else 3
            if any(q is _queues[i] for i in range(cut + 1)):
                handed_off = _run_batch(q, _SLICE, tid, node, me) == _HANDED_OFF
    except _MainDone:
        if node is not None:
            _stop_node(node)
        _contended = True  # so that the loop looks at the node after this step
    finally:
        if not handed_off:
            _current = me


# ---------------------------------------------------------------------------------------------
# Receiving
# ---------------------------------------------------------------------------------------------
@types.coroutine
def receive(*patterns: Any, timeout: float | None = None, default: Any = _UNSET) -> Any:
    """Remove and return the first message, in mailbox order, that matches any pattern.

    With no pattern any message matches. Messages that do not match stay where they are, in
    order. ``timeout`` is in seconds (None: wait forever; 0: only look at what is there). When
    it runs out, return ``default`` if one was given, else raise `TimeoutError`.
    """
    if timeout is not None and not timeout >= 0:
        raise ValueError(f"timeout must be None or >= 0 seconds, got {timeout!r}")
    while True:
        if _contended and not _owned():
            msg = yield from _wait_contended(patterns, timeout, False)
        else:
            p = _current
            if p is None:
                raise outside_process()
            mb = p.mbox
            if mb:
                if not patterns:
                    msg = mb.popleft()
                    p.reds += 1
                    if not p.reds & _FAIR_MASK:
                        yield None  # a fair turn for the others
                    return msg
                if len(patterns) == 1 and match(patterns[0], mb[0]):
                    i = 0  # the oldest message matches: the common case, without a scan
                else:
                    i = _scan(p, mb, patterns)
                if i >= 0:
                    msg = mb[i]
                    del mb[i]
                    p.reds += 1
                    if not p.reds & _FAIR_MASK:
                        yield None
                    return msg
            if timeout is not None:
                if timeout == 0:
                    break
                _arm_receive_timer(p, timeout)
            p.pats = patterns or None
            p.state = WAITING
            msg = yield _WAIT
        if msg is _RESCAN:
            continue
        if msg is _TIMEOUT:
            break
        return msg
    if default is _UNSET:
        raise TimeoutError(f"receive timed out after {timeout} s")
    return default


def _wait_contended(patterns: tuple, timeout: float | None, sleeping: bool) -> Any:
    """`receive` / `sleep` while the kernel is contended: the same steps, under the lock.

    A process on a detached thread takes a message that is already there, but does not park
    there (its coroutine is still running on that thread, so nobody else may resume it): it
    yields its turn instead, and its next step runs on the owner thread, where it parks.
    """
    me = get_ident()
    parked = False
    with _klock:
        detached = _owner != me
        if detached:
            p = _detached.get(me)
            if p is None:
                raise outside_process()
            if p.state == EXITING:
                raise _Terminated()
        else:
            p = current()
        mb = p.mbox
        if mb and not sleeping:
            i = (0 if not patterns else _scan(p, mb, patterns))
            if i >= 0:
                msg = mb[i]
                del mb[i]
                p.reds += 1
                return msg
        if timeout == 0 and not sleeping:
            return _TIMEOUT
        if not detached:
            if timeout is not None:
                _arm_receive_timer(p, timeout)
            p.pats = () if sleeping else (patterns or None)
            p.state = WAITING
            parked = True
    if not parked:
        yield None
        return _RESCAN
    return (yield _WAIT)


def _scan(p: Proc, mb: deque, patterns: tuple) -> int:
    """Index of the first queued message matching ``patterns``, or -1.

    When every pattern holds a ref that this process made, no message queued before the
    oldest of those refs existed can match, so the scan starts after them (the BEAM's
    receive-mark optimisation, generalised to several refs): waiting for a reply costs O(1)
    however long the backlog.
    """
    n = len(mb)
    start = n
    me = p.pid.id
    for pat in patterns:
        if isinstance(pat, tuple):
            for e in pat:
                if isinstance(e, Ref) and e.by == me:
                    fresh = n - (p.enq - e.at)   # messages queued since e was made
                    if fresh < start:
                        start = fresh if fresh > 0 else 0
                    break
            else:
                start = 0
        else:
            start = 0
        if start == 0:
            break
    if len(patterns) == 1:
        pat = patterns[0]
        for i in range(start, n):
            if match(pat, mb[i]):
                return i
        return -1
    for i in range(start, n):
        if first_match(patterns, mb[i]):
            return i
    return -1


@types.coroutine
def sleep(seconds: float | None) -> Any:
    """Suspend the calling process for ``seconds`` (None: forever); messages keep queueing."""
    if seconds is not None and not seconds >= 0:
        raise ValueError(f"sleep time must be None or >= 0 seconds, got {seconds!r}")
    if seconds == 0:
        yield from yield_turn()
        return "ok"
    while True:
        if _contended and not _owned():
            r = yield from _wait_contended((), seconds, True)
        else:
            p = _current
            if p is None:
                raise outside_process()
            if seconds is not None:
                _arm_receive_timer(p, seconds)
            p.pats = ()
            p.state = WAITING
            r = yield _WAIT
        if r is _TIMEOUT:
            return "ok"


@types.coroutine
def yield_turn() -> Any:
    """Let the other runnable processes run before the caller continues."""
    if not _contended and _current is None:
        raise outside_process()
    yield None


def self_pid() -> Pid:
    """The pid of the calling process."""
    if _contended and not _owned():
        return slow_entry(self_pid, ())
    p = _current
    if p is None:
        raise outside_process()
    return p.pid


def make_ref() -> Ref:
    """A new unique reference."""
    if _contended and not _owned():
        return slow_entry(make_ref, ())
    p = _current
    r = Ref()
    if p is not None:
        r.by = p.pid.id
        r.at = p.enq
    return r


def exit(reason: Any) -> Any:
    """End the calling process with ``reason`` by raising `ProcessExit`.

    Code may catch it (as Elixir's ``catch :exit``); uncaught, links and monitors see ``reason``.
    """
    raise ProcessExit(reason)


# ---------------------------------------------------------------------------------------------
# Timers
# ---------------------------------------------------------------------------------------------
_T_RECV = 1
_T_SEND = 2


def _arm_receive_timer(p: Proc, seconds: float) -> None:
    e = [monotonic() + seconds, next(_timer_seq), _T_RECV, p, None, None]
    p.timer = e
    heapq.heappush(_timers, e)


_cancelled = 0   # entries in _timers that were cancelled but not yet popped


def _drop_timer(p: Proc) -> None:
    """Cancel the receive timeout of ``p`` (its message came first)."""
    p.timer[2] = None
    p.timer = None
    cancel_entry_counted()


def cancel_entry_counted() -> None:
    """Note one more cancelled timer entry; rebuild the heap when they are most of it, so
    that a stream of receives with long timeouts that are answered at once (every
    GenServer.call) keeps the heap small."""
    global _cancelled
    _cancelled += 1
    if _cancelled > 1024 and _cancelled * 2 > len(_timers):
        live = [e for e in _timers if e[2] is not None]
        heapq.heapify(live)
        _timers[:] = live
        _cancelled = 0


def add_send_timer(seconds: float, dest: Any, msg: Any, tref: TimerRef) -> list:
    """Schedule ``send(dest, msg)`` in ``seconds``; the entry is cancelled by setting kind None."""
    e = [monotonic() + seconds, next(_timer_seq), _T_SEND, dest, msg, tref]
    heapq.heappush(_timers, e)
    return e


def _fire_timers(now: float) -> None:
    timers = _timers
    global _cancelled
    while timers and timers[0][0] <= now:
        e = heapq.heappop(timers)
        kind = e[2]
        if kind is None:
            if _cancelled > 0:
                _cancelled -= 1
            continue
        e[2] = None
        if kind == _T_RECV:
            p = e[3]
            if p.timer is e and p.state == WAITING:
                p.timer = None
                p.resume = _TIMEOUT
                p.state = RUNNABLE
                p.rq.append(p)
        else:
            _fire_send_timer(e[3], e[4])


def _fire_send_timer(dest: Any, msg: Any) -> None:
    if dest.__class__ is Pid:
        p = dest._proc
    elif type(dest) is str:
        p = _names.get(dest)
    else:
        p = None
        if type(dest) is tuple and len(dest) == 2 and dest[1] == node_name_now():
            p = _names.get(dest[0])
    if p is not None and p.state != EXITING and p.state != DEAD:
        deliver(p, msg)


# ---------------------------------------------------------------------------------------------
# Death
# ---------------------------------------------------------------------------------------------
def kill(p: Proc, reason: Any) -> None:
    """End the live process ``p`` with ``reason``: it is dead to everyone from now on.

    Its links and monitors are told in order, iteratively (a chain of a million links does not
    recurse). A process other than the caller has its coroutine closed by the loop, which runs
    its ``finally`` blocks; one running on a detached thread is interrupted there.
    """
    global _draining
    state = p.state
    if state == EXITING or state == DEAD:
        return
    p.state = EXITING
    p.reason = reason
    if state != RUNNING:
        _to_close.append(p)
    elif _detached and p is not _current:
        _interrupt_detached(p)
    p.pid._proc = None
    _procs.pop(p.pid.id, None)
    if p.timer is not None:
        _drop_timer(p)
    _dying.append(p)
    if _draining:
        return
    _draining = True
    try:
        while _dying:
            _announce(_dying.popleft())
    finally:
        _draining = False


def _interrupt_detached(p: Proc) -> None:
    from .handoff import interrupt_when_safe

    for t, q in list(_detached.items()):
        if q is p:
            interrupt_when_safe(t)


def _announce(p: Proc) -> None:
    """Tell the world that ``p`` died: names, aliases, monitors and links."""
    reason = p.reason
    x = p.ext
    if x is not None:
        if x.name is not None:
            _names.pop(x.name, None)
        if x.aliases:
            for a in x.aliases:
                _aliases.pop(a, None)
        for ref, (target, _) in x.monitors.items():
            q = target._proc
            if q is not None and q.ext is not None:
                q.ext.monitored_by.pop(ref, None)
        pid = p.pid
        late = x.late
        # Exit signals to links go out before the monitors' Down messages, as on the BEAM.
        for other in x.links:
            q = other._proc
            if q is not None:
                q.ext.links.discard(pid)
                exit_signal(q, pid, "noproc" if late and other in late else reason, True)
        for ref, watcher in x.monitored_by.items():
            q = watcher._proc
            if q is not None:
                qx = q.ext
                shown = qx.monitors.pop(ref, (None, pid))[1] if qx is not None else pid
                if qx is not None and qx.aliases and ref in qx.aliases:
                    qx.aliases.discard(ref)   # a monitor's alias ends with it
                    _aliases.pop(ref, None)
                deliver(q, Down(ref, shown, "noproc" if late and ref in late else reason))
        x.links = set()
        x.monitors = {}
        x.monitored_by = {}
    p.mbox = None
    if _node is not None and p is _node.main:
        _node.main_reason = reason


def exit_signal(q: Proc, from_pid: Pid, reason: Any, linked: bool) -> None:
    """Deliver an exit signal from ``from_pid`` to the live process ``q``, as the BEAM does.

    "kill" sent with `Process.exit` cannot be trapped and ends ``q`` with "killed" (but "kill"
    arriving through a link, from a process that exited with it, is an ordinary reason). A
    trapping process gets ``Exit(from_pid, reason)`` as a message. Otherwise "normal" is ignored,
    unless a process sent it to itself, and any other reason ends ``q``.

    A signal is asynchronous unless a process sends it to itself: a fatal signal to a process
    that is not running marks it DOOMED and it dies when it is next scheduled (`_doom`), so the
    sender goes on first, exactly as on the BEAM.
    """
    state = q.state
    if state == EXITING or state == DEAD or state == DOOMED:
        return  # dead, or already going to die of an earlier signal, which comes first
    is_str = type(reason) is str
    if not linked and is_str and reason == "kill":
        _fatal(q, "killed")
        return
    x = q.ext
    if x is not None and x.trap:
        deliver(q, Exit(from_pid, reason))
        return
    if is_str and reason == "normal":
        if not linked and from_pid is q.pid:
            kill(q, "normal")
        return
    _fatal(q, reason)


def _fatal(q: Proc, reason: Any) -> None:
    """A signal that ends ``q``: at once when ``q`` is running (a signal to itself, or one
    from another thread), else at its next turn."""
    if q.state == RUNNING:
        kill(q, reason)
    else:
        _doom(q, reason)


def _doom(q: Proc, reason: Any) -> None:
    """``q`` (RUNNABLE or WAITING) will die with ``reason`` when the loop next picks it.

    Until then it is still in the registry and `Process.list`, as a BEAM process with a pending
    exit signal is; queries that go through its signal queue on the BEAM (`Process.alive`,
    `Process.info`) already see it dead. New links and monitors to it end in "noproc".
    """
    waiting = q.state == WAITING
    q.state = DOOMED
    q.reason = reason
    if q.timer is not None:
        _drop_timer(q)
    if waiting:
        q.rq.append(q)


def _die_doomed(p: Proc) -> None:
    """The loop picked a DOOMED process: it handles its fatal signal now, and dies."""
    p.state = RUNNABLE
    kill(p, p.reason)


def flush_signals(p: Proc) -> None:
    """Let ``p`` handle the signals already sent to it, before the caller asks about it.

    On the BEAM `is_process_alive/1` and `process_info/2` queue behind the signals the process
    has pending and wait for it to handle them, so a DOOMED process dies here (its links and
    monitors are told now); if that kills the caller through a link, the caller ends here too,
    as it would while it waited on the BEAM.
    """
    if p.state == DOOMED:
        _die_doomed(p)
        me = _current
        if me is not None:
            raise_if_dead(me)


def raise_if_dead(p: Proc) -> None:
    """After a kernel call that may have killed the calling process: stop running it now."""
    if p.state == EXITING:
        raise _Terminated()


# ---------------------------------------------------------------------------------------------
# Node lifecycle
# ---------------------------------------------------------------------------------------------
def start_node(name: str = "nonode@nohost", schedulers: int = 1) -> NodeState:
    """Reset the kernel's state for a fresh node owned by the calling thread."""
    global _current, _procs, _names, _aliases, _timers, _ids, _node, _draining
    global _contended, _owner, _low_cut, _cancelled, _low_waited, _nested
    if _node is not None:
        raise RuntimeError("a beamlet node is already running in this Python process")
    _current = None
    for q in _queues:
        q.clear()
    _procs = {}
    _names = {}
    _aliases = {}
    _timers = []
    _ids = count(1)
    _dying.clear()
    _to_close.clear()
    _inbox.clear()
    _draining = False
    _wakeup.clear()
    _detached.clear()
    _detached_reds.clear()
    _contended = False
    _low_cut = 3
    _cancelled = 0
    _low_waited = 0
    _nested = False
    _owner = get_ident()
    _node = NodeState(name, schedulers)
    return _node


def names() -> dict[str, Proc]:
    return _names


def aliases() -> dict[Ref, Proc]:
    return _aliases


def procs() -> dict[int, Proc]:
    return _procs


def runnable_count() -> int:
    """How many processes wait in the run queues (the caller, while it runs, is not counted).

    `beamlet.testing.settle` uses it to wait until a node has nothing left to do."""
    return sum(len(q) for q in _queues)


def pending_closes() -> int:
    """How many killed processes still have a coroutine to close (their ``finally`` to run)."""
    return len(_to_close)


def node_state() -> NodeState | None:
    return _node


def end_node() -> None:
    global _node, _current, _owner, _contended
    _current = None
    _node = None
    _owner = None
    _contended = False
    _detached.clear()
    _timers.clear()
    for q in _queues:
        q.clear()


def hand_in(fn: Callable[[], Any]) -> None:
    """Run ``fn`` on the owner thread between two batches (callable from any thread)."""
    _inbox.append(fn)
    _wakeup.set()


# ---------------------------------------------------------------------------------------------
# The loop
# ---------------------------------------------------------------------------------------------
def serve(node: NodeState) -> None:
    """Run the loop as the owner until the node stops or this thread is handed off.

    Whatever ends the node (the main process's end, a deadlock) is recorded on ``node`` and
    signalled through ``node.done``.
    """
    try:
        run_loop(node)
    except BaseException as e:  # noqa: BLE001 - reported to whoever waits on the node
        node.error = e
        _stop_node(node)


def _stop_node(node: NodeState) -> None:
    node.stopping = True
    node.done.set()
    _wakeup.set()
    if _detached:
        from .handoff import interrupt_when_safe

        for t in list(_detached):
            interrupt_when_safe(t)


_HANDED_OFF = 1
_STOPPING = 2
_EMPTY: deque = deque()   # stands for "no more urgent queue" in `_run_batch`


def run_loop(node: NodeState) -> None:
    """Step processes while this thread owns the kernel and the node runs."""
    me = get_ident()
    try:
        while not node.stopping:
            if _contended:
                if _owner != me:
                    return
                with _klock:
                    if _owner != me or (_detached and _reattach()):
                        return
                    q = _housekeep_and_pick()
            else:
                q = _housekeep_and_pick()
            if q is None:
                _idle(node)
            elif _run_batch(q, _BATCH, me, node, None):
                return
    except _MainDone:
        _stop_node(node)


_REATTACH_REDS = 64


def _reattach() -> bool:
    """Under the lock, on the owner: give the kernel back to a detached thread whose process is
    busy making kernel calls (it was slowed down, not stuck), so that it runs on the fast path
    again instead of paying for the lock on every call. This owner thread then ends."""
    global _owner, _current
    for t, p in _detached.items():
        if p.state == RUNNING and p.reds - _detached_reds.get(t, p.reds) >= _REATTACH_REDS:
            del _detached[t]
            _detached_reds.pop(t, None)
            _owner = t
            _current = p
            from .handoff import settle

            settle()
            _wakeup.set()
            return True
    return False


_low_waited = 0     # "normal" batches run while "low" work waited


def _housekeep_and_pick() -> deque | None:
    """Between batches: fire due timers, run work from other threads, close killed processes,
    then choose the run queue to serve ("max" and "high" strictly first; "low" waits for `_LOW_EVERY` batches of "normal"
    work, as the BEAM reschedules a low process 8 times before running it)."""
    global _low_waited
    if _timers:
        _fire_timers(monotonic())
    if _inbox:
        _run_inbox()
    if _to_close:
        _close_killed()
    qmax, qhigh, qnormal, qlow = _queues
    cut = _low_cut
    if qmax:
        return qmax
    if qhigh and cut >= 1:
        return qhigh
    if qnormal and cut >= 2:
        if qlow and cut >= 3:
            _low_waited += 1
            if _low_waited >= _LOW_EVERY:
                _low_waited = 0
                return qlow
        else:
            _low_waited = 0
        return qnormal
    if qlow and cut >= 3:
        return qlow
    return None


def _run_batch(q: deque, n: int, me: int, node: NodeState, successor: Proc | None) -> int:
    """Step up to ``n`` processes from ``q``, including ones queued during the batch: the hot
    loop (a ping-pong pair runs a whole batch in one call). The batch ends as soon as a more
    urgent queue ("max", "high") has work, so those run strictly first.

    Returns 0, or `_HANDED_OFF` when this thread was handed off during a step (it then goes
    on as ``successor``, the process whose kernel call ran this batch, or ends), or
    `_STOPPING` when the node is stopping.
    """
    global _current
    qmax, qhigh = _queues[0], _queues[1]
    if q is qmax:
        qmax = qhigh = _EMPTY
    elif q is qhigh:
        qhigh = _EMPTY
    for _ in range(n):
        if not q or qmax or qhigh:
            break
        p = q.popleft()
        if p.state != RUNNABLE:
            if p.state == DOOMED:
                _die_doomed(p)
            continue
        _current = p
        p.state = RUNNING
        try:
            r = p.coro.send(p.resume)
        except BaseException as e:  # noqa: BLE001 - an ending is a value here
            if _contended:
                code = _after_contended_step(p, None, e, me, node, successor)
                if code:
                    return code
                continue
            _step_raised(p, e)
            continue
        if _contended:
            code = _after_contended_step(p, r, None, me, node, successor)
            if code:
                return code
            continue
        p.reds += 1
        if r is _WAIT:
            continue
        if r is None and p.state == RUNNING:
            p.state = RUNNABLE
            p.resume = None
            p.rq.append(p)
            continue
        _step_yielded(p, r)
    return 0


def _after_contended_step(p: Proc, r: Any, exc: BaseException | None, me: int,
                          node: NodeState, successor: Proc | None) -> int:
    """The end of a step while the kernel is contended: the same work, under the lock, and
    the hand-back of the process if this thread was handed off during the step."""
    for attempt in (1, 2):
        try:
            with _klock:
                if _owner != me:
                    _after_detached_step(me, p, r, exc, successor)
                    return _HANDED_OFF
                if exc is not None:
                    _step_raised(p, exc)
                else:
                    p.reds += 1
                    if r is not _WAIT:
                        _step_yielded(p, r)
                return _STOPPING if node.stopping else 0
        except _Terminated:
            # Interrupted on its way out of a step that was being killed anyway.
            if node.stopping or attempt == 2:
                return _HANDED_OFF if _owner != me else _STOPPING
            exc = exc or _Terminated()
    return 0


def _step_yielded(p: Proc, r: Any) -> None:
    """A step ended with something other than a park or a plain yield."""
    if p.state == EXITING:
        _to_close.append(p)
    elif p.state == RUNNING:
        if r is None or r is _WAIT:
            p.state = RUNNABLE
            p.resume = None
            p.rq.append(p)
        else:
            _throw_in(p, TypeError(
                f"a beamlet process awaited {r!r}, which only an asyncio event loop can "
                "drive; await beamlet's own receive/sleep, or use beamlet.aio.await_"
            ))


def _step_raised(p: Proc, e: BaseException) -> None:
    """A step ended with an exception: the process returned, exited, was killed or crashed."""
    global _current
    _current = None
    t = e.__class__
    if t is StopIteration:
        _finish(p, "normal", e.value)  # type: ignore[attr-defined]
    elif t is _Terminated:
        _finished_by_signal(p)
    elif isinstance(e, ProcessExit):
        _finish(p, e.reason, None, e)
    elif isinstance(e, (KeyboardInterrupt, SystemExit)):
        # Ctrl-C (or sys.exit) in whatever process was running: the node stops, and run()
        # raises it, as a Python program expects.
        try:
            _finish(p, "shutdown", None)
        except _MainDone:
            pass
        raise e
    else:
        _crash(p, e)


def _throw_in(p: Proc, exc: BaseException) -> None:
    """Make the pending await of the process ``p`` raise ``exc`` (a rare path)."""
    global _current
    _current = p
    p.state = RUNNING
    try:
        r = p.coro.throw(exc)
    except BaseException as e:  # noqa: BLE001
        _step_raised(p, e)
        return
    if r is not _WAIT:
        _step_yielded(p, r)


def _finish(p: Proc, reason: Any, value: Any, exc: BaseException | None = None,
            crashed: bool = False) -> None:
    """The step of ``p`` ended its life: it returned, exited or (``crashed``) raised."""
    p.coro = None
    if p.state != EXITING:  # else a signal got there first, and its reason stands
        node = _node
        if node is not None and p is node.main:
            node.main_result = value
            node.main_exc = exc  # run() re-raises it rather than logging it
        elif crashed:
            log.error("Process %r raised an exception", p.pid, exc_info=exc)
        kill(p, reason)
    p.state = DEAD
    _check_main(p)


def _crash(p: Proc, e: BaseException) -> None:
    _finish(p, e, None, e, crashed=True)


def _finished_by_signal(p: Proc) -> None:
    if p.state == DEAD:
        return
    p.coro = None
    p.state = DEAD
    _check_main(p)


def _check_main(p: Proc) -> None:
    node = _node
    if node is not None and p is node.main:
        raise _MainDone()


def _after_detached_step(t: int, p: Proc, r: Any, exc: BaseException | None,
                         successor: Proc | None = None) -> None:
    """Under the lock: the step of ``p`` that ran on detached thread ``t`` has ended.

    ``successor`` is the process the thread goes on running, when the step was part of a slice
    run inside that process's kernel call.
    """
    global _current
    _detached_reds.pop(t, None)
    if _detached.pop(t, None) is None:
        return  # already handled
    if successor is not None:
        _detached[t] = successor
    from .handoff import settle

    saved = _current
    try:
        if exc is not None:
            _step_raised(p, exc)
        elif p.state == RUNNING and r is _WAIT:
            p.state = RUNNABLE  # parked while detached (cannot happen; be safe): look again
            p.resume = _RESCAN
            p.rq.append(p)
        elif r is not _WAIT:
            _step_yielded(p, r)
    finally:
        _current = saved
        settle()
        _wakeup.set()


def _close_killed() -> None:
    """Close the coroutines of processes killed by a signal, running their ``finally`` blocks."""
    global _current
    while _to_close:
        p = _to_close.popleft()
        co = p.coro
        if co is None:
            continue
        if co.cr_running:
            continue
        p.coro = None
        p.state = DEAD
        saved = _current
        _current = p
        try:
            co.close()
        except BaseException as e:  # noqa: BLE001
            log.error("Process %r failed while being stopped", p.pid, exc_info=e)
        finally:
            _current = saved
        if _node is not None and p is _node.main:
            raise _MainDone()


def _run_inbox() -> None:
    while _inbox:
        item = _inbox.popleft()
        try:
            item()
        except _MainDone:
            raise
        except BaseException as e:  # noqa: BLE001
            log.error("work handed to the node from another thread failed", exc_info=e)


def _idle(node: NodeState) -> None:
    """Nothing is runnable: sleep until the next timer or until another thread hands work in."""
    global _cancelled
    timers = _timers
    while timers and timers[0][2] is None:
        heapq.heappop(timers)
        if _cancelled > 0:
            _cancelled -= 1
    if timers:
        delay = timers[0][0] - monotonic()
        if delay > 0:
            _wakeup.wait(delay)
            _wakeup.clear()
        return
    if _inbox or _to_close:
        return
    if node.external <= 0 and not _detached and not node.handing_off:
        main = node.main
        raise Deadlock(
            "every process is waiting in receive with no timeout and nothing can wake one up "
            f"(the main process {main.pid if main else None!r} never ended)"
        )
    _wakeup.wait(0.05 if (_detached or node.handing_off) else None)
    _wakeup.clear()


def stop_all() -> None:
    """Stop every process still alive (newest first), running their ``finally`` blocks."""
    global _current
    _current = None
    for p in sorted(_procs.values(), key=lambda p: p.pid.id, reverse=True):
        if p.state == EXITING or p.state == DEAD:
            continue
        p.state = EXITING
        p.reason = "shutdown"
        p.pid._proc = None
        _to_close.append(p)
    _procs.clear()
    while _to_close:
        try:
            _close_killed()
        except _MainDone:
            pass
