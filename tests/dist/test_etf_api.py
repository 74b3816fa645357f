"""The codec's Python side: the value types, the hooks between wire identities and kernel
pids/refs, encoding errors that say where, and the encoder's choices of form."""

import copy
import enum
import pickle
from collections import OrderedDict

import pytest

import beamlet
from beamlet.dist import etf
from beamlet.dist.etf import (
    BitBinary,
    Codec,
    ETFError,
    ExtExport,
    ExtFun,
    ExtPid,
    ExtPort,
    ExtRef,
    FrozenList,
    FrozenMap,
    ImproperList,
)
from beamlet.dist.fragments import NORMAL_HEADER
from beamlet.kernel.terms import Down, Exit

CODECS = {"c": Codec(), "python": Codec(use_c=False)}


@pytest.fixture(params=sorted(CODECS))
def codec(request):
    return CODECS[request.param]


PID = ExtPid("a@vm", 84, 0, 3)
REF = ExtRef("a@vm", 3, (1, 2, 3))


def test_wire_identities_are_immutable_values():
    assert PID == ExtPid("a@vm", 84, 0, 3) and hash(PID) == hash(ExtPid("a@vm", 84, 0, 3))
    assert PID != ExtPid("a@vm", 84, 0, 4) and PID != ("a@vm", 84, 0, 3)
    decoded = etf.decode(etf.encode(PID))
    assert decoded == PID and decoded.raw == etf.encode(PID)[1:] and PID.raw is None
    with pytest.raises(AttributeError):
        PID.id = 5
    assert copy.deepcopy(PID) is PID and copy.copy(REF) is REF
    for value in (decoded, REF, ImproperList([1], 2), BitBinary(b"\x80", 1),
                  ExtPort("a@vm", 2**40, 1), ExtExport("m", "f", 1)):
        again = pickle.loads(pickle.dumps(value))
        assert again == value and getattr(again, "raw", None) == getattr(value, "raw", None)
    assert repr(PID) == "ExtPid('a@vm', 84, 0, 3)"
    assert repr(ImproperList(["alias"], REF)) == (
        "ImproperList(('alias',), ExtRef('a@vm', 3, (1, 2, 3)))")


def test_an_alias_tag_is_the_improper_list_gen_erl_sends():
    tag = etf.alias_tag(REF)
    assert type(tag) is ImproperList and tag == ImproperList(["alias"], REF)
    assert hash(tag) == hash(ImproperList(["alias"], REF)) and tag != ImproperList(["x"], REF)
    assert etf.encode(tag) == etf.encode(ImproperList(["alias"], REF))
    assert etf.decode(etf.encode(tag)) == tag
    with pytest.raises(AttributeError):
        tag.tail = 1


@pytest.mark.parametrize("build", [
    lambda: ExtPid("a@vm", -1), lambda: ExtPid("a@vm", 2**32), lambda: ExtPid(b"a@vm", 1),
    lambda: ExtPid("x" * 256, 1), lambda: ExtRef("a@vm", 1, ()),
    lambda: ExtRef("a@vm", 1, (1,) * 6),
    lambda: ExtPort("a@vm", 2**64), lambda: ExtExport("m", "f", 256),
    lambda: ImproperList([], "t"), lambda: ImproperList([1], [2]),
    lambda: ImproperList([1], ImproperList([2], 3)), lambda: BitBinary(b"", 3),
    lambda: BitBinary(b"\x00", 8), lambda: ExtFun("m", 1, b"short", 0, 0, 0, PID),
])
def test_constructors_refuse_what_has_no_term(build):
    with pytest.raises(ValueError):
        build()


def test_frozen_keys_are_hashable_and_encode_as_lists_and_maps(codec):
    key = FrozenMap({"a": FrozenList([1, 2])})
    assert hash(key) == hash(FrozenMap({"a": FrozenList([1, 2])}))
    with pytest.raises(TypeError):
        key["b"] = 1
    assert codec.encode({key: 1}) == codec.encode({key: 1}) and \
        codec.decode(codec.encode({key: 1})) == {key: 1}
    assert codec.encode(FrozenList([1, 2])) == codec.encode([1, 2])
    assert codec.encode(key) == codec.encode({"a": [1, 2]})


