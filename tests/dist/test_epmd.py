"""EPMD: the request bytes, the built-in server, and both against the real epmd and Elixir.

The real daemon runs on a port of the test's own (never 4369); Elixir nodes are told that port
through ``ERL_EPMD_PORT``.
"""

import asyncio
import struct

import erlang_nodes
import pytest
from erlang_nodes import Cluster, free_port
from hypothesis import given, strategies as st

from beamlet.dist import epmd

cluster = erlang_nodes.cluster  # the fixture: real nodes on an EPMD port of the test's own

names_strategy = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_", min_size=1, max_size=40)


# --- sans-IO: bytes as the protocol document lays them out ------------------------------------


def test_alive2_request_layout() -> None:
    request = epmd.build_alive2_request("py", 4242)
    # u16 length, 120, port, 'M' (normal), 0 (tcp), highest 6, lowest 6, "py", no extra
    assert request == bytes([0, 15, 120, 0x10, 0x92, 77, 0, 0, 6, 0, 6, 0, 2]) + b"py" + bytes(
        [0, 0]
    )
    assert epmd.build_alive2_request("py", 4242, hidden=True)[5] == 72


def test_alive2_refuses_full_node_names() -> None:
    with pytest.raises(ValueError, match="alive part"):
        epmd.build_alive2_request("py@vm", 1)


def test_alive2_responses() -> None:
    assert epmd.parse_alive2_response(bytes([118, 0]) + struct.pack(">I", 0xDEADBEEF)) == 0xDEADBEEF
    assert epmd.parse_alive2_response(bytes([121, 0, 0, 3])) == 3
    with pytest.raises(epmd.EpmdError, match="name is taken"):
        epmd.parse_alive2_response(bytes([118, 1, 0, 0, 0, 0]))
    with pytest.raises(epmd.EpmdError, match="not an ALIVE2"):
        epmd.parse_alive2_response(b"xy")


def test_port2_response() -> None:
    answer = bytes([119, 0, 0x10, 0x92, 77, 0, 0, 6, 0, 6, 0, 2]) + b"ex" + bytes([0, 1, 9])
    entry = epmd.parse_port2_response(answer)
    assert (entry.name, entry.port, entry.hidden, entry.extra) == ("ex", 4242, False, b"\x09")
    assert (entry.highest_version, entry.lowest_version) == (6, 6)
    assert epmd.parse_port2_response(bytes([119, 1])) is None


def test_names_response() -> None:
    text = b"name ex1 at port 4000\nname py at port 51234\n"
    assert epmd.parse_names_response(struct.pack(">I", 4369) + text) == (
        4369,
        [("ex1", 4000), ("py", 51234)],
    )


# --- sans-IO: the server's table --------------------------------------------------------------


def test_registry_refuses_a_duplicate_and_forgets_on_close() -> None:
    registry = epmd.EpmdRegistry()
    answer, entry = registry.alive2(epmd.build_alive2_request("py", 5000)[2:])
    assert answer[:2] == bytes([118, 0]) and entry.creation != 0
    refused, nothing = registry.alive2(epmd.build_alive2_request("py", 5001)[2:])
    assert refused[:2] == bytes([118, 1]) and nothing is None
    registry.unregister(entry)
    assert registry.port_please2(epmd.build_port_please2_request("py")[2:]) == bytes([119, 1])


def test_registry_gives_a_new_creation_to_a_restarted_name() -> None:
    registry = epmd.EpmdRegistry()
    creations = []
    for _ in range(50):
        _, entry = registry.alive2(epmd.build_alive2_request("py", 5000)[2:])
        creations.append(entry.creation)
        registry.unregister(entry)
    assert all(earlier != later for earlier, later in zip(creations, creations[1:], strict=False))


@given(
    names=st.lists(names_strategy, unique=True, max_size=8),
    ports=st.lists(st.integers(1, 65535), min_size=8, max_size=8),
    hidden=st.booleans(),
)
def test_registry_answers_what_was_registered(
    names: list[str], ports: list[int], hidden: bool
) -> None:
    registry = epmd.EpmdRegistry()
    for name, port in zip(names, ports, strict=False):
        registry.alive2(epmd.build_alive2_request(name, port, hidden=hidden)[2:])
    for name, port in zip(names, ports, strict=False):
        entry = epmd.parse_port2_response(
            registry.port_please2(epmd.build_port_please2_request(name)[2:])
        )
        assert (entry.name, entry.port, entry.hidden) == (name, port, hidden)
    assert epmd.parse_names_response(registry.names(4369)) == (
        4369,
        list(zip(names, ports, strict=False)),
    )


# --- the built-in server, through our client --------------------------------------------------


def test_builtin_server_serves_the_client() -> None:
    async def scenario() -> None:
        async with epmd.EpmdServer(0, "127.0.0.1") as server:
            registration = await epmd.register("py", 4321, epmd=server.port)
            assert registration.creation != 0 and registration.alive
            entry = await epmd.port_please("py", epmd=server.port)
            assert (entry.port, entry.lowest_version, entry.highest_version) == (4321, 6, 6)
            assert await epmd.port_please("nobody", epmd=server.port) is None
            with pytest.raises(epmd.EpmdError, match="taken"):
                await epmd.register("py", 4322, epmd=server.port)
            assert await epmd.names(epmd=server.port) == (server.port, [("py", 4321)])
            await registration.close()
            await server.wait_registered("py", registered=False)
            assert await epmd.port_please("py", epmd=server.port) is None
            again = await epmd.register("py", 4323, epmd=server.port)
            assert again.creation != registration.creation
            await again.close()

    asyncio.run(scenario())


