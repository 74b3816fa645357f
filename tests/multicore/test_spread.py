"""`Task.async_stream(..., nodes=)` and `TaskSupervisor` across the peers of ``cores=2``:
the same results, options and exits as the one-node stream (and Elixir's), batches or not."""

from __future__ import annotations

import itertools
import os
import signal
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

import beamlet
from beamlet import (
    ANY,
    Node,
    Process,
    Task,
    TaskSupervised,
    TaskSupervisor,
    receive,
    register,
    self_pid,
    send,
    spawn,
    spawn_monitor,
)
from beamlet.dist import peers
from beamlet.testing import settle, wait_down

GUARD_SECONDS = 30.0  # a guard against hanging, never a wait for something to happen


def on_two_nodes(body: Callable[[str], Awaitable[Any]]) -> Any:
    """Run ``body(peer)`` on the main node of ``cores=2``."""

    async def main() -> Any:
        (peer,) = Node.list()
        return await body(peer)

    return beamlet.run(main, cores=2)


def square_where(x: int) -> tuple[int, str]:
    return x * x, beamlet.node()


def spin(count: int) -> int:
    total = 0
    for i in range(count):
        total += i
    return total


def test_results_come_in_order_from_both_nodes() -> None:
    async def body(peer: str) -> tuple[list[Any], list[Any]]:
        nodes = [peer, beamlet.node()]
        ordered = [r async for r in Task.async_stream(range(300), square_where, nodes=nodes)]
        unordered = [r async for r in Task.async_stream(range(300), square_where, nodes=nodes,
                                                        ordered=False)]
        return ordered, unordered

    ordered, unordered = on_two_nodes(body)
    assert [(s, v[0]) for s, v in ordered] == [("ok", x * x) for x in range(300)]
    assert len({v[1] for _, v in ordered}) == 2, "work ran on one node only"
    assert sorted(v[0] for _, v in unordered) == [x * x for x in range(300)]


def interval(x: int) -> tuple[float, float]:
    started = time.monotonic()   # CLOCK_MONOTONIC: one clock for every process of the host
    spin(20_000)
    return started, time.monotonic()


@pytest.mark.parametrize("limit", [1, 2])
def test_max_concurrency_bounds_the_items_running_at_once(limit: int) -> None:
    async def body(peer: str) -> list[Any]:
        return [r async for r in Task.async_stream(range(40), interval, max_concurrency=limit,
                                                   nodes=[peer, beamlet.node()])]

    spans = [v for _, v in on_two_nodes(body)]
    edges = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])
    running = most = 0
    for _, step in edges:
        running += step
        most = max(most, running)
    assert most <= limit


def late_at_two(x: int) -> Any:
    """Item 2 never ends (a CPU loop, which only a kill stops); the others at once."""
    if x == 2:
        while True:
            pass
    return x


async def late_async(x: int) -> Any:
    if x == 2:
        await receive("never sent")
    return x


@pytest.mark.parametrize("place", ["peer", "here"])
@pytest.mark.parametrize("fn", [late_at_two, late_async])
def test_kill_task_gives_the_late_item_exit_timeout(place: str, fn: Callable[..., Any]) -> None:
    async def body(peer: str) -> list[Any]:
        nodes = [peer] if place == "peer" else [beamlet.node()]
        return [r async for r in Task.async_stream(range(5), fn, nodes=nodes, timeout=0.3,
                                                   on_timeout="kill_task")]

    assert on_two_nodes(body) == [("ok", 0), ("ok", 1), ("exit", "timeout"), ("ok", 3),
                                  ("ok", 4)]


def test_on_timeout_exit_exits_the_consumer_as_elixir() -> None:
    async def consumer(peer: str) -> None:
        async for _ in Task.async_stream(range(5), late_at_two, nodes=[peer], timeout=0.3):
            pass

    async def body(peer: str) -> Any:
        _, ref = spawn_monitor(consumer, peer)
        return await wait_down(ref, timeout=GUARD_SECONDS)

    assert on_two_nodes(body) == ("timeout", (TaskSupervised, "stream", [0.3]))


