"""Process.info: look inside a running process (seed: "Process Info and Debugging").

    python examples/inspection.py
"""

import beamlet
from beamlet import Process, receive, send, sleep, spawn


async def holder():
    data = list(range(1, 1001))  # some state
    while True:
        if await receive() == "stop":
            return len(data)


async def main():
    pid = spawn(holder)
    await sleep(0.1)
    info = Process.info(pid)
    print(f"Process: {pid}")
    print(f"Status: {info['status']}")
    print(f"Memory: {info['memory']} bytes")
    print(f"Message queue length: {info['message_queue_len']}")
    print(f"Reductions: {info['reductions']}")
    print(f"Current function: {info['current_function']}")
    for m in ("msg1", "msg2", "msg3"):
        send(pid, m)
    print("\nAfter sending messages:")
    print(f"Message queue length: {Process.info(pid, 'message_queue_len')}")
    print(f"\nTotal processes in system: {len(Process.list())}")
    send(pid, "stop")


if __name__ == "__main__":
    beamlet.run(main)
