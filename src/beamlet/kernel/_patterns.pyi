"""Types of the C accelerator of `beamlet.kernel.patterns` (built from _patterns.c)."""

from collections.abc import Callable
from typing import Any

def match(pat: Any, msg: Any, /) -> bool: ...
def first_match(patterns: tuple[Any, ...], msg: Any, /) -> bool: ...
def configure(
    any: Any, scalars: tuple[type, ...], fallback: Callable[[Any, Any], bool], /
) -> None: ...
