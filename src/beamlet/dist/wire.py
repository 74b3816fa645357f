"""A plain TCP connection to another node, served by the thread that owns the kernel.

Once the handshake is done (on the event loop, `handshake`), the socket of a plain TCP
connection leaves the event loop for the kernel's owner thread (`beamlet.kernel.io`), as the
BEAM's schedulers serve their node's sockets themselves: a frame that arrives is read,
decoded and delivered by the thread that runs its receiver, and what the processes of one
batch send to a node leaves in one ``send``, with no thread in between either way (each
crossing between threads costs a thread wake-up: 50-90 µs on the machines we measured).

A `Link` reads whole frames as the socket has them (one ``recv`` per poll, so that a big
message arriving does not hold the loop), feeds them to a `Reassembler` and hands each
complete message to `Dist.dispatch`; it writes from an `Outbox` (fragments of a big message
take turns with the small ones), buffering what the socket does not take and asking to hear
when it is writable again. `tick` keeps OTP's tick rule (the connection's process calls it).
TLS connections stay on the event loop (`beamlet.dist.node`).
"""

from __future__ import annotations

import logging
import socket
import struct
from time import monotonic
from typing import TYPE_CHECKING, Any

from beamlet.dist.etf import Gathered
from beamlet.dist.fragments import (
    BINARIES_APART,
    NORMAL_HEADER,
    Buffer,
    FragmentError,
    Outbox,
    Reassembler,
    framed_whole,
)
from beamlet.dist.handshake import FRAGMENTS
from beamlet.kernel.io import READ, WRITE
from beamlet.kernel.node import wakeup

if TYPE_CHECKING:
    from beamlet.dist.handshake import Connection
    from beamlet.dist.node import Dist

__all__ = ["Link", "set_socket_buffer"]

log = logging.getLogger("beamlet.dist")

_LENGTH = struct.Struct(">I")
_READ_SIZE = 1 << 18      # bytes taken per poll
_WRITE_BATCH = 1 << 18    # frames joined into one send, up to about this many bytes
# What one turn of the loop writes at most: while the peer takes a 100 MB message as fast as
# it comes, writing until the socket is full held the node 5-10 ms at a time (a ping's
# answer waited that long to be read).
_SEND_BUDGET = 1 << 20
# A message of up to this many bytes goes in one frame (a bigger one in OTP's 64 KiB
# fragments): a 100 KB call costs both nodes far less whole than in two fragments, and a
# small message waits behind at most this much (~0.3 ms here). Fragments this big would not
# do: with them a ping beside a 100 MB message took 30 ms at its median to the BEAM, and
# 110 ms at its p99 between beamlet nodes (against 1.4 and 4 ms).
_SEND_WHOLE = 1 << 18
_TICK = b"\0\0\0\0"       # an empty frame
_socket_buffer: int | None = 1 << 18  # see set_socket_buffer
# While a message too big for one frame goes out (the outbox has fragments to write), the
# socket's send buffer is this small instead (the kernel doubles it): what is sent meanwhile
# waits behind less of it in the kernels' buffers, this node's and the peer's, which grows
# its own by what comes per round trip. Beside a 100 MB message, round trips between two
# other processes took 20.5-23.7 ms at p99 to the BEAM with 256 KiB and 1.9-2.6 ms with
# this; between beamlet nodes 2.7-3.6 and 1.6-1.7 ms. Only then: a 100 KB reply sent
# whole into a buffer this small waits for room, and 100 KB calls answered by a beamlet node
# went ~15% slower with it for everything.
_BIG_MESSAGE_SEND_BUFFER = 1 << 16


