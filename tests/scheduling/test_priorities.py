"""Priorities with the BEAM's rules (ground truth p05, p06) and fairness within a priority."""

import pytest

import beamlet
from beamlet import Process, receive, self_pid, send, spawn
from beamlet.testing import settle, wait_dead


def hog(parent):
    send(parent, "hog_started")
    while True:
        pass


async def drain():
    out = []
    while (m := await receive(timeout=0, default=None)) is not None:
        out.append(m)
    return out


def high_hog_case():
    async def main():
        Process.flag("priority", "high")
        me = self_pid()
        h = spawn(hog, me, priority="high")
        await receive("hog_started")
        spawn(lambda: send(me, "normal_ran"))
        spawn(lambda: send(me, "low_ran"), priority="low")
        spawn(lambda: send(me, "high_ran"), priority="high")
        await beamlet.sleep(0.3)  # the 300 ms window of p05 during which the hog runs: under test
        during = await drain()
        Process.exit(h, "kill")
        await wait_dead(h)
        Process.flag("priority", "low")  # so that settling lets normal and low processes run
        await settle()
        return during, await drain()

    return main


def test_p05_high_hog_starves_normal_with_one_scheduler():
    # ground truth p05 (+S 1): during_hog: [:high_ran]; after_kill: [:normal_ran, :low_ran]
    assert beamlet.run(high_hog_case(), schedulers=1) == (["high_ran"], ["normal_ran", "low_ran"])


def test_p06_high_hog_takes_only_one_of_two_schedulers():
    # ground truth p06 (+S 2): all ran during the hog, nothing left after the kill
    during, after = beamlet.run(high_hog_case(), schedulers=2)
    assert sorted(during) == ["high_ran", "low_ran", "normal_ran"] and after == []


def test_high_runs_before_normal_and_low():
    async def main():
        me = self_pid()
        spawn(lambda: send(me, "low"), priority="low")
        spawn(lambda: send(me, "normal"))
        spawn(lambda: send(me, "high"), priority="high")
        spawn(lambda: send(me, "max"), priority="max")
        return [await receive() for _ in range(4)]

    assert beamlet.run(main) == ["max", "high", "normal", "low"]


def test_low_is_not_starved_by_normal_work():
    async def busy(parent, n):
        for _ in range(n):
            await beamlet.yield_turn()
        send(parent, "normal_done")

    async def main():
        me = self_pid()
        spawn(busy, me, 2000)
        spawn(lambda: send(me, "low_ran"), priority="low")
        return [await receive(), await receive()]

    assert beamlet.run(main) == ["low_ran", "normal_done"]


def test_draining_a_flood_yields_to_others():
    """A process taking queued messages one after another yields after its budget."""
    async def drainer(parent):
        for _ in range(20_000):
            await receive()
        send(parent, "drained")

    async def main():
        me = self_pid()
        d = spawn(drainer, me)
        for i in range(20_000):
            send(d, i)
        spawn(lambda: send(me, "other_ran"))
        return [await receive(), await receive()]

    assert beamlet.run(main) == ["other_ran", "drained"]


def test_sending_loop_lets_others_run():
    """A process that sends in a loop without awaiting is preempted at its kernel calls."""
    async def main():
        me = self_pid()
        sink = spawn(lambda: None)
        spawn(lambda: send(me, "other_ran"))
        for i in range(5_000):
            send(sink, i)
        send(me, "loop_done")
        return [await receive(), await receive()]

    assert beamlet.run(main) == ["other_ran", "loop_done"]


def test_reductions_grow_with_work():
    async def worker():
        while True:
            await receive()

    async def main():
        w = spawn(worker)
        await beamlet.yield_turn()
        before = Process.info(w, "reductions")
        for i in range(100):
            send(w, i)
        await settle()
        return Process.info(w, "reductions") - before

    assert beamlet.run(main) >= 100


@pytest.mark.parametrize("level", ["low", "normal", "high", "max"])
def test_spawn_priority_is_reported(level):
    async def main():
        me = self_pid()
        spawn(lambda: send(me, Process.read_flag("priority")), priority=level)
        return await receive()

    assert beamlet.run(main) == level


def test_bad_priority_is_a_value_error():
    async def main():
        with pytest.raises(ValueError):
            spawn(lambda: None, priority="urgent")
        with pytest.raises(ValueError):
            Process.flag("priority", "urgent")
        return "ok"

    assert beamlet.run(main) == "ok"
