"""Bad input gets a clear exception and harms nothing."""

import pytest

import beamlet
from beamlet import Process, make_ref, receive, self_pid, send, spawn


@pytest.mark.parametrize("call", [
    lambda: beamlet.send(None, 1),
    lambda: beamlet.self_pid(),
    lambda: beamlet.spawn(lambda: None),
    lambda: beamlet.monitor(None),
    lambda: beamlet.link(None),
    lambda: Process.info(None),
    lambda: Process.register(None, "x"),
    lambda: Process.send_after(None, 1, 1),
    lambda: beamlet.flush(),
])
def test_kernel_calls_outside_a_process_raise_runtime_error(call):
    with pytest.raises(RuntimeError, match="inside a beamlet process"):
        call()


def test_receive_outside_a_process_raises_runtime_error():
    gen = beamlet.receive()
    with pytest.raises(RuntimeError, match="inside a beamlet process"):
        gen.send(None)


def test_bad_arguments_inside_a_process():
    async def main():
        me = self_pid()
        with pytest.raises(ValueError):
            await receive(timeout=-1)
        with pytest.raises(ValueError):
            await beamlet.sleep(-0.5)
        with pytest.raises(TypeError):
            send(12345, "msg")
        with pytest.raises(TypeError):
            spawn("not callable")
        with pytest.raises(TypeError):
            Process.flag("trap_exit", "yes")
        with pytest.raises(TypeError):
            beamlet.demonitor("not a ref")
        # after all of that, the process still works
        send(me, "still fine")
        return await receive()

    assert beamlet.run(main) == "still fine"


def test_run_validates_schedulers():
    with pytest.raises(ValueError):
        beamlet.run(lambda: None, schedulers=0)


def test_awaiting_a_foreign_awaitable_is_a_type_error_in_the_process():
    import asyncio

    async def main():
        with pytest.raises(TypeError, match="asyncio"):
            await asyncio.get_event_loop_policy().new_event_loop().create_future()
        return "recovered"

    assert beamlet.run(main) == "recovered"


def test_reprs_are_erlang_like():
    async def main():
        return repr(self_pid()), repr(make_ref())

    pid, ref = beamlet.run(main)
    assert pid.startswith("<0.") and pid.endswith(".0>")
    assert ref.startswith("#Ref<0.") and ref.count(".") == 3
