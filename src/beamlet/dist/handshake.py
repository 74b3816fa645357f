"""The distribution handshake (version 6) and the framing of an established connection.

Two nodes that want to talk run the handshake of erl_dist_protocol: the initiator sends its
name and flags (``'N'``), the acceptor answers a status (``'s'``: ``ok``, ``ok_simultaneous``,
``nok``, ``not_allowed``, ``alive``), then its own flags and a challenge; each side proves it
knows the cookie with ``MD5(cookie ++ decimal(challenge))`` of the other's challenge (``'r'``
and ``'a'``). An OTP 23/24 node may start with the version-5 ``'n'`` and complete its 64-bit
flags and 32-bit creation with a ``'c'`` complement; that is accepted too. During the handshake
every message carries a u16 length; afterwards a u32 length, and an empty frame is a tick.

Over TLS (Erlang's ``-proto_dist inet_tls``, options in `beamlet.dist.tls`) the same handshake
and frames run inside the TLS stream once the TLS handshake is done, except that there the
handshake messages too carry a u32 length.

`InitiatorHandshake` and `AcceptorHandshake` are sans-IO: feed them the bytes that arrive (any
chunking: a status may share a read with the challenge), send what `data_to_send` returns. The
asyncio side is `connect` (EPMD lookup, TCP, TLS when given ``ssl=``, handshake) and `accept`
(on a socket a listener got, TLS already or upgraded with ``ssl=``), both returning a
`Connection` that frames, ticks and reads.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
import socket
import ssl as _ssl
import struct
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

from beamlet.dist import epmd as _epmd

__all__ = [
    "ALIAS",
    "BIG_CREATION",
    "Connection",
    "DEFAULT_FLAGS",
    "DIST_HDR_ATOM_CACHE",
    "DIST_MONITOR",
    "DIST_MONITOR_NAME",
    "EXIT_PAYLOAD",
    "FRAGMENTS",
    "HANDSHAKE_23",
    "HandshakeError",
    "AcceptorHandshake",
    "InitiatorHandshake",
    "MANDATORY_25",
    "MANDATORY_25_DIGEST",
    "MAP_TAG",
    "NAME_ME",
    "PUBLISHED",
    "PeerInfo",
    "SEND_SENDER",
    "SPAWN",
    "SimultaneousConnect",
    "TCP_LENGTH_BYTES",
    "TLS_LENGTH_BYTES",
    "TlsHandshakeError",
    "UNLINK_ID",
    "UTF8_ATOMS",
    "V4_NC",
    "accept",
    "connect",
    "digest",
    "flag_names",
    "is_long_name",
    "looks_like_tls",
    "missing_mandatory",
    "split_node_name",
    "status_for",
]

log = logging.getLogger("beamlet.dist")

# Distribution flags (lib/kernel/include/dist.hrl, OTP 25).
PUBLISHED = 0x1
ATOM_CACHE = 0x2
EXTENDED_REFERENCES = 0x4
DIST_MONITOR = 0x8
FUN_TAGS = 0x10
DIST_MONITOR_NAME = 0x20
HIDDEN_ATOM_CACHE = 0x40
NEW_FUN_TAGS = 0x80
EXTENDED_PIDS_PORTS = 0x100
EXPORT_PTR_TAG = 0x200
BIT_BINARIES = 0x400
NEW_FLOATS = 0x800
UNICODE_IO = 0x1000
DIST_HDR_ATOM_CACHE = 0x2000
SMALL_ATOM_TAGS = 0x4000
UTF8_ATOMS = 0x10000
MAP_TAG = 0x20000
BIG_CREATION = 0x40000
SEND_SENDER = 0x80000
BIG_SEQTRACE_LABELS = 0x100000
EXIT_PAYLOAD = 0x400000
FRAGMENTS = 0x800000
HANDSHAKE_23 = 0x1000000
UNLINK_ID = 0x2000000
# The erl_dist_protocol page says bit 36; dist.hrl (what OTP runs) says bit 26.
MANDATORY_25_DIGEST = 0x4000000
SPAWN = 1 << 32
NAME_ME = 1 << 33
V4_NC = 1 << 34
ALIAS = 1 << 35

_FLAG_NAMES = {
    value: name
    for name, value in list(globals().items())
    if name.isupper() and isinstance(value, int) and value and not value & (value - 1)
}

# What OTP 25 refuses a connection without (MANDATORY_25_DIGEST stands for all of them).
MANDATORY_25 = (
    EXTENDED_REFERENCES
    | FUN_TAGS
    | NEW_FUN_TAGS
    | EXTENDED_PIDS_PORTS
    | EXPORT_PTR_TAG
    | BIT_BINARIES
    | NEW_FLOATS
    | UTF8_ATOMS
    | MAP_TAG
    | BIG_CREATION
    | HANDSHAKE_23
)

# Ours: the mandatory set and its digest bit, monitors, the new link protocol, 32-bit pid
# fields, payload exits, spawn requests and aliases. No atom cache and no fragments: then OTP
# sends plain pass-through frames and never fragments what it sends us.
DEFAULT_FLAGS = (
    MANDATORY_25
    | MANDATORY_25_DIGEST
    | PUBLISHED
    | DIST_MONITOR
    | DIST_MONITOR_NAME
    | UNLINK_ID
    | V4_NC
    | SEND_SENDER
    | EXIT_PAYLOAD
    | SPAWN
    | ALIAS
)

HANDSHAKE_VERSION = 6
# Statuses an acceptor may answer to a send_name.
STATUSES = ("ok", "ok_simultaneous", "nok", "not_allowed", "alive")
# OTP's net_setuptime: how long a handshake may take.
DEFAULT_SETUP_TIME = 7.0
DEFAULT_NET_TICKTIME = 60.0
_TICK = b"\x00\x00\x00\x00"
_READ_CHUNK = 1 << 16
# The length in front of each handshake message: u16 over TCP; u32 inside TLS, where
# inet_tls_dist runs its sockets with {packet, 4} from the start.
_LENGTH_FORMATS = {2: ">H", 4: ">I"}
TCP_LENGTH_BYTES = 2
TLS_LENGTH_BYTES = 4
# The first byte of a TLS record: a handshake message (a ClientHello), an alert.
_TLS_HANDSHAKE = 0x16
_TLS_ALERT = 0x15


class HandshakeError(ConnectionError):
    """The handshake failed: refused, wrong cookie, a flag missing, or not the protocol."""


class TlsHandshakeError(HandshakeError):
    """TLS under the distribution failed: a certificate not trusted (either way), none shown,
    no common TLS version, or a peer that does not speak TLS on that port."""


class SimultaneousConnect(HandshakeError):
    """The peer answered ``nok``: it is connecting to us too and its attempt wins."""


def flag_names(flags: int) -> list[str]:
    """The names of the flags set in ``flags``, lowest bit first (for logs)."""
    return [name for value, name in sorted(_FLAG_NAMES.items()) if flags & value]


def missing_mandatory(flags: int) -> list[str]:
    """The mandatory OTP 25 flags a peer's ``flags`` lack (the digest bit counts as all)."""
    if flags & MANDATORY_25_DIGEST:
        return []
    return flag_names(MANDATORY_25 & ~flags)


