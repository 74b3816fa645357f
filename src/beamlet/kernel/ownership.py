"""Thread ownership: how kernel calls work while the kernel is contended.

One thread owns the kernel and runs the loop. When the watchdog (`handoff`) finds a process
stuck in user code it *detaches* that process's thread and starts a new owner; from then until
every detached thread is back, the kernel is *contended*. In that mode every kernel entry goes
through `slow_entry`, which takes the kernel lock: on the owner thread it just runs the call,
on a detached thread it runs it as the process that thread is stepping. `receive`/`sleep` on a
detached thread take a message that is already there but never park there (`wait_contended`);
the end of a step is booked under the lock (`after_contended_step`), and a detached step that
ends hands its process back to the loop (`after_detached_step`). A detached process that turns
out to be busy in the kernel, not stuck, is given the kernel back (`reattach`).

The ownership flags themselves live in `scheduler` (the hot path reads them); this module
changes them only through the scheduler's setters.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from threading import get_ident
from typing import Any, TypeVar, cast

from . import scheduler as k
from .proc import EXITING, RUNNABLE, RUNNING, Proc
from .traps import RESCAN, TIMEOUT, WAIT, YIELD, Terminated

_REATTACH_REDS = 64

_F = TypeVar("_F", bound=Callable[..., Any])
_T = TypeVar("_T")


def slow_entry(fn: Callable[..., _T], args: tuple[Any, ...],
               kw: dict[str, Any] | None = None) -> _T:
    """Enter the kernel while it is contended: run ``fn`` under the kernel lock.

    On the owner thread that is all. On a detached thread, ``fn`` runs as the process that
    thread is stepping (the current process the owner set is put back afterwards); if that
    process was killed meanwhile it unwinds here, before it can touch anything.
    """
    me = get_ident()
    with k.klock():
        if k.owner() == me:
            return fn(*args, **(kw or {}))
        proc = k.detached().get(me)
        if proc is None:
            raise k.outside_process()
        if proc.state == EXITING:
            raise Terminated()
        saved = k.current_or_none()
        k.set_current(proc)
        try:
            result = fn(*args, **(kw or {}))
        finally:
            k.set_current(saved)
        if proc.state == EXITING:  # killed by this very call, or while it ran
            raise Terminated()
        return result


def entry(fn: _F) -> _F:
    """Decorate a kernel function that is not on the hot path: contended-safe entry."""
    # RLock._is_owned is CPython's (threading's own Condition uses it); typeshed omits it.
    owned = k.klock()._is_owned  # type: ignore[attr-defined]

    def kernel_entry(*args: Any, **kw: Any) -> Any:
        if k._contended and not owned():
            return slow_entry(fn, args, kw)
        return fn(*args, **kw)

    kernel_entry.__name__ = fn.__name__
    kernel_entry.__qualname__ = fn.__qualname__
    kernel_entry.__doc__ = fn.__doc__
    kernel_entry.__module__ = fn.__module__
    # what functools.wraps sets too; typeshed does not declare it on functions
    kernel_entry.__wrapped__ = fn  # type: ignore[attr-defined]
    kernel_entry.__annotations__ = getattr(fn, "__annotations__", {})
    return cast(_F, kernel_entry)  # same arguments and result as fn


def wait_contended(patterns: tuple[Any, ...], timeout: float | None, deadline: float | None,
                   sleeping: bool) -> Generator[Any, Any, Any]:
    """`receive` / `sleep` while the kernel is contended: the same steps, under the lock.

    A process on a detached thread takes a message that is already there, but does not park
    there (its coroutine is still running on that thread, so nobody else may resume it): it
    yields its turn instead, and its next step runs on the owner thread, where it parks.
    ``deadline`` is the receive's deadline once it has one (None the first time round).
    """
    me = get_ident()
    parked = False
    with k.klock():
        detached = k.owner() != me
        if detached:
            p = k.detached().get(me)
            if p is None:
                raise k.outside_process()
            if p.state == EXITING:
                raise Terminated()
        else:
            p = k.current()
        x = p.ext
        if x is not None and x.pending is not None and not detached:
            from .signals import AT_RECEIVE, handle_pending

            handle_pending(p, AT_RECEIVE)
        if not sleeping:
            found, msg = k.take_queued(p, patterns)
            if found:
                return msg
            if timeout == 0:
                return TIMEOUT
        if not detached:
            if timeout is not None and deadline is None:
                from time import monotonic

                deadline = monotonic() + timeout
            k.park(p, () if sleeping else (patterns or None), deadline)
            parked = True
    if not parked:
        yield YIELD
        return RESCAN
    return (yield WAIT)


def after_contended_step(p: Proc, r: Any, exc: BaseException | None, me: int,
                         node: Any, successor: Proc | None) -> int:
    """The end of a step while the kernel is contended: the same work, under the lock, and
    the hand-back of the process if this thread was handed off during the step."""
    for attempt in (1, 2):
        try:
            with k.klock():
                if k.owner() != me:
                    after_detached_step(me, p, r, exc, successor)
                    return k._HANDED_OFF
                if exc is not None:
                    k.step_raised(p, exc)
                else:
                    p.reds += 1
                    if r is not WAIT:
                        k.step_yielded(p, r)
                return k._STOPPING if node.stopping else 0
        except Terminated:
            # Interrupted on its way out of a step that was being killed anyway.
            if node.stopping or attempt == 2:
                return k._HANDED_OFF if k.owner() != me else k._STOPPING
            exc = exc or Terminated()
    return 0


def after_detached_step(t: int, p: Proc, r: Any, exc: BaseException | None,
                        successor: Proc | None = None) -> None:
    """Under the lock: the step of ``p`` that ran on detached thread ``t`` has ended.

    ``successor`` is the process the thread goes on running, when the step was part of a slice
    run inside that process's kernel call.
    """
    detached = k.detached()
    k.detached_reds().pop(t, None)
    if detached.pop(t, None) is None:
        return  # already handled
    if successor is not None:
        detached[t] = successor
    from .handoff import settle

    saved = k.current_or_none()
    try:
        if exc is not None:
            k.step_raised(p, exc)
        elif p.state == RUNNING and r is WAIT:
            p.state = RUNNABLE  # parked while detached (cannot happen; be safe): look again
            p.resume = RESCAN
            p.rq.append(p)
        elif r is not WAIT:
            k.step_yielded(p, r)
    finally:
        k.set_current(saved)
        settle()
        k.wake_loop()


def reattach() -> bool:
    """Under the lock, on the owner: give the kernel back to a detached thread whose process is
    busy making kernel calls (it was slowed down, not stuck), so that it runs on the fast path
    again instead of paying for the lock on every call. This owner thread then ends."""
    detached = k.detached()
    reds = k.detached_reds()
    for t, p in detached.items():
        if p.state == RUNNING and p.reds - reds.get(t, p.reds) >= _REATTACH_REDS:
            del detached[t]
            reds.pop(t, None)
            k.set_owner(t)
            k.set_current(p)
            from .handoff import settle

            settle()
            k.wake_loop()
            return True
    return False
