"""GenServer: ground truth s01-s13, every callback return form, and the error paths."""

import logging

import pytest

import beamlet
from beamlet import (
    ANY,
    Down,
    Exit,
    GenServer,
    Pid,
    Process,
    flush,
    monitor,
    receive,
    self_pid,
    send,
    sleep,
    spawn,
    spawn_monitor,
)
from beamlet.testing import settle, wait_dead
from helpers import caught_exit, run


async def down_reason(ref):
    return (await receive(Down(ref, ANY, ANY))).reason


# ------------------------------------------------------------------------------ ground truth
class S01(GenServer):
    def init(self, _):
        return ("ok", [])

    def handle_cast(self, m, log):
        return ("noreply", [("cast", m), *log])

    def handle_info(self, m, log):
        return ("noreply", [("info", m), *log])

    def handle_call(self, m, from_, log):
        if m == "log":
            return ("reply", list(reversed(log)), log)
        return ("reply", "ok", [("call", m), *log])


def test_s01_call_cast_info_order():
    async def main():
        ok, pid = await GenServer.start_link(S01, None)
        GenServer.cast(pid, 1)
        send(pid, 2)
        await GenServer.call(pid, 3)
        GenServer.cast(pid, 4)
        send(pid, 5)
        log = await GenServer.call(pid, "log")
        dead = spawn(lambda: None)
        await wait_dead(dead)
        return (ok, log, GenServer.cast(pid, "x"), GenServer.cast(dead, "x"),
                GenServer.cast("s01_nobody", "x"))

    assert run(main) == ("ok", [("cast", 1), ("info", 2), ("call", 3), ("cast", 4), ("info", 5)],
                         "ok", "ok", "ok")


class S02(GenServer):
    async def handle_call(self, req, from_, s):
        await sleep(0.1)   # a slow handle_call: the call timeout is under test
        return ("reply", "late_reply", s)


def test_s02_call_timeout_and_no_late_reply():
    async def main():
        _, pid = await GenServer.start_link(S02, None)
        caught = await caught_exit(GenServer.call(pid, "slow", 0.02))
        # Calls are served in order: once a second one is answered, the late reply to the
        # first has been sent (and must have been dropped).
        await GenServer.call(pid, "slow", 1.0)
        mailbox = flush()
        alive = Process.alive(pid)

        async def caller():
            await GenServer.call(pid, "slow", 0.02)

        _, ref = spawn_monitor(caller)
        uncaught = await down_reason(ref)
        return caught, mailbox, alive, uncaught, pid

    caught, mailbox, alive, uncaught, pid = run(main)
    assert caught == ("timeout", (GenServer, "call", [pid, "slow", 0.02]))
    assert mailbox == []
    assert alive is True
    assert uncaught == ("timeout", (GenServer, "call", [pid, "slow", 0.02]))


def test_s03_call_dead_pid_and_unregistered_name():
    async def main():
        dead = spawn(lambda: None)
        await wait_dead(dead)
        r1 = await caught_exit(GenServer.call(dead, "hi"))
        r2 = await caught_exit(GenServer.call("s03_nobody", "hi"))
        return dead, r1, r2

    dead, r1, r2 = run(main)
    assert r1 == ("noproc", (GenServer, "call", [dead, "hi", 5.0]))
    assert r2 == ("noproc", (GenServer, "call", ["s03_nobody", "hi", 5.0]))


class S04(GenServer):
    def init(self, arg):
        if arg == "stop":
            return ("stop", "bad_init")
        if arg == "stop_normal":
            return ("stop", "normal")
        if arg == "ignore":
            return "ignore"
        raise RuntimeError("init boom")


