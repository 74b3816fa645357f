"""OTP's erts/emulator/test/signal_SUITE.erl (the node-local parts of the cases that have a
meaning in beamlet), translated to beamlet. Each test names its original case; the cases left
out are listed in tests/ported/README.md."""

from __future__ import annotations

import pytest

import beamlet
from beamlet import (
    ANY,
    Down,
    Exit,
    Process,
    alias,
    demonitor,
    link,
    monitor,
    node,
    receive,
    self_pid,
    send,
    spawn,
    spawn_link,
    spawn_monitor,
    unalias,
    unlink,
    yield_turn,
)
from beamlet.testing import wait_down


def run(fn, *args):
    return beamlet.run(fn, *args)


def test_xm_sig_order():
    """signal_SUITE:xm_sig_order — messages sent before an exit signal may reach the target,
    those sent after it never do: the process dies of the signal (1,000 rounds in the
    original, node-local; 300 here)."""
    async def xm_sig_order_proc():
        while True:
            m = await receive("may_not_reach", "may_reach", timeout=0, default=None)
            if m == "may_not_reach":
                beamlet.exit("bad_signal_order")
            if m is None:
                await yield_turn()

    async def main():
        reasons = set()
        for _ in range(300):
            p = spawn(xm_sig_order_proc)
            m = monitor(p)
            for _ in range(3):
                send(p, "may_reach")
            Process.exit(p, "good_signal_order")
            for _ in range(3):
                send(p, "may_not_reach")
            reasons.add(await wait_down(m))
        return reasons

    assert run(main) == {"good_signal_order"}


def spawn_link_line(kind: str, n: int, tester) -> beamlet.Pid:
    """signal_SUITE's spawn_link_line/5: a chain of ``n`` linked processes; the last one
    exits with ``kill`` (exit1), sends itself ``kill`` (exit2), or reports itself so that the
    tester kills it (other_exit2)."""
    async def link_in_chain(rest: int):
        if rest == 0:
            if kind == "other_exit2":
                send(tester, ("end_of_line", self_pid()))
                await Process.sleep(None)
            elif kind == "exit1":
                beamlet.exit("kill")
            else:
                Process.exit(self_pid(), "kill")
        spawn_link(link_in_chain, rest - 1)
        await Process.sleep(None)

    return spawn_link(link_in_chain, n - 1)


@pytest.mark.parametrize("kind,expected", [("other_exit2", "killed"), ("exit2", "killed"),
                                           ("exit1", "kill")])
@pytest.mark.parametrize("length", [1, 2, 9, 10])
def test_kill2killed(kind, expected, length):
    """signal_SUITE:kill2killed (node-local) — a process killed by exit(P, kill), from another
    process or from itself, is seen as ``killed`` along the whole chain of links; one that
    called exit(kill) is seen as ``kill``, and its links die of ``kill`` as of any reason."""
    async def main():
        Process.flag("trap_exit", True)
        me = self_pid()
        first = spawn_link_line(kind, length, me)
        if kind == "other_exit2":
            _, end = await receive(("end_of_line", ANY), timeout=5.0)
            Process.exit(end, "kill")
        got = await receive(Exit(first, ANY), timeout=5.0)
        return got.reason

    assert run(main) == expected


def test_unlink_exit():
    """signal_SUITE:unlink_exit (OTP-18177, node-local, 200 rounds of the original's 1,000) —
    a child that links to a parent which has just unlinked it and is exiting gets exit reason
    ``noproc`` if the parent was already dead, ``noproc`` or the parent's reason ``bye``
    otherwise, or a NoProc exception and then no Exit at all."""
    async def child_fn(tester):
        Process.flag("trap_exit", True)
        send(tester, ("child", self_pid()))
        _, _, parent = await receive(("tester_parent", tester, ANY))
        send(parent, ("go", self_pid()))
        while await receive(("go", parent), timeout=0, default=None) is None:
            await yield_turn()
        is_alive = Process.alive(parent)
        try:
            link(parent)
        except beamlet.NoProc:
            if beamlet.flush(Exit(parent, ANY)):
                beamlet.exit("unexpected_exit")
            beamlet.exit("ok")
        m = await receive(Exit(parent, ANY), timeout=1.0, default=None)
        if m is None:
            beamlet.exit("missing_exit")
        if m.reason == "noproc" or (is_alive and m.reason == "bye"):
            beamlet.exit("ok")
        beamlet.exit(("unexpected_exit_reason", is_alive, m.reason))

    async def parent_fn(tester):
        child = spawn_link(child_fn, tester, priority="high")
        await receive(("go", child))
        unlink(child)
        send(child, ("go", self_pid()))
        beamlet.exit("bye")

    async def main():
        tester = self_pid()
        reasons = set()
        for _ in range(200):
            parent, pmon = spawn_monitor(parent_fn, tester, priority="high")
            _, child = await receive(("child", ANY), timeout=5.0)
            cmon = monitor(child)
            send(child, ("tester_parent", tester, parent))
            assert await wait_down(pmon) == "bye"
            reasons.add(repr(await wait_down(cmon)))
        return reasons

    assert run(main) == {repr("ok")}


def test_monitor_order():
    """signal_SUITE:monitor_order — a Down message never overtakes the messages the dying
    process sent before it exited (10 rounds, as the original)."""
    async def main():
        me = self_pid()
        for _ in range(10):
            async def sender():
                mref = await receive()
                send(me, (self_pid(), mref, "first"))
                send(me, (self_pid(), mref, "second"))

            pid, mref = spawn_monitor(sender)
            send(pid, mref)
            got = await receive(Down(mref, ANY, ANY), (pid, mref, "second"), timeout=5.0)
            if isinstance(got, Down):
                return "Down arrived before the second message"
            await receive((pid, mref, "first"), timeout=5.0)
            demonitor(mref, flush=True)
        return "ok"

    assert run(main) == "ok"


def test_monitor_named_order_local():
    """signal_SUITE:monitor_named_order_local — messages sent to a process by pid, by
    registered name, by alias and by a monitor's alias all arrive in the order sent, and the
    Down of a monitor by name comes after all of them (100 rounds, as the original)."""
    async def sender_fn(to_pid, to_name, alias_a, num):
        Process.register(self_pid(), "monitor_named_order")
        send(to_pid, (self_pid(), "ready"))
        _, alias_m = await receive(("go", ANY))
        dests = [to_pid, to_name, alias_a, alias_m]
        for i, n in enumerate(range(num, 0, -1)):
            send(dests[i % 4], n)

    async def main():
        me = self_pid()
        for n in range(1, 101):
            Process.register(me, "tester")
            name = ("tester", node())
            alias_a = alias()
            num = 1000 + n
            sender = spawn_link(sender_fn, me, name, alias_a, num)
            await receive((sender, "ready"), timeout=5.0)
            alias_m = monitor(("monitor_named_order", node()), alias=True)
            send(sender, ("go", alias_m))
            for expected in range(num, 0, -1):
                got = await receive(timeout=5.0)
                assert got == expected, (got, expected)
            down = await receive(timeout=5.0)
            assert down == Down(alias_m, ("monitor_named_order", node()), "normal"), down
            Process.unregister("tester")
            unalias(alias_a)
        return "ok"

    assert run(main) == "ok"
