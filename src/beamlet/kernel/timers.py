"""Timers that send messages: ``send_after``, ``start_timer``, ``read_timer``, ``cancel_timer``.

Timers fire from the run loop in deadline order, ties in creation order, so a 0-second timer's
message arrives after a `send` made right after it (as on the BEAM). A timer aimed at a pid is
cancelled when that process dies; one aimed at a name resolves the name when it fires.
"""

from __future__ import annotations

from time import monotonic
from typing import Any

from . import scheduler as k
from .ownership import entry
from .terms import Pid, Ref, TimerRef


def _check(seconds: Any) -> float:
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise TypeError(f"a timer needs a time in seconds, got {seconds!r}")
    if not seconds >= 0:
        raise ValueError(f"a timer's time must be >= 0 seconds, got {seconds!r}")
    return float(seconds)


def _check_dest(dest: Any) -> None:
    if not (isinstance(dest, Pid) or type(dest) is str or
            (type(dest) is tuple and len(dest) == 2 and type(dest[0]) is str)):
        raise TypeError(f"a timer's destination must be a Pid or a name, got {dest!r}")


def _start(dest: Any, msg: Any, seconds: Any, tagged: bool) -> TimerRef:
    k.current()
    secs = _check(seconds)
    _check_dest(dest)
    tref = TimerRef()
    msg = k.isolated(msg)
    tref.entry = k.add_send_timer(secs, dest, ("timeout", tref, msg) if tagged else msg)
    return tref


@entry
def send_after(dest: Any, msg: Any, seconds: float) -> TimerRef:
    """Send ``msg`` to ``dest`` after ``seconds``; return a ref for `cancel_timer`/`read_timer`."""
    return _start(dest, msg, seconds, False)


@entry
def start_timer(dest: Any, msg: Any, seconds: float) -> TimerRef:
    """Like `send_after`, but the message is ``("timeout", tref, msg)`` (Erlang's start_timer)."""
    return _start(dest, msg, seconds, True)


def _left(tref: Any) -> float | bool:
    if not isinstance(tref, Ref):
        raise TypeError(f"expected a TimerRef, got {tref!r}")
    if not isinstance(tref, TimerRef):
        return False  # a ref that never named a timer: nothing to cancel, as in Erlang
    t = tref.entry
    if t is None or t.slot is None:
        return False
    dest = t.dest
    if isinstance(dest, Pid) and dest._proc is None:
        k.cancel_send_timer(t)  # its target died: the timer died with it
        return False
    return max(0.0, t.deadline - monotonic())


@entry
def read_timer(tref: TimerRef) -> float | bool:
    """Seconds left before the timer fires, or False if it fired or was cancelled."""
    k.current()
    return _left(tref)


@entry
def cancel_timer(tref: TimerRef, info: bool = True) -> float | bool | str:
    """Cancel the timer: the seconds it had left, or False if it already fired or was cancelled
    (with ``info=False``: just "ok", as Erlang's ``cancel_timer(ref, info: false)``)."""
    k.current()
    left = _left(tref)
    if left is not False:
        k.cancel_send_timer(tref.entry)
    return left if info else "ok"
