"""The External Term Format (ETF): Erlang terms as bytes, as `term_to_binary` and the
distribution protocol write them.

The mapping (API.md, "Distribution"):

========================================  ===============================================
Erlang                                    Python
========================================  ===============================================
atom                                      `str` (at most 255 characters)
``true`` / ``false`` / ``nil``            `True` / `False` / `None`
integer, float                            `int`, `float` (finite only)
binary                                    `bytes` (an Elixir string arrives as `bytes`)
bitstring (not a whole number of bytes)   `BitBinary`
tuple, list, map                          `tuple`, `list`, `dict`
charlist (``STRING_EXT``)                 `list` of `int`
improper list ``[a, b | t]``              `ImproperList`
``{:EXIT, pid, r}``                       `Exit` (``beamlet.kernel.terms``)
``{:DOWN, ref, :process, pid, r}``        `Down`
pid, reference, port                      `ExtPid`, `ExtRef`, `ExtPort`
fun, ``&M.f/a``                           `ExtFun`, `ExtExport`
========================================  ===============================================

A pid, ref, port or fun decoded from bytes keeps those bytes and is encoded back to exactly
them: a node checks references that claim to be its own, so a remote identity must travel back
unchanged. Map keys that Python cannot hash come back frozen (`FrozenList`, `FrozenMap`).

The kernel's `Pid` and `Ref` are local objects with no wire identity; a `Codec` (or the ``pid=``
/ ``ref=`` arguments of `encode` and `decode`) maps between them and `ExtPid` / `ExtRef`, which
is how the distribution layer plugs its node name and creation in.

Limits against hostile input, all reported as `ETFError` (a `ValueError`) naming what was wrong
and at which byte: nesting deeper than ``max_depth`` (default `DEFAULT_MAX_DEPTH`) containers, a
compressed term that claims more than ``max_size`` bytes (default `DEFAULT_MAX_SIZE`), and any
length field larger than the bytes that are left are refused before anything is allocated.
``ATOM_CACHE_REF`` (no atom cache is negotiated), ``LOCAL_EXT`` and the pre-OTP-23 ``FUN_EXT``
are refused as OTP refuses them. Known gap: a map whose integer keys were chosen to collide in
Python's hash decodes in quadratic time, as any `dict` would.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import math
import operator
import struct
import zlib
from collections.abc import Callable, Mapping
from typing import Any

from beamlet.kernel.terms import Down, Exit, Pid, Ref, RemotePid, TimerRef

try:
    from beamlet.dist import _etf as _accel
except ImportError:  # no compiler at install time: the pure-Python codec does everything
    # None stands for "not built": every use checks `accelerated` or `_accel is not None`
    _accel = None  # type: ignore[assignment]

__all__ = [
    "ETFError",
    "Gathered",
    "ExtPid",
    "ExtRef",
    "ExtPort",
    "ExtFun",
    "ExtExport",
    "ImproperList",
    "alias_tag",
    "BitBinary",
    "FrozenList",
    "FrozenMap",
    "Codec",
    "FrameDecoder",
    "decode",
    "decode_prefix",
    "encode",
    "DEFAULT_MAX_DEPTH",
    "DEFAULT_MAX_SIZE",
    "MAX_ATOM_LENGTH",
    "VERSION",
]

VERSION = 131
MAX_ATOM_LENGTH = 255
DEFAULT_MAX_DEPTH = 256
"""Containers (tuples, lists, maps, funs) nested deeper than this are refused."""
DEFAULT_MAX_SIZE = 1 << 27
"""A compressed term may not claim to inflate to more than this many bytes (128 MiB)."""

_u16 = struct.Struct(">H").unpack_from
_u32 = struct.Struct(">I").unpack_from
_i32 = struct.Struct(">i").unpack_from
_u64 = struct.Struct(">Q").unpack_from
_f64 = struct.Struct(">d").unpack_from
_3u32 = struct.Struct(">III").unpack_from
_REF_WORDS = [struct.Struct(f">{count}I").unpack_from for count in range(6)]
_pack_u16 = struct.Struct(">H").pack
_pack_u32 = struct.Struct(">I").pack
_pack_i32 = struct.Struct(">i").pack
_pack_f64 = struct.Struct(">d").pack
_pack_3u32 = struct.Struct(">III").pack
_pack_2u32 = struct.Struct(">II").pack

_TAG_NAMES = {
    70: "NEW_FLOAT_EXT", 77: "BIT_BINARY_EXT", 80: "COMPRESSED", 82: "ATOM_CACHE_REF",
    88: "NEW_PID_EXT", 89: "NEW_PORT_EXT", 90: "NEWER_REFERENCE_EXT", 97: "SMALL_INTEGER_EXT",
    98: "INTEGER_EXT", 99: "FLOAT_EXT", 100: "ATOM_EXT", 101: "REFERENCE_EXT", 102: "PORT_EXT",
    103: "PID_EXT", 104: "SMALL_TUPLE_EXT", 105: "LARGE_TUPLE_EXT", 106: "NIL_EXT",
    107: "STRING_EXT", 108: "LIST_EXT", 109: "BINARY_EXT", 110: "SMALL_BIG_EXT",
    111: "LARGE_BIG_EXT", 112: "NEW_FUN_EXT", 113: "EXPORT_EXT", 114: "NEW_REFERENCE_EXT",
    115: "SMALL_ATOM_EXT", 116: "MAP_EXT", 117: "FUN_EXT", 118: "ATOM_UTF8_EXT",
    119: "SMALL_ATOM_UTF8_EXT", 120: "V4_PORT_EXT", 121: "LOCAL_EXT",
}


class ETFError(ValueError):
    """Bytes that are not a valid term, or a Python value that has no Erlang term.

    ``offset`` is the byte (from the start of the input, or of the inflated data inside a
    compressed term) where a decoding problem was found; ``path`` is where inside the value an
    encoding problem sits (indexes and keys from the outside in).
    """

    def __init__(self, what: str, offset: int | None = None) -> None:
        super().__init__(what)
        self.what = what
        self.offset = offset
        self.path: list[Any] = []

    def __str__(self) -> str:
        text = self.what
        if self.offset is not None:
            text += f" at byte {self.offset}"
        if self.path:
            text += " at term" + "".join(f"[{step!r}]" for step in self.path)
        return text


# --- the Erlang-only values ---------------------------------------------------------------

_set = object.__setattr__
_new = object.__new__


# `Codec.frame_decoder`'s function: ``(data, largest, sequences)`` -> ``(end, items)``
FrameDecoder = Callable[[bytes | bytearray | memoryview, int, bool], tuple[int, list[Any]]]


class _Frozen:
    """Immutable slotted values: hashable, shared instead of copied, equal by their fields.

    ``raw`` (when present) holds the exact bytes the value was decoded from; it takes no part
    in equality and is what encoding writes, so the value goes back byte for byte.
    """

    __slots__ = ()
    _fields: tuple[str, ...] = ()
    _values: Callable[[Any], tuple[Any, ...]]  # the fields' values (two or more per class)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # (in C: these values are hashed whenever one is a dict key, as a monitor's ref)
        cls._values = operator.attrgetter(*cls._fields)

    def _key(self) -> tuple[Any, ...]:
        return self._values(self)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self._values(self) == other._values(other)

    def __hash__(self) -> int:
        # (the fields alone: values of two classes with the same fields are unequal anyway)
        return hash(self._values(self))

    def __repr__(self) -> str:
        fields = ", ".join(repr(value) for value in self._key())
        return f"{type(self).__name__}({fields})"

    def __copy__(self) -> Any:
        return self

    def __deepcopy__(self, memo: Any) -> Any:
        return self

    def __reduce__(self) -> Any:
        return (_rebuild, (type(self), self._key() + (getattr(self, "raw", None),)))


def _rebuild(cls: type, values: tuple[Any, ...]) -> Any:
    """An instance of ``cls`` with its slots set to ``values`` (no ``__init__``: for unpickling
    and for the decoder, which has checked what ``__init__`` checks)."""
    obj: Any = _new(cls)
    _rebuild_into(obj, values)
    return obj


def _check_uint(name: str, value: Any, bits: int) -> None:
    if type(value) is not int or not 0 <= value < (1 << bits):
        raise ValueError(f"{name} must be an int in [0, 2**{bits}), not {value!r}")


def _int32(name: str, value: Any) -> int:
    """``value`` as the signed 32-bit int OTP holds (an unsigned one is taken as its bits)."""
    if type(value) is not int or not -(1 << 31) <= value < (1 << 32):
        raise ValueError(f"{name} must be a 32-bit int, not {value!r}")
    return value - (1 << 32) if value >= (1 << 31) else value


def _check_node(node: Any) -> None:
    if type(node) is not str or len(node) > MAX_ATOM_LENGTH:
        raise ValueError(f"a node name is an atom (a str of at most 255 characters), not {node!r}")


class ExtPid(_Frozen):
    """A pid as the wire carries it: ``NEW_PID_EXT`` (node, id, serial, creation)."""

    __slots__ = ("node", "id", "serial", "creation", "raw")
    _fields = ("node", "id", "serial", "creation")
    node: str
    id: int
    serial: int
    creation: int
    raw: bytes | None

    def __init__(self, node: str, id: int, serial: int = 0, creation: int = 0) -> None:
        _check_node(node)
        for name, value in (("id", id), ("serial", serial), ("creation", creation)):
            _check_uint(name, value, 32)
        _rebuild_into(self, (node, id, serial, creation, None))

    def __repr__(self) -> str:
        return f"ExtPid({self.node!r}, {self.id}, {self.serial}, {self.creation})"


class ExtRef(_Frozen):
    """A reference: node, creation and its 32-bit id words (``NEWER_REFERENCE_EXT``)."""

    __slots__ = ("node", "creation", "ids", "raw")
    _fields = ("node", "creation", "ids")
    node: str
    creation: int
    ids: tuple[int, ...]
    raw: bytes | None

    def __init__(self, node: str, creation: int, ids: tuple[int, ...]) -> None:
        _check_node(node)
        _check_uint("creation", creation, 32)
        ids = tuple(ids)
        if not 1 <= len(ids) <= 5:
            raise ValueError(f"a reference has 1 to 5 id words, not {len(ids)}")
        for word in ids:
            _check_uint("a reference id word", word, 32)
        _rebuild_into(self, (node, creation, ids, None))


class ExtPort(_Frozen):
    """A port: node, 64-bit id, creation (``NEW_PORT_EXT``, or ``V4_PORT_EXT`` past 32 bits)."""

    __slots__ = ("node", "id", "creation", "raw")
    _fields = ("node", "id", "creation")
    node: str
    id: int
    creation: int
    raw: bytes | None

    def __init__(self, node: str, id: int, creation: int = 0) -> None:
        _check_node(node)
        _check_uint("id", id, 64)
        _check_uint("creation", creation, 32)
        _rebuild_into(self, (node, id, creation, None))


class ExtExport(_Frozen):
    """An external fun ``&module.function/arity`` (``EXPORT_EXT``)."""

    __slots__ = ("module", "function", "arity", "raw")
    _fields = ("module", "function", "arity")
    module: str
    function: str
    arity: int
    raw: bytes | None

    def __init__(self, module: str, function: str, arity: int) -> None:
        _check_node(module)
        _check_node(function)
        _check_uint("arity", arity, 8)
        _rebuild_into(self, (module, function, arity, None))


class ExtFun(_Frozen):
    """A closure from an Erlang node (``NEW_FUN_EXT``): opaque here, but sent back intact.

    The fields are there to look at (which module made it, its arity, the pid that created
    it, its captured values); encoding writes ``raw`` when the fun was decoded.
    """

    __slots__ = ("module", "arity", "uniq", "index", "old_index", "old_uniq", "pid",
                 "free_vars", "raw")
    _fields = ("module", "arity", "uniq", "index", "old_index", "old_uniq", "pid", "free_vars")
    module: str
    arity: int
    uniq: bytes
    index: int
    old_index: int
    old_uniq: int
    pid: ExtPid
    free_vars: tuple[Any, ...]
    raw: bytes | None

    def __init__(self, module: str, arity: int, uniq: bytes, index: int, old_index: int,
                 old_uniq: int, pid: ExtPid, free_vars: tuple[Any, ...] = ()) -> None:
        _check_node(module)
        _check_uint("arity", arity, 8)
        if type(uniq) is not bytes or len(uniq) != 16:
            raise ValueError("uniq is the 16-byte MD5 of the module")
        _check_uint("index", index, 32)
        old_index = _int32("old_index", old_index)  # signed in OTP (INTEGER_EXT)
        old_uniq = _int32("old_uniq", old_uniq)
        if type(pid) is not ExtPid:
            raise ValueError(f"a fun's pid is an ExtPid, not {pid!r}")
        _rebuild_into(self, (module, arity, uniq, index, old_index, old_uniq, pid,
                             tuple(free_vars), None))

    def __hash__(self) -> int:
        # The captured values may be unhashable (lists); the code's identity is enough.
        return hash(("ExtFun", self.module, self.arity, self.uniq, self.index, self.old_uniq))


class ImproperList(_Frozen):
    """A list whose tail is not a list: ``[1, 2 | :t]`` is ``ImproperList((1, 2), "t")``.

    OTP's ``[:alias | ref]`` call tags are improper lists; keeping them so (rather than as a
    pair) is what lets a reply find its caller.
    """

    __slots__ = ("items", "tail")
    _fields = ("items", "tail")
    items: tuple[Any, ...]
    tail: Any

    def __init__(self, items: Any, tail: Any) -> None:
        items = tuple(items)
        if not items:
            raise ValueError("an improper list has at least one element before its tail")
        if isinstance(tail, (list, ImproperList, FrozenList)):
            raise ValueError("an improper list's tail is not a list (that is just a longer list)")
        _rebuild_into(self, (items, tail))


_ALIAS_ITEMS = ("alias",)


def alias_tag(ref: Any) -> ImproperList:
    """gen.erl's call tag ``[alias | Ref]``: ``ImproperList(("alias",), ref)``, built without
    the checks of the constructor (a ref is no list): one per `GenServer.call` to another
    node."""
    tag: ImproperList = _new(ImproperList)
    _set(tag, "items", _ALIAS_ITEMS)
    _set(tag, "tail", ref)
    return tag


class BitBinary(_Frozen):
    """A bitstring whose last byte holds only ``bits`` (1 to 7) bits, the high ones."""

    __slots__ = ("data", "bits")
    _fields = ("data", "bits")
    data: bytes
    bits: int

    def __init__(self, data: bytes, bits: int) -> None:
        data = bytes(data)
        if not data:
            raise ValueError("a bitstring of 1 to 7 bits still takes a byte")
        if type(bits) is not int or not 1 <= bits <= 7:
            raise ValueError(
                f"bits is the number of bits used in the last byte, 1 to 7, not {bits!r}")
        _rebuild_into(self, (_clear_unused_bits(data, bits), bits))


def _clear_unused_bits(data: bytes, bits: int) -> bytes:
    """``data`` with the unused low bits of its last byte clear: one bitstring has one form
    (OTP reads ``<<255::3>>``'s byte 0xff as 0xe0 and writes it so)."""
    last = data[-1]
    kept = last & (0xFF << (8 - bits)) & 0xFF
    return data if kept == last else data[:-1] + bytes([kept])


def _rebuild_into(obj: Any, values: tuple[Any, ...]) -> None:
    """Set a frozen object's slots, in their declared order, past its ``__setattr__``."""
    for name, value in zip(type(obj).__slots__, values):
        _set(obj, name, value)


class FrozenList(tuple[Any, ...]):
    """A list used as a map key (Python cannot hash a `list`); it encodes as a list.

    It equals only another FrozenList (or a `list`) with the same elements, never the tuple
    of them: ``%{[1] => :a, {1} => :b}`` has two keys."""

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        if type(other) is FrozenList or type(other) is list:
            return tuple.__eq__(self, tuple(other))
        return False

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    def __hash__(self) -> int:
        return hash(("FrozenList", tuple(self)))

    def __repr__(self) -> str:
        return f"FrozenList({list(self)!r})"


class FrozenMap(dict[Any, Any]):
    """A map used as a map key (or inside one); hashable, immutable, encodes as a map."""

    __slots__ = ("_hash",)
    _hash: int

    # dict declares __hash__ None (unhashable); a FrozenMap is hashable on purpose
    def __hash__(self) -> int:  # type: ignore[override]
        try:
            return self._hash
        except AttributeError:
            value = hash(frozenset(self.items()))
            _set(self, "_hash", value)
            return value

    def _immutable(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError("FrozenMap is immutable")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = _immutable
    __ior__ = _immutable

    def __reduce__(self) -> Any:
        # not dict's protocol, which refills the copy item by item through __setitem__
        return (FrozenMap, (dict(self),))

    def __repr__(self) -> str:
        return f"FrozenMap({dict(self)!r})"


def _freeze(value: Any) -> Any:
    """A hashable equivalent of a decoded map key (lists and maps inside it frozen)."""
    kind = type(value)
    if kind is list:
        return FrozenList(_freeze(item) for item in value)
    if kind is dict:
        return FrozenMap({_freeze(k): _freeze(v) for k, v in value.items()})
    if kind is tuple:
        return tuple(_freeze(item) for item in value)
    if kind is Exit or kind is Down:
        return kind(*(_freeze(item) for item in value))
    if kind is ImproperList:
        frozen = _new(ImproperList)
        _rebuild_into(frozen, (tuple(_freeze(item) for item in value.items), _freeze(value.tail)))
        return frozen
    return value


# --- decoding -------------------------------------------------------------------------------

_SPECIAL_ATOMS: dict[str, Any] = {"true": True, "false": False, "nil": None}
_MISSING = object()
_ATOM_CACHE_LIMIT = 8192
_REMEMBER_LIMIT = 4096  # identities a codec caches (`Codec.remember`), besides its atoms
_C_MAX_DEPTH = 1000
_PID_CACHE_LIMIT = 4096


def _tag_name(tag: int) -> str:
    return _TAG_NAMES.get(tag, f"unknown tag {tag}")


def _make_decoder(on_pid: Callable[[Any], Any] | None, on_ref: Callable[[Any], Any] | None,
                  max_depth: int) -> Callable[[bytes, int, int], tuple[Any, int]]:
    """Build the recursive decoder: one closure, the common tags tested first.

    ``dec(data, pos, depth)`` returns the term starting at ``pos`` and the position after it.
    """
    atoms: dict[bytes, Any] = {}   # raw atom bytes (tag and length included) -> value
    names: dict[bytes, str] = {}   # the same, without true/false/nil mapped (node names)
    atoms_get = atoms.get
    pids: dict[bytes, ExtPid] = {}  # raw NEW_PID_EXT bytes -> the (immutable) pid they make

    def new_atom(data: bytes, pos: int, start: int, end: int, latin1: bool,
                 cache: dict[bytes, Any], mapped: bool) -> Any:
        if end > len(data):
            raise ETFError(f"truncated atom ({_tag_name(data[pos])})", pos)
        raw = data[start:end]
        try:
            text = raw.decode("latin-1" if latin1 else "utf-8")
        except UnicodeDecodeError:
            raise ETFError("atom is not valid UTF-8", pos) from None
        if len(text) > MAX_ATOM_LENGTH:
            raise ETFError(f"atom of {len(text)} characters (at most {MAX_ATOM_LENGTH})", pos)
        value = _SPECIAL_ATOMS.get(text, text) if mapped else text
        if len(cache) < _ATOM_CACHE_LIMIT:
            cache[data[pos:end]] = value
        return value

    def atom_at(data: bytes, pos: int, cache: dict[bytes, Any], mapped: bool) -> tuple[Any, int]:
        tag = data[pos]
        if tag == 119 or tag == 115:
            end = pos + 2 + data[pos + 1]
            start = pos + 2
        elif tag == 100 or tag == 118:
            end = pos + 3 + _u16(data, pos + 1)[0]
            start = pos + 3
        elif tag == 82:
            raise ETFError("ATOM_CACHE_REF without a negotiated atom cache", pos)
        else:
            raise ETFError(f"expected an atom, found {_tag_name(tag)}", pos)
        value = cache.get(data[pos:end], _MISSING)
        if value is _MISSING:
            value = new_atom(data, pos, start, end, tag == 100 or tag == 115, cache, mapped)
        return value, end

    def name_at(data: bytes, pos: int) -> tuple[str, int]:
        return atom_at(data, pos, names, False)

    def need(data: bytes, pos: int, size: int, what: str, at: int) -> None:
        if size > len(data) - pos:
            raise ETFError(f"{what} claims {size} bytes but {max(len(data) - pos, 0)} are left", at)

    def pid_at(data: bytes, pos: int) -> tuple[ExtPid, int]:
        tag = data[pos]
        if tag == 88 and data[pos + 1] == 119:  # NEW_PID_EXT, SMALL_ATOM_UTF8_EXT node
            end = pos + 15 + data[pos + 2]
            known = pids.get(data[pos:end])
            if known is not None:
                return known, end
        if tag != 88 and tag != 103:
            raise ETFError(f"expected a pid, found {_tag_name(tag)}", pos)
        node, at = name_at(data, pos + 1)
        if tag == 88:
            ident, serial, creation = _3u32(data, at)
            end = at + 12
        else:
            ident, serial = _u32(data, at)[0], _u32(data, at + 4)[0]
            creation = data[at + 8]
            end = at + 9
        pid = _new(ExtPid)
        _set(pid, "node", node)
        _set(pid, "id", ident)
        _set(pid, "serial", serial)
        _set(pid, "creation", creation)
        raw = data[pos:end]
        _set(pid, "raw", raw)
        if len(pids) < _PID_CACHE_LIMIT and tag == 88 and len(raw) == end - pos:
            pids[raw] = pid
        return pid, end

    def dec(data: bytes, pos: int, depth: int) -> tuple[Any, int]:
        try:
            tag = data[pos]
            if tag == 119:  # the common case inline: a cached SMALL_ATOM_UTF8_EXT
                end = pos + 2 + data[pos + 1]
                value = atoms_get(data[pos:end], _MISSING)
                if value is not _MISSING:
                    return value, end
                return atom_at(data, pos, atoms, True)
            if tag == 100 or tag == 118 or tag == 115:
                return atom_at(data, pos, atoms, True)
            if tag == 97:
                return data[pos + 1], pos + 2
            if tag == 104 or tag == 105:
                if tag == 104:
                    arity = data[pos + 1]
                    pos += 2
                else:
                    arity = _u32(data, pos + 1)[0]
                    pos += 5
                    need(data, pos, arity, "tuple", pos - 5)
                if depth >= max_depth:
                    raise ETFError(f"terms nested deeper than max_depth={max_depth}", pos)
                depth += 1
                items: list[Any] = []
                append = items.append
                for _ in range(arity):
                    item, pos = dec(data, pos, depth)
                    append(item)
                if arity == 3 and type(items[0]) is str and items[0] == "EXIT":
                    return Exit(items[1], items[2]), pos
                if arity == 5 and type(items[0]) is str and items[0] == "DOWN" \
                        and items[2] == "process":
                    return Down(items[1], items[3], items[4]), pos
                return tuple(items), pos
            if tag == 109:
                size = _u32(data, pos + 1)[0]
                pos += 5
                need(data, pos, size, "binary", pos - 5)
                return data[pos:pos + size], pos + size
            if tag == 106:
                return [], pos + 1
            if tag == 107:
                size = _u16(data, pos + 1)[0]
                pos += 3
                need(data, pos, size, "charlist", pos - 3)
                return list(data[pos:pos + size]), pos + size
            if tag == 108:
                return list_at(data, pos, depth)
            if tag == 116:
                return map_at(data, pos, depth)
            if tag == 98:
                return _i32(data, pos + 1)[0], pos + 5
            if tag == 70:
                value = _f64(data, pos + 1)[0]
                if value - value != 0.0:
                    raise ETFError("float is not finite", pos)
                return value, pos + 9
            if tag == 88 or tag == 103:
                pid, end = pid_at(data, pos)
                return (pid if on_pid is None else on_pid(pid)), end
            if tag == 90 or tag == 114 or tag == 101:
                ref, end = ref_at(data, pos, tag)
                return (ref if on_ref is None else on_ref(ref)), end
            return rare(data, pos, depth, tag)
        except (IndexError, struct.error):
            raise _truncated(data, pos) from None

    def list_at(data: bytes, pos: int, depth: int) -> tuple[Any, int]:
        count = _u32(data, pos + 1)[0]
        start = pos
        pos += 5
        need(data, pos, count + 1, "list", start)
        if depth >= max_depth:
            raise ETFError(f"terms nested deeper than max_depth={max_depth}", start)
        depth += 1
        items: list[Any] = []
        append = items.append
        for _ in range(count):
            item, pos = dec(data, pos, depth)
            append(item)
        if data[pos] == 106:
            return items, pos + 1
        tail, pos = dec(data, pos, depth)
        if not items:
            return tail, pos
        if type(tail) is list:
            return items + tail, pos
        if type(tail) is ImproperList:
            items.extend(tail.items)
            tail = tail.tail
        improper = _new(ImproperList)
        _set(improper, "items", tuple(items))
        _set(improper, "tail", tail)
        return improper, pos

    def map_at(data: bytes, pos: int, depth: int) -> tuple[Any, int]:
        count = _u32(data, pos + 1)[0]
        start = pos
        pos += 5
        need(data, pos, 2 * count, "map", start)
        if depth >= max_depth:
            raise ETFError(f"terms nested deeper than max_depth={max_depth}", start)
        depth += 1
        result: dict[Any, Any] = {}
        for _ in range(count):
            key, pos = dec(data, pos, depth)
            value, pos = dec(data, pos, depth)
            try:
                result[key] = value
            except TypeError:
                result[_hashable(key, start)] = value
        if len(result) != count:
            raise ETFError("map has duplicate keys (or keys Python deems equal: 1, 1.0, true)",
                           start)
        return result, pos

    def ref_at(data: bytes, pos: int, tag: int) -> tuple[ExtRef, int]:
        if tag == 101:
            node, at = name_at(data, pos + 1)
            ids = (_u32(data, at)[0],)
            creation = data[at + 4]
            end = at + 5
        else:
            count = _u16(data, pos + 1)[0]
            if not 1 <= count <= 5:
                raise ETFError(f"reference with {count} id words (1 to 5)", pos)
            node, at = name_at(data, pos + 3)
            if tag == 90:
                creation = _u32(data, at)[0]
                at += 4
            else:
                creation = data[at]
                at += 1
            end = at + 4 * count
            need(data, at, 4 * count, "reference", pos)
            ids = _REF_WORDS[count](data, at)
        ref = _new(ExtRef)
        _set(ref, "node", node)
        _set(ref, "creation", creation)
        _set(ref, "ids", ids)
        _set(ref, "raw", data[pos:end])
        return ref, end

    def rare(data: bytes, pos: int, depth: int, tag: int) -> tuple[Any, int]:
        """Tags seldom seen in messages: bignums, ports, funs, bitstrings, legacy forms."""
        if tag == 110 or tag == 111:
            if tag == 110:
                size, sign = data[pos + 1], data[pos + 2]
                at = pos + 3
            else:
                size, sign = _u32(data, pos + 1)[0], data[pos + 5]
                at = pos + 6
            need(data, at, size, "bignum", pos)
            magnitude = int.from_bytes(data[at:at + size], "little")
            return (-magnitude if sign else magnitude), at + size
        if tag == 77:
            size, bits = _u32(data, pos + 1)[0], data[pos + 5]
            at = pos + 6
            if (bits == 0) != (size == 0) or bits > 8:
                raise ETFError(f"bitstring of {size} bytes with {bits} bits in its last byte", pos)
            need(data, at, size, "bitstring", pos)
            chunk = data[at:at + size]
            if bits == 8 or size == 0:
                return chunk, at + size
            bitstring = _new(BitBinary)
            _set(bitstring, "data", _clear_unused_bits(chunk, bits))
            _set(bitstring, "bits", bits)
            return bitstring, at + size
        if tag == 89 or tag == 120 or tag == 102:
            node, at = name_at(data, pos + 1)
            if tag == 120:
                ident, creation, end = _u64(data, at)[0], _u32(data, at + 8)[0], at + 12
            elif tag == 89:
                ident, creation, end = _u32(data, at)[0], _u32(data, at + 4)[0], at + 8
            else:
                ident, creation, end = _u32(data, at)[0], data[at + 4], at + 5
            port = _new(ExtPort)
            _rebuild_into(port, (node, ident, creation, data[pos:end]))
            return port, end
        if tag == 113:
            module, at = name_at(data, pos + 1)
            function, at = name_at(data, at)
            if data[at] != 97:
                raise ETFError("an export's arity is a SMALL_INTEGER_EXT", at)
            export = _new(ExtExport)
            _rebuild_into(export, (module, function, data[at + 1], data[pos:at + 2]))
            return export, at + 2
        if tag == 112:
            return fun_at(data, pos, depth)
        if tag == 99:
            text = data[pos + 1:pos + 32]
            if len(text) < 31:
                raise _truncated(data, pos)
            try:
                value = float(text.split(b"\0", 1)[0].decode("ascii"))
            except (UnicodeDecodeError, ValueError):
                raise ETFError("FLOAT_EXT does not hold a number", pos) from None
            if not math.isfinite(value):
                raise ETFError("float is not finite", pos)
            return value, pos + 32
        if tag == 82:
            raise ETFError("ATOM_CACHE_REF without a negotiated atom cache", pos)
        if tag == 121:
            raise ETFError("LOCAL_EXT can only be decoded by the node that encoded it", pos)
        if tag == 117:
            raise ETFError("FUN_EXT is not decodable since OTP 23", pos)
        if tag == 80:
            raise ETFError("a compressed term is only allowed right after the version byte", pos)
        raise ETFError(f"{_tag_name(tag)} is not a term tag", pos)

    def fun_at(data: bytes, pos: int, depth: int) -> tuple[ExtFun, int]:
        size = _u32(data, pos + 1)[0]
        end = pos + 1 + size
        need(data, pos + 1, size, "fun", pos)
        if depth >= max_depth:
            raise ETFError(f"terms nested deeper than max_depth={max_depth}", pos)
        arity = data[pos + 5]
        uniq = data[pos + 6:pos + 22]
        index, free_count = _u32(data, pos + 22)[0], _u32(data, pos + 26)[0]
        need(data, pos + 30, free_count, "fun environment", pos)
        module, at = name_at(data, pos + 30)
        old_index, at = dec(data, at, depth + 1)
        old_uniq, at = dec(data, at, depth + 1)
        if type(old_index) is not int or type(old_uniq) is not int:
            raise ETFError("a fun's OldIndex and OldUniq are integers", pos)
        fun_pid, at = pid_at(data, at)
        free_vars = []
        for _ in range(free_count):
            value, at = dec(data, at, depth + 1)
            free_vars.append(value)
        if at != end:
            raise ETFError(f"fun claims {size} bytes but its fields take {at - pos - 1}", pos)
        fun = _new(ExtFun)
        _rebuild_into(fun, (module, arity, uniq, index, old_index, old_uniq, fun_pid,
                            tuple(free_vars), data[pos:end]))
        return fun, end

    return dec




def _hashable(key: Any, offset: int) -> Any:
    frozen = _freeze(key)
    try:
        hash(frozen)
    except TypeError:
        raise ETFError(f"map key {key!r} cannot be hashed in Python", offset) from None
    return frozen


def _truncated(data: bytes, pos: int) -> ETFError:
    if pos >= len(data):
        return ETFError(f"input ends where a term should start ({len(data)} bytes)", pos)
    return ETFError(f"truncated {_tag_name(data[pos])} (input ends at byte {len(data)})", pos)


# --- encoding -------------------------------------------------------------------------------

_SMALL_INTS = [bytes((97, n)) for n in range(256)]


def _atom_bytes(text: str, minor_version: int) -> bytes:
    """The encoding of an atom as ``term_to_binary(atom, [{minor_version, v}])`` writes it."""
    if len(text) > MAX_ATOM_LENGTH:
        raise ETFError(f"a str of {len(text)} characters is longer than an atom can be "
                       f"({MAX_ATOM_LENGTH}); send text as bytes")
    if minor_version == 1:
        try:
            raw = text.encode("latin-1")
            return b"d" + _pack_u16(len(raw)) + raw
        except UnicodeEncodeError:
            pass
    raw = text.encode("utf-8")
    if len(raw) < 256:
        return bytes((119, len(raw))) + raw
    return b"v" + _pack_u16(len(raw)) + raw


def _make_encoder(on_pid: Callable[[Any], Any] | None, on_ref: Callable[[Any], Any] | None,
                  on_other: Callable[[Any], Any] | None, minor_version: int,
                  ) -> tuple[Callable[[Any, bytearray], None], dict[Any, bytes],
                             tuple[bytes, bytes, bytes]]:
    """Build the recursive encoder ``enc(value, out)`` that appends a term to ``out``.

    Also returns its atom cache (str -> bytes), which the C encoder reads too, and the bytes
    of the atoms true, false and nil.
    """
    if minor_version not in (1, 2):
        raise ValueError("minor_version is 1 (OTP 25's term_to_binary) or 2 (UTF-8 atoms)")
    atoms: dict[Any, bytes] = {}  # str -> bytes; also identities `Codec.remember` was given
    true_atom = _atom_bytes("true", minor_version)
    false_atom = _atom_bytes("false", minor_version)
    nil_atom = _atom_bytes("nil", minor_version)
    exit_head = b"h\x03" + _atom_bytes("EXIT", minor_version)
    down_head = b"h\x05" + _atom_bytes("DOWN", minor_version)
    process_atom = _atom_bytes("process", minor_version)

    def atom(text: str) -> bytes:
        raw = atoms.get(text)
        if raw is None:
            try:
                raw = _atom_bytes(text, minor_version)
            except UnicodeEncodeError:
                raise ETFError(f"atom {text!r} is not encodable as UTF-8") from None
            if len(atoms) < _ATOM_CACHE_LIMIT + _REMEMBER_LIMIT:
                atoms[text] = raw
        return raw

    def enc(obj: Any, out: bytearray) -> None:
        kind = type(obj)
        if kind is str:
            raw = atoms.get(obj)
            out += raw if raw is not None else atom(obj)
        elif kind is tuple:
            arity = len(obj)
            if arity < 256:
                out.append(104)
                out.append(arity)
            else:
                out.append(105)
                out += _pack_u32(arity)
            try:
                for item in obj:
                    enc(item, out)
            except ETFError as err:
                _locate(err, obj, item)
                raise
        elif kind is int:
            if 0 <= obj < 256:
                out += _SMALL_INTS[obj]
            elif -2147483648 <= obj < 2147483648:
                out.append(98)
                out += _pack_i32(obj)
            else:
                big(obj, out)
        elif kind is bytes:
            if len(obj) > 0xFFFFFFFF:
                raise ETFError(f"a binary of {len(obj)} bytes is past the 4 GiB a term can hold")
            out.append(109)
            out += _pack_u32(len(obj))
            out += obj
        elif kind is list:
            sequence(obj, out)
        elif kind is dict:
            mapping(obj, out)
        elif kind is ExtPid or kind is ExtRef:
            raw = obj.raw
            if raw is not None:
                out += raw
            elif kind is ExtPid:
                out.append(88)
                out += atom(obj.node)
                out += _pack_3u32(obj.id, obj.serial, obj.creation)
            else:
                out.append(90)
                out += _pack_u16(len(obj.ids))
                out += atom(obj.node)
                out += _pack_u32(obj.creation)
                for word in obj.ids:
                    out += _pack_u32(word)
        elif kind is float:
            if obj - obj != 0.0:
                raise ETFError(f"{obj!r} has no Erlang term (floats are finite)")
            out.append(70)
            out += _pack_f64(obj)
        elif kind is bool:
            out += true_atom if obj else false_atom
        elif obj is None:
            out += nil_atom
        else:
            other(obj, out)

    def big(value: int, out: bytearray) -> None:
        magnitude = -value if value < 0 else value
        raw = magnitude.to_bytes((magnitude.bit_length() + 7) // 8, "little")
        if len(raw) < 256:
            out.append(110)
            out.append(len(raw))
        else:
            out.append(111)
            out += _pack_u32(len(raw))
        out.append(1 if value < 0 else 0)
        out += raw

    def sequence(items: Any, out: bytearray) -> None:
        count = len(items)
        if not count:
            out.append(106)
            return
        # a charlist (every element an int, none a bool, all in 0..255): STRING_EXT, as OTP
        if count < 65536 and isinstance(items[0], int) and _only_ints(items):
            try:
                raw = bytes(items)
            except ValueError:
                pass
            else:
                out.append(107)
                out += _pack_u16(count)
                out += raw
                return
        out.append(108)
        out += _pack_u32(count)
        try:
            for item in items:
                enc(item, out)
        except ETFError as err:
            _locate(err, items, item)
            raise
        out.append(106)

    def mapping(obj: Any, out: bytearray) -> None:
        out.append(116)
        out += _pack_u32(len(obj))
        try:
            for key, value in obj.items():
                enc(key, out)
                enc(value, out)
        except ETFError as err:
            err.path.insert(0, key)
            raise

    def other(obj: Any, out: bytearray) -> None:
        """Everything past the common exact types: the Erlang-only values, hooks, subclasses."""
        kind = type(obj)
        if kind is ImproperList:
            out.append(108)
            out += _pack_u32(len(obj.items))
            try:
                for item in obj.items:
                    enc(item, out)
                enc(obj.tail, out)
            except ETFError as err:
                err.path.insert(0, "tail")
                raise
        elif kind is Exit:
            out += exit_head
            enc(obj.pid, out)
            enc(obj.reason, out)
        elif kind is Down:
            out += down_head
            enc(obj.ref, out)
            out += process_atom
            enc(obj.pid, out)
            enc(obj.reason, out)
        elif kind is BitBinary:
            out.append(77)
            out += _pack_u32(len(obj.data))
            out.append(obj.bits)
            out += obj.data
        elif kind is ExtPort or kind is ExtFun or kind is ExtExport:
            raw = obj.raw
            out += raw if raw is not None else built(obj)
        elif kind is FrozenList:
            sequence(obj, out)
        elif isinstance(obj, Pid):
            if on_pid is None:
                raise ETFError(f"a local pid {obj!r} has no wire identity: encode with a pid= "
                               "hook (the distribution layer's) that maps it to an ExtPid")
            mapped(on_pid(obj), obj, out)
        elif isinstance(obj, Ref):
            if on_ref is None:
                raise ETFError(f"a local ref {obj!r} has no wire identity: encode with a ref= "
                               "hook (the distribution layer's) that maps it to an ExtRef")
            mapped(on_ref(obj), obj, out)
        elif isinstance(obj, str):
            out += atom(str.__str__(obj))
        elif isinstance(obj, int):
            enc(int(obj), out)
        elif isinstance(obj, float):
            enc(float(obj), out)
        elif isinstance(obj, (bytes, bytearray, memoryview)):
            enc(bytes(obj), out)
        elif isinstance(obj, Mapping):
            mapping(obj, out)
        elif isinstance(obj, tuple):
            enc(tuple(obj), out)
        elif isinstance(obj, list):
            sequence(obj, out)
        elif on_other is not None:
            mapped(on_other(obj), obj, out)
        else:
            raise ETFError(f"{type(obj).__name__} {obj!r} has no Erlang term")

    def mapped(replacement: Any, original: Any, out: bytearray) -> None:
        if type(replacement) is type(original):
            raise ETFError(f"the hook mapped {original!r} to another {type(original).__name__}")
        enc(replacement, out)

    def built(obj: Any) -> bytes:
        """The bytes of a port, fun or export made in Python (not decoded from bytes)."""
        kind = type(obj)
        out = bytearray()
        if kind is ExtPort:
            if obj.id <= 0x0FFFFFFF:  # as OTP: V4_PORT_EXT past the old 28-bit ids
                out += b"Y" + atom(obj.node) + _pack_2u32(obj.id, obj.creation)
            else:
                out += b"x" + atom(obj.node) + struct.pack(">QI", obj.id, obj.creation)
        elif kind is ExtExport:
            out += b"q" + atom(obj.module) + atom(obj.function) + _SMALL_INTS[obj.arity]
        else:
            body = bytearray()
            body.append(obj.arity)
            body += obj.uniq
            body += _pack_2u32(obj.index, len(obj.free_vars))
            body += atom(obj.module)
            enc(obj.old_index, body)
            enc(obj.old_uniq, body)
            enc(obj.pid, body)
            for value in obj.free_vars:
                enc(value, body)
            out += b"p" + _pack_u32(len(body) + 4) + body
        return bytes(out)

    return enc, atoms, (true_atom, false_atom, nil_atom)


_NO_TERM: Any = object()  # (encode_frame) no payload


class Gathered:
    """An encoded term in parts (from `Codec.encode_parts`): the bytes between its big
    binaries, and those binaries' own objects, uncopied. Reads as the bytes they join into:
    ``len``, an index, a slice (which copies only the slice) and ``bytes()``; `tail` drops a
    prefix without copying. ``parts`` holds the pieces, the binaries among them by identity."""

    __slots__ = ("_ends", "_start", "parts")

    def __init__(self, parts: tuple[bytes, ...], start: int = 0) -> None:
        self.parts = parts
        self._ends = list(itertools.accumulate(map(len, parts)))
        self._start = start

    def __len__(self) -> int:
        return self._ends[-1] - self._start

    def tail(self, skip: int) -> Gathered:
        """The same bytes from ``skip`` on."""
        tail = Gathered.__new__(Gathered)
        tail.parts, tail._ends, tail._start = self.parts, self._ends, self._start + skip
        return tail

    def __getitem__(self, key: int | slice) -> Any:
        size = len(self)
        if isinstance(key, int):
            at = key + size if key < 0 else key
            if not 0 <= at < size:
                raise IndexError("Gathered index out of range")
            return self[at:at + 1][0]
        begin, end, step = key.indices(size)
        if step != 1:
            raise ValueError("a Gathered slices with step 1 only")
        return self._copy(self._start + begin, self._start + max(begin, end))

    def _copy(self, begin: int, end: int) -> bytes:
        pieces = []
        index = bisect.bisect_right(self._ends, begin)
        while begin < end:
            part_start = self._ends[index] - len(self.parts[index])
            part_end = min(self._ends[index], end)
            pieces.append(memoryview(self.parts[index])[begin - part_start:part_end - part_start])
            begin = part_end
            index += 1
        return b"".join(pieces)

    def __bytes__(self) -> bytes:
        return self._copy(self._start, self._ends[-1])

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Gathered):
            return bytes(self) == bytes(other)
        if isinstance(other, (bytes, bytearray, memoryview)):
            return bytes(self) == other
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # (compared by contents, as a bytearray)

    def __repr__(self) -> str:
        return f"<Gathered: {len(self)} bytes in {len(self.parts)} parts>"


class _NotExact(ETFError):
    """(Codec.encode_exact) a value whose decoding would not give it back."""

    def __init__(self) -> None:
        super().__init__("a value that ETF would not give back as itself")


# What encode_exact may look up in the codec's cache of identities (exact types only) ...
_EXACT_IDENTITIES = (Pid, RemotePid, Ref, TimerRef)
# ... and the leaves whose bytes its fallback writes as encode does (a bignum; a str here
# is an atom not cached yet): each decodes as an equal value of its own type.
_EXACT_LEAVES = frozenset((int, ExtPid, ExtRef, ExtPort, ExtExport, BitBinary)
                          + _EXACT_IDENTITIES)


def _only_ints(items: Any) -> bool:
    """Whether every element is an `int` (an IntEnum member counts, a bool does not)."""
    kinds = set(map(type, items))
    if len(kinds) == 1 and int in kinds:
        return True
    return all(issubclass(kind, int) and kind is not bool for kind in kinds)


def _locate(err: ETFError, container: Any, failed: Any) -> None:
    for index, item in enumerate(container):
        if item is failed:
            err.path.insert(0, index)
            return


# --- the public entry points ----------------------------------------------------------------


class Codec:
    """An ETF encoder/decoder with hooks between wire identities and local objects.

    Subclass and override `decode_pid` / `decode_ref` (an `ExtPid` / `ExtRef` off the wire to
    whatever the node uses), `encode_pid` / `encode_ref` (a kernel `Pid` / `Ref` to an `ExtPid`
    / `ExtRef`) and `encode_other` (any other object to an encodable term); the defaults leave
    wire identities as they are and refuse local pids, refs and unknown objects.

    Hooks must be plain mappings: when the C fast path meets something only the Python
    decoder handles, the Python decoder starts over and calls the hooks again.
    ``accelerated`` says whether this codec uses the C fast path (``beamlet.dist._etf``,
    built by ``pip install``; ``use_c=False`` turns it off).

    A subclass whose `decode_pid` gives the same object for the same pid every time (the
    distribution's: one object per process) sets ``cache_decoded_pids``: the C decoder then
    keeps its answers by the pid's bytes (up to 4,096 pids and refs together) and calls it
    once per pid. With it, a ref that `decode_ref` leaves as the `ExtRef` it was given is
    kept too (one object for a ref that comes again, as a call's monitor, tag and
    demonitor); a ref it maps to something else is asked about each time, unless
    `remember_bytes` was told its bytes ``both_ways``.
    """

    cache_decoded_pids = False

    def __init__(self, *, max_depth: int = DEFAULT_MAX_DEPTH, max_size: int = DEFAULT_MAX_SIZE,
                 minor_version: int = 2, use_c: bool = True) -> None:
        self.max_depth = max_depth
        self.max_size = max_size
        self.minor_version = minor_version
        self._on_pid = self._hook("decode_pid")
        self._on_ref = self._hook("decode_ref")
        self._dec = _make_decoder(self._on_pid, self._on_ref, max_depth)
        self._remembered: list[Any] = []
        # what decode_pid made of each pid's bytes, when a subclass says it may be kept
        self._pid_cache: dict[bytes, Any] | None = \
            {} if self.cache_decoded_pids and self._on_pid is not None else None
        self._enc, self._atoms, self._specials = _make_encoder(
            self._hook("encode_pid"), self._hook("encode_ref"), self._hook("encode_other"),
            minor_version)
        # the C fast path recurses on the C stack: keep it shallow, Python takes deeper terms
        self._c_depth = min(max_depth, _C_MAX_DEPTH)
        self.accelerated = _accel is not None and use_c

    def remember(self, obj: Any, term: Any) -> None:
        """Encode ``obj`` (a hashable object compared by identity, such as a kernel `Pid`) as
        ``term`` from now on without calling the hooks: the C encoder finds its bytes in the
        codec's cache. For the identities a node sends again and again (its pids, the remote
        pids it talks to). `forget` drops them all."""
        self.remember_bytes(obj, self._fallback(term))

    def remember_bytes(self, obj: Any, term_bytes: bytes, *, both_ways: bool = False) -> None:
        """`remember` with the term's encoding (without the 131 byte) given, when the caller
        has written it already. With ``both_ways`` the decoder also reads those bytes as
        ``obj`` from now on, without asking the hook: for an identity the hook would answer
        with ``obj`` while it lives (it does while the codec holds it), such as a node's own
        ref coming back in a reply (the hook's call and the `ExtRef` it is handed cost a
        client ~5% of a `GenServer.call`). Only with a decoded-identity cache
        (`cache_decoded_pids`)."""
        if len(self._remembered) >= _REMEMBER_LIMIT:
            self.forget()
        self._atoms[obj] = term_bytes
        self._remembered.append(obj)
        decoded = self._pid_cache
        if both_ways and decoded is not None:
            if len(decoded) >= _PID_CACHE_LIMIT:
                decoded.clear()
            decoded[term_bytes] = obj

    def forget(self) -> None:
        """Drop every identity `remember` cached (their objects are no longer held)."""
        decoded = self._pid_cache
        for obj in self._remembered:
            term_bytes = self._atoms.pop(obj, None)
            if decoded is not None and term_bytes is not None and \
                    decoded.get(term_bytes) is obj:
                del decoded[term_bytes]
        self._remembered.clear()

    def encode_parts(self, term: Any, *, gather_from: int, exact: bool = False,
                     ) -> bytes | Gathered | None:
        """`encode` (`encode_exact` with ``exact``: None where it says None) without copying
        the binaries of ``gather_from`` bytes or more: those stay their own objects, in a
        `Gathered` of the encoding's parts (`bytes` when there was none, or no C fast path).
        For a 100 MB message on its way out in fragments: no 100 MB copy (and page faults)
        holds the sender's thread."""
        if not self.accelerated:
            return None if exact else self.encode(term)
        try:
            out = _accel.encode(term, self._atoms, self._specials,
                                self._exact_fallback if exact else self._fallback,
                                self._c_depth, _EXACT_IDENTITIES if exact else None,
                                gather_from)
        except (ETFError, RecursionError):  # (`_NotExact` is one)
            # (exact: not exact, or too deep; else the Python encoder says what is wrong)
            return None if exact else self.encode(term)
        return out if isinstance(out, bytes) else Gathered(out)

    def encode_frame(self, header: bytes, control: Any, payload: Any = _NO_TERM, *,
                     limit: int, exact: bool = False) -> bytes | None:
        """A frame in one pass: its u32 length, ``header``, then ``control`` and ``payload``
        (if given; as `encode_exact` would, with ``exact``) without their 131 bytes, as the
        distribution's frames hold them. None when the frame would take more than ``limit``
        bytes (nothing big is copied on the way), when the payload is not exact, and without
        the C fast path: the caller then frames what `encode` writes."""
        encoder = self.frame_encoder(header, exact=exact)
        if encoder is None:
            return None
        has_payload = payload is not _NO_TERM
        try:
            return encoder(control, payload if has_payload else None, has_payload, limit)
        except (ETFError, RecursionError):
            return None

    def frame_encoder(self, header: bytes, *, exact: bool = False,
                      ) -> Callable[[Any, Any, bool, int], bytes | None] | None:
        """`encode_frame` with ``header`` and ``exact`` given once, as a function of
        ``(control, payload, has_payload, limit)`` that goes straight to C (a connection's
        every frame). Where `encode_frame` says None for a term, it raises `ETFError` (or
        RecursionError) instead; it says None for a frame longer than ``limit``. None
        without the C fast path."""
        if not self.accelerated:
            return None
        return functools.partial(
            _accel.encode_frame, self._atoms, self._specials, self._fallback, self._c_depth,
            _EXACT_IDENTITIES if exact else None, header,
            self._exact_fallback if exact else self._fallback)

    def encode_exact(self, term: Any) -> bytes | None:
        """``term`` as `encode` writes it, when decoding those bytes gives back an equal
        value of the same types all through; None when it would not (a set, a subclass, the
        str ``"true"``, which comes back as True, a tuple ``("EXIT", pid, reason)``, which
        comes back as an `Exit`, a float that is not finite, a ``str`` too long for an atom,
        a list or dict met twice in the term, which would come back as two) or when there
        is no C fast path. Two beamlet nodes send such a value as ETF, which
        costs a fraction of a pickle."""
        exact = self.encode_parts(term, gather_from=0, exact=True)
        assert not isinstance(exact, Gathered)  # (gather_from=0 leaves every binary in)
        return exact

    def _exact_fallback(self, obj: Any) -> bytes:
        """`_fallback` for the leaves that decode as themselves; `_NotExact` for the rest
        (the C encoder, in exact mode, hands over every value it cannot vouch for)."""
        kind = type(obj)
        if kind is str:
            if obj in _SPECIAL_ATOMS:
                raise _NotExact
        elif kind not in _EXACT_LEAVES and not (kind is ExtFun and obj.raw is not None):
            raise _NotExact
        return self._fallback(obj)

    def _fallback(self, obj: Any) -> bytes:
        """The bytes of one value the C encoder hands back (rare types, hooks, errors)."""
        out = bytearray()
        self._enc(obj, out)
        return bytes(out)

    def _hook(self, name: str) -> Callable[[Any], Any] | None:
        """The bound override of ``name``, or None when the subclass keeps the default."""
        if getattr(type(self), name) is getattr(Codec, name):
            return None
        hook: Callable[[Any], Any] = getattr(self, name)
        return hook

    def decode_pid(self, pid: ExtPid) -> Any:
        """What a pid off the wire becomes (the distribution layer maps its own node's pids)."""
        return pid

    def decode_ref(self, ref: ExtRef) -> Any:
        """What a reference off the wire becomes."""
        return ref

    def encode_pid(self, pid: Pid) -> Any:
        """The `ExtPid` a kernel `Pid` is sent as."""
        raise NotImplementedError

    def encode_ref(self, ref: Ref) -> Any:
        """The `ExtRef` a kernel `Ref` is sent as."""
        raise NotImplementedError

    def encode_other(self, obj: Any) -> Any:
        """An encodable term standing for ``obj``, which has no term of its own."""
        raise NotImplementedError

    def decode(self, data: bytes | bytearray | memoryview) -> Any:
        """The term in ``data``: a version byte (131) then one term, nothing after it."""
        term, end = self.decode_prefix(data)
        if end != len(data):
            raise ETFError(f"{len(data) - end} bytes left after the term", end)
        return term

    def decode_prefix(self, data: bytes | bytearray | memoryview, offset: int = 0, *,
                      preset: tuple[int, bytes] | None = None) -> tuple[Any, int]:
        """The term that starts at ``offset`` (its 131 byte) and where it ends.

        The distribution's pass-through frames hold a control term then a message, each with
        its own version byte; this reads one and says where the next starts.
        """
        if type(data) is memoryview:
            data = bytes(data)
        if offset >= len(data):
            raise ETFError("no term: the input is empty", offset)
        if data[offset] != VERSION:
            raise ETFError(f"version byte is {data[offset]}, not {VERSION}", offset)
        return self.decode_at(data, offset + 1, preset=preset)

    def decode_frames(self, data: bytes | bytearray | memoryview, *, header: bytes, no_payload: Any,
                      largest: int, sequences: bool = False) -> tuple[int, list[Any]] | None:
        """The whole frames (each a u32 length, then its body) at the start of ``data``, the
        empty ones left out, and where the rest begins. A body that is ``header`` then a
        message of at most ``largest`` bytes — a control term and a payload, without their
        131 bytes, as the distribution's frames hold them — comes decoded where it lies, as
        ``(control, payload)`` (``no_payload`` when there is none); any other as its bytes
        (a fragment, a pickled or compressed payload, or whatever the C decoder leaves to
        Python, which then says what is wrong). None without the C fast path.

        With ``sequences``, a fragmented message of at most ``largest`` bytes whose frames
        all lie in ``data`` back to back (its first fragment, then each continuation in
        turn, with no atom cache refs) comes decoded too, as one item where its first frame
        was: a 100 KB message from OTP, in two 64 KiB fragments that usually come in one
        read, costs no reassembly. Pass it only when no sequence of the connection is
        open: once a fragment goes out as its bytes, so do the fragments after it."""
        decoder = self.frame_decoder(header, no_payload)
        return None if decoder is None else decoder(data, largest, sequences)

    def frame_decoder(self, header: bytes, no_payload: Any) -> FrameDecoder | None:
        """`decode_frames` with ``header`` and ``no_payload`` given once, as a function of
        ``(data, largest, sequences)`` that goes straight to C (a connection's every read);
        None without the C fast path."""
        if not self.accelerated:
            return None
        return functools.partial(_accel.decode_frames, self._on_pid, self._on_ref,
                                 self._c_depth, self._pid_cache, header, no_payload)

    def decode_at(self, data: bytes | bytearray, offset: int, *,
                  preset: tuple[int, bytes] | None = None) -> tuple[Any, int]:
        """The term whose tag is at ``offset`` (no version byte before it: as the terms of
        a frame with a distribution header) and where it ends. (A `bytearray` is read where
        it lies by the C decoder: a reassembled message is not copied again.)

        ``preset`` is ``(at, binary)``: the BINARY_EXT whose tag is at ``at`` is ``binary``,
        which ``data`` holds only the 5-byte head of (a big binary received apart, see
        `beamlet.dist.fragments`); the end is where it would be without it."""
        if self.accelerated:
            found = (_accel.decode(data, offset, self._on_pid, self._on_ref, self._c_depth,
                                   self._pid_cache) if preset is None else
                     _accel.decode(data, offset, self._on_pid, self._on_ref, self._c_depth,
                                   self._pid_cache, preset[0], preset[1]))
            if found is not None:
                return found
        if preset is not None:  # (Python has no use for the preset: the whole bytes, once)
            at, binary = preset
            term, end = self.decode_at(
                bytes(data[:at + 5]) + binary + bytes(data[at + 5:]), offset)
            return term, end - len(binary)
        if type(data) is not bytes:
            data = bytes(data)
        try:
            if offset < len(data) and data[offset] == 80:
                return self._inflate(data, offset)
            return self._dec(data, offset, 0)
        except RecursionError:
            raise ETFError("terms nested deeper than Python's recursion limit allows "
                           "(lower max_depth)", offset) from None

    def _inflate(self, data: bytes, pos: int) -> tuple[Any, int]:
        """A compressed term: ``80, size:u32, zlib stream`` holding the term without 131."""
        if len(data) < pos + 5:
            raise _truncated(data, pos)
        size = _u32(data, pos + 1)[0]
        if size > self.max_size:
            raise ETFError(f"compressed term claims {size} bytes (max_size={self.max_size})", pos)
        inflater = zlib.decompressobj()
        try:
            inner = inflater.decompress(data[pos + 5:], size + 1)
        except zlib.error as err:
            raise ETFError(f"compressed term does not inflate ({err})", pos) from None
        if len(inner) != size or not inflater.eof:
            raise ETFError(f"compressed term inflates to {len(inner)} bytes, not the {size} "
                           "it claims", pos)
        found = None
        if self.accelerated:
            found = _accel.decode(inner, 0, self._on_pid, self._on_ref, self._c_depth)
        term, end = found if found is not None else self._dec(inner, 0, 0)
        if end != size:
            raise ETFError(f"{size - end} bytes left after the compressed term "
                           "(in the inflated data)", end)
        return term, len(data) - len(inflater.unused_data)

    def encode(self, term: Any, *, compressed: int = 0) -> bytes:
        """``term`` as bytes: 131 and the term (``compressed`` 1-9 = zlib level, as OTP's).

        As `term_to_binary`, a compressed form is written only when it is smaller.
        """
        out: bytes | bytearray | None = None
        if self.accelerated:
            try:
                out = _accel.encode(  # type: ignore[assignment]  # bytes: not gathering
                    term, self._atoms, self._specials, self._fallback, self._c_depth)
            except (ETFError, RecursionError):
                pass  # encode again in Python: its error says where in the value
        if out is None:
            buffer = bytearray(b"\x83")
            try:
                self._enc(term, buffer)
            except RecursionError:
                raise ETFError("value nested too deeply (or containing itself)") from None
            out = buffer
        if compressed:
            level = 6 if compressed is True else compressed
            packed = zlib.compress(memoryview(out)[1:], level)
            if len(packed) + 5 <= len(out) - 1:  # as OTP: compressed unless larger
                return b"\x83P" + _pack_u32(len(out) - 1) + packed
        return out if type(out) is bytes else bytes(out)


if _accel is not None:
    _accel.setup(ExtPid, ExtRef, ImproperList, Exit, Down)

_DEFAULT = Codec()


class _HookCodec(Codec):
    """The codec behind `decode`/`encode` called with ``pid=`` / ``ref=`` functions."""

    def __init__(self, pid: Callable[[Any], Any] | None, ref: Callable[[Any], Any] | None,
                 **options: Any) -> None:
        self._pid, self._ref = pid, ref
        super().__init__(**options)

    def _hook(self, name: str) -> Callable[[Any], Any] | None:
        if name.endswith("_pid"):
            return self._pid
        if name.endswith("_ref"):
            return self._ref
        return None


def decode(data: bytes | bytearray | memoryview, *, pid: Callable[[ExtPid], Any] | None = None,
           ref: Callable[[ExtRef], Any] | None = None, max_depth: int = DEFAULT_MAX_DEPTH,
           max_size: int = DEFAULT_MAX_SIZE) -> Any:
    """Decode ``data`` (131 and one term); ``pid`` / ``ref`` map each remote identity found."""
    if pid is None and ref is None and max_depth == DEFAULT_MAX_DEPTH \
            and max_size == DEFAULT_MAX_SIZE:
        if _accel is not None and type(data) is bytes and data[:1] == b"\x83":
            found = _accel.decode(data, 1, None, None, DEFAULT_MAX_DEPTH)
            if found is not None and found[1] == len(data):
                return found[0]
        return _DEFAULT.decode(data)
    return _HookCodec(pid, ref, max_depth=max_depth, max_size=max_size).decode(data)


def decode_prefix(data: bytes | bytearray | memoryview, offset: int = 0) -> tuple[Any, int]:
    """Decode the term at ``offset`` and return it with the offset just past it."""
    return _DEFAULT.decode_prefix(data, offset)


def encode(term: Any, *, pid: Callable[[Pid], Any] | None = None,
           ref: Callable[[Ref], Any] | None = None, minor_version: int = 2,
           compressed: int = 0) -> bytes:
    """Encode ``term``; ``pid`` / ``ref`` give the wire identity of kernel pids and refs.

    ``minor_version=2`` (the default) writes atoms as UTF-8, as the distribution does;
    ``minor_version=1`` writes Latin-1 atoms as ``ATOM_EXT``, as OTP 25's `term_to_binary`.
    With hooks each call builds a codec: for repeated use, keep a `Codec` instead.
    """
    if pid is None and ref is None and minor_version == 2:
        return _DEFAULT.encode(term, compressed=compressed)
    return _HookCodec(pid, ref, minor_version=minor_version).encode(term, compressed=compressed)
