"""The scheduler and the hot path: spawn, send, receive, and the run loop that steps processes.

These live in one module on purpose. The run loop, `send` and `receive` share a handful of
module globals (`_current`, the run queues) that Python reads fastest as globals of the same
module, and they are the code every message pays for (measured: moving the ownership flags to
another module costs ping-pong ~5%). Everything else has a module of its own: deaths, exit
signals, links and monitors in `signals`, the contended (multi-thread) path in `ownership`, the
watchdog in `handoff`, timers in `timer_wheel`, the node's record and tables in `node`, the
values a process yields to the loop in `traps`.

How a process runs. A process is a coroutine. The loop sends a value into it (`coro.send`); the
coroutine runs until it awaits `receive` (or `sleep`, or yields its turn) and then hands control
back by yielding a trap: `WAIT` (parked: its state says why) or `YIELD` (still runnable: back
of the queue). A message sent to a process that is parked in `receive` is matched against its
patterns right away, by the sender: if it matches it is handed over directly (never touching
the mailbox) and the receiver is queued to run; otherwise it joins the mailbox. So a selective
receive costs O(1) per arriving message however long the mailbox is.

Messages are isolated (`isolation`): `send` copies the mutable containers in a message, so no
two processes share mutable state; a node started with ``isolation="share"`` passes messages
by reference.

Run queues. One deque per priority. The loop runs a batch (at most `_BATCH` steps) from the
highest non-empty queue, "max" and "high" strictly first: a batch ends as soon as a more urgent
queue has work, or when the watchdog finds it has lasted longer than its poll (`end_batch`).
"low" waits `_LOW_EVERY` batches of "normal" work. Between batches the loop fires due timers,
runs work handed in from other threads and closes killed processes. A
DOOMED process (a fatal exit signal is pending) dies when the loop picks it.

Preemption. A process that takes queued messages one after another yields every 256; one that
sends or spawns in a loop without awaiting runs a slice of the others from inside its call
every 1,024 calls (`_maybe_preempt`), as the BEAM would preempt it by reductions.

Threads. Exactly one thread *owns* the kernel at a time (`_owner`). A process that runs too
long without awaiting keeps its thread; the watchdog in `handoff` then makes that thread
*detached* and starts a new owner. While any thread is detached the kernel is *contended*:
every kernel entry checks `_contended` first and then goes through `ownership.slow_entry`,
which serialises the threads' kernel work under `_klock`. Uncontended, the common path pays
one global read per kernel call. The ownership flags below are read on the hot path, so they
live here; this module is their only writer (`ownership` and `handoff` call its setters).
"""

from __future__ import annotations

import logging
import threading
import types
from collections import deque
from collections.abc import Callable, Generator
from itertools import count
from threading import get_ident
from time import monotonic
from types import FunctionType
from typing import Any

from . import bodies, node as _node_mod, timer_wheel
from .isolation import (
    isolate as _isolate,
    isolate_message,
    messages,
    share as _shared,
    share_message,
)
from .node import (
    NodeState,
    aliases as _aliases,
    inbox as _inbox,
    names as _names,
    procs as _procs,
    queues as _queues,
    to_close as _to_close,
    wakeup as _wakeup,
)
from .patterns import first_match, match
from .proc import DEAD, DOOMED, EXITING, PRIORITY_INDEX, RUNNABLE, RUNNING, WAITING, Proc
from .terms import NoProc, Pid, ProcessExit, Ref, RemotePid
from .timer_wheel import SendTimer
from .traps import RESCAN, TIMEOUT, UNREAD, WAIT, YIELD, MainDone, Terminated

log = logging.getLogger("beamlet")

_BATCH = 200
_batch_count = 0          # batches begun by the loop (see `end_batch`)
_LOW_EVERY = 8
_FAIR_MASK = 255          # a process taking queued messages yields every 256 of them
_SLICE_MASK = 1023        # a process sending/spawning lets others run every 1024 calls
_SLICE = 64               # steps of other processes run in such a slice

_UNSET: Any = object()
_CO_COROUTINE = 0x80



class Deadlock(RuntimeError):
    """Every process waits in `receive` with no timeout, and nothing can ever wake one up."""


