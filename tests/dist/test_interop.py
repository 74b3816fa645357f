"""The interop scenarios of the research (section 4), both ways, against real Elixir nodes.

Elixir initiates: an Elixir node runs the research's exact commands against a beamlet node
that serves `py_echo`, the GenServer `echo` and `victim`. Python initiates: the beamlet node
does the same to an Elixir node serving the same names (the research's stand-in, inline).
Each Elixir node prints one line per result; the test waits for it (no sleeps).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import erlang_nodes
from beamlet_node import victim  # exits with R when it receives {:exit, R}
from erlang_nodes import COOKIE, HOST, Cluster

import beamlet
from beamlet import (
    ANY,
    Down,
    Exit,
    GenServer,
    Node,
    ProcessExit,
    aio,
    erpc,
    exit,
    link,
    monitor,
    receive,
    register,
    rpc,
    self_pid,
    send,
    spawn,
    unlink,
)
from beamlet.kernel.terms import RemotePid

cluster = erlang_nodes.cluster

PY = f"py@{HOST}"


def run_node(cluster: Cluster, body: Callable[[], Awaitable[Any]], **options: Any) -> Any:
    """Run ``body`` as the first process of the beamlet node `PY` on the cluster's EPMD."""
    return beamlet.run(body, name=PY, cookie=options.pop("cookie", COOKIE),
                       epmd_port=cluster.epmd_port, **options)


def line(node: erlang_nodes.ErlangNode, prefix: str) -> Awaitable[str]:
    return aio.await_(node.expect(prefix))


# --- what the beamlet node serves (research section 4) ----------------------------------------


async def py_echo() -> None:
    while True:
        message = await receive()
        match message:
            case ("spawn_victim", sender):
                send(sender, ("victim", spawn(victim)))
            case (sender, payload):
                send(sender, ("reply", payload))


class Echo(GenServer):
    async def init(self, arg: Any) -> Any:
        return ("ok", None)

    async def handle_call(self, request: Any, from_: Any, state: Any) -> Any:
        if request == "from":
            return ("reply", from_, state)
        if request == "crash":
            raise RuntimeError("boom")
        return ("reply", ("ok", request), state)


async def serve() -> None:
    register(spawn(py_echo), "py_echo")
    register(spawn(victim), "victim")
    await GenServer.start(Echo, None, name="echo")


def elixir_against_python(cluster: Cluster, script: str, prefix: str = "R ") -> str:
    """Run ``script`` on an Elixir node against the serving beamlet node; its result line."""

    async def body() -> str:
        await serve()
        elixir = cluster.elixir("a", script)
        return (await line(elixir, prefix))[len(prefix):]

    result: str = run_node(cluster, body)
    return result


def out(expr: str) -> str:
    return f'IO.puts("R " <> inspect({expr}))'


N = f':"{PY}"'
RECEIVE = 'receive do m -> m after 20000 -> :timeout end'


# --- Elixir initiates ---------------------------------------------------------------------------


def test_1_connect_and_list(cluster: Cluster) -> None:
    result = elixir_against_python(cluster, f"{out(f'{{Node.connect({N}), Node.list()}}')}")
    assert result == f"{{true, [:{PY}]}}"


def test_2_send_to_a_registered_python_process(cluster: Cluster) -> None:
    script = f"send({{:py_echo, {N}}}, {{self(), :hello}}); {out(RECEIVE)}"
    assert elixir_against_python(cluster, script) == "{:reply, :hello}"


def test_3_genserver_call_into_python(cluster: Cluster) -> None:
    request = '{:get, "key", [1,2,3], %{"a" => 1.5}}'
    script = out(f"GenServer.call({{:echo, {N}}}, {request})")
    assert elixir_against_python(cluster, script) == \
        '{:ok, {:get, "key", [1, 2, 3], %{"a" => 1.5}}}'


def test_3_the_alias_tag_reaches_handle_call_unchanged(cluster: Cluster) -> None:
    script = (f"{{pid, tag}} = GenServer.call({{:echo, {N}}}, :from); "
              f"{out('{pid == self(), match?([:alias | r] when is_reference(r), tag)}')}")
    assert elixir_against_python(cluster, script) == "{true, true}"


def test_3b_call_to_an_unknown_name(cluster: Cluster) -> None:
    script = (f"r = try do GenServer.call({{:nobody, {N}}}, :x, 2000) catch :exit, r -> r end; "
              f"{out('r')}")
    assert elixir_against_python(cluster, script) == \
        f"{{:noproc, {{GenServer, :call, [{{:nobody, :{PY}}}, :x, 2000]}}}}"


