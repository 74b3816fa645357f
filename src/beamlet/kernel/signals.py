"""Links, monitors, exit signals and aliases: how processes learn of each other's deaths.

The BEAM's rules, which these functions follow to the letter (see ground_truth/README.md):
- A link is two-way. When a linked process dies its peers get an exit signal with its reason;
  one that traps exits receives ``Exit(pid, reason)``, one that does not dies too, unless the
  reason is "normal".
- A monitor is one-way and always ends in a ``Down(ref, pid, reason)`` message; monitoring a
  process that is already dead delivers ``Down(ref, pid, "noproc")`` at once.
- `exit_pid` (Elixir's ``Process.exit/2``) sends an exit signal: "kill" cannot be trapped and
  ends the target with "killed"; "normal" is ignored by a non-trapping target unless it sent it
  to itself.
- A signal a process sends to itself takes effect before the call returns.
"""

from __future__ import annotations

from typing import Any, Callable

from . import scheduler as k
from .patterns import first_match
from .proc import DOOMED, EXITING, Proc
from .terms import Down, Exit, NoProc, Pid, Ref


def _live(pid: Any, what: str) -> Proc | None:
    if not isinstance(pid, Pid):
        raise TypeError(f"{what} takes a Pid, got {pid!r}")
    return pid._proc


@k.entry
def link(pid: Pid) -> bool:
    """Link the caller and ``pid``; return True.

    Linking to a dead process: a caller that traps exits receives ``Exit(pid, "noproc")``; one
    that does not raises `NoProc`.
    """
    me = k.current()
    q = _live(pid, "link")
    if q is me:
        return True
    if q is None:
        x = me.ext
        if x is not None and x.trap:
            k.deliver(me, Exit(pid, "noproc"))
            return True
        raise NoProc(f"cannot link to {pid!r}: no such process (noproc)")
    me.x().links.add(pid)
    qx = q.x()
    qx.links.add(me.pid)
    if q.state == DOOMED:
        _add_late(qx, me.pid)
    return True


def _add_late(x: Any, key: Any) -> None:
    """A link or monitor made to a DOOMED process: its death will report "noproc" to it."""
    if x.late is None:
        x.late = set()
    x.late.add(key)


@k.entry
def unlink(pid: Pid) -> bool:
    """Remove the link between the caller and ``pid`` (if any); return True.

    An ``Exit`` message already queued from ``pid`` stays queued, as on the BEAM.
    """
    me = k.current()
    q = _live(pid, "unlink")
    if me.ext is not None:
        me.ext.links.discard(pid)
    if q is not None and q.ext is not None:
        q.ext.links.discard(me.pid)
    return True


def _resolve_target(target: Any) -> tuple[Proc | None, Any]:
    """(live proc or None, what a Down message names) for a pid, a name or (name, node)."""
    if isinstance(target, Pid):
        return target._proc, target
    if type(target) is str:
        return k.names().get(target), (target, k.node_name_now())
    if type(target) is tuple and len(target) == 2 and type(target[0]) is str:
        name, node_name = target
        if node_name == k.node_name_now():
            return k.names().get(name), (name, node_name)
        return None, (name, node_name)
    raise TypeError(f"monitor takes a Pid, a registered name or (name, node), got {target!r}")


def monitor(target: Any, alias: bool = False) -> Ref:
    """Monitor ``target`` (a pid, a registered name or ``(name, node)``); return the ref.

    When the target dies the caller receives ``Down(ref, pid, reason)`` (for a name: ``Down(ref,
    (name, node), reason)``); if it is dead already, ``Down(ref, ..., "noproc")`` comes at once.

    With ``alias=True`` the ref is also an alias of the caller (see `alias`) for as long as the
    monitor lasts: `demonitor` or the ``Down`` message deactivates it (Erlang's
    ``monitor(process, pid, [{alias, demonitor}])``). A request sent with such a ref can be
    answered to it, and an answer that comes after the caller gave up is dropped.
    """
    if k._contended and not k._owned():
        return k.slow_entry(monitor, (target, alias))
    me = k.current()
    if target.__class__ is Pid:  # the common case, first
        q, shown = target._proc, target
    else:
        q, shown = _resolve_target(target)
    ref = k.make_ref()
    if q is None:
        k.deliver(me, Down(ref, shown, "noproc"))
        return ref
    if q is me:  # allowed, and never fires: a dead process reads no mail (not listed in info)
        return ref
    x = me.x()
    x.monitors[ref] = (q.pid, shown)
    qx = q.x()
    qx.monitored_by[ref] = me.pid
    if q.state == DOOMED:
        _add_late(qx, ref)
    if alias:
        if x.aliases is None:
            x.aliases = set()
        x.aliases.add(ref)
        k.aliases()[ref] = me
    return ref


