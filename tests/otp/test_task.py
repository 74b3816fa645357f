"""Task: ground truth k01-k11, and the options and error paths of async_stream."""

import itertools
import logging

import pytest

import beamlet
from beamlet import (
    ANY,
    Agent,
    Down,
    Exit,
    Process,
    ProcessExit,
    Task,
    TaskSupervised,
    flush,
    monitor,
    receive,
    self_pid,
    send,
    sleep,
    spawn,
    spawn_monitor,
)
from beamlet.testing import settle, wait_dead
from helpers import quiet, run, slow


def test_k01_async_await():
    async def main():
        t = Task.async_(slow, 0.05, 42)
        linked = t.pid in Process.info(self_pid(), "links")
        r = await Task.await_(t)
        await settle()
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
        await wait_dead(t.pid)
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
        await wait_dead(t2.pid)
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
        await wait_dead(t.pid)
        out.append(await Task.shutdown(t))
        t = Task.async_(sleep, None)
        ref = monitor(t.pid)
        out.append(await Task.shutdown(t, "brutal_kill"))
        out.append((await receive(Down(ref, ANY, ANY))).reason)
        t = Task.async_(trapping)
        await settle()
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
        await sleep(d * 0.002)   # tasks that take d time units: the order of results is under test
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
            await sleep(0.02)   # a task holding its slot: the concurrency bound is under test
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
            except ValueError:
                send(me, ("other", "ValueError"))

        spawn(other)
        other_said = await receive(("other", ANY))
        return started[0], isinstance(started[1], beamlet.Pid), other_said, await t

    assert run(main) == ("ok", True, ("other", "ValueError"), "v")


def test_start_link_and_ignore():
    async def main():
        ok, pid = Task.start_link(sleep, None)
        linked = pid in Process.info(self_pid(), "links")
        t = Task.async_(lambda: "r")
        await wait_dead(t.pid)
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
        await settle()
        return out, len(pulled) <= 5 + 3, flush(), len(Process.list())

    assert run(main) == ([("ok", i * i) for i in range(5)], True, [], 1)


def test_async_stream_over_an_async_iterable():
    async def numbers():
        for i in range(4):
            await sleep(0)   # an async iterable that suspends: under test
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
        await settle()   # the killed task dies when next scheduled (async signals)
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


# --- Task.shutdown, yield_, await_many: the other endings ------------------------------------

async def _ignore_shutdown():
    Process.flag("trap_exit", True)
    await sleep(None)


def test_shutdown_kills_a_task_that_ignores_it_after_the_timeout():
    # Elixir's :timeout_kill: the DOWN reason :killed is reported as {:exit, :killed}
    async def main():
        t = Task.async_(_ignore_shutdown)
        await settle()
        ref = monitor(t.pid)
        r = await Task.shutdown(t, 0.05)
        return r, (await receive(Down(ref, ANY, ANY))).reason, flush()

    assert run(main) == (("exit", "killed"), "killed", [])


def test_shutdown_of_a_task_that_had_crashed_or_shut_itself_down():
    quiet()

    async def main():
        Process.flag("trap_exit", True)
        t = Task.async_(beamlet.exit, "own reason")
        await receive(Exit(t.pid, ANY))
        crashed = await Task.shutdown(t)
        t = Task.async_(beamlet.exit, "shutdown")
        await receive(Exit(t.pid, ANY))
        shut = await Task.shutdown(t, None)
        return crashed, shut, flush()

    assert run(main) == (("exit", "own reason"), None, [])


def test_shutdown_options_are_checked():
    async def main():
        t = Task.async_(sleep, None)
        with pytest.raises(ValueError):
            await Task.shutdown(t, "soon")
        with pytest.raises(ValueError):
            await Task.shutdown(t, -1)
        return await Task.shutdown(t, "infinity")

    assert run(main) is None


def test_yield_of_a_crashed_task_and_await_without_timeout():
    quiet()

    async def main():
        Process.flag("trap_exit", True)
        t = Task.async_(lambda: 1 / 0)
        status, reason = await Task.yield_(t, 1.0)
        exit_msg = await receive(Exit(t.pid, ANY))
        t2 = Task.async_(slow, 0.01, "late")
        return status, type(reason), exit_msg.reason is reason, await Task.await_(t2, None)

    assert run(main) == ("exit", ZeroDivisionError, True, "late")


def test_await_many_with_a_crashed_task_and_no_messages_left():
    quiet()

    async def main():
        ts = [Task.async_(slow, 0.01, i) for i in range(5)]
        ok = await Task.await_many(ts)
        left = flush()
        Process.flag("trap_exit", True)
        ts = [Task.async_(slow, 0.01), Task.async_(beamlet.exit, "bad")]
        try:
            await Task.await_many(ts)
        except ProcessExit as e:
            reason = e.reason
        return ok, left, reason == ("bad", (Task, "await_many", [ts, 5.0]))

    assert run(main) == ([0, 1, 2, 3, 4], [], True)


def test_every_collector_checks_the_owner():
    async def main():
        t = Task.async_(sleep, None)
        me = self_pid()

        async def other():
            out = []
            for call in (lambda: Task.yield_(t, 0), lambda: Task.shutdown(t),
                         lambda: Task.ignore(t), lambda: Task.await_many([t], 0)):
                try:
                    await call()
                except ValueError:
                    out.append("ValueError")
            send(me, out)

        spawn(other)
        out = await receive(list)
        return out, await Task.shutdown(t)

    assert run(main) == (["ValueError"] * 4, None)


