"""A beamlet node on the Erlang distribution: the first messages with Erlang/Elixir nodes.

`start` makes the running node a distribution node: it listens on a TCP port, registers with
EPMD (starting the built-in EPMD when none answers), accepts connections as the handshake's
acceptor and connects on demand, as the initiator, when a process first sends to a node it has
no connection to. It answers ``net_kernel``'s ``{is_auth, Node}`` call, which is all
``Node.ping`` asks, and carries SEND, SEND_SENDER, REG_SEND and ALIAS_SEND both ways.

Threads: the sockets live on the node's asyncio bridge loop (`beamlet.aio`); everything that
touches the kernel's tables (decoding pids to local processes, delivering) runs on the node's
owner thread through `hand_in`, one frame at a time in arrival order, so messages from one
connection keep their order. A send to another node reaches `_Dist.route` on the owner thread
(the kernel's remote router), is encoded there, and is written by the connection's pump task
on the loop, again in order.
"""

from __future__ import annotations

import asyncio
import logging
from functools import partial
from typing import Any

from beamlet import aio
from beamlet.dist import epmd as _epmd, handshake as _hs
from beamlet.dist.etf import Codec, ETFError, ExtPid, ExtRef
from beamlet.kernel import scheduler as _sched
from beamlet.kernel.node import NodeState
from beamlet.kernel.terms import Pid, Ref, RemotePid

__all__ = ["start", "stop"]

log = logging.getLogger("beamlet.dist")

PASS_THROUGH = 112  # 'p': a frame without distribution header (we never set the atom cache)
# Control message tags (erl_dist_protocol) and where their destination sits in the tuple.
SEND, REG_SEND, SEND_TT, REG_SEND_TT = 2, 6, 12, 16
SEND_SENDER, SEND_SENDER_TT, ALIAS_SEND, ALIAS_SEND_TT = 22, 23, 33, 34
_DESTINATION_AT = {
    SEND: 2, SEND_TT: 2, SEND_SENDER: 2, SEND_SENDER_TT: 2,
    REG_SEND: 3, REG_SEND_TT: 3, ALIAS_SEND: 2, ALIAS_SEND_TT: 2,
}
_CLOSE_SECONDS = 5.0  # a guard for stop(): closing sockets on the loop takes milliseconds


class _NodeCodec(Codec):
    """ETF with our node's identities: local pids and refs to and from their wire form."""

    def __init__(self, dist: _Dist) -> None:
        self.dist = dist
        super().__init__()

    def decode_pid(self, pid: ExtPid) -> Any:
        return self.dist.pid_from_wire(pid)

    def decode_ref(self, ref: ExtRef) -> Any:
        return self.dist.ref_from_wire(ref)

    def encode_pid(self, pid: Pid) -> Any:
        return self.dist.pid_to_wire(pid)

    def encode_ref(self, ref: Ref) -> Any:
        return self.dist.ref_to_wire(ref)


class _Peer:
    """One other node: its connection once up, and the frames waiting to be written to it."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.ready: asyncio.Future[_hs.Connection] = asyncio.get_running_loop().create_future()
        self.outbox: asyncio.Queue[bytes] = asyncio.Queue()
        self.tasks: list[asyncio.Task[Any]] = []


def _connected(peer: _Peer) -> bool:
    """True when the peer's connection is up (not pending, failed or given up)."""
    ready = peer.ready
    return ready.done() and not ready.cancelled() and ready.exception() is None


