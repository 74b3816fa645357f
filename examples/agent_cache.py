"""An Agent as a named cache, and the GenServer rate limiter of the concurrency guide
(seed: "Agent for Simple State", "Process-Based Rate Limiter").

    python examples/agent_cache.py
"""

import beamlet
from beamlet import Agent, GenServer, Process


class RateLimiter(GenServer):
    """At most ``max_per_second`` calls per key and second; the counts reset every second
    (every 0.1 s here, to keep the example quick)."""

    PERIOD = 0.1

    @classmethod
    async def start(cls, max_per_second=10):
        return await cls.start_link(max_per_second, name="rate_limiter")

    @staticmethod
    async def allow(key):
        return await GenServer.call("rate_limiter", ("check", key))

    def init(self, max_per_second):
        Process.send_after(beamlet.self_pid(), "reset", self.PERIOD)
        return ("ok", {"max": max_per_second, "counts": {}})

    def handle_call(self, request, from_, state):
        _, key = request
        current = state["counts"].get(key, 0)
        if current < state["max"]:
            state["counts"][key] = current + 1
            return ("reply", True, state)
        return ("reply", False, state)

    def handle_info(self, msg, state):
        Process.send_after(beamlet.self_pid(), "reset", self.PERIOD)
        return ("noreply", {**state, "counts": {}})


async def main():
    await Agent.start_link(dict, name="cache")
    await Agent.update("cache", lambda m: {**m, "key": "value"})
    print(f"Cached: {await Agent.get('cache', lambda m: m.get('key'))!r}")
    old = await Agent.get_and_update("cache", lambda m: (m.get("key"), {**m, "key": "new"}))
    print(f"Replaced {old!r} with {await Agent.get('cache', lambda m: m['key'])!r}")

    await RateLimiter.start(max_per_second=3)
    print(f"user1, 5 calls: {[await RateLimiter.allow('user1') for _ in range(5)]}")
    print(f"user2, 1 call: {[await RateLimiter.allow('user2')]}")
    await beamlet.sleep(RateLimiter.PERIOD * 1.5)
    print(f"user1 after the reset: {await RateLimiter.allow('user1')}")


if __name__ == "__main__":
    beamlet.run(main)
