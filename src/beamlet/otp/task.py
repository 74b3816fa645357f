"""Task: run one function in a process of its own and collect its result, as Elixir's Task.

Tasks are processes meant to run a single action through their whole life, most often to turn
sequential code into concurrent code and then wait for the results::

    task = Task.async_(fetch, url)          # starts at once, linked to and monitored by us
    ... do other work ...
    page = await Task.await_(task)          # or simply: page = await task

async and await
---------------
A task started with `Task.async_` is linked to its caller and monitored by it. The link means
that a crash in the task brings the caller down with the task's own reason (unless the caller
traps exits), and the other way round. The reply travels to an alias of the monitor, so a reply
that comes after the caller stopped waiting (an `await_` that timed out) is dropped by the
runtime rather than left in the mailbox. Only the process that started a task, its *owner*, may
await, yield or shut it down; anyone else gets a `ValueError` (Elixir's ArgumentError).

Every task started with `async_` should be awaited (or yielded, shut down or ignored) exactly
once: its reply is a message, ``(task.ref, value)``, in the owner's mailbox until then.

Streams
-------
`Task.async_stream` maps a function over an iterable, synchronous or asynchronous, with bounded
concurrency. It consumes its input lazily (an endless generator is fine), never has more than
``max_concurrency`` tasks alive, and yields ``("ok", value)`` or ``("exit", reason)`` per item,
in input order or (``ordered=False``) as they complete::

    async for status, value in Task.async_stream(urls, fetch, max_concurrency=10):
        ...

Leaving the loop early (``break``, an exception) kills the tasks still running and removes
their replies from the mailbox. Python runs that cleanup when the iterator is dropped, which
for an ``async for`` over a fresh stream is at the ``break``; if you keep a reference to the
stream, close it yourself (``await stream.aclose()``, or ``contextlib.aclosing``).

Exit reasons
------------
They mirror Elixir's ``{reason, {Task, :await, [task, timeout]}}``, the atom becoming a str (as
GenServer.call's reasons do): ``("timeout", (Task, "await", [task, timeout]))``,
``(reason, (Task, "await_many", [tasks, timeout]))``, and for a stream
``("timeout", (TaskSupervised, "stream", [timeout]))`` where `TaskSupervised` stands for
Elixir's ``Task.Supervised`` module.

`start` / `start_link` run fire-and-forget side effects (prefer `TaskSupervisor.start_child`
in production, so that they are supervised).
"""

from __future__ import annotations

import inspect
import io
import pickle
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Generator, Iterable
from dataclasses import dataclass
from itertools import islice, repeat
from time import monotonic, thread_time
from typing import Any, cast

from beamlet import (
    ANY,
    Down,
    Exit,
    Pid,
    Process,
    ProcessExit,
    Ref,
    alias,
    demonitor,
    flush,
    hand_off,
    make_ref,
    monitor,
    node,
    receive,
    schedulers_online,
    self_pid,
    send,
    spawn,
    spawn_link,
    unalias,
    unlink,
    yield_turn,
)

__all__ = ["Task", "TaskSupervised"]

_TASK_REF = "$task_ref"


class TaskSupervised:
    """Stands for Elixir's ``Task.Supervised`` module in exit reasons: a stream whose task
    timed out exits its consumer with ``("timeout", (TaskSupervised, "stream", [timeout]))``."""


# ---------------------------------------------------------------------------------------------
# Task bodies (shared with TaskSupervisor)
# ---------------------------------------------------------------------------------------------
def _set_info(fn: Callable[..., Any], args: tuple[Any, ...], cs: list[Any],
              ancestors: list[Any]) -> None:
    Process.put("$callers", cs)
    Process.put("$ancestors", ancestors)
    Process.put("$initial_call", (fn, len(args)))


async def task_body(fn: Callable[..., Any], args: tuple[Any, ...], cs: list[Any],
                    ancestors: list[Any]) -> None:
    """The body of a task that replies: wait for the monitor ref from the owner, run
    ``fn(*args)``, send ``(ref, result)`` to that ref (an alias of the owner).

    ``cs`` and ``ancestors`` become its ``$callers`` (who asked for it) and ``$ancestors``
    (who spawned it: the owner, or a TaskSupervisor), as in Elixir."""
    _set_info(fn, args, cs, ancestors)
    _, ref = await receive((_TASK_REF, ANY))
    result = fn(*args)
    if inspect.isawaitable(result):
        result = await result
    send(ref, (ref, result))


async def run_body(fn: Callable[..., Any], args: tuple[Any, ...], cs: list[Any],
                   ancestors: list[Any]) -> None:
    """The body of a fire-and-forget task."""
    _set_info(fn, args, cs, ancestors)
    result = fn(*args)
    if inspect.isawaitable(result):
        await result


def hand_ref(pid: Pid) -> Ref:
    """Monitor a freshly started `task_body` (the monitor ref doubles as the alias its reply
    goes to) and let it start; return the ref."""
    ref = monitor(pid, alias=True)
    send(pid, (_TASK_REF, ref))
    return ref


def attach(pid: Pid) -> Task:
    """The `Task` for a freshly started `task_body` owned by the caller."""
    return Task(self_pid(), pid, hand_ref(pid))


def callers() -> list[Any]:
    """``$callers`` for a task started for the caller: the caller, then its own callers."""
    return [self_pid(), *Process.get("$callers", [])]


def ancestors() -> list[Any]:
    """``$ancestors`` for a process the caller spawns: the caller, then its own ancestors."""
    return [self_pid(), *Process.get("$ancestors", [])]


