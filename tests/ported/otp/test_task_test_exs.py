"""Elixir 1.14's lib/elixir/test/elixir/task_test.exs, translated to beamlet.

Each test names the original ExUnit test in its docstring. Sleeps are the original's, in
milliseconds, given to `sleeper` (they are the behaviour under test: tasks that take that
long); the ordering tests scale 100 ms steps down to 20 ms. ``Enum.take`` is `take` (which
closes the stream, as Enum.take halts it), ``Enum.zip(s, s)`` of one Elixir stream (a recipe
run twice) is two streams consumed in turns. Throws, undefined functions, the MFA variants,
``mfa`` fields and `:proc_lib` name translation: see tests/ported/README.md.
"""

from __future__ import annotations

import itertools
from contextlib import aclosing

import pytest

import beamlet
from beamlet import (
    ANY,
    Down,
    Exit,
    Pid,
    Process,
    Ref,
    Supervisor,
    Task,
    TaskSupervised,
    flush,
    make_ref,
    node,
    receive,
    self_pid,
    send,
    sleep,
    spawn,
    spawn_monitor,
)
from beamlet.testing import settle, wait_dead
from helpers import caught_exit, initial_call, quiet, run, sleeper, take, to_list, wait_and_send

# --------------------------------------------------------------------------- helpers


async def create_task_in_other_process():
    caller = self_pid()
    spawn(lambda: send(caller, Task.async_(lambda: None)))
    return await receive(Task)


async def create_dummy_task(reason):
    pid, ref = spawn_monitor(beamlet.exit, reason)
    await receive(Down(ref, ANY, ANY))
    return Task(self_pid(), pid, ref)


def fake_task(pid=None, owner=None):
    return Task(owner or self_pid(), pid, make_ref())




async def wait_until_down(task):
    await wait_dead(task.pid)








# --------------------------------------------------------------------------- basics
def test_doctest_task():
    """task_test.exs: 'doctest Task' (async/await, await_many, and async_stream reduced)."""
    async def main():
        strings = ["long string", "longer string", "there are many of these"]
        total = 0
        async for status, num in Task.async_stream(strings, lambda text: len(text)):
            assert status == "ok"
            total += num
        task = Task.async_(lambda: 1 + 1)
        one = await Task.await_(task)
        tasks = [Task.async_(lambda: 1 + 1), Task.async_(lambda: 2 + 3)]
        return total, one, await Task.await_many(tasks)

    assert run(main) == (47, 2, [2, 5])


def test_can_be_supervised_directly():
    """task_test.exs: 'can be supervised directly'."""
    async def main():
        return (await Supervisor.start_link([(Task, lambda: "ok")], strategy="one_for_one"))[0]

    assert run(main) == "ok"


class MyTask(Task):
    @staticmethod
    def start_link(arg):
        return Task.start_link(lambda: arg)


class CustomTask(MyTask):
    restart = "permanent"
    child_shutdown = "infinity"


def test_generates_child_spec():
    """task_test.exs: 'generates child_spec/1' (`use Task` is a subclass defining
    start_link; its restart / shutdown options are class attributes)."""
    spec = MyTask.child_spec(["hello"])
    assert (spec["id"], spec["restart"], spec["start"]) == \
        (MyTask, "temporary", (MyTask.start_link, (["hello"],)))
    spec = CustomTask.child_spec(["hello"])
    assert (spec["id"], spec["restart"], spec["shutdown"]) == \
        (CustomTask, "permanent", "infinity")


def test_async_1():
    """task_test.exs: 'async/1' (the struct, the link, the initial call, the reply and the
    normal Down)."""
    async def main():
        parent = self_pid()

        async def fun():
            return await wait_and_send(parent, "done")

        task = Task.async_(fun)
        out = [isinstance(task.pid, Pid), isinstance(task.ref, Ref), task.owner == parent,
               task.pid in Process.info(self_pid(), "links")]
        await receive("ready")
        out.append(initial_call(task.pid) == (fun, 0))
        send(task.pid, True)
        out.append(await receive((task.ref, ANY), timeout=1.0))
        out.append(await receive(Down(task.ref, ANY, ANY), timeout=1.0) ==
                   Down(task.ref, task.pid, "normal"))
        return out, task.ref

    out, ref = run(main)
    assert out == [True, True, True, True, True, (ref, "done"), True]


def test_async_3():
    """task_test.exs: 'async/3' (function and arguments)."""
    async def main():
        task = Task.async_(wait_and_send, self_pid(), "done")
        linked = task.pid in Process.info(self_pid(), "links")
        await receive("ready")
        call = initial_call(task.pid)
        send(task.pid, True)
        return linked, call, await Task.await_(task), await receive("done", timeout=1.0)

    assert run(main) == (True, (wait_and_send, 2), "done", "done")