def test_4_monitor_a_python_process(cluster: Cluster) -> None:
    script = (f"send({{:py_echo, {N}}}, {{:spawn_victim, self()}}); "
              "v = receive do {:victim, v} -> v end; ref = Process.monitor(v); "
              f"send(v, {{:exit, :boom}}); m = {RECEIVE}; "
              f"{out('match?({:DOWN, ^ref, :process, ^v, :boom}, m)')}")
    assert elixir_against_python(cluster, script) == "true"


def test_4b_monitor_a_python_process_by_name(cluster: Cluster) -> None:
    script = (f"Node.connect({N}); ref = Process.monitor({{:victim, {N}}}); "
              f"send({{:victim, {N}}}, {{:exit, :bye}}); m = {RECEIVE}; "
              f"{out('{m, ref == elem(m, 1)}')}")
    result = elixir_against_python(cluster, script)
    assert result.endswith(f", :process, {{:victim, :{PY}}}, :bye}}, true}}")


def test_4c_monitor_of_an_unknown_name_is_noproc(cluster: Cluster) -> None:
    script = (f"Node.connect({N}); ref = Process.monitor({{:nobody, {N}}}); m = {RECEIVE}; "
              f"{out('{elem(m, 0), elem(m, 3), elem(m, 4), ref == elem(m, 1)}')}")
    assert elixir_against_python(cluster, script) == \
        f"{{:DOWN, {{:nobody, :{PY}}}, :noproc, true}}"


def test_5_link_unlink_relink_and_the_exit_signal(cluster: Cluster) -> None:
    script = (f"Process.flag(:trap_exit, true); "
              f"send({{:py_echo, {N}}}, {{:spawn_victim, self()}}); "
              "v = receive do {:victim, v} -> v end; Process.link(v); Process.unlink(v); "
              f"Process.link(v); send(v, {{:exit, :boom}}); m = {RECEIVE}; "
              f"{out('match?({:EXIT, ^v, :boom}, m)')}")
    assert elixir_against_python(cluster, script) == "true"


def test_5b_an_elixir_exit_kills_a_linked_python_process(cluster: Cluster) -> None:
    """Process.exit from Elixir (EXIT2) and a link's exit (EXIT) both reach Python."""
    script = (f"send({{:py_echo, {N}}}, {{:spawn_victim, self()}}); "
              "v = receive do {:victim, v} -> v end; ref = Process.monitor(v); "
              f"Process.exit(v, :shot); m = {RECEIVE}; "
              f"{out('match?({:DOWN, ^ref, _, _, :shot}, m)')}")
    assert elixir_against_python(cluster, script) == "true"


def test_6_rpc_into_the_python_node(cluster: Cluster) -> None:
    script = out(f"{{:rpc.call({N}, :erlang, :node, [], 2000), "
                 f":erpc.call({N}, :erlang, :node, [], 2000)}}")
    assert elixir_against_python(cluster, script) == f"{{:{PY}, :{PY}}}"


def test_6b_rpc_of_exported_python_functions_and_failures(cluster: Cluster) -> None:
    class Maths:
        @staticmethod
        def add(a: int, b: int) -> int:
            return a + b

        @staticmethod
        def fail(text: bytes) -> None:
            raise ValueError(text.decode())

    async def body() -> list[str]:
        beamlet.rpc.export("maths", Maths)
        try:
            elixir = cluster.elixir("a", (
                f"{out(f':rpc.call({N}, :maths, :add, [2, 3])')}; "
                f"{out(f':rpc.call({N}, :maths, :nope, [])')}; "
                f"r = try do :erpc.call({N}, :maths, :fail, [\"bad\"]) catch k, r -> {{k, r}} end;"
                f" {out('r')}; "
                f"r = try do :erpc.call({N}, :maths, :add, [1]) catch k, r -> {{k, r}} end;"
                f" {out('r')}"))
            return [(await line(elixir, "R "))[2:] for _ in range(4)]
        finally:
            beamlet.rpc.export("maths", None)

    results = run_node(cluster, body)
    assert results[0] == "5"
    assert results[1] == "{:badrpc, {:EXIT, {:undef, [{:maths, :nope, [], []}]}}}"
    assert results[2] == '{:error, {:exception, {:ValueError, "bad"}, []}}'
    assert results[3] == "{:error, {:exception, :undef, [{:maths, :add, [1], []}]}}"