class _Dist:
    """The distribution state of the running node (one per node)."""

    def __init__(self, node: NodeState, name: str, cookie: str, epmd_port: int | None) -> None:
        self.node = node
        self.name = name
        self.cookie = cookie
        self.epmd_port = epmd_port
        self.creation = 0
        self.loop = aio.loop()
        self.codec = _NodeCodec(self)
        self.peers: dict[str, _Peer] = {}                        # loop thread only
        self.remote_pids: dict[tuple[str, int, int, int], RemotePid] = {}   # owner thread
        self.wire_pids: dict[RemotePid, ExtPid] = {}             # byte-exact way back
        self.node_index: dict[str, int] = {}
        self.local_refs: dict[tuple[int, ...], Ref] = {}         # refs we have sent
        self.server: asyncio.Server | None = None
        self.registration: _epmd.Registration | None = None
        self.epmd_server: _epmd.EpmdServer | None = None

    # --- identities (owner thread) ---------------------------------------------------------

    def pid_from_wire(self, wire: ExtPid) -> Pid:
        """A pid of ours as its live process's pid (a dead one if gone); others interned."""
        if wire.node == self.name:
            proc = _sched.procs().get(wire.id) if wire.creation == self.creation else None
            return proc.pid if proc is not None else Pid(None, wire.id)
        key = (wire.node, wire.id, wire.serial, wire.creation)
        remote = self.remote_pids.get(key)
        if remote is None:
            index = self.node_index.setdefault(wire.node, len(self.node_index) + 1)
            remote = RemotePid(wire.node, wire.id, wire.serial, wire.creation, index)
            self.remote_pids[key] = remote
            self.wire_pids[remote] = wire
        return remote

    def pid_to_wire(self, pid: Pid) -> ExtPid:
        if isinstance(pid, RemotePid):
            return self.wire_pids.get(pid) or ExtPid(
                pid.node_name, pid.id, pid.serial, pid.creation)
        return ExtPid(self.name, pid.id, 0, self.creation)

    def ref_from_wire(self, wire: ExtRef) -> Any:
        """One of our refs back as the `Ref` it was sent as; any other stays an `ExtRef`."""
        if wire.node == self.name and wire.creation == self.creation:
            return self.local_refs.get(wire.ids, wire)
        return wire

    def ref_to_wire(self, ref: Ref) -> ExtRef:
        ids = (ref.n & 0x3FFFF, (ref.n >> 18) & 0xFFFFFFFF, (ref.n >> 50) & 0xFFFFFFFF)
        self.local_refs[ids] = ref
        return ExtRef(self.name, self.creation, ids)

    def placeholder_pid(self) -> ExtPid:
        """Our pid for control messages sent by no process (net_kernel's answers, outside
        sends): id 0, which no beamlet process has."""
        return ExtPid(self.name, 0, 0, self.creation)

    # --- opening and closing (loop thread) ---------------------------------------------------

    async def open(self) -> None:
        """Listen, make sure an EPMD runs, register there (which gives our creation)."""
        self.epmd_server = await _epmd.ensure_epmd(self.epmd_port)
        self.server = await asyncio.start_server(self._on_accept, "0.0.0.0", 0)
        port = self.server.sockets[0].getsockname()[1]
        alive = _hs.split_node_name(self.name)[0]
        self.registration = await _epmd.register(alive, port, epmd=self.epmd_port)
        self.creation = self.registration.creation

    async def close(self) -> None:
        """Close every connection, the listener, the registration and our EPMD if we run it."""
        for peer in list(self.peers.values()):
            await self._drop(peer)
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
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

    async def _on_accept(self, reader: asyncio.StreamReader,
                         writer: asyncio.StreamWriter) -> None:
        try:
            connection = await _hs.accept(
                reader, writer, name=self.name, cookie=self.cookie,
                creation=self.creation, decide=self._decide)
        except (_hs.HandshakeError, OSError, TimeoutError) as error:
            log.warning("a node failed to connect: %s", error)
            return
        peer = self.peers.get(connection.peer_name)
        if peer is None or peer.ready.done():
            if peer is not None:
                await self._drop(peer)
            peer = self._new_peer(connection.peer_name)
        peer.ready.set_result(connection)
        self._run(peer, connection)

    def _new_peer(self, name: str) -> _Peer:
        peer = self.peers[name] = _Peer(name)
        peer.tasks.append(asyncio.ensure_future(self._pump(peer)))
        return peer

    async def _connect(self, peer: _Peer) -> None:
        """Connect to ``peer`` as the initiator; when it wins a simultaneous connect, its own
        attempt (which we accept) completes ``peer.ready`` instead."""
        try:
            connection = await _hs.connect(
                peer.name, name=self.name, cookie=self.cookie,
                creation=self.creation, epmd=self.epmd_port)
        except _hs.SimultaneousConnect:
            return
        except (_hs.HandshakeError, OSError, TimeoutError, ValueError) as error:
            log.warning("could not connect to %s: %s", peer.name, error)
            if not peer.ready.done():
                peer.ready.set_exception(ConnectionError(str(error)))
            return
        if peer.ready.done():  # the peer's attempt won meanwhile
            await connection.close()
            return
        peer.ready.set_result(connection)
        self._run(peer, connection)

    def _run(self, peer: _Peer, connection: _hs.Connection) -> None:
        peer.tasks.append(asyncio.ensure_future(self._read(peer, connection)))
        peer.tasks.append(asyncio.ensure_future(connection.run_ticker()))

    async def _pump(self, peer: _Peer) -> None:
        """Write the peer's frames in order once it is connected; drop it when that fails."""
        try:
            connection = await peer.ready
            while True:
                await connection.send_frame(await peer.outbox.get())
        except ConnectionError as error:
            log.warning("lost the messages queued for %s: %s", peer.name, error)
            if self.peers.get(peer.name) is peer:
                del self.peers[peer.name]

    async def _read(self, peer: _Peer, connection: _hs.Connection) -> None:
        """Hand every frame to the owner thread, in order; forget the peer when it closes."""
        try:
            while True:
                body = await connection.read_frame()
                if body:
                    _sched.hand_in(partial(self.dispatch, connection.peer_name, body))
        except ConnectionError:
            log.info("connection to %s closed", connection.peer_name)
        if self.peers.get(peer.name) is peer:
            await self._drop(peer)

    async def _drop(self, peer: _Peer) -> None:
        if self.peers.get(peer.name) is peer:
            del self.peers[peer.name]
        current = asyncio.current_task()
        for task in peer.tasks:
            if task is not current:
                task.cancel()
        if _connected(peer):
            await peer.ready.result().close()
        elif not peer.ready.done():
            peer.ready.cancel()

    def enqueue(self, peer_name: str, frame: bytes) -> None:
        """Queue a frame for ``peer_name``, connecting first when no connection is up."""
        peer = self.peers.get(peer_name)
        if peer is None:
            peer = self._new_peer(peer_name)
            peer.tasks.append(asyncio.ensure_future(self._connect(peer)))
        peer.outbox.put_nowait(frame)

    # --- frames in and out (owner thread) ---------------------------------------------------

    def frame(self, control: tuple[Any, ...], message: Any) -> bytes:
        return bytes([PASS_THROUGH]) + self.codec.encode(control) + self.codec.encode(message)

    def write(self, peer_name: str, frame: bytes) -> None:
        self.loop.call_soon_threadsafe(self.enqueue, peer_name, frame)

    def route(self, dest: Any, msg: Any) -> None:
        """The kernel's remote router: a send to a `RemotePid` or ``(name, node)``."""
        try:
            sender: Any = _sched.self_pid()
        except Exception:  # noqa: BLE001 - a send from outside any process
            sender = None
        try:
            if isinstance(dest, RemotePid):
                control: tuple[Any, ...] = (
                    (SEND, "", dest) if sender is None else (SEND_SENDER, sender, dest))
                peer_name = dest.node_name
            else:
                name, peer_name = dest
                origin = self.placeholder_pid() if sender is None else sender
                control = (REG_SEND, origin, "", name)
            frame = self.frame(control, msg)
        except (ETFError, ValueError) as error:
            log.error("cannot send %r to %r: %s", msg, dest, error)
            return
        self.write(peer_name, frame)

    def dispatch(self, peer_name: str, body: bytes) -> None:
        """Decode one frame from ``peer_name`` and deliver its message."""
        try:
            control, message = self._decode(body)
        except (ETFError, ValueError) as error:
            log.error("invalid distribution message from %s: %s", peer_name, error)
            return
        if not isinstance(control, tuple) or not control:
            log.error("invalid control message from %s: %r", peer_name, control)
            return
        at = _DESTINATION_AT.get(control[0])
        if at is None or len(control) <= at:
            log.debug("ignored control message from %s: %r", peer_name, control)
            return
        dest = control[at]
        if control[0] in (REG_SEND, REG_SEND_TT):
            self._to_name(peer_name, dest, message)
        elif type(dest) is Pid or isinstance(dest, Ref):
            _sched.send_from_outside(dest, message)

    def _decode(self, body: bytes) -> tuple[Any, Any]:
        if body[0] != PASS_THROUGH:
            raise ETFError(f"not a pass-through frame (first byte {body[0]})", 0)
        control, end = self.codec.decode_prefix(body, 1)
        message = self.codec.decode_prefix(body, end)[0] if end < len(body) else None
        return control, message

    def _to_name(self, peer_name: str, name: Any, message: Any) -> None:
        if name == "net_kernel" and self._answer_net_kernel(peer_name, message):
            return
        if isinstance(name, str):
            _sched.send_from_outside((name, self.name), message)  # unknown names drop it

    def _answer_net_kernel(self, peer_name: str, message: Any) -> bool:
        """Answer ``{'$gen_call', From, {is_auth, Node}}`` with ``yes`` (`Node.ping`)."""
        match message:
            case ("$gen_call", (caller, tag), ("is_auth", _)) if isinstance(caller, RemotePid):
                reply = self.frame((SEND_SENDER, self.placeholder_pid(), caller), (tag, "yes"))
                self.write(caller.node_name, reply)
                return True
        return False


