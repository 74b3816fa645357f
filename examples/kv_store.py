"""Request and reply: a key-value store process and its client functions
(seed: "Bidirectional Communication"). Each request carries a fresh ref, so a reply can never be
mistaken for the answer to another request.

    python examples/kv_store.py
"""

import beamlet
from beamlet import ANY, make_ref, receive, self_pid, send, spawn


async def store():
    state = {}
    while True:
        match await receive():
            case ("put", key, value):
                state[key] = value
                print(f"Stored {key} => {value!r}")
            case ("get", key, caller, ref):
                send(caller, ("response", ref, state.get(key, "not_found")))
            case ("delete", key):
                state.pop(key, None)
                print(f"Deleted {key}")
            case ("keys", caller, ref):
                send(caller, ("response", ref, list(state)))
            case "stop":
                print("Store shutting down")
                return


def put(s, key, value):
    send(s, ("put", key, value))
    return "ok"


async def request(s, *msg):
    ref = make_ref()
    send(s, (*msg, self_pid(), ref))
    _, _, value = await receive(("response", ref, ANY), timeout=5,
                                default=(None, None, ("error", "timeout")))
    return value


async def main():
    s = spawn(store)
    put(s, "name", "Alice")
    put(s, "age", 30)
    put(s, "city", "Portland")
    print(f"Name: {await request(s, 'get', 'name')}")
    print(f"Age: {await request(s, 'get', 'age')}")
    print(f"Keys: {await request(s, 'keys')}")
    send(s, ("delete", "age"))
    print(f"Age after delete: {await request(s, 'get', 'age')!r}")
    ref = beamlet.monitor(s)
    send(s, "stop")
    await receive(beamlet.Down(ref, s, ANY))


if __name__ == "__main__":
    beamlet.run(main)
