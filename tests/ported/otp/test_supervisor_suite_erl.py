"""A selection of Erlang/OTP's lib/stdlib/test/supervisor_SUITE.erl, translated to beamlet.

Each test names the original case in its docstring. The suite's helper modules are translated
below: `Sup1` and `start_child` (supervisor_1), `Sup3` (supervisor_3), `Naughty`
(naughty_child), `Deadlock` (supervisor_deadlock), `SuiteSup` (the suite's own supervisor
callback, started as "sup_test"). Child specs are dicts (`child` builds one from the
original's six-element tuple), flags a dict (`flags`). simple_one_for_one (Elixir's and
beamlet's DynamicSupervisor, ported through dynamic_supervisor_test.exs), global names, code
change, get_childspec / check_childspecs, applications and the memory and scaling measurements
are listed in tests/ported/README.md.
"""

from __future__ import annotations

import pytest

from beamlet import (
    ANY,
    Down,
    Exit,
    GenServer,
    Pid,
    Process,
    Supervisor,
    link,
    monitor,
    receive,
    self_pid,
    send,
    sleep,
    spawn,
    spawn_link,
    unlink,
)
from beamlet.testing import settle, wait_dead
from helpers import caught_exit, quiet, run


# --------------------------------------------------------------------------- supervisor_1
class Sup1(GenServer):
    """supervisor_1: a child that traps exits and stops on "die" / "stop" / shutdown."""

    def init(self, arg):
        if arg != "normal":
            raise ValueError(f"no init clause for {arg!r}")   # Erlang's function_clause
        Process.flag("trap_exit", True)
        return ("ok", ())

    def handle_call(self, request, from_, state):
        return ("reply", request, state)

    async def handle_info(self, msg, state):
        if msg == "die":
            return ("stop", "died", state)
        if msg == "stop":
            return ("stop", "normal", state)
        if msg.__class__ is Exit and (msg.reason == "shutdown" or (
                type(msg.reason) is tuple and msg.reason[0] == "shutdown")):
            return ("stop", msg.reason, state)
        if type(msg) is tuple and msg[0] == "sleep":
            await sleep(None)    # busy for ever: it will not see its shutdown signal
        return ("noreply", state)


_NONE = object()


async def start_child(extra=_NONE):
    """supervisor_1:start_child/0,1. Runs in the supervisor: the process dictionary used
    here is the supervisor's, as in the original."""
    if extra is _NONE:
        return await GenServer.start_link(Sup1, "normal")
    if extra == "ignore":
        if Process.get("child_ignored"):
            return await start_child()
        Process.put("child_ignored", True)
        return "ignore"
    if extra == "error":
        if Process.get("start_child_error") is None:
            Process.put("start_child_error", "set")
            return await start_child()
        return await GenServer.start_link(Sup1, "error")
    _, pid = await GenServer.start_link(Sup1, "normal")
    return ("ok", pid, extra)


def child(id, start_args=(), restart="permanent", shutdown=1.0, type="worker", modules=(),
          fn=start_child):
    """The original's {Id, {M, F, A}, Restart, Shutdown, Type, Modules} child spec."""
    return {"id": id, "start": (fn, tuple(start_args)), "restart": restart,
            "shutdown": shutdown, "type": type, "modules": list(modules)}


def flags(strategy, intensity, period):
    return {"strategy": strategy, "max_restarts": intensity, "max_seconds": period}


class SuiteSup(Supervisor):
    """The suite's supervisor callback: init returns its argument (or fails)."""

    def init(self, arg):
        if arg == "fail":
            raise ValueError(("badmatch", 2))
        return arg


async def start_link(init_result):
    return await SuiteSup.start_link(init_result, name="sup_test")


async def counts(sup="sup_test"):
    c = await Supervisor.count_children(sup)
    return [c["specs"], c["active"], c["supervisors"], c["workers"]]


async def terminate(sup, pid, child_id, how):
    """The original's terminate/4: end a child (or, with sup None, a supervisor) and wait."""
    if how == "supervisor":
        assert await Supervisor.terminate_child(sup, child_id) == "ok"
        return
    ref = monitor(pid)
    expected = {"kill": "killed", "normal": "normal", "abnormal": "died"}.get(how, how)
    if how in ("normal", "abnormal"):
        send(pid, "stop" if how == "normal" else "die")
    else:
        Process.exit(pid, how)
    down = await receive(Down(ref, ANY, ANY), timeout=5.0)
    assert down.reason == expected, down


async def check_exit_reason(pid, reason):
    msg = await receive(Exit(ANY, ANY) if pid is None else Exit(pid, ANY), timeout=5.0)
    assert msg.reason == reason, msg


async def check_exit(pids):
    for pid in pids:
        await receive(Exit(pid, ANY), timeout=5.0)


