"""GenServer: a process that keeps state and answers requests, as Elixir's ``GenServer``.

A GenServer is a process like any other, running a loop that receives a message, hands it to
a callback of your class together with the current state, and keeps the new state the callback
returns. Using it rather than a hand-written receive loop gives you, for free, the behaviour
every BEAM programmer relies on: synchronous calls with timeouts that never leave a stray reply
behind, asynchronous casts, a synchronous start that reports whether ``init`` succeeded, name
registration, clean shutdown under a supervisor (``terminate`` runs when the parent asks the
server to exit) and an error report that names the last message and the state when it crashes.

Example::

    class Stack(GenServer):
        def init(self, elements):
            return ("ok", elements)

        def handle_call(self, request, from_, state):
            if request == "pop":
                head, *tail = state
                return ("reply", head, tail)

        def handle_cast(self, request, state):
            match request:
                case ("push", element):
                    return ("noreply", [element, *state])

    async def main():
        ("ok", pid) = await Stack.start_link(["hello"])
        await GenServer.call(pid, "pop")          # "hello"
        GenServer.cast(pid, ("push", "world"))    # "ok"
        await GenServer.call(pid, "pop")          # "world"

Callbacks (each may be ``def`` or ``async def``; an awaitable result is awaited):

- ``init(self, arg)`` -> ``("ok", state)`` | ``("ok", state, timeout | "hibernate" |
  ("continue", x))`` | ``("stop", reason)`` | ``"ignore"``. It runs inside the new process
  while the starter waits, so the starter knows the server is ready when ``start_link``
  returns. ``("stop", reason)`` makes ``start_link`` return ``("error", reason)``; since the
  process then exits with ``reason``, a linked starter that does not trap exits is killed by
  it unless the reason is ``"normal"`` (OTP 25's behaviour).
- ``handle_call(self, request, from_, state)`` -> ``("reply", reply, state)`` |
  ``("noreply", state)`` (reply later with `GenServer.reply`) | ``("stop", reason, reply,
  state)`` | ``("stop", reason, state)``. ``from_`` is opaque: keep it only to reply.
- ``handle_cast(self, request, state)`` / ``handle_info(self, msg, state)`` /
  ``handle_continue(self, arg, state)`` -> ``("noreply", state)`` | ``("stop", reason, state)``.
  ``handle_info`` gets every message that is not a call or a cast (``Exit``, ``Down``,
  plain sends, timer messages); the default logs it as unexpected and carries on.
- ``terminate(self, reason, state)``: runs when a callback returns ``stop`` or raises, when
  `GenServer.stop` is called, and when the server traps exits and its parent (the process that
  started it) sends an exit signal, as a supervisor does on shutdown. A server that does not
  trap exits is simply killed by such a signal, without ``terminate``.

Any ``reply`` / ``noreply`` return may carry a trailing element, as in Elixir: a timeout in
seconds (if no message arrives in time, ``handle_info("timeout", state)`` is called),
``"hibernate"`` (accepted, a no-op here), or ``("continue", x)`` (``handle_continue(x, state)``
runs before the next message is taken).

A callback that raises ends the server with the exception as its reason; ``exit(reason)``
inside a callback ends it with ``reason``. Either way ``terminate`` runs first and, unless the
reason is ``"normal"``, ``"shutdown"`` or ``("shutdown", x)``, an error report goes to the
``"beamlet"`` logger.

The server is named by its pid or, with ``name=``, by a registered ``str``; every function
here that takes a ``server`` accepts both (and ``(name, node)``).
"""

from __future__ import annotations

import inspect
import logging
import types
from typing import Any, TypeAlias, cast

from beamlet import (
    ANY,
    Down,
    Exit,
    Pid,
    Process,
    ProcessExit,
    Ref,
    demonitor,
    make_ref,
    monitor,
    node,
    receive,
    self_pid,
    send,
    spawn,
    spawn_link,
    unlink,
    whereis,
    yield_turn,
)
from beamlet.dist.etf import ImproperList, alias_tag  # the wire form of an Erlang caller's tag

__all__ = ["GenServer", "StartResult", "Server"]

log = logging.getLogger("beamlet")

StartResult: TypeAlias = tuple[Any, ...] | str
"""What a start function returns: ``("ok", pid)`` | ``"ignore"`` | ``("error", reason)``."""
Server: TypeAlias = Pid | str | tuple[Any, ...]
"""How a server is named: its pid, a registered name, or ``(name, node)``."""

