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
nodes, and `from_erlang_optfile` reads one, so a cluster of beamlet and Erlang nodes can share
one set of files.

As on OTP 25, a client that verifies also checks the server's certificate against the host of
the node name it connects to (inet_tls_dist sends that host as the server name, and ssl checks
it: an Elixir node refuses a beamlet node whose certificate does not name its host, with
``{:bad_cert, :hostname_check_failed}``). So a node's certificate names its host as a DNS
subject alternative name: ``vm`` for ``py@vm``, ``127.0.0.1`` (an IP entry) for
``py@127.0.0.1``. ``server_name_check=False`` turns the check off on beamlet's side only.
"""

from __future__ import annotations

import os
import re
import ssl
from dataclasses import dataclass
from typing import Any, Literal

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

    @classmethod
    def from_erlang_optfile(cls, path: PathLike) -> TlsOptions:
        """The options of an Erlang ``-ssl_dist_optfile`` (``[{server, [...]}, {client, [...]}]``).

        `TlsOptions` holds one set for both ends, so an option that both sections give must
        agree; ``fail_if_no_peer_cert`` is the server section's. Options that change nothing
        here (``secure_renegotiate``, ``reuse_sessions``, ``hibernate_after``) are skipped;
        any other is refused rather than silently dropped.
        """
        text = os.fspath(path)
        try:
            with open(text, encoding="utf-8") as file:
                terms = _parse_erlang_terms(file.read())
        except OSError as error:
            raise TlsOptionsError(f"optfile {text!r}: {error.strerror or error}") from error
        except ValueError as error:
            raise TlsOptionsError(f"optfile {text!r}: {error}") from error
        sections = _optfile_sections(text, terms)
        fields: dict[str, Any] = {}
        for side, options in sections.items():
            for key, value in _section_fields(text, side, options).items():
                if key in fields and fields[key] != value:
                    raise TlsOptionsError(
                        f"optfile {text!r}: {key} differs between the server and the client "
                        "sections; TlsOptions holds one set for both"
                    )
                fields[key] = value
        if "certfile" not in fields:
            raise TlsOptionsError(f"optfile {text!r}: no certfile")
        fields.setdefault("verify", False)  # ssl's default is verify_none
        fields.setdefault("fail_if_no_peer_cert", False)
        return cls(**fields)

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


class _Atom(str):
    """An Erlang atom read from an optfile (told apart from a string, a charlist there)."""


# Options whose value is a string (a file name, the key's password); ones with no effect here.
_FILE_OPTIONS = ("certfile", "keyfile", "cacertfile", "password")
_IGNORED_OPTIONS = ("secure_renegotiate", "reuse_sessions", "hibernate_after")
_TOKEN = re.compile(
    r"""\s+|%[^\n]*
    |(?P<punct><<|>>|[\[\]{},.])
    |(?P<string>"(?:[^"\\]|\\.)*")
    |(?P<quoted>'(?:[^'\\]|\\.)*')
    |(?P<atom>[a-z][A-Za-z0-9_@]*)
    |(?P<integer>-?[0-9]+)""",
    re.VERBOSE | re.DOTALL,
)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "s": " ", "e": "\x1b"}


def _unescape(body: str) -> str:
    return re.sub(r"\\(.)", lambda match: _ESCAPES.get(match[1], match[1]), body, flags=re.S)


def _tokens(text: str) -> list[tuple[str, Any]]:
    """Erlang tokens of the kinds an optfile uses; anything else is an error."""
    tokens: list[tuple[str, Any]] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise ValueError(f"cannot read Erlang terms at {text[position : position + 20]!r}")
        position = match.end()
        kind = match.lastgroup
        if kind == "punct":
            tokens.append((match[0], None))
        elif kind == "string":
            tokens.append(("term", _unescape(match[0][1:-1])))
        elif kind in ("quoted", "atom"):
            name = _unescape(match[0][1:-1]) if kind == "quoted" else match[0]
            tokens.append(("term", _Atom(name)))
        elif kind == "integer":
            tokens.append(("term", int(match[0])))
    return tokens


def _parse_erlang_terms(text: str) -> list[Any]:
    """The terms of a ``file:consult`` file: each one ends with a dot."""
    tokens = _tokens(text)
    terms: list[Any] = []
    position = 0
    while position < len(tokens):
        term, position = _parse_term(tokens, position)
        if position >= len(tokens) or tokens[position][0] != ".":
            raise ValueError("a term does not end with a dot")
        terms.append(term)
        position += 1
    return terms


def _parse_term(tokens: list[tuple[str, Any]], position: int) -> tuple[Any, int]:
    """One term from ``position``: a list, a tuple, a binary string, or a plain token."""
    if position >= len(tokens):
        raise ValueError("the terms end too early")
    kind, value = tokens[position]
    if kind == "term":
        return value, position + 1
    if kind == "<<":
        inside = tokens[position + 1 : position + 3]
        if [token_kind for token_kind, _ in inside] != ["term", ">>"]:
            raise ValueError('only <<"text">> binaries are read')
        text = inside[0][1]
        if not isinstance(text, str) or isinstance(text, _Atom):
            raise ValueError('only <<"text">> binaries are read')
        return text, position + 3
    closing = {"[": "]", "{": "}"}.get(kind)
    if closing is None:
        raise ValueError(f"unexpected {kind!r}")
    items: list[Any] = []
    position += 1
    while position < len(tokens) and tokens[position][0] != closing:
        if items:
            if tokens[position][0] != ",":
                raise ValueError(f"expected a comma or {closing!r}, not {tokens[position][0]!r}")
            position += 1
        item, position = _parse_term(tokens, position)
        items.append(item)
    if position >= len(tokens):
        raise ValueError(f"a {kind!r} is never closed")
    return (items if kind == "[" else tuple(items)), position + 1


def _optfile_sections(path: str, terms: list[Any]) -> dict[str, list[Any]]:
    """``{server: [...], client: [...]}`` of an optfile's single list term."""
    if len(terms) != 1 or not isinstance(terms[0], list):
        raise TlsOptionsError(f"optfile {path!r}: not one list [{{server, ...}}, {{client, ...}}]")
    sections: dict[str, list[Any]] = {}
    for entry in terms[0]:
        if (
            not isinstance(entry, tuple)
            or len(entry) != 2
            or entry[0] not in ("server", "client")
            or not isinstance(entry[1], list)
        ):
            raise TlsOptionsError(f"optfile {path!r}: {entry!r} is not {{server|client, [...]}}")
        sections[entry[0]] = entry[1]
    return sections