def ids(rows):
    return [(r[0], r[1] if not isinstance(r[1], Pid) else "pid") for r in rows]


# --------------------------------------------------------------------------- sup_start
def test_sup_start_normal():
    """supervisor_SUITE: sup_start_normal."""
    async def main():
        Process.flag("trap_exit", True)
        _, pid = await start_link(("ok", (flags("one_for_one", 2, 3600), [])))
        await terminate(None, pid, None, "shutdown")
        return "ok"

    assert run(main) == "ok"


def test_sup_start_ignore_init():
    """supervisor_SUITE: sup_start_ignore_init."""
    async def main():
        Process.flag("trap_exit", True)
        r = await start_link("ignore")
        await check_exit_reason(None, "normal")
        return r

    assert run(main) == "ignore"


def test_sup_start_ignore_child():
    """supervisor_SUITE: sup_start_ignore_child."""
    async def main():
        Process.flag("trap_exit", True)
        await start_link(("ok", (flags("one_for_one", 2, 3600), [])))
        out = [await Supervisor.start_child("sup_test", child("child1", ["ignore"]))]
        _, cpid2 = await Supervisor.start_child("sup_test", child("child2"))
        out.append(await Supervisor.which_children("sup_test") ==
                   [("child2", cpid2, "worker", []), ("child1", None, "worker", [])])
        out.append(await counts())
        return out

    assert run(main) == [("ok", None), True, [2, 1, 0, 2]]


def test_sup_start_ignore_temporary_child():
    """supervisor_SUITE: sup_start_ignore_temporary_child (a temporary child that ignores is
    not kept)."""
    async def main():
        Process.flag("trap_exit", True)
        children = [child("child1", ["ignore"], "temporary"), child("child2", (), "temporary")]
        await start_link(("ok", (flags("one_for_one", 2, 3600), children)))
        return ids(await Supervisor.which_children("sup_test")), await counts()

    assert run(main) == ([("child2", "pid")], [1, 1, 0, 1])


def test_sup_start_ignore_temporary_child_start_child():
    """supervisor_SUITE: sup_start_ignore_temporary_child_start_child."""
    async def main():
        Process.flag("trap_exit", True)
        await start_link(("ok", (flags("one_for_one", 2, 3600), [])))
        out = [await Supervisor.start_child("sup_test",
                                            child("child1", ["ignore"], "temporary"))]
        ok, _ = await Supervisor.start_child("sup_test", child("child2", (), "temporary"))
        out += [ok, ids(await Supervisor.which_children("sup_test")), await counts()]
        return out

    assert run(main) == [("ok", None), "ok", [("child2", "pid")], [1, 1, 0, 1]]


def test_sup_start_error_return():
    """supervisor_SUITE: sup_start_error_return (init returns something invalid)."""
    async def main():
        Process.flag("trap_exit", True)
        r = await start_link("invalid")
        await check_exit_reason(None, r[1])
        return r

    assert run(main) == ("error", ("bad_return", (SuiteSup, "init", "invalid")))


def test_sup_start_fail():
    """supervisor_SUITE: sup_start_fail (init raises: the reason is the exception)."""
    quiet()

    async def main():
        Process.flag("trap_exit", True)
        tag, reason = await start_link("fail")
        await check_exit_reason(None, reason)
        return tag, type(reason)

    assert run(main) == ("error", ValueError)


def test_sup_start_map():
    """supervisor_SUITE: sup_start_map (dict specs with defaults; the part that does not
    need get_childspec: they start, with their types)."""
    async def main():
        Process.flag("trap_exit", True)
        children = [{"id": "child1", "start": (start_child, ())},
                    {"id": "child2", "start": (start_child, ()), "shutdown": "brutal_kill"},
                    {"id": "child3", "start": (start_child, ()), "type": "supervisor"}]
        _, pid = await start_link(("ok", ({}, children)))
        rows = [(r[0], r[2]) for r in await Supervisor.which_children(pid)]
        await terminate(None, pid, None, "shutdown")
        return rows

    assert run(main) == [("child3", "supervisor"), ("child2", "worker"), ("child1", "worker")]


def test_sup_start_map_faulty_specs():
    """supervisor_SUITE: sup_start_map_faulty_specs (unknown keys are ignored)."""
    async def main():
        Process.flag("trap_exit", True)
        out = [await start_link(("ok", ({}, [{"start": (start_child, ())}]))),
               await start_link(("ok", ({}, [{"id": "child2"}])))]
        ok, pid = await start_link(("ok", ({}, [{"id": "child3", "start": (start_child, ()),
                                                 "silly_flag": True}])))
        out.append(ok)
        await terminate(None, pid, None, "shutdown")
        out.append(await start_link(("ok", ({}, ["child4"]))))
        return out

    assert run(main) == [("error", ("start_spec", "missing_id")),
                         ("error", ("start_spec", "missing_start")), "ok",
                         ("error", ("start_spec", ("invalid_child_spec", "child4")))]


