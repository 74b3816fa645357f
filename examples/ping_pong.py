"""Two processes play ping-pong n times, with the bonus: timeouts so that neither waits forever
if the other dies (seed: "Practice: Ping-Pong Processes").

    python examples/ping_pong.py [n]
"""

import sys

import beamlet
from beamlet import ANY, Down, monitor, receive, self_pid, send, spawn


async def pong_loop(n):
    for _ in range(n):
        match await receive(("ping", ANY), timeout=0.2, default="timeout"):
            case ("ping", sender):
                print("Got ping!")
                send(sender, ("pong", self_pid()))
            case "timeout":
                print("pong: no ping for 0.2 s, giving up")
                return


async def ping_loop(pong_pid, remaining):
    while remaining:
        send(pong_pid, ("ping", self_pid()))
        match await receive(("pong", ANY), timeout=0.2, default="timeout"):
            case ("pong", _):
                remaining -= 1
                print(f"Got pong! {remaining} remaining")
            case "timeout":
                print("ping: no pong for 0.2 s, giving up")
                return
    print("Ping done!")


async def main(n):
    pong = spawn(pong_loop, n)
    ping = spawn(ping_loop, pong, n)
    ref = monitor(ping)
    await receive(Down(ref, ping, ANY))

    print("-- and when pong dies mid-game:")
    pong = spawn(pong_loop, 1)  # answers once, then is gone
    ping = spawn(ping_loop, pong, 2)
    ref = monitor(ping)
    await receive(Down(ref, ping, ANY))


if __name__ == "__main__":
    beamlet.run(main, int(sys.argv[1]) if len(sys.argv) > 1 else 3)