def test_6c_spawn_request_from_elixir(cluster: Cluster) -> None:
    """Scenario 7's E2E equivalent, against Python: spawn_request of timer:sleep is an
    undefined function on a beamlet node, so the process ends with undef; erlang:node
    runs and ends normally."""
    script = (f"ref = :erlang.spawn_request({N}, :erlang, :node, [], [:monitor]); "
              f"a = {RECEIVE}; b = {RECEIVE}; "
              f"{out('{match?({:spawn_reply, ^ref, :ok, _}, a), elem(b, 0), elem(b, 4)}')}")
    assert elixir_against_python(cluster, script) == "{true, :DOWN, :normal}"


def test_8b_nodedown_when_the_python_node_stops(cluster: Cluster) -> None:
    async def body() -> str:
        elixir = cluster.elixir("m", (
            f":net_kernel.monitor_nodes(true); IO.puts(\"up #{{Node.connect({N})}}\"); "
            f"receive do {{:nodedown, n}} -> IO.puts(\"down #{{n}}\") after 30000 -> "
            "IO.puts(\"no nodedown\") end"))
        return await line(elixir, "up")

    assert run_node(cluster, body) == "up true"
    # the node has stopped: the Elixir node must see nodedown at once
    elixir = cluster.processes[-1]
    assert elixir.stdout is not None
    rest = elixir.stdout.readline()
    while rest.startswith("up") or not rest.strip():
        rest = elixir.stdout.readline()
    assert rest.strip() == f"down {PY}"


def test_9_a_wrong_cookie_is_refused_both_ways(cluster: Cluster) -> None:
    async def body() -> tuple[str, bool]:
        elixir = cluster.elixir("a", f"{out(f'Node.connect({N})')}; Process.sleep(:infinity)",
                                cookie="wrong")
        result = await line(elixir, "R ")
        return result, await Node.connect(elixir.name)

    assert run_node(cluster, body) == ("R false", False)


def test_10_a_hidden_python_node(cluster: Cluster) -> None:
    async def body() -> str:
        elixir = cluster.elixir("a", out(f"{{Node.connect({N}), Node.list(), Node.list(:hidden)}}"))
        return (await line(elixir, "R "))[2:]

    assert run_node(cluster, body, hidden=True) == f"{{true, [], [:{PY}]}}"


# --- Python initiates ----------------------------------------------------------------------------

STAND_IN = (
    "defmodule Echo do use GenServer; def init(x), do: {:ok, x}; "
    "def handle_call(:crash, _from, s), do: {:stop, :crashed, s}; "
    "def handle_call(r, _from, s), do: {:reply, {:ok, r}, s} end; "
    "{:ok, _} = GenServer.start(Echo, nil, name: :echo); "
    "defmodule Victim do def loop do receive do {:exit, r} -> exit(r) end end end; "
    "Process.register(spawn(&Victim.loop/0), :victim); "
    "echo = spawn(fn -> (loop = fn loop -> receive do "
    "{:spawn_victim, from} -> send(from, {:victim, spawn(&Victim.loop/0)}); loop.(loop); "
    "{from, msg} -> send(from, {:reply, msg}); loop.(loop) end end; loop.(loop)) end); "
    "Process.register(echo, :py_echo); "
    'IO.puts("ready"); Process.sleep(:infinity)'
)


def python_against_elixir(cluster: Cluster, body: Callable[[str], Awaitable[Any]],
                          **options: Any) -> Any:
    """Start the stand-in Elixir node, then run ``body(elixir_name)`` on the beamlet node."""

    async def main() -> Any:
        elixir = cluster.elixir("e", STAND_IN)
        await line(elixir, "ready")
        return await body(elixir.name)

    return run_node(cluster, main, **options)


def test_p1_connect_list_ping(cluster: Cluster) -> None:
    async def body(ex: str) -> Any:
        return await Node.connect(ex), Node.list(), await Node.ping(ex), \
            await Node.ping(f"nobody@{HOST}")

    assert python_against_elixir(cluster, body)[1:] == ([f"e@{HOST}"], "pong", "pang")


def test_p2_send_to_a_registered_elixir_process(cluster: Cluster) -> None:
    async def body(ex: str) -> Any:
        send(("py_echo", ex), (self_pid(), "hello"))
        return await receive(timeout=20)

    assert python_against_elixir(cluster, body) == ("reply", "hello")


def test_p3_genserver_call_into_elixir(cluster: Cluster) -> None:
    async def body(ex: str) -> Any:
        request = ("get", b"key", [1, 2, 3], {b"a": 1.5})
        return await GenServer.call(("echo", ex), request)

    assert python_against_elixir(cluster, body) == ("ok", ("get", b"key", [1, 2, 3], {b"a": 1.5}))


