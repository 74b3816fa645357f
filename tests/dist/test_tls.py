"""TLS distribution (Erlang's ``-proto_dist inet_tls``): options, contexts, and the handshake
inside TLS, between two of ours and against real Elixir nodes started with an optfile.

Certificates come from a throwaway CA made per test (trustme), written into tmp_path: a node's
certificate names its host (``HOST``), since an OTP 25 client checks it. "Stranger" material is
a second CA and a certificate it signed for the same host: right name, wrong trust.
"""

import asyncio
import re
import ssl
import subprocess
from collections.abc import Awaitable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

import erlang_nodes
import pytest
import trustme
from erlang_nodes import (
    COOKIE,
    GUARD_SECONDS,
    HOST,
    REG_SEND,
    SEND_SENDER,
    Cluster,
    answer_net_kernel,
    elixir_tls,
    our_pid,
    pass_through,
    require_program,
    split_frame,
)

from beamlet.dist import epmd, handshake as hs
from beamlet.dist.tls import TlsOptions, TlsOptionsError

cluster = erlang_nodes.cluster  # the fixture: real nodes on an EPMD port of the test's own

PY = f"py@{HOST}"
OTHER = f"other@{HOST}"


@dataclass
class Pki:
    """One CA and the node certificates it signs, as files in ``directory``."""

    ca: trustme.CA
    directory: Path

    def node(self, label: str, *hosts: str, **options: Any) -> TlsOptions:
        """`TlsOptions` for a certificate of this CA naming ``hosts`` (default: ``HOST``)."""
        certificate = self.ca.issue_cert(*(hosts or (HOST,)))
        self.directory.mkdir(parents=True, exist_ok=True)
        certfile = self.directory / f"{label}.pem"
        keyfile = self.directory / f"{label}.key"
        cacertfile = self.directory / "ca.pem"
        certificate.cert_chain_pems[0].write_to_path(str(certfile))
        certificate.private_key_pem.write_to_path(str(keyfile))
        self.ca.cert_pem.write_to_path(str(cacertfile))
        return TlsOptions(certfile=certfile, keyfile=keyfile, cacertfile=cacertfile, **options)


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return Pki(trustme.CA(), tmp_path / "cluster")


@pytest.fixture
def stranger(tmp_path: Path) -> Pki:
    """Another CA: its certificates name the right host, but nobody in the cluster trusts it."""
    return Pki(trustme.CA(), tmp_path / "stranger")


def optfile(directory: Path, options: TlsOptions, name: str = "dist.conf") -> str:
    """``options`` written as an ``-ssl_dist_optfile``; its path."""
    path = directory / name
    path.write_text(options.erlang_optfile())
    return str(path)


T = TypeVar("T")


async def guarded(awaitable: Awaitable[T]) -> T:
    """Only against a hang: every awaited event here comes within a second or two."""
    return await asyncio.wait_for(awaitable, GUARD_SECONDS)


# --- options and contexts ---------------------------------------------------------------------


def test_contexts_follow_the_options(pki: Pki) -> None:
    mutual = pki.node("a")
    server, client = mutual.server_context(), mutual.client_context()
    assert server.verify_mode == ssl.CERT_REQUIRED
    assert client.verify_mode == ssl.CERT_REQUIRED and client.check_hostname
    assert (client.minimum_version, client.maximum_version) == (
        ssl.TLSVersion.TLSv1_2,
        ssl.TLSVersion.TLSv1_3,
    )

    optional = pki.node("b", fail_if_no_peer_cert=False, server_name_check=False)
    assert optional.server_context().verify_mode == ssl.CERT_OPTIONAL
    assert not optional.client_context().check_hostname
    assert optional.client_context().verify_mode == ssl.CERT_REQUIRED

    trusting = pki.node("c", verify=False, versions=("tlsv1.2",))
    assert trusting.server_context().verify_mode == ssl.CERT_NONE
    plain_client = trusting.client_context()
    assert plain_client.verify_mode == ssl.CERT_NONE and not plain_client.check_hostname
    assert plain_client.minimum_version == plain_client.maximum_version == ssl.TLSVersion.TLSv1_2


