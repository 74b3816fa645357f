"""A cluster of beamlet nodes, each in an OS process of its own (`beamlet_node.py`).

The test's own node is the first; the others are started by the test, killed by pid at the
end. Between beamlet nodes any picklable value crosses unchanged (a `str` stays a `str`),
closures travel with `Node.spawn`, and a lost node ends links and monitors with
"noconnection" — at once for kill -9, after `net_ticktime` for a node that stops answering.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import erlang_nodes
import pytest
from beamlet_node import Point, remote_worker  # the peer unpickles them: its own module
from erlang_nodes import COOKIE, HOST, Cluster

import beamlet
from beamlet import (
    ANY,
    Down,
    Exit,
    GenServer,
    Node,
    Supervisor,
    aio,
    link,
    monitor,
    receive,
    rpc,
    self_pid,
    send,
)

MAIN = f"main@{HOST}"
TICKTIME = 2.0  # seconds: a stopped node is found out within that


@pytest.fixture
def nodes() -> Iterator[Cluster]:
    """A fresh EPMD port (our node runs the EPMD there) and the nodes started, killed at the end."""
    cluster = Cluster(erlang_nodes.free_port())
    try:
        yield cluster
    finally:
        cluster.stop()


def run_cluster(cluster: Cluster, names: list[str],
                body: Callable[[list[str]], Awaitable[Any]], **options: Any) -> Any:
    """Run our node, start the beamlet nodes ``names`` and run ``body(full names)``."""

    async def main() -> Any:
        started = [erlang_nodes.beamlet_node(cluster, name, **options) for name in names]
        for node in started:
            assert (await aio.await_(node.expect("ready"))) == f"ready {node.name}"
        return await body([node.name for node in started])

    return beamlet.run(main, name=MAIN, cookie=COOKIE, epmd_port=cluster.epmd_port,
                       net_ticktime=options.get("ticktime") or 60.0)


def test_python_values_cross_unchanged(nodes: Cluster) -> None:
    # most travel as ETF, the rest as pickles (what ETF would not give back as itself)
    values = ["a str", {"k": [1, 2.5, None]}, {1, 2}, Point(1, 2), b"bytes", (1, "two"),
              "x" * 1000, 10**40, "true", ["nil", True, None], ("EXIT", "a", "b"),
              [1, 2, 255], (-0.0, float("inf")), {"k": {"true": ()}}]
    shared = [1, 2]
    values.append((shared, shared))  # one list twice: it stays one list, as in a local send

    async def body(names: list[str]) -> list[Any]:
        (b1,) = names
        got = []
        for value in values:
            send(("py_echo", b1), (self_pid(), value))
            got.append((await receive(("reply", ANY, b1), timeout=30))[1])
        return got

    got = run_cluster(nodes, ["b1"], body)
    assert got == values
    assert [types_of(v) for v in got] == [types_of(v) for v in values]
    assert got[-1][0] is got[-1][1]


def types_of(value: Any) -> Any:
    """The types all through ``value`` (so that "true" is not True, a tuple not an Exit)."""
    if isinstance(value, (list, tuple)):
        return type(value), [types_of(item) for item in value]
    if isinstance(value, dict):
        return dict, [(types_of(k), types_of(v)) for k, v in value.items()]
    return type(value)


def test_calls_rpc_and_closures_between_beamlet_nodes(nodes: Cluster) -> None:
    async def body(names: list[str]) -> Any:
        (b1,) = names
        me = self_pid()
        secret = "captured"
        pid = await Node.spawn(b1, lambda: send(me, ("from", beamlet.node(), secret)))
        spawned = await receive(("from", ANY, ANY), timeout=30)
        return (
            await GenServer.call(("echo", b1), "node"),
            await GenServer.call(("echo", b1), {"a": "b"}),
            await rpc.call(b1, "tools", "add", [2, 3]),
            await rpc.call(b1, "tools", "nope", []),
            beamlet.node(pid),
            spawned,
        )

    result = run_cluster(nodes, ["b1"], body)
    b1 = f"b1@{HOST}"
    assert result[0] == b1
    assert result[1] == ("ok", {"a": "b"})
    assert result[2] == 5
    assert result[3][0] == "badrpc"
    assert result[4] == b1
    assert result[5] == ("from", b1, "captured")


def test_three_nodes_mesh_and_a_killed_node_ends_its_links_at_once(nodes: Cluster) -> None:
    async def body(names: list[str]) -> Any:
        b1, b2 = names
        beamlet.kernel.signals.trap_exit(True)
        assert await Node.connect(b1) and await Node.connect(b2)
        # connect_all: b1 and b2 connect to each other too
        meshed = await rpc.call(b2, "erlang", "nodes", [])
        while b1 not in meshed:
            meshed = await rpc.call(b2, "erlang", "nodes", [])
        send(("py_echo", b2), ("spawn_victim", self_pid()))
        (_, victim) = await receive(("victim", ANY), timeout=30)
        link(victim)
        ref = monitor(victim)
        await GenServer.call(("echo", b2), "sync")  # the link and the monitor stand there
        os.kill(nodes.processes[1].pid, signal.SIGKILL)
        first, second = await receive(timeout=30), await receive(timeout=30)
        return sorted(Node.list()), first, second, victim, ref, meshed

    listed, first, second, victim, ref, meshed = run_cluster(nodes, ["b1", "b2"], body)
    assert f"b1@{HOST}" in meshed and MAIN in meshed
    assert listed == [f"b1@{HOST}"]
    assert first == Exit(victim, "noconnection")
    assert second == Down(ref, victim, "noconnection")


def test_a_stopped_node_is_down_after_net_ticktime_and_reconnects(nodes: Cluster) -> None:
    async def body(names: list[str]) -> Any:
        (b1,) = names
        assert await Node.connect(b1)
        Node.monitor(b1)
        ref = monitor(("echo", b1))
        process = nodes.processes[0]
        os.kill(process.pid, signal.SIGSTOP)
        try:
            down = await receive(("nodedown", b1), timeout=TICKTIME * 10)
            gone = await receive(Down(ref, ANY, ANY), timeout=30)
        finally:
            os.kill(process.pid, signal.SIGCONT)
        return down, gone.reason, await Node.ping(b1), await GenServer.call(("echo", b1), "node")

    down, reason, ping, answer = run_cluster(nodes, ["b1"], body, ticktime=TICKTIME)
    assert down == ("nodedown", f"b1@{HOST}")
    assert reason == "noconnection"
    assert (ping, answer) == ("pong", f"b1@{HOST}")


def test_a_supervisor_restarts_a_child_that_runs_on_another_node(nodes: Cluster) -> None:
    async def body(names: list[str]) -> Any:
        (b1,) = names

        async def start_remote() -> Any:
            return ("ok", await Node.spawn_link(b1, remote_worker))

        spec = {"id": "remote", "start": (start_remote, ())}
        _, sup = await Supervisor.start_link([spec], strategy="one_for_one")
        [(_, first, _, _)] = await Supervisor.which_children(sup)
        ref = monitor(first)
        send(first, "crash")
        await receive(Down(ref, first, ANY), timeout=30)
        second = first
        while second is first or second == "restarting":
            [(_, second, _, _)] = await Supervisor.which_children(sup)
        ref2 = monitor(second)
        await Supervisor.stop(sup)
        stopped = await receive(Down(ref2, ANY, ANY), timeout=30)
        return beamlet.node(first), beamlet.node(second), second is not first, stopped.reason

    assert run_cluster(nodes, ["b1"], body) == (f"b1@{HOST}", f"b1@{HOST}", True, "shutdown")


def test_the_distribution_is_made_of_processes(nodes: Cluster) -> None:
    async def body(names: list[str]) -> Any:
        (b1,) = names
        assert await Node.connect(b1)
        kernel = beamlet.whereis("net_kernel")
        connection = None
        while connection is None:  # the connection's process starts right after nodeup
            links = beamlet.Process.info(kernel, "links")
            connection = links[0] if links else None
            if connection is None:
                await beamlet.yield_turn()
        node_of = beamlet.Process.info(connection, "dictionary")
        while not node_of:  # it says which node it stands for when it first runs
            await beamlet.yield_turn()
            node_of = beamlet.Process.info(connection, "dictionary")
        Node.monitor(b1)
        beamlet.Process.exit(connection, "kill")  # as killing a connection handler
        down = await receive(("nodedown", b1), timeout=30)
        return node_of, down, b1 in Node.list()

    node_of, down, still = run_cluster(nodes, ["b1"], body)
    assert node_of == {"node": f"b1@{HOST}"}
    assert down == ("nodedown", f"b1@{HOST}") and not still


def test_what_cannot_travel_is_a_clear_error_even_before_the_connection_is_up(
        nodes: Cluster) -> None:
    import threading

    async def body(names: list[str]) -> Any:
        (b1,) = names
        lock = threading.Lock()  # no pickle can carry a lock
        errors = []
        for attempt in ("before", "after"):  # the first request waits for the connection
            try:
                await Node.spawn(b1, print, lock)
            except ValueError as error:
                errors.append((attempt, "cannot send" in str(error)))
        return errors

    assert run_cluster(nodes, ["b1"], body) == [("before", True), ("after", True)]


def test_questions_about_another_nodes_process_are_refused_as_badarg(nodes: Cluster) -> None:
    async def body(names: list[str]) -> Any:
        (b1,) = names
        send(("py_echo", b1), ("spawn_victim", self_pid()))
        (_, victim) = await receive(("victim", ANY), timeout=30)
        refused = []
        for question in (beamlet.Process.alive, beamlet.Process.info):
            try:
                question(victim)
            except ValueError as error:
                refused.append(b1 in str(error))
        return refused

    assert run_cluster(nodes, ["b1"], body) == [True, True]