def test_async_with_callers():
    """task_test.exs: 'async with $callers'."""
    async def main():
        grandparent = self_pid()

        async def outer():
            parent = self_pid()
            first = Process.get("$callers")
            inner = await Task.async_(lambda: Process.get("$callers"))
            return first == [grandparent], inner == [parent, grandparent]

        return await Task.async_(outer)

    assert run(main) == (True, True)


def started_twice(start):
    """What `start` (Task.start or Task.start_link) gives for a fun and for an MFA-like
    function: [linked to the caller, the initial call's arity is right, the task ran] each."""
    async def main():
        parent = self_pid()

        async def fun():
            await wait_and_send(parent, "done")

        out = []
        for fn, args, arity in [(fun, (), 0), (wait_and_send, (parent, "done"), 2)]:
            _, pid = start(fn, *args)
            out.append(pid in Process.info(self_pid(), "links"))
            await receive("ready")
            out.append(initial_call(pid)[1] == arity)
            send(pid, True)
            out.append(await receive("done", timeout=1.0))
        return out

    return run(main)


def test_start_1_and_start_3():
    """task_test.exs: 'start/1' and 'start/3' (not linked; the initial call)."""
    assert started_twice(Task.start) == [False, True, "done"] * 2


def test_completed_1():
    """task_test.exs: 'completed/1'."""
    async def main():
        task = Task.completed("done")
        return task.pid, await Task.await_(task)

    assert run(main) == (None, "done")


def test_start_link_1_and_start_link_3():
    """task_test.exs: 'start_link/1' and 'start_link/3' (linked; the initial call)."""
    assert started_twice(Task.start_link) == [True, True, "done"] * 2


def test_start_link_with_callers():
    """task_test.exs: 'start_link with $callers'."""
    async def main():
        grandparent = self_pid()

        def outer():
            parent = self_pid()
            first = Process.get("$callers") == [grandparent]
            Task.start_link(lambda: send(grandparent, (
                first, Process.get("$callers") == [parent, grandparent])))

        Task.start_link(outer)
        return await receive(tuple, timeout=1.0)

    assert run(main) == (True, True)


# --------------------------------------------------------------------------- ignore/1
def test_ignore_discards_on_time_replies():
    """task_test.exs: ignore/1 'discards on time replies'."""
    async def main():
        task = Task.async_(lambda: "ok")
        await wait_until_down(task)
        return (await Task.ignore(task), await caught_exit(Task.await_(task, 0)) ==
                ("timeout", (Task, "await", [task, 0])))

    assert run(main) == (("ok", "ok"), True)


def test_ignore_discards_late_replies():
    """task_test.exs: ignore/1 'discards late replies'."""
    async def main():
        async def fun():
            await receive("go")
            return "ok"

        task = Task.async_(fun)
        ignored = await Task.ignore(task)
        send(task.pid, "go")
        await wait_until_down(task)
        return ignored, await caught_exit(Task.await_(task, 0)) == \
            ("timeout", (Task, "await", [task, 0]))

    assert run(main) == (None, True)


def test_ignore_discards_on_time_failures():
    """task_test.exs: ignore/1 'discards on-time failures'."""
    async def main():
        Process.flag("trap_exit", True)
        task = Task.async_(beamlet.exit, "oops")
        await wait_until_down(task)
        return await Task.ignore(task), await caught_exit(Task.await_(task, 0)) == \
            ("timeout", (Task, "await", [task, 0]))

    assert run(main) == (("exit", "oops"), True)


def test_ignore_discards_late_failures():
    """task_test.exs: ignore/1 'discards late failures'."""
    async def main():
        async def fun():
            await receive("go")
            beamlet.exit("oops")

        task = Task.async_(fun)
        ignored = await Task.ignore(task)
        send(task.pid, "go")
        await wait_until_down(task)
        return ignored, await caught_exit(Task.await_(task, 0)) == \
            ("timeout", (Task, "await", [task, 0]))

    assert run(main) == (None, True)


def test_ignore_exits_on_noconnection():
    """task_test.exs: ignore/1 'exits on :noconnection'."""
    async def main():
        task = fake_task(pid=self_pid())
        send(self_pid(), Down(task.ref, self_pid(), "noconnection"))
        return (await caught_exit(Task.ignore(task)))[0]

    assert run(main) == ("nodedown", "nonode@nohost")


# --------------------------------------------------------------------------- await/2
def test_await_demonitors_and_unalias_on_timeout():
    """task_test.exs: await/2 'demonitors and unalias on timeout'."""
    async def main():
        async def fun():
            await receive("go")
            return "done"

        task = Task.async_(fun)
        timed_out = await caught_exit(Task.await_(task, 0)) == \
            ("timeout", (Task, "await", [task, 0]))
        send(task.pid, "go")
        await wait_until_down(task)
        return timed_out, flush((task.ref, ANY), Down(task.ref, ANY, ANY))

    assert run(main) == (True, [])