_CALL = "$gen_call"
_CAST = "$gen_cast"
_SYSTEM = "$gen_system"
_ACK = "$gen_ack"

_TIMEOUT: Any = object()    # receive default: the callback timeout ran out
_NOCONT: Any = object()     # no pending handle_continue
_COROUTINE = types.CoroutineType


def _is_clean(reason: Any) -> bool:
    """Whether an exit reason is a normal way to stop (no error report, no restart of a
    transient child): "normal", "shutdown" or ("shutdown", term)."""
    if type(reason) is str:
        return reason == "normal" or reason == "shutdown"
    return type(reason) is tuple and len(reason) == 2 and reason[0] == "shutdown"


async def _await(r: Any) -> Any:
    """Await ``r`` when it is awaitable (the result of an ``async def`` callback)."""
    while r.__class__ is _COROUTINE or inspect.isawaitable(r):
        r = await r
    return r


def _resolve(server: Any) -> Any:
    """The pid a server reference names now, or None; a ``(name, node)`` on another node
    as it is (the message goes to that name there)."""
    if isinstance(server, Pid):
        return server
    if server is None:      # Elixir's nil: an atom that names no process
        return None
    if type(server) is str:
        return whereis(server)
    if type(server) is tuple and len(server) == 2 and type(server[0]) is str:
        return whereis(server[0]) if server[1] == node() else server
    raise TypeError(f"a GenServer is named by a Pid, a registered name or (name, node), "
                    f"got {server!r}")


def _answer(from_: tuple[Any, Any], reply: Any) -> None:
    """Send ``reply`` to the caller ``from_`` = ``(pid, tag)``: to the tag itself when it is
    an alias (ours, or gen.erl's ``[alias | Ref]`` and ``[[alias | Ref] | _]`` from an Erlang
    caller), else to the pid (an older caller's plain ref), the message ``(tag, reply)``."""
    tag = from_[1]
    if tag.__class__ is Ref:
        send(tag, (tag, reply))
        return
    address = tag
    if address.__class__ is ImproperList and address.items[0].__class__ is ImproperList:
        address = address.items[0]
    if address.__class__ is ImproperList and address.items == ("alias",):
        send(address.tail, (tag, reply))
    else:
        send(from_[0], (tag, reply))


def _remote_node(server: Any) -> str | None:
    """The node of a ``(name, node)`` server on another node, else None."""
    if type(server) is tuple and len(server) == 2 and type(server[0]) is str \
            and server[1] != node():
        remote: str = server[1]
        return remote
    return None


def _no_server(server: Any) -> Any:
    """The exit reason of a call to a server that cannot be found: "noproc", or for a
    ``(name, node)`` on a node this one is not connected to, ``("nodedown", node)``."""
    other = _remote_node(server)
    return "noproc" if other is None else ("nodedown", other)


def _is_timeout(x: Any) -> bool:
    return (type(x) is int or type(x) is float) and x >= 0


def _module_arg(cls: type, args: tuple[Any, ...], what: str) -> tuple[type, Any]:
    """(module, init argument) for ``GenServer.start_link(Module, arg)`` or
    ``Module.start_link(arg)``."""
    if cls is GenServer:
        if not args or len(args) > 2:
            raise TypeError(f"GenServer.{what}(module, arg=None, name=None) takes a module "
                            "and an optional argument")
        return args[0], (args[1] if len(args) == 2 else None)
    if len(args) > 1:
        raise TypeError(f"{cls.__name__}.{what}(arg=None, name=None) takes one argument")
    return cls, (args[0] if args else None)


class _Stop(Exception):
    """Internal: a callback asked the server to stop (or broke the protocol)."""

    def __init__(self, reason: Any, reply: Any = _NOCONT, state: Any = _NOCONT) -> None:
        self.reason = reason
        self.reply = reply
        self.state = state


