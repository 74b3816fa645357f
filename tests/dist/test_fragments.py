"""Fragmented distribution messages (`beamlet.dist.fragments`): split and reassembly give the
message back whatever the fragment size and however sequences interleave, the outbox keeps the
order of each key and lets small messages pass a big one, hostile frames only ever raise
`FragmentError`, and a real Elixir node's fragments reassemble while ours reach it intact.
"""

from __future__ import annotations

import asyncio
import hashlib
import struct
from collections.abc import Callable
from typing import Any

import erlang_nodes
import pytest
from erlang_nodes import COOKIE, HOST, REG_SEND, SEND_SENDER, Cluster, our_pid
from hypothesis import HealthCheck, given, settings, strategies as st

from beamlet.dist import etf, handshake as hs
from beamlet.dist.fragments import (
    DEFAULT_FRAGMENT_SIZE,
    FragmentError,
    Outbox,
    PresetMessage,
    Reassembler,
    fragment_count,
    pass_through,
    split,
    whole,
)

cluster = erlang_nodes.cluster  # the fixture: real nodes on an EPMD port of the test's own

SENDER = etf.ExtPid("py@vm", 7, 0, 3)
RECEIVER = etf.ExtPid("ex@vm", 42, 0, 5)
CONTROL = etf.encode((SEND_SENDER, SENDER, RECEIVER))
HEADER = 18  # 131, tag, SequenceId:u64, FragmentId:u64
HUNDRED_MB = 100_000_000

u32 = st.integers(0, 2**32 - 1)
leaves = (
    st.integers(-(2**70), 2**70) | st.integers(0, 255)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20) | st.text(alphabet="é日x", min_size=100, max_size=255)
    | st.binary(max_size=30) | st.none() | st.booleans()
    | st.builds(etf.ExtPid, st.sampled_from(["py@vm", "日本@host.example"]), u32, u32, u32)
    | st.builds(etf.ExtRef, st.sampled_from(["ex@vm"]), u32,
                st.lists(u32, min_size=1, max_size=5).map(tuple))
)
# Control terms as the distribution's (tuples of integers, atoms, pids, refs) and stranger
# ones (lists, binaries, big integers, floats nested anywhere): `feed` must find the end of
# each to give the message back in pass-through form.
control_terms = st.builds(
    lambda tag, extra: etf.encode((tag, SENDER, RECEIVER, *extra)),
    st.sampled_from([2, 6, 22, 33]),
    st.lists(st.recursive(leaves, lambda inner: st.tuples(inner, inner) | st.lists(inner),
                          max_leaves=6), max_size=3).map(tuple),
)
payloads = st.just(b"") | st.builds(
    etf.encode,
    st.binary(max_size=3000)
    | st.tuples(st.integers(), st.text(max_size=50), st.binary(max_size=600)),
)
fragment_sizes = st.integers(1, 400)


def fragment_header(frame: bytes) -> tuple[int, int, int]:
    """(tag, SequenceId, FragmentId) of a fragment frame."""
    assert frame[0] == 131 and frame[1] in (69, 70), frame[:2]
    sequence_id, fragment_id = struct.unpack_from(">QQ", frame, 2)
    return frame[1], sequence_id, fragment_id


def message_bytes(frame: bytes) -> bytes:
    """What a frame carries of control and payload, its header left out."""
    if frame[1] == 68:
        return frame[3:]
    return frame[HEADER + 1 :] if frame[1] == 69 else frame[HEADER:]


def payload_with(index: int, size: int) -> bytes:
    """A payload that says which message it is: ``(index, <<size bytes>>)``."""
    return etf.encode((index, bytes([index % 256]) * size))


def index_of(message: bytes) -> int:
    """The index in a reassembled pass-through message made by `payload_with`."""
    _, end = etf.decode_prefix(message, 1)
    return int(etf.decode(message[end:])[0])


# --- split ---------------------------------------------------------------------------------------