def test_await_exits_on_timeout():
    """task_test.exs: await/2 'exits on timeout'."""
    async def main():
        task = fake_task()
        return await caught_exit(Task.await_(task, 0)) == ("timeout", (Task, "await", [task, 0]))

    assert run(main) is True


def test_await_exits_on_normal_exit():
    """task_test.exs: await/2 'exits on normal exit'."""
    async def main():
        task = Task.async_(beamlet.exit, "normal")
        return await caught_exit(Task.await_(task)) == ("normal", (Task, "await", [task, 5.0]))

    assert run(main) is True


def test_await_exits_on_task_error():
    """task_test.exs: await/2 'exits on task error' (the reason is the exception)."""
    quiet()

    async def main():
        Process.flag("trap_exit", True)

        def fun():
            raise RuntimeError("oops")

        task = Task.async_(fun)
        reason, where = await caught_exit(Task.await_(task))
        return type(reason), where == (Task, "await", [task, 5.0])

    assert run(main) == (RuntimeError, True)


def test_await_exits_on_task_exit():
    """task_test.exs: await/2 'exits on task exit'."""
    quiet()

    async def main():
        Process.flag("trap_exit", True)
        task = Task.async_(beamlet.exit, "unknown")
        return await caught_exit(Task.await_(task)) == ("unknown", (Task, "await", [task, 5.0]))

    assert run(main) is True


def test_await_exits_on_noconnection():
    """task_test.exs: await/2 'exits on :noconnection' and '... from named monitor'."""
    async def main():
        task = fake_task(pid=self_pid())
        send(self_pid(), Down(task.ref, self_pid(), "noconnection"))
        by_pid = (await caught_exit(Task.await_(task)))[0]
        task = fake_task()
        send(self_pid(), Down(task.ref, ("name", "node"), "noconnection"))
        by_name = (await caught_exit(Task.await_(task)))[0]
        return by_pid, by_name

    assert run(main) == (("nodedown", node()), ("nodedown", "node"))


def _non_owner_message(task):
    return (f"task {task!r} must be queried from the owner but was queried from "
            f"{self_pid()!r}")


def test_await_raises_when_invoked_from_a_non_owner_process():
    """task_test.exs: await/2 'raises when invoked from a non-owner process'."""
    async def main():
        task = await create_task_in_other_process()
        with pytest.raises(ValueError) as e:
            await Task.await_(task, 0.001)
        return str(e.value) == _non_owner_message(task)

    assert run(main) is True


# --------------------------------------------------------------------------- await_many/2
def test_await_many_returns_list_of_replies():
    """task_test.exs: await_many/2 'returns list of replies'."""
    async def main():
        return await Task.await_many([Task.async_(lambda v=v: v) for v in [1, 3, 9]])

    assert run(main) == [1, 3, 9]


def test_await_many_returns_replies_in_input_order_ignoring_response_order():
    """task_test.exs: await_many/2 'returns replies in input order ignoring response order'."""
    async def main():
        tasks = [fake_task() for _ in range(3)]
        send(self_pid(), (tasks[1].ref, 3))
        send(self_pid(), (tasks[2].ref, 9))
        send(self_pid(), (tasks[0].ref, 1))
        return await Task.await_many(tasks)

    assert run(main) == [1, 3, 9]


def test_await_many_returns_an_empty_list_immediately():
    """task_test.exs: await_many/2 'returns an empty list immediately'."""
    async def main():
        return await Task.await_many([])

    assert run(main) == []


def test_await_many_ignores_messages_from_other_processes():
    """task_test.exs: await_many/2 'ignores messages from other processes'."""
    async def main():
        other = make_ref()
        tasks = [Task.async_(lambda v=v: v) for v in "ab"]
        send(self_pid(), other)
        send(self_pid(), (other, "z"))
        send(self_pid(), Down(other, 1, "goodbye"))
        results = await Task.await_many(tasks)
        return results, flush() == [other, (other, "z"), Down(other, 1, "goodbye")]

    assert run(main) == (["a", "b"], True)


def test_await_many_ignores_additional_messages_after_reply():
    """task_test.exs: await_many/2 'ignores additional messages after reply'."""
    async def main():
        tasks = [fake_task() for _ in range(2)]
        send(self_pid(), (tasks[1].ref, "b"))
        send(self_pid(), (tasks[1].ref, "other"))
        send(self_pid(), (tasks[0].ref, "a"))
        return await Task.await_many(tasks), flush() == [(tasks[1].ref, "other")]

    assert run(main) == (["a", "b"], True)


def test_await_many_exits_on_timeout():
    """task_test.exs: await_many/2 'exits on timeout'."""
    async def main():
        tasks = [Task.async_(sleep, None)]
        return await caught_exit(Task.await_many(tasks, 0)) == \
            ("timeout", (Task, "await_many", [tasks, 0]))

    assert run(main) is True


