"""The collector's views, read inside a node and checked against `Process.info`."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import observe_app
import pytest
from hypothesis import given, settings, strategies as st
from prometheus_client.parser import text_string_to_metric_families

import beamlet
from beamlet import Process, Supervisor, receive, send, spawn, yield_turn
from beamlet.observe import collector as col
from beamlet.testing import settle, wait_dead


async def parked() -> None:
    await receive("never")


async def busy(turns: int) -> None:
    for _ in range(turns):
        await yield_turn()
    await receive("never")


def run(fn: Any, *args: Any) -> Any:
    return beamlet.run(fn, *args)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(0, 30), min_size=1, max_size=40), st.booleans(),
       st.sampled_from(["message_queue_len", "reductions", "pid", "memory"]), st.integers(1, 7),
       st.integers(0, 10))
def test_a_page_is_the_table_sorted_as_asked(queues: list[int], desc: bool, sort: str,
                                             size: int, offset: int) -> None:
    async def main() -> None:
        pids = []
        for n in queues:
            pid = spawn(busy, n % 5)
            for i in range(n):
                send(pid, i)
            pids.append(pid)
        await settle()
        page = await col.Collector().processes(sort=sort, desc=desc, offset=offset, size=size)
        table = [(Process.info(p, sort) if sort != "pid" else p.id, p.id)
                 for p in Process.list()]
        table.sort(key=lambda vp: (vp[0], -vp[1] if desc else vp[1]), reverse=desc)
        # the page's rows are read after the order was taken; nothing ran in between
        assert [r["pid"] for r in page["rows"]] == [p for _, p in table[offset:offset + size]]
        assert page["total"] == len(table)
        for r in page["rows"]:
            pid = next(p for p in Process.list() if p.id == r["pid"])
            assert r["message_queue_len"] == Process.info(pid, "message_queue_len")

    run(main)


def test_filter_matches_names_and_initial_calls() -> None:
    async def main() -> None:
        named = spawn(parked)
        Process.register(named, "the_named_one")
        for _ in range(3):
            spawn(parked)
        c = col.Collector()
        by_name = await c.processes(sort="name", filter="NAMED_one")
        assert [r["pid"] for r in by_name["rows"]] == [named.id]
        assert by_name["rows"][0]["name"] == "the_named_one"
        by_call = await c.processes(sort="reductions", desc=True, filter="test_collector.parked")
        assert by_call["total"] == 4
        with pytest.raises(ValueError, match="unknown sort key"):
            await c.processes(sort="colour")

    run(main)


def test_overview_counts_and_a_monotone_reduction_counter() -> None:
    async def main() -> None:
        c = col.Collector()
        first = await c.sample()
        workers = [spawn(busy, 50) for _ in range(10)]
        await settle()
        await c.sample()
        for w in workers:
            Process.exit(w, "kill")
            await wait_dead(w)
        await c.sample()
        o = c.overview()
        assert o["processes"] == len(Process.list())
        assert first["processes"] == o["processes"]
        assert o["reductions_total"] >= 10 * 50   # the workers' turns, not lost when they died
        assert set(o["run_queue"]) == {"max", "high", "normal", "low"}
        assert [h["processes"] for h in o["history"]] == [first["processes"],
                                                           first["processes"] + 10,
                                                           first["processes"]]

    run(main)


def test_one_process_and_a_dead_one() -> None:
    async def main() -> None:
        pid = spawn(parked)
        beamlet.link(pid)
        send(pid, {"k": [1, 2]})
        Process.flag("trap_exit", True)
        await settle()
        c = col.Collector()
        view = c.process(pid.id)
        assert view["alive"] and view["messages"] == ["{'k': [1, 2]}"]
        assert view["info"]["status"] == "waiting"
        assert view["links"] == [{"pid": beamlet.self_pid().id, "text": repr(beamlet.self_pid()),
                                  "label": "test_collector.test_one_process_and_a_dead_one"
                                           ".<locals>.main/0"}]
        assert any("parked" in frame for frame in view["stack"])
        json.dumps(view)
        assert c.kill(pid.id) == "ok"
        await wait_dead(pid)
        assert c.process(pid.id) == {"pid": pid.id, "alive": False}
        assert c.kill(pid.id) == "noproc"

    run(main)


async def start_parked() -> Any:
    return ("ok", beamlet.spawn_link(parked))


def test_tree_nests_supervisors_and_counts_restarts() -> None:
    async def main() -> None:
        inner = {"id": "inner", "type": "supervisor",
                 "start": (Supervisor.start_link, ([{"id": "leaf", "start": (start_parked, ())}],))}
        _, top = await Supervisor.start_link([inner, {"id": "w", "start": (start_parked, ())}],
                                             strategy="rest_for_one")
        c = col.Collector()
        tree = await c.tree()
        (root,) = tree["roots"]
        assert root["pid"] == top.id and root["strategy"] == "rest_for_one"
        assert tree["supervisors"] == 2
        ids = [child["id"] for child in root["children"]]
        assert ids == ["w", "inner"]
        nested = root["children"][1]["supervisor"]
        assert [child["id"] for child in nested["children"]] == ["leaf"]
        worker = next(ch for ch in root["children"] if ch["id"] == "w")
        target = next(p for p in Process.list() if p.id == worker["pid"])
        Process.exit(target, "kill")
        await wait_dead(target)
        await settle()
        (root,) = (await c.tree())["roots"]
        again = next(ch for ch in root["children"] if ch["id"] == "w")
        assert again["pid"] != worker["pid"] and again["restarts_seen"] == 1
        assert root["recent_restarts"] == 1
        json.dumps(tree)

    run(main)


def test_a_scan_of_many_processes_lets_the_others_run() -> None:
    """A sort over 30,000 processes goes in slices: a ticking process runs in between."""
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await yield_turn()

    async def main() -> None:
        for _ in range(30_000):
            spawn(parked)
        await settle()
        tick = spawn(ticker)
        col.SLICE_SECONDS, saved = 0.0, col.SLICE_SECONDS  # yield after every chunk
        try:
            before = ticks
            page = await col.Collector().processes(sort="memory", desc=True, size=5)
            assert ticks - before >= 30_000 // col.CHUNK - 1
        finally:
            col.SLICE_SECONDS = saved
        assert page["total"] == len(Process.list())
        Process.exit(tick, "kill")

    run(main)


def http(url: str, method: str = "GET", headers: dict[str, str] | None = None) -> Any:
    req = urllib.request.Request(url, method=method, headers=headers or {})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return resp.status, resp.headers.get("Content-Type"), resp.read().decode()


@pytest.fixture
def app() -> Any:
    yield from observe_app.running_app()


def test_metrics_in_the_prometheus_format(app: Any) -> None:
    status, kind, text = http(app.board.url + "metrics")
    assert status == 200 and kind.startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(text)}
    procs = families["beamlet_processes"].samples[0]
    assert procs.labels == {"node": "nonode@nohost"} and procs.value >= 6
    assert {s.labels["priority"] for s in families["beamlet_run_queue_length"].samples} == \
        {"max", "high", "normal", "low"}
    assert families["beamlet_reductions"].type == "counter"
    assert "process_resident_memory_bytes" in families


def test_the_api_refuses_bad_requests(app: Any) -> None:
    base = app.board.url
    for path, code in [("api/processes?sort=colour", 400), ("api/process/abc", 400),
                       ("api/nothing", 400), ("static/secret.py", 404)]:
        with pytest.raises(urllib.error.HTTPError) as err:
            http(base + path)
        assert err.value.code == code, path
    sink = app.sink()
    with pytest.raises(urllib.error.HTTPError) as err:
        http(f"{base}api/process/{sink.id}/kill", "POST")
    assert err.value.code == 403
    status, _, body = http(f"{base}api/process/{sink.id}/kill", "POST",
                           {"X-Beamlet-Token": observe_app.TOKEN})
    assert json.loads(body) == {"result": "ok"}


def test_the_server_listens_on_loopback_only(app: Any) -> None:
    assert app.board.host == "127.0.0.1" and app.board.url.startswith("http://127.0.0.1:")


def test_the_dashboard_stops_with_the_node() -> None:
    import socket
    import threading

    from beamlet.observe import start_dashboard

    async def main() -> int:
        board = await start_dashboard(0, announce=False)
        status, _, body = await beamlet.aio.await_(_get(board.url + "api/overview"))
        assert status == 200 and json.loads(body)["processes"] >= 2
        return board.port

    before = {t.name for t in threading.enumerate()}
    port = run(main)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    assert {t.name for t in threading.enumerate()} <= before


async def _get(url: str) -> tuple[int, str, str]:
    import aiohttp

    async with aiohttp.ClientSession() as session, session.get(url) as resp:
        return resp.status, resp.content_type, await resp.text()
