"""`kernel.io.Wakeup`: how the idle loop sleeps once a socket is watched, and how other
threads wake it (a byte on a socket pair)."""

from __future__ import annotations

import select
import socket
import threading

from beamlet.kernel.io import READ, Wakeup

GUARD_SECONDS = 30.0  # against a hang only


def polling_wakeup() -> tuple[Wakeup, socket.socket, socket.socket]:
    """A Wakeup in its polling mode: one socket of a pair watched."""
    wakeup = Wakeup()
    a, b = socket.socketpair()
    wakeup.watch(a, READ, lambda events: None)
    return wakeup, a, b


def test_a_set_from_another_thread_ends_a_wait() -> None:
    wakeup, a, b = polling_wakeup()
    try:
        setter = threading.Thread(target=wakeup.set)
        setter.start()
        setter.join()
        wakeup.wait(GUARD_SECONDS, spin=False)   # returns at once: the byte is there
        assert not wakeup._signalled
    finally:
        wakeup.reset()
        a.close()
        b.close()


class SetWhenEmpty:
    """The wake-up socket's reading end, where another thread's `set` comes in just after
    the last byte was read: the moment a drain must not lose it."""

    def __init__(self, sock: socket.socket, wakeup: Wakeup) -> None:
        self.sock = sock
        self.wakeup = wakeup
        self.done = False

    def recv(self, size: int) -> bytes:
        try:
            return self.sock.recv(size)
        except BlockingIOError:
            if not self.done:
                self.done = True
                self.wakeup.set()   # (as another thread would, between two of our reads)
            raise

    def fileno(self) -> int:
        return self.sock.fileno()


def test_a_set_while_the_wakeups_are_drained_is_not_lost() -> None:
    wakeup, a, b = polling_wakeup()
    try:
        wakeup.set()
        real = wakeup._signal_in
        assert real is not None
        wakeup._signal_in = SetWhenEmpty(real, wakeup)  # type: ignore[assignment]
        wakeup.poll()                 # drains the first byte; the second set comes meanwhile
        wakeup._signal_in = real
        # that set left a byte to wake the next wait (lost, the loop would sleep on)
        assert wakeup._poller.poll(0) == [(wakeup._signal_fd, select.POLLIN)]
    finally:
        wakeup.reset()
        a.close()
        b.close()