def test_await_many_exits_with_same_reason_when_task_exits():
    """task_test.exs: await_many/2 'exits with same reason when task exits' and 'exits
    immediately when any task exits'."""
    async def main():
        tasks = [Task.async_(beamlet.exit, "normal")]
        one = await caught_exit(Task.await_many(tasks)) == \
            ("normal", (Task, "await_many", [tasks, 5.0]))
        tasks = [Task.async_(sleep, None), Task.async_(beamlet.exit, "normal")]
        any_ = await caught_exit(Task.await_many(tasks)) == \
            ("normal", (Task, "await_many", [tasks, 5.0]))
        return one, any_

    assert run(main) == (True, True)


def test_await_many_exits_immediately_when_any_task_crashes():
    """task_test.exs: await_many/2 'exits immediately when any task crashes' (and leaves no
    monitor behind: killing the tasks afterwards brings no Down)."""
    quiet()

    async def main():
        Process.flag("trap_exit", True)
        tasks = [Task.async_(sleep, None), Task.async_(beamlet.exit, "unknown")]
        reason = await caught_exit(Task.await_many(tasks))
        for t in tasks:
            Process.exit(t.pid, "kill")
        for t in tasks:
            await wait_dead(t.pid)
        return reason == ("unknown", (Task, "await_many", [tasks, 5.0])), flush(Down)

    assert run(main) == (True, [])


def test_await_many_exits_immediately_on_any_task_error():
    """task_test.exs: await_many/2 'exits immediately on any task error'."""
    quiet()

    async def main():
        Process.flag("trap_exit", True)

        def fun():
            raise RuntimeError("oops")

        tasks = [Task.async_(sleep, None), Task.async_(fun)]
        reason, where = await caught_exit(Task.await_many(tasks))
        return type(reason), where == (Task, "await_many", [tasks, 5.0])

    assert run(main) == (RuntimeError, True)


def test_await_many_exits_immediately_on_noconnection():
    """task_test.exs: await_many/2 'exits immediately on :noconnection' and '... from named
    monitor'."""
    async def main():
        out = []
        for where, expected in [(self_pid(), node()), (("name", "node"), "node")]:
            fake = fake_task(pid=self_pid())
            tasks = [Task.async_(sleep, None), fake]
            send(self_pid(), Down(fake.ref, where, "noconnection"))
            out.append((await caught_exit(Task.await_many(tasks)))[0] == ("nodedown", expected))
        return out

    assert run(main) == [True, True]


def test_await_many_raises_when_invoked_from_a_non_owner_process():
    """task_test.exs: await_many/2 'raises when invoked from a non-owner process'."""
    async def main():
        bad = await create_task_in_other_process()
        tasks = [Task.async_(sleep, None), bad]
        with pytest.raises(ValueError) as e:
            await Task.await_many(tasks, 0.001)
        return str(e.value) == _non_owner_message(bad)

    assert run(main) is True


# --------------------------------------------------------------------------- yield/2
def test_yield_returns_ok_when_reply_and_down_in_message_queue():
    """task_test.exs: yield/2 'returns {:ok, result} when reply and :DOWN in message queue'."""
    async def main():
        task = fake_task()
        send(self_pid(), (task.ref, "result"))
        send(self_pid(), Down(task.ref, self_pid(), "abnormal"))
        return await Task.yield_(task, 0), flush(Down)

    assert run(main) == (("ok", "result"), [])


def test_yield_returns_nil_on_timeout():
    """task_test.exs: yield/2 'returns nil on timeout'."""
    async def main():
        return await Task.yield_(fake_task(), 0)

    assert run(main) is None


def test_yield_return_exit_on_normal_exit():
    """task_test.exs: yield/2 'return exit on normal exit'."""
    async def main():
        return await Task.yield_(Task.async_(beamlet.exit, "normal"))

    assert run(main) == ("exit", "normal")


def test_yield_exits_on_noconnection():
    """task_test.exs: yield/2 'exits on :noconnection'."""
    async def main():
        task = fake_task(pid=self_pid())
        send(self_pid(), Down(task.ref, self_pid(), "noconnection"))
        return (await caught_exit(Task.yield_(task)))[0]

    assert run(main) == ("nodedown", "nonode@nohost")


def test_yield_raises_when_invoked_from_a_non_owner_process():
    """task_test.exs: yield/2 'raises when invoked from a non-owner process'."""
    async def main():
        task = await create_task_in_other_process()
        with pytest.raises(ValueError) as e:
            await Task.yield_(task, 0.001)
        return str(e.value) == _non_owner_message(task)

    assert run(main) is True


# --------------------------------------------------------------------------- yield_many/2
def test_yield_many_returns_ok_when_reply_and_down_in_message_queue():
    """task_test.exs: yield_many/2 'returns {:ok, result} when reply and :DOWN in message
    queue'."""
    async def main():
        task = fake_task()
        send(self_pid(), (task.ref, "result"))
        send(self_pid(), Down(task.ref, self_pid(), "abnormal"))
        return await Task.yield_many([task], 0) == [(task, ("ok", "result"))], flush(Down)

    assert run(main) == (True, [])


