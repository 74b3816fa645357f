"""Random process scenarios and their two renderings, Elixir and beamlet.

A scenario is a few actor processes (p1, p2, ...) and a list of steps; each step names one
actor and one action for it to perform (spawn, link, Process.exit, receive ...). The same step is
rendered twice, as an Elixir `fn env -> ... end` and as a Python `async def step_N(env)`, from
one description, so the two programs cannot drift apart by hand-editing. The runtimes
(`runtime.exs`, `runtime.py`) run the steps one at a time and record what is observed.

Values in steps are Python values: a `str` is an atom, a tuple a tuple, an int an int.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

REASONS: list[Any] = [
    "normal", "kill", "killed", "shutdown", ("shutdown", "bye"), ("shutdown", 2),
    "boom", "oops", ("bad", 1), ("nested", ("x", 2)), ["a", 1],
]
REG_NAMES = ["n1", "n2"]
INFO_KEYS = ["status", "links", "monitors", "trap_exit", "message_queue_len", "registered_name"]
SORTED_INFO_KEYS = {"links", "monitors"}  # lists whose order the BEAM does not define
MAX_ACTORS = 6

_BARE_ATOM = re.compile(r"^[a-z_][a-zA-Z0-9_@]*$")


def ex_literal(value: Any) -> str:
    """Elixir source for a Python value (str -> atom)."""
    if value is True or value is False:
        return "true" if value else "false"
    if value is None:
        return "nil"
    if isinstance(value, str):
        return ":" + value if _BARE_ATOM.match(value) else ':"' + value + '"'
    if isinstance(value, int):
        return str(value)
    if isinstance(value, tuple):
        return "{" + ", ".join(ex_literal(v) for v in value) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(ex_literal(v) for v in value) + "]"
    raise TypeError(f"no Elixir literal for {value!r}")


def show(value: Any) -> str:
    """A value as the traces print it (for step descriptions)."""
    if isinstance(value, tuple):
        return "{" + ",".join(show(v) for v in value) + "}"
    if isinstance(value, list):
        return "[" + ",".join(show(v) for v in value) + "]"
    return str(value).lower() if isinstance(value, bool) else str(value)


@dataclass(frozen=True)
class Target:
    """Whom an action aims at: an actor by its symbolic name, the caller, a dead pid, or a
    registered name."""

    kind: str  # "actor" | "self" | "dead" | "name"
    name: str = ""

    def ex(self) -> str:
        if self.kind == "self":
            return "self()"
        if self.kind == "name":
            return ex_literal(self.name)
        return f"DT.pid(env, {ex_literal(self.name if self.kind == 'actor' else 'dead')})"

    def py(self) -> str:
        if self.kind == "self":
            return "self_pid()"
        if self.kind == "name":
            return repr(self.name)
        return f"pid(env, {self.name if self.kind == 'actor' else 'dead'!r})"

    def __str__(self) -> str:
        return {"self": "self", "dead": "dead"}.get(self.kind, self.name)


@dataclass(frozen=True)
class Action:
    """One step's code in both languages, with what the controller should do with its result.

    ``bind`` names what the result creates, as (index in a tuple result or None for the whole
    result, "pid" or "ref", name); ``sort`` asks for list results compared as sets.
    """

    desc: str
    ex_body: str  # Elixir expression(s), may span lines; `env` is in scope
    py_body: str  # Python statements ending in a return; `env` is in scope
    bind: tuple = ()  # of (index | None, kind, name)
    sort: bool = False


@dataclass
class Step:
    actor: str
    action: Action


@dataclass
class Scenario:
    seed: int
    initial: list[str]
    steps: list[Step] = field(default_factory=list)

    def elixir(self) -> str:
        """``def s(seed), do: {initial, steps}`` for the Elixir scenario module."""
        lines = [f"  def s({self.seed}) do", "    {" + ex_literal(self.initial) + ", ["]
        for n, step in enumerate(self.steps, 1):
            var = "env" if re.search(r"\benv\b", step.action.ex_body) else "_env"
            body = step.action.ex_body.replace("\n", "\n        ")
            opts = []
            if step.action.bind:
                opts.append("bind: " + ex_literal(list(step.action.bind)))
            if step.action.sort:
                opts.append("sort: true")
            lines.append(f"      # {n}. {step.actor}: {step.action.desc}")
            lines.append(f"      {{{ex_literal(step.actor)}, fn {var} ->")
            lines.append(f"        {body}")
            lines.append(f"      end, [{', '.join(opts)}]}},")
        lines.append("    ]}")
        lines.append("  end")
        return "\n".join(lines)

    def python(self) -> str:
        """A Python module defining ``SCENARIO = (initial, [(actor, step_fn, opts), ...])``."""
        out = [f"# scenario {self.seed}"]
        entries = []
        for n, step in enumerate(self.steps, 1):
            out.append(f"async def step_{n}(env):  # {step.actor}: {step.action.desc}")
            out.extend("    " + line for line in step.action.py_body.split("\n"))
            opts = {}
            if step.action.bind:
                opts["bind"] = step.action.bind
            if step.action.sort:
                opts["sort"] = True
            entries.append(f"    ({step.actor!r}, step_{n}, {opts!r}),")
        out.append(f"SCENARIO = ({self.initial!r}, [")
        out.extend(entries)
        out.append("])")
        return "\n".join(out) + "\n"

    def describe(self, n: int) -> str:
        """'p1: Process.exit(p2, boom)' for step n (1-based)."""
        step = self.steps[n - 1]
        return f"{step.actor}: {step.action.desc}"


class _Gen:
    """State while generating one scenario: which names exist so far (statically: a spawn step
    may end up skipped at run time if its actor is dead by then)."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.actors: list[str] = []
        self.refs: list[tuple[str, str]] = []  # (ref label, owner actor)
        self.links: set[frozenset[str]] = set()  # as the steps so far would make them
        self.ever_linked: set[frozenset[str]] = set()  # never forgets: an over-estimate
        self.trapping: set[str] = set()
        self.gone: set[str] = set()  # surely or probably dead by now
        self.step_no = 0

    # --- a rough guess of who is alive, so that few steps are wasted on the dead ----------------
    def dies(self, name: str, reason: Any) -> None:
        """``name`` dies with ``reason``: so do its non-trapping links, unless it is normal."""
        if name in self.gone:
            return
        self.gone.add(name)
        for pair in [pair for pair in self.links if name in pair]:
            self.links.discard(pair)
            (other,) = pair - {name}
            if reason != "normal" and other not in self.trapping:
                self.dies(other, "killed" if reason == "kill" else reason)

    def link(self, a: str, b: str) -> None:
        if a != b:
            self.links.add(frozenset((a, b)))
            self.ever_linked.add(frozenset((a, b)))

    def signal(self, me: str, t: Target, reason: Any) -> None:
        """Process.exit(t, reason), as far as the guess goes."""
        name = me if t.kind == "self" else t.name if t.kind == "actor" else None
        if name is None:
            return
        if reason == "kill" or (name not in self.trapping
                                and (reason != "normal" or name == me)):
            self.dies(name, reason)

    def pick_actor(self) -> str:
        alive = [a for a in self.actors if a not in self.gone]
        return self.rng.choice(alive or self.actors)

    # --- choosing arguments ---------------------------------------------------------------
    def target(self, me: str, *, dead: bool = True, self_ok: bool = True,
               linked: float = 0.0) -> Target:
        """Anyone; with probability ``linked``, a process ``me`` has been linked to (the shapes
        where exit signals come back to their sender)."""
        partners = [a for a in self.actors if frozenset((me, a)) in self.links
                    and a not in self.gone]
        if partners and self.rng.random() < linked:
            return Target("actor", self.rng.choice(partners))
        others = [a for a in self.actors if a != me and a not in self.gone] or \
            [a for a in self.actors if a != me]
        roll = self.rng.random()
        if dead and roll < 0.08:
            return Target("dead")
        if self_ok and (roll < 0.2 or not others):
            return Target("self")
        return Target("actor", self.rng.choice(others)) if others else Target("self")

    def reason(self) -> Any:
        return self.rng.choice(REASONS)

    def guard(self, ex_code: str, py_code: str) -> tuple[str, str, str]:
        """Wrap a call that can raise in a rescue half of the time."""
        if self.rng.random() < 0.5:
            return (f"DT.guard(fn -> {ex_code} end)", f"return guard(lambda: {py_code})",
                    "guarded ")
        return ex_code, f"return {py_code}", ""

    # --- actions ----------------------------------------------------------------------------
    def a_spawn(self, me: str) -> Action:
        if len(self.actors) >= MAX_ACTORS:
            return self.a_send(me)
        kind = self.rng.choice(["spawn", "spawn_link", "spawn_monitor"])
        new = f"p{len(self.actors) + 1}"
        self.actors.append(new)
        ex = f"{kind}(DT, :actor, [env.ctl])"
        py = f"return {kind}(actor, env['ctl'])"
        if kind == "spawn_link":
            self.link(me, new)
        if kind == "spawn_monitor":
            label = self.new_ref(me)
            return Action(f"{kind} -> {new}, {label}", ex, py,
                          bind=((0, "pid", new), (1, "ref", label)))
        return Action(f"{kind} -> {new}", ex, py, bind=((None, "pid", new),))

    def new_ref(self, owner: str) -> str:
        label = f"r{len(self.refs) + 1}"
        self.refs.append((label, owner))
        return label

    def a_link(self, me: str) -> Action:
        t = self.target(me)
        if t.kind == "actor":
            self.link(me, t.name)
        ex, py, g = self.guard(f"Process.link({t.ex()})", f"link({t.py()})")
        return Action(f"{g}link({t})", ex, py)

    def a_unlink(self, me: str) -> Action:
        t = self.target(me, linked=0.7)
        self.links.discard(frozenset((me, t.name)))
        return Action(f"unlink({t})", f"Process.unlink({t.ex()})", f"return unlink({t.py()})")

    def a_monitor(self, me: str) -> Action:
        if self.rng.random() < 0.2:
            t = Target("name", self.rng.choice(REG_NAMES))
        else:
            t = self.target(me, linked=0.5)
        label = self.new_ref(me)
        return Action(f"monitor({t}) -> {label}", f"Process.monitor({t.ex()})",
                      f"return monitor({t.py()})", bind=((None, "ref", label),))

    def a_demonitor(self, me: str) -> Action:
        if not self.refs:
            return self.a_monitor(me)
        mine = [label for label, owner in self.refs if owner == me]
        label = self.rng.choice(mine if mine and self.rng.random() < 0.85 else
                                [label for label, _ in self.refs])
        flush, info = self.rng.random() < 0.5, self.rng.random() < 0.5
        opts = [o for o, on in ((":flush", flush), (":info", info)) if on]
        return Action(f"demonitor({label}, flush={flush}, info={info})",
                      f"Process.demonitor(DT.ref(env, :{label}), [{', '.join(opts)}])",
                      f"return demonitor(ref(env, {label!r}), flush={flush}, info={info})")

    def a_trap(self, me: str) -> Action:
        on = self.rng.random() < 0.8
        (self.trapping.add if on else self.trapping.discard)(me)
        return Action(f"trap_exit({show(on)})", f"Process.flag(:trap_exit, {ex_literal(on)})",
                      f"return Process.flag('trap_exit', {on})")

    def a_exit_self(self, me: str) -> Action:
        r = self.reason()
        self.dies(me, r)
        return Action(f"exit({show(r)})", f"exit({ex_literal(r)})", f"exit({r!r})")

    def a_raise(self, me: str) -> Action:
        msg = f"boom{self.step_no}"
        self.dies(me, "crash")
        return Action(f"raise {msg}", f'raise "{msg}"', f"raise RuntimeError({msg!r})")

    def a_return(self, me: str) -> Action:
        self.dies(me, "normal")
        return Action("return", ':"$return"', "return RETURN")

    def a_exit_signal(self, me: str) -> Action:
        t = self.target(me, dead=self.rng.random() < 0.5, linked=0.5)
        r = self.reason()
        self.signal(me, t, r)
        return Action(f"Process.exit({t}, {show(r)})", f"Process.exit({t.ex()}, {ex_literal(r)})",
                      f"return Process.exit({t.py()}, {r!r})")

    def a_register(self, me: str) -> Action:
        t = self.target(me)
        name = self.rng.choice(REG_NAMES)
        ex, py, g = self.guard(f"Process.register({t.ex()}, :{name})",
                               f"Process.register({t.py()}, {name!r})")
        return Action(f"{g}register({t}, {name})", ex, py)

    def a_unregister(self, me: str) -> Action:
        name = self.rng.choice(REG_NAMES)
        ex, py, g = self.guard(f"Process.unregister(:{name})", f"Process.unregister({name!r})")
        return Action(f"{g}unregister({name})", ex, py)

    def a_whereis(self, me: str) -> Action:
        name = self.rng.choice(REG_NAMES)
        return Action(f"whereis({name})", f"Process.whereis(:{name})",
                      f"return Process.whereis({name!r})")

    def a_send(self, me: str) -> Action:
        msg_ex = f"{{:m, self(), {self.step_no}}}"
        msg_py = f"('m', self_pid(), {self.step_no})"
        if self.rng.random() < 0.25:
            name = self.rng.choice(REG_NAMES)
            ex, py, g = self.guard(f"send(:{name}, {msg_ex})", f"named_send({name!r}, {msg_py})")
            return Action(f"{g}send({name}, m{self.step_no})", ex, py)
        t = self.target(me)
        return Action(f"send({t}, m{self.step_no})", f"send({t.ex()}, {msg_ex})",
                      f"return send({t.py()}, {msg_py})")

    def a_receive(self, me: str) -> Action:
        """A selective receive with ``after 0``: one of a few pattern shapes."""
        kind = self.rng.choice(["any", "exit", "down", "exit_from", "msg_from", "msg_after",
                                "down_ref"])
        if kind == "down_ref" and not self.refs:
            kind = "down"
        pre_ex = pre_py = ""
        if kind in ("exit_from", "msg_from"):
            t = self.target(me, self_ok=kind == "msg_from")
            pre_ex, pre_py = f"p = {t.ex()}\n", f"p = {t.py()}\n"
        if kind == "down_ref":
            label = self.rng.choice([label for label, _ in self.refs])
            pre_ex, pre_py = f"r = DT.ref(env, :{label})\n", f"r = ref(env, {label!r})\n"
        after = self.rng.randint(0, max(self.step_no - 1, 0))
        ex_pat, py_pat, desc = {
            "any": ("m", "", "any"),
            "exit": ("{:EXIT, _, _} = m", "Exit, ", "{EXIT,_,_}"),
            "down": ("{:DOWN, _, :process, _, _} = m", "Down, ", "{DOWN,_,process,_,_}"),
            "exit_from": ("{:EXIT, ^p, _} = m", "Exit(p, ANY), ", "{EXIT,%s,_}"),
            "msg_from": ("{:m, ^p, _} = m", "('m', p, ANY), ", "{m,%s,_}"),
            "msg_after": (f"{{:m, _, n}} = m when n > {after}",
                          f"('m', ANY, lambda n: n > {after}), ", f"{{m,_,n}} when n > {after}"),
            "down_ref": ("{:DOWN, ^r, :process, _, _} = m", "Down(r, ANY, ANY), ",
                         "{DOWN,%s,process,_,_}"),
        }[kind]
        if "%s" in desc:
            desc = desc % (label if kind == "down_ref" else t)
        ex = f"{pre_ex}receive do\n  {ex_pat} -> {{:got, m}}\nafter\n  0 -> :timeout\nend"
        py = (f"{pre_py}m = await receive({py_pat}timeout=0, default=NOTHING)\n"
              "return 'timeout' if m is NOTHING else ('got', m)")
        return Action(f"receive {desc} after 0", ex, py)

    def a_calls(self, me: str) -> Action:
        """Two or three calls in one step with no wait between them, mostly aimed at one
        process ``t`` (signals from one sender arrive in order), optionally ending with a
        question about ``t``. On the BEAM such a question is answered only after ``t`` has
        handled the caller's earlier signals, so it may see ``t`` dead, or the caller may die
        in it if ``t``'s death comes back over a link.

        What keeps this timing-free (see README): every `Process.exit` of the step aims at one
        process (two dying processes could reach a third in either order); a question is only
        ever last, and follows an exit signal only when that target was never linked to
        anyone but the caller (while the caller waits, a death spreading through a third
        process would race with the answer), and never when a link or monitor was made after
        the exit signal (whether its "noproc" comes back before the answer depends on how ERTS
        batches the dying process's signal queue)."""
        t = self.target(me, dead=False, self_ok=self.rng.random() < 0.2, linked=0.6)
        ex_lines, py_lines, descs, binds = [], [], [], []
        exit_target: Target | None = None
        late_request = False
        for i in range(self.rng.randint(2, 3)):
            t_i = t if self.rng.random() < 0.8 else self.target(me, linked=0.3)
            ex, py, desc, bind, exits = self._call(me, t_i, i, exit_target in (None, t_i))
            if exit_target is not None and desc.startswith(("guarded link(", "monitor(")):
                late_request = True  # a link or monitor queued behind an exit signal
            exit_target = t_i if exits else exit_target
            ex_lines.append(f"a{i} = {ex}")
            py_lines.append(f"a{i} = {py}")
            descs.append(desc)
            binds.extend(bind)
        if self.rng.random() < 0.6 and not late_request and self._may_ask(me, t, exit_target):
            key = self.rng.choice(["alive", "status", "links", "monitors", "trap_exit",
                                   "message_queue_len"])
            i = len(ex_lines)
            if key == "alive":
                ex_lines.append(f"a{i} = Process.alive?({t.ex()})")
                py_lines.append(f"a{i} = Process.alive({t.py()})")
                descs.append(f"Process.alive?({t})")
            else:
                ex_lines.append(f"a{i} = with {{_, v}} <- Process.info({t.ex()}, :{key}), do: v")
                py_lines.append(f"a{i} = Process.info({t.py()}, {key!r})")
                descs.append(f"Process.info({t}, {key})")
        names = ", ".join(f"a{i}" for i in range(len(ex_lines)))
        ex_lines.append(f"{{{names}}}")
        py_lines.append(f"return ({names})")
        return Action("; ".join(descs), "\n".join(ex_lines), "\n".join(py_lines),
                      bind=tuple(binds), sort=True)

    def _may_ask(self, me: str, t: Target, exit_target: Target | None) -> bool:
        """Whether a question about ``t`` may end a step that sent exits to ``exit_target``."""
        if exit_target is None:
            return True
        if exit_target != t or t.kind != "actor":
            return False
        return all(pair <= {me, t.name} for pair in self.ever_linked if t.name in pair)

    def _call(self, me: str, t: Target, i: int,
              may_exit: bool) -> tuple[str, str, str, list, bool]:
        """One call of `a_calls`: (Elixir, Python, description, binds, sends an exit)."""
        kind = self.rng.choices(
            ["exit", "link", "unlink", "monitor", "demonitor", "send", "trap", "registry"],
            [8 if may_exit else 0, 4, 3, 3, 2, 3, 2, 3])[0]
        if kind == "registry":
            return (*self._registry_call(t), [], False)
        if kind == "exit":
            r = self.reason()
            self.signal(me, t, r)
            return (f"Process.exit({t.ex()}, {ex_literal(r)})", f"Process.exit({t.py()}, {r!r})",
                    f"Process.exit({t}, {show(r)})", [], True)
        if kind == "link":
            # guarded: a link to the dead raising here would be a second death in the step
            if t.kind == "actor":
                self.link(me, t.name)
            return (f"DT.guard(fn -> Process.link({t.ex()}) end)", f"guard(lambda: link({t.py()}))",
                    f"guarded link({t})", [], False)
        if kind == "unlink":
            self.links.discard(frozenset((me, t.name)))
            return f"Process.unlink({t.ex()})", f"unlink({t.py()})", f"unlink({t})", [], False
        if kind == "monitor":
            label = self.new_ref(me)
            return (f"Process.monitor({t.ex()})", f"monitor({t.py()})",
                    f"monitor({t}) -> {label}", [(i, "ref", label)], False)
        if kind == "demonitor" and self.refs:
            # never with flush here: on the BEAM, flushing a monitor that is no longer active
            # yields, and what other processes do meanwhile is scheduling (see README)
            label = self.refs[-1][0]
            return (f"Process.demonitor(DT.ref(env, :{label}), [:info])",
                    f"demonitor(ref(env, {label!r}), info=True)",
                    f"demonitor({label}, info)", [], False)
        if kind == "trap":
            on = self.rng.random() < 0.7
            (self.trapping.add if on else self.trapping.discard)(me)
            return (f"Process.flag(:trap_exit, {ex_literal(on)})",
                    f"Process.flag('trap_exit', {on})", f"trap_exit({show(on)})", [], False)
        n = self.step_no * 10 + i
        return (f"send({t.ex()}, {{:m, self(), {n}}})", f"send({t.py()}, ('m', self_pid(), {n}))",
                f"send({t}, m{n})", [], False)

    def _registry_call(self, t: Target) -> tuple[str, str, str]:
        """A registry call in a multi-call step: the name may be held by a process the step
        has just doomed (it is not unregistered before it has exited). Rescued, so that an
        unregistered name is a result, not a second death."""
        name = self.rng.choice(REG_NAMES)
        n = self.step_no * 10 + 9
        ex, py, desc = self.rng.choice([
            (f"send(:{name}, {{:m, self(), {n}}})", f"named_send({name!r}, ('m', self_pid(), {n}))",
             f"send({name}, m{n})"),
            (f"Process.register({t.ex()}, :{name})", f"Process.register({t.py()}, {name!r})",
             f"register({t}, {name})"),
            (f"Process.unregister(:{name})", f"Process.unregister({name!r})",
             f"unregister({name})"),
            (f"Process.whereis(:{name})", f"Process.whereis({name!r})", f"whereis({name})"),
            (f"Process.monitor(:{name})", f"monitor({name!r})", f"monitor({name})"),
        ])
        return f"DT.guard(fn -> {ex} end)", f"guard(lambda: {py})", f"guarded {desc}"

    def a_self_calls(self, me: str) -> Action:
        """Calls aimed only at the caller, then a receive or a look at its own mailbox. Nothing
        here involves another process, so a receive may follow signals: a signal to oneself
        (``Process.exit(self(), r)`` while trapping, say) is handled when the BEAM next looks
        at the caller's signal queue, and which flags hold by then is the caller's business."""
        ex_lines, py_lines, descs = [], [], []
        for i in range(self.rng.randint(2, 4)):
            kind = self.rng.choices(["send", "exit", "trap", "monitor", "link", "receive",
                                     "info"], [4, 4, 4, 1, 1, 3, 2])[0]
            if kind == "send":
                n = self.step_no * 10 + i
                ex, py, desc = (f"send(self(), {{:m, self(), {n}}})",
                                f"send(self_pid(), ('m', self_pid(), {n}))", f"send(self, m{n})")
            elif kind == "exit":
                r = self.rng.choice(["normal", "kill", "boom", ("shutdown", "bye"), "killed"])
                self.signal(me, Target("self"), r)
                ex, py, desc = (f"Process.exit(self(), {ex_literal(r)})",
                                f"Process.exit(self_pid(), {r!r})",
                                f"Process.exit(self, {show(r)})")
            elif kind == "trap":
                on = self.rng.random() < 0.5
                (self.trapping.add if on else self.trapping.discard)(me)
                ex, py, desc = (f"Process.flag(:trap_exit, {ex_literal(on)})",
                                f"Process.flag('trap_exit', {on})", f"trap_exit({show(on)})")
            elif kind == "monitor":
                ex, py, desc = "Process.monitor(self())", "monitor(self_pid())", "monitor(self)"
            elif kind == "link":
                ex, py, desc = "Process.link(self())", "link(self_pid())", "link(self)"
            elif kind == "receive":
                ex_pat, py_pat, desc = self.rng.choice([
                    ("m", "", "any"), ("{:EXIT, _, _} = m", "Exit, ", "{EXIT,_,_}"),
                    ("{:m, _, _} = m", "('m', ANY, ANY), ", "{m,_,_}")])
                ex = f"receive do\n  {ex_pat} -> {{:got, m}}\nafter\n  0 -> :timeout\nend"
                py = (f"await receive({py_pat}timeout=0, default=NOTHING)\n"
                      f"a{i} = 'timeout' if a{i} is NOTHING else ('got', a{i})")
                desc = f"receive {desc} after 0"
            else:
                key = self.rng.choice(["message_queue_len", "messages", "trap_exit"])
                ex = f"with {{_, v}} <- Process.info(self(), :{key}), do: v"
                py = f"Process.info(self_pid(), {key!r})"
                desc = f"Process.info(self, {key})"
            ex_lines.append(f"a{i} = {ex}")
            py_lines.append(f"a{i} = {py}")
            descs.append(desc)
        names = ", ".join(f"a{i}" for i in range(len(ex_lines)))
        ex_lines.append(f"{{{names}}}")
        py_lines.append(f"return ({names})")
        return Action("; ".join(descs), "\n".join(ex_lines), "\n".join(py_lines))

    def a_info(self, me: str) -> Action:
        t = self.target(me)
        key = self.rng.choice(INFO_KEYS)
        ex = f"with {{_, v}} <- Process.info({t.ex()}, :{key}), do: v"
        return Action(f"Process.info({t}, {key})", ex, f"return Process.info({t.py()}, {key!r})",
                      sort=key in SORTED_INFO_KEYS)

    def a_alive(self, me: str) -> Action:
        t = self.target(me)
        return Action(f"Process.alive?({t})", f"Process.alive?({t.ex()})",
                      f"return Process.alive({t.py()})")


