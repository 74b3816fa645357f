"""The scheduler and the hot path: spawn, send, receive, and the run loop that steps processes.

These live in one module on purpose. The run loop, `send` and `receive` share a handful of
module globals (`_current`, the run queues) that Python reads fastest as globals of the same
module, and they are the code every message pays for. Everything else (links, monitors, the
registry, `Process.info`) is in modules of its own and reaches in here through plain functions.

How a process runs. A process is a coroutine. The loop sends a value into it (`coro.send`); the
coroutine runs until it awaits `receive` (or `sleep`, or yields its turn) and then hands control
back by yielding `_WAIT` (parked: its state says why) or `None` (still runnable: back of the
queue). A message sent to a process that is parked in `receive` is matched against its patterns
right away, by the sender: if it matches it is handed over directly (never touching the mailbox)
and the receiver is queued to run; otherwise it joins the mailbox. So a selective receive costs
O(1) per arriving message however long the mailbox is.

Run queues. One deque per priority. The loop takes a batch (at most `_BATCH` processes) from the
highest non-empty queue, "max" and "high" strictly first; "low" gets a turn every
`_LOW_EVERY` batches of "normal" work. Between batches it fires due timers, runs work handed in
from other threads and finishes processes that were killed.

Threads. One thread drives a node today. Work from other threads enters through `_inbox` (a
deque of callables, appended atomically under the GIL) and a wake-up event; the scheduling
issue adds hand-off threads on top of the same queues.
"""

from __future__ import annotations

import heapq
import logging
import threading
import types
from collections import deque
from itertools import count
from time import monotonic
from types import FunctionType
from typing import Any, Callable