# ---------------------------------------------------------------------------------------------
# Task
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Task:
    """A task started with `Task.async_` (or `TaskSupervisor.async_` / ``async_nolink``).

    Fields, as in Elixir's ``%Task{}``: ``owner``, the process that may await it; ``pid``, the
    task's process; ``ref``, the monitor ref its reply is tagged with (``(ref, value)``).
    ``await task`` is the same as ``await Task.await_(task)``.
    """

    owner: Pid
    pid: Pid
    ref: Ref

    # child_spec: a task is not restarted unless a subclass says so ("shutdown" is taken by
    # Task.shutdown, hence child_shutdown)
    restart = "temporary"
    child_shutdown = 5.0

    def __await__(self) -> Generator[Any, None, Any]:
        return Task.await_(self).__await__()

    @staticmethod
    def async_(fn: Callable[..., Any], *args: Any) -> Task:
        """Start a task that runs ``fn(*args)`` (``fn`` an ``async def`` function or a plain
        callable) and must be awaited.

        The task is linked to and monitored by the caller, its owner. Its result is sent back
        to the owner as ``(task.ref, value)`` and collected by `await_`, `await_many`,
        `yield_` or `shutdown`. A crash in the task takes the owner down with the same reason
        unless the owner traps exits.
        """
        return attach(spawn_link(task_body, fn, args, callers(), ancestors()))

    @staticmethod
    def start(fn: Callable[..., Any], *args: Any) -> tuple[str, Pid]:
        """Start a task for its side effects, linked to nobody: ``("ok", pid)``."""
        return ("ok", spawn(run_body, fn, args, callers(), ancestors()))

    @staticmethod
    def start_link(fn: Callable[..., Any], *args: Any) -> tuple[str, Pid]:
        """Start a task for its side effects, linked to the caller: ``("ok", pid)``. Meant to
        run as part of a supervision tree."""
        return ("ok", spawn_link(run_body, fn, args, callers(), ancestors()))

    @staticmethod
    async def await_(task: Task, timeout: float | None = 5.0) -> Any:
        """Wait for the reply of ``task`` and return it (``timeout`` seconds, None: forever).

        If no reply comes in time the caller exits (`ProcessExit`) with ``("timeout", (Task,
        "await", [task, timeout]))``; the task keeps running, and its reply, if it ever
        comes, is dropped. If the task dies first the caller exits with ``(reason, (Task,
        "await", [task, timeout]))`` — a caller that does not trap exits is usually dead
        already, killed through the link with the task's own reason.

        A task can be awaited once; awaiting from a process other than the owner raises
        `ValueError`.
        """
        _check_owner(task, "await_")
        ref = task.ref
        msg = await receive((ref, ANY), Down(ref, ANY, ANY), timeout=timeout, default=None)
        if msg is None:
            demonitor(ref, flush=True)
            raise ProcessExit(("timeout", (Task, "await", [task, timeout])))
        if msg.__class__ is Down:
            raise ProcessExit((_down_reason(msg), (Task, "await", [task, timeout])))
        demonitor(ref, flush=True)
        return msg[1]

    @staticmethod
    async def yield_(task: Task, timeout: float | None = 5.0) -> tuple[str, Any] | None:
        """Wait up to ``timeout`` seconds for ``task``: ``("ok", value)`` if it replied,
        ``("exit", reason)`` if it died, or None if it is still running — then it may be
        yielded again, awaited, or stopped with `shutdown`. Once a result has been returned,
        further yields return None (after ``timeout``)."""
        _check_owner(task, "yield_")
        ref = task.ref
        msg = await receive((ref, ANY), Down(ref, ANY, ANY), timeout=timeout, default=None)
        if msg is None:
            return None
        if msg.__class__ is Down:
            _exit_on_noconnection(msg, (Task, "yield", [task, timeout]))
            return ("exit", msg.reason)
        demonitor(ref, flush=True)
        return ("ok", msg[1])

    @staticmethod
    async def yield_many(tasks: list[Task], timeout: float | None = 5.0) -> list[tuple[Any, ...]]:
        """Yield to several tasks within one ``timeout``: ``[(task, result)]`` in the order
        of ``tasks``, ``result`` being what `yield_` gives (``("ok", v)``, ``("exit", r)``
        or None for a task still running once the time is up)."""
        tasks = list(tasks)
        for t in tasks:
            _check_owner(t, "yield_many")
        deadline = None if timeout is None else monotonic() + timeout
        out: list[tuple[Any, ...]] = []
        for t in tasks:
            left = None if deadline is None else max(0.0, deadline - monotonic())
            ref = t.ref
            msg = await receive((ref, ANY), Down(ref, ANY, ANY), timeout=left, default=None)
            if msg is None:
                out.append((t, None))
            elif msg.__class__ is Down:
                _exit_on_noconnection(msg, (Task, "yield_many", [tasks, timeout]))
                out.append((t, ("exit", msg.reason)))
            else:
                demonitor(ref, flush=True)
                out.append((t, ("ok", msg[1])))
        return out

    @staticmethod
    def completed(result: Any) -> Task:
        """A task that is already done with ``result``: awaiting it returns ``result`` at
        once (useful where a list of tasks mixes computed and cached values). It has no
        process: its ``pid`` is None."""
        ref = make_ref()
        me = self_pid()
        send(me, (ref, result))
        # the one Task without a process: pid None, as its docstring says
        return Task(me, None, ref)  # type: ignore[arg-type]

    @classmethod
    def child_spec(cls, arg: Any = None) -> dict[Any, Any]:
        """The spec to run a task under a supervisor: ``Task.child_spec(fn)`` (or ``(fn,
        arg, ...)``) runs ``Task.start_link(fn, ...)``, temporary as in Elixir. A subclass
        that defines ``start_link(arg)`` (Elixir's ``use Task``) gets ``{"id": cls, "start":
        (cls.start_link, (arg,))}``; class attributes ``restart`` and ``child_shutdown``
        change the "restart" and "shutdown" keys."""
        if cls is Task:
            if type(arg) is tuple and arg and callable(arg[0]):
                start = (Task.start_link, tuple(arg))
            else:
                start = (Task.start_link, (arg,))
        else:
            start = (cls.start_link, (arg,))
        return {"id": cls, "start": start, "restart": cls.restart,
                "shutdown": cls.child_shutdown, "type": "worker"}

    @staticmethod
    async def await_many(tasks: list[Task], timeout: float | None = 5.0) -> list[Any]:
        """Await every task in ``tasks``; their results in the order of ``tasks``, whatever
        order they finished in.

        One deadline covers them all: past it the caller exits with ``("timeout", (Task,
        "await_many", [tasks, timeout]))``. A task that died makes the caller exit with
        ``(reason, (Task, "await_many", [tasks, timeout]))``.
        """
        tasks = list(tasks)
        for t in tasks:
            _check_owner(t, "await_many")
        deadline = None if timeout is None else monotonic() + timeout
        pending = {t.ref: i for i, t in enumerate(tasks)}
        results: list[Any] = [None] * len(tasks)

        def ours(m: Any) -> bool:
            return _reply_or_down_of(m, pending)

        while pending:
            left = None if deadline is None else max(0.0, deadline - monotonic())
            msg = await receive(ours, timeout=left, default=None)
            if msg is None or msg.__class__ is Down:
                # Leave no monitor (nor its Down) behind for the tasks not heard from.
                for ref in pending:
                    demonitor(ref, flush=True)
                reason = "timeout" if msg is None else _down_reason(msg)
                raise ProcessExit((reason, (Task, "await_many", [tasks, timeout])))
            ref, value = msg
            results[pending.pop(ref)] = value
            demonitor(ref, flush=True)
        return results

    @staticmethod
    async def ignore(task: Task) -> tuple[str, Any] | None:
        """Stop caring about ``task``: it keeps running, unlinked, and can no longer be
        awaited. ``("ok", value)`` if its reply had arrived, ``("exit", reason)`` if it had
        died, else None."""
        _check_owner(task, "ignore")
        unlink(task.pid)
        ref = task.ref
        msg = await receive((ref, ANY), Down(ref, ANY, ANY), timeout=0, default=None)
        demonitor(ref, flush=True)
        if msg is None:
            return None
        if msg.__class__ is Down:
            _exit_on_noconnection(msg, (Task, "ignore", [task]))
            return ("exit", msg.reason)
        return ("ok", msg[1])

    @staticmethod
    async def shutdown(task: Task, timeout: float | str | None = 5.0) -> tuple[str, Any] | None:
        """Unlink and stop ``task``, and tell how it ended.

        The task gets exit signal ``"shutdown"`` and ``timeout`` seconds to end (None or
        ``"infinity"``: forever), after which it is killed; ``timeout="brutal_kill"`` kills it
        at once. Returns ``("ok", value)`` if its reply came in the meantime (or had come
        already), None if it was stopped (it ended with ``"shutdown"``, or ``"killed"`` by
        ``"brutal_kill"``), else ``("exit", reason)`` — a task that traps exits and ends with
        a reason of its own, a task that had crashed already, ``("exit", "killed")`` for one
        killed after ``timeout``, or ``("exit", "noproc")`` for a task whose end the owner had
        already taken from its mailbox (its ``Down`` handled elsewhere, say in a GenServer's
        ``handle_info``).

        It watches the task with a monitor of its own, as Elixir does, so it answers whether
        or not the task's ``Down`` is still queued.
        """
        if isinstance(task, Task) and task.pid is None:
            raise ValueError(f"task {task!r} does not have an associated task process")
        _check_owner(task, "shutdown")
        brutal = timeout == "brutal_kill"
        if not brutal and timeout is not None and timeout != "infinity" and (
                isinstance(timeout, bool) or not isinstance(timeout, (int, float))
                or timeout < 0):
            raise ValueError(f"Task.shutdown timeout must be seconds, None, 'infinity' or "
                             f"'brutal_kill', got {timeout!r}")
        where = (Task, "shutdown", [task, timeout])
        pid = task.pid
        mon = monitor(pid)
        unlink(pid)
        Process.exit(pid, "kill" if brutal else "shutdown")
        stopped = "killed" if brutal else "shutdown"   # the reason of a task we stopped
        # past the check above, a timeout that is not None, "infinity" or "brutal_kill" is seconds
        wait = None if brutal or timeout == "infinity" else cast("float | None", timeout)
        d = await receive(Down(mon, ANY, ANY), timeout=wait, default=None)
        if d is None:
            Process.exit(pid, "kill")
            d = await receive(Down(mon, ANY, ANY))
        ended = await _how_it_ended(task.ref, d, stopped)
        if ended.__class__ is Down:
            _exit_on_noconnection(ended, where)
            return ("exit", ended.reason)
        return cast("tuple[str, Any] | None", ended)

    @staticmethod
    def async_stream(enumerable: Iterable[Any] | AsyncIterable[Any], fn: Callable[[Any], Any],
                     *, max_concurrency: int | None = None, ordered: bool = True,
                     timeout: float | None = 5.0,
                     on_timeout: str = "exit",
                     zip_input_on_exit: bool = False,
                     nodes: list[str] | None = None) -> AsyncIterator[tuple[str, Any]]:
        """Run ``fn(item)`` in a task for each item of ``enumerable``; an async iterator of
        the results, ``("ok", value)`` or ``("exit", reason)``.

        Options:

        * ``max_concurrency`` — how many tasks may be alive at once (default:
          `schedulers_online()`). Items are pulled from ``enumerable`` only as slots free up,
          so it may be endless or an async iterable.
        * ``ordered`` — yield results in input order (default), buffering those that finish
          early; with False, in the order they complete.
        * ``timeout`` — seconds each task may run, from its start (None: no limit).
        * ``on_timeout`` — ``"exit"`` (default): the caller exits with ``("timeout",
          (TaskSupervised, "stream", [timeout]))`` and the remaining tasks are killed;
          ``"kill_task"``: the late task is killed and its item is ``("exit", "timeout")``.
        * ``zip_input_on_exit`` — with True, an ``("exit", reason)`` item is ``("exit",
          (item, reason))``, naming the input that failed.
        * ``nodes`` — spread the work over these nodes (say ``Node.list() + [node()]``): each
          task runs a batch of items, one after another, on the node with the least work
          queued; ``max_concurrency`` (default: `schedulers_online()` per node, and then one
          batch at a time on a node whose items are CPU-bound) bounds the
          tasks alive, ``timeout`` applies to each item from its start. See
          docs/multicore.md for how batching keeps every option's meaning.

        The tasks are linked to the caller, as with `async_`: one that crashes takes a caller
        that does not trap exits down with it; a trapping caller gets ``("exit", reason)`` for
        that item (use `TaskSupervisor.async_stream_nolink` to survive crashes without
        trapping). Leaving the loop early kills the tasks still running.
        """
        if nodes is not None:
            cs, an = callers(), ancestors()

            async def start_batch(where: str, items: list[Any], long_items: bool) -> Started:
                async def spawner(reply_to: Ref) -> Pid:
                    if where == node():
                        return spawn_link(batch_body, fn,
                                          (items, timeout, False, reply_to, long_items), cs, an)
                    from beamlet import Node

                    return await Node.spawn_link(
                        where, batch_body, fn,
                        (pack(items), timeout, True, reply_to, long_items), cs, an)

                return await start_answering(spawner)

            return spread(enumerable, fn, start_batch, nodes, max_concurrency, ordered,
                          timeout, on_timeout, zip_input_on_exit)
        return stream(enumerable, _linked_starter(fn, callers(), ancestors()),
                      max_concurrency, ordered, timeout, on_timeout, zip_input_on_exit)


