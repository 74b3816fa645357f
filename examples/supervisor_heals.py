"""Self-healing: a supervisor restarts the counter we kill (seed: "Supervisors").

    python examples/supervisor_heals.py
"""

import logging

import beamlet
from beamlet import Process, Supervisor

from global_counter import GlobalCounter


class MySystem(Supervisor):
    @classmethod
    async def start(cls):
        return await cls.start_link(None, name="my_supervisor")

    def init(self, _arg):
        children = [
            {"id": "counter", "start": (GlobalCounter.start, (0,))},
        ]
        return Supervisor.init(children, strategy="one_for_one")


async def main():
    await MySystem.start()
    print(f"Initial Value: {await GlobalCounter.get_value()}")
    GlobalCounter.increment()
    print(f"After one increment: {await GlobalCounter.get_value()}")

    pid = Process.whereis("my_counter")
    print(f"Counter PID before crash: {pid}")
    Process.exit(pid, "kill")  # brute force

    # The supervisor restarts it as soon as it hears of the death.
    while (new_pid := Process.whereis("my_counter")) in (None, pid):
        await beamlet.sleep(0.001)
    print(f"Counter PID after crash: {new_pid}")
    print(f"A fresh counter, back online: {await GlobalCounter.get_value()}")


if __name__ == "__main__":
    logging.getLogger("beamlet").setLevel(logging.CRITICAL)
    beamlet.run(main)
