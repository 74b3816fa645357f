"""Hand-off: a process that never awaits (a CPU loop, a blocking call) cannot freeze the others.

None of these tests measures time: each waits for the messages that prove the point.
"""

import os
import threading
import time

import pytest

import beamlet
from beamlet import ANY, Down, Process, monitor, receive, self_pid, send, spawn

GUARD_SECONDS = 30.0  # against a hang only: the pipe is written as soon as pong came


def spin_forever(parent):
    send(parent, ("spinning", beamlet.self_pid()))
    while True:
        pass


async def responder():
    while True:
        sender = await receive()
        send(sender, "pong")


def test_cpu_loop_does_not_stop_other_processes():
    async def main():
        spinner = spawn(spin_forever, self_pid())
        await receive(("spinning", spinner))
        r = spawn(responder)
        for _ in range(50):
            send(r, self_pid())
            await receive("pong")
        return Process.info(spinner, "status")

    assert beamlet.run(main) == "running"


def test_kill_ends_a_process_stuck_in_a_loop():
    async def main():
        spinner = spawn(spin_forever, self_pid())
        await receive(("spinning", spinner))
        ref = monitor(spinner)
        Process.exit(spinner, "kill")
        alive_right_after = Process.alive(spinner)
        down = await receive(Down(ref, spinner, ANY))
        return alive_right_after, down.reason

    assert beamlet.run(main) == (False, "killed")


def test_run_ends_with_a_spinner_left_and_no_thread_behind():
    before = threading.active_count()

    async def main():
        spinner = spawn(spin_forever, self_pid())
        await receive(("spinning", spinner))
        return "done"

    assert beamlet.run(main) == "done"
    assert threading.active_count() == before


def test_blocking_call_does_not_stop_other_processes():
    # The blocking call under test: a read of a pipe that main writes only once another
    # process has answered it (a guard thread writes after GUARD_SECONDS, failing the order).
    read_end, write_end = os.pipe()
    guard = threading.Timer(GUARD_SECONDS, os.write, (write_end, b"!"))
    guard.start()

    def blocker(parent):
        send(parent, "blocking")
        os.read(read_end, 1)
        send(parent, "unblocked")

    async def main():
        spawn(blocker, self_pid())
        await receive("blocking")
        r = spawn(responder)
        send(r, self_pid())
        first = await receive()
        os.write(write_end, b"x")
        second = await receive()
        return first, second

    try:
        assert beamlet.run(main) == ("pong", "unblocked")
    finally:
        guard.cancel()
        os.close(read_end)
        os.close(write_end)


def test_timers_fire_while_a_process_spins():
    async def main():
        spinner = spawn(spin_forever, self_pid())
        await receive(("spinning", spinner))
        Process.send_after(self_pid(), "tick", 0.01)
        # a sleep's timer must fire too while the spinner spins: under test
        await beamlet.sleep(0.01)
        return await receive("tick")

    assert beamlet.run(main) == "tick"


def test_main_process_may_block_too():
    def sync_main():
        read_end, write_end = os.pipe()
        writer = threading.Thread(target=os.write, args=(write_end, b"x"))
        writer.start()
        os.read(read_end, 1)  # the blocking call under test, until the writer thread writes
        writer.join()
        os.close(read_end)
        os.close(write_end)
        return 42

    assert beamlet.run(sync_main) == 42


def test_stuck_process_can_send_and_spawn():
    """Kernel calls from a detached thread go through the kernel lock, as its own process."""
    def busy(parent):
        send(parent, "started")
        deadline = time.monotonic() + 0.05
        n = 0
        while time.monotonic() < deadline:  # long enough to be handed off
            n += 1
        child = beamlet.spawn(lambda: None)
        send(parent, ("done", beamlet.self_pid(), isinstance(child, beamlet.Pid)))

    async def main():
        pid = spawn(busy, self_pid())
        await receive("started")
        return await receive(("done", ANY, ANY)) == ("done", pid, True)

    assert beamlet.run(main)


def test_schedulers_option_is_reported():
    async def main():
        return beamlet.schedulers_online()

    assert beamlet.run(main, schedulers=3) == 3