class GenServer:
    """Base class of a GenServer module, and the namespace of the client API.

    Subclass it and define the callbacks you need (see the module documentation); the defaults
    behave as Elixir's ``use GenServer`` ones. Class attributes ``restart`` and ``shutdown``
    change what `child_spec` returns, as ``use GenServer, restart: :transient`` does.
    """

    restart: str = "permanent"
    shutdown: Any = 5.0

    # ----------------------------------------------------------------------------- callbacks
    def init(self, arg: Any) -> Any:
        """Set up the state. The default keeps ``arg`` as the state."""
        return ("ok", arg)

    def handle_call(self, request: Any, from_: tuple[Any, ...], state: Any) -> Any:
        """Answer a `call`. The default crashes the server, as Elixir's does."""
        raise RuntimeError(
            f"attempted to call GenServer {self_pid()!r} but no handle_call/3 clause was provided")

    def handle_cast(self, request: Any, state: Any) -> Any:
        """Handle a `cast`. The default crashes the server, as Elixir's does."""
        raise RuntimeError(
            f"attempted to cast GenServer {self_pid()!r} but no handle_cast/2 clause was provided")

    def handle_info(self, msg: Any, state: Any) -> Any:
        """Handle any other message. The default logs it as unexpected and carries on."""
        log.error("%s %r received unexpected message in handle_info/2: %r",
                  type(self).__qualname__, self_pid(), msg)
        return ("noreply", state)

    def handle_continue(self, arg: Any, state: Any) -> Any:
        """Run the work a ``("continue", arg)`` return asked for. Define it if you use it."""
        raise RuntimeError(
            f"attempted to continue GenServer {self_pid()!r} but no handle_continue/2 clause "
            "was provided")

    def terminate(self, reason: Any, state: Any) -> Any:
        """Clean up before the server exits with ``reason``. The default does nothing."""
        return "ok"

    # ----------------------------------------------------------------------------- starting
    @classmethod
    async def start_link(cls, *args: Any, name: str | None = None,
                         timeout: float | None = None,
                         priority: str = "normal") -> StartResult:
        """Start a server linked to the caller and wait until its ``init`` has run.

        ``GenServer.start_link(Module, arg, name=None)`` or ``Module.start_link(arg, name=None)``.
        Returns ``("ok", pid)``, ``"ignore"`` or ``("error", reason)``; a name that is taken
        gives ``("error", ("already_started", pid))`` without running ``init``. The caller is
        the server's parent: if it traps nothing and ``init`` fails with a reason other than
        "normal", the exit signal that follows kills it (as in OTP 25). ``timeout`` (seconds,
        None for ever) bounds ``init``: past it the server is killed and the result is
        ``("error", "timeout")``. ``priority`` is the server process's priority (Elixir's
        ``spawn_opt: [priority: ...]``).
        """
        module, arg = _module_arg(cls, args, "start_link")
        return await _start(module, arg, name, True, timeout, priority)

    @classmethod
    async def start(cls, *args: Any, name: str | None = None,
                    timeout: float | None = None,
                    priority: str = "normal") -> StartResult:
        """Same as `start_link` without the link: the server is its own parent."""
        module, arg = _module_arg(cls, args, "start")
        return await _start(module, arg, name, False, timeout, priority)

    @classmethod
    def child_spec(cls, arg: Any = None) -> dict[Any, Any]:
        """The spec a supervisor uses to start this module with ``arg``:
        ``{"id": Module, "start": (Module.start_link, (arg,)), "restart": "permanent",
        "shutdown": 5.0, "type": "worker"}`` (``restart`` / ``shutdown`` from the class)."""
        return {"id": cls, "start": (cls.start_link, (arg,)), "restart": cls.restart,
                "shutdown": cls.shutdown, "type": "worker"}

    # ----------------------------------------------------------------------------- client API
    @staticmethod
    async def call(server: Server, request: Any, timeout: float | None = 5.0) -> Any:
        """Send ``request`` to ``server`` and wait for its reply (``handle_call``).

        The caller exits (`ProcessExit`) with ``("timeout", (GenServer, "call", [server,
        request, timeout]))`` when no reply comes within ``timeout`` seconds (None: wait for
        ever), with ``("noproc", ...)`` when there is no such server, and with ``(reason, ...)``
        when the server dies before replying. The request travels with an alias of the
        caller, dropped on the way out: a reply that comes too late is never delivered.
        """
        pid = server if isinstance(server, Pid) else _resolve(server)  # (RemotePid too)
        if pid is None:
            raise ProcessExit((_no_server(server),
                               (GenServer, "call", [server, request, timeout])))
        me = self_pid()
        if pid is me:
            raise ProcessExit(("calling_self", (GenServer, "call", [server, request, timeout])))
        mref = monitor(pid, alias=True)   # the ref is also where the reply goes
        # To another node the tag is gen.erl's [alias | Ref]: an Erlang server then answers
        # the alias, and a reply that comes after we gave up is dropped.
        tag = mref if pid.__class__ is Pid else alias_tag(mref)
        send(pid, (_CALL, (me, tag), request))
        if timeout == 0:  # only a reply already there (never, in practice), as on the BEAM
            msg = await receive((tag, ANY), timeout=0, default=None)
        else:
            # (the Down pattern made as a tuple is: a NamedTuple's own constructor is Python)
            msg = await receive((tag, ANY), tuple.__new__(Down, (mref, ANY, ANY)),
                                timeout=timeout, default=None)
        demonitor(mref, flush=True)
        if msg.__class__ is tuple:
            return msg[1]
        if msg is None:
            raise ProcessExit(("timeout", (GenServer, "call", [server, request, timeout])))
        reason = msg.reason
        if reason == "noconnection":  # as gen.erl: the server's node went away
            reason = ("nodedown", node(pid) if isinstance(pid, Pid) else pid[1])
        raise ProcessExit((reason, (GenServer, "call", [server, request, timeout])))

    @staticmethod
    def cast(server: Server, request: Any) -> str:
        """Send ``request`` to ``server`` for ``handle_cast`` and return "ok" at once.

        Never fails: a dead pid or an unregistered name just loses the message."""
        try:
            send(server, (_CAST, request))
        except LookupError:
            pass
        return "ok"

    @staticmethod
    def reply(from_: tuple[Any, ...], reply: Any) -> str:
        """Answer the call identified by ``from_`` (from ``handle_call``), from any process."""
        _answer(from_, reply)
        return "ok"

    @staticmethod
    async def stop(server: Server, reason: Any = "normal",
                   timeout: float | None = None) -> str:
        """Stop ``server`` with ``reason`` and wait until it is gone; "ok".

        ``terminate(reason, state)`` runs in the server first. The caller exits with
        ``("noproc", (GenServer, "stop", [server, reason, timeout]))`` if there is no such
        server, ``("timeout", ...)`` if it takes longer than ``timeout`` seconds, and
        ``(other, ...)`` if the server ended with another reason than ``reason``.
        """
        where = (GenServer, "stop", [server, reason, timeout])
        if timeout is not None and not _is_timeout(timeout):
            # Checked before anything is sent: the server must not be stopped by a call
            # that cannot wait for it (OTP's gen_server_SUITE stop3).
            raise TypeError(f"GenServer.stop timeout must be None or seconds >= 0, "
                            f"got {timeout!r}")
        pid = _resolve(server)
        if pid is None:
            raise ProcessExit((_no_server(server), where))
        me = self_pid()
        if pid is me:
            raise ProcessExit(("calling_self", where))
        mref = monitor(pid)
        send(pid, (_SYSTEM, (me, mref), ("terminate", reason)))
        d = await receive(Down(mref, ANY, ANY), timeout=timeout, default=None)
        if d is None:
            demonitor(mref, flush=True)
            raise ProcessExit(("timeout", where))
        r = d.reason
        if r is reason or r == reason:
            return "ok"
        raise ProcessExit((r, where))

    @staticmethod
    def whereis(server: Server) -> Pid | tuple[Any, ...] | None:
        """The pid of ``server`` (a pid, a name or ``(name, node)``) or None; a ``(name,
        node)`` on another node is returned as it is, as Elixir does."""
        if _remote_node(server) is not None:
            return cast("tuple[Any, ...]", server)   # _remote_node found a (name, node)
        found: Pid | None = _resolve(server)
        return found


