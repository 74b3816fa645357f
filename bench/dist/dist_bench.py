"""The distribution benchmarks: beamlet beside two BEAM nodes, every pair in one run.

    python bench/dist/dist_bench.py [--quick] [--rounds K] [--beam-schedulers S] [workload ...]

For each pair of nodes — BEAM↔BEAM, beamlet→BEAM, BEAM→beamlet, beamlet↔beamlet — a server
node and a client node are started as OS processes on an EPMD port of this run's own. "A→B"
means a process on A drives the workload against processes on B: it sends the pings, the
one-way messages, the calls, the 100 MB binary. Each workload is one client node's run
(dist_node.exs on Elixir, dist_node.py on beamlet, one wire protocol), printing one JSON line:

- pingpong: round trips/s between a client process and an echo process on the server;
- oneway: small messages/s counted by the receiver, the sender kept at most 5,000 messages
  ahead of the receiver's last acknowledgement, timed until the receiver has all N;
- call / call_100k: GenServer.call round trips/s, with a small request, and with a 100 KB
  binary that the server sends back;
- big_latency: the p99 of ping-pong round trips between two processes while a 100 MB binary
  goes from the client node to a third process on the server node (the wall time of the
  transfer is printed beside it).

The table gives each pair's figure (the median of ``--rounds``), its ratio to BEAM↔BEAM from
the same run, and the issue's target. Every OS process this starts (an epmd, the nodes) runs in
a session of its own and is killed by its process group id at the end, also on Ctrl-C, SIGTERM
or an error. A workload that fails or hangs prints "n/a (error ...)" in its row.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import queue
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
HOST = socket.gethostname().split(".")[0]
# Against a hung node only: a client's run takes seconds, a node starts in about one.
START_GUARD_SECONDS = 60.0
RUN_GUARD_SECONDS = {False: 120.0, True: 60.0}  # by --quick


@dataclass(frozen=True)
class Workload:
    """One row group of the table: what a client runs and how big it is (full, quick)."""

    key: str
    label: str
    full: int
    quick: int
    issue_figure: str  # BEAM↔BEAM as the issue measured it on a 2-core machine


WORKLOADS = [
    Workload("pingpong", "ping-pong round trips/s", 20_000, 2_000, "16k/s"),
    Workload("oneway", "one-way messages/s received", 200_000, 20_000, "82k/s"),
    Workload("call", "GenServer.call/s", 10_000, 1_000, "7.9k/s"),
    Workload("call_100k", "GenServer.call/s, 100 KB binary", 3_000, 300, "2.4k/s"),
    Workload("big_latency", "ping-pong p99, 100 MB in flight", 5, 2, ""),
]
LATENCY_TARGET_MS = 10.0


@dataclass(frozen=True)
class Pair:
    """A client implementation driving a server implementation ("beam" or "py")."""

    label: str
    client: str
    server: str

    @property
    def min_ratio(self) -> float | None:
        """The issue's target as a ratio to BEAM↔BEAM (None: this pair is the reference)."""
        if self.client == self.server == "beam":
            return None
        return 1.0 if self.client == self.server == "py" else 0.8


PAIRS = [
    Pair("BEAM↔BEAM", "beam", "beam"),
    Pair("beamlet→BEAM", "py", "beam"),
    Pair("BEAM→beamlet", "beam", "py"),
    Pair("beamlet↔beamlet", "py", "py"),
]


# --- OS processes, each killed by its group at the end -----------------------------------

_LIBC = ctypes.CDLL(None) if sys.platform == "linux" else None
_PR_SET_PDEATHSIG = 1


def _die_with_us() -> None:
    """In the child before exec: SIGKILL it if this script dies without cleaning up."""
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


