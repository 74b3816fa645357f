"""The C pattern matcher (`beamlet.kernel._patterns`) against the rule it implements, the pure
Python functions of `beamlet.kernel.patterns`: the same answer, or the same exception, for
every pattern and message, odd classes included."""

from __future__ import annotations

import enum
import math
from collections import OrderedDict, defaultdict
from typing import Any, NamedTuple

import pytest
from hypothesis import example, given, settings, strategies as st

from beamlet.kernel import patterns
from beamlet.kernel.terms import ANY, Down, Exit, Pid, Ref
from helpers import require

try:
    from beamlet.kernel import _patterns
except ImportError:  # (no compiler where it was installed)
    _patterns = None


@pytest.fixture(autouse=True)
def _built() -> None:
    require("the C accelerator beamlet.kernel._patterns", _patterns is not None,
            "pip install -e . with a C compiler and Python's headers")


class Color(enum.StrEnum):
    RED = "red"


class Pair(NamedTuple):
    left: Any
    right: Any


class Loose(tuple):  # a tuple subclass: a pattern of it is matched over zip's length
    pass


class Measured(tuple):
    """A tuple that says it is longer than it is, and iterates backwards."""

    def __len__(self) -> int:
        return super().__len__() + 1

    def __iter__(self) -> Any:
        return reversed(tuple(super().__iter__()))


class Always:
    def __eq__(self, other: object) -> bool:
        return True

    __hash__ = object.__hash__


class Never:
    def __eq__(self, other: object) -> bool:
        return False

    __hash__ = object.__hash__


class Raising:
    def __eq__(self, other: object) -> bool:
        raise ValueError("no comparing me")

    __hash__ = object.__hash__


def is_even(x: Any) -> bool:
    return isinstance(x, int) and x % 2 == 0


def explode(x: Any) -> bool:
    raise KeyError("predicate failed")


PID, REF = Pid(None, 7), Ref()
SHARED = [PID, REF, Always(), Never(), math.nan]

leaves = st.one_of(
    st.integers(-3, 3), st.booleans(), st.floats(allow_nan=True, width=16), st.text(max_size=2),
    st.binary(max_size=2), st.none(), st.sampled_from(SHARED),
    st.sampled_from([Color.RED, "red", 1.0, 0, 1, True]),
)


def containers(children: Any) -> Any:
    return st.one_of(
        st.tuples(children, children), st.lists(children, max_size=3).map(tuple),
        st.lists(children, max_size=3),
        st.dictionaries(st.sampled_from("ab"), children, max_size=2),
        st.builds(Pair, children, children), st.builds(Exit, children, children),
        st.lists(children, max_size=3).map(Loose), st.lists(children, max_size=3).map(Measured),
        st.dictionaries(st.sampled_from("ab"), children, max_size=2).map(OrderedDict),
    )


messages = st.recursive(leaves, containers, max_leaves=8)
pattern_leaves = st.one_of(
    leaves, st.just(ANY), st.sampled_from([int, str, tuple, bool, float, Pair, dict, list]),
    st.sampled_from([is_even, callable, Raising(), explode]),
)
pattern_trees = st.recursive(pattern_leaves, containers, max_leaves=8)


def outcome(fn: Any, *args: Any) -> Any:
    try:
        return ("returned", fn(*args))
    except Exception as error:  # noqa: BLE001 - the exception is part of the answer
        return ("raised", type(error), str(error))


@settings(max_examples=800, deadline=None)
@given(pattern_trees, messages)
@example((1, ANY), (True, 2))
@example(Pair(1, ANY), (1, 2))
@example(Loose((1,)), Loose((1, 2)))
@example((1, 2), Measured((1, 2)))
@example(Measured((1, 2)), Measured((1, 2)))
@example({"a": int}, defaultdict(int))
@example(Color.RED, "red")
@example("red", Color.RED)
@example(1, 1.0)
@example(math.nan, math.nan)
@example(int, int)
@example((int,), (int,))
def test_c_match_answers_as_the_python_rule(pat: Any, msg: Any) -> None:
    assert outcome(_patterns.match, pat, msg) == outcome(patterns._match_python, pat, msg)


@settings(max_examples=300, deadline=None)
@given(st.lists(pattern_trees, max_size=3).map(tuple), messages)
def test_c_first_match_answers_as_the_python_rule(pats: tuple[Any, ...], msg: Any) -> None:
    assert outcome(_patterns.first_match, pats, msg) == \
        outcome(patterns._first_match_python, pats, msg)


def test_the_reply_patterns_of_a_call() -> None:
    """What `GenServer.call` waits for: its tag with any reply, or its monitor's Down."""
    ref = Ref()
    reply_or_down = ((ref, ANY), Down(ref, ANY, ANY))
    assert _patterns.first_match(reply_or_down, (ref, {"any": "reply"}))
    assert _patterns.first_match(reply_or_down, Down(ref, PID, "noproc"))
    assert not _patterns.first_match(reply_or_down, (Ref(), "someone else's"))
    assert not _patterns.first_match(reply_or_down, Down(Ref(), PID, "normal"))


def test_a_list_a_predicate_changes_while_it_is_matched() -> None:
    msg = [1, 2, 3]

    def shrink(x: Any) -> bool:
        msg.clear()
        return True

    python = outcome(patterns._match_python, [shrink, 9, 9], msg)
    msg[:] = [1, 2, 3]
    assert outcome(_patterns.match, [shrink, 9, 9], msg) == python


def test_deep_patterns_raise_recursion_error() -> None:
    pat: Any = 1
    msg: Any = 1
    for _ in range(100_000):
        pat, msg = [pat], [msg]
    with pytest.raises(RecursionError):
        _patterns.match(pat, msg)


def test_the_kernel_uses_the_c_matcher() -> None:
    assert patterns.match is _patterns.match
    assert patterns.first_match is _patterns.first_match
