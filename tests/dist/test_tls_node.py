"""A beamlet node started with ``tls=`` in a cluster of Elixir nodes on TLS distribution:
GenServer.call both ways, rpc, and a node without TLS kept out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import erlang_nodes
from erlang_nodes import COOKIE, HOST, Cluster, elixir_tls
from test_tls import Pki, optfile, pki  # noqa: F401 - pki is a fixture

import beamlet
from beamlet import GenServer, Node, aio, rpc

cluster = erlang_nodes.cluster

PY = f"py@{HOST}"
SERVER = (
    "defmodule Echo do use GenServer; def init(x), do: {:ok, x}; "
    "def handle_call(r, _from, s), do: {:reply, {:ok, r}, s} end; "
    "{:ok, _} = GenServer.start(Echo, nil, name: :echo); IO.puts(\"ready\"); "
    f'IO.puts("R " <> inspect(GenServer.call({{:pyecho, :"{PY}"}}, :hi))); '
    "Process.sleep(:infinity)"
)


class PyEcho(GenServer):
    async def init(self, arg: Any) -> Any:
        return ("ok", None)

    async def handle_call(self, request: Any, from_: Any, state: Any) -> Any:
        return ("reply", ("py", request), state)


def test_a_tls_beamlet_node_calls_and_is_called_by_tls_elixir(
        cluster: Cluster, pki: Pki, tmp_path: Path) -> None:  # noqa: F811
    elixir_options = optfile(tmp_path, pki.node("exnode"))

    async def main() -> Any:
        await GenServer.start(PyEcho, None, name="pyecho")
        elixir = elixir_tls(cluster, "extls", SERVER, optfile=elixir_options)
        await aio.await_(elixir.expect("ready"))
        ours = await GenServer.call(("echo", elixir.name), "hello")
        theirs = await aio.await_(elixir.expect("R "))
        return ours, theirs, await rpc.call(elixir.name, "erlang", "node", [])

    result = beamlet.run(main, name=PY, cookie=COOKIE, epmd_port=cluster.epmd_port,
                         tls=pki.node("py"))
    assert result == (("ok", "hello"), "R {:py, :hi}", f"extls@{HOST}")


def test_a_plain_beamlet_node_cannot_join_a_tls_cluster(
        cluster: Cluster, pki: Pki, tmp_path: Path) -> None:  # noqa: F811
    elixir_options = optfile(tmp_path, pki.node("exnode"))

    async def main() -> Any:
        elixir = elixir_tls(cluster, "extls", 'IO.puts("ready"); Process.sleep(:infinity)',
                            optfile=elixir_options)
        await aio.await_(elixir.expect("ready"))
        return await Node.connect(elixir.name)

    assert beamlet.run(main, name=PY, cookie=COOKIE, epmd_port=cluster.epmd_port) is False
