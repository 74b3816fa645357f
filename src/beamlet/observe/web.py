"""The dashboard's HTTP side: an aiohttp application on the node's asyncio bridge loop.

Handlers run on the bridge thread (`beamlet.aio`), never touch the kernel, and ask the
collector process for every answer (`Server.ask`: a message handed in to the node's owner
thread, the reply set on an asyncio future through ``call_soon_threadsafe``). Pages are
updated by server push: `/api/events` is a Server-Sent Events stream that sends the view
asked for once per interval while the page is open, and nothing once it is closed.

Endpoints: ``/`` (the page, its script and style under ``/static/``), ``/api/overview``,
``/api/processes``, ``/api/process/{pid}``, ``/api/tree``, ``POST /api/process/{pid}/kill``
(needs the ``X-Beamlet-Token`` header), ``/api/events?view=...`` and ``/metrics``.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
from functools import partial
from importlib import resources
from typing import Any

from aiohttp import web

from beamlet.kernel import scheduler as _k
from beamlet.kernel.terms import Pid

from .metrics import CONTENT_TYPE, Metrics

ASK_TIMEOUT = 10.0        # seconds an HTTP request waits for the collector
_SHUTDOWN_SECONDS = 1.0   # open event streams are cut after this when the node stops
_STATIC = {"app.js": "text/javascript", "app.css": "text/css", "index.html": "text/html"}
_VIEWS = ("overview", "processes", "process", "tree")
_REMOTE_PID = re.compile(r"\d+\.\d+")


def _settle(fut: asyncio.Future[Any], result: Any) -> None:
    if not fut.done():
        fut.set_result(result)


def _flag(text: str | None) -> bool:
    return (text or "").lower() in ("1", "true", "yes", "desc")


def _page_args(query: Any) -> dict[str, Any]:
    """The processes view's parameters from a query string (bad numbers are a 400)."""
    try:
        return {"sort": query.get("sort", "pid"), "desc": _flag(query.get("desc")),
                "filter": query.get("filter", ""), "offset": int(query.get("offset", 0)),
                "size": int(query.get("size", 50))}
    except ValueError as e:
        raise web.HTTPBadRequest(text=f"bad page parameter: {e}") from None


def _pid_arg(text: str, node: str | None = None) -> int | str:
    """A process as a page names it: the N of ``<0.N.0>`` on this node (and on another
    beamlet node); ``"N.S"`` for ``<X.N.S>`` on an Erlang node."""
    if text.isdigit():
        return int(text)
    if node is not None and _REMOTE_PID.fullmatch(text):
        return text
    raise web.HTTPBadRequest(text=f"a pid is its number, as in <0.N.0>: got {text!r}")


