"""Types of the C accelerator of `beamlet.kernel.isolation` (built from _isolate.c)."""

from collections.abc import Callable
from typing import Any, TypeVar

_T = TypeVar("_T")

# The copier handed to the Python helpers. Its C type is not a module attribute, hence the
# private name: it exists only for these annotations.
class _Copier:
    def __call__(self, obj: Any, /) -> Any: ...
    def remember(self, original: Any, copy: Any, /) -> None: ...
    def recall(self, original: Any, /) -> Any: ...

def isolate(obj: _T, /) -> _T: ...
def share(obj: _T, /) -> _T: ...
def configure(
    pid_type: type,
    ref_type: type,
    timer_ref_type: type,
    copy_special: Callable[[Any, _Copier], Any],
    rebuild_tuple: Callable[[tuple[Any, ...], tuple[Any, ...], _Copier], tuple[Any, ...]],
) -> None: ...
