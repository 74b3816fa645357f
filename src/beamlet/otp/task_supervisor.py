"""TaskSupervisor (Elixir's Task.Supervisor): tasks started under a supervisor.

Supervised tasks are the production way to run concurrent work: they show up in the
supervision tree, they are stopped when the supervisor stops, and with `async_nolink` a task
that crashes does not take its caller down — the caller sees ``("exit", reason)`` from
`Task.yield_` instead, or exits from `Task.await_` as usual::

    ("ok", sup) = await TaskSupervisor.start_link(name="tasks")
    task = await TaskSupervisor.async_nolink("tasks", risky_call, arg)
    match await Task.yield_(task, 1.0):
        case ("ok", value): ...
        case ("exit", reason): ...
        case None: await Task.shutdown(task)

It is a `DynamicSupervisor` whose children are temporary tasks (never restarted).
"""

from __future__ import annotations

from typing import Any, AsyncIterator, Callable, Iterable

from beamlet import Pid, link, spawn_link

from .dynamic_supervisor import DynamicSupervisor
from .gen_server import Server, StartResult
from .task import Task, _callers, attach, run_body, stream, task_body

__all__ = ["TaskSupervisor"]


def _start_task(body: Callable, fn: Callable, args: tuple, callers: list) -> tuple[str, Pid]:
    # Runs in the supervisor: the task is linked to it, as every supervised child is.
    return ("ok", spawn_link(body, fn, args, callers))


async def _start_child(sup: Server, body: Callable, fn: Callable, args: tuple) -> Pid:
    spec = {"id": "task", "start": (_start_task, (body, fn, args, _callers())),
            "restart": "temporary", "shutdown": 5.0}
    r = await DynamicSupervisor.start_child(sup, spec)
    if not (type(r) is tuple and r[0] == "ok"):
        raise RuntimeError(f"TaskSupervisor {sup!r} could not start a task: {r!r}")
    return r[1]


class TaskSupervisor:
    """Elixir's ``Task.Supervisor``: start, await and stream tasks under a supervisor."""

    @staticmethod
    async def start_link(name: str | None = None, max_children: int | None = None,
                         max_restarts: int = 3, max_seconds: float = 5) -> StartResult:
        """Start a task supervisor linked to the caller."""
        return await DynamicSupervisor.start_link(
            strategy="one_for_one", max_children=max_children, max_restarts=max_restarts,
            max_seconds=max_seconds, name=name)

    @staticmethod
    async def start_child(sup: Server, fn: Callable, *args: Any) -> Any:
        """Start a fire-and-forget task under ``sup``: ``("ok", pid)`` (or the supervisor's
        error, such as ``("error", "max_children")``)."""
        spec = {"id": "task", "start": (_start_task, (run_body, fn, args, _callers())),
                "restart": "temporary", "shutdown": 5.0}
        return await DynamicSupervisor.start_child(sup, spec)

    @staticmethod
    async def async_(sup: Server, fn: Callable, *args: Any) -> Task:
        """Start ``fn(*args)`` under ``sup``, linked to the caller; await it with `Task`."""
        pid = await _start_child(sup, task_body, fn, args)
        link(pid)
        return attach(pid)

    @staticmethod
    async def async_nolink(sup: Server, fn: Callable, *args: Any) -> Task:
        """Like `async_`, but not linked: a crash shows as ``("exit", reason)`` in
        `Task.yield_` (or makes `Task.await_` exit) instead of killing the caller."""
        return attach(await _start_child(sup, task_body, fn, args))

    @staticmethod
    async def children(sup: Server) -> list[Pid]:
        """The pids of the tasks running under ``sup``."""
        return [row[1] for row in await DynamicSupervisor.which_children(sup)]

    @staticmethod
    def async_stream(sup: Server, enumerable: Iterable, fn: Callable, *,
                     max_concurrency: int | None = None, ordered: bool = True,
                     timeout: float | None = 5.0, on_timeout: str = "exit") -> AsyncIterator:
        """`Task.async_stream` with the tasks started under ``sup`` (and linked to the
        caller)."""

        async def start(x: Any) -> Task:
            pid = await _start_child(sup, task_body, fn, (x,))
            link(pid)
            return attach(pid)

        return stream(enumerable, start, max_concurrency, ordered, timeout, on_timeout)

    @staticmethod
    def async_stream_nolink(sup: Server, enumerable: Iterable, fn: Callable, *,
                            max_concurrency: int | None = None, ordered: bool = True,
                            timeout: float | None = 5.0,
                            on_timeout: str = "exit") -> AsyncIterator:
        """`async_stream` without links: a crashing task gives ``("exit", reason)`` for its
        item and the caller carries on."""

        async def start(x: Any) -> Task:
            return attach(await _start_child(sup, task_body, fn, (x,)))

        return stream(enumerable, start, max_concurrency, ordered, timeout, on_timeout)
