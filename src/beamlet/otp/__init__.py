"""OTP behaviours on top of the beamlet kernel: GenServer, Supervisor, DynamicSupervisor, Agent.

Everything here uses only the public `beamlet` API, as Elixir's OTP modules use only the
BEAM's primitives; see each module for the behaviour it mirrors.
"""

from .agent import Agent
from .dynamic_supervisor import DynamicSupervisor
from .gen_server import GenServer
from .supervisor import Supervisor

__all__ = ["Agent", "DynamicSupervisor", "GenServer", "Supervisor"]
