"""asyncio libraries from processes, through `beamlet.aio`, against real servers on 127.0.0.1.

While a process waits on an asyncio operation, the other processes keep running.
"""

import asyncio
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import aiohttp
import pytest

import beamlet
from beamlet import ANY, Down, Process, aio, monitor, receive, self_pid, send, spawn


async def upper_handler(reader, writer):
    while line := await reader.readline():
        writer.write(line.upper())
        await writer.drain()
    writer.close()


async def stream_client(port, parent, i):
    reader, writer = await aio.await_(asyncio.open_connection("127.0.0.1", port))
    writer.write(f"hello {i}\n".encode())
    line = await aio.await_(reader.readline())
    writer.close()
    send(parent, ("got", i, line))


async def close(server):
    server.close()
    await server.wait_closed()


def test_asyncio_streams_from_many_processes():
    async def main():
        server = await aio.await_(asyncio.start_server(upper_handler, "127.0.0.1", 0))
        port = server.sockets[0].getsockname()[1]
        for i in range(10):
            spawn(stream_client, port, self_pid(), i)
        got = sorted([await receive(("got", ANY, ANY)) for _ in range(10)])
        await aio.await_(close(server))  # on the asyncio loop's thread: close() is not thread-safe
        return got

    assert beamlet.run(main) == [("got", i, f"HELLO {i}\n".encode()) for i in range(10)]


@pytest.fixture()
def http_server():
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's naming
            body = f"you asked for {self.path}".encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    t.join()


async def fetch(url):
    async with aiohttp.ClientSession() as session:
        async with session.get(url) as resp:
            return resp.status, await resp.text()


def test_aiohttp_client_in_parallel_processes(http_server):
    async def getter(parent, path):
        send(parent, ("page", path, await aio.await_(fetch(http_server + path))))

    async def main():
        for i in range(5):
            spawn(getter, self_pid(), f"/p{i}")
        return sorted([await receive(("page", ANY, ANY)) for _ in range(5)])

    pages = [("page", f"/p{i}", (200, f"you asked for /p{i}")) for i in range(5)]
    assert beamlet.run(main) == pages


def test_other_processes_run_while_one_waits_on_asyncio():
    async def waiter(parent):
        await aio.await_(asyncio.sleep(0.2))  # a long asyncio operation: the behaviour under test
        send(parent, "asyncio_done")

    async def main():
        me = self_pid()
        spawn(waiter, me)
        spawn(lambda: send(me, "other_ran"))
        return [await receive(), await receive()]

    assert beamlet.run(main) == ["other_ran", "asyncio_done"]


def test_asyncio_errors_and_timeouts_reach_the_process():
    async def boom():
        raise ValueError("from asyncio")

    async def main():
        with pytest.raises(ValueError, match="from asyncio"):
            await aio.await_(boom())
        with pytest.raises(TimeoutError):
            await aio.await_(asyncio.sleep(5), timeout=0.01)  # the timeout under test
        with pytest.raises(TypeError):
            await aio.await_(42)
        return "ok"

    assert beamlet.run(main) == "ok"


def test_killing_a_waiting_process_cancels_its_task():
    cancelled = threading.Event()
    started = asyncio.Event()  # bound to the node's asyncio loop on first use

    async def long_op():
        started.set()
        try:
            await asyncio.sleep(10)  # the long operation that the kill must cancel
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async def waiter(parent):
        send(parent, "waiting")
        await aio.await_(long_op())

    async def main():
        pid = spawn(waiter, self_pid())
        await receive("waiting")
        await aio.await_(started.wait(), timeout=2)  # the waiter's task runs on the loop
        ref = monitor(pid)
        Process.exit(pid, "kill")
        await receive(Down(ref, pid, ANY))
        return "killed"

    assert beamlet.run(main) == "killed"
    assert cancelled.wait(2)