@pytest.mark.parametrize("option", ["certfile", "keyfile", "cacertfile"])
def test_a_missing_file_is_named(pki: Pki, tmp_path: Path, option: str) -> None:
    good = pki.node("a")
    missing = tmp_path / "nowhere" / f"{option}.pem"
    options = replace(good, **{option: missing})
    with pytest.raises(TlsOptionsError, match=rf"{option} '{missing}': No such file"):
        options.server_context()
    with pytest.raises(TlsOptionsError, match=option):
        options.client_context()


def test_an_unreadable_or_wrong_file_is_named(pki: Pki, tmp_path: Path) -> None:
    good = pki.node("a")
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    with pytest.raises(TlsOptionsError, match=rf"certfile '{tmp_path}': Is a directory"):
        replace(good, certfile=tmp_path).server_context()
    with pytest.raises(TlsOptionsError, match="not a PEM certificate with its matching"):
        replace(good, certfile=garbage).server_context()
    with pytest.raises(TlsOptionsError, match="cacertfile .*no PEM CA certificate"):
        replace(good, cacertfile=garbage).client_context()
    other_key = pki.node("b").keyfile
    with pytest.raises(TlsOptionsError, match="matching private key"):
        replace(good, keyfile=other_key).client_context()


def test_options_that_cannot_work_are_refused(pki: Pki) -> None:
    good = pki.node("a")
    with pytest.raises(TlsOptionsError, match="needs a cacertfile"):
        TlsOptions(certfile=good.certfile, keyfile=good.keyfile)
    with pytest.raises(TlsOptionsError, match="tlsv1.1"):
        replace(good, versions=("tlsv1.1",))
    with pytest.raises(TlsOptionsError, match="versions"):
        replace(good, versions=())


def test_the_optfile_is_what_erlang_reads(pki: Pki, tmp_path: Path) -> None:
    """file:consult, as inet_tls_dist reads ``-ssl_dist_optfile``, sees our options."""
    options = pki.node('od"d\\name', fail_if_no_peer_cert=False, versions=("tlsv1.3",))
    path = optfile(tmp_path, options)
    printed = subprocess.run(
        [
            require_program("erl"),
            "-noshell",
            "-eval",
            f'{{ok, [T]}} = file:consult("{path}"), io:format("~w~n", [T]), halt().',
        ],
        capture_output=True,
        text=True,
        timeout=GUARD_SECONDS,
        check=True,
    ).stdout.strip()

    def erlang_chars(path: object) -> str:
        return "[" + ",".join(str(ord(char)) for char in str(path)) + "]"

    files = (
        f"{{certfile,{erlang_chars(options.certfile)}}},{{keyfile,{erlang_chars(options.keyfile)}}},"
        f"{{cacertfile,{erlang_chars(options.cacertfile)}}},{{verify,verify_peer}}"
    )
    assert printed == (
        f"[{{server,[{files},{{fail_if_no_peer_cert,false}},{{versions,['tlsv1.3']}}]}},"
        f"{{client,[{files},{{versions,['tlsv1.3']}}]}}]"
    )


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"verify": False},
        {"fail_if_no_peer_cert": False, "versions": ("tlsv1.3",)},
        {"password": "s3cret", "versions": ("tlsv1.2",)},
    ],
)
def test_an_optfile_we_write_reads_back(pki: Pki, tmp_path: Path, changes: dict) -> None:
    options = replace(pki.node('odd "name"'), **changes)
    read = TlsOptions.from_erlang_optfile(optfile(tmp_path, options))
    expected = replace(
        options,
        certfile=str(options.certfile),
        keyfile=str(options.keyfile),
        cacertfile=str(options.cacertfile),
        fail_if_no_peer_cert=options.fail_if_no_peer_cert and options.verify,
    )
    assert read == expected


