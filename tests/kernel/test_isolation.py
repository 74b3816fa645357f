"""Message isolation (`beamlet.kernel.isolation.isolate`), alone, against both implementations:
the C accelerator and the pure-Python one must follow the rules of the module's docstring."""

from __future__ import annotations

import dataclasses
import gc
import io
import os
import shutil
import socket
import subprocess
import sys
import threading
from collections import Counter, OrderedDict, defaultdict, deque
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from hypothesis import given, settings, strategies as st

from beamlet import Down, Exit, Pid, Ref
from beamlet.kernel import isolation
from helpers import require

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module", params=["python", "c"])
def iso(request):
    if request.param == "python":
        return isolation.isolate_python
    require("the C accelerator beamlet.kernel._isolate", isolation.isolate_c is not None,
            "pip install -e . with a C compiler")
    return isolation.isolate_c


def a_pid(n: int = 84) -> Pid:
    return Pid(None, n)


# ---- values used below -------------------------------------------------------------------


@dataclasses.dataclass
class Point:
    x: Any
    y: Any = 0


@dataclasses.dataclass(frozen=True)
class Frozen:
    a: Any
    b: Any = None


@dataclasses.dataclass(slots=True)
class Slotted:
    items: Any
    label: str = ""


@dataclasses.dataclass
class Counted:
    """Counts its __init__ runs: a copy must not run it again."""

    value: Any
    inits = 0

    def __post_init__(self):
        type(self).inits += 1


class Pair(NamedTuple):
    left: Any
    right: Any


class Tagged(list):
    """A list subclass with an instance attribute."""


class LoudList(list):
    """Looks at what it is given while being rebuilt: partly built copies must be sound."""

    def append(self, item):
        repr(item)
        super().append(item)


# ---- structural helpers ------------------------------------------------------------------

MUTABLE = (list, dict, set, bytearray)


def is_mutable_node(x: Any) -> bool:
    return isinstance(x, MUTABLE) or (
        dataclasses.is_dataclass(x) and not isinstance(x, type) and not _frozen(x)
    )


def _frozen(x: Any) -> bool:
    return type(x).__dataclass_params__.frozen


def children(x: Any) -> list:
    if isinstance(x, dict):
        return [*x.keys(), *x.values()]
    if isinstance(x, (list, tuple, set, frozenset)):
        return list(x)
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return [getattr(x, f.name) for f in dataclasses.fields(x)]
    return []


def reachable(x: Any) -> list:
    """Every object reachable from x through containers and dataclass fields, once each."""
    seen: dict[int, Any] = {}
    stack = [x]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen[id(node)] = node
        stack.extend(children(node))
    return list(seen.values())


def freeze(x: Any) -> Any:
    """A snapshot of x's structure and contents that later mutations of x cannot change."""
    if isinstance(x, dict):
        return (type(x), tuple((freeze(k), freeze(v)) for k, v in x.items()))
    if isinstance(x, (set, frozenset)):
        return (type(x), frozenset(freeze(e) for e in x))
    if isinstance(x, (list, tuple)):
        return (type(x), tuple(freeze(e) for e in x))
    if isinstance(x, bytearray):
        return (bytearray, bytes(x))
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return (type(x), tuple(freeze(c) for c in children(x)))
    return x


def same_shape(original: Any, copy: Any) -> None:
    """Types agree node by node; shared leaves are the very same objects."""
    assert type(copy) is type(original)
    if not isinstance(original, (list, tuple, dict, set, frozenset)) and not (
        dataclasses.is_dataclass(original)
    ):
        if not isinstance(original, bytearray):
            assert copy is original
        return
    if isinstance(original, (set, frozenset)):
        return  # no order to pair elements by; equality is checked by the caller
    for a, b in zip(children(original), children(copy), strict=True):
        same_shape(a, b)


def mutate(x: Any) -> None:
    """Change x itself (not its children) in a way equality sees."""
    marker = ("mutated", object())
    if isinstance(x, list):
        x.append(marker)
    elif isinstance(x, dict):
        x[marker] = marker
    elif isinstance(x, set):
        x.add(marker)
    elif isinstance(x, bytearray):
        x.append(0x21)
    else:
        setattr(x, dataclasses.fields(x)[0].name, marker)