def test_a_fun_made_in_python_encodes_from_its_fields(codec):
    fun = ExtFun("m", 1, bytes(16), 3, 4, 5, PID, (1, b"x"))
    decoded = codec.decode(codec.encode(fun))
    assert decoded == fun and decoded.raw == codec.encode(fun)[1:]
    assert hash(decoded) == hash(fun)
    port = ExtPort("a@vm", 7, 3)
    assert codec.encode(port)[1] == 89 and codec.encode(ExtPort("a@vm", 2**40, 3))[1] == 120
    assert codec.decode(codec.encode(ExtPort("a@vm", 2**40, 3))) == ExtPort("a@vm", 2**40, 3)


def local_pid_and_ref():
    """A kernel Pid and Ref, made by a running node."""
    return beamlet.run(lambda: (beamlet.self_pid(), beamlet.make_ref()))


def ref_mapping_codec(asked, answer):
    """A codec that keeps what it decodes (`cache_decoded_pids`), leaves pids as they come,
    notes the id words of each ref its hook is asked about in ``asked`` and answers
    ``answer(ref)``."""
    class Mapping(Codec):
        cache_decoded_pids = True

        def decode_pid(self, ext):
            return ext

        def decode_ref(self, ext):
            asked.append(ext.ids)
            return answer(ext)

    return Mapping()


def test_a_ref_the_hook_leaves_as_it_is_is_kept_one_mapped_is_asked_once_a_decode():
    asked = []
    codec = ref_mapping_codec(
        asked, lambda ext: ("ours", ext.ids) if ext.node == "py@vm" else ext)
    theirs, ours = ExtRef("ex@vm", 3, (1, 2, 3)), ExtRef("py@vm", 1, (4, 5, 6))
    data = etf.encode([theirs, ours, ImproperList(["alias"], theirs), ours])
    first, second = codec.decode(data), codec.decode(data)
    assert first == second == [theirs, ("ours", (4, 5, 6)), ImproperList(["alias"], theirs),
                               ("ours", (4, 5, 6))]
    assert first[0] is first[2].tail is second[0]  # one object for their ref
    # ours: one answer for its two places in a term (a reply's alias and tag), asked again
    # by the next decode (it may have died meanwhile)
    assert first[1] is first[3] and first[1] is not second[1]
    assert asked.count((1, 2, 3)) == 1 and asked.count((4, 5, 6)) == 2
    frames = b"".join(len(body).to_bytes(4, "big") + body
                      for body in [NORMAL_HEADER + etf.encode((2, ours))[1:],
                                   NORMAL_HEADER + etf.encode((2, ours))[1:]])
    asked.clear()
    found = codec.decode_frames(frames, header=NORMAL_HEADER, no_payload=None, largest=1000)
    assert found is not None and [item[0] for item in found[1]] == [(2, ("ours", (4, 5, 6)))] * 2
    assert asked == [(4, 5, 6)]  # (one read: its frames decoded before any is acted on)


def test_bytes_remembered_both_ways_decode_as_their_object_without_the_hook():
    asked = []
    # (an answer that is no ExtRef: the decoder keeps none of its own)
    codec = ref_mapping_codec(asked, lambda ext: ("mapped", ext.ids))
    ours, other = ExtRef("py@vm", 1, (4, 5, 6)), ExtRef("py@vm", 1, (7, 8, 9))
    token = ("our ref", 1)
    codec.remember_bytes(token, etf.encode(ours)[1:], both_ways=True)
    codec.remember_bytes(("other", 2), etf.encode(other)[1:])   # one way only
    data = etf.encode([ours, other, ImproperList(["alias"], ours)])
    decoded = codec.decode(data)
    assert decoded[0] is token and decoded[2].tail is token
    assert decoded[1] == ("mapped", (7, 8, 9)) and asked == [(7, 8, 9)]
    body = NORMAL_HEADER + etf.encode((2, ours))[1:]
    found = codec.decode_frames(len(body).to_bytes(4, "big") + body, header=NORMAL_HEADER,
                                no_payload=None, largest=1000)
    assert found is not None and found[1][0][0][1] is token and asked == [(7, 8, 9)]
    codec.forget()   # the codec no longer holds it: the hook is asked again
    assert codec.decode(data)[0] == ("mapped", (4, 5, 6)) and (4, 5, 6) in asked


def test_local_pids_and_refs_need_a_hook(codec):
    pid, ref = local_pid_and_ref()
    with pytest.raises(ETFError, match="pid= hook"):
        codec.encode(("from", pid))
    with pytest.raises(ETFError, match="ref= hook"):
        codec.encode([ref])