def test_a_message_that_fits_is_one_frame_with_the_normal_header() -> None:
    payload = etf.encode(("hello", 1))
    assert split(CONTROL, payload, 9, max_fragment=1000) == [
        bytes([131, 68, 0]) + CONTROL[1:] + payload[1:]
    ]
    assert whole(CONTROL, payload) == bytes([131, 68, 0]) + CONTROL[1:] + payload[1:]
    assert pass_through(CONTROL, payload) == b"p" + CONTROL + payload
    assert whole(CONTROL) == bytes([131, 68, 0]) + CONTROL[1:]  # a control message alone


def test_fragment_headers_are_the_layout_of_erl_ext_dist() -> None:
    """The docs' example: SequenceId 0x000002a800000553, two fragments; the first fragment's
    header has NumberOfAtomCacheRefs 0 and then the control term without its 131 byte."""
    sequence_id = 0x2A8_0000_0553
    payload = etf.encode(bytes(200))
    first, second = split(CONTROL, payload, sequence_id, max_fragment=128)
    assert list(first[:19]) == [131, 69, 0, 0, 2, 168, 0, 0, 5, 83, 0, 0, 0, 0, 0, 0, 0, 2, 0]
    assert first[19 : 19 + len(CONTROL) - 1] == CONTROL[1:]
    assert len(first) == 19 + 128
    assert list(second[:18]) == [131, 70, 0, 0, 2, 168, 0, 0, 5, 83, 0, 0, 0, 0, 0, 0, 0, 1]
    assert first[19:] + second[18:] == CONTROL[1:] + payload[1:]


@settings(max_examples=200, deadline=None)
@given(control_terms, payloads, fragment_sizes, st.integers(0, 2**64 - 1))
def test_split_then_reassemble_gives_the_message_back(
    control: bytes, payload: bytes, max_fragment: int, sequence_id: int
) -> None:
    frames = split(control, payload, sequence_id, max_fragment)
    assert len(frames) == fragment_count(control, payload, max_fragment)
    assert b"".join(map(message_bytes, frames)) == control[1:] + payload[1:]
    if len(frames) > 1:
        headers = [fragment_header(frame) for frame in frames]
        assert headers == [
            (69 if i == 0 else 70, sequence_id, len(frames) - i) for i in range(len(frames))
        ]
        assert control[1:] in frames[0]  # the control term is whole in the first fragment
        for frame in frames:  # no fragment carries more than max_fragment payload bytes
            assert len(message_bytes(frame)) <= max(max_fragment, len(control) - 1)
    reassembler = Reassembler()
    results = [reassembler.feed(frame) for frame in frames]
    assert results[:-1] == [None] * (len(frames) - 1)
    assert results[-1] == pass_through(control, payload)
    assert reassembler.open_sequences == 0 and reassembler.buffered_bytes == 0


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.tuples(control_terms, payloads), min_size=1, max_size=6),
    st.integers(16, 400),
    st.data(),
)
def test_interleaved_sequences_and_whole_messages_reassemble(
    messages: list[tuple[bytes, bytes]], max_fragment: int, data: st.DataObject
) -> None:
    """Frames of several messages, each message's in order, shuffled together in any way."""
    pending = [
        list(split(control, payload, 1000 + i, max_fragment))
        for i, (control, payload) in enumerate(messages)
    ]
    reassembler = Reassembler()
    completed: dict[int, bytes] = {}
    while any(pending):
        index = data.draw(st.sampled_from([i for i, frames in enumerate(pending) if frames]))
        result = reassembler.feed(pending[index].pop(0))
        assert (result is not None) == (not pending[index])  # complete with its last frame
        if result is not None:
            completed[index] = result
    assert completed == {i: pass_through(c, p) for i, (c, p) in enumerate(messages)}


