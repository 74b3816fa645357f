"""A worker pool: a manager process hands jobs to a fixed set of workers and queues the rest
(seed: "Building a Worker Pool"). Job times are fixed rather than random.

    python examples/worker_pool.py
"""

from collections import deque

import beamlet
from beamlet import ANY, make_ref, receive, self_pid, send, sleep, spawn, spawn_link

JOB_TIME = {"double": 0.02, "square": 0.03, "slow_add": 0.1}


async def process_job(job):
    match job:
        case ("double", n):
            await sleep(JOB_TIME["double"])
            return ("ok", n * 2)
        case ("square", n):
            await sleep(JOB_TIME["square"])
            return ("ok", n * n)
        case ("slow_add", a, b):
            await sleep(JOB_TIME["slow_add"])
            return ("ok", a + b)
        case _:
            return ("error", ("unknown_job", job))


async def worker_loop(wid):
    while True:
        match await receive():
            case ("job", job, pool, ref):
                result = await process_job(job)
                send(pool, ("done", self_pid(), ref, result))
            case "stop":
                print(f"Worker {wid} stopping")
                return


async def start_pool(num_workers):
    print(f"Starting pool with {num_workers} workers...")
    available = [spawn_link(worker_loop, i) for i in range(1, num_workers + 1)]
    queue = deque()
    pending = {}
    while True:
        match await receive():
            case ("submit", job, caller, ref):
                if available:
                    send(available.pop(0), ("job", job, self_pid(), ref))
                    pending[ref] = caller
                else:
                    queue.append((job, caller, ref))
            case ("done", worker, ref, result):
                send(pending.pop(ref), ("result", ref, result))
                if queue:
                    job, caller, ref2 = queue.popleft()
                    send(worker, ("job", job, self_pid(), ref2))
                    pending[ref2] = caller
                else:
                    available.append(worker)
            case ("status", caller):
                send(caller, ("status", len(available), len(queue), len(pending)))
            case "stop":
                print("Pool shutting down...")
                for w in available:
                    send(w, "stop")
                return


def submit(pool, job):
    ref = make_ref()
    send(pool, ("submit", job, self_pid(), ref))
    return ref


async def await_result(ref, timeout=5):
    _, _, result = await receive(("result", ref, ANY), timeout=timeout,
                                 default=(None, None, ("error", "timeout")))
    return result


async def main():
    pool = spawn(start_pool, 3)
    jobs = [("double", 5), ("square", 4), ("double", 10), ("slow_add", 1, 2), ("square", 7),
            ("double", 3)]
    print(f"Submitting {len(jobs)} jobs to 3 workers...")
    refs = [(job, submit(pool, job)) for job in jobs]
    send(pool, ("status", self_pid()))
    _, available, queued, running = await receive(("status", ANY, ANY, ANY))
    print(f"Pool status: {available} available workers, {queued} queued jobs, "
          f"{running} running")
    for job, ref in refs:
        print(f"{job} -> {await await_result(ref)}")
    send(pool, ("submit", ("cube", 2), self_pid(), ref := make_ref()))
    print(f"('cube', 2) -> {await await_result(ref)}")
    m = beamlet.monitor(pool)
    send(pool, "stop")
    await receive(beamlet.Down(m, pool, ANY))


if __name__ == "__main__":
    beamlet.run(main)
