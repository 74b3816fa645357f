"""EPMD, the Erlang Port Mapper Daemon: the client a node registers with, and a server of our own.

Every Erlang host runs one EPMD (TCP port 4369, or ``ERL_EPMD_PORT``). A node registers its
*alive* name (``py`` of ``py@vm``) and its listening port with ALIVE2; other nodes ask for that
port with PORT_PLEASE2 before the handshake; ``epmd -names`` lists the names with NAMES. The
registration lives as long as the registering socket: closing it unregisters the name, which is
why `Registration` keeps its socket open for the node's lifetime.

The module is a sans-IO core (request/response bytes in `build_*` / `parse_*`, the server's
table in `EpmdRegistry`) plus an asyncio transport (`register`, `port_please`, `names`,
`EpmdServer`, `ensure_epmd`). `EpmdServer` speaks the wire protocol of the real daemon, so real
Erlang and Elixir nodes can register in it and look names up in it when no ``epmd`` runs.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import struct
from dataclasses import dataclass, field

__all__ = [
    "DEFAULT_PORT",
    "EpmdError",
    "EpmdRegistry",
    "EpmdServer",
    "NodeEntry",
    "Registration",
    "build_alive2_request",
    "build_names_request",
    "build_port_please2_request",
    "ensure_epmd",
    "epmd_port",
    "names",
    "parse_alive2_response",
    "parse_names_response",
    "parse_port2_response",
    "port_please",
    "register",
]

log = logging.getLogger("beamlet.dist.epmd")

DEFAULT_PORT = 4369

# Request and response tags (erl_dist_protocol, "EPMD Protocol").
ALIVE2_REQ = 120
ALIVE2_RESP = 121
ALIVE2_X_RESP = 118
PORT_PLEASE2_REQ = 122
PORT2_RESP = 119
NAMES_REQ = 110

NODE_TYPE_NORMAL = 77
NODE_TYPE_HIDDEN = 72
PROTOCOL_TCP_IPV4 = 0
# Only handshake version 6 is spoken (OTP 23+; OTP 25 dropped version 5).
HANDSHAKE_VERSION = 6

# A client request is at most this long: the name and extra fields are u16-length prefixed.
_MAX_REQUEST = 1 << 16


class EpmdError(OSError):
    """EPMD refused a request, or answered something that is not the protocol."""


def epmd_port() -> int:
    """The EPMD port of this host as Erlang finds it: ``ERL_EPMD_PORT``, else 4369."""
    value = os.environ.get("ERL_EPMD_PORT")
    return int(value) if value else DEFAULT_PORT


@dataclass(frozen=True)
class NodeEntry:
    """What EPMD knows of one registered node (the fields of ALIVE2_REQ and PORT2_RESP)."""

    name: str
    port: int
    node_type: int = NODE_TYPE_NORMAL
    protocol: int = PROTOCOL_TCP_IPV4
    highest_version: int = HANDSHAKE_VERSION
    lowest_version: int = HANDSHAKE_VERSION
    extra: bytes = b""
    creation: int = 0

    @property
    def hidden(self) -> bool:
        """True for a hidden node (type 72), which OTP lists under ``Node.list(:hidden)``."""
        return self.node_type == NODE_TYPE_HIDDEN


# --- sans-IO: the bytes of each request and answer ---------------------------------------------


def _framed(body: bytes) -> bytes:
    """A request as EPMD reads it: u16 length, then the body."""
    return struct.pack(">H", len(body)) + body


def _name_bytes(name: str) -> bytes:
    """The alive part of a node name as UTF-8, refused when it cannot be one."""
    if not name or "@" in name:
        raise ValueError(f"an EPMD name is the alive part of a node name, not {name!r}")
    data = name.encode("utf-8")
    if len(data) > 255:
        raise ValueError(f"node name {name!r} is longer than 255 bytes")
    return data


def build_alive2_request(
    name: str, port: int, *, hidden: bool = False, extra: bytes = b""
) -> bytes:
    """ALIVE2_REQ registering ``name`` (the alive part) at ``port``, version 6 only."""
    encoded = _name_bytes(name)
    node_type = NODE_TYPE_HIDDEN if hidden else NODE_TYPE_NORMAL
    body = struct.pack(
        ">BHBBHHH",
        ALIVE2_REQ,
        port,
        node_type,
        PROTOCOL_TCP_IPV4,
        HANDSHAKE_VERSION,
        HANDSHAKE_VERSION,
        len(encoded),
    )
    return _framed(body + encoded + struct.pack(">H", len(extra)) + extra)


def parse_alive2_response(data: bytes) -> int:
    """The creation EPMD hands out in ALIVE2_X_RESP (or the old ALIVE2_RESP); raises on refusal."""
    if len(data) < 2 or data[0] not in (ALIVE2_X_RESP, ALIVE2_RESP):
        raise EpmdError(f"not an ALIVE2 answer: {data[:8]!r}")
    if data[1] != 0:
        raise EpmdError(f"EPMD refused the registration (result {data[1]}): the name is taken")
    if data[0] == ALIVE2_X_RESP:
        if len(data) < 6:
            raise EpmdError("ALIVE2_X_RESP cut short")
        return int.from_bytes(data[2:6], "big")
    if len(data) < 4:
        raise EpmdError("ALIVE2_RESP cut short")
    return int.from_bytes(data[2:4], "big")


def build_port_please2_request(name: str) -> bytes:
    """PORT_PLEASE2_REQ for the alive part ``name``."""
    return _framed(bytes([PORT_PLEASE2_REQ]) + _name_bytes(name))


def parse_port2_response(data: bytes) -> NodeEntry | None:
    """The node PORT2_RESP describes, or None when EPMD does not know the name."""
    if len(data) < 2 or data[0] != PORT2_RESP:
        raise EpmdError(f"not a PORT2_RESP: {data[:8]!r}")
    if data[1] != 0:
        return None
    try:
        port, node_type, protocol, highest, lowest, name_length = struct.unpack_from(
            ">HBBHHH", data, 2
        )
        name_end = 12 + name_length
        name = data[12:name_end].decode("utf-8")
        (extra_length,) = struct.unpack_from(">H", data, name_end)
    except (struct.error, UnicodeDecodeError) as error:
        raise EpmdError(f"malformed PORT2_RESP: {error}") from None
    extra = data[name_end + 2 : name_end + 2 + extra_length]
    return NodeEntry(name, port, node_type, protocol, highest, lowest, bytes(extra))


def build_names_request() -> bytes:
    """NAMES_REQ."""
    return _framed(bytes([NAMES_REQ]))


def parse_names_response(data: bytes) -> tuple[int, list[tuple[str, int]]]:
    """EPMD's own port and the ``(name, port)`` lines of a NAMES answer (read until EOF)."""
    if len(data) < 4:
        raise EpmdError("NAMES answer cut short")
    (own_port,) = struct.unpack_from(">I", data, 0)
    found = []
    for line in data[4:].decode("utf-8", "replace").splitlines():
        words = line.split()
        # "name <name> at port <port>"
        if len(words) == 5 and words[0] == "name" and words[2:4] == ["at", "port"]:
            found.append((words[1], int(words[4])))
    return own_port, found


