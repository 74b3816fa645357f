"""docs/distribution.md, as written: examples/elixir_cluster.py and the iex session of the
page (run with `elixir -e`, one expression per line), both ways."""

from __future__ import annotations

import asyncio
import os
import sys

import erlang_nodes
from erlang_nodes import HOST, Cluster

cluster = erlang_nodes.cluster

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PY = f"py@{HOST}"

SESSION = [  # (what the page types in iex, what iex prints)
    (f'GenServer.call({{:counter, :"{PY}"}}, :increment)', "1"),
    (f'GenServer.call({{:counter, :"{PY}"}}, :increment)', "2"),
    (f':rpc.call(:"{PY}", :py_math, :fib, [30])', "832040"),
    (f':rpc.call(:"{PY}", :py_math, :upcase, ["hello"])', '"HELLO"'),
    (f':rpc.call(:"{PY}", :py_math, :nope, [])',
     "{:badrpc, {:EXIT, {:undef, [{:py_math, :nope, [], []}]}}}"),
    ("Node.list()", f"[:{PY}]"),
]
LATER = (
    'Agent.start_link(fn -> ["buy milk"] end, name: :notes); '
    f'Node.disconnect(:"{PY}"); GenServer.call({{:counter, :"{PY}"}}, :get)'
)


def test_the_guide_session_both_ways(cluster: Cluster) -> None:
    python = cluster.start([sys.executable, os.path.join(ROOT, "examples", "elixir_cluster.py"),
                            "--stop-after", "2"], PY)
    script = "; ".join(f'IO.puts("R " <> inspect({expr}))' for expr, _ in SESSION)
    script += f"; {LATER}; IO.puts(\"done\"); Process.sleep(:infinity)"

    async def scenario() -> tuple[list[str], list[str]]:
        assert (await python.expect(PY)).startswith(f"{PY} is up")
        elixir = cluster.elixir("ex", script, cookie="beamlet")
        answers = [(await elixir.expect("R "))[2:] for _ in SESSION]
        await elixir.expect("done")
        said = [await python.expect(f"ex@{HOST} connected"), await python.expect("it has"),
                await python.expect(f"ex@{HOST} left"),
                await python.expect(f"ex@{HOST} connected"), await python.expect("its :notes")]
        elixir.process.kill()  # the node goes: the example stops after its second nodedown
        said.append(await python.expect(f"ex@{HOST} left"))
        return answers, said

    answers, said = asyncio.run(scenario())
    assert answers == [printed for _, printed in SESSION]
    assert said[1] == "it has no :notes agent (noproc)"
    assert said[4] == "its :notes agent holds [b'buy milk']"
    assert python.process.wait(timeout=60) == 0
