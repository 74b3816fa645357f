"""The collector: the beamlet process that gathers what the dashboard, `top` and `/metrics` show.

Everything here runs inside the node, as one ordinary process (registered as
``beamlet_observer``), so it reads the kernel's tables on the owner thread as every kernel read
must, and its cost is visible in its own row of the processes page. Clients outside the node
(the web server on the asyncio bridge thread) ask it by message (`ask_from_outside`) and get
the answer through a callback.

Its work is bounded so that a node of a million processes is not stalled by being looked at:

- every walk over the process table goes in slices of at most `SLICE_SECONDS`, yielding its
  turn between slices (other processes run meanwhile, and the watchdog never sees a stuck
  step);
- a full scan (an overview sample, a sorted processes page) is not repeated before
  `DUTY`⁻¹ times its own cost has passed: with a million processes the collector takes at
  most ~5% of the node however often the page refreshes; the rows of a page are read fresh
  each time (a handful of processes), only their order is reused;
- sorting keeps only the first ``offset + size`` candidates (a heap), never the whole table.

Every answer is plain data (str, int, float, bool, lists and dicts of them), ready for JSON and
for the distribution's term format: a remote node's snapshot is one call of `view`.
"""

from __future__ import annotations

import heapq
import json
import logging
from collections import deque
from collections.abc import Callable
from functools import partial
from time import monotonic, perf_counter
from typing import Any

from beamlet import (
    ANY,
    GenServer,
    Node,
    Pid,
    Process,
    ProcessExit,
    make_ref,
    receive,
    register,
    rpc,
    self_pid,
    send,
    spawn,
    whereis,
    yield_turn,
)
from beamlet.kernel import stats
from beamlet.kernel.proc import Proc

log = logging.getLogger("beamlet.observe")

NAME = "beamlet_observer"
SLICE_SECONDS = 0.002      # longest stretch of table walking before the collector yields
CHUNK = 2000               # processes handled between two clock reads
DUTY = 0.05                # a full scan waits 1/DUTY times its cost before it is redone
HISTORY = 300              # overview samples kept for the charts
MAX_PAGE = 500             # rows in one processes page at most
MAX_MESSAGES = 20          # mailbox messages shown on a process page
MAX_CHILDREN = 200         # children shown per supervisor
MAX_ORDERS = 16            # sorted orders kept for reuse
TEXT_LIMIT = 200           # characters of a value's repr shown
SORT_KEYS = ("pid", "reductions", "memory", "message_queue_len", "name")


def short(value: Any, limit: int = TEXT_LIMIT) -> str:
    """``repr(value)``, cut to ``limit`` characters (a repr that fails says so)."""
    try:
        text = repr(value)
    except Exception as e:  # noqa: BLE001 - a user's __repr__ must not break the page
        text = f"<repr failed: {e!r}>"
    return text if len(text) <= limit else text[: limit - 1] + "…"


async def walk(items: list[Proc], work: Callable[[list[Proc]], None]) -> None:
    """Call ``work`` on consecutive chunks of ``items``, yielding the turn whenever
    `SLICE_SECONDS` have gone by, so the rest of the node keeps running."""
    start = perf_counter()
    for i in range(0, len(items), CHUNK):
        work(items[i:i + CHUNK])
        if perf_counter() - start > SLICE_SECONDS:
            await yield_turn()
            start = perf_counter()


class _Order:
    """A sorted, filtered order of the process table, kept until it is worth redoing."""

    __slots__ = ("at", "cost", "procs", "total", "depth")

    def __init__(self, at: float, cost: float, procs: list[Proc], total: int,
                 depth: int) -> None:
        self.at = at
        self.cost = cost
        self.procs = procs
        self.total = total
        self.depth = depth


def name_text(x: Any) -> str:
    """A child id, a module or a name as people write it: a str as it is, a class by its
    name, anything else by its repr."""
    if isinstance(x, str):
        return x
    if isinstance(x, type):
        return x.__qualname__
    return short(x, 80)


