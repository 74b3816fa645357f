"""A beamlet node on the Erlang distribution: connections, frames, identities, node up/down.

`start` makes the running node a distribution node: it listens on a TCP port, registers with
EPMD (starting the built-in EPMD when none answers), accepts connections as the handshake's
acceptor and connects on demand, as the initiator, when a process first sends, links, monitors
or calls to a node it has no connection to. What travels is in the modules beside this one:
`control` (links, monitors, exit signals), `spawning` (spawn requests, rpc), `nodes` (the
`Node` module); this one carries their frames and tells them when a node comes and goes.

Threads: connections are set up on the node's asyncio bridge loop (`beamlet.aio`): EPMD,
the listener, the handshake. Once up, a plain TCP connection's socket moves to the node's
owner thread (`wire.Link`), which reads, dispatches and writes its frames itself between
batches of processes, as the BEAM's schedulers do; a TLS connection stays on the loop, which
hands each read's frames to the owner thread (`hand_in`) and writes what the owner queues.
Everything that touches the kernel's tables (pids, links, deliveries) runs on the owner thread,
one frame at a time in arrival order, so the signals from one connection keep their order.
The owner thread knows which nodes are up (`up`); a frame for a node that is not up
yet waits in `pending` and is encoded when the connection is (it may be a beamlet node, whose
payloads are pickled, or an Erlang node); a failed connection ends those signals as the BEAM
does: "noconnection".

Between two beamlet nodes (both offer the `BEAMLET_TERMS` flag) control messages are still
ETF, and so are the payloads — messages, exit reasons, spawn arguments — that ETF gives back
exactly (`Codec.encode_exact`); the others are pickles, so any picklable Python value crosses
unchanged.
"""

from __future__ import annotations

import asyncio
import copyreg
import io
import logging
import pickle
import socket
import struct
import weakref
from collections import ChainMap, deque
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from beamlet import aio
from beamlet.dist import control as _control, epmd as _epmd, handshake as _hs
from beamlet.dist.control import NO_PAYLOAD, SPAWN_REQUEST
from beamlet.dist.etf import (
    Codec,
    ETFError,
    ExtPid,
    ExtRef,
    FrameDecoder,
    Gathered,
    ImproperList,
    _rebuild,
)
from beamlet.dist.fragments import (
    BINARIES_APART,
    NORMAL_HEADER,
    FragmentError,
    Outbox,
    PresetMessage,
    Reassembler,
)
from beamlet.dist.wire import Link
from beamlet.kernel import scheduler as _sched, signals as _signals
from beamlet.kernel.node import NodeState
from beamlet.kernel.registry import register
from beamlet.kernel.terms import Pid, Ref, RemotePid, TimerRef

if TYPE_CHECKING:  # ssl loads only for a node that uses TLS
    from beamlet.dist.tls import TlsOptions

__all__ = ["BEAMLET_TERMS", "Dist", "current", "start", "stop"]

log = logging.getLogger("beamlet.dist")

PASS_THROUGH = 112  # 'p': a frame without distribution header (we never set the atom cache)
PICKLE_PROTO = 0x80  # the first byte of a pickle: a payload from a beamlet node
_REF_TAIL = struct.Struct(">IIII")  # NEWER_REFERENCE_EXT after the node: creation, 3 ids
# Our own flag, far above OTP's: both ends are beamlet nodes, payloads travel as pickles
# where ETF would not give them back exactly. OTP keeps only the flags both ends offer, so an
# Erlang node never sees it used.
BEAMLET_TERMS = 1 << 60
# Binaries this big go out uncopied, their fragments cut from the caller's own bytes object.
GATHER_FROM = 1 << 18
_CLOSE_SECONDS = 5.0  # a guard for stop(): closing sockets on the loop takes milliseconds


class _NodeCodec(Codec):
    """ETF with our node's identities: local pids and refs to and from their wire form."""

    # `Dist.pid_from_wire` gives one object per pid; `ref_from_wire` leaves other nodes' refs
    cache_decoded_pids = True

    def __init__(self, dist: Dist) -> None:
        self.dist = dist
        super().__init__()

    # (properties: the codec's hooks are then the Dist's own methods, one call less per
    # pid or ref decoded)
    @property
    def decode_pid(self) -> Callable[[ExtPid], Any]:
        return self.dist.pid_from_wire

    @property
    def decode_ref(self) -> Callable[[ExtRef], Any]:
        return self.dist.ref_from_wire

    def encode_pid(self, pid: Pid) -> Any:
        return self.dist.pid_to_wire(pid)

    def encode_ref(self, ref: Ref) -> Any:
        return self.dist.ref_to_wire(ref)


