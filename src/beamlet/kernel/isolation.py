"""Message isolation: what a message shares with its sender, and what it gets a copy of.

On the BEAM no process can see another's memory, so a message cannot be changed by its sender
after `send` or by its receiver for the sender. Python objects are shared by default; `isolate`
gives a message that guarantee at the lowest cost it can: it copies exactly the mutable parts.

The rules, for every value anywhere inside a message:

* **Shared** (the same object reaches the receiver, nothing is copied): `str`, `bytes`, `int`,
  `float`, `complex`, `bool`, `None`, `Pid`, `Ref`, `TimerRef`, `frozenset`. A 100 MB `bytes`
  costs nothing to send. (Subclasses of these, such as an `IntEnum` member, are shared as
  "everything else" below is.)
* **Copied**: `list`, `dict`, `set`, `bytearray` are always new objects in the copy, with their
  contents isolated by these same rules (dict keys and set elements too).
* **Tuples** (and tuple subclasses: NamedTuples such as `Exit` and `Down`) are shared when all
  their elements are, else rebuilt with the same type around the isolated elements
  (``tuple.__new__(type, items)``, so a custom ``__new__`` is not called; a tuple subclass's
  instance ``__dict__``, if it has one, is carried over isolated, but it is not looked at to
  decide whether the tuple is shared).
* **Subclasses of list, dict, set, bytearray** (`OrderedDict`, `defaultdict`, `Counter`, your
  own) keep their type: they are rebuilt through their pickle protocol
  (``__reduce_ex__(4)``, as `copy.deepcopy` does) with every part of what it returns isolated,
  so a `defaultdict` keeps its factory and an `OrderedDict` its order.
* **Dataclass instances** are copied field by field: a new instance of the same class is made
  without calling ``__init__`` (``cls.__new__(cls)``) and each field, and each other entry of
  the instance's ``__dict__``, is set to its isolated value. A frozen dataclass whose attributes
  are all shared is itself shared; one holding something mutable is copied likewise.
* **Exceptions** (crash reasons, `Exit` reasons) are passed by reference, never copied.
* **Everything else** is passed by reference, like an Erlang resource handle: functions,
  methods, classes, modules, files, sockets, locks, iterators, `memoryview`, `array`,
  `collections.deque`, instances of ordinary classes. Both sides then see the same object;
  isolating it is the program's business.

Identity within one message is kept: a list or dict that appears twice in a message appears
twice as the same copy, and cycles (a list that contains itself, a dict pointing back to its
parent) are reproduced, as `copy.deepcopy`'s memo does. A message nested deeper than the
interpreter's recursion limit raises `RecursionError`.

`isolate` is the C accelerator (`beamlet.kernel._isolate`) when it was built, and the pure
Python `isolate_python` otherwise (set ``BEAMLET_PURE_PYTHON=1`` to force the latter). Both
share the helpers below for subclasses and dataclasses, so they give the same results.
"""

from __future__ import annotations

import dataclasses
import os
import weakref
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from .terms import Pid, Ref, TimerRef

__all__ = ["IMPLEMENTATION", "isolate", "isolate_c", "isolate_python", "share"]

T = TypeVar("T")

#: Types whose instances are shared without looking inside (exact types; subclasses of these
#: are "everything else", passed by reference too).
SHARED_TYPES: frozenset[type] = frozenset(
    {str, bytes, int, float, complex, bool, type(None), Pid, Ref, TimerRef, frozenset}
)

_MUTABLE_BASES = (list, dict, set, bytearray)


# ---- helpers shared by both implementations ------------------------------------------------
# A "copier" isolates the parts of one message: ``copier(part)`` returns the isolated part,
# ``copier.remember(original, copy)`` records a copy before its insides are filled (so cycles
# back to it find it) and ``copier.recall(original)`` returns the copy recorded, or None.


def copy_special(obj: Any, copier: Any) -> Any:
    """Isolate a subclass of a mutable builtin container, or a dataclass instance."""
    if isinstance(obj, _MUTABLE_BASES):
        return _copy_by_reduce(obj, copier)
    return _copy_dataclass(obj, copier)


def rebuild_tuple(original: tuple[Any, ...], items: tuple[Any, ...],
                  copier: Any) -> tuple[Any, ...]:
    """A tuple subclass instance of ``original``'s type around already isolated ``items``."""
    rebuilt = tuple.__new__(type(original), items)
    attributes = getattr(original, "__dict__", None)
    if attributes:
        rebuilt.__dict__.update(copier(attributes))
    return rebuilt


def _copy_by_reduce(obj: Any, copier: Any) -> Any:
    """Rebuild a container subclass from its pickle reduction, every part isolated."""
    reduction = obj.__reduce_ex__(4)
    if isinstance(reduction, str):  # a module-level singleton: the same object everywhere
        return obj
    constructor, args, state, list_items, dict_items, state_setter = (
        tuple(reduction) + (None,) * 4
    )[:6]
    rebuilt = constructor(*copier(args))
    copier.remember(obj, rebuilt)
    if state is not None:
        if state_setter is not None:
            state_setter(rebuilt, copier(state))
        else:
            _set_state(rebuilt, copier(state))
    if list_items is not None:
        for item in list_items:
            rebuilt.append(copier(item))
    if dict_items is not None:
        for key, value in dict_items:
            rebuilt[copier(key)] = copier(value)
    return rebuilt