def _values(key: str) -> Callable[[list[Proc]], list[Any]]:
    """What a sort compares, for a whole chunk of processes at once (one comprehension per
    chunk: a million processes are sorted in well under a second)."""
    if key == "pid":
        return lambda chunk: [p.pid.id for p in chunk]
    if key == "reductions":
        return lambda chunk: [p.reds for p in chunk]
    if key == "message_queue_len":
        return stats.queue_lengths
    if key == "memory":
        return stats.memories
    if key == "name":
        return lambda chunk: [stats.registered_name(p) or stats.label(p) for p in chunk]
    raise ValueError(f"unknown sort key {key!r}; known: {', '.join(SORT_KEYS)}")


def _matcher(text: str) -> Callable[[Proc], bool] | None:
    """A filter on registered name, initial call or pid (case-insensitive substring). Whether
    an initial call matches is decided once per initial call, not once per process."""
    needle = text.strip().lower()
    if not needle:
        return None
    by_label: dict[str, bool] = {}
    pid_like = needle[0] == "<" or needle[0].isdigit() or needle[0] == "."

    def hit(p: Proc) -> bool:
        text = stats.label(p)
        found = by_label.get(text)
        if found is None:
            found = by_label[text] = needle in text.lower()
        if found:
            return True
        if p.ext is not None:
            name = stats.registered_name(p)
            if name is not None and needle in name.lower():
                return True
        return pid_like and needle in repr(p.pid)

    return hit