def _identity_reducers(dist: Dist) -> dict[type, Callable[[Any], Any]]:
    """How pickles carry pids and refs between beamlet nodes: by wire identity (also another
    node's, which may be the receiver's own and must come back there as its local pid or
    ref). A pickler's dispatch table, so that the other values stay on pickle's C path."""

    local_pids, local_get, wire_get = dist.local_pids, dist.local_pids.get, dist.wire_pids.get

    def pid(obj: Pid) -> Any:
        # (the hot path of every message between beamlet nodes: `pid_to_wire` inlined,
        # without its codec bookkeeping, which pickles do not use)
        if obj.__class__ is RemotePid:
            wire = wire_get(obj)
            if wire is not None:
                return (_load_pid, (wire.__reduce__()[1][1],))
            remote: Any = obj
            return (_load_pid, ((remote.node_name, obj.id, remote.serial, remote.creation,
                                 None),))
        if local_get(obj.id) is not obj:
            local_pids[obj.id] = obj
        return (_load_pid, ((dist.name, obj.id, 0, dist.creation, None),))

    def ref(obj: Ref) -> Any:
        return (_load_ref, ((dist.name, dist.creation, dist.keep_ref(obj), None),))

    def wire(obj: Any) -> Any:
        return (_load_pid if obj.__class__ is ExtPid else _load_ref, (obj.__reduce__()[1][1],))

    return {Pid: pid, RemotePid: pid, Ref: ref, TimerRef: ref, ExtPid: wire, ExtRef: wire}


def _forget_when_gone(table: dict[Any, Any], key: Any, gone: weakref.ReferenceType[Any]) -> None:
    """(A weak reference's callback) drop ``key`` from ``table`` if it still holds ``gone``."""
    if table.get(key) is gone:
        del table[key]


def _load_pid(values: tuple[Any, ...]) -> Any:
    """(Unpickling) a pid by its wire identity, as this node knows it."""
    dist = _current
    if dist is not None and values[0] == dist.name and values[3] == dist.creation:
        proc = _sched.procs().get(values[1])  # one of ours, alive: the usual case
        if proc is not None:
            return proc.pid
    wire = _rebuild(ExtPid, values)
    return dist.pid_from_wire(wire) if dist is not None else wire


def _load_ref(values: tuple[Any, ...]) -> Any:
    wire = _rebuild(ExtRef, values)
    return _current.ref_from_wire(wire) if _current is not None else wire


def _payload_buffer() -> io.BytesIO:
    """A buffer holding the 131 byte a payload starts with, positioned after it."""
    buffer = io.BytesIO(b"\x83")
    buffer.seek(1)
    return buffer


class _Payloads:
    """Payloads to beamlet nodes: as ETF when it gives the value back exactly (tuples,
    atoms, numbers, binaries, lists, maps, pids and refs: most messages, at a fraction of a
    pickle's cost both ways), else as ``131`` then a pickle, by one pickler kept for the node
    (making one per message costs more than pickling a small message); closures and lambdas,
    which pickle refuses, by cloudpickle."""

    def __init__(self, dist: Dist) -> None:
        self.dist = dist
        self.buffer = io.BytesIO()
        self.pickler = dist.pickler(self.buffer, protocol=5)
        self.busy = False  # a value whose pickling sends a message gets a pickler of its own

    def payload(self, obj: Any) -> bytes | Gathered:
        exact = self.dist.codec.encode_parts(obj, gather_from=GATHER_FROM, exact=True)
        if exact is not None:
            return exact
        if self.busy:
            return self._fresh(obj)
        buffer, pickler = self.buffer, self.pickler
        buffer.seek(0)
        buffer.truncate()
        buffer.write(b"\x83")
        pickler.clear_memo()
        self.busy = True
        try:
            pickler.dump(obj)
        except (pickle.PicklingError, TypeError, AttributeError) as error:
            return self._cloud(obj, error)
        finally:
            self.busy = False
        return buffer.getvalue()

    def _fresh(self, obj: Any) -> bytes:
        buffer = _payload_buffer()
        try:
            self.dist.pickler(buffer, protocol=5).dump(obj)
        except (pickle.PicklingError, TypeError, AttributeError) as error:
            return self._cloud(obj, error)
        return buffer.getvalue()

    def _cloud(self, obj: Any, error: Exception) -> bytes:
        try:
            import cloudpickle  # type: ignore[import-untyped]  # closures and lambdas
        except ImportError:
            raise ValueError(f"cannot send {obj!r} to another node: {error} (install "
                             "cloudpickle to send closures and lambdas)") from None
        buffer = _payload_buffer()
        # (a pickler reads its dispatch table when made: a class of our own carries it)
        cloud = type("CloudPickler", (cloudpickle.Pickler,), {"dispatch_table": ChainMap(
            self.dist.identity_reducers, cloudpickle.Pickler.dispatch_table)})
        try:
            cloud(buffer, protocol=5).dump(obj)
        except Exception as cloud_error:  # noqa: BLE001 - what could not travel, said clearly
            raise ValueError(
                f"cannot send {obj!r} to another node: {cloud_error}") from None
        return buffer.getvalue()


def reason_term(reason: Any) -> Any:
    """An exit reason as an Erlang node can read it: a Python exception becomes
    ``{ExceptionName, Message}`` (an atom and a binary); anything else is kept."""
    if isinstance(reason, BaseException):
        return (type(reason).__name__, str(reason).encode())
    return reason


