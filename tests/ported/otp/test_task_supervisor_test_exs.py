"""Elixir 1.14's lib/elixir/test/elixir/task/supervisor_test.exs, translated to beamlet.

Each test names the original ExUnit test in its docstring; the original's setup (a task
supervisor per test) is `with_sup`. Global / via names, throws, the MFA variants and
FunctionClauseError on malformed MFA arguments are listed in tests/ported/README.md.
"""

from __future__ import annotations

import pytest

import beamlet
from beamlet import (
    ANY,
    Down,
    DynamicSupervisor,
    Exit,
    Pid,
    Process,
    Ref,
    Supervisor,
    Task,
    TaskSupervisor,
    flush,
    monitor,
    receive,
    self_pid,
    send,
    sleep,
    yield_turn,
)
from beamlet.testing import settle
from helpers import caught_exit, initial_call, quiet, run, sleeper, take, to_list, wait_and_send


async def yield_and_exit(value):
    # The original yields first so that the parent gets a chance to monitor.
    await yield_turn()
    beamlet.exit(value)


def with_sup(body):
    """The original's setup: a fresh TaskSupervisor for the test body."""
    async def main():
        _, sup = await TaskSupervisor.start_link()
        return await body(sup)
    return run(main)








def test_can_be_supervised_directly():
    """task/supervisor_test.exs: 'can be supervised directly'."""
    async def main():
        ok, _ = await Supervisor.start_link([(TaskSupervisor, {"name": "tsup_direct"})],
                                            strategy="one_for_one")
        return ok, isinstance(Process.whereis("tsup_direct"), Pid)

    assert run(main) == ("ok", True)


def test_start_with_spawn_opt():
    """task/supervisor_test.exs: 'start with spawn_opt' (priority=)."""
    async def main():
        _, pid = await TaskSupervisor.start_link(priority="high")
        return Process.info(pid, "priority")

    assert run(main) == "high"


def test_multiple_supervisors_can_be_supervised_and_identified_with_simple_child_spec():
    """task/supervisor_test.exs: 'multiple supervisors can be supervised and identified with
    simple child spec' (the local name and the unnamed one)."""
    async def main():
        children = [(TaskSupervisor, {"strategy": "one_for_one", "name": "simple_name"})]
        _, supsup = await Supervisor.start_link(children, strategy="one_for_one")
        ok, no_name = await Supervisor.start_child(supsup, (TaskSupervisor,
                                                            {"strategy": "one_for_one"}))
        return [ok, await TaskSupervisor.children("simple_name"),
                await TaskSupervisor.children(no_name),
                await Supervisor.start_child(supsup, (TaskSupervisor, {"strategy": "one_for_one"}))
                == ("error", ("already_started", no_name))]

    assert run(main) == ["ok", [], [], True]


def test_counts_and_returns_children():
    """task/supervisor_test.exs: 'counts and returns children'."""
    async def body(sup):
        return [await TaskSupervisor.children(sup), await Supervisor.count_children(sup),
                await DynamicSupervisor.count_children(sup)]

    zero = {"active": 0, "specs": 0, "supervisors": 0, "workers": 0}
    assert with_sup(body) == [[], zero, zero]


@pytest.mark.parametrize("linked", [True, False], ids=["async", "async_nolink"])
def test_spawns_tasks_under_the_supervisor(linked):
    """task/supervisor_test.exs: async/1 'spawns tasks under the supervisor' and
    async_nolink/1 'spawns a task under the supervisor without linking to the caller'."""
    async def body(sup):
        parent = self_pid()

        async def fun():
            return await wait_and_send(parent, "done")

        start = TaskSupervisor.async_ if linked else TaskSupervisor.async_nolink
        task = await start(sup, fun)
        out = [await TaskSupervisor.children(sup) == [task.pid], isinstance(task, Task),
               isinstance(task.pid, Pid), isinstance(task.ref, Ref),
               task.pid in Process.info(self_pid(), "links")]
        await receive("ready")
        out.append(initial_call(task.pid) == (fun, 0))
        send(task.pid, True)
        out.append(await receive((task.ref, ANY), timeout=1.0) == (task.ref, "done"))
        out.append(await receive(Down(task.ref, ANY, ANY), timeout=1.0) ==
                   Down(task.ref, task.pid, "normal"))
        return out

    assert with_sup(body) == [True, True, True, True, linked, True, True, True]


