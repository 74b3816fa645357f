"""`beamlet.run(main, name=..., cookie=...)`: a distribution node before ``main`` starts."""

from __future__ import annotations

import os
import stat

import erlang_nodes
import pytest
from erlang_nodes import COOKIE, HOST, Cluster

import beamlet
from beamlet import aio, node
from beamlet.running import home_cookie, node_name

cluster = erlang_nodes.cluster  # real Elixir nodes on an EPMD port of the test's own


def test_a_short_name_gets_the_short_host_name() -> None:
    assert node_name("py") == f"py@{HOST}"
    assert node_name("py@example.org") == "py@example.org"


@pytest.mark.parametrize("bad", ["", "@host", "a@b@c", "py@", 7])
def test_a_bad_node_name_is_refused(bad: object) -> None:
    with pytest.raises(ValueError):
        node_name(bad)  # type: ignore[arg-type]  # the wrong type is the point


def test_the_home_cookie_is_read_or_made_as_erlang_makes_it(tmp_path: os.PathLike[str]) -> None:
    path = os.path.join(tmp_path, ".erlang.cookie")
    made = home_cookie(path)
    assert len(made) == 20 and made.isalpha() and made.isupper()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o400
    assert home_cookie(path) == made  # read back, not made again


def test_main_runs_on_a_registered_node_that_elixir_can_ping(cluster: Cluster) -> None:
    async def main() -> tuple[str, str]:
        elixir = cluster.elixir("pinger", f'IO.puts("ping #{{Node.ping(:"py@{HOST}")}}")')
        line = await aio.await_(elixir.expect("ping"))
        return node(), line

    me, line = beamlet.run(main, name="py", cookie=COOKIE, epmd_port=cluster.epmd_port)
    assert me == f"py@{HOST}"
    assert line == "ping pong"


def test_without_name_or_cookie_the_node_stays_local() -> None:
    assert beamlet.run(node) == "nonode@nohost"
