"""The version-6 handshake: the sans-IO core between two of ours, then against real OTP 25.

The interop half starts Elixir nodes (see erlang_nodes.py): Elixir pinging a Python acceptor
(``Node.ping`` is a ``$gen_call`` to net_kernel, which the test answers), Python connecting to
Elixir and exchanging messages, wrong cookies both ways, ticks, long names.
"""

import asyncio
import logging
import os
import signal
import struct

import erlang_nodes
import pytest
from erlang_nodes import (
    COOKIE,
    HOST,
    REG_SEND,
    SEND_SENDER,
    Cluster,
    answer_net_kernel,
    our_pid,
    pass_through,
    split_frame,
)
from hypothesis import given, strategies as st

from beamlet.dist import epmd, handshake as hs

cluster = erlang_nodes.cluster  # the fixture: real nodes on an EPMD port of the test's own

A = f"alpha@{HOST}"
B = f"beta@{HOST}"


# --- sans-IO: two cores wired together --------------------------------------------------------


def pump(
    initiator: hs.InitiatorHandshake, acceptor: hs.AcceptorHandshake, cut: list[int] | None = None
) -> None:
    """Carry bytes both ways until neither has anything to say; ``cut`` splits every write."""
    while True:
        moved = False
        for source, target in ((initiator, acceptor), (acceptor, initiator)):
            data = source.data_to_send()
            if data:
                moved = True
                for piece in _pieces(data, cut):
                    target.feed(piece)
        if not moved:
            return


def _pieces(data: bytes, cut: list[int] | None) -> list[bytes]:
    if not cut:
        return [data]
    pieces, start = [], 0
    for size in cut:
        if start >= len(data):
            break
        pieces.append(data[start : start + size])
        start += size
    if start < len(data):
        pieces.append(data[start:])
    return pieces


def test_handshake_between_two_cores() -> None:
    initiator = hs.InitiatorHandshake(A, "secret", peer_name=B, creation=11)
    acceptor = hs.AcceptorHandshake(B, "secret", creation=22)
    pump(initiator, acceptor)
    assert initiator.done and acceptor.done
    assert initiator.peer == hs.PeerInfo(B, hs.DEFAULT_FLAGS, 22, "ok")
    assert acceptor.peer == hs.PeerInfo(A, hs.DEFAULT_FLAGS, 11, "ok")
    assert initiator.leftover() == acceptor.leftover() == b""


@given(cut=st.lists(st.integers(1, 7), max_size=40))
def test_any_chunking_gives_the_same_handshake(cut: list[int]) -> None:
    initiator = hs.InitiatorHandshake(A, "secret", peer_name=B, creation=11)
    acceptor = hs.AcceptorHandshake(B, "secret", creation=22)
    pump(initiator, acceptor, cut)
    assert initiator.done and acceptor.done
    assert (initiator.peer.name, acceptor.peer.name) == (B, A)


def test_status_and_challenge_in_one_read_and_a_frame_after_the_ack() -> None:
    initiator = hs.InitiatorHandshake(A, "secret", peer_name=B)
    acceptor = hs.AcceptorHandshake(B, "secret")
    acceptor.feed(initiator.data_to_send())
    status_and_challenge = acceptor.data_to_send()
    assert status_and_challenge.startswith(b"\x00\x03sok\x00")
    initiator.feed(status_and_challenge)
    acceptor.feed(initiator.data_to_send())
    tick = b"\x00\x00\x00\x00"
    initiator.feed(acceptor.data_to_send() + tick)
    assert initiator.done and initiator.leftover() == tick


def test_digest_is_md5_of_cookie_then_decimal_challenge() -> None:
    # erlang:md5("c" ++ "4294967295") computed by hand with the digest's definition
    import hashlib

    assert hs.digest(4294967295, "c") == hashlib.md5(b"c4294967295").digest()
    assert hs.digest(7, "c") != hs.digest(7, "d")