def test_s04_init_stop_ignore_raise():
    async def main():
        me = self_pid()
        out = {}
        for arg in ["stop", "stop_normal", "ignore", "raise"]:
            async def caller(arg=arg):
                r = await GenServer.start_link(S04, arg)
                send(me, ("returned", r))
                await settle()
                send(me, "caller_survived")

            _, ref = spawn_monitor(caller)
            out[arg] = (await down_reason(ref), flush())
        Process.flag("trap_exit", True)
        r = await GenServer.start_link(S04, "stop")
        await settle()
        out["trapping"] = (r, flush())
        out["start_no_link"] = await GenServer.start(S04, "stop")
        await settle()
        out["start_no_link_msgs"] = flush()
        return out

    out = run(main)
    assert out["stop"] == ("bad_init", [("returned", ("error", "bad_init"))])
    assert out["stop_normal"] == ("normal", [("returned", ("error", "normal")), "caller_survived"])
    assert out["ignore"] == ("normal", [("returned", "ignore"), "caller_survived"])
    reason, msgs = out["raise"]
    assert isinstance(reason, RuntimeError) and str(reason) == "init boom"
    assert reason.__traceback__ is not None
    assert msgs == [("returned", ("error", reason))]
    r, msgs = out["trapping"]
    assert r == ("error", "bad_init")
    assert len(msgs) == 1 and type(msgs[0]) is Exit and msgs[0].reason == "bad_init"
    assert isinstance(msgs[0].pid, Pid)
    assert out["start_no_link"] == ("error", "bad_init")
    assert out["start_no_link_msgs"] == []


class S05(GenServer):
    def init(self, parent):
        send(self_pid(), "info_sent_in_init")
        return ("ok", ["init"], ("continue", "c1"))

    async def handle_continue(self, c, log):
        if c == "c1":
            await sleep(0.02)   # a slow handle_continue: messages must wait for it
            return ("noreply", [*log, "continue1"], ("continue", "c2"))
        return ("noreply", [*log, "continue2"])

    def handle_info(self, m, log):
        return ("noreply", [*log, ("info", m)])

    def handle_call(self, m, from_, log):
        return ("reply", log, log)

    def handle_cast(self, m, log):
        return ("noreply", [*log, ("cast", m)], ("continue", "c2"))


def test_s05_handle_continue_runs_before_queued_messages():
    async def main():
        _, pid = await GenServer.start_link(S05, self_pid())
        GenServer.cast(pid, "early_cast")
        return await GenServer.call(pid, "log")

    assert run(main) == ["init", "continue1", "continue2", ("info", "info_sent_in_init"),
                         ("cast", "early_cast"), "continue2"]


class S06(GenServer):
    def init(self, arg):
        trap, report = arg
        if trap:
            Process.flag("trap_exit", True)
        return ("ok", report)

    def terminate(self, reason, report):
        send(report, ("terminate", reason))


def test_s06_terminate_only_on_parent_exit_when_trapping(caplog):
    async def main():
        me = self_pid()
        out = []
        for trap in [True, False]:
            for preason in ["shutdown", "boom"]:
                async def parent(trap=trap, preason=preason):
                    _, gs = await GenServer.start_link(S06, (trap, me))
                    send(me, ("gs", gs))
                    await receive("die")
                    beamlet.exit(preason)

                p = spawn(parent)
                _, gs = await receive(("gs", ANY))
                ref = monitor(gs)
                send(p, "die")
                r = await down_reason(ref)
                await settle()
                out.append((trap, preason, r, flush()))
        _, gs = await GenServer.start(S06, (True, me))
        Process.exit(gs, "shutdown")
        await settle()
        out.append((Process.alive(gs), flush()))
        return out

    with caplog.at_level(logging.ERROR, logger="beamlet"):
        out = run(main)
    assert out == [
        (True, "shutdown", "shutdown", [("terminate", "shutdown")]),
        (True, "boom", "boom", [("terminate", "boom")]),
        (False, "shutdown", "shutdown", []),
        (False, "boom", "boom", []),
        (True, []),
    ]
    text = caplog.text
    assert "terminating" in text and "'boom'" in text            # the trapping server's report
    assert "received unexpected message in handle_info/2" in text  # the non-parent Exit


class S07(GenServer):
    def init(self, r):
        return ("ok", r)

    def terminate(self, reason, r):
        send(r, ("terminate", reason))


def test_s07_stop(caplog):
    async def main():
        _, pid = await GenServer.start(S07, self_pid())
        out = [await GenServer.stop(pid), flush(), Process.alive(pid)]
        _, pid = await GenServer.start(S07, self_pid())
        out += [await GenServer.stop(pid, "shutdown"), flush()]
        out.append(await caught_exit(GenServer.stop(pid)))
        _, pid2 = await GenServer.start(S07, self_pid())
        out.append(await GenServer.stop(pid2, ("weird", 1)))
        return pid, out

    with caplog.at_level(logging.ERROR, logger="beamlet"):
        pid, out = run(main)
    assert out == ["ok", [("terminate", "normal")], False,
                   "ok", [("terminate", "shutdown")],
                   ("noproc", (GenServer, "stop", [pid, "normal", None])),
                   "ok"]
    assert "('weird', 1)" in caplog.text and "terminating" in caplog.text