class Server:
    """The dashboard's web server for one node; lives on the bridge loop."""

    def __init__(self, collector: Pid, token: str, interval: float) -> None:
        self.collector = collector
        self.token = token
        self.interval = interval
        self.metrics = Metrics()
        self.runner: web.AppRunner | None = None
        self.streams = 0            # open event streams (pages open now)
        self.pending: set[asyncio.Future[Any]] = set()   # questions the collector has now

    # ------------------------------------------------------------------ the node side
    async def ask(self, op: str, args: dict[str, Any] | None = None) -> Any:
        """The collector's answer to ``op`` (raises an HTTP error for a failed request)."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()

        def reply(result: Any) -> None:          # called on the node's owner thread
            loop.call_soon_threadsafe(_settle, fut, result)

        msg = ("observe", op, args or {}, reply)
        self.pending.add(fut)
        _k.hand_in(partial(_k.send_from_outside, self.collector, msg))
        try:
            kind, value = await asyncio.wait_for(fut, ASK_TIMEOUT)
        except TimeoutError:
            raise web.HTTPServiceUnavailable(text="the node did not answer in time") from None
        finally:
            self.pending.discard(fut)
        if kind == "error":
            raise web.HTTPBadRequest(text=str(value))
        return value

    async def view(self, name: str, query: Any) -> Any:
        """One view's data: overview, processes, process or tree; of another node when the
        query names one (``node=``)."""
        node = query.get("node") or None
        if name == "processes":
            args = _page_args(query)
        elif name == "process":
            args = {"pid": _pid_arg(query.get("pid", ""), node)}
        elif name in ("overview", "tree"):
            args = {}
        else:
            raise web.HTTPBadRequest(text=f"unknown view {name!r}; known: {', '.join(_VIEWS)}")
        return await self.on(node, name, args)

    async def on(self, node: str | None, op: str, args: dict[str, Any]) -> Any:
        """Ask this node's collector, or through it another node."""
        if node is None:
            return await self.ask(op, args)
        return await self.ask("remote", {"node": node, "op": op, "args": args})

    # ------------------------------------------------------------------ handlers
    async def page(self, request: web.Request) -> web.Response:
        return self._static("index.html")

    async def static(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in _STATIC:
            raise web.HTTPNotFound()
        return self._static(name)

    def _static(self, name: str) -> web.Response:
        body = resources.files(__package__).joinpath("static", name).read_bytes()
        return web.Response(body=body, content_type=_STATIC[name], charset="utf-8",
                            headers={"Cache-Control": "no-cache"})

    async def api_view(self, request: web.Request) -> web.Response:
        query = dict(request.query)
        if "pid" in request.match_info:
            query["pid"] = request.match_info["pid"]
        name = request.match_info.get("view", "process")
        return web.json_response(await self.view(name, query))

    async def kill(self, request: web.Request) -> web.Response:
        """Kill a process: only with the node's token (the page asks for it first)."""
        given = request.headers.get("X-Beamlet-Token", "")
        if not secrets.compare_digest(given.encode(), self.token.encode()):
            raise web.HTTPForbidden(text="a kill needs the token the node printed at start")
        node = request.query.get("node") or None
        pid = _pid_arg(request.match_info["pid"], node)
        answer = await self.on(node, "kill", {"pid": pid})
        return web.json_response({"result": answer})

    async def events(self, request: web.Request) -> web.StreamResponse:
        """Server push: the view asked for, once per interval, while the client listens."""
        name = request.query.get("view", "overview")
        first = await self.view(name, request.query)     # a bad request fails before the stream
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                           "Cache-Control": "no-cache"})
        await resp.prepare(request)
        self.streams += 1
        try:
            data = first
            while True:
                await resp.write(b"data: " + json.dumps(data).encode() + b"\n\n")
                await asyncio.sleep(self.interval)
                data = await self.view(name, request.query)
        except (ConnectionResetError, web.HTTPException):
            pass
        finally:
            self.streams -= 1
        return resp

    async def metrics_text(self, request: web.Request) -> web.Response:
        body = self.metrics.render(await self.ask("overview"))
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})

    # ------------------------------------------------------------------ life
    def app(self) -> web.Application:
        app = web.Application()
        app.add_routes([
            web.get("/", self.page),
            web.get("/static/{name}", self.static),
            web.get("/api/events", self.events),
            web.get("/api/process/{pid}", self.api_view, name="process"),
            web.post("/api/process/{pid}/kill", self.kill),
            web.get("/api/{view}", self.api_view),
            web.get("/metrics", self.metrics_text),
        ])
        return app

    async def start(self, host: str, port: int) -> int:
        """Listen on ``host:port`` (0: any free port); return the port."""
        runner = web.AppRunner(self.app(), access_log=None, handle_signals=False,
                               shutdown_timeout=_SHUTDOWN_SECONDS)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        self.runner = runner
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        return int(sockets[0].getsockname()[1]) if sockets else port

    async def close(self) -> None:
        """Stop listening and end every open stream."""
        runner, self.runner = self.runner, None
        for fut in list(self.pending):     # a stopped node answers nothing: do not wait for it
            fut.cancel()
        if runner is not None:
            await runner.cleanup()