@dataclass
class Started:
    """An OS process we started, with its output collected line by line by two threads."""

    process: subprocess.Popen[str]
    stdout: queue.Queue[str | None] = field(default_factory=queue.Queue)
    lines: list[str] = field(default_factory=list)
    readers: list[threading.Thread] = field(default_factory=list)

    def next_line(self, prefix: str, guard: float) -> str:
        """The next stdout line starting with ``prefix``; RuntimeError if the process ends or
        stays silent for ``guard`` seconds first."""
        while True:
            try:
                line = self.stdout.get(timeout=guard)
            except queue.Empty:
                raise RuntimeError(f"nothing for {guard:.0f} s (waiting for {prefix!r})") from None
            if line is None:
                raise RuntimeError(f"ended before {prefix!r}: {self.last_words()}")
            if line.startswith(prefix):
                return line

    def last_words(self) -> str:
        """What its output says went wrong: Elixir's ``** (Error) ...`` line, or else the last
        line that says something (a Python traceback's exception)."""
        meaningful = [line.strip() for line in self.lines if line.strip()]
        elixir_errors = [line for line in meaningful if line.startswith("** (")]
        if elixir_errors:
            return elixir_errors[-1][:160]
        return meaningful[-1][:160] if meaningful else f"exit status {self.process.poll()}"