def test_hooks_map_kernel_pids_and_refs_to_the_wire_and_back():
    pid, ref = local_pid_and_ref()
    wire_pid, wire_ref = ExtPid("py@vm", 1, 0, 9), ExtRef("py@vm", 9, (5, 6, 7))
    out = {pid: wire_pid, ref: wire_ref}
    back = {wire_pid: pid, wire_ref: ref}
    data = etf.encode(Down(ref, pid, "normal"), pid=out.get, ref=out.get)
    assert etf.decode(data) == Down(wire_ref, wire_pid, "normal")
    assert etf.decode(data, pid=back.get, ref=back.get) == Down(ref, pid, "normal")

    class NodeCodec(Codec):
        def decode_pid(self, ext):
            return back.get(ext, ext)

        def decode_ref(self, ext):
            return back.get(ext, ext)

        def encode_pid(self, local):
            return out[local]

        def encode_ref(self, local):
            return out[local]

    for use_c in (True, False):
        node = NodeCodec(use_c=use_c)
        message = ("$gen_call", (pid, ImproperList(["alias"], ref)), [PID, REF])
        decoded = node.decode(node.encode(message))
        assert decoded == message and decoded[1][0] is pid and decoded[1][1].tail is ref


@pytest.mark.parametrize("cached", [True, False])
def test_a_codec_may_keep_what_decode_pid_made_of_each_pid(cached):
    """With ``cache_decoded_pids`` the C decoder asks the hook once per pid's bytes (and
    forgets them all past 4,096 pids); without it, every time."""
    asked = []

    class Counting(Codec):
        cache_decoded_pids = cached

        def decode_pid(self, ext):
            asked.append(ext)
            return ("pid", ext.id)

    codec = Counting()
    assert codec.accelerated
    pids = [ExtPid("ex@vm", n, 0, 3) for n in range(3)]
    data = etf.encode([pids[0], pids[1], pids[0], (pids[2], pids[1])])
    for _ in range(2):
        assert codec.decode(data) == [("pid", 0), ("pid", 1), ("pid", 0), (("pid", 2), ("pid", 1))]
    assert len(asked) == (3 if cached else 10)
    if cached:
        many = etf.encode([ExtPid("ex@vm", n, 0, 3) for n in range(5000)])
        assert codec.decode(many)[4999] == ("pid", 4999)
        asked.clear()
        codec.decode(data)  # the first 4,096 of those went, then the cache started again
        assert len(asked) == 3


def test_encode_other_turns_foreign_objects_into_terms():
    class Point:
        def __init__(self, x, y):
            self.x, self.y = x, y

    class PointCodec(Codec):
        def encode_other(self, obj):
            return ("point", obj.x, obj.y)

    for use_c in (True, False):
        assert PointCodec(use_c=use_c).encode([Point(1, 2)]) == etf.encode([("point", 1, 2)])
    with pytest.raises(ETFError, match="Point"):
        etf.encode(Point(1, 2))


@pytest.mark.parametrize("value, words, path", [
    ("a" * 256, ["256 characters", "255", "bytes"], []),
    (("ok", [1, {"k": float("inf")}]), ["inf"], [1, 1, "k"]),
    ({"a": [ImproperList([1], float("nan"))]}, ["nan"], ["a", 0, "tail"]),
    ([object()], ["object"], [0]),
    (("\udc80",), ["UTF-8"], [0]),
])
def test_encoding_errors_say_what_and_where(codec, value, words, path):
    with pytest.raises(ETFError) as caught:
        codec.encode(value)
    for word in words:
        assert word in str(caught.value)
    assert caught.value.path == path


def test_a_value_that_contains_itself_is_refused(codec):
    loop: list = []
    loop.append(loop)
    with pytest.raises(ETFError, match="nested too deeply"):
        codec.encode(loop)


