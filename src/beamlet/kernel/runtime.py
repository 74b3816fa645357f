"""Starting and stopping a node: `run` (like ``asyncio.run``) and `ThreadedNode` (for
threaded code)."""

from __future__ import annotations

import concurrent.futures
import gc
import os
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from . import bodies, handoff as handoff_mod, scheduler as k
from .node import NodeState
from .terms import Pid, ProcessExit, Ref, RemotePid

_T = TypeVar("_T")


def _default_schedulers(schedulers: int | None) -> int:
    if schedulers is None:
        return os.cpu_count() or 1
    if isinstance(schedulers, bool) or not isinstance(schedulers, int) or schedulers < 1:
        raise ValueError(f"schedulers must be a positive int, got {schedulers!r}")
    return schedulers


def run(fn: Callable[..., Any], *args: Any, schedulers: int | None = None,
        name: str = "nonode@nohost", handoff: bool = True, isolation: str = "copy") -> Any:
    """Start a node, run ``fn(*args)`` as its first process and return what it returns.

    When that process ends, every other process still alive is stopped (their ``finally``
    blocks run) and the node goes away, leaving no thread behind. If it crashed, its exception
    is raised here; if it exited with an abnormal reason (``exit(reason)``, an exit signal),
    `ProcessExit` is.

    ``schedulers`` plays the part of the BEAM's ``+S``: `schedulers_online()` reports it
    (default: the number of CPUs), OTP helpers size their default concurrency by it, and it is
    how many stuck "high"/"max" processes the node tolerates before lower priorities wait (see
    `beamlet.kernel.handoff`). The calling thread drives the node; with ``handoff`` (the
    default) a watchdog moves the scheduler to a fresh thread whenever a process runs for more
    than a millisecond or two without awaiting, so no process can freeze the others.

    ``isolation`` is "copy" (the default: every message and spawn argument reaches its receiver
    as its own copy of any mutable container in it, see `beamlet.kernel.isolation`) or "share"
    (passed by reference, as Python passes objects; for code that never mutates what it sent).
    """
    node = k.start_node(name, _default_schedulers(schedulers), isolation)
    saved_gc = _tune_gc()
    dog = handoff_mod.Watchdog(node) if handoff else None
    try:
        node.main = k.new_process(fn, args)
        if dog is not None:
            dog.start()
        k.serve(node)
        node.done.wait()
    finally:
        _shutdown(node, dog)
        gc.set_threshold(*saved_gc)
    if node.error is not None:
        raise node.error
    reason = node.main_reason
    if type(reason) is str and reason == "normal":
        return node.main_result
    exc = node.main_exc
    if exc is not None:
        raise exc
    raise ProcessExit(reason)


def _shutdown(node: NodeState, dog: handoff_mod.Watchdog | None) -> None:
    """Stop the watchdog and the scheduler threads, then every process, then the node."""
    node.stopping = True
    node.done.set()
    k.wake_loop()
    try:
        if dog is not None:
            dog.stop()
        left = handoff_mod.stop_detached(node)
        if left:
            k.log.warning("beamlet: %d scheduler thread(s) still blocked in a call at shutdown",
                          len(left))
        k.stop_all()
    finally:
        for fn in reversed(node.on_stop):
            try:
                fn()
            except Exception:  # noqa: BLE001
                k.log.exception("beamlet: a node shutdown hook failed")
        k.end_node()


def _tune_gc() -> tuple[int, ...]:
    """Space out the cyclic GC while a node runs; return the thresholds to restore.

    Every process is a few GC-tracked objects (control block, pid, coroutine), and with
    CPython's default thresholds a node of a million processes spends most of its time in
    collections that find nothing: process lifetimes are managed by the kernel, which breaks
    its own cycles when a process dies. Measured with 1,000,000 spawned processes: 8.8 s with
    the defaults, 3.9 s with these (bench/beamlet_bench.py spawn).
    """
    old = gc.get_threshold()
    gc.set_threshold(max(old[0], 100_000), max(old[1], 50), max(old[2], 100))
    return old


