"""Fragmented distribution messages (``DFLAG_FRAGMENTS``), sans-IO: split, reassemble, and an
outbox in which a big message never blocks the small ones queued behind it.

The wire forms (erl_ext_dist, "Distribution Header"; each is the body of one u32-length frame):

- pass-through: ``112, 131 Control, [131 Payload]``, what a connection without the atom cache
  and without fragments carries;
- normal distribution header with no atom cache refs: ``131, 68, 0, Control, [Payload]``, the
  terms *without* their 131 version byte;
- first fragment: ``131, 69, SequenceId:u64, FragmentId:u64, 0, Control, first part of
  Payload``; continuation: ``131, 70, SequenceId:u64, FragmentId:u64, next part``. The
  FragmentId starts at the number of fragments and counts down to 1, the last. Only the
  payload may be split: the control term is whole in the first fragment.

What OTP 25 does once both sides set FRAGMENTS (and not DIST_HDR_ATOM_CACHE), seen against a
real node: it sends every message with the normal header ``131, 68, 0`` (never pass-through),
fragments what is larger than 64 KiB of control + payload into pieces of 65,536 message bytes
(the first one carrying the control term), and it refuses a pass-through frame from us: it logs
"Got message from incompatible erlang on channel N" and closes the connection. So on such a
connection every frame we send must take the header forms, which `whole`, `split` and `Outbox`
write.

Control and payload are given here as `Codec.encode` writes them: each starting with its 131
byte (the payload may be ``b""``: a control message without one). `Reassembler.feed` gives
every complete message back in pass-through form, the one ``beamlet.dist.node`` decodes.
"""

from __future__ import annotations

import heapq
import itertools
import struct
from collections import deque
from collections.abc import Hashable, Iterator

from beamlet.dist.etf import ETFError, Gathered, decode_prefix

try:
    from beamlet.dist import _etf as _accel
except ImportError:  # no C fast path: big binaries are gathered with the rest of a message
    _accel = None  # type: ignore[assignment]

__all__ = [
    "BINARIES_APART",
    "DEFAULT_FRAGMENT_SIZE",
    "DEFAULT_MAX_MESSAGE_BYTES",
    "FragmentError",
    "Outbox",
    "PresetMessage",
    "Reassembler",
    "NORMAL_HEADER",
    "fragment_count",
    "framed_whole",
    "pass_through",
    "split",
    "whole",
]

VERSION = 131
PASS_THROUGH = 112  # 'p'
DIST_HEADER = 68  # 'D'
DIST_FRAG_HEADER = 69  # 'E'
DIST_FRAG_CONT = 70  # 'F'
# OTP's: 65,536 message bytes (control and payload, headers not counted) per fragment.
DEFAULT_FRAGMENT_SIZE = 1 << 16
DEFAULT_MAX_MESSAGE_BYTES = 1 << 30
_U64 = (1 << 64) - 1
_IDS = struct.Struct(">QQ")
_LENGTH = struct.Struct(">I")  # a frame's length, before its body
_FRAGMENT_HEADER_SIZE = 2 + _IDS.size  # 131, tag, SequenceId, FragmentId
NORMAL_HEADER = bytes([VERSION, DIST_HEADER, 0])  # a whole message, no atom cache refs
_PASS_THROUGH_START = bytes([PASS_THROUGH, VERSION])
_VERSION_BYTE = bytes([VERSION])
_PASS_THROUGH_BYTE = bytes([PASS_THROUGH])
# Bytes of a frame the decoder tries first when looking for the end of an unusual control
# term (see `_find_control_end`): control terms are a few dozen bytes, payloads may be megabytes.
_CONTROL_WINDOW = 1024

Buffer = bytes | bytearray | memoryview
# A payload may also be a `Gathered` (a big binary left uncopied by the encoder): the outbox
# cuts its fragments from the parts.
Payload = Buffer | Gathered


class FragmentError(ValueError):
    """A frame that breaks the fragment protocol: a malformed header, a fragment out of order
    or of no open sequence, a message beyond the size limit. OTP closes the connection on a
    bad distribution message; the caller should too."""


# --- sending -----------------------------------------------------------------------------------