# ------------------------------------------------------------------------------------ start
async def _start(module: Any, arg: Any, name: Any, link: bool,
                 timeout: float | None, priority: str = "normal") -> StartResult:
    if name is not None and type(name) is not str:
        raise TypeError(f"a GenServer name must be a str, got {name!r}")
    if not isinstance(module, type):
        raise TypeError(f"a GenServer module must be a class, got {module!r}")
    me = self_pid()
    tag = make_ref()
    ancestors = [me, *Process.get("$ancestors", [])]
    if link:
        pid = spawn_link(_init_it, module, arg, name, me, tag, me, ancestors,
                         priority=priority)
    else:
        pid = spawn(_init_it, module, arg, name, me, tag, None, ancestors, priority=priority)
    mref = monitor(pid)
    msg = await receive((_ACK, tag, ANY), Down(mref, pid, ANY), timeout=timeout, default=None)
    if msg.__class__ is tuple:
        demonitor(mref, flush=True)
        started: StartResult = msg[2]
        return started
    if msg is None:  # init took too long: kill it, and forget the exit it causes
        if link:
            unlink(pid)
        Process.exit(pid, "kill")
        await receive(Down(mref, pid, ANY))
        await receive(Exit(pid, ANY), timeout=0, default=None)
        return ("error", "timeout")
    return ("error", msg.reason)


