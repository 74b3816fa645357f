"""`Node`: Elixir's ``Node`` module for a beamlet node, and who hears of nodes coming and going.

Every function is called from a process of a distributed node (`beamlet.run(main,
name=...)`). Connections are made on demand by any send, link, monitor or call, so
`Node.connect` is needed only to connect ahead of time (or to find out whether a node answers).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from beamlet import aio
from beamlet.dist import handshake as _hs
from beamlet.dist.etf import ImproperList
from beamlet.kernel import scheduler as _sched, signals as _signals
from beamlet.kernel.terms import Down, Exit, Pid, Ref

if TYPE_CHECKING:
    from beamlet.dist.node import Dist

_KINDS = ("visible", "hidden", "connected", "this", "known")


class NodeWatchers:
    """Who is told of nodeup / nodedown: `Node.monitor` (one node, nodedown only, as
    ``erlang:monitor_node/2``) and `Node.monitor_nodes` (every node, both, as
    ``net_kernel:monitor_nodes/1``). Owner thread only."""

    def __init__(self, dist: Dist) -> None:
        self.dist = dist
        self.by_node: dict[str, list[Pid]] = {}   # node -> watchers (once per monitor call)
        self.all_nodes: list[tuple[Pid, bool]] = []  # (watcher, hidden ones too)
        self.known: set[str] = set()
        self.net_kernel: Pid | None = None           # its process, once started
        self.connections: dict[str, Pid] = {}        # node -> its connection's process

    def node_up(self, name: str, flags: int) -> None:
        self.known.add(name)
        if self.net_kernel is not None:
            _tell(self.net_kernel, ("nodeup", name))
        hidden = not flags & _hs.PUBLISHED
        if self.dist.connect_all and not hidden and self.dist.flags & _hs.PUBLISHED:
            _sched.new_process(_connect_known, (self.dist, name))
        for watcher, with_hidden in list(self.all_nodes):
            if with_hidden or not hidden:
                _tell(watcher, ("nodeup", name))

    def node_down(self, name: str, flags: int | None) -> None:
        """``name`` went down (``flags``: its connection's) or could not be reached (None:
        only the monitors of that node hear of it)."""
        for watcher in self.by_node.pop(name, ()):
            _tell(watcher, ("nodedown", name))
        connection = self.connections.pop(name, None)
        if connection is not None:
            _tell(connection, "nodedown")
        if flags is None:
            return
        hidden = not flags & _hs.PUBLISHED
        for watcher, with_hidden in list(self.all_nodes):
            if with_hidden or not hidden:
                _tell(watcher, ("nodedown", name))



async def _connect_known(dist: Dist, name: str) -> None:
    """Connect to the visible nodes ``name`` is connected to (Erlang's ``connect_all``, which
    ``global`` does there): a cluster stays fully meshed."""
    from beamlet.dist.rpc import rpc

    others = await rpc.call(name, "erlang", "nodes", [], timeout=dist.net_ticktime)
    if not isinstance(others, list):
        return  # ("badrpc", ...): it went away, or cannot say
    for other in others:
        if isinstance(other, str) and other != dist.name and other not in dist.up:
            await Node.connect(other)


def _tell(watcher: Pid, message: Any) -> None:
    if watcher._proc is not None:
        _sched.send_from_outside(watcher, message)


async def net_kernel(dist: Dist) -> None:
    """The node's ``net_kernel`` process, registered under that name as in Erlang.

    It answers ``{is_auth, Node}`` calls (what `Node.ping` from an Erlang node asks, after
    monitoring this very process by name), and holds a process per connection, linked to it:
    `Process.list` shows the distribution, and killing a connection's process disconnects
    that node, as killing an Erlang connection handler does.
    """
    _signals.trap_exit(True)
    watchers = dist.watchers
    while True:
        message = await _sched.receive()
        match message:
            case ("$gen_call", (Pid() as caller, tag), ("is_auth", _)):
                _reply(caller, tag, "yes")
            case ("nodeup", str(name)) if name in dist.up and name not in watchers.connections:
                watchers.connections[name] = _signals.spawn_link(dist_connection, dist, name)
            case Exit(pid, _):
                for name, connection in list(watchers.connections.items()):
                    if connection is pid:
                        del watchers.connections[name]
                        if name in dist.up:
                            Node.disconnect(name)


async def dist_connection(dist: Dist, node: str) -> None:
    """The process that stands for the connection to ``node`` while it is up; it ticks a
    plain connection every ``net_ticktime / 4``, as Erlang's connection ticker does."""
    from beamlet.kernel.process_api import Process

    Process.put("node", node)
    every = dist.net_ticktime / 4
    while await _sched.receive("nodedown", timeout=every, default=None) is None:
        dist.tick(node)


