# The priority stress test on the BEAM, as sched_bench.py does it in beamlet:
# N low-priority busy loops, then `trials` times: sleep 5 ms, spawn a :high process that sums
# 1..1000 and reports; latency = spawn to report. Prints one JSON line.
# Run: elixir --erl "+S 1" priority.exs [trials]
defmodule Prio do
  def loop(n), do: loop(n + 1)
  def pct(xs, p) do
    s = Enum.sort(xs)
    Enum.at(s, min(length(s) - 1, round(p / 100 * (length(s) - 1))))
  end
  def trial(me) do
    receive do after 5 -> :ok end
    t0 = System.monotonic_time(:nanosecond)
    Process.spawn(fn -> Enum.sum(1..1000); send(me, {:done, System.monotonic_time(:nanosecond) - t0}) end, [priority: :high])
    receive do {:done, dt} -> dt / 1.0e6 end
  end
  def run(n, trials) do
    me = self()
    hogs = for _ <- 1..n, do: Process.spawn(fn -> loop(0) end, [priority: :low])
    lat = for _ <- 1..trials, do: trial(me)
    Enum.each(hogs, &Process.exit(&1, :kill))
    ~s("spinners=#{n}": {"p50_ms": #{pct(lat, 50)}, "p99_ms": #{pct(lat, 99)}, "max_ms": #{Enum.max(lat)}})
  end
end
trials = case System.argv() do [t] -> String.to_integer(t); _ -> 200 end
parent = self()
spawn(fn -> send(parent, {:res, [Prio.run(1, trials), Prio.run(3, trials)]}) end)
receive do {:res, parts} -> IO.puts("{" <> Enum.join(parts, ", ") <> "}") end
