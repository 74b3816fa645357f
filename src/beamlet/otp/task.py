"""Task: run one function in a process of its own and collect its result, as Elixir's Task.

Tasks are processes meant to run a single action through their whole life, most often to turn
sequential code into concurrent code and then wait for the results::

    task = Task.async_(fetch, url)          # starts at once, linked to and monitored by us
    ... do other work ...
    page = await Task.await_(task)          # or simply: page = await task

A task started with `async_` is linked to its caller (a crash in the task brings the caller
down with the task's own reason, unless the caller traps exits) and monitored by it. Its
reply travels to an alias of the monitor, so a reply that comes after the caller stopped
waiting (an `await_` that timed out) is dropped rather than left in the mailbox. Only the
process that started a task (its *owner*) may await it.

`async_stream` maps a function over an iterable with bounded concurrency: it consumes its
input lazily, never runs more than ``max_concurrency`` tasks at once and yields
``("ok", value)`` or ``("exit", reason)`` per item, in input order or as they complete.

`start` / `start_link` run fire-and-forget side effects (prefer `TaskSupervisor.start_child`
in production, so that they are supervised).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from time import monotonic
from typing import Any, AsyncIterator, Callable, Iterable

from beamlet import (
    ANY,
    Down,
    Pid,
    Process,
    ProcessExit,
    Ref,
    demonitor,
    flush,
    monitor,
    receive,
    schedulers_online,
    self_pid,
    send,
    spawn,
    spawn_link,
    unlink,
)

__all__ = ["Task", "TaskSupervised"]

_TASK_REF = "$task_ref"


class TaskSupervised:
    """Stands for Elixir's ``Task.Supervised`` module in exit reasons: a stream whose task
    timed out exits its consumer with ``("timeout", (TaskSupervised, "stream", [timeout]))``."""


async def _call(fn: Callable, args: tuple) -> Any:
    r = fn(*args)
    if inspect.isawaitable(r):
        r = await r
    return r


async def task_body(fn: Callable, args: tuple, callers: list) -> None:
    """The body of a task that replies: wait for the monitor ref from the owner, run
    ``fn(*args)``, send ``(ref, result)`` to that ref (an alias of the owner)."""
    Process.put("$callers", callers)
    Process.put("$ancestors", callers[:1])
    Process.put("$initial_call", (fn, len(args)))
    _, ref = await receive((_TASK_REF, ANY))
    result = await _call(fn, args)
    send(ref, (ref, result))


async def run_body(fn: Callable, args: tuple, callers: list) -> None:
    """The body of a fire-and-forget task."""
    Process.put("$callers", callers)
    Process.put("$ancestors", callers[:1])
    Process.put("$initial_call", (fn, len(args)))
    await _call(fn, args)


def attach(pid: Pid) -> "Task":
    """Monitor a freshly started task body and give it the ref to reply to."""
    ref = monitor(pid, alias=True)
    send(pid, (_TASK_REF, ref))
    return Task(self_pid(), pid, ref)


def _callers() -> list:
    return [self_pid(), *Process.get("$callers", [])]


@dataclass(frozen=True, slots=True)
class Task:
    """A running task: its ``owner`` (who may await it), its ``pid`` and the monitor ``ref``
    its reply is tagged with (``(ref, result)``, as in Elixir)."""

    owner: Pid
    pid: Pid
    ref: Ref

    def __await__(self) -> Any:
        return Task.await_(self).__await__()

    @staticmethod
    def async_(fn: Callable, *args: Any) -> "Task":
        """Start ``fn(*args)`` as a task linked to and monitored by the caller."""
        return attach(spawn_link(task_body, fn, args, _callers()))

    @staticmethod
    def start(fn: Callable, *args: Any) -> tuple[str, Pid]:
        """Start a task nobody awaits, not linked: ``("ok", pid)``."""
        return ("ok", spawn(run_body, fn, args, _callers()))

    @staticmethod
    def start_link(fn: Callable, *args: Any) -> tuple[str, Pid]:
        """Start a task nobody awaits, linked to the caller: ``("ok", pid)``."""
        return ("ok", spawn_link(run_body, fn, args, _callers()))

    @staticmethod
    async def await_(task: "Task", timeout: float | None = 5.0) -> Any:
        """Wait for the task's reply and return it.

        The caller exits (`ProcessExit`) with ``("timeout", (Task, "await", [task,
        timeout]))`` if no reply comes in time (the task keeps running), and with ``(reason,
        (Task, "await", [task, timeout]))`` if the task died first (a caller that does not
        trap exits is usually dead already, through the link).
        """
        _check_owner(task, "await_")
        ref = task.ref
        msg = await receive((ref, ANY), Down(ref, ANY, ANY), timeout=timeout, default=None)
        if msg is None:
            demonitor(ref, flush=True)
            raise ProcessExit(("timeout", (Task, "await", [task, timeout])))
        if msg.__class__ is Down:
            raise ProcessExit((msg.reason, (Task, "await", [task, timeout])))
        demonitor(ref, flush=True)
        return msg[1]

    @staticmethod
    async def yield_(task: "Task", timeout: float | None = 5.0) -> tuple | None:
        """Wait up to ``timeout`` for the task: ``("ok", value)``, ``("exit", reason)`` if it
        died, or None if it is still running (it may be yielded or awaited again)."""
        _check_owner(task, "yield_")
        ref = task.ref
        msg = await receive((ref, ANY), Down(ref, ANY, ANY), timeout=timeout, default=None)
        if msg is None:
            return None
        if msg.__class__ is Down:
            return ("exit", msg.reason)
        demonitor(ref, flush=True)
        return ("ok", msg[1])

    @staticmethod
    async def await_many(tasks: list["Task"], timeout: float | None = 5.0) -> list:
        """Wait for every task; their results in the order of ``tasks``.

        One deadline covers them all; past it the caller exits with ``("timeout", (Task,
        "await_many", [tasks, timeout]))``. A task that died makes the caller exit with
        ``(reason, (Task, "await_many", [tasks, timeout]))``.
        """
        for t in tasks:
            _check_owner(t, "await_many")
        deadline = None if timeout is None else monotonic() + timeout
        pending = {t.ref: i for i, t in enumerate(tasks)}
        results: list = [None] * len(tasks)
        while pending:
            left = None if deadline is None else max(0.0, deadline - monotonic())
            msg = await receive(lambda m: _is_reply_or_down(m, pending), timeout=left,
                                default=None)
            if msg is None:
                for ref in pending:
                    demonitor(ref, flush=True)
                raise ProcessExit(("timeout", (Task, "await_many", [tasks, timeout])))
            if msg.__class__ is Down:
                raise ProcessExit((msg.reason, (Task, "await_many", [tasks, timeout])))
            ref, value = msg
            results[pending.pop(ref)] = value
            demonitor(ref, flush=True)
        return results

    @staticmethod
    async def ignore(task: "Task") -> tuple | None:
        """Stop caring about a task: it keeps running, unlinked, and can no longer be awaited.
        ``("ok", value)`` if its reply had arrived, ``("exit", reason)`` if it had died,
        else None."""
        _check_owner(task, "ignore")
        unlink(task.pid)
        ref = task.ref
        msg = await receive((ref, ANY), Down(ref, ANY, ANY), timeout=0, default=None)
        demonitor(ref, flush=True)
        if msg is None:
            return None
        return ("exit", msg.reason) if msg.__class__ is Down else ("ok", msg[1])

    @staticmethod
    async def shutdown(task: "Task", timeout: float | str = 5.0) -> tuple | None:
        """Stop the task: ``("ok", value)`` if it had replied already, None if it was stopped
        (``"shutdown"``, or killed after ``timeout``, or at once with ``"brutal_kill"``),
        ``("exit", reason)`` if it ended with a reason of its own."""
        _check_owner(task, "shutdown")
        ref = task.ref
        unlink(task.pid)
        brutal = timeout == "brutal_kill"
        Process.exit(task.pid, "kill" if brutal else "shutdown")
        wait = None if brutal or timeout == "infinity" else timeout
        msg = await receive((ref, ANY), Down(ref, ANY, ANY), timeout=wait, default=None)
        if msg is None:
            Process.exit(task.pid, "kill")
            msg = await receive((ref, ANY), Down(ref, ANY, ANY))
        if msg.__class__ is Down:
            reason = msg.reason
            if reason in ("shutdown", "killed") or (
                    type(reason) is tuple and len(reason) == 2 and reason[0] == "shutdown"):
                return None
            return ("exit", reason)
        demonitor(ref, flush=True)
        return ("ok", msg[1])

    @staticmethod
    def async_stream(enumerable: Iterable | AsyncIterator, fn: Callable, *,
                     max_concurrency: int | None = None, ordered: bool = True,
                     timeout: float | None = 5.0, on_timeout: str = "exit") -> AsyncIterator:
        """Map ``fn`` over ``enumerable`` with at most ``max_concurrency`` (default:
        `schedulers_online()`) tasks at once, linked to the caller.

        An async iterator of ``("ok", value)`` per item, or ``("exit", reason)`` for an item
        whose task died (a caller that does not trap exits dies with it, through the link).
        The input is consumed lazily, so it may be endless. Each task has ``timeout`` seconds
        from its start: then the caller exits with ``("timeout", (TaskSupervised, "stream",
        [timeout]))``, or with ``on_timeout="kill_task"`` that task is killed and its item is
        ``("exit", "timeout")``. Leaving the loop early stops the remaining tasks.
        """

        def start(x: Any) -> Task:
            return attach(spawn_link(task_body, fn, (x,), _callers()))

        return stream(enumerable, start, max_concurrency, ordered, timeout, on_timeout)


def _check_owner(task: Any, fun: str) -> None:
    if not isinstance(task, Task):
        raise TypeError(f"Task.{fun} takes a Task, got {task!r}")
    me = self_pid()
    if task.owner is not me:
        raise ValueError(f"task {task!r} must be queried from the owner {task.owner!r}, "
                         f"but was queried from {me!r}")


def _is_reply_or_down(m: Any, pending: dict) -> bool:
    if m.__class__ is Down:
        return m.ref in pending
    return m.__class__ is tuple and len(m) == 2 and m[0].__class__ is Ref and m[0] in pending


async def stream(enumerable: Iterable | AsyncIterator, start: Callable[[Any], Any],
                 max_concurrency: int | None, ordered: bool, timeout: float | None,
                 on_timeout: str) -> AsyncIterator:
    """The machinery of every ``async_stream``: ``start(x)`` starts one task (returning a
    `Task`, or an awaitable of one) for item ``x``."""
    if max_concurrency is None:
        max_concurrency = schedulers_online()
    if isinstance(max_concurrency, bool) or not isinstance(max_concurrency, int) \
            or max_concurrency < 1:
        raise ValueError(f"max_concurrency must be a positive int, got {max_concurrency!r}")
    if on_timeout not in ("exit", "kill_task"):
        raise ValueError(f"on_timeout must be 'exit' or 'kill_task', got {on_timeout!r}")
    if hasattr(enumerable, "__aiter__"):
        source: Any = enumerable.__aiter__()
        is_async = True
    else:
        source = iter(enumerable)
        is_async = False
    running: dict[Ref, tuple[int, Task, float | None]] = {}   # ref -> (index, task, deadline)
    done: dict[int, tuple] = {}        # finished out of order, waiting for their turn
    next_in = 0                        # index of the next item to start
    next_out = 0                       # index of the next item to yield (ordered)
    exhausted = False
    try:
        while True:
            while not exhausted and len(running) < max_concurrency:
                try:
                    x = await source.__anext__() if is_async else next(source)
                except (StopIteration, StopAsyncIteration):
                    exhausted = True
                    break
                t = start(x)
                if t.__class__ is not Task:  # a Task is awaitable too: it is not this case
                    t = await t
                deadline = None if timeout is None else monotonic() + timeout
                running[t.ref] = (next_in, t, deadline)
                next_in += 1
            if ordered and next_out in done:
                yield done.pop(next_out)
                next_out += 1
                continue
            if not running:
                if exhausted and not done:
                    return
                continue
            # Every task gets the same timeout, so the oldest one running is due first.
            first = next(iter(running.values()))[2]
            left = None if first is None else max(0.0, first - monotonic())
            msg = await receive(lambda m: _is_reply_or_down(m, running), timeout=left,
                                default=None)
            if msg is None:  # some task ran out of time
                now = monotonic()
                for ref, (i, t, d) in list(running.items()):
                    if d is not None and d <= now:
                        if on_timeout == "exit":
                            raise ProcessExit(("timeout", (TaskSupervised, "stream", [timeout])))
                        del running[ref]
                        demonitor(ref, flush=True)
                        unlink(t.pid)
                        Process.exit(t.pid, "kill")
                        item = ("exit", "timeout")
                        if ordered:
                            done[i] = item
                        else:
                            yield item
                continue
            if msg.__class__ is Down:
                i, t, _ = running.pop(msg.ref)
                item = ("exit", msg.reason)
            else:
                ref, value = msg
                i, t, _ = running.pop(ref)
                demonitor(ref, flush=True)
                item = ("ok", value)
            if ordered:
                done[i] = item
            else:
                yield item
    finally:
        # Left early, or ended by an exit: stop what still runs and leave nothing behind.
        for ref, (_, t, _) in running.items():
            unlink(t.pid)
            Process.exit(t.pid, "kill")
            demonitor(ref, flush=True)
            flush((ref, ANY))  # a reply that arrived after we stopped looking