async def _init_it(module: type, arg: Any, name: str | None, starter: Pid, tag: Any,
                   parent: Pid | None, ancestors: list[Any]) -> None:
    """The body of a GenServer process: register, run ``init``, tell the starter, serve."""
    me = self_pid()
    # As proc_lib does: who started this process, and how (Process.info "dictionary").
    Process.put("$ancestors", ancestors)
    Process.put("$initial_call", (module, "init", 1))
    if name is not None:
        try:
            Process.register(me, name)
        except ValueError:
            send(starter, (_ACK, tag, ("error", ("already_started", whereis(name)))))
            return
    if parent is None:
        parent = me
    try:
        gs = module()
        r = gs.init(arg)
        if r.__class__ is not tuple:
            r = await _await(r)
    except ProcessExit as e:
        await _init_failed(starter, tag, e.reason, name)
    except Exception as e:  # noqa: BLE001 - a crash in init is a failed start
        await _init_failed(starter, tag, e, name)
    if r == "ignore":
        _forget_name(name)
        send(starter, (_ACK, tag, "ignore"))
        return
    if type(r) is tuple and r:
        if r[0] == "ok" and 2 <= len(r) <= 3:
            send(starter, (_ACK, tag, ("ok", me)))
            await _serve(gs, r[1], parent, name, r[2] if len(r) == 3 else None, "init")
            return
        if r[0] == "stop" and len(r) == 2:
            await _init_failed(starter, tag, r[1], name)
    await _init_failed(starter, tag, ("bad_return_value", r), name)


def _forget_name(name: str | None) -> None:
    """Unregister a server whose init did not succeed before its starter hears of it, so
    that the name is free once start returns (OTP-7669)."""
    if name is not None and Process.whereis(name) == self_pid():
        Process.unregister(name)


async def _init_failed(starter: Pid, tag: Any, reason: Any, name: str | None) -> None:
    _forget_name(name)
    send(starter, (_ACK, tag, ("error", reason)))
    # Let the starter run first: on the BEAM it gets to act on the answer before the exit
    # signal that follows reaches it (ground truth s04).
    await yield_turn()
    raise ProcessExit(reason)


# ------------------------------------------------------------------------------------ loop
def _extra(extra: Any) -> tuple[Any, Any]:
    """(timeout, continue argument) from the optional last element of a callback return."""
    if extra is None:
        return None, _NOCONT
    if _is_timeout(extra):
        return extra, _NOCONT
    if type(extra) is tuple and len(extra) == 2 and extra[0] == "continue":
        return None, extra[1]
    if extra == "hibernate" or extra == "infinity":
        return None, _NOCONT
    raise _Stop(("bad_return_value", extra))


