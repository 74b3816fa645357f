"""Ground truth e01-e25: exit signals, links and trap_exit, exactly as on the BEAM."""

import pytest

import beamlet
from beamlet import (
    ANY,
    Down,
    Exit,
    NoProc,
    Process,
    ProcessExit,
    flush,
    link,
    monitor,
    receive,
    self_pid,
    send,
    sleep,
    spawn,
    spawn_link,
    spawn_monitor,
    unlink,
)
from beamlet.testing import settle, wait_dead, wait_down


def run(fn):
    return beamlet.run(fn)


def test_e01_exit_normal_ignored_by_non_trapping_process():
    async def main():
        pid = spawn(lambda: receive("stop"))
        r = Process.exit(pid, "normal")
        await settle()
        return r, Process.alive(pid), Process.info(pid, "message_queue_len")

    assert run(main) == (True, True, 0)


def test_e02_exit_normal_to_trapping_process_becomes_message():
    async def target(parent):
        Process.flag("trap_exit", True)
        send(parent, "ready")
        m = await receive(Exit)
        send(parent, ("got", m, m.pid == parent))
        await receive("stop")

    async def main():
        pid = spawn(target, self_pid())
        await receive("ready")
        Process.exit(pid, "normal")
        _, m, from_is_sender = await receive(("got", ANY, ANY))
        return m.reason, from_is_sender, Process.alive(pid)

    assert run(main) == ("normal", True, True)


def test_e03_kill_is_untrappable():
    async def target(parent):
        Process.flag("trap_exit", True)
        send(parent, "ready")
        m = await receive()
        send(parent, ("trapped", m))

    async def main():
        pid = spawn(target, self_pid())
        await receive("ready")
        ref = monitor(pid)
        Process.exit(pid, "kill")
        return await wait_down(ref), Process.alive(pid), flush()

    assert run(main) == ("killed", False, [])


def test_e04_killed_link_is_seen_as_killed():
    async def main():
        Process.flag("trap_exit", True)
        pid = spawn_link(sleep, None)
        Process.exit(pid, "kill")
        return await receive(Exit(pid, ANY))

    async def check():
        m = await main()
        return m.reason

    assert run(check) == "killed"


def test_e05_normal_exit_does_not_kill_linked_process():
    async def a(parent):
        await wait_dead(spawn_link(lambda: "ok"))
        send(parent, ("a_still_alive", True))
        await receive("stop")

    async def main():
        pid = spawn(a, self_pid())
        msg = await receive()
        return msg, Process.alive(pid), Process.info(pid, "links")

    assert run(main) == (("a_still_alive", True), True, [])


def test_e07_trapping_process_gets_exit_message_and_survives():
    async def main():
        Process.flag("trap_exit", True)
        pid = spawn_link(beamlet.exit, "boom")
        m = await receive(Exit)
        return m.reason, m.pid is pid, Process.alive(self_pid())

    assert run(main) == ("boom", True, True)


def test_e08_exit_self_normal_while_trapping_is_a_message():
    async def target(parent):
        Process.flag("trap_exit", True)
        Process.exit(self_pid(), "normal")
        m = await receive(Exit, timeout=0.1, default=None)
        send(parent, ("result", m is not None and m.pid == self_pid(), m and m.reason))
        send(parent, "continued")

    async def main():
        pid = spawn(target, self_pid())
        ref = monitor(pid)
        r = await receive(("result", ANY, ANY))
        await receive("continued")
        return r, await wait_down(ref)

    assert run(main) == (("result", True, "normal"), "normal")


def test_e09_exit_self_normal_ends_non_trapping_process():
    async def target(parent):
        Process.exit(self_pid(), "normal")
        send(parent, "still_running_after_exit_call")

    async def main():
        pid = spawn(target, self_pid())
        ref = monitor(pid)
        return await wait_down(ref), flush()

    assert run(main) == ("normal", [])


def test_e10_crash_reason_shapes():
    async def reason_of(fn):
        pid, ref = spawn_monitor(fn)
        return await wait_down(ref)

    async def raises():
        raise RuntimeError("boom")

    async def divides():
        return 1 / 0

    async def exits():
        beamlet.exit(("my", "reason"))

    async def custom():
        raise ValueError("bad")

    async def main():
        r = await reason_of(raises)
        d = await reason_of(divides)
        e = await reason_of(exits)
        c = await reason_of(custom)
        return (type(r), str(r), r.__traceback__ is not None, type(d), e, type(c), str(c))

    assert run(main) == (RuntimeError, "boom", True, ZeroDivisionError, ("my", "reason"),
                         ValueError, "bad")


def test_e11_link_to_dead_process_while_trapping():
    async def main():
        Process.flag("trap_exit", True)
        dead, ref = spawn_monitor(lambda: "ok")
        await wait_down(ref)
        r = link(dead)
        m = await receive(Exit, timeout=0.2, default=None)
        return r, m.pid is dead, m.reason

    assert run(main) == (True, True, "noproc")


def test_e12_link_to_dead_process_without_trapping_raises():
    async def catches(dead, parent):
        try:
            link(dead)
            send(parent, ("link_returned", "no error"))
        except NoProc as e:
            raised = ("raised", type(e).__name__, isinstance(e, LookupError))
            send(parent, ("link_returned", raised))
        send(parent, "survived")

    async def uncaught(dead, parent):
        link(dead)
        send(parent, "after_link")

    async def main():
        me = self_pid()
        dead, ref = spawn_monitor(lambda: "ok")
        await wait_down(ref)
        _, ref2 = spawn_monitor(catches, dead, me)
        r1 = await wait_down(ref2)
        msgs = flush()
        _, ref3 = spawn_monitor(uncaught, dead, me)
        r2 = await wait_down(ref3)
        return r1, msgs, type(r2), flush()

    assert run(main) == ("normal", [("link_returned", ("raised", "NoProc", True)), "survived"],
                         NoProc, [])


