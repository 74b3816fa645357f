"""TaskSupervisor (Elixir's Task.Supervisor)."""

import logging

import beamlet
from beamlet import (ANY, Down, Process, ProcessExit, Supervisor, Task, TaskSupervisor, flush,
                     receive, self_pid, send, sleep, spawn_monitor)


def run(fn, **kw):
    return beamlet.run(fn, **kw)


def quiet():
    logging.getLogger("beamlet").setLevel(logging.CRITICAL)


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
        await sleep(0.001 * x)
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