# ---- hypothesis strategies -----------------------------------------------------------------

atoms = st.one_of(
    st.integers(),
    st.text(max_size=4),
    st.binary(max_size=4),
    st.floats(allow_nan=False),
    st.complex_numbers(allow_nan=False, max_magnitude=1e6),
    st.booleans(),
    st.none(),
    st.integers(0, 50).map(a_pid),
    st.builds(Ref),
    st.frozensets(st.integers(-3, 3), max_size=3),
)
hashables = st.recursive(atoms, lambda inner: st.tuples(inner, inner), max_leaves=4)


def containers(inner):
    return st.one_of(
        st.lists(inner, max_size=4),
        st.lists(inner, max_size=3).map(tuple),
        st.dictionaries(hashables, inner, max_size=3),
        st.sets(hashables, max_size=3),
        st.binary(max_size=4).map(bytearray),
        st.builds(Exit, inner, inner),
        st.builds(Pair, inner, inner),
        st.dictionaries(st.text(max_size=2), inner, max_size=3).map(OrderedDict),
        st.dictionaries(st.integers(0, 5), inner, max_size=3).map(lambda d: defaultdict(list, d)),
        st.dictionaries(st.text(max_size=2), st.integers(), max_size=3).map(Counter),
        st.lists(inner, max_size=3).map(Tagged),
        st.builds(Point, inner, inner),
        st.builds(Frozen, inner, inner),
        st.builds(Slotted, inner),
    )


values = st.recursive(atoms, containers, max_leaves=12)

immutable_values = st.recursive(
    st.one_of(atoms, st.sampled_from([ValueError("boom"), len, int, os, threading.Lock()])),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3).map(tuple),
        st.builds(Exit, inner, inner),
        st.builds(Down, st.builds(Ref), inner, inner),
        st.builds(Frozen, inner, inner),
        st.frozensets(hashables, max_size=3),
    ),
    max_leaves=10,
)


# ---- properties ------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(value=values)
def test_the_copy_equals_the_original(iso, value):
    copy = iso(value)
    assert copy == value
    same_shape(value, copy)


@settings(max_examples=200, deadline=None)
@given(value=values)
def test_no_mutable_part_is_shared(iso, value):
    copy = iso(value)
    originals = {id(x) for x in reachable(value) if is_mutable_node(x)}
    assert not [x for x in reachable(copy) if is_mutable_node(x) and id(x) in originals]


@settings(max_examples=150, deadline=None)
@given(value=values)
def test_mutating_the_copy_leaves_the_original_alone(iso, value):
    before = freeze(value)
    for node in reachable(iso(value)):
        if is_mutable_node(node):
            mutate(node)
    assert freeze(value) == before


@settings(max_examples=150, deadline=None)
@given(value=values)
def test_mutating_the_original_leaves_the_copy_alone(iso, value):
    copy = iso(value)
    before = freeze(copy)
    for node in reachable(value):
        if is_mutable_node(node):
            mutate(node)
    assert freeze(copy) == before


@settings(max_examples=200, deadline=None)
@given(value=immutable_values)
def test_immutable_input_comes_back_as_the_same_object(iso, value):
    assert iso(value) is value


def sharing(original: Any, copy: Any) -> list:
    """Which nodes of the copy are the original's own, in a walk of both side by side."""
    shared = [copy is original]
    if not isinstance(original, (set, frozenset)):
        for a, b in zip(children(original), children(copy), strict=True):
            shared.extend(sharing(a, b))
    return shared


@settings(max_examples=200, deadline=None)
@given(value=values)
def test_both_implementations_agree(value):
    require("the C accelerator beamlet.kernel._isolate", isolation.isolate_c is not None,
            "pip install -e . with a C compiler")
    by_c, by_python = isolation.isolate_c(value), isolation.isolate_python(value)
    assert freeze(by_c) == freeze(by_python)
    assert sharing(value, by_c) == sharing(value, by_python)