def test_e13_unlink_decouples():
    async def a(parent):
        async def crasher():
            await receive("crash")
            beamlet.exit("boom")

        b = spawn_link(crasher)
        send(parent, ("b", b))
        unlinked = unlink(b)
        send(b, "crash")
        await wait_dead(b)
        send(parent, ("a_survived", unlinked, Process.info(self_pid(), "links")))

    async def main():
        pid, ref = spawn_monitor(a, self_pid())
        await receive(("b", ANY))
        survived = await receive(("a_survived", ANY, ANY))
        reason = await wait_down(ref)
        return survived, reason

    assert run(main) == (("a_survived", True, []), "normal")


def test_e13_unlink_leaves_no_exit_message_when_trapping():
    async def main():
        Process.flag("trap_exit", True)

        async def dies():
            await receive("die")
            beamlet.exit("boom")

        p = spawn_link(dies)
        unlink(p)
        send(p, "die")
        await wait_dead(p)
        await settle()
        return flush()

    assert run(main) == []


def test_e15_exit_with_killed_atom_is_trappable():
    async def target(parent):
        Process.flag("trap_exit", True)
        send(parent, "ready")
        send(parent, ("trapped", await receive()))
        await sleep(None)

    async def main():
        pid = spawn(target, self_pid())
        await receive("ready")
        Process.exit(pid, "killed")
        _, m = await receive(("trapped", ANY), timeout=0.2)
        return m.reason, Process.alive(pid)

    assert run(main) == ("killed", True)


def test_e16_exit_kill_by_itself_propagates_a_trappable_kill():
    async def main():
        Process.flag("trap_exit", True)
        pid = spawn_link(beamlet.exit, "kill")
        m = await receive(Exit(pid, ANY))
        return m.reason

    assert run(main) == "kill"


def test_e16_non_trapping_link_dies_with_kill_not_killed():
    async def middle():
        spawn_link(beamlet.exit, "kill")
        await sleep(None)

    async def main():
        pid, ref = spawn_monitor(middle)
        return await wait_down(ref)

    assert run(main) == "kill"


def test_e17_spawn_link_crash_kills_the_caller():
    async def parent():
        spawn_link(beamlet.exit, "child_crashed")
        await sleep(None)

    async def main():
        _, ref = spawn_monitor(parent)
        return await wait_down(ref)

    assert run(main) == "child_crashed"


def test_e18_shutdown_reasons():
    async def main():
        out = []
        for reason in ["shutdown", ("shutdown", "bye"), "custom"]:
            pid = spawn(sleep, None)
            ref = monitor(pid)
            Process.exit(pid, reason)
            out.append(await wait_down(ref))
        return out

    assert run(main) == ["shutdown", ("shutdown", "bye"), "custom"]


def test_e20_links_are_bidirectional():
    async def a(b, parent):
        link(b)
        send(parent, "linked")
        beamlet.exit("a_crash")

    async def main():
        b = spawn(sleep, None)
        bref = monitor(b)
        spawn(a, b, self_pid())
        await receive("linked")
        return await receive(Down(bref, ANY, ANY), timeout=0.5)

    assert run(main).reason == "a_crash"


def test_e21_link_to_self_is_a_no_op():
    async def main():
        return (link(self_pid()), Process.info(self_pid(), "links"), unlink(self_pid()),
                unlink(spawn(lambda: None)))

    assert run(main) == (True, [], True, True)


def test_e24_trap_exit_flag_returns_old_value():
    async def main():
        return (Process.flag("trap_exit", True), Process.flag("trap_exit", True),
                Process.flag("trap_exit", False), Process.info(self_pid(), "trap_exit"))

    assert run(main) == (False, True, True, False)


def test_e25_trapping_process_sees_normal_exit_of_link():
    async def main():
        Process.flag("trap_exit", True)
        p = spawn_link(lambda: "done")
        m = await receive(Exit(p, ANY), timeout=0.2)
        return m.pid is p, m.reason

    assert run(main) == (True, "normal")


def test_exit_is_catchable_as_process_exit():
    async def main():
        try:
            beamlet.exit("reason")
        except ProcessExit as e:
            return e.reason

    assert run(main) == "reason"


def test_self_kill_takes_effect_before_the_call_returns():
    async def target(parent):
        try:
            Process.exit(self_pid(), "kill")
            send(parent, "not reached")
        finally:
            pass

    async def main():
        _, ref = spawn_monitor(target, self_pid())
        return await wait_down(ref), flush()

    assert run(main) == ("killed", [])


def test_a_long_chain_of_links_dies_without_recursion():
    async def link_chain(n, parent):
        if n:
            spawn_link(link_chain, n - 1, parent)
        else:
            send(parent, ("bottom", self_pid()))
        await sleep(None)

    async def main():
        Process.flag("trap_exit", True)
        spawn_link(link_chain, 20_000, self_pid())
        _, bottom = await receive(("bottom", ANY))
        Process.exit(bottom, "boom")
        m = await receive(Exit)
        return m.reason, len(Process.list())

    assert run(main) == ("boom", 1)


def test_link_and_monitor_take_pids_only():
    async def main():
        with pytest.raises(TypeError):
            link("not a pid")
        with pytest.raises(TypeError):
            Process.exit(42, "kill")
        with pytest.raises(TypeError):
            monitor(42)
        return "ok"

    assert run(main) == "ok"
