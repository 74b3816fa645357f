"""A circuit breaker as a process (seed: "Pattern: Circuit Breaker with Processes").

The external API fails on calls 1-3 and succeeds after that (the seed fails at random); with a
threshold of 3 the breaker opens, rejects calls while open, and lets one through once its
timeout has passed.

    python examples/circuit_breaker.py
"""

import time

import beamlet
from beamlet import ANY, Process, make_ref, receive, self_pid, send, sleep, spawn_link


def start_link(name, threshold=5, timeout=30.0):
    async def loop():
        state, failures, last_failure = "closed", 0, None
        while True:
            match await receive():
                case ("call", caller, ref, fun):
                    if state == "open" and time.monotonic() - last_failure <= timeout:
                        send(caller, ("error", ref, "circuit_open"))
                        continue
                    try:
                        result = fun()
                    except Exception as e:  # the call failed: count it
                        send(caller, ("error", ref, e))
                        failures += 1
                        last_failure = time.monotonic()
                        if failures >= threshold and state != "open":
                            print(f"[CircuitBreaker] {name} opened after {failures} failures")
                            state = "open"
                    else:
                        send(caller, ("ok", ref, result))
                        state, failures = "closed", 0
                case ("status", caller, ref):
                    send(caller, ("status", ref, (state, failures)))
                case "reset":
                    state, failures = "closed", 0
                case "stop":
                    return

    pid = spawn_link(loop)
    Process.register(pid, name)
    return ("ok", pid)


async def call(name, fun):
    ref = make_ref()
    send(name, ("call", self_pid(), ref, fun))
    match await receive(("ok", ref, ANY), ("error", ref, ANY), timeout=5, default=None):
        case ("ok", _, result):
            return ("ok", result)
        case ("error", _, reason):
            return ("error", reason)
        case None:
            return ("error", "timeout")


async def status(name):
    ref = make_ref()
    send(name, ("status", self_pid(), ref))
    return (await receive(("status", ref, ANY), timeout=1))[2]


calls = 0


def external_api():
    global calls
    calls += 1
    if calls <= 3:
        raise ConnectionError("API Error")
    return "success"


async def main():
    start_link("external_api", threshold=3, timeout=0.5)
    for i in range(1, 8):
        result = await call("external_api", external_api)
        print(f"Call {i}: {result!r}, Status: {await status('external_api')}")
        await sleep(0.2)


if __name__ == "__main__":
    beamlet.run(main)
