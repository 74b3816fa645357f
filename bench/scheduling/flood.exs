# The flood test on the BEAM: one process receives `messages` messages from a flooder while 50
# pairs exchange ping-pongs (1 ms apart); ping-pong latency percentiles. Prints one JSON line.
# Run: elixir --erl "+S 1" flood.exs [messages]
defmodule Flood do
  def pct(xs, p) do
    s = Enum.sort(xs)
    Enum.at(s, min(length(s) - 1, round(p / 100 * (length(s) - 1))))
  end
  def sink(0, parent), do: send(parent, :flood_done)
  def sink(n, parent), do: (receive do _ -> sink(n - 1, parent) end)
  def ponger, do: (receive do {from, t} -> send(from, t); ponger() end)
  def pinger(parent, partner, acc) do
    receive do
      :stop -> send(parent, {:lat, acc})
    after 0 ->
      t0 = System.monotonic_time(:nanosecond)
      send(partner, {self(), t0})
      receive do ^t0 -> :ok end
      dt = (System.monotonic_time(:nanosecond) - t0) / 1.0e6
      receive do after 1 -> :ok end
      pinger(parent, partner, [dt | acc])
    end
  end
  def main(messages) do
    me = self()
    pingers = for _ <- 1..50, do: spawn(fn -> pinger(me, spawn(&ponger/0), []) end)
    receive do after 10 -> :ok end
    t0 = System.monotonic_time(:nanosecond)
    s = spawn(fn -> sink(messages, me) end)
    spawn(fn -> Enum.each(1..messages, fn i -> send(s, i) end) end)
    receive do :flood_done -> :ok end
    flood_s = (System.monotonic_time(:nanosecond) - t0) / 1.0e9
    Enum.each(pingers, &send(&1, :stop))
    lat = Enum.flat_map(pingers, fn _ -> receive do {:lat, xs} -> xs end end)
    IO.puts(~s({"flood_s": #{flood_s}, "pingpongs": #{length(lat)}, "p50_ms": #{pct(lat, 50)}, "p99_ms": #{pct(lat, 99)}, "max_ms": #{Enum.max(lat)}}))
  end
end
messages = case System.argv() do [m] -> String.to_integer(m); _ -> 1_000_000 end
Flood.main(messages)