# --- sans-IO: the server's table ---------------------------------------------------------------


@dataclass
class EpmdRegistry:
    """The names a server holds and the answer to each request, without any socket.

    Creations are random non-zero 32-bit values (zero is reserved) and a name that registers
    again gets a creation different from its last one, so pids of a restarted node differ from
    the old node's as on a real EPMD.
    """

    nodes: dict[str, NodeEntry] = field(default_factory=dict)
    last_creation: dict[str, int] = field(default_factory=dict)

    def alive2(self, body: bytes) -> tuple[bytes, NodeEntry | None]:
        """The answer to an ALIVE2_REQ body and the entry registered (None when refused)."""
        try:
            port, node_type, protocol, highest, lowest, name_length = struct.unpack_from(
                ">HBBHHH", body, 1
            )
            name = body[11 : 11 + name_length].decode("utf-8")
            (extra_length,) = struct.unpack_from(">H", body, 11 + name_length)
            extra = bytes(body[13 + name_length : 13 + name_length + extra_length])
        except (struct.error, UnicodeDecodeError):
            return bytes([ALIVE2_X_RESP, 1]) + bytes(4), None
        answer_tag = ALIVE2_X_RESP if highest >= HANDSHAKE_VERSION else ALIVE2_RESP
        if not name or name in self.nodes:
            refusal = bytes(4) if answer_tag == ALIVE2_X_RESP else bytes(2)
            return bytes([answer_tag, 1]) + refusal, None
        creation = self._new_creation(name, 32 if answer_tag == ALIVE2_X_RESP else 16)
        entry = NodeEntry(name, port, node_type, protocol, highest, lowest, extra, creation)
        self.nodes[name] = entry
        width = ">I" if answer_tag == ALIVE2_X_RESP else ">H"
        return bytes([answer_tag, 0]) + struct.pack(width, creation), entry

    def _new_creation(self, name: str, bits: int) -> int:
        """A non-zero creation unlike the name's previous one."""
        previous = self.last_creation.get(name)
        while True:
            creation = random.randrange(1, 1 << bits)
            if creation != previous:
                self.last_creation[name] = creation
                return creation

    def unregister(self, entry: NodeEntry) -> None:
        """Forget ``entry`` (its registration socket closed); a newer same-named entry stays."""
        if self.nodes.get(entry.name) is entry:
            del self.nodes[entry.name]

    def port_please2(self, body: bytes) -> bytes:
        """The PORT2_RESP to a PORT_PLEASE2_REQ body."""
        entry = self.nodes.get(bytes(body[1:]).decode("utf-8", "replace"))
        if entry is None:
            return bytes([PORT2_RESP, 1])
        name = entry.name.encode("utf-8")
        return (
            struct.pack(
                ">BBHBBHHH",
                PORT2_RESP,
                0,
                entry.port,
                entry.node_type,
                entry.protocol,
                entry.highest_version,
                entry.lowest_version,
                len(name),
            )
            + name
            + struct.pack(">H", len(entry.extra))
            + entry.extra
        )

    def names(self, own_port: int) -> bytes:
        """The NAMES answer: our port, then one line per node, as ``epmd -names`` prints them."""
        lines = "".join(
            f"name {entry.name} at port {entry.port}\n" for entry in self.nodes.values()
        )
        return struct.pack(">I", own_port) + lines.encode("utf-8")


