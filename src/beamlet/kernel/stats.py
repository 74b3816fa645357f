"""Read-only views of the kernel's state, for observability (`beamlet.observe`).

The dashboard, `beamlet top` and the Prometheus metrics need what `Process.info` does not give
(run-queue lengths, hand-offs, the process table itself without a kernel call per process) and
need it cheaply enough to scan a million processes. Everything here reads the node's tables and
control blocks and writes nothing; callers run on the node's owner thread (inside a process), as
every kernel read must.

Per-process readers take a `Proc` from `snapshot()` (a list copied from the table, so the caller
can walk it in slices while processes come and go) and answer for a process that died meanwhile
too (``alive`` tells which).
"""

from __future__ import annotations

import os
import resource
import sys
from itertools import islice
from time import monotonic
from typing import Any

from . import node as _node, process_api as _api, scheduler as _sched
from .node import procs as _procs, queues as _queues
from .proc import DEAD, DOOMED, EXITING, PRIORITIES, RUNNABLE, Proc
from .traps import RESCAN, TIMEOUT

__all__ = [
    "alive", "by_number", "dictionary", "frame_locals", "handoffs", "info", "initial_call",
    "label", "memories", "memory", "node_name", "oldest", "process_count", "queue_len",
    "queue_lengths", "reductions", "registered_name", "rss_bytes", "run_queue_lengths",
    "schedulers", "snapshot", "stack", "status",
]

_labels: dict[Any, str] = {}   # a process function's code object -> "module.qualname/arity"
_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def node_name() -> str:
    """The running node's name."""
    return _node.name()


def schedulers() -> int:
    """How many schedulers the running node reports (its ``+S``)."""
    node = _node.current
    return node.schedulers if node is not None else 0


def handoffs() -> int:
    """How many times the watchdog handed the kernel off a stuck process since the node
    started."""
    node = _node.current
    return node.handoffs if node is not None else 0


def uptime() -> float:
    """Seconds since the running node started."""
    node = _node.current
    return monotonic() - node.started if node is not None else 0.0


def messages_sent() -> int:
    """How many messages have been sent so far (`scheduler.messages_sent`): a counter, its
    growth per second is the node's messages/s."""
    return _sched.messages_sent()


def run_queue_lengths() -> dict[str, int]:
    """Processes waiting in each priority's run queue (a dead entry waiting to be skipped
    counts too: the loop still has to pop it)."""
    return {PRIORITIES[i]: len(q) for i, q in enumerate(_queues)}


def process_count() -> int:
    """Live processes (those being announced dead included, as the table holds them)."""
    return len(_procs)


def snapshot() -> list[Proc]:
    """Every process in the table now, oldest first: a copy, safe to walk across turns."""
    return list(_procs.values())


def oldest(offset: int, size: int) -> list[Proc]:
    """``size`` processes of the table from position ``offset``, oldest first, without
    copying the rest of it."""
    return list(islice(_procs.values(), offset, offset + size))


def by_number(number: int) -> Proc | None:
    """The live process whose pid is ``<0.number.0>``, or None."""
    p = _procs.get(number)
    return p if p is not None and alive(p) else None


def alive(p: Proc) -> bool:
    """Whether ``p`` is still a live process (not exiting, doomed or dead)."""
    state = p.state
    return state != EXITING and state != DEAD and state != DOOMED and p.pid._proc is p


def queue_len(p: Proc) -> int:
    """Its message queue length, as ``Process.info(pid, "message_queue_len")`` counts."""
    mbox = p.mbox
    n = len(mbox) if mbox else 0
    return n + 1 if _api._in_flight(p) else n


def queue_lengths(chunk: list[Proc]) -> list[int]:
    """`queue_len` of each process of ``chunk``, in one pass (a sort over a million
    processes reads this)."""
    return [(len(p.mbox) if p.mbox else 0)
            + (p.state == RUNNABLE and p.resume is not None and p.resume is not TIMEOUT
               and p.resume is not RESCAN)
            for p in chunk]


def reductions(p: Proc) -> int:
    """Its reductions so far."""
    return p.reds


def registered_name(p: Proc) -> str | None:
    """Its registered name, or None."""
    x = p.ext
    return x.name if x is not None else None


def dictionary(p: Proc) -> dict[Any, Any] | None:
    """Its process dictionary itself (not a copy; read it, never write it), or None."""
    x = p.ext
    return x.dict if x is not None else None


def label(p: Proc) -> str:
    """Its initial call as ``module.qualname/arity``; cached per code object, since a million
    processes usually share a handful of functions (closures made by one ``def`` share
    one)."""
    fn = p.fn
    code = getattr(getattr(fn, "__func__", fn), "__code__", None)
    text = _labels.get(code) if code is not None else None
    if text is None:
        module, qualname, arity = _api._name_of(fn)
        text = f"{module}.{qualname}/{arity}"
        if code is not None:
            _labels[code] = text
    return text


def initial_call(p: Proc) -> tuple[str, str, int]:
    """Its initial call as ``Process.info`` gives it."""
    return _api._name_of(p.fn)


def status(p: Proc) -> str:
    """Its status as ``Process.info(pid, "status")`` answers (``"dead"`` once gone)."""
    return _api._status(p) if alive(p) else "dead"


def memory(p: Proc) -> int:
    """Bytes it holds, as ``Process.info(pid, "memory")`` counts them."""
    return _api._memory(p)


def memories(chunk: list[Proc]) -> list[int]:
    """`memory` of each process of ``chunk``, in one pass: the same sum as
    ``Process.info(pid, "memory")`` with the calls for the common parts (no mailbox, no
    extension record) left out."""
    if not chunk:
        return []
    size = sys.getsizeof
    block = size(chunk[0])      # every control block is the same slotted object
    memory_of = _api._memory
    return [memory_of(p) if p.mbox is not None or p.ext is not None
            else block + size(p.coro) if p.coro is not None else block
            for p in chunk]


def info(p: Proc, key: str) -> Any:
    """One ``Process.info`` item of a live process, without the kernel entry's bookkeeping."""
    return _api._item(p, key)


def rss_bytes() -> int:
    """The operating-system process's resident memory: what the node costs the machine."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * _PAGE_SIZE
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def stack(p: Proc) -> list[str]:
    """Where the process is, outermost call first: ``module:line qualname`` for each
    coroutine or generator it awaits through (the kernel's own frames left out), which is
    what Erlang's ``current_stacktrace`` shows."""
    out = []
    co = p.coro
    while co is not None:
        frame = getattr(co, "cr_frame", None) or getattr(co, "gi_frame", None)
        code = getattr(co, "cr_code", None) or getattr(co, "gi_code", None)
        if frame is not None and code is not None and \
                os.path.dirname(code.co_filename) != _api._KERNEL_DIR:
            out.append(f"{os.path.basename(code.co_filename)}:{frame.f_lineno} {code.co_qualname}")
        co = getattr(co, "cr_await", None) or getattr(co, "gi_yieldfrom", None)
    return out


def frame_locals(p: Proc) -> list[dict[str, Any]]:
    """The local variables of each frame the process awaits through, outermost first (read
    them, never write them): how a GenServer's state is found, as ``sys:get_state`` does."""
    out = []
    co = p.coro
    while co is not None:
        frame = getattr(co, "cr_frame", None) or getattr(co, "gi_frame", None)
        if frame is not None:
            out.append(frame.f_locals)
        co = getattr(co, "cr_await", None) or getattr(co, "gi_yieldfrom", None)
    return out
