"""Elixir 1.14's lib/elixir/test/elixir/dynamic_supervisor_test.exs, translated to beamlet.

Each test names the original ExUnit test in its docstring. The start functions the original
defines in its test module (``start_link(:ok2)``, ``start_link(:restart, value)``...) are the
module-level functions below; like the originals they run inside the supervisor, so the
process dictionary they use is the supervisor's. Global / via names, ``:sys`` code change,
``:supervisor.get_callback_module`` and the deprecated six-element specs are listed in
tests/ported/README.md.
"""

from __future__ import annotations

from beamlet import (
    ANY,
    Down,
    DynamicSupervisor,
    Exit,
    Process,
    Supervisor,
    Task,
    exit as beamlet_exit,
    monitor,
    receive,
    self_pid,
    send,
    sleep,
    spawn_link,
)
from helpers import quiet, run


# --------------------------------------------------------------------------- start functions
async def _forever():
    await receive()


def start_link(kind, value=None):
    """The original's start_link/1 and /2 clauses."""
    if kind == "ok3":
        return ("ok", spawn_link(_forever), "extra")
    if kind == "ok2":
        return ("ok", spawn_link(_forever))
    if kind == "error":
        return ("error", "found")
    if kind == "ignore":
        return "ignore"
    if kind == "unknown":
        return "unknown"
    if kind == "non_local":
        if value == "error":
            raise RuntimeError("oops")
        beamlet_exit("oops")
    if kind == "try_again":
        if Process.get("try_again"):
            Process.put("try_again", False)
            send(value, ("try_again", False))
            return ("error", "try_again")
        Process.put("try_again", True)
        send(value, ("try_again", True))
        return start_link("ok2")
    if kind == "restart":
        if Process.get(("restart", value)):
            return start_link(value)
        Process.put(("restart", value), True)
        return start_link("ok2")
    raise ValueError(kind)


def current_module_worker(args, **opts):
    return Supervisor.child_spec({"id": "DynamicSupervisorTest", "start": (start_link, args)},
                                 **opts)


def sleepy_worker(**opts):
    return Supervisor.child_spec({"id": Task, "start": (Task.start_link, (sleep, None))},
                                 **opts)


async def assert_kill(pid, reason):
    ref = monitor(pid)
    Process.exit(pid, reason)
    await receive(Down(ref, ANY, ANY), timeout=1.0)


class Simple(DynamicSupervisor):
    def init(self, args):
        return args


def counts(c):
    return c["workers"], c["active"]


# --------------------------------------------------------------------------- tests
def test_can_be_supervised_directly():
    """dynamic_supervisor_test.exs: 'can be supervised directly'."""
    async def main():
        children = [(DynamicSupervisor, {"name": "dyn_sup_spec_test"})]
        ok, _ = await Supervisor.start_link(children, strategy="one_for_one")
        return ok, await DynamicSupervisor.which_children("dyn_sup_spec_test")

    assert run(main) == ("ok", [])


def test_multiple_supervisors_can_be_supervised_and_identified_with_simple_child_spec():
    """dynamic_supervisor_test.exs: 'multiple supervisors can be supervised and identified
    with simple child spec' (the local name and the unnamed one; no global or via names)."""
    async def main():
        children = [(DynamicSupervisor, {"name": "simple_name"})]
        _, supsup = await Supervisor.start_link(children, strategy="one_for_one")
        ok, no_name = await Supervisor.start_child(supsup, (DynamicSupervisor,
                                                            {"strategy": "one_for_one"}))
        return [ok, await DynamicSupervisor.which_children("simple_name"),
                await DynamicSupervisor.which_children(no_name),
                await Supervisor.start_child(supsup, (DynamicSupervisor,
                                                      {"strategy": "one_for_one"}))
                == ("error", ("already_started", no_name))]

    assert run(main) == ["ok", [], [], True]


def test_use_generates_child_spec():
    """dynamic_supervisor_test.exs: use/2 'generates child_spec/1' (the use options are
    child_spec overrides)."""
    spec = Simple.child_spec(["hello"])
    assert (spec["id"], spec["start"], spec["type"]) == \
        (Simple, (Simple.start_link, (["hello"],)), "supervisor")
    start = (print, ())
    custom = Simple.child_spec(["hello"], id="id", restart="temporary", shutdown="infinity",
                               start=start)
    assert (custom["id"], custom["restart"], custom["shutdown"], custom["start"],
            custom["type"]) == ("id", "temporary", "infinity", start, "supervisor")


