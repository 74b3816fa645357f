"""The pattern language of `receive`.

A pattern is matched against a message as follows (API.md): a ``type`` matches by isinstance; a
tuple or list matches element-wise when the lengths agree (a NamedTuple pattern such as
``Exit(pid, ANY)`` also requires the message to be of that class); a dict matches when every key
is present and its value matches; `ANY` matches anything; another callable is a predicate; any
other value matches by equality. Patterns nest freely.

Patterns are interpreted, not compiled: they usually hold a fresh ref, so there is nothing to
cache, and interpreting a short tuple costs less than building a closure for it. `match` and
`first_match` are the C accelerator's (``beamlet.kernel._patterns``) when it was built: the
same checks in the same order, through the same protocols, without the interpreter around
them; the functions below are the rule, and the fallback.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .terms import ANY, Pid, Ref

_SCALARS: frozenset[type] = frozenset({str, int, float, bytes, bool, type(None), Pid, Ref})


def _match_python(pat: Any, msg: Any) -> bool:
    """Whether ``msg`` matches the pattern ``pat``."""
    t = type(pat)
    if t in _SCALARS:
        return pat is msg or _scalar_eq(pat, t, msg)
    if pat is ANY:
        return True
    if t is tuple:
        if not isinstance(msg, tuple) or len(msg) != len(pat):
            return False
        return _match_items(pat, msg)
    if isinstance(pat, type):
        return isinstance(msg, pat)
    if isinstance(pat, tuple):  # a NamedTuple pattern: same class, then element-wise
        if type(msg) is not t:
            return False
        return _match_items(pat, msg)
    if t is list:
        if type(msg) is not list or len(msg) != len(pat):
            return False
        return _match_items(pat, msg)
    if t is dict:
        if not isinstance(msg, dict):
            return False
        for k, v in pat.items():
            if k not in msg or not match(v, msg[k]):
                return False
        return True
    if callable(pat):
        return bool(pat(msg))
    return bool(pat == msg)


def _match_items(pats: Any, msgs: Any) -> bool:
    for p, m in zip(pats, msgs):
        if p is m or p is ANY:
            continue
        tp = type(p)
        if tp in _SCALARS:
            if not _scalar_eq(p, tp, m):
                return False
        elif not match(p, m):
            return False
    return True


def _scalar_eq(pat: Any, t: type, msg: Any) -> bool:
    """Equality as a pattern means it: ``1`` does not match ``True`` or ``1.0`` (as in Erlang),
    but a str subclass (an enum member, say) matches its value."""
    tm = type(msg)
    if tm is t:
        return bool(pat == msg)
    return tm is not bool and isinstance(msg, t) and bool(pat == msg)


def _first_match_python(patterns: tuple[Any, ...], msg: Any) -> bool:
    """Whether ``msg`` matches any of ``patterns``."""
    for p in patterns:
        if match(p, msg):
            return True
    return False


match: Callable[[Any, Any], bool]
first_match: Callable[[tuple[Any, ...], Any], bool]
try:
    from . import _patterns
except ImportError:  # (not built: no compiler where it was installed)
    match, first_match = _match_python, _first_match_python
else:
    _patterns.configure(ANY, tuple(_SCALARS), _match_python)
    match, first_match = _patterns.match, _patterns.first_match
