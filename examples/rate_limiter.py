"""A token-bucket rate limiter as a process (seed: "Real-World Pattern: Rate Limiter").

Time runs ten times faster than in the seed (refill every 0.1 s instead of every second).

    python examples/rate_limiter.py
"""

import beamlet
from beamlet import ANY, Process, make_ref, receive, self_pid, send, sleep, spawn_link


def start_link(max_tokens=10, refill_rate=1, refill_interval=0.1):
    async def loop():
        tokens = max_tokens
        Process.send_after(self_pid(), "refill", refill_interval)
        while True:
            match await receive():
                case ("check", caller, ref):
                    if tokens > 0:
                        tokens -= 1
                        send(caller, ("ok", ref))
                    else:
                        send(caller, ("error", "rate_limited", ref))
                case "refill":
                    tokens = min(tokens + refill_rate, max_tokens)
                    Process.send_after(self_pid(), "refill", refill_interval)
                case ("status", caller, ref):
                    send(caller, ("status", ref, (tokens, max_tokens)))
                case "stop":
                    return

    return ("ok", spawn_link(loop))


async def check(limiter):
    ref = make_ref()
    send(limiter, ("check", self_pid(), ref))
    match await receive(("ok", ref), ("error", "rate_limited", ref), timeout=1, default=None):
        case ("ok", _):
            return "ok"
        case ("error", "rate_limited", _):
            return ("error", "rate_limited")
        case None:
            return ("error", "timeout")


async def status(limiter):
    ref = make_ref()
    send(limiter, ("status", self_pid(), ref))
    _, _, s = await receive(("status", ref, ANY), timeout=1)
    return s


async def main():
    _, limiter = start_link(max_tokens=5, refill_rate=2, refill_interval=0.1)
    print(f"Initial status: {await status(limiter)}")
    print("\nMaking 10 rapid requests:")
    results = []
    for i in range(1, 11):
        result = await check(limiter)
        print(f"  Request {i}: {result!r}")
        results.append(result)
    print(f"\nAllowed: {results.count('ok')}, Blocked: {results.count(('error', 'rate_limited'))}")
    print("\nWaiting for two refills...")
    # Look every 20 ms rather than sleep a fixed 0.25 s: on a loaded machine the refills may
    # come late, and the bucket gets 2 tokens per refill (0 -> 2 -> 4).
    tokens = await status(limiter)
    for _ in range(100):
        if tokens[0] >= 4:
            break
        await sleep(0.02)
        tokens = await status(limiter)
    print(f"Status after refill: {tokens}")
    print("\nMaking 3 more requests:")
    for i in range(1, 4):
        print(f"  Request {i}: {await check(limiter)!r}")
    send(limiter, "stop")


if __name__ == "__main__":
    beamlet.run(main)
