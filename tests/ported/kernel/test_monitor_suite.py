"""OTP's erts/emulator/test/monitor_SUITE.erl (its node-local cases), translated to beamlet.

Each test names its original case. The suite's "jeeves" butler (a registered process that
answers its parent's requests) is translated as `jeeves` below. Where the original sleeps
("timer:sleep(2000)", "wait_for_m" polling every 100 ms) for a monitor to be cleaned up, the
port waits for the death or for the node to settle. Distributed cases are listed in
tests/ported/README.md.
"""

from __future__ import annotations

import pytest

import beamlet
from beamlet import (
    ANY,
    Down,
    Process,
    demonitor,
    flush,
    make_ref,
    monitor,
    node,
    receive,
    self_pid,
    send,
    spawn,
    spawn_link,
    spawn_monitor,
)
from beamlet.testing import settle, wait_dead, wait_down


def run(fn, *args):
    return beamlet.run(fn, *args)


def expect_no_msg() -> list:
    """monitor_SUITE's expect_no_msg/0: what is in the mailbox (should be nothing)."""
    return flush()


# --- the butler -----------------------------------------------------------------------------

async def jeeves(parent, name, ref):
    """monitor_SUITE's jeeves/3: registers as ``name`` (if any), says it is up, then serves
    ``monitors``, ``monitor_process``, ``demonitor``, ``stop`` and ``exit`` requests."""
    if name is not None:
        Process.register(self_pid(), name)
    send(parent, (self_pid(), ref))
    while True:
        _, request = await receive((parent, ANY))
        if request == "monitors":
            send(parent, (self_pid(), ("monitors", monitors())))
        elif request == "stop":
            return
        elif request[0] == "monitor_process":
            send(parent, (self_pid(), ("monitor_process", monitor(request[1]))))
        elif request[0] == "demonitor":
            send(parent, (self_pid(), ("demonitor", demonitor(request[1]))))
        elif request[0] == "exit":
            beamlet.exit(request[1])


async def start_jeeves(name=None):
    parent, ref = self_pid(), make_ref()
    pid = spawn(jeeves, parent, name, ref)
    await receive((pid, ref), timeout=5.0)
    return pid


def tell_jeeves(pid, what) -> None:
    send(pid, (self_pid(), what))


async def ask_jeeves(pid, request):
    tell_jeeves(pid, request)
    return (await receive((pid, ANY), timeout=5.0))[1]


def monitors() -> tuple[list, list]:
    """monitor_SUITE's monitors/0: (monitors, monitored_by) of the caller."""
    me = self_pid()
    return Process.info(me, "monitors"), Process.info(me, "monitored_by")


# --- cases ----------------------------------------------------------------------------------

@pytest.mark.parametrize("how", ["monitor", "spawn_monitor"])
def test_case_1_and_1a(how):
    """monitor_SUITE:case_1 / case_1a — A monitors B, B kills A and then exits."""
    async def g(parent):
        await receive("ok")
        Process.exit(parent, "foo")

    async def g0():
        if how == "monitor":
            b = spawn(g, self_pid())
            monitor(b)
        else:
            b, _ = spawn_monitor(g, self_pid())
        send(b, "ok")
        await receive("ok")

    async def main():
        Process.flag("trap_exit", True)
        a = spawn_link(g0)
        got = await receive(timeout=5.0)
        return got.pid == a, got.reason

    assert run(main) == (True, "foo")


@pytest.mark.parametrize("how", ["monitor", "spawn_monitor"])
def test_case_2_and_2a(how):
    """monitor_SUITE:case_2 / case_2a — A monitors B, B demonitors A's monitor ref: on OTP 25
    that returns true and changes nothing (the original, written for older releases,
    expected a badarg), and A still gets B's Down with ``normal``."""
    async def y2(parent):
        r = await receive()
        send(parent, ("demonitor_result", demonitor(r)))

    async def main():
        if how == "monitor":
            b = spawn(y2, self_pid())
            r = monitor(b)
        else:
            b, r = spawn_monitor(y2, self_pid())
        send(b, r)
        first = await receive(timeout=5.0)
        second = await receive(timeout=5.0)
        return first, second == Down(r, b, "normal")

    assert run(main) == (("demonitor_result", True), True)


