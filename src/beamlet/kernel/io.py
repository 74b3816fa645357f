"""Sockets served by the thread that owns the kernel, and how that thread sleeps.

The BEAM's schedulers poll the node's sockets themselves between runs of processes ("check
io"): a message that arrives is read, decoded and delivered by the thread that runs the
receiver, with no other thread in between. This module gives the kernel the same: a socket
can be *watched* (`watch`), and the owner thread then calls its callback when it is readable
or writable — between two batches of processes (`poll`, a poll that does not wait), and
it sleeps in the same poll when it idles.

`Wakeup` is how the idle loop sleeps. With no socket watched it is a `threading.Event`, as it
has always been (a node without sockets pays nothing); once one is, the loop sleeps in
``poll(2)``, and another thread's `set` (a hand-in) writes a byte to a socket pair it
watches too. `soon` queues work for the owner thread's next poll (a connection's writes of one
batch go out in one send).

Callbacks run on the owner thread between two batches, as work handed in does (never inside
`wait`: while a thread is handed off the loop holds the kernel's lock only between batches);
one that raises is logged and the loop goes on.
"""

from __future__ import annotations

import logging
import select
import socket
import threading
from collections.abc import Callable
from time import monotonic
from typing import Any

__all__ = ["READ", "WRITE", "Wakeup"]

log = logging.getLogger("beamlet")

READ = 1
WRITE = 2
_POLL_READ = select.POLLIN | select.POLLPRI
_POLL_WRITE = select.POLLOUT
_POLL_TROUBLE = select.POLLERR | select.POLLHUP | select.POLLNVAL  # read (or write) says what

# How long an idle owner thread polls its sockets before it sleeps (see `Wakeup._busy_wait`).
BUSY_WAIT_SECONDS = 200e-6

Callback = Callable[[int], Any]   # called with the events that are ready (READ | WRITE)


def _poll_mask(events: int) -> int:
    return (_POLL_READ if events & READ else 0) | (_POLL_WRITE if events & WRITE else 0)


