"""Messages are isolated (API.md "Processes"): what one process sends, another cannot change.

The copier itself is tested in test_isolation.py; these tests check that the kernel applies it
wherever a value crosses from one process to another, and that ``isolation="share"`` turns it
off.
"""

import beamlet
from beamlet import (
    Agent,
    Down,
    Exit,
    GenServer,
    Process,
    exit,
    monitor,
    receive,
    self_pid,
    send,
    spawn,
    spawn_link,
)


async def keeper(parent):
    """Receive one message, say so, then give it back on request (unchanged by us)."""
    kept = await receive()
    send(parent, "got")
    await receive("give")
    send(parent, ("kept", kept))


async def sent_then_mutated(isolation_note=None):
    k = spawn(keeper, self_pid())
    msg = {"items": [1, 2]}
    send(k, msg)
    await receive("got")
    msg["items"].append(3)          # the sender changes its own copy after the send
    send(k, "give")
    _, kept = await receive(("kept", object))
    return kept


def test_a_mutation_after_send_does_not_reach_the_receiver():
    assert beamlet.run(sent_then_mutated) == {"items": [1, 2]}


def test_share_passes_messages_by_reference():
    assert beamlet.run(sent_then_mutated, isolation="share") == {"items": [1, 2, 3]}


def test_bad_isolation_mode_is_refused():
    try:
        beamlet.run(sent_then_mutated, isolation="deep")
    except ValueError as e:
        assert "isolation" in str(e)
    else:
        raise AssertionError("expected a ValueError")


def test_the_receiver_mutating_its_copy_does_not_reach_the_sender():
    async def mutator(parent):
        m = await receive()
        m.append("from receiver")
        send(parent, "done")

    async def main():
        original = [1]
        send(spawn(mutator, self_pid()), original)
        await receive("done")
        return original

    assert beamlet.run(main) == [1]


def test_immutable_values_are_shared_not_copied():
    big = bytes(100 * 1024 * 1024)

    async def echo(parent):
        send(parent, await receive())

    async def main():
        msg = ("blob", big, self_pid())
        send(spawn(echo, self_pid()), msg)
        back = await receive()
        return back is msg, back[1] is big

    assert beamlet.run(main) == (True, True)


def test_spawn_arguments_are_copied():
    async def child(parent, data):
        data.append("child")
        send(parent, "changed")

    async def main():
        data = ["parent"]
        spawn(child, self_pid(), data)
        await receive("changed")
        return data

    assert beamlet.run(main) == ["parent"]


def test_exit_reasons_reach_each_watcher_as_its_own_copy():
    async def dies(reason):
        exit(reason)

    async def main():
        Process.flag("trap_exit", True)
        reason = ["bad", {"depth": 1}]
        pid = spawn_link(dies, reason)
        ref = monitor(pid)
        via_link = await receive(Exit)
        via_monitor = await receive(Down(ref, pid, object))
        via_link.reason.append("mutated")
        return via_link.reason is not via_monitor.reason, via_monitor.reason, reason

    different, seen_by_monitor, original = beamlet.run(main)
    assert different
    assert seen_by_monitor == ["bad", {"depth": 1}]
    assert original == ["bad", {"depth": 1}]


def test_genserver_replies_and_agent_state_do_not_leak():
    class Box(GenServer):
        def init(self, arg):
            return ("ok", {"log": []})

        def handle_call(self, msg, from_, state):
            return ("reply", state, state)

    async def main():
        _, pid = await GenServer.start_link(Box, None)
        reply = await GenServer.call(pid, "get")
        reply["log"].append("caller's change")
        again = await GenServer.call(pid, "get")
        _, agent = await Agent.start_link(lambda: [1])
        got = await Agent.get(agent, lambda s: s)
        got.append(2)
        return again, await Agent.get(agent, lambda s: s)

    assert beamlet.run(main) == ({"log": []}, [1])


def test_timers_send_a_copy_taken_when_they_were_set():
    async def main():
        msg = ["at start"]
        Process.send_after(self_pid(), msg, 0.001)
        msg.append("later")
        return await receive()

    assert beamlet.run(main) == ["at start"]


def test_sends_to_another_node_go_to_the_installed_router_or_are_dropped():
    """The kernel's one door to distribution: a `RemotePid` or a ``(name, node)`` of another
    node goes to the router the dist layer installs, isolated like any message."""
    from beamlet.kernel import scheduler
    from beamlet.kernel.terms import RemotePid

    routed = []

    async def main():
        remote = RemotePid("ex@host", 5, 0, 7, 1)
        payload = ["hi"]
        scheduler.set_remote_router(lambda dest, msg: routed.append((dest, msg)))
        try:
            send(remote, payload)
            send(("worker", "ex@host"), "x")
            send(("here", beamlet.node()), "stays local: no such name, dropped")
        finally:
            scheduler.set_remote_router(None)
        send(remote, "no router: dropped, as to an unreachable node")
        payload.append("later")
        return remote

    remote = beamlet.run(main)
    assert routed == [(remote, ["hi"]), (("worker", "ex@host"), "x")]
    assert repr(remote) == "<1.5.0>"
