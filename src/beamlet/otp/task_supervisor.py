"""TaskSupervisor (Elixir's Task.Supervisor): tasks started under a supervisor.

Supervised tasks are the production way to run concurrent work: they show up in the
supervision tree, they are stopped when their supervisor stops, and with `async_nolink` a task
that crashes does not take its caller down — the caller sees ``("exit", reason)`` from
`Task.yield_` instead, or exits from `Task.await_` as usual::

    ("ok", sup) = await TaskSupervisor.start_link(name="tasks")
    task = await TaskSupervisor.async_nolink("tasks", risky_call, arg)
    match await Task.yield_(task, 1.0):
        case ("ok", value): ...
        case ("exit", reason): ...
        case None: await Task.shutdown(task)

In a supervision tree: ``Supervisor.start_link([TaskSupervisor.child_spec({"name":
"tasks"})])``.

A TaskSupervisor is a `DynamicSupervisor` whose children are tasks: temporary by default
(never restarted), with 5 seconds to stop on shutdown. The functions that talk to it are
awaited; ``async_stream`` and ``async_stream_nolink`` are async iterators, as
`Task.async_stream`, whose machinery they share.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable
from typing import Any

from beamlet import Pid, Ref, link, node, spawn_link

from .dynamic_supervisor import DynamicSupervisor
from .gen_server import Server, StartResult
from .task import (
    BatchStarter,
    Started,
    Task,
    ancestors,
    attach,
    batch_body,
    callers,
    hand_ref,
    pack,
    run_body,
    spread,
    start_answering,
    stream,
    task_body,
)

__all__ = ["TaskSupervisor"]

_Shutdown = float | str


def _start_task(body: Callable[..., Any], fn: Callable[..., Any], args: tuple[Any, ...],
                cs: list[Any]) -> tuple[str, Pid]:
    # Runs in the supervisor: the task is linked to it, as every supervised child is, and has
    # it as its first ancestor.
    return ("ok", spawn_link(body, fn, args, cs, ancestors()))


def _spec(body: Callable[..., Any], fn: Callable[..., Any], args: tuple[Any, ...], restart: str,
          shutdown: _Shutdown) -> dict[Any, Any]:
    return {"start": (_start_task, (body, fn, args, callers())), "restart": restart,
            "shutdown": shutdown, "type": "worker"}


async def _start_replying(sup: Server, fn: Callable[..., Any], args: tuple[Any, ...],
                          shutdown: _Shutdown, body: Callable[..., Any] = task_body) -> Pid:
    r = await DynamicSupervisor.start_child(sup, _spec(body, fn, args, "temporary", shutdown))
    if r == ("error", "max_children"):
        raise RuntimeError("reached the maximum number of tasks for this task supervisor. The "
                           "maximum number of tasks that are allowed to run at the same time "
                           "under this supervisor can be configured with the max_children "
                           "option passed to TaskSupervisor.start_link")
    if not (r.__class__ is tuple and r[0] == "ok"):
        # Elixir fails a match on {:ok, pid} here (a MatchError)
        raise RuntimeError(f"TaskSupervisor {sup!r} could not start a task: {r!r}")
    pid: Pid = r[1]
    return pid


class TaskSupervisor:
    """Elixir's ``Task.Supervisor``: start, await and stream tasks under a supervisor."""

    @staticmethod
    async def start_link(name: str | None = None, max_children: int | None = None,
                         max_restarts: int = 3, max_seconds: float = 5,
                         priority: str = "normal", strategy: str = "one_for_one") -> StartResult:
        """Start a task supervisor linked to the caller: ``("ok", pid)``.

        ``max_children`` caps how many tasks it runs at once (`start_child` then returns
        ``("error", "max_children")``, `async_` raises RuntimeError); ``name`` registers it;
        ``strategy`` can only be "one_for_one" (accepted, as Elixir accepts it)."""
        return await DynamicSupervisor.start_link(
            strategy=strategy, max_children=max_children, max_restarts=max_restarts,
            max_seconds=max_seconds, name=name, priority=priority)

    @staticmethod
    def child_spec(opts: dict[Any, Any] | None = None) -> dict[Any, Any]:
        """The spec to run a task supervisor under a `Supervisor`; ``opts`` holds the keyword
        arguments of `start_link` (as Elixir's ``{Task.Supervisor, name: ...}``)."""
        opts = dict(opts or {})
        return {"id": opts.get("name") or TaskSupervisor,
                "start": (TaskSupervisor.start_link, (), opts),
                "restart": "permanent", "shutdown": "infinity", "type": "supervisor"}

    @staticmethod
    async def start_child(sup: Server, fn: Callable[..., Any], *args: Any,
                          restart: str = "temporary", shutdown: _Shutdown = 5.0) -> Any:
        """Start a task under ``sup`` for its side effects, linked to nobody but ``sup``:
        ``("ok", pid)``, or the supervisor's refusal such as ``("error", "max_children")``.

        ``restart`` ("temporary" by default, or "transient" / "permanent") and ``shutdown``
        (seconds or "brutal_kill") are those of its child spec."""
        return await DynamicSupervisor.start_child(
            sup, _spec(run_body, fn, args, restart, shutdown))

    @staticmethod
    async def async_(sup: Server, fn: Callable[..., Any], *args: Any,
                     shutdown: _Shutdown = 5.0) -> Task:
        """Start ``fn(*args)`` as a task under ``sup``, linked to the caller and monitored by
        it as with `Task.async_`; collect it with `Task.await_` and friends. ``sup`` may be
        ``(name, node)``, a supervisor on another node: the task runs there (``fn`` and its
        arguments travel by pickle, closures with cloudpickle)."""
        pid = await _start_replying(sup, fn, args, shutdown)
        link(pid)    # before the task may run: it waits for its ref
        return attach(pid)

    @staticmethod
    async def async_nolink(sup: Server, fn: Callable[..., Any], *args: Any,
                           shutdown: _Shutdown = 5.0) -> Task:
        """Like `async_`, but not linked to the caller: a crash does not take the caller
        down; `Task.yield_` gives ``("exit", reason)`` and `Task.await_` exits with ``(reason,
        (Task, "await_", [task, timeout]))``."""
        return attach(await _start_replying(sup, fn, args, shutdown))

    @staticmethod
    async def children(sup: Server) -> list[Pid]:
        """The pids of the tasks running under ``sup``."""
        return [row[1] for row in await DynamicSupervisor.which_children(sup)
                if row[1].__class__ is Pid]

    @staticmethod
    async def terminate_child(sup: Server, pid: Pid) -> Any:
        """Stop the task ``pid`` under ``sup``: ``"ok"`` | ``("error", "not_found")``."""
        return await DynamicSupervisor.terminate_child(sup, pid)

    @staticmethod
    def async_stream(sup: Server, enumerable: Iterable[Any] | AsyncIterable[Any],
                     fn: Callable[[Any], Any], *, max_concurrency: int | None = None,
                     ordered: bool = True, timeout: float | None = 5.0,
                     on_timeout: str = "exit", shutdown: _Shutdown = 5.0,
                     zip_input_on_exit: bool = False,
                     nodes: list[str] | None = None) -> AsyncIterator[tuple[str, Any]]:
        """`Task.async_stream` with each task started under ``sup``, and linked to the
        caller as well. Same options and results. With ``nodes``, ``sup`` is a registered
        name: on each node the tasks start under the TaskSupervisor of that name there (a
        TaskSupervisor per node), spread as `Task.async_stream`'s ``nodes=`` spreads them."""

        if nodes is not None:
            return spread(enumerable, fn, _batch_starter(sup, fn, shutdown, timeout, True),
                          nodes, max_concurrency, ordered, timeout, on_timeout,
                          zip_input_on_exit)

        async def start(x: Any) -> tuple[Pid, Ref]:
            pid = await _start_replying(sup, fn, (x,), shutdown)
            link(pid)
            return pid, hand_ref(pid)

        return stream(enumerable, start, max_concurrency, ordered, timeout, on_timeout,
                      zip_input_on_exit)

    @staticmethod
    def async_stream_nolink(sup: Server, enumerable: Iterable[Any] | AsyncIterable[Any],
                            fn: Callable[[Any], Any], *, max_concurrency: int | None = None,
                            ordered: bool = True, timeout: float | None = 5.0,
                            on_timeout: str = "exit", shutdown: _Shutdown = 5.0,
                            zip_input_on_exit: bool = False,
                            nodes: list[str] | None = None) -> AsyncIterator[tuple[str, Any]]:
        """`async_stream` whose tasks are not linked to the caller: a task that crashes gives
        ``("exit", reason)`` for its item and the stream goes on, without trapping exits."""

        if nodes is not None:
            return spread(enumerable, fn, _batch_starter(sup, fn, shutdown, timeout, False),
                          nodes, max_concurrency, ordered, timeout, on_timeout,
                          zip_input_on_exit)

        async def start(x: Any) -> tuple[Pid, Ref]:
            pid = await _start_replying(sup, fn, (x,), shutdown)
            return pid, hand_ref(pid)

        return stream(enumerable, start, max_concurrency, ordered, timeout, on_timeout,
                      zip_input_on_exit)


def _batch_starter(sup: Server, fn: Callable[..., Any], shutdown: _Shutdown,
                   timeout: Any, linked: bool) -> BatchStarter:
    """Start a stream's batch under the supervisor named ``sup`` on a given node."""
    if not isinstance(sup, str):
        raise TypeError(f"with nodes=, the supervisor is a registered name (a TaskSupervisor "
                        f"of that name on each node), got {sup!r}")
    per_item = None if timeout == "infinity" else timeout

    async def start(where: str, items: list[Any], long_items: bool) -> Started:
        here = where == node()
        target: Server = sup if here else (sup, where)

        async def spawner(reply_to: Ref) -> Pid:
            args = (items, per_item, False, reply_to, long_items) if here \
                else (pack(items), per_item, True, reply_to, long_items)
            pid = await _start_replying(target, fn, args, shutdown, batch_body)
            if linked:
                link(pid)
            return pid

        return await start_answering(spawner)

    return start
