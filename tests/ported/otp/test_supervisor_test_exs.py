"""Elixir 1.14's lib/elixir/test/elixir/supervisor_test.exs, translated to beamlet.

Each test names the original ExUnit test in its docstring. Global and via names, the
deprecated six-element child specs of Supervisor.Spec and a module that does not exist have no
counterpart here: they are listed in tests/ported/README.md.
"""

from __future__ import annotations

import pytest

from beamlet import GenServer, Process, Supervisor, Task, self_pid, sleep
from beamlet.testing import settle
from helpers import run


class Stack(GenServer):
    @classmethod
    async def start_link(cls, state_opts):
        state, opts = state_opts
        return await GenServer.start_link(cls, state, **opts)

    def init(self, args):
        return ("ok", args)

    def handle_call(self, request, from_, stack):
        if request == "pop":
            head, *tail = stack
            return ("reply", head, tail)
        if request == "stop":
            # Free the name before replying, as the original does, so that the restarted
            # server can take it.
            name = Process.info(self_pid(), "registered_name")
            if name:
                Process.unregister(name)
            return ("stop", "normal", "ok", stack)
        return super().handle_call(request, from_, stack)

    def handle_cast(self, request, stack):
        _, head = request
        return ("noreply", [head, *stack])


class StackSup(Supervisor):
    def init(self, pair):
        return Supervisor.init([(Stack, pair)], strategy="one_for_one")


class CustomSup(Supervisor):
    def init(self, arg):
        return arg


async def wait_until_registered(name):
    """The original's busy loop, waiting for the event instead: the node settles, then the
    name is there (a restart happens without any timer)."""
    while Process.whereis(name) is None:
        await settle()


def test_generates_child_spec():
    """supervisor_test.exs: 'generates child_spec/1' (a module-form supervisor's spec; the
    original's `use Supervisor, id:, restart:, start:` options are child_spec overrides)."""
    spec = StackSup.child_spec(["hello"])
    assert (spec["id"], spec["start"], spec["type"]) == \
        (StackSup, (StackSup.start_link, (["hello"],)), "supervisor")
    start = (print, ())
    custom = CustomSup.child_spec(["hello"], id="id", restart="temporary", start=start)
    assert (custom["id"], custom["restart"], custom["start"], custom["type"]) == \
        ("id", "temporary", start, "supervisor")


def test_child_spec_2():
    """supervisor_test.exs: 'child_spec/2' (Task's spec, overrides, a dict passed through
    unchecked, and the errors for a module without child_spec and a value that is no child)."""
    spec = Supervisor.child_spec(Task)
    assert (spec["id"], spec["restart"], spec["start"]) == \
        (Task, "temporary", (Task.start_link, (None,)))
    spec = Supervisor.child_spec((Task, "foo"))
    assert (spec["id"], spec["restart"], spec["start"]) == \
        (Task, "temporary", (Task.start_link, ("foo",)))
    assert Supervisor.child_spec({"id": Task}) == {"id": Task}
    start = (print, ())
    spec = Supervisor.child_spec(Task, id="foo", start=start, restart="permanent",
                                 shutdown="infinity")
    assert (spec["id"], spec["start"], spec["restart"], spec["shutdown"]) == \
        ("foo", start, "permanent", "infinity")

    class NotAChild:
        pass

    with pytest.raises(TypeError):
        Supervisor.child_spec(NotAChild)
    with pytest.raises(TypeError):
        Supervisor.child_spec("other")


def test_init_2():
    """supervisor_test.exs: 'init/2' (beamlet's flags are max_restarts / max_seconds, and
    the strategy defaults to one_for_one where Elixir requires it)."""
    flags, children = Supervisor.init([Task], strategy="one_for_one")[1]
    assert flags == {"strategy": "one_for_one", "max_restarts": 3, "max_seconds": 5}
    assert [(c["id"], c["restart"], c["start"]) for c in children] == \
        [(Task, "temporary", (Task.start_link, (None,)))]
    ok, (flags, children) = Supervisor.init([(Task, "foo")], strategy="one_for_all",
                                            max_restarts=1, max_seconds=2)
    assert ok == "ok"
    assert flags == {"strategy": "one_for_all", "max_restarts": 1, "max_seconds": 2}
    assert children[0]["start"] == (Task.start_link, ("foo",))


