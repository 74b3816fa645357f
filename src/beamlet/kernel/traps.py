"""The values a process and the kernel hand each other at a suspension point.

A process is a coroutine. When it must stop running — to wait for a message, to sleep, to let
the others run — it yields a *trap* to the run loop (as curio's and trio's tasks do), and when
the loop resumes it, the loop sends in a *resume value*: a message, or one of the markers
below. Naming them keeps the conversation between `receive`/`sleep` and the loop legible.

What a process yields:

- `WAIT`: "I have parked myself" — `receive` or `sleep` has already set the process WAITING
  (with its patterns and timer); the loop just moves on. A later `send`, timer or signal makes
  it runnable again with a resume value.
- `YIELD`: "I am still runnable, let the others run first" (`yield_turn`, a fair turn in a
  long drain of the mailbox). A bare ``None``, which asyncio-style awaitables such as
  ``asyncio.sleep(0)`` yield, means the same.

What the kernel resumes a process with, besides a message handed straight to it:

- `TIMEOUT`: the receive (or sleep) timer ran out.
- `RESCAN`: look at the mailbox again (a pattern raised while a sender matched it, or a
  process parked on a detached thread needs its receive redone on the owner thread).

And one mark the kernel leaves in a waiting process's resume slot, never sent into it:

- `UNREAD`: messages have arrived that the process, parked in `receive`, did not match and has
  not looked at since. A BEAM process in that state has signals to handle, so a question about
  it (`Process.info(pid, "status")`) finds it running them.
"""

from __future__ import annotations

import types
from collections.abc import Generator
from typing import Any


class Trap:
    """A named marker passed between a process and the run loop (compared by identity)."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"<trap {self.name}>"


WAIT = Trap("WAIT")
YIELD = Trap("YIELD")
TIMEOUT = Trap("TIMEOUT")
RESCAN = Trap("RESCAN")
UNREAD = Trap("UNREAD")


@types.coroutine
def trap(value: Trap) -> Generator[Trap, Any, Any]:
    """Yield ``value`` to the run loop and return what the loop resumes the process with."""
    return (yield value)


class Terminated(BaseException):
    """Unwinds a process that a signal has already killed (raised in its own thread, or at a
    kernel call it makes after its death). Its death has been announced by then; the loop only
    lets it go."""


class MainDone(BaseException):
    """Raised inside the loop when the main process has ended: unwinds to the run loop."""
