"""Pattern matching in receive: a calculator process (seed: "Pattern Matching in Receive Blocks").

    python examples/calculator.py
"""

import beamlet
from beamlet import receive, self_pid, send, spawn


async def calculator(parent):
    while True:
        match await receive():
            case ("add", a, b):
                print(f"{a} + {b} = {a + b}")
            case ("subtract", a, b):
                print(f"{a} - {b} = {a - b}")
            case ("multiply", a, b):
                print(f"{a} * {b} = {a * b}")
            case ("divide", a, 0):
                print("Error: Division by zero")
            case ("divide", a, b):
                print(f"{a} / {b} = {a / b}")
            case "stop":
                print("Calculator stopping...")
                send(parent, "stopped")
                return
            case unknown:
                print(f"Unknown message: {unknown!r}")


async def main():
    calc = spawn(calculator, self_pid())
    for msg in [("add", 10, 5), ("subtract", 10, 5), ("multiply", 10, 5), ("divide", 10, 5),
                ("divide", 10, 0), ("unknown_op", 1, 2), "stop"]:
        send(calc, msg)
    await receive("stopped")


if __name__ == "__main__":
    beamlet.run(main)