def test_a_control_term_larger_than_a_fragment_goes_whole_in_the_first() -> None:
    control = etf.encode((SEND_SENDER, SENDER, RECEIVER, bytes(300)))
    payload = etf.encode(bytes(100))
    frames = split(control, payload, 1, max_fragment=64)
    assert message_bytes(frames[0]) == control[1:]  # no room left for payload
    assert len(frames) == 1 + -(-(len(payload) - 1) // 64)
    reassembler = Reassembler()
    assert [reassembler.feed(frame) for frame in frames][-1] == pass_through(control, payload)


def test_split_refuses_what_is_not_etf_and_bad_numbers() -> None:
    with pytest.raises(ValueError, match="control"):
        split(CONTROL[1:], b"", 1)
    with pytest.raises(ValueError, match="payload"):
        split(CONTROL, b"\x00\x01", 1)
    with pytest.raises(ValueError, match="max_fragment"):
        split(CONTROL, b"", 1, max_fragment=0)
    with pytest.raises(ValueError, match="sequence_id"):
        split(CONTROL, etf.encode(bytes(100)), 2**64, max_fragment=10)
    with pytest.raises(ValueError, match="max_fragment"):
        Outbox(max_fragment=0)


# --- the reassembler against hostile frames ------------------------------------------------------


def fragments_of(sequence_id: int = 5, size: int = 1000, max_fragment: int = 100) -> list[bytes]:
    return split(CONTROL, etf.encode(bytes(size)), sequence_id, max_fragment)


def continuation(sequence_id: int, fragment_id: int, data: bytes = b"xx") -> bytes:
    return bytes([131, 70]) + struct.pack(">QQ", sequence_id, fragment_id) + data


@pytest.mark.parametrize(
    ("frames", "error"),
    [
        ([continuation(5, 1)], "has not begun"),
        (fragments_of()[:1] + [continuation(5, 3)], "where 10 was due"),
        (fragments_of()[:2] + fragments_of()[:1], "started again"),
        (fragments_of()[:1] + [continuation(5, 0)], "fragment id 0"),
        ([b""], "0 bytes"),
        ([b"\x83"], "1 bytes"),
        ([b"\x00\x83"], "not 112 nor 131"),
        ([b"p\x00"], "pass-through"),
        ([b"\x83\x71abc"], "unknown distribution header tag 113"),
        ([bytes([131, 68])], "cut short"),
        ([bytes([131, 68, 1, 0, 0])], "atom cache refs"),
        ([bytes([131, 68, 0])], "without a control term"),
        ([bytes([131, 68, 0, 104, 9])], "control term does not decode"),
        ([bytes([131, 68, 0, 82, 0])], "control term does not decode"),  # ATOM_CACHE_REF
        ([bytes([131, 69, 0, 0])], "cut short"),
        ([fragments_of()[0][:18]], "cut short"),
        ([fragments_of()[0][:19]], "without control"),
        ([fragments_of()[0][:18] + b"\x02" + CONTROL[1:]], "atom cache refs"),
        ([continuation(5, 1)[:17]], "cut short"),
    ],
)
def test_protocol_breaks_raise_fragment_error(frames: list[bytes], error: str) -> None:
    reassembler = Reassembler()
    for frame in frames[:-1]:
        assert reassembler.feed(frame) is None
    with pytest.raises(FragmentError, match=error):
        reassembler.feed(frames[-1])


def test_a_broken_sequence_is_forgotten_and_the_others_go_on() -> None:
    reassembler = Reassembler()
    good, bad = fragments_of(1), fragments_of(2)
    assert reassembler.feed(good[0]) is None
    assert reassembler.feed(bad[0]) is None
    with pytest.raises(FragmentError):
        reassembler.feed(bad[2])  # skips fragment 9
    with pytest.raises(FragmentError, match="has not begun"):
        reassembler.feed(bad[1])  # sequence 2 is gone
    results = [reassembler.feed(frame) for frame in good[1:]]
    assert results[-1] == pass_through(CONTROL, etf.encode(bytes(1000)))
    assert reassembler.open_sequences == 0 and reassembler.buffered_bytes == 0


def test_a_message_beyond_max_message_bytes_is_refused() -> None:
    reassembler = Reassembler(max_message_bytes=500)
    frames = fragments_of(size=1000)
    with pytest.raises(FragmentError, match="max_message_bytes=500"):
        for frame in frames:
            reassembler.feed(frame)
    assert reassembler.open_sequences == 0 and reassembler.buffered_bytes == 0
    with pytest.raises(FragmentError, match="max_message_bytes"):
        reassembler.feed(whole(CONTROL, etf.encode(bytes(600))))
    with pytest.raises(FragmentError, match="max_message_bytes"):
        reassembler.feed(pass_through(CONTROL, etf.encode(bytes(600))))
    small = etf.encode(bytes(100))
    assert reassembler.feed(whole(CONTROL, small)) == pass_through(CONTROL, small)


def test_incomplete_messages_together_are_bounded_by_max_buffered_bytes() -> None:
    reassembler = Reassembler(max_message_bytes=2000, max_buffered_bytes=1300)
    for sequence_id in range(1, 4):  # each first fragment buffers 100 bytes
        assert reassembler.feed(fragments_of(sequence_id)[0]) is None
    assert reassembler.buffered_bytes == 300
    with pytest.raises(FragmentError, match="max_buffered_bytes=1300"):
        for frame in fragments_of(9):  # 1,035 bytes more
            reassembler.feed(frame)
    assert reassembler.open_sequences == 3 and reassembler.buffered_bytes == 300
    for sequence_id in range(1, 4):  # the others finish, which frees their bytes
        assert [reassembler.feed(frame) for frame in fragments_of(sequence_id)[1:]][-1]
    assert reassembler.buffered_bytes == 0
    assert [reassembler.feed(frame) for frame in fragments_of(9)][-1]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=60), max_size=6), st.data())
