"""The codec against the real BEAM: OTP's own bytes decode to the API's mapping and encode back
to exactly the same bytes, and OTP reads what the codec writes as the same terms."""

import random

import pytest
from etf_otp import run_elixir

from beamlet.dist import etf
from beamlet.dist.etf import (
    BitBinary,
    Codec,
    ExtExport,
    ExtFun,
    ExtPid,
    ExtPort,
    ExtRef,
    FrozenList,
    FrozenMap,
    ImproperList,
)
from beamlet.kernel.terms import Down, Exit

# Both decoders and encoders: the C fast path (when it was built) and the pure-Python one.
CODECS = {"c": (Codec(), Codec(minor_version=1)),
          "python": (Codec(use_c=False), Codec(use_c=False, minor_version=1))}

# The research report's `$gen_call` (erlang-distribution.md, 3.1 and 5): the bytes OTP 25's
# term_to_binary wrote for {:"$gen_call", {pid, [:alias | ref]}, {:get, "key", [1, 2, 3],
# %{"a" => 1.5}}} on a node without distribution, in its default form and with
# minor_version: 2 (UTF-8 atoms, as on the wire).
GEN_CALL_OTP25 = bytes.fromhex(
    "8368036400092467656E5F63616C6C68025864000D6E6F6E6F6465406E6F686F73740000006000000000"
    "000000006C00000001640005616C6961735A000364000D6E6F6E6F6465406E6F686F7374000000000001"
    "13AA3FE800018053407268046400036765746D000000036B65796B000301020374000000016D00000001"
    "61463FF8000000000000")
GEN_CALL_UTF8 = bytes.fromhex(
    "83680377092467656E5F63616C6C680258770D6E6F6E6F6465406E6F686F737400000060000000000000"
    "00006C000000017705616C6961735A0003770D6E6F6E6F6465406E6F686F737400000000000113AA3FE8"
    "000180534072680477036765746D000000036B65796B000301020374000000016D0000000161463FF800"
    "0000000000")


@pytest.fixture(params=sorted(CODECS))
def codecs(request):
    return CODECS[request.param]


def check_gen_call(term):
    tag, (caller, call_tag), request = term
    assert tag == "$gen_call"
    assert type(caller) is ExtPid and caller.node == "nonode@nohost"
    assert type(call_tag) is ImproperList and call_tag.items == ("alias",)
    assert type(call_tag.tail) is ExtRef and len(call_tag.tail.ids) == 3
    assert request == ("get", b"key", [1, 2, 3], {b"a": 1.5})


def test_the_research_gen_call_decodes_and_reencodes_byte_exact(codecs):
    utf8, latin1 = codecs
    for data, codec in ((GEN_CALL_OTP25, latin1), (GEN_CALL_UTF8, utf8)):
        term = codec.decode(data)
        check_gen_call(term)
        assert codec.encode(term) == data
    # a reply goes back with the tag unchanged, whatever form the atoms take around it
    call_tag = utf8.decode(GEN_CALL_UTF8)[1][1]
    reply = utf8.decode(utf8.encode((call_tag, ("ok", b"v"))))
    assert reply[0] == call_tag and reply[0].tail.raw == call_tag.tail.raw


def test_a_live_gen_call_round_trips(otp_vectors, codecs):
    utf8, latin1 = codecs
    one, two = otp_vectors["gen_call"]
    check_gen_call(latin1.decode(one))
    assert latin1.encode(latin1.decode(one)) == one
    assert utf8.encode(utf8.decode(two)) == two


def test_every_otp_vector_round_trips_byte_exact(otp_vectors, codecs):
    utf8, latin1 = codecs
    for name, (one, two) in otp_vectors.items():
        if name == "compressed":
            continue
        assert latin1.encode(latin1.decode(one)) == one, name
        assert utf8.encode(utf8.decode(two)) == two, name
        assert utf8.decode(one) == utf8.decode(two), name


