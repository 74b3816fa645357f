"""Control messages: messages, links, monitors and exit signals between nodes.

The kernel keeps its side of every link and monitor that involves a remote pid and calls
`Signals` (its `RemoteSignals`) for what the other node must learn; `Signals.dispatch` does
the reverse for what arrives. The shapes are erl_dist_protocol's (see the research's section
1.7): the new link protocol with ``UNLINK_ID`` / ``UNLINK_ID_ACK``, payload exits, monitors by
pid and by name, the ``_TT`` variants with their trace token ignored.

Per node, `Signals` remembers which local processes are linked to, monitor, or are monitored
by processes there: when the connection is lost each of those ends as the BEAM ends it —
exit signals and Down messages with reason "noconnection", and the remote monitors of local
processes simply forgotten.
"""

from __future__ import annotations

import logging
from itertools import count
from typing import TYPE_CHECKING, Any

from beamlet.kernel import scheduler as _sched, signals as _signals
from beamlet.kernel.terms import Pid, Ref, RemotePid

if TYPE_CHECKING:
    from beamlet.dist.node import Dist

log = logging.getLogger("beamlet.dist")

# Control message tags (erl_dist_protocol).
LINK, SEND, EXIT, UNLINK, NODE_LINK, REG_SEND, GROUP_LEADER, EXIT2 = 1, 2, 3, 4, 5, 6, 7, 8
SEND_TT, EXIT_TT, REG_SEND_TT, EXIT2_TT = 12, 13, 16, 18
MONITOR_P, DEMONITOR_P, MONITOR_P_EXIT = 19, 20, 21
SEND_SENDER, SEND_SENDER_TT, PAYLOAD_EXIT, PAYLOAD_EXIT_TT = 22, 23, 24, 25
PAYLOAD_EXIT2, PAYLOAD_EXIT2_TT, PAYLOAD_MONITOR_P_EXIT = 26, 27, 28
SPAWN_REQUEST, SPAWN_REQUEST_TT, SPAWN_REPLY, SPAWN_REPLY_TT = 29, 30, 31, 32
ALIAS_SEND, ALIAS_SEND_TT, UNLINK_ID, UNLINK_ID_ACK = 33, 34, 35, 36

