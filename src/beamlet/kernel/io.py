"""Sockets served by the thread that owns the kernel, and how that thread sleeps.

The BEAM's schedulers poll the node's sockets themselves between runs of processes ("check
io"): a message that arrives is read, decoded and delivered by the thread that runs the
receiver, with no other thread in between. This module gives the kernel the same: a socket
can be *watched* (`watch`), and the owner thread then calls its callback when it is readable
or writable — between two batches of processes (`poll`, a select that does not wait) and
while it idles (the select it sleeps in).

`Wakeup` is how the idle loop sleeps. With no socket watched it is a `threading.Event`, as it
has always been (a node without sockets pays nothing); once one is, the loop sleeps in the
selector, and another thread's `set` (a hand-in) writes a byte to a socket pair the selector
watches too. `soon` queues work for the owner thread's next poll (a connection's writes of one
batch go out in one send).

Callbacks run on the owner thread between two batches, as work handed in does (never inside
`wait`: while a thread is handed off the loop holds the kernel's lock only between batches);
one that raises is logged and the loop goes on.
"""

from __future__ import annotations

import logging
import selectors
import socket
import threading
from collections.abc import Callable
from time import monotonic
from typing import Any

__all__ = ["READ", "WRITE", "Wakeup"]

log = logging.getLogger("beamlet")

READ = selectors.EVENT_READ
WRITE = selectors.EVENT_WRITE

# How long an idle owner thread polls its sockets before it sleeps (see `Wakeup._busy_wait`).
BUSY_WAIT_SECONDS = 200e-6

Callback = Callable[[int], Any]   # called with the events that are ready (READ | WRITE)


class Wakeup:
    """Wakes the idle owner thread: a `threading.Event`, or a selector once sockets are
    watched (one per node, `beamlet.kernel.node.wakeup`)."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._selector: selectors.BaseSelector | None = None
        self._signal_in: socket.socket | None = None   # the loop reads its wake-ups here
        self._signal_out: socket.socket | None = None  # other threads write them here
        self._signalled = False     # a wake-up byte is on its way (one is enough)
        self._soon: list[Callable[[], Any]] = []
        self.watching = 0           # how many sockets are watched (the loop polls if any)

    # --- the Event's interface (the scheduler's idle loop) ---------------------------------

    def set(self) -> None:
        """Wake the owner thread if it sleeps, or make its next sleep return at once."""
        if self._selector is None:
            self._event.set()
            return
        if not self._signalled:
            self._signalled = True
            try:
                assert self._signal_out is not None
                self._signal_out.send(b"\0")
            except (BlockingIOError, OSError):
                pass  # a byte is there already, or the node is closing

    def clear(self) -> None:
        self._event.clear()

    def wait(self, timeout: float | None) -> None:
        """Sleep until woken, a watched socket is ready, or ``timeout`` seconds (None: no
        limit) have passed. The ready sockets are served by the loop's next `poll`, which
        runs where the loop holds the kernel (under its lock while a thread is handed off)."""
        if self._selector is None:
            self._event.wait(timeout)
            return
        if self._soon:
            return
        selector = self._selector
        events = selector.select(0)
        if not events and timeout != 0:
            events = self._busy_wait(selector, timeout)
        for key, _ in events:
            if key.data is None:
                self._drain()

    # --- sockets (owner thread) ------------------------------------------------------------

    def watch(self, sock: socket.socket, events: int, callback: Callback) -> None:
        """Call ``callback(ready_events)`` on the owner thread whenever ``sock`` is ready
        for any of ``events`` (`READ`, `WRITE` or both); again to change them."""
        selector = self._selector or self._open()
        try:
            selector.modify(sock, events, callback)
        except KeyError:
            selector.register(sock, events, callback)
            self.watching += 1

    def unwatch(self, sock: socket.socket) -> None:
        """Stop watching ``sock`` (no error if it was not)."""
        if self._selector is None:
            return
        try:
            self._selector.unregister(sock)
        except (KeyError, ValueError):
            return
        self.watching -= 1

    def soon(self, fn: Callable[[], Any]) -> None:
        """(Owner thread) Run ``fn`` at the loop's next poll: after the running batch."""
        self._soon.append(fn)

    def poll(self) -> None:
        """Run the callbacks of the sockets ready now, and the work queued by `soon`."""
        if self._soon:
            self._run_soon()
        assert self._selector is not None
        for key, ready in self._selector.select(0):
            callback = key.data
            if callback is None:
                self._drain()
                continue
            try:
                callback(ready)
            except Exception as error:  # noqa: BLE001 - one socket's trouble stops no one
                log.error("a socket's callback failed", exc_info=error)
        if self._soon:
            self._run_soon()

    def reset(self) -> None:
        """Forget every socket and close the selector (a new node starts as an Event)."""
        self._soon.clear()
        self.watching = 0
        if self._selector is not None:
            self._selector.close()
            self._selector = None
        for end in (self._signal_in, self._signal_out):
            if end is not None:
                end.close()
        self._signal_in = self._signal_out = None
        self._signalled = False
        self._event.clear()

    # --- inside -----------------------------------------------------------------------------

    def _open(self) -> selectors.BaseSelector:
        """Switch to the selector (on the owner thread, so nobody sleeps on the Event)."""
        selector = selectors.DefaultSelector()
        self._signal_in, self._signal_out = socket.socketpair()
        self._signal_in.setblocking(False)
        self._signal_out.setblocking(False)
        selector.register(self._signal_in, READ, None)
        self._selector = selector
        if self._event.is_set():  # a wake-up given to the Event is not lost
            self.set()
        return selector

    def _busy_wait(self, selector: selectors.BaseSelector,
                   timeout: float | None) -> list[tuple[selectors.SelectorKey, int]]:
        """Poll for up to `BUSY_WAIT_SECONDS` before sleeping in the selector, as the BEAM's
        schedulers spin before they sleep (``+sbwt``): a thread that sleeps takes 50-90 µs
        to wake up when a frame arrives, longer than a reply from a node on the same host
        takes to come."""
        now = monotonic()
        spin_until = now + (BUSY_WAIT_SECONDS if timeout is None
                            else min(BUSY_WAIT_SECONDS, timeout))
        while now < spin_until:
            events = selector.select(0)
            if events:
                return events
            now = monotonic()
        if timeout is not None:
            timeout = max(0.0, timeout - BUSY_WAIT_SECONDS)
        return selector.select(timeout)

    def _drain(self) -> None:
        assert self._signal_in is not None
        try:
            while self._signal_in.recv(4096):
                pass
        except (BlockingIOError, OSError):
            pass
        self._signalled = False  # after draining: a later set() writes again

    def _run_soon(self) -> None:
        work, self._soon = self._soon, []
        for fn in work:
            try:
                fn()
            except Exception as error:  # noqa: BLE001
                log.error("work queued for the loop failed", exc_info=error)
