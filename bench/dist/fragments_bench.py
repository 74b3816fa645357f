"""What fragmenting costs (`beamlet.dist.fragments`): a 100 MB message split into 64 KiB
fragments and reassembled, the same streamed through an `Outbox`, and the cost per small
message of the header framing every message takes once a connection has DFLAG_FRAGMENTS.

    python bench/dist/fragments_bench.py [--size BYTES] [--rounds N]

The 100 MB figure is the best of ``--rounds`` runs (target: at most 0.2 s). For scale it also
prints one plain copy of the payload, since each of split and reassembly copies the bytes
once (a frame must be one buffer, and so must the message handed to the decoder).
"""

from __future__ import annotations

import argparse
import asyncio
import time
import timeit

from beamlet.dist import etf
from beamlet.dist.fragments import Outbox, Reassembler, pass_through, split, whole

TARGET_SECONDS = 0.2
SENDER = etf.ExtPid("py@vm", 7, 0, 3)
RECEIVER = etf.ExtPid("ex@vm", 42, 0, 5)
CONTROL = etf.encode((22, SENDER, RECEIVER))


def split_and_reassemble(payload: bytes) -> tuple[float, float]:
    """Seconds to split ``payload`` into its frames, then to feed them all back."""
    started = time.perf_counter()
    frames = split(CONTROL, payload, 1)
    split_done = time.perf_counter()
    reassembler = Reassembler()
    message = None
    for frame in frames:
        message = reassembler.feed(frame)
    finished = time.perf_counter()
    assert message is not None and len(message) == len(CONTROL) + len(payload) + 1
    return split_done - started, finished - split_done


def streamed(payload: bytes) -> float:
    """Seconds to take every frame of ``payload`` from an `Outbox` into a `Reassembler`, one
    frame alive at a time as on a connection."""
    started = time.perf_counter()
    outbox, reassembler = Outbox(), Reassembler()
    outbox.put(CONTROL, payload)
    message = None
    while (frame := outbox.next_chunk()) is not None:
        message = reassembler.feed(frame)
    assert message is not None
    return time.perf_counter() - started


def small_message_us() -> dict[str, float]:
    """Microseconds per small message: framing it, and reading the frame back."""
    payload = etf.encode(("hello", 1, b"some bytes"))
    framed, plain = whole(CONTROL, payload), pass_through(CONTROL, payload)
    reassembler, outbox, queue = Reassembler(), Outbox(), asyncio.Queue[bytes]()
    number = 100_000

    def each(fn: object) -> float:
        return min(timeit.repeat(fn, number=number, repeat=5)) / number * 1e6  # type: ignore[arg-type]

    return {
        "pass-through frame (112 + terms), as node.py builds it": each(
            lambda: bytes([112]) + CONTROL + payload),
        "whole() (131, 68, 0 + terms)": each(lambda: whole(CONTROL, payload)),
        "feed() of that frame, back to pass-through form": each(
            lambda: reassembler.feed(framed)),
        "feed() of a pass-through frame (no change)": each(lambda: reassembler.feed(plain)),
        "Outbox put() + next_chunk()": each(lambda: (outbox.put(CONTROL, payload, key=1),
                                                     outbox.next_chunk())),
        "asyncio.Queue put_nowait() + get_nowait() (node.py's today)": each(
            lambda: (queue.put_nowait(plain), queue.get_nowait())),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=100_000_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    payload = etf.encode(bytes(args.size))
    copies = []
    for _ in range(args.rounds):
        started = time.perf_counter()
        copy = bytes(memoryview(payload)[1:])
        copies.append(time.perf_counter() - started)
        del copy
    runs = [split_and_reassemble(payload) for _ in range(args.rounds)]
    best = min(runs, key=sum)
    megabytes = args.size / 1e6
    print(f"payload {megabytes:.0f} MB in 64 KiB fragments, best of {args.rounds}:")
    print(f"  one plain copy of it            {min(copies):.3f} s")
    print(f"  split                           {best[0]:.3f} s")
    print(f"  reassembly                      {best[1]:.3f} s")
    verdict = "ok" if sum(best) <= TARGET_SECONDS else "OVER"
    print(f"  split + reassembly              {sum(best):.3f} s   (target <= {TARGET_SECONDS} s: "
          f"{verdict})")
    through_outbox = min(streamed(payload) for _ in range(args.rounds))
    print(f"  through an Outbox, streamed     {through_outbox:.3f} s")
    print("small message (a 3-tuple payload), per message:")
    for what, micros in small_message_us().items():
        print(f"  {what:<55} {micros:.2f} us")


if __name__ == "__main__":
    main()
