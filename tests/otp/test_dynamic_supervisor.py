"""DynamicSupervisor: ground truth u10, restarts, limits, shutdown, module form."""

import logging

import pytest

import beamlet
from beamlet import (
    ANY,
    Agent,
    Down,
    DynamicSupervisor,
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
)
from beamlet.testing import settle
from helpers import Child, run


def test_u10_dynamic_supervisor():
    async def main():
        Process.register(self_pid(), "log")
        _, ds = await DynamicSupervisor.start_link(strategy="one_for_one", max_children=3)
        _, a = await DynamicSupervisor.start_child(
            ds, {"id": "ignored_id", "start": (Child.start_link, ("a",))})
        _, b = await DynamicSupervisor.start_child(
            ds, {"id": "ignored_id", "start": (Child.start_link, ("b",))})
        out = {"start_child_tuple_spec": await DynamicSupervisor.start_child(ds, (Child, "c")),
               "start_child_over_max": await DynamicSupervisor.start_child(ds, (Child, "d")),
               "which_children": await DynamicSupervisor.which_children(ds),
               "count_children": await DynamicSupervisor.count_children(ds),
               "terminate_child": await DynamicSupervisor.terminate_child(ds, a),
               "terminate_child_again": await DynamicSupervisor.terminate_child(ds, a),
               "log_so_far": flush()}
        [(_, bpid, _, _)] = [k for k in await DynamicSupervisor.which_children(ds) if k[1] is b]
        GenServer.cast(bpid, ("exit", "boom"))
        await settle()
        out["after_crash_log"] = flush()
        beamlet.unlink(ds)
        out["stop"] = await DynamicSupervisor.stop(ds)
        out["stop_log"] = flush()
        return out

    out = run(main)
    ok, pid = out["start_child_tuple_spec"]
    assert ok == "ok" and type(pid) is Pid
    assert out["start_child_over_max"] == ("error", "max_children")
    assert [(i, type(p), t, m) for i, p, t, m in out["which_children"]] == [
        (None, Pid, "worker", [Child])] * 3
    assert out["count_children"] == {"active": 3, "specs": 3, "supervisors": 0, "workers": 3}
    assert out["terminate_child"] == "ok"
    assert out["terminate_child_again"] == ("error", "not_found")
    assert out["log_so_far"] == [("start", "a"), ("start", "b"), ("start", "c"),
                                 ("stop", "a", "shutdown")]
    assert out["after_crash_log"] == [("stop", "b", "boom"), ("start", "b")]
    assert out["stop"] == "ok"
    assert out["stop_log"] == [("stop", "c", "shutdown"), ("stop", "b", "shutdown")]


def test_restart_types_and_ignore_and_errors():
    def raising():
        raise RuntimeError("start boom")

    async def main():
        Process.register(self_pid(), "log")
        _, ds = await DynamicSupervisor.start_link()
        out = {}
        for restart in ["permanent", "transient", "temporary"]:
            for reason in ["normal", "boom"]:
                _, pid = await DynamicSupervisor.start_child(
                    ds, {"start": (Child.start_link, (restart,)), "restart": restart})
                GenServer.cast(pid, ("exit", reason))
                await settle()
                out[restart, reason] = [m[0] for m in flush()]
        out["count"] = await DynamicSupervisor.count_children(ds)
        out["ignore"] = await DynamicSupervisor.start_child(
            ds, {"start": (Child.start_link, ("i", {"ignore": True}))})
        out["error"] = await DynamicSupervisor.start_child(
            ds, {"start": (Child.start_link, ("e", {"fail": "nope"}))})
        out["raise"] = await DynamicSupervisor.start_child(ds, {"start": (raising, ())})
        out["not_a_child"] = await DynamicSupervisor.terminate_child(ds, self_pid())
        return out

    out = run(main)
    assert out["permanent", "normal"] == ["start", "stop", "start"]
    assert out["permanent", "boom"] == ["start", "stop", "start"]
    assert out["transient", "normal"] == ["start", "stop"]
    assert out["transient", "boom"] == ["start", "stop", "start"]
    assert out["temporary", "normal"] == ["start", "stop"]
    assert out["temporary", "boom"] == ["start", "stop"]
    assert out["count"] == {"active": 3, "specs": 3, "supervisors": 0, "workers": 3}
    assert out["ignore"] == "ignore"
    assert out["error"] == ("error", "nope")
    tag, exc = out["raise"]     # Elixir's DynamicSupervisor: the raise itself, no "EXIT"
    assert (tag, type(exc)) == ("error", RuntimeError)
    assert out["not_a_child"] == ("error", "not_found")


