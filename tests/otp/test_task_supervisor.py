"""TaskSupervisor (Elixir's Task.Supervisor)."""

import pytest

import beamlet
from beamlet import (
    ANY,
    Down,
    Process,
    ProcessExit,
    Supervisor,
    Task,
    TaskSupervised,
    TaskSupervisor,
    flush,
    monitor,
    receive,
    self_pid,
    send,
    sleep,
    spawn_monitor,
)
from beamlet.testing import settle
from helpers import quiet, run, slow


def test_start_child_async_and_children():
    async def main():
        _, sup = await TaskSupervisor.start_link(name="tasks")
        me = self_pid()
        ok, pid = await TaskSupervisor.start_child("tasks", lambda: send(me, "side effect"))
        got = await receive("side effect")
        t = await TaskSupervisor.async_(sup, lambda: 6 * 7)
        linked = t.pid in Process.info(self_pid(), "links")
        value = await Task.await_(t)
        t2 = await TaskSupervisor.async_nolink(sup, sleep, None)
        children = await TaskSupervisor.children(sup)
        nolink = t2.pid not in Process.info(self_pid(), "links")
        await Task.shutdown(t2)
        return ok, got, linked, value, children == [t2.pid], nolink

    assert run(main) == ("ok", "side effect", True, 42, True, True)


def test_async_nolink_crash_is_an_exit_value_not_a_death():
    quiet()

    async def main():
        _, sup = await TaskSupervisor.start_link()
        t = await TaskSupervisor.async_nolink(sup, lambda: 1 / 0)
        r = await Task.yield_(t, 1.0)
        return r[0], type(r[1]), Process.alive(self_pid())

    assert run(main) == ("exit", ZeroDivisionError, True)


def test_async_linked_crash_takes_the_caller_down():
    quiet()

    async def caller(sup):
        t = await TaskSupervisor.async_(sup, beamlet.exit, "boom")
        await Task.await_(t)

    async def main():
        _, sup = await TaskSupervisor.start_link()
        _, ref = spawn_monitor(caller, sup)
        return (await receive(Down(ref, ANY, ANY))).reason

    assert run(main) == "boom"


def test_async_stream_nolink_keeps_going_past_a_crash():
    quiet()

    async def f(x):
        if x == 2:
            raise ValueError("two")
        await sleep(0.001 * x)   # tasks of different lengths: under test
        return x * 10

    async def main():
        _, sup = await TaskSupervisor.start_link()
        items = [i async for i in TaskSupervisor.async_stream_nolink(sup, [1, 2, 3], f)]
        linked = [i async for i in TaskSupervisor.async_stream(sup, [4, 5], f,
                                                                 max_concurrency=1)]
        return items[0], items[1][0], type(items[1][1]), items[2], linked, flush()

    assert run(main) == (("ok", 10), "exit", ValueError, ("ok", 30),
                         [("ok", 40), ("ok", 50)], [])


def test_max_children_is_enforced():
    async def main():
        _, sup = await TaskSupervisor.start_link(max_children=1)
        await TaskSupervisor.start_child(sup, sleep, None)
        return await TaskSupervisor.start_child(sup, sleep, None)

    assert run(main) == ("error", "max_children")


def test_task_supervisor_in_a_supervision_tree():
    async def main():
        children = [{"id": "tasks", "start": (TaskSupervisor.start_link, (), {"name": "ts"}),
                     "type": "supervisor"}]
        _, top = await Supervisor.start_link(children)
        t = await TaskSupervisor.async_("ts", lambda: "from the tree")
        return await t

    assert run(main) == "from the tree"


def test_children_come_and_go():
    async def main():
        _, sup = await TaskSupervisor.start_link()
        ts = [await TaskSupervisor.async_nolink(sup, slow, d) for d in (0.01, 1.0)]
        before = await TaskSupervisor.children(sup)
        first = await Task.await_(ts[0])
        after = await TaskSupervisor.children(sup)
        await Task.shutdown(ts[1])
        await settle()
        return before == [t.pid for t in ts], first, after == [ts[1].pid], \
            await TaskSupervisor.children(sup), flush()

    assert run(main) == (True, 0.01, True, [], [])