def schedulers_online() -> int:
    """How many schedulers the running node has (the CPU count when no node runs)."""
    node = k.node_state()
    return node.schedulers if node is not None else (os.cpu_count() or 1)


def node(pid: Any = None) -> str:
    """This node's name (``"nonode@nohost"`` until distribution is started); with a pid (or
    ref), the name of the node it lives on, as Elixir's ``node/1``."""
    if pid is None:
        return k.node_name_now()
    if isinstance(pid, RemotePid):
        return pid.node_name
    if isinstance(pid, (Pid, Ref)):
        return k.node_name_now()
    where = getattr(pid, "node", None)  # another node's ref or port (beamlet.dist.etf)
    if isinstance(where, str):
        return where
    raise TypeError(f"node() takes a pid, a reference or a port, got {pid!r}")


class ThreadedNode:
    """A node driven from ordinary threaded code: it runs its scheduler on a thread of its own.

    ::

        with beamlet.ThreadedNode() as node:
            pid = node.spawn(worker)             # from any thread
            node.send(pid, ("job", 1))
            result = node.call(compute, 21)      # run as a process, wait for its result

    Only the methods of this object may be used from outside the node; inside processes use
    the ordinary functions (`send`, `receive`, ...).
    """

    def __init__(self, schedulers: int | None = None, name: str = "nonode@nohost",
                 isolation: str = "copy") -> None:
        self._schedulers = _default_schedulers(schedulers)
        self._name = name
        self._isolation = isolation
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._state: NodeState | None = None
        self._error: BaseException | None = None

    def start(self) -> ThreadedNode:
        """Start the node's thread; return self."""
        if self._thread is not None:
            raise RuntimeError("this ThreadedNode has already been started")
        self._thread = threading.Thread(target=self._serve, name="beamlet-node", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise self._error
        return self

    def _serve(self) -> None:
        try:
            node = k.start_node(self._name, self._schedulers, self._isolation)
        except BaseException as e:  # noqa: BLE001
            self._error = e
            self._ready.set()
            return
        node.external = 1
        self._state = node
        saved_gc = _tune_gc()
        dog = handoff_mod.Watchdog(node)
        try:
            node.main = k.new_process(_keeper, ())
            dog.start()
            self._ready.set()
            k.serve(node)
            node.done.wait()
        finally:
            _shutdown(node, dog)
            gc.set_threshold(*saved_gc)

    def _submit(self, fn: Callable[[], _T]) -> _T:
        if self._state is None or self._state.stopping:
            raise RuntimeError("the node is not running")
        fut: concurrent.futures.Future[_T] = concurrent.futures.Future()

        def work() -> None:
            try:
                fut.set_result(fn())
            except BaseException as e:  # noqa: BLE001
                fut.set_exception(e)

        k.hand_in(work)
        return fut.result()

    def spawn(self, fn: Callable[..., Any], *args: Any, priority: str = "normal") -> Pid:
        """Spawn ``fn(*args)`` in the node; return its pid."""
        return self._submit(lambda: k.new_process(fn, args, priority).pid)

    def send(self, dest: Any, msg: Any) -> Any:
        """Send ``msg`` to ``dest`` inside the node; return ``msg``."""

        def deliver() -> None:
            k.send_from_outside(dest, msg)

        self._submit(deliver)
        return msg

    def call(self, fn: Callable[..., Any], *args: Any, timeout: float | None = None) -> Any:
        """Run ``fn(*args)`` as a process and wait (blocking this thread) for its result."""
        fut: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self.spawn(bodies.call_and_report, fn, args, fut)
        return fut.result(timeout)

    def stop(self) -> None:
        """Stop every process and the node's thread; waits for the thread to end."""
        t = self._thread
        if t is None:
            return
        state = self._state
        if state is not None and not state.stopping:
            def halt() -> None:
                k.stop_node(state)
            k.hand_in(halt)
        t.join()
        self._thread = None

    def __enter__(self) -> ThreadedNode:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


async def _keeper() -> None:
    """The first process of a threaded node: it waits until the node stops."""
    await k.sleep(None)