def digest(challenge: int, cookie: str) -> bytes:
    """The proof of the cookie: MD5 of the cookie then the challenge in decimal (dist_util)."""
    return hashlib.md5(cookie.encode("utf-8") + str(challenge).encode("ascii")).digest()


def split_node_name(name: str) -> tuple[str, str]:
    """``alive@host`` as ``(alive, host)``; refuses anything else."""
    alive, at, host = name.partition("@")
    if not at or not alive or not host or "@" in host:
        raise ValueError(f"a node name is alive@host, not {name!r}")
    return alive, host


def is_long_name(name: str) -> bool:
    """True for a long name (a host with a dot, as Erlang's ``-name``), False for a short one."""
    return "." in split_node_name(name)[1]


def short_host_name() -> str:
    """This host's short name, as ``erl -sname`` puts after the @."""
    return socket.gethostname().split(".")[0]


def status_for(
    our_name: str, peer_name: str, *, pending: bool = False, connected: bool = False
) -> str:
    """The status an acceptor answers, as net_kernel decides it.

    ``connected``: a connection to the peer is already up (``alive``: the initiator says
    whether it is a new incarnation). ``pending``: we are connecting to the peer at the same
    time; the greater name (compared as text) keeps its own attempt, so we answer ``nok`` when
    ours is greater and ``ok_simultaneous`` (dropping our attempt) otherwise.
    """
    if connected:
        return "alive"
    if pending:
        return "nok" if our_name > peer_name else "ok_simultaneous"
    return "ok"


@dataclass(frozen=True)
class PeerInfo:
    """What the handshake learnt about the other node."""

    name: str
    flags: int
    creation: int
    status: str


# --- sans-IO core ------------------------------------------------------------------------------


class _Frames:
    """A byte stream cut into length-prefixed handshake frames, keeping whatever follows them.

    ``length_bytes``: the size of each frame's length, 2 over TCP, 4 inside TLS.
    """

    def __init__(self, length_bytes: int = TCP_LENGTH_BYTES) -> None:
        self.buffer = bytearray()
        self.length_bytes = length_bytes
        self._length_format = _LENGTH_FORMATS[length_bytes]

    def feed(self, data: bytes) -> None:
        self.buffer += data

    def next(self) -> bytes | None:
        """The next complete frame body, or None when more bytes are needed."""
        size = self.length_bytes
        if len(self.buffer) < size:
            return None
        (length,) = struct.unpack_from(self._length_format, self.buffer, 0)
        if len(self.buffer) < size + length:
            return None
        body = bytes(self.buffer[size : size + length])
        del self.buffer[: size + length]
        return body

    def frame(self, body: bytes) -> bytes:
        """``body`` with its length in front, as this stream frames handshake messages."""
        return struct.pack(self._length_format, len(body)) + body


