"""OTP behaviours on top of the beamlet kernel: GenServer, Supervisor, DynamicSupervisor, Agent,
Task and TaskSupervisor.

Everything here uses only the public `beamlet` API, as Elixir's OTP modules use only the
BEAM's primitives; see each module for the behaviour it mirrors.
"""

from .agent import Agent
from .dynamic_supervisor import DynamicSupervisor
from .gen_server import GenServer
from .supervisor import Supervisor
from .task import Task, TaskSupervised
from .task_supervisor import TaskSupervisor

__all__ = ["Agent", "DynamicSupervisor", "GenServer", "Supervisor", "Task", "TaskSupervised",
           "TaskSupervisor"]
