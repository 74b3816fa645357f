"""beamlet: the Erlang/Elixir process model for Python.

Lightweight processes with mailboxes and selective receive, links, monitors and exit signals
with the BEAM's exact semantics, and (in `beamlet.otp`) GenServer, Supervisor, Task and Agent.
See API.md for the contract and README.md for a tour.
"""

from . import aio  # noqa: F401 - beamlet.aio, the asyncio bridge
from .dist.nodes import Node  # Elixir's Node module (the distribution layer)
from .dist.rpc import ErpcError, erpc, rpc
from .kernel.handoff import hand_off
from .kernel.process_api import Process
from .kernel.registry import register, registered, unregister, whereis
from .kernel.runtime import ThreadedNode, node, schedulers_online
from .kernel.scheduler import (
    Deadlock,
    exit,
    make_ref,
    receive,
    self_pid,
    send,
    sleep,
    spawn,
    yield_turn,
)
from .kernel.signals import (
    alias,
    demonitor,
    flush,
    link,
    monitor,
    spawn_link,
    spawn_monitor,
    unalias,
    unlink,
)
from .kernel.terms import ANY, Down, Exit, NoProc, Pid, ProcessExit, Ref, TimerRef
from .otp import (  # after the kernel: it uses it
    Agent,
    DynamicSupervisor,
    GenServer,
    Supervisor,
    Task,
    TaskSupervised,
    TaskSupervisor,
)
from .running import run  # above the kernel and the distribution layer

__all__ = [
    "ANY", "Agent", "Deadlock", "Down", "DynamicSupervisor", "ErpcError", "Exit", "GenServer",
    "Node", "NoProc", "ThreadedNode", "erpc", "rpc",
    "Pid", "Process", "ProcessExit", "Ref", "Supervisor", "Task", "TaskSupervised",
    "TaskSupervisor", "TimerRef", "alias", "demonitor", "exit", "flush", "hand_off", "link",
    "make_ref", "monitor", "node", "receive", "register", "registered", "run", "schedulers_online",
    "self_pid", "send", "sleep", "spawn", "spawn_link", "spawn_monitor", "unalias", "unlink",
    "unregister", "whereis", "yield_turn",
]
__version__ = "0.1.0"
