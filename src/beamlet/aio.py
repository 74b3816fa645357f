"""Use asyncio libraries from beamlet processes.

beamlet processes are coroutines driven by beamlet's own scheduler, not by an asyncio event
loop, so an asyncio awaitable cannot be awaited in a process directly. `await_` runs it on an
asyncio loop that the node keeps on a thread of its own and hands the outcome back to the
calling process as a message, so the process waits in `receive` like any other, and the other
processes keep running meanwhile::

    from beamlet import aio

    async def fetch(url):
        async with aiohttp.ClientSession() as session:
            async with session.get(url) as resp:
                return await resp.text()

    async def worker():
        body = await aio.await_(fetch("http://127.0.0.1:8080/"))

    async def echo_client(port):
        reader, writer = await aio.await_(asyncio.open_connection("127.0.0.1", port))
        writer.write(b"hello\\n")
        line = await aio.await_(reader.readline())

Objects bound to the bridge's loop (streams, sessions) stay usable across `await_` calls, since
every call runs on the same loop. The loop starts with the first call and stops with the node.
A process killed while it waits has its asyncio task cancelled.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Awaitable, Callable
from typing import Any

from .kernel import scheduler as _k
from .kernel.terms import ANY

__all__ = ["await_", "loop", "run_in_loop"]


class _Bridge:
    """An asyncio event loop running on a thread of its own, for one node."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, name="beamlet-asyncio", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()
        try:
            tasks = asyncio.all_tasks(self.loop)
            for t in tasks:
                t.cancel()
            if tasks:
                self.loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        finally:
            self.loop.close()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


_bridges: dict[int, _Bridge] = {}
_lock = threading.Lock()


def _bridge() -> _Bridge:
    node = _k.node_state()
    if node is None:
        raise _k.outside_process()
    with _lock:
        b = _bridges.get(id(node))
        if b is None:
            b = _bridges[id(node)] = _Bridge()

            def stop() -> None:
                with _lock:
                    _bridges.pop(id(node), None)
                b.stop()

            node.on_stop.append(stop)
    return b


def loop() -> asyncio.AbstractEventLoop:
    """The asyncio event loop of the running node's bridge (started on first use)."""
    return _bridge().loop


async def _run(aw: Awaitable[Any]) -> Any:
    return await aw


def run_in_loop(fn: Callable[[], Any]) -> concurrent.futures.Future[Any]:
    """Call ``fn()`` on the bridge's loop thread (for loop-bound setup); a future of its result."""
    fut: concurrent.futures.Future[Any] = concurrent.futures.Future()
    lp = loop()

    def call() -> None:
        try:
            fut.set_result(fn())
        except BaseException as e:  # noqa: BLE001
            fut.set_exception(e)

    lp.call_soon_threadsafe(call)
    return fut


async def await_(aw: Awaitable[Any], timeout: float | None = None) -> Any:
    """Await the asyncio awaitable ``aw`` on the node's asyncio loop; return its result.

    The calling process waits as in `receive` (other processes run meanwhile); an exception
    raised by ``aw`` is raised here. With ``timeout`` (seconds), the asyncio task is cancelled
    and `TimeoutError` raised if it has not finished in time.
    """
    if not hasattr(aw, "__await__"):
        raise TypeError(
            f"aio.await_ takes an awaitable (a coroutine, a task, a future), got {aw!r}")
    me = _k.self_pid()
    ref = _k.make_ref()
    node = _k.node_state()
    assert node is not None  # self_pid() above: we are a process, on a running node
    fut = asyncio.run_coroutine_threadsafe(_run(aw), loop())
    node.external += 1

    def done(f: concurrent.futures.Future[Any]) -> None:
        def deliver() -> None:
            p = me._proc
            if p is None:
                return
            if f.cancelled():
                outcome: tuple[Any, ...] = (ref, "error", asyncio.CancelledError())
            elif f.exception() is not None:
                outcome = (ref, "error", f.exception())
            else:
                outcome = (ref, "ok", f.result())
            _k.deliver(p, outcome)

        _k.hand_in(deliver)

    fut.add_done_callback(done)
    try:
        _, kind, value = await _k.receive((ref, ANY, ANY), timeout=timeout)
    except BaseException:
        fut.cancel()
        raise
    finally:
        node.external -= 1
    if kind == "error":
        raise value
    return value
