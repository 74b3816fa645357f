"""The beamlet half of the differential tester: the same controller and actors as
`runtime.exs`, written against beamlet's public API, printing the same trace text.

How a scenario runs (identical on both sides, see runtime.exs for the why):
- a controller sends one step at a time to the actor performing it and waits for its reply or
  its ``Down``;
- then it settles the node: it pings every live actor, round after round, until a whole round
  finds nobody newly dead, so every signal the step set off has been handled;
- each live actor then reorders the messages that arrived during the step by sender (each
  sender's own order kept), since arrival order across senders is timing;
- at the end it records each live actor's `Process.info` and the registry, and stops.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from typing import Any

import beamlet
from beamlet import (
    ANY,
    Down,
    Exit,
    NoProc,
    Pid,
    Process,
    Ref,
    demonitor,
    exit,
    link,
    make_ref,
    monitor,
    receive,
    self_pid,
    send,
    spawn,
    spawn_link,
    spawn_monitor,
    unlink,
)

LIMIT = 5.0  # seconds: only a stuck runtime ever waits this long; then the trace says STUCK
RETURN = "$return"
NOTHING = object()  # receive's default: no message matched
REG_NAMES = ("n1", "n2")


class _Stuck(Exception):
    """A reply that never came: the trace ends with STUCK instead of hanging the run."""


# --- helpers the steps call -------------------------------------------------------------------
def pid(env: dict, name: str) -> Pid:
    """The pid bound to ``name``, or a dead pid when that actor was never spawned."""
    return env.get(name) or env["dead"]


def ref(env: dict, label: str) -> Ref:
    """The ref bound to ``label``, or a fresh one when its monitor step never ran."""
    return env.get(label) or make_ref()


def guard(fn: Callable[[], Any]) -> Any:
    """Elixir's ``try ... rescue e -> {:raised, e}``."""
    try:
        return fn()
    except Exception as e:  # noqa: BLE001 - the point is to report any exception
        return ("raised", e)


def named_send(name: str, msg: Any) -> Any:
    """`send` to a registered name. API.md promises only "an exception that is a LookupError"
    for an unregistered name (Elixir's ArgumentError), so whichever LookupError beamlet raises
    is reported as a plain one: the NoProc kind is what `link` to a dead pid raises."""
    try:
        return send(name, msg)
    except LookupError as e:
        raise LookupError(str(e)) from None


def step_namespace() -> dict:
    """The globals a rendered Python scenario is executed in."""
    return {
        "ANY": ANY, "Down": Down, "Exit": Exit, "Process": Process, "NOTHING": NOTHING,
        "RETURN": RETURN, "actor": actor, "demonitor": demonitor, "exit": exit, "guard": guard,
        "link": link, "monitor": monitor, "named_send": named_send, "pid": pid,
        "receive": receive, "ref": ref,
        "self_pid": self_pid, "send": send, "spawn": spawn, "spawn_link": spawn_link,
        "spawn_monitor": spawn_monitor, "unlink": unlink,
    }


# --- actors ----------------------------------------------------------------------------------
async def actor(ctl: Pid) -> None:
    """Perform the controller's steps; ``old`` counts queued messages from earlier steps."""
    me = self_pid()
    old = 0
    while True:
        msg = await receive(("$cmd", ANY, ANY), ("$sync", ctl), ("$commit", ctl, ANY))
        if msg[0] == "$cmd":
            before = Process.info(me, "messages")
            result = await msg[1](msg[2])
            old = kept(Process.info(me, "messages"), before[:old])
            if result == RETURN:
                return
            send(ctl, ("$done", me, result))
        elif msg[0] == "$sync":
            send(ctl, ("$ack", me))
        else:
            old = _canonicalize(me, old, msg[2])
            send(ctl, ("$ack", me))


def kept(now: list, earlier: list) -> int:
    """How many leading messages of ``now`` are earlier messages still queued: the longest
    prefix of ``now`` that is a subsequence of ``earlier`` (a step only removes messages, or
    appends). Equal terms count as the same message, as they do on the Elixir side."""
    n, rest = 0, iter(earlier)
    for m in now:
        if not any(_same(m, e) for e in rest):
            return n
        n += 1
    return n