def test_init_sets_default_options():
    """dynamic_supervisor_test.exs: init/1 'set default options' (beamlet's keys:
    max_restarts / max_seconds for intensity / period, None for :infinity)."""
    assert DynamicSupervisor.init() == ("ok", {
        "strategy": "one_for_one", "max_children": None, "max_restarts": 3, "max_seconds": 5,
        "extra_arguments": ()})


def test_start_link_with_non_ok_init():
    """dynamic_supervisor_test.exs: start_link/3 'with non-ok init'."""
    async def main():
        Process.flag("trap_exit", True)
        return [await DynamicSupervisor.start_link(Simple, ("ok", {"strategy": "unknown"})),
                await DynamicSupervisor.start_link(Simple, ("ok", {"max_restarts": -1})),
                await DynamicSupervisor.start_link(Simple, ("ok", {"max_seconds": 0})),
                await DynamicSupervisor.start_link(Simple, ("ok", {"max_children": -1})),
                await DynamicSupervisor.start_link(Simple, ("ok", {"extra_arguments": -1})),
                await DynamicSupervisor.start_link(Simple, "unknown"),
                await DynamicSupervisor.start_link(Simple, "ignore")]

    assert run(main) == [
        ("error", ("supervisor_data", ("invalid_strategy", "unknown"))),
        ("error", ("supervisor_data", ("invalid_intensity", -1))),
        ("error", ("supervisor_data", ("invalid_period", 0))),
        ("error", ("supervisor_data", ("invalid_max_children", -1))),
        ("error", ("supervisor_data", ("invalid_extra_arguments", -1))),
        ("error", ("bad_return", (Simple, "init", "unknown"))),
        "ignore"]


def test_start_link_with_registered_process():
    """dynamic_supervisor_test.exs: start_link/3 'with registered process' (link, name,
    initial call, stop)."""
    async def main():
        _, pid = await Simple.start_link(("ok", {}), name="DynamicSupervisorTest")
        return [pid in Process.info(self_pid(), "links"),
                Process.whereis("DynamicSupervisorTest") == pid,
                Process.info(pid, "dictionary")["$initial_call"],
                await DynamicSupervisor.stop("DynamicSupervisorTest")]

    assert run(main) == [True, True, ("supervisor", Simple, 1), "ok"]


def test_start_link_with_spawn_opt():
    """dynamic_supervisor_test.exs: start_link/3 'with spawn_opt' (priority=)."""
    async def main():
        _, pid = await DynamicSupervisor.start_link(strategy="one_for_one", priority="high")
        return Process.info(pid, "priority")

    assert run(main) == "high"


def test_sets_initial_call_to_the_same_as_a_regular_supervisor():
    """dynamic_supervisor_test.exs: start_link/3 'sets initial call to the same as a regular
    supervisor'."""
    async def main():
        _, sup = await Supervisor.start_link([], strategy="one_for_one")
        _, dyn = await DynamicSupervisor.start_link(strategy="one_for_one")
        return [Process.info(p, "dictionary")["$initial_call"] for p in (sup, dyn)]

    assert run(main) == [("supervisor", Supervisor, 1)] * 2


def test_start_child_supports_new_child_spec_as_tuple():
    """dynamic_supervisor_test.exs: start_child/2 'supports new child spec as tuple'."""
    async def main():
        _, sup = await DynamicSupervisor.start_link(strategy="one_for_one")
        child = {"id": Task, "restart": "temporary", "start": (Task.start_link, (lambda: "ok",))}
        ok, pid = await DynamicSupervisor.start_child(sup, child)
        return ok, type(pid).__name__

    assert run(main) == ("ok", "Pid")


def test_start_child_supports_new_child_spec():
    """dynamic_supervisor_test.exs: start_child/2 'supports new child spec'."""
    async def main():
        _, sup = await DynamicSupervisor.start_link(strategy="one_for_one")
        ok, pid = await DynamicSupervisor.start_child(sup, (Task, lambda: sleep(None)))
        return ok, Process.alive(pid)

    assert run(main) == ("ok", True)