def test_wrong_cookie_is_refused_by_the_acceptor(caplog: pytest.LogCaptureFixture) -> None:
    initiator = hs.InitiatorHandshake(A, "right", peer_name=B)
    acceptor = hs.AcceptorHandshake(B, "wrong")
    with (
        caplog.at_level(logging.ERROR, "beamlet.dist"),
        pytest.raises(hs.HandshakeError, match="cookie"),
    ):
        pump(initiator, acceptor)
    assert not initiator.done and initiator.state == "ack"
    with pytest.raises(hs.HandshakeError, match="already failed"):
        acceptor.feed(b"")
    assert any(
        "Invalid challenge reply" in record.message and A in record.message
        for record in caplog.records
    )


def test_wrong_cookie_is_refused_by_the_initiator(caplog: pytest.LogCaptureFixture) -> None:
    initiator = hs.InitiatorHandshake(A, "right", peer_name=B)
    acceptor = hs.AcceptorHandshake(B, "right")
    acceptor.feed(initiator.data_to_send())
    initiator.feed(acceptor.data_to_send())
    acceptor.feed(initiator.data_to_send())
    genuine_ack = acceptor.data_to_send()
    forged_ack = genuine_ack[:3] + bytes(16)
    with (
        caplog.at_level(logging.ERROR, "beamlet.dist"),
        pytest.raises(hs.HandshakeError, match="cookie"),
    ):
        initiator.feed(forged_ack)
    assert any("invalid challenge ack" in record.message for record in caplog.records)


def test_a_missing_mandatory_flag_is_refused_unless_the_digest_bit_stands_for_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    without_maps = hs.DEFAULT_FLAGS & ~hs.MAP_TAG & ~hs.MANDATORY_25_DIGEST
    initiator = hs.InitiatorHandshake(A, "c", peer_name=B, flags=without_maps)
    with (
        caplog.at_level(logging.ERROR, "beamlet.dist"),
        pytest.raises(hs.HandshakeError, match="MAP_TAG"),
    ):
        pump(initiator, hs.AcceptorHandshake(B, "c"))
    assert any("cannot handle ['MAP_TAG']" in record.message for record in caplog.records)

    digest_only = hs.DEFAULT_FLAGS & ~hs.MAP_TAG
    initiator = hs.InitiatorHandshake(A, "c", peer_name=B, flags=digest_only)
    acceptor = hs.AcceptorHandshake(B, "c")
    pump(initiator, acceptor)
    assert acceptor.done

    initiator = hs.InitiatorHandshake(A, "c", peer_name=B)
    old_acceptor = hs.AcceptorHandshake(
        B, "c", flags=hs.DEFAULT_FLAGS & ~hs.HANDSHAKE_23 & ~hs.MANDATORY_25_DIGEST
    )
    with pytest.raises(hs.HandshakeError, match="HANDSHAKE_23"):
        pump(initiator, old_acceptor)


def _frame(body: bytes) -> bytes:
    return struct.pack(">H", len(body)) + body


def test_old_send_name_and_complement_are_accepted() -> None:
    """An OTP 23/24 node's 'n' (32-bit flags) completed by 'c' (high flags, creation)."""
    acceptor = hs.AcceptorHandshake(B, "c")
    low, high = hs.DEFAULT_FLAGS & 0xFFFFFFFF, hs.DEFAULT_FLAGS >> 32
    acceptor.feed(_frame(b"n" + struct.pack(">HI", 5, low) + A.encode()))
    answer = acceptor.data_to_send()
    assert answer.startswith(_frame(b"sok"))
    challenge_frame = answer[len(_frame(b"sok")) :]
    (challenge,) = struct.unpack_from(">I", challenge_frame, 2 + 1 + 8)
    acceptor.feed(_frame(b"c" + struct.pack(">II", high, 4242)))
    acceptor.feed(_frame(b"r" + struct.pack(">I", 99) + hs.digest(challenge, "c")))
    assert acceptor.done
    assert acceptor.peer == hs.PeerInfo(A, hs.DEFAULT_FLAGS, 4242, "ok")
    assert acceptor.data_to_send() == _frame(b"a" + hs.digest(99, "c"))


def test_old_send_name_without_handshake_23_is_refused() -> None:
    acceptor = hs.AcceptorHandshake(B, "c")
    with pytest.raises(hs.HandshakeError, match="version 5"):
        acceptor.feed(
            _frame(b"n" + struct.pack(">HI", 5, hs.MANDATORY_25 & ~hs.HANDSHAKE_23) + A.encode())
        )


