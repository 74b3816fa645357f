"""Ground truth g01-g05 (registry) and t01-t08 (timers)."""

import time

import pytest

import beamlet
from beamlet import (
    ANY,
    Down,
    NoProc,
    Process,
    flush,
    make_ref,
    monitor,
    node,
    receive,
    self_pid,
    send,
    sleep,
    spawn,
    spawn_monitor,
)
from beamlet.testing import wait_dead


def run(fn):
    return beamlet.run(fn)


def test_g01_register_whereis_unregister():
    async def main():
        pid = spawn(sleep, None)
        out = [Process.register(pid, "g01_name"), Process.whereis("g01_name") is pid,
               "g01_name" in Process.registered(), Process.info(pid, "registered_name"),
               Process.unregister("g01_name"), Process.whereis("g01_name"),
               Process.info(pid, "registered_name")]
        return out

    assert run(main) == [True, True, True, "g01_name", True, None, []]


def test_g02_registration_conflicts():
    async def main():
        a = spawn(sleep, None)
        b = spawn(sleep, None)
        Process.register(a, "g02_name")
        out = {}
        for label, fn in [
            ("second_process_same_name", lambda: Process.register(b, "g02_name")),
            ("same_process_second_name", lambda: Process.register(a, "g02_other")),
            ("same_process_same_name_again", lambda: Process.register(a, "g02_name")),
            ("unregister_unknown", lambda: Process.unregister("g02_unknown")),
            ("register_none", lambda: Process.register(b, None)),
            ("register_int", lambda: Process.register(b, 42)),
        ]:
            try:
                fn()
                out[label] = "no error"
            except (ValueError, TypeError) as e:
                out[label] = type(e).__name__
        dead = spawn(lambda: None)
        await wait_dead(dead)
        with pytest.raises(ValueError):
            Process.register(dead, "g02_dead")
        out["whereis_still_a"] = Process.whereis("g02_name") is a
        return out

    assert run(main) == {
        "second_process_same_name": "ValueError", "same_process_second_name": "ValueError",
        "same_process_same_name_again": "ValueError", "unregister_unknown": "ValueError",
        "register_none": "TypeError", "register_int": "TypeError", "whereis_still_a": True}


def test_g04_send_to_name_then_to_dead_name():
    async def echo(parent):
        send(parent, ("echo", await receive()))

    async def main():
        pid, ref = spawn_monitor(echo, self_pid())
        Process.register(pid, "g04_name")
        r = send("g04_name", "ping")
        echoed = await receive(("echo", ANY))
        await receive(Down(ref, ANY, ANY))
        with pytest.raises(NoProc):
            send("g04_name", "ping")
        return r, echoed

    assert run(main) == ("ping", ("echo", "ping"))


def test_g05_register_self_and_info():
    async def main():
        unnamed = Process.info(self_pid(), "registered_name")
        Process.register(self_pid(), "g05_self")
        return (unnamed, Process.info(self_pid(), "registered_name"),
                Process.whereis("g05_self") is self_pid(),
                Process.info(self_pid(), ["registered_name"]))

    assert run(main) == ([], "g05_self", True, {"registered_name": "g05_self"})


def test_t01_timers_fire_in_deadline_order():
    async def main():
        me = self_pid()
        Process.send_after(me, "c", 0.06)
        Process.send_after(me, "a", 0.02)
        Process.send_after(me, "b", 0.04)
        return [await receive() for _ in range(3)]

    assert run(main) == ["a", "b", "c"]


def test_same_deadline_timers_fire_in_creation_order():
    async def main():
        me = self_pid()
        for i in range(20):
            Process.send_after(me, i, 0.01)
        return [await receive() for _ in range(20)]

    assert run(main) == list(range(20))


def test_t03_cancel_and_read_timer():
    async def main():
        me = self_pid()
        ref = Process.send_after(me, "x", 1.0)
        await sleep(0.1)  # the time that passes is what read back below: the behaviour under test
        rem = Process.cancel_timer(ref)
        again = Process.cancel_timer(ref)
        ref2 = Process.send_after(me, "y", 0.01)
        fired_message = await receive("y", timeout=1.0)
        fired = Process.cancel_timer(ref2)
        mailbox = [fired_message, *flush()]
        ref3 = Process.send_after(me, "z", 1.0)
        read = Process.read_timer(ref3)
        quiet = Process.cancel_timer(ref3, info=False)
        return (isinstance(rem, float), 0.85 <= rem <= 0.95, again, fired, mailbox,
                isinstance(read, float), quiet, Process.read_timer(ref3),
                Process.cancel_timer(make_ref()))

    assert run(main) == (True, True, False, False, ["y"], True, "ok", False, False)