def test_an_erlang_optfile_is_read(tmp_path: Path) -> None:
    """The shape of the Erlang guide's example: comments, both sections, a binary, options
    that change nothing here."""
    path = tmp_path / "ssl_dist.conf"
    path.write_text(
        "%% TLS for the distribution\n"
        '[{server, [{certfile, "/etc/ssl/node.pem"}, {keyfile, <<"/etc/ssl/node.key">>},\n'
        '           {cacertfile, "/etc/ssl/ca.pem"}, {verify, verify_peer},\n'
        "           {fail_if_no_peer_cert, true}, {secure_renegotiate, true}]},\n"
        ' {client, [{certfile, "/etc/ssl/node.pem"}, {keyfile, "/etc/ssl/node.key"},\n'
        '           {cacertfile, "/etc/ssl/ca.pem"}, {verify, verify_peer},\n'
        "           {secure_renegotiate, true}, {versions, ['tlsv1.2', 'tlsv1.3']}]}].\n"
    )
    assert TlsOptions.from_erlang_optfile(path) == TlsOptions(
        certfile="/etc/ssl/node.pem",
        keyfile="/etc/ssl/node.key",
        cacertfile="/etc/ssl/ca.pem",
        verify=True,
        fail_if_no_peer_cert=True,
        versions=("tlsv1.2", "tlsv1.3"),
    )


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ('[{server, [{certfile, "a"}]}, {client, [{certfile, "b"}]}].', "certfile differs"),
        ('[{server, [{certfile, "a"}, {depth, 2}]}].', "{depth, 2} is not supported"),
        ('[{server, [{certfile, "a"}, {verify, "verify_peer"}]}].', "not supported"),
        ('[{server, [{certfile, "a"}]}]', "does not end with a dot"),
        ('[{server, [{certfile, "a"} {verify, verify_none}]}].', "expected a comma"),
        ('[{server, [{certfile, "a"}]}', "never closed"),
        ("[{server, [{verify, verify_none}]}].", "no certfile"),
        ('{server, [{certfile, "a"}]}.', "not one list"),
        ('[{elsewhere, [{certfile, "a"}]}].', "is not {server|client"),
        ('[{server, [{certfile, "a"}, {ciphers, [#{}]}]}].', "cannot read Erlang terms"),
    ],
)
def test_an_optfile_we_cannot_follow_is_refused(tmp_path: Path, text: str, complaint: str) -> None:
    path = tmp_path / "dist.conf"
    path.write_text(text)
    with pytest.raises(TlsOptionsError, match=re.escape(complaint)):
        TlsOptions.from_erlang_optfile(path)
    with pytest.raises(TlsOptionsError, match="No such file"):
        TlsOptions.from_erlang_optfile(tmp_path / "missing.conf")


# --- the handshake inside TLS, between two of ours ------------------------------------------


def test_handshake_messages_carry_u32_lengths_inside_tls() -> None:
    """inet_tls_dist frames the handshake as {packet, 4}; the cores do so when asked."""
    initiator = hs.InitiatorHandshake(PY, "c", peer_name=OTHER, length_bytes=hs.TLS_LENGTH_BYTES)
    acceptor = hs.AcceptorHandshake(OTHER, "c", length_bytes=hs.TLS_LENGTH_BYTES)
    send_name = initiator.data_to_send()
    assert int.from_bytes(send_name[:4], "big") == len(send_name) - 4 and send_name[4:5] == b"N"
    acceptor.feed(send_name)
    while not (initiator.done and acceptor.done):
        initiator.feed(acceptor.data_to_send())
        acceptor.feed(initiator.data_to_send())
    assert initiator.peer is not None and initiator.peer.name == OTHER
    with pytest.raises(ValueError, match="length_bytes"):
        hs.AcceptorHandshake(OTHER, "c", length_bytes=3)