def test_status_rule_of_net_kernel() -> None:
    assert hs.status_for(B, A) == "ok"
    assert hs.status_for(B, A, connected=True) == "alive"
    assert hs.status_for(B, A, pending=True) == "nok"  # beta > alpha: beta's own attempt wins
    assert hs.status_for(A, B, pending=True) == "ok_simultaneous"


@given(
    first=st.from_regex(r"[a-z]{1,8}", fullmatch=True),
    second=st.from_regex(r"[a-z]{1,8}", fullmatch=True),
)
def test_simultaneous_connect_keeps_exactly_one_connection(first: str, second: str) -> None:
    """Each node connects to the other while the other does the same: one attempt survives."""
    names = (f"{first}@h", f"{first}{second}z@h")
    survivors = []
    for us, them in (names, names[::-1]):
        initiator = hs.InitiatorHandshake(us, "c", peer_name=them)
        acceptor = hs.AcceptorHandshake(
            them, "c", decide=lambda peer, me=them: hs.status_for(me, peer, pending=True)
        )
        try:
            pump(initiator, acceptor)
        except hs.SimultaneousConnect:
            assert not initiator.done and not acceptor.done
            continue
        assert initiator.done and acceptor.done and initiator.peer.status == "ok_simultaneous"
        survivors.append(us)
    assert survivors == [max(names)]


def test_alive_status_asks_the_initiator() -> None:
    initiator = hs.InitiatorHandshake(A, "c", peer_name=B, alive_answer=lambda peer: True)
    acceptor = hs.AcceptorHandshake(B, "c", decide=lambda peer: "alive")
    pump(initiator, acceptor)
    assert initiator.done and acceptor.done and acceptor.peer.status == "alive"

    initiator = hs.InitiatorHandshake(A, "c", peer_name=B, alive_answer=lambda peer: False)
    acceptor = hs.AcceptorHandshake(B, "c", decide=lambda peer: "alive")
    with pytest.raises(hs.HandshakeError, match="already has a connection"):
        pump(initiator, acceptor)
    with pytest.raises(hs.HandshakeError, match="keeps its old connection"):
        acceptor.feed(initiator.data_to_send())


def test_not_allowed_ends_the_handshake() -> None:
    initiator = hs.InitiatorHandshake(A, "c", peer_name=B)
    acceptor = hs.AcceptorHandshake(B, "c", decide=lambda peer: "not_allowed")
    with pytest.raises(hs.HandshakeError, match="not allowed"):
        acceptor.feed(initiator.data_to_send())
    with pytest.raises(hs.HandshakeError, match="does not allow"):
        initiator.feed(acceptor.data_to_send())


def test_the_initiator_refuses_to_mix_short_and_long_names() -> None:
    with pytest.raises(hs.HandshakeError, match="not a short name"):
        hs.InitiatorHandshake(A, "c", peer_name="beta@host.example.com")
    with pytest.raises(hs.HandshakeError, match="not a long name"):
        hs.InitiatorHandshake("alpha@host.example.com", "c", peer_name=B)
    # The acceptor lets the mix in, as an OTP 25 node does (see the Elixir test below).
    initiator = hs.InitiatorHandshake("alpha@host.example.com", "c")
    acceptor = hs.AcceptorHandshake(B, "c")
    pump(initiator, acceptor)
    assert acceptor.done and acceptor.peer.name == "alpha@host.example.com"


def test_names_and_garbage_are_refused() -> None:
    with pytest.raises(ValueError):
        hs.split_node_name("nohost")
    assert hs.is_long_name("a@127.0.0.1") and not hs.is_long_name("a@vm")
    with pytest.raises(hs.HandshakeError, match="unexpected handshake message"):
        hs.AcceptorHandshake(B, "c").feed(_frame(b"r" + bytes(20)))
    with pytest.raises(hs.HandshakeError, match="bad node name"):
        hs.AcceptorHandshake(B, "c").feed(
            _frame(b"N" + struct.pack(">QIH", hs.DEFAULT_FLAGS, 1, 3) + b"xyz")
        )


