"""Process bodies that wrap user code.

This module is deliberately *not* part of the kernel proper: the hand-off watchdog treats a
thread whose stack shows only these frames (and user code) above the run loop as "running user
code", which is what a process spawned from a plain callable does for its whole life.
"""

from __future__ import annotations

import inspect
import types
from collections.abc import Callable
from typing import Any


async def run_sync(fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
    """The body of a process spawned from a plain callable: call it, and await what it returns
    when that is awaitable (a lambda wrapping an async call, a partial of an async function)."""
    r = fn(*args)
    if isinstance(r, types.CoroutineType) or inspect.isawaitable(r):
        r = await r
    return r


async def call_and_report(fn: Callable[..., Any], args: tuple[Any, ...], fut: Any) -> None:
    """The body `Node.call` runs: ``fn(*args)``, its outcome put into a concurrent Future."""
    try:
        r = fn(*args)
        if inspect.isawaitable(r):
            r = await r
    except BaseException as e:
        fut.set_exception(e)
        raise
    fut.set_result(r)