def test_a_tls_record_is_told_from_a_handshake_frame() -> None:
    client_hello = b"\x16\x03\x01\x02\x00\x01"
    alert = b"\x15\x03\x03\x00\x02\x02\x0a"
    assert hs.looks_like_tls(client_hello) and hs.looks_like_tls(alert)
    plain = hs.InitiatorHandshake(PY, "c", peer_name=OTHER).data_to_send()
    assert not hs.looks_like_tls(plain)
    acceptor = hs.AcceptorHandshake(OTHER, "c")
    with pytest.raises(hs.HandshakeError, match="speaks TLS"):
        acceptor.feed(client_hello[:2])


class Acceptor:
    """A Python node accepting distribution connections, as node.py would.

    ``mode``: "start_server" (TLS done by asyncio's listener), "accept_ssl" (a plain listener,
    TLS run by `handshake.accept`), "plain" (no TLS at all). Registers in EPMD when given a
    port; queues connections and failures; with ``serve``, answers net_kernel on each
    connection (for ``Node.ping``), which then reads it.
    """

    def __init__(
        self, name: str, options: TlsOptions | None, mode: str, *, serve: bool = False
    ) -> None:
        self.name = name
        self.serve = serve
        self.options = options
        self.mode = mode
        self.connections: asyncio.Queue[hs.Connection] = asyncio.Queue()
        self.failures: asyncio.Queue[Exception] = asyncio.Queue()
        self.registration: epmd.Registration | None = None
        self.serving: list[asyncio.Task[list[tuple]]] = []

    async def start(self, epmd_port: int | None = None) -> "Acceptor":
        listener_tls = None
        if self.mode == "start_server":
            assert self.options is not None
            listener_tls = self.options.server_context()
        self.server = await asyncio.start_server(self._on_connect, "0.0.0.0", 0, ssl=listener_tls)
        self.port = self.server.sockets[0].getsockname()[1]
        if epmd_port is not None:
            alive = hs.split_node_name(self.name)[0]
            self.registration = await epmd.register(alive, self.port, epmd=epmd_port)
        return self

    async def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upgrade = None
        if self.mode == "accept_ssl":
            assert self.options is not None
            upgrade = self.options.server_context()
        creation = self.registration.creation if self.registration else None
        try:
            connection = await hs.accept(
                reader, writer, name=self.name, cookie=COOKIE, creation=creation, ssl=upgrade
            )
        except (hs.HandshakeError, OSError) as error:
            await self.failures.put(error)
            return
        await self.connections.put(connection)
        if self.serve:
            self.serving.append(asyncio.ensure_future(answer_net_kernel(connection)))

    async def stop(self) -> None:
        if self.registration is not None:
            await self.registration.close()
        self.server.close()
        await self.server.wait_closed()
        for task in self.serving:
            task.cancel()


async def connect_to(acceptor: Acceptor, options: TlsOptions | None, **extra: Any) -> hs.Connection:
    """Connect as ``PY`` to ``acceptor`` on loopback, with TLS when ``options``."""
    context = None if options is None else options.client_context()
    return await hs.connect(
        acceptor.name,
        name=PY,
        cookie=COOKIE,
        address="127.0.0.1",
        port=acceptor.port,
        ssl=context,
        **extra,
    )


@pytest.mark.parametrize("version", ["tlsv1.2", "tlsv1.3"])
@pytest.mark.parametrize("mode", ["start_server", "accept_ssl"])
def test_two_python_nodes_over_tls(pki: Pki, mode: str, version: str) -> None:
    async def scenario() -> None:
        acceptor = await Acceptor(OTHER, pki.node("other", versions=(version,)), mode).start()
        try:
            ours = await guarded(connect_to(acceptor, pki.node("py", versions=(version,))))
            theirs = await guarded(acceptor.connections.get())
            for end in (ours, theirs):
                assert end.writer.get_extra_info("ssl_object").version() == version.replace(
                    "tlsv", "TLSv"
                )
            assert (ours.peer_name, theirs.peer_name) == (OTHER, PY)
            await ours.send_frame(b"ping")
            assert await guarded(theirs.read_frame()) == b"ping"
            await theirs.send_tick()
            assert await guarded(ours.read_frame()) == b""
            await ours.close()
            await theirs.close()
        finally:
            await acceptor.stop()

    asyncio.run(scenario())


