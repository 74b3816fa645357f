"""Helpers for tests of beamlet programs: wait for what happens, never for a fixed time.

A test that sleeps "long enough" for a process to crash or a message to arrive is slow when the
guess is generous and flaky when it is not. These helpers wait for the event itself:

- `settle()` returns once every other process is waiting (nothing is runnable any more), which
  is when every message sent so far has been handled and every signal has taken effect;
- `wait_down(ref)` returns the reason of the ``Down`` message a monitor delivers;
- `wait_dead(pid)` monitors ``pid`` and returns its exit reason (``"noproc"`` if already dead).

They are ordinary process functions: call them from inside a process (a test's main function).
"""

from __future__ import annotations

from typing import Any

from .kernel import scheduler as _k
from .kernel.scheduler import receive, yield_turn
from .kernel.signals import monitor
from .kernel.terms import Down, Pid, Ref

__all__ = ["settle", "wait_dead", "wait_down"]


async def settle(max_turns: int = 1_000_000) -> None:
    """Wait until no other process is runnable: the node has done all it can do for now.

    Timers that have not fired yet do not count (a process sleeping for an hour is waiting).
    Raises `TimeoutError` after ``max_turns`` turns, when some process never stops running
    (one that yields in a loop forever would otherwise keep the caller here).
    """
    for _ in range(max_turns):
        if _k.runnable_count() == 0 and not _k.pending_closes():
            return
        await yield_turn()
    raise TimeoutError(f"the node did not settle within {max_turns} turns")


async def wait_down(ref: Ref, timeout: float | None = 5.0) -> Any:
    """The reason in the ``Down`` message of the monitor ``ref`` (waits for it; TimeoutError
    after ``timeout`` seconds). Other messages stay queued."""
    if not isinstance(ref, Ref):
        raise TypeError(f"wait_down takes the Ref of a monitor, got {ref!r}")
    down = await receive(lambda m: type(m) is Down and m.ref == ref, timeout=timeout)
    return down.reason


async def wait_dead(pid: Pid, timeout: float | None = 5.0) -> Any:
    """Monitor ``pid`` and wait for it to die; its exit reason ("noproc" if it was dead)."""
    if not isinstance(pid, Pid):
        raise TypeError(f"wait_dead takes a Pid, got {pid!r}")
    return await wait_down(monitor(pid), timeout)