def test_garbage_only_ever_raises_fragment_error(garbage: list[bytes], data: st.DataObject) -> None:
    """Random frames, and valid ones with bytes flipped or cut, mixed."""
    valid = fragments_of(3, size=300, max_fragment=64)
    frames = list(garbage)
    for frame in valid:
        cut = data.draw(st.integers(0, len(frame)))
        flip = data.draw(st.integers(0, len(frame) - 1))
        frames.append(data.draw(st.sampled_from([
            frame, frame[:cut], frame[:flip] + bytes([frame[flip] ^ 0xFF]) + frame[flip + 1 :],
        ])))
    reassembler = Reassembler(max_message_bytes=10_000)
    for frame in data.draw(st.permutations(frames)):
        try:
            result = reassembler.feed(frame)
        except FragmentError:
            continue
        assert result is None or result[:2] == b"p\x83"
    assert reassembler.buffered_bytes >= 0


apart_payloads = st.recursive(
    st.binary(min_size=0, max_size=400) | st.integers() | st.text(max_size=3),
    lambda inner: st.lists(inner, max_size=3) | st.lists(inner, max_size=3).map(tuple)
    | st.dictionaries(st.text(max_size=2), inner, max_size=2),
    max_leaves=6)


@settings(max_examples=200, deadline=None)
@given(control_terms, apart_payloads, st.integers(16, 200), st.integers(1, 300))
def test_a_big_binary_received_apart_decodes_as_the_whole_message(
    control: bytes, value: Any, max_fragment: int, apart_from: int
) -> None:
    """(`binaries_apart`: the first big binary fills its own bytes object as fragments come.)"""
    payload = etf.encode(value)
    frames = split(control, payload, 7, max_fragment)
    plain, apart = Reassembler(), Reassembler(binaries_apart=apart_from)
    whole_message = [plain.feed(frame) for frame in frames][-1]
    got = [apart.feed(frame) for frame in frames][-1]
    assert whole_message == pass_through(control, payload)
    codec = etf.Codec()
    if isinstance(got, PresetMessage):
        assert len(frames) > 1 and len(got.preset[1]) >= apart_from
        head, end = codec.decode_prefix(got.message, 1)
        assert codec.decode_prefix(got.message, end, preset=got.preset)[0] == value
        assert head == etf.decode(control)
    else:
        assert got == whole_message
    assert apart.open_sequences == 0 and apart.buffered_bytes == 0