def test_start_child_supports_extra_arguments():
    """dynamic_supervisor_test.exs: start_child/2 'supports extra arguments'."""
    async def main():
        parent = self_pid()
        _, sup = await DynamicSupervisor.start_link(
            strategy="one_for_one", extra_arguments=[lambda: send(parent, "from_child")])
        child = {"id": Task, "restart": "temporary", "start": (Task.start_link, ())}
        ok, _ = await DynamicSupervisor.start_child(sup, child)
        return ok, await receive("from_child", timeout=1.0)

    assert run(main) == ("ok", "from_child")


def test_start_child_with_invalid_child_spec():
    """dynamic_supervisor_test.exs: start_child/2 'with invalid child spec' (refused before
    the supervisor, which does not exist here, is asked)."""
    async def main():
        return [await DynamicSupervisor.start_child("not_used", {}),
                await DynamicSupervisor.start_child("not_used",
                                                    {"id": 1, "start": (Task, "foo", "bar")})]

    assert run(main) == [("error", ("invalid_child_spec", {})),
                         ("error", ("invalid_mfa", (Task, "foo", "bar")))]


def test_start_child_with_different_returns():
    """dynamic_supervisor_test.exs: start_child/2 'with different returns'."""
    async def main():
        _, sup = await DynamicSupervisor.start_link(strategy="one_for_one")
        out = []
        for kind in ["ok3", "ok2", "ignore", "error", "unknown"]:
            r = await DynamicSupervisor.start_child(sup, current_module_worker((kind,)))
            out.append(r if r.__class__ is not tuple or r[0] != "ok" else (r[0], *r[2:]))
        return out

    assert run(main) == [("ok", "extra"), ("ok",), "ignore", ("error", "found"),
                         ("error", "unknown")]


def test_start_child_with_throw_error_exit():
    """dynamic_supervisor_test.exs: start_child/2 'with throw/error/exit' (Python has no
    throw: a raise gives the exception, an exit its reason)."""
    async def main():
        _, sup = await DynamicSupervisor.start_link(strategy="one_for_one")
        raised = await DynamicSupervisor.start_child(
            sup, current_module_worker(("non_local", "error")))
        exited = await DynamicSupervisor.start_child(
            sup, current_module_worker(("non_local", "exit")))
        return raised[0], type(raised[1]), exited

    assert run(main) == ("error", RuntimeError, ("error", "oops"))


def test_start_child_with_max_children():
    """dynamic_supervisor_test.exs: start_child/2 'with max_children'."""
    async def main():
        _, sup = await DynamicSupervisor.start_link(strategy="one_for_one", max_children=0)
        return await DynamicSupervisor.start_child(sup, current_module_worker(("ok2",)))

    assert run(main) == ("error", "max_children")


def test_temporary_child_is_not_restarted_regardless_of_reason():
    """dynamic_supervisor_test.exs: 'temporary child is not restarted regardless of reason'."""
    quiet()

    async def main():
        child = current_module_worker(("ok2",), restart="temporary")
        _, sup = await DynamicSupervisor.start_link(strategy="one_for_one")
        out = []
        for reason in ["shutdown", "whatever"]:
            _, pid = await DynamicSupervisor.start_child(sup, child)
            await assert_kill(pid, reason)
            out.append(counts(await DynamicSupervisor.count_children(sup)))
        return out

    assert run(main) == [(0, 0), (0, 0)]


def test_transient_child_is_restarted_unless_normal_shutdown():
    """dynamic_supervisor_test.exs: 'transient child is restarted unless
    normal/shutdown/{shutdown, _}'."""
    quiet()

    async def main():
        child = current_module_worker(("ok2",), restart="transient")
        _, sup = await DynamicSupervisor.start_link(strategy="one_for_one")
        out = []
        for reason in ["shutdown", ("shutdown", "signal"), "whatever"]:
            _, pid = await DynamicSupervisor.start_child(sup, child)
            await assert_kill(pid, reason)
            out.append(counts(await DynamicSupervisor.count_children(sup)))
        return out

    assert run(main) == [(0, 0), (0, 0), (1, 1)]