def _reply(caller: Pid, tag: Any, reply: Any) -> None:
    """Answer a ``$gen_call`` as gen.erl does: to the alias of an ``[alias | Ref]`` tag,
    else to the caller."""
    if isinstance(tag, ImproperList) and tag.items == ("alias",):
        _sched.send(tag.tail, (tag, reply))
    else:
        _sched.send(caller, (tag, reply))


def _dist() -> Dist:
    from beamlet.dist.node import current

    return current()


def _check_name(name: Any) -> str:
    if not isinstance(name, str):
        raise TypeError(f"a node name is a str, got {name!r}")
    _hs.split_node_name(name)
    return name


async def _connection(dist: Dist, name: str) -> bool:
    """Whether a connection to ``name`` is up or can be made now (on the loop thread)."""
    try:
        await asyncio.shield(dist.ensure_connection(name))
    except (ConnectionError, asyncio.CancelledError):
        return False
    return True


class Node:
    """Elixir's ``Node``: this node, the nodes it is connected to, and processes on them."""

    @staticmethod
    def self() -> str:
        """This node's name (``nonode@nohost`` when not distributed)."""
        return _sched.node_name_now()

    @staticmethod
    def alive() -> bool:
        """Whether this node is distributed (Elixir's ``Node.alive?``)."""
        from beamlet.dist.node import current_or_none

        return current_or_none() is not None

    @staticmethod
    async def connect(name: str) -> bool:
        """Connect to ``name``; True when connected (already, or now), False when it cannot
        be reached or refuses (a wrong cookie, a missing flag)."""
        dist = _dist()
        if _check_name(name) == dist.name:
            return True
        if name in dist.up:
            return True
        # (node_up is handed to the owner thread before the answer: `up` has it on return)
        connected: bool = await aio.await_(_connection(dist, name))
        return connected

    @staticmethod
    async def ping(name: str) -> str:
        """"pong" when ``name`` can be connected to, else "pang" (as ``Node.ping``)."""
        return "pong" if await Node.connect(name) else "pang"

    @staticmethod
    def disconnect(name: str) -> bool:
        """Close the connection to ``name``: processes linked to or monitoring processes
        there get "noconnection" now. Whether there was a connection."""
        dist = _dist()
        _check_name(name)
        if name not in dist.up:
            return False
        dist.disconnect_now(name)
        return True

    @staticmethod
    def list(kind: str | list[str] = "visible") -> list[str]:
        """The connected nodes: "visible" (default), "hidden", "connected" (both), "this"
        (this node), "known" (every node seen); or a list of those kinds."""
        kinds = [kind] if isinstance(kind, str) else list(kind)
        for each in kinds:
            if each not in _KINDS:
                raise ValueError(f"Node.list takes one of {_KINDS}, got {each!r}")
        from beamlet.dist.node import current_or_none

        dist = current_or_none()
        if dist is None:
            return [_sched.node_name_now()] if "this" in kinds or "known" in kinds else []
        out: list[str] = []
        for each in kinds:
            if each == "this":
                out.append(dist.name)
            elif each == "known":
                out.extend([dist.name, *sorted(dist.watchers.known - {dist.name})])
            else:
                for name, flags in dist.up.items():
                    hidden = not flags & _hs.PUBLISHED
                    if each == "connected" or (each == "hidden") == hidden:
                        out.append(name)
        return out

    @staticmethod
    def monitor(name: str, flag: bool = True) -> bool:
        """Monitor the node ``name`` (``erlang:monitor_node``): the caller receives
        ``("nodedown", name)`` once the connection is lost — at once when it cannot be made.
        Each call adds one monitor; ``flag=False`` removes one."""
        dist = _dist()
        _check_name(name)
        me = _sched.self_pid()
        watchers = dist.watchers.by_node.setdefault(name, [])
        if not flag:
            if me in watchers:
                watchers.remove(me)
            return True
        watchers.append(me)
        if name not in dist.up and name not in dist.pending:
            dist.loop.call_soon_threadsafe(dist.ensure_connection, name)
            dist.pending.setdefault(name, [])
        return True

    @staticmethod
    def monitor_nodes(flag: bool = True, hidden: bool = False) -> bool:
        """Receive ``("nodeup", name)`` and ``("nodedown", name)`` for every node from now on
        (``:net_kernel.monitor_nodes``); ``hidden=True`` includes hidden nodes."""
        dist = _dist()
        me = _sched.self_pid()
        dist.watchers.all_nodes = [w for w in dist.watchers.all_nodes if w[0] is not me]
        if flag:
            dist.watchers.all_nodes.append((me, hidden))
        return True

    @staticmethod
    def get_cookie() -> str:
        """This node's cookie."""
        return _dist().cookie

    @staticmethod
    def set_cookie(cookie: str) -> bool:
        """Use ``cookie`` for the connections made from now on."""
        if not isinstance(cookie, str) or not cookie:
            raise ValueError(f"a cookie is a non-empty str, got {cookie!r}")
        _dist().cookie = cookie
        return True

    @staticmethod
    async def spawn(node: str, fn: Any, *args: Any) -> Pid:
        """Start a process on ``node`` and return its pid: ``Node.spawn(node, fn, *args)``
        with a Python callable (closures too) for a beamlet node, or ``Node.spawn(node,
        "module", "function", [args])`` for any node. On an unreachable node the pid of a
        process that is already gone comes back, as on the BEAM."""
        return (await _spawn(node, fn, args, link=False, monitor=False))[0]

    @staticmethod
    async def spawn_link(node: str, fn: Any, *args: Any) -> Pid:
        """`spawn`, linked to the caller (an unreachable node: a "noconnection" exit)."""
        return (await _spawn(node, fn, args, link=True, monitor=False))[0]

    @staticmethod
    async def spawn_monitor(node: str, fn: Any, *args: Any) -> tuple[Pid, Ref]:
        """`spawn`, monitored by the caller: ``(pid, ref)``."""
        return await _spawn(node, fn, args, link=False, monitor=True)


