"""Observability: a live dashboard in the browser, `beamlet top` in a terminal, Prometheus metrics.

Start it from any process of a running node::

    async def main():
        board = await beamlet.observe.start_dashboard(8080)
        print(board.url)             # http://127.0.0.1:8080/ ; the kill token is printed too
        ...

The node runs a collector process (`beamlet.observe.collector`) that gathers what the pages
show, in slices that keep its cost to a few percent of the node even with a million processes;
an aiohttp server on the node's asyncio bridge thread serves the pages, pushes updates to open
pages (Server-Sent Events), and serves ``/metrics`` in the Prometheus format. It listens on
127.0.0.1 unless told otherwise; killing a process from the page needs the token printed when
the dashboard starts; nothing on it runs code.

The dependencies are an optional extra: ``pip install 'beamlet[dashboard]'``.
"""

from __future__ import annotations

import asyncio
import secrets
import sys
from dataclasses import dataclass, field
from typing import Any

from beamlet import Pid, Process, aio, spawn
from beamlet.kernel import scheduler as _k

from .collector import NAME as COLLECTOR_NAME, Collector, collector_main, expose

__all__ = ["COLLECTOR_NAME", "Dashboard", "expose", "start_dashboard"]

_STOP_SECONDS = 5.0


@dataclass
class Dashboard:
    """A running dashboard: where it listens, its kill token, its collector process."""

    url: str
    host: str
    port: int
    token: str
    collector: Pid
    _server: Any = field(repr=False)
    _stopped: bool = field(default=False, repr=False)

    async def stop(self) -> None:
        """Stop serving and end the collector (from a process of the node)."""
        if self._stopped:
            return
        self._stopped = True
        await aio.await_(self._server.close())
        Process.exit(self.collector, "kill")

    def stop_with_node(self) -> None:
        """What the node runs when it stops (its ``on_stop`` hook): close the server from the
        owner thread, once every process has ended."""
        if self._stopped:
            return
        self._stopped = True
        try:
            future = asyncio.run_coroutine_threadsafe(self._server.close(), aio.loop())
            future.result(_STOP_SECONDS)
        except Exception:  # noqa: BLE001 - the node is going away; do not mask its ending
            _k.log.exception("beamlet: the dashboard did not stop cleanly")


async def start_dashboard(port: int = 0, *, token: str | None = None, host: str = "127.0.0.1",
                          interval: float = 1.0, announce: bool = True) -> Dashboard:
    """Serve the live dashboard of this node at ``http://host:port/``; call from a process.

    ``port`` 0 picks a free one (`Dashboard.port` tells which). ``token`` is what the kill
    button asks for (a random one by default); with ``announce`` the URL and the token are
    printed on stderr. ``interval`` is how often open pages are updated and the overview is
    sampled (seconds). The dashboard stops with the node, or earlier with `Dashboard.stop`.
    Other nodes may read this one from then on (`beamlet.observe.collector.expose`).
    """
    try:
        from .web import Server
    except ImportError as e:
        raise ImportError("the dashboard needs its optional dependencies: "
                          "pip install 'beamlet[dashboard]'") from e
    if interval <= 0:
        raise ValueError(f"interval must be a positive number of seconds, got {interval!r}")
    node = _k.node_state()
    if node is None:
        raise _k.outside_process()
    secret = token if token is not None else secrets.token_urlsafe(16)
    collector = spawn(collector_main, Collector(interval))
    server = Server(collector, secret, interval)
    try:
        bound = await aio.await_(server.start(host, port))
    except BaseException:
        Process.exit(collector, "kill")
        raise
    shown = f"[{host}]" if ":" in host else host
    board = Dashboard(f"http://{shown}:{bound}/", host, bound, secret, collector, server)
    node.on_stop.append(board.stop_with_node)
    expose()       # other nodes' dashboards (and `beamlet top NAME`) may read this one
    if announce:
        print(f"beamlet dashboard: {board.url}  (kill token: {secret})", file=sys.stderr,
              flush=True)
    return board