def test_max_restarts_shuts_everything_down(caplog):
    async def main():
        Process.register(self_pid(), "log")
        Process.flag("trap_exit", True)
        _, ds = await DynamicSupervisor.start_link(max_restarts=1, max_seconds=5)
        _, a = await DynamicSupervisor.start_child(ds, (Child, "a"))
        _, b = await DynamicSupervisor.start_child(ds, (Child, "b"))
        GenServer.cast(b, ("exit", "boom"))
        await settle()
        kids = await DynamicSupervisor.which_children(ds)
        GenServer.cast(kids[-1][1], ("exit", "boom"))
        m = await receive(Exit(ds, ANY))
        return m.reason, [x for x in flush() if type(x) is not Exit]

    with caplog.at_level(logging.ERROR, logger="beamlet"):
        reason, log = run(main)
    assert reason == "shutdown"
    assert log == [("start", "a"), ("start", "b"), ("stop", "b", "boom"), ("start", "b"),
                   ("stop", "b", "boom"), ("stop", "a", "shutdown")]
    assert "maximum restart intensity" in caplog.text


def test_shutdown_kinds_on_stop_all_at_once():
    async def main():
        Process.register(self_pid(), "log")
        _, ds = await DynamicSupervisor.start(name="dyn")
        refs = {}
        for id, shutdown, opts in [("brutal", "brutal_kill", {}),
                                   ("slow", 0.02, {"slow_terminate": 0.5}),
                                   ("patient", "infinity", {"slow_terminate": 0.03}),
                                   ("quick", 1, {})]:
            _, pid = await DynamicSupervisor.start_child(
                "dyn", {"start": (Child.start_link, (id, opts)), "shutdown": shutdown})
            refs[id] = monitor(pid)
        flush()
        await DynamicSupervisor.stop("dyn")
        downs = {id: (await receive(Down(ref, ANY, ANY))).reason for id, ref in refs.items()}
        return downs, sorted(flush())

    downs, log = run(main)
    assert downs == {"brutal": "killed", "slow": "killed", "patient": "shutdown",
                     "quick": "shutdown"}
    assert log == [("stop", "patient", "shutdown"), ("stop", "quick", "shutdown")]


def test_extra_arguments_and_plain_process_children():
    async def worker(prefix, n, me):
        send(me, (prefix, n))
        await sleep(None)

    def start_worker(prefix, n, me):
        return ("ok", beamlet.spawn_link(worker, prefix, n, me))

    async def main():
        _, ds = await DynamicSupervisor.start_link(extra_arguments=["job"])
        r = await DynamicSupervisor.start_child(ds, {"start": (start_worker, (1, self_pid())),
                                                     "restart": "temporary"})
        return r[0], await receive(("job", 1)), await DynamicSupervisor.which_children(ds), r[1]

    ok, msg, kids, pid = run(main)
    assert (ok, msg) == ("ok", ("job", 1))
    assert kids == [(None, pid, "worker", [start_worker])]


class Pool(DynamicSupervisor):
    def init(self, n):
        return DynamicSupervisor.init(max_children=n)


def test_module_form_and_under_a_supervisor():
    async def main():
        _, sup = await Supervisor.start_link([Pool.child_spec(1),
                                              DynamicSupervisor.child_spec({"name": "pool2"})])
        [(_, p2, t2, _), (pid_id, pool, t1, _)] = await Supervisor.which_children(sup)
        r1 = await DynamicSupervisor.start_child(pool, (Agent, lambda: 1))
        r2 = await DynamicSupervisor.start_child(pool, (Agent, lambda: 2))
        r3 = await DynamicSupervisor.start_child("pool2", (Agent, lambda: 3))
        return (pid_id is Pool, t1, t2, r1[0], r2, await Agent.get(r3[1], lambda s: s),
                p2 is Process.whereis("pool2"))

    assert run(main) == (True, "supervisor", "supervisor", "ok", ("error", "max_children"), 3,
                         True)


def test_invalid_options():
    """Bad flags fail the start with OTP's ("supervisor_data", ...) reason, as in Elixir;
    an unknown keyword is a Python TypeError in the caller."""
    async def main():
        Process.flag("trap_exit", True)
        out = [await DynamicSupervisor.start_link(strategy="one_for_all"),
               await DynamicSupervisor.start_link(max_children=-1)]
        with pytest.raises(TypeError):
            await DynamicSupervisor.start_link(nonsense=1)
        return out

    assert run(main) == [("error", ("supervisor_data", ("invalid_strategy", "one_for_all"))),
                         ("error", ("supervisor_data", ("invalid_max_children", -1)))]


def test_parent_exit_shuts_children_down():
    async def main():
        Process.register(self_pid(), "log")
        me = self_pid()

        async def parent():
            _, ds = await DynamicSupervisor.start_link()
            await DynamicSupervisor.start_child(ds, (Child, "a"))
            send(me, ("ds", ds))
            await receive("die")
            beamlet.exit("shutdown")

        p = beamlet.spawn(parent)
        _, ds = await receive(("ds", ANY))
        ref = monitor(ds)
        send(p, "die")
        return (await receive(Down(ref, ANY, ANY))).reason, flush()

    assert run(main) == ("shutdown", [("start", "a"), ("stop", "a", "shutdown")])