def looks_like_tls(data: bytes) -> bool:
    """True when ``data`` starts like a TLS record (a handshake or an alert, TLS 1.x).

    What a plain distribution peer gets from a TLS one: its ClientHello, or the alert it
    answers our plain send_name with. No handshake frame starts so: it would claim 5,000+
    bytes for a name and flags.
    """
    return len(data) >= 2 and data[0] in (_TLS_HANDSHAKE, _TLS_ALERT) and data[1] == 3


def _new_challenge() -> int:
    return random.getrandbits(32)


def _new_creation() -> int:
    """A creation for a node that has none from EPMD (zero is reserved)."""
    return random.randrange(1, 1 << 32)


def _parse_name(body: bytes, offset: int, what: str) -> str:
    """The u16-length-prefixed node name at ``offset``; bytes after it are ignored (the spec)."""
    try:
        (length,) = struct.unpack_from(">H", body, offset)
    except struct.error:
        raise HandshakeError(f"{what} cut short") from None
    raw = body[offset + 2 : offset + 2 + length]
    if len(raw) != length:
        raise HandshakeError(f"{what} cut short")
    try:
        name = raw.decode("utf-8")
        split_node_name(name)
    except (UnicodeDecodeError, ValueError):
        raise HandshakeError(f"{what} carries a bad node name {raw!r}") from None
    return name


class _Handshake(ABC):
    """What both sides share: the frame buffer, the outgoing bytes, the result."""

    def __init__(
        self, name: str, cookie: str, flags: int, creation: int | None, length_bytes: int
    ) -> None:
        if length_bytes not in _LENGTH_FORMATS:
            raise ValueError(f"length_bytes is 2 (TCP) or 4 (TLS), not {length_bytes!r}")
        split_node_name(name)
        self.name = name
        self.cookie = cookie
        self.flags = flags
        self.creation = _new_creation() if creation is None else creation
        self.challenge = _new_challenge()
        self.peer: PeerInfo | None = None
        self._frames = _Frames(length_bytes)
        self._out = bytearray()
        self._state = "start"

    @property
    def done(self) -> bool:
        """True once the peer is authenticated: `peer` is set, frames follow."""
        return self._state == "done"

    @property
    def state(self) -> str:
        return self._state

    def data_to_send(self) -> bytes:
        """The bytes to write now (and forget)."""
        data = bytes(self._out)
        self._out.clear()
        return data

    def leftover(self) -> bytes:
        """Bytes received after the last handshake frame: the start of the framed stream."""
        return bytes(self._frames.buffer)

    def feed(self, data: bytes) -> None:
        """Take bytes from the peer; raises `HandshakeError` when the handshake fails.

        Once done, bytes are kept for `leftover`; once failed, nothing more is accepted.
        """
        if self._state == "failed":
            raise HandshakeError("the handshake has already failed")
        self._frames.feed(data)
        if self._frames.length_bytes == TCP_LENGTH_BYTES and self.peer is None:
            if looks_like_tls(bytes(self._frames.buffer[:2])):
                self._state = "failed"
                raise HandshakeError(
                    "the peer speaks TLS (Erlang's -proto_dist inet_tls) and this connection is "
                    "plain TCP: connect and accept with ssl= (beamlet.dist.tls.TlsOptions)"
                )
        try:
            while not self.done:
                body = self._frames.next()
                if body is None:
                    return
                if not body:
                    raise HandshakeError(f"empty handshake message in state {self._state}")
                self._handle(body)
        except HandshakeError:
            self._state = "failed"
            raise

    def _send(self, body: bytes) -> None:
        self._out += self._frames.frame(body)

    @abstractmethod
    def _handle(self, body: bytes) -> None:
        """Act on one complete handshake message of the peer."""

    def _check_flags(self, peer_name: str, peer_flags: int, ours_is: str) -> None:
        """Refuse a peer that lacks a mandatory flag, as OTP does (and logged as OTP logs it)."""
        missing = missing_mandatory(peer_flags)
        if missing:
            log.error(
                "** Connection attempt %s node %s aborted since it cannot handle %s **",
                ours_is,
                peer_name,
                missing,
            )
            raise HandshakeError(f"{peer_name} cannot handle {missing}")

    def _check_name_kind(self, peer_name: str) -> None:
        """Short and long names do not mix: like OTP's initiator, refuse to connect across."""
        if is_long_name(peer_name) != is_long_name(self.name):
            kind = "long" if is_long_name(self.name) else "short"
            raise HandshakeError(f"{peer_name} is not a {kind} name like {self.name}")