class Wakeup:
    """Wakes the idle owner thread: a `threading.Event`, or a poll object once sockets are
    watched (one per node, `beamlet.kernel.node.wakeup`)."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._poller: Any = None                        # select.poll() once a socket is watched
        self._callbacks: dict[int, Callback] = {}       # by file descriptor
        self._signal_in: socket.socket | None = None   # the loop reads its wake-ups here
        self._signal_out: socket.socket | None = None  # other threads write them here
        self._signal_fd = -1
        self._signalled = False     # a wake-up byte is on its way (one is enough)
        self._signal_lock = threading.Lock()   # makes "read the bytes, lower the flag" whole
        self._soon: list[Callable[[], Any]] = []
        self.watching = 0           # how many sockets are watched (the loop polls if any)
        # what the last `wait` found ready: the loop's next `poll` serves it without a second
        # look (the loop comes there at once; a socket ready since waits for the next look)
        self._ready: list[tuple[int, int]] = []

    # --- the Event's interface (the scheduler's idle loop) ---------------------------------

    def set(self) -> None:
        """Wake the owner thread if it sleeps, or make its next sleep return at once."""
        if self._poller is None:
            self._event.set()
            return
        with self._signal_lock:
            if self._signalled:
                return  # a byte is there, and no drain has taken it yet
            self._signalled = True
            try:
                assert self._signal_out is not None
                self._signal_out.send(b"\0")
            except (BlockingIOError, OSError):
                pass  # a byte is there already, or the node is closing

    def clear(self) -> None:
        if self._poller is None:
            self._event.clear()

    def wait(self, timeout: float | None, spin: bool = True) -> None:
        """Sleep until woken, a watched socket is ready, or ``timeout`` seconds (None: no
        limit) have passed; with ``spin``, poll for `BUSY_WAIT_SECONDS` first. The ready
        sockets are served by the loop's next `poll`, which runs where the loop holds the
        kernel (under its lock while a thread is handed off), from what this call found."""
        poller = self._poller
        if poller is None:
            self._event.wait(timeout)
            return
        if self._soon:
            return
        if timeout == 0:
            ready = poller.poll(0)
        elif spin:
            ready = self._busy_wait(poller, timeout)
        else:
            ready = poller.poll(None if timeout is None else timeout * 1000.0)
        signal_fd = self._signal_fd
        for fd, _ in ready:
            if fd == signal_fd:
                self._drain()
                ready = [entry for entry in ready if entry[0] != signal_fd]
                break
        self._ready = ready

    # --- sockets (owner thread) ------------------------------------------------------------

    def watch(self, sock: socket.socket, events: int, callback: Callback) -> None:
        """Call ``callback(ready_events)`` on the owner thread whenever ``sock`` is ready
        for any of ``events`` (`READ`, `WRITE` or both); again to change them."""
        poller = self._poller or self._open()
        fd = sock.fileno()
        if fd in self._callbacks:
            poller.modify(fd, _poll_mask(events))
        else:
            poller.register(fd, _poll_mask(events))
            self.watching += 1
        self._callbacks[fd] = callback

    def unwatch(self, sock: socket.socket) -> None:
        """Stop watching ``sock`` (before closing it; no error if it was not watched)."""
        fd = sock.fileno()
        if self._poller is None or self._callbacks.pop(fd, None) is None:
            return
        self._poller.unregister(fd)
        self.watching -= 1

    def soon(self, fn: Callable[[], Any]) -> None:
        """(Owner thread) Run ``fn`` at the loop's next poll: after the running batch."""
        self._soon.append(fn)

    def poll(self) -> None:
        """Run the callbacks of the sockets ready now, and the work queued by `soon`."""
        if self._soon:
            self._run_soon()
        callbacks = self._callbacks
        ready = self._ready
        if ready:
            self._ready = []
        else:
            ready = self._poller.poll(0)
        for fd, mask in ready:
            callback = callbacks.get(fd)
            if callback is None:
                if fd == self._signal_fd:
                    self._drain()
                continue
            events = (READ if mask & (_POLL_READ | _POLL_TROUBLE) else 0) | \
                (WRITE if mask & _POLL_WRITE else 0)
            try:
                callback(events)
            except Exception as error:  # noqa: BLE001 - one socket's trouble stops no one
                log.error("a socket's callback failed", exc_info=error)
        if self._soon:
            self._run_soon()

    def reset(self) -> None:
        """Forget every socket and the poll object (a new node starts as an Event)."""
        self._soon.clear()
        self._callbacks.clear()
        self._ready = []
        self.watching = 0
        self._poller = None
        for end in (self._signal_in, self._signal_out):
            if end is not None:
                end.close()
        self._signal_in = self._signal_out = None
        self._signal_fd = -1
        self._signalled = False
        self._event.clear()

    # --- inside -----------------------------------------------------------------------------

    def _open(self) -> Any:
        """Switch to polling (on the owner thread, so nobody sleeps on the Event)."""
        poller = select.poll()
        self._signal_in, self._signal_out = socket.socketpair()
        self._signal_in.setblocking(False)
        self._signal_out.setblocking(False)
        self._signal_fd = self._signal_in.fileno()
        poller.register(self._signal_fd, _POLL_READ)
        self._poller = poller
        if self._event.is_set():  # a wake-up given to the Event is not lost
            self.set()
        return poller

    def _busy_wait(self, poller: Any, timeout: float | None) -> list[tuple[int, int]]:
        """Poll for up to `BUSY_WAIT_SECONDS` before sleeping, as the BEAM's schedulers spin
        before they sleep (``+sbwt``): a thread that sleeps takes tens of µs to wake up when
        a frame arrives, longer than a reply from a node on the same host takes to come."""
        now = monotonic()
        spin_until = now + (BUSY_WAIT_SECONDS if timeout is None
                            else min(BUSY_WAIT_SECONDS, timeout))
        while now < spin_until:
            ready: list[tuple[int, int]] = poller.poll(0)
            if ready:
                return ready
            now = monotonic()
        if timeout is None:
            return poller.poll()  # type: ignore[no-any-return]
        return poller.poll(max(0.0, timeout - BUSY_WAIT_SECONDS) * 1000.0)  # type: ignore[no-any-return]

    def _drain(self) -> None:
        """Take the wake-up bytes and lower the flag, as one step for `set`: a `set` before
        it is seen by the loop's next look (which follows every drain), one after it writes
        a byte again. (Lowering the flag after the reads alone lost a `set` made in between;
        lowering it before them let the reads take the byte of a `set` that then left the
        flag up with no byte behind it.)"""
        assert self._signal_in is not None
        with self._signal_lock:
            try:
                while self._signal_in.recv(4096):
                    pass
            except (BlockingIOError, OSError):
                pass
            self._signalled = False

    def _run_soon(self) -> None:
        work, self._soon = self._soon, []
        for fn in work:
            try:
                fn()
            except Exception as error:  # noqa: BLE001
                log.error("work queued for the loop failed", exc_info=error)