class _Peer:
    """One other node on the loop thread: its connection once up, and the messages to write
    (an `Outbox`: fragments of a big message take turns with the small ones behind it)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.ready: asyncio.Future[_hs.Connection] = asyncio.get_running_loop().create_future()
        self.outbox = Outbox()
        self.queued = asyncio.Event()
        self.tasks: list[asyncio.Task[Any]] = []


def _connected(peer: _Peer) -> bool:
    """True when the peer's connection is up (not pending, failed or given up)."""
    ready = peer.ready
    return ready.done() and not ready.cancelled() and ready.exception() is None


async def _server_streams(sock: socket.socket) -> tuple[asyncio.StreamReader,
                                                       asyncio.StreamWriter]:
    """Streams over an accepted socket, as `asyncio.start_server` gives them (the server
    side: `StreamWriter.start_tls` then runs TLS as the server)."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    connected: asyncio.Future[asyncio.StreamWriter] = loop.create_future()
    protocol = asyncio.StreamReaderProtocol(
        reader, lambda _, writer: connected.set_result(writer))
    await loop.connect_accepted_socket(lambda: protocol, sock)
    return reader, await connected


class Dist:
    """The distribution state of the running node (one per node).

    Loop thread: `peers`. Owner thread: everything else.
    """

    def __init__(self, node: NodeState, name: str, cookie: str, epmd_port: int | None, *,
                 hidden: bool, net_ticktime: float, connect_all: bool = True,
                 tls: TlsOptions | None = None) -> None:
        from beamlet.dist import control, nodes, spawning

        self.node = node
        self.name = name
        self.cookie = cookie
        self.epmd_port = epmd_port
        self.net_ticktime = net_ticktime
        self.connect_all = connect_all
        # TLS both ways when asked (Erlang's -proto_dist inet_tls); bad files fail here
        self.tls_server = tls.server_context() if tls is not None else None
        self.tls_client = tls.client_context() if tls is not None else None
        self.flags = (_hs.DEFAULT_FLAGS | _hs.FRAGMENTS | BEAMLET_TERMS) \
            & ~(_hs.PUBLISHED if hidden else 0)
        self.creation = 0
        self.loop = aio.loop()
        self.codec = _NodeCodec(self)
        self.peers: dict[str, _Peer] = {}                        # loop thread only
        # frames from the owner thread to the loop, moved by `_flush` (deque: thread-safe)
        self.outgoing: deque[tuple[str, bytes, bytes | Gathered, Any]] = deque()
        self.flush_scheduled = False
        self.up: dict[str, int] = {}                             # node -> connection flags
        self.links: dict[str, Link] = {}                         # plain TCP connections
        self.pending: dict[str, list[tuple[tuple[Any, ...], Any]]] = {}
        # Identities, held weakly: a pid or ref nobody holds any more is forgotten here too.
        self.remote_pids: weakref.WeakValueDictionary[tuple[str, int, int, int], RemotePid] = \
            weakref.WeakValueDictionary()
        self.wire_pids: weakref.WeakKeyDictionary[RemotePid, ExtPid] = \
            weakref.WeakKeyDictionary()                          # byte-exact way back
        self.node_index: dict[str, int] = {}
        # refs we have sent, by their id words, held weakly (a plain dict of weak references:
        # a call sends one and gets it back, without a Python-level lookup either way)
        self.local_refs: dict[tuple[int, ...], weakref.ReferenceType[Ref]] = {}
        self.local_pids: weakref.WeakValueDictionary[int, Pid] = \
            weakref.WeakValueDictionary()                        # pids we have sent
        self.listener: socket.socket | None = None
        self.accepting: asyncio.Task[None] | None = None
        self.handshakes: set[asyncio.Future[None]] = set()       # loop thread only
        self.registration: _epmd.Registration | None = None
        self.epmd_server: _epmd.EpmdServer | None = None
        # NEWER_REFERENCE_EXT of three id words, then our node's atom (see `ref_to_wire`)
        self._ref_head = b"Z\x00\x03" + self.codec.encode(name)[1:]
        self.identity_reducers = _identity_reducers(self)
        # a pickler reads its dispatch table when it is made: a class of our own carries it
        self.pickler: type[pickle.Pickler] = type("Pickler", (pickle.Pickler,), {
            "dispatch_table": {**copyreg.dispatch_table, **self.identity_reducers}})
        self.payloads = _Payloads(self)
        # a frame in one pass, straight to C (`Codec.frame_encoder`; None without C)
        self._frame = self.codec.frame_encoder(NORMAL_HEADER)
        self._exact_frame = self.codec.frame_encoder(NORMAL_HEADER, exact=True)
        self.signals = control.Signals(self)
        # act on one message from a peer, decoded (`payload` `NO_PAYLOAD` if none)
        self.dispatch_decoded: Callable[[str, Any, Any], None] = self.signals.dispatch
        self.spawning = spawning.Spawning(self)
        self.watchers = nodes.NodeWatchers(self)

    # --- identities (owner thread) ---------------------------------------------------------

    def pid_from_wire(self, wire: ExtPid) -> Pid:
        """A pid of ours as its live process's pid (a dead one if gone); others interned."""
        if wire.node == self.name:
            if wire.creation == self.creation:
                proc = _sched.procs().get(wire.id)
                if proc is not None:
                    return proc.pid
                sent = self.local_pids.get(wire.id)
                if sent is not None:
                    return sent  # the pid of a process that ended since, as it was sent
            return Pid(None, wire.id)
        key = (wire.node, wire.id, wire.serial, wire.creation)
        remote = self.remote_pids.get(key)
        if remote is None:
            index = self.node_index.setdefault(wire.node, len(self.node_index) + 1)
            remote = RemotePid(wire.node, wire.id, wire.serial, wire.creation, index)
            self.remote_pids[key] = remote
            self.wire_pids[remote] = wire
        return remote

    def pid_to_wire(self, pid: Pid) -> ExtPid:
        """The wire form of ``pid``; the codec remembers its bytes, so that the next frames
        naming it (a process's own pid in every message it sends) encode it in C."""
        if isinstance(pid, RemotePid):
            wire = self.wire_pids.get(pid) or ExtPid(
                pid.node_name, pid.id, pid.serial, pid.creation)
        else:
            self.local_pids[pid.id] = pid
            wire = ExtPid(self.name, pid.id, 0, self.creation)
        self.codec.remember(pid, wire)
        return wire

    def ref_from_wire(self, wire: ExtRef) -> Any:
        """One of our refs back as the `Ref` it was sent as; any other stays an `ExtRef`."""
        if wire.node == self.name and wire.creation == self.creation:
            sent = self.local_refs.get(wire.ids)
            ref = sent() if sent is not None else None
            return wire if ref is None else ref
        return wire

    def keep_ref(self, ref: Ref) -> tuple[int, int, int]:
        """Note that ``ref`` was sent, so that it comes back as itself while it lives; its
        id words (its number's: 18 bits, then two of 32, as OTP's)."""
        n = ref.n
        ids = (n & 0x3FFFF, (n >> 18) & 0xFFFFFFFF, (n >> 50) & 0xFFFFFFFF)
        table = self.local_refs
        table[ids] = weakref.ref(ref, partial(_forget_when_gone, table, ids))
        return ids

    def remember_ref(self, ref: Ref) -> tuple[tuple[int, int, int], bytes]:
        """`keep_ref`, and the codec remembers the ref's bytes, made here, both ways: a ref
        is usually sent again soon (a call's monitor, tag and demonitor), then encoded in C,
        and comes back (a reply's tag), then read as itself in C. Its id words and bytes."""
        ids = self.keep_ref(ref)
        raw = self._ref_head + _REF_TAIL.pack(self.creation, *ids)
        self.codec.remember_bytes(ref, raw, both_ways=True)
        return ids, raw

    def ref_to_wire(self, ref: Ref) -> ExtRef:
        """The wire form of one of our refs (`remember_ref`)."""
        ids, raw = self.remember_ref(ref)
        wire: ExtRef = _rebuild(ExtRef, (self.name, self.creation, ids, raw))
        return wire

    def placeholder_pid(self) -> ExtPid:
        """Our pid for control messages sent by no process (net_kernel's answers, outside
        sends): id 0, which no beamlet process has."""
        return ExtPid(self.name, 0, 0, self.creation)

    # --- opening and closing (loop thread) ---------------------------------------------------

    async def open(self) -> None:
        """Listen, make sure an EPMD runs, register there (which gives our creation)."""
        self.epmd_server = await _epmd.ensure_epmd(self.epmd_port)
        listener = self.listener = socket.create_server(("0.0.0.0", 0), backlog=128)
        listener.setblocking(False)
        self.accepting = asyncio.ensure_future(self._accept_all(listener))
        port = listener.getsockname()[1]
        alive = _hs.split_node_name(self.name)[0]
        self.registration = await _epmd.register(alive, port, epmd=self.epmd_port)
        self.creation = self.registration.creation

    async def close(self) -> None:
        """Close every connection, the listener, the registration and our EPMD if we run it."""
        for peer in list(self.peers.values()):
            await self._drop(peer)
        if self.accepting is not None:
            self.accepting.cancel()
        if self.listener is not None:
            self.listener.close()
        if self.registration is not None:
            await self.registration.close()
        if self.epmd_server is not None:
            await self.epmd_server.stop()

    # --- connections (loop thread) ------------------------------------------------------------

    def _decide(self, peer_name: str) -> str:
        """net_kernel's answer to a node connecting to us (see `handshake.status_for`)."""
        peer = self.peers.get(peer_name)
        connected = peer is not None and _connected(peer)
        pending = peer is not None and not peer.ready.done()
        return _hs.status_for(self.name, peer_name, pending=pending, connected=connected)

    async def _accept_all(self, listener: socket.socket) -> None:
        """Take every connection to our port; each runs the acceptor's handshake."""
        loop = asyncio.get_running_loop()
        while True:
            try:
                sock, _ = await loop.sock_accept(listener)
            except OSError as error:  # out of file descriptors, say: the others go on
                log.error("accepting a connection failed: %s", error)
                await asyncio.sleep(0.1)
                continue
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            handshake = asyncio.ensure_future(self._on_accept(sock))
            self.handshakes.add(handshake)  # (the loop holds tasks weakly)
            handshake.add_done_callback(self.handshakes.discard)

    async def _on_accept(self, sock: socket.socket) -> None:
        reader: _hs.Reader
        writer: _hs.Writer
        if self.tls_server is not None:  # TLS runs over asyncio's streams (server side)
            reader, writer = await _server_streams(sock)
        else:
            reader = writer = _hs.SocketStream(sock)
        try:
            connection = await _hs.accept(
                reader, writer, name=self.name, cookie=self.cookie, flags=self.flags,
                creation=self.creation, decide=self._decide, ssl=self.tls_server)
        except (_hs.HandshakeError, OSError, TimeoutError) as error:
            log.warning("a node failed to connect: %s", error)
            return
        peer = self.peers.get(connection.peer_name)
        if peer is None or peer.ready.done():
            if peer is not None:
                await self._drop(peer)
            peer = self._new_peer(connection.peer_name)
        self._up(peer, connection)

    def _new_peer(self, name: str) -> _Peer:
        peer = self.peers[name] = _Peer(name)
        peer.tasks.append(asyncio.ensure_future(self._pump(peer)))
        return peer

    def ensure_connection(self, name: str) -> asyncio.Future[_hs.Connection]:
        """The future of the connection to ``name``: up, pending, or started now."""
        peer = self.peers.get(name)
        if peer is None:
            peer = self._new_peer(name)
            peer.tasks.append(asyncio.ensure_future(self._connect(peer)))
        return peer.ready

    async def _connect(self, peer: _Peer) -> None:
        """Connect to ``peer`` as the initiator; when it wins a simultaneous connect, its own
        attempt (which we accept) completes ``peer.ready`` instead."""
        try:
            connection = await _hs.connect(
                peer.name, name=self.name, cookie=self.cookie, flags=self.flags,
                creation=self.creation, epmd=self.epmd_port, ssl=self.tls_client)
        except _hs.SimultaneousConnect:
            return
        except (_hs.HandshakeError, OSError, TimeoutError, ValueError) as error:
            log.warning("could not connect to %s: %s", peer.name, error)
            if not peer.ready.done():
                peer.ready.set_exception(ConnectionError(str(error)))
                peer.ready.exception()  # retrieved: no "never retrieved" warning
            await self._drop(peer)
            return
        if peer.ready.done():  # the peer's attempt won meanwhile
            await connection.close()
            return
        self._up(peer, connection)

    def _up(self, peer: _Peer, connection: _hs.Connection) -> None:
        """The handshake with ``peer`` succeeded: a plain connection's socket goes to the
        owner thread (`adopt`); for a TLS one, tell the owner thread, then read and tick."""
        peer.ready.set_result(connection)
        if connection.detachable:
            sock, leftover = connection.detach()
            _sched.hand_in(partial(self.adopt, peer.name, sock, connection, leftover))
            return
        _sched.hand_in(partial(self.node_up, peer.name, connection.flags))
        peer.tasks.append(asyncio.ensure_future(self._read(peer, connection)))
        peer.tasks.append(asyncio.ensure_future(connection.run_ticker(self.net_ticktime)))

    async def _pump(self, peer: _Peer) -> None:
        """Write the peer's frames once it is connected, in the outbox's order (fragmented
        when the connection agreed on FRAGMENTS); drop the peer when writing fails."""
        try:
            connection = await peer.ready
            outbox = peer.outbox
            outbox.fragments = bool(connection.flags & _hs.FRAGMENTS)
            while True:
                chunk = outbox.next_chunk()
                if chunk is None:
                    peer.queued.clear()
                    await peer.queued.wait()
                    continue
                await connection.send_frame(chunk)
        except ConnectionError as error:
            log.info("connection to %s lost while writing: %s", peer.name, error)
            await self._drop(peer)

    async def _read(self, peer: _Peer, connection: _hs.Connection) -> None:
        """Hand every frame to the owner thread, in order; forget the peer when it closes."""
        reassembler = Reassembler(binaries_apart=BINARIES_APART)
        peer_name = connection.peer_name
        try:
            while True:
                body: bytes | None = await connection.read_frame()
                messages: list[bytes | bytearray | PresetMessage] = []
                while body is not None:  # every frame this read brought: one hand-in
                    if body:
                        message = reassembler.feed(body)
                        if message is not None:
                            messages.append(message)
                    body = connection.buffered_frame()
                if messages:
                    _sched.hand_in(partial(self.dispatch_all, peer_name, messages))
        except ConnectionError:
            log.info("connection to %s closed", connection.peer_name)
        except FragmentError as error:  # a broken peer: OTP closes the connection too
            log.error("invalid frame from %s, disconnecting: %s", connection.peer_name, error)
        await self._drop(peer)

    async def _drop(self, peer: _Peer) -> None:
        """Forget ``peer`` (once): cancel its tasks, close its socket, tell the owner thread."""
        if self.peers.get(peer.name) is not peer:
            return
        del self.peers[peer.name]
        _sched.hand_in(partial(self.node_down, peer.name))
        current = asyncio.current_task()
        for task in peer.tasks:
            if task is not current:
                task.cancel()
        if _connected(peer):
            await peer.ready.result().close()
        elif not peer.ready.done():
            peer.ready.cancel()

    def disconnect_now(self, name: str) -> None:
        """(Owner thread) Take ``name`` for down now and close its connection."""
        if name in self.up:
            self.node_down(name)
        self.loop.call_soon_threadsafe(lambda: asyncio.ensure_future(self.disconnect(name)))

    async def disconnect(self, name: str) -> bool:
        """Close the connection to ``name``; whether there was one."""
        peer = self.peers.get(name)
        if peer is None or not _connected(peer):
            return False
        await self._drop(peer)
        return True

    def _forget(self, name: str, connection: _hs.Connection) -> None:
        """(Loop thread) The owner thread closed the plain connection ``connection``."""
        peer = self.peers.get(name)
        if peer is not None and _connected(peer) and peer.ready.result() is connection:
            del self.peers[name]
            for task in peer.tasks:
                task.cancel()

    def _flush(self) -> None:
        """(Loop thread) Move the frames the owner thread made into their peers' outboxes."""
        self.flush_scheduled = False  # before taking: a frame added after is flushed again
        outgoing = self.outgoing
        while outgoing:
            peer_name, control, payload, key = outgoing.popleft()
            peer = self.peers.get(peer_name)
            if peer is not None:
                peer.outbox.put(control, payload, key)
                peer.queued.set()
            # else: the connection went down after the frame was made; node_down ends it

    # --- node up and down (owner thread) -----------------------------------------------------

    def adopt(self, name: str, sock: socket.socket, connection: _hs.Connection,
              leftover: bytes) -> None:
        """Serve the plain connection to ``name`` on this thread from now on (`wire.Link`)."""
        if name in self.links:  # an older connection the loop has replaced
            self.node_down(name)
        link = self.links[name] = Link(self, name, sock, connection.flags, connection, leftover)
        self.node_up(name, connection.flags)
        link.start()

    def link_lost(self, link: Link) -> None:
        """``link`` broke (`Link.lost`): the node is down; the loop forgets the connection."""
        if self.links.get(link.peer_name) is link:
            del self.links[link.peer_name]
            self.node_down(link.peer_name)
        self.loop.call_soon_threadsafe(self._forget, link.peer_name, link.connection)

    def tick(self, name: str) -> None:
        """Tick the plain connection to ``name`` (TLS connections tick on the loop)."""
        link = self.links.get(name)
        if link is not None:
            link.tick(self.net_ticktime)

    def close_links(self) -> None:
        """Close every plain connection (the node is stopping)."""
        for link in list(self.links.values()):
            link.close()
        self.links.clear()

    def node_up(self, name: str, flags: int) -> None:
        """The connection to ``name`` is up: send what waited for it, tell the watchers."""
        self.up[name] = flags
        for control, payload in self.pending.pop(name, ()):
            try:
                self._write(name, control, payload)
            except (ETFError, ValueError) as error:  # logged by _write
                if control[0] == SPAWN_REQUEST:  # its caller waits for the answer
                    self.spawning.refused(control[1], str(error))
        self.watchers.node_up(name, flags)

    def node_down(self, name: str) -> None:
        """The connection to ``name`` is gone (or never came up): its links and monitors end
        with "noconnection", what waited for it is dropped, the watchers hear nodedown."""
        was_up = self.up.pop(name, None)
        self.pending.pop(name, None)
        link = self.links.pop(name, None)
        if link is not None:
            link.close()
        self.signals.connection_lost(name)
        self.spawning.connection_lost(name)
        self.watchers.node_down(name, was_up)

    # --- frames out (owner thread) -----------------------------------------------------------

    def send_control(self, peer_name: str, control: tuple[Any, ...],
                     payload: Any = NO_PAYLOAD) -> None:
        """Send ``control`` (and ``payload``, a message or reason, when given) to the node
        ``peer_name``, connecting first when it is not up. Raises ValueError (or ETFError) for
        what cannot be encoded for a node that is up."""
        link = self.links.get(peer_name)  # (a plain connection's peer is up)
        plain, exact = self._frame, self._exact_frame
        if link is not None and link.fragments and not link.outbox.queued \
                and plain is not None and exact is not None:
            # the usual case, a small message on a plain connection: framed in one pass
            try:
                if payload is NO_PAYLOAD:
                    frame = plain(control, None, False, link.whole_frame_limit)
                elif link.flags & BEAMLET_TERMS:  # (the connection's flags: as `up` says)
                    frame = exact(control, payload, True, link.whole_frame_limit)
                else:
                    frame = plain(control, payload, True, link.whole_frame_limit)
            except (ETFError, RecursionError):
                frame = None  # (`_write` says what is wrong, or pickles it)
            if frame is not None:
                link.put_frame(frame)
                return
        if peer_name in self.up:
            self._write(peer_name, control, payload)
            return
        if peer_name == self.name:
            raise ValueError("a distribution frame to our own node")
        waiting = self.pending.get(peer_name)
        if waiting is None:
            waiting = self.pending[peer_name] = []
            self.loop.call_soon_threadsafe(self.ensure_connection, peer_name)
        waiting.append((control, payload))

    def _write(self, peer_name: str, control: tuple[Any, ...], payload: Any) -> None:
        """Encode and queue a frame for ``peer_name``, which is up (what `send_control`
        does not frame in one pass: big or pickled messages, TLS connections, the frames
        that waited for the connection)."""
        link = self.links.get(peer_name)
        try:
            control_bytes, payload_bytes = self.encode(peer_name, control, payload)
        except (ETFError, ValueError) as error:
            log.error("cannot send %r to %s: %s", control, peer_name, error)
            if peer_name not in self.up:
                return
            raise
        # ordered per sending process (control[1] is the sender, or the request id of a
        # spawn request, which names no other order to keep), as OTP orders a channel
        key = control[1] if control[0] != SPAWN_REQUEST else control[2]
        if link is not None:
            link.put(control_bytes, payload_bytes, key)
            return
        self.outgoing.append((peer_name, control_bytes, payload_bytes, key))
        if not self.flush_scheduled:  # one wake-up of the loop for a burst of frames
            self.flush_scheduled = True
            self.loop.call_soon_threadsafe(self._flush)

    def encode(self, peer_name: str, control: tuple[Any, ...],
               payload: Any) -> tuple[bytes, bytes | Gathered]:
        """The control term and the payload as the frames carry them: ETF (each with its
        131 byte); to a beamlet node the payload is 131 then a pickle (the decoder tells
        them apart by the byte after 131: no ETF tag is 0x80, every pickle starts so), or
        ETF where that carries the value exactly."""
        control_bytes = self.codec.encode(control)
        if payload is NO_PAYLOAD:
            return control_bytes, b""
        if self.up.get(peer_name, 0) & BEAMLET_TERMS:
            return control_bytes, self.payloads.payload(payload)
        encoded = self.codec.encode_parts(payload, gather_from=GATHER_FROM)
        assert encoded is not None  # (only an exact encoding may have none)
        return control_bytes, encoded

    def encode_reason(self, peer_name: str, reason: Any) -> Any:
        """An exit reason ready for ``peer_name``: kept for a beamlet node; for an Erlang
        node, a Python exception as ``{Name, Message}`` and anything ETF cannot say as the
        binary of its repr (a dead process's reason cannot be refused)."""
        if self.up.get(peer_name, 0) & BEAMLET_TERMS:
            return reason
        term = reason_term(reason)
        try:
            self.codec.encode(term)
        except (ETFError, ValueError):
            return repr(reason).encode()
        return term

    def route(self, dest: Any, msg: Any) -> None:
        """The kernel's remote router: a send to a `RemotePid`, ``(name, node)`` or another
        node's alias (an `ExtRef`, or the ``[alias | Ref]`` tag of a gen call)."""
        proc = _sched.current_or_none()
        sender: Any = None if proc is None else proc.pid  # None: from outside any process
        origin = self.placeholder_pid() if sender is None else sender
        if dest.__class__ is RemotePid:
            frame_control: tuple[Any, ...] = (
                (_control.SEND, "", dest) if sender is None
                else (_control.SEND_SENDER, sender, dest))
            peer_name = dest.node_name
        elif isinstance(dest, tuple):
            name, peer_name = dest
            frame_control = (_control.REG_SEND, origin, "", name)
        else:
            ref = dest.tail if isinstance(dest, ImproperList) else dest
            if not isinstance(ref, ExtRef):
                raise TypeError(f"invalid destination {dest!r}")
            frame_control = (_control.ALIAS_SEND, origin, ref)
            peer_name = ref.node
        try:
            self.send_control(peer_name, frame_control, msg)
        except (ETFError, ValueError) as error:
            raise ValueError(f"cannot send {msg!r} to {dest!r}: {error}") from None

    # --- frames in (owner thread) ------------------------------------------------------------

    def dispatch_all(self, peer_name: str,
                     bodies: list[bytes | bytearray | PresetMessage]) -> None:
        """`dispatch` each of ``bodies``, in order."""
        for body in bodies:
            self.dispatch(peer_name, body)

    def dispatch(self, peer_name: str, body: bytes | bytearray | PresetMessage) -> None:
        """Decode one frame from ``peer_name`` and act on it."""
        try:
            control, payload = self._decode(body)
        except Exception as error:  # noqa: BLE001 - whatever a bad frame or pickle raises
            # As OTP does with data it cannot read: the channel is broken, close it, so that
            # whoever waited on that node hears "noconnection" instead of waiting for ever.
            log.error("invalid distribution message from %s, disconnecting: %s",
                      peer_name, error)
            self.disconnect_now(peer_name)
            return
        self.dispatch_decoded(peer_name, control, payload)

    def frame_decoder(self) -> FrameDecoder | None:
        """What decodes a plain connection's whole frames at the start of the bytes it is
        given, the usual ones as ``(control, payload)`` (`Codec.frame_decoder`: ``(data,
        largest, sequences)``): items for `wire.Link`; None without the C decoder."""
        return self.codec.frame_decoder(NORMAL_HEADER, NO_PAYLOAD)

    def _decode(self, body: bytes | bytearray | PresetMessage) -> tuple[Any, Any]:
        """The control term and the payload (`NO_PAYLOAD` if none) of a message in
        pass-through form, or in one frame with the normal header and no atom cache refs
        (what a plain connection's `wire.Link` dispatches as it came), or reassembled with its
        big binary apart."""
        if isinstance(body, PresetMessage):
            return self._decode_preset(body)
        codec = self.codec
        decode: Callable[[bytes, int], tuple[Any, int]]
        if body[0] == PASS_THROUGH:  # each term after its 131 version byte
            decode, (control, end) = codec.decode_prefix, codec.decode_prefix(body, 1)
            pickled_at = end + 1
        elif body.startswith(NORMAL_HEADER):  # the terms without version bytes
            decode, (control, end) = codec.decode_at, codec.decode_at(body, 3)
            pickled_at = end
        else:
            raise ETFError(f"not a distribution message (first byte {body[0]})", 0)
        if end >= len(body):
            return control, NO_PAYLOAD
        if pickled_at < len(body) and body[pickled_at] == PICKLE_PROTO:
            return control, pickle.loads(memoryview(body)[pickled_at:])
        return control, decode(body, end)[0]


    def _decode_preset(self, message: PresetMessage) -> tuple[Any, Any]:
        """`_decode` of a message whose big binary came apart: into its own `bytes` object,
        as the fragments came, so that no step copies it whole."""
        body = message.message
        control, end = self.codec.decode_prefix(body, 1)
        return control, self.codec.decode_prefix(body, end, preset=message.preset)[0]


