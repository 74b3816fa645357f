"""How long the ETF codec takes on the message a `GenServer.call` sends.

The message is the research report's ``$gen_call`` (shared/research/erlang-distribution.md,
sections 3.1 and 5): ``{:"$gen_call", {pid, [:alias | ref]}, {:get, "key", [1, 2, 3],
%{"a" => 1.5}}}``, as OTP 25 writes it, both with UTF-8 atoms (the distribution's form) and
with ``term_to_binary``'s default Latin-1 atoms. The figure is one ``decode`` plus one
``encode`` of it (the target: at most 10 us; erlang-py 2.0.7 took 27 us in the report).

    python bench/dist/codec_bench.py            # the C fast path and the pure-Python codec
    python bench/dist/codec_bench.py --beam     # also the BEAM's binary_to_term + term_to_binary

When erlang-py (the PyPI codec the report compared, module ``erlang``) is importable, it is
timed on the same bytes in the same run, since these shared machines' speed varies.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import timeit

from beamlet.dist import etf

# Produced by :erlang.term_to_binary on Erlang/OTP 25 (erts 13.1.5); tests/dist checks these
# bytes against a live run.
GEN_CALL = {
    "utf8 atoms (minor_version 2)": bytes.fromhex(
        "83680377092467656E5F63616C6C680258770D6E6F6E6F6465406E6F686F737400000060000000000000"
        "00006C000000017705616C6961735A0003770D6E6F6E6F6465406E6F686F737400000000000113AA3FE8"
        "000180534072680477036765746D000000036B65796B000301020374000000016D0000000161463FF800"
        "0000000000"),
    "latin-1 atoms (OTP 25 default)": bytes.fromhex(
        "8368036400092467656E5F63616C6C68025864000D6E6F6E6F6465406E6F686F73740000006000000000"
        "000000006C00000001640005616C6961735A000364000D6E6F6E6F6465406E6F686F7374000000000001"
        "13AA3FE800018053407268046400036765746D000000036B65796B000301020374000000016D00000001"
        "61463FF8000000000000"),
}

TARGET_US = 10.0
ERLANG_PY_REPORT_US = 27.0


def per_call_us(fn, number: int, repeat: int) -> float:
    """The best of ``repeat`` runs of ``number`` calls, in microseconds per call."""
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number * 1e6


def measure(codec: etf.Codec, data: bytes, number: int, repeat: int) -> dict[str, float]:
    term = codec.decode(data)
    assert codec.encode(term) == data, "the codec must give back the same bytes"
    decode, encode = codec.decode, codec.encode
    return {
        "decode+encode": per_call_us(lambda: encode(decode(data)), number, repeat),
        "decode": per_call_us(lambda: decode(data), number, repeat),
        "encode": per_call_us(lambda: encode(term), number, repeat),
    }


def erlang_py_us(data: bytes, number: int, repeat: int) -> float | None:
    """erlang-py 2.0.7's ``term_to_binary(binary_to_term(data))``, if it is installed."""
    try:
        import erlang  # type: ignore[import-not-found]
    except ImportError:
        return None
    decode, encode = erlang.binary_to_term, erlang.term_to_binary
    return per_call_us(lambda: encode(decode(data)), number, repeat)


BEAM_SCRIPT = """
[hex, n] = System.argv()
b = Base.decode16!(hex)
n = String.to_integer(n)
run = fn ->
  Enum.each(1..n, fn _ ->
    :erlang.term_to_binary(:erlang.binary_to_term(b), minor_version: 2)
  end)
end
best = Enum.min(for _ <- 1..7, do: elem(:timer.tc(run), 0))
IO.puts(best / n)
"""


def beam_us(data: bytes, number: int) -> float | None:
    """The BEAM's own decode+encode of the same bytes (``+S 1``), in microseconds."""
    elixir = shutil.which("elixir")
    if elixir is None:
        return None
    done = subprocess.run([elixir, "--erl", "+S 1", "-e", BEAM_SCRIPT, data.hex().upper(),
                           str(number)], capture_output=True, text=True, timeout=600, check=True)
    return float(done.stdout.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=100_000, help="calls per timing run")
    parser.add_argument("--repeat", type=int, default=7, help="timing runs (the best counts)")
    parser.add_argument("--beam", action="store_true", help="time the BEAM on the same bytes")
    args = parser.parse_args()
    codecs = {"C fast path": (etf.Codec(), etf.Codec(minor_version=1)),
              "pure Python": (etf.Codec(use_c=False), etf.Codec(use_c=False, minor_version=1))}
    if not codecs["C fast path"][0].accelerated:
        print("(the C fast path is not built: `pip install -e .` builds it)")
        del codecs["C fast path"]
    print(f"$gen_call message, best of {args.repeat} x {args.number:,} calls, us per call")
    print(f"{'codec':<13} {'atoms':<31} {'bytes':>5} {'dec+enc':>8} {'decode':>7} {'encode':>7}")
    rows = []
    for name, (utf8, latin1) in codecs.items():
        for form, data in GEN_CALL.items():
            codec = utf8 if form.startswith("utf8") else latin1
            number = args.number if codec.accelerated else max(args.number // 10, 1)
            figures = measure(codec, data, number, args.repeat)
            rows.append((name, form, figures["decode+encode"]))
            verdict = "ok" if figures["decode+encode"] <= TARGET_US else f"> {TARGET_US:g} us"
            print(f"{name:<13} {form:<31} {len(data):>5} {figures['decode+encode']:>8.2f} "
                  f"{figures['decode']:>7.2f} {figures['encode']:>7.2f}  {verdict}")
    other = erlang_py_us(GEN_CALL["latin-1 atoms (OTP 25 default)"], args.number // 10 or 1,
                         args.repeat)
    if other is not None:
        print(f"{'erlang-py':<13} {'latin-1 atoms (OTP 25 default)':<31} "
              f"{len(GEN_CALL['latin-1 atoms (OTP 25 default)']):>5} {other:>8.2f}")
        # The report timed erlang-py at 27.0 us on an idle machine of this kind: the same
        # ratio puts this run's figures on that machine's scale.
        print(f"on the report's scale (erlang-py = {ERLANG_PY_REPORT_US} us):")
        for name, form, figure in rows:
            print(f"  {name:<13} {form:<31} {figure * ERLANG_PY_REPORT_US / other:>8.2f} us")
    if args.beam:
        figure = beam_us(GEN_CALL["utf8 atoms (minor_version 2)"], args.number)
        print(f"{'BEAM (+S 1)':<13} {'utf8 atoms (minor_version 2)':<31} "
              f"{len(GEN_CALL['utf8 atoms (minor_version 2)']):>5} "
              + (f"{figure:>8.2f}" if figure is not None else "   (no elixir)"))


if __name__ == "__main__":
    main()
