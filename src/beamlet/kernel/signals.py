"""Links, monitors, exit signals and aliases: how processes learn of each other's deaths.

The BEAM's rules, which these functions follow to the letter (see ground_truth/README.md):
- A link is two-way. When a linked process dies its peers get an exit signal with its reason;
  one that traps exits receives ``Exit(pid, reason)``, one that does not dies too, unless the
  reason is "normal".
- A monitor is one-way and always ends in a ``Down(ref, pid, reason)`` message; monitoring a
  process that is already dead delivers ``Down(ref, pid, "noproc")`` (right after the step
  that asked, as OTP 25 does: see `_deliver_later`).
- `exit_pid` (Elixir's ``Process.exit/2``) sends an exit signal: "kill" cannot be trapped and
  ends the target with "killed"; "normal" is ignored by a non-trapping target unless it sent it
  to itself.
- A signal a process sends to itself takes effect before the call returns; one sent to another
  process is asynchronous: a fatal signal marks a process that is not running DOOMED, and it
  dies when the loop next picks it (`die_doomed`), as a BEAM process handles its signals when
  it runs. Its links hear of the death before its monitors (Exit, then Down).

This module is the one writer of links, monitors, aliases and deaths.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, Protocol

from . import node as node_mod, scheduler as k
from .node import aliases, dying, names, procs, to_close
from .ownership import entry
from .patterns import first_match
from .proc import DEAD, DOOMED, EXITING, RUNNABLE, RUNNING, WAITING, Proc
from .terms import Down, Exit, NoProc, Pid, Ref, RemotePid
from .traps import UNREAD, Terminated

_draining = False   # a death is being announced; deaths it causes queue up in `dying`


def reset() -> None:
    """A new node starts."""
    global _draining
    _draining = False


# ---------------------------------------------------------------------------------------------
# Death and exit signals
# ---------------------------------------------------------------------------------------------
def kill(p: Proc, reason: Any) -> None:
    """End the live process ``p`` with ``reason``: it is dead to everyone from now on.

    Its links and monitors are told in order, iteratively (a chain of a million links does not
    recurse). A process other than the caller has its coroutine closed by the loop, which runs
    its ``finally`` blocks; one running on a detached thread is interrupted there.
    """
    global _draining
    state = p.state
    if state == EXITING or state == DEAD:
        return
    p.state = EXITING
    p.reason = reason
    if state != RUNNING:
        to_close.append(p)
    elif k.detached() and p is not k.current_or_none():
        _interrupt_detached(p)
    p.pid._proc = None
    procs.pop(p.pid.id, None)
    k.drop_timer(p)
    dying.append(p)
    if _draining:
        return
    _draining = True
    try:
        while dying:
            _announce(dying.popleft())
    finally:
        _draining = False


def _interrupt_detached(p: Proc) -> None:
    from .handoff import interrupt_when_safe

    for t, q in list(k.detached().items()):
        if q is p:
            interrupt_when_safe(t)


def _announce(p: Proc) -> None:
    """Tell the world that ``p`` died: names, aliases, monitors and links."""
    reason = p.reason
    x = p.ext
    if x is not None:
        if x.pending is not None:  # it died before handling what it sent itself
            x.pending = None
            k.count_pending(-1)
        if x.name is not None:
            names.pop(x.name, None)
        if x.aliases:
            for a in x.aliases:
                aliases.pop(a, None)
        pid = p.pid
        for ref, (target, shown) in x.monitors.items():
            q = target._proc if target is not None else None
            if q is not None and q.ext is not None:
                q.ext.monitored_by.pop(ref, None)
            elif _remote is not None and (target.__class__ is RemotePid
                                          or _is_remote(target, shown)):
                _remote.demonitor(pid, target if target is not None else shown, ref)
        late = x.late
        made_late = {key for _, key in late} if late else ()
        # Exit signals to links go out before the monitors' Down messages, as on the BEAM...
        for other in x.links:
            if other.__class__ is RemotePid:
                if _remote is not None:
                    _remote.exit(pid, other, reason, True)
            elif other not in made_late:
                _tell_link(pid, other, reason)
        for ref, watcher in x.monitored_by.items():
            if watcher.__class__ is RemotePid:
                if _remote is not None:
                    _remote.down(pid, ref, watcher, reason)
            elif ref not in made_late:
                _tell_monitor(pid, ref, watcher, reason)
        # ...and the links and monitors made while it was doomed hear "noproc" last, in the
        # order they were made: on the BEAM their requests came after the fatal signal.
        if late:
            for kind, key in late:
                if kind == "link":
                    if key in x.links:
                        _tell_link(pid, key, "noproc", late=True)
                elif key in x.monitored_by:
                    _tell_monitor(pid, key, x.monitored_by[key], "noproc")
        x.links = set()
        x.monitors = {}
        x.monitored_by = {}
    p.mbox = None
    node = node_mod.current
    if node is not None and p is node.main:
        node.main_reason = reason


def _tell_link(pid: Pid, other: Pid, reason: Any, late: bool = False) -> None:
    """The dead ``pid``'s exit signal through its link to ``other``. A peer that unlinked
    meanwhile (its side of the link is gone) ignores it, as the BEAM's unlink protocol does.

    The "noproc" of a ``late`` link (made while ``pid`` was doomed) to the process running now
    — it asked about ``pid``, which died in its call — reaches it at its next receive."""
    q = other._proc
    if q is not None and q.ext is not None and pid in q.ext.links:
        q.ext.links.discard(pid)
        if late and q.state == RUNNING and q is k.current_or_none():
            pend(q, ("link", pid, reason))
            return
        exit_signal(q, pid, reason if reason.__class__ is str else k.isolated(reason), True)


def _tell_monitor(pid: Pid, ref: Any, watcher: Pid, reason: Any) -> None:
    """The ``Down`` message of the monitor ``ref`` that ``watcher`` had on the dead ``pid``."""
    q = watcher._proc
    if q is None:
        return
    qx = q.ext
    shown = qx.monitors.pop(ref, (None, pid))[1] if qx is not None else pid
    if qx is not None and qx.aliases and ref in qx.aliases:
        qx.aliases.discard(ref)   # a monitor's alias ends with it
        aliases.pop(ref, None)
    k.deliver(q, Down(ref, shown, reason if reason.__class__ is str else k.isolated(reason)))


def exit_signal(q: Proc, from_pid: Pid, reason: Any, linked: bool) -> None:
    """Deliver an exit signal from ``from_pid`` to the live process ``q``, as the BEAM does.

    "kill" sent with `Process.exit` cannot be trapped and ends ``q`` with "killed" (but "kill"
    arriving through a link, from a process that exited with it, is an ordinary reason). A
    trapping process gets ``Exit(from_pid, reason)`` as a message. Otherwise "normal" is ignored,
    unless a process sent it to itself, and any other reason ends ``q``.

    A signal is asynchronous unless a process sends it to itself: a fatal signal to a process
    that is not running marks it DOOMED and it dies when it is next scheduled (`_doom`), so the
    sender goes on first, exactly as on the BEAM.
    """
    state = q.state
    if state == EXITING or state == DEAD or state == DOOMED:
        return  # dead, or already going to die of an earlier signal, which comes first
    is_str = type(reason) is str
    if not linked and is_str and reason == "kill":
        _fatal(q, "killed")
        return
    x = q.ext
    if x is not None and x.trap:
        if from_pid is q.pid and not linked:
            pend(q, ("exit", from_pid, reason))  # to itself: handled at its next receive
        else:
            k.deliver(q, Exit(from_pid, reason))
        return
    if is_str and reason == "normal":
        if not linked and from_pid is q.pid:
            kill(q, "normal")
        return
    _fatal(q, reason)


def _fatal(q: Proc, reason: Any) -> None:
    """A signal that ends ``q``: at once when ``q`` is running (a signal to itself, or one
    from another thread), else at its next turn."""
    if q.state == RUNNING:
        kill(q, reason)
    else:
        _doom(q, reason)


def _doom(q: Proc, reason: Any) -> None:
    """``q`` (RUNNABLE or WAITING) will die with ``reason`` when the loop next picks it.

    Until then it is still in the registry and `Process.list`, as a BEAM process with a pending
    exit signal is; queries that go through its signal queue on the BEAM (`Process.alive`,
    `Process.info`) already see it dead. New links and monitors to it end in "noproc".
    """
    waiting = q.state == WAITING and q.resume is not UNREAD  # UNREAD: queued already
    q.state = DOOMED
    q.reason = reason
    k.drop_timer(q)
    if waiting:
        q.rq.append(q)


def die_doomed(p: Proc) -> None:
    """The loop picked a DOOMED process: it handles its fatal signal now, and dies."""
    p.state = RUNNABLE
    kill(p, p.reason)


def pend(p: Proc, signal: tuple[Any, ...]) -> None:
    """Queue a signal ``p`` sent itself (see `Ext.pending`)."""
    x = p.x()
    if x.pending is None:
        x.pending = [signal]
        k.count_pending(+1)
    else:
        x.pending.append(signal)


def _deliver_later(p: Proc, down: Down) -> None:
    """The Down of a monitor of a process that was already dead: it arrives after the step
    that made it (on the BEAM it is not there yet for a `receive ... after 0` in that step,
    nor for a question about itself), unless the monitor was turned off meanwhile."""
    x = p.ext
    if p.state != EXITING and p.state != DEAD and x is not None:
        if x.monitors.pop(down.ref, None) is not None:
            k.deliver(p, down)


AT_INFO, AT_RECEIVE = 0, 1


def handle_pending(p: Proc, point: int) -> None:
    """``p`` (the caller) handles the signals it sent itself, in order, as far as ``point``
    lets it — what OTP 25 was seen to do (difftest):

    - asking about itself (`AT_INFO`) handles the exit signals and messages it sent itself:
      a trapped exit becomes an ``Exit`` message, or ends it if it stopped trapping meanwhile;
    - a `receive` (`AT_RECEIVE`) also takes in the Exit of a link made to a dead process (which
      a question about itself does not wait for).

    (The Down of a monitor of a process that was already dead comes later still:
    `_deliver_later`.)
    """
    x = p.ext
    assert x is not None and x.pending is not None  # the caller saw pending signals
    signals = x.pending
    keep: list[Any] = []
    x.pending = None
    for i, signal in enumerate(signals):
        kind = signal[0]
        if (kind == "link" or kind == "linkmsg") and point == AT_INFO:
            keep.extend(signals[i:])
            break
        if kind == "exit" or kind == "link":
            _, from_pid, reason = signal
            if x.trap:
                k.queue_now(p, Exit(from_pid, reason))
            elif not (type(reason) is str and reason == "normal"):
                # ("normal" handled from the queue is ignored even when it came from itself:
                # only `Process.exit(self_pid(), "normal")` made while not trapping ends it.)
                k.count_pending(-1)
                kill(p, reason)
                raise Terminated()
        else:
            k.queue_now(p, signal[1])
    if keep:
        x.pending = keep
    else:
        k.count_pending(-1)


def flush_signals(p: Proc) -> None:
    """Let ``p`` handle the signals already sent to it, before the caller asks about it.

    On the BEAM `is_process_alive/1` and `process_info/2` queue behind the signals the process
    has pending and wait for it to handle them, so a DOOMED process dies here (its links and
    monitors are told now); if that kills the caller through a link, the caller ends here too,
    as it would while it waited on the BEAM.
    """
    if p.state == DOOMED:
        die_doomed(p)
        me = k.current_or_none()
        if me is not None:
            raise_if_dead(me)


def raise_if_dead(p: Proc) -> None:
    """After a kernel call that may have killed the calling process: stop running it now."""
    if p.state == EXITING:
        raise Terminated()



# ---------------------------------------------------------------------------------------------
# Links, monitors, aliases: the calls processes make
# ---------------------------------------------------------------------------------------------



def _live(pid: Any, what: str) -> Proc | None:
    if not isinstance(pid, Pid):
        raise TypeError(f"{what} takes a Pid, got {pid!r}")
    return pid._proc


@entry
def link(pid: Pid) -> bool:
    """Link the caller and ``pid``; return True.

    Linking to a dead process: a caller that traps exits receives ``Exit(pid, "noproc")``; one
    that does not raises `NoProc`.
    """
    me = k.current()
    q = _live(pid, "link")
    if q is me:
        return True
    if pid.__class__ is RemotePid:
        if _remote is None:  # no distribution: its node cannot be reached
            exit_signal(me, pid, "noconnection", True)
            raise_if_dead(me)
        elif pid not in me.x().links:
            me.x().links.add(pid)
            _remote.link(me.pid, pid)
        return True
    if q is None:
        x = me.ext
        if x is not None and x.trap:
            pend(me, ("linkmsg", Exit(pid, "noproc")))
            return True
        raise NoProc(f"cannot link to {pid!r}: no such process (noproc)")
    me.x().links.add(pid)
    qx = q.x()
    if q.state == DOOMED and me.pid not in qx.links:
        _add_late(qx, "link", me.pid)  # a new link, queued behind the fatal signal on the BEAM
    qx.links.add(me.pid)
    return True


def _add_late(x: Any, kind: str, key: Any) -> None:
    """A link or monitor made to a DOOMED process: its death will report "noproc" to it."""
    if x.late is None:
        x.late = []
    x.late.append((kind, key))


@entry
def unlink(pid: Pid) -> bool:
    """Remove the link between the caller and ``pid`` (if any); return True.

    An ``Exit`` message already queued from ``pid`` stays queued, as on the BEAM.
    """
    me = k.current()
    q = _live(pid, "unlink")
    if pid.__class__ is RemotePid:
        if me.ext is not None and pid in me.ext.links:
            me.ext.links.discard(pid)
            if _remote is not None:
                _remote.unlink(me.pid, pid)
        return True
    if me.ext is not None:
        me.ext.links.discard(pid)
    if q is not None and q.ext is not None and q.state != DOOMED:
        q.ext.links.discard(me.pid)  # a doomed one dies before it would handle the unlink
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
    if target.__class__ is Pid:  # the common cases, first
        q, shown = target._proc, target
    elif target.__class__ is RemotePid:  # (a call to another node's server)
        return _monitor_remote(me, target, target, k.make_ref(), alias)
    else:
        q, shown = _resolve_target(target)
    ref = k.make_ref()
    if q is None and _is_remote(target, shown):
        return _monitor_remote(me, target, shown, ref, alias)
    if q is None:
        # On the BEAM the monitor stands (in `Process.info`) until its DOWN arrives.
        me.x().monitors[ref] = (target if isinstance(target, Pid) else None, shown)
        k.after_this_step(partial(_deliver_later, me, Down(ref, shown, "noproc")))
        return ref
    if q is me:  # allowed, and never fires: a dead process reads no mail (not listed in info)
        return ref
    x = me.x()
    x.monitors[ref] = (q.pid, shown)
    qx = q.x()
    qx.monitored_by[ref] = me.pid
    if q.state == DOOMED:
        _add_late(qx, "monitor", ref)
    if alias:
        if x.aliases is None:
            x.aliases = set()
        x.aliases.add(ref)
        aliases[ref] = me
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
            aliases.pop(ref, None)
        entry = x.monitors.pop(ref, None)
        if entry is not None:
            found = True
            target, shown = entry
            q = target._proc if target is not None else None
            if q is not None and q.ext is not None:
                q.ext.monitored_by.pop(ref, None)
            elif _remote is not None and (target.__class__ is RemotePid
                                          or _is_remote(target, shown)):
                _remote.demonitor(me.pid, target if target is not None else shown, ref)
    if flush and x is not None and x.pending is not None:
        handle_pending(me, AT_RECEIVE)
    if flush and not found and me.mbox:  # a live monitor has no Down queued: nothing to scan
        mb = me.mbox
        keep = [m for m in mb if not (type(m) is Down and m.ref is ref)]
        if len(keep) != len(mb):
            mb.clear()
            mb.extend(keep)
    return found if info else True


@entry
def exit_pid(pid: Any, reason: Any) -> bool:
    """Send an exit signal with ``reason`` to ``pid`` (Elixir's ``Process.exit/2``); True."""
    me = k.current()
    if not isinstance(pid, Pid):
        if isinstance(pid, Ref):
            q = aliases.get(pid)
            if q is None:
                return True
            pid = q.pid
        else:
            raise TypeError(f"Process.exit takes a Pid, got {pid!r}")
    if pid.__class__ is RemotePid:
        if _remote is not None:  # (else unreachable: the signal is lost, as on the BEAM)
            _remote.exit(
                me.pid, pid, reason if reason.__class__ is str else k.isolated(reason), False)
        return True
    q = pid._proc
    if q is not None:
        x = me.ext
        if (q is me and x is not None and x.pending is not None
                and (not x.trap or (type(reason) is str and reason == "kill"))):
            handle_pending(me, AT_INFO)  # it takes effect now: what it sent itself comes first
        exit_signal(q, me.pid, reason if reason.__class__ is str else k.isolated(reason), False)
        raise_if_dead(me)
    return True


@entry
def trap_exit(flag: bool) -> bool:
    """Set the caller's trap_exit flag; return the old value."""
    me = k.current()
    if type(flag) is not bool:
        raise TypeError(f"trap_exit takes True or False, got {flag!r}")
    x = me.x()
    old = x.trap
    x.trap = flag
    return old


@entry
def spawn_link(fn: Callable[..., Any], *args: Any, priority: str = "normal") -> Pid:
    """Spawn ``fn(*args)`` and link it to the caller, atomically."""
    me = k.current()
    p = k.new_process(fn, args, priority)
    me.x().links.add(p.pid)
    p.x().links.add(me.pid)
    return p.pid


@entry
def spawn_monitor(fn: Callable[..., Any], *args: Any, priority: str = "normal") -> tuple[Pid, Ref]:
    """Spawn ``fn(*args)`` and monitor it, atomically; return ``(pid, ref)``."""
    me = k.current()
    p = k.new_process(fn, args, priority)
    ref = k.make_ref()
    me.x().monitors[ref] = (p.pid, p.pid)
    p.x().monitored_by[ref] = me.pid
    return p.pid, ref


@entry
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
    aliases[ref] = me
    return ref


@entry
def unalias(ref: Ref) -> bool:
    """Deactivate an alias of the caller; whether it was active."""
    me = k.current()
    x = me.ext
    if x is None or not x.aliases or ref not in x.aliases:
        return False
    x.aliases.discard(ref)
    aliases.pop(ref, None)
    return True


def is_alive(pid: Pid) -> bool:
    """Whether ``pid`` names a live process. EXITING counts as dead, and so does DOOMED: on the
    BEAM this question queues behind the signals already sent to the process, and a fatal one
    among them has ended it by the time the answer comes."""
    if not isinstance(pid, Pid):
        raise TypeError(f"alive takes a Pid, got {pid!r}")
    p = pid._proc
    if p is not None and p.state == DOOMED:
        flush_signals(p)
    return p is not None and p.state != EXITING and p.state != DOOMED


@entry
def flush(*patterns: Any) -> list[Any]:
    """Remove and return the queued messages of the caller, in order (IEx's ``flush``); with
    patterns, only those matching one of them (the others stay, in order). Never waits."""
    me = k.current()
    if me.ext is not None and me.ext.pending is not None:
        handle_pending(me, AT_RECEIVE)
    mb = me.mbox
    if not mb:
        return []
    if not patterns:
        out = list(mb)
        mb.clear()
        return out
    out = []
    keep: list[Any] = []
    for m in mb:
        (out if first_match(patterns, m) else keep).append(m)
    if out:
        mb.clear()
        mb.extend(keep)
    return out


# ---------------------------------------------------------------------------------------------
# Signals between nodes: what the kernel asks of the distribution layer, and what it does for it
# ---------------------------------------------------------------------------------------------
class RemoteSignals(Protocol):
    """What the kernel asks of the layer that carries signals to other nodes (`beamlet.dist`).

    The kernel keeps its own side of every link and monitor that involves a `RemotePid` (in the
    local process's tables, as for local ones) and tells this object what the other node must
    learn. Each method is called on the owner thread and must not block.
    """

    def link(self, local: Pid, remote: RemotePid) -> None:
        """``local`` linked itself to ``remote``."""

    def unlink(self, local: Pid, remote: RemotePid) -> None:
        """``local`` removed its link to ``remote``."""

    def exit(self, local: Pid, remote: RemotePid, reason: Any, linked: bool) -> None:
        """An exit signal from ``local`` to ``remote``: through their link when ``local``
        died (``linked``), else `Process.exit`."""

    def monitor(self, watcher: Pid, target: Any, ref: Ref) -> None:
        """``watcher`` monitors ``target`` (a `RemotePid` or ``(name, node)``) as ``ref``."""

    def demonitor(self, watcher: Pid, target: Any, ref: Ref) -> None:
        """``watcher``'s monitor ``ref`` of ``target`` is gone (demonitor, or it died)."""

    def down(self, dead: Pid, ref: Any, watcher: RemotePid, reason: Any) -> None:
        """``dead``, which the remote ``watcher`` monitored as ``ref``, died of ``reason``."""


_remote: RemoteSignals | None = None


def set_remote_signals(remote: RemoteSignals | None) -> None:
    """Install (or, with None, remove) the carrier of signals to other nodes."""
    global _remote
    _remote = remote


def _is_remote(target: Any, shown: Any) -> bool:
    """Whether a monitor's target lives on another node."""
    if target.__class__ is RemotePid:
        return True
    return (type(shown) is tuple and len(shown) == 2 and target.__class__ is not Pid
            and shown[1] != k.node_name_now())


def _monitor_remote(me: Proc, target: Any, shown: Any, ref: Ref, alias: bool) -> Ref:
    """A monitor of a process on another node; without distribution its node cannot be
    reached and the Down says "noconnection" (after the step, as a "noproc" one)."""
    x = me.x()
    x.monitors[ref] = (target if target.__class__ is RemotePid else None, shown)
    if _remote is None:
        k.after_this_step(partial(_deliver_later, me, Down(ref, shown, "noconnection")))
        return ref
    if alias:
        if x.aliases is None:
            x.aliases = set()
        x.aliases.add(ref)
        aliases[ref] = me
    _remote.monitor(me.pid, target if target.__class__ is RemotePid else shown, ref)
    return ref


def _alive(pid: Pid) -> Proc | None:
    q = pid._proc
    if q is None or q.state == EXITING or q.state == DEAD:
        return None
    return q


def link_from_remote(remote: RemotePid, local: Pid) -> bool:
    """The remote process ``remote`` linked itself to ``local``; False when ``local`` is not
    alive (the caller then answers with a "noproc" exit signal, as the BEAM does)."""
    q = _alive(local)
    if q is None:
        return False
    qx = q.x()
    if q.state == DOOMED and remote not in qx.links:
        _add_late(qx, "link", remote)
    qx.links.add(remote)
    return True


def unlink_from_remote(remote: RemotePid, local: Pid) -> None:
    """The remote ``remote`` removed its link to ``local``."""
    q = _alive(local)
    if q is not None and q.ext is not None:
        q.ext.links.discard(remote)


def exit_from_remote(remote: RemotePid, local: Pid, reason: Any, linked: bool) -> None:
    """An exit signal from ``remote`` to ``local``: through their link (``linked``: ignored
    unless the link still stands on our side, as the link protocol asks) or `Process.exit`."""
    q = _alive(local)
    if q is None:
        return
    if linked:
        x = q.ext
        if x is None or remote not in x.links:
            return
        x.links.discard(remote)
    exit_signal(q, remote, reason, linked)


def monitor_from_remote(watcher: RemotePid, target: Any, ref: Any) -> Pid | None:
    """The remote ``watcher`` monitors ``target`` (a local pid or registered name) as
    ``ref``: the pid now monitored, or None when there is no such live process (the caller
    answers with a "noproc" Down)."""
    q = _alive(target) if isinstance(target, Pid) else k.names().get(target)
    if q is None or q.state == EXITING or q.state == DEAD:
        return None
    qx = q.x()
    qx.monitored_by[ref] = watcher
    if q.state == DOOMED:
        _add_late(qx, "monitor", ref)
    return q.pid


def demonitor_from_remote(target: Pid, ref: Any) -> None:
    """The remote watcher of ``target`` turned its monitor ``ref`` off."""
    q = _alive(target)
    if q is not None and q.ext is not None:
        q.ext.monitored_by.pop(ref, None)


def down_from_remote(watcher: Pid, ref: Ref, reason: Any) -> bool:
    """The remote process that ``watcher`` monitored as ``ref`` is gone with ``reason``
    (or the connection to its node is: "noconnection"): deliver its Down, unless the monitor
    was turned off meanwhile. Whether it was delivered."""
    q = _alive(watcher)
    if q is None or q.ext is None or ref not in q.ext.monitors:
        return False
    _tell_monitor(q.ext.monitors[ref][0] or q.ext.monitors[ref][1], ref, watcher, reason)
    return True


def remote_links(local: Pid) -> list[RemotePid]:
    """The remote pids ``local`` is linked to (for the distribution's bookkeeping)."""
    q = _alive(local)
    if q is None or q.ext is None:
        return []
    return [other for other in q.ext.links if other.__class__ is RemotePid]


def record_remote_link(local: Pid, remote: RemotePid) -> bool:
    """A link between ``local`` and ``remote`` that another node set up (a spawn request
    with the ``link`` option): the kernel's side of it. False when ``local`` is gone."""
    q = _alive(local)
    if q is None:
        return False
    q.x().links.add(remote)
    return True


def record_remote_monitor(watcher: Pid, remote: RemotePid, ref: Ref) -> bool:
    """``watcher``'s monitor ``ref`` of ``remote``, which another node set up (a spawn
    request with the ``monitor`` option). False when ``watcher`` is gone."""
    q = _alive(watcher)
    if q is None:
        return False
    q.x().monitors[ref] = (remote, remote)
    return True
