"""Properties of the batching stream (`nodes=`), on one node so that each example is fast:
whatever the sizes, the failures, ``ordered`` and ``max_concurrency``, it yields what the
one-task-per-item stream yields."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings, strategies as st

import beamlet
from beamlet import Process, Task
from beamlet.otp import task as task_module


class Failed(Exception):
    pass


def run_both(values: list[int], failing: frozenset[int], ordered: bool,
             limit: int | None) -> tuple[list[Any], list[Any]]:
    def fn(x: int) -> int:
        if x in failing:
            raise Failed(x)
        return x * 3

    async def main() -> tuple[list[Any], list[Any]]:
        Process.flag("trap_exit", True)
        spread = [r async for r in Task.async_stream(values, fn, ordered=ordered,
                                                     max_concurrency=limit,
                                                     nodes=[beamlet.node()])]
        plain = [r async for r in Task.async_stream(values, fn, ordered=ordered,
                                                    max_concurrency=limit or 2)]
        return spread, plain

    result: tuple[list[Any], list[Any]] = beamlet.run(main)
    return result


def comparable(results: list[Any]) -> list[Any]:
    return [(s, v.args if isinstance(v, Failed) else v) for s, v in results]


@settings(max_examples=40, deadline=None)
@given(values=st.lists(st.integers(0, 50), max_size=60),
       failing=st.frozensets(st.integers(0, 50), max_size=5),
       ordered=st.booleans(), limit=st.none() | st.integers(1, 6),  # None: the default
       batch=st.integers(1, 20))
def test_the_spread_stream_yields_what_the_plain_one_does(
        values: list[int], failing: frozenset[int], ordered: bool, limit: int | None,
        batch: int) -> None:
    saved = task_module._MAX_BATCH
    task_module._MAX_BATCH = batch   # small batches: many retries after failures
    try:
        spread, plain = run_both(values, failing, ordered, limit)
    finally:
        task_module._MAX_BATCH = saved
    if ordered:
        assert comparable(spread) == comparable(plain)
    else:
        assert sorted(map(repr, comparable(spread))) == sorted(map(repr, comparable(plain)))
