"""What several test modules share: skipping (or, under CI, failing) without a requirement,
running a node, quieting expected crash reports, a child
that logs its life, catching the exit an awaited call makes, and the helpers of Elixir's task
tests (ported in tests/ported/otp)."""

import logging
import os
import shutil
from contextlib import aclosing

import pytest

import beamlet
from beamlet import GenServer, Process, ProcessExit, receive, send, sleep


def require(what, present, how):
    """Skip a test whose ``what`` is missing (saying ``how`` to get it), except under CI=true,
    where a missing requirement is a failure: CI installs everything the suite needs."""
    if present:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} is required under CI=true ({how})")
    pytest.skip(f"{what} is not installed ({how})")


def require_program(program, how="apt-get install -y erlang-nox elixir"):
    """The path of ``program`` (see `require`)."""
    path = shutil.which(program)
    require(program, path is not None, how)
    return path


def run(fn, *args, **kw):
    return beamlet.run(fn, *args, **kw)


def quiet():
    """Expected crashes: keep their reports out of the output."""
    logging.getLogger("beamlet").setLevel(logging.CRITICAL)


async def slow(d, v=None):
    await sleep(d)   # a slow task body: the durations are the behaviour under test
    return d if v is None else v


async def caught_exit(aw):
    """What an awaited call exits the caller with (Elixir's ``catch :exit, r -> r``)."""
    try:
        await aw
    except ProcessExit as e:
        return e.reason
    raise AssertionError("expected the call to exit the caller")


class Child(GenServer):
    """Logs ("start", id) / ("stop", id, reason) to the process registered as "log"."""

    @classmethod
    async def start_link(cls, id, opts=None):
        return await GenServer.start_link(cls, (id, opts or {}))

    def init(self, arg):
        id, opts = arg
        Process.flag("trap_exit", True)
        if opts.get("fail"):
            return ("stop", opts["fail"])
        if opts.get("ignore"):
            return "ignore"
        send("log", ("start", id))
        return ("ok", arg)

    def handle_cast(self, msg, s):
        _, reason = msg
        return ("stop", reason, s)

    def handle_call(self, msg, from_, s):
        return ("reply", s[0], s)

    async def terminate(self, reason, s):
        id, opts = s
        if opts.get("slow_terminate"):
            await sleep(opts["slow_terminate"])   # slow on purpose: shutdown timeouts
        send("log", ("stop", id, reason))


# --- the helpers of Elixir's task_test.exs and task/supervisor_test.exs -----------------------
async def wait_and_send(caller, atom):
    """Say "ready", wait for ``True``, then send ``atom`` to ``caller`` and return it."""
    send(caller, "ready")
    await receive(True)
    send(caller, atom)
    return atom


async def sleeper(ms):
    """The original's sleep/1: sleeps ``ms`` milliseconds (:infinity for ever), returns it."""
    await sleep(None if ms == "infinity" else ms / 1000)
    return ms


async def take(stream, n):
    """Enum.take: the first ``n`` items, then the stream is closed."""
    out = []
    async with aclosing(stream) as s:
        async for item in s:
            out.append(item)
            if len(out) == n:
                break
    return out


async def to_list(stream):
    return [item async for item in stream]


def initial_call(pid):
    return Process.info(pid, "dictionary")["$initial_call"]
