"""Elixir 1.14's lib/elixir/test/elixir/gen_server_test.exs, translated to beamlet.

Each test names the original ExUnit test in its docstring. Names are `str` (Elixir's atoms);
`{:global, _}` / `{:via, _, _}` names, `abcast` and `multi_call` have no meaning without
distribution and a global registry: they are listed in tests/ported/README.md.
"""

from __future__ import annotations

import pytest

from beamlet import GenServer, Process, self_pid
from beamlet.testing import wait_dead
from helpers import caught_exit, quiet, run


class Stack(GenServer):
    def init(self, args):
        return ("ok", args)

    async def handle_call(self, request, from_, state):
        if request == "pop":
            head, *tail = state
            return ("reply", head, tail)
        if request == "noreply":
            return ("noreply", state)
        if request == "stop_self":
            return ("reply", await caught_exit(GenServer.stop(self_pid())), state)
        return await super().handle_call(request, from_, state)

    def handle_cast(self, request, state):
        match request:
            case ("push", element):
                return ("noreply", [element, *state])
        return super().handle_cast(request, state)


class CustomStack(GenServer):
    restart = "temporary"
    shutdown = "infinity"


def test_generates_child_spec():
    """gen_server_test.exs: 'generates child_spec/1' (the id and start keys, and restart /
    shutdown from the class; beamlet's spec spells out the defaults Elixir leaves out)."""
    spec = Stack.child_spec(["hello"])
    assert (spec["id"], spec["start"]) == (Stack, (Stack.start_link, (["hello"],)))
    assert (spec["restart"], spec["shutdown"]) == ("permanent", 5.0)
    custom = CustomStack.child_spec(["hello"])
    assert (custom["id"], custom["restart"], custom["shutdown"]) == \
        (CustomStack, "temporary", "infinity")


def test_start_link_3_rejects_bad_names():
    """gen_server_test.exs: 'start_link/3' (a name that is no valid name raises in the
    caller: Elixir's ArgumentError is TypeError here, names being str)."""
    async def main():
        for bad in [42, ("invalid_tuple", "my_gen_server_name"),
                    ("via", "Via", "my_gen_server_name")]:
            with pytest.raises(TypeError):
                await GenServer.start_link(Stack, ["hello"], name=bad)
        return Process.info(self_pid(), "links")

    assert run(main) == []


def test_start_link_3_with_local():
    """gen_server_test.exs: 'start_link/3 with local'."""
    async def main():
        await GenServer.start_link(Stack, ["hello"], name="stack")
        return await GenServer.call("stack", "pop")

    assert run(main) == "hello"


def test_start_link_2_call_2_and_cast_2():
    """gen_server_test.exs: 'start_link/2, call/2 and cast/2' (casts to names that do not
    exist return "ok" too)."""
    async def main():
        _, pid = await GenServer.start_link(Stack, ["hello"])
        linked = pid in Process.info(self_pid(), "links")
        out = [linked, await GenServer.call(pid, "pop"), GenServer.cast(pid, ("push", "world")),
               await GenServer.call(pid, "pop"), await GenServer.stop(pid)]
        out += [GenServer.cast("foo", ("push", "world")),
                GenServer.cast(("foo", "other@node"), ("push", "world"))]
        return out

    assert run(main) == [True, "hello", "ok", "world", "ok", "ok", "ok"]


def test_call_3_exit_messages():
    """gen_server_test.exs: 'call/3 exit messages' (the local cases: calling oneself by name
    and by pid, a timeout, nil, a stopped pid, a (name, node) on a node that is not there)."""
    quiet()

    async def main():
        name = "self"
        Process.register(self_pid(), name)
        _, pid = await GenServer.start_link(Stack, ["hello"])
        _, stopped = await GenServer.start(Stack, ["hello"])
        await GenServer.stop(stopped)
        return [
            await caught_exit(GenServer.call(name, "pop", 5.0)),
            await caught_exit(GenServer.call(self_pid(), "pop", 5.0)),
            await caught_exit(GenServer.call(pid, "noreply", 0.001)),
            await caught_exit(GenServer.call(None, "pop", 5.0)),
            await caught_exit(GenServer.call(stopped, "pop", 5.0)),
            await caught_exit(GenServer.call(("stack", "bogus_node"), "pop", 5.0)),
        ], pid, stopped

    out, pid, stopped = run(main)
    me = out[1][1][2][0]
    assert out == [
        ("calling_self", (GenServer, "call", ["self", "pop", 5.0])),
        ("calling_self", (GenServer, "call", [me, "pop", 5.0])),
        ("timeout", (GenServer, "call", [pid, "noreply", 0.001])),
        ("noproc", (GenServer, "call", [None, "pop", 5.0])),
        ("noproc", (GenServer, "call", [stopped, "pop", 5.0])),
        (("nodedown", "bogus_node"), (GenServer, "call", [("stack", "bogus_node"), "pop", 5.0])),
    ]


def test_nil_name():
    """gen_server_test.exs: 'nil name' (name=None registers nothing)."""
    async def main():
        _, pid = await GenServer.start_link(Stack, ["hello"], name=None)
        return Process.info(pid, "registered_name")

    assert run(main) in (None, [])


def test_start_2():
    """gen_server_test.exs: 'start/2' (not linked to the caller)."""
    async def main():
        _, pid = await GenServer.start(Stack, ["hello"])
        linked = pid in Process.info(self_pid(), "links")
        await GenServer.stop(pid)
        return linked

    assert run(main) is False


def test_whereis_1():
    """gen_server_test.exs: 'whereis/1' (the local cases; a (name, node) of another node is
    returned as it is)."""
    async def main():
        name = "whereis_server"
        _, pid = await GenServer.start_link(Stack, [], name=name)
        return [GenServer.whereis(name) == pid, GenServer.whereis((name, "nonode@nohost")) == pid,
                GenServer.whereis((name, "another_node")), GenServer.whereis(pid) == pid,
                GenServer.whereis("whereis_bad_server")]

    assert run(main) == [True, True, ("whereis_server", "another_node"), True, None]


def test_stop_3():
    """gen_server_test.exs: 'stop/3' (stopping a stopped pid or nil exits noproc, stopping
    oneself exits calling_self, stopping by name)."""
    async def main():
        _, pid = await GenServer.start(Stack, [])
        out = [await GenServer.stop(pid, "normal")]
        stopped = pid
        out.append(await caught_exit(GenServer.stop(stopped)) ==
                   ("noproc", (GenServer, "stop", [stopped, "normal", None])))
        out.append(await caught_exit(GenServer.stop(None)))
        _, pid = await GenServer.start(Stack, [])
        out.append(await GenServer.call(pid, "stop_self") ==
                   ("calling_self", (GenServer, "stop", [pid, "normal", None])))
        _, named = await GenServer.start(Stack, [], name="stop_3")
        out.append(await GenServer.stop("stop_3", "normal"))
        out.append(await wait_dead(named))
        return out

    assert run(main) == ["ok", True, ("noproc", (GenServer, "stop", [None, "normal", None])),
                         True, "ok", "noproc"]