def test_p3b_call_to_an_unknown_name_and_a_crashing_server(cluster: Cluster) -> None:
    async def body(ex: str) -> Any:
        reasons = []
        for server, request in ((("nobody", ex), "x"), (("echo", ex), "crash")):
            try:
                await GenServer.call(server, request, 5)
            except ProcessExit as stopped:
                reasons.append(stopped.reason[0])
        return reasons

    assert python_against_elixir(cluster, body) == ["noproc", "crashed"]


def test_p4_monitor_an_elixir_process_by_pid_and_by_name(cluster: Cluster) -> None:
    async def body(ex: str) -> Any:
        send(("py_echo", ex), ("spawn_victim", self_pid()))
        (_, v) = await receive(("victim", ANY))
        ref = monitor(v)
        send(v, ("exit", "boom"))
        by_pid = await receive(Down(ref, ANY, ANY), timeout=20)
        ref2 = monitor(("victim", ex))
        send(("victim", ex), ("exit", "bye"))
        by_name = await receive(Down(ref2, ANY, ANY), timeout=20)
        ref3 = monitor(("nobody", ex))
        unknown = await receive(Down(ref3, ANY, ANY), timeout=20)
        return by_pid == Down(ref, v, "boom"), by_name, unknown

    same, by_name, unknown = python_against_elixir(cluster, body)
    assert same
    assert by_name.pid == ("victim", f"e@{HOST}") and by_name.reason == "bye"
    assert unknown.pid == ("nobody", f"e@{HOST}") and unknown.reason == "noproc"


def test_p5_link_unlink_relink_and_exits_both_ways(cluster: Cluster) -> None:
    async def body(ex: str) -> Any:
        beamlet.kernel.signals.trap_exit(True)
        send(("py_echo", ex), ("spawn_victim", self_pid()))
        (_, v) = await receive(("victim", ANY))
        link(v)
        unlink(v)
        link(v)
        send(v, ("exit", "boom"))
        first = await receive(Exit(v, ANY), timeout=20)
        send(("py_echo", ex), ("spawn_victim", self_pid()))
        (_, w) = await receive(("victim", ANY))
        ref = monitor(w)
        beamlet.Process.exit(w, "shot")  # EXIT2 to Elixir
        second = await receive(Down(ref, ANY, ANY), timeout=20)
        return first.reason, second.reason

    assert python_against_elixir(cluster, body) == ("boom", "shot")


def test_p5b_a_python_process_dying_kills_its_elixir_link(cluster: Cluster) -> None:
    async def body(ex: str) -> Any:
        send(("py_echo", ex), ("spawn_victim", self_pid()))
        (_, v) = await receive(("victim", ANY))
        ref = monitor(v)

        async def doomed() -> None:
            link(v)
            send(self_pid(), "linked")
            await receive("linked")
            exit("dying")

        spawn(doomed)
        return (await receive(Down(ref, ANY, ANY), timeout=20)).reason

    assert python_against_elixir(cluster, body) == "dying"


def test_p6_rpc_and_erpc_into_elixir(cluster: Cluster) -> None:
    async def body(ex: str) -> Any:
        results: list[Any] = [
            await rpc.call(ex, "erlang", "node", []),
            await erpc.call(ex, "erlang", "node", []),
            await rpc.call(ex, "lists", "reverse", [[1, 2, 3]]),
            await rpc.call(ex, "nope", "nope", []),
            await rpc.call(f"nobody@{HOST}", "erlang", "node", []),
        ]
        try:
            await erpc.call(ex, "erlang", "error", ["oops"])
        except beamlet.ErpcError as error:
            results.append((error.kind, error.reason))
        try:
            await erpc.call(ex, "erlang", "exit", ["gone"])
        except ProcessExit as stopped:
            results.append(stopped.reason)
        results.append(await rpc.call(ex, "timer", "sleep", [5000], timeout=0.2))
        return results

    results = python_against_elixir(cluster, body)
    ex = f"e@{HOST}"
    assert results[:3] == [ex, ex, [3, 2, 1]]
    assert results[3][0] == "badrpc" and results[3][1][0] == "EXIT"
    assert results[3][1][1][0] == "undef"
    assert results[4] == ("badrpc", "nodedown")
    assert results[5] == ("error", "oops")
    assert results[6] == ("exception", "gone")
    assert results[7] == ("badrpc", "timeout")


def test_p7_spawn_an_mfa_on_elixir_and_monitor_it(cluster: Cluster) -> None:
    async def body(ex: str) -> Any:
        pid, ref = await Node.spawn_monitor(ex, "timer", "sleep", [10])
        down = await receive(Down(ref, ANY, ANY), timeout=20)
        return isinstance(pid, RemotePid), beamlet.node(pid), down.reason

    assert python_against_elixir(cluster, body) == (True, f"e@{HOST}", "normal")