def _is_atom(value: Any, *names: str) -> bool:
    """True for an atom (one of ``names`` when given)."""
    return isinstance(value, _Atom) and (not names or value in names)


def _section_fields(path: str, side: str, options: list[Any]) -> dict[str, Any]:
    """One section's ssl options as `TlsOptions` fields."""
    fields: dict[str, Any] = {}
    for option in options:
        if not isinstance(option, tuple) or len(option) != 2 or not isinstance(option[0], _Atom):
            raise TlsOptionsError(f"optfile {path!r}: {option!r} is not an ssl option")
        key, value = option
        if key in _FILE_OPTIONS and isinstance(value, str) and not isinstance(value, _Atom):
            fields[key] = value
        elif key == "verify" and _is_atom(value, "verify_peer", "verify_none"):
            fields["verify"] = value == "verify_peer"
        elif key == "fail_if_no_peer_cert" and _is_atom(value, "true", "false"):
            if side == "server":
                fields["fail_if_no_peer_cert"] = value == "true"
        elif key == "versions" and isinstance(value, list) and all(map(_is_atom, value)):
            fields["versions"] = tuple(str(version) for version in value)
        elif key not in _IGNORED_OPTIONS:
            raise TlsOptionsError(
                f"optfile {path!r}: {side} option {{{key}, {value!r}}} is not supported here"
            )
    return fields


def _erlang_string(value: PathLike) -> str:
    """An Erlang string literal (a charlist, as ssl options take file names)."""
    text = os.fspath(value)
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def _erlang_list(items: list[str]) -> str:
    return "[" + ", ".join(items) + "]"