# --------------------------------------------------------------------------- sup_stop
def test_sup_stop_infinity():
    """supervisor_SUITE: sup_stop_infinity."""
    async def main():
        Process.flag("trap_exit", True)
        _, pid = await start_link(("ok", (flags("one_for_one", 2, 3600), [])))
        _, c1 = await Supervisor.start_child("sup_test", child("child1", (), "permanent",
                                                               "infinity", "supervisor"))
        _, c2 = await Supervisor.start_child("sup_test", child("child2", (), "permanent",
                                                               "infinity", "worker"))
        link(c1)
        link(c2)
        await terminate(None, pid, None, "shutdown")
        await check_exit_reason(c1, "shutdown")
        await check_exit_reason(c2, "shutdown")
        return "ok"

    assert run(main) == "ok"


def test_sup_stop_timeout():
    """supervisor_SUITE: sup_stop_timeout (a busy child is killed after its shutdown time,
    1 s scaled to 0.05 s)."""
    async def main():
        Process.flag("trap_exit", True)
        _, pid = await start_link(("ok", (flags("one_for_one", 2, 3600), [])))
        _, c1 = await Supervisor.start_child("sup_test", child("child1", (), shutdown=0.05))
        link(c1)
        _, c2 = await Supervisor.start_child("sup_test", child("child2", (), shutdown=0.05))
        link(c2)
        send(c2, ("sleep", 200))
        await terminate(None, pid, None, "shutdown")
        await check_exit_reason(c1, "shutdown")
        await check_exit_reason(c2, "killed")
        return "ok"

    assert run(main) == "ok"


def test_sup_stop_brutal_kill():
    """supervisor_SUITE: sup_stop_brutal_kill."""
    async def main():
        Process.flag("trap_exit", True)
        _, pid = await start_link(("ok", (flags("one_for_one", 2, 3600), [])))
        _, c1 = await Supervisor.start_child("sup_test", child("child1", ()))
        link(c1)
        _, c2 = await Supervisor.start_child("sup_test", child("child2", (),
                                                               shutdown="brutal_kill"))
        link(c2)
        await terminate(None, pid, None, "shutdown")
        await check_exit_reason(c1, "shutdown")
        await check_exit_reason(c2, "killed")
        return "ok"

    assert run(main) == "ok"


# --------------------------------------------------------------------------- child admin
def test_extra_return():
    """supervisor_SUITE: extra_return (("ok", pid, info) from a start function is passed
    through start_child and restart_child)."""
    async def main():
        Process.flag("trap_exit", True)
        spec = child("child1", ["extra_return"])
        await start_link(("ok", (flags("one_for_one", 2, 3600), [spec])))
        [(_, cpid, _, _)] = await Supervisor.which_children("sup_test")
        link(cpid)
        out = [await Supervisor.terminate_child("sup_test", "hej"),
               await Supervisor.delete_child("sup_test", "hej"),
               await Supervisor.restart_child("sup_test", "hej"),
               await Supervisor.delete_child("sup_test", "child1"),
               await Supervisor.restart_child("sup_test", "child1"),
               await counts(),
               await Supervisor.terminate_child("sup_test", "child1")]
        await check_exit_reason(cpid, "shutdown")
        out += [await Supervisor.which_children("sup_test"), await counts()]
        ok, cpid2, info = await Supervisor.restart_child("sup_test", "child1")
        out += [(ok, info), ids(await Supervisor.which_children("sup_test")), await counts(),
                await Supervisor.terminate_child("sup_test", "child1"),
                await Supervisor.terminate_child("sup_test", "child1"),
                await Supervisor.delete_child("sup_test", "child1"),
                await Supervisor.restart_child("sup_test", "child1"),
                await Supervisor.which_children("sup_test"), await counts()]
        ok, _, info = await Supervisor.start_child("sup_test", spec)
        out += [(ok, info), await counts()]
        return out

    nf = ("error", "not_found")
    assert run(main) == [
        nf, nf, nf, ("error", "running"), ("error", "running"), [1, 1, 0, 1], "ok",
        [("child1", None, "worker", [])], [1, 0, 0, 1], ("ok", "extra_return"),
        [("child1", "pid")], [1, 1, 0, 1], "ok", "ok", "ok", nf, [], [0, 0, 0, 0],
        ("ok", "extra_return"), [1, 1, 0, 1]]