class Processes:
    """Every OS process of the run; `kill_all` kills each by its process group id."""

    def __init__(self) -> None:
        self.started: list[Started] = []

    def start(self, command: list[str], env: dict[str, str]) -> Started:
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, env=env, cwd=HERE, start_new_session=True, preexec_fn=_die_with_us)
        started = Started(process)
        self.started.append(started)
        for stream, forward in ((process.stdout, True), (process.stderr, False)):
            reader = threading.Thread(target=_drain, args=(started, stream, forward), daemon=True)
            reader.start()
            started.readers.append(reader)
        return started

    def kill(self, started: Started) -> None:
        if started.process.poll() is None:
            try:
                os.killpg(started.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        started.process.wait()
        for reader in started.readers:
            reader.join()
        if started in self.started:
            self.started.remove(started)

    def kill_all(self) -> None:
        for started in reversed(list(self.started)):
            self.kill(started)


def _drain(started: Started, stream: Any, forward: bool) -> None:
    """Read one output stream to its end so that the child never blocks on a full pipe."""
    for line in stream:
        started.lines.append(line.rstrip("\n"))
        if forward:
            started.stdout.put(line.rstrip("\n"))
    stream.close()
    if forward:
        started.stdout.put(None)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# --- nodes ---------------------------------------------------------------------------------


@dataclass
class Cluster:
    """The run's EPMD port and cookie, and how to start a node of either kind on them."""

    processes: Processes
    epmd_port: int
    cookie: str
    beam_flags: str
    serial: Iterator[int]

    def env(self) -> dict[str, str]:
        return {**os.environ, "ERL_EPMD_PORT": str(self.epmd_port)}

    def command(self, kind: str, role: str, args: list[str]) -> tuple[str, list[str]]:
        """The node's full name and the command line that starts it in ``role``."""
        alive = f"{kind}{role}{next(self.serial)}"
        if kind == "beam":
            return f"{alive}@{HOST}", [
                "elixir", "--sname", alive, "--cookie", self.cookie,
                "--erl", f"-start_epmd false {self.beam_flags}".strip(),
                "dist_node.exs", role, *args]
        return f"{alive}@{HOST}", [
            sys.executable, "dist_node.py", role, alive, self.cookie, str(self.epmd_port), *args]

    def server(self, kind: str) -> tuple[str, Started]:
        name, command = self.command(kind, "server", [])
        started = self.processes.start(command, self.env())
        try:
            ready = started.next_line("ready ", START_GUARD_SECONDS)
        except RuntimeError:
            self.processes.kill(started)
            raise
        return ready.split()[1], started

    def client(self, kind: str, workload: str, server: str, n: int, guard: float) -> dict[str, Any]:
        """Run one workload on a fresh client node; its JSON result, or RuntimeError."""
        _, command = self.command(kind, "client", [workload, server, str(n)])
        started = self.processes.start(command, self.env())
        try:
            line = started.next_line("{", guard)
            result: dict[str, Any] = json.loads(line)
            return result
        finally:
            self.processes.kill(started)


def start_epmd(processes: Processes, port: int) -> None:
    """The system's epmd on ``port``, once it accepts connections (without one, the first
    beamlet node starts its built-in EPMD there)."""
    if shutil.which("epmd") is None:
        return
    epmd = processes.start(["epmd", "-port", str(port)], os.environ.copy())
    deadline = time.monotonic() + START_GUARD_SECONDS
    while time.monotonic() < deadline:
        if epmd.process.poll() is not None:
            raise RuntimeError(f"epmd did not start: {epmd.last_words()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.01)  # polling for the daemon's listen(), not waiting a fixed time
    raise RuntimeError(f"epmd did not listen on {port}")


# --- measuring -----------------------------------------------------------------------------


def figure_of(workload: Workload, result: dict[str, Any]) -> float:
    """The number the table compares: a rate, or the p99 in milliseconds."""
    return float(result["p99_ms"] if workload.key == "big_latency" else result["per_second"])


def measure(cluster: Cluster, pairs: list[Pair], workloads: list[Workload], rounds: int,
            quick: bool) -> dict[tuple[str, str], list[dict[str, Any] | str]]:
    """Every (pair, workload) ``rounds`` times: each run's JSON result or its error text.

    Each round starts one server node per pair and runs each workload on every pair in turn,
    so that the figures a ratio compares are measured minutes apart at most on a machine
    whose speed drifts. A server that died, or whose client failed, is started afresh."""
    results: dict[tuple[str, str], list[dict[str, Any] | str]] = {}
    for round_number in range(rounds):
        servers: dict[str, tuple[str, Started]] = {}
        for workload in workloads:
            for pair in pairs:
                outcome = run_one(cluster, servers, pair, workload, quick)
                results.setdefault((pair.label, workload.key), []).append(outcome)
                print(f"  round {round_number + 1}/{rounds} {pair.label:16} {workload.key:12}"
                      f" {describe(workload, outcome)}", file=sys.stderr, flush=True)
        for _, server in servers.values():
            cluster.processes.kill(server)
    return results


def run_one(cluster: Cluster, servers: dict[str, tuple[str, Started]], pair: Pair,
            workload: Workload, quick: bool) -> dict[str, Any] | str:
    """One client run for ``pair`` (starting its server when needed): its result or error."""
    server = servers.get(pair.label)
    try:
        if server is None or server[1].process.poll() is not None:
            server = servers[pair.label] = cluster.server(pair.server)
        n = workload.quick if quick else workload.full
        return cluster.client(pair.client, workload.key, server[0], n, RUN_GUARD_SECONDS[quick])
    except RuntimeError as error:
        if server is not None:  # a server in doubt is not used again
            cluster.processes.kill(server[1])
            del servers[pair.label]
        return str(error)


def describe(workload: Workload, outcome: dict[str, Any] | str) -> str:
    if isinstance(outcome, str):
        return f"error: {outcome}"
    if workload.key == "big_latency":
        return (f"p99 {outcome['p99_ms']:.1f} ms, p50 {outcome['p50_ms']:.1f} ms, max "
                f"{outcome['max_ms']:.1f} ms, {outcome['samples']} samples, "
                f"{outcome['transfer_seconds']:.2f} s per 100 MB")
    return f"{outcome['per_second']:,.0f}/s"


# --- the table -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    workload: str
    pair: str
    figure: str
    ratio: str
    target: str
    verdict: str
    detail: str


def median_result(workload: Workload, outcomes: list[dict[str, Any] | str]
                  ) -> tuple[float | None, dict[str, float], str]:
    """The median figure of the successful rounds, the medians of every field, and a note
    (the first error, and how many rounds failed)."""
    good = [o for o in outcomes if isinstance(o, dict)]
    errors = [o for o in outcomes if isinstance(o, str)]
    note = f"{len(errors)}/{len(outcomes)} failed: {errors[0]}" if errors else ""
    if not good:
        return None, {}, note
    fields = {k: statistics.median(float(o[k]) for o in good) for k in good[0]}
    return statistics.median(figure_of(workload, o) for o in good), fields, note


def rows_for(workload: Workload, results: dict[tuple[str, str], list[dict[str, Any] | str]],
             pairs: list[Pair]) -> Iterator[Row]:
    reference, _, _ = median_result(workload, results.get((PAIRS[0].label, workload.key), []))
    latency = workload.key == "big_latency"
    for pair in pairs:
        outcomes = results.get((pair.label, workload.key), [])
        figure, fields, note = median_result(workload, outcomes)
        if figure is None:
            yield Row(workload.label, pair.label, "n/a", "-", "", "",
                      f"(error: {note or 'not run'})"[:120])
            continue
        ratio = figure / reference if reference else None
        if latency:
            text = f"{figure:,.1f} ms"
            detail = (f"p50 {fields['p50_ms']:.1f} ms, max {fields['max_ms']:.0f} ms, "
                      f"{fields['samples']:.0f} samples, "
                      f"{fields['transfer_seconds']:.2f} s/100MB")
            ok = figure <= LATENCY_TARGET_MS
            target = f"<= {LATENCY_TARGET_MS:.0f} ms" if pair.min_ratio is not None else ""
        else:
            text = f"{figure:,.0f}/s"
            detail = f"issue: {workload.issue_figure}" if pair.min_ratio is None else ""
            ok = ratio is not None and pair.min_ratio is not None and ratio >= pair.min_ratio
            target = f">= {pair.min_ratio:.1f}x" if pair.min_ratio is not None else ""
        verdict = "" if pair.min_ratio is None else ("PASS" if ok else "FAIL")
        if note:
            detail = "; ".join(part for part in (detail, note) if part)[:110]
        shown = f"{ratio:.2f}" if ratio is not None else "-"
        yield Row(workload.label, pair.label, text, shown, target, verdict, detail)


def print_table(rows: list[Row]) -> None:
    headers = Row("workload", "pair", "figure", "÷BEAM", "target", "", "")
    widths = [max(len(getattr(r, f)) for r in [headers, *rows])
              for f in ("workload", "pair", "figure", "ratio", "target", "verdict")]
    for row in [headers, *rows]:
        cells = [row.workload, row.pair, row.figure, row.ratio, row.target, row.verdict]
        aligned = [f"{c:<{w}}" if i < 2 else f"{c:>{w}}" for i, (c, w) in
                   enumerate(zip(cells, widths, strict=True))]
        print("  ".join(aligned) + (f"  {row.detail}" if row.detail else ""))


def describe_run(args: argparse.Namespace) -> str:
    revision = subprocess.run(["git", "-C", ROOT, "describe", "--always", "--dirty"],
                              capture_output=True, text=True).stdout.strip() or "?"
    flags = args.beam_flags or "OTP defaults"
    return (f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores, "
            f"Python {sys.version.split()[0]}, beamlet {revision}, BEAM flags: {flags}, "
            f"rounds {args.rounds}{', quick' if args.quick else ''}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a tenth of each workload")
    parser.add_argument("--rounds", type=int, default=1, help="repeat, print medians")
    parser.add_argument("--beam-flags", default="",
                        help='extra erl flags for the Elixir nodes, e.g. "+S 1"')
    parser.add_argument("workloads", nargs="*", metavar="workload",
                        help=f"some of {', '.join(w.key for w in WORKLOADS)} (default: all)")
    args = parser.parse_args()
    unknown = set(args.workloads) - {w.key for w in WORKLOADS}
    if unknown:
        parser.error(f"unknown workloads: {', '.join(sorted(unknown))}")
    workloads = [w for w in WORKLOADS if not args.workloads or w.key in args.workloads]
    pairs = PAIRS if shutil.which("elixir") else [PAIRS[-1]]
    if len(pairs) == 1:
        print("elixir is not on PATH: only beamlet↔beamlet runs, without ratios", file=sys.stderr)
    # Ctrl-C stops the run even when it was started with SIGINT ignored (a background job).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupted)
    signal.signal(signal.SIGHUP, _interrupted)
    processes = Processes()
    try:
        port = free_port()
        start_epmd(processes, port)
        serial = iter(range(1, 1 << 30))
        cluster = Cluster(processes, port, secrets.token_hex(8), args.beam_flags, serial)
        results = measure(cluster, pairs, workloads, args.rounds, args.quick)
    finally:
        processes.kill_all()
    print(describe_run(args))
    print_table([row for w in workloads for row in rows_for(w, results, pairs)])


def _interrupted(signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        print("interrupted: every node this run started is stopped", file=sys.stderr)
        sys.exit(130)