def test_otp_vectors_decode_to_the_api_mapping(otp_vectors, codecs):
    codec = codecs[0]
    term = {name: codec.decode(two) for name, (_, two) in otp_vectors.items()}
    assert term["atom"] == "ok" and term["atom_latin1"] == "héllo" and term["atom_utf8"] == "日本"
    assert term["atom_empty"] == "" and term["atom_255"] == "a" * 255
    assert term["atom_long_utf8"] == "é" * 200
    assert term["atom_true"] is True and term["atom_false"] is False and term["atom_nil"] is None
    assert term["undefined"] == "undefined"
    ints = {"int_0": 0, "int_255": 255, "int_256": 256, "int_neg": -1, "int_max32": 2**31 - 1,
            "int_min32": -2**31, "int_past32": 2**31, "int_below32": -2**31 - 1,
            "int_70000": 70000, "int_neg70000": -70000, "big_64": 2**64, "big_neg": -2**64,
            "large_big": 7**2000}
    for name, value in ints.items():
        assert type(term[name]) is int and term[name] == value, name
    assert term["float"] == 1.5 and str(term["float_neg_zero"]) == "-0.0"
    assert term["float_huge"] == 1.0e300 and term["float_tiny"] == 5.0e-324
    assert term["bin_empty"] == b"" and term["bin"] == b"key"
    assert term["bin_bytes"] == b"\x00\xff\x80" and term["bin_big"] == b"\x07" * 70000
    assert term["bits3"] == BitBinary(b"\x20", 3) and term["bits9"] == BitBinary(b"\xff\x80", 1)
    assert term["tuple_empty"] == () and term["tuple"] == (1, "two", b"three")
    assert term["tuple_300"] == tuple(range(1, 301))
    assert term["list_empty"] == [] and term["charlist"] == [1, 2, 3]
    assert term["charlist_abc"] == [97, 98, 99] and term["list_wide"] == [256, 1]
    assert term["list_atoms"] == ["a", "b"] and term["list_mixed"] == [1, b"x", ("y",)]
    assert term["long_charlist"] == [n % 256 for n in range(1, 70001)]
    assert term["improper"] == ImproperList(("a",), "b")
    assert term["improper2"] == ImproperList((1, 2), 3)
    assert term["improper_nested"] == ImproperList(([1],), 2)
    assert term["alias_tag"].items == ("alias",) and type(term["alias_tag"].tail) is ExtRef
    assert term["map_empty"] == {} and term["map"] == {b"a": 1.5}
    assert term["map_atoms"] == {"a": 1, "b": [2]}
    assert term["map_tuple_map_key"] == {(FrozenMap({"a": 1}),): 1}
    assert term["map_list_key"] == {FrozenList([1, 2]): "x"}
    assert term["map_map_key"] == {FrozenMap({"k": "v"}): [{}]}
    assert term["map_40"] == {n: -n for n in range(1, 41)}
    assert term["nested"] == ([{b"k": (1, [2.5, b"s"])}], "deep")
    assert type(term["pid"]) is ExtPid and term["pid"].node == "nonode@nohost"
    assert term["pid_other"] != term["pid"]
    for name in ("ref", "ref_monitor", "alias"):
        assert type(term[name]) is ExtRef and term[name].node == "nonode@nohost", name
    assert type(term["port"]) is ExtPort
    assert type(term["fun"]) is ExtFun and term["fun"].arity == 1
    assert type(term["closure"]) is ExtFun and term["closure"].free_vars
    assert term["export"] == ExtExport("Elixir.Enum", "map", 2)
    assert term["exit"] == Exit(term["pid"], "boom") and type(term["exit"]) is Exit
    assert type(term["down"]) is Down
    assert term["down"] == Down(term["ref_monitor"], term["pid_other"], "normal")
    assert type(term["down_port"]) is tuple and term["down_port"][2] == "port"


def test_a_compressed_term_from_otp_decodes(otp_vectors, codecs):
    codec = codecs[0]
    data = otp_vectors["compressed"][0]
    assert data[1] == 80
    assert codec.decode(data) == (b"abc", b"z" * 500)
    again = codec.encode(codec.decode(data), compressed=6)
    assert again[1] == 80 and codec.decode(again) == (b"abc", b"z" * 500)


# --- the other direction: what the codec writes, OTP reads as the same term ---

def corpus(seed: int, count: int) -> list:
    """Python values of every kind the mapping has, deterministic for a seed."""
    rng = random.Random(seed)
    pid = ExtPid("py@vm", 42, 0, 7)
    ref = ExtRef("py@vm", 7, (1, 2, 3))
    leaves = [lambda: rng.choice(["ok", "error", "héllo", "日本", "", "x" * 255]),
              lambda: rng.randint(-2**70, 2**70), lambda: rng.randint(0, 300),
              lambda: rng.choice([1.5, -0.25, 1e300, 0.0]),
              lambda: rng.randbytes(rng.randint(0, 9)),
              lambda: rng.choice([True, False, None]), lambda: pid, lambda: ref,
              lambda: BitBinary(bytes([rng.randint(0, 255) & 0xE0]), 3),
              lambda: ExtExport("lists", "map", 2), lambda: ExtPort("py@vm", 5, 7)]

    def term(depth: int):
        kind = rng.randint(0, 9 if depth < 3 else 0)
        if kind <= 3:
            return rng.choice(leaves)()
        if kind <= 5:
            return tuple(term(depth + 1) for _ in range(rng.randint(0, 4)))
        if kind == 6:
            return [term(depth + 1) for _ in range(rng.randint(0, 4))]
        if kind == 7:
            return {rng.choice(leaves)(): term(depth + 1) for _ in range(rng.randint(0, 3))}
        if kind == 8:
            return ImproperList([term(depth + 1)], rng.choice(["t", 5, b"b"]))
        return rng.choice([Exit(pid, term(depth + 1)), Down(ref, pid, term(depth + 1)),
                           [rng.randint(0, 255) for _ in range(rng.randint(1, 5))]])

    return [term(0) for _ in range(count)]


def orders_map_keys(value) -> bool:
    """Whether OTP would write ``value`` differently: it sorts the keys of small maps."""
    if isinstance(value, dict):
        return len(value) > 1 or any(map(orders_map_keys, value.items()))
    if isinstance(value, (tuple, list)):
        return any(map(orders_map_keys, value))
    if isinstance(value, ImproperList):
        return orders_map_keys(value.items) or orders_map_keys(value.tail)
    return False


def test_otp_reads_what_the_codec_writes():
    """OTP decodes each encoding and writes it again (minor_version 2): the same term, and the
    same bytes unless a map's keys had to be put in Erlang's order."""
    values = corpus(seed=9, count=300)
    encoded = [etf.encode(value) for value in values]
    script = """
    IO.stream(:stdio, :line)
    |> Enum.each(fn line ->
      term = :erlang.binary_to_term(Base.decode16!(String.trim(line)))
      IO.puts(Base.encode16(:erlang.term_to_binary(term, minor_version: 2)))
    end)
    """
    written = run_elixir(script, stdin="".join(data.hex().upper() + "\n" for data in encoded))
    rewritten = [bytes.fromhex(line) for line in written.split()]
    assert len(rewritten) == len(values)
    for value, ours, theirs in zip(values, encoded, rewritten, strict=True):
        assert etf.decode(theirs) == value
        if not orders_map_keys(value):
            assert theirs == ours, value
