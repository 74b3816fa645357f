# The distribution workloads on an Elixir node: a server that starts the processes a client
# measures against, and a client that runs one workload and prints one JSON line.
# dist_node.py is the same on a beamlet node; dist_bench.py starts both and compares.
#
#   elixir --sname S --cookie C --erl "-start_epmd false" dist_node.exs server
#   elixir --sname C --cookie C --erl "-start_epmd false" dist_node.exs client WORKLOAD SERVER N
#
# The wire protocol (the same on both implementations; atoms are str on the beamlet side):
#   {:start, kind, arg, from} to the server's registered :bench -> {:started, pid}
#   echo:    {from, x} -> x back to from
#   counter: arg {n, every, from}: integers in; {:ack, count} to from every `every` and at n
#   gen:     a GenServer answering {:echo, x} with x (a small term, or a 100 KB binary)
#   sink:    {:big, binary, from} -> {:got, byte_size(binary)} to from
defmodule DistBench.Gen do
  use GenServer
  def init(state), do: {:ok, state}
  def handle_call({:echo, x}, _from, state), do: {:reply, x, state}
end

defmodule DistBench do
  # Only against a lost message (less than dist_bench.py's guard on the whole run).
  @guard_ms 30_000

  def now_us, do: System.monotonic_time(:microsecond)

  # --- server ------------------------------------------------------------------------------

  def serve do
    receive do
      {:start, kind, arg, from} -> send(from, {:started, start(kind, arg)})
    end

    serve()
  end

  def start(:echo, _), do: spawn(&echo/0)
  def start(:counter, {n, every, from}), do: spawn(fn -> count(0, n, every, from) end)
  def start(:sink, _), do: spawn(&sink/0)

  def start(:gen, _) do
    {:ok, pid} = GenServer.start(DistBench.Gen, nil)
    pid
  end

  def echo do
    receive do
      {from, x} -> send(from, x)
    end

    echo()
  end

  def count(n, n, _every, _from), do: :ok

  def count(seen, n, every, from) do
    receive do
      _ ->
        seen = seen + 1
        if rem(seen, every) == 0 or seen == n, do: send(from, {:ack, seen})
        count(seen, n, every, from)
    end
  end

  def sink do
    receive do
      {:big, bin, from} -> send(from, {:got, byte_size(bin)})
    end

    sink()
  end

  # --- client ------------------------------------------------------------------------------

  def remote(server, kind, arg) do
    send({:bench, server}, {:start, kind, arg, self()})

    receive do
      {:started, pid} -> pid
    after
      @guard_ms -> raise "the server #{server} did not start #{kind}"
    end
  end

  def rate(n, t0), do: n / ((now_us() - t0) / 1.0e6)

  def round_trips(echo, n) do
    me = self()

    Enum.each(1..n, fn i ->
      send(echo, {me, i})

      receive do
        ^i -> :ok
      after
        @guard_ms -> raise "round trip #{i}: no answer in #{div(@guard_ms, 1000)} s"
      end
    end)
  end

  def run("pingpong", server, n) do
    echo = remote(server, :echo, nil)
    round_trips(echo, div(n, 10))
    t0 = now_us()
    round_trips(echo, n)
    %{n: n, per_second: rate(n, t0)}
  end

  def run("oneway", server, n) do
    every = 500
    counter = remote(server, :counter, {n, every, self()})
    t0 = now_us()
    push(counter, 1, n, 0, 10 * every)
    %{n: n, per_second: rate(n, t0)}
  end

  def run("call", server, n) do
    gen = remote(server, :gen, nil)
    Enum.each(1..div(n, 10), fn i -> GenServer.call(gen, {:echo, i}) end)
    t0 = now_us()
    Enum.each(1..n, fn i -> ^i = GenServer.call(gen, {:echo, i}) end)
    %{n: n, per_second: rate(n, t0)}
  end

  def run("call_100k", server, n) do
    gen = remote(server, :gen, nil)
    bin = :binary.copy(<<7>>, 100_000)
    Enum.each(1..div(n, 10), fn _ -> GenServer.call(gen, {:echo, bin}) end)
    t0 = now_us()
    Enum.each(1..n, fn _ -> ^bin = GenServer.call(gen, {:echo, bin}) end)
    %{n: n, per_second: rate(n, t0)}
  end

  # n: how many 100 MB binaries go across, one after another; ping-pong runs during each.
  def run("big_latency", server, n) do
    echo = remote(server, :echo, nil)
    sink = remote(server, :sink, nil)
    round_trips(echo, 100)
    bin = :binary.copy(<<7>>, 100_000_000)
    me = self()

    {samples, seconds} =
      Enum.reduce(1..n, {[], []}, fn _, {samples, seconds} ->
        pinger = spawn(fn -> ping_while(echo, me, []) end)
        t0 = now_us()
        send(sink, {:big, bin, me})
        receive do
          {:got, 100_000_000} -> :ok
        after
          @guard_ms -> raise "the 100 MB binary did not arrive"
        end
        took = (now_us() - t0) / 1.0e6
        send(pinger, :stop)
        receive do
          {:samples, these} -> {these ++ samples, [took | seconds]}
        after
          @guard_ms -> raise "the pinger did not stop"
        end
      end)

    sorted = Enum.sort(samples)
    count = length(sorted)
    pick = fn q -> Enum.at(sorted, min(count - 1, trunc(q * count))) / 1000 end
    %{n: n, samples: count, p50_ms: pick.(0.5), p99_ms: pick.(0.99),
      max_ms: List.last(sorted) / 1000, transfer_seconds: Enum.sum(seconds) / n}
  end

  # Round trips until told to stop, each one's duration in microseconds.
  def ping_while(echo, parent, samples) do
    receive do
      :stop -> send(parent, {:samples, samples})
    after
      0 ->
        t0 = now_us()
        send(echo, {self(), :ping})
        receive do
          :ping -> :ok
        end
        ping_while(echo, parent, [now_us() - t0 | samples])
    end
  end

  # Send 1..n to the counter, never more than `window` ahead of its last ack; return at its
  # ack of n.
  def push(_counter, i, n, acked, _window) when acked == n and i > n, do: :ok

  def push(counter, i, n, acked, window) when i > n or i - acked > window do
    receive do
      {:ack, seen} -> push(counter, i, n, seen, window)
    after
      @guard_ms -> raise "the counter has not acknowledged past #{acked} of #{n}"
    end
  end

  def push(counter, i, n, acked, window) do
    send(counter, i)
    push(counter, i + 1, n, acked, window)
  end

  def json(map) do
    fields = Enum.map(map, fn {k, v} -> ~s("#{k}": #{v}) end)
    "{" <> Enum.join(fields, ", ") <> "}"
  end
end

case System.argv() do
  ["server"] ->
    Process.register(self(), :bench)
    IO.puts("ready #{node()}")
    DistBench.serve()

  ["client", workload, server, n] ->
    result = DistBench.run(workload, String.to_atom(server), String.to_integer(n))
    IO.puts(DistBench.json(result))
end
