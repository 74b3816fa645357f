"""Malformed, truncated, deeply nested, huge-length and unsupported input: an `ETFError` that
says what and where, never a crash, a hang or a huge allocation."""

import struct
import tracemalloc
import zlib

import pytest

from beamlet.dist import etf
from beamlet.dist.etf import Codec, ETFError

CODECS = {"c": Codec(), "python": Codec(use_c=False)}


@pytest.fixture(params=sorted(CODECS))
def codec(request):
    return CODECS[request.param]


def refused(codec, data: bytes, *words: str) -> ETFError:
    with pytest.raises(ETFError) as caught:
        codec.decode(data)
    message = str(caught.value)
    for word in words:
        assert word in message, message
    assert isinstance(caught.value, ValueError)
    return caught.value


def test_the_atom_cache_and_local_ext_are_refused(codec):
    error = refused(codec, b"\x83R\x00", "ATOM_CACHE_REF", "at byte 1")
    assert error.offset == 1
    refused(codec, b"\x83h\x02a\x01R\x05", "ATOM_CACHE_REF", "at byte 5")
    refused(codec, b"\x83y" + b"\x00" * 20, "LOCAL_EXT")
    refused(codec, b"\x83u\x00\x00\x00\x00", "FUN_EXT")
    refused(codec, b"\x83h\x01P\x00\x00\x00\x01", "compressed term is only allowed")
    refused(codec, b"\x83\x01", "unknown tag 1")


def test_the_frame_around_a_term_is_checked(codec):
    refused(codec, b"", "empty")
    refused(codec, b"\x82a\x01", "version byte is 130")
    refused(codec, b"\x83", "input ends where a term should start")
    refused(codec, b"\x83a\x01a\x02", "2 bytes left after the term", "at byte 3")


def test_every_truncation_of_a_message_is_refused_with_its_position(codec):
    data = etf.encode(("$gen_call", (etf.ExtPid("a@vm", 1, 2, 3), [b"x", 1.5, 2**80]),
                       {"k": etf.ExtRef("a@vm", 3, (1, 2, 3))}))
    for end in range(len(data)):
        error = refused(codec, data[:end])
        assert error.offset is not None and error.offset <= end


def test_nesting_past_max_depth_is_refused(codec):
    deep = b"\x83" + b"h\x01" * 100_000 + b"j"
    refused(codec, deep, "max_depth=256")
    deep_lists = b"\x83" + b"l\x00\x00\x00\x01" * 100_000 + b"j" + b"j" * 100_000
    refused(codec, deep_lists, "max_depth")
    shallow = b"\x83" + b"h\x01" * 200 + b"j"
    assert Codec(max_depth=300).decode(shallow) is not None
    refused(Codec(max_depth=100), shallow, "max_depth=100")


def test_a_max_depth_past_pythons_recursion_limit_still_gives_an_etf_error():
    deep = b"\x83" + b"h\x01" * 100_000 + b"j"
    for codec in (Codec(max_depth=10**6), Codec(max_depth=10**6, use_c=False)):
        refused(codec, deep, "recursion limit")


HUGE = 0xFFFFFFFF


@pytest.mark.parametrize("data, what", [
    (b"\x83l" + struct.pack(">I", HUGE) + b"a\x01", "list claims"),
    (b"\x83m" + struct.pack(">I", HUGE) + b"abc", "binary claims"),
    (b"\x83t" + struct.pack(">I", HUGE) + b"a\x01a\x02", "map claims"),
    (b"\x83i" + struct.pack(">I", HUGE) + b"a\x01", "tuple claims"),
    (b"\x83k\xff\xff" + b"ab", "charlist claims"),
    (b"\x83o" + struct.pack(">I", HUGE) + b"\x00\x01", "bignum claims"),
    (b"\x83M" + struct.pack(">I", HUGE) + b"\x03\x01", "bitstring claims"),
    (b"\x83p" + struct.pack(">I", HUGE) + b"\x01", "fun claims"),
    (b"\x83Z\x00\x05w\x01a" + b"\x00" * 4, "reference claims"),
    (b"\x83P" + struct.pack(">I", HUGE) + zlib.compress(b"a\x01"), "max_size"),
])
def test_huge_lengths_are_refused_before_anything_is_allocated(codec, data, what):
    tracemalloc.start()
    try:
        refused(codec, data, what)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20


