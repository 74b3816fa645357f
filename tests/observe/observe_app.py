"""What the observability tests look at: a node running a small supervision tree, with a
dashboard, driven from the test's thread (`beamlet.Node`), plus the browser and terminal
plumbing the tests share."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import shutil
import signal
import struct
import subprocess
import termios
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import beamlet
import helpers
from beamlet import Agent, DynamicSupervisor, GenServer, Pid, Supervisor, receive, spawn_link
from beamlet.observe import Dashboard, start_dashboard

TOKEN = "test-token-123"

CHROMIUM = "/usr/bin/chromium"


require = helpers.require  # skip without it, fail under CI=true


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
    node = beamlet.ThreadedNode().start()
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


ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
SCREEN_WAIT = 20.0     # a guard against a hang, not a pace: each wait ends when the text shows


class Terminal:
    """A child process on a pseudo-terminal of 120x30, read as screens of text."""

    def __init__(self, argv: list[str]) -> None:
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 120, 0, 0))
        env = {**os.environ, "COLUMNS": "120", "LINES": "30"}
        self.proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env,
                                     start_new_session=True)
        os.close(slave)
        self.master = master
        self.text = ""

    def screen(self) -> str:
        """The text drawn since the screen was last cleared."""
        return ANSI.sub("", self.text.rsplit("\x1b[2J", 1)[-1])

    def wait_for(self, holds: Callable[[str], bool]) -> str:
        deadline = time.monotonic() + SCREEN_WAIT
        while not holds(self.screen()):
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"the screen never showed it; last screen:\n{self.screen()}")
            ready, _, _ = select.select([self.master], [], [], left)
            if ready:
                try:
                    chunk = os.read(self.master, 65536)
                except OSError:     # the child closed the terminal
                    chunk = b""
                if not chunk:
                    raise AssertionError(f"top ended; last screen:\n{self.screen()}")
                self.text += chunk.decode(errors="replace")
        return self.screen()

    def press(self, key: str) -> None:
        os.write(self.master, key.encode())

    def close(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        os.close(self.master)


def first_row(screen: str) -> str:
    lines = screen.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("PID"))
    return lines[header + 1] if header + 1 < len(lines) else ""
