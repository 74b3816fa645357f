"""Task: ground truth k01-k11, and the options and error paths of async_stream."""

import itertools
import logging

import pytest

import beamlet
from beamlet import (ANY, Agent, Down, Exit, Process, ProcessExit, Task, TaskSupervised, flush,
                     monitor, receive, self_pid, send, sleep, spawn, spawn_monitor)


def run(fn, **kw):
    return beamlet.run(fn, **kw)


async def slow(d, v=None):
    await sleep(d)
    return d if v is None else v


def test_k01_async_await():
    async def main():
        t = Task.async_(slow, 0.05, 42)
        linked = t.pid in Process.info(self_pid(), "links")
        r = await Task.await_(t)
        await sleep(0.02)
        return (t.owner is self_pid(), isinstance(t.pid, beamlet.Pid),
                isinstance(t.ref, beamlet.Ref), linked, r, flush())

    assert run(main) == (True, True, True, True, 42, [])


def test_await_task_sugar():
    async def main():
        return await Task.async_(lambda: 1 + 41)

    assert run(main) == 42


def test_k02_await_timeout_exits_and_task_keeps_running():
    async def main():
        t = Task.async_(slow, 0.2, "done")
        try:
            await Task.await_(t, 0.05)
        except ProcessExit as e:
            reason = e.reason
        alive = Process.alive(t.pid)
        await sleep(0.3)
        return reason == ("timeout", (Task, "await", [t, 0.05])), alive, flush()

    assert run(main) == (True, True, [])


def test_k02_uncaught_await_timeout_is_the_exit_reason():
    async def waiter():
        await Task.await_(Task.async_(slow, 1.0), 0.05)

    async def main():
        _, ref = spawn_monitor(waiter)
        reason = (await receive(Down(ref, ANY, ANY))).reason
        return reason[0], reason[1][0], reason[1][1], reason[1][2][1]

    assert run(main) == ("timeout", Task, "await", 0.05)


def test_k03_yield():
    async def main():
        t = Task.async_(slow, 0.1, "v")
        early = await Task.yield_(t, 0.01)
        later = await Task.yield_(t, 0.5)
        again = await Task.yield_(t, 0.01)
        t2 = Task.async_(lambda: "quick")
        await sleep(0.02)
        return early, later, again, await Task.yield_(t2, 0)

    assert run(main) == (None, ("ok", "v"), None, ("ok", "quick"))


def test_k04_shutdown():
    async def trapping():
        Process.flag("trap_exit", True)
        m = await receive(Exit)
        beamlet.exit(("saw", m.reason))

    async def main():
        out = []
        t = Task.async_(sleep, None)
        ref = monitor(t.pid)
        out.append(await Task.shutdown(t))
        out.append((await receive(Down(ref, ANY, ANY))).reason)
        t = Task.async_(lambda: "done")
        await sleep(0.02)
        out.append(await Task.shutdown(t))
        t = Task.async_(sleep, None)
        ref = monitor(t.pid)
        out.append(await Task.shutdown(t, "brutal_kill"))
        out.append((await receive(Down(ref, ANY, ANY))).reason)
        t = Task.async_(trapping)
        await sleep(0.02)
        out.append(await Task.shutdown(t))
        out.append(flush())
        return out

    assert run(main) == [None, "shutdown", ("ok", "done"), None, "killed",
                         ("exit", ("saw", "shutdown")), []]


def test_k05_await_many():
    async def main():
        ts = [Task.async_(slow, d) for d in (0.06, 0.01, 0.03)]
        results = await Task.await_many(ts)
        ts = [Task.async_(slow, d) for d in (0.01, 0.5)]
        try:
            await Task.await_many(ts, 0.05)
        except ProcessExit as e:
            tag, (mod, fun, (tasks, timeout)) = e.reason
            return results, (tag, mod, fun, len(tasks), timeout)

    assert run(main) == ([0.06, 0.01, 0.03], ("timeout", Task, "await_many", 2, 0.05))


def test_k06_async_stream_order():
    async def work(d):
        await sleep(d * 0.002)
        return d

    async def main():
        inp = [50, 10, 30, 0]
        ordered = [x async for x in Task.async_stream(inp, work, max_concurrency=4)]
        unordered = [x async for x in Task.async_stream(inp, work, max_concurrency=4,
                                                        ordered=False)]
        return ordered, unordered, beamlet.schedulers_online()

    assert run(main, schedulers=2) == ([("ok", 50), ("ok", 10), ("ok", 30), ("ok", 0)],
                                       [("ok", 0), ("ok", 10), ("ok", 30), ("ok", 50)], 2)


def test_k07_async_stream_never_exceeds_max_concurrency():
    async def main():
        _, c = await Agent.start_link(lambda: (0, 0))

        async def f(_):
            await Agent.update(c, lambda s: (s[0] + 1, max(s[1], s[0] + 1)))
            await sleep(0.02)
            await Agent.update(c, lambda s: (s[0] - 1, s[1]))

        peaks = []
        for mc in (1, 3, 5, None):
            await Agent.update(c, lambda s: (0, 0))
            kw = {} if mc is None else {"max_concurrency": mc}
            async for _ in Task.async_stream(range(20), f, **kw):
                pass
            peaks.append((await Agent.get(c, lambda s: s))[1])
        return peaks

    assert run(main, schedulers=2) == [1, 3, 5, 2]