def test_async_nolink_await_of_a_crash_exits_the_caller_only_by_await():
    quiet()

    async def main():
        _, sup = await TaskSupervisor.start_link()
        t = await TaskSupervisor.async_nolink(sup, beamlet.exit, "task failed")
        try:
            await Task.await_(t)
        except ProcessExit as e:
            reason = e.reason
        return reason == ("task failed", (Task, "await", [t, 5.0])), flush()

    assert run(main) == (True, [])


def test_tasks_are_the_supervisors_children_and_stop_with_it():
    async def main():
        Process.flag("trap_exit", True)
        _, sup = await TaskSupervisor.start_link()
        t = await TaskSupervisor.async_nolink(sup, sleep, None)
        ok, pid = await TaskSupervisor.start_child(sup, sleep, None)
        refs = {monitor(t.pid): "async_nolink", monitor(pid): "start_child"}
        ancestors = Process.info(pid, "dictionary")["$ancestors"]
        Process.exit(sup, "shutdown")
        downs = []
        for r in refs:
            downs.append((refs[r], (await receive(Down(r, ANY, ANY))).reason))
        return ancestors[0] == sup, sorted(downs)

    assert run(main) == (True, [("async_nolink", "shutdown"), ("start_child", "shutdown")])


def test_start_child_options():
    quiet()

    async def main():
        _, sup = await TaskSupervisor.start_link()
        me = self_pid()
        crashed = []

        def once_then_wait():
            send(me, "started")
            if not crashed:
                crashed.append(True)
                beamlet.exit("crash")
            return sleep(None)

        _, pid = await TaskSupervisor.start_child(sup, once_then_wait, restart="permanent")
        await receive("started")
        await receive("started")   # restarted after its crash
        [new] = await TaskSupervisor.children(sup)
        gone = await TaskSupervisor.terminate_child(sup, new)
        _, pid2 = await TaskSupervisor.start_child(sup, _trap_and_wait, shutdown="brutal_kill")
        ref = monitor(pid2)
        await TaskSupervisor.terminate_child(sup, pid2)
        return new != pid, gone, (await receive(Down(ref, ANY, ANY))).reason, \
            await TaskSupervisor.children(sup)

    assert run(main) == (True, "ok", "killed", [])


async def _trap_and_wait():
    Process.flag("trap_exit", True)
    await sleep(None)


def test_child_spec_and_start_errors():
    async def main():
        _, top = await Supervisor.start_link([TaskSupervisor.child_spec({"name": "ts2"})])
        t = await TaskSupervisor.async_("ts2", lambda: "ok from child_spec")
        v = await t
        _, sup = await TaskSupervisor.start_link(max_children=0)
        with pytest.raises(RuntimeError):
            await TaskSupervisor.async_nolink(sup, str)
        return v

    assert run(main) == "ok from child_spec"


def test_async_stream_under_a_supervisor_is_bounded_and_lazy():
    pulled = []

    def endless():
        i = 0
        while True:
            pulled.append(i)
            yield i
            i += 1

    async def main():
        _, sup = await TaskSupervisor.start_link()
        peak = 0
        out = []
        async for item in TaskSupervisor.async_stream(sup, endless(), lambda x: x + 1,
                                                      max_concurrency=3):
            peak = max(peak, len(await TaskSupervisor.children(sup)))
            out.append(item)
            if len(out) == 10:
                break
        await settle()
        return out, peak <= 3, len(pulled) <= 13, await TaskSupervisor.children(sup), flush()

    assert run(main) == ([("ok", i + 1) for i in range(10)], True, True, [], [])


def test_async_stream_nolink_timeouts():
    async def consumer(sup):
        async for _ in TaskSupervisor.async_stream_nolink(sup, [1.0], slow, timeout=0.02):
            pass

    async def main():
        _, sup = await TaskSupervisor.start_link()
        killed = [x async for x in TaskSupervisor.async_stream_nolink(
            sup, [0.01, 1.0, 0.02], slow, timeout=0.1, on_timeout="kill_task",
            ordered=False)]
        _, ref = spawn_monitor(consumer, sup)
        reason = (await receive(Down(ref, ANY, ANY))).reason
        await settle()
        return killed, reason, await TaskSupervisor.children(sup)

    assert run(main) == ([("ok", 0.01), ("ok", 0.02), ("exit", "timeout")],
                         ("timeout", (TaskSupervised, "stream", [0.02])), [])