def test_compressed_terms_must_inflate_to_the_size_they_claim(codec):
    body = b"m" + struct.pack(">I", 1 << 20) + bytes(1 << 20)
    packed = zlib.compress(body)
    assert codec.decode(b"\x83P" + struct.pack(">I", len(body)) + packed) == bytes(1 << 20)
    refused(Codec(max_size=1 << 16), b"\x83P" + struct.pack(">I", len(body)) + packed,
            "max_size=65536")
    # a bomb that claims little: inflating stops one byte past the claim
    tracemalloc.start()
    try:
        refused(codec, b"\x83P" + struct.pack(">I", 10) + packed, "not the 10 it claims")
        assert tracemalloc.get_traced_memory()[1] < 1 << 20
    finally:
        tracemalloc.stop()
    refused(codec, b"\x83P\x00\x00\x00\x05" + b"not zlib", "does not inflate")
    refused(codec, b"\x83P\x00\x00\x00\x03" + zlib.compress(b"a\x01a"), "left after")


@pytest.mark.parametrize("data, what", [
    (b"\x83w\x02\xff\xfe", "not valid UTF-8"),
    (b"\x83v\x01\x00" + b"a" * 256, "atom of 256 characters"),
    (b"\x83F" + struct.pack(">d", float("inf")), "not finite"),
    (b"\x83F" + struct.pack(">d", float("nan")), "not finite"),
    (b"\x83c" + b"inf".ljust(31, b"\x00"), "not finite"),
    (b"\x83c" + b"1.5e0zz".ljust(31, b"\x00"), "does not hold a number"),
    (b"\x83M\x00\x00\x00\x01\x00\xff", "bits in its last byte"),
    (b"\x83M\x00\x00\x00\x01\x09\xff", "bits in its last byte"),
    (b"\x83Z\x00\x00w\x01a\x00\x00\x00\x00", "0 id words"),
    (b"\x83Z\x00\x06w\x01a" + b"\x00" * 28, "6 id words"),
    (b"\x83Xa\x01" + b"\x00" * 12, "expected an atom"),
    (b"\x83t\x00\x00\x00\x02a\x01a\x02a\x01a\x03", "duplicate keys"),
    (b"\x83t\x00\x00\x00\x02a\x01a\x02F" + struct.pack(">d", 1.0) + b"a\x03", "1.0"),
    (b"\x83qw\x01mw\x01fb\x00\x00\x00\x02", "arity is a SMALL_INTEGER_EXT"),
])
def test_malformed_terms_are_refused(codec, data, what):
    refused(codec, data, what)


def test_legacy_forms_decode(codec):
    assert codec.decode(b"\x83c" + b"1.50000000000000000000e+00".ljust(31, b"\x00")) == 1.5
    assert codec.decode(b"\x83s\x02ok") == "ok"
    assert codec.decode(b"\x83M\x00\x00\x00\x01\x08\xff") == b"\xff"
    assert codec.decode(b"\x83M\x00\x00\x00\x00\x00") == b""
    assert codec.decode(b"\x83l\x00\x00\x00\x00a\x01") == 1
    assert codec.decode(b"\x83l\x00\x00\x00\x01a\x01l\x00\x00\x00\x01a\x02j") == [1, 2]
    old_pid = b"\x83gd\x00\x04a@vm" + struct.pack(">IIB", 5, 0, 2)
    pid = codec.decode(old_pid)
    assert (pid.node, pid.id, pid.serial, pid.creation) == ("a@vm", 5, 0, 2)
    assert codec.encode(pid) == old_pid
    for old in (b"\x83r\x00\x01w\x04a@vm\x02" + struct.pack(">I", 9),
                b"\x83ew\x04a@vm" + struct.pack(">IB", 9, 2),
                b"\x83fw\x04a@vm" + struct.pack(">IB", 9, 2)):
        assert codec.encode(codec.decode(old)) == old


def test_only_etf_errors_leave_the_decoder_for_every_single_byte_change(codec):
    """Exhaustive over one message: every byte set to every value."""
    data = etf.encode(("$gen_call", (etf.ExtPid("a@vm", 1, 2, 3),
                                     etf.ImproperList(["alias"], etf.ExtRef("a@vm", 3, (1, 2, 3)))),
                       ("get", b"key", [1, 2, 3], {b"a": 1.5}, 2**70, -5)))
    for at in range(1, len(data)):
        for value in range(256):
            try:
                codec.decode(data[:at] + bytes((value,)) + data[at + 1:])
            except ETFError:
                pass
