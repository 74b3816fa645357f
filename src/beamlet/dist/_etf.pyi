"""Types of the optional C fast path of `beamlet.dist.etf` (built from _etf.c)."""

from collections.abc import Callable
from typing import Any

def decode(
    data: bytes | bytearray,
    pos: int,
    on_pid: Callable[[Any], Any] | None,
    on_ref: Callable[[Any], Any] | None,
    max_depth: int,
    pid_cache: dict[bytes, Any] | None = None,
    preset_at: int = ...,
    preset: bytes = ...,
    /,
) -> tuple[Any, int] | None:
    """(term, end), or None when the Python decoder must handle the term; ``pid_cache``
    keeps what ``on_pid`` made of each pid's bytes."""

def encode(
    term: Any,
    atoms: dict[str, bytes],
    specials: tuple[bytes, bytes, bytes],
    fallback: Callable[[Any], bytes],
    max_depth: int,
    exact_types: tuple[type, ...] | None = ...,
    gather_from: int = ...,
    /,
) -> bytes | tuple[bytes, ...]: ...
def decode_frames(
    on_pid: Callable[[Any], Any] | None,
    on_ref: Callable[[Any], Any] | None,
    max_depth: int,
    pid_cache: dict[bytes, Any] | None,
    header: bytes,
    no_payload: Any,
    data: bytes | bytearray | memoryview,
    largest: int,
    sequences: bool,
    /,
) -> tuple[int, list[Any]]: ...
def encode_frame(
    atoms: dict[str, bytes],
    specials: tuple[bytes, bytes, bytes],
    fallback: Callable[[Any], bytes],
    max_depth: int,
    exact_types: tuple[type, ...] | None,
    header: bytes,
    payload_fallback: Callable[[Any], bytes],
    control: Any,
    payload: Any,
    has_payload: bool,
    limit: int,
    /,
) -> bytes | None: ...
def find_binary(data: bytes, pos: int, least: int, /) -> tuple[int, int] | None: ...
def reserve_binary(size: int, /) -> bytes: ...
def fill_binary(binary: bytes, at: int, data: bytes | bytearray | memoryview, /) -> None: ...
def setup(
    ext_pid: type, ext_ref: type, improper_list: type, exit: type, down: type, /
) -> None: ...
