"""Real Erlang/Elixir nodes and an epmd daemon for the distribution tests, cleaned up by pid.

(A module of its own, not conftest.py, which already holds the codec's fixtures.)

Every test gets its own EPMD port (``ERL_EPMD_PORT``): the system's port 4369, and whatever
runs there, is never touched. The Elixir nodes are started with ``-start_epmd false`` so that
they use the EPMD the test chose (the system daemon on that port, or our built-in server) and
never leave a daemon of their own behind. Each OS process runs in a session of its own and is
killed, with its children, by that process group's id at teardown.

Waiting is on events: a node prints a line when it reaches a point, the test reads it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import ctypes
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest

from beamlet.dist import etf
from beamlet.dist.handshake import Connection
from beamlet.running import free_port
from helpers import require_program

COOKIE = "c"
HOST = socket.gethostname().split(".")[0]
# Only against a hung node: every awaited line normally comes within a second or two.
GUARD_SECONDS = 60
PASS_THROUGH = 112  # 'p': a frame of a control term and maybe a message, without atom cache

# Control message tags (erl_dist_protocol).
REG_SEND = 6
SEND = 2
SEND_SENDER = 22


# Linux only: a child asks to be killed when the test process dies, even by SIGKILL or a
# `timeout`, when no fixture teardown runs. libc is loaded here, not in the forked child.
_LIBC = ctypes.CDLL(None) if sys.platform == "linux" else None
_PR_SET_PDEATHSIG = 1


def _die_with_us() -> None:
    """Run in the child between fork and exec: SIGKILL it when its parent goes away."""
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


# PR_SET_PDEATHSIG fires when the *thread* that forked the child ends, not the process: a
# beamlet node moves its scheduler to a fresh thread when a process runs long (hand-off),
# and a node started from the old thread would be killed with it. So every child is forked
# by this one thread, which lives as long as the test session.
_FORKER = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="forker")


def popen(command: list[str], **options: object) -> subprocess.Popen:
    """`subprocess.Popen` from the long-lived forking thread."""
    return _FORKER.submit(lambda: subprocess.Popen(command, **options)).result()  # type: ignore[call-overload]


def _kill(process: subprocess.Popen) -> None:
    """Kill ``process`` and everything it started (its own process group), then reap it."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    process.wait()


@dataclass
class ErlangNode:
    """A running Elixir node: its name, its process, and its output read line by line."""

    name: str
    process: subprocess.Popen
    lines: list[str] = field(default_factory=list)

    async def expect(self, prefix: str) -> str:
        """The next output line starting with ``prefix``; fails if the node ends first."""
        return await self._next_line(lambda line: line.startswith(prefix), prefix)

    async def expect_any(self, text: str) -> str:
        """The next output line (its log included) containing ``text``."""
        return await self._next_line(lambda line: text in line, text)

    async def _next_line(self, wanted: Callable[[str], bool], what: str) -> str:
        """Read lines until one is ``wanted``; a node silent for `GUARD_SECONDS` is killed
        (which also frees the reading thread) and the test fails instead of hanging."""
        loop = asyncio.get_running_loop()
        while True:
            reading = loop.run_in_executor(None, self.process.stdout.readline)
            try:
                line = await asyncio.wait_for(asyncio.shield(reading), GUARD_SECONDS)
            except TimeoutError:
                _kill(self.process)
                await reading
                raise AssertionError(
                    f"{self.name} printed nothing for {GUARD_SECONDS} s while we waited "
                    f"for {what!r}; output {self.lines}"
                ) from None
            if not line:
                raise AssertionError(
                    f"{self.name} ended before printing {what!r}; output {self.lines}"
                )
            line = line.rstrip("\n")
            self.lines.append(line)
            if wanted(line):
                return line

    async def finished(self) -> int:
        """Wait for the node to exit on its own and return its exit status."""
        return await asyncio.get_running_loop().run_in_executor(None, self.process.wait)


