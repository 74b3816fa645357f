"""While a handed-off process makes kernel calls from its detached thread, every process on
the owner thread still sees itself as the current process (a race once: the detached thread's
call put back a current process the loop had already left)."""

from __future__ import annotations

import time

import beamlet
from beamlet import receive, self_pid, send, spawn, yield_turn


def spinner(rounds: int) -> None:
    """A plain function that hogs its step (the watchdog hands its thread off) and makes
    kernel calls there, from the detached thread."""
    for _ in range(rounds):
        end = time.perf_counter() + 0.010
        while time.perf_counter() < end:
            pass
        for _ in range(2000):
            self_pid()


async def caller(parent: beamlet.Pid, turns: int) -> None:
    mine = await receive()
    wrong = 0
    for _ in range(turns):
        await yield_turn()
        try:
            wrong += self_pid() is not mine
        except RuntimeError:  # "must be made from inside a beamlet process"
            wrong += 1
    send(parent, wrong)


def test_self_pid_stays_right_on_the_owner_while_a_detached_thread_calls_the_kernel() -> None:
    async def main() -> int:
        me = self_pid()
        spawn(spinner, 20)
        for _ in range(4):
            pid = spawn(caller, me, 10_000)
            send(pid, pid)
        return sum([await receive(int, timeout=60) for _ in range(4)])

    assert [beamlet.run(main) for _ in range(3)] == [0, 0, 0]