def test_no_reference_is_leaked_even_when_a_copy_fails(iso):
    class Refusing(dict):
        def __reduce_ex__(self, protocol):
            raise TypeError("not today")

    shared = [1]
    loop: list = [shared]
    loop.append(loop)
    made_now = "".join(["not", " interned"])  # noqa: FLY002 - a str only this test counts
    good = {"a": [1, (2, [3])], "b": (shared, shared), "c": {1, 2}, "d": bytearray(b"x"),
            "e": OrderedDict(z=[1]), "f": Point([shared]), "g": loop, made_now: [made_now],
            (made_now, 1): (made_now, [2])}
    bad = {"x": [1], made_now: [made_now], "y": Refusing(k=[2])}
    nodes = [x for x in reachable(good) + reachable(bad) if not isinstance(x, (int, float))
             and (not isinstance(x, str) or x is made_now)]
    before = [sys.getrefcount(x) for x in nodes]
    for _ in range(20):
        copy = iso(good)
        del copy
        with pytest.raises(TypeError, match="not today"):
            iso(bad)
    gc.collect()
    assert [sys.getrefcount(x) for x in nodes] == before


# ---- shared values ----------------------------------------------------------------------------


def test_messages_of_the_hot_path_are_shared(iso):
    pid, ref = a_pid(), Ref()
    for message in [(pid, 1), ("$gen_call", (pid, ref), ("get", 1)), Exit(pid, "normal"),
                    Down(ref, pid, "normal"), "text", 7, 2.5, None, True, b"raw"]:
        assert iso(message) is message


def test_a_big_binary_inside_a_copied_list_is_shared(iso):
    blob = bytes(10**6)
    copy = iso(["header", blob, [blob]])
    assert copy[1] is blob and copy[2][0] is blob


def test_immutable_parts_of_a_copied_message_are_shared(iso):
    inner = ("deep", (1, 2), frozenset({3}))
    copy = iso([inner, {"k": inner}])
    assert copy[0] is inner and copy[1]["k"] is inner


@pytest.mark.parametrize(
    "handle",
    [len, int, os, threading.Lock(), io.BytesIO(b"x"), deque([1, [2]]), object(),
     memoryview(bytearray(b"ab")), iter([1, 2]), lambda: 1],
    ids=["builtin", "class", "module", "lock", "file", "deque", "object", "memoryview",
         "iterator", "function"],
)
def test_other_objects_are_passed_by_reference(iso, handle):
    copy = iso([handle])
    assert copy[0] is handle


def test_a_socket_is_passed_by_reference(iso):
    with socket.socket() as sock:
        assert iso({"sock": sock})["sock"] is sock


def test_exceptions_are_passed_by_reference_even_holding_lists(iso):
    reason = RuntimeError(["state", [1]])
    copy = iso(Exit(a_pid(), reason))
    assert copy is not None and copy.reason is reason


# ---- copies ----------------------------------------------------------------------------------


def test_each_mutable_builtin_is_a_new_object(iso):
    message = ("tag", [1], {"k": 2}, {3}, bytearray(b"4"))
    copy = iso(message)
    assert copy == message and type(copy) is tuple
    for original, copied in zip(message[1:], copy[1:], strict=True):
        assert copied is not original and type(copied) is type(original)


def test_dict_keys_holding_a_mutable_dataclass_are_copied(iso):
    @dataclasses.dataclass(eq=False)
    class Key:
        parts: list

    key = Key([1])
    copy = iso({key: "v"})
    (copied_key,) = copy
    assert copied_key is not key and copied_key.parts == [1] and copied_key.parts is not key.parts