def test_child_adm():
    """supervisor_SUITE: child_adm (start_child, terminate_child, restart_child,
    delete_child, which_children, count_children, and calls to a supervisor that is not
    there)."""
    async def main():
        Process.flag("trap_exit", True)
        spec = child("child1")
        await start_link(("ok", (flags("one_for_one", 2, 3600), [spec])))
        [(_, cpid, _, _)] = await Supervisor.which_children("sup_test")
        out = [await counts()]
        link(cpid)
        out.append(await Supervisor.start_child("sup_test", spec) ==
                   ("error", ("already_started", cpid)))
        out.append(await Supervisor.terminate_child("sup_test", "hej"))
        out.append(await caught_exit(Supervisor.terminate_child("foo", "child1")))
        out.append(await Supervisor.terminate_child("sup_test", "child1"))
        await check_exit_reason(cpid, "shutdown")
        out += [await Supervisor.which_children("sup_test"), await counts(),
                await Supervisor.terminate_child("sup_test", "child1"),
                await Supervisor.start_child("sup_test", spec)]
        ok, cpid2 = await Supervisor.restart_child("sup_test", "child1")
        out += [ok, await Supervisor.which_children("sup_test") ==
                [("child1", cpid2, "worker", [])], await counts(),
                await Supervisor.restart_child("sup_test", "child1"),
                await Supervisor.restart_child("sup_test", "child2"),
                await Supervisor.delete_child("sup_test", "child1"),
                await Supervisor.delete_child("sup_test", "hej"),
                (await caught_exit(Supervisor.delete_child("foo", "child1")))[0],
                await Supervisor.terminate_child("sup_test", "child1"),
                await Supervisor.delete_child("sup_test", "child1"),
                await Supervisor.restart_child("sup_test", "child1"),
                await Supervisor.which_children("sup_test"), await counts(),
                (await caught_exit(Supervisor.start_child("foo", spec)))[0]]
        _, cpid3 = await Supervisor.start_child("sup_test", spec)
        out += [await counts(),
                await Supervisor.terminate_child("sup_test", cpid3),   # a pid is no id here
                await Supervisor.which_children("sup_test") ==
                [("child1", cpid3, "worker", [])],
                await caught_exit(Supervisor.which_children("foo")),
                await caught_exit(Supervisor.count_children("foo"))]
        return out

    nf = ("error", "not_found")
    assert run(main) == [
        [1, 1, 0, 1], True, nf,
        ("noproc", (GenServer, "call", ["foo", ("terminate_child", "child1"), None])),
        "ok", [("child1", None, "worker", [])], [1, 0, 0, 1], "ok",
        ("error", "already_present"), "ok", True, [1, 1, 0, 1], ("error", "running"), nf,
        ("error", "running"), nf, "noproc", "ok", "ok", nf, [], [0, 0, 0, 0], "noproc",
        [1, 1, 0, 1], nf, True,
        ("noproc", (GenServer, "call", ["foo", "which_children", None])),
        ("noproc", (GenServer, "call", ["foo", "count_children", None]))]


def test_child_specs():
    """supervisor_SUITE: child_specs (the start_child and supervisor start parts; beamlet
    has no check_childspecs)."""
    async def main():
        Process.flag("trap_exit", True)
        _, pid = await start_link(("ok", (flags("one_for_one", 2, 3600), [])))
        good = (start_child, ())
        bad = [{"id": "child", "start": "mfa"},
               {"id": "child", "start": good, "restart": "prmanent"},
               {"id": "child", "start": good, "shutdown": -10},
               {"id": "child", "start": good, "type": "wrker"},
               {"id": "child", "start": good, "modules": "dy"}]
        out = [await Supervisor.start_child("sup_test", b) for b in bad]
        await terminate(None, pid, None, "shutdown")
        out.append(await start_link(("ok", (flags("one_for_one", 2, 3600), [bad[0]]))))
        return out

    assert run(main) == [
        ("error", ("invalid_mfa", "mfa")), ("error", ("invalid_restart_type", "prmanent")),
        ("error", ("invalid_shutdown", -10)), ("error", ("invalid_child_type", "wrker")),
        ("error", ("invalid_modules", "dy")),
        ("error", ("start_spec", ("invalid_mfa", "mfa")))]


def test_sup_flags():
    """supervisor_SUITE: sup_flags (flags are a dict here: the tuple and map forms of the
    original are one; unknown flags are ignored)."""
    async def main():
        Process.flag("trap_exit", True)
        out = []
        for f in [{"strategy": "none_for_one"}, {"max_restarts": "infinity"},
                  {"max_seconds": 0}, {"max_seconds": "infinity"}, ("one_for_one", 2)]:
            r = await start_link(("ok", (f, [])))
            out.append((r[0], r[1][0], r[1][1][0]))
        ok, pid = await start_link(("ok", ({"silly_flag": True}, [])))
        out.append(ok)
        await terminate(None, pid, None, "shutdown")
        return out

    sd = "supervisor_data"
    assert run(main) == [("error", sd, "invalid_strategy"), ("error", sd, "invalid_intensity"),
                         ("error", sd, "invalid_period"), ("error", sd, "invalid_period"),
                         ("error", sd, "invalid_type"), "ok"]