def _linked_starter(fn: Callable[..., Any], cs: list[Any], an: list[Any]) -> Callable[[Any],
                    tuple[Pid, Ref]]:
    def start(x: Any) -> tuple[Pid, Ref]:
        pid = spawn_link(task_body, fn, (x,), cs, an)
        return pid, hand_ref(pid)
    return start


def _check_owner(task: Any, fun: str) -> None:
    if not isinstance(task, Task):
        raise TypeError(f"Task.{fun} takes a Task, got {task!r}")
    me = self_pid()
    if task.owner != me:
        raise ValueError(f"task {task!r} must be queried from the owner but was queried "
                         f"from {me!r}")


async def _how_it_ended(ref: Ref, down: Down, stopped: str) -> Any:
    """After `Task.shutdown` saw ``down`` on its own monitor: ``("ok", reply)`` if the task's
    reply is queued, None if it ended with the ``stopped`` reason, else the ``Down`` that tells
    its reason. When ``down`` says "noproc" (it was dead already) the task's own ``Down``, if
    still queued, tells how it ended; if it was taken already, "noproc" it is."""
    reason = down.reason
    if reason == "noproc":
        own = await receive(Down(ref, ANY, ANY), timeout=0, default=None)
        if own is None:
            demonitor(ref, flush=True)
            ended: Any = down
        else:
            ended = None if own.reason == stopped else Down(ref, down.pid, own.reason)
    else:
        demonitor(ref, flush=True)
        ended = None if reason == stopped else down
    reply = await receive((ref, ANY), timeout=0, default=None)
    return ("ok", reply[1]) if reply is not None else ended


