"""Ground truth r01-r11: mailbox order, selective receive, timeouts, sends to the dead and to
names."""

import time

import pytest

import beamlet
from beamlet import ANY, NoProc, Process, flush, monitor, node, receive, self_pid, send, spawn
from beamlet.testing import settle


def run(fn):
    return beamlet.run(fn)


def test_r01_fifo():
    async def main():
        for i in range(1, 6):
            send(self_pid(), ("n", i))
        return [(await receive(("n", int)))[1] for _ in range(5)]

    assert run(main) == [1, 2, 3, 4, 5]


def test_r02_selective_receive_keeps_the_rest_in_order():
    async def main():
        for m in ["a", ("b", 1), "c", ("b", 2), "d"]:
            send(self_pid(), m)
        b1 = (await receive(("b", ANY)))[1]
        b2 = (await receive(("b", ANY)))[1]
        return [b1, b2], Process.info(self_pid(), "message_queue_len"), flush()

    assert run(main) == ([1, 2], 3, ["a", "c", "d"])


def test_r03_timeout_zero():
    async def main():
        r1 = await receive(timeout=0, default="timeout")
        send(self_pid(), "x")
        r2 = await receive(timeout=0, default="timeout")
        send(self_pid(), "y")
        r3 = await receive("z", timeout=0, default="timeout")
        return r1, r2, r3, flush()

    assert run(main) == ("timeout", "x", "timeout", ["y"])


def test_r04_timeout_without_match_leaves_message():
    async def main():
        send(self_pid(), "x")
        t0 = time.monotonic()
        r = await receive("y", timeout=0.05, default="timeout")
        elapsed = time.monotonic() - t0
        return r, elapsed >= 0.05, elapsed < 0.15, Process.info(self_pid(), "message_queue_len")

    assert run(main) == ("timeout", True, True, 1)


def test_timeout_without_default_raises_timeout_error():
    async def main():
        with pytest.raises(TimeoutError):
            await receive("never", timeout=0.01)
        return "ok"

    assert run(main) == "ok"


def test_r06_send_to_dead_pid_is_dropped():
    async def main():
        pid = spawn(lambda: None)
        ref = monitor(pid)
        await receive(beamlet.Down(ref, ANY, ANY))
        return Process.alive(pid), send(pid, "hello")

    assert run(main) == (False, "hello")


def test_r07_send_to_unregistered_name():
    async def main():
        with pytest.raises(LookupError):
            send("no_such_name", "hi")
        with pytest.raises(NoProc):
            send("no_such_name", "hi")
        return send(("no_such_name", node()), "hi")

    assert run(main) == "hi"


def test_r08_send_to_self():
    async def main():
        r = send(self_pid(), ("hi", 1))
        return r, Process.info(self_pid(), "message_queue_len"), await receive(timeout=0)

    assert run(main) == (("hi", 1), 1, ("hi", 1))


def test_r09_pinned_value_and_guard():
    async def main():
        tag = "t2"
        for m in [("t1", 5), ("t2", 1), ("t2", 10), ("t2", 20)]:
            send(self_pid(), m)
        _, v = await receive((tag, lambda v: v > 5))
        return v, flush()

    assert run(main) == (10, [("t1", 5), ("t2", 1), ("t2", 20)])


def test_r11_failed_scans_leave_mailbox_untouched():
    async def main():
        for i in range(1, 101):
            send(self_pid(), ("n", i))
        for _ in range(3):
            assert await receive("never", timeout=0, default="timeout") == "timeout"
        return Process.info(self_pid(), "message_queue_len"), await receive()

    assert run(main) == (100, ("n", 1))


def test_patterns_types_dicts_lists_predicates_nested():
    async def main():
        me = self_pid()
        for m in [3.5, {"k": 1, "x": 2}, [1, 2], ("greet", "bob"), ("reply", "r", 7), 12]:
            send(me, m)
        return [
            await receive(("reply", "r", ANY)),
            await receive({"k": int}),
            await receive(("greet", str)),
            await receive([1, ANY]),
            await receive(lambda m: m == 12),
            await receive(float),
        ]

    assert run(main) == [("reply", "r", 7), {"k": 1, "x": 2}, ("greet", "bob"), [1, 2], 12, 3.5]


def test_equality_patterns_do_not_confuse_bool_int_float():
    async def main():
        me = self_pid()
        send(me, True)
        send(me, 1.0)
        send(me, 1)
        return await receive(1), flush()

    assert run(main) == (1, [True, 1.0])


def test_first_matching_pattern_in_mailbox_order_wins():
    async def main():
        me = self_pid()
        send(me, ("b", 1))
        send(me, ("a", 2))
        return await receive(("a", ANY), ("b", ANY))

    assert run(main) == ("b", 1)


def test_predicate_that_raises_crashes_the_receiver_not_the_sender():
    async def receiver():
        await receive(lambda m: 1 / 0)

    async def main():
        pid, ref = beamlet.spawn_monitor(receiver)
        await beamlet.yield_turn()
        send(pid, "anything")  # the sender is unaffected
        down = await receive(beamlet.Down(ref, pid, ANY))
        return type(down.reason)

    assert run(main) is ZeroDivisionError


def test_receive_waits_for_a_later_matching_message():
    async def late(parent):
        send(parent, "noise")
        await settle()  # the parent is parked in its receive when "wanted" comes
        send(parent, ("wanted", 1))

    async def main():
        spawn(late, self_pid())
        got = await receive(("wanted", ANY))
        return got, flush()

    assert run(main) == (("wanted", 1), ["noise"])


def test_flush_with_patterns_takes_only_the_matching_messages():
    async def main():
        me = self_pid()
        for m in [1, "a", 2, "b", 3]:
            send(me, m)
        return flush(int), flush()

    assert run(main) == ([1, 2, 3], ["a", "b"])