# --------------------------------------------------------------------------- restart types
RESTART_CASES = [
    # (restart type, how the child ends, restarted?)
    ("permanent", "normal", True), ("transient", "normal", False),
    ("temporary", "normal", None),
    ("permanent", "shutdown", True), ("transient", "shutdown", False),
    ("temporary", "shutdown", None),
    ("permanent", ("shutdown", "some_info"), True), ("transient", ("shutdown", "some_info"), False),
    ("temporary", ("shutdown", "some_info"), None),
    ("permanent", "abnormal", True), ("transient", "abnormal", True),
    ("temporary", "abnormal", None),
]


@pytest.mark.parametrize("restart,how,restarted", RESTART_CASES)
def test_restart_types(restart, how, restarted):
    """supervisor_SUITE: permanent_normal, transient_normal, temporary_normal,
    permanent_shutdown, transient_shutdown, temporary_shutdown, permanent_abnormal,
    transient_abnormal, temporary_abnormal (restarted: a new pid; not restarted: the spec kept
    with no pid; temporary: forgotten)."""
    quiet()

    async def main():
        _, sup = await start_link(("ok", (flags("one_for_one", 2, 3600), [])))
        _, cpid = await Supervisor.start_child("sup_test", child("child1", (), restart))
        await terminate(sup, cpid, "child1", how)
        return ids(await Supervisor.which_children("sup_test")), await counts()

    expected = {True: ([("child1", "pid")], [1, 1, 0, 1]),
                False: ([("child1", None)], [1, 0, 0, 1]),
                None: ([], [0, 0, 0, 0])}[restarted]
    assert run(main) == expected


def test_temporary_bystander():
    """supervisor_SUITE: temporary_bystander (a temporary child stopped by a one_for_all or
    rest_for_one restart is not restarted, so the supervisor does not hit its limit)."""
    async def main():
        c1 = child("child1", (), "permanent", 0.1)
        c2 = child("child2", (), "temporary", 0.1)
        _, s1 = await Supervisor.start_link(SuiteSup, ("ok", (flags("one_for_all", 2, 300), [])))
        _, s2 = await Supervisor.start_link(SuiteSup, ("ok", (flags("rest_for_one", 2, 300), [])))
        unlink(s1)
        unlink(s2)
        _, p1 = await Supervisor.start_child(s1, c1)
        await Supervisor.start_child(s1, c2)
        _, p3 = await Supervisor.start_child(s2, c1)
        await Supervisor.start_child(s2, c2)
        await terminate(s1, p1, "child1", "normal")
        await terminate(s2, p3, "child1", "normal")
        await settle()
        return (Process.alive(s1), Process.alive(s2),
                [r[0] for r in await Supervisor.which_children(s1)],
                [r[0] for r in await Supervisor.which_children(s2)])

    assert run(main) == (True, True, ["child1"], ["child1"])


def test_multiple_restarts():
    """supervisor_SUITE: multiple_restarts (restarts spaced wider than the period never reach
    the intensity; 1 s period and 2.1 s gaps scaled to 0.05 s and 0.11 s)."""
    quiet()

    async def main():
        Process.flag("trap_exit", True)
        spec = {"id": "child1", "start": (start_child, ()), "restart": "permanent",
                "shutdown": "brutal_kill", "type": "worker", "modules": []}
        _, sup = await start_link(("ok", (flags("one_for_one", 1, 0.05), [])))
        _, cpid = await Supervisor.start_child("sup_test", spec)
        await terminate(sup, cpid, "child1", "abnormal")
        for _ in range(3):
            await sleep(0.11)      # the gap between restarts is what is being tested
            [(_, pid, _, _)] = await Supervisor.which_children("sup_test")
            await terminate(sup, pid, "child1", "abnormal")
        out = [await Supervisor.terminate_child(sup, "child1"),
               await Supervisor.delete_child(sup, "child1")]
        Process.exit(sup, "kill")
        return out

    assert run(main) == ["ok", "ok"]


