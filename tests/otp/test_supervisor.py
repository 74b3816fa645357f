"""Supervisor: ground truth u01-u08, u11, strategies, shutdown kinds, child specs, errors."""

import logging

import pytest

import beamlet
from beamlet import (
    ANY,
    Agent,
    Down,
    Exit,
    GenServer,
    Pid,
    Process,
    Supervisor,
    flush,
    monitor,
    receive,
    self_pid,
    send,
    sleep,
    spawn,
    spawn_monitor,
)
from beamlet.testing import settle
from helpers import Child, run


def spec(id, **extra):
    opts = extra.pop("opts", None)
    return {"id": id, "start": (Child.start_link, (id, opts) if opts else (id,)), **extra}


async def pid_of(sup, id):
    for i, p, _, _ in await Supervisor.which_children(sup):
        if i == id:
            return p
    return "missing"


async def setup():
    Process.register(self_pid(), "log")


# ------------------------------------------------------------------------------ ground truth
@pytest.mark.parametrize("strategy,after_crash,changed", [
    ("one_for_one", [("stop", "b", "boom"), ("start", "b")], [False, True, False, False]),
    ("one_for_all", [("stop", "b", "boom"), ("stop", "d", "shutdown"), ("stop", "c", "shutdown"),
                     ("stop", "a", "shutdown"), ("start", "a"), ("start", "b"), ("start", "c"),
                     ("start", "d")], [True, True, True, True]),
    ("rest_for_one", [("stop", "b", "boom"), ("stop", "d", "shutdown"),
                      ("stop", "c", "shutdown"), ("start", "b"), ("start", "c"), ("start", "d")],
     [False, True, True, True]),
])
def test_u01_u02_strategies(strategy, after_crash, changed, caplog):
    async def main():
        await setup()
        ok, sup = await Supervisor.start_link([spec(i) for i in "abcd"], strategy=strategy)
        before = [await pid_of(sup, i) for i in "abcd"]
        initial = flush()
        GenServer.cast(await pid_of(sup, "b"), ("exit", "boom"))
        await settle()
        crash = flush()
        after = [await pid_of(sup, i) for i in "abcd"]
        beamlet.unlink(sup)
        r = await Supervisor.stop(sup)
        return ok, initial, crash, [x != y for x, y in zip(before, after, strict=True)], r, flush()

    with caplog.at_level(logging.INFO, logger="beamlet"):
        ok, initial, crash, pid_changed, r, on_stop = run(main)
    assert ok == "ok"
    assert initial == [("start", "a"), ("start", "b"), ("start", "c"), ("start", "d")]
    assert crash == after_crash
    assert pid_changed == changed
    assert r == "ok"
    assert on_stop == [("stop", "d", "shutdown"), ("stop", "c", "shutdown"),
                       ("stop", "b", "shutdown"), ("stop", "a", "shutdown")]
    assert "restarting" in caplog.text


@pytest.mark.parametrize("restart", ["permanent", "transient", "temporary"])
@pytest.mark.parametrize("reason", ["normal", "boom", "shutdown", ("shutdown", "x")])
def test_u04_restart_types(restart, reason):
    async def main():
        await setup()
        _, sup = await Supervisor.start_link([spec("w", restart=restart)])
        flush()
        GenServer.cast(await pid_of(sup, "w"), ("exit", reason))
        await settle()
        evs = ["restarted" if m[0] == "start" else ("stopped", m[2]) for m in flush()]
        kids = [(i, p if p is None else "pid", t, m)
                for i, p, t, m in await Supervisor.which_children(sup)]
        beamlet.unlink(sup)
        await Supervisor.stop(sup)
        return evs, kids

    evs, kids = run(main)
    restarted = restart == "permanent" or (restart == "transient" and reason == "boom")
    assert evs == ([("stopped", reason), "restarted"] if restarted else [("stopped", reason)])
    if restart == "temporary":
        assert kids == []
    else:
        assert kids == [("w", "pid" if restarted else None, "worker", [Child])]