def fails_at_three(x: int) -> int:
    if x == 3:
        raise ValueError("three")
    return x


def test_a_crashing_item_exits_its_item_for_a_trapping_consumer() -> None:
    async def body(peer: str) -> list[Any]:
        Process.flag("trap_exit", True)
        out = [r async for r in Task.async_stream(range(8), fails_at_three,
                                                  nodes=[peer, beamlet.node()])]
        await settle()
        assert Process.info(self_pid(), "message_queue_len") == 0
        return out

    out = on_two_nodes(body)
    assert out[:3] == [("ok", 0), ("ok", 1), ("ok", 2)] and out[4:] == [("ok", x) for x in
                                                                        range(4, 8)]
    status, reason = out[3]
    assert status == "exit" and isinstance(reason, ValueError) and str(reason) == "three"


def test_a_crashing_item_takes_a_consumer_that_does_not_trap_down() -> None:
    async def consumer(peer: str) -> None:
        async for _ in Task.async_stream(range(8), fails_at_three, nodes=[peer]):
            pass

    async def body(peer: str) -> Any:
        _, ref = spawn_monitor(consumer, peer)
        return await wait_down(ref, timeout=GUARD_SECONDS)

    reason = on_two_nodes(body)
    assert isinstance(reason, ValueError) and str(reason) == "three"


def report_then_hang(x: int) -> Any:
    """On the peer: tell the main node's "watcher" an item runs, then never end. Here: x."""
    if beamlet.node().rsplit("@")[0].endswith("_1"):
        send(("watcher", beamlet.node().replace("_1@", "@")), ("running", x))
        while True:
            pass
    return x


async def kill_the_peer(os_pid: int) -> None:
    await receive(("running", ANY))
    os.kill(os_pid, signal.SIGKILL)


@pytest.mark.parametrize("trap", [True, False])
def test_a_peer_killed_mid_stream_gives_noconnection(trap: bool) -> None:
    """As in Elixir, where the tasks are linked to the consumer: a trapping consumer gets
    ``{:exit, :noconnection}`` for each task that was on the lost node and the stream goes
    on; one that does not trap exits with ``:noconnection``."""

    async def consumer(peer: str, me: Any) -> None:
        Process.flag("trap_exit", trap)
        out = [r async for r in Task.async_stream(range(20), report_then_hang,
                                                  nodes=[peer, beamlet.node()],
                                                  timeout=None)]
        send(me, ("out", out))

    async def body(peer: str) -> Any:
        started = peers.current()
        assert started is not None
        register(spawn(kill_the_peer, started.os_pids()[peer]), "watcher")
        _, ref = spawn_monitor(consumer, peer, self_pid())
        reason = await wait_down(ref, timeout=GUARD_SECONDS)
        got = await receive(("out", ANY), timeout=0, default=None)
        return reason, got

    reason, got = on_two_nodes(body)
    if not trap:
        assert reason == "noconnection" and got is None
        return
    assert reason == "normal"
    out = got[1]
    assert len(out) == 20
    lost = [i for i, r in enumerate(out) if r == ("exit", "noconnection")]
    assert lost, out
    assert all(out[i] == ("ok", i) for i in range(20) if i not in lost)


def test_what_cannot_travel_is_named() -> None:
    lock = threading.Lock()

    async def body(peer: str) -> Any:
        with pytest.raises(ValueError, match=r"item <unlocked _thread.lock.*cannot be pickled"):
            async for _ in Task.async_stream([1, lock], str, nodes=[peer], max_concurrency=1):
                pass
        Process.flag("trap_exit", True)
        return [r async for r in Task.async_stream([1, 2], make_lock_at_two, nodes=[peer])]

    out = on_two_nodes(body)
    assert out[0] == ("ok", 1)
    status, reason = out[1]
    assert status == "exit" and isinstance(reason, ValueError)
    assert "the result of item 2 cannot travel back" in str(reason)


