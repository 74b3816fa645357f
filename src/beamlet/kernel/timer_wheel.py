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
from typing import Any

FINE = 0.001          # seconds per fine slot (the BEAM's timers have 1 ms resolution too)
NEAR = 0.128          # seconds per coarse slot; deadlines closer than this go to fine slots
_PER_FINE = 1.0 / FINE
_PER_COARSE = 1.0 / NEAR

# Slot numbers are whole floats (``(deadline * per_slot) // 1.0``): float floor division
# costs a fifth of what ``int()`` does, and the numbers only serve as dict keys and heap order.
_fine: dict[float, dict[Any, float]] = {}      # fine slot number -> {key: deadline}
fine_order: list[float] = []                   # heap of the numbers in _fine
_coarse: dict[float, dict[Any, float]] = {}    # coarse slot number -> {key: deadline}
coarse_order: list[float] = []                 # heap of the numbers in _coarse
_by_deadline = itemgetter(1)
# When the earliest slot begins (inf: no slot is filed): before then `due` has nothing to
# give, so the loop asks for it only once this time has come (a stream of calls keeps a
# 5-second timeout armed, and the loop would otherwise ask twice per call).
first_due = float("inf")
_NEVER = first_due


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


# The coarse slot armed last, and the deadlines it takes: a stream of calls with the same
# timeout files into one coarse slot for 128 ms, and two comparisons find it.
_hot_slot: dict[Any, float] = {}
_hot_from = 0.0
_hot_until = 0.0


def arm_at(key: Any, deadline: float, within: float) -> dict[Any, float]:
    """File ``key`` to be due at ``deadline`` (a `time.monotonic` time), which is about
    ``within`` seconds from now (that picks the level); return its slot."""
    global _hot_slot, _hot_from, _hot_until
    if within < NEAR:
        n = (deadline * _PER_FINE) // 1.0
        slot = _fine.get(n)
        if slot is None:
            slot = _fine[n] = {}
            heappush(fine_order, n)
            _refresh_first_due()
    elif _hot_from <= deadline < _hot_until:
        slot = _hot_slot
    else:
        n = (deadline * _PER_COARSE) // 1.0
        slot = _coarse.get(n)
        if slot is None:
            slot = _coarse[n] = {}
            heappush(coarse_order, n)
            _refresh_first_due()
        _hot_slot, _hot_from, _hot_until = slot, n * NEAR, (n + 1.0) * NEAR
    slot[key] = deadline
    return slot


def _refresh_first_due() -> None:
    """`first_due` again, after a slot was filed or taken out."""
    global first_due
    fine = fine_order[0] * FINE if fine_order else _NEVER
    coarse = coarse_order[0] * NEAR if coarse_order else _NEVER
    first_due = fine if fine < coarse else coarse


def _forget_hot() -> None:
    global _hot_slot, _hot_from, _hot_until
    _hot_slot, _hot_from, _hot_until = {}, 0.0, 0.0


def _live(key: Any, slot: dict[Any, float]) -> bool:
    """Whether the entry of ``key`` in ``slot`` is its running timer (not cancelled)."""
    if key.__class__ is SendTimer:
        return key.slot is slot
    return key.timer is slot


def _cascade(now: float) -> None:
    """Move the entries of coarse slots whose time has begun into fine slots."""
    limit = now * _PER_COARSE
    while coarse_order and coarse_order[0] <= limit:
        slot = _coarse.pop(heappop(coarse_order), None)
        if slot is _hot_slot:
            _forget_hot()
        if not slot:
            continue
        for key, deadline in slot.items():
            if not _live(key, slot):
                continue
            n = (deadline * _PER_FINE) // 1.0
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
    """Remove and return the keys due by ``now``, in deadline order (ties: arming order).

    The caller clears each key's slot attribute as it fires it."""
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
            if _live(key, slot):
                out.append(key)
        if slot:
            break  # the rest of this slot is due later within the same millisecond
        heappop(fine_order)
        del _fine[n]
    _refresh_first_due()
    return out


def next_deadline() -> float | None:
    """The earliest time something may be due (None: no timer is armed). A cancelled entry
    can make this early; the loop then wakes, finds nothing due, and asks again."""
    dropped = False   # (emptied slots off the heaps' fronts: `first_due` moves)
    while fine_order and not _fine.get(fine_order[0]):
        _fine.pop(heappop(fine_order), None)
        dropped = True
    if not fine_order:
        while coarse_order and not _coarse.get(coarse_order[0]):
            if _coarse.pop(heappop(coarse_order), None) is _hot_slot:
                _forget_hot()
            dropped = True
    if dropped:
        _refresh_first_due()
    if fine_order:
        return min(_fine[fine_order[0]].values())
    if coarse_order:
        return coarse_order[0] * NEAR
    return None


def armed() -> int:
    """How many timers are running (cancelled entries not counted); for statistics and tests."""
    return (sum(_live(k, s) for s in _fine.values() for k in s)
            + sum(_live(k, s) for s in _coarse.values() for k in s))


def reset() -> None:
    """Forget every timer (a new node starts)."""
    _fine.clear()
    fine_order.clear()
    _coarse.clear()
    coarse_order.clear()
    _forget_hot()
    _refresh_first_due()