def test_permanent_child_is_restarted_regardless_of_reason():
    """dynamic_supervisor_test.exs: 'permanent child is restarted regardless of reason'."""
    quiet()

    async def main():
        child = current_module_worker(("ok2",), restart="permanent")
        _, sup = await DynamicSupervisor.start_link(strategy="one_for_one", max_restarts=100_000)
        out = []
        for reason in ["shutdown", ("shutdown", "signal"), "whatever"]:
            _, pid = await DynamicSupervisor.start_child(sup, child)
            await assert_kill(pid, reason)
            out.append(counts(await DynamicSupervisor.count_children(sup)))
        return out

    assert run(main) == [(1, 1), (2, 2), (3, 3)]


def test_child_is_restarted_with_different_values():
    """dynamic_supervisor_test.exs: 'child is restarted with different values' (a restart
    that fails leaves the child "restarting", retried while the supervisor goes on)."""
    quiet()

    async def main():
        _, sup = await DynamicSupervisor.start_link(strategy="one_for_one", max_restarts=100_000)
        out = []

        async def step(value):
            _, pid = await DynamicSupervisor.start_child(
                sup, current_module_worker(("restart", value)))
            before = [row[1] == pid for row in await DynamicSupervisor.which_children(sup)]
            await assert_kill(pid, "shutdown")
            rows = await DynamicSupervisor.which_children(sup)
            out.append((before, [row[1] if row[1] == "restarting" else type(row[1]).__name__
                                 for row in rows],
                        counts(await DynamicSupervisor.count_children(sup))))

        for value in ["ok2", "ok3", "ignore", "error", "unknown"]:
            await step(value)
        rows = await DynamicSupervisor.which_children(sup)
        out.append({(row[0], row[2], tuple(row[3])) for row in rows})
        return out

    out = run(main)
    assert out[:5] == [
        ([True], ["Pid"], (1, 1)),
        ([False, True], ["Pid", "Pid"], (2, 2)),
        ([False, False, True], ["Pid", "Pid"], (2, 2)),
        ([False, False, True], ["Pid", "Pid", "restarting"], (3, 2)),
        ([False, False, False, True], ["Pid", "Pid", "restarting", "restarting"], (4, 2)),
    ]
    assert out[5] == {(None, "worker", (start_link,))}


def test_restarting_on_init_children_counted_in_max_children():
    """dynamic_supervisor_test.exs: 'restarting on init children counted in max_children'."""
    quiet()

    async def main():
        child = current_module_worker(("restart", "error"), restart="permanent")
        _, sup = await DynamicSupervisor.start_link(strategy="one_for_one", max_children=1,
                                                    max_restarts=100_000)
        _, pid = await DynamicSupervisor.start_child(sup, child)
        await assert_kill(pid, "shutdown")
        c = counts(await DynamicSupervisor.count_children(sup))
        child = current_module_worker(("restart", "ok2"), restart="permanent")
        return c, await DynamicSupervisor.start_child(sup, child)

    assert run(main) == ((1, 0), ("error", "max_children"))


def test_restarting_on_exit_children_counted_in_max_children():
    """dynamic_supervisor_test.exs: 'restarting on exit children counted in max_children'."""
    quiet()

    async def main():
        child = current_module_worker(("ok2",), restart="permanent")
        _, sup = await DynamicSupervisor.start_link(strategy="one_for_one", max_children=1,
                                                    max_restarts=100_000)
        _, pid = await DynamicSupervisor.start_child(sup, child)
        await assert_kill(pid, "shutdown")
        c = counts(await DynamicSupervisor.count_children(sup))
        return c, await DynamicSupervisor.start_child(sup, child)

    assert run(main) == ((1, 1), ("error", "max_children"))


def test_restarting_a_child_with_extra_arguments_successfully_restarts_child():
    """dynamic_supervisor_test.exs: 'restarting a child with extra_arguments successfully
    restarts child'."""
    quiet()

    async def main():
        parent = self_pid()

        async def fun():
            send(parent, "from_child")
            await sleep(None)

        _, sup = await DynamicSupervisor.start_link(strategy="one_for_one",
                                                    extra_arguments=[fun])
        child = {"id": Task, "restart": "transient", "start": (Task.start_link, ())}
        _, pid = await DynamicSupervisor.start_child(sup, child)
        out = [await receive("from_child", timeout=1.0),
               counts(await DynamicSupervisor.count_children(sup))]
        await assert_kill(pid, "oops")
        out += [await receive("from_child", timeout=1.0),
                counts(await DynamicSupervisor.count_children(sup))]
        return out

    assert run(main) == ["from_child", (1, 1), "from_child", (1, 1)]