_current: Dist | None = None


def current() -> Dist:
    """The running node's distribution; RuntimeError when the node is not distributed."""
    if _current is None or _current.node is not _sched.node_state():
        raise RuntimeError("this node is not distributed: start it with beamlet.run(main, "
                           "name=...) (or a cookie)")
    return _current


def current_or_none() -> Dist | None:
    """The running node's distribution, or None."""
    return _current if _current is not None and _current.node is _sched.node_state() else None


async def start(name: str, cookie: str, *, epmd_port: int | None = None, hidden: bool = False,
                net_ticktime: float = _hs.DEFAULT_NET_TICKTIME, connect_all: bool = True,
                tls: TlsOptions | None = None) -> None:
    """Make the running node the distribution node ``name`` (``alive@host``) with ``cookie``.

    Called from a process. ``epmd_port`` is the EPMD's port (default: ``ERL_EPMD_PORT`` or
    4369); the built-in EPMD is started there when none answers. A ``hidden`` node does not
    appear in the other nodes' ``Node.list()`` (Erlang's ``-hidden``). ``net_ticktime`` is
    Erlang's kernel parameter: a node silent for that long is taken for down. With
    ``connect_all`` (Erlang's default) a new visible node's own connections are made too, so
    the cluster stays fully meshed. With ``tls`` (`beamlet.dist.tls.TlsOptions`) every
    connection is TLS, as with Erlang's ``-proto_dist inet_tls``. When this
    returns the node is registered and accepting connections, and `stop` is registered to run
    when the node stops.
    """
    from beamlet.dist import nodes

    global _current
    node = _sched.node_state()
    if node is None:
        raise _sched.outside_process()
    if _current is not None:
        raise RuntimeError(f"this node is already distributed as {_current.name}")
    _hs.split_node_name(name)
    if not isinstance(net_ticktime, (int, float)) or net_ticktime <= 0:
        raise ValueError(f"net_ticktime is a positive number of seconds, got {net_ticktime!r}")
    dist = Dist(node, name, cookie, epmd_port, hidden=hidden, net_ticktime=net_ticktime,
                connect_all=connect_all, tls=tls)
    await aio.await_(dist.open())
    node.name = name
    node.external += 1  # remote nodes may send at any time: no deadlock while we listen
    _current = dist
    _sched.set_remote_router(dist.route, (ExtRef, ImproperList))
    _signals.set_remote_signals(dist.signals)
    dist.watchers.net_kernel = _sched.spawn(nodes.net_kernel, dist)
    register(dist.watchers.net_kernel, "net_kernel")  # before any node can ask for it
    node.on_stop.append(stop)


def stop() -> None:
    """Close every connection, unregister from EPMD and stop our EPMD (if we started it)."""
    global _current
    dist, _current = _current, None
    if dist is None:
        return
    _sched.set_remote_router(None)
    _signals.set_remote_signals(None)
    dist.node.external -= 1
    dist.close_links()
    closing = asyncio.run_coroutine_threadsafe(dist.close(), dist.loop)
    try:
        closing.result(_CLOSE_SECONDS)
    except Exception as error:  # noqa: BLE001 - stopping goes on whatever failed
        log.warning("closing the distribution: %s", error)


def on_loop(fn: Callable[[], Any]) -> None:
    """Run ``fn`` on the distribution's loop thread."""
    current().loop.call_soon_threadsafe(fn)