def _same(a: Any, b: Any) -> bool:
    """Elixir's ``===``: equal and of the same types throughout (1 is not 1.0 nor True)."""
    return type(a) is type(b) and a == b


def _canonicalize(me: Pid, old: int, labels: dict) -> int:
    msgs = Process.info(me, "messages")
    kept, fresh = msgs[:old], msgs[old:]
    ordered = canonical_order(fresh, labels)
    if ordered != fresh:
        beamlet.flush()
        for m in kept + ordered:
            send(me, m)
    return len(msgs)


def canonical_order(msgs: list, labels: dict) -> list:
    """Stable by sender; a run of Downs from one sender is ordered by ref name."""
    by_origin = sorted(msgs, key=lambda m: _origin(m, labels))
    out: list = []
    for (_, is_down), run in itertools.groupby(
            by_origin, key=lambda m: (_origin(m, labels), type(m) is Down)):
        run = list(run)
        out.extend(sorted(run, key=lambda m: render(m.ref, labels)) if is_down else run)
    return out


def _origin(m: Any, labels: dict) -> str:
    if type(m) is Exit or type(m) is Down:
        return render(m.pid, labels)
    if type(m) is tuple and len(m) == 3 and m[0] == "m":
        return render(m[1], labels)
    return ""


# --- the controller -------------------------------------------------------------------------
class _Controller:
    """What the controller knows: names of pids and refs, who is alive, the trace so far."""

    def __init__(self, me: Pid, dead: Pid) -> None:
        self.env: dict = {"ctl": me, "dead": dead}
        self.labels: dict = {me: "ctl", dead: "dead"}
        self.alive: dict[Pid, str] = {}
        self.lines: list[str] = []
        self.deaths: list[tuple[str, str]] = []

    def adopt(self, name: str, p: Pid) -> None:
        monitor(p)
        self.env[name] = p
        self.labels[p] = name
        self.alive[p] = name

    def name_ref(self, label: str, r: Ref) -> None:
        self.env[label] = r
        self.labels[r] = label

    def bind(self, binds: tuple, result: Any) -> None:
        """Name the pids and refs a step's result holds (see scenario.Action.bind)."""
        for at, kind, name in binds:
            value = result if at is None else result[at]
            if kind == "pid":
                self.adopt(name, value)
            else:
                self.name_ref(name, value)

    def died(self, p: Pid, reason: Any) -> None:
        self.deaths.append((self.alive.pop(p), render(reason, self.labels)))

    def live(self) -> list[Pid]:
        return sorted(self.alive, key=self.alive.__getitem__)

    async def step(self, i: int, actor_name: str, fn: Callable, opts: dict) -> None:
        p = self.env.get(actor_name)
        if p is None or p not in self.alive:
            self.lines.append(f"{i} {actor_name} skip")
            return
        send(p, ("$cmd", fn, dict(self.env)))
        msg = await receive(("$done", p, ANY), Down(ANY, p, ANY), timeout=LIMIT, default=None)
        if msg is None:
            raise _Stuck(f"step {i}")
        if type(msg) is Down:
            self.died(p, msg.reason)
            self.lines.append(f"{i} {actor_name} => died")
        else:
            self.bind(opts.get("bind", ()), msg[2])
            self.lines.append(f"{i} {actor_name} => {show(msg[2], self.labels, opts.get('sort'))}")
        await self.settle(i)

    async def settle(self, i: int) -> None:
        self.drain_downs()
        await self.sync_rounds()
        for p in self.live():
            await self.ask(p, ("$commit", self_pid(), dict(self.labels)))
        for name, reason in sorted(self.deaths):
            self.lines.append(f"{i} down {name} {reason}")
        self.deaths = []

    async def sync_rounds(self) -> None:
        """Round after round, until a whole round finds every live actor still alive."""
        while True:
            before = len(self.alive)
            for p in self.live():
                await self.ask(p, ("$sync", self_pid()))
            self.drain_downs()
            if len(self.alive) == before:
                return

    async def ask(self, p: Pid, msg: tuple) -> None:
        send(p, msg)
        reply = await receive(("$ack", p), Down(ANY, p, ANY), timeout=LIMIT, default=None)
        if reply is None:
            raise _Stuck("settling")
        if type(reply) is Down:
            self.died(p, reply.reason)

    def drain_downs(self) -> None:
        for down in beamlet.flush(lambda m: type(m) is Down and m.pid in self.alive):
            self.died(down.pid, down.reason)

    async def finish(self) -> None:
        labels = self.labels
        for p in self.live():
            info = {key: Process.info(p, key) for key in (
                "status", "trap_exit", "message_queue_len", "registered_name", "links",
                "monitors", "messages")}
            self.lines.append(
                f"end {self.alive[p]} status={render(info['status'], labels)}"
                f" trap_exit={render(info['trap_exit'], labels)}"
                f" qlen={render(info['message_queue_len'], labels)}"
                f" name={render(info['registered_name'], labels)}"
                f" links={show(info['links'], labels, True)}"
                f" monitors={show(info['monitors'], labels, True)}"
                f" messages={render(info['messages'], labels)}")
        names = " ".join(f"{n}={render(Process.whereis(n), labels)}" for n in REG_NAMES)
        self.lines.append(f"end names {names}")


