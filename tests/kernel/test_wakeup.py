"""`kernel.io.Wakeup`: how the idle loop sleeps once a socket is watched, and how other
threads wake it (a byte on a socket pair)."""

from __future__ import annotations

import select
import socket
import threading

import pytest

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


class SetDuringDrain:
    """The wake-up socket's reading end, where another thread calls `set` while a drain
    reads: just before its first read (``early``: the drain may take that `set`'s byte) or
    just after its last one. Either way the `set` must leave a byte for the next wait."""

    def __init__(self, sock: socket.socket, wakeup: Wakeup, early: bool) -> None:
        self.sock = sock
        self.wakeup = wakeup
        self.early = early
        self.setter: threading.Thread | None = None

    def _set_from_another_thread(self) -> None:
        self.setter = threading.Thread(target=self.wakeup.set)
        self.setter.start()
        # (a set that cannot get in while the drain holds the wake-up's lock waits for it:
        # this join then ends by its timeout, and the set comes after the drain)
        self.setter.join(0.1)

    def recv(self, size: int) -> bytes:
        if self.early and self.setter is None:
            self._set_from_another_thread()
        try:
            return self.sock.recv(size)
        except BlockingIOError:
            if self.setter is None:
                self._set_from_another_thread()
            raise

    def fileno(self) -> int:
        return self.sock.fileno()


@pytest.mark.parametrize("early", [True, False])
def test_a_set_while_the_wakeups_are_drained_is_not_lost(early: bool) -> None:
    wakeup, a, b = polling_wakeup()
    try:
        wakeup.set()
        real = wakeup._signal_in
        assert real is not None
        hooked = SetDuringDrain(real, wakeup, early)
        wakeup._signal_in = hooked  # type: ignore[assignment]
        wakeup.poll()                 # drains the first byte; the second set comes meanwhile
        wakeup._signal_in = real
        assert hooked.setter is not None
        hooked.setter.join(GUARD_SECONDS)
        # that set left a byte to wake the next wait (lost, the loop would sleep on)
        assert wakeup._poller.poll(0) == [(wakeup._signal_fd, select.POLLIN)]
        wakeup.poll()
        assert not wakeup._signalled and wakeup._poller.poll(0) == []
    finally:
        wakeup.reset()
        a.close()
        b.close()


class CountingPoller:
    """A poll object that counts its looks."""

    def __init__(self, poller: select.poll) -> None:
        self.poller = poller
        self.looks = 0

    def poll(self, *timeout: float | None) -> list[tuple[int, int]]:
        self.looks += 1
        return self.poller.poll(*timeout)

    def __getattr__(self, name: str) -> object:
        return getattr(self.poller, name)


def test_the_poll_after_a_wait_serves_what_the_wait_found_and_nothing_is_lost() -> None:
    """One look for a wake-up (the loop's `poll` right after `wait` uses what it found);
    a socket that became ready after that look is served by the next `poll`, and one
    unwatched in between is not called."""
    wakeup = Wakeup()
    served: list[str] = []
    a, b = socket.socketpair()
    c, d = socket.socketpair()
    try:
        wakeup.watch(a, READ, lambda events: served.append(a.recv(10).decode()))
        wakeup.watch(c, READ, lambda events: served.append(c.recv(10).decode()))
        counting = CountingPoller(wakeup._poller)
        wakeup._poller = counting
        b.send(b"first")
        wakeup.wait(GUARD_SECONDS, spin=False)
        d.send(b"second")              # ready after the wait looked
        wakeup.poll()
        assert served == ["first"] and counting.looks == 1  # (the wait's look)
        wakeup.poll()
        assert served == ["first", "second"] and counting.looks == 2
        b.send(b"gone")
        wakeup.wait(GUARD_SECONDS, spin=False)
        wakeup.unwatch(a)              # found ready by the wait, then no longer watched
        wakeup.poll()
        assert served == ["first", "second"]
    finally:
        wakeup.reset()
        for sock in (a, b, c, d):
            sock.close()