def make_lock_at_two(x: int) -> Any:
    return threading.Lock() if x == 2 else x


def test_leaving_early_stops_the_batches_and_leaves_no_message() -> None:
    async def body(peer: str) -> Any:
        taken = []
        async for r in Task.async_stream(itertools.count(), square_where,
                                          nodes=[peer, beamlet.node()]):
            taken.append(r[1][0])
            if len(taken) == 50:
                break
        await beamlet.rpc.call(peer, "erlang", "node", [])  # a round trip: all that came
        await settle()
        return taken, Process.info(self_pid(), "message_queue_len")

    taken, queue = on_two_nodes(body)
    assert taken == [x * x for x in range(50)]
    assert queue == 0


def test_a_stream_leaves_no_alias_behind() -> None:
    # each batch answers to an alias of the consumer: ended, killed or never started, the
    # alias goes with it (a consumer that streams all day must not collect them)
    from beamlet.kernel import scheduler

    async def body(peer: str) -> Any:
        before = len(scheduler.aliases())
        nodes = [peer, beamlet.node()]
        assert len([r async for r in Task.async_stream(range(500), square_where,
                                                       nodes=nodes)]) == 500
        async for _ in Task.async_stream(itertools.count(), square_where, nodes=nodes):
            break
        with pytest.raises(ValueError):
            async for _ in Task.async_stream([threading.Lock()], str, nodes=[peer]):
                pass
        return len(scheduler.aliases()) - before

    assert on_two_nodes(body) == 0


def busy_3ms(x: int) -> int:
    end = time.perf_counter() + 0.003
    while time.perf_counter() < end:
        pass
    return x


def test_long_items_run_on_a_thread_of_their_own_from_their_start() -> None:
    # items of 3 ms: too short for the watchdog (it hands a step off after 4-6 ms), long
    # enough that each batch step hands itself off (`beamlet.hand_off`) once one was seen
    from beamlet.kernel import stats

    async def main() -> tuple[list[Any], int]:
        before = stats.handoffs()
        out = [r async for r in Task.async_stream(range(8), busy_3ms, nodes=[beamlet.node()])]
        return out, stats.handoffs() - before

    out, handoffs = beamlet.run(main)
    assert out == [("ok", x) for x in range(8)]
    assert handoffs >= 5


def test_by_default_a_node_gets_one_cpu_bound_batch_at_a_time() -> None:
    # two CPU-bound batches on one node would share its GIL: once a node's batches are seen
    # busy on their threads (a share of their time), the default gives it one at a time;
    # an explicit max_concurrency is used whole, as given
    from beamlet.otp.task import _Batch, _Spread

    def batch(where: str) -> Any:
        return _Batch(where, (None, object(), object()), range(1), [None])  # type: ignore[arg-type]

    default = _Spread(["a", "b"], adaptive=True)
    default.cpu_share.update({"a": 0.9, "b": 0.0})   # "b": items that block, or short ones
    default.started(batch("a"))
    assert default.pick() == "b"
    default.started(batch("b"))
    assert default.pick() == "b"        # a second batch for "b", none for "a"
    default.started(batch("b"))
    assert default.pick() is None       # every node has its fill

    explicit = _Spread(["a", "b"], adaptive=False)
    explicit.cpu_share.update({"a": 0.9, "b": 0.9})
    for _ in range(4):
        explicit.started(batch(explicit.pick() or "none"))
    assert explicit.working_on == {"a": 2, "b": 2}


