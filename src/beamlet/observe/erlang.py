"""The dashboard's views of a real Erlang (or Elixir) node, read over the distribution by rpc.

An Erlang node runs no beamlet collector, so its views are built here from what OTP itself
answers: ``erlang:processes/0``, ``erlang:process_info/2`` (for every process at once, in one
call of ``lists:zipwith/3`` with the external fun ``erlang:process_info/2``: a page costs two
round trips, not one per process), ``erlang:statistics/1``, ``erlang:memory/1``,
``supervisor:which_children/1`` and ``sys:get_state/1`` (a supervisor's strategy and recent
restarts). The answers have the same shapes as the collector's, so the pages show an Erlang
node as they show a beamlet one. Sorting, filtering and paging happen here: Erlang nodes hold
hundreds or thousands of processes, not millions.

A process of another node is named in a page's URL by ``"id.serial"`` (the middle and last
numbers of ``<node.id.serial>``); `ErlangViews` keeps the pids it listed to find it again.
"""

from __future__ import annotations

from collections.abc import Callable
from time import monotonic
from typing import Any

from beamlet import rpc
from beamlet.dist.etf import ExtExport
from beamlet.kernel.terms import Pid, RemotePid

from .collector import MAX_MESSAGES, SORT_KEYS, name_text, short

RPC_SECONDS = 5.0
ROW_KEYS = ["registered_name", "initial_call", "current_function", "status", "reductions",
            "memory", "message_queue_len", "priority"]
PROCESS_KEYS = [*ROW_KEYS, "links", "monitors", "monitored_by", "trap_exit", "messages",
                "dictionary", "current_stacktrace", "group_leader", "heap_size",
                "total_heap_size", "stack_size"]


class RemoteFailure(RuntimeError):
    """The other node did not answer a call (down, timed out, or the call failed there)."""


async def call(node: str, module: str, function: str, args: list[Any]) -> Any:
    """``module:function(*args)`` on ``node``; `RemoteFailure` for a ``badrpc``."""
    result = await rpc.call(node, module, function, args, RPC_SECONDS)
    if type(result) is tuple and len(result) == 2 and result[0] == "badrpc":
        raise RemoteFailure(f"{module}:{function} on {node}: {short(result[1])}")
    return result


def key_of(pid: Any) -> str:
    """How a page names a process of another node: ``"id.serial"``."""
    return f"{pid.id}.{getattr(pid, 'serial', 0)}"


def _mfa(value: Any) -> str | None:
    if type(value) is tuple and len(value) == 3:
        module, function, arity = value
        return f"{name_text(module)}.{name_text(function)}/{arity}"
    return None


def _pairs(info: Any) -> dict[str, Any]:
    """A ``process_info/2`` answer (a list of ``{key, value}``) as a dict; {} when dead."""
    if not isinstance(info, list):
        return {}
    return {k: v for k, v in info if isinstance(k, str)}


def _ref(pid: Any, labels: dict[str, str]) -> dict[str, Any]:
    if isinstance(pid, Pid):
        key = key_of(pid)
        return {"pid": key, "text": repr(pid), "label": labels.get(key)}
    return {"pid": None, "text": short(pid, 80), "label": None}


