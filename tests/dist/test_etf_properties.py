"""Properties of the codec: Python values survive encode -> decode unchanged, the C fast path
and the pure-Python codec agree byte for byte, `encode_exact` vouches only for values that
come back as themselves, and no input makes the decoder fail in any way but `ETFError`."""

import enum
import struct
from collections import namedtuple

import pytest
from hypothesis import HealthCheck, example, given, settings, strategies as st

from beamlet.dist.etf import (
    BitBinary,
    Codec,
    ETFError,
    ExtExport,
    ExtPid,
    ExtPort,
    ExtRef,
    Gathered,
    ImproperList,
)
from beamlet.kernel.terms import Down, Exit

FAST, PURE = Codec(), Codec(use_c=False)

# Hypothesis describes each built value by its arguments; nested terms make that long.
pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr")

SPECIAL_ATOMS = {"true", "false", "nil"}  # these decode to True, False, None


def longest_atom(n: int) -> str:
    """An atom as long as an atom can be: 255 characters, one byte or two each in UTF-8."""
    return ("é" if n else "x") * 255


atoms = (st.text(max_size=40).filter(lambda s: s not in SPECIAL_ATOMS)
         | st.sampled_from(["ok", "error", "EXIT", "DOWN", "process", "alias"])
         | st.integers(0, 1).map(longest_atom))
node_names = st.sampled_from(["py@vm", "a@host.example", "nonode@nohost", "日本@vm"])
u32 = st.integers(0, 2**32 - 1)
pids = st.builds(ExtPid, node_names, u32, u32, u32)
refs = st.builds(ExtRef, node_names, u32, st.lists(u32, min_size=1, max_size=5).map(tuple))
ports = st.builds(ExtPort, node_names, st.integers(0, 2**64 - 1), u32)
exports = st.builds(ExtExport, atoms, atoms, st.integers(0, 255))
bitstrings = st.builds(BitBinary, st.binary(min_size=1, max_size=8), st.integers(1, 7))
leaves = (atoms | st.integers() | st.integers(-300, 300)
          | st.floats(allow_nan=False, allow_infinity=False) | st.binary(max_size=20)
          | st.sampled_from([True, False, None]) | pids | refs | ports | exports | bitstrings)
keys = st.recursive(leaves, lambda inner: st.tuples(inner, inner), max_leaves=4)


def not_a_signal(value: tuple) -> bool:
    """{:EXIT, _, _} and {:DOWN, _, :process, _, _} decode as Exit and Down, by design."""
    if len(value) == 3 and value[0] == "EXIT" and type(value[0]) is str:
        return False
    return not (len(value) == 5 and type(value[0]) is str and value[0] == "DOWN"
                and type(value[2]) is str and value[2] == "process")


def containers(inner):
    improper_tails = inner.filter(lambda tail: not isinstance(tail, (list, ImproperList)))
    return (st.lists(inner, max_size=5)
            | st.lists(inner, max_size=5).map(tuple).filter(not_a_signal)
            | st.dictionaries(keys, inner, max_size=4)
            | st.builds(ImproperList, st.lists(inner, min_size=1, max_size=3), improper_tails)
            | st.builds(Exit, pids, inner)
            | st.builds(Down, refs, pids | st.tuples(atoms, atoms), inner)
            | st.lists(st.integers(0, 255), max_size=10))


terms = st.recursive(leaves, containers, max_leaves=20)


