"""Messages between a beamlet node (`beamlet.dist.node`) and real Elixir nodes.

Each test runs a beamlet node whose first process makes it a distribution node on the test's
own EPMD port, then starts an Elixir node (fixtures of erlang_nodes.py, killed by pid at the
end) and waits for the lines it prints or the messages it sends.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import erlang_nodes
import pytest
from erlang_nodes import COOKIE, GUARD_SECONDS, HOST, Cluster

import beamlet
from beamlet import ANY, aio, alias, make_ref, receive, register, self_pid, send, spawn
from beamlet.dist import epmd, etf, node as dist_node
from beamlet.kernel.terms import RemotePid

cluster = erlang_nodes.cluster  # the fixture: real nodes on an EPMD port of the test's own

PY = f"py@{HOST}"


def run_distributed(cluster: Cluster, body: Callable[[], Awaitable[Any]]) -> Any:
    """Run ``body`` as the first process of a beamlet node named `PY` on the cluster's EPMD."""

    async def main() -> Any:
        await dist_node.start(PY, COOKIE, epmd_port=cluster.epmd_port)
        return await body()

    return beamlet.run(main)


def expect(elixir: erlang_nodes.ErlangNode, prefix: str) -> Awaitable[str]:
    """Wait, in a beamlet process, for the Elixir node's next line starting with ``prefix``."""
    return aio.await_(elixir.expect(prefix))


def test_a_ref_we_sent_comes_back_as_itself_while_it_lives_then_is_forgotten() -> None:
    """(The table of refs sent holds them weakly: nothing stays behind for a ref gone.)"""
    nodes = Cluster(erlang_nodes.free_port())  # no Elixir here: the port for our own EPMD

    async def body() -> tuple[bool, bool, Any]:
        dist = dist_node.current()
        ref = make_ref()
        wire = dist.ref_to_wire(ref)
        off_the_wire = etf.decode(etf.encode(wire))  # the same ids, a new ExtRef
        came_back = dist.ref_from_wire(off_the_wire) is ref
        dist.codec.forget()  # (the codec's cache of bytes holds it too)
        del ref
        gc.collect()
        return came_back, wire.ids in dist.local_refs, dist.ref_from_wire(off_the_wire)

    try:
        came_back, still_held, later = run_distributed(nodes, body)
    finally:
        nodes.stop()
    assert came_back and not still_held and type(later) is etf.ExtRef


@pytest.mark.parametrize("epmd_kind", ["system", "builtin"])
def test_elixir_pings_a_beamlet_node(cluster: Cluster, epmd_kind: str) -> None:
    if epmd_kind == "system":
        cluster.start_epmd()

    async def body() -> str:
        elixir = cluster.elixir(
            "exping",
            f'IO.puts("ping #{{inspect(Node.ping(:"{PY}"))}}"); '
            'IO.puts("list #{inspect(Node.list())}")',
        )
        assert await expect(elixir, "list") == f"list [:{PY}]"
        return elixir.lines[0]

    assert run_distributed(cluster, body) == "ping :pong"


def test_stop_unregisters_and_stops_the_builtin_epmd(cluster: Cluster) -> None:
    async def body() -> bool:
        _, names = await aio.await_(epmd.names(epmd=cluster.epmd_port))
        return any(name == "py" for name, _ in names)

    assert run_distributed(cluster, body)
    with pytest.raises(epmd.EpmdError):  # our EPMD went away with the node
        asyncio.run(epmd.names(epmd=cluster.epmd_port))


def test_stop_unregisters_from_the_system_epmd(cluster: Cluster) -> None:
    cluster.start_epmd()

    async def body() -> None:
        assert "name py at port" in cluster.epmd_names()

    run_distributed(cluster, body)
    assert "name py at port" not in cluster.epmd_names()


async def echo() -> None:
    """Answer ``{pid, text}`` with ``{:reply, text, our_pid}`` to that pid."""
    while True:
        sender, text = await receive((ANY, bytes))
        send(sender, ("reply", text, self_pid()))


def test_elixir_sends_to_a_registered_beamlet_process_and_gets_the_reply(
    cluster: Cluster,
) -> None:
    async def body() -> list[str]:
        register(spawn(echo), "echo")
        elixir = cluster.elixir(
            "exsend",
            f'send({{:echo, :"{PY}"}}, {{self(), "hello"}}); '
            "receive do {:reply, text, pid} -> "
            'IO.puts("got #{inspect({text, node(pid), node(pid) == node()})}") '
            f'after {GUARD_SECONDS * 1000} -> IO.puts("got nothing") end',
        )
        return [await expect(elixir, "got")]

    assert run_distributed(cluster, body) == [f'got {{"hello", :{PY}, false}}']