def test_connection_frames_over_a_socket_pair() -> None:
    async def scenario() -> None:
        accepted: asyncio.Future = asyncio.get_running_loop().create_future()

        async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            accepted.set_result(await hs.accept(reader, writer, name=B, cookie="c", creation=5))

        server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        ours = await hs.connect(B, name=A, cookie="c", address="127.0.0.1", port=port, creation=6)
        theirs = await accepted
        assert (ours.peer_name, ours.peer_creation, theirs.peer_name, theirs.peer_creation) == (
            B,
            5,
            A,
            6,
        )
        await ours.send_tick()
        await ours.send_frame(b"p\x83j")
        assert await theirs.read_frame() == b""
        assert await theirs.read_frame() == b"p\x83j"
        await ours.close()
        with pytest.raises(ConnectionError):
            await theirs.read_frame()
        await theirs.close()
        server.close()
        await server.wait_closed()

    asyncio.run(scenario())


def test_the_ticker_gives_up_on_a_silent_peer() -> None:
    async def scenario() -> None:
        accepted: asyncio.Future = asyncio.get_running_loop().create_future()

        async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            accepted.set_result(await hs.accept(reader, writer, name=B, cookie="c"))

        server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
        ours = await hs.connect(
            B, name=A, cookie="c", address="127.0.0.1", port=server.sockets[0].getsockname()[1]
        )
        silent = await accepted  # never reads, never ticks
        ticks_seen = asyncio.create_task(_count_ticks(silent))
        await ours.run_ticker(net_ticktime=0.2)  # returns once the peer has said nothing for 0.2 s
        assert ours.writer.is_closing()
        assert await ticks_seen >= 1
        server.close()
        await server.wait_closed()

    asyncio.run(scenario())


async def _count_ticks(connection: hs.Connection) -> int:
    """Read ticks without answering until the connection closes."""
    ticks = 0
    while True:
        try:
            ticks += await connection.read_frame() == b""
        except ConnectionError:
            await connection.close()
            return ticks


# --- against real Elixir nodes ----------------------------------------------------------------


class PythonNode:
    """A Python acceptor: listening, registered in EPMD, answering net_kernel for Node.ping."""

    def __init__(self, name: str, cookie: str = COOKIE, flags: int = hs.DEFAULT_FLAGS) -> None:
        self.name = name
        self.cookie = cookie
        self.flags = flags
        self.connections: asyncio.Queue = asyncio.Queue()
        self.failures: asyncio.Queue = asyncio.Queue()
        self.registration: epmd.Registration | None = None

    async def start(self, epmd_port: int) -> "PythonNode":
        self.server = await asyncio.start_server(self._on_connect, "0.0.0.0", 0)
        port = self.server.sockets[0].getsockname()[1]
        alive = hs.split_node_name(self.name)[0]
        hidden = not self.flags & hs.PUBLISHED
        self.registration = await epmd.register(alive, port, hidden=hidden, epmd=epmd_port)
        return self

    async def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            connection = await hs.accept(
                reader,
                writer,
                name=self.name,
                cookie=self.cookie,
                flags=self.flags,
                creation=self.registration.creation,
            )
        except hs.HandshakeError as error:
            await self.failures.put(error)
            return
        await self.connections.put(connection)
        await answer_net_kernel(connection)

    async def stop(self) -> None:
        await self.registration.close()
        self.server.close()
        await self.server.wait_closed()


async def _with_python_node(
    cluster: Cluster, name: str, body, *, cookie: str = COOKIE, flags: int = hs.DEFAULT_FLAGS
):
    node = await PythonNode(name, cookie, flags).start(cluster.epmd_port)
    try:
        return await body(node)
    finally:
        await node.stop()


