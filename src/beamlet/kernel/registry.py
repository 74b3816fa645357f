"""Registered names: a process may be known by one ``str`` name, locally unique."""

from __future__ import annotations

from typing import Any

from . import scheduler as k
from .ownership import entry
from .proc import EXITING
from .terms import Pid


@entry
def register(pid: Pid, name: str) -> bool:
    """Register ``pid`` under ``name``; True.

    TypeError for a name that is not a str (Elixir raises for ``nil`` / ``:undefined`` too);
    ValueError for a taken name, a dead pid, or a process that already has a name.
    """
    k.current()
    if type(name) is not str:
        raise TypeError(f"a registered name must be a str, got {name!r}")
    if not isinstance(pid, Pid):
        raise TypeError(f"register takes a Pid, got {pid!r}")
    names = k.names()
    if name in names:
        raise ValueError(f"the name {name!r} is already registered to {names[name].pid!r}")
    p = pid._proc
    if p is None or p.state == EXITING:
        raise ValueError(f"cannot register {name!r}: {pid!r} is not alive")
    x = p.x()
    if x.name is not None:
        raise ValueError(f"{pid!r} is already registered as {x.name!r}")
    x.name = name
    names[name] = p
    return True


@entry
def unregister(name: str) -> bool:
    """Remove the registration of ``name``; ValueError if it is not registered."""
    k.current()
    p = k.names().pop(name, None) if type(name) is str else None
    if p is None:
        raise ValueError(f"the name {name!r} is not registered")
    assert p.ext is not None  # a registered process keeps its name in its Ext
    p.ext.name = None
    return True


@entry
def whereis(name: str) -> Pid | None:
    """The pid registered as ``name``, or None."""
    k.current()
    p = k.names().get(name)
    return None if p is None else p.pid


@entry
def registered() -> list[str]:
    """Every registered name."""
    k.current()
    return list(k.names())


def resolve(dest: Any) -> Pid | None:
    """A pid for a pid, a registered name or a local ``(name, node)``; None when there is none."""
    if isinstance(dest, Pid):
        return dest
    if type(dest) is str:
        p = k.names().get(dest)
        return None if p is None else p.pid
    if type(dest) is tuple and len(dest) == 2 and dest[1] == k.node_name_now():
        p = k.names().get(dest[0])
        return None if p is None else p.pid
    return None
