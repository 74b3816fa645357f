"""Elixir 1.14's lib/elixir/test/elixir/agent_test.exs, translated to beamlet.

Each test names the original ExUnit test in its docstring. Elixir's ``Agent.get(agent, Map,
:get, [:hello])`` (module, function, arguments) is ``Agent.get(agent, fn, *args)`` here, the
state coming first. ``use Agent`` and the ``:sys.change_code`` cases are listed in
tests/ported/README.md.
"""

from __future__ import annotations

import operator

from beamlet import Agent, Process, Supervisor, self_pid
from beamlet.testing import wait_dead
from helpers import quiet, run


def identity(state):
    return state


def put(mapping, key, value):
    return {**mapping, key: value}


def pop(mapping, key):
    rest = dict(mapping)
    return rest.pop(key, None), rest


def test_can_be_supervised_directly():
    """agent_test.exs: 'can be supervised directly'."""
    async def main():
        r = await Supervisor.start_link([(Agent, lambda: "ok")], strategy="one_for_one")
        return r[0]

    assert run(main) == "ok"


def test_start_link_workflow_with_unregistered_name_and_anonymous_functions():
    """agent_test.exs: 'start_link/2 workflow with unregistered name and anonymous functions'
    (the initial call names the state function, as proc_lib's translate_initial_call shows)."""
    async def main():
        _, pid = await Agent.start_link(dict)
        out = [pid in Process.info(self_pid(), "links"),
               Process.info(pid, "dictionary").get("$initial_call") == (dict, 0),
               await Agent.update(pid, lambda m: put(m, "hello", "world")),
               await Agent.get(pid, lambda m: m.get("hello"), timeout=3.0),
               await Agent.get_and_update(pid, lambda m: pop(m, "hello"), timeout=3.0),
               await Agent.get(pid, lambda m: m),
               await Agent.stop(pid)]
        out.append(await wait_dead(pid))
        return out

    assert run(main) == [True, True, "ok", "world", "world", {}, "ok", "noproc"]


def test_start_link_with_spawn_opt():
    """agent_test.exs: 'start_link/2 with spawn_opt' (Elixir's spawn_opt: [priority: :high]
    is priority="high")."""
    async def main():
        _, pid = await Agent.start_link(lambda: 0, priority="high")
        return Process.info(pid, "priority")

    assert run(main) == "high"


def test_start_workflow_with_registered_name_and_module_functions():
    """agent_test.exs: 'start/2 workflow with registered name and module functions'."""
    async def main():
        _, pid = await Agent.start(dict, name="agent")
        out = [Process.info(pid, "registered_name"),
               Process.info(pid, "dictionary").get("$initial_call") == (dict, 0),
               Agent.cast("agent", put, "hello", "world"),
               await Agent.get("agent", dict.get, "hello"),
               await Agent.get_and_update("agent", pop, "hello"),
               await Agent.get("agent", identity),
               await Agent.stop("agent")]
        out.append(Process.info(pid, "registered_name"))
        return out

    assert run(main) == ["agent", True, "ok", "world", "world", {}, "ok", None]


def test_doctest_agent():
    """agent_test.exs: 'doctest Agent' (the examples of start_link, start, get,
    get_and_update, update, cast, stop; a start whose function raises returns the exception,
    Elixir's {exception, stacktrace})."""
    quiet()

    async def main():
        out = []
        _, pid = await Agent.start_link(lambda: 42)
        out.append(await Agent.get(pid, lambda state: state))
        tag, exception = await Agent.start(lambda: 1 / 0)
        out.append((tag, type(exception)))
        _, pid = await Agent.start(lambda: 42)
        out.append(await Agent.get(pid, lambda state: state))
        _, pid = await Agent.start_link(lambda: 42)
        out += [await Agent.get_and_update(pid, lambda state: (state, state + 1)),
                await Agent.get(pid, lambda state: state)]
        _, pid = await Agent.start_link(lambda: 42)
        out += [await Agent.update(pid, lambda state: state + 1),
                await Agent.get(pid, lambda state: state)]
        _, pid = await Agent.start_link(lambda: 42)
        out += [await Agent.update(pid, operator.add, 12), await Agent.get(pid, lambda s: s)]
        _, pid = await Agent.start_link(lambda: 42)
        out += [Agent.cast(pid, lambda state: state + 1), await Agent.get(pid, lambda s: s)]
        _, pid = await Agent.start_link(lambda: 42)
        out += [Agent.cast(pid, operator.add, 12), await Agent.get(pid, lambda s: s)]
        _, pid = await Agent.start_link(lambda: 42)
        out.append(await Agent.stop(pid))
        return out

    assert run(main) == [42, ("error", ZeroDivisionError), 42, 42, 43, "ok", 43, "ok", 54,
                         "ok", 43, "ok", 54, "ok"]