def test_yield_many_returns_nil_on_timeout():
    """task_test.exs: yield_many/2 'returns nil on timeout'."""
    async def main():
        task = fake_task()
        return await Task.yield_many([task], 0) == [(task, None)]

    assert run(main) is True


def test_yield_many_return_exit_on_normal_exit():
    """task_test.exs: yield_many/2 'return exit on normal exit'."""
    async def main():
        task = Task.async_(beamlet.exit, "normal")
        return await Task.yield_many([task]) == [(task, ("exit", "normal"))]

    assert run(main) is True


def test_yield_many_exits_on_noconnection():
    """task_test.exs: yield_many/2 'exits on :noconnection'."""
    async def main():
        task = fake_task(pid=self_pid())
        send(self_pid(), Down(task.ref, self_pid(), "noconnection"))
        return (await caught_exit(Task.yield_many([task])))[0]

    assert run(main) == ("nodedown", "nonode@nohost")


def test_yield_many_raises_when_invoked_from_a_non_owner_process():
    """task_test.exs: yield_many/2 'raises when invoked from a non-owner process'."""
    async def main():
        task = await create_task_in_other_process()
        with pytest.raises(ValueError) as e:
            await Task.yield_many([task], 0.001)
        return str(e.value) == _non_owner_message(task)

    assert run(main) is True


def test_yield_many_returns_results_from_multiple_tasks():
    """task_test.exs: yield_many/2 'returns results from multiple tasks' and 'returns
    results on infinity timeout'."""
    async def main():
        t1, t2, t3 = (fake_task() for _ in range(3))
        send(self_pid(), (t1.ref, "result"))
        send(self_pid(), Down(t3.ref, self_pid(), "normal"))
        first = await Task.yield_many([t1, t2, t3], 0) == \
            [(t1, ("ok", "result")), (t2, None), (t3, ("exit", "normal"))]
        t1, t2, t3 = (fake_task() for _ in range(3))
        send(self_pid(), (t1.ref, "result"))
        send(self_pid(), (t2.ref, "result"))
        send(self_pid(), Down(t3.ref, self_pid(), "normal"))
        second = await Task.yield_many([t1, t2, t3], None) == \
            [(t1, ("ok", "result")), (t2, ("ok", "result")), (t3, ("exit", "normal"))]
        return first, second

    assert run(main) == (True, True)


# --------------------------------------------------------------------------- shutdown/2
QUEUED_CASES = [
    # (how the dummy task ended, reply queued?, Down queued?, timeout, expected)
    ("abnormal", True, True, 5.0, ("ok", "result")),
    ("normal", True, True, 5.0, ("ok", "result")),
    ("shutdown", True, True, 5.0, ("ok", "result")),
    ("abnormal", False, True, 5.0, ("exit", "abnormal")),
    ("normal", False, True, 5.0, ("exit", "normal")),
    ("shutdown", False, True, 5.0, None),
    ("killed", False, True, 5.0, ("exit", "killed")),
    ("noproc", False, False, 5.0, ("exit", "noproc")),
    ("abnormal", True, True, "brutal_kill", ("ok", "result")),
    ("normal", True, True, "brutal_kill", ("ok", "result")),
    ("shutdown", True, True, "brutal_kill", ("ok", "result")),
    ("killed", False, True, "brutal_kill", None),
    ("abnormal", False, True, "brutal_kill", ("exit", "abnormal")),
    ("normal", False, True, "brutal_kill", ("exit", "normal")),
    ("shutdown", False, True, "brutal_kill", ("exit", "shutdown")),
    ("noproc", False, False, "brutal_kill", ("exit", "noproc")),
]


@pytest.mark.parametrize("reason,reply,down,timeout,expected", QUEUED_CASES)
def test_shutdown_with_what_is_queued(reason, reply, down, timeout, expected):
    """task_test.exs: shutdown/2 and 'shutdown/2 with :brutal_kill': 'returns {:ok, result}
    when reply and abnormal/normal/shut down :DOWN in message queue', 'returns exit on
    abnormal/normal/killed :DOWN in message queue', 'returns nil on shutdown (brutal: killed)
    :DOWN in message queue', 'returns {:exit, :noproc} if task handled' (its Down already
    taken, the known failure where shutdown used to block)."""
    async def main():
        task = await create_dummy_task(reason)
        if reply:
            send(self_pid(), (task.ref, "result"))
        if down:
            send(self_pid(), Down(task.ref, task.pid, reason))
        return await Task.shutdown(task, timeout), flush(Down)

    assert run(main) == (expected, [])


