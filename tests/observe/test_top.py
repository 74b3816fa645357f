"""`python -m beamlet top` through a pseudo-terminal: it draws the processes of a live node,
re-sorts on a key press and quits on ``q``. Every wait is for text on the screen."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Callable, Iterator

import observe_app
import pytest
from observe_app import App

from beamlet.observe.top import base_url

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


@pytest.fixture
def app() -> Iterator[App]:
    yield from observe_app.running_app()


def first_row(screen: str) -> str:
    lines = screen.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("PID"))
    return lines[header + 1] if header + 1 < len(lines) else ""


def test_top_sorts_by_queue_length_and_quits(app: App) -> None:
    sink = app.sink()
    app.flood(sink, 777)
    term = Terminal([sys.executable, "-m", "beamlet", "top", "--interval", "0.2",
                     str(app.board.port)])
    try:
        screen = term.wait_for(lambda s: "sort: reductions (desc)" in s and "PID" in s)
        assert "node nonode@nohost" in screen
        term.press("l")
        screen = term.wait_for(lambda s: "sort: message_queue_len (desc)" in s
                               and first_row(s).startswith(repr(sink)))
        assert "777" in first_row(screen)
        term.press("q")
        assert term.proc.wait(SCREEN_WAIT) == 0
    finally:
        term.close()


def test_top_names_what_it_attaches_to() -> None:
    assert base_url("8080") == "http://127.0.0.1:8080"
    assert base_url("10.0.0.2:9000") == "http://10.0.0.2:9000"
    assert base_url("http://h:1/") == "http://h:1"
    with pytest.raises(ValueError, match="rpc"):
        base_url("py@host")
