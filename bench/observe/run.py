"""What looking at a node costs it, and how fast the dashboard answers with a million processes.

    python bench/observe/run.py [--quick] [cost] [first-rows]

``cost``: the ping-pong rate of a node while a dashboard page is open (an event stream of
the processes page, sorted by message queue length, refreshed every second: a full scan of
the process table each time) against the same node with the dashboard closed, windows
alternating in one run, medians compared. The page's reader is a separate OS process
(``curl``, as a browser would be), so only the node's own work is counted. Run with
``--processes N`` idle processes beside the pair (the default runs it with 0 and 1,000,000).

``first-rows``: with 1,000,000 processes alive, the time from the request to the first rows of
the processes page: the JSON API for each sort order, and in Debian's chromium (when present)
from navigation to the first row on screen. The issue's goal: ≤ 1 s; cost: ≥ 0.95.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import beamlet
from beamlet import receive, self_pid, send, spawn
from beamlet.observe import Dashboard, start_dashboard


async def parked() -> None:
    await receive("never")


def spawn_parked(count: int) -> None:
    for _ in range(count):
        spawn(parked)


async def ponger() -> None:
    while True:
        msg = await receive()
        if msg == "stop":
            return
        send(msg, "pong")


async def ping_pong_for(seconds: float) -> tuple[float, float]:
    """Round trips between this process and a fresh ponger for ``seconds``: per second of
    wall time, and per second of CPU time of the whole OS process (every thread: the node's,
    the web server's). The second is what the dashboard costs the node even on a machine
    where other programs take turns on the cores."""
    peer = spawn(ponger)
    me = self_pid()
    trips = 0
    start, cpu = time.perf_counter(), time.process_time()
    deadline = start + seconds
    while True:
        for _ in range(1000):
            send(peer, me)
            await receive("pong")
        trips += 1000
        now = time.perf_counter()
        if now >= deadline:
            send(peer, "stop")
            return trips / (now - start), trips / max(time.process_time() - cpu, 1e-9)


async def open_board() -> Dashboard:
    return await start_dashboard(0, announce=False)


@contextmanager
def page_open(url: str) -> Iterator[None]:
    """A reader of the processes page's event stream in another OS process, running once its
    first event has arrived."""
    query = "view=processes&sort=message_queue_len&desc=1&size=50"
    reader = subprocess.Popen(["curl", "-sN", f"{url}api/events?{query}"],
                              stdout=subprocess.PIPE)
    try:
        assert reader.stdout is not None
        reader.stdout.readline()          # the first event: the stream is live
        drain = threading.Thread(target=reader.stdout.read, daemon=True)
        drain.start()
        yield
    finally:
        reader.kill()
        reader.wait()


def cost(processes: int, rounds: int, window: float) -> dict[str, Any]:
    with beamlet.ThreadedNode() as node:
        node.call(spawn_parked, processes)
        board = node.call(open_board)
        closed, opened = [], []
        node.call(ping_pong_for, window)              # warm-up
        for i in range(rounds):
            for state in (("closed", "open") if i % 2 == 0 else ("open", "closed")):
                if state == "open":
                    with page_open(board.url):
                        opened.append(node.call(ping_pong_for, window))
                else:
                    closed.append(node.call(ping_pong_for, window))
    wall = [o[0] / c[0] for o, c in zip(opened, closed, strict=True)]
    cpu = [o[1] / c[1] for o, c in zip(opened, closed, strict=True)]
    return {"processes": processes, "closed": statistics.median(c[0] for c in closed),
            "open": statistics.median(o[0] for o in opened),
            "ratio": statistics.median(wall), "cpu_ratio": statistics.median(cpu)}


def first_rows(processes: int) -> dict[str, float]:
    out: dict[str, float] = {}
    with beamlet.ThreadedNode() as node:
        t0 = time.perf_counter()
        node.call(spawn_parked, processes)
        out["spawn"] = time.perf_counter() - t0
        board = node.call(open_board)
        if os.path.exists("/usr/bin/chromium"):
            for label, fragment in [("browser, the page as it opens", ""),
                                    ("browser, by message queue",
                                     "?sort=message_queue_len&desc=1")]:
                out[label] = browser_first_rows(board.url, fragment)
        for label, query in [("pid order", "sort=pid"),
                             ("by message queue, ascending", "sort=message_queue_len"),
                             ("by reductions", "sort=reductions&desc=1"),
                             ("by memory", "sort=memory&desc=1"),
                             ("filtered", "sort=pid&filter=parked")]:
            t0 = time.perf_counter()
            with urllib.request.urlopen(f"{board.url}api/processes?{query}&size=50") as r:
                r.read()
            out[label] = time.perf_counter() - t0
    return out


def browser_first_rows(url: str, fragment: str) -> float:
    """Seconds from navigating to the processes page to its first row on screen."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        try:
            page = chromium.new_page()
            page.goto(url)
            page.wait_for_selector("#node-name:not(:empty)")
            t0 = time.perf_counter()
            page.goto(f"{url}#/processes{fragment}")
            page.wait_for_selector("#proc-table tbody tr.proc-row")
            return time.perf_counter() - t0
        finally:
            chromium.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run (100k processes)")
    parser.add_argument("--processes", type=int, action="append",
                        help="idle processes beside the ping-pong pair (repeatable)")
    parser.add_argument("--rounds", type=int, default=10, help="open/closed pairs")
    parser.add_argument("workloads", nargs="*", default=["cost", "first-rows"])
    args = parser.parse_args()
    big = 100_000 if args.quick else 1_000_000
    window = 1.0
    if "cost" in args.workloads:
        for n in args.processes or [0, big]:
            r = cost(n, 3 if args.quick else args.rounds, window)
            print(f"ping-pong with {n:,} idle processes: closed {r['closed']:,.0f}/s, page open "
                  f"{r['open']:,.0f}/s; open/closed, median of pairs: wall {r['ratio']:.3f}, "
                  f"per CPU second {r['cpu_ratio']:.3f} (goal >= 0.95)", flush=True)
    if "first-rows" in args.workloads:
        r = first_rows(big)
        print(f"first rows of the processes page with {big:,} processes "
              f"(spawned in {r.pop('spawn'):.1f} s; goal <= 1 s):", flush=True)
        for label, seconds in r.items():
            print(f"  {label:<28} {seconds * 1000:7.0f} ms", flush=True)


if __name__ == "__main__":
    sys.exit(main())