def test_u05_max_restarts(caplog):
    async def main():
        await setup()
        Process.flag("trap_exit", True)
        _, sup = await Supervisor.start_link([spec("a"), spec("b")], strategy="one_for_one",
                                             max_restarts=2, max_seconds=5)
        flush()
        out, exits = [], []
        for _ in range(3):
            GenServer.cast(await pid_of(sup, "b"), ("exit", "boom"))
            await settle()
            msgs = flush()
            exits += [m for m in msgs if type(m) is Exit]
            out.append(([m for m in msgs if type(m) is not Exit], Process.alive(sup)))
        got = [(("sup" if m.pid is sup else "other"), m.reason) for m in exits]
        me = self_pid()

        async def caller():
            _, sup2 = await Supervisor.start_link(
                [{"id": "x", "start": (Agent.start_link, (lambda: 0,))}], max_restarts=0)
            send(me, ("sup2", sup2))
            await sleep(None)

        _, cref = spawn_monitor(caller)
        _, sup2 = await receive(("sup2", ANY))
        [(_, x, _, _)] = await Supervisor.which_children(sup2)
        Process.exit(x, "kill")
        return out, got, (await receive(Down(cref, ANY, ANY))).reason

    with caplog.at_level(logging.ERROR, logger="beamlet"):
        out, got, caller_down = run(main)
    assert out == [([("stop", "b", "boom"), ("start", "b")], True),
                   ([("stop", "b", "boom"), ("start", "b")], True),
                   ([("stop", "b", "boom"), ("stop", "a", "shutdown")], False)]
    assert got == [("sup", "shutdown")]
    assert caller_down == "shutdown"
    assert "maximum restart intensity" in caplog.text


def test_restart_window_forgets_old_restarts():
    async def main():
        await setup()
        Process.flag("trap_exit", True)
        _, sup = await Supervisor.start_link([spec("a")], max_restarts=1, max_seconds=0.05)
        for _ in range(3):
            GenServer.cast(await pid_of(sup, "a"), ("exit", "boom"))
            await sleep(0.07)   # past the 0.05 s restart window being exercised
        return Process.alive(sup), flush()[-2:]

    assert run(main) == (True, [("stop", "a", "boom"), ("start", "a")])


def test_u07_children_info_and_child_specs():
    async def main():
        await setup()
        _, sup = await Supervisor.start_link([
            spec("a"),
            {"id": "inner", "start": (Supervisor.start_link, ([],), {"strategy": "one_for_one"}),
             "type": "supervisor"},
            spec("c"),
        ], strategy="one_for_one")
        w1 = await Supervisor.which_children(sup)
        c1 = await Supervisor.count_children(sup)
        await Supervisor.terminate_child(sup, "c")
        w2 = await Supervisor.which_children(sup)
        c2 = await Supervisor.count_children(sup)
        return w1, c1, w2, c2

    w1, c1, w2, c2 = run(main)
    assert [(i, type(p), t, m) for i, p, t, m in w1] == [
        ("c", Pid, "worker", [Child]), ("inner", Pid, "supervisor", [Supervisor]),
        ("a", Pid, "worker", [Child])]
    assert c1 == {"active": 3, "specs": 3, "supervisors": 1, "workers": 2}
    assert [(i, p if p is None else "pid") for i, p, _, _ in w2] == [
        ("c", None), ("inner", "pid"), ("a", "pid")]
    assert c2 == {"active": 2, "specs": 3, "supervisors": 1, "workers": 2}
    fn = lambda: 1  # noqa: E731
    s = Supervisor.child_spec((Agent, fn))
    assert s["id"] is Agent and s["start"] == (Agent.start_link, (fn,))
    s = Child.child_spec("x")
    assert {k: v for k, v in s.items() if k != "start"} == {
        "id": Child, "restart": "permanent", "shutdown": 5.0, "type": "worker"}
    assert s["start"] == (Child.start_link, ("x",))