def test_k09_crashing_task_kills_its_caller():
    async def caller(parent):
        t = Task.async_(lambda: 1 / 0)
        send(parent, ("await_result", await Task.await_(t)))

    async def main():
        _, ref = spawn_monitor(caller, self_pid())
        reason = (await receive(Down(ref, ANY, ANY))).reason
        return type(reason), flush()

    logging.getLogger("beamlet").setLevel(logging.CRITICAL)
    try:
        assert run(main) == (ZeroDivisionError, [])
    finally:
        logging.getLogger("beamlet").setLevel(logging.NOTSET)


def test_k09_trapping_caller_gets_exit_from_await():
    async def main():
        Process.flag("trap_exit", True)
        t = Task.async_(beamlet.exit, "task_exit")
        try:
            await Task.await_(t)
        except ProcessExit as e:
            reason = e.reason
        return reason == ("task_exit", (Task, "await", [t, 5.0])), [m.reason for m in flush()]

    assert run(main) == (True, ["task_exit"])


def test_k11_start_and_await_from_non_owner():
    async def main():
        started = Task.start(lambda: "ok")
        t = Task.async_(lambda: "v")
        me = self_pid()

        async def other():
            try:
                await Task.await_(t, 0.1)
            except ValueError as e:
                send(me, ("other", "ValueError"))

        spawn(other)
        return started[0], isinstance(started[1], beamlet.Pid), await receive(("other", ANY)), await t

    assert run(main) == ("ok", True, ("other", "ValueError"), "v")


def test_start_link_and_ignore():
    async def main():
        ok, pid = Task.start_link(sleep, None)
        linked = pid in Process.info(self_pid(), "links")
        t = Task.async_(lambda: "r")
        await sleep(0.01)
        ignored = await Task.ignore(t)
        t2 = Task.async_(sleep, None)
        ignored2 = await Task.ignore(t2)
        return ok, linked, ignored, ignored2, Process.alive(t2.pid), \
            t2.pid in Process.info(self_pid(), "links")

    assert run(main) == ("ok", True, ("ok", "r"), None, True, False)


def test_task_processes_carry_callers():
    async def main():
        t = Task.async_(lambda: sorted(Process.get()))
        return await t

    assert run(main) == ["$ancestors", "$callers", "$initial_call"]


def test_async_stream_consumes_an_endless_input_lazily():
    pulled = []

    def endless():
        for i in itertools.count():
            pulled.append(i)
            yield i

    async def main():
        out = []
        async for item in Task.async_stream(endless(), lambda x: x * x, max_concurrency=3):
            out.append(item)
            if len(out) == 5:
                break
        await sleep(0.02)
        return out, len(pulled) <= 5 + 3, flush(), len(Process.list())

    assert run(main) == ([("ok", i * i) for i in range(5)], True, [], 1)


def test_async_stream_over_an_async_iterable():
    async def numbers():
        for i in range(4):
            await sleep(0)
            yield i

    async def main():
        return [x async for x in Task.async_stream(numbers(), lambda x: x + 1)]

    assert run(main) == [("ok", 1), ("ok", 2), ("ok", 3), ("ok", 4)]


def test_async_stream_timeout_exits_by_default():
    async def consumer():
        async for _ in Task.async_stream([0.5], slow, timeout=0.02):
            pass

    async def main():
        _, ref = spawn_monitor(consumer)
        return (await receive(Down(ref, ANY, ANY))).reason

    assert run(main) == ("timeout", (TaskSupervised, "stream", [0.02]))


def test_async_stream_kill_task_on_timeout():
    async def main():
        items = [x async for x in Task.async_stream([0.01, 0.5, 0.02], slow, timeout=0.1,
                                                    on_timeout="kill_task")]
        return items, len(Process.list())

    assert run(main) == ([("ok", 0.01), ("exit", "timeout"), ("ok", 0.02)], 1)


def test_async_stream_crash_with_trapping_caller_gives_exit_item():
    async def f(x):
        if x == 2:
            beamlet.exit("bad item")
        return x

    async def main():
        Process.flag("trap_exit", True)
        return [x async for x in Task.async_stream([1, 2, 3], f)]

    assert run(main) == [("ok", 1), ("exit", "bad item"), ("ok", 3)]


def test_async_stream_bad_options():
    async def main():
        with pytest.raises(ValueError):
            async for _ in Task.async_stream([1], str, max_concurrency=0):
                pass
        with pytest.raises(ValueError):
            async for _ in Task.async_stream([1], str, on_timeout="shrug"):
                pass
        with pytest.raises(TypeError):
            await Task.await_("not a task")
        return "ok"

    assert run(main) == "ok"