def test_registration_ends_when_the_server_stops() -> None:
    async def scenario() -> None:
        server = await epmd.EpmdServer(0, "127.0.0.1").start()
        registration = await epmd.register("py", 4321, epmd=server.port)
        await server.stop()
        assert await registration.reader.read() == b""
        assert not registration.alive
        await registration.close()

    asyncio.run(scenario())


def test_ensure_epmd_starts_one_only_when_none_answers() -> None:
    async def scenario() -> None:
        port = free_port()
        ours = await epmd.ensure_epmd(port, "127.0.0.1")
        assert ours is not None and ours.port == port
        assert await epmd.ensure_epmd(port, "127.0.0.1") is None
        await ours.stop()

    asyncio.run(scenario())


def test_the_client_refuses_a_missing_epmd() -> None:
    with pytest.raises(epmd.EpmdError, match="no EPMD"):
        asyncio.run(epmd.names(epmd=free_port()))


# --- against the real epmd and real Elixir nodes ----------------------------------------------


def test_client_against_the_system_epmd(cluster: Cluster) -> None:
    cluster.start_epmd()

    async def scenario() -> None:
        registration = await epmd.register("pyreal", 4545, epmd=cluster.epmd_port)
        assert registration.creation != 0
        assert "name pyreal at port 4545" in cluster.epmd_names()
        entry = await epmd.port_please("pyreal", epmd=cluster.epmd_port)
        assert (entry.port, entry.node_type, entry.highest_version, entry.lowest_version) == (
            4545,
            77,
            6,
            6,
        )
        with pytest.raises(epmd.EpmdError, match="taken"):
            await epmd.register("pyreal", 4546, epmd=cluster.epmd_port)
        own_port, found = await epmd.names(epmd=cluster.epmd_port)
        assert own_port == cluster.epmd_port and ("pyreal", 4545) in found
        await registration.close()
        # The daemon sees the close in its select loop; ask until it has (no clock involved).
        for _ in range(1000):
            if await epmd.port_please("pyreal", epmd=cluster.epmd_port) is None:
                break
        assert await epmd.port_please("pyreal", epmd=cluster.epmd_port) is None

    asyncio.run(scenario())


def _same_answers(port: int) -> list[bytes]:
    """The raw answers of one request sequence (creations blanked), to compare two daemons."""

    async def sequence() -> list[bytes]:
        answers = []
        first = await epmd.register("twin", 7000, epmd=port)
        for request in (
            epmd.build_port_please2_request("twin"),
            epmd.build_port_please2_request("none"),
            epmd.build_alive2_request("twin", 7001),
        ):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(request)
            answer = await reader.read(64)
            answers.append(answer[:2] if answer[:1] == b"v" else answer)
            writer.close()
        await first.close()
        return answers

    return asyncio.run(sequence())


def test_builtin_server_answers_as_the_system_epmd(cluster: Cluster) -> None:
    cluster.start_epmd()
    real = _same_answers(cluster.epmd_port)

    async def ours() -> list[bytes]:
        async with epmd.EpmdServer(0, "127.0.0.1") as server:
            return await asyncio.get_running_loop().run_in_executor(
                None, _same_answers, server.port
            )

    assert asyncio.run(ours()) == real


def test_elixir_registers_in_the_builtin_server(cluster: Cluster) -> None:
    """Only our EPMD runs: an Elixir node registers in it, and `epmd -names` reads it."""

    async def scenario() -> None:
        async with epmd.EpmdServer(cluster.epmd_port, "127.0.0.1") as server:
            node = cluster.elixir("exreg", 'IO.puts("up #{node()}"); Process.sleep(:infinity)')
            await node.expect("up exreg@")
            await server.wait_registered("exreg")
            listing = await asyncio.get_running_loop().run_in_executor(None, cluster.epmd_names)
            assert f"up and running on port {cluster.epmd_port}" in listing
            assert "name exreg at port" in listing
            entry = await epmd.port_please("exreg", epmd=server.port)
            assert entry.node_type == 77 and entry.lowest_version <= 6 == entry.highest_version
            node.process.kill()  # ends the registering socket: the name goes away
            await server.wait_registered("exreg", registered=False)

    asyncio.run(scenario())


def test_ensure_epmd_leaves_a_running_system_epmd_alone(cluster: Cluster) -> None:
    daemon = cluster.start_epmd()
    assert asyncio.run(epmd.ensure_epmd(cluster.epmd_port, "127.0.0.1")) is None
    assert daemon.poll() is None and "up and running" in cluster.epmd_names()


def test_builtin_server_survives_malformed_requests() -> None:
    async def send_raw(port: int, data: bytes) -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(data)
        await writer.drain()
        writer.write_eof()
        answer = await reader.read()
        writer.close()
        return answer

    async def scenario() -> None:
        async with epmd.EpmdServer(0, "127.0.0.1") as server:
            assert await send_raw(server.port, b"\x00\x00") == b""  # empty request
            assert await send_raw(server.port, b"\x00\x01\x07") == b""  # unknown request
            assert await send_raw(server.port, b"\x00\x05") == b""  # cut short
            short_alive2 = b"\x00\x03" + bytes([120, 0, 1])
            assert (await send_raw(server.port, short_alive2))[:2] == bytes([118, 1])
            assert server.registry.nodes == {}
            registration = await epmd.register("py", 4000, epmd=server.port)
            assert (await epmd.port_please("py", epmd=server.port)).port == 4000
            await registration.close()

    asyncio.run(scenario())