# --- asyncio client ----------------------------------------------------------------------------


async def _request(request: bytes, host: str, port: int) -> bytes:
    """Send one request on a fresh connection and read the answer until EPMD closes it."""
    try:
        reader, writer = await asyncio.open_connection(host, port)
    except OSError as error:
        raise EpmdError(f"no EPMD at {host}:{port}: {error}") from None
    try:
        writer.write(request)
        await writer.drain()
        return await reader.read()
    finally:
        writer.close()
        await _closed(writer)


async def _closed(writer: asyncio.StreamWriter) -> None:
    """Wait for a writer to close, ignoring a peer that already went away."""
    try:
        await writer.wait_closed()
    except OSError:
        pass


@dataclass
class Registration:
    """A name registered in EPMD: it stays registered while this object's socket is open."""

    name: str
    port: int
    creation: int
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter

    @property
    def alive(self) -> bool:
        """False once EPMD closed the socket (it stopped), so the name is no longer registered."""
        return not self.reader.at_eof() and not self.writer.is_closing()

    async def close(self) -> None:
        """Unregister: close the registration socket."""
        self.writer.close()
        await _closed(self.writer)


async def register(
    name: str, port: int, *, hidden: bool = False, host: str = "127.0.0.1", epmd: int | None = None
) -> Registration:
    """Register ``name`` (the alive part) at ``port`` with the EPMD on ``host``.

    The returned `Registration` holds the socket open; the creation in it is the one the node
    must put in its pids, refs and ports.
    """
    epmd = epmd_port() if epmd is None else epmd
    try:
        reader, writer = await asyncio.open_connection(host, epmd)
    except OSError as error:
        raise EpmdError(f"no EPMD at {host}:{epmd}: {error}") from None
    try:
        writer.write(build_alive2_request(name, port, hidden=hidden))
        await writer.drain()
        head = await reader.readexactly(2)
        tail_length = 4 if head[0] == ALIVE2_X_RESP else 2
        tail = await reader.readexactly(tail_length) if head[1] == 0 else b""
        creation = parse_alive2_response(head + tail)
    except (asyncio.IncompleteReadError, EpmdError, OSError) as error:
        writer.close()
        await _closed(writer)
        if isinstance(error, EpmdError):
            raise
        raise EpmdError(f"EPMD at {host}:{epmd} closed the registration of {name!r}") from None
    log.debug(
        "registered %s at port %d in EPMD %s:%d, creation %d", name, port, host, epmd, creation
    )
    return Registration(name, port, creation, reader, writer)


async def port_please(
    name: str, host: str = "127.0.0.1", *, epmd: int | None = None
) -> NodeEntry | None:
    """The entry of ``name`` (the alive part) in the EPMD on ``host``, or None if unknown."""
    epmd = epmd_port() if epmd is None else epmd
    return parse_port2_response(await _request(build_port_please2_request(name), host, epmd))


