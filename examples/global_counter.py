"""The global counter GenServer (seed: "a GenServer is a professional Secret Agent").

    python examples/global_counter.py
"""

import beamlet
from beamlet import GenServer


class GlobalCounter(GenServer):
    """A counter known by name: nobody needs its pid to talk to it."""

    @classmethod
    async def start(cls, initial):
        return await cls.start_link(initial, name="my_counter")

    @staticmethod
    def increment():
        return GenServer.cast("my_counter", "inc")

    @staticmethod
    async def get_value():
        return await GenServer.call("my_counter", "get")

    def init(self, count):
        return ("ok", count)

    def handle_cast(self, request, count):
        return ("noreply", count + 1)  # the NEW state

    def handle_call(self, request, from_, count):
        return ("reply", count, count)  # (reply, answer, new state)


async def main():
    await GlobalCounter.start(10)
    GlobalCounter.increment()
    GlobalCounter.increment()
    print(f"The count is: {await GlobalCounter.get_value()}")


if __name__ == "__main__":
    beamlet.run(main)
