"""The dashboard's views of other nodes, read over the distribution: a real Elixir node
(through OTP's own functions by rpc) and another beamlet node (its collector, one rpc)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "dist"))
import erlang_nodes  # noqa: E402 - the distribution tests' cluster helpers
from erlang_nodes import COOKIE, HOST, Cluster, ErlangNode  # noqa: E402

import beamlet  # noqa: E402
from beamlet import Node, aio  # noqa: E402
from beamlet.observe import start_dashboard  # noqa: E402
from beamlet.observe.collector import Collector, remote_answer  # noqa: E402

MAIN = f"obs_main@{HOST}"
OBSERVED = os.path.join(os.path.dirname(__file__), "observed_node.py")

# An Elixir application: a supervisor with a worker registered as :flooded that never reads
# its mailbox, 300 messages sent to it, and a line printed when it all runs.
ELIXIR_APP = """
defmodule Sink do
  def start_link(_), do: {:ok, spawn_link(&sink/0)}
  def sink do
    Process.register(self(), :flooded)
    receive do :never -> :ok end
  end
  def child_spec(arg), do: %{id: :sink, start: {__MODULE__, :start_link, [arg]}}
end
{:ok, _} = Supervisor.start_link([Sink], strategy: :one_for_one, name: :obs_sup)
Process.sleep(50)
for i <- 1..300, do: send(:flooded, {:job, i})
IO.puts("ready")
Process.sleep(:infinity)
"""


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    erlang_nodes.require_program("elixir")
    erlang_nodes.require_program("epmd")
    nodes = Cluster(erlang_nodes.free_port())
    try:
        nodes.start_epmd()
        yield nodes
    finally:
        nodes.stop()


def observed_beamlet_node(cluster: Cluster, name: str) -> ErlangNode:
    process = erlang_nodes.popen(
        [sys.executable, OBSERVED, name, COOKIE, str(cluster.epmd_port)],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env=cluster.env(), start_new_session=True)
    cluster.processes.append(process)
    return ErlangNode(f"{name}@{HOST}", process)


def run_main(cluster: Cluster, body: Any) -> Any:
    return beamlet.run(body, name=MAIN, cookie=COOKIE, epmd_port=cluster.epmd_port)


def test_an_elixir_node_through_otp_functions(cluster: Cluster) -> None:
    ex = cluster.elixir("obs_ex", ELIXIR_APP)

    async def main() -> None:
        await aio.await_(ex.expect("ready"))
        assert await Node.connect(ex.name)
        c = Collector()
        o = await remote_answer(c, ex.name, "overview", {})
        assert o["node"] == ex.name and o["processes"] > 20 and MAIN in o["nodes"]
        assert o["longest_queue"] == 300
        page = await remote_answer(c, ex.name, "processes",
                                   {"sort": "message_queue_len", "desc": True, "size": 5})
        first = page["rows"][0]
        assert first["name"] == "flooded" and first["message_queue_len"] == 300
        assert page["total"] == o["processes"] or page["total"] > 20
        one = await remote_answer(c, ex.name, "process", {"pid": first["pid"]})
        assert one["alive"] and one["message_count"] == 300
        assert one["messages"][0] == "('job', 1)"
        assert [a["label"] for a in one["ancestors"]][:1] == ["obs_sup"]
        tree = await remote_answer(c, ex.name, "tree", {})
        (sup,) = [s for s in _walk(tree["roots"]) if s["name"] == "obs_sup"]
        assert sup["strategy"] == "one_for_one"
        assert [(ch["id"], ch["pid"]) for ch in sup["children"]] == [("sink", first["pid"])]
        assert any(s["name"] == "kernel_sup" for s in tree["roots"])
        assert await remote_answer(c, ex.name, "kill", {"pid": first["pid"]}) == "ok"
        for _ in range(100):   # the supervisor restarts it; each check is one rpc round trip
            again = await remote_answer(c, ex.name, "tree", {})
            (sup,) = [s for s in _walk(again["roots"]) if s["name"] == "obs_sup"]
            if sup["children"][0]["pid"] not in (None, first["pid"]):
                break
        assert sup["children"][0]["pid"] not in (None, first["pid"])
        assert sup["recent_restarts"] == 1
        json.dumps([o, page, one, tree])

    run_main(cluster, main)


def _walk(sups: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for s in sups:
        yield s
        yield from _walk([c["supervisor"] for c in s["children"] if "supervisor" in c])


def test_another_beamlet_node_through_its_collector(cluster: Cluster) -> None:
    other = observed_beamlet_node(cluster, "obs_py")

    async def main() -> None:
        await aio.await_(other.expect("ready"))
        assert await Node.connect(other.name)
        board = await start_dashboard(0, announce=False)
        page = await aio.await_(_get_json(
            f"{board.url}api/processes?node={other.name}&sort=message_queue_len&desc=1"))
        first = page["rows"][0]
        assert (first["name"], first["message_queue_len"]) == ("py_sink", 250)
        assert page["node"] == other.name
        o = await aio.await_(_get_json(f"{board.url}api/overview?node={other.name}"))
        assert o["node"] == other.name and o["longest_queue"] == 250
        one = await aio.await_(_get_json(
            f"{board.url}api/process/{first['pid']}?node={other.name}"))
        assert one["message_count"] == 250 and one["name"] == "py_sink"
        mine = await aio.await_(_get_json(f"{board.url}api/overview"))
        assert mine["node"] == MAIN and other.name in mine["nodes"]

    run_main(cluster, main)


async def _get_json(url: str) -> Any:
    import aiohttp

    async with aiohttp.ClientSession() as session, session.get(url) as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()


def test_top_attaches_to_an_elixir_node_by_name(cluster: Cluster) -> None:
    from observe_app import Terminal, first_row

    ex = cluster.elixir("obs_top", ELIXIR_APP)
    asyncio_run(ex.expect("ready"))
    env_port = str(cluster.epmd_port)
    term = Terminal([sys.executable, "-m", "beamlet", "top", "--interval", "0.3",
                     "--cookie", COOKIE, "--epmd-port", env_port, ex.name])
    try:
        term.wait_for(lambda s: f"node {ex.name}" in s and "PID" in s)
        term.press("l")
        screen = term.wait_for(lambda s: "sort: message_queue_len (desc)" in s
                               and "flooded" in first_row(s))
        assert "300" in first_row(screen)
        term.press("q")
        assert term.proc.wait(30) == 0
    finally:
        term.close()


def asyncio_run(aw: Any) -> Any:
    import asyncio

    return asyncio.run(aw)


def test_the_page_shows_an_elixir_node(cluster: Cluster, tmp_path: Any) -> None:
    """In the browser: pick the Elixir node, sort its processes by queue length, open the
    flooded one."""
    import observe_app

    executable = observe_app.chromium_path()
    from playwright.sync_api import expect, sync_playwright

    ex = cluster.elixir("obs_page", ELIXIR_APP)
    shots = observe_app.screenshot_dir(str(tmp_path))

    def browse(url: str) -> None:
        with sync_playwright() as pw:
            chromium = pw.chromium.launch(executable_path=executable, args=["--no-sandbox"])
            try:
                page = chromium.new_page(viewport={"width": 1280, "height": 800})
                page.goto(url)
                page.click(f'button.node-link[data-node="{ex.name}"]')
                expect(page.locator("#node-name")).to_have_text(ex.name)
                expect(page.locator('[data-card="longest mailbox"] .v')).to_have_text("300")
                page.click('nav a[data-view="processes"]')
                page.click('th[data-sort="message_queue_len"]')
                first = page.locator("#proc-table tbody tr.proc-row").first
                expect(first).to_contain_text("flooded")
                page.screenshot(path=os.path.join(shots, "dashboard-elixir-node.png"))
                first.click()
                expect(page.locator("section h2", has_text="Mailbox")).to_contain_text("300")
                expect(page.locator("section", has_text="Supervisor chain")).to_contain_text(
                    "obs_sup")
            finally:
                chromium.close()

    async def main() -> None:
        await aio.await_(ex.expect("ready"))
        assert await Node.connect(ex.name)
        board = await start_dashboard(0, announce=False)
        await aio.await_(asyncio_in_thread(browse, board.url))

    run_main(cluster, main)


async def asyncio_in_thread(fn: Any, *args: Any) -> Any:
    import asyncio

    return await asyncio.get_running_loop().run_in_executor(None, fn, *args)