class InitiatorHandshake(_Handshake):
    """The connecting side (A). ``peer_name``: the node we mean to reach (checked).

    ``alive_answer(peer)`` says what to answer when the peer reports that it already has a
    connection from a node of our name (``alive``): True when we are a new incarnation, so the
    peer drops the old connection; False to give up. ``length_bytes``: the size of each
    handshake message's length, `TCP_LENGTH_BYTES` or, inside TLS, `TLS_LENGTH_BYTES`.
    """

    def __init__(
        self,
        name: str,
        cookie: str,
        *,
        peer_name: str | None = None,
        flags: int = DEFAULT_FLAGS,
        creation: int | None = None,
        alive_answer: Callable[[str], bool] = lambda peer: True,
        length_bytes: int = TCP_LENGTH_BYTES,
    ) -> None:
        super().__init__(name, cookie, flags, creation, length_bytes)
        if peer_name is not None:
            self._check_name_kind(peer_name)
        self.peer_name = peer_name
        self._alive_answer = alive_answer
        self._status = ""
        encoded = name.encode("utf-8")
        self._send(b"N" + struct.pack(">QIH", flags, self.creation, len(encoded)) + encoded)
        self._state = "status"

    def _handle(self, body: bytes) -> None:
        tag = body[:1]
        if self._state == "status" and tag == b"s":
            self._on_status(body[1:].decode("utf-8", "replace"))
        elif self._state == "challenge" and tag == b"N":
            self._on_challenge(body)
        elif self._state == "ack" and tag == b"a":
            self._on_ack(body)
        else:
            raise HandshakeError(
                f"unexpected handshake message {tag!r} while waiting for {self._state}"
            )

    def _on_status(self, status: str) -> None:
        target = self.peer_name or "the peer"
        if status in ("ok", "ok_simultaneous"):
            self._status = status
            self._state = "challenge"
        elif status == "alive":
            keep_going = bool(self._alive_answer(target))
            self._send(b"s" + (b"true" if keep_going else b"false"))
            if not keep_going:
                raise HandshakeError(f"{target} already has a connection from {self.name}")
            self._status = status
            self._state = "challenge"
        elif status == "nok":
            raise SimultaneousConnect(
                f"{target} is connecting to {self.name} as well; its attempt wins"
            )
        elif status == "not_allowed":
            log.error("** Connection attempt to node %s not allowed **", target)
            raise HandshakeError(f"{target} does not allow a connection from {self.name}")
        else:
            raise HandshakeError(f"{target} answered status {status!r}")

    def _on_challenge(self, body: bytes) -> None:
        try:
            flags, challenge, creation = struct.unpack_from(">QII", body, 1)
        except struct.error:
            raise HandshakeError("challenge cut short") from None
        name = _parse_name(body, 17, "challenge")
        if self.peer_name is not None and name != self.peer_name:
            raise HandshakeError(f"connected to {name}, not to {self.peer_name}")
        self._check_flags(name, flags, "to")
        self.peer = PeerInfo(name, flags, creation, self._status)
        self._send(b"r" + struct.pack(">I", self.challenge) + digest(challenge, self.cookie))
        self._state = "ack"

    def _on_ack(self, body: bytes) -> None:
        assert self.peer is not None
        if body[1:17] != digest(self.challenge, self.cookie):
            log.error(
                "** Connection attempt to node %s aborted: invalid challenge ack (wrong cookie) **",
                self.peer.name,
            )
            raise HandshakeError(f"{self.peer.name} does not share our cookie (bad challenge ack)")
        self._state = "done"