# --------------------------------------------------------------------------- strategies
def test_one_for_one():
    """supervisor_SUITE: one_for_one (only the dead child is restarted; a third restart
    within the period ends the supervisor)."""
    quiet()

    async def main():
        Process.flag("trap_exit", True)
        _, sup = await start_link(("ok", (flags("one_for_one", 2, 3600), [])))
        _, c1 = await Supervisor.start_child("sup_test", child("child1"))
        _, c2 = await Supervisor.start_child("sup_test", child("child2"))
        await terminate(sup, c1, "child1", "abnormal")
        rows = await Supervisor.which_children("sup_test")
        out = [len(rows), c2 in [r[1] for r in rows], await counts()]
        await terminate(sup, c2, "child2", "abnormal")
        [(id4, pid4, _, _), *_] = await Supervisor.which_children("sup_test")
        await terminate(sup, pid4, id4, "abnormal")
        await check_exit([sup])
        return out

    assert run(main) == [2, True, [2, 2, 0, 2]]


@pytest.mark.parametrize("strategy", ["one_for_one", "one_for_all", "rest_for_one"])
def test_escalation(strategy):
    """supervisor_SUITE: one_for_one_escalation, one_for_all_escalation,
    rest_for_one_escalation (a child that cannot be restarted makes the supervisor give up
    and take the other children with it)."""
    quiet()

    async def main():
        Process.flag("trap_exit", True)
        failing_first = strategy == "one_for_one"
        c1_args, c2_args = (["error"], []) if failing_first else ([], ["error"])
        _, sup = await start_link(("ok", (flags(strategy, 4, 3600), [])))
        _, c1 = await Supervisor.start_child("sup_test", child("child1", c1_args))
        _, c2 = await Supervisor.start_child("sup_test", child("child2", c2_args))
        link(c2)
        await terminate(sup, c1, "child1", "abnormal")
        await check_exit([sup, c2])
        return "ok"

    assert run(main) == "ok"


def test_one_for_all():
    """supervisor_SUITE: one_for_all (every child is restarted; the intensity ends the
    supervisor)."""
    quiet()

    async def main():
        Process.flag("trap_exit", True)
        _, sup = await start_link(("ok", (flags("one_for_all", 2, 3600), [])))
        _, c1 = await Supervisor.start_child("sup_test", child("child1"))
        _, c2 = await Supervisor.start_child("sup_test", child("child2"))
        link(c2)
        await terminate(sup, c1, "child1", "abnormal")
        await check_exit([c2])
        rows = await Supervisor.which_children("sup_test")
        pids = [r[1] for r in rows]
        out = [len(rows), c1 not in pids and c2 not in pids, await counts()]
        for _ in range(2):
            [(cid, pid, _, _), *_] = await Supervisor.which_children("sup_test")
            await terminate(sup, pid, cid, "abnormal")
        await check_exit([sup])
        return out

    assert run(main) == [2, True, [2, 2, 0, 2]]


def test_rest_for_one():
    """supervisor_SUITE: rest_for_one (the dead child and those started after it are
    restarted, not the ones before)."""
    quiet()

    async def main():
        Process.flag("trap_exit", True)
        _, sup = await start_link(("ok", (flags("rest_for_one", 2, 3600), [])))
        _, c1 = await Supervisor.start_child("sup_test", child("child1"))
        link(c1)
        _, c2 = await Supervisor.start_child("sup_test", child("child2"))
        _, c3 = await Supervisor.start_child("sup_test", child("child3"))
        link(c3)
        out = [await counts()]
        await terminate(sup, c2, "child2", "abnormal")
        await check_exit([c3])
        rows = await Supervisor.which_children("sup_test")
        pids = [r[1] for r in rows]
        out += [len(rows), await counts(), c1 in pids, c2 not in pids and c3 not in pids]
        rows = await Supervisor.which_children("sup_test")
        out.append([r[0] for r in rows])
        await terminate(sup, rows[0][1], "child3", "abnormal")
        rows = await Supervisor.which_children("sup_test")
        await terminate(sup, rows[1][1], "child2", "abnormal")
        await check_exit([sup])
        return out

    assert run(main) == [[3, 3, 0, 3], 3, [3, 3, 0, 3], True, True,
                         ["child3", "child2", "child1"]]


# --------------------------------------------------- other child fails restart (supervisor_3)
class Sup3(GenServer):
    """supervisor_3: init tells the caller it is starting and waits to be told its result."""

    async def init(self, arg):
        name, caller = arg
        send(caller, (name, self_pid()))
        result, _ = await receive((ANY, caller))
        return result

    def handle_call(self, request, from_, state):
        return ("reply", request, state)

    def handle_info(self, msg, state):
        return ("noreply", state)


async def sup3_start_child(name, caller):
    return await GenServer.start_link(Sup3, (name, caller))


