"""The time a spread stream spends around each item, beside ProcessPoolExecutor's.

    python bench/multicore/overhead.py [--items N] [--rounds K]

Items of ~0.3 µs (one `spin` step: nearly all the time is the machinery around the item)
go through `Task.async_stream(..., nodes=)` on ``cores=2``, in four ways: on the stream's
own node with a ``timeout`` (the batch runs under its guard) and without one, on the peer
only, and on both nodes; and through ``ProcessPoolExecutor(2).map`` with the chunksizes of
`run.py`. Each figure is nanoseconds of wall time per item, the best of ``--rounds``, less
the time of the same items mapped by a plain loop in the same process (the "plain" row, which
is not subtracted from itself). The ways take turns within each round, so the machine's speed
from minute to minute moves them alike.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import work  # noqa: E402 - after the path: the module the peers and workers import too

CHUNKSIZES = (100, 1000, 5000)


def plain(items: list[tuple[int, int]]) -> float:
    started = time.perf_counter()
    for x in items:
        work.item(x)
    return time.perf_counter() - started


def pool(items: list[tuple[int, int]], chunksize: int) -> float:
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(2) as executor:
        list(executor.map(work.spin, [1, 1]))   # workers up, as beamlet's peers are
        started = time.perf_counter()
        results = list(executor.map(work.item, items, chunksize=chunksize))
        took = time.perf_counter() - started
    assert len(results) == len(items)
    return took


def beamlet_ways(items: list[tuple[int, int]], rounds: int) -> dict[str, list[float]]:
    import beamlet
    from beamlet import Node, Task

    async def main() -> dict[str, list[float]]:
        (peer,) = Node.list()
        me = beamlet.node()
        ways: dict[str, tuple[list[str], float | None]] = {
            "beamlet, this node, timeout=5": ([me], 5.0),
            "beamlet, this node, no timeout": ([me], None),
            "beamlet, the peer only, timeout=5": ([peer], 5.0),
            "beamlet, both nodes, timeout=5": ([peer, me], 5.0),
        }
        seconds: dict[str, list[float]] = {"plain": []}
        for _ in range(rounds):
            seconds["plain"].append(plain(items))
            for label, (nodes, timeout) in ways.items():
                started = time.perf_counter()
                out = [r async for r in Task.async_stream(items, work.item, nodes=nodes,
                                                          timeout=timeout)]
                seconds.setdefault(label, []).append(time.perf_counter() - started)
                assert len(out) == len(items)
        return seconds

    result: dict[str, list[float]] = beamlet.run(main, cores=2)
    return result


def main(count: int, rounds: int) -> None:
    items = [(i, 1) for i in range(count)]
    seconds = beamlet_ways(items, rounds)
    for chunksize in CHUNKSIZES:
        seconds[f"ProcessPoolExecutor(2).map, chunksize={chunksize}"] = \
            [pool(items, chunksize) for _ in range(rounds)]
    base = min(seconds["plain"])
    print(f"{count:,} items of one spin step, best of {rounds}; ns per item around the item "
          f"(the plain loop's time taken off; plain: the item itself)")
    for label, values in seconds.items():
        best = min(values) if label == "plain" else min(values) - base
        print(f"  {label:48s} {best * 1e9 / count:8.0f} ns")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=5)
    options = parser.parse_args()
    if options.items <= 0 or options.rounds <= 0:
        parser.error("--items and --rounds must be positive")
    main(options.items, options.rounds)