def test_a_sequence_that_ends_inside_its_binary_is_refused() -> None:
    payload = bytearray(etf.encode(("big", bytes(1000))))
    at = payload.index(109)  # BINARY_EXT: make it claim 2,000 bytes, of which 1,000 come
    payload[at + 1:at + 5] = (2000).to_bytes(4, "big")
    frames = split(CONTROL, bytes(payload), 3, 300)
    reassembler = Reassembler(binaries_apart=500)
    assert [reassembler.feed(frame) for frame in frames[:-1]] == [None] * (len(frames) - 1)
    with pytest.raises(FragmentError, match="ended inside a binary of 2000 bytes"):
        reassembler.feed(frames[-1])


def test_a_bytearray_body_is_copied_not_kept() -> None:
    frames = fragments_of(size=300)
    reassembler = Reassembler()
    buffer = bytearray(frames[0])
    assert reassembler.feed(buffer) is None
    buffer[:] = bytes(len(buffer))  # the reader reuses its buffer
    results = [reassembler.feed(frame) for frame in frames[1:]]
    assert results[-1] == pass_through(CONTROL, etf.encode(bytes(300)))


# --- the outbox ----------------------------------------------------------------------------------


def drain(outbox: Outbox) -> list[bytes]:
    frames = []
    while (frame := outbox.next_chunk()) is not None:
        frames.append(frame)
    return frames


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(st.sampled_from(["a", "b", "c", None]), st.integers(0, 700))
        | st.just("take"),
        max_size=40,
    ),
    st.integers(16, 300),
    st.booleans(),
)
def test_the_outbox_never_reorders_a_key_and_loses_nothing(
    steps: list[tuple[str | None, int] | str], max_fragment: int, fragments: bool
) -> None:
    outbox = Outbox(fragments=fragments, max_fragment=max_fragment)
    reassembler = Reassembler()
    keys: dict[int, str | None] = {}
    out: list[int] = []

    def take() -> None:
        frame = outbox.next_chunk()
        if frame is not None:
            if not fragments:
                assert frame[0] == 112
            message = reassembler.feed(frame)
            if message is not None:
                out.append(index_of(message))

    for step in steps:
        if step == "take":
            take()
        else:
            key, size = step
            keys[len(keys)] = key
            outbox.put(CONTROL, payload_with(len(keys) - 1, size), key=key)
    while len(outbox):
        take()
    assert outbox.next_chunk() is None
    assert sorted(out) == list(keys)
    for key in set(keys.values()):
        mine = [index for index in out if keys[index] == key]
        assert mine == sorted(mine)
    if not fragments:
        assert out == sorted(out)  # one frame a message: plain FIFO


@settings(max_examples=200, deadline=None)
@given(control_terms, payloads, fragment_sizes, st.integers(0, 2**64 - 1))
def test_the_outbox_frames_a_message_as_split_does(
    control: bytes, payload: bytes, max_fragment: int, sequence_id: int
) -> None:
    outbox = Outbox(max_fragment=max_fragment, first_sequence_id=sequence_id)
    outbox.put(control, payload)
    assert drain(outbox) == split(control, payload, sequence_id, max_fragment)
    outbox.fragments = False
    outbox.put(control, payload)
    assert drain(outbox) == [pass_through(control, payload)]