class S09(GenServer):
    def init(self, r):
        send(r, "init_ran")
        return ("ok", r)


def test_s09_name_conflict():
    async def main():
        _, pid = await GenServer.start_link(S09, self_pid(), name="s09_name")
        r = await GenServer.start_link(S09, self_pid(), name="s09_name")
        return pid, r, len(flush()), GenServer.whereis("s09_name") is pid

    pid, r, init_count, whereis_first = run(main)
    assert r == ("error", ("already_started", pid))
    assert r[1][1] is pid
    assert init_count == 1
    assert whereis_first


class S12(GenServer):
    def init(self, r):
        return ("ok", r, 0.03)

    def handle_info(self, m, r):
        if m == "timeout":
            send(r, "got_timeout")
        return ("noreply", r)


class S12b(GenServer):
    def init(self, _):
        return ("ok", None)


def test_s12_init_timeout_unexpected_info_and_missing_handle_call(caplog):
    async def main():
        await GenServer.start(S12, self_pid())
        msg = await receive(timeout=0.5, default="none")
        _, b = await GenServer.start(S12b, None)
        send(b, "unexpected")
        await settle()
        alive = Process.alive(b)
        r = await caught_exit(GenServer.call(b, "anything"))
        return msg, alive, b, r

    with caplog.at_level(logging.ERROR, logger="beamlet"):
        msg, alive, b, r = run(main)
    assert msg == "got_timeout"
    assert alive is True
    exc, where = r
    assert where == (GenServer, "call", [b, "anything", 5.0])
    assert type(exc) is RuntimeError
    assert str(exc) == f"attempted to call GenServer {b!r} but no handle_call/3 clause was provided"
    assert f"S12b {b!r} received unexpected message in handle_info/2: 'unexpected'" in caplog.text
    assert "Last message (from" in caplog.text and "Client" in caplog.text


class S13(GenServer):
    def init(self, _):
        raise ValueError("bad init")


def test_s13_start_link_crash_init_raise():
    async def main():
        r1 = await GenServer.start(S13, None)
        Process.flag("trap_exit", True)
        r2 = await GenServer.start_link(S13, None)
        await settle()
        return r1, r2, flush()

    r1, r2, msgs = run(main)
    assert r1[0] == "error" and type(r1[1]) is ValueError and str(r1[1]) == "bad init"
    assert r2[0] == "error" and type(r2[1]) is ValueError and str(r2[1]) == "bad init"
    assert len(msgs) == 1 and type(msgs[0]) is Exit and msgs[0].reason is r2[1]


# ------------------------------------------------------------------------------ return forms
class Forms(GenServer):
    """Answers requests that name the return form to use."""

    def init(self, arg):
        if arg == "ok_timeout":
            return ("ok", [], 0.01)
        if arg == "ok_hibernate":
            return ("ok", [], "hibernate")
        if arg == "bad":
            return ("what", 1)
        if arg == "stop_shutdown":
            return ("stop", ("shutdown", "x"))
        return ("ok", [])

    def handle_call(self, req, from_, s):
        match req:
            case "get":
                return ("reply", s, s)
            case ("reply_timeout", t):
                return ("reply", "ok", s, t)
            case ("reply_continue", x):
                return ("reply", "ok", s, ("continue", x))
            case "reply_hibernate":
                return ("reply", "ok", s, "hibernate")
            case "noreply_later":
                send(self_pid(), ("reply_to", from_))
                return ("noreply", s)
            case ("noreply_timeout", t):
                GenServer.reply(from_, "early")
                return ("noreply", s, t)
            case "stop_with_reply":
                return ("stop", "normal", "bye", s + ["stopped"])
            case "stop_no_reply":
                return ("stop", "normal", s)
            case "bad_return":
                return "oops"
            case "from":
                return ("reply", from_, s)
            case "exit":
                beamlet.exit(("custom", 1))

    async def handle_cast(self, req, s):
        match req:
            case ("push", x):
                return ("noreply", s + [x])
            case ("push_timeout", x, t):
                return ("noreply", s + [x], t)
            case ("push_continue", x):
                return ("noreply", s + [x], ("continue", "after_cast"))
            case "stop":
                return ("stop", "normal", s)
            case "crash":
                raise KeyError("crash")

    def handle_info(self, msg, s):
        match msg:
            case ("reply_to", from_):
                GenServer.reply(from_, "later")
                return ("noreply", s)
            case "timeout":
                return ("noreply", s + ["timeout"])
            case ("report", pid):
                send(pid, ("state", s))
                return ("noreply", s)
            case ("info_continue", x):
                return ("noreply", s, ("continue", x))
            case "info_stop":
                return ("stop", ("shutdown", "info"), s)
        return ("noreply", s + [("info", msg)])

    def handle_continue(self, x, s):
        return ("noreply", s + [("continue", x)])

    def terminate(self, reason, s):
        watcher = Process.get("watcher")
        if watcher is not None:
            send(watcher, ("terminate", reason, s))


