"""Multi-core benchmarks: beamlet's `cores=` beside ProcessPoolExecutor (and Ray if installed).

    python bench/multicore/run.py [--quick] [--rounds N]

Every measurement runs in a fresh interpreter (as a user's script would), the sides taking
turns round after round; the table shows each figure's median over the rounds.

- cpu: 200 items of ~20 ms of pure-Python work each, mapped with `Task.async_stream` on
  ``cores=1`` and on ``cores=2`` (``nodes=Node.list() + [node()]``), and with
  ``ProcessPoolExecutor(2).map``: wall seconds.
- small: 100,000 items of ~10 µs each: items/s for beamlet ``cores=2`` and for
  ProcessPoolExecutor with each chunksize tried (its best is the one compared).
- start: seconds from the call of ``beamlet.run(main, cores=2)`` until ``main`` runs.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import work  # noqa: E402 - after the path: the module the workers import too

CHUNKSIZES = (10, 100, 1000, 5000)


def beamlet_map(cores: int, count: int, steps: int, timeout: float | None) -> float:
    """Wall seconds of a `Task.async_stream` map of ``count`` items over ``cores`` nodes."""
    import beamlet
    from beamlet import Node, Task

    items = [(i, steps) for i in range(count)]

    async def main() -> float:
        nodes = Node.list() + [beamlet.node()] if cores > 1 else None
        started = time.perf_counter()
        results = [r async for r in Task.async_stream(items, work.item, nodes=nodes,
                                                      timeout=timeout)]
        took = time.perf_counter() - started
        base = work.spin(steps)   # once: the check must not cost what the map cost
        assert [r[1] for r in results] == [base + i for i in range(count)]
        return took

    took: float = beamlet.run(main, cores=cores)
    return took


def pool_map(count: int, steps: int, chunksize: int) -> float:
    from concurrent.futures import ProcessPoolExecutor

    items = [(i, steps) for i in range(count)]
    with ProcessPoolExecutor(2) as pool:
        list(pool.map(work.spin, [1, 1]))   # workers up, as beamlet's peers are
        started = time.perf_counter()
        results = list(pool.map(work.item, items, chunksize=chunksize))
        took = time.perf_counter() - started
    assert len(results) == count
    return took


def ray_map(count: int, steps: int) -> float:
    import ray  # type: ignore[import-not-found]

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    remote = ray.remote(work.item)
    ray.get([remote.remote((0, 1)) for _ in range(4)])
    started = time.perf_counter()
    ray.get([remote.remote((i, steps)) for i in range(count)])
    took = time.perf_counter() - started
    ray.shutdown()
    return took


def start_time() -> float:
    """Seconds from `beamlet.run(main, cores=2)` to ``main`` running (fresh interpreter)."""
    started = time.perf_counter()
    import beamlet

    async def main() -> float:
        assert len(beamlet.Node.list()) == 1
        return time.perf_counter() - started

    took: float = beamlet.run(main, cores=2)
    return took


def one(kind: str, args: list[str]) -> float:
    if kind == "beamlet":
        cores, count, steps = int(args[0]), int(args[1]), int(args[2])
        return beamlet_map(cores, count, steps, 5.0)
    if kind == "pool":
        return pool_map(int(args[0]), int(args[1]), int(args[2]))
    if kind == "ray":
        return ray_map(int(args[0]), int(args[1]))
    if kind == "start":
        return start_time()
    raise SystemExit(f"unknown measurement {kind}")


def cpu_seconds() -> float:
    """CPU time of this process and of its children reaped so far (beamlet's peers, the
    pool's workers): what a run cost the machine, whatever share of it the machine gave."""
    me, children = resource.getrusage(resource.RUSAGE_SELF), \
        resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime


cpu_used: dict[str, list[float]] = {}


def measure(kind: str, *args: Any, label: str | None = None) -> float | None:
    """Wall seconds of one measurement in a fresh interpreter; its CPU seconds (all its
    processes) go to `cpu_used` under ``label``."""
    command = [sys.executable, __file__, "--one", kind, *map(str, args)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        print(f"  {kind} {args}: failed: {done.stderr.strip().splitlines()[-1:]}")
        return None
    wall, cpu = json.loads(done.stdout.strip().splitlines()[-1])
    if label is not None:
        cpu_used.setdefault(label, []).append(cpu)
    return float(wall)


def has_ray() -> bool:
    done = subprocess.run([sys.executable, "-c", "import ray"], capture_output=True)
    return done.returncode == 0


def main(quick: bool, rounds: int) -> None:
    cpu_count, small_count = (40, 20_000) if quick else (200, 100_000)
    # the work's size is measured once, here: every side then does the same work
    cpu_steps, small_steps = work.calibrate(0.02), work.calibrate(0.00001)
    ray = has_ray()
    figures: dict[str, list[float]] = {}

    def add(label: str, kind: str, *args: Any) -> None:
        value = measure(kind, *args, label=label)
        if value is not None:
            figures.setdefault(label, []).append(value)

    for _ in range(rounds):
        add("cpu beamlet cores=1", "beamlet", 1, cpu_count, cpu_steps)
        add("cpu beamlet cores=2", "beamlet", 2, cpu_count, cpu_steps)
        add("cpu pool", "pool", cpu_count, cpu_steps, 1)
        if ray:
            add("cpu ray", "ray", cpu_count, cpu_steps)
        add("small beamlet cores=2", "beamlet", 2, small_count, small_steps)
        for chunksize in CHUNKSIZES:
            add(f"small pool chunksize={chunksize}", "pool", small_count, small_steps,
                chunksize)
        add("start", "start")
    median = {label: statistics.median(values) for label, values in figures.items()}
    report(median, cpu_count, small_count, rounds)


def report(m: dict[str, float], cpu_count: int, small_count: int, rounds: int) -> None:
    print(f"medians of {rounds} round(s); os.cpu_count() = {os.cpu_count()}; an item of "
          f"~20 ms is {work.calibrate(0.02):,} steps of spin(), ~10 us {work.calibrate(1e-5)}")
    one_core, two_cores = m.get("cpu beamlet cores=1"), m.get("cpu beamlet cores=2")
    pool = m.get("cpu pool")
    print(f"CPU-bound map, {cpu_count} items x ~20 ms (wall seconds):")
    print(f"  beamlet cores=1 {one_core:.2f}  cores=2 {two_cores:.2f}  "
          f"ProcessPoolExecutor(2) {pool:.2f}" if one_core and two_cores and pool else m)
    if one_core and two_cores and pool:
        print(f"  speed-up cores=2 / cores=1: {one_core / two_cores:.2f}x (target >= 1.8x); "
              f"ProcessPoolExecutor time / beamlet's: {pool / two_cores:.2f} (target >= 0.9)")
    if "cpu ray" in m:
        print(f"  Ray (2 CPUs): {m['cpu ray']:.2f}")
    pools = {k: small_count / v for k, v in m.items() if k.startswith("small pool")}
    beamlet_rate = small_count / m["small beamlet cores=2"] if "small beamlet cores=2" in m \
        else None
    print(f"Small items, {small_count} x ~10 us (items/s):")
    for label, rate in pools.items():
        print(f"  ProcessPoolExecutor {label.split()[-1]}: {rate:,.0f}")
    if beamlet_rate and pools:
        best = max(pools.values())
        print(f"  beamlet cores=2: {beamlet_rate:,.0f}  ({beamlet_rate / best:.2f}x the "
              f"pool's best; target >= 1.0x)")
    if "start" in m:
        print(f"Start of cores=2 until main runs: {m['start']:.3f} s (target <= 0.5 s)")
    print("CPU seconds used by each run, all its processes (median; start-up included):")
    for label, values in cpu_used.items():
        print(f"  {label}: {statistics.median(values):.2f}")
    load = os.getloadavg()[0]
    print(f"load average (1 min) at the end: {load:.2f} on {os.cpu_count()} CPUs: with others' "
          "work running, no side gets two whole cores")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--one", nargs="+")
    options = parser.parse_args()
    if options.one:
        took = one(options.one[0], options.one[1:])
        print(json.dumps([took, cpu_seconds()]))
    else:
        main(options.quick, options.rounds)
