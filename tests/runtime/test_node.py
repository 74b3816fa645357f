"""Driving a node from threaded code (`beamlet.ThreadedNode`), and `beamlet.run`'s contract."""

import logging
import threading

import pytest

import beamlet
from beamlet import ProcessExit, ThreadedNode, receive, self_pid, send, spawn
from beamlet.testing import wait_dead


async def doubler():
    while True:
        sender, n = await receive()
        send(sender, n * 2)


def test_node_spawn_send_call_from_threads():
    with ThreadedNode() as node:
        pid = node.spawn(doubler)

        async def ask(n):
            send(pid, (self_pid(), n))
            return await receive()

        results = []
        threads = [threading.Thread(target=lambda i=i: results.append(node.call(ask, i)))
                   for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(results) == [i * 2 for i in range(8)]


def test_node_call_reraises_and_stop_is_clean():
    before = threading.active_count()
    node = ThreadedNode().start()

    def boom():
        raise KeyError("x")

    with pytest.raises(KeyError):
        node.call(boom)
    assert node.call(lambda: 7) == 7
    node.stop()
    assert threading.active_count() == before


def test_node_send_by_name():
    with ThreadedNode() as node:
        got = []

        async def named():
            beamlet.Process.register(self_pid(), "sink")
            got.append(await receive())

        node.spawn(named)

        async def wait_registered():
            while beamlet.Process.whereis("sink") is None:
                await beamlet.yield_turn()

        node.call(wait_registered)
        node.send("sink", "hello")

        async def wait_got():
            sink = beamlet.Process.whereis("sink")
            if sink is not None:  # it ends right after taking the message
                await wait_dead(sink)

        node.call(wait_got)
        assert got == ["hello"]


def test_run_returns_result_and_reraises_crash():
    async def ok(a, b):
        return a + b

    async def crash():
        raise ValueError("bad")

    async def exits():
        beamlet.exit("bye")

    assert beamlet.run(ok, 1, 2) == 3
    with pytest.raises(ValueError, match="bad"):
        beamlet.run(crash)
    with pytest.raises(ProcessExit) as e:
        beamlet.run(exits)
    assert e.value.reason == "bye"


def test_run_stops_leftover_processes_running_finally_blocks():
    stopped = []

    async def lingering(tag):
        try:
            await receive()
        finally:
            stopped.append(tag)

    async def main():
        spawn(lingering, "a")
        spawn(lingering, "b")
        await beamlet.yield_turn()
        return "done"

    assert beamlet.run(main) == "done"
    assert sorted(stopped) == ["a", "b"]


def test_deadlock_is_reported():
    async def main():
        await receive()

    with pytest.raises(beamlet.Deadlock):
        beamlet.run(main)


def test_crash_is_logged_with_pid_and_traceback(caplog):
    async def crasher():
        raise RuntimeError("kaboom")

    async def main():
        pid, ref = beamlet.spawn_monitor(crasher)
        await receive(beamlet.Down(ref, pid, beamlet.ANY))
        return pid

    with caplog.at_level(logging.ERROR, logger="beamlet"):
        pid = beamlet.run(main)
    [rec] = [r for r in caplog.records if "kaboom" in str(r.exc_info)]
    assert repr(pid) in rec.getMessage()
    assert rec.exc_info[0] is RuntimeError


def test_nested_run_is_refused():
    async def main():
        with pytest.raises(RuntimeError):
            beamlet.run(lambda: None)
        return "ok"

    assert beamlet.run(main) == "ok"


def test_keyboard_interrupt_in_any_process_stops_the_node():
    async def interrupted():
        raise KeyboardInterrupt

    async def main():
        spawn(interrupted)
        await receive()

    with pytest.raises(KeyboardInterrupt):
        beamlet.run(main)
    assert beamlet.run(lambda: "a new node runs fine") == "a new node runs fine"


def test_sys_exit_in_a_process_stops_the_node():
    import sys

    async def main():
        sys.exit(3)

    with pytest.raises(SystemExit):
        beamlet.run(main)
