"""GenServer.call round trips and Agent.get calls per second, from one client process.

    python bench/otp/otp_bench.py [N]
"""

import sys
import time

import beamlet
from beamlet import Agent, GenServer

N = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000


class Echo(GenServer):
    def handle_call(self, request, from_, state):
        return ("reply", request, state)


async def main():
    _, pid = await GenServer.start_link(Echo, None)
    call = GenServer.call
    for i in range(1000):
        await call(pid, i)
    t = time.perf_counter()
    for i in range(N):
        await call(pid, i)
    calls = N / (time.perf_counter() - t)

    _, agent = await Agent.start_link(lambda: 42)
    get = Agent.get
    ident = lambda s: s  # noqa: E731
    t = time.perf_counter()
    for _ in range(N):
        await get(agent, ident)
    gets = N / (time.perf_counter() - t)
    return calls, gets


if __name__ == "__main__":
    best = [0.0, 0.0]
    for _ in range(3):
        c, g = beamlet.run(main)
        best = [max(best[0], c), max(best[1], g)]
        print(f"GenServer.call: {c:,.0f}/s   Agent.get: {g:,.0f}/s")
    print(f"best: GenServer.call {best[0]:,.0f}/s, Agent.get {best[1]:,.0f}/s")