def test_mon_e_1():
    """monitor_SUITE:mon_e_1 (its local items) — monitoring something that is not a process
    is a bad argument."""
    async def main():
        for item in [["bingo"], 1, ("rex", "junk", "junk"), None]:
            with pytest.raises(TypeError):
                monitor(item)
        return expect_no_msg()

    assert run(main) == []


def test_demon_e_1():
    """monitor_SUITE:demon_e_1 (its local items) — demonitor of a non-ref is a bad argument;
    of a monitor ref held by the other end of the monitor it answers true on OTP 25 (checked
    with OTP 25; the original, older, expected badarg) and the monitor stays."""
    async def other(p0):
        send(p0, (self_pid(), "ref", monitor(p0)))
        await receive((p0, "stop"))

    async def main():
        for bad in ["plutt", 1]:
            with pytest.raises(TypeError):
                demonitor(bad)
        me = self_pid()
        p2 = spawn(other, me)
        _, _, r2 = await receive((p2, "ref", ANY), timeout=5.0)
        out = [demonitor(r2), Process.info(me, "monitored_by") == [p2]]
        send(p2, (me, "stop"))
        return out

    assert run(main) == [True, True]


def test_demon_1():
    """monitor_SUITE:demon_1 — demonitor of a ref that is no monitor is true."""
    async def main():
        return demonitor(make_ref())

    assert run(main) is True


def test_demon_2():
    """monitor_SUITE:demon_2 — demonitor of a monitor of oneself, twice; a normal Down; no
    Down after demonitor."""
    async def main():
        r1 = monitor(self_pid())
        out = [demonitor(r1), demonitor(r1), expect_no_msg()]
        p2 = spawn(Process.sleep, 0.001)
        r2 = monitor(p2)
        out.append(await wait_down(r2) in ("normal", "noproc"))
        p4 = spawn(Process.sleep, 100.0)
        r4 = monitor(p4)
        demonitor(r4)
        Process.exit(p4, "frop")
        await settle()
        out.append(expect_no_msg())
        return out

    assert run(main) == [True, True, [], True, []]


def test_demonitor_flush():
    """monitor_SUITE:demonitor_flush (node-local) — demonitor with flush removes a Down that
    is already queued; without flush it stays."""
    async def main():
        p = spawn(Process.sleep, 100.0)
        m1, m2, m3, m4 = (monitor(p) for _ in range(4))
        out = [demonitor(m1, flush=True)]
        Process.exit(p, "bang")
        out.append(await wait_down(m2))
        await settle()
        out += [demonitor(m3, flush=True), demonitor(m4)]
        out.append(await wait_down(m4))
        out.append([m for m in flush() if isinstance(m, Down) and m.ref in (m1, m3)])
        return out

    assert run(main) == [True, "bang", True, True, "bang", []]


def test_local_remove_monitor():
    """monitor_SUITE:local_remove_monitor — demonitor(info) of monitors on processes that exit
    at once: true means no Down is queued, false means one is (20 groups of 100 here, 100 of
    100 in the original)."""
    async def group(master):
        ms = [monitor(spawn(lambda: "ok")) for _ in range(100)]
        true_count = false_count = 0
        for m in ms:
            if demonitor(m, info=True):
                if flush(Down(m, ANY, ANY)):
                    beamlet.exit("down_msg_found")
                true_count += 1
            else:
                if not flush(Down(m, ANY, ANY)):
                    beamlet.exit("no_down_msg_found")
                false_count += 1
        send(master, ("rm_mon_res", self_pid(), (true_count, false_count)))

    async def main():
        groups = [spawn_link(group, self_pid()) for _ in range(20)]
        total = 0
        for g in groups:
            _, _, (t, f) = await receive(("rm_mon_res", g, ANY), timeout=10.0)
            total += t + f
        return total

    assert run(main) == 2000