def test_blocking_socket_read_does_not_stop_other_processes():
    import socket

    a, b = socket.socketpair()

    def reader(parent):
        send(parent, "reading")
        data = a.recv(100)  # blocks until the main process writes
        send(parent, ("read", data))

    async def main():
        spawn(reader, self_pid())
        await receive("reading")
        r = spawn(responder)
        send(r, self_pid())
        first = await receive()
        b.sendall(b"hello")
        second = await receive()
        return first, second

    try:
        assert beamlet.run(main) == ("pong", ("read", b"hello"))
    finally:
        a.close()
        b.close()


def test_status_reports_running_runnable_and_waiting():
    async def waiter():
        await receive()

    async def main():
        w = spawn(waiter)
        r = spawn(waiter)  # queued, not yet run
        status_runnable = Process.info(r, "status")
        await beamlet.yield_turn()
        return status_runnable, Process.info(w, "status"), Process.info(self_pid(), "status")

    assert beamlet.run(main) == ("runnable", "waiting", "running")


async def long_stepper(parent):
    """Steps of ~3 ms each (CPU work that yields now and then), counting them until asked."""
    steps = 0
    while True:
        end = time.perf_counter() + 0.003
        while time.perf_counter() < end:
            pass
        steps += 1
        if await receive("count?", timeout=0, default=None) == "count?":
            send(parent, ("steps", steps))
            return
        await beamlet.yield_turn()


@pytest.mark.parametrize("priority", ["normal", "max"])
def test_a_timer_fires_among_processes_that_run_long_steps(priority):
    # The loop fires timers between batches of steps; a batch of 3 ms steps would last
    # 200 steps. The watchdog ends a batch that has lasted its poll, so the timer's message
    # comes after a few steps, not hundreds (in a batch of the "max" queue too).
    async def waiter(parent):
        me = self_pid()
        busy = [spawn(long_stepper, me, priority=priority) for _ in range(2)]
        Process.send_after(me, "tick", 0.001)
        await receive("tick")
        for pid in busy:
            send(pid, "count?")
        send(parent, sum([(await receive(("steps", ANY)))[1] for _ in busy]))

    async def main():
        spawn(waiter, self_pid(), priority=priority)
        return await receive(int)

    assert beamlet.run(main) < 100


def test_the_watchdog_rests_while_the_node_sleeps_and_still_catches_a_hog():
    from beamlet.kernel import node as node_mod

    with beamlet.ThreadedNode() as n:
        state = node_mod.current
        deadline = time.monotonic() + GUARD_SECONDS
        while not state.watchdog_resting and time.monotonic() < deadline:
            threading.Event().wait(0.001)   # nothing to await: the flag is the watchdog's
        assert state.watchdog_resting, "an idle node kept its watchdog polling"

        async def hog_then_ping():
            spinner = spawn(spin_forever, self_pid())
            await receive(("spinning", spinner))
            r = spawn(responder)
            send(r, self_pid())
            return await receive("pong", timeout=GUARD_SECONDS, default="no hand-off")

        assert n.call(hog_then_ping, timeout=GUARD_SECONDS) == "pong"


def test_a_process_hands_the_scheduler_off_itself():
    # `hand_off()` does at once what the watchdog does a few ms into a step that does not
    # await: this thread goes on with the step, a new one runs everybody else.
    from beamlet.kernel import node as node_mod

    read_end, write_end = os.pipe()
    guard = threading.Timer(GUARD_SECONDS, os.write, (write_end, b"!"))
    guard.start()

    def blocker(parent):
        before = node_mod.current.handoffs
        handed = beamlet.hand_off()
        handed_again = beamlet.hand_off()     # this thread is detached already
        send(parent, (handed, handed_again, node_mod.current.handoffs - before))
        os.read(read_end, 1)                  # blocks: the others must go on meanwhile
        send(parent, "unblocked")

    async def main():
        spawn(blocker, self_pid())
        first = await receive()
        r = spawn(responder)
        send(r, self_pid())
        pong = await receive("pong")
        os.write(write_end, b"x")
        return first, pong, await receive("unblocked")

    try:
        assert beamlet.run(main) == ((True, False, 1), "pong", "unblocked")
    finally:
        guard.cancel()
        os.close(read_end)
        os.close(write_end)

    async def unwatched():
        return beamlet.hand_off()

    assert beamlet.run(unwatched, handoff=False) is False