def test_u08_start_terminate_restart_delete():
    async def main():
        await setup()
        _, sup = await Supervisor.start_link([], strategy="one_for_one")
        out = {}
        out["start_child"] = await Supervisor.start_child(sup, spec("a"))
        out["start_child_dup"] = await Supervisor.start_child(sup, spec("a"))
        out["delete_running"] = await Supervisor.delete_child(sup, "a")
        out["terminate_child"] = await Supervisor.terminate_child(sup, "a")
        out["which_after_terminate"] = await Supervisor.which_children(sup)
        out["start_child_dup_stopped"] = await Supervisor.start_child(sup, spec("a"))
        out["restart_child"] = await Supervisor.restart_child(sup, "a")
        out["restart_running"] = await Supervisor.restart_child(sup, "a")
        await Supervisor.terminate_child(sup, "a")
        out["delete_child"] = await Supervisor.delete_child(sup, "a")
        out["terminate_unknown"] = await Supervisor.terminate_child(sup, "zzz")
        out["delete_unknown"] = await Supervisor.delete_child(sup, "zzz")
        out["restart_unknown"] = await Supervisor.restart_child(sup, "zzz")
        out["log"] = flush()
        return out

    out = run(main)
    ok, pid = out["start_child"]
    assert ok == "ok" and type(pid) is Pid
    assert out["start_child_dup"] == ("error", ("already_started", pid))
    assert out["delete_running"] == ("error", "running")
    assert out["terminate_child"] == "ok"
    assert out["which_after_terminate"] == [("a", None, "worker", [Child])]
    assert out["start_child_dup_stopped"] == ("error", "already_present")
    assert out["restart_child"][0] == "ok" and out["restart_child"][1] is not pid
    assert out["restart_running"] == ("error", "running")
    assert out["delete_child"] == "ok"
    assert out["terminate_unknown"] == ("error", "not_found")
    assert out["delete_unknown"] == ("error", "not_found")
    assert out["restart_unknown"] == ("error", "not_found")
    assert out["log"] == [("start", "a"), ("stop", "a", "shutdown"), ("start", "a"),
                          ("stop", "a", "shutdown")]


def test_u11_parent_exit_stops_children_and_supervisor_takes_its_reason():
    async def main():
        await setup()
        me = self_pid()

        async def parent():
            _, sup = await Supervisor.start_link([spec("a"), spec("b")])
            send(me, ("sup", sup))
            await receive("die")
            beamlet.exit("shutdown")

        p = spawn(parent)
        _, sup = await receive(("sup", ANY))
        ref = monitor(sup)
        started = flush()
        send(p, "die")
        return started, (await receive(Down(ref, ANY, ANY))).reason, flush()

    assert run(main) == ([("start", "a"), ("start", "b")], "shutdown",
                         [("stop", "b", "shutdown"), ("stop", "a", "shutdown")])


# ------------------------------------------------------------------------------ shutdown kinds
def test_u06_shutdown_brutal_kill_timeout_and_infinity():
    async def main():
        await setup()
        _, sup = await Supervisor.start_link([
            spec("brutal", shutdown="brutal_kill"),
            spec("slow", shutdown=0.02, opts={"slow_terminate": 0.2}),
            spec("patient", shutdown="infinity", opts={"slow_terminate": 0.03}),
            spec("quick", shutdown=1),
        ])
        flush()
        out = {}
        for id in ["brutal", "slow", "patient", "quick"]:
            pid = await pid_of(sup, id)
            ref = monitor(pid)
            out[id] = (await Supervisor.terminate_child(sup, id),
                       (await receive(Down(ref, ANY, ANY))).reason, flush())
        return out

    out = run(main)
    assert out["brutal"] == ("ok", "killed", [])                 # no terminate at all
    assert out["slow"] == ("ok", "killed", [])                   # killed mid-terminate
    assert out["patient"] == ("ok", "shutdown", [("stop", "patient", "shutdown")])
    assert out["quick"] == ("ok", "shutdown", [("stop", "quick", "shutdown")])


def test_non_trapping_child_and_plain_process_children():
    async def worker(me):
        send(me, ("worker", self_pid()))
        await sleep(None)

    def start_worker(me):
        return ("ok", beamlet.spawn_link(worker, me))

    async def main():
        me = self_pid()
        _, sup = await Supervisor.start_link([
            {"id": "plain", "start": (start_worker, (me,))},
            {"id": "agent", "start": (Agent.start_link, (lambda: 1,))},
        ])
        _, w1 = await receive(("worker", ANY))
        Process.exit(w1, "boom")
        _, w2 = await receive(("worker", ANY))
        kids = await Supervisor.which_children(sup)
        agent = kids[0][1]
        return (w1 is not w2, kids[1][1] is w2, kids[1][3] == [start_worker],
                await Agent.get(agent, lambda s: s))

    assert run(main) == (True, True, True, 1)


