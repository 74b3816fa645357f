"""Hand-off: no process can freeze the others, even one that never awaits.

CPython cannot suspend a coroutine in the middle of ``while True: pass`` or ``time.sleep(10)``.
So instead of taking the CPU away from such a process, beamlet takes the *scheduler* away from
it, the way Go hands off its P when a goroutine blocks in a system call:

1. The watchdog thread wakes every `POLL` seconds and looks at the owner thread's current
   process (it rests while the owner thread sleeps: nothing runs there to be stuck). If it
   is still inside the same step as at the previous look (same process, same reduction
   count), and still is one poll later, in its own code, the owner is stuck. (A batch of
   steps that has lasted a whole poll is ended, so that timers and sockets are served.)
2. It declares the kernel *contended* (from now on every kernel entry checks ownership, see
   scheduler.py) and waits until the stuck thread is seen outside kernel code. After that
   moment the thread cannot touch kernel state without the kernel lock.
3. Holding the lock, it marks the thread *detached* (it goes on running that one process) and
   starts a new owner thread that runs the loop for everybody else.
4. A detached thread makes its kernel calls under the kernel lock, as its process. When the
   step finally ends, the thread hands the process back to the owner's run queue and ends.
   If instead its process turns out to be busy making kernel calls (it was slowed down, say
   by page faults while the heap grew, not stuck), the owner gives the kernel back to that
   thread and ends itself, so the busy process is on the fast path again. With no thread
   detached, the kernel is uncontended again and the common path is back to one flag check
   per kernel call.

Killing a process that runs on a detached thread raises `_Terminated` in that thread
(``PyThreadState_SetAsyncExc``): a pure-Python loop stops at once; a blocking C call (a sleep, a
socket read) stops when the call returns. Either way the process is dead to the world at once.

Priorities across a hand-off follow the BEAM: a detached process of priority "high" or "max"
occupies a scheduler. When as many of them are stuck as the node has schedulers, the owner runs
only processes at least as urgent as the least urgent of those hogs (``+S 1`` with a ``:high``
busy loop starves ``:normal`` on the BEAM too); "normal" and "low" hogs never restrict others,
since the BEAM would preempt them by reductions.

User code that the kernel itself calls counts as kernel code here: a pattern predicate passed to
`receive` or a ``finally`` block run when a killed process is closed must be quick.
"""

from __future__ import annotations

import ctypes
import gc
import os
import sys
import threading
import time
from typing import Any

from . import node as node_mod, scheduler as k
from .node import NodeState
from .proc import EXITING, RUNNING, Proc
from .traps import Terminated

POLL = 0.002               # how often the watchdog looks; a step is stuck after 1-2 polls
MAX_DETACHED = 256         # at most this many processes may be stuck at once
SWITCH_INTERVAL = 0.001    # the GIL switch interval while a node runs (CPython's default: 5 ms)

_here = os.path.dirname(os.path.abspath(__file__))
KERNEL_FILES = frozenset(
    os.path.join(_here, f)
    for f in ("scheduler.py", "signals.py", "ownership.py", "registry.py", "timers.py",
              "timer_wheel.py", "process_api.py", "patterns.py", "terms.py", "proc.py",
              "handoff.py", "node.py", "traps.py", "isolation.py")
)
_STEP_CODES = frozenset({k.run_loop.__code__, k._run_batch.__code__})


def interrupt(thread_ident: int, exc_type: type) -> None:
    """Raise ``exc_type`` in another thread at its next bytecode (CPython's async exception)."""
    ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(thread_ident), ctypes.py_object(exc_type))


def interrupt_when_safe(thread_ident: int) -> None:
    """Raise `_Terminated` in a detached thread, unless it is in kernel code right now.

    Called with the kernel lock held, so a thread seen in user code can only reach the kernel
    through `slow_entry`, which checks for its process's death before doing anything. A thread
    seen in kernel code notices the death itself, on its way out (`slow_entry` or the step's
    end); it is never interrupted halfway through changing kernel state.
    """
    if thread_place(thread_ident) == "user":
        interrupt(thread_ident, Terminated)