# (method, weight while setting up, weight afterwards): links, monitors and trap_exit come
# first; exits and signals, where the semantics live, later.
_ACTIONS: list[tuple[Callable[[_Gen, str], Action], int, int]] = [
    (_Gen.a_spawn, 8, 3), (_Gen.a_link, 12, 4), (_Gen.a_unlink, 2, 3), (_Gen.a_monitor, 8, 4),
    (_Gen.a_demonitor, 1, 4), (_Gen.a_trap, 8, 3), (_Gen.a_exit_self, 1, 4), (_Gen.a_raise, 1, 3),
    (_Gen.a_return, 1, 2), (_Gen.a_exit_signal, 3, 14), (_Gen.a_register, 5, 3),
    (_Gen.a_unregister, 1, 2), (_Gen.a_whereis, 1, 2), (_Gen.a_send, 5, 8),
    (_Gen.a_receive, 2, 10), (_Gen.a_info, 3, 7), (_Gen.a_alive, 1, 3),
    (_Gen.a_calls, 3, 10), (_Gen.a_self_calls, 2, 4),
]


def generate(seed: int) -> Scenario:
    """The scenario of ``seed``: 2-4 actors and 4-12 steps, the same on every machine."""
    gen = _Gen(seed)
    gen.actors = [f"p{i}" for i in range(1, gen.rng.randint(2, 4) + 1)]
    scenario = Scenario(seed, list(gen.actors))
    methods = [m for m, _, _ in _ACTIONS]
    n_steps = gen.rng.randint(4, 12)
    for n in range(1, n_steps + 1):
        gen.step_no = n
        actor = gen.pick_actor()
        weights = [setup if n <= n_steps // 3 else later for _, setup, later in _ACTIONS]
        method = gen.rng.choices(methods, weights)[0]
        scenario.steps.append(Step(actor, method(gen, actor)))
    return scenario