@pytest.mark.parametrize("linked", [True, False], ids=["async", "async_nolink"])
def test_async_with_custom_shutdown(linked):
    """task/supervisor_test.exs: async/1 and async_nolink/1 'with custom shutdown'."""
    async def body(sup):
        Process.flag("trap_exit", True)
        parent = self_pid()
        start = TaskSupervisor.async_ if linked else TaskSupervisor.async_nolink
        task = await start(sup, wait_and_send, parent, "done", shutdown="brutal_kill")
        Process.exit(sup, "shutdown")
        return (await receive(Down(ANY, task.pid, ANY), timeout=1.0)).reason

    assert with_sup(body) == "killed"


@pytest.mark.parametrize("linked", [True, False], ids=["async", "async_nolink"])
def test_async_raises_when_max_children_is_reached(linked):
    """task/supervisor_test.exs: async/1 and async_nolink/1 'raises when :max_children is
    reached'."""
    async def main():
        _, sup = await TaskSupervisor.start_link(max_children=1)
        start = TaskSupervisor.async_ if linked else TaskSupervisor.async_nolink
        await start(sup, sleep, None)
        with pytest.raises(RuntimeError, match="reached the maximum number of tasks"):
            await start(sup, lambda: "ok")
        return "ok"

    assert run(main) == "ok"


def test_async_with_callers():
    """task/supervisor_test.exs: async/1 'with $callers' (and $ancestors)."""
    async def body(sup):
        grandparent = self_pid()

        async def outer():
            parent = self_pid()
            first = (Process.get("$callers") == [grandparent],
                     Process.get("$ancestors") == [sup, grandparent])

            def inner():
                return (Process.get("$callers") == [parent, grandparent],
                        Process.get("$ancestors") == [sup, grandparent])

            return first, await Task.await_(await TaskSupervisor.async_(sup, inner))

        return await Task.await_(await TaskSupervisor.async_(sup, outer))

    assert with_sup(body) == ((True, True), (True, True))


@pytest.mark.parametrize("linked", [True, False], ids=["async/3", "async_nolink/3"])
def test_async_3(linked):
    """task/supervisor_test.exs: 'async/3' and 'async_nolink/3'."""
    async def body(sup):
        start = TaskSupervisor.async_ if linked else TaskSupervisor.async_nolink
        task = await start(sup, wait_and_send, self_pid(), "done")
        children = await TaskSupervisor.children(sup) == [task.pid]
        await receive("ready")
        call = initial_call(task.pid)
        send(task.pid, True)
        return children, call, await Task.await_(task)

    assert with_sup(body) == (True, (wait_and_send, 2), "done")


@pytest.mark.parametrize("with_args", [False, True], ids=["start_child/1", "start_child/3"])
def test_start_child(with_args):
    """task/supervisor_test.exs: 'start_child/1' and 'start_child/3'."""
    async def body(sup):
        parent = self_pid()

        async def fun():
            await wait_and_send(parent, "done")

        fn, args, arity = (wait_and_send, (parent, "done"), 2) if with_args else (fun, (), 0)
        _, pid = await TaskSupervisor.start_child(sup, fn, *args)
        out = [await TaskSupervisor.children(sup) == [pid],
               pid in Process.info(self_pid(), "links")]
        await receive("ready")
        out.append(initial_call(pid)[1] == arity)
        send(pid, True)
        out.append(await receive("done", timeout=1.0))
        return out

    assert with_sup(body) == [True, False, True, "done"]


