"""`python -m beamlet top` through a pseudo-terminal: it draws the processes of a live node,
re-sorts on a key press and quits on ``q``. Every wait is for text on the screen."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import observe_app
import pytest
from observe_app import SCREEN_WAIT, App, Terminal, first_row

from beamlet.observe.top import base_url


@pytest.fixture
def app() -> Iterator[App]:
    yield from observe_app.running_app()


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
