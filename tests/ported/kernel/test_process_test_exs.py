"""Elixir 1.14's lib/elixir/test/elixir/process_test.exs (and the doctests of `Process` it runs),
translated to beamlet.

Each test names the original ExUnit test in its docstring. Cases with no Python meaning
(group leaders, compiler inlining, absolute-time and asynchronous timer options, `:noconnect`)
are listed in tests/ported/README.md.
"""

from __future__ import annotations

import beamlet
from beamlet import Exit, Process, flush, receive, self_pid, spawn, spawn_link
from beamlet.testing import settle, wait_dead


def run(fn):
    return beamlet.run(fn)


def test_dictionary():
    """process_test.exs: test "dictionary" (put, get, get_keys/0, delete)."""
    async def main():
        out = [Process.put("foo", "bar"), Process.put("foo", "baz")]
        keys = Process.get_keys()
        out += ["foo" in keys, "bar" in keys, "baz" in keys]
        out += [Process.get("foo"), Process.delete("foo"), Process.get("foo")]
        return out

    assert run(main) == [None, "bar", True, False, False, "baz", "baz", None]


def test_dictionary_get_keys_by_value():
    """process_test.exs: test "dictionary", the ``Process.get_keys(value)`` assertions:
    the keys holding a value, ``[]`` when none does."""
    async def main():
        Process.put("foo", "baz")
        return Process.get_keys("bar"), Process.get_keys("baz")

    assert run(main) == ([], ["foo"])


def test_doctest_get_put_delete():
    """process_test.exs: ``doctest Process`` (the examples of get/3, get_keys/0, put/2,
    delete/1)."""
    async def main():
        out = [Process.get("locale", "pt"), Process.put("locale", "fr"),
               Process.get("locale", "pt")]
        Process.delete("locale")
        out.append("locale" in Process.get_keys())
        Process.put("locale", "pt")
        out.append("locale" in Process.get_keys())
        out += [Process.put("locale", "en"), Process.put("locale", "fr")]
        Process.put("comments", ["comment", "other comment"])
        out += [Process.delete("comments"), Process.delete("comments")]
        return out

    assert run(main) == ["pt", None, "fr", False, True, "pt", "en",
                         ["comment", "other comment"], None]


def test_sleep_zero():
    """process_test.exs: test "sleep/1" (``Process.sleep(0) == :ok``)."""
    async def main():
        return await Process.sleep(0)

    assert run(main) == "ok"


def test_info_2():
    """process_test.exs: test "info/2": a key alone, a list of keys, and nil for a killed pid.

    (The original asks a killed pid for ``:backtrace``, which beamlet does not have; ``status``
    stands in for it: any key of a dead pid answers nil.)"""
    async def main():
        pid = spawn(Process.sleep, 1.0)
        out = [Process.info(pid, "priority"), Process.info(pid, ["priority"])]
        Process.exit(pid, "kill")
        out += [Process.info(pid, "status"), Process.info(pid, ["status", "links"])]
        return out

    assert run(main) == ["normal", {"priority": "normal"}, None, None]


def test_info_2_with_registered_name():
    """process_test.exs: test "info/2 with registered name"."""
    async def main():
        pid = spawn(lambda: None)
        Process.exit(pid, "kill")
        out = [Process.info(pid, "registered_name"), Process.info(pid, ["registered_name"])]
        me = self_pid()
        out += [Process.info(me, "registered_name"), Process.info(me, ["registered_name"])]
        Process.register(me, "ProcessTest")
        out += [Process.info(me, "registered_name"), Process.info(me, ["registered_name"])]
        return out

    assert run(main) == [None, None, [], {"registered_name": []},
                         "ProcessTest", {"registered_name": "ProcessTest"}]


def test_send_after_sends_message_once_expired():
    """process_test.exs: test "send_after/3 sends messages once expired"."""
    async def main():
        Process.send_after(self_pid(), "hello", 0.01)
        return await receive("hello", timeout=1.0)

    assert run(main) == "hello"


def test_send_after_returns_timer_that_can_be_read_or_cancelled():
    """process_test.exs: test "send_after/3 returns a timer reference that can be read or
    cancelled" (milliseconds are seconds here, so the "integer" left is a float)."""
    async def main():
        timer = Process.send_after(self_pid(), "hello", 100.0)
        out = [flush("hello")]
        left = Process.read_timer(timer)
        out.append(isinstance(left, float) and 0 < left <= 100.0)
        left = Process.cancel_timer(timer)
        out.append(isinstance(left, float) and 0 < left <= 100.0)
        timer = Process.send_after(self_pid(), "hello", 0)
        out.append(await receive("hello", timeout=1.0))
        out += [Process.read_timer(timer), Process.cancel_timer(timer)]
        return out

    assert run(main) == [[], True, True, "hello", False, False]


def test_exit_normal_does_not_cause_target_to_exit():
    """process_test.exs: test "exit(pid, :normal) does not cause the target process to exit"."""
    async def main():
        Process.flag("trap_exit", True)
        pid = spawn_link(receive, "done")
        out = [Process.exit(pid, "normal")]
        await settle()
        out += [flush(Exit), Process.alive(pid)]
        out.append(Process.exit(pid, "abnormal"))
        out.append(await receive(Exit(pid, "abnormal"), timeout=1.0) == Exit(pid, "abnormal"))
        out.append(Process.alive(pid))
        return out

    assert run(main) == [True, [], True, True, True, False]


def test_exit_self_normal_causes_calling_process_to_exit():
    """process_test.exs: test "exit(self(), :normal) causes the calling process to exit"."""
    async def main():
        Process.flag("trap_exit", True)
        pid = spawn_link(lambda: Process.exit(self_pid(), "normal"))
        got = await receive(Exit(pid, "normal"), timeout=1.0)
        return got.reason, Process.alive(pid), await wait_dead(pid)

    assert run(main) == ("normal", False, "noproc")