@settings(max_examples=200, deadline=None)
@given(control_terms, payloads, fragment_sizes, st.integers(0, 3000), st.integers(0, 2**64 - 1))
def test_a_message_up_to_max_whole_goes_whole_and_a_bigger_one_in_fragments(
    control: bytes, payload: bytes, max_fragment: int, more: int, sequence_id: int
) -> None:
    max_whole = max_fragment + more
    outbox = Outbox(max_fragment=max_fragment, max_whole=max_whole,
                    first_sequence_id=sequence_id)
    outbox.put(control, payload)
    if len(control) - 1 + max(len(payload) - 1, 0) <= max_whole:
        assert drain(outbox) == [whole(control, payload)]
    else:
        assert drain(outbox) == split(control, payload, sequence_id, max_fragment)


def test_max_whole_below_the_fragment_size_is_refused() -> None:
    with pytest.raises(ValueError, match=r"max_whole \(99\) must be at least max_fragment"):
        Outbox(max_fragment=100, max_whole=99)


@settings(max_examples=100, deadline=None)
@given(control_terms, st.binary(min_size=1, max_size=900), fragment_sizes, st.integers(1, 400))
def test_a_gathered_payload_goes_out_as_its_bytes_would(
    control: bytes, binary: bytes, max_fragment: int, gather_from: int
) -> None:
    """(`Codec.encode_parts` leaves big binaries uncopied: the outbox cuts the fragments.)"""
    payload = etf.Codec().encode_parts(("big", binary, [binary]), gather_from=gather_from)
    flat = bytes(payload)
    for fragments in (True, False):
        outbox, flat_outbox = Outbox(max_fragment=max_fragment), Outbox(max_fragment=max_fragment)
        outbox.fragments = flat_outbox.fragments = fragments
        outbox.put(control, payload)
        flat_outbox.put(control, flat)
        assert drain(outbox) == drain(flat_outbox)
    assert whole(control, payload) == whole(control, flat)


def test_a_small_message_behind_a_100_mb_one_goes_after_one_fragment() -> None:
    big = etf.encode(bytes(HUNDRED_MB))
    outbox = Outbox()
    outbox.put(CONTROL, big, key=("p1", "r1"))
    first = outbox.next_chunk()
    assert first is not None and first[1] == 69  # the big one has begun
    small = etf.encode(("small", 1))
    outbox.put(CONTROL, small, key=("p2", "r1"))
    taken = [outbox.next_chunk() for _ in range(2)]
    assert taken[0] is not None and taken[0][1] == 70  # the big one's turn...
    assert taken[1] == whole(CONTROL, small)  # ...then the small one: one fragment later
    assert len(taken[0]) == HEADER + DEFAULT_FRAGMENT_SIZE
    assert len(outbox) == 1  # the big one goes on
    fragment_ids = [fragment_header(first)[2], fragment_header(taken[0])[2]]
    assert fragment_ids[0] == fragment_count(CONTROL, big, DEFAULT_FRAGMENT_SIZE)
    assert fragment_ids[1] == fragment_ids[0] - 1


def test_a_fragmented_message_takes_turns_with_a_flood_and_is_not_starved() -> None:
    """Round robin: 29 small messages queued at once go before the big one's second fragment,
    29 more put after its first fragment go after its second."""
    outbox = Outbox(max_fragment=100)
    big = payload_with(0, 1000)
    outbox.put(CONTROL, big, key="big")
    for index in range(1, 30):
        outbox.put(CONTROL, payload_with(index, 1), key=index)
    assert (first := outbox.next_chunk()) is not None and first[1] == 69
    for index in range(30, 59):
        outbox.put(CONTROL, payload_with(index, 1), key=index)
    tags = [first[1]] + [frame[1] for frame in drain(outbox)]
    rest = fragment_count(CONTROL, big, 100) - 2
    assert tags == [69] + [68] * 29 + [70] + [68] * 29 + [70] * rest


