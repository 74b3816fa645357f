"""Agent: ground truth a01-a02, plus names, timeouts, async functions and supervision."""

import logging
import operator

from beamlet import ANY, Agent, Down, GenServer, Process, Supervisor, monitor, receive, sleep, spawn
from beamlet.testing import wait_dead
from helpers import caught_exit, run


def test_a01_agent_basic():
    async def main():
        _, a = await Agent.start_link(lambda: 0)
        out = [await Agent.get(a, lambda s: s),
               await Agent.update(a, lambda s: s + 1),
               await Agent.get_and_update(a, lambda s: (("old", s), s * 10)),
               Agent.cast(a, lambda s: s + 5),
               await Agent.get(a, lambda s: s),
               await Agent.get(a, operator.add, 100)]
        dead = spawn(lambda: None)
        await wait_dead(dead)
        out.append(Agent.cast(dead, lambda s: s))
        return out

    assert run(main) == [0, "ok", ("old", 1), "ok", 15, 115, "ok"]


def test_a02_agent_stop(caplog):
    async def main():
        out = {}
        _, a = await Agent.start(lambda: 1)
        out["stop"] = await Agent.stop(a)
        out["alive"] = Process.alive(a)
        fn = lambda s: s  # noqa: E731
        out["get_after_stop"] = await caught_exit(Agent.get(a, fn))
        _, b = await Agent.start(lambda: 1)
        ref = monitor(b)

        def boom(_):
            raise RuntimeError("agent boom")

        out["raising_update"] = await caught_exit(Agent.update(b, boom))
        out["agent_down"] = (await receive(Down(ref, ANY, ANY))).reason
        await Agent.start_link(lambda: 1, name="a02")
        out["name_conflict"] = await Agent.start_link(lambda: 1, name="a02")
        out["a02"] = Process.whereis("a02")
        out["get_by_name"] = await Agent.get("a02", lambda s: s)
        out["get_dead_timeout0"] = await caught_exit(Agent.get(a, fn, timeout=0))
        return a, b, fn, out

    with caplog.at_level(logging.ERROR, logger="beamlet"):
        a, b, fn, out = run(main)
    assert out["stop"] == "ok"
    assert out["alive"] is False
    assert out["get_after_stop"] == ("noproc", (GenServer, "call", [a, ("get", fn), 5.0]))
    reason, where = out["raising_update"]
    assert type(reason) is RuntimeError and str(reason) == "agent boom"
    assert where[0] is GenServer and where[1] == "call" and where[2][0] is b
    assert out["agent_down"] is reason
    assert out["name_conflict"] == ("error", ("already_started", out["a02"]))
    assert out["get_by_name"] == 1
    assert out["get_dead_timeout0"] == ("timeout", (GenServer, "call", [a, ("get", fn), 0]))
    assert "agent boom" in caplog.text and "State: 1" in caplog.text


def test_agent_timeout_and_async_functions():
    async def slow(s):
        await sleep(0.1)   # a slow agent function: the behaviour under test
        return s

    async def init():
        await sleep(0)   # an init that suspends once: awaiting inside a callback is under test
        return [1]

    async def main():
        _, a = await Agent.start_link(init)
        r = await caught_exit(Agent.get(a, slow, timeout=0.01))
        await Agent.update(a, lambda s: s + [2])

        async def add(s, x):
            return s + [x]

        await Agent.update(a, add, 3)
        Agent.cast(a, add, 4)

        async def pop(s):
            return s[0], s[1:]

        first = await Agent.get_and_update(a, pop)
        return a, r, first, await Agent.get(a, len), await Agent.get(a, lambda s: s)

    a, r, first, n, state = run(main)
    assert r[0] == "timeout" and r[1][2][0] is a and r[1][2][2] == 0.01
    assert (first, n, state) == (1, 3, [2, 3, 4])


def test_agent_start_failure_and_args_and_stop_reason():
    def bad():
        raise KeyError("nope")

    async def main():
        r1 = await Agent.start(bad)
        _, a = await Agent.start(lambda x, y: x * y, 6, 7)
        v = await Agent.get(a, lambda s: s)
        ref = monitor(a)
        r2 = await Agent.stop(a, "shutdown")
        return r1, v, r2, (await receive(Down(ref, ANY, ANY))).reason

    r1, v, r2, down = run(main)
    assert r1[0] == "error" and type(r1[1]) is KeyError
    assert (v, r2, down) == (42, "ok", "shutdown")


def test_agent_under_a_supervisor_is_restarted_with_its_initial_state():
    async def main():
        _, sup = await Supervisor.start_link([(Agent, lambda: 0)])
        [(id, a, _, mods)] = await Supervisor.which_children(sup)
        await Agent.update(a, lambda s: s + 1)
        Process.exit(a, "kill")
        await wait_dead(a)
        [(_, a2, _, _)] = await Supervisor.which_children(sup)
        return id, mods, a2 is not a, await Agent.get(a2, lambda s: s)

    assert run(main) == (Agent, [Agent], True, 0)


def test_agent_is_not_instantiable():
    import pytest

    with pytest.raises(TypeError):
        Agent()