@pytest.mark.parametrize("strategy", ["one_for_all", "rest_for_one"])
def test_other_child_fails_restart(strategy):
    """supervisor_SUITE: one_for_all_other_child_fails_restart (the restarted child1 is
    stopped again when child2 fails to restart, then both start) and
    rest_for_one_other_child_fails_restart (child1 is not restarted again: only child2)."""
    quiet()

    async def main():
        Process.flag("trap_exit", True)
        me = self_pid()
        children = [child("child1", ("child1", me), fn=sup3_start_child),
                    child("child2", ("child2", me), fn=sup3_start_child)]
        ok = (("ok", None), me)

        async def starter():
            _, sup = await start_link(("ok", (flags(strategy, 3, 3600), children)))
            send(me, ("sup_pid", sup))
            await receive(("stop", me))

        starter_pid = spawn_link(starter)
        _, c1 = await receive(("child1", ANY))
        send(c1, ok)
        _, c2 = await receive(("child2", ANY))
        send(c2, ok)
        _, sup = await receive(("sup_pid", ANY))
        link(sup)
        Process.exit(c1, "die")
        _, c1b = await receive(("child1", ANY), timeout=5.0)
        ref = monitor(c1b)
        send(c1b, ok)
        _, c2b = await receive(("child2", ANY), timeout=5.0)
        send(c2b, (("stop", "normal"), me))
        out = []
        if strategy == "one_for_all":
            out.append((await receive(Down(ref, ANY, ANY), timeout=5.0)).reason)
            _, c1c = await receive(("child1", ANY), timeout=5.0)
            send(c1c, ok)
        first = await receive(("child1", ANY), ("child2", ANY), timeout=5.0)
        out.append(first[0])
        send(first[1], ok)
        send(starter_pid, ("stop", me))
        await check_exit([starter_pid, sup])
        return out

    expected = ["shutdown", "child2"] if strategy == "one_for_all" else ["child2"]
    assert run(main) == expected


# --------------------------------------------------------------------------- misc
class Naughty(GenServer):
    """naughty_child: unlinks itself from its supervisor in init."""

    def init(self, sup):
        unlink(sup)
        return ("ok", None)

    def handle_info(self, msg, state):
        return ("noreply", state)


def test_child_unlink():
    """supervisor_SUITE: child_unlink (terminate_child on a child that unlinked from its
    supervisor does not hang the supervisor; the 5 s wait is a wait for the events)."""
    quiet()

    async def main():
        _, sup = await start_link(("ok", (flags("one_for_one", 2, 3600), [])))
        spec = {"id": "naughty_child",
                "start": (GenServer.start_link, (Naughty, sup), {"name": "naughty_foo"}),
                "restart": "permanent", "shutdown": 1.0, "type": "worker"}
        await Supervisor.start_child("sup_test", spec)

        async def terminator():
            await Supervisor.terminate_child(sup, "naughty_child")

        pid = spawn(terminator)
        send(sup, "foo")
        await wait_dead(pid)
        await settle()
        return Process.info(sup, "message_queue_len")

    assert run(main) == 0


def test_tree():
    """supervisor_SUITE: tree (a dead worker restarts alone; a worker that cannot restart
    takes its supervisor down, and the top one_for_all restarts the subtree, without the
    dynamic children)."""
    quiet()

    async def main():
        Process.flag("trap_exit", True)
        c1, c2 = child("child1"), child("child2")
        c3, c4 = child("child3", ["error"]), child("child4")
        sup1 = {"id": "supchild1", "start": (Supervisor.start_link, (
            SuiteSup, ("ok", (flags("one_for_one", 4, 3600), [c1, c2])))),
            "restart": "permanent", "shutdown": "infinity", "type": "supervisor", "modules": []}
        sup2 = {"id": "supchild2", "start": (Supervisor.start_link, (
            SuiteSup, ("ok", (flags("one_for_one", 4, 3600), [])))),
            "restart": "permanent", "shutdown": "infinity", "type": "supervisor", "modules": []}
        _, top = await start_link(("ok", (flags("one_for_all", 4, 3600), [])))
        _, s1 = await Supervisor.start_child(top, sup1)
        _, s2 = await Supervisor.start_child(top, sup2)
        out = [await counts(top)]
        [(_, p2, _, _), (_, p1, _, _)] = await Supervisor.which_children(s1)
        out += [await counts(s1), await counts(s2)]
        _, p3 = await Supervisor.start_child(s2, c3)
        _, p4 = await Supervisor.start_child(s2, c4)
        out += [await counts(s1), await counts(s2)]
        await terminate(s2, p4, "child4", "abnormal")
        out.append([r[1] for r in await Supervisor.which_children(s1)] == [p2, p1])
        [(_, new4, _, _), (_, same3, _, _)] = await Supervisor.which_children(s2)
        out += [await counts(s1), await counts(s2), new4 != p4, same3 == p3]
        await terminate(s2, p3, "child3", "abnormal")
        await wait_dead(s2)
        await settle()
        rows = await Supervisor.which_children(top)
        out.append([r[0] for r in rows])
        n2, n1 = rows[0][1], rows[1][1]
        out += [n1 != s1 and n2 != s2, await counts(top),
                [r[0] for r in await Supervisor.which_children(n1)], await counts(n1),
                await Supervisor.which_children(n2), await counts(n2)]
        return out

    two = [2, 2, 0, 2]
    assert run(main) == [[2, 2, 2, 0], two, [0, 0, 0, 0], two, two, True, two, two, True, True,
                         ["supchild2", "supchild1"], True, [2, 2, 2, 0], ["child2", "child1"],
                         two, [], [0, 0, 0, 0]]


