"""Tasks (seed: "The Task Module"): async/await, a parallel fetch, async_stream with a bound on
concurrency, non-blocking yield, fire-and-forget, and the bounded-concurrency pattern.

Time runs ten times faster than in the seed, and the "random" latencies are fixed so that the
output is the same every run.

    python examples/tasks.py
"""

import time

import beamlet
from beamlet import Task, self_pid, sleep


async def basic_async():
    print("-- async / await")

    async def work():
        print(f"Task running in {self_pid()}")
        await sleep(0.1)
        return 42

    task = Task.async_(work)
    print("Task created (owner, pid, ref)")
    print("Doing other work while task runs...")
    await sleep(0.05)
    print("Still doing other work...")
    print(f"Task result: {await task}")


async def fetch(source, delay_ms):
    await sleep(delay_ms / 1000)
    return ("ok", source, f"Data from {source}", delay_ms)


async def parallel_fetch():
    print("\n-- parallel fetch")
    sources = [("database", 23), ("cache", 56), ("api", 12), ("file", 89), ("queue", 45)]
    print("Starting parallel fetch...")
    t0 = time.perf_counter()
    tasks = [Task.async_(fetch, s, d) for s, d in sources]
    results = await Task.await_many(tasks)
    total = (time.perf_counter() - t0) * 1000
    print("Results:")
    for _, source, data, delay in results:
        print(f"  {source}: {data} (took {delay}ms)")
    sequential = sum(d for *_, d in results)
    print(f"Faster than one after the other ({sequential}ms): {total < sequential}")


async def process_item(item):
    await sleep(0.005 * (item % 4 + 1))
    return item * 2


async def batch_processor():
    print("\n-- async_stream")
    items = list(range(1, 11))
    print(f"Processing {len(items)} items concurrently...")
    results = [r async for _, r in Task.async_stream(items, process_item, max_concurrency=4,
                                                      timeout=10)]
    print(f"Results: {results}")


async def non_blocking():
    print("\n-- yield")

    async def slow():
        await sleep(0.2)
        return "completed"

    task = Task.async_(slow)
    print("Checking task (non-blocking)...")
    for label in ("after 50ms", "after 100ms total"):
        match await Task.yield_(task, 0.05):
            case None:
                print(f"Task still running {label}")
            case ("ok", result):
                print(f"Task completed: {result}")
    print(f"Final result: {await Task.await_(task)}")


async def fire_and_forget():
    print("\n-- fire and forget")

    async def job():
        print("Background job starting...")
        await sleep(0.1)
        print("Background job finished!")

    Task.start(job)
    await beamlet.yield_turn()
    print("Main process continues immediately")
    await sleep(0.15)
    print("Main process done")


async def bounded_concurrency():
    print("\n-- bounded concurrency")

    async def processor(x):
        if x % 5 == 0:
            await sleep(1)  # too slow: killed at the timeout
        return x * x

    successes, failures = [], []
    async for item in Task.async_stream(range(1, 11), processor, max_concurrency=3,
                                        timeout=0.1, on_timeout="kill_task"):
        match item:
            case ("ok", result):
                successes.append(result)
            case ("exit", reason):
                failures.append(reason)
    print(f"Successes: {successes}")
    print(f"Failures: {failures}")


async def main():
    await basic_async()
    await parallel_fetch()
    await batch_processor()
    await non_blocking()
    await fire_and_forget()
    await bounded_concurrency()


if __name__ == "__main__":
    beamlet.run(main)