def test_mon_1():
    """monitor_SUITE:mon_1 — Down for a normal exit, for another reason, noproc for a dead
    process, and the same by registered name (Down naming ``(name, node)``)."""
    async def main():
        out = []
        p2 = spawn(Process.sleep, 0.001)
        r2 = monitor(p2)
        out.append(await wait_down(r2) in ("normal", "noproc"))
        p2a, r2a = spawn_monitor(Process.sleep, 0.001)
        out.append(await receive(Down(r2a, p2a, ANY), timeout=5.0) == Down(r2a, p2a, "normal"))

        p3 = spawn(Process.sleep, 100.0)
        r3 = monitor(p3)
        Process.exit(p3, "frop")
        out.append(await receive(Down(r3, p3, ANY), timeout=5.0) == Down(r3, p3, "frop"))
        p3a, r3a = spawn_monitor(Process.sleep, 100.0)
        Process.exit(p3a, "frop")
        out.append(await wait_down(r3a))

        r4 = monitor(p3)
        out.append(await receive(Down(r4, ANY, ANY), timeout=5.0) == Down(r4, p3, "noproc"))

        here = ("jeeves", node())
        p5 = await start_jeeves("jeeves")
        r5 = monitor("jeeves")
        tell_jeeves(p5, "stop")
        out.append(await receive(Down(r5, ANY, ANY), timeout=5.0) == Down(r5, here, "normal"))

        p6 = await start_jeeves("jeeves")
        r6 = monitor(here)
        tell_jeeves(p6, ("exit", "frop"))
        out.append(await receive(Down(r6, ANY, ANY), timeout=5.0) == Down(r6, here, "frop"))

        r7 = monitor(here)
        out.append(await receive(Down(r7, ANY, ANY), timeout=5.0) == Down(r7, here, "noproc"))
        return out

    assert run(main) == [True, True, True, "frop", True, True, True, True]


def test_large_exit():
    """monitor_SUITE:large_exit — a large exit reason arrives whole in the Down (100 times)."""
    async def large_exit_sub(s):
        await receive()
        beamlet.exit(s)

    async def main():
        s0 = ("big", "tuple", "with", ["list", 4563784278])
        s = (s0, repr(s0).encode())
        for _ in range(100):
            p = spawn(large_exit_sub, s)
            r = monitor(p)
            send(p, "hej")
            got = await receive(timeout=5.0)
            if got != Down(r, p, s):
                return got
        return "ok"

    assert run(main) == "ok"


def test_list_cleanup():
    """monitor_SUITE:list_cleanup (node-local part) — process_info(monitors) and
    (monitored_by) of both ends as monitors are made, removed, fire, and as the monitoring
    process crashes."""
    async def main():
        p0, here = self_pid(), node()
        Process.register(p0, "master_bertie")
        out = []
        p1 = await start_jeeves("jeeves")
        out.append(monitors() == ([], []))
        out.append(await ask_jeeves(p1, "monitors") == ("monitors", ([], [])))
        r1a = monitor(p1)
        out.append(monitors() == ([("process", p1)], []))
        out.append(await ask_jeeves(p1, "monitors") == ("monitors", ([], [p0])))
        out.append(demonitor(r1a))
        out.append(expect_no_msg() == [])
        out.append(monitors() == ([], []))
        out.append(await ask_jeeves(p1, "monitors") == ("monitors", ([], [])))
        r1b = monitor("jeeves")
        out.append(monitors() == ([("process", ("jeeves", here))], []))
        out.append(await ask_jeeves(p1, "monitors") == ("monitors", ([], [p0])))
        tell_jeeves(p1, "stop")
        out.append(await receive(Down(r1b, ANY, ANY), timeout=5.0)
                   == Down(r1b, ("jeeves", here), "normal"))
        out.append(monitors() == ([], []))

        p2 = await start_jeeves("jeeves")
        out.append(monitors() == ([], []))
        reply = await ask_jeeves(p2, ("monitor_process", "master_bertie"))
        out.append(reply[0] == "monitor_process")
        out.append(monitors() == ([], [p2]))
        out.append(await ask_jeeves(p2, "monitors")
                   == ("monitors", ([("process", ("master_bertie", here))], [])))
        tell_jeeves(p2, ("exit", "frop"))
        await wait_dead(p2)
        out.append(monitors() == ([], []))
        Process.unregister("master_bertie")
        return out

    assert run(main) == [True] * 17