class AcceptorHandshake(_Handshake):
    """The accepting side (B).

    ``decide(peer_name)`` gives the status to answer (`status_for` is net_kernel's rule);
    "nok" and "not_allowed" end the handshake once that status is sent. ``length_bytes`` as
    for `InitiatorHandshake`.
    """

    def __init__(
        self,
        name: str,
        cookie: str,
        *,
        flags: int = DEFAULT_FLAGS,
        creation: int | None = None,
        decide: Callable[[str], str] = lambda peer: "ok",
        length_bytes: int = TCP_LENGTH_BYTES,
    ) -> None:
        super().__init__(name, cookie, flags, creation, length_bytes)
        self._decide = decide
        self._peer_name = ""
        self._peer_flags = 0
        self._peer_creation = 0
        self._status = ""
        self._needs_complement = False
        self._state = "name"

    def _handle(self, body: bytes) -> None:
        tag = body[:1]
        if self._state == "name" and tag in (b"N", b"n"):
            self._on_name(body)
        elif self._state == "alive" and tag == b"s":
            self._on_alive_answer(body[1:])
        elif self._state == "complement" and tag == b"c":
            self._on_complement(body)
        elif self._state == "reply" and tag == b"r":
            self._on_reply(body)
        else:
            raise HandshakeError(
                f"unexpected handshake message {tag!r} while waiting for {self._state}"
            )

    def _on_name(self, body: bytes) -> None:
        if body[:1] == b"N":
            try:
                flags, creation = struct.unpack_from(">QI", body, 1)
            except struct.error:
                raise HandshakeError("send_name cut short") from None
            name = _parse_name(body, 13, "send_name")
            needs_complement = False
        else:
            # Version 5 send_name from an OTP 23/24 node: the rest comes in a 'c' complement.
            try:
                _version, flags = struct.unpack_from(">HI", body, 1)
                name = body[7:].decode("utf-8")
                split_node_name(name)
            except (struct.error, UnicodeDecodeError, ValueError):
                raise HandshakeError("old send_name malformed") from None
            creation = 0
            if not flags & HANDSHAKE_23:
                log.error(
                    "** Connection attempt from node %s rejected: it speaks only handshake 5 **",
                    name,
                )
                raise HandshakeError(f"{name} speaks only handshake version 5")
            needs_complement = True
        # No short/long check here: OTP 25 accepts a long-named node on a short-named one (the
        # initiator is the one that refuses the mix), and so do we.
        self._check_flags(name, flags, "from")
        self._peer_name, self._peer_flags, self._peer_creation = name, flags, creation
        self._needs_complement = needs_complement
        status = self._decide(name)
        if status not in STATUSES:
            raise ValueError(f"status {status!r} is not one of {STATUSES}")
        self._status = status
        self._send(b"s" + status.encode("ascii"))
        if status == "nok":
            raise SimultaneousConnect(f"{name} connects while our own attempt to it wins")
        if status == "not_allowed":
            log.error("** Connection attempt from node %s rejected: not allowed **", name)
            raise HandshakeError(f"{name} is not allowed to connect")
        if status == "alive":
            self._state = "alive"
        else:
            self._send_challenge()

    def _on_alive_answer(self, answer: bytes) -> None:
        if answer != b"true":
            raise HandshakeError(
                f"{self._peer_name} keeps its old connection (answered {answer!r})"
            )
        self._send_challenge()

    def _send_challenge(self) -> None:
        encoded = self.name.encode("utf-8")
        self._send(
            b"N"
            + struct.pack(">QIIH", self.flags, self.challenge, self.creation, len(encoded))
            + encoded
        )
        self._state = "complement" if self._needs_complement else "reply"

    def _on_complement(self, body: bytes) -> None:
        try:
            flags_high, creation = struct.unpack_from(">II", body, 1)
        except struct.error:
            raise HandshakeError("complement cut short") from None
        self._peer_flags |= flags_high << 32
        self._peer_creation = creation
        self._state = "reply"

    def _on_reply(self, body: bytes) -> None:
        if len(body) < 21:
            raise HandshakeError("challenge reply cut short")
        (their_challenge,) = struct.unpack_from(">I", body, 1)
        if body[5:21] != digest(self.challenge, self.cookie):
            log.error(
                "** Connection attempt from node %s rejected. Invalid challenge reply. **",
                self._peer_name,
            )
            raise HandshakeError(
                f"{self._peer_name} does not share our cookie (bad challenge reply)"
            )
        self._send(b"a" + digest(their_challenge, self.cookie))
        self.peer = PeerInfo(self._peer_name, self._peer_flags, self._peer_creation, self._status)
        self._state = "done"


# --- asyncio transport -------------------------------------------------------------------------