async def _spawn(node: str, fn: Any, args: tuple[Any, ...], *, link: bool,
                 monitor: bool) -> tuple[Pid, Ref]:
    from beamlet.dist import spawning
    from beamlet.kernel.terms import ProcessExit

    _check_name(node)
    if isinstance(fn, str):
        if len(args) != 2 or not isinstance(args[0], str) or not isinstance(args[1], list):
            raise TypeError("Node.spawn(node, 'module', 'function', [args]) takes a module, "
                            f"a function name and a list of arguments, got {(fn, *args)!r}")
        module, function, call_args = fn, args[0], args[1]
    elif callable(fn):
        module, function, call_args = *spawning.BEAMLET_APPLY, [fn, list(args)]
    else:
        raise TypeError(f"Node.spawn takes a callable or 'module', 'function', [args], "
                        f"got {fn!r}")
    if node == _sched.node_name_now():
        return _spawn_here(module, function, call_args,
                           link=link, monitor=monitor)
    try:
        return await spawning.spawn_request(node, module, function, call_args, link=link,
                                            monitor=monitor)
    except ProcessExit as refused:
        return _unreachable(node, refused.reason, link=link, monitor=monitor)


def _spawn_here(module: str, function: str, args: list[Any], *,
                link: bool, monitor: bool) -> tuple[Pid, Ref]:
    """`Node.spawn` on this very node: what a spawn request from another node would run."""
    from beamlet.dist import spawning

    body, body_args = spawning.body_for(module, function, args)
    if monitor:
        return _signals.spawn_monitor(body, *body_args)
    pid = _signals.spawn_link(body, *body_args) if link else _sched.spawn(body, *body_args)
    return pid, _sched.make_ref()


def _unreachable(node: str, reason: Any, *, link: bool, monitor: bool) -> tuple[Pid, Ref]:
    """What `Node.spawn` gives when the node cannot be reached: a pid that names nothing
    there, an exit signal through the link, a Down through the monitor (as Erlang's spawn)."""
    from beamlet.dist.node import current

    dist = current()
    dead = dist.pid_from_wire(_dead_wire(node))
    me = _sched.self_pid()
    ref = _sched.make_ref()
    if link:
        _signals.exit_signal(me._proc, dead, reason, True)  # type: ignore[arg-type]
        _signals.raise_if_dead(me._proc)  # type: ignore[arg-type]
    if monitor:
        _sched.send(me, Down(ref, dead, reason))
    return dead, ref


def _dead_wire(node: str) -> Any:
    from beamlet.dist.etf import ExtPid

    return ExtPid(node, 0, 0, 0)
