"""`beamlet.run`: a node, distributed when it is given a name or a cookie.

The kernel's `run` (`beamlet.kernel.runtime.run`) knows nothing of distribution; this layer,
above both, turns ``name=``/``cookie=`` into a distribution node (`beamlet.dist.node`) that is
registered with EPMD and accepting connections before ``main`` starts, as API.md asks.
"""

from __future__ import annotations

import inspect
import os
import secrets
import string
from collections.abc import Callable
from typing import Any

from .dist import node as dist_node
from .dist.handshake import short_host_name
from .dist.tls import TlsOptions
from .kernel import runtime

LOCAL = "nonode@nohost"


def run(fn: Callable[..., Any], *args: Any, name: str = LOCAL, cookie: str | None = None,
        epmd_port: int | None = None, hidden: bool = False, net_ticktime: float = 60.0,
        tls: TlsOptions | None = None, **options: Any) -> Any:
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
    """
    if name == LOCAL and cookie is None:
        return runtime.run(fn, *args, **options)
    full_name = node_name(name)
    secret = cookie if cookie is not None else home_cookie()

    async def distributed_main() -> Any:
        await dist_node.start(full_name, secret, epmd_port=epmd_port, hidden=hidden,
                              net_ticktime=net_ticktime, tls=tls)
        result = fn(*args)
        if inspect.isawaitable(result):
            result = await result
        return result

    return runtime.run(distributed_main, name=full_name, **options)


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