@pytest.mark.parametrize("epmd_kind", ["system", "builtin"])
def test_elixir_pings_a_python_acceptor(cluster: Cluster, epmd_kind: str) -> None:
    async def scenario() -> None:
        builtin = None
        if epmd_kind == "system":
            cluster.start_epmd()
        else:
            builtin = await epmd.EpmdServer(cluster.epmd_port, "127.0.0.1").start()

        async def body(python: PythonNode) -> None:
            elixir = cluster.elixir(
                "exping",
                f'IO.puts("ping #{{inspect(Node.ping(:"py@{HOST}"))}}"); '
                'IO.puts("list #{inspect(Node.list())}")',
            )
            assert await elixir.expect("ping") == "ping :pong"
            assert await elixir.expect("list") == f"list [:py@{HOST}]"
            connection = await python.connections.get()
            assert connection.peer_name == elixir.name
            assert connection.flags & hs.SPAWN and connection.flags & hs.ALIAS
            assert not connection.flags & hs.DIST_HDR_ATOM_CACHE  # so OTP sends plain frames
            assert await elixir.finished() == 0

        try:
            await _with_python_node(cluster, f"py@{HOST}", body)
        finally:
            if builtin is not None:
                await builtin.stop()

    asyncio.run(scenario())


def test_elixir_pings_a_python_acceptor_with_long_names(cluster: Cluster) -> None:
    cluster.start_epmd()

    async def body(python: PythonNode) -> None:
        elixir = cluster.elixir(
            "exlong@127.0.0.1", 'IO.puts("ping #{inspect(Node.ping(:"py@127.0.0.1"))}")', long=True
        )
        assert await elixir.expect("ping") == "ping :pong"
        assert (await python.connections.get()).peer_name == "exlong@127.0.0.1"

    asyncio.run(_with_python_node(cluster, "py@127.0.0.1", body))


LISTENER = (
    'Process.register(self(), :listener); IO.puts("ready"); '
    "receive do {:hello, from} -> send(from, {:world, node(), from}) end; "
    'IO.puts("replied"); Process.sleep(:infinity)'
)


async def _hello(connection: hs.Connection) -> tuple:
    """Send ``{:hello, our_pid}`` to the Elixir node's ``:listener``; return its answer."""
    me = our_pid(connection)
    await connection.send_frame(pass_through((REG_SEND, me, "", "listener"), ("hello", me)))
    while True:
        body = await connection.read_frame()
        if body:
            control, message = split_frame(body)
            if control[0] == SEND_SENDER and control[2] == me:
                return message


@pytest.mark.parametrize("epmd_kind", ["system", "builtin"])
@pytest.mark.parametrize("long", [False, True])
def test_python_connects_to_elixir(cluster: Cluster, long: bool, epmd_kind: str) -> None:
    """Python as initiator: PORT_PLEASE2 in the EPMD where Elixir registered, then handshake."""
    if epmd_kind == "system":
        cluster.start_epmd()
    ours = "py@127.0.0.1" if long else f"py@{HOST}"

    async def scenario() -> None:
        builtin = None
        if epmd_kind == "builtin":
            builtin = await epmd.EpmdServer(cluster.epmd_port, "127.0.0.1").start()
        try:
            await exchange()
        finally:
            if builtin is not None:
                await builtin.stop()

    async def exchange() -> None:
        elixir = cluster.elixir("exhello@127.0.0.1" if long else "exhello", LISTENER, long=long)
        await elixir.expect("ready")
        connection = await hs.connect(elixir.name, name=ours, cookie=COOKIE, epmd=cluster.epmd_port)
        assert connection.peer_name == elixir.name and connection.peer_creation != 0
        assert missing_none(connection.peer_flags)
        world, node, pid = await _hello(connection)
        assert (world, node) == ("world", elixir.name)
        assert pid == our_pid(connection)  # our pid came back byte-exact
        await elixir.expect("replied")
        await connection.close()

    asyncio.run(scenario())


def missing_none(flags: int) -> bool:
    """True when ``flags`` hold every mandatory bit itself (not only the digest bit)."""
    return hs.missing_mandatory(flags & ~hs.MANDATORY_25_DIGEST) == []