def test_start_child_with_custom_shutdown():
    """task/supervisor_test.exs: 'start_child/1 with custom shutdown'."""
    async def body(sup):
        Process.flag("trap_exit", True)
        _, pid = await TaskSupervisor.start_child(sup, wait_and_send, self_pid(), "done",
                                                  shutdown="brutal_kill")
        ref = monitor(pid)
        Process.exit(sup, "shutdown")
        return (await receive(Down(ref, ANY, ANY), timeout=1.0)).reason

    assert with_sup(body) == "killed"


def test_start_child_with_custom_restart():
    """task/supervisor_test.exs: 'start_child/1 with custom restart' (a permanent task is
    restarted after a shutdown exit)."""
    quiet()

    async def body(sup):
        _, pid = await TaskSupervisor.start_child(sup, wait_and_send, self_pid(), "done",
                                                  restart="permanent")
        await receive("ready", timeout=1.0)
        ref = monitor(pid)
        Process.exit(pid, "shutdown")
        reason = (await receive(Down(ref, ANY, ANY), timeout=1.0)).reason
        return reason, await receive("ready", timeout=1.0)

    assert with_sup(body) == ("shutdown", "ready")


def test_start_child_with_callers():
    """task/supervisor_test.exs: 'start_child/1 with $callers'."""
    async def body(sup):
        grandparent = self_pid()

        async def outer():
            parent = self_pid()
            first = (Process.get("$callers") == [grandparent],
                     Process.get("$ancestors") == [sup, grandparent])

            def inner():
                send(grandparent, (first, Process.get("$callers") == [parent, grandparent],
                                   Process.get("$ancestors") == [sup, grandparent]))

            await TaskSupervisor.start_child(sup, inner)

        await TaskSupervisor.start_child(sup, outer)
        return await receive(tuple, timeout=1.0)

    assert with_sup(body) == ((True, True), True, True)


def test_terminate_child_2():
    """task/supervisor_test.exs: 'terminate_child/2'."""
    async def body(sup):
        _, pid = await TaskSupervisor.start_child(sup, wait_and_send, self_pid(), "done")
        return [await TaskSupervisor.children(sup) == [pid],
                await TaskSupervisor.terminate_child(sup, pid),
                await TaskSupervisor.children(sup),
                await TaskSupervisor.terminate_child(sup, pid)]

    assert with_sup(body) == [True, "ok", [], ("error", "not_found")]


def test_await_demonitors_and_unalias_on_timeout():
    """task/supervisor_test.exs: await/1 'demonitors and unalias on timeout'."""
    async def body(sup):
        async def fun():
            await receive("go")
            return "done"

        task = await TaskSupervisor.async_(sup, fun)
        timed_out = await caught_exit(Task.await_(task, 0)) == \
            ("timeout", (Task, "await", [task, 0]))
        new_ref = monitor(task.pid)
        send(task.pid, "go")
        await receive(Down(new_ref, ANY, ANY), timeout=1.0)
        return timed_out, flush((task.ref, ANY), Down(task.ref, ANY, ANY))

    assert with_sup(body) == (True, [])


def test_await_exits_on_task_error_and_exit():
    """task/supervisor_test.exs: await/1 'exits on task error' and 'exits on task exit'."""
    quiet()

    async def body(sup):
        Process.flag("trap_exit", True)

        def fun():
            raise RuntimeError("oops")

        task = await TaskSupervisor.async_(sup, fun)
        reason, where = await caught_exit(Task.await_(task))
        raised = (type(reason), where == (Task, "await", [task, 5.0]))
        task = await TaskSupervisor.async_(sup, beamlet.exit, "unknown")
        exited = await caught_exit(Task.await_(task)) == ("unknown", (Task, "await", [task, 5.0]))
        return raised, exited

    assert with_sup(body) == ((RuntimeError, True), True)


# --------------------------------------------------------------------------- async_stream
STREAMS = pytest.mark.parametrize("nolink", [False, True], ids=["async_stream",
                                                                "async_stream_nolink"])


def _stream(sup, nolink, items, fun, **opts):
    if nolink:
        return TaskSupervisor.async_stream_nolink(sup, items, fun, max_concurrency=4, **opts)
    return TaskSupervisor.async_stream(sup, items, fun, **opts)