def _check(control: Buffer, payload: Payload) -> None:
    """Refuse what is not ETF as `Codec.encode` writes it: a 131 byte, then a term."""
    if len(control) < 2 or control[0] != VERSION:
        raise ValueError("the control term must be ETF starting with its 131 byte")
    if payload and (len(payload) == 1 or payload[0] != VERSION):
        raise ValueError("the payload must be empty or ETF starting with its 131 byte")


def _terms(control: Buffer, payload: Payload) -> tuple[memoryview, memoryview | Gathered]:
    """The control term and the payload without their 131 bytes (views, nothing copied)."""
    _check(control, payload)
    if isinstance(payload, Gathered):
        return memoryview(control)[1:], payload.tail(1)
    return memoryview(control)[1:], memoryview(payload)[1:]


def _joinable(payload: Payload) -> Buffer:
    """``payload`` as one buffer (a `Gathered` joined: for a frame that holds it whole)."""
    return bytes(payload) if isinstance(payload, Gathered) else payload


def pass_through(control: Buffer, payload: Payload = b"") -> bytes:
    """The pass-through frame body ``112, 131 Control, [131 Payload]`` (a connection without
    FRAGMENTS)."""
    _check(control, payload)
    return b"".join((_PASS_THROUGH_BYTE, control, _joinable(payload)))


def whole(control: Buffer, payload: Payload = b"") -> bytes:
    """One message in one frame with the normal distribution header and no atom cache refs:
    ``131, 68, 0, Control, [Payload]`` (what OTP sends when FRAGMENTS is set)."""
    _check(control, payload)
    return _whole(control, payload)


def _whole(control: Buffer, payload: Payload) -> bytes:
    payload = _joinable(payload)
    if len(payload) <= _CONTROL_WINDOW:  # small: slices copy less than views cost
        return b"".join((NORMAL_HEADER, control[1:], payload[1:]))
    return b"".join((NORMAL_HEADER, memoryview(control)[1:], memoryview(payload)[1:]))


def framed_whole(control: bytes, payload: bytes | Gathered,
                 fragments: bool) -> tuple[Buffer, ...]:
    """The u32-length frame of one unfragmented message as parts to join: `whole`'s body
    with ``fragments``, else `pass_through`'s (``control`` and ``payload`` as `Codec.encode`
    writes them, unchecked: a connection's hot path, where our own encoder made them)."""
    if fragments:  # 131, 68, 0, then the terms without their 131 bytes
        if payload:
            return (_LENGTH.pack(1 + len(control) + len(payload)) + NORMAL_HEADER,
                    control[1:], payload[1:])
        return (_LENGTH.pack(2 + len(control)) + NORMAL_HEADER, control[1:])
    return (_LENGTH.pack(1 + len(control) + len(payload)) + _PASS_THROUGH_BYTE, control,
            _joinable(payload))