def test_elixir_with_a_wrong_cookie_is_refused(
    cluster: Cluster, caplog: pytest.LogCaptureFixture
) -> None:
    cluster.start_epmd()

    async def body(python: PythonNode) -> None:
        elixir = cluster.elixir(
            "exbad", f'IO.puts("ping #{{inspect(Node.ping(:"py@{HOST}"))}}")', cookie="wrong"
        )
        assert await elixir.expect("ping") == "ping :pang"
        failure = await python.failures.get()
        assert "cookie" in str(failure)
        assert python.connections.empty()

    with caplog.at_level(logging.ERROR, "beamlet.dist"):
        asyncio.run(_with_python_node(cluster, f"py@{HOST}", body))
    assert any(
        "exbad@" in record.message and "Invalid challenge reply" in record.message
        for record in caplog.records
    )


def test_python_with_a_wrong_cookie_is_refused(
    cluster: Cluster, caplog: pytest.LogCaptureFixture
) -> None:
    cluster.start_epmd()
    elixir = cluster.elixir("exstrict", LISTENER)

    async def scenario() -> None:
        await elixir.expect("ready")
        with pytest.raises(hs.HandshakeError, match="wrong cookie"):
            await hs.connect(elixir.name, name=f"py@{HOST}", cookie="wrong", epmd=cluster.epmd_port)
        # Elixir's side of the story, from its log
        await elixir.expect_any("Invalid challenge reply")

    with caplog.at_level(logging.ERROR, "beamlet.dist"):
        asyncio.run(scenario())
    assert any("wrong cookie" in record.message for record in caplog.records)


TICK_WATCH = (
    ':ok = :net_kernel.monitor_nodes(true); IO.puts("ready"); '
    'receive do {:nodeup, n} -> IO.puts("nodeup #{n}") end; '
    'receive do {:nodedown, n} -> IO.puts("verdict nodedown #{n}") '
    'after 3000 -> IO.puts("verdict still up #{inspect(Node.list())}") end'
)


@pytest.mark.parametrize("ticking", [True, False])
def test_ticks_keep_the_connection_up(cluster: Cluster, ticking: bool) -> None:
    """With net_ticktime 1 Elixir drops a silent peer after about a second; ticks keep it.

    The 3 s are Elixir's own wait for a nodedown (three tick times); the test waits for its verdict.
    """
    cluster.start_epmd()
    elixir = cluster.elixir("extick", TICK_WATCH, ticktime=1)

    async def scenario() -> None:
        await elixir.expect("ready")
        connection = await hs.connect(
            elixir.name, name=f"py@{HOST}", cookie=COOKIE, epmd=cluster.epmd_port
        )
        reading = asyncio.create_task(_count_ticks(connection))
        ticker = asyncio.create_task(connection.run_ticker(net_ticktime=1)) if ticking else None
        verdict = await elixir.expect("verdict")
        if ticking:
            assert verdict == f"verdict still up [:py@{HOST}]"
        else:
            assert verdict == f"verdict nodedown py@{HOST}"
        assert await reading >= 1  # Elixir ticked us as well
        if ticker is not None:
            ticker.cancel()

    asyncio.run(scenario())


def test_python_notices_a_silent_elixir_node(cluster: Cluster) -> None:
    cluster.start_epmd()
    elixir = cluster.elixir("exstop", 'IO.puts("ready"); Process.sleep(:infinity)')

    async def scenario() -> None:
        await elixir.expect("ready")
        connection = await hs.connect(
            elixir.name, name=f"py@{HOST}", cookie=COOKIE, epmd=cluster.epmd_port
        )
        reading = asyncio.create_task(_count_ticks(connection))
        os.kill(elixir.process.pid, signal.SIGSTOP)
        try:
            async with asyncio.timeout(30):  # a guard only: run_ticker returns after ~1 s
                await connection.run_ticker(net_ticktime=1)
        finally:
            os.kill(elixir.process.pid, signal.SIGCONT)
        assert connection.writer.is_closing()
        await reading

    asyncio.run(scenario())


def test_python_node_name_must_be_registered_to_be_reached(cluster: Cluster) -> None:
    cluster.start_epmd()
    with pytest.raises(hs.HandshakeError, match="not registered"):
        asyncio.run(
            hs.connect(f"nobody@{HOST}", name=f"py@{HOST}", cookie=COOKIE, epmd=cluster.epmd_port)
        )