def demonitor(ref: Ref, flush: bool = False, info: bool = False) -> bool:
    """Turn off the monitor ``ref``. True, or with ``info=True`` whether a live monitor was
    removed. With ``flush=True`` a ``Down`` for it that is already queued is removed too."""
    if k._contended and not k._owned():
        return k.slow_entry(demonitor, (ref, flush, info))
    me = k.current()
    if not isinstance(ref, Ref):
        raise TypeError(f"demonitor takes a Ref, got {ref!r}")
    found = False
    x = me.ext
    if x is not None:
        if x.aliases and ref in x.aliases:
            x.aliases.discard(ref)
            k.aliases().pop(ref, None)
        entry = x.monitors.pop(ref, None)
        if entry is not None:
            found = True
            q = entry[0]._proc
            if q is not None and q.ext is not None:
                q.ext.monitored_by.pop(ref, None)
    if flush and not found and me.mbox:  # a live monitor has no Down queued: nothing to scan
        mb = me.mbox
        keep = [m for m in mb if not (type(m) is Down and m.ref is ref)]
        if len(keep) != len(mb):
            mb.clear()
            mb.extend(keep)
    return found if info else True


@k.entry
def exit_pid(pid: Any, reason: Any) -> bool:
    """Send an exit signal with ``reason`` to ``pid`` (Elixir's ``Process.exit/2``); True."""
    me = k.current()
    if not isinstance(pid, Pid):
        if isinstance(pid, Ref):
            q = k.aliases().get(pid)
            if q is None:
                return True
            pid = q.pid
        else:
            raise TypeError(f"Process.exit takes a Pid, got {pid!r}")
    q = pid._proc
    if q is not None:
        k.exit_signal(q, me.pid, reason, False)
        k.raise_if_dead(me)
    return True


@k.entry
def trap_exit(flag: bool) -> bool:
    """Set the caller's trap_exit flag; return the old value."""
    me = k.current()
    if type(flag) is not bool:
        raise TypeError(f"trap_exit takes True or False, got {flag!r}")
    x = me.x()
    old = x.trap
    x.trap = flag
    return old


@k.entry
def spawn_link(fn: Callable, *args: Any, priority: str = "normal") -> Pid:
    """Spawn ``fn(*args)`` and link it to the caller, atomically."""
    me = k.current()
    p = k.new_process(fn, args, priority)
    me.x().links.add(p.pid)
    p.x().links.add(me.pid)
    return p.pid


@k.entry
def spawn_monitor(fn: Callable, *args: Any, priority: str = "normal") -> tuple[Pid, Ref]:
    """Spawn ``fn(*args)`` and monitor it, atomically; return ``(pid, ref)``."""
    me = k.current()
    p = k.new_process(fn, args, priority)
    ref = k.make_ref()
    me.x().monitors[ref] = (p.pid, p.pid)
    p.x().monitored_by[ref] = me.pid
    return p.pid, ref


@k.entry
def alias() -> Ref:
    """A ref that works as an address of the caller until `unalias` (Erlang's ``alias/0``).

    `send(alias_ref, msg)` delivers to the caller while the alias is active and drops the
    message afterwards. GenServer.call uses one so that a reply arriving after a timeout is
    never left in the caller's mailbox.
    """
    me = k.current()
    ref = k.make_ref()
    x = me.x()
    if x.aliases is None:
        x.aliases = set()
    x.aliases.add(ref)
    k.aliases()[ref] = me
    return ref


@k.entry
def unalias(ref: Ref) -> bool:
    """Deactivate an alias of the caller; whether it was active."""
    me = k.current()
    x = me.ext
    if x is None or not x.aliases or ref not in x.aliases:
        return False
    x.aliases.discard(ref)
    k.aliases().pop(ref, None)
    return True


def is_alive(pid: Pid) -> bool:
    """Whether ``pid`` names a live process. EXITING counts as dead, and so does DOOMED: on the
    BEAM this question queues behind the signals already sent to the process, and a fatal one
    among them has ended it by the time the answer comes."""
    if not isinstance(pid, Pid):
        raise TypeError(f"alive takes a Pid, got {pid!r}")
    p = pid._proc
    if p is not None and p.state == DOOMED:
        k.flush_signals(p)
    return p is not None and p.state != EXITING and p.state != DOOMED


@k.entry
def flush(*patterns: Any) -> list:
    """Remove and return the queued messages of the caller, in order (IEx's ``flush``); with
    patterns, only those matching one of them (the others stay, in order). Never waits."""
    me = k.current()
    mb = me.mbox
    if not mb:
        return []
    if not patterns:
        out = list(mb)
        mb.clear()
        return out
    out, keep = [], []
    for m in mb:
        (out if first_match(patterns, m) else keep).append(m)
    if out:
        mb.clear()
        mb.extend(keep)
    return out