@pytest.mark.parametrize("strategy", ["one_for_all", "one_for_one", "rest_for_one"])
@pytest.mark.parametrize("how", ["kill", "normal", "abnormal", "supervisor"])
def test_do_not_save_child_specs_for_temporary_children(strategy, how):
    """supervisor_SUITE: do_not_save_child_specs_for_temporary_children (permanent and
    transient specs are kept: restarted, or already_present when stopped for good; a
    temporary one is forgotten and can be started again)."""
    quiet()

    async def main():
        Process.flag("trap_exit", True)
        _, sup = await Supervisor.start_link(SuiteSup, ("ok", (flags(strategy, 2, 3600), [])))
        out = []
        for spec, kept in [(child("child1", (), "permanent"), how != "supervisor"),
                           (child("child2", (), "transient"), how in ("kill", "abnormal")),
                           (child("child3", (), "temporary"), None)]:
            _, pid = await Supervisor.start_child(sup, spec)
            await terminate(sup, pid, spec["id"], how)
            again = await Supervisor.start_child(sup, spec)
            if kept is None:
                out.append(again[0] == "ok")
            elif kept:
                out.append(again[0] == "error" and again[1][0] == "already_started")
            else:
                out.append(again == ("error", "already_present")
                           and (await Supervisor.restart_child(sup, spec["id"]))[0] == "ok")
        await terminate(None, sup, None, "shutdown")
        return out

    assert run(main) == [True, True, True]


# --------------------------------------------------------------------------- hanging restart
_deadlock = {"fail_start": False}


class Deadlock(GenServer):
    """supervisor_deadlock: a child whose init, once told to, takes its time and fails."""

    async def init(self, _):
        if not _deadlock["fail_start"]:
            return ("ok", [])
        await sleep(0.05)    # the slow init the original sleeps 2 s in
        return ("stop", "error")

    def handle_cast(self, msg, state):
        return ("stop", "error", state)


async def deadlock_start_child():
    return await GenServer.start_link(Deadlock, None, name="supervisor_deadlock")


async def wait_restarting(sup, child_id):
    while True:
        rows = {r[0]: r[1] for r in await Supervisor.which_children(sup)}
        if rows.get(child_id) == "restarting":
            return


def test_hanging_restart_loop():
    """supervisor_SUITE: hanging_restart_loop (OTP-9549: a child stuck failing its restart
    can still be terminated, and its supervisor shut down; 8 restarts in 10 s with 2 s
    inits scaled to 8 in 0.25 s with 0.05 s inits)."""
    quiet()

    async def main():
        Process.flag("trap_exit", True)
        _deadlock["fail_start"] = False
        _, sup = await start_link(("ok", (flags("one_for_one", 8, 0.25), [])))
        spec = child("child1", (), "permanent", "brutal_kill", fn=deadlock_start_child)
        _, c1 = await Supervisor.start_child("sup_test", spec)
        link(c1)
        _deadlock["fail_start"] = True
        GenServer.cast("supervisor_deadlock", "restart")
        await wait_restarting("sup_test", "child1")
        out = [await Supervisor.start_child("sup_test", spec),
               await Supervisor.restart_child("sup_test", "child1"),
               await Supervisor.delete_child("sup_test", "child1"),
               await Supervisor.which_children("sup_test"), await counts(),
               await Supervisor.terminate_child("sup_test", "child1")]
        await check_exit_reason(c1, "error")
        out.append(await Supervisor.which_children("sup_test"))
        _deadlock["fail_start"] = False
        ok, c2 = await Supervisor.restart_child("sup_test", "child1")
        link(c2)
        _deadlock["fail_start"] = True
        GenServer.cast("supervisor_deadlock", "restart")
        await wait_restarting("sup_test", "child1")
        await terminate(None, sup, None, "shutdown")
        await check_exit_reason(c2, "error")
        out += [ok, Process.whereis("sup_test")]
        return out

    assert run(main) == [("error", "already_present"), ("error", "restarting"),
                         ("error", "restarting"), [("child1", "restarting", "worker", [])],
                         [1, 0, 0, 1], "ok", [("child1", None, "worker", [])], "ok", None]