@pytest.mark.parametrize("version", ["tlsv1.2", "tlsv1.3"])
def test_a_stranger_is_refused_both_ways(pki: Pki, stranger: Pki, version: str) -> None:
    """A client whose certificate the server's CA did not sign, and a server the client's CA
    did not sign: both refused, with errors that say which certificate (TLS 1.3 tells the
    client after its own handshake, so that refusal comes through the first read)."""

    async def scenario() -> None:
        cluster_node = pki.node("other", versions=(version,))
        acceptor = await Acceptor(OTHER, cluster_node, "accept_ssl").start()
        try:
            impostor = replace(stranger.node("py"), cacertfile=cluster_node.cacertfile)
            with pytest.raises(hs.TlsHandshakeError, match="trust our certificate"):
                await guarded(connect_to(acceptor, impostor))
            refusal = await guarded(acceptor.failures.get())
            assert isinstance(refusal, hs.TlsHandshakeError)
            assert "its certificate is not trusted" in str(refusal)

            suspicious = stranger.node("py")  # trusts only the stranger CA
            with pytest.raises(hs.TlsHandshakeError, match="its certificate is not trusted"):
                await guarded(connect_to(acceptor, suspicious))
            assert isinstance(await guarded(acceptor.failures.get()), hs.TlsHandshakeError)
            assert acceptor.connections.empty()
        finally:
            await acceptor.stop()

    asyncio.run(scenario())


def test_the_server_name_is_checked_unless_told_not_to(pki: Pki) -> None:
    async def scenario() -> None:
        elsewhere = pki.node("other", "nowhere.example")
        acceptor = await Acceptor(OTHER, elsewhere, "start_server").start()
        try:
            with pytest.raises(hs.TlsHandshakeError, match=f"Hostname mismatch.*'{HOST}'"):
                await guarded(connect_to(acceptor, pki.node("py")))
            trusting = pki.node("py", server_name_check=False)
            connection = await guarded(connect_to(acceptor, trusting))
            assert connection.peer_name == OTHER
            await connection.close()
        finally:
            await acceptor.stop()

    asyncio.run(scenario())


@pytest.mark.parametrize("mode", ["start_server", "accept_ssl"])
def test_a_plain_initiator_against_a_tls_acceptor_fails_cleanly(pki: Pki, mode: str) -> None:
    async def scenario() -> None:
        acceptor = await Acceptor(OTHER, pki.node("other"), mode).start()
        try:
            with pytest.raises(hs.HandshakeError):
                await guarded(connect_to(acceptor, None))
            if mode == "accept_ssl":
                failure = await guarded(acceptor.failures.get())
                assert isinstance(failure, hs.TlsHandshakeError)
                assert "does not speak TLS here" in str(failure)
        finally:
            await acceptor.stop()

    asyncio.run(scenario())


def test_a_tls_initiator_against_a_plain_acceptor_fails_cleanly(pki: Pki) -> None:
    async def scenario() -> None:
        acceptor = await Acceptor(OTHER, None, "plain").start()
        try:
            with pytest.raises(hs.TlsHandshakeError):
                await guarded(connect_to(acceptor, pki.node("py")))
            failure = await guarded(acceptor.failures.get())
            assert "speaks TLS" in str(failure) and "plain TCP" in str(failure)
        finally:
            await acceptor.stop()

    asyncio.run(scenario())


# --- against real Elixir nodes (-proto_dist inet_tls -ssl_dist_optfile FILE) ------------------

LISTENER = (
    'Process.register(self(), :listener); IO.puts("ready"); '
    "receive do {:hello, from} -> send(from, {:world, node(), from}) end; "
    'IO.puts("replied"); Process.sleep(:infinity)'
)


