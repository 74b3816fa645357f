"""A peer lost under a stream, beside the real BEAM: `lost_peer.exs` runs the scenario on
Elixir (`:peer`, `Task.Supervisor.async_stream` on the peer, the peer's OS process killed
with SIGKILL once both tasks run) and beamlet runs it on ``cores=2`` with ``nodes=[peer]``;
the consumer's exit and the stream's items must be the same."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

import beamlet
from beamlet import ANY, Node, Process, Task, receive, register, self_pid, send, spawn
from beamlet.dist import peers
from beamlet.running import free_port
from beamlet.testing import wait_down
from helpers import require_program

HERE = os.path.dirname(os.path.abspath(__file__))
GUARD_SECONDS = 60.0  # a guard against hanging, never a wait for something to happen


@pytest.fixture
def epmd_port() -> Iterator[int]:
    """The system's epmd on a port of our own (never the host's 4369), killed by pid."""
    port = free_port()
    daemon = subprocess.Popen([require_program("epmd"), "-port", str(port)],
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        yield port
    finally:
        os.killpg(daemon.pid, signal.SIGKILL)
        daemon.wait()


def elixir_outcomes(epmd: int) -> dict[str, tuple[str, str]]:
    """``{"trap": (exit, items), "notrap": (exit, items)}`` as `lost_peer.exs` prints them."""
    command = [require_program("elixir"), "--sname", f"lost{os.getpid()}", "--erl",
               "-start_epmd false", os.path.join(HERE, "lost_peer.exs")]
    done = subprocess.run(command, capture_output=True, text=True, timeout=GUARD_SECONDS,
                          env={**os.environ, "ERL_EPMD_PORT": str(epmd)}, start_new_session=True)
    assert done.returncode == 0, done.stderr
    outcomes = {}
    for line in done.stdout.splitlines():
        kind, reason, items = line.split(" ", 2)
        outcomes[kind] = (reason, items)
    return outcomes


def as_elixir(value: Any) -> str:
    """beamlet's outcome written as the script prints Elixir's (atoms, keyword lists)."""
    if value is None:
        return ":none"
    if isinstance(value, str):
        return f":{value}"
    if isinstance(value, list):
        return "[" + ", ".join(f"{k}: {as_elixir(v)}" for k, v in value) + "]"
    raise TypeError(value)


def hang(x: Any) -> None:
    send(("watcher", beamlet.node().replace("_1@", "@")), "running")
    while True:
        pass


async def kill_when_running(os_pid: int, count: int) -> None:
    for _ in range(count):
        await receive("running")
    os.kill(os_pid, signal.SIGKILL)


def beamlet_outcome(trap: bool) -> tuple[str, str]:
    async def consumer(peer: str, me: Any) -> None:
        Process.flag("trap_exit", trap)
        out = [r async for r in Task.async_stream(["infinity", "infinity"], hang, nodes=[peer],
                                                  max_concurrency=2, timeout=None)]
        send(me, ("out", out))

    async def main() -> tuple[Any, Any]:
        (peer,) = Node.list()
        started = peers.current()
        assert started is not None
        register(spawn(kill_when_running, started.os_pids()[peer], 2), "watcher")
        ref = beamlet.monitor(spawn(consumer, peer, self_pid()))
        reason = await wait_down(ref, timeout=GUARD_SECONDS)
        got = await receive(("out", ANY), timeout=0, default=None)
        return reason, None if got is None else got[1]

    reason, out = beamlet.run(main, cores=2)
    return as_elixir(reason), as_elixir(out)


def test_a_lost_peer_under_a_stream_exits_as_on_the_beam(epmd_port: int) -> None:
    elixir = elixir_outcomes(epmd_port)
    assert elixir["trap"] == (":normal", "[exit: :noconnection, exit: :noconnection]")
    assert beamlet_outcome(trap=True) == elixir["trap"]
    assert beamlet_outcome(trap=False) == elixir["notrap"]