def fragment_count(control: Buffer, payload: Payload, max_fragment: int) -> int:
    """How many frames `split` makes of this message: 1 when it is sent whole."""
    if max_fragment < 1:
        raise ValueError(f"max_fragment must be at least 1, not {max_fragment}")
    control_size = len(control) - 1
    payload_size = max(len(payload) - 1, 0)
    if control_size + payload_size <= max_fragment:
        return 1
    in_first = max(max_fragment - control_size, 0)
    rest = payload_size - in_first
    return 1 + -(-rest // max_fragment)


def _frames(control: Buffer, payload: Payload, sequence_id: int,
            max_fragment: int) -> Iterator[bytes]:
    """The frames of one message, made one at a time (each holds its own slice's copy)."""
    count = fragment_count(control, payload, max_fragment)
    control_terms, payload_terms = _terms(control, payload)
    if count == 1:
        yield b"".join((NORMAL_HEADER, control_terms, _joinable(payload_terms)))
        return
    if not 0 <= sequence_id <= _U64:
        raise ValueError(f"sequence_id must be an unsigned 64-bit integer, not {sequence_id}")
    start = max(max_fragment - len(control_terms), 0)
    head = bytes([VERSION, DIST_FRAG_HEADER]) + _IDS.pack(sequence_id, count) + b"\x00"
    yield b"".join((head, control_terms, payload_terms[:start]))
    cont = bytes([VERSION, DIST_FRAG_CONT]) + sequence_id.to_bytes(8, "big")
    for fragment_id in range(count - 1, 0, -1):
        end = start + max_fragment
        yield b"".join((cont, fragment_id.to_bytes(8, "big"), payload_terms[start:end]))
        start = end


def split(control: Buffer, payload: Payload, sequence_id: int,
          max_fragment: int = DEFAULT_FRAGMENT_SIZE) -> list[bytes]:
    """The frame bodies of one message on a connection with FRAGMENTS.

    One frame with the normal header (`whole`) when control and payload, without their 131
    bytes, hold at most ``max_fragment`` bytes; else fragments of ``max_fragment`` message
    bytes each (headers not counted, as OTP counts), the first holding the whole control term
    (and so more than ``max_fragment`` bytes when the control term alone is larger).
    ``sequence_id`` (u64) must differ from that of every other fragmented message in flight on
    the connection.
    """
    return list(_frames(control, payload, sequence_id, max_fragment))


# --- receiving ---------------------------------------------------------------------------------


# What the distribution receives apart (`Reassembler(binaries_apart=)`): a binary this big in
# a fragmented message goes straight into its own `bytes` object, as its fragments come.
BINARIES_APART = 1 << 18


class PresetMessage:
    """A message reassembled with its big binary apart (`Reassembler.feed`): ``message`` in
    pass-through form holds all of it but that binary's contents, ``preset`` is ``(at,
    binary)`` for `Codec.decode_at` (the binary's BINARY_EXT tag is at ``at``)."""

    __slots__ = ("message", "preset")

    def __init__(self, message: bytearray, preset: tuple[int, bytes]) -> None:
        self.message = message
        self.preset = preset


class _Sequence:
    """A fragmented message being received: the message so far, in pass-through form (each
    piece copied in as it comes, so that no step copies the whole message at its end), where
    its payload begins, how many message bytes it holds and the FragmentId expected. With
    ``binary`` (``(at, bytes, size)``, see `Reassembler`) the bytes of that binary go into it
    instead (``filled`` of them so far)."""

    __slots__ = ("binary", "expected", "filled", "message", "payload_at", "size")

    def __init__(self, expected: int, parts: list[Buffer], size: int,
                 binary: tuple[int, bytes, int] | None = None) -> None:
        self.expected = expected
        self.message = bytearray().join(parts)
        self.payload_at = len(self.message) - len(parts[-1])
        self.size = size
        self.binary = binary
        self.filled = 0

    def add(self, piece: Buffer) -> None:
        """The next bytes of the message."""
        binary = self.binary
        if binary is not None and self.filled < binary[2]:
            taken = min(len(piece), binary[2] - self.filled)
            _accel.fill_binary(binary[1], self.filled, memoryview(piece)[:taken])
            self.filled += taken
            piece = memoryview(piece)[taken:]
        self.message += piece


# Control terms are tuples of small integers, atoms, pids and refs; `_skip_common` finds
# their end without decoding them. Sizes of the fixed-size tags: SMALL_INTEGER_EXT,
# INTEGER_EXT, NIL_EXT, NEW_FLOAT_EXT.
_FIXED_SIZES = {97: 2, 98: 5, 106: 1, 70: 9}


def _atom_end(data: bytes, pos: int) -> int:
    """The end of the UTF-8 atom at ``pos`` (IndexError for another tag or a cut one)."""
    tag = data[pos]
    if tag == 119:  # SMALL_ATOM_UTF8_EXT
        return pos + 2 + data[pos + 1]
    if tag == 118:  # ATOM_UTF8_EXT
        return pos + 3 + int.from_bytes(data[pos + 1 : pos + 3], "big")
    raise IndexError(tag)


def _skip_common(data: bytes, pos: int) -> int:
    """The end of the term at ``pos`` when it is made only of small tuples, integers, nil,
    floats, UTF-8 atoms, pids and refs, as control terms are; -1 for any other or a cut one
    (then the decoder, which knows every tag, looks)."""
    pending = 1
    try:
        while pending:
            pending -= 1
            tag = data[pos]
            if tag == 104:  # SMALL_TUPLE_EXT
                pending += data[pos + 1]
                pos += 2
            elif tag == 119 or tag == 118:
                pos = _atom_end(data, pos)
            elif tag == 88:  # NEW_PID_EXT: node, id, serial, creation
                pos = _atom_end(data, pos + 1) + 12
            elif tag == 90:  # NEWER_REFERENCE_EXT: length, node, creation, ids
                words = int.from_bytes(data[pos + 1 : pos + 3], "big")
                pos = _atom_end(data, pos + 3) + 4 + 4 * words
            elif tag in _FIXED_SIZES:
                pos += _FIXED_SIZES[tag]
            else:
                return -1
    except IndexError:
        return -1
    return pos if pos <= len(data) else -1


def _find_control_end(data: bytes, start: int) -> int:
    """Where the control term at ``start`` (without its 131 byte) ends in ``data``.

    `_skip_common` finds it for the usual control terms; any other is decoded: first within
    a window of `_CONTROL_WINDOW` bytes, then in all of ``data``. A term read whole inside the
    window is the term read in the whole buffer (every ETF term says its own length), so the
    window never changes the answer, and neither does the skipping, which reads the same
    lengths the decoder reads.
    """
    end = _skip_common(data, start)
    if end >= 0:
        return end
    window = _CONTROL_WINDOW
    while True:
        try:
            return start + decode_prefix(_VERSION_BYTE + data[start : start + window])[1] - 1
        except ETFError as error:
            if start + window >= len(data):
                raise FragmentError(f"the control term does not decode: {error}") from error
            window = len(data) - start


def _pass_through_parts(data: bytes, start: int, end: int) -> list[Buffer]:
    """The pieces of the pass-through form of the message whose control term (no 131 byte)
    spans ``start:end`` in ``data``: views of it, so nothing is copied yet."""
    view = memoryview(data)
    return [_PASS_THROUGH_START, view[start:end], _VERSION_BYTE, view[end:]]


class Reassembler:
    """The receiving side of one connection: frames in, complete messages out.

    `feed` takes every non-empty frame body (any of the forms in the module docstring) and
    returns the message in pass-through form, ``112, 131 Control, [131 Payload]``, once it is
    complete, None while a fragmented message still lacks fragments. Fragments of several
    sequences may interleave with each other and with whole messages. A fragmented message is
    gathered in a `bytearray` as its fragments come, so that the last one costs no more than
    the others (joining 100 MB at the end held the node's thread for ~60 ms).

    ``max_message_bytes`` bounds one message (control and payload); ``max_buffered_bytes``
    (default: the same) bounds all the incomplete messages together, against a peer that opens
    sequences it never finishes. A sequence that breaks a rule is forgotten.
    """

    def __init__(self, *, max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
                 max_buffered_bytes: int | None = None,
                 binaries_apart: int | None = None) -> None:
        self.max_message_bytes = max_message_bytes
        # (with the C fast path) a fragmented message's first binary of this many bytes or
        # more is received apart, into its own bytes object: `feed` gives a `PresetMessage`
        self.binaries_apart = binaries_apart if _accel is not None else None
        self.max_buffered_bytes = (
            max_message_bytes if max_buffered_bytes is None else max_buffered_bytes)
        self._sequences: dict[int, _Sequence] = {}
        # (read it, do not write it) how many fragmented messages have begun and not ended
        self.open_sequences = 0
        self.buffered_bytes = 0
        self._last_control = b""
        # Frames up to this size take `feed`'s short way (within every limit by construction).
        self._small = min(_CONTROL_WINDOW, max_message_bytes + 3)

    def _control_end(self, data: bytes, start: int) -> int:
        """Where the control term at ``start`` ends: `_find_control_end`'s answer, or at once when
        it is the previous message's control term again (as between one pair of processes).
        Bytes that begin with a whole term's encoding hold that term: every term says where it
        ends."""
        last = self._last_control
        if last and data.startswith(last, start):
            return start + len(last)
        end = _find_control_end(data, start)
        if end - start <= _CONTROL_WINDOW:
            self._last_control = data[start:end]
        return end

    def feed(self, body: Buffer) -> bytes | bytearray | PresetMessage | None:
        """The complete message ``body`` ends, in pass-through form (a `bytearray` when it came
        in fragments; a `PresetMessage` when its big binary came apart), or None;
        `FragmentError` for a frame that breaks the protocol."""
        if type(body) is not bytes:
            body = bytes(body)
        elif body.startswith(NORMAL_HEADER) and 3 < len(body) <= self._small:
            # The usual frame once FRAGMENTS is agreed: a small whole message.
            end = self._control_end(body, 3)
            if end == len(body):  # a control message without payload
                return _PASS_THROUGH_START + body[3:]
            return b"".join((_PASS_THROUGH_START, body[3:end], _VERSION_BYTE, body[end:]))
        if len(body) < 2:
            raise FragmentError(f"a frame of {len(body)} bytes is no distribution message")
        if body[0] == PASS_THROUGH:
            if body[1] != VERSION:
                raise FragmentError(f"pass-through frame whose control starts with {body[1]}")
            self._check_size(len(body) - 2)
            return body
        if body[0] != VERSION:
            raise FragmentError(f"a frame starting with {body[0]}: not 112 nor 131")
        tag = body[1]
        if tag == DIST_HEADER:
            return self._normal(body)
        if tag == DIST_FRAG_HEADER:
            return self._first(body)
        if tag == DIST_FRAG_CONT:
            return self._continuation(memoryview(body))
        raise FragmentError(f"unknown distribution header tag {tag}")

    def _check_size(self, size: int) -> None:
        if size > self.max_message_bytes:
            raise FragmentError(
                f"a message of {size} bytes or more (max_message_bytes="
                f"{self.max_message_bytes})")

    @staticmethod
    def _no_atom_cache(body: Buffer, at: int) -> None:
        if len(body) <= at:
            raise FragmentError("distribution header cut short before NumberOfAtomCacheRefs")
        if body[at] != 0:
            raise FragmentError(
                f"{body[at]} atom cache refs in a distribution header: we never set "
                "DIST_HDR_ATOM_CACHE")

    def _normal(self, body: bytes) -> bytes:
        self._no_atom_cache(body, 2)
        self._check_size(len(body) - 3)
        if len(body) == 3:
            raise FragmentError("a distribution header without a control term")
        end = self._control_end(body, 3)
        if end == len(body):
            return _PASS_THROUGH_START + body[3:]
        view = memoryview(body)
        return b"".join((_PASS_THROUGH_START, view[3:end], _VERSION_BYTE, view[end:]))

    @staticmethod
    def _ids(body: Buffer) -> tuple[int, int]:
        if len(body) < _FRAGMENT_HEADER_SIZE:
            raise FragmentError(f"fragment header cut short: {len(body)} bytes")
        sequence_id, fragment_id = _IDS.unpack_from(body, 2)
        if fragment_id == 0:
            raise FragmentError(f"fragment id 0 in sequence {sequence_id} (the last is 1)")
        return sequence_id, fragment_id

    def _first(self, body: bytes) -> bytes | PresetMessage | None:
        sequence_id, fragment_id = self._ids(body)
        if sequence_id in self._sequences:
            self._forget(sequence_id)
            raise FragmentError(f"sequence {sequence_id} started again before it ended")
        self._no_atom_cache(body, _FRAGMENT_HEADER_SIZE)
        start = _FRAGMENT_HEADER_SIZE + 1
        size = len(body) - start
        if not size:
            raise FragmentError(f"first fragment of sequence {sequence_id} without control")
        self._check_size(size)
        control_end = self._control_end(body, start)
        parts = _pass_through_parts(body, start, control_end)
        if fragment_id == 1:
            return self._finish(parts)
        self._reserve(size)
        sequence = self._apart(fragment_id - 1, body, start, control_end, size)
        self._sequences[sequence_id] = (
            sequence if sequence is not None else _Sequence(fragment_id - 1, parts, size))
        self.open_sequences = len(self._sequences)
        return None

    def _apart(self, expected: int, body: bytes, start: int, control_end: int,
               size: int) -> _Sequence | None:
        """A sequence whose payload's first big binary (`binaries_apart`) begins in this
        first fragment: received apart; None when there is none to tell of."""
        if self.binaries_apart is None or len(body) - control_end < 6:
            return None
        found = _accel.find_binary(body, control_end, self.binaries_apart)
        if found is None or found[1] > self.max_message_bytes:
            return None
        at, binary_size = found
        head = _pass_through_parts(body[:at + 5], start, control_end)
        sequence = _Sequence(expected, head, size)
        # (the tag's place in the pass-through form: two bytes more before the control term,
        # one more before the payload)
        binary_at = at + len(_PASS_THROUGH_START) + len(_VERSION_BYTE) - start
        sequence.binary = (binary_at, _accel.reserve_binary(binary_size), binary_size)
        sequence.add(memoryview(body)[at + 5:])
        return sequence

    def _continuation(self, body: memoryview) -> bytearray | PresetMessage | None:
        sequence_id, fragment_id = self._ids(body)
        sequence = self._sequences.get(sequence_id)
        if sequence is None:
            raise FragmentError(
                f"fragment {fragment_id} of sequence {sequence_id}, which has not begun")
        if fragment_id != sequence.expected:
            self._forget(sequence_id)
            raise FragmentError(
                f"fragment {fragment_id} of sequence {sequence_id} where "
                f"{sequence.expected} was due")
        piece = body[_FRAGMENT_HEADER_SIZE:]
        try:
            self._check_size(sequence.size + len(piece))
            self._reserve(len(piece))
        except FragmentError:
            self._forget(sequence_id)
            raise
        sequence.add(piece)
        sequence.size += len(piece)
        if fragment_id > 1:
            sequence.expected = fragment_id - 1
            return None
        self._forget(sequence_id)
        message = sequence.message
        if sequence.binary is not None:
            binary_at, binary, binary_size = sequence.binary
            if sequence.filled != binary_size:
                raise FragmentError(f"sequence {sequence_id} ended inside a binary of "
                                    f"{binary_size} bytes")
            return PresetMessage(message, (binary_at, binary))
        if len(message) == sequence.payload_at:  # no payload: without its 131 byte
            del message[-1]
        return message

    def _reserve(self, size: int) -> None:
        if self.buffered_bytes + size > self.max_buffered_bytes:
            raise FragmentError(
                f"incomplete messages would hold {self.buffered_bytes + size} bytes "
                f"(max_buffered_bytes={self.max_buffered_bytes})")
        self.buffered_bytes += size

    def _forget(self, sequence_id: int) -> _Sequence:
        sequence = self._sequences.pop(sequence_id)
        self.open_sequences = len(self._sequences)
        self.buffered_bytes -= sequence.size
        return sequence

    @staticmethod
    def _finish(parts: list[Buffer]) -> bytes:
        """Join the pieces; a message without payload loses the payload's 131 byte."""
        if not any(len(part) for part in parts[3:]):
            return b"".join(parts[:2])
        return b"".join(parts)


# --- the outbox --------------------------------------------------------------------------------


class _Outgoing:
    """A queued message: its terms, then, once its first frame is taken and if it is
    fragmented, the rest of its frames and how many are left."""

    __slots__ = ("control", "frames", "key", "left", "payload")

    def __init__(self, control: Buffer, payload: Payload, key: Hashable) -> None:
        self.control = control
        self.payload = payload
        self.key = key
        self.frames: Iterator[bytes] | None = None
        self.left = 0


class Outbox:
    """The queue of one connection's outgoing messages, taken out as frame bodies.

    `put` queues a message (control and payload as `Codec.encode` writes them) with a ``key``;
    `next_chunk` gives the next frame body to write, None when nothing is queued. With
    ``fragments`` (set it from the connection's flags before the first `next_chunk`; each
    message is framed when its first frame is taken) a message of more than ``max_whole``
    message bytes (default: ``max_fragment``) goes out in fragments of ``max_fragment``;
    without, every message is one pass-through frame. A ``max_whole`` above the fragment
    size lets a middling message (100 KB) go as one frame, which costs both sides less than
    two fragments, while a big one is still cut fine enough for small messages to pass it.

    The order rule:

    - a message never overtakes an earlier one with the same ``key``: it is not free to go
      until that one's last frame has been taken. Erlang orders the messages and signals of
      each pair of processes; ``key=(sender, receiver)`` keeps exactly that, ``key=sender``
      keeps each sender's messages in order whatever their destination, as OTP does (a process
      finishes sending a fragmented message before it sends anything else on the channel);
    - each frame comes from the message first in line among those free to go. A message's
      place in line is the moment it was put, except that a fragmented message goes to the
      back of the line after each of its fragments, as if put again.

    So: with nothing fragmented it is FIFO (the first message in line is always free); a
    message put behind a fragmented one goes out after at most one more fragment of it (of
    each fragmented message in progress); a fragmented message is never starved (after each
    fragment it waits only for the messages already in line); and a message that waited for
    its key goes at its own place, before those put after it.
    """

    def __init__(self, *, fragments: bool = True, max_fragment: int = DEFAULT_FRAGMENT_SIZE,
                 max_whole: int | None = None, first_sequence_id: int = 1) -> None:
        if max_fragment < 1:
            raise ValueError(f"max_fragment must be at least 1, not {max_fragment}")
        if max_whole is None:
            max_whole = max_fragment
        elif max_whole < max_fragment:
            raise ValueError(f"max_whole ({max_whole}) must be at least max_fragment "
                             f"({max_fragment})")
        self.fragments = fragments
        self.max_fragment = max_fragment
        self.max_whole = max_whole
        self._next_sequence_id = first_sequence_id & _U64
        # The messages free to go, a heap of (place in line, message); places are unique.
        self._free: list[tuple[int, _Outgoing]] = []
        # Each key with a free message: the (place, message)s of that key waiting behind it
        # (None until one waits: most keys never have two messages queued at once).
        self._waiting: dict[Hashable, deque[tuple[int, _Outgoing]] | None] = {}
        self._places = itertools.count()
        self.queued = 0  # (read it, do not write it) what __len__ says, without a call

    def __len__(self) -> int:
        """Messages queued whose last frame has not been taken yet."""
        return self.queued

    def put(self, control: Buffer, payload: Payload = b"", key: Hashable = None) -> None:
        """Queue one message; ``payload`` ``b""`` for a control message without one."""
        _check(control, payload)
        entry = (next(self._places), _Outgoing(control, payload, key))
        if key not in self._waiting:
            self._waiting[key] = None
            heapq.heappush(self._free, entry)
        else:
            waiting = self._waiting[key]
            if waiting is None:
                waiting = self._waiting[key] = deque()
            waiting.append(entry)
        self.queued += 1

    def next_chunk(self) -> bytes | None:
        """The next frame body to write, or None when the outbox is empty."""
        if not self._free:
            return None
        _, message = heapq.heappop(self._free)
        if message.frames is None:
            chunk = self._first_frame(message)
        else:
            chunk = next(message.frames)
            message.left -= 1
        if message.left:  # to the back of the line
            heapq.heappush(self._free, (next(self._places), message))
            return chunk
        self.queued -= 1
        waiting = self._waiting[message.key]
        if waiting:
            heapq.heappush(self._free, waiting.popleft())  # at its own place
        else:
            del self._waiting[message.key]
        return chunk

    def _first_frame(self, message: _Outgoing) -> bytes:
        """Frame ``message`` as the connection wants, and give its first frame (`put` has
        checked its terms)."""
        control, payload = message.control, message.payload
        if not self.fragments:
            return b"".join((_PASS_THROUGH_BYTE, control, _joinable(payload)))
        if len(control) - 1 + max(len(payload) - 1, 0) <= self.max_whole:  # it goes whole
            return _whole(control, payload)
        count = fragment_count(control, payload, self.max_fragment)
        sequence_id = self._next_sequence_id
        self._next_sequence_id = (sequence_id + 1) & _U64
        message.frames = _frames(control, payload, sequence_id, self.max_fragment)
        message.left = count - 1
        return next(message.frames)