def test_the_same_key_waits_for_a_fragmented_message_and_others_pass() -> None:
    outbox = Outbox(max_fragment=100)
    outbox.put(CONTROL, payload_with(0, 1000), key="k")
    outbox.put(CONTROL, payload_with(1, 1), key="k")  # must wait for message 0
    outbox.put(CONTROL, payload_with(2, 1), key="other")  # may pass it
    reassembler = Reassembler()
    order = [index_of(m) for m in map(reassembler.feed, drain(outbox)) if m is not None]
    assert order == [2, 0, 1]


def test_sequence_ids_differ_while_in_flight_and_wrap_at_64_bits() -> None:
    outbox = Outbox(max_fragment=80, first_sequence_id=2**64 - 1)
    for index in range(3):
        outbox.put(CONTROL, payload_with(index, 200), key=index)
    outbox.put(CONTROL, payload_with(9, 1), key="small")
    frames = drain(outbox)
    ids = {fragment_header(frame)[1] for frame in frames if frame[1] in (69, 70)}
    assert ids == {2**64 - 1, 0, 1}
    reassembler = Reassembler()
    assert sorted(index_of(m) for m in map(reassembler.feed, frames) if m) == [0, 1, 2, 9]


def test_the_framing_is_chosen_when_a_message_is_first_taken() -> None:
    outbox = Outbox(fragments=False)
    small = etf.encode("hi")
    outbox.put(CONTROL, small)
    outbox.put(CONTROL, etf.encode(bytes(DEFAULT_FRAGMENT_SIZE * 2)))
    assert outbox.next_chunk() == pass_through(CONTROL, small)
    outbox.fragments = True  # the connection turned out to have FRAGMENTS
    assert [frame[1] for frame in drain(outbox)] == [69, 70, 70]


# --- against a real Elixir node ------------------------------------------------------------------

LISTENER = """
Process.register(self(), :fraglistener)
IO.puts("ready")
loop = fn loop ->
  receive do
    {:send_me, from, n} ->
      blob = :rand.bytes(n)
      send(from, {:blob, blob})
      IO.puts("sent #{Base.encode16(:erlang.md5(blob), case: :lower)}")
    {:big, blob} ->
      IO.puts("got big #{byte_size(blob)} #{Base.encode16(:erlang.md5(blob), case: :lower)}")
    {:small, n} ->
      IO.puts("got small #{n}")
  end
  loop.(loop)
end
loop.(loop)
"""


async def connect_with_fragments(cluster: Cluster, name: str) -> tuple[
        erlang_nodes.ErlangNode, hs.Connection]:
    """An Elixir node running `LISTENER` and a connection to it that agreed on FRAGMENTS."""
    elixir = cluster.elixir(name, LISTENER)
    await elixir.expect("ready")
    connection = await hs.connect(
        elixir.name, name=f"py@{HOST}", cookie=COOKIE, epmd=cluster.epmd_port,
        flags=hs.DEFAULT_FLAGS | hs.FRAGMENTS)
    assert connection.flags & hs.FRAGMENTS
    return elixir, connection


async def next_message(connection: hs.Connection, reassembler: Reassembler,
                       wanted: Callable[[tuple], bool], tags: list[int]) -> object:
    """Read frames through ``reassembler`` until a message whose control is ``wanted``;
    ``tags`` collects the header tag of every frame read."""
    while True:
        body = await connection.read_frame()
        if not body:
            continue
        tags.append(body[1])
        message = reassembler.feed(body)
        if message is not None:
            control, message_body = erlang_nodes.split_frame(message)
            if wanted(control):
                return message_body


def to_listener(connection: hs.Connection, message: object) -> tuple[bytes, bytes]:
    control = etf.encode((REG_SEND, our_pid(connection), "", "fraglistener"))
    return control, etf.encode(message)