class Collector:
    """The collector's state: history of samples, cached orders, restarts seen."""

    def __init__(self, interval: float = 1.0) -> None:
        self.interval = interval
        self.started = monotonic()
        self.history: deque[dict[str, Any]] = deque(maxlen=HISTORY)
        self.reductions_total = 0          # monotone: growth of the live sum, deaths aside
        self.last_sum: int | None = None
        self.last_sent: int | None = None
        self.last_at = self.started
        self.sample_cost = 0.0
        self.next_sample = self.started
        self.orders: dict[tuple[str, bool, str], _Order] = {}
        self.seen_reds: dict[int, tuple[float, int]] = {}   # pid -> (when, reductions) on a page
        self.child_pids: dict[tuple[int, str], int] = {}    # (sup, child id) -> child pid
        self.restarts: dict[tuple[int, str], int] = {}      # restarts seen by the collector
        self.erlang_nodes: dict[str, Any] = {}              # node -> its ErlangViews

    # ------------------------------------------------------------------ overview
    async def sample(self) -> dict[str, Any]:
        """One overview sample (counts, run queues, reductions/s, memory), kept in history."""
        t0 = perf_counter()
        procs = stats.snapshot()
        total = queued = longest = 0

        def add(chunk: list[Proc]) -> None:
            nonlocal total, queued, longest
            total += sum([p.reds for p in chunk])
            lengths = [len(p.mbox) for p in chunk if p.mbox]
            if lengths:
                queued += sum(lengths)
                longest = max(longest, max(lengths))

        await walk(procs, add)
        now = monotonic()
        rate = 0.0
        if self.last_sum is not None:
            grown = max(0, total - self.last_sum)
            self.reductions_total += grown
            rate = grown / max(now - self.last_at, 1e-9)
        sent = stats.messages_sent()
        messages_rate = 0.0
        if self.last_sent is not None:
            messages_rate = max(0, sent - self.last_sent) / max(now - self.last_at, 1e-9)
        self.last_sent = sent
        self.last_sum, self.last_at = total, now
        queues = stats.run_queue_lengths()
        point = {"t": round(now - self.started, 3), "processes": len(procs),
                 "reductions_per_s": round(rate, 1), "messages_per_s": round(messages_rate, 1),
                 "rss": stats.rss_bytes(),
                 "run_queue": sum(queues.values()), "messages_queued": queued,
                 "longest_queue": longest}
        self.history.append(point)
        self.sample_cost = perf_counter() - t0
        self.next_sample = now + max(self.interval, self.sample_cost / DUTY)
        return point

    def overview(self) -> dict[str, Any]:
        last = self.history[-1] if self.history else {}
        return {
            "node": stats.node_name(),
            "uptime": round(stats.uptime(), 1),
            "schedulers": stats.schedulers(),
            "processes": stats.process_count(),
            "run_queue": stats.run_queue_lengths(),
            "reductions_total": self.reductions_total,
            "reductions_per_s": last.get("reductions_per_s", 0.0),
            "messages_per_s": last.get("messages_per_s", 0.0),
            "messages_total": stats.messages_sent(),
            "nodes": Node.list("connected"),
            "messages_queued": last.get("messages_queued", 0),
            "longest_queue": last.get("longest_queue", 0),
            "rss": stats.rss_bytes(),
            "handoffs": stats.handoffs(),
            "sample_cost": round(self.sample_cost, 6),
            "history": list(self.history),
        }

    # ------------------------------------------------------------------ processes
    async def processes(self, sort: str = "pid", desc: bool = False, filter: str = "",
                        offset: int = 0, size: int = 50) -> dict[str, Any]:
        """One page of the process table: ``size`` rows from ``offset`` in the order asked."""
        if sort not in SORT_KEYS:
            raise ValueError(f"unknown sort key {sort!r}; known: {', '.join(SORT_KEYS)}")
        size = max(1, min(int(size), MAX_PAGE))
        offset = max(0, int(offset))
        if sort == "pid" and not filter:
            page, total = self._in_pid_order(offset, size, desc)
        else:
            order = await self._order(sort, desc, filter, offset + size)
            page, total = order.procs[offset:offset + size], order.total
        return {"node": stats.node_name(), "total": total, "offset": offset, "size": size,
                "sort": sort, "desc": desc, "filter": filter,
                "rows": [self.row(p) for p in page]}

    def _in_pid_order(self, offset: int, size: int, desc: bool) -> tuple[list[Proc], int]:
        """A page in pid order: a slice of the table, no scan at all."""
        total = stats.process_count()
        if desc:
            end = max(0, total - offset)
            return list(reversed(stats.snapshot()[max(0, end - size):end])), total
        return stats.oldest(offset, size), total

    async def _order(self, sort: str, desc: bool, filter: str, depth: int) -> _Order:
        key = (sort, desc, filter)
        cached = self.orders.get(key)
        now = monotonic()
        if cached is not None and cached.depth >= depth and \
                now - cached.at < max(self.interval * 0.9, cached.cost / DUTY):
            return cached
        t0 = perf_counter()
        procs = stats.snapshot()
        values = _values(sort)
        match = _matcher(filter)
        best: list[tuple[Any, int, Proc]] = []
        total = 0
        pick = heapq.nlargest if desc else heapq.nsmallest
        tie = -1 if desc else 1    # equal values: the oldest process first

        def scan(chunk: list[Proc]) -> None:
            nonlocal best, total
            if match is not None:
                chunk = [p for p in chunk if match(p)]
            total += len(chunk)
            keyed = zip(values(chunk), chunk, strict=True)
            if len(best) >= depth:
                # Full: a later process (larger pid) enters only with a strictly better value.
                bar = best[-1][0]
                if desc:
                    fresh = [(v, tie * p.pid.id, p) for v, p in keyed if v > bar]
                else:
                    fresh = [(v, tie * p.pid.id, p) for v, p in keyed if v < bar]
            else:
                fresh = [(v, tie * p.pid.id, p) for v, p in keyed]
            if fresh:
                best = pick(depth, best + fresh)

        await walk(procs, scan)
        order = _Order(monotonic(), perf_counter() - t0, [p for _, _, p in best], total, depth)
        if len(self.orders) >= MAX_ORDERS:    # one per filter typed: keep the latest few
            self.orders.clear()
        self.orders[key] = order
        return order

    def row(self, p: Proc) -> dict[str, Any]:
        """One row of the processes table, read now."""
        live = stats.alive(p)
        number = p.pid.id
        now = monotonic()
        reds = p.reds
        before = self.seen_reds.get(number)
        recent = 0.0 if before is None else (reds - before[1]) / max(now - before[0], 1e-9)
        if len(self.seen_reds) > 4 * MAX_PAGE:
            self.seen_reds.clear()
        self.seen_reds[number] = (now, reds)
        current = stats.info(p, "current_function") if live else None
        return {
            "pid": number, "text": repr(p.pid), "name": stats.registered_name(p),
            "initial_call": stats.label(p),
            "current_function": _mfa(current) if current else None,
            "status": stats.status(p), "reductions": reds, "recent": round(recent, 1),
            "memory": stats.memory(p) if live else 0,
            "message_queue_len": stats.queue_len(p) if live else 0,
            "priority": stats.info(p, "priority"),
        }

    # ------------------------------------------------------------------ one process
    def process(self, number: int) -> dict[str, Any]:
        """Everything `Process.info` tells of one process, with its mailbox's first messages,
        its stack and its supervisor chain; ``{"alive": False}`` once it is gone."""
        p = stats.by_number(int(number))
        if p is None:
            return {"pid": int(number), "alive": False}
        info = Process.info(p.pid)
        if info is None:
            return {"pid": int(number), "alive": False}
        messages = info.pop("messages")
        dictionary = info.pop("dictionary")
        links = info.pop("links")
        monitors = info.pop("monitors")
        monitored_by = info.pop("monitored_by")
        return {
            "pid": int(number), "text": repr(p.pid), "alive": True,
            "name": stats.registered_name(p), "label": stats.label(p),
            "info": {k: _plain(v) for k, v in info.items()},
            "messages": [short(m) for m in messages[:MAX_MESSAGES]],
            "message_count": len(messages),
            "links": [_ref(x) for x in links],
            "monitors": [_ref(target) for _, target in monitors],
            "monitored_by": [_ref(x) for x in monitored_by],
            "dictionary": [[short(k, 80), short(v)] for k, v in dictionary.items()],
            "ancestors": [_ref(x) for x in _supervisor_chain(dictionary, links)],
            "stack": stats.stack(p),
        }

    # ------------------------------------------------------------------ supervision trees
    async def tree(self) -> dict[str, Any]:
        """Every supervisor's children, strategy and restarts, as a forest of trees."""
        sups: dict[int, dict[str, Any]] = {}
        procs = stats.snapshot()
        found: list[Proc] = []

        def find(chunk: list[Proc]) -> None:
            found.extend(p for p in chunk if _is_supervisor(p))

        await walk(procs, find)
        for p in found:
            sups[p.pid.id] = await self._supervisor(p)
        nested = {c["pid"] for s in sups.values() for c in s["children"]
                  if c["pid"] is not None and c["pid"] in sups}
        for s in sups.values():
            for c in s["children"]:
                if c["pid"] in sups and c["type"] == "supervisor":
                    c["supervisor"] = sups[c["pid"]]
        roots = [s for number, s in sups.items() if number not in nested]
        return {"node": stats.node_name(), "roots": roots, "supervisors": len(sups)}

    async def _supervisor(self, p: Proc) -> dict[str, Any]:
        number = p.pid.id
        flags = _supervisor_flags(p)
        try:
            children = await GenServer.call(p.pid, "which_children", 1.0)
        except (ProcessExit, Exception) as e:  # noqa: BLE001 - busy or dying: say so
            return {"pid": number, "text": repr(p.pid), "name": stats.registered_name(p),
                    "label": _supervisor_module(p), "error": short(e), "children": [], **flags}
        rows = []
        for cid, child, kind, modules in list(children)[:MAX_CHILDREN]:
            key = (number, name_text(cid))
            child_number = child.id if isinstance(child, Pid) else None
            if cid is not None and child_number is not None:
                before = self.child_pids.get(key)
                if before is not None and before != child_number:
                    self.restarts[key] = self.restarts.get(key, 0) + 1
                self.child_pids[key] = child_number
            rows.append({"id": name_text(cid) if cid is not None else "", "pid": child_number,
                         "text": repr(child) if isinstance(child, Pid) else short(child),
                         "type": kind, "modules": [name_text(m) for m in modules],
                         "restarts_seen": self.restarts.get(key, 0)})
        return {"pid": number, "text": repr(p.pid), "name": stats.registered_name(p),
                "label": _supervisor_module(p), "children": rows,
                "child_count": len(children), **flags}

    # ------------------------------------------------------------------ actions
    def kill(self, number: int) -> str:
        """Kill a process (the untrappable "kill"): "ok", or "noproc" when it is gone."""
        p = stats.by_number(int(number))
        if p is None:
            return "noproc"
        Process.exit(p.pid, "kill")
        return "ok"

    async def answer(self, op: str, args: dict[str, Any]) -> Any:
        """The answer to one request, by name: overview, processes, process, tree, kill."""
        if op == "overview":
            return self.overview()
        if op == "processes":
            return await self.processes(**args)
        if op == "process":
            return self.process(args["pid"])
        if op == "tree":
            return await self.tree()
        if op == "kill":
            return self.kill(args["pid"])
        raise ValueError(f"unknown request {op!r}")