async def start_forms(arg=None, watch=True):
    r = await GenServer.start_link(Forms, arg)
    if r[0] == "ok" and watch:
        GenServer.cast(r[1], ("push", "_"))  # keeps the order simple: state starts ["_"]
    return r


def test_reply_forms_with_timeout_continue_and_hibernate():
    async def main():
        _, pid = await start_forms()
        out = [await GenServer.call(pid, ("reply_timeout", 0.01))]
        await sleep(0.05)   # past the 0.01 s callback timeout being exercised
        out.append(await GenServer.call(pid, ("reply_continue", "c")))
        out.append(await GenServer.call(pid, "reply_hibernate"))
        out.append(await GenServer.call(pid, "get"))
        return out

    assert run(main) == ["ok", "ok", "ok", ["_", "timeout", ("continue", "c")]]


def test_noreply_then_reply_from_elsewhere_and_noreply_timeout():
    async def main():
        _, pid = await start_forms()
        a = await GenServer.call(pid, "noreply_later")
        b = await GenServer.call(pid, ("noreply_timeout", 0.01))
        await sleep(0.05)   # past the 0.01 s noreply timeout being exercised
        return a, b, await GenServer.call(pid, "get")

    assert run(main) == ("later", "early", ["_", "timeout"])


def test_a_message_cancels_the_callback_timeout():
    async def main():
        _, pid = await start_forms()
        GenServer.cast(pid, ("push_timeout", 1, 0.05))
        await sleep(0.02)   # within the 0.05 s callback timeout being exercised
        GenServer.cast(pid, ("push", 2))       # arrives in time: no timeout
        await sleep(0.06)   # past the 0.05 s timeout that the cast cancelled
        return await GenServer.call(pid, "get")

    assert run(main) == ["_", 1, 2]


def test_cast_and_info_continue_forms():
    async def main():
        _, pid = await start_forms()
        GenServer.cast(pid, ("push_continue", 1))
        send(pid, ("info_continue", "i"))
        send(pid, "plain")
        return await GenServer.call(pid, "get")

    assert run(main) == ["_", 1, ("continue", "after_cast"), ("continue", "i"), ("info", "plain")]


def test_init_with_timeout_and_hibernate():
    async def main():
        _, a = await GenServer.start_link(Forms, "ok_timeout")
        _, b = await GenServer.start_link(Forms, "ok_hibernate")
        await sleep(0.05)   # past the init timeout being exercised
        return await GenServer.call(a, "get"), await GenServer.call(b, "get")

    assert run(main) == (["timeout"], [])


def test_init_bad_return_and_stop_shutdown():
    async def main():
        Process.flag("trap_exit", True)
        r1 = await GenServer.start_link(Forms, "bad")
        r2 = await GenServer.start_link(Forms, "stop_shutdown")
        await settle()
        return r1, r2, [m.reason for m in flush()]

    assert run(main) == (("error", ("bad_return_value", ("what", 1))),
                         ("error", ("shutdown", "x")),
                         [("bad_return_value", ("what", 1)), ("shutdown", "x")])


def test_stop_with_reply_runs_terminate_then_replies():
    async def main():
        _, pid = await start_forms()
        ref = monitor(pid)
        r = await GenServer.call(pid, "stop_with_reply")
        return r, await down_reason(ref)

    assert run(main) == ("bye", "normal")


class Watched(Forms):
    def init(self, arg):
        Process.put("watcher", arg)
        return ("ok", [])


