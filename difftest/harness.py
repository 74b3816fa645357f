"""Run scenarios on both runtimes and compare their traces.

All the Elixir renderings go into ONE script run by ONE ``elixir --erl "+S 1"`` process (a VM
start costs far more than a scenario); it runs while this Python process runs the beamlet side,
one fresh `beamlet.run` node per scenario. Nothing is cached: every run renders, compiles and
executes everything again.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import runtime
from .scenario import Scenario, generate

RUNTIME_EXS = Path(__file__).with_name("runtime.exs")
SCHEDULERS_FLAG = "+S 1"
SCENARIOS_PER_MODULE = 200  # one compiled Elixir module per chunk keeps compile time flat


def elixir_available() -> bool:
    return shutil.which("elixir") is not None


def elixir_script(scenarios: list[Scenario]) -> str:
    """The whole Elixir program: the runtime, the scenario modules, and the calls running them."""
    parts = [RUNTIME_EXS.read_text()]
    for first in range(0, len(scenarios), SCENARIOS_PER_MODULE):
        chunk = scenarios[first:first + SCENARIOS_PER_MODULE]
        module = f"DTS{first // SCENARIOS_PER_MODULE}"
        body = "\n\n".join(s.elixir() for s in chunk)
        seeds = ", ".join(str(s.seed) for s in chunk)
        parts.append(f"defmodule {module} do\n{body}\nend\nDT.main({module}, [{seeds}])\n")
    return "\n".join(parts)


def _parse(stdout: str) -> dict[int, list[str]]:
    traces: dict[int, list[str]] = {}
    for line in stdout.splitlines():
        seed, sep, text = line.partition("|")
        if sep and seed.isdigit():
            traces.setdefault(int(seed), []).append(text)
    return traces


class ElixirRun:
    """One ``elixir`` OS process running a script of many scenarios. It starts at once and a
    thread collects its output, so the beamlet side runs meanwhile and ``seconds`` is the
    BEAM's own wall time (VM start and compilation included)."""

    def __init__(self, scenarios: list[Scenario], timeout: float = 600,
                 erl_flags: str = SCHEDULERS_FLAG) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="difftest-")
        path = Path(self._dir.name) / "scenarios.exs"
        path.write_text(elixir_script(scenarios))
        self._timeout = timeout
        self._started = time.perf_counter()
        self._proc = subprocess.Popen(["elixir", "--erl", erl_flags, str(path)],
                                      stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True)
        self._result: tuple[str, str] | BaseException | None = None
        self.seconds = 0.0
        self._waiter = threading.Thread(target=self._collect, daemon=True)
        self._waiter.start()

    def _collect(self) -> None:
        try:
            self._result = self._proc.communicate(timeout=self._timeout)
        except subprocess.TimeoutExpired as e:
            self._proc.kill()  # ours, by its Popen handle
            self._proc.communicate()
            self._result = e
        self.seconds = time.perf_counter() - self._started

    def traces(self) -> dict[int, list[str]]:
        self._waiter.join()
        self._dir.cleanup()
        if isinstance(self._result, BaseException):
            raise self._result
        out, err = self._result
        if self._proc.returncode != 0:
            raise RuntimeError(f"elixir exited with {self._proc.returncode}:\n{err[-4000:]}")
        return _parse(out)


def python_trace(scenario: Scenario) -> list[str]:
    return runtime.run_program(scenario.python())


@dataclass
class Divergence:
    seed: int
    line: int  # index of the first differing trace line
    beam: list[str]
    beamlet: list[str]

    def first(self) -> tuple[str, str]:
        def at(lines: list[str]) -> str:
            return lines[self.line] if self.line < len(lines) else "<end of trace>"
        return at(self.beam), at(self.beamlet)


@dataclass
class Report:
    seeds: list[int]
    divergences: list[Divergence] = field(default_factory=list)
    elixir_seconds: float = 0.0
    python_seconds: float = 0.0
    wall_seconds: float = 0.0


def first_difference(a: list[str], b: list[str]) -> int | None:
    for i, (x, y) in enumerate(zip(a, b, strict=False)):  # lengths may differ: compared below
        if x != y:
            return i
    return None if len(a) == len(b) else min(len(a), len(b))


def run(seeds: list[int]) -> Report:
    """Both runtimes on every seed; the seeds whose traces differ."""
    start = time.perf_counter()
    seeds = list(dict.fromkeys(seeds))  # each seed once: one `def s(seed)` clause per seed
    scenarios = [generate(s) for s in seeds]
    beam = ElixirRun(scenarios)
    py_start = time.perf_counter()
    ours = {s.seed: python_trace(s) for s in scenarios}
    py_seconds = time.perf_counter() - py_start
    theirs = beam.traces()
    report = Report(seeds, python_seconds=py_seconds)
    report.wall_seconds = time.perf_counter() - start
    report.elixir_seconds = beam.seconds
    for s in seeds:
        b = theirs.get(s, ["<no output from elixir>"])
        diff = first_difference(b, ours[s])
        if diff is not None:
            report.divergences.append(Divergence(s, diff, b, ours[s]))
    return report


def beam_self_check(seeds: list[int], other_flags: str = "+S 2") -> list[Divergence]:
    """The BEAM against itself: the scenarios under ``+S 1`` and under ``other_flags`` (two
    schedulers, say) at the same time. A shape whose trace depends on scheduling shows up here,
    and belongs in the README's exclusions, not in the generator."""
    scenarios = [generate(s) for s in seeds]
    one, other = ElixirRun(scenarios), ElixirRun(scenarios, erl_flags=other_flags)
    a, b = one.traces(), other.traces()
    out = []
    for s in seeds:
        diff = first_difference(a.get(s, []), b.get(s, []))
        if diff is not None:
            out.append(Divergence(s, diff, a.get(s, []), b.get(s, [])))
    return out


def trace_pair(seed: int) -> tuple[Scenario, list[str], list[str]]:
    """One scenario, with the BEAM's trace and beamlet's."""
    scenario = generate(seed)
    beam = ElixirRun([scenario])
    ours = python_trace(scenario)
    return scenario, beam.traces().get(seed, ["<no output from elixir>"]), ours