async def hello(connection: hs.Connection) -> tuple:
    """REG_SEND ``{:hello, our_pid}`` to the Elixir node's ``:listener``; return its answer."""
    me = our_pid(connection)
    await connection.send_frame(pass_through((REG_SEND, me, "", "listener"), ("hello", me)))
    while True:
        body = await guarded(connection.read_frame())
        if body:
            control, message = split_frame(body)
            if control[0] == SEND_SENDER and control[2] == me:
                return message


@pytest.mark.parametrize("version", ["tlsv1.2", "tlsv1.3"])
def test_python_connects_to_a_tls_elixir_node(
    cluster: Cluster, pki: Pki, tmp_path: Path, version: str
) -> None:
    """EPMD as usual, TLS on the port it gives, the handshake inside, then a message each way."""
    cluster.start_epmd()
    node_options = pki.node("exnode", versions=(version,))
    elixir = elixir_tls(cluster, "extls", LISTENER, optfile=optfile(tmp_path, node_options))

    async def scenario() -> None:
        await elixir.expect("ready")
        connection = await hs.connect(
            elixir.name,
            name=PY,
            cookie=COOKIE,
            epmd=cluster.epmd_port,
            ssl=pki.node("py", versions=(version,)).client_context(),
        )
        tls = connection.writer.get_extra_info("ssl_object")
        assert tls is not None and tls.version() == version.replace("tlsv", "TLSv")
        world, node, pid = await hello(connection)
        assert (world, node, pid) == ("world", elixir.name, our_pid(connection))
        await elixir.expect("replied")
        await connection.close()

    asyncio.run(scenario())


@pytest.mark.parametrize("mode", ["start_server", "accept_ssl"])
def test_a_tls_elixir_node_connects_to_python(
    cluster: Cluster, pki: Pki, tmp_path: Path, mode: str
) -> None:
    cluster.start_epmd()

    async def scenario() -> None:
        python = await Acceptor(PY, pki.node("py"), mode, serve=True).start(cluster.epmd_port)
        try:
            elixir = elixir_tls(
                cluster,
                "exdial",
                f'IO.puts("connect #{{Node.connect(:"{PY}")}}"); '
                f'IO.puts("ping #{{Node.ping(:"{PY}")}}")',
                optfile=optfile(tmp_path, pki.node("exnode")),
            )
            assert await elixir.expect("connect") == "connect true"
            assert await elixir.expect("ping") == "ping pong"
            connection = await guarded(python.connections.get())
            assert connection.peer_name == elixir.name
            assert connection.writer.get_extra_info("ssl_object") is not None
            assert await elixir.finished() == 0
        finally:
            await python.stop()

    asyncio.run(scenario())


def test_a_tls_elixir_node_refuses_plain_and_strangers(
    cluster: Cluster, pki: Pki, stranger: Pki, tmp_path: Path
) -> None:
    """A plain-TCP initiator gets a clear error at once (the node answers a TLS alert, no
    hang); a certificate of another CA is refused, as is a node that trusts only that CA."""
    cluster.start_epmd()
    node_options = pki.node("exnode")
    elixir = elixir_tls(cluster, "exguard", LISTENER, optfile=optfile(tmp_path, node_options))

    async def attempt(options: TlsOptions | None) -> None:
        await hs.connect(
            elixir.name,
            name=PY,
            cookie=COOKIE,
            epmd=cluster.epmd_port,
            ssl=None if options is None else options.client_context(),
        )

    async def scenario() -> None:
        await elixir.expect("ready")
        with pytest.raises(hs.HandshakeError, match="speaks TLS.*plain TCP"):
            await attempt(None)
        await elixir.expect_any("ALERT")  # Erlang's side: it answered our 'N' with an alert
        impostor = replace(stranger.node("py"), cacertfile=node_options.cacertfile)
        with pytest.raises(hs.TlsHandshakeError, match="trust our certificate"):
            await attempt(impostor)
        with pytest.raises(hs.TlsHandshakeError, match="its certificate is not trusted"):
            await attempt(stranger.node("py"))
        # still serving the cluster afterwards
        good = await hs.connect(
            elixir.name,
            name=PY,
            cookie=COOKIE,
            epmd=cluster.epmd_port,
            ssl=pki.node("py").client_context(),
        )
        assert (await hello(good))[0] == "world"
        await good.close()

    asyncio.run(scenario())