def test_the_encoder_writes_the_forms_otp_writes(codec):
    assert codec.encode("ok") == b"\x83w\x02ok"
    assert Codec(minor_version=1).encode("ok") == b"\x83d\x00\x02ok"
    assert Codec(minor_version=1).encode("日本") == b"\x83w\x06" + "日本".encode()
    assert codec.encode("é" * 200) == b"\x83v\x01\x90" + ("é" * 200).encode()
    assert codec.encode(True) == b"\x83w\x04true" and codec.encode(None) == b"\x83w\x03nil"
    assert codec.encode([1, 2, 3]) == b"\x83k\x00\x03\x01\x02\x03"
    assert codec.encode([True, 1]) == b"\x83l\x00\x00\x00\x02w\x04truea\x01j"
    assert codec.encode([0, False]) == b"\x83l\x00\x00\x00\x02a\x00w\x05falsej"
    assert codec.encode([256]) == b"\x83l\x00\x00\x00\x01b\x00\x00\x01\x00j"
    assert codec.encode(-1) == b"\x83b\xff\xff\xff\xff"
    assert codec.encode(2**31) == b"\x83n\x04\x00\x00\x00\x00\x80"
    assert codec.encode(-(2**2048))[:7] == b"\x83o\x00\x00\x01\x01\x01"
    assert codec.encode(Exit(PID, "boom")) == codec.encode(("EXIT", PID, "boom"))
    assert codec.encode(Down(REF, PID, "x")) == codec.encode(("DOWN", REF, "process", PID, "x"))
    assert codec.encode(BitBinary(b"\x20", 3)) == b"\x83M\x00\x00\x00\x01\x03\x20"
    with pytest.raises(ValueError):
        Codec(minor_version=0)


class Color(enum.IntEnum):
    RED = 1


class Mode(str, enum.Enum):  # noqa: UP042 - this mixin form (not StrEnum) is under test
    FAST = "fast"


def test_subclasses_of_builtins_encode_as_their_base(codec):
    assert codec.encode(Color.RED) == codec.encode(1)
    assert codec.encode([Color.RED, 2]) == codec.encode([1, 2]) == b"\x83k\x00\x02\x01\x02"
    assert codec.encode(Mode.FAST) == codec.encode("fast")
    assert codec.encode(OrderedDict(a=1)) == codec.encode({"a": 1})
    assert codec.encode(bytearray(b"xy")) == codec.encode(b"xy")
    assert codec.encode(memoryview(b"xy")) == codec.encode(b"xy")


def test_compression_is_used_only_when_it_pays(codec):
    small = codec.encode(b"abc", compressed=6)
    assert small == codec.encode(b"abc")
    big = codec.encode(b"z" * 1000, compressed=True)
    assert big[1] == 80 and len(big) < 100 and codec.decode(big) == b"z" * 1000


def test_decode_prefix_reads_a_pass_through_frame():
    control = etf.encode((22, PID, PID))
    message = etf.encode(("hello", [1, 2]))
    compressed = etf.encode(b"q" * 500, compressed=True)
    frame = b"p" + control + message + compressed
    first, at = etf.decode_prefix(frame, 1)
    second, at = etf.decode_prefix(frame, at)
    third, end = etf.decode_prefix(frame, at)
    assert (first, second, third, end) == ((22, PID, PID), ("hello", [1, 2]), b"q" * 500,
                                            len(frame))


def test_decode_takes_bytes_like_input(codec):
    data = codec.encode(("a", [1]))
    assert codec.decode(bytearray(data)) == codec.decode(memoryview(data)) == ("a", [1])


def test_a_bytearray_is_decoded_where_it_lies_and_cannot_change_meanwhile():
    """(A reassembled message is a bytearray: the C decoder reads it without a copy, holding
    a buffer export, so a hook that tried to resize it gets a BufferError, not a crash.)"""
    data = bytearray(etf.encode((PID, b"x" * 1000, ExtPort("a@vm", 5, 1))))  # a port: Python
    assert Codec().decode_prefix(data) == Codec(use_c=False).decode_prefix(bytes(data))

    class Resizing(Codec):
        def decode_pid(self, pid):
            data.extend(b"junk")
            return pid

    if Codec().accelerated:  # (the Python decoder reads a copy)
        with pytest.raises(BufferError):
            Resizing().decode_at(data, 1)
        assert len(data) == len(etf.encode((PID, b"x" * 1000, ExtPort("a@vm", 5, 1))))


def test_decoded_values_cross_between_processes_unchanged():
    """A message is isolated (copied) at send: frozen keys and wire identities survive it."""
    data = etf.encode({FrozenMap({"k": FrozenList([1])}): ImproperList(["alias"], REF),
                       "pid": PID, "bits": BitBinary(b"\x80", 1)})
    message = etf.decode(data)

    async def main():
        beamlet.send(beamlet.self_pid(), message)
        return await beamlet.receive()

    received = beamlet.run(main)
    assert received == message and etf.encode(received) == data
    key = next(iter(received))
    assert type(key) is FrozenMap and hash(key) == hash(FrozenMap({"k": FrozenList([1])}))
    assert copy.deepcopy(message) == message and pickle.loads(pickle.dumps(message)) == message