def test_start_link_3_with_local():
    """supervisor_test.exs: 'start_link/3 with local'."""
    async def main():
        await Supervisor.start_link([], strategy="one_for_one", name="my_sup")
        return await Supervisor.which_children("my_sup")

    assert run(main) == []


def test_start_link_2():
    """supervisor_test.exs: 'start_link/2' (a named child is restarted after a normal stop;
    invalid names raise in the caller)."""
    async def main():
        children = [(Stack, (["hello"], {"name": "dyn_stack"}))]
        _, pid = await Supervisor.start_link(children, strategy="one_for_one")
        await wait_until_registered("dyn_stack")
        out = [await GenServer.call("dyn_stack", "pop"), await GenServer.call("dyn_stack", "stop")]
        await wait_until_registered("dyn_stack")
        out.append(await GenServer.call("dyn_stack", "pop"))
        await Supervisor.stop(pid)
        for bad in [42, ("invalid_tuple", "my_gen_server_name"), ("via", "Via", "x")]:
            with pytest.raises(TypeError):
                await Supervisor.start_link(children, name=bad, strategy="one_for_one")
        return out

    assert run(main) == ["hello", "ok", "hello"]


def test_start_link_3():
    """supervisor_test.exs: 'start_link/3' (module form)."""
    async def main():
        _, pid = await StackSup.start_link((["hello"], {"name": "stat_stack"}))
        await wait_until_registered("stat_stack")
        out = await GenServer.call("stat_stack", "pop")
        await Supervisor.stop(pid)
        return out

    assert run(main) == "hello"


def test_start_child_supports_new_child_spec_as_tuple():
    """supervisor_test.exs: start_child/2 'supports new child spec as tuple' (a spec dict)."""
    async def main():
        _, sup = await Supervisor.start_link([], strategy="one_for_one")
        child = {"id": Task, "restart": "temporary", "start": (Task.start_link, (lambda: "ok",))}
        ok, pid = await Supervisor.start_child(sup, child)
        return ok, type(pid).__name__

    assert run(main) == ("ok", "Pid")


def test_start_child_supports_new_child_spec():
    """supervisor_test.exs: start_child/2 'supports new child spec' ((Task, fn))."""
    async def main():
        _, sup = await Supervisor.start_link([], strategy="one_for_one")
        ok, pid = await Supervisor.start_child(sup, (Task, lambda: sleep(None)))
        return ok, Process.alive(pid)

    assert run(main) == ("ok", True)


def test_start_child_with_invalid_child_spec():
    """supervisor_test.exs: start_child/2 'with invalid child spec'."""
    async def main():
        _, sup = await Supervisor.start_link([], strategy="one_for_one")
        return [await Supervisor.start_child(sup, {}),
                await Supervisor.start_child(sup, {"id": 1, "start": (Task, "foo", "bar")})]

    assert run(main) == [("error", "missing_id"),
                         ("error", ("invalid_mfa", (Task, "foo", "bar")))]


def test_child_life_cycle():
    """supervisor_test.exs: 'child life-cycle'."""
    async def main():
        _, sup = await Supervisor.start_link([], strategy="one_for_one")
        out = [await Supervisor.which_children(sup), await Supervisor.count_children(sup)]
        spec = Supervisor.child_spec((Stack, (["hello"], {})))
        _, stack = await Supervisor.start_child(sup, spec)
        out.append(await GenServer.call(stack, "pop"))
        out.append(await Supervisor.which_children(sup) == [(Stack, stack, "worker", [Stack])])
        out.append(await Supervisor.count_children(sup))
        out.append(await Supervisor.delete_child(sup, Stack))
        out.append(await Supervisor.terminate_child(sup, Stack))
        _, stack = await Supervisor.restart_child(sup, Stack)
        out.append(await GenServer.call(stack, "pop"))
        out.append(await Supervisor.terminate_child(sup, Stack))
        out.append(await Supervisor.delete_child(sup, Stack))
        await Supervisor.stop(sup)
        return out

    assert run(main) == [
        [], {"specs": 0, "active": 0, "supervisors": 0, "workers": 0},
        "hello", True, {"specs": 1, "active": 1, "supervisors": 0, "workers": 1},
        ("error", "running"), "ok", "hello", "ok", "ok"]