# ---------------------------------------------------------------------------------------------
# The state the hot path reads. `start_node` resets it.
# ---------------------------------------------------------------------------------------------
_current: Proc | None = None            # the process the owner thread is stepping
_ids = count(1)                         # pid numbers
_copy: Callable[[Any], Any] = _isolate  # isolates a value (`_shared` if isolation="share")
_copy_msg: Callable[[Any], Any] = isolate_message  # the same, counting a message
_pending = 0                            # processes with signals they sent themselves, unhandled
_receive_slow = False                   # _contended or _pending: `receive` takes its slow path
_low_waited = 0                         # "normal" batches run while "low" work waited

# Ownership (see the module docstring, `ownership` and `handoff`).
_contended = False                      # some thread is detached: kernel entries take the lock
_owner: int | None = None               # ident of the thread that owns the kernel
_klock = threading.RLock()              # held by the owner while it changes state, if contended
# RLock._is_owned is CPython's (threading's own Condition uses it); typeshed omits it
_owned = _klock._is_owned               # type: ignore[attr-defined]
_detached: dict[int, Proc] = {}         # detached thread ident -> the process it is stepping
_detached_reds: dict[int, int] = {}     # its reductions when it was detached
_low_cut = 3                            # the owner runs queues 0.._low_cut (see handoff.py)
_nested = False                         # a slice of other processes runs inside a kernel call


def outside_process() -> RuntimeError:
    return RuntimeError(
        "this beamlet call must be made from inside a beamlet process "
        "(start one with beamlet.run(fn) or ThreadedNode.spawn)"
    )


def current() -> Proc:
    """The calling process (a kernel call costs it a reduction); RuntimeError when called from
    outside any process."""
    p = _current
    if p is None:
        raise outside_process()
    p.reds += 1
    return p


def current_or_none() -> Proc | None:
    """The process being stepped by the owner thread, if any (no reduction counted)."""
    return _current


# ---------------------------------------------------------------------------------------------
# The writers of the ownership state (called by `ownership` and `handoff`)
# ---------------------------------------------------------------------------------------------
def set_current(p: Proc | None) -> None:
    global _current
    _current = p


def set_contended(flag: bool) -> None:
    global _contended, _receive_slow
    _contended = flag
    _receive_slow = flag or _pending > 0


def set_owner(thread_ident: int | None) -> None:
    global _owner
    _owner = thread_ident


def count_pending(change: int) -> None:
    """One process more (+1) or fewer (-1) has self-sent signals to handle (`signals.pend`);
    `receive` looks for them only while some process has."""
    global _pending, _receive_slow
    _pending += change
    _receive_slow = _contended or _pending > 0


def set_low_cut(cut: int) -> None:
    global _low_cut
    _low_cut = cut


def owner() -> int | None:
    return _owner


def contended() -> bool:
    return _contended


def detached() -> dict[int, Proc]:
    """Detached thread ident -> its process (mutated only under `_klock`)."""
    return _detached


def detached_reds() -> dict[int, int]:
    return _detached_reds


def klock() -> threading.RLock:
    return _klock


