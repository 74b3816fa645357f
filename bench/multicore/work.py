"""The work the multi-core benchmarks map, importable by every side (beamlet's peers and
ProcessPoolExecutor's workers unpickle these functions by reference)."""

from __future__ import annotations

import time

_SPIN_PER_SECOND: list[int] = []


def spin(count: int) -> int:
    """Pure-Python work: a loop of ``count`` additions."""
    total = 0
    for i in range(count):
        total += i
    return total


def calibrate(seconds: float) -> int:
    """How many `spin` steps take ``seconds`` on this machine (measured once, best of 5)."""
    if not _SPIN_PER_SECOND:
        best = float("inf")
        for _ in range(5):
            started = time.perf_counter()
            spin(200_000)
            best = min(best, time.perf_counter() - started)
        _SPIN_PER_SECOND.append(int(200_000 / best))
    return max(1, int(_SPIN_PER_SECOND[0] * seconds))


def item(pair: tuple[int, int]) -> int:
    """One item of a map: ``pair`` is (value, spin steps)."""
    value, steps = pair
    return spin(steps) + value