from .patterns import first_match, match
from .proc import (
    DEAD,
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

_WAIT = object()          # yielded by a process that parked itself (receive / sleep)
_TIMEOUT = object()       # resume value: the receive timed out
_RESCAN = object()        # resume value: look at the mailbox again (a pattern raised in a sender)
_UNSET: Any = object()
_CO_COROUTINE = 0x80
_CO_ITERABLE_COROUTINE = 0x100

# ---------------------------------------------------------------------------------------------
# Node state. One node runs in a Python process at a time; `start_node` resets all of this.
# ---------------------------------------------------------------------------------------------
_current: Proc | None = None            # the process being stepped (None outside the loop)
_queues: list[deque] = [deque(), deque(), deque(), deque()]   # max, high, normal, low
_procs: dict[int, Proc] = {}            # live processes by pid number
_names: dict[str, Proc] = {}            # the registry
_aliases: dict[Ref, Proc] = {}          # active aliases
_timers: list = []                      # heap of [when, seq, kind, a, b, c]; kind None = cancelled
_timer_seq = count()
_ids = count(1)
_dying: deque = deque()                 # (proc, reason) whose deaths are yet to be announced
_to_close: deque = deque()              # killed processes whose coroutines are still to close
_inbox: deque = deque()                 # callables from other threads, run by the loop
_wakeup = threading.Event()
_draining = False
_node: "NodeState | None" = None


class NodeState:
    """What `run` and `Node` need to know about the node currently running."""

    def __init__(self, name: str, schedulers: int) -> None:
        self.name = name
        self.schedulers = schedulers
        self.main: Proc | None = None
        self.main_result: Any = None
        self.main_reason: Any = None
        self.external = 0          # >0 while other threads may hand work in (no deadlock check)
        self.thread_id: int | None = None
        self.stopping = False
        self.main_exc: BaseException | None = None


class Deadlock(RuntimeError):
    """Every process waits in `receive` with no timeout, and nothing can ever wake one up."""


class _MainDone(BaseException):
    """Raised inside the loop when the main process has ended: unwinds to `run_loop`."""


class _Terminated(BaseException):
    """Unwinds a process that a signal it sent to itself has already killed.

    Its death has been announced by the time this is raised; the loop only lets it go.
    """


def outside_process() -> RuntimeError:
    return RuntimeError(
        "this beamlet call must be made from inside a beamlet process "
        "(start one with beamlet.run(fn) or Node.spawn)"
    )


def current() -> Proc:
    """The calling process; RuntimeError when called from outside any process."""
    p = _current
    if p is None:
        raise outside_process()
    return p


# ---------------------------------------------------------------------------------------------
# Spawning
# ---------------------------------------------------------------------------------------------
async def _run_sync(fn: Callable, args: tuple) -> Any:
    """The body of a process spawned from a plain callable: call it, await what it returns if
    that is awaitable (a lambda wrapping an async call, a partial of an async function)."""
    r = fn(*args)
    if isinstance(r, types.CoroutineType) or (
        hasattr(r, "__await__") and not isinstance(r, type)
    ):
        r = await r
    return r


def _coroutine_for(fn: Callable, args: tuple) -> Any:
    code = getattr(fn, "__code__", None)
    if code is None:
        code = getattr(getattr(fn, "__func__", None), "__code__", None)
    if code is not None and code.co_flags & _CO_COROUTINE:
        return fn(*args)
    if not callable(fn):
        raise TypeError(f"a process function must be callable, got {fn!r}")
    return _run_sync(fn, args)


def priority_index(priority: str) -> int:
    try:
        return PRIORITY_INDEX[priority]
    except (KeyError, TypeError):
        raise ValueError(
            f"priority must be one of 'low', 'normal', 'high', 'max', got {priority!r}"
        ) from None


def new_process(fn: Callable, args: tuple, priority: str = "normal") -> Proc:
    """Create a process and queue it to run; the caller decides about links and monitors."""
    if _current is None and (_node is None or threading.get_ident() != _node.thread_id):
        raise outside_process()
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
    if dest.__class__ is Pid:
        p = dest._proc
        if p is None or _current is None:
            if _current is None:
                raise outside_process()
            return msg
        if p.state == WAITING:
            pats = p.pats
            if pats is None:
                p.resume = msg
                p.state = RUNNABLE
                t = p.timer
                if t is not None:
                    t[2] = None
                    p.timer = None
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
    if _current is None:
        raise outside_process()
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
    t = p.timer
    if t is not None:
        t[2] = None
        p.timer = None
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
# Receiving
# ---------------------------------------------------------------------------------------------
@types.coroutine
def receive(*patterns: Any, timeout: float | None = None, default: Any = _UNSET) -> Any:
    """Remove and return the first message, in mailbox order, that matches any pattern.

    With no pattern any message matches. Messages that do not match stay where they are, in
    order. ``timeout`` is in seconds (None: wait forever; 0: only look at what is there). When
    it runs out, return ``default`` if one was given, else raise `TimeoutError`.
    """
    p = _current
    if p is None:
        raise outside_process()
    if timeout is not None and not timeout >= 0:
        raise ValueError(f"timeout must be None or >= 0 seconds, got {timeout!r}")
    while True:
        mb = p.mbox
        if mb:
            if not patterns:
                msg = mb.popleft()
                p.reds += 1
                if not p.reds & _FAIR_MASK:
                    yield None  # a fair turn for the others
                return msg
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
        p.reds += 1
        if msg is _RESCAN:
            continue
        if msg is _TIMEOUT:
            break
        return msg
    if default is _UNSET:
        raise TimeoutError(f"receive timed out after {timeout} s")
    return default


def _scan(p: Proc, mb: deque, patterns: tuple) -> int:
    """Index of the first queued message matching ``patterns``, or -1.

    When a pattern holds the ref this process created last, no message queued before that ref
    existed can contain it, so the scan starts after them (the BEAM's receive-mark trick).
    """
    start = 0
    mark = p.mark
    if mark is not None:
        for pat in patterns:
            if type(pat) is tuple and mark in pat:
                start = len(mb) - (p.enq - p.mark_at)
                if start < 0:
                    start = 0
                break
    n = len(mb)
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
    p = _current
    if p is None:
        raise outside_process()
    if seconds is not None and not seconds >= 0:
        raise ValueError(f"sleep time must be None or >= 0 seconds, got {seconds!r}")
    if seconds == 0:
        yield None
        return "ok"
    if seconds is not None:
        _arm_receive_timer(p, seconds)
    p.pats = ()
    p.state = WAITING
    while (yield _WAIT) is not _TIMEOUT:
        p.pats = ()
        p.state = WAITING
    return "ok"


@types.coroutine
def yield_turn() -> Any:
    """Let the other runnable processes run before the caller continues."""
    if _current is None:
        raise outside_process()
    yield None


def self_pid() -> Pid:
    """The pid of the calling process."""
    p = _current
    if p is None:
        raise outside_process()
    return p.pid


def make_ref() -> Ref:
    """A new unique reference."""
    p = _current
    r = Ref()
    if p is not None:
        p.mark = r
        p.mark_at = p.enq
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


def add_send_timer(seconds: float, dest: Any, msg: Any, tref: TimerRef) -> list:
    """Schedule ``send(dest, msg)`` in ``seconds``; the entry is cancelled by setting kind None."""
    e = [monotonic() + seconds, next(_timer_seq), _T_SEND, dest, msg, tref]
    heapq.heappush(_timers, e)
    return e


def _fire_timers(now: float) -> None:
    timers = _timers
    while timers and timers[0][0] <= now:
        e = heapq.heappop(timers)
        kind = e[2]
        if kind is None:
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
    its ``finally`` blocks.
    """
    global _draining
    state = p.state
    if state == EXITING or state == DEAD:
        return
    p.state = EXITING
    p.reason = reason
    if state != RUNNING:
        _to_close.append(p)
    p.pid._proc = None
    _procs.pop(p.pid.id, None)
    t = p.timer
    if t is not None:
        t[2] = None
        p.timer = None
    _dying.append(p)
    if _draining:
        return
    _draining = True
    try:
        while _dying:
            _announce(_dying.popleft())
    finally:
        _draining = False


def _announce(p: Proc) -> None:
    """Tell the world that ``p`` died: names, aliases, monitors and links, then close it."""
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
        for ref, watcher in x.monitored_by.items():
            q = watcher._proc
            if q is not None:
                shown = q.ext.monitors.pop(ref, (None, pid))[1] if q.ext is not None else pid
                deliver(q, Down(ref, shown, reason))
        for other in x.links:
            q = other._proc
            if q is not None:
                q.ext.links.discard(pid)
                exit_signal(q, pid, reason, True)
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
    """
    if q.state == EXITING or q.state == DEAD:
        return
    is_str = type(reason) is str
    if not linked and is_str and reason == "kill":
        kill(q, "killed")
        return
    x = q.ext
    if x is not None and x.trap:
        deliver(q, Exit(from_pid, reason))
        return
    if is_str and reason == "normal":
        if not linked and from_pid is q.pid:
            kill(q, "normal")
        return
    kill(q, reason)


def raise_if_dead(p: Proc) -> None:
    """After a kernel call that may have killed the calling process: stop running it now."""
    if p.state == EXITING:
        raise _Terminated()


# ---------------------------------------------------------------------------------------------
# The loop
# ---------------------------------------------------------------------------------------------
def start_node(name: str = "nonode@nohost", schedulers: int = 1) -> NodeState:
    """Reset the kernel's state for a fresh node."""
    global _current, _procs, _names, _aliases, _timers, _ids, _node, _draining
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
    _node = NodeState(name, schedulers)
    _node.thread_id = threading.get_ident()
    return _node


def names() -> dict[str, Proc]:
    return _names


def aliases() -> dict[Ref, Proc]:
    return _aliases


def procs() -> dict[int, Proc]:
    return _procs


def node_state() -> NodeState | None:
    return _node


def run_loop(node: NodeState) -> None:
    """Step processes until the main process ends (or the node is stopped)."""
    global _current
    qmax, qhigh, qnormal, qlow = _queues
    timers = _timers
    inbox = _inbox
    batches = 0
    try:
        while not node.stopping:
            if timers:
                _fire_timers(monotonic())
            if inbox:
                _run_inbox()
            if _to_close:
                _close_killed()
            if qmax:
                q = qmax
            elif qhigh:
                q = qhigh
            elif qnormal:
                batches += 1
                q = qlow if (qlow and batches % _LOW_EVERY == 0) else qnormal
            elif qlow:
                q = qlow
            else:
                _idle(node)
                continue
            n = len(q)
            if n > _BATCH:
                n = _BATCH
            for _ in range(n):
                p = q.popleft()
                if p.state != RUNNABLE:
                    continue
                _current = p
                p.state = RUNNING
                try:
                    r = p.coro.send(p.resume)
                except StopIteration as e:
                    _finish(p, "normal", e.value)
                    continue
                except ProcessExit as e:
                    _finish(p, e.reason, None, e)
                    continue
                except _Terminated:
                    _finished_by_signal(p)
                    continue
                except BaseException as e:  # noqa: BLE001 - a crash is a value here
                    _crash(p, e)
                    continue
                p.reds += 1
                if r is _WAIT:
                    if p.state == RUNNING:  # killed itself while parking: cannot happen; guard
                        p.state = RUNNABLE
                        p.rq.append(p)
                    continue
                if p.state == RUNNING:
                    if r is None:
                        p.state = RUNNABLE
                        p.resume = None
                        p.rq.append(p)
                    else:
                        _throw_in(p, _bad_await(r))
                elif p.state == EXITING:
                    _to_close.append(p)
    except _MainDone:
        pass
    finally:
        _current = None


def _bad_await(r: Any) -> BaseException:
    return TypeError(
        f"a beamlet process awaited {r!r}, which only an asyncio event loop can drive; "
        "await beamlet's own receive/sleep instead"
    )


def _throw_in(p: Proc, exc: BaseException) -> None:
    """Make the pending await of the running process ``p`` raise ``exc`` (a rare path)."""
    global _current
    _current = p
    try:
        r = p.coro.throw(exc)
    except StopIteration as e:
        _finish(p, "normal", e.value)
        return
    except ProcessExit as e:
        _finish(p, e.reason, None, e)
        return
    except _Terminated:
        _finished_by_signal(p)
        return
    except BaseException as e:  # noqa: BLE001
        _crash(p, e)
        return
    if r is _WAIT or p.state != RUNNING:
        return
    if r is None:
        p.state = RUNNABLE
        p.resume = None
        p.rq.append(p)
    else:
        _throw_in(p, _bad_await(r))


def _finish(p: Proc, reason: Any, value: Any, exc: BaseException | None = None) -> None:
    global _current
    _current = None
    p.coro = None
    if p.state == EXITING:  # a signal got there first; its reason stands
        p.state = DEAD
        _check_main(p)
        return
    node = _node
    if node is not None and p is node.main:
        node.main_result = value
        if exc is not None:
            node.main_exc = exc
    kill(p, reason)
    p.state = DEAD
    _check_main(p)


def _crash(p: Proc, e: BaseException) -> None:
    global _current
    _current = None
    p.coro = None
    if p.state == EXITING:
        p.state = DEAD
        _check_main(p)
        return
    node = _node
    if node is not None and p is node.main:
        node.main_exc = e
    else:
        log.error("Process %r raised an exception", p.pid, exc_info=e)
    kill(p, e)
    p.state = DEAD
    _check_main(p)


def _finished_by_signal(p: Proc) -> None:
    global _current
    _current = None
    p.coro = None
    p.state = DEAD
    _check_main(p)


def _check_main(p: Proc) -> None:
    node = _node
    if node is not None and p is node.main:
        node.stopping = True
        raise _MainDone()


def _close_killed() -> None:
    """Close the coroutines of processes killed by a signal, running their ``finally`` blocks."""
    global _current
    while _to_close:
        p = _to_close.popleft()
        co = p.coro
        if co is None:
            continue
        p.coro = None
        p.state = DEAD
        if co.cr_running:
            continue
        saved = _current
        _current = p
        try:
            co.close()
        except BaseException as e:  # noqa: BLE001
            log.error("Process %r failed while being stopped", p.pid, exc_info=e)
        finally:
            _current = saved
        if _node is not None and p is _node.main:
            _node.stopping = True
            raise _MainDone()


def _run_inbox() -> None:
    while _inbox:
        fn = _inbox.popleft()
        try:
            fn()
        except BaseException as e:  # noqa: BLE001
            log.error("work handed to the node from another thread failed", exc_info=e)


def _idle(node: NodeState) -> None:
    """Nothing is runnable: sleep until the next timer or until another thread hands work in."""
    timers = _timers
    while timers and timers[0][2] is None:
        heapq.heappop(timers)
    if timers:
        delay = timers[0][0] - monotonic()
        if delay > 0:
            _wakeup.wait(delay)
            _wakeup.clear()
        return
    if _inbox or _to_close:
        return
    if node.external <= 0:
        main = node.main
        raise Deadlock(
            "every process is waiting in receive with no timeout and nothing can wake one up "
            f"(the main process {main.pid if main else None!r} never ended)"
        )
    _wakeup.wait()
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


def end_node() -> None:
    global _node, _current
    _current = None
    _node = None
    _timers.clear()
    for q in _queues:
        q.clear()


def hand_in(fn: Callable[[], Any]) -> None:
    """Run ``fn`` on the node's thread between two steps (callable from any thread)."""
    _inbox.append(fn)
    _wakeup.set()