def set_socket_buffer(size: int | None) -> None:
    """The send and receive buffers (``SO_SNDBUF``, ``SO_RCVBUF``, bytes) of every plain
    connection set up from now on; None leaves the OS's own, which grow to several MB (what
    OTP does unless ``inet_dist_listen_options`` say ``sndbuf``/``recbuf``).

    The default, 256 KiB, keeps a big message from getting far ahead of the small ones
    behind it in the kernel's buffers: beside a 100 MB message, round trips between two
    other processes of two beamlet nodes take 4 ms at p99 on these machines, against
    15-21 ms with the OS's buffers (between two BEAM nodes: 24-73 ms); and while a message
    goes out in fragments the send buffer is 64 KiB (`_BIG_MESSAGE_SEND_BUFFER`), which
    brings that to 2 ms, to the BEAM too. The price is on long networks: a connection
    carries at most one buffer per round trip (256 KiB per 10 ms is 25 MB/s, a fragmented
    message 64 KiB); raise it there, or give None, which leaves both to the OS."""
    global _socket_buffer
    if size is not None and (type(size) is not int or size <= 0):
        raise ValueError(f"a socket buffer is a positive number of bytes or None, not {size!r}")
    _socket_buffer = size



def _split(buffer: bytes | bytearray | memoryview) -> tuple[int, list[bytes]]:
    """The bodies of the whole frames at the start of ``buffer`` (ticks left out), and where
    the rest begins."""
    size = len(buffer)
    start = 0
    bodies = []
    view: bytes | memoryview = buffer if type(buffer) is bytes else memoryview(buffer)
    while size - start >= 4:
        (length,) = _LENGTH.unpack_from(buffer, start)
        end = start + 4 + length
        if end > size:
            break
        if length:  # (an empty frame is a tick: being read is all it asks)
            body = view[start + 4:end]
            bodies.append(body if type(body) is bytes else bytes(body))
        start = end
    if type(view) is memoryview:
        view.release()  # (before the bytearray is cut)
    return start, bodies


