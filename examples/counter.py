"""A stateful process: the counter loop (seed: "Building a Stateful Process with Recursion").

The state lives in a local variable of a loop; requests arrive as messages.

    python examples/counter.py
"""

import beamlet
from beamlet import ANY, Down, monitor, receive, self_pid, send, spawn


async def counter(count):
    while True:
        match await receive():
            case ("increment", amount):
                count += amount
            case ("get", caller):
                send(caller, ("count", count))
            case "stop":
                print(f"Counter stopped at {count}")
                return


async def main():
    pid = spawn(counter, 0)
    send(pid, ("increment", 5))
    send(pid, ("increment", 3))
    send(pid, ("get", self_pid()))
    _, n = await receive(("count", int))
    print(n)
    ref = monitor(pid)
    send(pid, "stop")
    await receive(Down(ref, pid, ANY))


if __name__ == "__main__":
    beamlet.run(main)