class SocketStream:
    """A plain TCP socket as the reader and the writer of a handshake (the few stream methods
    it uses, over the event loop's ``sock_*`` calls), that nothing buffers behind our back:
    once the handshake is done, the socket can leave the event loop whole (`detach`) for the
    owner thread to serve (`beamlet.dist.wire`)."""

    def __init__(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        self.socket: socket.socket | None = sock
        self._unsent = bytearray()
        self._loop = asyncio.get_running_loop()
        self._reading: asyncio.Task[bytes] | None = None

    def _sock(self) -> socket.socket:
        if self.socket is None:
            raise ConnectionResetError("the socket is closed")
        return self.socket

    async def read(self, size: int) -> bytes:
        """Up to ``size`` bytes; ``b""`` at the end, also when `close` ends a read."""
        reading = self._reading = self._loop.create_task(self._loop.sock_recv(self._sock(), size))
        try:
            return await reading
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if self.socket is None and task is not None and not task.cancelling():
                return b""  # closed by us while reading, as a stream's EOF
            raise
        finally:
            self._reading = None

    def write(self, data: bytes) -> None:
        self._unsent += data

    async def drain(self) -> None:
        data, self._unsent = bytes(self._unsent), bytearray()
        await self._loop.sock_sendall(self._sock(), data)

    def is_closing(self) -> bool:
        return self.socket is None

    def get_extra_info(self, name: str) -> object:
        if name == "peername" and self.socket is not None:
            try:
                return self.socket.getpeername()
            except OSError:
                return None
        return None

    def close(self) -> None:
        if self.socket is not None:
            self.socket.close()
            self.socket = None
        if self._reading is not None:
            self._reading.cancel()  # a closed socket's pending read would never end

    async def wait_closed(self) -> None:
        return None

    def detach(self) -> socket.socket:
        """The socket, which this stream no longer uses."""
        sock = self._sock()
        self.socket = None
        return sock


Reader = asyncio.StreamReader | SocketStream
Writer = asyncio.StreamWriter | SocketStream


async def open_socket(address: str, port: int) -> SocketStream:
    """A TCP connection to ``address``:``port`` as a `SocketStream` (TCP_NODELAY on, as
    OTP's distribution sets it)."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(address, port, type=socket.SOCK_STREAM)
    error: OSError = OSError(f"no address for {address}")
    for family, kind, proto, _, where in infos:
        sock = socket.socket(family, kind, proto)
        sock.setblocking(False)
        try:
            await loop.sock_connect(sock, where)
        except OSError as failure:
            sock.close()
            error = failure
            continue
        except BaseException:
            sock.close()
            raise
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return SocketStream(sock)
    raise error


class Connection:
    """An authenticated link to one node: u32-length frames, an empty one being a tick.

    ``flags`` are the flags both sides set (what may be used on this connection);
    ``peer_flags`` the peer's own. ``last_received`` / ``last_sent`` are event-loop times, for
    the tick rule (`run_ticker`).
    """

    def __init__(
        self,
        name: str,
        peer: PeerInfo,
        our_flags: int,
        creation: int,
        reader: Reader,
        writer: Writer,
        leftover: bytes = b"",
    ) -> None:
        self.name = name
        self.peer_name = peer.name
        self.peer_flags = peer.flags
        self.peer_creation = peer.creation
        self.status = peer.status
        self.creation = creation
        self.flags = our_flags & peer.flags
        self.reader = reader
        self.writer = writer
        self._buffer = bytearray(leftover)
        loop = asyncio.get_running_loop()
        self.last_received = self.last_sent = loop.time()

    def __repr__(self) -> str:
        return f"<Connection {self.name} -> {self.peer_name} flags={self.flags:#x}>"

    @property
    def detachable(self) -> bool:
        """Whether `detach` can give the connection's socket (a plain TCP connection that
        has not closed)."""
        return isinstance(self.writer, SocketStream) and self.writer.socket is not None

    def detach(self) -> tuple[socket.socket, bytes]:
        """The socket of a plain TCP connection and the bytes already read from it that no
        frame has taken; the connection no longer uses them. ValueError for TLS."""
        if not isinstance(self.writer, SocketStream):
            raise ValueError(f"{self!r} runs over asyncio streams (TLS): it cannot be detached")
        leftover, self._buffer = bytes(self._buffer), bytearray()
        return self.writer.detach(), leftover

    async def send_frame(self, body: bytes) -> None:
        """Send one frame (a distribution message, or nothing: a tick)."""
        self.writer.write(struct.pack(">I", len(body)) + body)
        self.last_sent = asyncio.get_running_loop().time()
        await self.writer.drain()

    async def send_tick(self) -> None:
        """Send a tick: four zero bytes, which tell the peer we are alive."""
        await self.send_frame(b"")

    async def _fill(self, size: int) -> None:
        while len(self._buffer) < size:
            chunk = await self.reader.read(_READ_CHUNK)
            if not chunk:
                raise ConnectionResetError(f"{self.peer_name} closed the connection")
            self._buffer += chunk
            self.last_received = asyncio.get_running_loop().time()

    async def read_frame(self) -> bytes:
        """The next frame's body, ``b""`` for a tick; ConnectionError once the peer is gone."""
        await self._fill(4)
        (length,) = struct.unpack_from(">I", self._buffer, 0)
        await self._fill(4 + length)
        body = bytes(self._buffer[4 : 4 + length])
        del self._buffer[: 4 + length]
        return body

    def buffered_frame(self) -> bytes | None:
        """The next frame's body if it is already read in whole (no waiting), else None: a
        reader can take every frame of one read together."""
        buffer = self._buffer
        if len(buffer) < 4:
            return None
        (length,) = struct.unpack_from(">I", buffer, 0)
        if len(buffer) < 4 + length:
            return None
        body = bytes(buffer[4 : 4 + length])
        del buffer[: 4 + length]
        return body

    async def run_ticker(self, net_ticktime: float = DEFAULT_NET_TICKTIME) -> None:
        """Tick as OTP does, and return (closing) when the peer has gone silent.

        Every ``net_ticktime / 4``: a tick unless something was sent since the last check;
        nothing received for ``net_ticktime`` means the peer is down. Reading is someone
        else's job (`read_frame` keeps ``last_received``).
        """
        interval = net_ticktime / 4
        loop = asyncio.get_running_loop()
        while not self.writer.is_closing():
            await asyncio.sleep(interval)
            now = loop.time()
            if now - self.last_received > net_ticktime:
                log.warning(
                    "** Node %s not responding ** ** Removing (timedout) connection **",
                    self.peer_name,
                )
                await self.close()
                return
            if now - self.last_sent >= interval * 0.9:
                try:
                    await self.send_tick()
                except ConnectionError:
                    return

    async def close(self) -> None:
        """Close the connection (the peer sees nodedown)."""
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except OSError:
            pass


