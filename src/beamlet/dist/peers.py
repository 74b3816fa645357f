"""Peer nodes: a beamlet node per core, started, watched, restarted and stopped by the main node.

``beamlet.run(main, cores=N)`` starts N-1 peers before ``main`` runs (as OTP's ``peer``
module starts nodes): each is ``python -m beamlet.dist.peers``, an OS process of its own,
registered as ``<main alive>_<i>`` in the main node's EPMD and connected to the main node.
The main node waits for each one's nodeup, so they are in `Node.list()` when ``main`` starts.

Never left behind:

- each peer is forked by a thread that lives exactly as long as that peer (it forks it, then
  waits for it), and the peer asks the kernel for SIGKILL when that thread ends
  (``PR_SET_PDEATHSIG``, which follows the forking *thread*, not the process): a main node
  killed with SIGKILL takes its peers with it;
- a peer monitors the main node and ends when its connection to it closes;
- when the main node stops, it kills every peer by pid and reaps it before `run` returns.

A peer that dies (its OS process ends, or its connection is lost) is reported by the
distribution as nodedown, so links to its processes give "noconnection"; then the keeper
process here starts it again under the same name, at most `MAX_RESTARTS` times in
`RESTART_WINDOW` seconds per peer, as a supervisor's intensity limits its restarts.

The cookie travels in the peer's environment (``BEAMLET_PEER_COOKIE``), not on its command
line, where any user of the host could read it.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from functools import partial
from time import monotonic
from typing import Any

from beamlet.dist import handshake as _hs
from beamlet.kernel import scheduler as _sched, signals as _signals
from beamlet.kernel.terms import ANY, Down

__all__ = ["MAX_RESTARTS", "RESTART_WINDOW", "START_SECONDS", "SWITCH_INTERVAL", "Peers",
           "peer_names", "prepare", "start"]

log = logging.getLogger("beamlet.dist.peers")

START_SECONDS = 30.0    # a peer not connected by then is a failure of `run` (a broken install)
MAX_RESTARTS = 3        # restarts of one peer allowed within RESTART_WINDOW seconds
RESTART_WINDOW = 5.0
COOKIE_ENV = "BEAMLET_PEER_COOKIE"
# The thread switch interval of a node with peers and of the peers (CPython's default is 5 ms):
# a message waits for the GIL up to that long in each process it crosses while CPU-bound work
# runs there, and a batch of a stream crosses a few (docs/multicore.md).
SWITCH_INTERVAL = 0.001
_PR_SET_PDEATHSIG = 1
# What a peer's interpreter runs (``-c``, not ``-m``: runpy would import this module twice)
_PEER_SCRIPT = "import sys; from beamlet.dist.peers import peer_entry; peer_entry(sys.argv[1:])"


def peer_names(main_name: str, count: int) -> list[str]:
    """The names of ``count`` peers of the node ``main_name``: ``<alive>_<i>@<host>``."""
    alive, host = _hs.split_node_name(main_name)
    return [f"{alive}_{i}@{host}" for i in range(1, count + 1)]


class _OsProcess:
    """A peer's OS process, forked (`os.fork`) or started by `subprocess`: its pid, and
    waiting for it by that pid."""

    def __init__(self, pid: int, popen: subprocess.Popen[bytes] | None = None) -> None:
        self.pid = pid
        self.popen = popen
        self.returncode: int | None = None

    def wait(self) -> int:
        if self.popen is not None:
            self.returncode = self.popen.wait()
        elif self.returncode is None:
            _, status = os.waitpid(self.pid, 0)
            self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def running(self) -> bool:
        return self.returncode is None and (self.popen is None or self.popen.poll() is None)


@dataclass
class _Peer:
    """One peer: its name, its OS process once started, and when it was restarted lately."""

    name: str
    process: _OsProcess | None = None
    thread: threading.Thread | None = None
    go: int | None = None           # a forked peer waits for a byte on this pipe to start
    restarts: list[float] = field(default_factory=list)
    given_up: bool = False


class Peers:
    """The main node's peers: their OS processes, the threads that reap them, the keeper
    process that restarts them. Owner thread, except where said."""

    def __init__(self, main_name: str, cookie: str, epmd_port: int, net_ticktime: float,
                 count: int) -> None:
        self.main_name = main_name
        self.cookie = cookie
        self.epmd_port = epmd_port
        self.net_ticktime = net_ticktime
        self.peers = {name: _Peer(name) for name in peer_names(main_name, count)}
        self.keeper: Any = None
        self.stopping = threading.Event()

    def command(self, name: str) -> list[str]:
        return [sys.executable, "-c", _PEER_SCRIPT, name, self.main_name,
                str(self.epmd_port), str(self.net_ticktime), str(os.getpid())]

    def fork_all(self) -> bool:
        """Fork every peer now, from the calling thread, if this process has no other thread
        (forking a threaded process may copy a lock some other thread holds). The children,
        which have beamlet imported already, wait on a pipe until `release` — the main node's
        EPMD must be up before they register. False when not forked (then `launch` execs)."""
        if threading.active_count() != 1 or not hasattr(os, "fork"):
            return False
        for peer in self.peers.values():
            read_end, write_end = os.pipe()
            pid = os.fork()
            if pid == 0:  # the child: never returns into the caller's code
                os.close(write_end)
                _forked_peer(self, peer.name, read_end)
            os.close(read_end)
            peer.go = write_end
            peer.process = _OsProcess(pid)
            self._watch(peer)
        return True

    def release(self) -> None:
        """Let the forked peers start their distribution (the main node's is up)."""
        for peer in self.peers.values():
            if peer.go is not None:
                os.write(peer.go, b"g")
                os.close(peer.go)
                peer.go = None

    def launch(self, peer: _Peer) -> None:
        """Start ``peer``'s OS process (a fresh interpreter) from a thread of its own that
        then waits for it (it is the thread PR_SET_PDEATHSIG follows) and tells the keeper
        when it has ended."""
        started = threading.Event()
        # the main node's import path: what it pickles by reference, a peer can import
        environment = dict(os.environ, **{COOKIE_ENV: self.cookie,
                                          "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)})

        def fork_and_wait() -> None:
            try:
                popen = subprocess.Popen(self.command(peer.name), env=environment,
                                         start_new_session=True)
            except OSError as error:
                log.error("cannot start peer %s: %s", peer.name, error)
                peer.process = None
                started.set()
                return
            process = peer.process = _OsProcess(popen.pid, popen)
            started.set()
            self._waited(peer.name, process)

        peer.thread = threading.Thread(target=fork_and_wait, name=f"beamlet-peer-{peer.name}",
                                       daemon=True)
        peer.thread.start()
        started.wait()

    def _watch(self, peer: _Peer) -> None:
        """A thread that waits for a forked peer and tells the keeper when it has ended."""
        process = peer.process
        assert process is not None
        peer.thread = threading.Thread(target=self._waited, args=(peer.name, process),
                                       name=f"beamlet-peer-{peer.name}", daemon=True)
        peer.thread.start()

    def _waited(self, name: str, process: _OsProcess) -> None:
        code = process.wait()
        if not self.stopping.is_set():
            _sched.hand_in(partial(self._exited, name, process.pid, code))

    def _exited(self, name: str, os_pid: int, code: int) -> None:
        """(Owner thread.) The OS process of ``name`` has ended: tell the keeper."""
        if self.keeper is not None and not self.stopping.is_set():
            _sched.send_from_outside(self.keeper, ("peer_exited", name, os_pid, code))

    def may_restart(self, peer: _Peer) -> bool:
        """Within the restart intensity (`MAX_RESTARTS` in `RESTART_WINDOW` seconds)?"""
        now = monotonic()
        peer.restarts = [t for t in peer.restarts if now - t < RESTART_WINDOW]
        if len(peer.restarts) >= MAX_RESTARTS:
            return False
        peer.restarts.append(now)
        return True

    def kill(self, peer: _Peer) -> None:
        """SIGKILL ``peer``'s OS process by pid (its waiting thread then reaps it)."""
        process = peer.process
        if process is not None and process.running():
            try:
                os.kill(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def stop(self) -> None:
        """(Node shutdown hook.) Kill every peer by pid and reap it; join its thread."""
        self.stopping.set()
        for peer in self.peers.values():
            if peer.go is not None:
                os.close(peer.go)   # a forked peer never released reads EOF and ends
                peer.go = None
            self.kill(peer)
        for peer in self.peers.values():
            if peer.thread is not None:
                peer.thread.join()   # it reaps the process

    def os_pids(self) -> dict[str, int]:
        """The OS pid of each peer started (for tests and the curious)."""
        return {name: p.process.pid for name, p in self.peers.items() if p.process is not None}


_current: Peers | None = None


def current() -> Peers | None:
    """The running node's peers (None when it was started without ``cores=``)."""
    return _current


def prepare(main_name: str, cookie: str, epmd_port: int, net_ticktime: float,
            count: int) -> Peers:
    """The peers of a node about to start, forked already when that is safe (see
    `Peers.fork_all`): called by `beamlet.run` before the node starts, from its thread."""
    peers = Peers(main_name, cookie, epmd_port, net_ticktime, count)
    peers.fork_all()
    return peers


async def start(peers: Peers) -> Peers:
    """Start the peers (release the forked ones, exec the others) and return once every one
    is connected (RuntimeError if one fails to start within `START_SECONDS`). Called from a
    process of the main node, after `beamlet.dist.node.start`."""
    from beamlet.dist.node import current as dist_current

    global _current
    dist = dist_current()
    _current = peers
    dist.node.on_stop.append(partial(_stop, peers))
    caller = _sched.self_pid()
    peers.keeper = _sched.spawn(_keeper, peers, caller)
    ref = _signals.monitor(peers.keeper)
    reply = await _sched.receive(("peers_up", peers.keeper), Down(ref, ANY, ANY))
    if isinstance(reply, Down):
        raise RuntimeError(f"the peer nodes could not start: {reply.reason}")
    _signals.demonitor(ref, True)
    return peers


def _stop(peers: Peers) -> None:
    global _current
    peers.stop()
    if _current is peers:
        _current = None


async def _keeper(peers: Peers, caller: Any) -> None:
    """The process that starts the peers, tells ``caller`` when all are up, then restarts any
    that goes down (nodedown or its OS process ended) within the restart intensity."""
    from beamlet.dist.nodes import Node

    Node.monitor_nodes(True, hidden=True)
    peers.release()
    for peer in peers.peers.values():
        if peer.process is None:
            peers.launch(peer)
    await _await_up(peers, set(peers.peers))
    _sched.send(caller, ("peers_up", _sched.self_pid()))
    while True:
        message = await _sched.receive()
        match message:
            case ("nodedown", str(name)) if name in peers.peers:
                await _restart(peers, peers.peers[name], "nodedown")
            case ("peer_exited", str(name), int(os_pid), code) if name in peers.peers:
                peer = peers.peers[name]
                if peer.process is not None and peer.process.pid == os_pid \
                        and name not in Node.list("connected"):
                    await _restart(peers, peer, f"exit status {code}")


async def _await_up(peers: Peers, names: set[str]) -> None:
    """Wait for the nodeup of every name in ``names``; a peer whose process ends first, or
    that is not up within `START_SECONDS`, fails the start."""
    from beamlet.dist.nodes import Node

    waiting = names - set(Node.list("connected"))
    deadline = monotonic() + START_SECONDS
    while waiting:
        left = max(0.0, deadline - monotonic())
        message = await _sched.receive(timeout=left, default=None)
        match message:
            case None:
                raise RuntimeError(f"peer nodes {sorted(waiting)} not up within "
                                   f"{START_SECONDS} s")
            case ("nodeup", str(name)):
                waiting.discard(name)
            case ("peer_exited", str(name), _, code) if name in waiting:
                raise RuntimeError(f"peer node {name} ended at start (exit status {code})")


async def _restart(peers: Peers, peer: _Peer, why: str) -> None:
    """``peer`` went down: reap it and start it again (unless past the intensity)."""
    if peers.stopping.is_set() or peer.given_up:
        return
    log.warning("peer node %s went down (%s); restarting it", peer.name, why)
    peers.kill(peer)
    thread = peer.thread
    if thread is not None:
        from beamlet import aio

        await aio.await_(_joined(thread))
    if not peers.may_restart(peer):
        peer.given_up = True
        log.error("peer node %s restarted %d times within %s s: giving up", peer.name,
                  MAX_RESTARTS, RESTART_WINDOW)
        return
    peers.launch(peer)
    try:
        await _await_up(peers, {peer.name})
    except RuntimeError as error:
        log.error("peer node %s did not come back: %s", peer.name, error)


async def _joined(thread: threading.Thread) -> None:
    import asyncio

    await asyncio.get_running_loop().run_in_executor(None, thread.join)


# ---------------------------------------------------------------------------------------------
# The peer's side: `_PEER_SCRIPT` with NAME MAIN EPMD_PORT TICKTIME PARENT_PID
# ---------------------------------------------------------------------------------------------
def _die_with_parent(parent_pid: int) -> None:
    """SIGKILL this process when the thread that forked it ends; and end now if the parent
    is gone already (it died before the request was made)."""
    if sys.platform == "linux":
        ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent_pid:
        os._exit(1)


async def _peer_main(main_name: str) -> None:
    """Connect to the main node, then live until the connection to it is lost."""
    from beamlet.dist.nodes import Node

    Node.monitor(main_name)   # connects now; ("nodedown", main) when it goes
    await _sched.receive(("nodedown", main_name))


def _forked_peer(peers: Peers, name: str, go: int) -> None:
    """The body of a forked peer: its own session, death with the main node, and a wait for
    the main node's word before starting; it never returns (``os._exit``)."""
    code = 1
    try:
        for other in peers.peers.values():
            if other.go is not None:
                os.close(other.go)   # the pipes of the peers forked before this one
        os.setsid()
        _die_with_parent(peers_parent := os.getppid())
        del peers_parent
        if os.read(go, 1) != b"g":
            os._exit(0)   # the main node stopped (or died) before releasing us
        os.close(go)
        import beamlet

        sys.setswitchinterval(SWITCH_INTERVAL)
        beamlet.run(_peer_main, peers.main_name, name=name, cookie=peers.cookie,
                    epmd_port=peers.epmd_port, net_ticktime=peers.net_ticktime)
        code = 0
    except BaseException:  # noqa: BLE001 - a forked child must not unwind into its parent's code
        import traceback

        traceback.print_exc()
    finally:
        os._exit(code)


def peer_entry(argv: list[str]) -> None:
    """Run a peer node (the body of ``python -m beamlet.dist.peers``)."""
    name, main_name, epmd_port, ticktime, parent_pid = argv
    _die_with_parent(int(parent_pid))
    cookie = os.environ.pop(COOKIE_ENV, "")
    if not cookie:
        raise SystemExit(f"{COOKIE_ENV} is not set: a peer is started by beamlet.run(cores=)")
    import beamlet

    sys.setswitchinterval(SWITCH_INTERVAL)
    beamlet.run(_peer_main, main_name, name=name, cookie=cookie, epmd_port=int(epmd_port),
                net_ticktime=float(ticktime))