def test_elixir_answers_alive_to_a_second_connection_and_drops_the_first(cluster: Cluster) -> None:
    cluster.start_epmd()
    elixir = cluster.elixir("exalive", 'IO.puts("ready"); Process.sleep(:infinity)')

    async def scenario() -> None:
        await elixir.expect("ready")
        first = await hs.connect(
            elixir.name, name=f"py@{HOST}", cookie=COOKIE, epmd=cluster.epmd_port
        )
        assert first.status == "ok"
        asked = []
        second = await hs.connect(
            elixir.name,
            name=f"py@{HOST}",
            cookie=COOKIE,
            epmd=cluster.epmd_port,
            alive_answer=lambda peer: asked.append(peer) or True,
        )
        assert second.status == "alive" and asked == [elixir.name]
        await _count_ticks(first)  # returns once Elixir closed the old connection
        assert first.writer.is_closing() and not second.writer.is_closing()
        await second.close()

    asyncio.run(scenario())


@pytest.mark.parametrize("elixir_alive", ["aaa", "zzz"])
def test_simultaneous_connect_with_elixir(cluster: Cluster, elixir_alive: str) -> None:
    """Elixir connects to us while we connect to it: the greater name's attempt survives.

    Elixir's attempt is held once its send_name has arrived, unanswered, while ours runs, so
    both are pending at once, deterministically; then our sans-IO acceptor answers it.
    """
    cluster.start_epmd()
    me = f"py@{HOST}"

    async def scenario() -> None:
        incoming: asyncio.Queue = asyncio.Queue()

        async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            head = await reader.readexactly(2)
            send_name = head + await reader.readexactly(struct.unpack(">H", head)[0])
            await incoming.put((send_name, reader, writer))

        listener = await asyncio.start_server(hold, "0.0.0.0", 0)
        registration = await epmd.register(
            "py", listener.sockets[0].getsockname()[1], epmd=cluster.epmd_port
        )
        elixir = cluster.elixir(
            elixir_alive,
            f'IO.puts("ready"); '
            f'spawn(fn -> IO.puts("connect #{{Node.connect(:"{me}")}}") end); '
            "Process.sleep(:infinity)",
        )
        await elixir.expect("ready")
        send_name, reader, writer = await incoming.get()  # Elixir's attempt is pending
        ours_wins = me > elixir.name
        try:
            ours = await hs.connect(
                elixir.name,
                name=me,
                cookie=COOKIE,
                epmd=cluster.epmd_port,
                creation=registration.creation,
            )
            assert ours_wins and ours.status == "ok_simultaneous"
        except hs.SimultaneousConnect:
            assert not ours_wins
        acceptor = hs.AcceptorHandshake(
            me,
            COOKIE,
            creation=registration.creation,
            decide=lambda peer: hs.status_for(me, peer, pending=True),
        )
        try:
            await _finish_acceptor(acceptor, send_name, reader, writer)
            assert not ours_wins and acceptor.peer.status == "ok_simultaneous"
        except hs.SimultaneousConnect:
            assert ours_wins
        assert await elixir.expect("connect") == "connect true"
        await registration.close()
        listener.close()
        await listener.wait_closed()

    asyncio.run(scenario())


async def _finish_acceptor(
    acceptor: hs.AcceptorHandshake,
    received: bytes,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
) -> None:
    """Drive ``acceptor`` over the streams from the bytes already ``received``; a refusal
    (``nok``) is written before `SimultaneousConnect` propagates."""
    try:
        acceptor.feed(received)
        while not acceptor.done:
            writer.write(acceptor.data_to_send())
            await writer.drain()
            data = await reader.read(1 << 16)
            if not data:
                raise hs.HandshakeError(f"closed in state {acceptor.state}")
            acceptor.feed(data)
        writer.write(acceptor.data_to_send())
        await writer.drain()
    finally:
        pending = acceptor.data_to_send()
        if pending and not writer.is_closing():
            writer.write(pending)
            try:
                await writer.drain()
            except ConnectionError:  # Elixir may already have dropped its losing attempt
                pass