def same(a, b) -> bool:
    """Equal and of the same types all the way down (so 1 is not True, a pair not an Exit)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return struct.pack(">d", a) == struct.pack(">d", b)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(map(same, a, b))
    if isinstance(a, dict):
        return len(a) == len(b) and all(k in b and same(v, b[k]) for k, v in a.items()) and all(
            same(ka, kb) for ka, kb in zip(a, b, strict=True))
    if isinstance(a, ImproperList):
        return same(a.items, b.items) and same(a.tail, b.tail)
    return a == b


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(terms)
def test_values_round_trip_through_both_codecs(value):
    data = FAST.encode(value)
    assert PURE.encode(value) == data
    assert same(FAST.decode(data), value)
    assert same(PURE.decode(data), value)


@settings(max_examples=200, deadline=None)
@given(terms)
def test_decoding_then_encoding_gives_the_same_bytes(value):
    data = FAST.encode(value)
    assert FAST.encode(FAST.decode(data)) == data
    assert PURE.encode(PURE.decode(data)) == data


class Colour(enum.IntEnum):
    RED = 1


class Mood(enum.StrEnum):
    TRUE = "true"
    OK = "ok"


Pair = namedtuple("Pair", "a b")

# Python values that ETF does not give back as themselves, alone or inside exact ones.
inexact_leaves = st.sampled_from([
    "true", "false", "nil", Colour.RED, Mood.OK, Mood.TRUE, float("nan"), float("inf"),
    "x" * 256, bytearray(b"ab"), frozenset({1}), {1, 2}, Pair(1, 2), ("EXIT", 1, 2),
    ("DOWN", 1, "process", 2, 3), [Colour.RED, 2], "\ud800",
])


def with_inexact(inner):
    return (st.lists(inner, max_size=4) | st.lists(inner, max_size=4).map(tuple)
            | st.dictionaries(atoms, inner, max_size=3))


python_values = st.recursive(terms | inexact_leaves, with_inexact, max_leaves=12)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(python_values)
def test_encode_exact_vouches_only_for_values_that_come_back_as_themselves(value):
    data = FAST.encode_exact(value)
    if data is not None:
        assert same(FAST.decode(data), value)
        assert data == PURE.encode(value)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(terms)
@example(("DOWN", "", "", "", ""))   # (a Down only with :process third: it was refused)
@example(("DOWN", 1, "process", 2))
def test_encode_exact_takes_every_term_the_api_maps(value):
    assert FAST.encode_exact(value) == FAST.encode(value)


def test_encode_exact_refuses_a_mutable_value_held_twice():
    """(A pickle keeps the sharing, as a local send does; ETF would bring two copies.)"""
    shared, table = [1], {}
    many = [[i] for i in range(20)]
    for value in [(shared, shared), [table, {"t": table}], many + [many[3]], many + [many[15]]]:
        assert FAST.encode_exact(value) is None
    assert FAST.encode_exact(([1], [1], many, (7, 7), "a", "a")) is not None


@pytest.mark.parametrize("value", [
    "true", ["nil"], {"false": 1}, ("EXIT", "a", "b"), ("DOWN", 1, "process", 2, 3),
    [Colour.RED], Colour.RED, Mood.OK, Pair(1, 2), {1}, float("nan"), "x" * 256,
    bytearray(b"a"), [[[[1]]]],
])
def test_encode_exact_refuses_what_would_come_back_as_something_else(value):
    codec = FAST if value != [[[[1]]]] else Codec(max_depth=2)
    assert codec.encode_exact(value) is None
    assert PURE.encode_exact(value) is None


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(python_values, st.integers(0, 30), st.data())
def test_gathered_encodings_are_the_same_bytes_with_the_binaries_uncopied(value, at_least, data):
    exact = FAST.encode_parts(value, gather_from=at_least, exact=True)
    assert (None if exact is None else bytes(exact)) == FAST.encode_exact(value)
    try:
        expected = FAST.encode(value)
    except ETFError:  # (a nan, a str too long for an atom): the same error
        with pytest.raises(ETFError):
            FAST.encode_parts(value, gather_from=at_least)
        return
    gathered = FAST.encode_parts(value, gather_from=at_least)
    assert bytes(gathered) == expected == gathered
    if isinstance(gathered, Gathered):
        whole = bytes(gathered)
        start = data.draw(st.integers(0, len(whole)))
        end = data.draw(st.integers(-3, len(whole) + 3))
        assert gathered[start:end] == whole[start:end]
        tail = gathered.tail(start)
        assert tail == whole[start:] and len(tail) == len(whole) - start


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(terms, python_values, st.booleans(), st.integers(0, 400))
def test_a_frame_in_one_pass_is_the_frame_of_the_terms_encoded(control, payload, exact, limit):
    """(`encode_frame`: u32 length, header, the terms without their 131 bytes.)"""
    header = b"\x83D\x00"
    frame = FAST.encode_frame(header, control, payload, limit=limit, exact=exact)
    alone = FAST.encode_frame(header, control, limit=limit)
    try:
        terms = FAST.encode(control)[1:]
        body = FAST.encode_exact(payload) if exact else FAST.encode(payload)
    except ETFError:
        body = None
    for got, parts in ((frame, None if body is None else terms + body[1:]), (alone, terms)):
        if parts is None or 4 + len(header) + len(parts) > limit:
            assert got is None
        else:
            assert got == struct.pack(">I", len(header) + len(parts)) + header + parts


def test_a_big_binary_is_a_part_of_its_own():
    big = bytes(1000)
    gathered = FAST.encode_parts(("big", big, [big, 1]), gather_from=1000)
    assert [part is big for part in gathered.parts] == [False, True, False, True, False]
    assert FAST.encode_parts(("big", big), gather_from=1001) == FAST.encode(("big", big))
    assert type(FAST.encode_parts(("big", big), gather_from=1001)) is bytes


def test_ext_pids_and_refs_made_in_python_encode_in_c_as_in_python():
    made = [ExtPid("a@h", 7, 1, 3), ExtRef("a@h", 3, (1, 2, 3)), ExtRef("日本@vm", 1, (9,))]
    assert [FAST.encode(v) for v in made] == [PURE.encode(v) for v in made]
    assert [FAST.decode(FAST.encode(v)) for v in made] == made


def decode_both(data: bytes):
    """What both decoders make of ``data``: the same term, or both an ETFError."""
    outcomes = []
    for codec in (FAST, PURE):
        try:
            outcomes.append(("ok", codec.decode(data)))
        except ETFError as error:
            assert str(error)
            outcomes.append(("error", type(error)))
    assert outcomes[0][0] == outcomes[1][0]
    if outcomes[0][0] == "ok":
        assert same(outcomes[0][1], outcomes[1][1])
    return outcomes[0]


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=64))
def test_random_bytes_give_a_term_or_an_etf_error(junk):
    decode_both(junk)
    decode_both(b"\x83" + junk)


mutations = st.one_of(
    st.tuples(st.just("set"), st.integers(0, 10**6), st.integers(0, 255)),
    st.tuples(st.just("cut"), st.integers(0, 10**6), st.just(0)),
    st.tuples(st.just("insert"), st.integers(0, 10**6), st.integers(0, 255)),
    st.tuples(st.just("delete"), st.integers(0, 10**6), st.just(0)),
)


def mutate(data: bytes, edits) -> bytes:
    buffer = bytearray(data)
    for kind, where, byte in edits:
        at = where % (len(buffer) + 1)
        if kind == "set" and at < len(buffer):
            buffer[at] = byte
        elif kind == "cut":
            del buffer[at:]
        elif kind == "insert":
            buffer.insert(at, byte)
        elif kind == "delete" and at < len(buffer):
            del buffer[at]
    return bytes(buffer)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(terms, st.lists(mutations, min_size=1, max_size=4))
def test_mutated_encodings_give_a_term_or_an_etf_error(value, edits):
    decode_both(mutate(FAST.encode(value), edits))
    decode_both(mutate(FAST.encode(value, compressed=1), edits))