def test_child_is_restarted_when_trying_again():
    """dynamic_supervisor_test.exs: 'child is restarted when trying again'."""
    quiet()

    async def main():
        child = current_module_worker(("try_again", self_pid()), restart="permanent")
        _, sup = await DynamicSupervisor.start_link(strategy="one_for_one", max_restarts=2)
        _, pid = await DynamicSupervisor.start_child(sup, child)
        out = [await receive(("try_again", ANY), timeout=0)]
        await assert_kill(pid, "shutdown")
        out += [await receive(("try_again", ANY), timeout=1.0),
                await receive(("try_again", ANY), timeout=1.0),
                counts(await DynamicSupervisor.count_children(sup))]
        return out

    assert run(main) == [("try_again", True), ("try_again", False), ("try_again", True), (1, 1)]


def test_child_triggers_maximum_restarts():
    """dynamic_supervisor_test.exs: 'child triggers maximum restarts'."""
    quiet()

    async def main():
        Process.flag("trap_exit", True)
        child = current_module_worker(("restart", "error"), restart="permanent")
        _, sup = await DynamicSupervisor.start_link(strategy="one_for_one", max_restarts=1)
        _, pid = await DynamicSupervisor.start_child(sup, child)
        await assert_kill(pid, "shutdown")
        return await receive(Exit(sup, ANY), timeout=1.0) == Exit(sup, "shutdown")

    assert run(main) is True


def test_child_triggers_maximum_intensity_when_trying_again():
    """dynamic_supervisor_test.exs: 'child triggers maximum intensity when trying again'."""
    quiet()

    async def main():
        Process.flag("trap_exit", True)
        child = current_module_worker(("restart", "error"), restart="permanent")
        _, sup = await DynamicSupervisor.start_link(strategy="one_for_one", max_restarts=10)
        _, pid = await DynamicSupervisor.start_child(sup, child)
        await assert_kill(pid, "shutdown")
        return await receive(Exit(sup, ANY), timeout=1.0) == Exit(sup, "shutdown")

    assert run(main) is True


# --------------------------------------------------------------------------- terminate/2
async def _three_children(sup, child):
    pids = []
    for _ in range(3):
        _, pid = await DynamicSupervisor.start_child(sup, child)
        pids.append(pid)
    return pids


async def _kill_sup_and_collect(sup, pids):
    refs = [monitor(p) for p in pids]
    await assert_kill(sup, "shutdown")
    return [(await receive(Down(r, ANY, ANY), timeout=1.0)).reason for r in refs]


def _trapping_child(parent, how_it_ends):
    async def fun():
        Process.flag("trap_exit", True)
        send(parent, "ready")
        await receive()
        beamlet_exit(how_it_ends)
    return fun


def _terminate_case(child_of, expected, readies=0):
    async def main():
        Process.flag("trap_exit", True)
        _, sup = await DynamicSupervisor.start_link(strategy="one_for_one")
        pids = await _three_children(sup, child_of(self_pid()))
        for _ in range(readies):
            await receive("ready", timeout=1.0)
        return await _kill_sup_and_collect(sup, pids)

    quiet()
    assert run(main) == expected


def test_terminates_children_with_brutal_kill():
    """dynamic_supervisor_test.exs: terminate/2 'terminates children with brutal kill'."""
    _terminate_case(lambda parent: sleepy_worker(shutdown="brutal_kill"), ["killed"] * 3)


def test_terminates_children_with_infinity_shutdown():
    """dynamic_supervisor_test.exs: terminate/2 'terminates children with infinity
    shutdown'."""
    _terminate_case(lambda parent: sleepy_worker(shutdown="infinity"), ["shutdown"] * 3)


def test_terminates_children_with_infinity_shutdown_and_abnormal_reason():
    """dynamic_supervisor_test.exs: terminate/2 'terminates children with infinity shutdown
    and abnormal reason'."""
    _terminate_case(lambda parent: Supervisor.child_spec(
        (Task, _trapping_child(parent, ("shutdown", "oops"))), shutdown="infinity"),
        [("shutdown", "oops")] * 3, readies=3)


def test_terminates_children_with_integer_shutdown():
    """dynamic_supervisor_test.exs: terminate/2 'terminates children with integer shutdown'."""
    _terminate_case(lambda parent: sleepy_worker(shutdown=1.0), ["shutdown"] * 3)


