"""What the observability tests look at: a node running a small supervision tree, with a
dashboard, driven from the test's thread (`beamlet.Node`), plus the browser and terminal
plumbing the tests share."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

import beamlet
from beamlet import Agent, DynamicSupervisor, GenServer, Pid, Supervisor, receive, spawn_link
from beamlet.kernel import runtime
from beamlet.observe import Dashboard, start_dashboard

TOKEN = "test-token-123"
# A node on a thread of its own (beamlet.ThreadedNode; named Node before the distribution's
# Node module took that name).
THREADED_NODE: Any = getattr(beamlet, "ThreadedNode", None) or runtime.Node
CHROMIUM = "/usr/bin/chromium"


def require(what: str, present: bool, how: str) -> None:
    """Skip when ``what`` is missing, except under CI=true, where it is a failure."""
    if present:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} is required under CI=true ({how})")
    pytest.skip(f"{what} is not installed ({how})")


async def sink() -> None:
    """A worker that never reads its mailbox: the process a test floods."""
    await receive("a message nobody sends")


async def start_sink() -> Any:
    return ("ok", spawn_link(sink))


class Echo(GenServer):
    def handle_call(self, request: Any, from_: Any, state: Any) -> Any:
        return ("reply", request, state)


async def start_jobs() -> Any:
    """A DynamicSupervisor with two workers, as a child of the application's supervisor."""
    started = await DynamicSupervisor.start_link(name="jobs")
    for _ in range(2):
        await DynamicSupervisor.start_child("jobs", (Echo, None))
    return started


CHILDREN = [
    {"id": "sink", "start": (start_sink, ())},
    {"id": "cache", "start": (Agent.start_link, (dict,))},
    {"id": "jobs", "start": (start_jobs, ()), "type": "supervisor"},
]


@dataclass
class App:
    node: Any
    board: Dashboard
    supervisor: Pid

    def sink(self) -> Pid:
        """The sink child's pid now (it changes when the supervisor restarts it)."""
        async def ask() -> Pid:
            children = await Supervisor.which_children(self.supervisor)
            return next(pid for cid, pid, _, _ in children if cid == "sink")
        pid: Pid = self.node.call(ask)
        return pid

    def flood(self, pid: Pid, count: int) -> None:
        def send_all() -> None:
            for i in range(count):
                beamlet.send(pid, ("work", i))
        self.node.call(send_all)


async def _start(interval: float) -> tuple[Dashboard, Pid]:
    _, sup = await Supervisor.start(CHILDREN, name="app_sup")
    board = await start_dashboard(0, token=TOKEN, interval=interval, announce=False)
    return board, sup


def running_app(interval: float = 0.2) -> Iterator[App]:
    """A node with the application and its dashboard, stopped (with its server) afterwards."""
    node = THREADED_NODE().start()
    try:
        board, sup = node.call(_start, interval)
        yield App(node, board, sup)
    finally:
        node.stop()


def screenshot_dir(default: str) -> str:
    """Where screenshots go: $BEAMLET_SCREENSHOTS, or ``default``."""
    path = os.environ.get("BEAMLET_SCREENSHOTS") or default
    os.makedirs(path, exist_ok=True)
    return path


def chromium_path() -> str:
    require("Debian's chromium", os.path.exists(CHROMIUM) or shutil.which("chromium") is not None,
            "apt-get install -y chromium")
    return CHROMIUM if os.path.exists(CHROMIUM) else str(shutil.which("chromium"))