async def _serve(gs: Any, state: Any, parent: Pid, name: str | None, extra: Any,
                 last: Any) -> None:
    """Receive messages and hand them to the callbacks until a callback asks to stop."""
    handle_call = gs.handle_call
    handle_cast = gs.handle_cast
    handle_info = gs.handle_info
    try:
        timeout, cont = _extra(extra)
    except _Stop as s:
        await _terminate(gs, s.reason, state, name, last, None)
    msg: Any = None
    from_: Any = None
    while True:
        try:
            if cont is not _NOCONT:
                msg = ("$continue", cont)
                from_ = None
                r = gs.handle_continue(cont, state)
                if r.__class__ is not tuple:
                    r = await _await(r)
                state, timeout, cont = _noreply(r)
                continue
            if timeout is None:
                msg = await receive()
            else:
                msg = await receive(timeout=timeout, default=_TIMEOUT)
                if msg is _TIMEOUT:
                    msg = "timeout"
            from_ = None
            if msg.__class__ is tuple and len(msg) >= 2:
                k = msg[0]
                if k == _CALL and len(msg) == 3:
                    from_ = msg[1]
                    r = handle_call(msg[2], from_, state)
                    if r.__class__ is not tuple:
                        r = await _await(r)
                        if not isinstance(r, tuple) or not r:
                            raise _Stop(("bad_return_value", r))
                    if r[0] == "reply":
                        n = len(r)
                        if n == 3:
                            _answer(from_, r[1])
                            state = r[2]
                            timeout = None
                            continue
                        if n == 4:
                            _answer(from_, r[1])
                            state = r[2]
                            timeout, cont = _extra(r[3])
                            continue
                        raise _Stop(("bad_return_value", r))
                    if r[0] == "stop" and len(r) == 4:
                        raise _Stop(r[1], r[2], r[3])  # the reply goes after terminate
                    state, timeout, cont = _noreply(r)
                    continue
                if k == _CAST and len(msg) == 2:
                    r = handle_cast(msg[1], state)
                    if r.__class__ is not tuple:
                        r = await _await(r)
                    state, timeout, cont = _noreply(r)
                    continue
                if k == _SYSTEM and len(msg) == 3:
                    req = msg[2]
                    if type(req) is tuple and len(req) == 2 and req[0] == "terminate":
                        msg = []  # as OTP reports it: no "last message"
                        raise _Stop(req[1])
            elif msg.__class__ is Exit and msg.pid is parent:
                raise _Stop(msg.reason)
            r = handle_info(msg, state)
            if r.__class__ is not tuple:
                r = await _await(r)
            state, timeout, cont = _noreply(r)
        except _Stop as s:
            if s.state is not _NOCONT:
                state = s.state
            await _terminate(gs, s.reason, state, name, msg, from_, s.reply)
        except ProcessExit as e:
            await _terminate(gs, e.reason, state, name, msg, from_)
        except Exception as e:  # noqa: BLE001 - a crashing callback ends the server
            await _terminate(gs, e, state, name, msg, from_)


def _noreply(r: Any) -> tuple[Any, Any, Any]:
    """(state, timeout, continue) from a noreply-style return; raises _Stop for stop."""
    if type(r) is tuple and r:
        k = r[0]
        n = len(r)
        if k == "noreply":
            if n == 2:
                return r[1], None, _NOCONT
            if n == 3:
                t, c = _extra(r[2])
                return r[1], t, c
        elif k == "stop" and n == 3:
            raise _Stop(r[1], _NOCONT, r[2])
    raise _Stop(("bad_return_value", r))


async def _terminate(gs: Any, reason: Any, state: Any, name: str | None, msg: Any,
                     from_: Any, reply: Any = _NOCONT) -> None:
    """Run ``terminate``, send a pending stop reply, report an abnormal end, and exit."""
    try:
        try:
            r = gs.terminate(reason, state)
            await _await(r)
        finally:
            if reply is not _NOCONT and from_ is not None:
                _answer(from_, reply)
    except ProcessExit as e:
        reason = e.reason
    except Exception as e:  # noqa: BLE001 - terminate crashed: that is the reason now
        reason = e
    if not _is_clean(reason):
        _report(gs, reason, state, name, msg, from_)
    raise ProcessExit(reason)


def _report(gs: Any, reason: Any, state: Any, name: str | None, msg: Any, from_: Any) -> None:
    """The Elixir-style error report of a GenServer that ends abnormally."""
    who = repr(name) if name is not None else repr(self_pid())
    lines = [f"GenServer {who} terminating"]
    if isinstance(reason, BaseException):
        lines.append(f"** ({type(reason).__name__}) {reason}")
    else:
        lines.append(f"** (stop) {reason!r}")
    if from_ is not None and type(from_) is tuple and from_:
        lines.append(f"Last message (from {from_[0]!r}): {msg[2]!r}"
                     if type(msg) is tuple and len(msg) == 3 else f"Last message: {msg!r}")
    else:
        lines.append(f"Last message: {msg!r}")
    lines.append(f"State: {state!r}")
    if from_ is not None and type(from_) is tuple and from_:
        client = from_[0]
        if isinstance(client, Pid) and node(client) != node():  # as OTP's: "remote"
            lines.append(f"Client {client!r} is remote on node {node(client)}")
        else:
            alive = isinstance(client, Pid) and Process.alive(client)
            lines.append(f"Client {client!r} is {'alive' if alive else 'dead'}")
    exc = reason if isinstance(reason, BaseException) else None
    log.error("%s", "\n".join(lines), exc_info=exc)

