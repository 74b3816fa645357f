# The OTP workloads of otp_bench.py on the BEAM. Prints one JSON line.
# Run: elixir --erl "+S 1" otp.exs WORKLOAD [quick]
Logger.configure(level: :none)

defmodule Echo do
  use GenServer
  def init(s), do: {:ok, s}
  def handle_call(req, _from, s), do: {:reply, req, s}
end

defmodule Crasher do
  def start_link(counter), do: {:ok, spawn_link(fn -> send(counter, :started); exit(:boom) end)}
end

defmodule OB do
  def now, do: System.monotonic_time(:nanosecond)
  def rate(n, t0), do: ~s({"n": #{n}, "per_second": #{n / ((now() - t0) / 1.0e9)}})

  def call(n) do
    {:ok, pid} = GenServer.start_link(Echo, nil)
    t0 = now()
    Enum.each(1..n, fn i -> GenServer.call(pid, i) end)
    rate(n, t0)
  end

  def agent(n) do
    {:ok, a} = Agent.start_link(fn -> 42 end)
    t0 = now()
    Enum.each(1..n, fn _ -> Agent.get(a, & &1) end)
    rate(n, t0)
  end

  def restarts(n) do
    me = self()
    child = %{id: :c, start: {Crasher, :start_link, [me]}, restart: :permanent}
    t0 = now()
    {:ok, _} = Supervisor.start_link([child], strategy: :one_for_one, max_restarts: 10 * n, max_seconds: 3600)
    Enum.each(0..n, fn _ -> receive do :started -> :ok end end)
    rate(n, t0)
  end

  def stream(n) do
    t0 = now()
    ^n = Task.async_stream(1..n, fn x -> x * 2 end, max_concurrency: 100) |> Enum.count()
    rate(n, t0)
  end
end

[w | rest] = System.argv()
q = rest == ["quick"]
parent = self()
spawn(fn ->
  Process.flag(:trap_exit, true)
  out = case w do
    "call" -> OB.call(if q, do: 10_000, else: 100_000)
    "agent" -> OB.agent(if q, do: 10_000, else: 100_000)
    "restarts" -> OB.restarts(if q, do: 2_000, else: 20_000)
    "stream" -> OB.stream(if q, do: 10_000, else: 100_000)
  end
  send(parent, {:out, out})
end)
receive do {:out, out} -> IO.puts(out) end