def test_t04_sleep_takes_at_least_its_time():
    async def main():
        t0 = time.monotonic()
        r = await sleep(0.05)  # the sleep under test
        el = time.monotonic() - t0
        return r, el >= 0.05, el < 0.07 + 0.05

    assert run(main) == ("ok", True, True)


def test_t05_send_after_to_dead_pid_or_unregistered_name():
    async def main():
        dead = spawn(lambda: None)
        await wait_dead(dead)
        r1 = Process.send_after(dead, "x", 0.01)
        r2 = Process.send_after("t05_nobody", "x", 0.01)
        Process.send_after("t05_later", "hello_later", 0.05)
        Process.register(self_pid(), "t05_later")
        # the two earlier timers have fired (and been dropped) by the time the later one does
        later = await receive("hello_later", timeout=1.0)
        return isinstance(r1, beamlet.Ref), isinstance(r2, beamlet.Ref), [later, *flush()]

    assert run(main) == (True, True, ["hello_later"])


def test_t05_timer_aimed_at_a_process_dies_with_it():
    """As the BEAM (+S 1): the kill is asynchronous, so right after `Process.exit` the timer
    still runs; once the target has died, the timer has died with it."""
    async def main():
        target = spawn(sleep, None)
        ref = Process.send_after(target, "x", 1.0)
        Process.exit(target, "kill")
        running = Process.read_timer(ref)
        target2 = spawn(sleep, None)
        ref2 = Process.send_after(target2, "x", 1.0)
        Process.exit(target2, "kill")
        await wait_dead(target2)
        return running > 0.5, Process.read_timer(ref2), Process.cancel_timer(ref2)

    assert run(main) == (True, False, False)


def test_timer_outlives_its_creator():
    async def creator(parent):
        Process.send_after(parent, "from_the_dead", 0.02)

    async def main():
        pid, ref = spawn_monitor(creator, self_pid())
        await receive(Down(ref, ANY, ANY))
        return await receive("from_the_dead", timeout=1)

    assert run(main) == "from_the_dead"


def test_t06_zero_timer_arrives_after_an_immediate_send():
    async def main():
        me = self_pid()
        orders = set()
        for _ in range(20):
            Process.send_after(me, "t", 0)
            send(me, "d")
            orders.add((await receive(timeout=1.0), await receive(timeout=1.0)))
        return orders

    assert run(main) == {("d", "t")}


def test_t08_start_timer_message_shape():
    async def main():
        me = self_pid()
        ref = Process.start_timer(me, "tick", 0.01)
        tag, r, m = await receive(("timeout", ANY, ANY))
        Process.send_after(me, "tock", 0.01)
        return tag, r is ref, m, await receive()

    assert run(main) == ("timeout", True, "tick", "tock")


def test_timer_bad_input():
    async def main():
        me = self_pid()
        with pytest.raises(ValueError):
            Process.send_after(me, "x", -1)
        with pytest.raises(TypeError):
            Process.send_after(me, "x", "soon")
        with pytest.raises(TypeError):
            Process.send_after(42, "x", 1)
        with pytest.raises(TypeError):
            Process.read_timer("nope")
        return "ok"

    assert run(main) == "ok"


def test_send_to_name_node_tuple_delivers():
    async def main():
        Process.register(self_pid(), "me")
        send(("me", node()), "via tuple")
        send(("me", "other@host"), "lost")
        return await receive(), flush()

    assert run(main) == ("via tuple", [])


def test_answered_receive_timeouts_do_not_pile_up():
    """A receive with a long timeout answered at once leaves a cancelled timer entry behind;
    the kernel rebuilds its timer heap before those entries dominate it."""
    from beamlet.kernel import timer_wheel

    async def echo():
        while True:
            sender, n = await receive()
            send(sender, n)

    async def main():
        e = spawn(echo)
        me = self_pid()
        for i in range(5000):
            send(e, (me, i))
            await receive(i, timeout=5.0)
        return timer_wheel.armed()

    assert run(main) == 0  # every answered receive took its timer with it


def test_monitor_alias_drops_late_replies():
    async def slow(parent):
        sender, tag = await receive()
        send(parent, "got_request")
        await receive("go")
        send(tag, (tag, "late reply"))

    async def main():
        server = spawn(slow, self_pid())
        mref = monitor(server, alias=True)
        send(server, (self_pid(), mref))
        await receive("got_request")
        answer = await receive((mref, ANY), timeout=0.01, default="gave up")
        beamlet.demonitor(mref, flush=True)
        send(server, "go")
        await wait_dead(server)  # it has sent its late reply to the dead alias
        return answer, flush()

    assert run(main) == ("gave up", [])
