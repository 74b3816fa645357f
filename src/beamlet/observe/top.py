"""`python -m beamlet top TARGET`: the processes view in a terminal, like observer_cli.

It attaches to a node's dashboard (``beamlet.run(..., dashboard=PORT)`` or
`beamlet.observe.start_dashboard`) by its address: ``http://127.0.0.1:8080``,
``127.0.0.1:8080`` or just ``8080``. Every refresh it reads ``/api/overview`` and one page of
``/api/processes`` (the collector sorts on the node, so the terminal never holds the process
table), and redraws the screen. Keys: ``r`` reductions, ``m`` memory, ``l`` message queue
length, ``p`` pid, ``n`` name (pressing the current key again flips the order), ``+``/``-``
refresh faster/slower, ``q`` quit.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import shutil
import sys
import termios
import tty
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, TextIO

SORT_KEYS = {"r": "reductions", "m": "memory", "l": "message_queue_len", "p": "pid",
             "n": "name"}
_HEADER_LINES = 5
_FETCH_TIMEOUT = 10.0


def base_url(target: str) -> str:
    """The dashboard address for ``target`` (a URL, ``host:port`` or a port number)."""
    if target.isdigit():
        return f"http://127.0.0.1:{target}"
    if "://" not in target:
        if "@" in target:
            raise ValueError(
                f"{target!r} is a node name: attaching by name and cookie needs the "
                "distribution's rpc, which beamlet top does not use yet; give the address of "
                "the node's dashboard instead (host:port)")
        target = f"http://{target}"
    return target.rstrip("/")


def fetch(url: str) -> Any:
    """GET ``url`` and decode its JSON."""
    with urllib.request.urlopen(url, timeout=_FETCH_TIMEOUT) as resp:
        return json.loads(resp.read().decode())


def _size(n: float) -> str:
    for unit in ("B", "K", "M", "G"):
        if n < 1024 or unit == "G":
            return f"{n:.0f}{unit}" if unit == "B" else f"{n:.1f}{unit}"
        n /= 1024
    return f"{n:.1f}G"


def render(overview: dict[str, Any], page: dict[str, Any], width: int) -> list[str]:
    """The screen's lines for one overview and one page of processes."""
    queues = " ".join(f"{k}:{v}" for k, v in overview["run_queue"].items())
    order = "desc" if page["desc"] else "asc"
    lines = [
        f"node {overview['node']}  uptime {overview['uptime']:.0f}s  processes "
        f"{overview['processes']:,}  reductions/s {overview['reductions_per_s']:,.0f}  "
        f"memory {_size(overview['rss'])}",
        f"run queues {queues}  queued messages {overview['messages_queued']:,}  "
        f"hand-offs {overview['handoffs']}",
        f"sort: {page['sort']} ({order})   keys: r reductions  m memory  l queue  p pid  "
        "n name  +/- refresh  q quit",
        "",
        f"{'PID':<14}{'NAME / INITIAL CALL':<40}{'REDUCTIONS':>12}{'MEMORY':>9}{'MSGQ':>9}"
        f"  {'STATUS':<9}CURRENT FUNCTION",
    ]
    for r in page["rows"]:
        name = r["name"] or r["initial_call"]
        lines.append(f"{r['text']:<14}{name[:39]:<40}{r['reductions']:>12,}"
                     f"{_size(r['memory']):>9}{r['message_queue_len']:>9,}  {r['status']:<9}"
                     f"{r['current_function'] or ''}")
    return [line[:width] for line in lines]


class Top:
    """The terminal loop: fetch, draw, wait for a key or the next refresh."""

    def __init__(self, url: str, sort: str, interval: float, out: TextIO) -> None:
        self.url = url
        self.sort = sort
        self.desc = sort not in ("pid", "name")
        self.interval = interval
        self.out = out

    def draw(self) -> None:
        cols, rows = shutil.get_terminal_size((120, 30))
        query = urllib.parse.urlencode({"sort": self.sort, "desc": "1" if self.desc else "0",
                                        "size": max(1, rows - _HEADER_LINES - 1)})
        try:
            overview = fetch(f"{self.url}/api/overview")
            page = fetch(f"{self.url}/api/processes?{query}")
            lines = render(overview, page, cols)
        except (OSError, urllib.error.URLError, ValueError, KeyError) as e:
            lines = [f"cannot read {self.url}: {e}", "", "q quit"]
        self.out.write("\x1b[H\x1b[2J" + "\n".join(lines) + "\n")
        self.out.flush()

    def key(self, ch: str) -> bool:
        """Act on one key; False to quit."""
        if ch in ("q", "\x03", "\x04"):
            return False
        if ch in SORT_KEYS:
            chosen = SORT_KEYS[ch]
            self.desc = (not self.desc) if chosen == self.sort else chosen not in ("pid", "name")
            self.sort = chosen
        elif ch == "+":
            self.interval = max(0.2, self.interval / 2)
        elif ch == "-":
            self.interval = min(60.0, self.interval * 2)
        return True

    def run(self, keys: TextIO) -> None:
        fd = keys.fileno()
        saved = termios.tcgetattr(fd) if os.isatty(fd) else None
        if saved is not None:
            tty.setcbreak(fd)
        try:
            while True:
                self.draw()
                ready, _, _ = select.select([fd], [], [], self.interval)
                if ready:
                    data = os.read(fd, 32).decode(errors="replace")
                    if not data or not all(self.key(ch) for ch in data):
                        return
        finally:
            if saved is not None:
                termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def main(argv: list[str] | None = None) -> int:
    """``beamlet top``'s command line."""
    parser = argparse.ArgumentParser(prog="python -m beamlet top",
                                     description="The processes of a beamlet node, live.")
    parser.add_argument("target", help="the node's dashboard: http://host:port, host:port or "
                                       "a port on 127.0.0.1")
    parser.add_argument("--sort", choices=sorted(SORT_KEYS.values()), default="reductions")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between refreshes")
    args = parser.parse_args(argv)
    try:
        url = base_url(args.target)
    except ValueError as e:
        parser.error(str(e))
    try:
        Top(url, args.sort, args.interval, sys.stdout).run(sys.stdin)
    except KeyboardInterrupt:
        pass
    return 0
