"""`beamlet.run`: a node, distributed when it is given a name or a cookie.

The kernel's `run` (`beamlet.kernel.runtime.run`) knows nothing of distribution; this layer,
above both, turns ``name=``/``cookie=`` into a distribution node (`beamlet.dist.node`) that is
registered with EPMD and accepting connections before ``main`` starts, as API.md asks.
"""

from __future__ import annotations

import inspect
import os
import secrets
import socket
import string
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .dist import epmd, node as dist_node, peers
from .dist.handshake import short_host_name
from .kernel import runtime

if TYPE_CHECKING:  # ssl loads only for a node that uses TLS
    from .dist.tls import TlsOptions

LOCAL = "nonode@nohost"


def run(fn: Callable[..., Any], *args: Any, name: str = LOCAL, cookie: str | None = None,
        epmd_port: int | None = None, hidden: bool = False, net_ticktime: float = 60.0,
        tls: TlsOptions | None = None, cores: int | str = 1, dashboard: int | None = None,
        **options: Any) -> Any:
    """Start a node, run ``fn(*args)`` as its first process and return what it returns.

    Everything `beamlet.kernel.runtime.run` documents holds (``schedulers=``, ``isolation=``,
    ``handoff=``). With ``name`` — ``"alive"`` (a short name: ``alive@<short host name>``) or
    ``"alive@host"`` — or with a ``cookie``, the node is a distribution node: it registers with
    the host's EPMD (starting one of its own when none runs; ``epmd_port`` or the environment's
    ``ERL_EPMD_PORT`` picks its port) and accepts connections before ``fn`` starts. Without a
    cookie, ``~/.erlang.cookie`` is used, created as Erlang creates it when missing. A
    ``hidden`` node is not in the other nodes' ``Node.list()`` (Erlang's ``-hidden``);
    ``net_ticktime`` (seconds) is Erlang's kernel parameter: a connected node silent for that
    long is taken for down. ``tls`` (`beamlet.dist.tls.TlsOptions`) makes every connection
    TLS, as Erlang's ``-proto_dist inet_tls`` (see docs/distribution-tls.md).

    ``cores=N`` (or ``"auto"``: every core this process may run on) starts N-1 peer nodes,
    one OS process each, connected before ``fn`` starts and stopped with the node
    (`beamlet.dist.peers`, docs/multicore.md). Without a name the node takes one of its own
    (``beamlet<os pid>``), a random cookie and a private EPMD port, so nothing on the host's
    EPMD is touched. While such a node runs, the interpreter's thread switch interval is
    `beamlet.dist.peers.SWITCH_INTERVAL` (1 ms, not 5): the distribution's thread gets the GIL
    sooner from a process running CPU-bound work, so the peers wait less for their next work.

    ``dashboard=PORT`` serves the node's live dashboard at ``http://127.0.0.1:PORT/`` from
    before ``fn`` starts (0: a free port); its URL and the token its kill button asks for are
    printed on stderr (`beamlet.observe.start_dashboard`, docs/observability.md).
    """
    if dashboard is not None:
        fn, args = _with_dashboard(fn, args, dashboard)
    peer_count = core_count(cores) - 1
    if peer_count > 0 and tls is not None:
        raise ValueError("cores= with tls= is not supported yet: peers speak plain TCP")
    if peer_count > 0 and name == LOCAL and cookie is None:
        name, cookie = f"beamlet{os.getpid()}", secrets.token_hex(16)
        epmd_port = epmd_port if epmd_port is not None else free_port()
    if name == LOCAL and cookie is None:
        return runtime.run(fn, *args, **options)
    full_name = node_name(name)
    secret = cookie if cookie is not None else home_cookie()
    prepared = peers.prepare(full_name, secret, epmd_port or epmd.epmd_port(), net_ticktime,
                             peer_count) if peer_count > 0 else None

    async def distributed_main() -> Any:
        await dist_node.start(full_name, secret, epmd_port=epmd_port, hidden=hidden,
                              net_ticktime=net_ticktime, tls=tls)
        if prepared is not None:
            await peers.start(prepared)
        result = fn(*args)
        if inspect.isawaitable(result):
            result = await result
        return result

    switch_interval = sys.getswitchinterval()
    if prepared is not None:
        sys.setswitchinterval(peers.SWITCH_INTERVAL)
    try:
        return runtime.run(distributed_main, name=full_name, **options)
    finally:
        if prepared is not None:
            prepared.stop()  # done already when the node started them; else frees the forked
            sys.setswitchinterval(switch_interval)


def _with_dashboard(fn: Callable[..., Any], args: tuple[Any, ...],
                    port: int) -> tuple[Callable[..., Any], tuple[Any, ...]]:
    """``fn`` preceded by starting the dashboard on ``port``, as the node's first process."""
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise ValueError(f"dashboard is a TCP port (0 to 65535), got {port!r}")

    async def main_with_dashboard() -> Any:
        from .observe import start_dashboard

        await start_dashboard(port)
        result = fn(*args)
        if inspect.isawaitable(result):
            result = await result
        return result

    return main_with_dashboard, ()


def core_count(cores: int | str) -> int:
    """``cores=`` as a number of nodes: a positive int, or "auto" for every usable core."""
    if cores == "auto":
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") \
            else (os.cpu_count() or 1)
    if isinstance(cores, bool) or not isinstance(cores, int) or cores < 1:
        raise ValueError(f"cores is a positive int or 'auto', got {cores!r}")
    return cores


def free_port() -> int:
    """A TCP port on the loopback nobody listens on now (for a private EPMD)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def node_name(name: str) -> str:
    """``alive`` -> ``alive@<short host name>``; ``alive@host`` as it is (a ValueError for a
    name that is neither)."""
    if not isinstance(name, str) or not name or name.count("@") > 1:
        raise ValueError(f"a node name is 'alive' or 'alive@host', got {name!r}")
    alive, _, host = name.partition("@")
    if not alive or (name.endswith("@") and not host):
        raise ValueError(f"a node name is 'alive' or 'alive@host', got {name!r}")
    return name if host else f"{alive}@{short_host_name()}"


def home_cookie(path: str | None = None) -> str:
    """The cookie in ``~/.erlang.cookie``; when there is none, make one as Erlang does (20
    random capital letters, readable by the owner only)."""
    path = path or os.path.join(os.path.expanduser("~"), ".erlang.cookie")
    try:
        with open(path) as f:
            cookie = f.read().strip()
        if cookie:
            return cookie
    except FileNotFoundError:
        pass
    cookie = "".join(secrets.choice(string.ascii_uppercase) for _ in range(20))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o400)
    with os.fdopen(fd, "w") as f:
        f.write(cookie)
    return cookie