def test_start_link_crash_takes_the_caller_down_start_does_not():
    quiet()

    async def linked():
        Task.start_link(beamlet.exit, "linked boom")
        await sleep(None)

    async def unlinked(parent):
        Task.start(beamlet.exit, "unlinked boom")
        await settle()
        send(parent, "survived")

    async def main():
        _, ref = spawn_monitor(linked)
        down = (await receive(Down(ref, ANY, ANY))).reason
        spawn(unlinked, self_pid())
        return down, await receive("survived")

    assert run(main) == ("linked boom", "survived")


def test_task_info_keys():
    async def main():
        t = Task.async_(lambda: (Process.get("$callers"), Process.get("$ancestors")))
        return await t == ([self_pid()], [self_pid()])

    assert run(main) is True


# --- async_stream ----------------------------------------------------------------------------

async def _counter(peak=0, cur=0):
    while True:
        m = await receive()
        if m == "in":
            cur += 1
            peak = max(peak, cur)
        elif m == "out":
            cur -= 1
        else:
            send(m, peak)


def test_async_stream_peak_concurrency_counted_by_the_tasks():
    async def main():
        base = len(Process.list())   # main only
        out = []
        for mc in (1, 4, 7):
            c = spawn(_counter)

            async def f(x, c=c):
                send(c, "in")
                for _ in range(x % 3 + 1):
                    await sleep(0)   # tasks that suspend a few times: under test
                send(c, "out")
                return x

            alive = 0
            items = []
            async for item in Task.async_stream(range(60), f, max_concurrency=mc):
                items.append(item)
                alive = max(alive, len(Process.list()) - base - 1)  # minus the counter
            send(c, self_pid())
            in_order = items == [("ok", i) for i in range(60)]
            out.append((mc, await receive(int), alive <= mc, in_order))
            Process.exit(c, "kill")
        return out

    assert run(main) == [(1, 1, True, True), (4, 4, True, True), (7, 7, True, True)]


def test_async_stream_break_kills_running_tasks_and_leaves_nothing():
    async def main():
        out = []
        async for item in Task.async_stream([0, 1.0, 1.0, 1.0], slow, max_concurrency=4):
            out.append(item)
            break
        await settle()   # the killed tasks die when next scheduled (async signals)
        return out, Process.list() == [self_pid()], flush()

    assert run(main) == ([("ok", 0)], True, [])


def test_async_stream_closed_by_hand():
    async def main():
        s = Task.async_stream(itertools.count(), slow, max_concurrency=3)
        first = await s.__anext__()
        await s.aclose()
        await settle()   # the killed tasks die when next scheduled (async signals)
        return first, Process.list() == [self_pid()], flush()

    assert run(main) == (("ok", 0), True, [])


def test_async_stream_input_error_propagates_and_stops_the_tasks():
    def bad_input():
        yield 0.5
        yield 0.5
        raise KeyError("input")

    async def main():
        try:
            async for _ in Task.async_stream(bad_input(), slow, max_concurrency=5):
                pass
        except KeyError:
            await settle()   # the killed tasks die when next scheduled (async signals)
            return Process.list() == [self_pid()], flush()

    assert run(main) == (True, [])


def test_async_stream_exit_on_timeout_stops_the_other_tasks():
    async def main():
        try:
            async for _ in Task.async_stream([1.0, 0.01, 1.0], slow, timeout=0.05):
                pass
        except ProcessExit as e:
            await settle()   # the killed tasks die when next scheduled (async signals)
            return e.reason, Process.list() == [self_pid()], flush()

    assert run(main, schedulers=2) == (("timeout", (TaskSupervised, "stream", [0.05])), True, [])


def test_async_stream_kill_task_unordered_and_no_timeout():
    async def main():
        unordered = [x async for x in Task.async_stream(
            [0.3, 0.01, 0.03], slow, ordered=False, timeout=0.1, on_timeout="kill_task",
            max_concurrency=3)]
        untimed = [x async for x in Task.async_stream([0.06, 0.01], slow, timeout=None)]
        await settle()   # the killed tasks die when next scheduled (async signals)
        return unordered, untimed, Process.list() == [self_pid()]

    assert run(main) == ([("ok", 0.01), ("ok", 0.03), ("exit", "timeout")],
                         [("ok", 0.06), ("ok", 0.01)], True)


def test_async_stream_crash_kills_a_non_trapping_consumer():
    quiet()

    async def consumer():
        async for _ in Task.async_stream([1, 0, 2], lambda x: 1 / x):
            pass

    async def main():
        _, ref = spawn_monitor(consumer)
        reason = (await receive(Down(ref, ANY, ANY))).reason
        await settle()   # the killed tasks die when next scheduled (async signals)
        return type(reason), Process.list() == [self_pid()]

    assert run(main) == (ZeroDivisionError, True)


def test_async_stream_small_cases():
    async def main():
        empty = [x async for x in Task.async_stream([], str)]
        plain = [x async for x in Task.async_stream("abc", str.upper, max_concurrency=1)]
        big = [v async for _, v in Task.async_stream(range(2000), lambda x: -x,
                                                     max_concurrency=50)]
        who = [v async for _, v in Task.async_stream([0], lambda _: Process.get("$callers"))]
        with pytest.raises(TypeError):
            Task.async_stream(42, str)
        with pytest.raises(ValueError):
            Task.async_stream([1], str, timeout=-1)
        return empty, plain, big == [-x for x in range(2000)], who == [[self_pid()]]

    assert run(main) == ([], [("ok", "A"), ("ok", "B"), ("ok", "C")], True, True)