class _NoPayload:
    """The payload of a control message that has none (a value no message can be)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "NO_PAYLOAD"


NO_PAYLOAD: Any = _NoPayload()


class Signals:
    """The kernel's carrier of signals to other nodes, and the reader of those that come."""

    def __init__(self, dist: Dist) -> None:
        self.dist = dist
        self.links: dict[str, set[tuple[Pid, RemotePid]]] = {}        # node -> (local, remote)
        self.watching: dict[str, dict[Ref, Pid]] = {}                 # node -> our ref -> watcher
        self.watched: dict[str, dict[Any, tuple[Pid, str | None]]] = {}  # node -> ref -> target
        self._unlink_ids = count(1)
        self._handlers = {
            SEND: self._on_send, SEND_TT: self._on_send,
            SEND_SENDER: self._on_send, SEND_SENDER_TT: self._on_send,
            ALIAS_SEND: self._on_send, ALIAS_SEND_TT: self._on_send,
            REG_SEND: self._on_reg_send, REG_SEND_TT: self._on_reg_send,
            LINK: self._on_link, UNLINK_ID: self._on_unlink_id, UNLINK: self._on_unlink,
            UNLINK_ID_ACK: _ignore, NODE_LINK: _ignore, GROUP_LEADER: _ignore,
            EXIT: self._on_exit, EXIT_TT: self._on_exit,
            PAYLOAD_EXIT: self._on_exit, PAYLOAD_EXIT_TT: self._on_exit,
            EXIT2: self._on_exit2, EXIT2_TT: self._on_exit2,
            PAYLOAD_EXIT2: self._on_exit2, PAYLOAD_EXIT2_TT: self._on_exit2,
            MONITOR_P: self._on_monitor, DEMONITOR_P: self._on_demonitor,
            MONITOR_P_EXIT: self._on_monitor_exit, PAYLOAD_MONITOR_P_EXIT: self._on_monitor_exit,
        }

    # --- out: what the kernel tells us (RemoteSignals) ---------------------------------------

    def link(self, local: Pid, remote: RemotePid) -> None:
        self.links.setdefault(remote.node_name, set()).add((local, remote))
        self.dist.send_control(remote.node_name, (LINK, local, remote))

    def unlink(self, local: Pid, remote: RemotePid) -> None:
        node = remote.node_name
        self._forget_link(node, local, remote)
        self.dist.send_control(node, (UNLINK_ID, next(self._unlink_ids), local, remote))

    def exit(self, local: Pid, remote: RemotePid, reason: Any, linked: bool) -> None:
        node = remote.node_name
        if linked:
            if not self._forget_link(node, local, remote):
                return  # the link already ended (the other side's exit, or noconnection)
        tag = PAYLOAD_EXIT if linked else PAYLOAD_EXIT2
        self._send_quietly(node, (tag, local, remote), self.dist.encode_reason(node, reason))

    def monitor(self, watcher: Pid, target: Any, ref: Ref) -> None:
        if isinstance(target, RemotePid):
            node, wire_target = target.node_name, target
        else:
            wire_target, node = target
        self.watching.setdefault(node, {})[ref] = watcher
        # (its bytes made now and remembered, so that it is encoded in C here and when the
        # call that made it sends it twice more, as its tag and in its demonitor)
        self.dist.remember_ref(ref)
        self.dist.send_control(node, (MONITOR_P, watcher, wire_target, ref))

    def demonitor(self, watcher: Pid, target: Any, ref: Ref) -> None:
        if isinstance(target, RemotePid):
            node, wire_target = target.node_name, target
        else:
            wire_target, node = target
        if self.watching.get(node, {}).pop(ref, None) is not None:
            self._send_quietly(node, (DEMONITOR_P, watcher, wire_target, ref))

    def down(self, dead: Pid, ref: Any, watcher: RemotePid, reason: Any) -> None:
        node = watcher.node_name
        entry = self.watched.get(node, {}).pop(ref, None)
        shown = entry[1] if entry is not None and entry[1] is not None else dead
        self._send_quietly(node, (PAYLOAD_MONITOR_P_EXIT, shown, watcher, ref),
                           self.dist.encode_reason(node, reason))

    def _forget_link(self, node: str, local: Pid, remote: RemotePid) -> bool:
        pairs = self.links.get(node)
        if pairs is None or (local, remote) not in pairs:
            return False
        pairs.discard((local, remote))
        return True

    def _send_quietly(self, node: str, control: tuple[Any, ...], payload: Any = NO_PAYLOAD) -> None:
        """A signal no caller waits on (an exit of the dead, a demonitor): sent when it can be,
        logged when it cannot."""
        try:
            self.dist.send_control(node, control, payload)
        except ValueError as error:
            log.error("cannot send a signal to %s: %s", node, error)

    # --- connection lost ---------------------------------------------------------------------

    def connection_lost(self, node: str) -> None:
        """Every link and monitor through ``node`` ends with "noconnection"."""
        for local, remote in self.links.pop(node, ()):
            _signals.exit_from_remote(remote, local, "noconnection", True)
        for ref, watcher in self.watching.pop(node, {}).items():
            _signals.down_from_remote(watcher, ref, "noconnection")
        for ref, (target, _) in self.watched.pop(node, {}).items():
            _signals.demonitor_from_remote(target, ref)

    # --- in: control messages from other nodes ----------------------------------------------

    def dispatch(self, node: str, control: Any, payload: Any) -> None:
        """Act on one message from ``node``, decoded; one that is not a control message of
        the protocol is logged (a broken peer's, which stops nothing here)."""
        if control.__class__ is not tuple or not control or type(control[0]) is not int:
            log.error("invalid control message from %s: %r", node, control)
            return
        try:
            handler = self._handlers.get(control[0])
            if handler is not None:
                handler(node, control, payload)
            elif control[0] in (SPAWN_REQUEST, SPAWN_REQUEST_TT, SPAWN_REPLY, SPAWN_REPLY_TT):
                self.dist.spawning.dispatch(node, control, payload)
            else:
                log.debug("ignored control message from %s: %r", node, control)
        except (ValueError, TypeError, IndexError) as error:
            log.error("invalid control message from %s: %r (%s)", node, control, error)

    def _on_send(self, node: str, control: tuple[Any, ...], payload: Any) -> None:
        dest = control[2]
        if type(dest) is Pid or isinstance(dest, Ref):
            _sched.send_owned(dest, payload)  # decoded just now: nobody else holds it

    def _on_reg_send(self, node: str, control: tuple[Any, ...], payload: Any) -> None:
        name = control[3]
        if isinstance(name, str):
            _sched.send_owned((name, self.dist.name), payload)  # unknown names drop it

    def _on_link(self, node: str, control: tuple[Any, ...], payload: Any) -> None:
        remote, local = control[1], control[2]
        if not isinstance(remote, RemotePid):
            return
        if _signals.link_from_remote(remote, local):
            self.links.setdefault(node, set()).add((local, remote))
        else:
            self._send_quietly(node, (PAYLOAD_EXIT, local, remote), "noproc")

    def _on_unlink_id(self, node: str, control: tuple[Any, ...], payload: Any) -> None:
        unlink_id, remote, local = control[1], control[2], control[3]
        if isinstance(remote, RemotePid):
            self._forget_link(node, local, remote)
            _signals.unlink_from_remote(remote, local)
            # the acknowledgement goes before anything else we send to that process
            self._send_quietly(node, (UNLINK_ID_ACK, unlink_id, local, remote))

    def _on_unlink(self, node: str, control: tuple[Any, ...], payload: Any) -> None:
        remote, local = control[1], control[2]
        if isinstance(remote, RemotePid):
            self._forget_link(node, local, remote)
            _signals.unlink_from_remote(remote, local)

    def _on_exit(self, node: str, control: tuple[Any, ...], payload: Any) -> None:
        remote, local = control[1], control[2]
        reason = _reason(control, payload, (EXIT, EXIT_TT))
        if isinstance(remote, RemotePid) and isinstance(local, Pid):
            self._forget_link(node, local, remote)
            _signals.exit_from_remote(remote, local, reason, True)

    def _on_exit2(self, node: str, control: tuple[Any, ...], payload: Any) -> None:
        remote, local = control[1], control[2]
        reason = _reason(control, payload, (EXIT2, EXIT2_TT))
        if isinstance(remote, RemotePid) and isinstance(local, Pid):
            _signals.exit_from_remote(remote, local, reason, False)

    def _on_monitor(self, node: str, control: tuple[Any, ...], payload: Any) -> None:
        watcher, target, ref = control[1], control[2], control[3]
        if not isinstance(watcher, RemotePid):
            return
        monitored = _signals.monitor_from_remote(watcher, target, ref)
        if monitored is None:
            self._send_quietly(node, (PAYLOAD_MONITOR_P_EXIT, target, watcher, ref), "noproc")
        else:
            by_name = target if isinstance(target, str) else None
            self.watched.setdefault(node, {})[ref] = (monitored, by_name)

    def _on_demonitor(self, node: str, control: tuple[Any, ...], payload: Any) -> None:
        ref = control[3]
        entry = self.watched.get(node, {}).pop(ref, None)
        if entry is not None:
            _signals.demonitor_from_remote(entry[0], ref)

    def _on_monitor_exit(self, node: str, control: tuple[Any, ...], payload: Any) -> None:
        watcher, ref = control[2], control[3]
        reason = control[4] if control[0] == MONITOR_P_EXIT else payload
        if isinstance(ref, Ref) and self.watching.get(node, {}).pop(ref, None) is not None:
            _signals.down_from_remote(watcher, ref, reason)
        # else: a Down for a monitor turned off meanwhile, dropped as the BEAM drops it


def _reason(control: tuple[Any, ...], payload: Any, inline: tuple[int, ...]) -> Any:
    """The reason of an exit signal: in the control tuple (its last element) for the old
    forms, else the payload."""
    return control[-1] if control[0] in inline else payload


def _ignore(node: str, control: tuple[Any, ...], payload: Any) -> None:
    return None
