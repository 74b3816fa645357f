"""A main node with peers in an OS process of its own, for the "never left behind" tests.

``python main_node.py CORES [thread]`` runs ``beamlet.run(main, cores=CORES)`` — with
``thread``, a Python thread is alive during the run, so the peers are started as fresh
interpreters instead of forked — prints the peers' OS pids as a JSON list and waits until it
is killed.
"""

from __future__ import annotations

import json
import sys
import threading

import beamlet
from beamlet import receive
from beamlet.dist import peers


async def main() -> None:
    started = peers.current()
    assert started is not None
    print(json.dumps(sorted(started.os_pids().values())), flush=True)
    await receive("never sent")


if __name__ == "__main__":
    cores = int(sys.argv[1])
    if "thread" in sys.argv[2:]:
        release = threading.Event()
        threading.Thread(target=release.wait, daemon=True).start()
    beamlet.run(main, cores=cores)