def test_subclasses_keep_their_type_and_behaviour(iso):
    ordered = OrderedDict([("z", [1]), ("a", 2)])
    counts = Counter("hello")
    factory = defaultdict(list, {1: [2]})
    tagged = Tagged([[1], 2])
    tagged.note = ["n"]
    copy = iso([ordered, counts, factory, tagged])
    assert type(copy[0]) is OrderedDict and list(copy[0]) == ["z", "a"]
    assert copy[0]["z"] is not ordered["z"]
    copy[0].move_to_end("z")
    assert list(ordered) == ["z", "a"]
    assert type(copy[1]) is Counter and copy[1] == counts and copy[1] is not counts
    assert copy[2].default_factory is list and copy[2][1] is not factory[1]
    copy[2]["new"].append(1)
    assert "new" not in factory
    assert type(copy[3]) is Tagged and copy[3] == tagged and copy[3][0] is not tagged[0]
    assert copy[3].note == ["n"] and copy[3].note is not tagged.note


def test_set_and_bytearray_subclasses_keep_their_type(iso):
    class Tags(set):
        pass

    class Buffer(bytearray):
        pass

    tags, buffer = Tags({1, (2, 3)}), Buffer(b"abc")
    copy = iso((tags, buffer))
    assert type(copy[0]) is Tags and copy[0] == tags and copy[0] is not tags
    assert type(copy[1]) is Buffer and copy[1] == buffer and copy[1] is not buffer


def test_namedtuples_holding_lists_are_rebuilt_with_their_type(iso):
    pid = a_pid()
    message = Exit(pid, ["shutdown", [1]])
    copy = iso(message)
    assert type(copy) is Exit and copy == message and copy.pid is pid
    assert copy.reason is not message.reason and copy.reason[1] is not message.reason[1]
    pair = Pair("same", ("shared",))
    assert iso(pair) is pair


def test_a_tuple_subclass_keeps_its_instance_attributes(iso):
    class Noted(tuple):
        pass

    noted = Noted(([1], 2))
    noted.meta = {"k": [3]}
    copy = iso(noted)
    assert type(copy) is Noted and copy == noted and copy[0] is not noted[0]
    assert copy.meta == noted.meta and copy.meta is not noted.meta


def test_a_mutable_dataclass_is_copied_without_running_init(iso):
    point = Counted([1, 2])
    point.extra = ["x"]
    runs = Counted.inits
    copy = iso(point)
    assert Counted.inits == runs
    assert copy == point and copy is not point and copy.value is not point.value
    assert copy.extra == ["x"] and copy.extra is not point.extra


def test_a_dataclass_of_immutables_is_still_copied_unless_frozen(iso):
    point, frozen = Point(1, "y"), Frozen(1, (2,))
    assert iso(point) is not point and iso(point) == point
    assert iso(frozen) is frozen


def test_a_frozen_dataclass_holding_a_list_is_copied(iso):
    frozen = Frozen([1], "b")
    copy = iso(frozen)
    assert type(copy) is Frozen and copy == frozen and copy is not frozen
    assert copy.a is not frozen.a and copy.b is frozen.b


def test_a_slotted_dataclass_is_copied(iso):
    slotted = Slotted([1], "l")
    copy = iso(slotted)
    assert copy == slotted and copy is not slotted and copy.items is not slotted.items


def test_a_class_that_is_a_dataclass_is_passed_by_reference(iso):
    assert iso([Point])[0] is Point


# ---- identity and cycles -----------------------------------------------------------------------


def test_a_list_met_twice_is_copied_once(iso):
    shared = [1]
    box = {"v": shared}
    copy = iso([shared, shared, box, box, (shared,)])
    assert copy[0] is copy[1] is copy[2]["v"] is copy[4][0]
    assert copy[2] is copy[3] and copy[0] is not shared


def test_a_tuple_met_twice_is_rebuilt_once(iso):
    inner = ([1],)
    copy = iso([inner, inner])
    assert copy[0] is copy[1] and copy[0] is not inner


def test_a_dataclass_a_bytearray_and_a_set_met_twice_are_copied_once(iso):
    point, raw, group = Point([1]), bytearray(b"r"), {1, "two"}
    copy = iso([point, point, raw, raw, group, (group,)])
    assert copy[0] is copy[1] and copy[0] is not point
    assert copy[2] is copy[3] and copy[2] is not raw
    assert copy[4] is copy[5][0] and copy[4] is not group