def test_a_real_node_fragments_reassemble(cluster: Cluster) -> None:
    """OTP 25 fragments a 3 MB message to a node with FRAGMENTS; it reassembles byte-exact."""
    cluster.start_epmd()

    async def scenario() -> None:
        elixir, connection = await connect_with_fragments(cluster, "exfragout")
        me = our_pid(connection)
        await connection.send_frame(whole(*to_listener(connection, ("send_me", me, 3_000_000))))
        tags: list[int] = []
        reply = await next_message(
            connection, Reassembler(),
            lambda control: control[0] == SEND_SENDER and control[2] == me, tags)
        sent = await elixir.expect("sent")
        assert isinstance(reply, tuple) and reply[0] == "blob" and len(reply[1]) == 3_000_000
        assert sent == f"sent {hashlib.md5(reply[1]).hexdigest()}"
        assert tags.count(69) >= 1 and tags.count(70) >= 45  # 64 KiB pieces: 46 of them
        assert set(tags) <= {68, 69, 70}  # never pass-through once FRAGMENTS is agreed
        await connection.close()

    asyncio.run(scenario())


def test_our_fragments_reach_a_real_node_and_a_small_message_passes_them(
        cluster: Cluster) -> None:
    """Two messages of 2 MB and 1 MB in 64 KiB fragments through the outbox, their fragments
    interleaved, and a small one put after them: the small one arrives first (it went between
    fragments), then the 1 MB one, whose last fragment went first, and both intact."""
    cluster.start_epmd()

    async def scenario() -> None:
        elixir, connection = await connect_with_fragments(cluster, "exfragin")
        big, bigger = bytes(range(256)) * 4096, bytes(range(255, -1, -1)) * 8192
        outbox = Outbox()
        outbox.put(*to_listener(connection, ("big", bigger)), key="bigger")
        outbox.put(*to_listener(connection, ("big", big)), key="big")
        outbox.put(*to_listener(connection, ("small", 1)), key="small")
        frames = drain(outbox)
        assert [frame[1] for frame in frames[:5]] == [69, 69, 68, 70, 70]
        assert len(frames) == 1 + 33 + 17  # 2 MB and 1 MB: 32 and 16 pieces, and the rest
        for frame in frames:
            await connection.send_frame(frame)
        assert await elixir.expect("got") == "got small 1"
        for blob in (big, bigger):
            assert await elixir.expect("got") == (
                f"got big {len(blob)} {hashlib.md5(blob).hexdigest()}")
        await connection.close()

    asyncio.run(scenario())


def test_a_real_node_takes_a_message_bigger_than_its_fragments_whole(cluster: Cluster) -> None:
    """What a connection does with a message of up to 256 KiB (`wire._SEND_WHOLE`): one
    frame, where OTP would send four fragments. OTP reads it as any other."""
    cluster.start_epmd()

    async def scenario() -> None:
        elixir, connection = await connect_with_fragments(cluster, "exwhole")
        blob = bytes(range(256)) * 1000
        outbox = Outbox(max_whole=1 << 18)
        outbox.put(*to_listener(connection, ("big", blob)), key="big")
        frames = drain(outbox)
        assert [frame[1] for frame in frames] == [68]
        await connection.send_frame(frames[0])
        assert await elixir.expect("got") == (
            f"got big {len(blob)} {hashlib.md5(blob).hexdigest()}")
        await connection.close()

    asyncio.run(scenario())


def test_a_real_node_refuses_pass_through_once_fragments_are_agreed(cluster: Cluster) -> None:
    """Why the outbox frames with headers on such a connection: OTP closes it on a 'p' frame."""
    cluster.start_epmd()

    async def scenario() -> None:
        elixir, connection = await connect_with_fragments(cluster, "exfragpt")
        await connection.send_frame(pass_through(*to_listener(connection, ("small", 1))))
        with pytest.raises(ConnectionError):
            while True:
                await connection.read_frame()
        assert "incompatible erlang" in await elixir.expect_any("incompatible")

    asyncio.run(scenario())
