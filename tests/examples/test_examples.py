"""Every example runs with `python examples/NAME.py` and prints what the seed shows."""

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_example(name, *args):
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "src"))
    out = subprocess.run([sys.executable, os.path.join(ROOT, "examples", f"{name}.py"), *args],
                         capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr
    return out.stdout


EXPECTED = {
    "calculator": """\
10 + 5 = 15
10 - 5 = 5
10 * 5 = 50
10 / 5 = 2.0
Error: Division by zero
Unknown message: ('unknown_op', 1, 2)
Calculator stopping...
""",
    "kv_store": """\
Stored name => 'Alice'
Stored age => 30
Stored city => 'Portland'
Name: Alice
Age: 30
Keys: ['name', 'age', 'city']
Deleted age
Age after delete: 'not_found'
Store shutting down
""",
    "links_trap_exit": """\
Supervisor started
Spawned worker
Worker started
Process crashed: RuntimeError('Worker crashed!')
Supervisor could restart it here...
Supervisor stopping
""",
    "monitors": """\
Monitoring the worker
Worker running...
Worker crashing!
Worker died with reason: 'boom'
Monitor process still alive: True
Short-lived process running
Process exited with: 'completed'
Demonitored - we will not receive DOWN messages
No DOWN message received (as expected)
""",
    "registration": """\
Counter registered as 'counter'
Count: 3
Count: 2
Registered after stop: None
""",
    "counter": "8\nCounter stopped at 8\n",
    "ping_pong": """\
Got ping!
Got pong! 2 remaining
Got ping!
Got pong! 1 remaining
Got ping!
Got pong! 0 remaining
Ping done!
-- and when pong dies mid-game:
Got ping!
Got pong! 1 remaining
ping: no pong for 0.2 s, giving up
""",
    "secret_agent": """\
Is agent alive? true
Agent received a secret: The eagle has landed.
Agent priority changed to: high
Agent signing off. Over and out.
Is agent alive? false
""",
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_prints_what_the_seed_shows(name):
    assert run_example(name) == EXPECTED[name]


def test_demo_tour_runs_every_part():
    out = run_example("demo", "--processes", "2000")
    for part in ["1. Processes", "Hello from a new process!", "still alive? False",
                 "2. Messages", "The counter says 8", "Counter stopped at 8", "Ping-pong:",
                 "3. Let it crash", "Exit(..., RuntimeError('BOOM!'))", "I am fine",
                 "4. GenServer", "The count is: 12",
                 "5. Supervisor", "is back, at 0",
                 "6. Stress test: 2,000 processes", "2,000 / 2,000", "bytes per live process",
                 "7. Priority stress test", "'Heavy' is running", "alive? False",
                 "8. Every core", "What this run measured", "memory per live process", "Done"]:
        assert part in out, part


def test_inspection_shows_status_queue_and_function():
    out = run_example("inspection")
    assert "Status: waiting" in out
    assert "Current function: ('__main__', 'holder', 0)" in out
    assert "Message queue length: 0" in out and "Message queue length: 3" in out
    assert "Total processes in system: 2" in out


def test_queue_buildup_drains():
    out = run_example("queue_buildup")
    lengths = [int(line.split(": ")[1]) for line in out.splitlines()
               if line.startswith("Queue length")]
    assert len(lengths) == 5 and lengths[0] == 100 and lengths == sorted(lengths, reverse=True)
    assert "The queue drains: True" in out


def test_selective_receive_cost():
    out = run_example("selective_receive")
    assert "Bad selective receive (not_found) took:" in out
    assert "Scanning is slower than taking the first: True" in out


def test_priority_stress_fast_process_finishes_while_heavy_spins():
    out = run_example("priority_stress")
    assert "High Priority task finished in" in out
    assert "Heavy is still running" in out and "Heavy killed: alive? False" in out


def test_stress_test_reports_time_and_memory():
    out = run_example("stress_test", "20000")
    assert "Spawned 20,000 processes in" in out
    assert "bytes per process" in out and "Alive right now: 20,000" in out


def test_simple_supervisor_restarts_within_its_window():
    out = run_example("simple_supervisor")
    assert out.count("[Supervisor] Starting worker...") == 3
    assert out.count("[Supervisor] Worker crashed: RuntimeError('Random failure')") == 2
    assert "[Worker 3] Done!" in out and out.endswith("[Supervisor] Stopping...\n")


def test_rate_limiter_allows_five_then_refills():
    out = run_example("rate_limiter")
    assert "Initial status: (5, 5)" in out
    assert "Allowed: 5, Blocked: 5" in out
    assert "Status after refill: (4, 5)" in out
    assert out.endswith("  Request 1: 'ok'\n  Request 2: 'ok'\n  Request 3: 'ok'\n")


def test_circuit_breaker_opens_and_recovers():
    out = run_example("circuit_breaker")
    assert "[CircuitBreaker] external_api opened after 3 failures" in out
    assert "Call 4: ('error', 'circuit_open'), Status: ('open', 3)" in out
    assert "Call 6: ('ok', 'success'), Status: ('closed', 0)" in out


def test_global_counter_and_supervisor_healing():
    assert run_example("global_counter") == "The count is: 12\n"
    out = run_example("supervisor_heals")
    assert "Initial Value: 0" in out and "After one increment: 1" in out
    before = out.split("Counter PID before crash: ")[1].split("\n")[0]
    after = out.split("Counter PID after crash: ")[1].split("\n")[0]
    assert before != after and "A fresh counter, back online: 0" in out


def test_tasks_example():
    out = run_example("tasks")
    for line in ["Task result: 42", "  database: Data from database (took 23ms)",
                 "Faster than one after the other (225ms): True",
                 "Results: [2, 4, 6, 8, 10, 12, 14, 16, 18, 20]",
                 "Task still running after 50ms", "Task still running after 100ms total",
                 "Final result: completed", "Successes: [1, 4, 9, 16, 36, 49, 64, 81]",
                 "Failures: ['timeout', 'timeout']"]:
        assert line in out, line
    assert out.index("Background job starting...") < out.index(
        "Main process continues immediately") < out.index("Background job finished!") < \
        out.index("Main process done")


def test_worker_pool_example():
    out = run_example("worker_pool")
    assert "Pool status: 0 available workers, 3 queued jobs, 3 running" in out
    for line in ["('double', 5) -> ('ok', 10)", "('square', 4) -> ('ok', 16)",
                 "('slow_add', 1, 2) -> ('ok', 3)", "('square', 7) -> ('ok', 49)",
                 "('cube', 2) -> ('error', ('unknown_job', ('cube', 2)))",
                 "Pool shutting down..."]:
        assert line in out, line
    assert sorted(line for line in out.splitlines() if line.endswith("stopping")) == [
        "Worker 1 stopping", "Worker 2 stopping", "Worker 3 stopping"]


def test_agent_cache_and_genserver_rate_limiter():
    assert run_example("agent_cache") == """\
Cached: 'value'
Replaced 'value' with 'new'
user1, 5 calls: [True, True, True, False, False]
user2, 1 call: [True]
user1 after the reset: True
"""


def test_parallel_map_and_supervised_tasks():
    assert run_example("parallel_map") == """\
Fetched 20 profiles, first: {'id': 1, 'name': 'user1'}
Supervised async: report ready
Task failed: ValueError('bad item 3')
Results, as they completed: [10, 20, 40, 50]
"""