_current: _Dist | None = None


async def start(name: str, cookie: str, *, epmd_port: int | None = None) -> None:
    """Make the running node the distribution node ``name`` (``alive@host``) with ``cookie``.

    Called from a process. ``epmd_port`` is the EPMD's port (default: ``ERL_EPMD_PORT`` or
    4369); the built-in EPMD is started there when none answers. When this returns the node
    is registered and accepting connections, `send` to remote pids and ``(name, node)``
    works, and `stop` is registered to run when the node stops.
    """
    global _current
    node = _sched.node_state()
    if node is None:
        raise _sched.outside_process()
    if _current is not None:
        raise RuntimeError(f"this node is already distributed as {_current.name}")
    _hs.split_node_name(name)
    dist = _Dist(node, name, cookie, epmd_port)
    await aio.await_(dist.open())
    node.name = name
    node.external += 1  # remote nodes may send at any time: no deadlock while we listen
    _current = dist
    _sched.set_remote_router(dist.route)
    node.on_stop.append(stop)


def stop() -> None:
    """Close every connection, unregister from EPMD and stop our EPMD (if we started it)."""
    global _current
    dist, _current = _current, None
    if dist is None:
        return
    _sched.set_remote_router(None)
    dist.node.external -= 1
    closing = asyncio.run_coroutine_threadsafe(dist.close(), dist.loop)
    try:
        closing.result(_CLOSE_SECONDS)
    except Exception as error:  # noqa: BLE001 - stopping goes on whatever failed
        log.warning("closing the distribution: %s", error)