def hog_for(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def start_a_hog_then_busy(x: int) -> int:
    """Item 0 starts a high-priority hog (on one scheduler it starves the batch's next turn
    for 0.4 s) and runs 3 ms, so that the batch flushes and waits for its turn."""
    if x == 0:
        beamlet.spawn(hog_for, 0.4, priority="high")
        busy_3ms(x)
    return x


def test_an_items_timeout_counts_from_its_start_not_from_a_wait_for_its_turn() -> None:
    async def main() -> list[Any]:
        return [r async for r in Task.async_stream(range(3), start_a_hog_then_busy,
                                                   nodes=[beamlet.node()], timeout=0.3,
                                                   on_timeout="kill_task")]

    assert beamlet.run(main, schedulers=1) == [("ok", 0), ("ok", 1), ("ok", 2)]


# (seconds) the items of the race below run: well within their timeout, well past it, then
# about at it, each followed by a short one
RACE_TIMEOUT = 0.08
RACE_SHORT = 0.002
RACE_SECONDS = [RACE_SHORT, 0.24] + [s for i in range(12)
                                     for s in (RACE_TIMEOUT + (i % 5 - 2) * 0.0003, RACE_SHORT)]


def busy_for_index(x: int) -> int:
    hog_for(RACE_SECONDS[x])
    return x


def test_an_item_ending_at_its_deadline_gets_one_answer_in_its_place() -> None:
    """The guard and the batch (on a thread of its own: the items are long) race for items
    that end about when their time is up: each gets exactly one answer, in its place, and
    the short item after one is never taken for it."""
    async def main() -> list[Any]:
        return [r async for r in Task.async_stream(range(len(RACE_SECONDS)), busy_for_index,
                                                   nodes=[beamlet.node()],
                                                   timeout=RACE_TIMEOUT,
                                                   on_timeout="kill_task")]

    out = beamlet.run(main)
    assert len(out) == len(RACE_SECONDS)
    assert out[:2] == [("ok", 0), ("exit", "timeout")]
    assert all(r in (("ok", i), ("exit", "timeout")) for i, r in enumerate(out))
    assert all(r == ("ok", i) for i, r in enumerate(out) if RACE_SECONDS[i] == RACE_SHORT)


async def serve_tasks() -> None:
    await TaskSupervisor.start_link(name="tasks")
    await receive("never sent")


def test_a_task_supervisor_per_node() -> None:
    async def body(peer: str) -> Any:
        await TaskSupervisor.start_link(name="tasks")
        await Node.spawn(peer, serve_tasks)
        await beamlet.rpc.call(peer, "erlang", "node", [])
        while await beamlet.rpc.call(peer, "erlang", "whereis", ["tasks"]) is None:
            await beamlet.yield_turn()
        task = await TaskSupervisor.async_(("tasks", peer), square_where, 7)
        remote = await Task.await_(task, GUARD_SECONDS)
        streamed = [r async for r in TaskSupervisor.async_stream(
            "tasks", range(50), square_where, nodes=[peer, beamlet.node()])]
        unlinked = [r async for r in TaskSupervisor.async_stream_nolink(
            "tasks", range(8), fails_at_three, nodes=[peer, beamlet.node()])]
        return peer, remote, beamlet.node(task.pid), streamed, unlinked

    peer, remote, pid_node, streamed, unlinked = on_two_nodes(body)
    assert remote == (49, peer) and pid_node == peer
    assert [v[0] for _, v in streamed] == [x * x for x in range(50)]
    assert [r for i, r in enumerate(unlinked) if i != 3] == [("ok", x) for x in range(8)
                                                              if x != 3]
    assert unlinked[3][0] == "exit" and isinstance(unlinked[3][1], ValueError)


class Counter(beamlet.GenServer):
    async def init(self, start: int) -> Any:
        return ("ok", start)

    async def handle_call(self, request: Any, from_: Any, count: int) -> Any:
        return ("reply", (count + 1, beamlet.node()), count + 1)


async def start_counter(me: Any) -> None:
    send(me, ("started", await beamlet.GenServer.start(Counter, 10, name="counter")))


def test_a_genserver_started_on_a_peer_is_called_by_name() -> None:
    async def body(peer: str) -> Any:
        await Node.spawn(peer, start_counter, self_pid())
        (_, (ok, _)) = await receive(("started", ANY), timeout=GUARD_SECONDS)
        assert ok == "ok"
        return peer, await beamlet.GenServer.call(("counter", peer), "increment")

    peer, reply = on_two_nodes(body)
    assert reply == (11, peer)