def test_terminate_gets_the_new_state_for_every_stop_form():
    async def main():
        me = self_pid()
        out = []
        for how in ["stop_with_reply", "stop_no_reply", "cast_stop", "info_stop"]:
            _, pid = await GenServer.start(Watched, me)
            GenServer.cast(pid, ("push", how))
            ref = monitor(pid)
            if how == "stop_with_reply":
                out.append(await GenServer.call(pid, how))
            elif how == "stop_no_reply":
                out.append(await caught_exit(GenServer.call(pid, how)))
            elif how == "cast_stop":
                GenServer.cast(pid, "stop")
            else:
                send(pid, "info_stop")
            out.append(await receive(("terminate", ANY, ANY)))
            out.append(await down_reason(ref))
        return out

    out = run(main)
    assert out[0:3] == ["bye", ("terminate", "normal", ["stop_with_reply", "stopped"]), "normal"]
    assert out[3][0] == "normal" and out[3][1][0] is GenServer
    assert out[4:6] == [("terminate", "normal", ["stop_no_reply"]), "normal"]
    assert out[6:8] == [("terminate", "normal", ["cast_stop"]), "normal"]
    assert out[8:10] == [("terminate", ("shutdown", "info"), ["info_stop"]), ("shutdown", "info")]


def test_crash_in_callback_runs_terminate_logs_and_exits_with_the_exception(caplog):
    async def main():
        _, pid = await GenServer.start(Watched, self_pid())
        ref = monitor(pid)
        GenServer.cast(pid, "crash")
        t = await receive(("terminate", ANY, ANY))
        return t, await down_reason(ref)

    with caplog.at_level(logging.ERROR, logger="beamlet"):
        (tag, reason, state), down = run(main)
    assert type(reason) is KeyError and down is reason and state == []
    assert "terminating" in caplog.text and "Last message: ('$gen_cast', 'crash')" in caplog.text
    assert "State: []" in caplog.text
    assert "Process <" not in caplog.text   # one report, from the GenServer, not the kernel


def test_bad_return_and_exit_in_callback():
    async def main():
        _, a = await GenServer.start(Forms, None)
        r1 = await caught_exit(GenServer.call(a, "bad_return"))
        _, b = await GenServer.start(Forms, None)
        r2 = await caught_exit(GenServer.call(b, "exit"))
        return a, b, r1, r2

    a, b, r1, r2 = run(main)
    assert r1 == (("bad_return_value", "oops"), (GenServer, "call", [a, "bad_return", 5.0]))
    assert r2 == (("custom", 1), (GenServer, "call", [b, "exit", 5.0]))


def test_from_is_an_opaque_pid_tag_pair_and_reply_works_from_any_process():
    class Deferred(GenServer):
        def handle_call(self, req, from_, s):
            spawn(lambda: GenServer.reply(from_, ("from_helper", req)))
            return ("noreply", s)

    async def main():
        _, pid = await GenServer.start_link(Forms, None)
        from_ = await GenServer.call(pid, "from")
        _, d = await GenServer.start_link(Deferred, None)
        return from_, self_pid(), await GenServer.call(d, 42)

    from_, me, r = run(main)
    assert type(from_) is tuple and len(from_) == 2 and from_[0] is me
    assert r == ("from_helper", 42)


def test_server_dying_during_call_exits_the_caller_with_its_reason():
    class Dies(GenServer):
        def handle_call(self, req, from_, s):
            beamlet.exit("boom")

    class Killed(GenServer):
        async def handle_call(self, req, from_, s):
            await sleep(1)   # a call that never answers in time: the behaviour under test

    async def main():
        _, a = await GenServer.start(Dies, None)
        r1 = await caught_exit(GenServer.call(a, "x", None))
        _, b = await GenServer.start(Killed, None)
        spawn(lambda: Process.exit(b, "kill"))
        r2 = await caught_exit(GenServer.call(b, "y"))
        return a, b, r1, r2, flush()

    a, b, r1, r2, left = run(main)
    assert r1 == ("boom", (GenServer, "call", [a, "x", None]))
    assert r2 == ("killed", (GenServer, "call", [b, "y", 5.0]))
    assert left == []


def test_call_by_name_and_name_node_and_calling_self():
    class Selfish(GenServer):
        async def handle_call(self, req, from_, s):
            if req == "self":
                return ("reply", await caught_exit(GenServer.call(self_pid(), "x")), s)
            return ("reply", ("hello", req), s)

    async def main():
        _, pid = await Selfish.start_link(None, name="named")
        return (pid, await GenServer.call("named", 1),
                await GenServer.call(("named", beamlet.node()), 2),
                await GenServer.call(pid, "self"))

    pid, a, b, c = run(main)
    assert a == ("hello", 1) and b == ("hello", 2)
    assert c == ("calling_self", (GenServer, "call", [pid, "x", 5.0]))