async def _run_handshake(core: _Handshake, reader: Reader, writer: Writer, peer: str) -> None:
    """Drive a sans-IO handshake over the streams until done; the refusal is sent before raising."""
    try:
        while True:
            out = core.data_to_send()
            if out:
                writer.write(out)
                await writer.drain()
            if core.done:
                return
            data = await reader.read(_READ_CHUNK)
            if not data:
                break
            core.feed(data)
    except HandshakeError:
        out = core.data_to_send()
        if out and not writer.is_closing():
            writer.write(out)
            try:
                await writer.drain()
            except ConnectionError:
                pass
        raise
    if core.state == "ack":
        log.error(
            "** Connection attempt to node %s aborted: it closed after our challenge reply "
            "(wrong cookie?) **",
            peer,
        )
        raise HandshakeError(
            f"{peer} closed the connection after our challenge reply: wrong cookie?"
        )
    if core.state in ("status", "name") and writer.get_extra_info("ssl_object") is not None:
        # TLS 1.3: a server that refuses our certificate says so after its TLS handshake.
        raise TlsHandshakeError(
            f"{peer} closed the TLS connection before the distribution handshake began: "
            "it may not trust our certificate"
        )
    raise HandshakeError(
        f"{peer} closed the connection during the handshake (waiting for {core.state})"
    )


async def _closing(writer: Writer) -> None:
    writer.close()
    try:
        await writer.wait_closed()
    except OSError:
        pass


async def connect(
    peer: str,
    *,
    name: str,
    cookie: str,
    flags: int = DEFAULT_FLAGS,
    creation: int | None = None,
    epmd: int | None = None,
    address: str | None = None,
    port: int | None = None,
    setup_time: float = DEFAULT_SETUP_TIME,
    alive_answer: Callable[[str], bool] = lambda peer: True,
    ssl: _ssl.SSLContext | None = None,
) -> Connection:
    """Connect to node ``peer`` as node ``name``: EPMD lookup, TCP, handshake 6.

    ``address`` overrides the peer's host for the TCP connection and the EPMD lookup; ``port``
    skips EPMD. ``ssl``: a client context (`beamlet.dist.tls.TlsOptions.client_context`) for
    a node that runs TLS distribution: TLS on the port EPMD gives, the host of ``peer`` as the
    server name (as inet_tls_dist sends it), then the handshake inside. Raises
    `HandshakeError` (`SimultaneousConnect` on ``nok``, `TlsHandshakeError` when TLS fails),
    OSError or TimeoutError; all within ``setup_time``.
    """
    alive, host = split_node_name(peer)
    core = InitiatorHandshake(
        name,
        cookie,
        peer_name=peer,
        flags=flags,
        creation=creation,
        alive_answer=alive_answer,
        length_bytes=TCP_LENGTH_BYTES if ssl is None else TLS_LENGTH_BYTES,
    )
    address = address or host
    stage = "EPMD answer"
    try:
        async with asyncio.timeout(setup_time):
            if port is None:
                port = await _port_of(peer, alive, address, epmd)
            stage = "TCP connection" if ssl is None else "TLS handshake"
            reader, writer = await _open(peer, address, port, ssl, host, setup_time)
            stage = "distribution handshake"
            try:
                await _run_handshake(core, reader, writer, peer)
            except _ssl.SSLError as error:
                # TLS 1.3: the server's verdict on our certificate comes after our handshake.
                await _closing(writer)
                raise _tls_failure(peer, error) from error
            except BaseException:
                await _closing(writer)
                raise
    except TimeoutError:
        tls_stage = stage == "TLS handshake"
        hint = " (a node without TLS distribution never answers one)" if tls_stage else ""
        raise TimeoutError(f"{peer}: no {stage} within {setup_time} s{hint}") from None
    assert core.peer is not None
    log.debug("connected to %s (flags %#x, creation %d)", peer, core.peer.flags, core.peer.creation)
    return Connection(name, core.peer, flags, core.creation, reader, writer, core.leftover())


async def _port_of(peer: str, alive: str, address: str, epmd: int | None) -> int:
    """The distribution port EPMD on ``address`` gives for ``peer`` (version 6 checked)."""
    entry = await _epmd.port_please(alive, address, epmd=epmd)
    if entry is None:
        raise HandshakeError(f"{peer} is not registered in EPMD on {address}")
    if not entry.lowest_version <= HANDSHAKE_VERSION <= entry.highest_version:
        raise HandshakeError(
            f"{peer} does not speak handshake version 6 "
            f"({entry.lowest_version}..{entry.highest_version})"
        )
    return entry.port