def test_python_refuses_a_tls_elixir_node_of_another_ca(
    cluster: Cluster, pki: Pki, stranger: Pki, tmp_path: Path
) -> None:
    cluster.start_epmd()

    async def scenario() -> None:
        python = await Acceptor(PY, pki.node("py"), "accept_ssl").start(cluster.epmd_port)
        try:
            elixir = elixir_tls(
                cluster,
                "exodd",
                f'IO.puts("connect #{{Node.connect(:"{PY}")}}")',
                optfile=optfile(tmp_path, stranger.node("exnode")),
            )
            assert await elixir.expect("connect") == "connect false"
            failure = await guarded(python.failures.get())
            assert isinstance(failure, hs.TlsHandshakeError)
            assert python.connections.empty()
        finally:
            await python.stop()

    asyncio.run(scenario())


def test_an_elixir_client_checks_our_host_name(cluster: Cluster, pki: Pki, tmp_path: Path) -> None:
    """What makes ``server_name_check`` default to on: OTP 25's inet_tls_dist sends the host of
    the node name as the server name and ssl checks it, so a certificate that does not name
    the host is refused even with the right CA."""
    cluster.start_epmd()

    async def scenario() -> None:
        nameless = pki.node("py", "nowhere.example")
        python = await Acceptor(PY, nameless, "accept_ssl").start(cluster.epmd_port)
        try:
            elixir = elixir_tls(
                cluster,
                "exstrict",
                f'IO.puts("connect #{{Node.connect(:"{PY}")}}")',
                optfile=optfile(tmp_path, pki.node("exnode")),
            )
            await elixir.expect_any("hostname_check_failed")
            assert await elixir.expect("connect") == "connect false"
            assert isinstance(await guarded(python.failures.get()), hs.TlsHandshakeError)
        finally:
            await python.stop()

    asyncio.run(scenario())


def test_a_tls_initiator_against_a_plain_elixir_node_times_out_with_a_hint(
    cluster: Cluster, pki: Pki
) -> None:
    """A plain node reads our ClientHello as the length of a handshake frame and waits for
    the rest: nothing comes back, so the setup time ends it, saying why that may be."""
    cluster.start_epmd()
    elixir = cluster.elixir("explain", LISTENER)

    async def scenario() -> None:
        await elixir.expect("ready")
        entry = await epmd.port_please("explain", "127.0.0.1", epmd=cluster.epmd_port)
        assert entry is not None  # looked up apart, so that the setup time is all TLS's
        with pytest.raises(TimeoutError, match="no TLS handshake within 1.0 s.*without TLS"):
            await hs.connect(
                elixir.name,
                name=PY,
                cookie=COOKIE,
                port=entry.port,
                ssl=pki.node("py").client_context(),
                setup_time=1.0,
            )

    asyncio.run(scenario())


def test_a_tls_elixir_node_is_told_apart_by_a_plain_python_node(
    cluster: Cluster, pki: Pki, tmp_path: Path
) -> None:
    """A plain acceptor sees a ClientHello where a send_name belongs and says so at once."""
    cluster.start_epmd()

    async def scenario() -> None:
        python = await Acceptor(PY, None, "plain").start(cluster.epmd_port)
        try:
            elixir = elixir_tls(
                cluster,
                "exmix",
                f'IO.puts("connect #{{Node.connect(:"{PY}")}}")',
                optfile=optfile(tmp_path, pki.node("exnode")),
            )
            assert await elixir.expect("connect") == "connect false"
            failure = await guarded(python.failures.get())
            assert "speaks TLS" in str(failure) and "plain TCP" in str(failure)
        finally:
            await python.stop()

    asyncio.run(scenario())