def test_terminates_children_with_integer_shutdown_and_abnormal_reason():
    """dynamic_supervisor_test.exs: terminate/2 'terminates children with integer shutdown
    and abnormal reason'."""
    _terminate_case(lambda parent: Supervisor.child_spec(
        (Task, _trapping_child(parent, ("shutdown", "oops"))), shutdown=1.0),
        [("shutdown", "oops")] * 3, readies=3)


def test_terminates_children_with_expired_integer_shutdown():
    """dynamic_supervisor_test.exs: terminate/2 'terminates children with expired integer
    shutdown' (the child that traps exits outlives its 1 ms and is killed)."""
    quiet()

    async def main():
        Process.flag("trap_exit", True)
        parent = self_pid()

        async def tmt():
            Process.flag("trap_exit", True)
            send(parent, "ready")
            await sleep(None)

        _, sup = await DynamicSupervisor.start_link(strategy="one_for_one")
        child_fun = Supervisor.child_spec((Task, lambda: sleep(None)), shutdown=0.001)
        child_tmt = Supervisor.child_spec((Task, tmt), shutdown=0.001)
        pids = []
        for child in (child_fun, child_tmt, child_fun):
            _, pid = await DynamicSupervisor.start_child(sup, child)
            pids.append(pid)
        await receive("ready", timeout=1.0)
        return await _kill_sup_and_collect(sup, pids)

    assert run(main) == ["shutdown", "killed", "shutdown"]


def test_terminates_children_with_permanent_restart_and_normal_reason():
    """dynamic_supervisor_test.exs: terminate/2 'terminates children with permanent restart
    and normal reason'."""
    _terminate_case(lambda parent: Supervisor.child_spec(
        (Task, _trapping_child(parent, "normal")), shutdown="infinity", restart="permanent"),
        ["normal"] * 3, readies=3)


def test_terminates_with_mixed_children():
    """dynamic_supervisor_test.exs: terminate/2 'terminates with mixed children'."""
    quiet()

    async def main():
        Process.flag("trap_exit", True)
        _, sup = await DynamicSupervisor.start_link(strategy="one_for_one")
        _, a = await DynamicSupervisor.start_child(sup, sleepy_worker(shutdown="infinity"))
        _, b = await DynamicSupervisor.start_child(sup, sleepy_worker(shutdown="brutal_kill"))
        return await _kill_sup_and_collect(sup, [a, b])

    assert run(main) == ["shutdown", "killed"]


# --------------------------------------------------------------------------- terminate_child/2
def _terminate_child_case(shutdown, expected):
    async def main():
        _, sup = await DynamicSupervisor.start_link(strategy="one_for_one")
        _, pid = await DynamicSupervisor.start_child(sup, sleepy_worker(shutdown=shutdown))
        ref = monitor(pid)
        out = [await DynamicSupervisor.terminate_child(sup, pid),
               (await receive(Down(ref, ANY, ANY), timeout=1.0)).reason,
               await DynamicSupervisor.terminate_child(sup, pid),
               counts(await DynamicSupervisor.count_children(sup))]
        return out

    assert run(main) == ["ok", expected, ("error", "not_found"), (0, 0)]


def test_terminates_child_with_brutal_kill():
    """dynamic_supervisor_test.exs: terminate_child/2 'terminates child with brutal kill'."""
    _terminate_child_case("brutal_kill", "killed")


def test_terminates_child_with_integer_shutdown():
    """dynamic_supervisor_test.exs: terminate_child/2 'terminates child with integer
    shutdown'."""
    _terminate_child_case(1.0, "shutdown")


def test_terminates_restarting_child():
    """dynamic_supervisor_test.exs: terminate_child/2 'terminates restarting child'."""
    quiet()

    async def main():
        _, sup = await DynamicSupervisor.start_link(strategy="one_for_one", max_restarts=100_000)
        child = current_module_worker(("restart", "error"), restart="permanent")
        _, pid = await DynamicSupervisor.start_child(sup, child)
        await assert_kill(pid, "shutdown")
        return [await DynamicSupervisor.terminate_child(sup, pid),
                await DynamicSupervisor.terminate_child(sup, pid),
                counts(await DynamicSupervisor.count_children(sup))]

    assert run(main) == ["ok", ("error", "not_found"), (0, 0)]
