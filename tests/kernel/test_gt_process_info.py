"""Ground truth i01-i08 (Process.info), p01-p02 (priority flag), and the process dictionary."""

import pytest

import beamlet
from beamlet import ANY, Down, Process, link, monitor, receive, self_pid, send, sleep, spawn
from beamlet.testing import settle


def run(fn):
    return beamlet.run(fn)


API_KEYS = {"status", "message_queue_len", "messages", "links", "monitors", "monitored_by",
            "trap_exit", "priority", "reductions", "memory", "current_function", "dictionary"}


def test_i01_info_keys_and_dead_process():
    async def main():
        pid = spawn(sleep, None)
        keys = set(Process.info(pid))
        Process.register(pid, "i01")
        keys_named = set(Process.info(pid))
        Process.exit(pid, "kill")
        with pytest.raises(ValueError):
            Process.info(self_pid(), "no_such_key")
        return keys, keys_named, Process.info(pid), Process.info(pid, "status")

    keys, keys_named, dead, dead_key = run(main)
    assert API_KEYS <= keys and "registered_name" not in keys
    assert keys_named == keys | {"registered_name"}
    assert dead is None and dead_key is None


def test_i02_message_queue_len_and_messages():
    async def main():
        pid = spawn(receive, "never")
        await beamlet.yield_turn()
        empty = Process.info(pid, "message_queue_len")
        for i in range(1, 4):
            send(pid, ("m", i))
        await settle()  # the case sleeps 10 ms: the target looks at its messages meanwhile
        return (empty, Process.info(pid, "message_queue_len"), Process.info(pid, "messages"),
                Process.info(pid, ["message_queue_len", "status"]))

    assert run(main) == (0, 3, [("m", 1), ("m", 2), ("m", 3)],
                         {"message_queue_len": 3, "status": "waiting"})


def test_i04_links_monitors_monitored_by():
    async def main():
        me = self_pid()
        a = spawn(sleep, None)
        link(a)
        ref = monitor(a)
        out = [Process.info(me, "links") == [a], Process.info(me, "monitors") == [("process", a)],
               Process.info(a, "links") == [me], Process.info(a, "monitored_by") == [me],
               Process.info(a, "monitors")]
        beamlet.unlink(a)
        beamlet.demonitor(ref)
        return out + [Process.info(me, "links"), Process.info(a, "monitored_by")]

    assert run(main) == [True, True, True, True, [], [], []]


def test_i05_flags_and_dictionary():
    async def child(parent):
        Process.flag("trap_exit", True)
        Process.flag("priority", "low")
        Process.register(self_pid(), "i05")
        send(parent, ("initial_dict", Process.info(self_pid(), "dictionary")))
        Process.put("k", "v")
        send(parent, "ready")
        await sleep(None)

    async def main():
        pid = spawn(child, self_pid())
        _, initial = await receive(("initial_dict", ANY))
        await receive("ready")
        info = Process.info(pid, ["trap_exit", "priority", "registered_name", "dictionary"])
        return initial, info, Process.put("x", 1), Process.put("x", 2), Process.get("x")

    assert run(main) == ({}, {"trap_exit": True, "priority": "low", "registered_name": "i05",
                              "dictionary": {"k": "v"}}, None, 1, 2)


def test_process_dictionary_functions():
    async def main():
        Process.put("a", 1)
        Process.put("b", 2)
        return (Process.get("a"), Process.get("zz", "dflt"), Process.get(), Process.get_keys(),
                Process.delete("a"), Process.delete("a"), Process.get())

    assert run(main) == (1, "dflt", {"a": 1, "b": 2}, ["a", "b"], 1, None, {"b": 2})


def test_i06_process_list_grows_and_shrinks():
    async def main():
        base = len(Process.list())
        pids = [spawn(sleep, None) for _ in range(100)]
        delta = len(Process.list()) - base
        everyone = set(Process.list())
        all_in = all(p in everyone for p in pids)
        refs = [monitor(p) for p in pids]
        for p in pids:
            Process.exit(p, "kill")
        for r in refs:
            await receive(Down(r, ANY, ANY))
        return delta, all_in, len(Process.list()) - base

    assert run(main) == (100, True, 0)


def test_i07_alive_right_after_kill_is_false():
    async def main():
        pid = spawn(receive, "go")
        alive_running = Process.alive(pid)
        ref = monitor(pid)
        send(pid, "go")
        await receive(Down(ref, ANY, ANY))
        results = set()
        for _ in range(50):
            p = spawn(sleep, None)
            Process.exit(p, "kill")
            results.add(Process.alive(p))
        return alive_running, Process.alive(pid), results, Process.alive(self_pid())

    assert run(main) == (True, False, {False}, True)


def test_i08_misc_info_types():
    async def waiter():
        await receive("never")

    async def main():
        pid = spawn(waiter)
        await settle()
        info = Process.info(pid, ["current_function", "initial_call", "memory", "reductions"])
        r1 = Process.info(self_pid(), "reductions")
        r2 = Process.info(self_pid(), "reductions")
        return info, r2 > r1

    info, grows = run(main)
    assert grows
    assert info["initial_call"][1].endswith("waiter") and info["initial_call"][2] == 0
    assert isinstance(info["current_function"], tuple) and len(info["current_function"]) == 3
    assert isinstance(info["memory"], int) and info["memory"] > 0
    assert isinstance(info["reductions"], int)


def test_p01_priority_flag_and_spawn_priority():
    async def main():
        me = self_pid()
        out = [Process.info(me, "priority"), Process.flag("priority", "high"),
               Process.info(me, "priority"), Process.flag("priority", "low"),
               Process.info(me, "priority"), Process.flag("priority", "normal")]
        pid = spawn(lambda: send(me, Process.info(self_pid(), "priority")), priority="high")
        out.append(await receive())
        spawn(lambda: send(me, Process.info(self_pid(), "priority")))
        Process.flag("priority", "high")
        out.append(await receive())
        spawn(lambda: send(me, Process.info(self_pid(), "priority")))
        out.append(await receive())
        return out, pid is not None

    assert run(main) == (["normal", "normal", "high", "high", "low", "low", "high", "normal",
                          "normal"], True)


def test_p02_priority_max_accepted_unknown_rejected():
    async def main():
        r = Process.flag("priority", "max")
        info = Process.info(self_pid(), "priority")
        Process.flag("priority", "normal")
        with pytest.raises(ValueError):
            Process.flag("priority", "urgent")
        with pytest.raises(ValueError):
            Process.flag("no_such_flag", True)
        return r, info, Process.read_flag("priority"), Process.read_flag("trap_exit")

    assert run(main) == ("normal", "max", "normal", False)
