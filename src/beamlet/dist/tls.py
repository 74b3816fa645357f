"""TLS for the distribution, as Erlang's ``-proto_dist inet_tls``: options and SSL contexts.

An Erlang node started with ``-proto_dist inet_tls -ssl_dist_optfile FILE`` still registers
with EPMD as every node does; what changes is the connection to the port EPMD hands out: a TLS
handshake first, then the usual version-6 distribution handshake and framing inside it (with
one difference, handled in `beamlet.dist.handshake`: inside TLS even the handshake messages
carry a 4-byte length, since inet_tls_dist runs its sockets with ``{packet, 4}`` from the
start).

`TlsOptions` holds what such an optfile holds (``certfile``, ``keyfile``, ``cacertfile``,
``verify``, ``fail_if_no_peer_cert``, ``versions``, ``password``) and turns it into the
`ssl.SSLContext` of each end: `server_context` for the listener, `client_context` for the
connections this node opens. `erlang_optfile` writes the same options as an optfile for Erlang
nodes, so a cluster of beamlet and Erlang nodes can share one set of files.

As on OTP 25, a client that verifies also checks the server's certificate against the host of
the node name it connects to (inet_tls_dist sends that host as the server name, and ssl checks
it: an Elixir node refuses a beamlet node whose certificate does not name its host, with
``{:bad_cert, :hostname_check_failed}``). So a node's certificate names its host as a DNS
subject alternative name: ``vm`` for ``py@vm``, ``127.0.0.1`` (an IP entry) for
``py@127.0.0.1``. ``server_name_check=False`` turns the check off on beamlet's side only.
"""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass
from typing import Literal

__all__ = ["TLS_VERSIONS", "TlsOptions", "TlsOptionsError"]

# Erlang's names for the TLS versions the distribution may use.
TLS_VERSIONS: dict[str, ssl.TLSVersion] = {
    "tlsv1.2": ssl.TLSVersion.TLSv1_2,
    "tlsv1.3": ssl.TLSVersion.TLSv1_3,
}

Side = Literal["server", "client"]
PathLike = str | os.PathLike[str]


class TlsOptionsError(ValueError):
    """The TLS options cannot make a context: a file missing, unreadable or not PEM, or a
    combination that cannot work (verification without a CA)."""