def test_call_timeout_zero_and_infinity():
    async def main():
        _, pid = await GenServer.start_link(Forms, None)
        r = await caught_exit(GenServer.call(pid, "get", 0))
        await settle()
        return pid, r, flush(), await GenServer.call(pid, "get", None)

    pid, r, left, got = run(main)
    assert r == ("timeout", (GenServer, "call", [pid, "get", 0]))
    assert left == [] and got == []


def test_module_form_start_and_start_link_and_name_and_child_spec():
    class Counter(GenServer):
        restart = "transient"

        def init(self, n):
            return ("ok", n)

        def handle_call(self, req, from_, n):
            return ("reply", n, n + 1)

    async def main():
        ok, pid = await Counter.start_link(5, name="counter")
        _, other = await Counter.start(7)
        links = Process.info(self_pid(), "links")
        return (ok, Process.whereis("counter") is pid, await GenServer.call("counter", "n"),
                await GenServer.call(other, "n"), pid in links, other in links)

    assert run(main) == ("ok", True, 5, 7, True, False)
    spec = Counter.child_spec(3)
    assert spec == {"id": Counter, "start": (Counter.start_link, (3,)), "restart": "transient",
                    "shutdown": 5.0, "type": "worker"}
    assert S01.child_spec(None)["restart"] == "permanent"


def test_async_callbacks_everywhere():
    class Async(GenServer):
        async def init(self, n):
            await sleep(0)   # awaiting inside a callback is under test
            return ("ok", n, ("continue", 1))

        async def handle_continue(self, x, n):
            return ("noreply", n + x)

        async def handle_call(self, req, from_, n):
            await sleep(0.001)   # awaiting inside a callback is under test
            return ("reply", n, n)

        async def handle_cast(self, req, n):
            return ("noreply", n + req)

        async def handle_info(self, msg, n):
            return ("noreply", n * msg)

        async def terminate(self, reason, n):
            await sleep(0)   # awaiting inside a callback is under test
            beamlet.send("async_test", ("bye", reason, n))

    async def main():
        Process.register(self_pid(), "async_test")
        _, pid = await Async.start(10)
        GenServer.cast(pid, 5)
        send(pid, 2)
        n = await GenServer.call(pid, "get")
        GenServer.cast(pid, 1)
        return n, await GenServer.stop(pid, "shutdown"), flush()

    assert run(main) == (32, "ok", [("bye", "shutdown", 33)])


def test_terminate_on_parent_exit_only_for_the_parent():
    class Trapper(GenServer):
        def init(self, me):
            Process.flag("trap_exit", True)
            return ("ok", me)

        def handle_info(self, msg, me):
            send(me, ("info", msg))
            return ("noreply", me)

        def terminate(self, reason, me):
            send(me, ("terminate", reason))

    async def main():
        me = self_pid()
        _, pid = await GenServer.start_link(Trapper, me)   # I am the parent
        stranger = spawn(lambda: Process.exit(pid, "stranger"))
        m1 = await receive(("info", ANY))
        ref = monitor(pid)
        Process.flag("trap_exit", True)
        Process.exit(pid, "from_parent")
        m2 = await receive(("terminate", ANY))
        return m1 == ("info", Exit(stranger, "stranger")), m2, await down_reason(ref)

    assert run(main) == (True, ("terminate", "from_parent"), "from_parent")


def test_stop_by_name_timeout_and_other_reason():
    class Slow(GenServer):
        async def terminate(self, reason, s):
            if s == "slow":
                await sleep(0.2)   # a slow terminate: the stop timeout is under test
            if s == "other":
                beamlet.exit("other_reason")

    async def main():
        await GenServer.start(Slow, None, name="slow_stop")
        r1 = await GenServer.stop("slow_stop")
        r2 = await caught_exit(GenServer.stop("slow_stop"))
        _, pid = await GenServer.start(Slow, "slow")
        r3 = await caught_exit(GenServer.stop(pid, "normal", 0.02))
        _, pid2 = await GenServer.start(Slow, "other")
        r4 = await caught_exit(GenServer.stop(pid2))
        return pid, pid2, r1, r2, r3, r4

    pid, pid2, r1, r2, r3, r4 = run(main)
    assert r1 == "ok"
    assert r2 == ("noproc", (GenServer, "stop", ["slow_stop", "normal", None]))
    assert r3 == ("timeout", (GenServer, "stop", [pid, "normal", 0.02]))
    assert r4 == ("other_reason", (GenServer, "stop", [pid2, "normal", None]))