def _down_node(down: Down) -> str:
    where = down.pid
    if type(where) is tuple and len(where) == 2:
        node_name: str = where[1]   # a (name, node) monitor: the node's name
        return node_name
    return node()


def _down_reason(down: Down) -> Any:
    """The exit reason a ``Down`` stands for: ``("nodedown", node)`` for "noconnection", as
    Elixir reports a task on a lost node."""
    if down.reason == "noconnection":
        return ("nodedown", _down_node(down))
    return down.reason


def _exit_on_noconnection(down: Down, where: tuple[Any, ...]) -> None:
    if down.reason == "noconnection":
        raise ProcessExit((("nodedown", _down_node(down)), where))


def _reply_or_down_of(m: Any, refs: dict[Any, Any]) -> bool:
    c = m.__class__
    if c is tuple:
        return len(m) == 2 and m[0].__class__ is Ref and m[0] in refs
    return c is Down and m.ref in refs


# ---------------------------------------------------------------------------------------------
# The stream machinery, shared by Task.async_stream and TaskSupervisor.async_stream(_nolink)
# ---------------------------------------------------------------------------------------------
def stream(enumerable: Iterable[Any] | AsyncIterable[Any],
           start: Callable[[Any], tuple[Pid, Ref] | Awaitable[tuple[Pid, Ref]]],
           max_concurrency: int | None, ordered: bool, timeout: float | str | None,
           on_timeout: str, zip_input_on_exit: bool = False) -> AsyncIterator[tuple[str, Any]]:
    """Check the options, then return the async iterator of a stream: ``start(item)`` starts
    the `task_body` for one item and returns ``(pid, ref)`` (or an awaitable of it), ``ref``
    being a monitor of ``pid`` that the task replies to."""
    if max_concurrency is None:
        max_concurrency = schedulers_online()
    if timeout == "infinity":
        timeout = None
    check_options(enumerable, max_concurrency, timeout, on_timeout)
    return _stream(enumerable, start, max_concurrency, ordered, cast("float | None", timeout),
                   on_timeout, bool(zip_input_on_exit))


def check_options(enumerable: Any, max_concurrency: int, timeout: Any, on_timeout: str) -> None:
    """ValueError (TypeError) for a stream option (an input) that is not one."""
    if isinstance(max_concurrency, bool) or not isinstance(max_concurrency, int) \
            or max_concurrency < 1:
        raise ValueError(f"max_concurrency must be a positive int, got {max_concurrency!r}")
    if on_timeout not in ("exit", "kill_task"):
        raise ValueError(f"on_timeout must be 'exit' or 'kill_task', got {on_timeout!r}")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(
            timeout, (int, float)) or timeout < 0):
        raise ValueError(f"timeout must be None or seconds >= 0, got {timeout!r}")
    if not (hasattr(enumerable, "__aiter__") or hasattr(enumerable, "__iter__")):
        raise TypeError(f"async_stream takes an iterable or an async iterable, "
                        f"got {enumerable!r}")


async def _stream(enumerable: Any, start: Callable[..., Any], max_concurrency: int, ordered: bool,
                  timeout: float | None, on_timeout: str,
                  zip_input: bool) -> AsyncIterator[tuple[str, Any]]:
    if hasattr(enumerable, "__aiter__"):
        source: Any = enumerable.__aiter__()
        pull_async = True
    else:
        source = iter(enumerable)
        pull_async = False
    me = self_pid()
    # ref -> [index, pid, deadline, replied, item]; insertion order is start order, so the first
    # entry that has not replied has the nearest deadline. An entry stays until its Down
    # comes: a slot is free only once its task is dead.
    running: dict[Ref, list[Any]] = {}
    done: dict[int, tuple[Any, ...]] = {}        # ordered: results that came before their turn
    next_in = 0
    next_out = 0
    exhausted = False

    def ours(m: Any) -> bool:
        c = m.__class__
        if c is tuple:
            return len(m) == 2 and m[0].__class__ is Ref and m[0] in running
        return c is Down and m.ref in running

    try:
        while True:
            while not exhausted and len(running) < max_concurrency:
                try:
                    x = await source.__anext__() if pull_async else next(source)
                except (StopIteration, StopAsyncIteration):
                    exhausted = True
                    break
                started = start(x)
                if started.__class__ is not tuple:
                    started = await started
                pid, ref = started
                running[ref] = [next_in, pid,
                                None if timeout is None else monotonic() + timeout, False, x]
                next_in += 1
            if ordered and next_out in done:
                yield done.pop(next_out)
                next_out += 1
                continue
            if not running:
                return      # exhausted, and (ordered) everything was yielded
            left = None
            if timeout is not None:
                for e in running.values():
                    if not e[3]:
                        left = e[2] - monotonic()
                        if left < 0.0:
                            left = 0.0
                        break
            msg = await receive(ours, timeout=left, default=None)
            if msg is None:  # the oldest unanswered task ran out of time
                if on_timeout == "exit":
                    raise ProcessExit(("timeout", (TaskSupervised, "stream", [timeout])))
                now = monotonic()
                for ref, e in list(running.items()):
                    if not e[3] and e[2] <= now:
                        del running[ref]
                        demonitor(ref, flush=True)
                        unlink(e[1])
                        _forget_exit(e[1])
                        Process.exit(e[1], "kill")
                        item = ("exit", (e[4], "timeout") if zip_input else "timeout")
                        if ordered:
                            done[e[0]] = item
                        else:
                            yield item
                continue
            if msg.__class__ is Down:
                e = running.pop(msg.ref)
                _forget_exit(e[1])
                if e[3]:
                    continue     # it had replied: this is its end, its slot is free
                item = ("exit", (e[4], msg.reason) if zip_input else msg.reason)
            else:
                e = running[msg[0]]
                e[3] = True
                item = ("ok", msg[1])
            if ordered:
                done[e[0]] = item
            else:
                yield item
    finally:
        if running:
            _stop_stream(me, running, ours)


