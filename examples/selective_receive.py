"""What a selective receive costs (seed: "Selective Receive Optimization").

A receive that matches nothing in a 10,000-message mailbox must look at all of them; taking the
first message is immediate. And a reply tagged with a fresh ref is found in O(1) however long
the backlog: beamlet skips the messages that were there before the ref was made.

    python examples/selective_receive.py
"""

import time

import beamlet
from beamlet import ANY, make_ref, receive, self_pid, send, spawn


async def echo():
    while True:
        sender, ref = await receive()
        send(sender, ("reply", ref))


async def main():
    me = self_pid()
    for i in range(10_000):
        send(me, ("ignored", i))
    t = time.perf_counter()
    r = await receive(("target", ANY), timeout=0, default="not_found")
    scan_us = (time.perf_counter() - t) * 1e6
    print(f"Bad selective receive ({r}) took: {scan_us:.0f} microseconds")

    t = time.perf_counter()
    await receive(("ignored", ANY), timeout=0)
    first_us = (time.perf_counter() - t) * 1e6
    print(f"Good in-order receive took: {first_us:.0f} microseconds")

    e = spawn(echo)
    t = time.perf_counter()
    ref = make_ref()
    send(e, (me, ref))
    await receive(("reply", ref))
    print(f"Reply to a fresh ref past 9,999 queued messages took: "
          f"{(time.perf_counter() - t) * 1e6:.0f} microseconds")
    print(f"Scanning is slower than taking the first: {scan_us > first_us}")


if __name__ == "__main__":
    beamlet.run(main)