def test_start_timeout_kills_a_slow_init():
    class SlowInit(GenServer):
        async def init(self, _):
            await sleep(1)   # a slow init: the start timeout is under test
            return ("ok", None)

    async def main():
        r = await GenServer.start_link(SlowInit, None, timeout=0.02)
        await settle()
        return r, flush(), Process.alive(self_pid()), len(Process.list())

    assert run(main) == (("error", "timeout"), [], True, 1)


def test_bad_arguments():
    async def main():
        with pytest.raises(TypeError):
            await GenServer.start_link(S01, None, name=42)
        with pytest.raises(TypeError):
            await GenServer.start_link("not a class", None)
        with pytest.raises(TypeError):
            await GenServer.call(3.5, "x")
        return "ok"

    assert run(main) == "ok"


def test_cast_to_a_dead_name_tuple_is_fine():
    async def main():
        return (GenServer.cast(("nobody", beamlet.node()), "x"),
                GenServer.cast(("n", "other@host"), 1))

    assert run(main) == ("ok", "ok")


def test_whereis():
    async def main():
        _, pid = await GenServer.start_link(S01, None, name="where")
        return (GenServer.whereis("where") is pid, GenServer.whereis(pid) is pid,
                GenServer.whereis("nowhere"))

    assert run(main) == (True, True, None)


def test_default_callbacks():
    class Bare(GenServer):
        pass

    class WantsContinue(GenServer):
        def init(self, _):
            return ("ok", None, ("continue", "x"))

    async def main():
        _, pid = await Bare.start(7)                        # the default init keeps the arg
        ref = monitor(pid)
        GenServer.cast(pid, "hello")
        r1 = await down_reason(ref)
        Process.flag("trap_exit", True)   # it dies right after init: watch it through the link
        _, pid2 = await WantsContinue.start_link(None)
        r2 = (await receive(Exit(pid2, ANY))).reason
        return pid, r1, r2

    pid, r1, r2 = run(main)
    assert type(r1) is RuntimeError
    assert str(r1) == (f"attempted to cast GenServer {pid!r} but no handle_cast/2 clause "
                       "was provided")
    assert type(r2) is RuntimeError and "handle_continue" in str(r2)


def test_terminate_that_raises_becomes_the_reason_and_none_is_a_bad_return(caplog):
    class BadTerminate(GenServer):
        def handle_call(self, req, from_, s):
            return None if req == "none" else ("stop", "normal", "bye", s)

        def terminate(self, reason, s):
            if s == "raise":
                raise ValueError("in terminate")

    async def main():
        _, a = await BadTerminate.start("raise")
        ref = monitor(a)
        r1 = await GenServer.call(a, "stop")     # the reply is still sent
        d1 = await down_reason(ref)
        _, b = await BadTerminate.start(None)
        r2 = await caught_exit(GenServer.call(b, "none"))
        return r1, d1, r2[0]

    with caplog.at_level(logging.ERROR, logger="beamlet"):
        r1, d1, r2 = run(main)
    assert r1 == "bye"
    assert type(d1) is ValueError and str(d1) == "in terminate"
    assert r2 == ("bad_return_value", None)
    assert "in terminate" in caplog.text


def test_timeout_zero_in_a_return_fires_at_once_when_the_mailbox_is_empty():
    async def main():
        _, pid = await start_forms()
        GenServer.cast(pid, ("push_timeout", 1, 0))
        await settle()
        return await GenServer.call(pid, "get")

    assert run(main) == ["_", 1, "timeout"]


def test_i05_otp_processes_carry_ancestors_and_initial_call():
    """Ground truth i05: an Agent's dictionary holds "$ancestors" and "$initial_call"."""
    import beamlet
    from beamlet import Agent, Process, self_pid

    async def main():
        _, a = await Agent.start_link(lambda: None)
        d = Process.info(a, "dictionary")
        return sorted(d), d["$ancestors"] == [self_pid()]

    assert beamlet.run(main) == (["$ancestors", "$initial_call"], True)
