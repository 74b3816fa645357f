"""Erlang distribution: beamlet as a peer of Erlang/Elixir nodes.

The first piece is the External Term Format codec (`beamlet.dist.etf`): the bytes every
message, control signal and ``term_to_binary`` result is made of.
"""

from beamlet.dist import node
from beamlet.dist.etf import (
    BitBinary,
    Codec,
    ETFError,
    ExtExport,
    ExtFun,
    ExtPid,
    ExtPort,
    ExtRef,
    FrozenList,
    FrozenMap,
    ImproperList,
    decode,
    decode_prefix,
    encode,
)

__all__ = [
    "BitBinary",
    "Codec",
    "ETFError",
    "ExtExport",
    "ExtFun",
    "ExtPid",
    "ExtPort",
    "ExtRef",
    "FrozenList",
    "FrozenMap",
    "ImproperList",
    "decode",
    "decode_prefix",
    "encode",
    "node",
]