async def names(
    host: str = "127.0.0.1", *, epmd: int | None = None
) -> tuple[int, list[tuple[str, int]]]:
    """EPMD's port and the ``(name, port)`` pairs registered on ``host``."""
    epmd = epmd_port() if epmd is None else epmd
    return parse_names_response(await _request(build_names_request(), host, epmd))


# --- asyncio server ----------------------------------------------------------------------------


class EpmdServer:
    """An EPMD of our own, for hosts where no ``epmd`` runs; Erlang nodes can use it too.

    It answers ALIVE2 (keeping the name while the socket stays open, refusing a name already
    held), PORT_PLEASE2 and NAMES as the real daemon does; other requests are closed unanswered.
    It listens on ``host`` (all interfaces by default, like the real daemon, so that nodes of
    other hosts can find ours).
    """

    def __init__(self, port: int | None = None, host: str = "0.0.0.0") -> None:
        self.port = epmd_port() if port is None else port
        self.host = host
        self.registry = EpmdRegistry()
        self._server: asyncio.AbstractServer | None = None
        self._registrations: set[asyncio.StreamWriter] = set()
        self._handlers: set[asyncio.Task[None]] = set()
        self._changed: asyncio.Condition | None = None

    async def start(self) -> EpmdServer:
        """Start listening (port 0 picks a free port, then stored in ``port``)."""
        self._changed = asyncio.Condition()
        self._server = await asyncio.start_server(
            self._serve, self.host, self.port, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("EPMD of our own listening on %s:%d", self.host, self.port)
        return self

    async def stop(self) -> None:
        """Stop listening and drop every registration (as the daemon dying would)."""
        if self._server is None:
            return
        self._server.close()
        for writer in list(self._registrations):
            writer.close()
        # Closing a registration socket ends its handler (EOF): let them unregister and finish.
        await asyncio.gather(*self._handlers, return_exceptions=True)
        await self._server.wait_closed()
        self._server = None

    async def wait_registered(self, name: str, registered: bool = True) -> None:
        """Return once ``name`` is registered (or, with ``registered=False``, no longer is)."""
        assert self._changed is not None, "the server is not started"
        async with self._changed:
            await self._changed.wait_for(lambda: (name in self.registry.nodes) == registered)

    async def _notify(self) -> None:
        if self._changed is not None:
            async with self._changed:
                self._changed.notify_all()

    async def __aenter__(self) -> EpmdServer:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One client connection: read one request, answer it."""
        handler = asyncio.current_task()
        assert handler is not None, "asyncio runs each connection in a task"
        self._handlers.add(handler)
        handler.add_done_callback(self._handlers.discard)
        try:
            (length,) = struct.unpack(">H", await reader.readexactly(2))
            body = await reader.readexactly(length) if length else b""
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()
            return
        try:
            if body[:1] == bytes([ALIVE2_REQ]):
                await self._hold_registration(body, reader, writer)
            elif body[:1] == bytes([PORT_PLEASE2_REQ]):
                writer.write(self.registry.port_please2(body))
            elif body[:1] == bytes([NAMES_REQ]):
                writer.write(self.registry.names(self.port))
            else:
                log.debug("EPMD request %r not served", body[:1])
            await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def _hold_registration(
        self, body: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """Register, answer, and keep the name until the registering socket closes."""
        answer, entry = self.registry.alive2(body)
        writer.write(answer)
        await writer.drain()
        if entry is None:
            return
        log.debug("EPMD: %s registered at port %d", entry.name, entry.port)
        self._registrations.add(writer)
        await self._notify()
        try:
            # Anything the node sends after ALIVE2 is ignored; EOF (or an error) unregisters.
            while await reader.read(_MAX_REQUEST):
                pass
        except ConnectionError:
            pass
        finally:
            self._registrations.discard(writer)
            self.registry.unregister(entry)
            log.debug("EPMD: %s unregistered", entry.name)
            await self._notify()


async def ensure_epmd(port: int | None = None, host: str = "0.0.0.0") -> EpmdServer | None:
    """Start an `EpmdServer` on ``port`` unless an EPMD already answers there.

    Returns the server started (the caller stops it with the node), or None when another EPMD
    serves the port, including one that started between the probe and our bind.
    """
    port = epmd_port() if port is None else port
    try:
        await names("127.0.0.1", epmd=port)
        return None
    except EpmdError:
        pass
    try:
        return await EpmdServer(port, host).start()
    except OSError as error:
        log.debug("EPMD port %d taken while starting ours (%s): using the one there", port, error)
        return None