def _mfa(mfa: tuple[str, str, int]) -> str:
    module, name, arity = mfa
    return f"{module}.{name}/{arity}"


def _plain(value: Any) -> Any:
    """A `Process.info` value as JSON-ready data (tuples such as MFAs as text)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, tuple) and len(value) == 3 and isinstance(value[2], int):
        return _mfa(value)
    if isinstance(value, list) and not value:
        return None
    return short(value)


def _ref(x: Any) -> dict[str, Any]:
    """A pid (or a name) as a link target: its number when it is a local process."""
    if isinstance(x, Pid):
        p = x._proc
        label = stats.registered_name(p) or stats.label(p) if p is not None else None
        local = type(x) is Pid
        return {"pid": x.id if local else None, "text": repr(x), "label": label}
    return {"pid": None, "text": short(x, 80), "label": None}


def _supervisor_chain(dictionary: dict[Any, Any], links: list[Any]) -> list[Any]:
    """Who started the process, nearest first: proc_lib's ``$ancestors`` when it has them
    (OTP processes do); for a plain process a supervisor started, the supervisor it is
    linked to, followed by that supervisor's own ancestors."""
    ancestors = dictionary.get("$ancestors")
    if ancestors:
        return list(ancestors)
    for pid in links:
        p = pid._proc if type(pid) is Pid else None
        if p is not None and _is_supervisor(p):
            above = (stats.dictionary(p) or {}).get("$ancestors") or []
            return [pid, *above]
    return []


