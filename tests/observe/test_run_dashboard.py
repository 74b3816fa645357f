"""`beamlet.run(main, dashboard=PORT)`: the dashboard is up before main runs."""

from __future__ import annotations

import importlib.util
import json
import urllib.request
from typing import Any

import pytest

import beamlet
from beamlet import aio
from helpers import require

pytestmark = pytest.mark.usefixtures("with_aiohttp")


@pytest.fixture
def with_aiohttp() -> None:
    """The dashboard's web server library: skip without it, fail under CI=true."""
    require("aiohttp", importlib.util.find_spec("aiohttp") is not None, "pip install -e '.[test]'")


def test_run_with_dashboard_serves_the_overview_before_main(capsys: pytest.CaptureFixture[str]
                                                           ) -> None:
    import asyncio
    import re

    async def main() -> Any:
        said = capsys.readouterr().err
        url = re.search(r"http://127\.0\.0\.1:\d+/", said)
        assert url is not None, said

        def fetch() -> Any:
            with urllib.request.urlopen(url.group(0) + "api/overview", timeout=30) as reply:
                return json.load(reply)

        return await aio.await_(asyncio.to_thread(fetch))

    overview = beamlet.run(main, dashboard=0)
    assert overview["processes"] >= 1 and overview["node"] == "nonode@nohost"


def test_a_bad_dashboard_port_is_refused() -> None:
    with pytest.raises(ValueError, match="dashboard is a TCP port"):
        beamlet.run(lambda: None, dashboard=70000)


def test_the_overview_counts_messages_per_second() -> None:
    import asyncio

    from beamlet.observe import start_dashboard

    async def main() -> Any:
        board = await start_dashboard(0, announce=False, interval=0.05)

        def fetch() -> Any:
            with urllib.request.urlopen(board.url + "api/overview", timeout=30) as reply:
                return json.load(reply)

        me = beamlet.self_pid()
        before = await aio.await_(asyncio.to_thread(fetch))
        for i in range(5000):
            beamlet.send(me, i)
        await beamlet.receive(4999)
        seen = before
        while seen["messages_total"] - before["messages_total"] < 5000 \
                or not seen["messages_per_s"]:
            seen = await aio.await_(asyncio.to_thread(fetch))
        return before, seen

    before, seen = beamlet.run(main)
    assert seen["messages_total"] - before["messages_total"] >= 5000
    assert seen["messages_per_s"] > 0