# ------------------------------------------------------------------------------ start errors
def test_init_failure_stops_started_children_and_reports_failed_to_start_child():
    def raising():
        raise ValueError("start boom")

    async def main():
        await setup()
        Process.flag("trap_exit", True)
        r1 = await Supervisor.start_link([spec("a"), spec("b", opts={"fail": "nope"}), spec("c")])
        await settle()
        log1 = flush()
        r2 = await Supervisor.start_link([{"id": "r", "start": (raising, ())}])
        flush()
        r3 = await Supervisor.start_link([{"id": "bad", "start": (lambda: "what", ())}])
        flush()
        return r1, log1, r2, r3

    r1, log1, r2, r3 = run(main)
    assert r1 == ("error", ("shutdown", ("failed_to_start_child", "b", "nope")))
    assert [m for m in log1 if type(m) is not Exit] == [("start", "a"), ("stop", "a", "shutdown")]
    assert [m.reason for m in log1 if type(m) is Exit] == [
        ("shutdown", ("failed_to_start_child", "b", "nope"))]
    tag, (sd, (f, id, (ex, exc))) = r2
    assert (tag, sd, f, id, ex, type(exc), str(exc)) == (
        "error", "shutdown", "failed_to_start_child", "r", "EXIT", ValueError, "start boom")
    assert r3 == ("error", ("shutdown", ("failed_to_start_child", "bad", "what")))


def test_init_failure_kills_a_non_trapping_caller():
    async def main():
        async def caller():
            await Supervisor.start_link([spec("x", opts={"fail": "nope"})])
            await settle()

        _, ref = spawn_monitor(caller)
        return (await receive(Down(ref, ANY, ANY))).reason

    assert run(main) == ("shutdown", ("failed_to_start_child", "x", "nope"))


def test_start_child_errors_and_ignore():
    async def main():
        await setup()
        _, sup = await Supervisor.start_link([])
        bad = spec("b", opts={"fail": "nope"})
        r1 = await Supervisor.start_child(sup, bad)
        r2 = await Supervisor.start_child(sup, {"id": "i", "start": (lambda: "ignore", ())})
        kids = await Supervisor.which_children(sup)
        r3 = await Supervisor.start_child(sup, {"id": "t", "start": (lambda: "ignore", ()),
                                                "restart": "temporary"})
        return r1, r2, kids, r3, await Supervisor.count_children(sup), flush()

    r1, r2, kids, r3, counts, _ = run(main)
    assert r1[0] == "error" and r1[1][0] == "nope" and r1[1][1]["id"] == "b"
    assert r2 == ("ok", None)
    assert kids[0][:3] == ("i", None, "worker")
    assert r3 == ("ok", None)
    assert counts == {"specs": 1, "active": 0, "supervisors": 0, "workers": 1}


def test_restart_that_fails_is_retried_and_counts_against_intensity(caplog):
    def start(me):
        # runs in the supervisor: its process dictionary counts the attempts
        n = Process.put("attempts", (Process.get("attempts") or 0) + 1) or 0
        send(me, ("attempt", n + 1))
        if n + 1 in (2, 3):
            return ("error", "not_now")
        return Agent.start_link(lambda: n + 1)

    async def main():
        me = self_pid()
        _, sup = await Supervisor.start_link([{"id": "f", "start": (start, (me,))}],
                                             max_restarts=3)
        [(_, pid, _, _)] = await Supervisor.which_children(sup)
        Process.exit(pid, "boom")
        attempts = [(await receive(("attempt", ANY)))[1] for _ in range(4)]
        await settle()
        [(_, pid2, _, _)] = await Supervisor.which_children(sup)
        return attempts, await Agent.get(pid2, lambda s: s), Process.alive(sup)

    with caplog.at_level(logging.ERROR, logger="beamlet"):
        assert run(main) == ([1, 2, 3, 4], 4, True)
    assert "failed to start" in caplog.text


def test_restart_failing_for_ever_gives_up():
    async def main():
        Process.flag("trap_exit", True)

        def start():
            if Process.get("started"):
                return ("error", "no_more")
            Process.put("started", True)   # the supervisor's dictionary: first start only
            return Agent.start_link(lambda: 0)

        _, sup = await Supervisor.start_link([{"id": "x", "start": (start, ())}], max_restarts=3)
        [(_, pid, _, _)] = await Supervisor.which_children(sup)
        Process.exit(pid, "boom")
        m = await receive(Exit(sup, ANY), timeout=1)
        return m.reason

    assert run(main) == "shutdown"