def _stop_stream(me: Pid, running: dict[Any, Any], ours: Callable[[Any], bool],
                 aliases: Iterable[Ref] = ()) -> None:
    """Left early, or ended by an exit: kill what still runs and leave nothing behind
    (``running`` maps monitor refs to entries whose second item is the pid; the
    ``aliases`` the tasks answered to are deactivated)."""
    try:
        here = self_pid() == me
    except Exception:   # noqa: BLE001 -- collected outside any process
        here = False
    if not here:        # dropped elsewhere (garbage collection): only stop the tasks
        for e in running.values():
            try:
                Process.exit(e[1], "kill")
            except Exception:   # noqa: BLE001
                pass
        return
    pids = set()
    for ref, e in running.items():
        demonitor(ref)
        unlink(e[1])
        Process.exit(e[1], "kill")
        pids.add(e[1])
    for reply_to in aliases:
        unalias(reply_to)
    flush(ours)          # replies and Downs that had arrived already
    if Process.read_flag("trap_exit"):
        flush(lambda m: m.__class__ is Exit and m.pid in pids)
    running.clear()


def _forget_exit(pid: Pid) -> None:
    """A stream's task has ended (its ``Down`` is here, so its exit signal came first): take
    the ``Exit`` a trapping consumer got from it, which is the stream's business, not the
    consumer's (in Elixir the tasks are linked to a helper process that takes them)."""
    if Process.read_flag("trap_exit"):
        flush(Exit(pid, ANY))


# ---------------------------------------------------------------------------------------------
# Streams spread over nodes: a task runs a batch of items, on the node with the least work
# queued (docs/multicore.md)
# ---------------------------------------------------------------------------------------------
# A batch sends the results it has this often, and lets the other processes of its node run
# (on the stream's own node: the consumer, which starts the next batches): one thread keeps
# the scheduler, where a handed-off batch would make them wait for the GIL.
_FLUSH_SECONDS = 0.002
# A batch is sized to take about this long on its node: on this one, where starting the next
# costs nothing, short; on another node, long enough that the round trips between two of its
# batches (starting one takes a few messages, ~10-20 ms with CPU-bound work at both ends)
# leave that node idle a small part of the time.
_TARGET_BATCH_SECONDS = 0.05
_TARGET_REMOTE_BATCH_SECONDS = 0.1
# A node given one batch at a time (its items are CPU-bound, see `_CPU_BOUND_SHARE`: nothing
# waits in its pipeline) sits idle for the round trip between two of them (its last results
# here, the next batch there: 2-5 ms seen from the consumer, beside 20 ms items); its
# batches are this many times longer, so that it waits fewer times (a 200-item map of 20 ms
# items: 80-130 ms idle on the peer with the targets above, 30 ms with them four times).
_ONE_AT_A_TIME_LONGER = 4
_MAX_BATCH = 10_000
# An item this long (CPU-bound work that does not await) runs on a thread of its own from its
# start (`beamlet.hand_off`): the node's other processes, the consumer above all, go on at
# once instead of after the watchdog's few milliseconds (a hand-off costs ~0.1 ms).
_LONG_ITEM_SECONDS = 0.001
_PIPELINE = 2                 # batches a node is given before the least loaded gets more
# With the default max_concurrency, a node whose batches spend this share of their time in
# CPU-bound items (sync, long, busy on their thread) gets one batch at a time: two would
# share its one GIL, slower than one after the other, and the round trip between two batches
# is small beside a batch of long items. (Two such batches sharing the GIL show ~0.4 each,
# one alone ~0.9, items that block in a call ~0.)
_CPU_BOUND_SHARE = 0.25
_STOP = "$batch_stop"         # never sent: what a stopped batch waits for until it is killed


def _refuse(obj: Any) -> Any:
    raise pickle.PicklingError(f"{obj!r} needs the distribution's pickler")


def _identity_types() -> dict[type, Callable[[Any], Any]]:
    from beamlet.dist.etf import ExtPid, ExtRef
    from beamlet.kernel.terms import RemotePid, TimerRef

    return dict.fromkeys((Pid, RemotePid, Ref, TimerRef, ExtPid, ExtRef), _refuse)


_REFUSED: dict[type, Callable[[Any], Any]] = {}


def pack(values: list[Any]) -> bytes | list[Any]:
    """``values`` as one plain pickle when that can be made, else ``values`` themselves.

    The distribution pickles a payload with a hook called for every object (pids and refs
    travel by wire identity), 1.2 µs per small item; C pickle takes 0.13 µs. A batch's
    items and results are packed so, unless they hold a pid or a ref (refused here, then
    sent the distribution's way) or something only cloudpickle can take."""
    if not _REFUSED:
        _REFUSED.update(_identity_types())
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, protocol=5)
    pickler.dispatch_table = _REFUSED
    try:
        pickler.dump(values)
    except Exception:  # noqa: BLE001 - any failure: the distribution's way, which says why
        return values
    return buffer.getvalue()


def unpack(packed: bytes | list[Any]) -> list[Any]:
    if packed.__class__ is bytes:
        values: list[Any] = pickle.loads(packed)
        return values
    return cast("list[Any]", packed)


class _BatchState:
    """What a batch task shares with its guard (both on the same node, so one object):
    the item running and since when, the results not sent yet, and whether the guard has
    declared an item late.

    ``running`` holds at most one entry, ``{index: start}``, while an item runs. Whoever
    takes it out decides that item's fate: the batch when the item ends (it ended in time),
    the guard when its time is up (it is late). Taking it out (``del``) is one step under the
    GIL, so the two never both win, also when the batch runs on a thread of its own
    (`hand_off`). An item pays a store and a delete for it, where a lock per item cost half
    a microsecond more (a small item's whole overhead is about one)."""

    __slots__ = ("running", "current", "began", "late", "unsent", "remote", "active", "cpu")

    def __init__(self) -> None:
        self.remote = False
        self.active = 0.0   # seconds spent in the items that have ended
        self.cpu = 0.0      # thread CPU seconds of the long items that did not await
        self.running: dict[int, float] = {}
        self.current: int | None = 0   # the index of the item running or next; None: done
        self.began = monotonic()
        self.late = False   # the guard has the results not sent yet: the batch sends no more
        self.unsent: list[Any] = []

    def effort(self) -> tuple[float, float]:
        """Seconds spent in the items so far (how its node's speed is judged: neither the
        round trips around the batch nor its waits for a turn count), and the CPU seconds
        of its long items."""
        return self.active, self.cpu


# Results a batch's loop knows are not awaitable without asking `inspect.isawaitable` (which
# costs about a microsecond, as much as a small item's whole overhead).
_PLAIN = frozenset({int, float, str, bytes, bool, tuple, list, dict, set, type(None)})


Started = tuple[Pid, Ref, Ref]   # a batch's pid, the consumer's monitor of it, its reply alias
# starts a batch: (node, items, whether that node's items are long) -> Started
BatchStarter = Callable[[str, list[Any], bool], Awaitable[Started]]


