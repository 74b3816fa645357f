# The Elixir half of tests/dist/test_random_terms.py: echoes what a beamlet node sends, and
# sends it random terms of its own, each with the bytes OTP itself encodes it as.
#
# Run by the test as
#   elixir --sname ... -e 'Code.require_file(path); RandomTerms.main(:"py@host", seed, count, producers, echoes)'
#
# 1. `main` registers itself as :control, starts `echoes` echo processes and sends
#    {:hello, control, echo_pids, identities} to {:control, py}, where identities are
#    {term, term_to_binary(term, minor_version: 2)} pairs for pids, refs, ports and funs born
#    here (always as many: two ports of the few a node has), which the beamlet side puts in
#    its random terms and checks that they come back byte-exact.
# 2. An echo answers {from, k, seq, term} with {k, seq, term, term_to_binary(term, minor_version: 2)}
#    sent to `from`: what arrived, and the bytes OTP makes of what arrived.
# 3. On {:generate, sinks, their_ids} (sinks: beamlet pids; their_ids: beamlet-born pids and
#    refs), `producers` processes each send `count` random terms to a sink (producer k to
#    sink rem(k, length(sinks))) as {k, seq, term, bytes_minor2, bytes_default, bytes_compressed},
#    the last being nil except every 16th message, then {k, :done}. Message seq of producer k
#    is generated from the seed {seed, k, seq} alone, so a failing message can be made again
#    on its own.

