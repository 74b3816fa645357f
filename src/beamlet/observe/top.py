"""`python -m beamlet top TARGET`: the processes view in a terminal, like observer_cli.

TARGET is either a node's dashboard (``beamlet.run(..., dashboard=PORT)`` or
`beamlet.observe.start_dashboard`) by its address: ``http://127.0.0.1:8080``,
``127.0.0.1:8080`` or just ``8080``; or a node by name (``name@host``, with ``--cookie``,
default ``~/.erlang.cookie``), beamlet or Erlang: `top` then runs a hidden beamlet node of its
own on a thread and reads the other node by rpc, as the dashboard's nodes view does. Every
refresh it reads the overview and one page of processes (a beamlet node sorts on its side, so
the terminal never holds the process table), and redraws the screen. Keys: ``r`` reductions,
``m`` memory, ``l`` message queue length, ``p`` pid, ``n`` name (pressing the current key again
flips the order), ``+``/``-`` refresh faster/slower, ``q`` quit.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import select
import shutil
import sys
import termios
import threading
import tty
import urllib.error
import urllib.parse
import urllib.request
from functools import partial
from typing import Any, TextIO

SORT_KEYS = {"r": "reductions", "m": "memory", "l": "message_queue_len", "p": "pid",
             "n": "name"}
_HEADER_LINES = 5
_FETCH_TIMEOUT = 10.0
_CONNECT_TIMEOUT = 30.0


def base_url(target: str) -> str:
    """The dashboard address for ``target`` (a URL, ``host:port`` or a port number)."""
    if target.isdigit():
        return f"http://127.0.0.1:{target}"
    if "://" not in target:
        target = f"http://{target}"
    return target.rstrip("/")


def fetch(url: str) -> Any:
    """GET ``url`` and decode its JSON."""
    with urllib.request.urlopen(url, timeout=_FETCH_TIMEOUT) as resp:
        return json.loads(resp.read().decode())


class HttpSource:
    """A node's views read from its dashboard."""

    def __init__(self, url: str) -> None:
        self.url = url

    def overview(self) -> Any:
        return fetch(f"{self.url}/api/overview")

    def page(self, sort: str, desc: bool, size: int) -> Any:
        query = urllib.parse.urlencode({"sort": sort, "desc": "1" if desc else "0",
                                        "size": size})
        return fetch(f"{self.url}/api/processes?{query}")

    def close(self) -> None:
        pass


class NodeSource:
    """A node's views read by rpc, from a hidden beamlet node of our own on a thread.

    The terminal's thread asks the node's first process by message (handed in to the node's
    owner thread) and waits on a future the process completes."""

    def __init__(self, target: str, cookie: str | None, epmd_port: int | None) -> None:
        self.target = target
        self.cookie = cookie
        self.epmd_port = epmd_port
        self.ready: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self.thread = threading.Thread(target=self._run, name="beamlet-top-node", daemon=True)
        self.pid: Any = None

    def start(self) -> NodeSource:
        self.thread.start()
        self.pid = self.ready.result(_CONNECT_TIMEOUT)
        return self

    def _run(self) -> None:
        import beamlet

        try:
            beamlet.run(self._main, name=f"beamlet_top_{os.getpid()}", cookie=self.cookie,
                        epmd_port=self.epmd_port, hidden=True)
        except BaseException as e:  # noqa: BLE001 - reported to the terminal's thread
            if not self.ready.done():
                self.ready.set_exception(e)

    async def _main(self) -> None:
        from beamlet import Node, receive, self_pid

        from .collector import Collector, remote_answer

        if not await Node.connect(self.target):
            self.ready.set_exception(ConnectionError(
                f"cannot connect to {self.target} (is it up? the same cookie?)"))
            return
        collector = Collector()
        self.ready.set_result(self_pid())
        while True:
            msg = await receive()
            if msg == "stop":
                return
            op, args, answer = msg
            try:
                answer.set_result(await remote_answer(collector, self.target, op, args))
            except Exception as e:  # noqa: BLE001 - shown on the screen
                answer.set_exception(e)

    def ask(self, op: str, args: dict[str, Any]) -> Any:
        from beamlet.kernel import scheduler

        answer: concurrent.futures.Future[Any] = concurrent.futures.Future()
        scheduler.hand_in(partial(scheduler.send_from_outside, self.pid, (op, args, answer)))
        return answer.result(_FETCH_TIMEOUT)

    def overview(self) -> Any:
        return self.ask("overview", {})

    def page(self, sort: str, desc: bool, size: int) -> Any:
        return self.ask("processes", {"sort": sort, "desc": desc, "size": size})

    def close(self) -> None:
        from beamlet.kernel import scheduler

        if self.pid is not None and self.thread.is_alive():
            scheduler.hand_in(partial(scheduler.send_from_outside, self.pid, "stop"))
        self.thread.join(_CONNECT_TIMEOUT)


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
        f"messages/s {overview.get('messages_per_s', 0):,.0f}  memory {_size(overview['rss'])}",
        f"run queues {queues}  queued messages {overview['messages_queued']:,}  "
        f"hand-offs {'-' if overview['handoffs'] is None else overview['handoffs']}",
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

    def __init__(self, source: HttpSource | NodeSource, sort: str, interval: float,
                 out: TextIO) -> None:
        self.source = source
        self.sort = sort
        self.desc = sort not in ("pid", "name")
        self.interval = interval
        self.out = out

    def draw(self) -> None:
        cols, rows = shutil.get_terminal_size((120, 30))
        try:
            overview = self.source.overview()
            page = self.source.page(self.sort, self.desc, max(1, rows - _HEADER_LINES - 1))
            lines = render(overview, page, cols)
        except Exception as e:  # noqa: BLE001 - the screen says what went wrong, and goes on
            lines = [f"cannot read the node: {e}", "", "q quit"]
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
                                     description="The processes of a node, live.")
    parser.add_argument("target", help="a node's dashboard (http://host:port, host:port or a "
                                       "port on 127.0.0.1) or a node's name (name@host)")
    parser.add_argument("--sort", choices=sorted(SORT_KEYS.values()), default="reductions")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between refreshes")
    parser.add_argument("--cookie", help="the cookie of a node given by name "
                                         "(default: ~/.erlang.cookie)")
    parser.add_argument("--epmd-port", type=int, help="EPMD's port (default: ERL_EPMD_PORT "
                                                      "or 4369)")
    args = parser.parse_args(argv)
    source: HttpSource | NodeSource
    if "@" in args.target and "://" not in args.target:
        try:
            source = NodeSource(args.target, args.cookie, args.epmd_port).start()
        except Exception as e:  # noqa: BLE001 - a command-line error, not a traceback
            print(f"beamlet top: {e}", file=sys.stderr)
            return 1
    else:
        source = HttpSource(base_url(args.target))
    try:
        Top(source, args.sort, args.interval, sys.stdout).run(sys.stdin)
    except KeyboardInterrupt:
        pass
    finally:
        source.close()
    return 0