async def start_answering(spawner: Callable[[Ref], Awaitable[Pid]]) -> Started:
    """Start a batch: ``spawner(reply_to)`` starts a `batch_body` that answers to the alias
    ``reply_to`` (made here, dropped if the start fails) and returns its pid; then the batch
    is monitored, and told so."""
    reply_to = alias()
    try:
        pid = await spawner(reply_to)
    except BaseException:
        unalias(reply_to)
        raise
    ref = monitor(pid)
    send(pid, (_TASK_REF, ref))
    return pid, ref, reply_to


async def batch_body(fn: Callable[..., Any],
                     args: tuple[bytes | list[Any], float | None, bool, Ref, bool],
                     cs: list[Any], ancestors: list[Any]) -> None:
    """The body of a stream task that runs a batch: run ``fn(x)`` for each item in turn,
    and send the results to ``reply_to`` (an alias of the stream's consumer) as
    ``(reply_to, "ok", [results], (busy seconds, CPU seconds))`` every `_FLUSH_SECONDS`
    and at the end.
    With a ``timeout`` a guard process beside it watches the running item (see `_guard`).
    An item that raises ends the batch with that exception, after the results before it
    were sent. With ``remote``, items come and results go as one pickle each when they can
    (see `pack`). With ``long_items`` (its node's items have taken `_LONG_ITEM_SECONDS` or
    more), or once one has, each step that runs an item starts with `hand_off`.

    The items start at once, not after a round trip to the consumer; but the batch ends
    (returns or raises) only once the consumer has said it monitors (and links) it, so
    that its ``Down`` always carries its real reason, never ``noproc``."""
    packed_items, timeout, remote, ref, long_items = args
    items = unpack(packed_items)
    _set_info(fn, (None,), cs, ancestors)
    state = _BatchState()
    state.remote = remote
    try:
        if timeout is None:
            await _run_unguarded(fn, items, state, ref, long_items)
        else:
            guard = spawn_link(_guard, state, ref, timeout)
            await _run_guarded(fn, items, state, ref, long_items)
            send(guard, "done")
        _flush(state, ref, items)
    except Exception:
        try:
            _flush(state, ref, items)
        finally:
            await receive((_TASK_REF, ANY))
        raise
    except BaseException:   # killed: no await is possible any more
        _flush(state, ref, items)
        raise
    await receive((_TASK_REF, ANY))


async def _run_unguarded(fn: Callable[..., Any], items: list[Any], state: _BatchState,
                         ref: Ref, long_items: bool) -> None:
    """The items one after another, the results flushed now and then (no timeout: nobody
    else reads ``state``, so no lock)."""
    unsent = state.unsent
    last_flush = monotonic()
    done = 0
    if long_items:
        hand_off()
    for x in items:
        if long_items:
            cpu_began = thread_time()
        result = fn(x)
        waited = result.__class__ not in _PLAIN and inspect.isawaitable(result)
        if waited:
            result = await result
        elif long_items:
            state.cpu += thread_time() - cpu_began
        unsent.append(result)
        done += 1
        state.current = done
        if long_items or len(unsent) & 31 == 0:
            spent = monotonic() - last_flush
            if spent < _FLUSH_SECONDS:
                continue
            state.active += spent
            long_items = not waited and spent >= _LONG_ITEM_SECONDS * len(unsent)
            await _pause(state, ref, items, long_items)
            unsent = state.unsent
            last_flush = monotonic()   # (the time waited for a turn is no item's)
    state.active += monotonic() - last_flush
    state.current = None


async def _run_guarded(fn: Callable[..., Any], items: list[Any], state: _BatchState,
                       ref: Ref, long_items: bool) -> None:
    """The items one after another under the guard's eye: each one's start is recorded in
    ``state.running``, and the item taken out of it by the guard is late: the batch stops."""
    running = state.running
    started = last_flush = state.began
    done = flushed_at = 0
    if long_items:
        hand_off()
    for x in items:
        if long_items:
            cpu_began = thread_time()
        running[done] = started
        try:
            result = fn(x)
            waited = result.__class__ not in _PLAIN and inspect.isawaitable(result)
            if waited:
                result = await result
        except BaseException:
            if running.pop(done, None) is None:
                state.late = True   # (late as well: the guard sends what was not sent)
            raise
        try:
            del running[done]   # (a statement: cheaper than a call to pop)
        except KeyError:
            state.late = True
            break
        if long_items and not waited:
            state.cpu += thread_time() - cpu_began
        state.unsent.append(result)
        done += 1
        state.current = done
        started = monotonic()
        if started - last_flush >= _FLUSH_SECONDS:   # a pause: the flush and a wait
            state.active += started - last_flush   # the items since the last pause
            # (long: by the mean since the last flush, so that one item slowed down by a
            # collection does not count)
            long_items = not waited and \
                started - last_flush >= _LONG_ITEM_SECONDS * (done - flushed_at)
            await _pause(state, ref, items, long_items)
            # the next item starts now: the time waited for a turn is no item's
            started = last_flush = monotonic()
            flushed_at = done
    state.active += monotonic() - last_flush
    if state.late:
        await receive(_STOP)    # the consumer kills this batch: its item is late
    state.current = None


async def _pause(state: _BatchState, ref: Ref, items: list[Any], long_items: bool) -> None:
    """A batch's pause every `_FLUSH_SECONDS`: send the results so far, let the node's other
    processes run, and start the next step on a thread of its own when the items are long."""
    _flush(state, ref, items)
    await yield_turn()
    if long_items:
        hand_off()


def _flush(state: _BatchState, ref: Ref, items: list[Any]) -> None:
    """Send the results not sent yet; one that cannot travel to the consumer's node ends
    the batch with a ValueError naming its item (the results before it are sent).

    Never called while an item of a guarded batch may be declared late (the batch calls it
    between items, or once the item's fate is settled), so the guard and the batch never
    take the results at the same time."""
    if state.late:
        return   # the guard sent them, with its timeout
    chunk, state.unsent = state.unsent, []
    first = (state.current if state.current is not None else len(items)) - len(chunk)
    if not chunk:
        return
    try:
        send(ref, (ref, "ok", pack(chunk) if state.remote else chunk, state.effort()))
    except ValueError:
        for offset, result in enumerate(chunk):
            try:
                send(ref, (ref, "ok", [result]))
            except ValueError as error:
                item = items[first + offset]
                raise ValueError(f"the result of item {item!r} cannot travel back to the "
                                 f"stream's node: {error}") from None