defmodule RandomTerms do
  @moduledoc false
  import Bitwise

  def main(py, seed, count, producers, echoes) do
    Process.register(self(), :control)
    echo_pids = for _ <- 1..echoes, do: spawn_link(&echo/0)
    identities = Enum.map(identities(), &{&1, :erlang.term_to_binary(&1, minor_version: 2)})
    send({:control, py}, {:hello, self(), echo_pids, identities})
    IO.puts("ready")

    receive do
      {:generate, sinks, their_ids} ->
        pool = List.to_tuple(Enum.map(identities, &elem(&1, 0)) ++ their_ids)
        sinks = List.to_tuple(sinks)

        for k <- 0..(producers - 1) do
          sink = elem(sinks, rem(k, tuple_size(sinks)))
          spawn_link(fn -> produce(sink, k, seed, count, pool) end)
        end
    end

    Process.sleep(:infinity)
  end

  defp echo do
    receive do
      {from, k, seq, term} ->
        send(from, {k, seq, term, :erlang.term_to_binary(term, minor_version: 2)})
        echo()
    end
  end

  # --- identities born on this node --------------------------------------------------------

  defp identities do
    y = System.unique_integer([:positive])
    me = self()
    live = spawn(fn -> Process.sleep(:infinity) end)
    {dead, dead_ref} = spawn_monitor(fn -> :ok end)
    receive do: ({:DOWN, ^dead_ref, :process, ^dead, _} -> :ok)
    {evaluated, _} = Code.eval_string("fn a, b -> {a, b, z} end", z: [1, 2])

    [
      me,
      live,
      dead,
      make_ref(),
      dead_ref,
      Process.monitor(live),
      :erlang.alias(),
      fn -> :constant end,
      fn x -> x + y end,
      fn x -> {x, me, dead_ref, [y, "bin", 1.5]} end,
      fn a, b, c -> %{a => b, c => y} end,
      evaluated,
      &Enum.map/2,
      &:erlang.node/0,
      &RandomTerms.term/2
    ] ++ Enum.take(Port.list(), 2)
  end

  # --- the producers ------------------------------------------------------------------------

  defp produce(sink, k, seed, count, pool) do
    for seq <- 0..(count - 1) do
      :rand.seed(:exsss, {seed, k, seq})
      term = pick(3, pool, 10 + :rand.uniform(14))
      compressed = if rem(seq, 16) == 0, do: :erlang.term_to_binary(term, compressed: 6)

      send(
        sink,
        {k, seq, term, :erlang.term_to_binary(term, minor_version: 2),
         :erlang.term_to_binary(term), compressed}
      )
    end

    send(sink, {k, :done})
  end

  @doc "A random term nested at most `depth` containers deep, drawing identities from `pool`."
  def term(depth, pool) do
    if depth <= 0, do: leaf(pool), else: pick(depth, pool, :rand.uniform(24))
  end

  defp pick(_depth, pool, choice) when choice <= 10, do: leaf(pool)
  defp pick(depth, pool, 11), do: list(depth, pool)
  defp pick(depth, pool, 12), do: list(depth, pool)
  defp pick(depth, pool, 13), do: List.to_tuple(list(depth, pool))
  defp pick(depth, pool, 14), do: List.to_tuple(list(depth, pool))
  defp pick(depth, pool, 15), do: map(depth, pool, :rand.uniform(5) - 1)
  defp pick(depth, pool, 16), do: map(depth, pool, :rand.uniform(5) - 1)
  defp pick(depth, pool, 17), do: improper(depth, pool)
  defp pick(_depth, _pool, 18), do: charlist()
  defp pick(depth, pool, 19), do: {:EXIT, pid(pool), term(depth - 1, pool)}
  defp pick(depth, pool, 20), do: {:DOWN, ref(pool), :process, pid(pool), term(depth - 1, pool)}
  defp pick(depth, pool, 21), do: {atom(), term(depth - 1, pool)}
  defp pick(depth, pool, 22), do: [term(depth - 1, pool) | term(depth - 1, pool)]
  defp pick(depth, pool, 23), do: [term(depth - 1, pool), term(depth - 1, pool)]
  defp pick(depth, pool, 24) do
    if :rand.uniform(16) == 1, do: large(depth, pool, :rand.uniform(6)), else: list(depth, pool)
  end

  # Rare shapes, at the boundaries of the encodings.
  defp large(_depth, _pool, 1), do: List.to_tuple(Enum.to_list(1..(255 + :rand.uniform(50))))
  defp large(_depth, _pool, 2), do: Map.new(1..(32 + :rand.uniform(20)), &{&1, atom()})
  defp large(_depth, _pool, 3), do: Enum.map(1..(65530 + :rand.uniform(10)), &rem(&1, 256))
  defp large(_depth, _pool, 4), do: Enum.map(1..(200 + :rand.uniform(100)), fn _ -> integer() end)
  defp large(_depth, _pool, 5), do: random_bytes(70_000)
  defp large(depth, pool, 6), do: nested(depth + 20, pool)

  defp nested(0, pool), do: leaf(pool)
  defp nested(n, pool), do: [nested(n - 1, pool)]

  defp list(depth, pool), do: for(_ <- 1..(:rand.uniform(6) - 1)//1, do: term(depth - 1, pool))

  defp improper(depth, pool) do
    items = for _ <- 1..:rand.uniform(3), do: term(depth - 1, pool)
    tail = leaf(pool)
    tail = if is_list(tail), do: :tail, else: tail
    items ++ tail
  end

  # Keys that Python would deem equal (1 and 1.0, true and 1, [1] and {1}) cannot be two keys
  # of one dict, so a map holds at most one key of each Python class (see `python_key`).
  defp map(depth, pool, size) do
    {pairs, _} =
      Enum.reduce(1..size//1, {[], MapSet.new()}, fn _, {pairs, seen} ->
        key = term(min(depth - 1, 1), pool)
        class = python_key(key)

        if MapSet.member?(seen, class),
          do: {pairs, seen},
          else: {[{key, term(depth - 1, pool)} | pairs], MapSet.put(seen, class)}
      end)

    Map.new(pairs)
  end

  defp python_key(true), do: {:number, 1}
  defp python_key(false), do: {:number, 0}
  defp python_key(n) when is_integer(n), do: {:number, n}
  defp python_key(f) when is_float(f) and f == trunc(f), do: {:number, trunc(f)}
  defp python_key(f) when is_float(f), do: {:float, f}
  # Exit and Down are named tuples of their fields: {:EXIT, p, r} is equal to {p, r} in Python.
  defp python_key({:EXIT, pid, reason}), do: python_key({pid, reason})
  defp python_key({:DOWN, ref, :process, pid, reason}), do: python_key({ref, pid, reason})
  defp python_key(t) when is_tuple(t), do: list_key(Tuple.to_list(t), [])
  defp python_key(l) when is_list(l), do: list_key(l, [])

  defp python_key(m) when is_map(m),
    do: {:map, MapSet.new(m, fn {k, v} -> {python_key(k), python_key(v)} end)}

  defp python_key(other), do: other

  defp list_key([], keys), do: {:sequence, Enum.reverse(keys)}
  defp list_key([head | tail], keys), do: list_key(tail, [python_key(head) | keys])
  defp list_key(tail, keys), do: {:improper, Enum.reverse(keys), python_key(tail)}

  # --- leaves -------------------------------------------------------------------------------

  defp leaf(pool) do
    case :rand.uniform(14) do
      1 -> atom()
      2 -> atom()
      3 -> integer()
      4 -> integer()
      5 -> float()
      6 -> random_bytes(:rand.uniform(12) - 1)
      7 -> bitstring()
      8 -> Enum.random([true, false, nil, :undefined, :ok])
      9 -> elem(pool, :rand.uniform(tuple_size(pool)) - 1)
      10 -> elem(pool, :rand.uniform(tuple_size(pool)) - 1)
      11 -> charlist()
      12 -> []
      13 -> {}
      14 -> %{}
    end
  end

  defp pid(pool), do: identity(pool, &is_pid/1)
  defp ref(pool), do: identity(pool, &is_reference/1)

  defp identity(pool, kind) do
    found = pool |> Tuple.to_list() |> Enum.filter(kind)
    Enum.at(found, :rand.uniform(length(found)) - 1)
  end

  defp atom do
    length =
      case :rand.uniform(20) do
        1 -> 255
        2 -> 0
        _ -> :rand.uniform(12)
      end

    alphabet = Enum.random([:ascii, :latin1, :bmp, :astral])
    String.to_atom(List.to_string(for _ <- 1..length//1, do: codepoint(alphabet)))
  end

  defp codepoint(:ascii), do: 31 + :rand.uniform(95)
  defp codepoint(:latin1), do: 159 + :rand.uniform(96)
  defp codepoint(:bmp), do: 0x4DFF + :rand.uniform(0x5000)
  defp codepoint(:astral), do: 0x1F2FF + :rand.uniform(0x300)

  defp integer do
    case :rand.uniform(6) do
      1 -> :rand.uniform(256) - 1
      2 -> :rand.uniform(512) - 256
      3 -> :rand.uniform(1 <<< 32) - (1 <<< 31) - 1
      4 -> Enum.random([255, 256, -1, 2_147_483_647, -2_147_483_648, 2_147_483_648, -2_147_483_649])
      5 -> sign() * :rand.uniform(1 <<< (32 + :rand.uniform(200)))
      6 -> sign() * (1 <<< (2040 + :rand.uniform(20)))
    end
  end

  defp sign, do: Enum.random([-1, 1])

  # Any finite double: random bits, the exponent's all-ones pattern (inf, nan) drawn again.
  defp float do
    case :rand.uniform(4) do
      1 -> Enum.random([0.0, -0.0, 1.0, -1.5, 5.0e-324, 1.7976931348623157e308])
      2 -> (:rand.uniform() - 0.5) * 1000
      _ -> random_float()
    end
  end

  defp random_float do
    case random_bytes(8) do
      <<_::1, 0x7FF::11, _::52>> -> random_float()
      <<value::float>> -> value
    end
  end

  defp bitstring do
    bits = :rand.uniform(7)
    <<random_bytes(:rand.uniform(4) - 1)::binary, :rand.uniform(1 <<< bits) - 1::size(bits)>>
  end

  defp charlist, do: for(_ <- 1..(:rand.uniform(8) - 1)//1, do: :rand.uniform(256) - 1)

  # From the seeded generator (not :crypto), so that a seed makes the same bytes again.
  defp random_bytes(0), do: <<>>
  defp random_bytes(size), do: :binary.list_to_bin(for _ <- 1..size, do: :rand.uniform(256) - 1)
end