# ---------------------------------------------------------------------------------------------
# Spawning
# ---------------------------------------------------------------------------------------------
def _coroutine_for(fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
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


def new_process(fn: Callable[..., Any], args: tuple[Any, ...], priority: str = "normal") -> Proc:
    """Create a process and queue it to run; the caller decides about links and monitors.

    Its arguments are isolated like a message: the new process gets its own copy of any
    mutable container among them, as a BEAM process gets a copy on its own heap."""
    if _contended and not _owned():
        return slow_entry(new_process, (fn, args, priority))
    me = _current
    if me is None:
        if _node_mod.current is None or get_ident() != _owner:
            raise outside_process()
    else:
        r = me.reds = me.reds + 1
        if not r & _SLICE_MASK and _maybe_preempt(me):
            return slow_entry(new_process, (fn, args, priority))
    prio = 2 if priority == "normal" else priority_index(priority)
    rq = _queues[prio]
    if args:
        args = _copy(args)
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


def spawn(fn: Callable[..., Any], *args: Any, priority: str = "normal") -> Pid:
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

    The receiver gets its own copy of every mutable container in ``msg`` (see `isolation`).
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
        copy = _copy_msg(msg)
        if p.state == WAITING:
            pats = p.pats
            if pats is None:
                p.resume = copy
                p.state = RUNNABLE
                p.timer = None  # a timeout it had is cancelled (see `timer_wheel`)
                p.rq.append(p)
                return msg
            if pats:
                _offer(p, pats, copy)
                return msg
        if _pending and p is me:
            _queue(p, copy)  # to itself: behind any signals it sent itself
            return msg
        mb = p.mbox
        if mb is None:
            mb = p.mbox = deque()
        mb.append(copy)
        p.enq += 1
        return msg
    _send_other(dest, _copy_msg(msg))
    return msg


def _offer(p: Proc, pats: tuple[Any, ...], msg: Any) -> None:
    """Deliver to a process waiting with patterns: hand over if it matches, else queue."""
    try:
        hit = first_match(pats, msg)
    except Exception:
        # A predicate raised: queue the message and let the receiver rescan in its own context,
        # where the predicate raises again and crashes the receiver, not the sender.
        _queue(p, msg)
        _wake(p, RESCAN)
        return
    if hit:
        _wake(p, msg)
    else:
        _queue(p, msg)
        if p.resume is not UNREAD:
            # On the BEAM it would be scheduled to look at the message and go on waiting:
            # until its turn comes, a question about it finds it running.
            p.resume = UNREAD
            p.rq.append(p)


def _queue(p: Proc, msg: Any) -> None:
    x = p.ext
    if x is not None and x.pending is not None and p.state == RUNNING:
        signals.pend(p, ("msg", msg))  # behind the signals it sent itself
        return
    queue_now(p, msg)


def queue_now(p: Proc, msg: Any) -> None:
    """Append ``msg`` to the mailbox of ``p`` (not WAITING), ahead of any pending signals."""
    mb = p.mbox
    if mb is None:
        mb = p.mbox = deque()
    mb.append(msg)
    p.enq += 1


def _wake(p: Proc, value: Any) -> None:
    """Make a waiting process runnable, resuming it with ``value``. One marked UNREAD is in
    its run queue already (see `_offer`): that place serves."""
    queued = p.resume is UNREAD
    p.resume = value
    p.state = RUNNABLE
    p.timer = None
    if not queued:
        p.rq.append(p)


def deliver(p: Proc, msg: Any) -> None:
    """Put ``msg`` (already isolated) in the mailbox of the live process ``p``: the kernel's
    own sends (Exit and Down messages, timers) use this."""
    if p.state == WAITING:
        pats = p.pats
        if pats is None:
            _wake(p, msg)
            return
        if pats:
            _offer(p, pats, msg)
            return
    _queue(p, msg)




def isolated(msg: Any) -> Any:
    """``msg`` as a receiver gets it: copied unless the node shares messages (and counted
    among the node's messages)."""
    return _copy_msg(msg)


def messages_sent() -> int:
    """How many messages have been sent in this Python process: processes' sends, messages
    from other threads and nodes, timer messages (and exit signals or Downs whose reason is
    not a str, which are copied the same way): what a dashboard's messages/s is made of."""
    return messages()


def _send_other(dest: Any, msg: Any) -> None:
    """`send` to anything but a pid; ``msg`` is already isolated."""
    t = type(dest)
    if t is Ref:  # an alias: how GenServer replies travel
        p = _aliases.get(dest)
        if p is not None:
            deliver(p, msg)
        return
    if t is RemotePid or t in _remote_addresses:  # (a reply to another node's caller)
        if _remote is not None:
            _remote(dest, msg)
        return
    if t is str:
        p = _names.get(dest)
        if p is None:
            raise NoProc(f"cannot send to {dest!r}: no process is registered under that name")
        deliver(p, msg)
        return
    if t is tuple and len(dest) == 2 and type(dest[0]) is str:
        name, node_name = dest
        if node_name == _node_mod.name():
            p = _names.get(name)
            if p is not None:
                deliver(p, msg)
        elif _remote is not None:
            _remote(dest, msg)
        return  # without distribution: unreachable, the message is lost as in Erlang
    if isinstance(dest, Ref):
        p = _aliases.get(dest)
        if p is not None:
            deliver(p, msg)
        return
    if isinstance(dest, Pid):
        q = dest._proc
        if q is not None:
            deliver(q, msg)
        return
    raise TypeError(f"invalid destination {dest!r}: expected a Pid, a name (str) or (name, node)")


_remote: Callable[[Any, Any], None] | None = None   # routes sends to other nodes (dist)


_remote_addresses: tuple[type, ...] = ()  # other destinations the router takes (remote aliases)


def set_remote_router(router: Callable[[Any, Any], None] | None,
                      addresses: tuple[type, ...] = ()) -> None:
    """Install (or, with None, remove) what carries a message to another node: it is called
    on the owner thread with a `RemotePid`, a ``(name, node)`` of another node or an instance
    of one of ``addresses`` (the layer's own address types: another node's aliases), and the
    isolated message. The distribution layer is its only user; the kernel knows no protocol."""
    global _remote, _remote_addresses
    _remote = router
    _remote_addresses = addresses if router is not None else ()


def send_from_outside(dest: Any, msg: Any) -> None:
    """`send` for work handed in from another thread (`beamlet.ThreadedNode.send`): on the owner
    thread between batches, with no process running."""
    _send_other(dest, isolated(msg))


def send_owned(dest: Any, msg: Any) -> None:
    """`send_from_outside` for a value nobody else holds (decoded off a wire just now): it is
    counted as a message but not copied, since no other process can see it."""
    msg = share_message(msg)
    if dest.__class__ is Pid:  # (every message from another node to a pid: first)
        p = dest._proc
        if p is not None:
            deliver(p, msg)
        return
    _send_other(dest, msg)


def node_name_now() -> str:
    return _node_mod.name()


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
    if _nested or _contended or _node_mod.current is None or get_ident() != _owner:
        return _contended
    _nested = True
    try:
        _run_slice(me)
    finally:
        _nested = False
    node = _node_mod.current
    if (me.state == EXITING and not _contended) or (node is not None and node.stopping):
        raise Terminated()  # killed meanwhile, or the node ended (its main process returned)
    return _contended


def _run_slice(me: Proc) -> None:
    global _current, _contended
    tid = get_ident()
    node = _node_mod.current
    handed_off = False
    try:
        q = _housekeep_and_pick()
        if q is not None and node is not None:
            cut = me.prio if me.prio < 2 else 3
            if any(q is _queues[i] for i in range(cut + 1)):
                handed_off = _run_batch(q, _SLICE, tid, node, me) == _HANDED_OFF
    except MainDone:
        if node is not None:
            stop_node(node)
        set_contended(True)  # so that the loop looks at the node after this step
    finally:
        if not handed_off:
            with _klock:  # (see _run_batch: a detached thread may be in a kernel call)
                _current = me


# ---------------------------------------------------------------------------------------------
# Receiving
# ---------------------------------------------------------------------------------------------
@types.coroutine
def receive(*patterns: Any, timeout: float | None = None,
            default: Any = _UNSET) -> Generator[Any, Any, Any]:
    """Remove and return the first message, in mailbox order, that matches any pattern.

    With no pattern any message matches. Messages that do not match stay where they are, in
    order. ``timeout`` is in seconds (None: wait forever; 0: only look at what is there). When
    it runs out, return ``default`` if one was given, else raise `TimeoutError`.
    """
    if timeout is not None:
        if not timeout >= 0:
            raise ValueError(f"timeout must be None or >= 0 seconds, got {timeout!r}")
        deadline = None   # a monotonic time once the timer is armed
    while True:
        if _receive_slow and (msg := (yield from _receive_slow_path(
                patterns, timeout, None if timeout is None else deadline))) is not _GO_ON:
            pass  # the contended path took a message, timed out or parked
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
                        yield YIELD  # a fair turn for the others
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
                        yield YIELD
                    return msg
            if timeout is not None:
                if deadline is None:
                    if timeout == 0:
                        break
                    deadline = monotonic() + timeout
                    p.timer = timer_wheel.arm_at(p, deadline, timeout)
                else:
                    left = deadline - monotonic()
                    if left <= 0:
                        break
                    p.timer = timer_wheel.arm_at(p, deadline, left)
            p.pats = patterns or None
            p.state = WAITING
            msg = yield WAIT
        if msg is RESCAN:
            continue  # look again; a timer keeps its first deadline
        if msg is TIMEOUT:
            break
        return msg
    if default is _UNSET:
        raise TimeoutError(f"receive timed out after {timeout} s")
    return default


_GO_ON: Any = object()   # from `_receive_slow_path`: go on with the ordinary path


def _receive_slow_path(patterns: tuple[Any, ...], timeout: float | None,
                       deadline: float | None) -> Generator[Any, Any, Any]:
    """The start of `receive` while `_receive_slow` is set: contended, the whole receive step
    under the lock; else, the caller first handles the signals it sent itself, if it has any,
    and goes on (`_GO_ON`). One flag read keeps both out of the ordinary path."""
    if _contended and not _owned():
        return (yield from wait_contended(patterns, timeout, deadline, False))
    p = _current
    if p is not None:
        x = p.ext
        if x is not None and x.pending is not None:
            signals.handle_pending(p, 1)  # AT_RECEIVE
    return _GO_ON


def _scan(p: Proc, mb: deque[Any], patterns: tuple[Any, ...]) -> int:
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


def take_queued(p: Proc, patterns: tuple[Any, ...]) -> tuple[bool, Any]:
    """Remove the first queued message of ``p`` that matches (any, with no patterns):
    ``(True, msg)``, or ``(False, None)`` when none does. For the contended path."""
    mb = p.mbox
    if mb:
        i = 0 if not patterns else _scan(p, mb, patterns)
        if i >= 0:
            msg = mb[i]
            del mb[i]
            p.reds += 1
            return True, msg
    return False, None


def park(p: Proc, patterns: tuple[Any, ...] | None, deadline: float | None) -> None:
    """Make ``p`` WAITING for ``patterns`` (None: any message; (): nothing, a sleep), with a
    timer due at ``deadline`` (a `monotonic` time) unless that is None."""
    if deadline is not None:
        p.timer = timer_wheel.arm_at(p, deadline, deadline - monotonic())
    p.pats = patterns
    p.state = WAITING


@types.coroutine
def sleep(seconds: float | None) -> Generator[Any, Any, Any]:
    """Suspend the calling process for ``seconds`` (None: forever); messages keep queueing."""
    if seconds is not None and not seconds >= 0:
        raise ValueError(f"sleep time must be None or >= 0 seconds, got {seconds!r}")
    if seconds == 0:
        yield from yield_turn()
        return "ok"
    deadline = None if seconds is None else monotonic() + seconds
    while True:
        if _contended and not _owned():
            r = yield from wait_contended((), seconds, deadline, True)
        else:
            p = _current
            if p is None:
                raise outside_process()
            if deadline is not None and monotonic() >= deadline:
                return "ok"
            park(p, (), deadline)
            r = yield WAIT
        if r is TIMEOUT:
            return "ok"


@types.coroutine
def yield_turn() -> Generator[Any, Any, Any]:
    """Let the other runnable processes run before the caller continues."""
    if not _contended and _current is None:
        raise outside_process()
    yield YIELD


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
    return Ref() if p is None else Ref(p.pid.id, p.enq)


def exit(reason: Any) -> Any:
    """End the calling process with ``reason`` by raising `ProcessExit`.

    Code may catch it (as Elixir's ``catch :exit``); uncaught, links and monitors see ``reason``.
    """
    raise ProcessExit(reason)


# ---------------------------------------------------------------------------------------------
# Timers (the wheel is in `timer_wheel`; these are the kernel's uses of it)
# ---------------------------------------------------------------------------------------------
def drop_timer(p: Proc) -> None:
    """Cancel the receive/sleep timeout of ``p`` (its message, or a signal, came first): the
    wheel skips an entry whose key no longer names its slot (see `timer_wheel`)."""
    p.timer = None


def add_send_timer(seconds: float, dest: Any, msg: Any) -> SendTimer:
    """Schedule ``send(dest, msg)`` in ``seconds`` (``msg`` already isolated)."""
    t = SendTimer(dest, msg)
    t.deadline = monotonic() + seconds
    t.slot = timer_wheel.arm_at(t, t.deadline, seconds)
    return t


def cancel_send_timer(t: SendTimer) -> None:
    t.slot = None


def _fire_timers(now: float) -> None:
    for key in timer_wheel.due(now):
        if key.__class__ is SendTimer:
            key.slot = None
            _fire_send_timer(key.dest, key.msg)
        else:
            p = key
            p.timer = None
            if p.state == WAITING:
                _wake(p, TIMEOUT)


def _fire_send_timer(dest: Any, msg: Any) -> None:
    if dest.__class__ is Pid:
        p = dest._proc
    elif type(dest) is str:
        p = _names.get(dest)
    else:
        p = None
        if type(dest) is tuple and len(dest) == 2 and dest[1] == _node_mod.name():
            p = _names.get(dest[0])
    if p is not None and p.state != EXITING and p.state != DEAD:
        deliver(p, msg)


# ---------------------------------------------------------------------------------------------
# Node lifecycle
# ---------------------------------------------------------------------------------------------
def start_node(name: str = "nonode@nohost", schedulers: int = 1,
               isolation: str = "copy") -> NodeState:
    """Reset the kernel's state for a fresh node owned by the calling thread.

    ``isolation`` is "copy" (messages are isolated, the default) or "share" (passed by
    reference, for programs that never mutate what they send and want the last few percent).
    """
    global _current, _ids, _contended, _owner, _low_cut, _low_waited, _nested, _copy, _pending
    global _receive_slow, _copy_msg
    if isolation not in ("copy", "share"):
        raise ValueError(f"isolation must be 'copy' or 'share', got {isolation!r}")
    node = _node_mod.begin(name, schedulers)
    _current = None
    _ids = count(1)
    timer_wheel.reset()
    signals.reset()
    _detached.clear()
    _detached_reds.clear()
    _contended = False
    _low_cut = 3
    _low_waited = 0
    _nested = False
    _copy = _isolate if isolation == "copy" else _shared
    _copy_msg = isolate_message if isolation == "copy" else share_message
    _pending = 0
    _receive_slow = False
    _owner = get_ident()
    return node


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
    """How many killed processes still have a coroutine to close (their ``finally`` to run),
    plus the kernel work queued for the loop's next turn (`hand_in`)."""
    return len(_to_close) + len(_inbox)


def node_state() -> NodeState | None:
    return _node_mod.current


def end_node() -> None:
    global _current, _owner
    _current = None
    _owner = None
    set_contended(False)
    _detached.clear()
    timer_wheel.reset()
    _node_mod.end()


def wake_loop() -> None:
    """Wake the owner thread if it idles (something changed that it should look at)."""
    _wakeup.set()


def hand_in(fn: Callable[[], Any]) -> None:
    """Run ``fn`` on the owner thread between two batches (callable from any thread)."""
    _inbox.append(fn)
    _wakeup.set()


def batch_count() -> int:
    """How many batches the loop has begun (the watchdog tells a long one by this)."""
    return _batch_count


def end_batch() -> None:
    """End the running batch after the step running now (callable from any thread).

    Steps of a few milliseconds each (CPU-bound work that yields now and then) would make a
    batch of `_BATCH` steps last a second, and timers, sockets and work handed in wait for
    the batch's end; the watchdog ends a batch that has run longer than its poll."""
    _queues[0].append(_BATCH_BREAK)


def after_this_step(fn: Callable[[], Any]) -> None:
    """Run ``fn`` on the owner thread as soon as the step running now ends.

    A marker in the "max" run queue ends the running batch at the next step (a batch stops as
    soon as a more urgent queue has work), the loop then runs the handed-in work, and finds the
    marker dead. The hot loop pays nothing for it."""
    _inbox.append(fn)
    end_batch()


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
        stop_node(node)


def stop_node(node: NodeState) -> None:
    """Mark the node as stopping and wake everything that waits for that."""
    node.stopping = True
    node.done.set()
    _wakeup.set()
    if _detached:
        from .handoff import interrupt_when_safe

        for t in list(_detached):
            interrupt_when_safe(t)


_HANDED_OFF = 1
_STOPPING = 2
_BATCH_BREAK = Proc(None, None, 0, None)   # a dead entry, see `after_this_step`
_BATCH_BREAK.state = DEAD
_EMPTY: deque[Any] = deque()   # stands for "no more urgent queue" in `_run_batch`


def run_loop(node: NodeState) -> None:
    """Step processes while this thread owns the kernel and the node runs."""
    global _batch_count
    me = get_ident()
    try:
        while not node.stopping:
            if _contended:
                if _owner != me:
                    return
                with _klock:
                    if _owner != me or (_detached and reattach()):
                        return
                    q = _housekeep_and_pick()
            else:
                q = _housekeep_and_pick()
            if q is None:
                _idle(node)
                continue
            _batch_count += 1
            if _run_batch(q, _BATCH, me, node, None):
                return
    except MainDone:
        stop_node(node)


def _housekeep_and_pick() -> deque[Any] | None:
    """Between batches: fire due timers, run work from other threads, serve the sockets that
    are ready (when any is watched), close killed processes, then choose the run queue to
    serve ("max" and "high" strictly first; "low" waits for `_LOW_EVERY` batches of "normal"
    work, as the BEAM reschedules a low process 8 times before running it)."""
    global _low_waited
    now = monotonic()
    if timer_wheel.first_due <= now:  # (never, with no timer armed: see `timer_wheel`)
        _fire_timers(now)
    if _inbox:
        _run_inbox()
    if _wakeup.watching:
        _wakeup.poll()  # sockets ready now (see `io`)
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


def _run_batch(q: deque[Any], n: int, me: int, node: NodeState, successor: Proc | None) -> int:
    """Step up to ``n`` processes from ``q``, including ones queued during the batch: the hot
    loop (a ping-pong pair runs a whole batch in one call). The batch ends as soon as a more
    urgent queue ("max", "high") has work, so those run strictly first.

    Returns 0, or `_HANDED_OFF` when this thread was handed off during a step (it then goes
    on as ``successor``, the process whose kernel call ran this batch, or ends), or
    `_STOPPING` when the node is stopping.
    """
    global _current
    # Contended (a thread is handed off): a detached thread's kernel call sets the current
    # process to its own and back under the lock, so the loop must switch processes under
    # it too, or that call would put back a process the loop has left. Contention begins
    # only by detaching the owner thread, so it cannot begin during this batch.
    locked = _contended
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
                signals.die_doomed(p)
            elif p.resume is UNREAD and p.state == WAITING:
                p.resume = None  # it has looked at what arrived (see `_offer`)
            elif p is _BATCH_BREAK:
                break            # (a batch of the "max" queue itself: see `end_batch`)
            continue
        if locked:
            with _klock:
                _current = p
                p.state = RUNNING
        else:
            _current = p
            p.state = RUNNING
        try:
            r = p.coro.send(p.resume)
        except BaseException as e:  # noqa: BLE001 - an ending is a value here
            if _contended:
                code = after_contended_step(p, None, e, me, node, successor)
                if code:
                    return code
                continue
            step_raised(p, e)
            continue
        if _contended:
            code = after_contended_step(p, r, None, me, node, successor)
            if code:
                return code
            continue
        p.reds += 1
        if r is WAIT:
            continue
        if (r is YIELD or r is None) and p.state == RUNNING:
            p.state = RUNNABLE
            p.resume = None
            p.rq.append(p)
            continue
        step_yielded(p, r)
    return 0


def step_yielded(p: Proc, r: Any) -> None:
    """A step ended with something other than a park or a plain yield."""
    if p.state == EXITING:
        _to_close.append(p)
    elif p.state == RUNNING:
        if r is YIELD or r is None or r is WAIT:
            p.state = RUNNABLE
            p.resume = None
            p.rq.append(p)
        else:
            _throw_in(p, TypeError(
                f"a beamlet process awaited {r!r}, which only an asyncio event loop can "
                "drive; await beamlet's own receive/sleep, or use beamlet.aio.await_"
            ))


def step_raised(p: Proc, e: BaseException) -> None:
    """A step ended with an exception: the process returned, exited, was killed or crashed."""
    global _current
    _current = None
    t = e.__class__
    if t is StopIteration:
        # e is a StopIteration here (checked by class, to stay fast); its value is the result
        _finish(p, "normal", e.value)  # type: ignore[attr-defined]
    elif t is Terminated:
        _finished_by_signal(p)
    elif isinstance(e, ProcessExit):
        _finish(p, e.reason, None, e)
    elif isinstance(e, (KeyboardInterrupt, SystemExit)):
        # Ctrl-C (or sys.exit) in whatever process was running: the node stops, and run()
        # raises it, as a Python program expects.
        try:
            _finish(p, "shutdown", None)
        except MainDone:
            pass
        raise e
    else:
        _finish(p, e, None, e, crashed=True)


def _throw_in(p: Proc, exc: BaseException) -> None:
    """Make the pending await of the process ``p`` raise ``exc`` (a rare path)."""
    global _current
    _current = p
    p.state = RUNNING
    try:
        r = p.coro.throw(exc)
    except BaseException as e:  # noqa: BLE001
        step_raised(p, e)
        return
    if r is not WAIT:
        step_yielded(p, r)


def _finish(p: Proc, reason: Any, value: Any, exc: BaseException | None = None,
            crashed: bool = False) -> None:
    """The step of ``p`` ended its life: it returned, exited or (``crashed``) raised."""
    p.coro = None
    if p.state != EXITING:  # else a signal got there first, and its reason stands
        node = _node_mod.current
        if node is not None and p is node.main:
            node.main_result = value
            node.main_exc = exc  # run() re-raises it rather than logging it
        elif crashed:
            log.error("Process %r raised an exception", p.pid, exc_info=exc)
        signals.kill(p, reason)  # each link and monitor gets its own copy of it
    p.state = DEAD
    _check_main(p)


def _finished_by_signal(p: Proc) -> None:
    if p.state == DEAD:
        return
    p.coro = None
    p.state = DEAD
    _check_main(p)


def _check_main(p: Proc) -> None:
    node = _node_mod.current
    if node is not None and p is node.main:
        raise MainDone()


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
        node = _node_mod.current
        if node is not None and p is node.main:
            raise MainDone()


def _run_inbox() -> None:
    while _inbox:
        item = _inbox.popleft()
        try:
            item()
        except MainDone:
            raise
        except BaseException as e:  # noqa: BLE001
            log.error("work handed to the node from another thread failed", exc_info=e)


def _idle(node: NodeState) -> None:
    """Nothing is runnable: sleep until the next timer or until another thread hands work in."""
    when = timer_wheel.next_deadline()
    if when is not None:
        delay = when - monotonic()
        if delay > 0:
            _sleep(node, delay)
        return
    if _inbox or _to_close:
        return
    if node.external <= 0 and not _detached and not node.handing_off:
        main = node.main
        raise Deadlock(
            "every process is waiting in receive with no timeout and nothing can wake one up "
            f"(the main process {main.pid if main else None!r} never ended)"
        )
    _sleep(node, 0.05 if (_detached or node.handing_off) else None)


def _sleep(node: NodeState, timeout: float | None) -> None:
    """The owner thread sleeps until woken or ``timeout`` (None: no limit). The watchdog
    rests during a long sleep (see `handoff`), so it is told when the sleep ends."""
    if node.stopping:  # (asked since the loop looked: its wake-up may be drained already)
        return
    node.sleeps += 1
    node.asleep = True
    try:
        # (no spinning beside a handed-off thread: it would take the GIL from it at every poll)
        _wakeup.wait(timeout, spin=not _detached)
    finally:
        node.asleep = False
        if node.watchdog_resting:
            node.watchdog_alarm.set()
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
        except MainDone:
            pass


# The contended path and deaths live in their own modules; they import this one, so they come
# last. The names bound here are what the hot path above calls.
from . import signals  # noqa: E402
from .ownership import (  # noqa: E402
    after_contended_step,
    reattach,
    slow_entry as slow_entry,  # re-exported: signals enters the kernel through k.slow_entry
    wait_contended,
)

__all__ = [
    "Deadlock", "current", "deliver", "exit", "make_ref", "new_process", "receive", "self_pid",
    "send", "sleep", "spawn", "yield_turn",
]