async def _guard(state: _BatchState, ref: Ref, timeout: float) -> None:
    """Watch a batch's running item: once it has run ``timeout`` seconds, take it out of
    ``state.running`` (no further item starts) and tell the consumer ``(ref, "timeout",
    [results not sent yet], effort)``; the item late is the one after those. The consumer
    then kills the batch or exits, as ``on_timeout`` says. Linked to the batch: it dies with
    it."""
    running = state.running
    while state.current is not None:
        open_item = running.copy()   # (one step: the batch may change it meanwhile)
        if open_item:
            index, started = open_item.popitem()
            left = started + timeout - monotonic()
        else:
            # between two items: the next one starts later than now, so its time is up
            # later than ``timeout`` from now
            index, left = -1, timeout
        if left > 0.0:
            if await receive("done", timeout=left, default=None) == "done":
                return
            continue
        try:
            del running[index]
        except KeyError:
            continue   # it ended in time, just now
        state.late = True
        chunk, state.unsent = state.unsent, []
        send(ref, (ref, "timeout", pack(chunk) if state.remote else chunk, state.effort()))
        return


class _Batch:
    """The consumer's record of a batch task: where it runs, the consumer's monitor of it and
    the alias it answers to, its items (their places in the input, a range unless some were
    started again after a failure, and their values), how many have been answered, and when
    it was started. (Places and values apart: a pair per item cost 5% of a small item's
    time, made as it was taken from the input and unmade as it was sent.)"""

    __slots__ = ("node", "pid", "monitor", "reply_to", "indices", "values", "answered",
                 "started")

    def __init__(self, where: str, started: Started, indices: range | list[int],
                 values: list[Any]) -> None:
        self.node = where
        self.pid, self.monitor, self.reply_to = started
        self.indices = indices
        self.values = values
        self.answered = 0
        self.started = monotonic()


def spread(enumerable: Iterable[Any] | AsyncIterable[Any], fn: Callable[..., Any],
           start_batch: BatchStarter,
           nodes: list[str], max_concurrency: int | None, ordered: bool,
           timeout: float | str | None, on_timeout: str,
           zip_input_on_exit: bool = False) -> AsyncIterator[tuple[str, Any]]:
    """Check the options, then return the async iterator of a stream spread over
    ``nodes``: ``start_batch(node, items, long_items)`` starts a `batch_body` there (through
    `start_answering`) and returns `Started`: ``(pid, monitor, reply_to)``."""
    nodes = list(nodes)
    if not nodes or not all(isinstance(n, str) for n in nodes):
        raise ValueError(f"nodes must be a non-empty list of node names, got {nodes!r}")
    adaptive = max_concurrency is None
    if max_concurrency is None:
        max_concurrency = schedulers_online() * len(nodes)
    if timeout == "infinity":
        timeout = None
    check_options(enumerable, max_concurrency, timeout, on_timeout)
    return _spread(enumerable, fn, start_batch, list(dict.fromkeys(nodes)), max_concurrency,
                   adaptive, ordered, cast("float | None", timeout), on_timeout,
                   bool(zip_input_on_exit))


