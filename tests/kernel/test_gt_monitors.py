"""Ground truth m01-m12: monitors and Down messages."""

import beamlet
from beamlet import (
    ANY,
    Down,
    Process,
    demonitor,
    flush,
    monitor,
    node,
    receive,
    self_pid,
    send,
    sleep,
    spawn,
    spawn_monitor,
)
from beamlet.testing import settle


def run(fn):
    return beamlet.run(fn)


def test_m01_down_on_normal_exit():
    async def main():
        pid = spawn(receive, "go")
        ref = monitor(pid)
        send(pid, "go")
        m = await receive(Down)
        return m.ref is ref, m.pid is pid, m.reason, isinstance(m, tuple)

    assert run(main) == (True, True, "normal", True)


def test_m02_down_on_crash_and_monitor_survives():
    async def raises():
        raise RuntimeError("kaboom")

    async def main():
        _, ref = spawn_monitor(beamlet.exit, "boom")
        r1 = (await receive(Down(ref, ANY, ANY))).reason
        _, ref = spawn_monitor(raises)
        r2 = (await receive(Down(ref, ANY, ANY))).reason
        return r1, (type(r2), str(r2)), Process.alive(self_pid())

    assert run(main) == ("boom", (RuntimeError, "kaboom"), True)


def test_m03_down_reason_killed():
    async def main():
        pid = spawn(sleep, None)
        ref = monitor(pid)
        Process.exit(pid, "kill")
        return (await receive(Down(ref, ANY, ANY))).reason

    assert run(main) == "killed"


def test_m04_monitor_dead_process_gives_noproc():
    async def main():
        dead, ref0 = spawn_monitor(lambda: None)
        await receive(Down(ref0, ANY, ANY))
        ref = monitor(dead)
        m = await receive(Down(ref, ANY, ANY), timeout=0.1)
        return isinstance(ref, beamlet.Ref), m.reason, m.pid is dead

    assert run(main) == (True, "noproc", True)


def test_m05_demonitor_without_flush_leaves_queued_down():
    async def main():
        _, ref = spawn_monitor(lambda: None)
        await settle()
        r = demonitor(ref)
        mailbox = [(type(m).__name__, m.reason) for m in flush()]
        pid = spawn(receive, "go")
        ref2 = monitor(pid)
        r2 = demonitor(ref2)
        send(pid, "go")
        await settle()
        return r, mailbox, r2, flush(), demonitor(ref2)

    assert run(main) == (True, [("Down", "normal")], True, [], True)


def test_m06_demonitor_flush_and_info():
    async def fired():
        _, ref = spawn_monitor(lambda: None)
        await settle()
        return ref

    async def main():
        ref = await fired()
        a = (demonitor(ref, flush=True), flush())
        ref = await fired()
        b = (demonitor(ref, info=True), len(flush()))
        ref = await fired()
        c = (demonitor(ref, flush=True, info=True), flush())
        pid = spawn(sleep, None)
        ref = monitor(pid)
        d = demonitor(ref, info=True)
        Process.exit(pid, "kill")
        return a, b, c, d

    assert run(main) == ((True, []), (False, 1), (False, []), True)


def test_m08_monitor_by_registered_name():
    async def named():
        await receive("go")
        beamlet.exit("bye")

    async def main():
        pid = spawn(named)
        Process.register(pid, "m08_named")
        ref = monitor("m08_named")
        info = Process.info(self_pid(), "monitors")
        send("m08_named", "go")
        down = await receive(Down(ref, ANY, ANY))
        ref2 = monitor("m08_not_registered")
        down2 = await receive(Down(ref2, ANY, ANY))
        ref3 = monitor(("m08_not_registered", node()))
        down3 = await receive(Down(ref3, ANY, ANY))
        return info, down.pid, down.reason, down2[1:], down3[1:]

    me = "nonode@nohost"
    assert run(main) == ([("process", ("m08_named", me))], ("m08_named", me), "bye",
                         (("m08_not_registered", me), "noproc"),
                         (("m08_not_registered", me), "noproc"))


def test_m09_monitor_self_is_allowed_and_not_listed():
    async def main():
        ref = monitor(self_pid())
        return isinstance(ref, beamlet.Ref), Process.info(self_pid(), "monitors")

    assert run(main) == (True, [])


def test_m10_monitors_are_one_way():
    async def target():
        parent = await receive()
        send(parent, ("target_mailbox", flush()))

    async def watcher(t):
        monitor(t)
        beamlet.exit("watcher_crash")

    async def main():
        t = spawn(target)
        _, wref = spawn_monitor(watcher, t)
        await receive(Down(wref, ANY, ANY))
        alive = Process.alive(t)
        monitored_by = Process.info(t, "monitored_by")
        send(t, self_pid())
        return alive, monitored_by, await receive(("target_mailbox", ANY))

    assert run(main) == (True, [], ("target_mailbox", []))


def test_m12_spawn_monitor_shape():
    async def main():
        r = spawn_monitor(beamlet.exit, "noconnection")
        pid, ref = r
        m = await receive(Down(ref, ANY, ANY))
        return type(r), isinstance(pid, beamlet.Pid), isinstance(ref, beamlet.Ref), m.reason

    assert run(main) == (tuple, True, True, "noconnection")