def test_a_python_node_without_published_is_hidden_to_elixir(cluster: Cluster) -> None:
    cluster.start_epmd()

    async def body(python: PythonNode) -> None:
        elixir = cluster.elixir(
            "exhid",
            f'IO.puts("connect #{{Node.connect(:"py@{HOST}")}}"); '
            'IO.puts("lists #{inspect({Node.list(), Node.list(:hidden)})}")',
        )
        assert await elixir.expect("connect") == "connect true"
        assert await elixir.expect("lists") == f"lists {{[], [:py@{HOST}]}}"

    asyncio.run(
        _with_python_node(cluster, f"py@{HOST}", body, flags=hs.DEFAULT_FLAGS & ~hs.PUBLISHED)
    )


def test_elixir_refuses_a_python_node_missing_a_mandatory_flag(cluster: Cluster) -> None:
    """MAP_TAG and the digest bit that stands for it both cleared: OTP 25 aborts, and says why."""
    cluster.start_epmd()
    lacking = hs.DEFAULT_FLAGS & ~hs.MAP_TAG & ~hs.MANDATORY_25_DIGEST

    async def body(python: PythonNode) -> None:
        elixir = cluster.elixir("exflags", f'IO.puts("connect #{{Node.connect(:"py@{HOST}")}}")')
        await elixir.expect_any("cannot handle ['MAP_TAG']")
        assert await elixir.expect("connect") == "connect false"
        assert python.connections.empty()

    asyncio.run(_with_python_node(cluster, f"py@{HOST}", body, flags=lacking))


@given(garbage=st.binary(max_size=200), cut=st.lists(st.integers(1, 9), max_size=30))
def test_hostile_bytes_only_ever_raise_handshake_errors(garbage: bytes, cut: list[int]) -> None:
    """Whatever arrives, each side waits for more or refuses with HandshakeError."""
    for side in (hs.AcceptorHandshake(B, "c"), hs.InitiatorHandshake(A, "c", peer_name=B)):
        try:
            for piece in _pieces(garbage, cut):
                side.feed(piece)
        except hs.HandshakeError:
            continue
        assert not side.done


@given(tail=st.binary(min_size=1, max_size=30))
def test_a_valid_send_name_with_garbage_after_it_is_refused_or_awaited(tail: bytes) -> None:
    acceptor = hs.AcceptorHandshake(B, "c")
    send_name = hs.InitiatorHandshake(A, "c", peer_name=B).data_to_send()
    try:
        acceptor.feed(send_name + tail)  # the tail stands where the challenge reply belongs
    except hs.HandshakeError:
        return
    assert not acceptor.done


@given(
    messages=st.lists(
        st.tuples(st.sampled_from(list(b"NnscraX")), st.binary(max_size=40)), min_size=1, max_size=4
    )
)
def test_well_framed_nonsense_only_ever_raises_handshake_errors(
    messages: list[tuple[int, bytes]],
) -> None:
    """Frames whose tags are the handshake's own but whose bodies are random."""
    stream = b"".join(_frame(bytes([tag]) + body) for tag, body in messages)
    for side in (hs.AcceptorHandshake(B, "c"), hs.InitiatorHandshake(A, "c", peer_name=B)):
        try:
            side.feed(stream)
        except hs.HandshakeError:
            continue
        assert not side.done


def test_elixir_accepts_a_long_name_on_a_short_named_node(cluster: Cluster) -> None:
    """What OTP 25 does with the mix our acceptor copies: the connection is made."""
    cluster.start_epmd()
    elixir = cluster.elixir("exmix", LISTENER)

    async def scenario() -> None:
        await elixir.expect("ready")
        entry = await epmd.port_please("exmix", epmd=cluster.epmd_port)
        reader, writer = await asyncio.open_connection("127.0.0.1", entry.port)
        initiator = hs.InitiatorHandshake("py@127.0.0.1", COOKIE)  # no peer_name: no check
        writer.write(initiator.data_to_send())
        while not initiator.done:
            await writer.drain()
            data = await reader.read(1 << 16)
            assert data, f"Elixir closed the handshake in state {initiator.state}"
            initiator.feed(data)
            writer.write(initiator.data_to_send())
        assert initiator.peer.name == elixir.name
        writer.close()

    asyncio.run(scenario())
