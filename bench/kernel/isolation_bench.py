"""What isolating a message costs: ns per call of each `isolate` implementation, beside a pickle
round trip and `copy.deepcopy` of the same values.

    python bench/kernel/isolation_bench.py [--quick] [--json]

Each figure is the best of several timed runs (the least disturbed by other work on the
machine). A pid or ref cannot be pickled or deep-copied (`Pid.__reduce__` refuses), so the
pickle and deepcopy columns of the values holding them time the same shape with ints in their
place (marked *). "call" is a call of the builtin `callable` on the value: the floor any call
from Python pays.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import pickle
import sys
import timeit
from collections.abc import Callable
from typing import Any

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "src"))

from beamlet.kernel.isolation import IMPLEMENTATION, isolate_c, isolate_python  # noqa: E402
from beamlet.kernel.terms import Pid, Ref  # noqa: E402


def pickle_round_trip(value: Any) -> Any:
    return pickle.loads(pickle.dumps(value, pickle.HIGHEST_PROTOCOL))


def workloads() -> list[tuple[str, Any, Any]]:
    """(name, the message, for the baselines the same shape with ints for pids and refs or
    None when the message itself can be pickled)."""
    pid, ref = Pid(None, 84), Ref()
    return [
        ("str", "hello world", None),
        ("int", 12345, None),
        ("(pid, 1)", (pid, 1), (84, 1)),
        ('("$gen_call", (pid, ref), ("get", 1))',
         ("$gen_call", (pid, ref), ("get", 1)), ("$gen_call", (84, 7), ("get", 1))),
        ("small dict", {"name": "counter", "count": 1, "ok": True}, None),
        ("100-item list of ints", list(range(100)), None),
        ("100 MB bytes", bytes(100 * 2**20), None),
    ]


def ns_per_call(fn: Callable[[Any], Any], value: Any, repeats: int, run_seconds: float) -> float:
    """The best of `repeats` runs, each of enough calls to last about `run_seconds`."""
    timer = timeit.Timer("fn(value)", globals={"fn": fn, "value": value})
    number = 1
    while timer.timeit(number) < run_seconds:
        number *= 4
    return min(timer.repeat(repeats, number)) / number * 1e9


def measure(repeats: int, run_seconds: float) -> list[dict]:
    rows = []
    for name, message, stand_in in workloads():
        baseline_value = message if stand_in is None else stand_in
        row = {"value": name, "stand_in": stand_in is not None}
        columns = {"c": isolate_c, "python": isolate_python, "pickle": pickle_round_trip,
                   "deepcopy": copy.deepcopy, "call": callable}
        for column, fn in columns.items():
            if fn is None:
                row[column] = None
                continue
            value = baseline_value if column in ("pickle", "deepcopy") else message
            row[column] = ns_per_call(fn, value, repeats, run_seconds)
        rows.append(row)
    return rows


def figure(ns: float | None) -> str:
    if ns is None:
        return "n/a"
    if ns >= 1e6:
        return f"{ns / 1e6:,.1f} ms"
    if ns >= 1e4:
        return f"{ns / 1e3:,.1f} µs"
    return f"{ns:,.0f} ns"


def table(rows: list[dict]) -> str:
    lines = [
        f"isolate in use: {IMPLEMENTATION}",
        "| value | isolate (C) | isolate (Python) | pickle round trip | copy.deepcopy | call |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        mark = "*" if row["stand_in"] else ""
        lines.append(
            f"| {row['value']} | {figure(row['c'])} | {figure(row['python'])} "
            f"| {figure(row['pickle'])}{mark} | {figure(row['deepcopy'])}{mark} "
            f"| {figure(row['call'])} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: fewer, shorter runs")
    parser.add_argument("--json", action="store_true", help="one JSON line instead of a table")
    args = parser.parse_args()
    repeats, run_seconds = (2, 0.01) if args.quick else (15, 0.02)
    rows = measure(repeats, run_seconds)
    if args.json:
        print(json.dumps({"implementation": IMPLEMENTATION, "ns_per_call": rows}))
    else:
        print(table(rows))


if __name__ == "__main__":
    main()