def test_mixer():
    """monitor_SUITE:mixer (node-local part) — a process monitored by several butlers and
    monitoring them back; monitored_by and monitors list exactly them, and empty again after
    the demonitors and deaths."""
    async def wait_for_m(expect_monitors, expect_monitored_by):
        await settle()
        m, mb = monitors()
        return sorted(m, key=repr) == sorted(expect_monitors, key=repr) and \
            sorted(mb, key=repr) == sorted(expect_monitored_by, key=repr)

    async def main():
        me = self_pid()
        out = []
        # they monitor me, then exit
        js = [await start_jeeves() for _ in range(4)]
        for p in js:
            await ask_jeeves(p, ("monitor_process", me))
        out.append(sorted(monitors()[1], key=repr) == sorted(js, key=repr))
        out.append(monitors()[0] == [])
        for p in js:
            tell_jeeves(p, ("exit", "flaff"))
        out.append(await wait_for_m([], []))
        # they monitor me, then demonitor
        js = [await start_jeeves() for _ in range(4)]
        refs = [(p, (await ask_jeeves(p, ("monitor_process", me)))[1]) for p in js]
        for p, ref in refs:
            await ask_jeeves(p, ("demonitor", ref))
        out.append(await wait_for_m([], []))
        for p in js:
            tell_jeeves(p, ("exit", "flaff"))
        # both ways, then they exit
        js = [await start_jeeves() for _ in range(4)]
        for p in js:
            await ask_jeeves(p, ("monitor_process", me))
        for p in js:
            monitor(p)
        out.append(await wait_for_m([("process", p) for p in js], js))
        for p in js:
            tell_jeeves(p, ("exit", "flaff"))
            await receive(Down(ANY, p, ANY), timeout=5.0)
        out.append(await wait_for_m([], []))
        # both ways, they demonitor, then I do
        js = [await start_jeeves() for _ in range(4)]
        refs = [(p, (await ask_jeeves(p, ("monitor_process", me)))[1]) for p in js]
        mine = [monitor(p) for p in js]
        for p, ref in refs:
            await ask_jeeves(p, ("demonitor", ref))
        out.append(await wait_for_m([("process", p) for p in js], []))
        for ref in mine:
            demonitor(ref)
        out.append(await wait_for_m([], []))
        for p in js:
            tell_jeeves(p, ("exit", "flaff"))
        return out

    assert run(main) == [True] * 8


def test_named_down():
    """monitor_SUITE:named_down — the Down of a monitor by name is not delivered before the
    name is free: right after it, the name can be registered again — even while high-priority
    busy processes keep normal ones (the dying process among them) from running."""
    async def hogs(parent):
        def spin():
            while True:
                pass
        for _ in range(beamlet.schedulers_online()):
            spawn_link(spin, priority="high")
        await receive(timeout=0.05, default=None)  # the original's 500 ms of hogging
        beamlet.unlink(parent)
        beamlet.exit("bang")

    async def main():
        name = "monitor_SUITE-named_down"
        Process.flag("priority", "high")
        spawn_link(hogs, self_pid(), priority="high")
        named = spawn_link(Process.sleep, None)
        Process.register(named, name)
        beamlet.unlink(named)
        Process.exit(named, "bang")
        mon = monitor(name)
        await receive(Down(mon, ANY, ANY), timeout=5.0)
        out = [Process.register(self_pid(), name), Process.unregister(name)]
        Process.flag("priority", "normal")
        return out

    assert run(main) == [True, True]
