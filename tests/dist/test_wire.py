"""A plain connection served by the owner thread (`beamlet.dist.wire.Link`): over a socket
pair, whatever mix of small and fragmented messages one side puts arrives at the other once
each, in each sender's order, however the socket splits the bytes; a peer that closes is
reported lost once; a silent one times out on `tick`; ticks go out when nothing else does.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from beamlet.dist import etf, wire
from beamlet.dist.control import NO_PAYLOAD, SEND_SENDER
from beamlet.dist.fragments import NORMAL_HEADER, FragmentError, Outbox, Reassembler
from beamlet.dist.handshake import FRAGMENTS
from beamlet.dist.node import Dist
from beamlet.dist.wire import Link, _split
from beamlet.kernel.io import READ, WRITE
from beamlet.kernel.node import wakeup

READ_WRITE = READ | WRITE

SENDERS = [etf.ExtPid("a@vm", n, 0, 1) for n in range(3)]
DEFAULT_SOCKET_BUFFER = 1 << 18
RECEIVER = etf.ExtPid("b@vm", 9, 0, 1)


class FakeDist:
    """What a Link asks of its distribution: frames and dispatch (decoded as `Dist` decodes:
    the usual messages in C, the others from their bodies), loss."""

    def __init__(self) -> None:
        self.codec = etf.Codec()
        self.received: list[tuple[Any, Any]] = []
        self.lost: list[Link] = []

    def dispatch(self, peer_name: str, body: bytes) -> None:
        self.received.append(Dist._decode(self, body))  # type: ignore[arg-type]

    def _decode_preset(self, message: Any) -> tuple[Any, Any]:
        return Dist._decode_preset(self, message)  # type: ignore[arg-type]

    def frame_decoder(self) -> Any:
        return Dist.frame_decoder(self)  # type: ignore[arg-type]

    def dispatch_decoded(self, peer_name: str, control: Any, payload: Any) -> None:
        self.received.append((control, payload))

    def disconnect_now(self, peer_name: str) -> None:
        raise AssertionError(f"a valid stream was refused from {peer_name}")

    def link_lost(self, link: Link) -> None:
        self.lost.append(link)


@contextmanager
def linked(flags: int, buffer_size: int | None,
           ) -> Iterator[tuple[Link, FakeDist, Link, FakeDist]]:
    """Two started Links over a socket pair, made with socket buffers of ``buffer_size``
    (`wire.set_socket_buffer`, put back after), each with its FakeDist; closed after."""
    ours, theirs = socket.socketpair()
    a_dist, b_dist = FakeDist(), FakeDist()
    wire.set_socket_buffer(buffer_size)
    try:
        a = Link(a_dist, "b@vm", ours, flags, None)  # type: ignore[arg-type]
        b = Link(b_dist, "a@vm", theirs, flags, None)  # type: ignore[arg-type]
    finally:
        wire.set_socket_buffer(DEFAULT_SOCKET_BUFFER)
    a.start()
    b.start()
    try:
        yield a, a_dist, b, b_dist
    finally:
        a.close()
        b.close()
        wakeup.reset()


@pytest.fixture(params=[FRAGMENTS, 0], ids=["fragments", "pass-through"])
def pair(request: pytest.FixtureRequest) -> Iterator[tuple[Link, FakeDist, Link, FakeDist]]:
    # small buffers: partial writes and split frames happen
    with linked(request.param, 8192) as links:
        assert links[0].sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF) < 65536
        yield links


def serve_until(done: Any, polls: int = 100_000) -> None:
    """Poll the watched sockets (as the owner thread's loop does) until ``done()``."""
    for _ in range(polls):
        if done():
            return
        wakeup.poll()
    raise AssertionError("the messages did not arrive")


sizes = st.lists(st.tuples(st.integers(0, 2), st.sampled_from([0, 10, 3_000, 70_000, 300_000])),
                 min_size=1, max_size=25)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(messages=sizes, prefix=st.binary(max_size=3))
def test_every_message_arrives_once_in_each_senders_order(
        pair: tuple[Link, FakeDist, Link, FakeDist], messages: list[tuple[int, int]],
        prefix: bytes) -> None:
    a, _, _, b_dist = pair
    b_dist.received.clear()
    sent = []
    for number, (sender, size) in enumerate(messages):
        payload = (number, prefix * size if prefix else bytes(size))
        control = (SEND_SENDER, SENDERS[sender], RECEIVER)
        a.put(etf.encode(control), etf.encode(payload), SENDERS[sender])
        sent.append((control, payload))
    serve_until(lambda: len(b_dist.received) >= len(sent))
    wakeup.poll()  # (nothing more may come)
    assert len(b_dist.received) == len(sent)
    for sender in SENDERS:
        assert [m for m in b_dist.received if m[0][1] == sender] == \
            [m for m in sent if m[0][1] == sender]


body_kinds = st.one_of(
    st.tuples(st.just("message"), st.integers(0, 2), st.one_of(
        st.none(), st.integers(), st.text(max_size=5), st.binary(max_size=40),
        st.lists(st.integers(0, 300), max_size=5), st.just(("EXIT", "x", "y")))),
    st.tuples(st.just("control only"), st.integers(0, 2), st.none()),
    st.tuples(st.just("pickle"), st.integers(0, 2), st.binary(max_size=8)),
    st.tuples(st.just("compressed"), st.integers(0, 2), st.none()),
    st.tuples(st.just("other"), st.just(0), st.binary(max_size=12)),  # fragments, junk
    st.tuples(st.just("tick"), st.just(0), st.none()),
)


def frame_of(kind: str, sender: int, value: Any) -> bytes:
    codec = etf.Codec()
    control = codec.encode((SEND_SENDER, SENDERS[sender], RECEIVER))[1:]
    body = {"message": lambda: NORMAL_HEADER + control + codec.encode(value)[1:],
            "control only": lambda: NORMAL_HEADER + control,
            "pickle": lambda: NORMAL_HEADER + control + b"\x80" + value,
            "compressed": lambda: NORMAL_HEADER + control
            + codec.encode(b"z" * 300, compressed=6)[1:],
            "other": lambda: b"\x83E" + value,
            "tick": lambda: b""}[kind]()
    return len(body).to_bytes(4, "big") + body


@settings(max_examples=200, deadline=None)
@given(st.lists(body_kinds, max_size=8), st.integers(0, 10**6), st.integers(4, 200))
def test_frames_decoded_in_c_are_what_the_bodies_decode_to(bodies, cut, largest) -> None:
    """(`Dist.frame_decoder`: whole messages decoded where they lie, the rest left as bodies.)"""
    data = b"".join(frame_of(*body) for body in bodies)
    data = data[:cut % (len(data) + 1)]
    dist = FakeDist()
    found = dist.frame_decoder()(bytearray(data), largest, False)
    assert found is not None
    start, bodies_alone = _split(data)
    assert found[0] == start
    kinds = [kind for kind, _, _ in bodies if kind != "tick"][:len(bodies_alone)]
    for item, body, kind in zip(found[1], bodies_alone, kinds, strict=True):
        if kind in ("message", "control only") and len(body) <= largest:
            assert type(item) is tuple  # decoded in C
            want = Dist._decode(dist, body)  # type: ignore[arg-type]
            assert item == want and type(item[1]) is type(want[1])
        else:
            assert item == body  # left to Python


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=60), st.lists(st.binary(max_size=30), max_size=4))
def test_any_bytes_give_the_frames_split_gives_decoded_or_not(prefix, junk_bodies) -> None:
    """(Hostile input: `Dist.frame_decoder` never fails; a body it cannot decode stays a body.)"""
    data = prefix + b"".join((3 + len(body)).to_bytes(4, "big") + NORMAL_HEADER + body
                             for body in junk_bodies)
    found = FakeDist().frame_decoder()(data, 1 << 20, True)
    assert found is not None
    start, bodies_alone = _split(data)
    assert found[0] == start and len(found[1]) == len(bodies_alone)
    for item, body in zip(found[1], bodies_alone, strict=True):
        assert type(item) is tuple or item == body