async def controller(initial: list[str], steps: list) -> list[str]:
    """Run one scenario; its trace lines."""
    dead, dref = spawn_monitor(lambda: None)
    await receive(Down(dref, ANY, ANY))
    ctl = _Controller(self_pid(), dead)
    for name in initial:
        ctl.adopt(name, spawn(actor, self_pid()))
    try:
        await ctl.sync_rounds()  # every actor waiting for its first step
        for i, (actor_name, fn, opts) in enumerate(steps, 1):
            await ctl.step(i, actor_name, fn, opts)
        await ctl.finish()
    except _Stuck as stuck:
        ctl.lines.append(f"STUCK {stuck}")
    return ctl.lines


def run_program(source: str) -> list[str]:
    """Execute a rendered Python scenario on a fresh beamlet node; its trace lines."""
    namespace = step_namespace()
    exec(compile(source, "<scenario>", "exec"), namespace)
    initial, steps = namespace["SCENARIO"]
    log = logging.getLogger("beamlet")
    level = log.level
    log.setLevel(logging.CRITICAL)  # crashes are the point here, not news
    try:
        return beamlet.run(controller, initial, steps, schedulers=1)
    except BaseException as e:  # noqa: BLE001 - a kernel failure is a finding, not a crash
        return [f"controller crashed {type(e).__name__}: {e}"]
    finally:
        log.setLevel(level)


# --- rendering ------------------------------------------------------------------------------
def show(term: Any, labels: dict, as_set: bool | None = False) -> str:
    """`render`, with a list compared as a set (sorted) when ``as_set``."""
    if as_set and isinstance(term, list):
        return "[" + ",".join(sorted(render(t, labels) for t in term)) + "]"
    if as_set and isinstance(term, tuple):
        return "{" + ",".join(show(t, labels, True) for t in term) + "}"
    return render(term, labels)


def render(t: Any, labels: dict) -> str:
    """The text form both runtimes print: atoms bare, pids and refs as #name, tuples in braces,
    exceptions by kind (``error(badarg)``, ``raise(RuntimeError,msg)``)."""
    if isinstance(t, (Pid, Ref)):
        return "#" + labels.get(t, "?")
    if t is True or t is False:
        return "true" if t else "false"
    if t is None:
        return "nil"
    if isinstance(t, str):
        return t
    if isinstance(t, int):
        return str(t)
    if type(t) is Exit:
        return "{EXIT," + render(t.pid, labels) + "," + render(t.reason, labels) + "}"
    if type(t) is Down:
        return ("{DOWN," + render(t.ref, labels) + ",process," + render(t.pid, labels) + ","
                + render(t.reason, labels) + "}")
    if isinstance(t, BaseException):
        return _exception(t)
    if isinstance(t, tuple):
        return "{" + ",".join(render(x, labels) for x in t) + "}"
    if isinstance(t, list):
        return "[" + ",".join(render(x, labels) for x in t) + "]"
    return "?" + repr(t)


def _exception(e: BaseException) -> str:
    """Elixir's kinds: ErlangError :noproc, ArgumentError (badarg), or a raise by class."""
    if isinstance(e, NoProc):
        return "error(noproc)"
    if isinstance(e, (LookupError, ValueError, TypeError)):
        return "error(badarg)"
    return f"raise({type(e).__name__},{e})"