@pytest.mark.parametrize("timeout", [5.0, "brutal_kill"])
def test_shutdown_exits_on_noconnection_down_in_message_queue(timeout):
    """task_test.exs: shutdown/2 (and with :brutal_kill) 'exits on noconnection :DOWN in
    message queue'."""
    async def main():
        task = await create_dummy_task("noconnection")
        send(self_pid(), Down(task.ref, task.pid, "noconnection"))
        return await caught_exit(Task.shutdown(task, timeout)) == \
            (("nodedown", node()), (Task, "shutdown", [task, timeout]))

    assert run(main) is True


def test_shutdown_returns_nil_on_shutting_down_task():
    """task_test.exs: shutdown/2 'returns nil on shutting down task'."""
    async def main():
        return await Task.shutdown(Task.async_(sleep, None))

    assert run(main) is None


def test_shutdown_raises_if_task_pid_is_nil():
    """task_test.exs: shutdown/2 'raises if task PID is nil'."""
    async def main():
        task = Task(None, None, make_ref())
        with pytest.raises(ValueError) as e:
            await Task.shutdown(task)
        return str(e.value) == f"task {task!r} does not have an associated task process"

    assert run(main) is True


def test_shutdown_raises_when_invoked_from_a_non_owner_process():
    """task_test.exs: shutdown/2 'raises when invoked from a non-owner process'."""
    async def main():
        task = await create_task_in_other_process()
        with pytest.raises(ValueError) as e:
            await Task.shutdown(task)
        return str(e.value) == _non_owner_message(task)

    assert run(main) is True


async def _trapping_task():
    caller = self_pid()

    async def fun():
        Process.flag("trap_exit", True)
        await wait_and_send(caller, "ready")
        await sleep(None)

    task = Task.async_(fun)
    await receive("ready")
    return task


def test_shutdown_returns_nil_on_killing_task():
    """task_test.exs: shutdown/2 'returns nil on killing task' (brutal_kill)."""
    async def main():
        task = await _trapping_task()
        return await Task.shutdown(task, "brutal_kill"), flush(Down)

    assert run(main) == (None, [])


def test_shutdown_returns_exit_on_killing_task_after_shutdown_timeout():
    """task_test.exs: 'shutdown/2 with :brutal_kill': 'returns exit on killing task after
    shutdown timeout' (a task that traps exits outlives 1 ms and is killed)."""
    async def main():
        task = await _trapping_task()
        return await Task.shutdown(task, 0.001)

    assert run(main) == ("exit", "killed")


def test_shutdown_after_down_handled_in_handle_info():
    """task_test.exs: 'returns {:exit, :noproc} if task handled', in its common form: a
    GenServer handles the task's Down in handle_info and shuts the task down later."""
    from beamlet import GenServer

    class Owner(GenServer):
        def init(self, _):
            return ("ok", {"task": Task.async_(beamlet.exit, "normal"), "seen": None})

        def handle_info(self, msg, state):
            if msg.__class__ is Down and msg.ref == state["task"].ref:
                return ("noreply", {**state, "seen": msg.reason})
            return ("noreply", state)

        async def handle_call(self, request, from_, state):
            if request == "seen":
                return ("reply", state["seen"], state)
            return ("reply", await Task.shutdown(state["task"]), state)

    async def main():
        _, pid = await GenServer.start_link(Owner, None)
        while await GenServer.call(pid, "seen") is None:
            await settle()
        return await GenServer.call(pid, "shutdown")

    assert run(main) == ("exit", "noproc")


# --------------------------------------------------------------------------- async_stream/2
def test_async_stream_timeout():
    """task_test.exs: async_stream/2 'timeout' (the caller exits; nothing is left behind)."""
    async def main():
        reason = await caught_exit(to_list(Task.async_stream(["infinity"], sleeper, timeout=0)))
        await settle()
        return reason, flush()

    assert run(main) == (("timeout", (TaskSupervised, "stream", [0])), [])


def test_async_stream_with_ordered_false():
    """task_test.exs: async_stream/2 'streams an enumerable with ordered: false' (steps of
    20 ms instead of 100)."""
    async def main():
        one = await to_list(Task.async_stream(range(4, 0, -1), lambda n: sleeper(n * 20),
                                              max_concurrency=1, ordered=False))
        four = await to_list(Task.async_stream(range(4, 0, -1), lambda n: sleeper(n * 20),
                                               max_concurrency=4, ordered=False))
        return one, four

    assert run(main) == ([("ok", 80), ("ok", 60), ("ok", 40), ("ok", 20)],
                         [("ok", 20), ("ok", 40), ("ok", 60), ("ok", 80)])


def test_async_stream_with_ordered_false_on_timeout_kill_task():
    """task_test.exs: async_stream/2 'streams an enumerable with ordered: false, on_timeout:
    :kill_task'."""
    async def main():
        items = await to_list(Task.async_stream([100, 1, 100, 1], sleeper, max_concurrency=4,
                                                ordered=False, on_timeout="kill_task",
                                                timeout=0.05))
        await settle()
        return items, flush()

    assert run(main) == ([("ok", 1), ("ok", 1), ("exit", "timeout"), ("exit", "timeout")], [])