@dataclass(frozen=True)
class TlsOptions:
    """A node's TLS for the distribution, named as in Erlang's ``ssl_dist_optfile``.

    ``certfile``: this node's certificate chain (PEM), used by both ends (an Erlang node too
    presents its certificate when it connects). ``keyfile``: its private key, None when it is
    in ``certfile``; ``password`` if it is encrypted. ``cacertfile``: the CAs that sign the
    cluster's certificates. ``verify``: check the peer's certificate (Erlang's ``verify_peer``)
    or not (``verify_none``); as a server, ``fail_if_no_peer_cert`` refuses a client that shows
    none (otherwise one is asked for and checked only when given). ``server_name_check``: when
    verifying, the client also checks the server's certificate against the host of the node
    name, as an OTP 25 client always does. ``versions``: Erlang's version names; OTP 25's dist
    uses only ``tlsv1.2`` unless its optfile says otherwise, so both are allowed by default.
    """

    certfile: PathLike
    keyfile: PathLike | None = None
    cacertfile: PathLike | None = None
    verify: bool = True
    fail_if_no_peer_cert: bool = True
    server_name_check: bool = True
    versions: tuple[str, ...] = ("tlsv1.2", "tlsv1.3")
    password: str | None = None

    def __post_init__(self) -> None:
        unknown = [version for version in self.versions if version not in TLS_VERSIONS]
        if unknown or not self.versions:
            raise TlsOptionsError(
                f"versions {list(self.versions)}: each must be one of {list(TLS_VERSIONS)}"
            )
        if self.verify and self.cacertfile is None:
            raise TlsOptionsError(
                "verify=True needs a cacertfile (the CA that signs the cluster's certificates)"
            )

    def server_context(self) -> ssl.SSLContext:
        """The context of this node's listener (``asyncio.start_server(..., ssl=)``)."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._configure(context)
        if not self.verify:
            context.verify_mode = ssl.CERT_NONE
        elif self.fail_if_no_peer_cert:
            context.verify_mode = ssl.CERT_REQUIRED
        else:
            context.verify_mode = ssl.CERT_OPTIONAL
        return context

    def client_context(self) -> ssl.SSLContext:
        """The context of the connections this node opens (``handshake.connect(ssl=)``)."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        # check_hostname first: CERT_NONE is refused while it is on.
        context.check_hostname = self.verify and self.server_name_check
        context.verify_mode = ssl.CERT_REQUIRED if self.verify else ssl.CERT_NONE
        self._configure(context)
        return context

    def erlang_optfile(self) -> str:
        """These options as an ``-ssl_dist_optfile`` for an Erlang node (both sections).

        The same files and checks for the server and the client side. ``server_name_check``
        has no optfile form: an OTP 25 client that verifies always checks the host name (its
        own server name setting wins over an optfile's ``{server_name_indication, disable}``,
        tried here), so it is left out.
        """
        return (
            "[{server, " + _erlang_list(self._erlang_options("server")) + "},\n"
            " {client, " + _erlang_list(self._erlang_options("client")) + "}].\n"
        )

    # --- helpers --------------------------------------------------------------------------

    def _configure(self, context: ssl.SSLContext) -> None:
        """What both ends share: versions, our certificate and key, the CAs we trust."""
        chosen = sorted(TLS_VERSIONS[version] for version in self.versions)
        context.minimum_version, context.maximum_version = chosen[0], chosen[-1]
        certfile = _readable("certfile", self.certfile)
        keyfile = None if self.keyfile is None else _readable("keyfile", self.keyfile)
        try:
            context.load_cert_chain(certfile, keyfile, password=self.password)
        except ssl.SSLError as error:
            where = f"certfile {certfile!r}" + (f" / keyfile {keyfile!r}" if keyfile else "")
            raise TlsOptionsError(
                f"{where}: not a PEM certificate with its matching private key ({error.reason})"
            ) from error
        if self.cacertfile is not None:
            cacertfile = _readable("cacertfile", self.cacertfile)
            try:
                context.load_verify_locations(cafile=cacertfile)
            except ssl.SSLError as error:
                raise TlsOptionsError(
                    f"cacertfile {cacertfile!r}: no PEM CA certificate in it ({error.reason})"
                ) from error

    def _erlang_options(self, side: Side) -> list[str]:
        """The option tuples of one optfile section, as Erlang source text."""
        options = [f"{{certfile, {_erlang_string(self.certfile)}}}"]
        if self.keyfile is not None:
            options.append(f"{{keyfile, {_erlang_string(self.keyfile)}}}")
        if self.password is not None:
            options.append(f"{{password, {_erlang_string(self.password)}}}")
        if self.cacertfile is not None:
            options.append(f"{{cacertfile, {_erlang_string(self.cacertfile)}}}")
        options.append("{verify, verify_peer}" if self.verify else "{verify, verify_none}")
        if side == "server" and self.verify:
            options.append(f"{{fail_if_no_peer_cert, {str(self.fail_if_no_peer_cert).lower()}}}")
        versions = ", ".join(f"'{version}'" for version in self.versions)
        options.append(f"{{versions, [{versions}]}}")
        return options


def _readable(option: str, path: PathLike) -> str:
    """``path`` as text once it is known to open for reading; else a `TlsOptionsError` that
    names the option (ssl's own errors name neither the option nor the file)."""
    text = os.fspath(path)
    try:
        with open(text, "rb"):
            pass
    except OSError as error:
        raise TlsOptionsError(f"{option} {text!r}: {error.strerror or error}") from error
    return text


def _erlang_string(value: PathLike) -> str:
    """An Erlang string literal (a charlist, as ssl options take file names)."""
    text = os.fspath(value)
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def _erlang_list(items: list[str]) -> str:
    return "[" + ", ".join(items) + "]"