class Link:
    """The connection to ``peer_name`` over ``sock``, on the owner thread (see the module
    docstring). ``connection`` is the handshake's record, which the event loop keeps."""

    def __init__(self, dist: Dist, peer_name: str, sock: socket.socket, flags: int,
                 connection: Connection, leftover: bytes = b"") -> None:
        self.dist = dist
        self.peer_name = peer_name
        self.sock = sock
        self.flags = flags
        self.connection = connection
        self.inbound = bytearray(leftover)
        # Every read lands here: `recv` would make a new `_READ_SIZE` object per read, which
        # the allocator maps and unmaps each time (a 100 KB read took ~85 µs, into this ~12).
        self.read_buffer = memoryview(bytearray(_READ_SIZE))
        self.reassembler = Reassembler(binaries_apart=BINARIES_APART)
        self._decode_frames = dist.frame_decoder()
        self.largest = self.reassembler.max_message_bytes  # what one message may be
        self.fragments = bool(flags & FRAGMENTS)
        self.outbox = Outbox(fragments=self.fragments, max_whole=_SEND_WHOLE)
        self.max_whole = self.outbox.max_whole  # (control + payload: a generous bound)
        # the longest frame `put_frame` takes: u32 length, 131 68 0, a whole message's bytes
        self.whole_frame_limit = 4 + len(NORMAL_HEADER) + self.outbox.max_whole
        self.framed: list[Buffer] = []          # frames `put` made, with their lengths
        self.unsent: memoryview | None = None   # what the socket has not taken yet
        self.flush_due = False
        self.events = 0
        self.closed = False
        self.last_received = self.last_sent = monotonic()
        sock.setblocking(False)
        self.socket_buffer = _socket_buffer   # this connection's (None: the OS's own)
        self.shrunk = False   # its send buffer is `_BIG_MESSAGE_SEND_BUFFER` for now
        if self.socket_buffer is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.socket_buffer)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.socket_buffer)

    def __repr__(self) -> str:
        return f"<Link to {self.peer_name}{' closed' if self.closed else ''}>"

    def start(self) -> None:
        """Begin reading (the frames that came with the handshake's last read first)."""
        self._watch(READ)
        if self.inbound:
            self._take_frames()

    # --- in -------------------------------------------------------------------------------

    def _ready(self, events: int) -> None:
        if events & WRITE:
            self._send()
        if events & READ and not self.closed:
            size = self._receive()
            if (self.inbound or self.reassembler.open_sequences) and 0 < size < _READ_SIZE \
                    and not self.closed:
                # The rest of a frame or of a fragmented message is usually right behind
                # (OTP sends 100 KB as two 64 KiB fragments, which come in two reads as
                # often as in one): read it now rather than at the next turn of the loop.
                self._receive()

    def _receive(self) -> int:
        """Read what the socket has and dispatch its whole frames; the bytes read."""
        try:
            size = self.sock.recv_into(self.read_buffer)
        except (BlockingIOError, InterruptedError):
            return 0
        except OSError as error:
            self.lost(f"reading failed: {error}")
            return 0
        if not size:
            self.lost("it closed the connection")
            return 0
        self.last_received = monotonic()
        data = self.read_buffer[:size]  # (the decoder copies what it keeps: no reference stays)
        if self.inbound:  # the rest of a frame begun in an earlier read
            self.inbound += data
            self._take_frames()
            return size
        start, items = self._frames(data)  # (the usual case: whole frames, in the read)
        if start < size:
            self.inbound = bytearray(data[start:])
        self._dispatch(items)
        return size

    def _take_frames(self) -> None:
        """Dispatch every whole frame of `inbound`, in order; keep the rest."""
        start, items = self._frames(self.inbound)
        del self.inbound[:start]
        self._dispatch(items)

    def _frames(self, data: bytes | bytearray | memoryview) -> tuple[int, list[Any]]:
        """The whole frames at the start of ``data`` and where the rest begins: the usual
        messages decoded in C (`Dist.frame_decoder`; a fragmented one too when its frames are all
        there and the reassembler holds no other), the others as their bodies."""
        decode = self._decode_frames
        if decode is None:
            return _split(data)
        return decode(data, self.largest, not self.reassembler.open_sequences)

    def _dispatch(self, items: list[Any]) -> None:
        """Hand the messages of ``items`` (in order: decoded ``(control, payload)`` pairs
        and frame bodies) to the distribution."""
        feed, dispatch, peer_name = self.reassembler.feed, self.dist.dispatch, self.peer_name
        decoded = self.dist.dispatch_decoded
        for body in items:
            if body.__class__ is tuple:
                decoded(peer_name, body[0], body[1])
                if self.closed:
                    return
                continue
            if body.startswith(NORMAL_HEADER) and len(body) <= self.largest:
                dispatch(peer_name, body)  # a whole message: as it came (no reassembly)
                if self.closed:
                    return
                continue
            try:
                message = feed(body)
            except FragmentError as error:  # a broken peer: OTP closes the connection too
                log.error("invalid frame from %s, disconnecting: %s", peer_name, error)
                self.dist.disconnect_now(peer_name)
                return
            if message is not None:
                dispatch(peer_name, message)
                if self.closed:  # the message closed the connection (a bad frame)
                    return

    # --- out ------------------------------------------------------------------------------

    def put(self, control: bytes, payload: bytes | Gathered, key: Any) -> None:
        """Queue one message (see `Outbox.put`); it leaves after the running batch.

        While the outbox is empty a message that needs no fragments is framed at once (it
        goes before anything put after it, as the outbox would send it)."""
        if not self.outbox.queued and len(control) + len(payload) <= self.max_whole:
            self.framed += framed_whole(control, payload, self.fragments)
        else:
            self.outbox.put(control, payload, key)
        if not self.flush_due:
            self.flush_due = True
            wakeup.soon(self._flush)

    def put_frame(self, frame: bytes) -> None:
        """Queue one whole frame as `Codec.encode_frame` writes it, at most
        `whole_frame_limit` bytes: what `put` does with a small message, written in one pass
        (only with FRAGMENTS agreed and nothing in the outbox, which `put` would wait for)."""
        self.framed.append(frame)
        if not self.flush_due:
            self.flush_due = True
            wakeup.soon(self._flush)

    def _flush(self) -> None:
        self.flush_due = False
        if self.unsent is not None:  # the socket asked to wait; it says when writable
            return
        framed = self.framed
        if self.outbox.queued or self.events & WRITE or self.shrunk or self.closed \
                or not framed:
            self._send()
            return
        # The usual case, the small frames of one batch and nothing else to write: one send,
        # without `_send`'s turns (they are on the path of every round trip).
        self.framed = []
        self._write(framed[0] if len(framed) == 1 else b"".join(framed))

    def _send(self) -> None:
        """Write until the outbox is empty, the socket is full, or `_SEND_BUDGET` bytes have
        gone (then the rest goes when the loop finds the socket writable again, after it has
        served the other sockets and processes)."""
        budget = _SEND_BUDGET
        while not self.closed:
            unsent = self.unsent
            if unsent is None:
                if not self.framed and not self.outbox.queued:  # all written
                    if self.shrunk:
                        self._shrink(False)
                    if self.events & WRITE:
                        self._watch(READ)
                    return
                if budget <= 0:  # more to write: at the next poll
                    if not self.events & WRITE:
                        self._watch(READ | WRITE)
                    return
                if self.outbox.queued and not self.shrunk and self.socket_buffer is not None:
                    self._shrink(True)
                unsent = memoryview(self._next_bytes())
            self.unsent = None
            if not self._write(unsent):
                return
            budget -= len(unsent)

    def _write(self, data: Buffer) -> bool:
        """Send ``data``: whether all of it went. What the socket does not take waits in
        `unsent` until it is writable."""
        try:
            sent = self.sock.send(data)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError as error:
            self.lost(f"writing failed: {error}")
            return False
        self.last_sent = monotonic()
        if sent < len(data):
            self.unsent = memoryview(data)[sent:]
            if not self.events & WRITE:
                self._watch(READ | WRITE)
            return False
        return True

    def _shrink(self, shrunk: bool) -> None:
        """The send buffer `_BIG_MESSAGE_SEND_BUFFER` while fragments go out, else the
        connection's own."""
        self.shrunk = shrunk
        size = _BIG_MESSAGE_SEND_BUFFER if shrunk else self.socket_buffer
        if size is None:   # (the OS's own: such a connection never shrinks)
            return
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, size)
        except OSError:   # (a socket closing under us: the next write says so)
            pass

    def _next_bytes(self) -> bytes:
        """The frames to write next, joined: those framed by `put`, then the outbox's (about
        `_WRITE_BATCH` bytes of them)."""
        parts, self.framed = self.framed, []
        if not self.outbox.queued:
            return b"".join(parts)
        next_chunk = self.outbox.next_chunk
        size = 0
        while size < _WRITE_BATCH:
            chunk = next_chunk()
            if chunk is None:
                break
            parts.append(_LENGTH.pack(len(chunk)))
            parts.append(chunk)
            size += 4 + len(chunk)
        return b"".join(parts)

    # --- ticks and the end -------------------------------------------------------------------

    def tick(self, net_ticktime: float) -> None:
        """OTP's tick rule, called every ``net_ticktime / 4``: a peer silent for
        ``net_ticktime`` is down; a tick goes out when nothing else did since the last call."""
        now = monotonic()
        if now - self.last_received > net_ticktime:
            log.warning("** Node %s not responding ** ** Removing (timedout) connection **",
                        self.peer_name)
            self.lost("timed out")
        elif (now - self.last_sent >= net_ticktime / 4 * 0.9 and self.unsent is None
              and not self.framed and not self.outbox):
            self.unsent = memoryview(_TICK)
            self._send()

    def lost(self, why: str) -> None:
        """The connection broke: close it and tell the distribution (once)."""
        if self.closed:
            return
        log.info("connection to %s lost: %s", self.peer_name, why)
        self.close()
        self.dist.link_lost(self)

    def close(self) -> None:
        """Close the socket (the peer sees nodedown); no more reads, writes or callbacks."""
        if self.closed:
            return
        self.closed = True
        wakeup.unwatch(self.sock)
        self.sock.close()

    def _watch(self, events: int) -> None:
        self.events = events
        wakeup.watch(self.sock, events, self._ready)
