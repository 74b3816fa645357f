"""Checks of the distribution benchmark harness: its table logic, and one quick end-to-end run.

    python3 -m pytest bench/dist/test_dist_bench.py

(Not under tests/: the suite never times anything, and this file belongs to the benchmark.)
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from typing import Any

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import dist_bench  # noqa: E402
from dist_bench import PAIRS, WORKLOADS, Row, median_result, rows_for  # noqa: E402

PINGPONG = next(w for w in WORKLOADS if w.key == "pingpong")
LATENCY = next(w for w in WORKLOADS if w.key == "big_latency")
Outcomes = dict[tuple[str, str], list[dict[str, Any] | str]]


def rates(workload_key: str, **per_pair: list[float | str]) -> Outcomes:
    """Outcomes keyed as `measure` returns them: a float is a rate, a str an error."""
    labels = {"beam": "BEAM↔BEAM", "py_beam": "beamlet→BEAM", "beam_py": "BEAM→beamlet",
              "py": "beamlet↔beamlet"}
    return {(labels[k], workload_key): [v if isinstance(v, str) else {"per_second": v}
                                        for v in values] for k, values in per_pair.items()}


def by_pair(rows: list[Row]) -> dict[str, Row]:
    return {row.pair: row for row in rows}


def test_each_pair_is_judged_against_its_own_target() -> None:
    results = rates("pingpong", beam=[1000.0], py_beam=[800.0], beam_py=[799.0], py=[1000.0])
    rows = by_pair(list(rows_for(PINGPONG, results, PAIRS)))
    assert (rows["BEAM↔BEAM"].ratio, rows["BEAM↔BEAM"].verdict) == ("1.00", "")
    assert (rows["beamlet→BEAM"].target, rows["beamlet→BEAM"].verdict) == (">= 0.8x", "PASS")
    assert (rows["BEAM→beamlet"].ratio, rows["BEAM→beamlet"].verdict) == ("0.80", "FAIL")
    assert (rows["beamlet↔beamlet"].target, rows["beamlet↔beamlet"].verdict) == (
        ">= 1.0x", "PASS")


def test_the_figure_is_the_median_of_the_rounds_that_worked() -> None:
    outcomes: list[dict[str, Any] | str] = [
        {"per_second": 30.0}, "boom", {"per_second": 10.0}, {"per_second": 20.0}]
    figure, fields, note = median_result(PINGPONG, outcomes)
    assert figure == 20.0 and fields == {"per_second": 20.0}
    assert note == "1/4 failed: boom"


def test_a_pair_that_always_failed_says_why_instead_of_a_figure() -> None:
    results = rates("pingpong", beam=[1000.0], py=["round trip 112: no answer in 30 s"])
    rows = by_pair(list(rows_for(PINGPONG, results, PAIRS)))
    assert rows["beamlet↔beamlet"].figure == "n/a"
    assert "round trip 112" in rows["beamlet↔beamlet"].detail
    assert rows["beamlet→BEAM"].detail == "(error: not run)"


def test_latency_is_held_to_ten_milliseconds_and_shown_with_its_spread() -> None:
    def run(p99: float) -> dict[str, Any]:
        return {"p99_ms": p99, "p50_ms": 1.0, "max_ms": p99, "samples": 50,
                "transfer_seconds": 0.5}

    results: Outcomes = {("BEAM↔BEAM", "big_latency"): [run(100.0)],
                         ("beamlet→BEAM", "big_latency"): [run(9.5)],
                         ("beamlet↔beamlet", "big_latency"): [run(10.5)]}
    rows = by_pair(list(rows_for(LATENCY, results, PAIRS)))
    assert rows["BEAM↔BEAM"].verdict == ""
    assert (rows["beamlet→BEAM"].figure, rows["beamlet→BEAM"].verdict) == ("9.5 ms", "PASS")
    assert rows["beamlet↔beamlet"].verdict == "FAIL"
    assert "50 samples" in rows["beamlet↔beamlet"].detail


def our_node_processes() -> set[int]:
    """Pids of live processes running this harness's node scripts."""
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    command = f.read()
            except OSError:
                continue
            if b"dist_node.py" in command or b"dist_node.exs" in command:
                found.add(int(entry))
    return found


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_quick_run_measures_every_pair_and_leaves_no_process_behind() -> None:
    if shutil.which("elixir") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("elixir is required under CI=true (apt-get install -y erlang-nox elixir)")
        pytest.skip("elixir is not installed: no BEAM nodes to compare with")
    before = our_node_processes()
    finished = subprocess.run(
        [sys.executable, dist_bench.__file__, "--quick", "pingpong"],
        capture_output=True, text=True, timeout=600)
    assert finished.returncode == 0, finished.stderr
    rows = [line for line in finished.stdout.splitlines() if line.startswith("ping-pong")]
    assert [pair.label in row for pair, row in zip(PAIRS, rows, strict=True)] == [True] * 4
    assert all("/s" in row for row in rows), finished.stdout
    assert our_node_processes() - before == set()