class ErlangViews:
    """The views of one Erlang node, with the little state they keep between refreshes."""

    def __init__(self, node: str) -> None:
        self.node = node
        self.pids: dict[str, RemotePid] = {}
        self.labels: dict[str, str] = {}
        self.history: list[dict[str, Any]] = []
        self.last: tuple[float, int] | None = None
        self.started = monotonic()
        self.seen_reds: dict[str, tuple[float, int]] = {}   # pid key -> (when, reductions)

    async def table(self, keys: list[str]) -> list[tuple[Any, dict[str, Any]]]:
        """Every process of the node with the ``process_info`` items ``keys``."""
        pids = await call(self.node, "erlang", "processes", [])
        infos = await call(self.node, "lists", "zipwith",
                           [ExtExport("erlang", "process_info", 2), pids, [keys] * len(pids)])
        table = [(pid, _pairs(info)) for pid, info in zip(pids, infos, strict=True)]
        for pid, info in table:
            key = key_of(pid)
            self.pids[key] = pid
            name = info.get("registered_name")
            if isinstance(name, str) and name:
                self.labels[key] = name
        return [(pid, info) for pid, info in table if info]

    def row(self, pid: Any, info: dict[str, Any]) -> dict[str, Any]:
        name = info.get("registered_name")
        key = key_of(pid)
        reds = info.get("reductions", 0)
        now = monotonic()
        before = self.seen_reds.get(key)
        recent = 0.0 if before is None else (reds - before[1]) / max(now - before[0], 1e-9)
        if len(self.seen_reds) > 100_000:
            self.seen_reds.clear()
        self.seen_reds[key] = (now, reds)
        return {
            "pid": key, "text": repr(pid),
            "name": name if isinstance(name, str) and name else None,
            "initial_call": _mfa(info.get("initial_call")) or "",
            "current_function": _mfa(info.get("current_function")),
            "status": info.get("status"), "reductions": reds,
            "recent": round(max(0.0, recent), 1), "memory": info.get("memory", 0),
            "message_queue_len": info.get("message_queue_len", 0),
            "priority": info.get("priority"),
        }

    async def overview(self) -> dict[str, Any]:
        node = self.node
        count = await call(node, "erlang", "system_info", ["process_count"])
        reductions, _ = await call(node, "erlang", "statistics", ["reductions"])
        queues = await call(node, "erlang", "statistics", ["run_queue_lengths_all"])
        wall_ms, _ = await call(node, "erlang", "statistics", ["wall_clock"])
        memory = await call(node, "erlang", "memory", ["total"])
        schedulers = await call(node, "erlang", "system_info", ["schedulers_online"])
        nodes = await call(node, "erlang", "nodes", [])
        lengths = [info.get("message_queue_len", 0)
                   for _, info in await self.table(["message_queue_len"])]
        now = monotonic()
        rate = 0.0
        if self.last is not None and now > self.last[0]:
            rate = max(0, reductions - self.last[1]) / (now - self.last[0])
        self.last = (now, reductions)
        point = {"t": round(now - self.started, 3), "processes": count,
                 "reductions_per_s": round(rate, 1), "rss": memory,
                 "run_queue": sum(queues) if isinstance(queues, list) else 0,
                 "messages_queued": sum(lengths), "longest_queue": max(lengths, default=0)}
        self.history = [*self.history[-299:], point]
        return {
            "node": node, "uptime": round(wall_ms / 1000, 1), "schedulers": schedulers,
            "processes": count,
            "run_queue": {f"scheduler {i + 1}": n for i, n in enumerate(queues)}
            if isinstance(queues, list) else {},
            "reductions_total": reductions, "reductions_per_s": point["reductions_per_s"],
            "messages_queued": point["messages_queued"],
            "longest_queue": point["longest_queue"], "rss": memory, "handoffs": None,
            "nodes": sorted(str(n) for n in nodes), "sample_cost": 0.0,
            "history": self.history, "kind": "erlang",
        }

    async def processes(self, sort: str = "pid", desc: bool = False, filter: str = "",
                        offset: int = 0, size: int = 50) -> dict[str, Any]:
        if sort not in SORT_KEYS:
            raise ValueError(f"unknown sort key {sort!r}; known: {', '.join(SORT_KEYS)}")
        rows = [self.row(pid, info) for pid, info in await self.table(ROW_KEYS)]
        needle = filter.strip().lower()
        if needle:
            rows = [r for r in rows if needle in (r["name"] or "").lower()
                    or needle in r["initial_call"].lower() or needle in r["text"]]
        value: Callable[[dict[str, Any]], Any]
        if sort == "pid":
            value = lambda r: tuple(int(x) for x in r["pid"].split("."))  # noqa: E731
        elif sort == "name":
            value = lambda r: r["name"] or r["initial_call"]  # noqa: E731
        else:
            value = lambda r: r[sort] or 0  # noqa: E731
        rows.sort(key=value, reverse=desc)
        size = max(1, min(int(size), 500))
        offset = max(0, int(offset))
        return {"node": self.node, "total": len(rows), "offset": offset, "size": size,
                "sort": sort, "desc": desc, "filter": filter,
                "rows": rows[offset:offset + size]}

    async def _pid(self, key: str) -> RemotePid | None:
        if key not in self.pids:
            await self.table(["status"])
        return self.pids.get(key)

    async def process(self, key: str) -> dict[str, Any]:
        pid = await self._pid(str(key))
        if pid is None:
            return {"pid": key, "alive": False}
        info = _pairs(await call(self.node, "erlang", "process_info", [pid, PROCESS_KEYS]))
        if not info:
            return {"pid": key, "alive": False}
        row = self.row(pid, info)
        messages = info.get("messages") or []
        dictionary = info.get("dictionary") or []
        chain = await self._chain(dict(dictionary), info.get("links") or [])
        shown = {k: (_mfa(info[k]) or short(info[k])) if isinstance(info[k], tuple)
                 else info[k] if isinstance(info[k], (int, float, str, bool)) else short(info[k])
                 for k in ("status", "message_queue_len", "trap_exit", "priority",
                           "reductions", "memory", "current_function", "initial_call",
                           "heap_size", "total_heap_size", "stack_size", "group_leader")
                 if k in info}
        return {
            "pid": key, "text": repr(pid), "alive": True, "name": row["name"],
            "label": row["initial_call"], "info": shown,
            "messages": [short(m) for m in messages[:MAX_MESSAGES]],
            "message_count": info.get("message_queue_len", len(messages)),
            "links": [_ref(x, self.labels) for x in info.get("links") or []],
            "monitors": [_ref(x[1] if type(x) is tuple else x, self.labels)
                         for x in info.get("monitors") or []],
            "monitored_by": [_ref(x, self.labels) for x in info.get("monitored_by") or []],
            "dictionary": [[short(k, 80), short(v)] for k, v in dictionary],
            "ancestors": [_ref(x, self.labels) for x in chain],
            "stack": [_frame(f) for f in info.get("current_stacktrace") or []],
        }

    async def _chain(self, dictionary: dict[Any, Any], links: list[Any]) -> list[Any]:
        """Who started the process, nearest first: its ``$ancestors``, or for a plain
        process a supervisor started, the supervisor it is linked to and that one's."""
        ancestors = dictionary.get("$ancestors")
        if isinstance(ancestors, list) and ancestors:
            return ancestors
        for pid in links:
            if not isinstance(pid, Pid):
                continue
            info = _pairs(await call(self.node, "erlang", "process_info",
                                     [pid, ["dictionary", "registered_name"]]))
            theirs = dict(info.get("dictionary") or [])
            started = theirs.get("$initial_call")
            if type(started) is tuple and len(started) == 3 and started[0] == "supervisor":
                name = info.get("registered_name")
                if isinstance(name, str) and name:
                    self.labels[key_of(pid)] = name
                above = theirs.get("$ancestors")
                return [pid, *(above if isinstance(above, list) else [])]
        return []

    async def tree(self) -> dict[str, Any]:
        table = await self.table(["dictionary", "registered_name"])
        sups: dict[str, dict[str, Any]] = {}
        for pid, info in table:
            call_info = dict(info.get("dictionary") or []).get("$initial_call")
            if type(call_info) is tuple and len(call_info) == 3 and call_info[0] == "supervisor":
                sups[key_of(pid)] = await self._supervisor(pid, info, call_info[1])
        nested = set()
        for s in sups.values():
            for c in s["children"]:
                if c["pid"] in sups and c["type"] == "supervisor":
                    c["supervisor"] = sups[c["pid"]]
                    nested.add(c["pid"])
        return {"node": self.node, "supervisors": len(sups),
                "roots": [s for key, s in sups.items() if key not in nested]}

    async def _supervisor(self, pid: Any, info: dict[str, Any], module: Any) -> dict[str, Any]:
        name = info.get("registered_name")
        out: dict[str, Any] = {"pid": key_of(pid), "text": repr(pid),
                               "name": name if isinstance(name, str) and name else None,
                               "label": name_text(module), "children": [], "child_count": 0}
        try:
            children = await call(self.node, "supervisor", "which_children", [pid])
            state = await call(self.node, "sys", "get_state", [pid, 1000])
        except RemoteFailure as e:
            out["error"] = str(e)
            return out
        out.update(_flags(state))
        out["child_count"] = len(children)
        out["children"] = [{"id": name_text(cid), "pid": key_of(child) if isinstance(child, Pid)
                            else None, "text": repr(child) if isinstance(child, Pid)
                            else short(child), "type": kind,
                            "modules": [name_text(m) for m in modules]
                            if isinstance(modules, list) else [short(modules)],
                            "restarts_seen": 0}
                           for cid, child, kind, modules in children[:200]]
        return out

    async def kill(self, key: str) -> str:
        pid = await self._pid(str(key))
        if pid is None:
            return "noproc"
        await call(self.node, "erlang", "exit", [pid, "kill"])
        return "ok"

    async def answer(self, op: str, args: dict[str, Any]) -> Any:
        if op == "overview":
            return await self.overview()
        if op == "processes":
            return await self.processes(**args)
        if op == "process":
            return await self.process(args["pid"])
        if op == "tree":
            return await self.tree()
        if op == "kill":
            return await self.kill(args["pid"])
        raise ValueError(f"unknown request {op!r}")


def _frame(frame: Any) -> str:
    if type(frame) is tuple and len(frame) == 4:
        module, function, arity, location = frame
        where = dict(location) if isinstance(location, list) else {}
        line = where.get("line")
        arity_text = arity if isinstance(arity, int) else len(arity)
        return f"{name_text(module)}.{name_text(function)}/{arity_text}" + \
            (f" line {line}" if line is not None else "")
    return short(frame)


def _flags(state: Any) -> dict[str, Any]:
    """Strategy and restarts from ``sys:get_state`` of an OTP supervisor (its ``#state{}``
    record: name, strategy, children, dynamics, intensity, period, restarts, ...)."""
    if type(state) is tuple and len(state) > 7 and state[0] == "state":
        restarts = state[7] if isinstance(state[7], list) else []
        return {"strategy": state[2], "max_restarts": state[5], "max_seconds": state[6],
                "recent_restarts": len(restarts), "dynamic": False}
    return {}
