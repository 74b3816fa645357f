"""The node's timers: a two-level timer wheel of slots that are dicts.

Every `GenServer.call` arms a receive timeout and, almost always, cancels it a few
microseconds later when the reply comes. So arming and cancelling must be cheap and must not
leave garbage behind; firing may cost more. A binary heap of entries (the earlier design) pays
a push, a list per entry and a periodic rebuild to shed cancelled entries; here a timer is a key
in the dict of its slot (``slot[key] = deadline``): arming is one dict store, cancelling one dict
delete, and nothing cancelled lingers.

Slots. A deadline less than `NEAR` seconds away goes into a fine slot of `FINE` seconds; a
later one into a coarse slot of `NEAR` seconds, whose entries are moved into fine slots when it
comes due (a hierarchical wheel: a 5-second GenServer timeout that is cancelled never moves).
Slots are kept in two heaps of slot numbers; a slot dict lives as long as its time has not come.

Keys are whatever the kernel wants to be told about: a `Proc` (its receive or sleep timeout) or
a `SendTimer` (``send_after``/``start_timer``). `due` returns the keys whose deadline has passed,
in deadline order, ties in the order they were armed. This module is the only writer of the
wheel; the scheduler is its only caller on the hot path.
"""

from __future__ import annotations

from heapq import heappop, heappush
from operator import itemgetter
from time import monotonic
from typing import Any

FINE = 0.001          # seconds per fine slot (the BEAM's timers have 1 ms resolution too)
NEAR = 0.128          # seconds per coarse slot; deadlines closer than this go to fine slots
_PER_FINE = 1.0 / FINE
_PER_COARSE = 1.0 / NEAR

_fine: dict[int, dict[Any, float]] = {}     # fine slot number -> {key: deadline}
fine_order: list[int] = []                  # heap of the numbers in _fine
_coarse: dict[int, dict[Any, float]] = {}   # coarse slot number -> {key: deadline}
coarse_order: list[int] = []               # heap of the numbers in _coarse
_by_deadline = itemgetter(1)


class SendTimer:
    """A timer that sends ``msg`` to ``dest`` when it fires (`beamlet.Process.send_after`).

    ``slot`` is the dict it is filed in while it runs, None once it fired or was cancelled.
    """

    __slots__ = ("dest", "msg", "deadline", "slot")

    def __init__(self, dest: Any, msg: Any) -> None:
        self.dest = dest
        self.msg = msg
        self.deadline = 0.0
        self.slot: dict[Any, float] | None = None

    def __repr__(self) -> str:
        state = "running" if self.slot is not None else "done"
        return f"<SendTimer to {self.dest!r} {state}>"


def arm(key: Any, seconds: float) -> dict[Any, float]:
    """File ``key`` to be due in ``seconds``; return its slot (what `disarm` takes)."""
    return arm_at(key, monotonic() + seconds, seconds)


def arm_at(key: Any, deadline: float, within: float) -> dict[Any, float]:
    """File ``key`` to be due at ``deadline`` (a `time.monotonic` time), which is about
    ``within`` seconds from now (that picks the level); return its slot."""
    if within < NEAR:
        n = int(deadline * _PER_FINE)
        slot = _fine.get(n)
        if slot is None:
            slot = _fine[n] = {}
            heappush(fine_order, n)
    else:
        n = int(deadline * _PER_COARSE)
        slot = _coarse.get(n)
        if slot is None:
            slot = _coarse[n] = {}
            heappush(coarse_order, n)
    slot[key] = deadline
    return slot


def disarm(key: Any, slot: dict[Any, float]) -> None:
    """Cancel the timer of ``key`` filed in ``slot`` (it must be there)."""
    del slot[key]


def deadline_of(key: Any, slot: dict[Any, float]) -> float | None:
    """When the timer of ``key`` in ``slot`` is due, or None if it is not filed there."""
    return slot.get(key)


def _cascade(now: float) -> None:
    """Move the entries of coarse slots whose time has begun into fine slots."""
    limit = now * _PER_COARSE
    while coarse_order and coarse_order[0] <= limit:
        slot = _coarse.pop(heappop(coarse_order), None)
        if not slot:
            continue
        for key, deadline in slot.items():
            n = int(deadline * _PER_FINE)
            fine = _fine.get(n)
            if fine is None:
                fine = _fine[n] = {}
                heappush(fine_order, n)
            fine[key] = deadline
            if key.__class__ is SendTimer:
                key.slot = fine
            else:
                key.timer = fine


def due(now: float) -> list[Any]:
    """Remove and return the keys due by ``now``, in deadline order (ties: arming order)."""
    if coarse_order and coarse_order[0] <= now * _PER_COARSE:
        _cascade(now)
    out: list[Any] = []
    limit = now * _PER_FINE
    while fine_order and fine_order[0] <= limit:
        n = fine_order[0]
        slot = _fine.get(n)
        if not slot:
            heappop(fine_order)
            _fine.pop(n, None)
            continue
        ready = sorted((e for e in slot.items() if e[1] <= now), key=_by_deadline)
        for key, _ in ready:
            del slot[key]
            out.append(key)
        if slot:
            break  # the rest of this slot is due later within the same millisecond
        heappop(fine_order)
        del _fine[n]
    return out


def next_deadline() -> float | None:
    """The earliest time something may be due (None: no timer is armed)."""
    while fine_order and not _fine.get(fine_order[0]):
        _fine.pop(heappop(fine_order), None)
    if fine_order:
        return min(_fine[fine_order[0]].values())
    while coarse_order and not _coarse.get(coarse_order[0]):
        _coarse.pop(heappop(coarse_order), None)
    if coarse_order:
        return coarse_order[0] * NEAR
    return None


def armed() -> int:
    """How many timers are filed (for `Process.info`-style statistics and tests)."""
    return sum(len(s) for s in _fine.values()) + sum(len(s) for s in _coarse.values())


def reset() -> None:
    """Forget every timer (a new node starts)."""
    _fine.clear()
    fine_order.clear()
    _coarse.clear()
    coarse_order.clear()
