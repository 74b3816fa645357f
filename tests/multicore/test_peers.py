"""`beamlet.run(main, cores=N)`: N-1 peer nodes, up before ``main``, gone after ``run``,
also when the main node is killed with SIGKILL; a peer that dies is reported and restarted."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest

import beamlet
from beamlet import ANY, Exit, Node, Process, receive
from beamlet.dist import peers

HERE = os.path.dirname(os.path.abspath(__file__))
GUARD_SECONDS = 30.0  # a guard against hanging, never a wait for something to happen


def wait_gone(os_pid: int) -> None:
    """Wait until the process ``os_pid`` (not our child) has ended: its pidfd turns readable."""
    try:
        fd = os.pidfd_open(os_pid)
    except ProcessLookupError:
        return
    try:
        readable, _, _ = select.select([fd], [], [], GUARD_SECONDS)
        assert readable, f"process {os_pid} still alive after {GUARD_SECONDS} s"
    finally:
        os.close(fd)


def test_peers_are_up_before_main_and_gone_after_run() -> None:
    async def main() -> tuple[list[str], dict[str, int], list[str]]:
        names = Node.list()
        ran_on = [await beamlet.rpc.call(name, "erlang", "node", []) for name in names]
        started = peers.current()
        assert started is not None
        return names, started.os_pids(), ran_on

    names, os_pids, ran_on = beamlet.run(main, cores=3)
    alive = names[0].split("@")[0].rsplit("_", 1)[0]
    assert sorted(names) == sorted(f"{alive}_{i}@{names[0].split('@')[1]}" for i in (1, 2))
    assert sorted(ran_on) == sorted(names)
    assert sorted(os_pids) == sorted(names)
    for os_pid in os_pids.values():
        assert not os.path.exists(f"/proc/{os_pid}"), "a peer is left after run returned"
    assert peers.current() is None


def test_cores_auto_uses_every_core_and_bad_values_are_refused() -> None:
    async def main() -> int:
        return len(Node.list())

    usable = len(os.sched_getaffinity(0))
    assert beamlet.running.core_count("auto") == usable
    if usable <= 4:   # a machine of many cores would start that many interpreters here
        assert beamlet.run(main, cores="auto") == usable - 1
    for bad in (0, -1, "all", 1.5, True):
        with pytest.raises(ValueError, match="cores"):
            beamlet.run(main, cores=bad)


def test_cores_one_is_a_plain_node() -> None:
    async def main() -> tuple[str, bool]:
        return beamlet.node(), Node.alive()

    assert beamlet.run(main, cores=1) == ("nonode@nohost", False)


def test_a_named_node_keeps_its_name_and_peers_follow_it() -> None:
    port = beamlet.running.free_port()

    async def main() -> tuple[str, list[str]]:
        return beamlet.node(), Node.list()

    me, others = beamlet.run(main, cores=2, name="multi", cookie="c00kie", epmd_port=port)
    assert me.startswith("multi@")
    assert others == [me.replace("multi@", "multi_1@")]


def test_closures_run_on_a_peer() -> None:
    offset = 40

    async def main() -> Any:
        (peer,) = Node.list()
        pid = await Node.spawn(peer, lambda me: beamlet.send(me, (beamlet.node(), offset + 2)),
                               beamlet.self_pid())
        return peer, beamlet.node(pid), await receive((ANY, ANY))

    peer, pid_node, (ran_on, value) = beamlet.run(main, cores=2)
    assert pid_node == peer == ran_on and value == 42


@pytest.mark.parametrize("start", ["forked", "exec"])
def test_a_killed_peer_is_nodedown_noconnection_then_restarted(start: str) -> None:
    """SIGKILL a peer: nodedown, a linked process there gives "noconnection", and the peer
    comes back under its name in a new OS process."""
    keep = threading.Event()
    if start == "exec":   # a thread alive during run: peers are fresh interpreters
        threading.Thread(target=keep.wait, daemon=True).start()

    async def victim() -> None:
        await receive("never sent")

    async def main() -> tuple[Any, ...]:
        (peer,) = Node.list()
        Node.monitor_nodes(True)
        Process.flag("trap_exit", True)
        linked = await Node.spawn_link(peer, victim)
        started = peers.current()
        assert started is not None
        old = started.os_pids()[peer]
        os.kill(old, signal.SIGKILL)
        down = await receive(("nodedown", peer), timeout=GUARD_SECONDS)
        exit_msg = await receive(Exit(linked, ANY), timeout=GUARD_SECONDS)
        up = await receive(("nodeup", peer), timeout=GUARD_SECONDS)
        new = started.os_pids()[peer]
        back = await beamlet.rpc.call(peer, "erlang", "node", [])
        return down, exit_msg.reason, up, old, new, back, peer

    try:
        down, reason, up, old, new, back, peer = beamlet.run(main, cores=2)
    finally:
        keep.set()
    assert down == ("nodedown", peer) and up == ("nodeup", peer)
    assert reason == "noconnection"
    assert new != old and back == peer
    assert not os.path.exists(f"/proc/{new}")


@pytest.fixture
def main_nodes() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait()


@pytest.mark.parametrize("start", ["forked", "exec"])
def test_peers_die_with_a_main_node_killed_by_sigkill(
        start: str, main_nodes: list[subprocess.Popen[str]]) -> None:
    command = [sys.executable, os.path.join(HERE, "main_node.py"), "3"]
    if start == "exec":
        command.append("thread")
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    main_nodes.append(process)
    assert process.stdout is not None
    line = process.stdout.readline()
    os_pids = json.loads(line)
    assert len(os_pids) == 2
    for os_pid in os_pids:
        assert os.path.exists(f"/proc/{os_pid}")
    process.kill()
    process.wait()
    for os_pid in os_pids:
        wait_gone(os_pid)
