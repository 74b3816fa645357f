"""Registered names: reach a process by name, without passing its pid around
(seed: "Process Registration").

    python examples/registration.py
"""

import beamlet
from beamlet import Process, receive, self_pid, send, spawn


async def counter_loop(count):
    while True:
        match await receive():
            case "increment":
                count += 1
            case "decrement":
                count -= 1
            case ("get", caller):
                send(caller, ("count", count))
            case "stop":
                return


def start_counter():
    pid = spawn(counter_loop, 0)
    Process.register(pid, "counter")
    print("Counter registered as 'counter'")
    return pid


def increment():
    send("counter", "increment")


def decrement():
    send("counter", "decrement")


async def get():
    send("counter", ("get", self_pid()))
    _, n = await receive(("count", int), timeout=1, default=(None, ("error", "timeout")))
    return n


async def main():
    start_counter()
    increment()
    increment()
    increment()
    print(f"Count: {await get()}")
    decrement()
    print(f"Count: {await get()}")
    send("counter", "stop")
    await beamlet.sleep(0.01)
    print(f"Registered after stop: {Process.whereis('counter')}")


if __name__ == "__main__":
    beamlet.run(main)