def _is_supervisor(p: Proc) -> bool:
    """A Supervisor or DynamicSupervisor: proc_lib's ``$initial_call`` names "supervisor"."""
    d = stats.dictionary(p)
    if not d or not stats.alive(p):
        return False
    call = d.get("$initial_call")
    return type(call) is tuple and len(call) == 3 and call[0] == "supervisor"


def _supervisor_module(p: Proc) -> str:
    d = stats.dictionary(p) or {}
    call = d.get("$initial_call")
    module = call[1] if type(call) is tuple and len(call) == 3 else None
    return name_text(module)


def _supervisor_flags(p: Proc) -> dict[str, Any]:
    """Strategy and restart intensity, read from the supervisor's state as ``sys:get_state``
    would (a DynamicSupervisor is always one_for_one); empty when the state is not found."""
    for scope in stats.frame_locals(p):
        state = scope.get("state")
        intensity = getattr(state, "intensity", None)
        if intensity is None:
            continue
        strategy = getattr(state, "strategy", "one_for_one")
        window = getattr(intensity, "times", ())
        return {"strategy": strategy, "max_restarts": getattr(intensity, "max_restarts", None),
                "max_seconds": getattr(intensity, "max_seconds", None),
                "recent_restarts": len(window),
                "dynamic": hasattr(state, "max_children")}
    return {}


# ---------------------------------------------------------------------- the process
async def _sample(collector: Collector) -> None:
    """Take a sample; a failure is logged and the next one tried an interval later (the
    dashboard must outlive a surprise in what it reads)."""
    try:
        await collector.sample()
    except Exception:  # noqa: BLE001
        log.exception("beamlet: the dashboard's collector failed to take a sample")
        collector.next_sample = monotonic() + collector.interval