class Cluster:
    """The OS processes of one test: an epmd daemon when asked for, and Elixir nodes."""

    def __init__(self, epmd_port: int) -> None:
        self.epmd_port = epmd_port
        self.processes: list[subprocess.Popen] = []
        self.readers: list[threading.Thread] = []

    def env(self) -> dict[str, str]:
        return {**os.environ, "ERL_EPMD_PORT": str(self.epmd_port)}

    def start_epmd(self) -> subprocess.Popen:
        """The system's epmd on our port, in the foreground, once it listens.

        Its debug output says when it enters its select loop; a thread keeps reading that
        output so that the daemon never blocks on a full pipe.
        """
        process = popen(
            [require_program("epmd"), "-d", "-d", "-d", "-port", str(self.epmd_port)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
            preexec_fn=_die_with_us,
        )
        self.processes.append(process)
        listening = threading.Event()
        output: list[str] = []

        def drain() -> None:
            for line in process.stdout:
                output.append(line)
                if "entering the main select() loop" in line:
                    listening.set()
            listening.set()  # ended: the check below reports it

        reader = threading.Thread(target=drain, daemon=True)
        reader.start()
        self.readers.append(reader)
        listening.wait(timeout=30)  # a guard only: the daemon is up within milliseconds
        if process.poll() is not None or not any("select() loop" in line for line in output):
            raise AssertionError(f"epmd did not start: {output}")
        return process

    def epmd_names(self) -> str:
        """What ``epmd -names`` prints for our port."""
        result = subprocess.run(
            [require_program("epmd"), "-port", str(self.epmd_port), "-names"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        return result.stdout

    def elixir(
        self,
        name: str,
        script: str,
        *,
        cookie: str = COOKIE,
        long: bool = False,
        ticktime: int | None = None,
        erl_flags: str = "",
    ) -> ErlangNode:
        """Start ``elixir --sname name`` (``--name`` when ``long``) running ``script``, with
        ``erl_flags`` added to the emulator's flags."""
        flags = "-start_epmd false"
        if ticktime is not None:
            flags += f" -kernel net_ticktime {ticktime}"
        if erl_flags:
            flags += f" {erl_flags}"
        command = [require_program("elixir"), "--name" if long else "--sname", name,
                   "--cookie", cookie, "--erl", flags, "-e", script]
        return self.start(command, name if "@" in name else f"{name}@{HOST}")

    def start(self, command: list[str], node_name: str) -> ErlangNode:
        """Start the node ``node_name`` with ``command`` on this cluster's EPMD, in a session
        of its own (killed with its children at the end), its output read line by line."""
        process = popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=self.env(),
            start_new_session=True,
            preexec_fn=_die_with_us,
        )
        self.processes.append(process)
        return ErlangNode(node_name, process)

    def stop(self) -> None:
        for process in reversed(self.processes):
            _kill(process)
        for reader in self.readers:
            reader.join()
        for process in self.processes:
            for stream in (process.stdout, process.stderr, process.stdin):
                if stream is not None:
                    stream.close()


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    """A fresh EPMD port for the test, and every process started on it killed at the end."""
    require_program("elixir")
    nodes = Cluster(free_port())
    try:
        yield nodes
    finally:
        nodes.stop()


# --- the little a test needs of the distribution protocol above the handshake -----------------


def pass_through(control: tuple, message: object = None, *, has_message: bool = True) -> bytes:
    """A frame body: 'p', the control term, then the message (each with its 131 byte)."""
    body = bytes([PASS_THROUGH]) + etf.encode(control)
    return body + etf.encode(message) if has_message else body


def split_frame(body: bytes) -> tuple[tuple, object]:
    """The control term and the message (None if absent) of a pass-through frame."""
    assert body[0] == PASS_THROUGH, f"not a pass-through frame: {body[:8]!r}"
    control, end = etf.decode_prefix(body, 1)
    message = etf.decode(body[end:]) if end < len(body) else None
    return control, message


def our_pid(connection: Connection, number: int = 1) -> etf.ExtPid:
    """A pid of our node, with the creation it announced in the handshake."""
    return etf.ExtPid(connection.name, number, 0, connection.creation)


async def answer_net_kernel(connection: Connection) -> list[tuple]:
    """Serve the peer until it closes: answer ``$gen_call``s to net_kernel with ``yes``.

    That is all ``Node.ping`` needs (``{is_auth, node}`` answered ``yes``); ticks are answered
    with ticks. Returns the control terms received.
    """
    seen = []
    while True:
        try:
            body = await connection.read_frame()
        except ConnectionError:
            return seen
        if not body:
            await connection.send_tick()
            continue
        control, message = split_frame(body)
        seen.append(control)
        if (
            control[0] == REG_SEND
            and control[3] == "net_kernel"
            and isinstance(message, tuple)
            and message[0] == "$gen_call"
        ):
            (caller, tag) = message[1]
            await connection.send_frame(
                pass_through((SEND_SENDER, our_pid(connection), caller), (tag, "yes"))
            )


# --- TLS distribution (-proto_dist inet_tls) ---------------------------------------------------


def elixir_tls(
    cluster: Cluster, name: str, script: str, *, optfile: str, cookie: str = COOKIE
) -> ErlangNode:
    """Start ``elixir --sname name`` with TLS distribution configured by ``optfile``.

    The node registers in the cluster's EPMD as any node does; its distribution port speaks
    TLS (inet_tls_dist), with the ssl options of ``optfile`` (Erlang terms, ``-ssl_dist_optfile``).
    """
    return cluster.elixir(name, script, cookie=cookie,
                          erl_flags=f"-proto_dist inet_tls -ssl_dist_optfile {optfile}")


# --- beamlet nodes in OS processes of their own ------------------------------------------------

BEAMLET_NODE = os.path.join(os.path.dirname(__file__), "beamlet_node.py")


def beamlet_node(cluster: Cluster, name: str, *, ticktime: float | None = None) -> ErlangNode:
    """Start `beamlet_node.py` as the node ``name@HOST`` on the cluster's EPMD; it prints
    ``ready NAME`` once it serves."""
    command = [sys.executable, BEAMLET_NODE, name, COOKIE, str(cluster.epmd_port)]
    if ticktime is not None:
        command.append(str(ticktime))
    return cluster.start(command, f"{name}@{HOST}")