async def _open(
    peer: str,
    address: str,
    port: int,
    context: _ssl.SSLContext | None,
    server_name: str,
    setup_time: float,
) -> tuple[Reader, Writer]:
    """The TCP connection to the peer's distribution port, with TLS done when ``context``
    (a plain one is a `SocketStream`, both reader and writer)."""
    if context is None:
        stream = await open_socket(address, port)
        return stream, stream
    try:
        return await asyncio.open_connection(
            address,
            port,
            ssl=context,
            server_hostname=server_name,
            ssl_handshake_timeout=setup_time,
        )
    except (_ssl.SSLError, ConnectionResetError) as error:
        raise _tls_failure(peer, error) from error


async def accept(
    reader: Reader,
    writer: Writer,
    *,
    name: str,
    cookie: str,
    flags: int = DEFAULT_FLAGS,
    creation: int | None = None,
    setup_time: float = DEFAULT_SETUP_TIME,
    decide: Callable[[str], str] = lambda peer: "ok",
    ssl: _ssl.SSLContext | None = None,
) -> Connection:
    """Run the acceptor side on a socket our listener got; closes it when the handshake fails.

    ``decide(peer_name)`` picks the status (`status_for` gives net_kernel's rule);
    ``creation`` should be the one EPMD handed out at registration. TLS: streams of
    ``asyncio.start_server(..., ssl=server_context)`` arrive with TLS done (seen here by their
    ``ssl_object``); or give ``ssl=`` (a server context) on a plain listener's streams and the
    TLS handshake runs here, within ``setup_time``, a refusal raising `TlsHandshakeError`
    (where start_server drops a failed TLS handshake silently).
    """
    who = _peer_address(writer)
    try:
        async with asyncio.timeout(setup_time):
            if ssl is not None:
                await _start_tls(writer, ssl, who, setup_time)
            tls = writer.get_extra_info("ssl_object") is not None
            core = AcceptorHandshake(
                name,
                cookie,
                flags=flags,
                creation=creation,
                decide=decide,
                length_bytes=TLS_LENGTH_BYTES if tls else TCP_LENGTH_BYTES,
            )
            await _run_handshake(core, reader, writer, "the connecting node")
    except _ssl.SSLError as error:
        await _closing(writer)
        raise _tls_failure(who, error) from error
    except BaseException:
        await _closing(writer)
        raise
    assert core.peer is not None
    log.debug(
        "accepted %s (flags %#x, creation %d)", core.peer.name, core.peer.flags, core.peer.creation
    )
    return Connection(name, core.peer, flags, core.creation, reader, writer, core.leftover())


async def _start_tls(
    writer: Writer, context: _ssl.SSLContext, who: str, setup_time: float
) -> None:
    """Upgrade an accepted plain stream to TLS as the server side."""
    if writer.get_extra_info("ssl_object") is not None:
        raise ValueError("accept(ssl=...) on a stream that is TLS already (start_server(ssl=))")
    if isinstance(writer, SocketStream):
        raise ValueError("accept(ssl=...) upgrades asyncio streams, not a SocketStream")
    try:
        await writer.start_tls(context, ssl_handshake_timeout=setup_time)
    except (_ssl.SSLError, ConnectionResetError) as error:
        failure = _tls_failure(who, error)
        log.error("** TLS distribution handshake failed: %s **", failure)
        raise failure from error


def _peer_address(writer: Writer) -> str:
    """The connecting side's address, for messages (its node name comes later)."""
    peername = writer.get_extra_info("peername")
    if isinstance(peername, tuple) and len(peername) >= 2:
        return f"the node at {peername[0]}:{peername[1]}"
    return "the connecting node"


def _tls_failure(who: str, error: OSError) -> TlsHandshakeError:
    """A TLS error said in the terms of the distribution: whose certificate, which check."""
    reason = error.reason if isinstance(error, _ssl.SSLError) else None
    if isinstance(error, _ssl.SSLCertVerificationError):
        detail = f"its certificate is not trusted ({error.verify_message})"
    elif isinstance(error, (ConnectionResetError, _ssl.SSLEOFError)):
        # What a Python peer does when it refuses us: asyncio drops the connection unsaid.
        detail = (
            "it closed the connection during the TLS handshake: it may not trust our "
            "certificate, or not speak TLS on that port"
        )
    elif reason and "ALERT" in reason:
        detail = (
            f"it refused the TLS handshake ({reason}): it does not trust our certificate "
            "(its CA, or the host it names), or we showed none, or no TLS version is common"
        )
    elif reason in ("WRONG_VERSION_NUMBER", "UNSUPPORTED_PROTOCOL", "RECORD_LAYER_FAILURE"):
        detail = f"it does not speak TLS here ({reason}): a plain TCP distribution node?"
    else:
        detail = reason or str(error)
    return TlsHandshakeError(f"TLS with {who} failed: {detail}")
