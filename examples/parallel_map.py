"""Parallel map with backpressure, and supervised tasks (seed: "Parallel Map with
Backpressure", "Task.Supervisor for Fault-Tolerant Concurrency").

    python examples/parallel_map.py
"""

import logging

import beamlet
from beamlet import Supervisor, Task, TaskSupervisor, schedulers_online, sleep


async def parallel_map(collection, fun, max_concurrency=None, timeout=30.0):
    """Map over a collection with bounded concurrency, results in order."""
    return [result async for _, result in Task.async_stream(
        collection, fun, max_concurrency=max_concurrency or schedulers_online(),
        timeout=timeout, ordered=True)]


async def fetch_profile(user_id):
    await sleep(0.001 * (user_id % 3))
    return {"id": user_id, "name": f"user{user_id}"}


async def process_item(x):
    if x == 3:
        raise ValueError("bad item 3")
    await sleep(0.001 * (5 - x))
    return x * 10


async def main():
    profiles = await parallel_map(range(1, 21), fetch_profile, max_concurrency=20)
    print(f"Fetched {len(profiles)} profiles, first: {profiles[0]}")

    # Supervised tasks: in the tree, and a crash of one is not a crash of the caller.
    await Supervisor.start_link([{"id": "tasks", "start": (TaskSupervisor.start_link, (),
                                                           {"name": "task_sup"})}])
    report = await Task.await_(await TaskSupervisor.async_("task_sup", lambda: "report ready"))
    print(f"Supervised async: {report}")
    results = []
    async for item in TaskSupervisor.async_stream_nolink("task_sup", range(1, 6), process_item,
                                                         max_concurrency=10, ordered=False):
        match item:
            case ("ok", result):
                results.append(result)
            case ("exit", reason):
                print(f"Task failed: {reason!r}")
    print(f"Results, as they completed: {sorted(results)}")


if __name__ == "__main__":
    logging.getLogger("beamlet").setLevel(logging.CRITICAL)
    beamlet.run(main)
