"""Test vectors from the real BEAM: ``:erlang.term_to_binary`` run by the installed Elixir.

(A module of its own, not conftest.py: the tests import `run_elixir` from it, and a second
module named ``conftest`` would clash with tests/conftest.py.)

One `elixir -e` run per test session prints, for every named term, its encoding under OTP 25's
default (``minor_version: 1``, Latin-1 atoms as ``ATOM_EXT``) and under ``minor_version: 2``
(UTF-8 atoms, what the distribution sends). Without Elixir these tests skip, except under
CI=true, where they fail.
"""

import subprocess

import pytest

from helpers import require_program

# Each line of the script's output: "name hex_minor1 hex_minor2".
VECTORS_SCRIPT = r"""
me = self()
{victim, vref} = spawn_monitor(fn -> receive do :go -> :ok end end)
y = System.unique_integer([:positive])
closure = fn x -> x + y end
port = hd(Port.list())
ref = make_ref()
terms = [
  atom: :ok, atom_latin1: :"héllo", atom_utf8: :"日本", atom_empty: :"",
  atom_255: String.to_atom(String.duplicate("a", 255)),
  atom_long_utf8: String.to_atom(String.duplicate("é", 200)),
  atom_true: true, atom_false: false, atom_nil: nil, undefined: :undefined,
  int_0: 0, int_255: 255, int_256: 256, int_neg: -1, int_max32: 2147483647,
  int_min32: -2147483648, int_past32: 2147483648, int_below32: -2147483649,
  int_70000: 70000, int_neg70000: -70000, big_64: 18446744073709551616,
  big_neg: -18446744073709551616, large_big: Integer.pow(7, 2000),
  float: 1.5, float_neg_zero: -0.0, float_huge: 1.0e300, float_tiny: 5.0e-324,
  bin_empty: "", bin: "key", bin_bytes: <<0, 255, 128>>,
  bin_big: :binary.copy(<<7>>, 70000),
  bits3: <<1::3>>, bits9: <<255, 1::1>>,
  tuple_empty: {}, tuple: {1, :two, "three"}, tuple_300: List.to_tuple(Enum.to_list(1..300)),
  list_empty: [], charlist: [1, 2, 3], charlist_abc: 'abc', list_wide: [256, 1],
  list_atoms: [:a, :b], list_mixed: [1, "x", {:y}],
  long_charlist: Enum.map(1..70000, &rem(&1, 256)),
  improper: [:a | :b], improper2: [1, 2 | 3], improper_nested: [[1] | 2],
  alias_tag: [:alias | ref],
  map_empty: %{}, map: %{"a" => 1.5}, map_atoms: %{a: 1, b: [2]},
  map_tuple_map_key: %{{%{a: 1}} => 1}, map_list_key: %{[1, 2] => :x},
  map_map_key: %{%{k: :v} => [%{}]}, map_40: Map.new(1..40, &{&1, -&1}),
  nested: {[%{"k" => {1, [2.5, "s"]}}], :deep},
  pid: me, pid_other: victim, ref: ref, ref_monitor: vref, alias: :erlang.alias(), port: port,
  fun: fn x -> x + 1 end, closure: closure, export: &Enum.map/2,
  exit: {:EXIT, me, :boom}, down: {:DOWN, vref, :process, victim, :normal},
  down_port: {:DOWN, vref, :port, victim, :normal},
  gen_call: {:"$gen_call", {me, [:alias | ref]}, {:get, "key", [1, 2, 3], %{"a" => 1.5}}}
]
for {name, term} <- terms do
  one = Base.encode16(:erlang.term_to_binary(term))
  two = Base.encode16(:erlang.term_to_binary(term, minor_version: 2))
  IO.puts("#{name} #{one} #{two}")
end
compressed = :erlang.term_to_binary({"abc", String.duplicate("z", 500)}, compressed: 6)
IO.puts("compressed #{Base.encode16(compressed)} #{Base.encode16(compressed)}")
send(victim, :go)
"""


def elixir_or_skip() -> str:
    """The path of `elixir`; skip when missing (no vectors from the real BEAM), fail under
    CI=true."""
    path: str = require_program("elixir")
    return path


def read_vectors() -> dict[str, tuple[bytes, bytes]]:
    """name -> (term_to_binary bytes, minor_version 2 bytes), from the installed OTP."""
    vectors = {}
    for line in run_elixir(VECTORS_SCRIPT).splitlines():
        name, one, two = line.split(" ")
        vectors[name] = (bytes.fromhex(one), bytes.fromhex(two))
    return vectors


def run_elixir(script: str, stdin: str = "") -> str:
    """Run ``elixir -e script`` to completion and return what it printed."""
    done = subprocess.run([elixir_or_skip(), "-e", script], input=stdin, capture_output=True,
                          text=True, timeout=300, check=False)
    if done.returncode != 0:
        pytest.fail(f"elixir failed ({done.returncode}): {done.stderr[-2000:]}")
    return done.stdout