def test_async_stream_with_infinite_timeout():
    """task_test.exs: async_stream/2 'streams an enumerable with infinite timeout'."""
    async def main():
        return (await to_list(Task.async_stream([1], lambda _: "ok", timeout="infinity")),
                await to_list(Task.async_stream([1], lambda _: "ok", timeout=None)))

    assert run(main) == ([("ok", "ok")], [("ok", "ok")])


def test_async_stream_does_not_allow_max_concurrency_0():
    """task_test.exs: async_stream/2 'does not allow streaming with max_concurrency = 0'."""
    async def main():
        with pytest.raises(ValueError):
            Task.async_stream([1], lambda _: "ok", max_concurrency=0)
        return "ok"

    assert run(main) == "ok"


def test_async_stream_with_fake_down_messages_on_the_inbox():
    """task_test.exs: async_stream/2 'streams with fake down messages on the inbox'."""
    async def main():
        parent = self_pid()

        def fun(_):
            for linked in Process.info(self_pid(), "links"):
                send(linked, Down(make_ref(), parent, "oops"))
            return "ok"

        items = await to_list(Task.async_stream(["ok"], fun))
        return items, len(flush(Down))

    assert run(main) == ([("ok", "ok")], 1)


def test_async_stream_with_callers():
    """task_test.exs: async_stream/2 'with $callers'."""
    async def main():
        grandparent = self_pid()

        async def outer(_):
            parent = self_pid()
            first = Process.get("$callers") == [grandparent]

            def inner(_):
                send(grandparent, (first, Process.get("$callers") == [parent, grandparent]))

            await to_list(Task.async_stream([1], inner))

        await to_list(Task.async_stream([1], outer))
        return await receive(tuple, timeout=1.0)

    assert run(main) == (True, True)


def test_async_stream_consuming_from_another_process():
    """task_test.exs: async_stream/2 'consuming from another process'."""
    async def main():
        parent = self_pid()
        stream = Task.async_stream([1, 2, 3], lambda x: send(parent, x))
        Task.start(to_list, stream)
        return [await receive(n, timeout=1.0) for n in (1, 2, 3)]

    assert run(main) == [1, 2, 3]


# ----------------------------------------------- async_stream with max_concurrency ==, <, >
CONCURRENCY = pytest.mark.parametrize("max_concurrency", [4, 2, 8], ids=["==", "<", ">"])


def _stream(items, fun, max_concurrency, **opts):
    return Task.async_stream(items, fun, max_concurrency=max_concurrency, **opts)


@CONCURRENCY
def test_streams_an_enumerable_with_fun(max_concurrency):
    """task_test.exs: 'async_stream with max_concurrency ... tasks': 'streams an enumerable
    with fun' and 'streams an enumerable without leaking tasks'."""
    async def main():
        items = await to_list(_stream(range(1, 5), sleeper, max_concurrency))
        return items, flush()

    assert run(main) == ([("ok", 1), ("ok", 2), ("ok", 3), ("ok", 4)], [])


@CONCURRENCY
def test_streams_an_enumerable_with_slowest_first(max_concurrency):
    """task_test.exs: 'async_stream with max_concurrency ...': 'streams an enumerable with
    slowest first'."""
    async def main():
        Process.flag("trap_exit", True)
        return await to_list(_stream(range(4, 0, -1), sleeper, max_concurrency))

    assert run(main) == [("ok", 4), ("ok", 3), ("ok", 2), ("ok", 1)]


@CONCURRENCY
def test_streams_an_enumerable_with_exits(max_concurrency):
    """task_test.exs: 'async_stream with max_concurrency ...': 'streams an enumerable with
    exits' (no Exit is left in the trapping caller's mailbox: a known failure)."""
    async def main():
        Process.flag("trap_exit", True)
        items = await to_list(_stream(range(1, 5), beamlet.exit, max_concurrency))
        return items, flush(Exit)

    assert run(main) == ([("exit", 1), ("exit", 2), ("exit", 3), ("exit", 4)], [])


@CONCURRENCY
def test_shuts_down_unused_tasks(max_concurrency):
    """task_test.exs: 'async_stream with max_concurrency ...': 'shuts down unused tasks' and
    'shuts down unused tasks without leaking messages'."""
    async def main():
        first = await take(_stream([0, "infinity", "infinity", "infinity"], sleeper,
                                   max_concurrency), 1)
        links = Process.info(self_pid(), "links")
        await settle()
        return first, links, flush(), Process.list() == [self_pid()]

    assert run(main) == ([("ok", 0)], [], [], True)


async def _zip(make):
    """Enum.zip(s, s): two runs of the same stream, consumed in turns by one process."""
    a, b = make(), make()
    out = []
    async with aclosing(a), aclosing(b):
        while True:
            try:
                x = await a.__anext__()
                y = await b.__anext__()
            except StopAsyncIteration:
                return out
            out.append((x[1], y[1]))