def _set_state(rebuilt: Any, state: Any) -> None:
    """Apply a reduction's state as unpickling does: ``__setstate__``, or dict and slots."""
    setstate = getattr(rebuilt, "__setstate__", None)
    if setstate is not None:
        setstate(state)
        return
    slot_state = None
    if isinstance(state, tuple) and len(state) == 2:
        state, slot_state = state
    if state:
        rebuilt.__dict__.update(state)
    if slot_state:
        for name, value in slot_state.items():
            setattr(rebuilt, name, value)


_dataclass_layouts: weakref.WeakKeyDictionary[type, tuple[tuple[str, ...], bool]] = (
    weakref.WeakKeyDictionary()
)


def _dataclass_layout(cls: type) -> tuple[tuple[str, ...], bool]:
    """The field names of a dataclass and whether it is frozen, computed once per class."""
    layout = _dataclass_layouts.get(cls)
    if layout is None:
        names = tuple(field.name for field in dataclasses.fields(cls))
        # __dataclass_params__ is set by @dataclass on the class; typeshed does not declare it
        layout = (names, bool(cls.__dataclass_params__.frozen))  # type: ignore[attr-defined]
        _dataclass_layouts[cls] = layout
    return layout


def _instance_state(obj: Any, field_names: tuple[str, ...]) -> list[tuple[str, Any]]:
    """Every attribute of a dataclass instance: its ``__dict__`` and the fields kept in slots."""
    attributes = getattr(obj, "__dict__", None) or {}
    state = list(attributes.items())
    missing = object()
    for name in field_names:
        if name not in attributes:
            value = getattr(obj, name, missing)
            if value is not missing:
                state.append((name, value))
    return state


def _copy_dataclass(obj: Any, copier: Any) -> Any:
    """A field-by-field copy; a frozen instance whose attributes are all shared is shared."""
    cls: Any = type(obj)
    field_names, frozen = _dataclass_layout(cls)
    state = _instance_state(obj, field_names)
    if frozen:
        copies = [(name, copier(value)) for name, value in state]
        if all(copy is value for (_, copy), (_, value) in zip(copies, state)):
            copier.remember(obj, obj)
            return obj
        known = copier.recall(obj)  # met again through a cycle while its fields were copied
        if known is not None:
            return known
        rebuilt = cls.__new__(cls)
        _fill(rebuilt, copies)
        copier.remember(obj, rebuilt)
        return rebuilt
    rebuilt = cls.__new__(cls)
    copier.remember(obj, rebuilt)
    _fill(rebuilt, ((name, copier(value)) for name, value in state))
    return rebuilt


def _fill(instance: Any, attributes: Iterable[tuple[str, Any]]) -> None:
    """Set attributes past a frozen dataclass's ``__setattr__``, as its own ``__init__`` does."""
    for name, value in attributes:
        object.__setattr__(instance, name, value)


# ---- the pure Python implementation --------------------------------------------------------


class _Copier:
    """One `isolate_python` walk: the memo from original (by id) to copy, and the dispatch.

    The memo keeps each original alive until the walk ends, so no id is reused meanwhile.
    """

    __slots__ = ("_memo",)

    def __init__(self) -> None:
        self._memo: dict[int, tuple[Any, Any]] = {}

    def remember(self, original: Any, copy: Any) -> None:
        self._memo.setdefault(id(original), (original, copy))

    def recall(self, original: Any) -> Any:
        entry = self._memo.get(id(original))
        return None if entry is None else entry[1]

    def __call__(self, obj: Any) -> Any:
        cls = type(obj)
        if cls in SHARED_TYPES:
            return obj
        entry = self._memo.get(id(obj))
        if entry is not None:
            return entry[1]
        copy_exact = _EXACT_COPIERS.get(cls)
        if copy_exact is not None:
            return copy_exact(self, obj)
        if isinstance(obj, tuple):
            return self._tuple(obj)
        if isinstance(obj, BaseException):
            return obj
        if isinstance(obj, _MUTABLE_BASES) or hasattr(cls, "__dataclass_fields__"):
            return copy_special(obj, self)
        return obj

    def _tuple(self, obj: tuple[Any, ...]) -> tuple[Any, ...]:
        items = [item if type(item) in SHARED_TYPES else self(item) for item in obj]
        for copy, item in zip(items, obj):
            if copy is not item:
                break
        else:
            self.remember(obj, obj)  # a DAG of shared tuples is walked once per node
            return obj
        # met again through a cycle while its elements were copied
        known: tuple[Any, ...] | None = self.recall(obj)
        if known is not None:
            return known
        rebuilt = tuple(items) if type(obj) is tuple else rebuild_tuple(obj, tuple(items), self)
        self.remember(obj, rebuilt)
        return rebuilt

    def _list(self, obj: list[Any]) -> list[Any]:
        if _only_shared(obj):
            copy = obj[:]
            self.remember(obj, copy)
            return copy
        copy = []
        self.remember(obj, copy)
        copy.extend([item if type(item) in SHARED_TYPES else self(item) for item in obj])
        return copy

    def _dict(self, obj: dict[Any, Any]) -> dict[Any, Any]:
        if _only_shared(obj.values()) and _only_shared(obj):
            copy = obj.copy()
            self.remember(obj, copy)
            return copy
        copy = {}
        self.remember(obj, copy)
        shared = SHARED_TYPES
        for key, value in list(obj.items()):
            if type(key) not in shared:
                key = self(key)
            copy[key] = value if type(value) in shared else self(value)
        return copy

    def _set(self, obj: set[Any]) -> set[Any]:
        copy: set[Any] = set()
        self.remember(obj, copy)
        copy.update([item if type(item) in SHARED_TYPES else self(item) for item in obj])
        return copy

    def _bytearray(self, obj: bytearray) -> bytearray:
        copy = bytearray(obj)
        self.remember(obj, copy)
        return copy