def test_p8_kill_of_the_elixir_node_ends_links_and_monitors_with_noconnection(
        cluster: Cluster) -> None:
    async def body(ex: str) -> Any:
        beamlet.kernel.signals.trap_exit(True)
        send(("py_echo", ex), ("spawn_victim", self_pid()))
        (_, v) = await receive(("victim", ANY))
        link(v)
        monitor(v)
        Node.monitor(ex)
        Node.monitor_nodes(True)
        await GenServer.call(("echo", ex), "sync")  # the link and monitor are in place there
        cluster.processes[-1].kill()  # kill -9 of the Elixir node
        got = [await receive(timeout=20) for _ in range(4)]
        return got, Node.list()

    got, nodes = python_against_elixir(cluster, body)
    ex = f"e@{HOST}"
    assert Exit(got[0].pid, "noconnection") in got
    assert any(isinstance(m, Down) and m.reason == "noconnection" for m in got)
    assert got.count(("nodedown", ex)) == 2
    assert nodes == []


def test_p9_the_elixir_side_sees_the_alias_reply_dropped_after_a_timeout(
        cluster: Cluster) -> None:
    """GenServer.call from Python with a timeout: the late reply is not left in the mailbox."""

    async def body(ex: str) -> Any:
        try:
            await GenServer.call(("echo", ex), "x", 0)
        except ProcessExit as stopped:
            first = stopped.reason[0]
        await GenServer.call(("echo", ex), "sync")
        return first, beamlet.flush()

    assert python_against_elixir(cluster, body) == ("timeout", [])


def test_8_elixir_sees_a_stopped_python_node_go_down_within_net_ticktime(
        cluster: Cluster) -> None:
    """Scenario 8: the Python node in an OS process of its own, SIGSTOPped; both ends at
    net_ticktime 4 as the research ran it."""
    import asyncio
    import os
    import signal

    async def scenario() -> str:
        python = erlang_nodes.beamlet_node(cluster, "stopped", ticktime=4)
        await python.expect("ready")
        elixir = cluster.elixir("m", (
            f':net_kernel.monitor_nodes(true); IO.puts("up #{{Node.connect(:"{python.name}")}}");'
            ' receive do {:nodedown, n} -> IO.puts("down #{n}") after 30000 -> '
            'IO.puts("no nodedown") end'), ticktime=4)
        assert await elixir.expect("up") == "up true"
        os.kill(python.process.pid, signal.SIGSTOP)
        try:
            return await elixir.expect("down")
        finally:
            os.kill(python.process.pid, signal.SIGCONT)

    cluster.start_epmd()
    assert asyncio.run(scenario()) == f"down stopped@{HOST}"


def test_long_names_both_ways(cluster: Cluster) -> None:
    long_name = "py@127.0.0.1"

    async def body() -> Any:
        await serve()
        elixir = cluster.elixir("a@127.0.0.1", (
            f'IO.puts("R " <> inspect(GenServer.call({{:echo, :"{long_name}"}}, :hi))); '
            'Process.register(self(), :waiter); IO.puts("ready"); Process.sleep(:infinity)'),
            long=True)
        theirs = await line(elixir, "R ")
        await line(elixir, "ready")
        return theirs, await rpc.call("a@127.0.0.1", "erlang", "node", [])

    result = beamlet.run(body, name=long_name, cookie=COOKIE, epmd_port=cluster.epmd_port)
    assert result == ("R {:ok, :hi}", "a@127.0.0.1")


def test_any_message_crosses_even_the_bytes_of_frame_markers(cluster: Cluster) -> None:
    """112 is the pass-through frame byte; a message that is 112 once went out without its
    payload (the marker doubled as "no payload")."""

    async def body(ex: str) -> Any:
        got = []
        for message in (112, 131, 68, 0, b"p", "p"):
            send(("py_echo", ex), (self_pid(), message))
            got.append((await receive(("reply", ANY), timeout=20))[1])
        return got

    assert python_against_elixir(cluster, body) == [112, 131, 68, 0, b"p", "p"]


def test_3c_a_python_genserver_crashing_in_an_elixir_call(cluster: Cluster) -> None:
    script = (f"r = try do GenServer.call({{:echo, {N}}}, :crash) catch :exit, r -> r end; "
              f"{out('elem(r, 0)')}")
    assert elixir_against_python(cluster, script) == '{:RuntimeError, "boom"}'