# ------------------------------------------------------------------------------ module form
class App(Supervisor):
    def init(self, arg):
        return Supervisor.init([spec("m1"), (Child, "m2")], strategy="one_for_all",
                               max_restarts=arg)


class Nothing(Supervisor):
    async def init(self, arg):
        return "ignore"


def test_module_form_nested_and_ignore():
    async def main():
        await setup()
        _, top = await Supervisor.start_link([App.child_spec(5), spec("w")], name="top")
        kids = await Supervisor.which_children("top")
        app = kids[1][1]
        inner = await Supervisor.which_children(app)
        flush()
        GenServer.cast(inner[1][1], ("exit", "boom"))    # m1 crashes: one_for_all inside App
        await settle()
        crash = flush()
        beamlet.unlink(top)
        await Supervisor.stop("top")
        stop = flush()
        return (kids[1][0], kids[1][2], kids[1][3], [k[0] for k in inner], crash, stop,
                await Nothing.start_link(None))

    app_id, typ, mods, inner_ids, crash, stop, ignored = run(main)
    assert (app_id, typ, mods) == (App, "supervisor", [App])
    assert inner_ids == [Child, "m1"]
    assert crash == [("stop", "m1", "boom"), ("stop", "m2", "shutdown"), ("start", "m1"),
                     ("start", "m2")]
    assert stop == [("stop", "w", "shutdown"), ("stop", "m2", "shutdown"),
                    ("stop", "m1", "shutdown")]
    assert ignored == "ignore"
    s = App.child_spec(1)
    assert s["shutdown"] == "infinity" and s["type"] == "supervisor"


def test_supervisor_killed_takes_children_down():
    async def main():
        await setup()
        _, sup = await Supervisor.start([spec("a"),
                                         {"id": "ag", "start": (Agent.start_link, (lambda: 0,))}])
        kids = [p for _, p, _, _ in await Supervisor.which_children(sup)]
        refs = [monitor(p) for p in kids]
        Process.exit(sup, "kill")
        return [(await receive(Down(r, ANY, ANY))).reason for r in refs]

    assert run(main) == ["killed", "killed"]


def test_invalid_specs_and_flags_fail_the_start():
    """As in Elixir: a value that is no child form raises in the caller (ArgumentError there);
    a bad spec or flag fails the start with OTP's reason, and start_child returns it."""
    async def main():
        Process.flag("trap_exit", True)
        out = []
        for bad in [[{"start": (Child.start_link, ("a",))}], [{"id": "a"}],
                    [{"id": "a", "start": (Child.start_link, ("a",)), "restart": "sometimes"}],
                    [{"id": "a", "start": (Child.start_link, ("a",)), "shutdown": -1}],
                    [{"id": "a", "start": (Child.start_link, ("a",)), "type": "boss"}],
                    [{"id": "a", "start": "nope"}]]:
            out.append(await Supervisor.start_link(bad))
        with pytest.raises(TypeError):
            await Supervisor.start_link(["nope"])
        out.append(await Supervisor.start_link([], strategy="one_for_some"))
        out.append(await Supervisor.start_link([], max_restarts=-1))
        _, sup = await Supervisor.start_link([])
        out.append(await Supervisor.start_child(sup, {"id": "x"}))
        await settle()
        exits = flush(Exit)
        return out, len(exits), len(Process.list())

    out, exits, alive = run(main)
    assert out == [
        ("error", ("start_spec", "missing_id")),
        ("error", ("start_spec", "missing_start")),
        ("error", ("start_spec", ("invalid_restart_type", "sometimes"))),
        ("error", ("start_spec", ("invalid_shutdown", -1))),
        ("error", ("start_spec", ("invalid_child_type", "boss"))),
        ("error", ("start_spec", ("invalid_mfa", "nope"))),
        ("error", ("supervisor_data", ("invalid_strategy", "one_for_some"))),
        ("error", ("supervisor_data", ("invalid_intensity", -1))),
        ("error", "missing_start"),
    ]
    assert (exits, alive) == (8, 2)


def test_duplicate_ids_fail_the_start():
    async def main():
        Process.flag("trap_exit", True)
        return await Supervisor.start_link([spec("a"), spec("a")])

    r = run(main)
    assert r[0] == "error"