_EXACT_COPIERS: dict[type, Callable[[_Copier, Any], Any]] = {
    tuple: _Copier._tuple,
    list: _Copier._list,
    dict: _Copier._dict,
    set: _Copier._set,
    bytearray: _Copier._bytearray,
}


def _only_shared(items: Iterable[Any]) -> bool:
    """Whether every item is of a shared type (one pass in C: the set of their types)."""
    return set(map(type, items)) <= SHARED_TYPES


def _plainly_shared(obj: tuple[Any, ...], depth: int = 4) -> bool:
    """Whether an exact tuple holds only atoms and such tuples, at most ``depth`` deep.

    The first level of inner tuples is looked at in place: one call for the usual message.
    """
    shared = SHARED_TYPES
    for item in obj:
        cls = type(item)
        if cls in shared:
            continue
        if cls is not tuple or depth == 1:
            return False
        for inner in item:
            inner_cls = type(inner)
            if inner_cls not in shared and (
                inner_cls is not tuple or depth == 2 or not _plainly_shared(inner, depth - 2)
            ):
                return False
    return True


def isolate_python(obj: T) -> T:
    """`isolate` in pure Python: ``obj`` itself when nothing in it is mutable, else a copy."""
    value: Any = obj
    cls = type(value)
    if cls in SHARED_TYPES:
        return obj
    if cls is tuple:
        if _plainly_shared(value):
            return obj
    # A flat list or dict as the whole message: nothing else in it can refer to it.
    elif cls is list:
        if _only_shared(value):
            flat_list: T = value[:]
            return flat_list
    elif cls is dict and _only_shared(value.values()) and _only_shared(value):
        flat_dict: T = value.copy()
        return flat_dict
    copied: T = _Copier()(value)
    return copied


# ---- the choice of implementation ------------------------------------------------------------


def _load_accelerator() -> Callable[[Any], Any] | None:
    """The C `isolate`, configured with the shared types and helpers; None if not built."""
    try:
        from . import _isolate
    except ImportError:
        return None
    _isolate.configure(
        pid_type=Pid,
        ref_type=Ref,
        timer_ref_type=TimerRef,
        copy_special=copy_special,
        rebuild_tuple=rebuild_tuple,
    )
    return _isolate.isolate


#: The C implementation, or None when the extension was not built.
isolate_c: Callable[[Any], Any] | None = _load_accelerator()

def share_python(obj: T) -> T:
    """The message itself, uncopied: what a node started with ``isolation="share"`` sends."""
    return obj


_python_messages = 0


def _isolate_message_python(obj: T) -> T:
    global _python_messages
    _python_messages += 1
    return isolate_python(obj)


def _share_message_python(obj: T) -> T:
    global _python_messages
    _python_messages += 1
    return obj


def _messages_python() -> int:
    return _python_messages


if isolate_c is not None and os.environ.get("BEAMLET_PURE_PYTHON", "") in ("", "0"):
    from ._isolate import (
        isolate_message as _isolate_message_c,
        messages as _messages_c,
        share as _share_c,
        share_message as _share_message_c,
    )

    isolate: Callable[[T], T] = isolate_c
    share: Callable[[T], T] = _share_c   # a C call: the cheapest way to do nothing in a slot
    # the same, counting each message (`messages`): what the kernel's sends use
    isolate_message: Callable[[T], T] = _isolate_message_c
    share_message: Callable[[T], T] = _share_message_c
    messages: Callable[[], int] = _messages_c
    IMPLEMENTATION = "c"
else:
    isolate = isolate_python
    share = share_python
    isolate_message = _isolate_message_python
    share_message = _share_message_python
    messages = _messages_python
    IMPLEMENTATION = "python"
