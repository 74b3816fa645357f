"""Watching a mailbox grow and drain: a slow consumer under a flood
(seed: "Message Queue Buildup"). In production you would watch `message_queue_len` the same
way, from outside the process, and alert when it keeps growing.

    python examples/queue_buildup.py
"""

import beamlet
from beamlet import Process, receive, sleep, spawn


async def slow_consumer():
    while True:
        await receive()
        await sleep(0.01)  # slow processing: 10 ms a message


async def main():
    consumer = spawn(slow_consumer)
    for i in range(1, 101):
        beamlet.send(consumer, ("work", i))
    seen = []
    for _ in range(5):
        n = Process.info(consumer, "message_queue_len")
        seen.append(n)
        print(f"Queue length: {n}")
        await sleep(0.05)
    print(f"The queue drains: {all(a > b for a, b in zip(seen, seen[1:]))}")


if __name__ == "__main__":
    beamlet.run(main)
