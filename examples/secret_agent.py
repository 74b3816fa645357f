"""The secret agent: a process that listens, changes its own priority and signs off
(seed: "Step B: Running the Code").

    python examples/secret_agent.py
"""

import beamlet
from beamlet import ANY, Down, Process, monitor, receive, send, spawn


async def listen():
    while True:
        match await receive():
            case ("whisper", text):
                print(f"Agent received a secret: {text}")
            case ("set_priority", level):
                Process.flag("priority", level)
                print(f"Agent priority changed to: {level}")
            case "terminate":
                print("Agent signing off. Over and out.")
                return


async def main():
    agent = spawn(listen)
    print(f"Is agent alive? {str(Process.alive(agent)).lower()}")
    send(agent, ("whisper", "The eagle has landed."))
    send(agent, ("set_priority", "high"))
    ref = monitor(agent)
    send(agent, "terminate")
    await receive(Down(ref, agent, ANY))
    print(f"Is agent alive? {str(Process.alive(agent)).lower()}")


if __name__ == "__main__":
    beamlet.run(main)
