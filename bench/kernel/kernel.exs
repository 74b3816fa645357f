# The kernel workloads of kernel_bench.py on the BEAM. Prints one JSON line.
# Run: elixir --erl "+P 5000000 +S 1" kernel.exs WORKLOAD [quick]
defmodule KB do
  def now, do: System.monotonic_time(:nanosecond)
  def secs(t0), do: (now() - t0) / 1.0e9
  def rss do
    [_, res | _] = File.read!("/proc/self/statm") |> String.split()
    String.to_integer(res) * 4096
  end

  def waiter(parent), do: (send(parent, :ready); receive do _ -> :ok end)
  def spawn_main(n) do
    # A million "ready" messages: keep them off the parent's heap, as one would in production.
    Process.flag(:message_queue_data, :off_heap)
    me = self()
    before = rss()
    t0 = now()
    Enum.each(1..n, fn _ -> spawn(fn -> waiter(me) end) end)
    Enum.each(1..n, fn _ -> receive do :ready -> :ok end end)
    s = secs(t0)
    ~s({"n": #{n}, "seconds": #{s}, "bytes_per_process": #{(rss() - before) / n}})
  end

  def sky(num, 1, _div, parent), do: send(parent, num)
  def sky(num, size, div, parent) do
    me = self()
    step = div(size, div)
    for i <- 0..(div - 1), do: spawn(fn -> sky(num + i * step, step, div, me) end)
    send(parent, collect(div, 0))
  end
  def collect(0, acc), do: acc
  def collect(n, acc), do: (receive do x -> collect(n - 1, acc + x) end)
  def skynet_main(n) do
    me = self()
    t0 = now()
    spawn(fn -> sky(0, n, 10, me) end)
    receive do _total -> :ok end
    ~s({"n": #{n}, "seconds": #{secs(t0)}})
  end

  def echo, do: (receive do {from, m} -> send(from, m); echo() end)
  def pingpong_main(n) do
    e = spawn(&echo/0)
    me = self()
    t0 = now()
    Enum.each(1..n, fn i -> send(e, {me, i}); receive do _ -> :ok end end)
    ~s({"n": #{n}, "per_second": #{n / secs(t0)}})
  end

  def pingpong_timeout_main(n) do
    e = spawn(&echo/0)
    me = self()
    t0 = now()
    Enum.each(1..n, fn i -> send(e, {me, i}); receive do _ -> :ok after 5000 -> :timeout end end)
    ~s({"n": #{n}, "per_second": #{n / secs(t0)}})
  end

  def counter(0, parent), do: send(parent, :done)
  def counter(n, parent), do: (receive do _ -> counter(n - 1, parent) end)
  def oneway_main(n) do
    me = self()
    c = spawn(fn -> counter(n, me) end)
    t0 = now()
    Enum.each(1..n, fn i -> send(c, i) end)
    receive do :done -> :ok end
    ~s({"n": #{n}, "per_second": #{n / secs(t0)}})
  end

  def ring_node(nxt), do: (receive do 0 -> send(nxt, -1); m -> send(nxt, m - 1); ring_node(nxt) end)
  def ring_loop(nxt) do
    receive do
      m when m <= 0 -> :ok
      m -> send(nxt, m - 1); ring_loop(nxt)
    end
  end
  def ring_main(size, hops) do
    me = self()
    first = Enum.reduce(1..size, me, fn _, nxt -> spawn(fn -> ring_node(nxt) end) end)
    t0 = now()
    send(first, hops)
    ring_loop(first)
    ~s({"size": #{size}, "hops": #{hops}, "per_second": #{hops / secs(t0)}})
  end

  def replier, do: (receive do {from, ref} -> send(from, {:reply, ref, 1}); replier() end)
  def selective_main(k) do
    me = self()
    r = spawn(&replier/0)
    {parts, _} = Enum.map_reduce([1_000, 10_000, 100_000], 0, fn backlog, queued ->
      for i <- 1..(backlog - queued), do: send(me, {:junk, i})
      t0 = now()
      Enum.each(1..k, fn _ ->
        ref = make_ref()
        send(r, {me, ref})
        receive do {:reply, ^ref, _} -> :ok end
      end)
      {~s("backlog=#{backlog}": #{(now() - t0) / 1000 / k}), backlog}
    end)
    ~s({"us_per_exchange": {#{Enum.join(parts, ", ")}}})
  end
end

[w | rest] = System.argv()
q = rest == ["quick"]
n = if q, do: 100_000, else: 1_000_000
parent = self()
spawn(fn ->
  out = case w do
    "spawn" -> KB.spawn_main(n)
    "skynet" -> KB.skynet_main(n)
    "pingpong" -> KB.pingpong_main(n)
    "pingpong_timeout" -> KB.pingpong_timeout_main(n)
    "oneway" -> KB.oneway_main(n)
    "ring" -> KB.ring_main(10_000, n)
    "selective" -> KB.selective_main(if q, do: 2_000, else: 10_000)
  end
  send(parent, {:out, out})
end)
receive do {:out, out} -> IO.puts(out) end