async def collector_main(collector: Collector) -> None:
    """The collector process: samples the overview every interval (or less often, see
    `DUTY`) and answers requests ``("observe", op, args, reply)`` by calling ``reply``."""
    register(self_pid(), NAME)
    await _sample(collector)
    while True:
        wait = collector.next_sample - monotonic()
        msg = await receive(timeout=max(0.0, wait), default=None)
        if msg is None:
            await _sample(collector)
            continue
        if type(msg) is not tuple or len(msg) != 4 or msg[0] != "observe":
            continue
        _, op, args, reply = msg
        if op == "remote" and args["node"] == stats.node_name():
            op, args = args["op"], args.get("args", {})
        elif op == "remote":
            spawn(_answer_remote, collector, args, reply)   # a slow node delays no one else
            continue
        try:
            result: Any = ("ok", await collector.answer(op, args))
        except Exception as e:  # noqa: BLE001 - a bad request is answered, not fatal
            result = ("error", short(e))
        reply(result)


# ---------------------------------------------------------------------- other nodes
REMOTE_MODULE = "beamlet_observe"
REMOTE_SECONDS = 5.0
VIEW_OPS = ("overview", "processes", "process", "tree", "kill")


async def local_view(op: str, args: dict[str, Any]) -> Any:
    """The answer to a request about this node, from any process of it: the running
    collector's (asked by message), or a collector made for this one answer."""
    collector = whereis(NAME)
    if collector is None:
        fresh = Collector()
        await fresh.sample()
        return await fresh.answer(op, args)
    ref = make_ref()
    send(collector, ("observe", op, args, partial(_send_answer, self_pid(), ref)))
    _, (kind, value) = await receive((ref, ANY), timeout=REMOTE_SECONDS)
    if kind == "error":
        raise ValueError(value)
    return value


def _send_answer(to: Pid, ref: Any, result: Any) -> None:
    send(to, (ref, result))


class Exports:
    """What other nodes may call here by rpc (``beamlet_observe:view/2``), so that their
    dashboards show this node: the answer is JSON bytes (a binary on the wire), which keeps
    long texts and any key intact whatever the other node is."""

    @staticmethod
    async def view(op: str, args: dict[str, Any]) -> bytes:
        if op not in VIEW_OPS:
            raise ValueError(f"unknown request {op!r}; known: {', '.join(VIEW_OPS)}")
        return json.dumps(await local_view(str(op), dict(args))).encode()


def expose() -> None:
    """Let other nodes' dashboards read this node (`Exports`); needs the distribution."""
    rpc.export(REMOTE_MODULE, Exports)


def _undefined(answer: Any, depth: int = 4) -> bool:
    """Whether a ``badrpc`` answer says the function does not exist there (``undef``)."""
    if answer == "undef":
        return True
    if depth and isinstance(answer, (tuple, list)):
        return any(_undefined(x, depth - 1) for x in answer)
    return False


async def remote_answer(collector: Collector, node: str, op: str, args: dict[str, Any]) -> Any:
    """A view of another node: a beamlet node's own collector answers (one rpc); an Erlang
    node, or a beamlet node that does not expose itself, is read with OTP's functions."""
    views = collector.erlang_nodes.get(node)
    if views is None:
        answer = await rpc.call(node, REMOTE_MODULE, "view", [op, args], REMOTE_SECONDS)
        if isinstance(answer, bytes):
            return json.loads(answer)
        if not _undefined(answer):
            raise RuntimeError(f"{node} did not answer: {short(answer)}")
        from .erlang import ErlangViews
        views = collector.erlang_nodes[node] = ErlangViews(node)
    return await views.answer(op, args)


async def _answer_remote(collector: Collector, args: dict[str, Any],
                         reply: Callable[[Any], None]) -> None:
    try:
        result: Any = ("ok", await remote_answer(collector, args["node"], args["op"],
                                                 args.get("args", {})))
    except Exception as e:  # noqa: BLE001 - answered, as every request is
        result = ("error", short(e))
    reply(result)