@CONCURRENCY
def test_is_zippable_on_success(max_concurrency):
    """task_test.exs: 'async_stream with max_concurrency ...': 'is zippable on success' and
    'is zippable with slowest first'."""
    async def main():
        up = await _zip(lambda: _stream(range(1, 5), sleeper, max_concurrency))
        down = await _zip(lambda: _stream(range(4, 0, -1), sleeper, max_concurrency))
        return up, down

    assert run(main) == ([(n, n) for n in range(1, 5)], [(n, n) for n in range(4, 0, -1)])


@CONCURRENCY
def test_is_zippable_on_failure(max_concurrency):
    """task_test.exs: 'async_stream with max_concurrency ...': 'is zippable on failure'."""
    async def main():
        Process.flag("trap_exit", True)
        return await _zip(lambda: _stream(range(1, 5), beamlet.exit, max_concurrency))

    assert run(main) == [(n, n) for n in range(1, 5)]


@CONCURRENCY
def test_with_inner_halt(max_concurrency):
    """task_test.exs: 'async_stream with max_concurrency ...': 'with inner halt on success',
    'with inner halt on failure', 'with inner halt and slowest first' (Stream.take on the
    input is itertools.islice)."""
    async def main():
        ok = await to_list(_stream(itertools.islice(range(1, 9), 4), sleeper, max_concurrency))
        slow = await to_list(_stream(itertools.islice(range(8, 0, -1), 4), sleeper,
                                     max_concurrency))
        Process.flag("trap_exit", True)
        failed = await to_list(_stream(itertools.islice(range(1, 9), 4), beamlet.exit,
                                       max_concurrency))
        return ok, slow, failed

    assert run(main) == ([("ok", n) for n in range(1, 5)], [("ok", n) for n in range(8, 4, -1)],
                         [("exit", n) for n in range(1, 5)])


@CONCURRENCY
def test_with_outer_halt(max_concurrency):
    """task_test.exs: 'async_stream with max_concurrency ...': 'with outer halt on success',
    'with outer halt on failure', 'with outer halt and slowest first'."""
    async def main():
        ok = await take(_stream(range(1, 9), sleeper, max_concurrency), 4)
        slow = await take(_stream(range(8, 0, -1), sleeper, max_concurrency), 4)
        Process.flag("trap_exit", True)
        failed = await take(_stream(range(1, 9), beamlet.exit, max_concurrency), 4)
        await settle()
        return ok, slow, failed, flush()

    assert run(main) == ([("ok", n) for n in range(1, 5)], [("ok", n) for n in range(8, 4, -1)],
                         [("exit", n) for n in range(1, 5)], [])


@CONCURRENCY
def test_terminates_inner_and_outer_effect(max_concurrency):
    """task_test.exs: 'async_stream with max_concurrency ...': 'terminates inner effect' and
    'terminates outer effect' (Stream.transform's after function is a generator's finally)."""
    async def main():
        effects = []

        def source():
            try:
                yield from range(1, 5)
            finally:
                effects.append("outer")

        async def wrapped(stream):
            try:
                async for item in stream:
                    yield item
            finally:
                effects.append("inner")

        inner = await to_list(wrapped(_stream(range(1, 5), sleeper, max_concurrency)))
        outer = await to_list(_stream(source(), sleeper, max_concurrency))
        return inner, outer, effects

    expected = [("ok", n) for n in range(1, 5)]
    assert run(main) == (expected, expected, ["inner", "outer"])


@CONCURRENCY
def test_with_on_timeout_set_to_kill_task(max_concurrency):
    """task_test.exs: 'async_stream with max_concurrency ...': 'with :on_timeout set to
    :kill_task'."""
    async def main():
        items = await to_list(_stream([100, 1, 100, 1], sleeper, max_concurrency,
                                      on_timeout="kill_task", timeout=0.05))
        await settle()
        return items, flush()

    assert run(main) == ([("exit", "timeout"), ("ok", 1), ("exit", "timeout"), ("ok", 1)], [])


@CONCURRENCY
def test_with_timeout_and_zip_input_on_exit(max_concurrency):
    """task_test.exs: 'async_stream with max_concurrency ...': 'with timeout and
    :zip_input_on_exit set to true' and 'with outer halt on failure and :zip_input_on_exit'."""
    async def main():
        timed = await to_list(_stream([1, 100], sleeper, max_concurrency, zip_input_on_exit=True,
                                      on_timeout="kill_task", timeout=0.05))
        Process.flag("trap_exit", True)
        failed = await take(_stream(range(1, 9), beamlet.exit, max_concurrency,
                                    zip_input_on_exit=True), 4)
        return timed, failed

    assert run(main) == ([("ok", 1), ("exit", (100, "timeout"))],
                         [("exit", (n, n)) for n in range(1, 5)])