class _Spread:
    """A spread stream's bookkeeping: items to start again, batches alive, work queued per
    node (items sent and not answered: the least loaded node gets the next batch) and how
    long an item takes there (to size its batches)."""

    def __init__(self, nodes: list[str], adaptive: bool) -> None:
        self.nodes = nodes
        self.adaptive = adaptive    # the default max_concurrency: see `pick`
        self.retry: list[tuple[int, Any]] = []       # sorted by index
        self.batches: dict[Ref, _Batch] = {}         # by the alias each answers to
        self.watched: dict[Ref, _Batch] = {}         # the same, by the consumer's monitor
        self.queued = dict.fromkeys(nodes, 0)
        self.per_item: dict[str, float] = {}
        self.cpu_share: dict[str, float] = {}        # of its batches' time, in CPU-bound items
        self.lost: set[str] = set()                  # nodes that went away mid-stream
        self.working = 0      # batches with an item not answered yet: what max_concurrency caps
        self.working_on = dict.fromkeys(nodes, 0)    # the same, per node

    def pick(self) -> str | None:
        """The node with the least work queued (the first such one in ``nodes``), a node
        with fewer than `_PIPELINE` batches at work first: another node's next batch is then
        on its way while one runs there. The local node once every node was lost.

        With the default max_concurrency, a node takes no more than `_PIPELINE` batches,
        and one at a time while its items are CPU-bound (`_CPU_BOUND_SHARE`): None when
        every node has its fill."""
        live = [n for n in self.nodes if n not in self.lost]
        if not live:
            return node()
        if self.adaptive:
            live = [n for n in live if self.working_on.get(n, 0) < self._fill(n)]
            if not live:
                return None
        return min(live, key=lambda n: (self.working_on.get(n, 0) >= _PIPELINE,
                                        self.queued.get(n, 0)))

    def _fill(self, where: str) -> int:
        return 1 if self.cpu_share.get(where, 0.0) >= _CPU_BOUND_SHARE else _PIPELINE

    def started(self, batch: _Batch) -> None:
        self.batches[batch.reply_to] = self.watched[batch.monitor] = batch
        self.working += 1
        self.working_on[batch.node] = self.working_on.get(batch.node, 0) + 1
        self.queued[batch.node] = self.queued.get(batch.node, 0) + len(batch.values)

    def finished(self, batch: _Batch) -> None:
        """``batch`` no longer holds a slot (answered, failed or killed)."""
        self.working -= 1
        self.working_on[batch.node] -= 1

    def ended(self, batch: _Batch) -> None:
        """``batch``'s process is gone (or killed): forget it, and its alias."""
        del self.batches[batch.reply_to], self.watched[batch.monitor]
        unalias(batch.reply_to)

    def size(self, where: str, remaining: int | None) -> int:
        """How many items the next batch for ``where`` takes: what fills its target time
        there (longer on a node given one batch at a time), and when the input's length is
        known, at most a share of what is left (guided self-scheduling: the last batches
        are small, so no node ends long after the others)."""
        per_item = self.per_item.get(where)
        if per_item is None:
            return 1
        target = _TARGET_BATCH_SECONDS if where == node() else _TARGET_REMOTE_BATCH_SECONDS
        if self.adaptive and self._fill(where) == 1:
            target *= _ONE_AT_A_TIME_LONGER
        size = min(_MAX_BATCH, int(target / max(per_item, 1e-7)))
        if remaining is not None:
            size = min(size, remaining // (2 * len(self.nodes)))
        return max(1, size)

    def long_items(self, where: str) -> bool:
        """Whether the items have taken `_LONG_ITEM_SECONDS` or more each on ``where``."""
        return self.per_item.get(where, 0.0) >= _LONG_ITEM_SECONDS

    def answered(self, batch: _Batch, count: int, effort: tuple[float, float]) -> None:
        """``count`` more items of ``batch`` answered, ``effort`` (busy seconds, CPU
        seconds of long items) into its work."""
        busy, cpu = effort
        batch.answered += count
        self.queued[batch.node] = self.queued.get(batch.node, 0) - count
        if batch.answered:
            self.per_item[batch.node] = busy / batch.answered
        if busy > 0.0:
            self.cpu_share[batch.node] = cpu / busy
        if batch.answered == len(batch.values):
            self.finished(batch)   # its last item is done: its process is only ending now

    def requeue(self, batch: _Batch) -> None:
        """The items of ``batch`` after its first unanswered one: to be started again."""
        after = batch.answered + 1
        rest = list(zip(batch.indices[after:], batch.values[after:], strict=True))
        self.queued[batch.node] = self.queued.get(batch.node, 0) - (len(rest) + 1)
        if rest:
            self.retry = sorted(self.retry + rest, key=lambda e: e[0])


async def _spread(enumerable: Any, fn: Callable[..., Any],
                  start_batch: BatchStarter,
                  nodes: list[str], max_concurrency: int, adaptive: bool, ordered: bool,
                  timeout: float | None, on_timeout: str,
                  zip_input: bool) -> AsyncIterator[tuple[str, Any]]:
    total: int | None = None     # the input's length, when it has one
    if hasattr(enumerable, "__aiter__"):
        source: Any = enumerable.__aiter__()
        pull_async = True
    else:
        if hasattr(enumerable, "__len__"):
            total = len(enumerable)
        source = iter(enumerable)
        pull_async = False
    me = self_pid()
    state = _Spread(nodes, adaptive)
    batches, watched = state.batches, state.watched
    # ordered: results that came before their turn, by runs of consecutive indices (a
    # batch's chunk is one run: no work per result), keyed by the first index of each
    done: dict[int, list[tuple[Any, ...]]] = {}
    ready: list[tuple[Any, ...]] = []            # results to yield now, in their order
    next_in = 0
    next_out = 0      # ordered: the index of the next result to yield (or put in ready)
    exhausted = False

    def ours(m: Any) -> bool:
        c = m.__class__
        if c is tuple:
            return len(m) == 4 and m[0].__class__ is Ref and m[0] in batches
        return c is Down and m.ref in watched

    def emit(index: int, result: tuple[Any, ...]) -> None:
        if ordered:
            done[index] = [result]
        else:
            ready.append(result)

    def answered(batch: _Batch, chunk: list[Any], effort: tuple[float, float]) -> None:
        first = batch.answered
        results = list(zip(repeat("ok"), chunk))   # ("ok", value) each, made in C
        if not ordered:
            ready.extend(results)
        elif results and batch.indices.__class__ is range:
            done[batch.indices[first]] = results
        else:  # (items started again after a failure need not be consecutive; or none came)
            places = batch.indices[first:first + len(results)]
            for index, result in zip(places, results, strict=True):
                done[index] = [result]
        state.answered(batch, len(chunk), effort)

    def failed(batch: _Batch, reason: Any) -> None:
        index, x = batch.indices[batch.answered], batch.values[batch.answered]
        emit(index, ("exit", (x, reason) if zip_input else reason))
        state.requeue(batch)

    try:
        while True:
            while state.working < max_concurrency and (state.retry or not exhausted):
                where = state.pick()
                if where is None:
                    break     # every node has its fill (see `_Spread.pick`)
                size = state.size(where, None if total is None
                                  else total - next_in + len(state.retry))
                retried, state.retry = state.retry[:size], state.retry[size:]
                wanted = size - len(retried)
                pulled: list[Any] = []
                if wanted > 0 and not exhausted and not pull_async:
                    pulled = list(islice(source, wanted))   # in C: no loop per item here
                    exhausted = len(pulled) < wanted
                while len(pulled) < wanted and not exhausted:
                    try:
                        pulled.append(await source.__anext__())
                    except StopAsyncIteration:
                        exhausted = True
                fresh = range(next_in, next_in + len(pulled))
                next_in += len(pulled)
                indices: range | list[int] = fresh
                values = pulled
                if retried:
                    indices = [index for index, _ in retried] + list(fresh)
                    values = [x for _, x in retried] + pulled
                if not values:
                    break
                started = await _start(start_batch, fn, where, indices, values,
                                       state.long_items(where))
                state.started(_Batch(where, started, indices, values))
            if ready:
                for result in ready:
                    yield result
                ready.clear()
                continue
            if ordered and next_out in done:
                while next_out in done:
                    run = done.pop(next_out)
                    ready.extend(run)
                    next_out += len(run)
                continue
            if not batches:
                return
            msg = await receive(ours)
            if msg.__class__ is Down:
                batch = watched[msg.ref]
                state.ended(batch)
                _forget_exit(batch.pid)
                if batch.answered < len(batch.values):
                    state.finished(batch)
                    if msg.reason == "noconnection":
                        state.lost.add(batch.node)
                    failed(batch, msg.reason)
                continue
            ref, kind, chunk, effort = msg
            batch = batches[ref]
            answered(batch, unpack(chunk), effort)
            if kind == "timeout" and batch.answered < len(batch.values):
                if on_timeout == "exit":
                    raise ProcessExit(("timeout", (TaskSupervised, "stream", [timeout])))
                state.ended(batch)
                state.finished(batch)
                demonitor(batch.monitor, flush=True)
                unlink(batch.pid)
                _forget_exit(batch.pid)
                Process.exit(batch.pid, "kill")
                failed(batch, "timeout")
    finally:
        if batches:
            _stop_stream(me, {ref: [None, b.pid] for ref, b in watched.items()}, ours,
                         list(batches))
            batches.clear()
            watched.clear()


async def _start(start_batch: BatchStarter, fn: Callable[..., Any], where: str,
                 indices: range | list[int], values: list[Any], long_items: bool) -> Started:
    """Start a batch on ``where``; what cannot travel there is named in the ValueError."""
    try:
        return await start_batch(where, values, long_items)
    except ValueError as error:
        what = _what_cannot_travel(fn, list(zip(indices, values, strict=True)))
        raise ValueError(f"async_stream: cannot start a task on {where}: "
                         f"{what or error}") from None


def _what_cannot_travel(fn: Callable[..., Any], items: list[tuple[int, Any]]) -> str | None:
    """Which of ``fn`` and the items cannot be pickled (with cloudpickle when installed)."""
    try:
        import cloudpickle  # type: ignore[import-untyped]

        dumps: Callable[[Any], bytes] = cloudpickle.dumps
    except ImportError:
        dumps = pickle.dumps
    try:
        dumps(fn)
    except Exception as error:  # noqa: BLE001 - what pickling says, quoted
        return f"the function {fn!r} cannot be pickled: {error}"
    for index, x in items:
        try:
            dumps(x)
        except Exception as error:  # noqa: BLE001
            return f"item {x!r} (input #{index}) cannot be pickled: {error}"
    return None