@STREAMS
def test_streams_an_enumerable_with_fun(nolink):
    """task/supervisor_test.exs: async_stream / async_stream_nolink 'streams an enumerable
    with fun' and 'streams an enumerable without leaking tasks'."""
    async def body(sup):
        items = await to_list(_stream(sup, nolink, range(1, 5), sleeper))
        return items, flush()

    assert with_sup(body) == ([("ok", n) for n in range(1, 5)], [])


@STREAMS
def test_streams_an_enumerable_with_slowest_first(nolink):
    """task/supervisor_test.exs: async_stream / async_stream_nolink 'streams an enumerable
    with slowest first'."""
    async def body(sup):
        if not nolink:
            Process.flag("trap_exit", True)
        return await to_list(_stream(sup, nolink, range(4, 0, -1), sleeper))

    assert with_sup(body) == [("ok", n) for n in range(4, 0, -1)]


@STREAMS
def test_streams_an_enumerable_with_exits(nolink):
    """task/supervisor_test.exs: async_stream / async_stream_nolink 'streams an enumerable
    with exits' (the linked one traps exits, the nolink one need not)."""
    quiet()

    async def body(sup):
        if not nolink:
            Process.flag("trap_exit", True)
        items = await to_list(_stream(sup, nolink, [str(n) for n in range(1, 5)],
                                      yield_and_exit))
        return items, flush(Exit)

    assert with_sup(body) == ([("exit", str(n)) for n in range(1, 5)], [])


@STREAMS
def test_shuts_down_unused_tasks(nolink):
    """task/supervisor_test.exs: async_stream / async_stream_nolink 'shuts down unused
    tasks' and '... without leaking messages' (the caller stays linked to the supervisor
    only)."""
    async def body(sup):
        first = await take(_stream(sup, nolink, [0, "infinity", "infinity", "infinity"],
                                   sleeper), 1)
        links = Process.info(self_pid(), "links")
        await settle()
        return first, links == [sup], flush(), await TaskSupervisor.children(sup)

    assert with_sup(body) == ([("ok", 0)], True, [], [])


@STREAMS
def test_raises_if_max_children_is_reached_with_clean_stream_shutdown(nolink):
    """task/supervisor_test.exs: async_stream / async_stream_nolink 'raises an error if
    :max_children is reached with clean stream shutdown'."""
    async def body(unused):
        _, sup = await TaskSupervisor.start_link(max_children=1)
        stream = (TaskSupervisor.async_stream_nolink if nolink else TaskSupervisor.async_stream)(
            sup, ["infinity"] * 3, sleeper, max_concurrency=2)
        with pytest.raises(RuntimeError, match="reached the maximum number of tasks"):
            await to_list(stream)
        links = set(Process.info(self_pid(), "links"))
        await settle()
        return links == {unused, sup}, flush(), await TaskSupervisor.children(sup)

    assert with_sup(body) == (True, [], [])


def test_async_stream_with_callers():
    """task/supervisor_test.exs: async_stream 'with $callers'."""
    async def body(sup):
        grandparent = self_pid()

        async def outer(_):
            parent = self_pid()
            first = (Process.get("$callers") == [grandparent],
                     Process.get("$ancestors") == [sup, grandparent])

            def inner(_):
                send(grandparent, (first, Process.get("$callers") == [parent, grandparent],
                                   Process.get("$ancestors") == [sup, grandparent]))

            await to_list(TaskSupervisor.async_stream(sup, [1], inner))

        await to_list(TaskSupervisor.async_stream(sup, [1], outer))
        return await receive(tuple, timeout=1.0)

    assert with_sup(body) == ((True, True), True, True)


def test_async_stream_consuming_from_another_process():
    """task/supervisor_test.exs: async_stream 'consuming from another process'."""
    async def body(sup):
        parent = self_pid()
        stream = TaskSupervisor.async_stream(sup, [1, 2, 3], lambda x: send(parent, x))
        Task.start(to_list, stream)
        return [await receive(n, timeout=1.0) for n in (1, 2, 3)]

    assert with_sup(body) == [1, 2, 3]