def thread_place(thread_ident: int) -> str:
    """Where a scheduler thread is: "user" code inside a step, "kernel" code, or "gone"."""
    f = sys._current_frames().get(thread_ident)
    if f is None:
        return "gone"
    top = f
    while f is not None:
        code = f.f_code
        if code in _STEP_CODES:
            return "kernel" if f is top else "user"
        if code.co_filename in KERNEL_FILES:
            return "kernel"
        f = f.f_back
    return "gone"


def recompute_low_cut() -> None:
    """Which run queues the owner may serve, given the high-priority processes now stuck."""
    node = node_mod.current
    schedulers = node.schedulers if node is not None else 1
    hogs = sorted(p.prio for p in k.detached().values() if p.prio <= 1)
    k.set_low_cut(hogs[schedulers - 1] if len(hogs) >= schedulers else 3)


def settle() -> None:
    """After a detached thread returned or a hand-off ended: leave contended mode if we can."""
    recompute_low_cut()
    node = node_mod.current
    if not k.detached() and (node is None or not node.handing_off):
        k.set_contended(False)


class Watchdog:
    """The thread that notices a stuck owner and hands the kernel to a new thread."""

    def __init__(self, node: NodeState) -> None:
        self.node = node
        self.thread = threading.Thread(target=self._run, name="beamlet-watchdog", daemon=True)
        self.saved_interval = sys.getswitchinterval()
        self.collections = 0   # cyclic GC runs started: a long one is not a stuck process

    def _gc_phase(self, phase: str, info: dict[Any, Any]) -> None:
        self.collections += 1

    def start(self) -> None:
        sys.setswitchinterval(min(self.saved_interval, SWITCH_INTERVAL))
        gc.callbacks.append(self._gc_phase)
        self.node.watched = True
        self.thread.start()

    def stop(self) -> None:
        self.node.stopping = True
        self.node.watched = False
        self.node.watchdog_alarm.set()
        if self.thread.is_alive() and self.thread is not threading.current_thread():
            self.thread.join()
        if self._gc_phase in gc.callbacks:
            gc.callbacks.remove(self._gc_phase)
        sys.setswitchinterval(self.saved_interval)

    def _run(self) -> None:
        node = self.node
        last: Proc | None = None
        last_reds = -1
        last_gc = -1
        seen_sleep = -1
        seen_batch = -1
        while not node.stopping:
            time.sleep(POLL)
            if node.asleep:
                if node.sleeps == seen_sleep:  # the same sleep as at the last look
                    self._rest()
                seen_sleep = node.sleeps
                last = None
                continue
            batch = k.batch_count()
            if batch == seen_batch:   # a batch as long as a poll: timers and sockets wait
                k.end_batch()
            seen_batch = batch
            gcs = self.collections
            if gcs != last_gc:  # a collection started or ended since the last look
                last_gc = gcs
                last = None
                continue
            p = k.current_or_none()
            if p is None or p.coro is None or (p.state != RUNNING and p.state != EXITING):
                last = None
                continue
            if any(q is p for q in k.detached().values()):
                last = None  # the owner is running a call forwarded by a detached process
                continue
            if p is last and p.reds == last_reds:
                last = None
                if len(k.detached()) < MAX_DETACHED:
                    try:
                        self._hand_off(p)
                    except Exception:  # noqa: BLE001 - never let the watchdog die
                        k.log.exception("beamlet watchdog: hand-off failed")
            else:
                last, last_reds = p, p.reds

    def _rest(self) -> None:
        """Wait until the owner thread wakes up: a sleeping owner runs no step to watch.

        Each look takes the GIL from whatever thread runs Python, a thread that a hand-off
        detached from a long step above all (a look every `POLL` slowed pure-Python work by
        up to a third). Only a sleep seen at two looks in a row counts, so a loop that runs
        in short bursts (a ping-pong with another node) does not wake the watchdog twice per
        poll."""
        node = self.node
        alarm = node.watchdog_alarm
        alarm.clear()
        node.watchdog_resting = True
        if node.asleep and not node.stopping:  # (after the flag: a wake-up now sets the alarm)
            alarm.wait()
        node.watchdog_resting = False

    def _hand_off(self, p: Proc) -> None:
        node = self.node
        t = k.owner()
        if t is None:
            return
        reds = p.reds
        # Confirm first, disturbing nobody: in its own code now and one poll later, with no
        # kernel call in between. A step that only stalled (page faults while the heap grows,
        # a slow allocation) has moved on by then.
        if thread_place(t) != "user":
            return
        time.sleep(POLL)
        if k.current_or_none() is not p or p.reds != reds or thread_place(t) != "user":
            return
        node.handing_off = True
        k.set_contended(True)
        try:
            # From here on a kernel entry by `t` takes the slow path; wait until `t` is seen
            # outside kernel code after that moment, so none of its fast-path calls is in flight.
            deadline = time.monotonic() + 0.5
            while True:
                place = thread_place(t)
                if place == "user":
                    break
                if (place == "gone" or node.stopping or k.current_or_none() is not p
                        or p.reds != reds or time.monotonic() > deadline):
                    return
                time.sleep(0.0002)
            with k.klock():
                if (node.stopping or k.owner() != t or k.current_or_none() is not p
                        or p.reds != reds
                        or p.coro is None or not p.coro.cr_running):
                    return
                # `t` is inside p's step, in user code, and from now on can enter the kernel
                # only through the lock we hold: it is safe to give the kernel to a new thread.
                _detach(node, t, p)
                if p.state == EXITING:  # killed while stuck on the old owner: stop it now
                    interrupt_when_safe(t)
            k.wake_loop()
        finally:
            node.handing_off = False
            settle()