def test_a_deep_dag_of_shared_values_is_walked_once_per_node(iso):
    """2**60 paths, 120 nodes: a walk that followed every path would never end."""
    shared_tuple: Any = ("leaf",)
    shared_frozen: Any = Frozen("leaf")
    for _ in range(60):
        shared_tuple = (shared_tuple, shared_tuple)
        shared_frozen = Frozen(shared_frozen, shared_frozen)
    copy = iso([shared_tuple, shared_frozen])
    assert copy[0] is shared_tuple and copy[1] is shared_frozen


def test_a_list_that_contains_itself(iso):
    loop = [1]
    loop.append(loop)
    copy = iso(loop)
    assert copy is not loop and copy[0] == 1 and copy[1] is copy


def test_a_dict_that_contains_itself_and_mutual_lists(iso):
    table = {"name": "t"}
    table["self"] = table
    first, second = [1], [2]
    first.append(second)
    second.append(first)
    copy = iso((table, first))
    assert copy[0]["self"] is copy[0] and copy[0] is not table
    assert copy[1][1][1] is copy[1] and copy[1][1] is not second


def test_a_cycle_through_a_tuple(iso):
    holder = ([],)
    holder[0].append(holder)
    copy = iso(holder)
    assert copy is not holder and copy[0][0] is copy


def test_a_cycle_through_dataclasses_and_subclasses(iso):
    parent = Point(None)
    parent.x = [Point(parent)]
    ordered = OrderedDict()
    ordered["me"] = ordered
    copy = iso([parent, ordered])
    assert copy[0].x[0].x is copy[0] and copy[0] is not parent
    assert copy[1]["me"] is copy[1] and copy[1] is not ordered


def test_a_subclass_rebuild_that_looks_at_a_partly_built_copy(iso):
    outer = LoudList()
    inner = [outer, 1]
    outer.append(inner)
    copy = iso(inner)
    assert copy[0][0] is copy and type(copy[0]) is LoudList


def test_too_deep_a_message_raises_recursion_error(iso):
    nested: list = []
    for _ in range(100_000):
        nested = [nested]
    with pytest.raises(RecursionError):
        iso(nested)


# ---- the choice of implementation and the build ---------------------------------------------


def test_the_accelerator_is_the_default_when_built():
    require("the C accelerator beamlet.kernel._isolate", isolation.isolate_c is not None,
            "pip install -e . with a C compiler")
    # (in a fresh interpreter without BEAMLET_PURE_PYTHON, which a run of the suite may set)
    code = ("from beamlet.kernel import isolation as i; "
            "print(i.IMPLEMENTATION, i.isolate is i.isolate_c)")
    source_root = Path(isolation.__file__).resolve().parents[2]
    env = {k: v for k, v in os.environ.items() if k != "BEAMLET_PURE_PYTHON"}
    env["PYTHONPATH"] = str(source_root)
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                            text=True, check=True)
    assert result.stdout.split() == ["c", "True"]


def test_the_pure_python_implementation_can_be_forced():
    code = "from beamlet.kernel import isolation as i; print(i.IMPLEMENTATION)"
    source_root = Path(isolation.__file__).resolve().parents[2]
    env = {**os.environ, "BEAMLET_PURE_PYTHON": "1", "PYTHONPATH": str(source_root)}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                            text=True, check=True)
    assert result.stdout.strip() == "python"


def test_the_build_succeeds_without_a_compiler(tmp_path):
    """A failing compiler only skips the extension: setup.py's build_ext still succeeds."""
    shutil.copy(REPO / "setup.py", tmp_path / "setup.py")
    source = tmp_path / "src" / "beamlet" / "kernel"
    source.mkdir(parents=True)
    shutil.copy(REPO / "src" / "beamlet" / "kernel" / "_isolate.c", source / "_isolate.c")
    env = {**os.environ, "CC": str(tmp_path / "no-such-compiler")}
    result = subprocess.run(
        [sys.executable, "setup.py", "build_ext", "--build-lib", "lib", "--build-temp", "tmp"],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "pure-Python" in result.stderr + result.stdout
    assert not list((tmp_path / "lib").rglob("_isolate*.so"))