LISTENER = (
    'Process.register(self(), :listener); IO.puts("ready"); '
    "receive do {:hello, from} -> send(from, {:world, node(), from, self()}) end; "
    'IO.puts("replied"); Process.sleep(:infinity)'
)


def test_beamlet_connects_to_elixir_to_send_to_a_name_and_gets_an_answer(
    cluster: Cluster,
) -> None:
    async def body() -> None:
        elixir = cluster.elixir("exhello", LISTENER)
        await expect(elixir, "ready")
        me = self_pid()
        send(("listener", elixir.name), ("hello", me))
        world, node, echoed, listener = await receive(
            ("world", ANY, ANY, ANY), timeout=GUARD_SECONDS)
        assert (world, node) == ("world", elixir.name)
        assert echoed is me  # our own pid came back as the very same Pid
        assert isinstance(listener, RemotePid) and listener.node_name == elixir.name
        await expect(elixir, "replied")

    run_distributed(cluster, body)


def test_a_remote_pid_is_one_object_and_can_be_sent_to(cluster: Cluster) -> None:
    """The listener's pid, received twice, is the same `RemotePid`; a send to it arrives."""
    script = (
        'Process.register(self(), :listener); IO.puts("ready"); '
        "for _ <- 1..2, do: (receive do {:who, from} -> send(from, {:me, self()}) end); "
        'receive do :ping -> IO.puts("pinged") end'
    )

    async def body() -> None:
        elixir = cluster.elixir("exwho", script)
        await expect(elixir, "ready")
        pids = []
        for _ in range(2):
            send(("listener", elixir.name), ("who", self_pid()))
            pids.append((await receive(("me", ANY), timeout=GUARD_SECONDS))[1])
        assert pids[0] is pids[1]
        send(pids[0], "ping")
        await expect(elixir, "pinged")

    run_distributed(cluster, body)


COUNT = 1000


def test_a_thousand_messages_from_beamlet_arrive_in_order(cluster: Cluster) -> None:
    script = (
        'Process.register(self(), :sink); IO.puts("ready"); '
        f"got = for _ <- 1..{COUNT}, do: (receive do {{:n, i}} -> i end); "
        f'IO.puts("ordered #{{got == Enum.to_list(1..{COUNT})}}")'
    )

    async def body() -> str:
        elixir = cluster.elixir("exsink", script)
        await expect(elixir, "ready")
        for i in range(1, COUNT + 1):
            send(("sink", elixir.name), ("n", i))
        return await expect(elixir, "ordered")

    assert run_distributed(cluster, body) == "ordered true"


def test_a_thousand_messages_from_elixir_arrive_in_order(cluster: Cluster) -> None:
    async def body() -> list[int]:
        register(self_pid(), "sink")
        cluster.elixir(
            "exsource",
            f'for i <- 1..{COUNT}, do: send({{:sink, :"{PY}"}}, {{:n, i}}); '
            f'send({{:sink, :"{PY}"}}, :done); Process.sleep(:infinity)',
        )
        got = []
        while (message := await receive(("n", int), "done", timeout=GUARD_SECONDS)) != "done":
            got.append(message[1])
        return got

    assert run_distributed(cluster, body) == list(range(1, COUNT + 1))


def test_elixir_sends_to_an_alias_of_a_beamlet_process(cluster: Cluster) -> None:
    """An alias sent to Elixir comes back as ALIAS_SEND and reaches the process that made it."""
    script = (
        'Process.register(self(), :listener); IO.puts("ready"); '
        "receive do {:alias, a} -> send(a, {:via_alias, a}) end; Process.sleep(:infinity)"
    )

    async def body() -> None:
        elixir = cluster.elixir("exalias", script)
        await expect(elixir, "ready")
        reply_to = alias()
        send(("listener", elixir.name), ("alias", reply_to))
        _, echoed = await receive(("via_alias", ANY), timeout=GUARD_SECONDS)
        assert echoed is reply_to  # our ref came back as the very same Ref

    run_distributed(cluster, body)


class _Seen(logging.Handler):
    """Sets an event when a log record containing ``text`` is emitted."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text
        self.event = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if self.text in record.getMessage():
            self.event.set()


def test_a_send_to_an_unreachable_node_is_dropped_and_the_node_goes_on(cluster: Cluster) -> None:
    failure = _Seen(f"could not connect to nobody@{HOST}")
    logger = logging.getLogger("beamlet.dist")
    logger.addHandler(failure)

    async def body() -> str:
        send(("anyone", f"nobody@{HOST}"), "lost")
        assert await aio.await_(asyncio.to_thread(failure.event.wait, GUARD_SECONDS))
        elixir = cluster.elixir("exafter", f'IO.puts("ping #{{inspect(Node.ping(:"{PY}"))}}")')
        return await expect(elixir, "ping")

    try:
        assert run_distributed(cluster, body) == "ping :pong"
    finally:
        logger.removeHandler(failure)