def _detach(node: NodeState, t: int, p: Proc) -> None:
    """Under the lock: thread ``t`` goes on running ``p``'s step, detached; a new thread
    becomes the owner and runs the loop for everybody else."""
    k.detached()[t] = p
    k.detached_reds()[t] = p.reds
    k.set_current(None)
    new = threading.Thread(target=_new_owner, args=(node,), name="beamlet-scheduler",
                           daemon=True)
    node.threads.append(new)
    new.start()
    node.handoffs += 1
    k.set_owner(new.ident)
    recompute_low_cut()


def hand_off() -> bool:
    """Give the scheduler to a new thread now, and keep this one for the rest of the running
    step: what the watchdog does a few milliseconds into a step that does not await, done
    at once by a process that knows its step will be long (CPU-bound work, a blocking call),
    so that the others never wait for it, and without the watchdog's looks, each of which
    takes the GIL from the running thread.

    Returns whether it happened: not on a node without hand-off (``run(...,
    handoff=False)``), nor on a thread that is detached already, nor when `MAX_DETACHED`
    threads are. Called from a process (the caller's next await ends the detached step)."""
    node = node_mod.current
    me = threading.get_ident()
    with k.klock():
        if node is None or not node.watched or node.stopping or k.owner() != me:
            return False
        p = k.current()
        if len(k.detached()) >= MAX_DETACHED:
            return False
        k.set_contended(True)
        _detach(node, me, p)
    k.wake_loop()
    return True


def _new_owner(node: NodeState) -> None:
    """Body of a scheduler thread started by a hand-off."""
    with k.klock():  # wait until the watchdog has made this thread the owner
        pass
    k.serve(node)


def stop_detached(node: NodeState, timeout: float = 2.0) -> list[threading.Thread]:
    """At the node's end: stop the processes still running on detached threads and wait for
    every scheduler thread to end. Returns the threads still alive after ``timeout`` (stuck in
    a blocking call that an async exception cannot interrupt until the call returns)."""
    deadline = time.monotonic() + timeout
    me = threading.current_thread()
    while True:
        with k.klock():
            for t in list(k.detached()):
                interrupt_when_safe(t)
        alive = [t for t in node.threads if t.is_alive() and t is not me]
        if not alive or time.monotonic() > deadline:
            return alive
        alive[0].join(0.01)