def framed(outbox: Outbox) -> bytes:
    """Everything ``outbox`` holds, as the u32-length frames a connection writes."""
    frames = []
    while (body := outbox.next_chunk()) is not None:
        frames.append(len(body).to_bytes(4, "big") + body)
    return b"".join(frames)


def put_numbered(outbox: Outbox, messages: list[tuple[int, int]]) -> list[tuple[Any, Any]]:
    """Put ``(sender, size)`` messages, each numbered; what was sent, as it should arrive."""
    sent = []
    for number, (sender, size) in enumerate(messages):
        control = (SEND_SENDER, SENDERS[sender], RECEIVER)
        payload = (number, bytes(range(256)) * (size // 256) + bytes(size % 256), [sender])
        outbox.put(etf.encode(control), etf.encode(payload), SENDERS[sender])
        sent.append((control, payload))
    return sent


@settings(max_examples=150, deadline=None)
@given(messages=st.lists(st.tuples(st.integers(0, 2), st.integers(0, 700)), min_size=1,
                         max_size=10),
       max_fragment=st.integers(30, 300),
       cuts=st.lists(st.integers(0, 10**6), max_size=6))
def test_fragmented_messages_arrive_as_sent_whether_read_whole_or_in_pieces(
        messages: list[tuple[int, int]], max_fragment: int, cuts: list[int]) -> None:
    """A read that holds a whole fragmented message has it decoded in C (`decode_frames`
    with ``sequences``); one that holds part of it leaves it to the reassembler, and the
    fragments of others interleave: every message arrives once, in each sender's order."""
    outbox = Outbox(max_fragment=max_fragment)
    sent = put_numbered(outbox, messages)
    stream = framed(outbox)
    points = sorted({cut % (len(stream) + 1) for cut in cuts} | {0, len(stream)})
    ours, theirs = socket.socketpair()
    dist = FakeDist()
    link = Link(dist, "a@vm", ours, FRAGMENTS, None)  # type: ignore[arg-type]
    try:
        for begin, end in zip(points, points[1:], strict=False):
            theirs.sendall(stream[begin:end])
            link._receive()
    finally:
        link.close()
        theirs.close()
        wakeup.reset()
    assert sorted(dist.received, key=lambda m: m[1][0]) == sent
    for sender in SENDERS:
        assert [m for m in dist.received if m[0][1] == sender] == \
            [m for m in sent if m[0][1] == sender]


def test_a_whole_sequence_in_a_read_is_one_item_unless_something_comes_between() -> None:
    outbox = Outbox(max_fragment=100)
    sent = put_numbered(outbox, [(0, 500), (1, 400)])  # two sequences, interleaved
    interleaved = framed(outbox)
    outbox = Outbox(max_fragment=100)
    sent_alone = put_numbered(outbox, [(0, 500)])
    alone = framed(outbox)
    dist = FakeDist()
    for data, sequences, want in (
            (alone, True, sent_alone),       # decoded in C, as one item
            (alone + alone, True, sent_alone * 2),
            (alone, False, None),            # asked not to: the fragments as they came
            (interleaved, True, None),       # another sequence between its fragments
            (alone[:-1], True, None)):       # its last fragment not all there
        found = dist.frame_decoder()(data, 1 << 20, sequences)
        assert found is not None
        start, bodies = _split(data)
        assert found[0] == start
        if want is None:
            assert found[1] == bodies
        else:
            assert found[1] == want
    assert sent[0][1][0] == 0  # (the interleaved messages were numbered as sent)


class _ArrivesBehind:
    """A socket whose first read has ``behind`` sent by the peer right after it."""

    def __init__(self, sock: socket.socket, peer: socket.socket, behind: bytes) -> None:
        self.sock, self.peer, self.behind = sock, peer, behind

    def recv_into(self, buffer: Any) -> int:
        size = self.sock.recv_into(buffer)
        if self.behind:
            self.peer.sendall(self.behind)
            self.behind = b""
        return size

    def __getattr__(self, name: str) -> Any:
        return getattr(self.sock, name)


@pytest.mark.parametrize("cut", ["after its first fragment", "inside its first fragment"])
def test_the_rest_of_a_message_right_behind_is_read_in_the_same_turn(cut: str) -> None:
    """OTP's 100 KB message comes in two fragments, often in two reads: when a read leaves a
    frame or a fragmented message unfinished, the connection reads again at once."""
    outbox = Outbox(max_fragment=100)
    sent = put_numbered(outbox, [(0, 150)])
    stream = framed(outbox)
    first_end = 4 + int.from_bytes(stream[:4], "big")
    point = first_end if cut == "after its first fragment" else first_end - 10
    ours, theirs = socket.socketpair()
    dist = FakeDist()
    link = Link(dist, "a@vm", ours, FRAGMENTS, None)  # type: ignore[arg-type]
    try:
        theirs.sendall(stream[:point])
        link.sock = _ArrivesBehind(ours, theirs, stream[point:])  # type: ignore[assignment]
        link._ready(READ)
        assert dist.received == sent
    finally:
        link.close()
        theirs.close()
        wakeup.reset()


def messages_of(data: bytes, sequences: bool) -> list[Any]:
    """The messages of a stream as a connection makes them: `Dist.frame_decoder`, then the
    reassembler and the Python decoder for what it leaves as bodies."""
    dist = FakeDist()
    found = dist.frame_decoder()(data, 1 << 20, sequences)
    assert found is not None and found[0] == _split(data)[0]
    reassembler = Reassembler()
    messages = []
    for item in found[1]:
        if type(item) is tuple:
            messages.append(item)
        elif (message := reassembler.feed(item)) is not None:
            messages.append(Dist._decode(dist, message))  # type: ignore[arg-type]
    return messages


@settings(max_examples=300, deadline=None)
@given(messages=st.lists(st.tuples(st.integers(0, 2), st.integers(0, 400)), min_size=1,
                         max_size=5),
       spot=st.integers(0, 10**6), byte=st.integers(0, 255))
def test_a_stream_with_a_byte_changed_gives_what_the_reassembler_would(
        messages: list[tuple[int, int]], spot: int, byte: int) -> None:
    """(Hostile input: a sequence the C decoder takes whole is one the reassembler would
    give back the same; where the reassembler refuses, the C decoder leaves it alone.)"""
    outbox = Outbox(max_fragment=64)
    put_numbered(outbox, messages)
    stream = bytearray(framed(outbox))
    stream[spot % len(stream)] = byte
    data = bytes(stream)
    try:
        expected = messages_of(data, False)
    except (FragmentError, etf.ETFError) as error:
        with pytest.raises(type(error)):
            messages_of(data, True)
    else:
        assert messages_of(data, True) == expected


def test_one_turn_writes_at_most_the_send_budget_and_the_rest_follows(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A big message to a peer that reads as fast as it comes: one `_send` stops after about
    `_SEND_BUDGET` bytes (so the loop serves its other sockets and processes meanwhile) and
    asks to hear when the socket is writable; the polls that follow write the rest."""
    monkeypatch.setattr(wire, "_BIG_MESSAGE_SEND_BUFFER", 8 << 20)
    # room for all of it: only the budget can stop a turn
    with linked(FRAGMENTS, 8 << 20) as (sender, _, receiver, dist):
        control = (SEND_SENDER, SENDERS[0], RECEIVER)
        payload = bytes(range(256)) * 16_384  # 4 MiB
        sender.put(etf.encode(control), etf.encode(payload), SENDERS[0])
        sender.flush_due = False
        sender._send()
        written = len(receiver.sock.recv(64 << 20, socket.MSG_PEEK))
        assert wire._SEND_BUDGET <= written < wire._SEND_BUDGET + (1 << 19)
        assert sender.events & READ_WRITE == READ_WRITE  # (it goes on when writable)
        serve_until(lambda: len(dist.received) == 1)
        assert dist.received == [(control, payload)]


def send_buffers_around_a_big_message(size: int | None) -> tuple[int, int, int]:
    """A connection made with socket buffers of ``size``: its SO_SNDBUF before a 1 MiB
    message (fragments), while it goes out, and after it and a small one have arrived."""
    def send_buffer(sock: socket.socket) -> int:
        return int(sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF))

    with linked(FRAGMENTS, size) as (sender, _, _, dist):
        before = send_buffer(sender.sock)
        control = (SEND_SENDER, SENDERS[0], RECEIVER)
        payload = bytes(range(256)) * 4096   # 1 MiB: fragments
        sender.put(etf.encode(control), etf.encode(payload), SENDERS[0])
        sender.flush_due = False
        sender._send()
        during = send_buffer(sender.sock)
        serve_until(lambda: len(dist.received) == 1)
        sender.put(etf.encode(control), etf.encode("after"), SENDERS[0])
        serve_until(lambda: len(dist.received) == 2)
        assert dist.received == [(control, payload), (control, "after")]
        return before, during, send_buffer(sender.sock)


def test_the_send_buffer_is_small_while_fragments_go_out_and_its_own_after() -> None:
    """While a message too big for one frame goes out, the socket's send buffer is
    `_BIG_MESSAGE_SEND_BUFFER` (what is sent meanwhile waits behind less of it); once all is
    written, the connection's own again. With the OS's buffers (None) it is never touched."""
    before, during, after = send_buffers_around_a_big_message(DEFAULT_SOCKET_BUFFER)
    assert during <= 2 * wire._BIG_MESSAGE_SEND_BUFFER < before == after
    before, during, after = send_buffers_around_a_big_message(None)
    assert before == during == after


def test_a_connection_takes_the_socket_buffers_set_and_refuses_nonsense() -> None:
    ours, theirs = socket.socketpair()
    try:
        for size in (32768, DEFAULT_SOCKET_BUFFER):
            wire.set_socket_buffer(size)
            Link(FakeDist(), "b@vm", ours, FRAGMENTS, None)  # type: ignore[arg-type]
            # (Linux keeps twice what is asked, for its own bookkeeping)
            assert size <= ours.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF) <= 2 * size
            assert size <= ours.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) <= 2 * size
        for nonsense in (0, -1, 1.5, "big"):
            with pytest.raises(ValueError, match="positive number of bytes or None"):
                wire.set_socket_buffer(nonsense)  # type: ignore[arg-type]
    finally:
        wire.set_socket_buffer(DEFAULT_SOCKET_BUFFER)
        ours.close()
        theirs.close()


def test_a_control_message_without_payload(pair: tuple[Link, FakeDist, Link, FakeDist]) -> None:
    a, _, _, b_dist = pair
    a.put(etf.encode((3, SENDERS[0], RECEIVER)), b"", SENDERS[0])  # LINK
    serve_until(lambda: b_dist.received)
    assert b_dist.received == [((3, SENDERS[0], RECEIVER), NO_PAYLOAD)]


def test_a_peer_that_closes_is_lost_once(pair: tuple[Link, FakeDist, Link, FakeDist]) -> None:
    a, a_dist, b, _ = pair
    b.close()
    serve_until(lambda: a_dist.lost)
    wakeup.poll()
    assert a_dist.lost == [a] and a.closed


def test_ticks_go_out_and_a_silent_peer_times_out(
        pair: tuple[Link, FakeDist, Link, FakeDist]) -> None:
    a, a_dist, b, b_dist = pair
    b.last_received = 0.0
    a.last_sent = 0.0  # nothing sent for long: the next tick check sends one
    a.tick(net_ticktime=60)
    serve_until(lambda: b.last_received > 0.0)
    assert not b_dist.received  # a tick is no message
    a.last_received = 0.0  # silent for longer than net_ticktime
    a.tick(net_ticktime=60)
    assert a_dist.lost == [a] and a.closed
