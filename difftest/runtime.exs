# The Elixir half of the differential tester: runs scenarios step by step on the BEAM and
# prints what was observed, in the same text form as difftest/runtime.py prints beamlet's.
#
# A controller drives each scenario. It sends one step at a time to the actor that performs it,
# waits for the actor's reply (or its death), then settles the node: it pings every live actor
# until a whole round finds nobody newly dead, so every signal the step set off has been
# handled. Then each actor puts the messages that arrived during the step in a canonical order
# (by sender, keeping each sender's order), because the BEAM orders messages from different
# senders only by the timing of their arrival. Pids and refs print as the names the scenario
# gave them (p1, r1), so traces from two runtimes can be compared line by line.
defmodule DT do
  @limit 5_000

  def main(module, seeds) do
    :logger.set_primary_config(:level, :none)
    for seed <- seeds do
      {initial, steps} = module.s(seed)
      lines = run_scenario(initial, steps)
      IO.write(Enum.map_join(lines, "", &"#{seed}|#{&1}\n"))
    end
  end

  # Each scenario's controller is a fresh process, so nothing leaks from one to the next.
  defp run_scenario(initial, steps) do
    leaks = for name <- [:n1, :n2], pid = Process.whereis(name), pid != nil, do: kill(pid)
    if leaks != [], do: IO.puts("LEAK: a previous scenario left #{length(leaks)} named processes")
    me = self()
    {pid, ref} = spawn_monitor(fn -> send(me, {:"$trace", self(), controller(initial, steps)}) end)
    receive do
      {:"$trace", ^pid, lines} ->
        receive do {:DOWN, ^ref, _, _, _} -> lines end
      {:DOWN, ^ref, _, _, reason} -> ["controller crashed #{inspect(reason)}"]
    end
  end

  # --- helpers the steps call ------------------------------------------------------------
  def pid(env, name), do: Map.get(env, name) || env.dead
  def ref(env, label), do: Map.get(env, label) || make_ref()

  def guard(fun) do
    fun.()
  rescue
    e -> {:raised, e}
  end

  # --- actors ------------------------------------------------------------------------------
  # `old` is how many queued messages arrived before the current step (already in canonical order).
  def actor(ctl, old \\ 0) do
    receive do
      {:"$cmd", fun, env} ->
        before = messages()
        result = fun.(env)
        old = kept(messages(), Enum.take(before, old))
        if result != :"$return" do
          send(ctl, {:"$done", self(), result})
          actor(ctl, old)
        end
      {:"$sync", ^ctl} ->
        send(ctl, {:"$ack", self()})
        actor(ctl, old)
      {:"$commit", ^ctl, labels} ->
        n = canonicalize(old, labels)
        send(ctl, {:"$ack", self()})
        actor(ctl, n)
    end
  end

  defp messages, do: elem(Process.info(self(), :messages), 1)

  # How many leading messages of `now` are earlier messages still queued: the longest prefix of
  # `now` that is a subsequence of `earlier` (a step only removes messages, or appends).
  defp kept([m | now], earlier) do
    case Enum.drop_while(earlier, &(&1 !== m)) do
      [_ | rest] -> 1 + kept(now, rest)
      [] -> 0
    end
  end
  defp kept([], _), do: 0

  defp canonicalize(old, labels) do
    {:messages, msgs} = Process.info(self(), :messages)
    {kept, fresh} = Enum.split(msgs, old)
    ordered = canonical_order(fresh, labels)
    if ordered != fresh do
      for _ <- msgs, do: receive(do: (_ -> :ok))
      for m <- kept ++ ordered, do: send(self(), m)
    end
    length(msgs)
  end

  # Stable by sender; a run of DOWNs from one sender is ordered by ref name.
  defp canonical_order(msgs, labels) do
    msgs
    |> Enum.sort_by(&origin(&1, labels))
    |> Enum.chunk_by(&{origin(&1, labels), down?(&1)})
    |> Enum.flat_map(fn
      [m | _] = run -> if down?(m), do: Enum.sort_by(run, &r(elem(&1, 1), labels)), else: run
    end)
  end

  defp origin({:EXIT, from, _}, labels), do: r(from, labels)
  defp origin({:DOWN, _, :process, obj, _}, labels), do: r(obj, labels)
  defp origin({:m, from, _}, labels), do: r(from, labels)
  defp origin(_, _), do: ""

  defp down?(m), do: match?({:DOWN, _, :process, _, _}, m)

  # --- the controller -----------------------------------------------------------------------
  defp controller(initial, steps) do
    {dead, dref} = spawn_monitor(fn -> :ok end)
    receive do {:DOWN, ^dref, _, _, _} -> :ok end
    ctl = self()
    st = %{env: %{ctl: ctl, dead: dead}, labels: %{ctl => "ctl", dead => "dead"}, alive: %{},
           lines: [], deaths: []}
    st = Enum.reduce(initial, st, fn name, st -> adopt(st, name, spawn(DT, :actor, [ctl])) end)
    try do
      st = sync_rounds(st)
      st = steps |> Enum.with_index(1) |> Enum.reduce(st, &step/2)
      st = finish(st)
      Enum.reverse(st.lines)
    catch
      {:stuck, what, st} -> Enum.reverse(["STUCK #{what}" | st.lines])
    end
  end

  defp adopt(st, name, pid) do
    Process.monitor(pid)
    %{st | env: Map.put(st.env, name, pid), labels: Map.put(st.labels, pid, Atom.to_string(name)),
           alive: Map.put(st.alive, pid, name)}
  end

  defp line(st, text), do: %{st | lines: [text | st.lines]}

  defp step({{actor, fun, opts}, i}, st) do
    pid = Map.get(st.env, actor)
    if pid != nil and Map.has_key?(st.alive, pid) do
      send(pid, {:"$cmd", fun, st.env})
      st =
        receive do
          {:"$done", ^pid, result} ->
            st = bind(st, opts[:bind], result)
            line(st, "#{i} #{actor} => #{show(result, st.labels, opts[:sort])}")
          {:DOWN, _, :process, ^pid, reason} ->
            st |> died(pid, reason) |> line("#{i} #{actor} => died")
        after
          @limit -> throw({:stuck, "step #{i}", st})
        end
      settle(st, i)
    else
      line(st, "#{i} #{actor} skip")
    end
  end

  # Name the pids and refs a step's result holds: [{index in a tuple result | nil, kind, name}].
  defp bind(st, binds, result) do
    Enum.reduce(binds || [], st, fn {at, kind, name}, st ->
      value = if at == nil, do: result, else: elem(result, at)
      if kind == :pid, do: adopt(st, name, value), else: name_ref(st, name, value)
    end)
  end

  defp name_ref(st, label, ref),
    do: %{st | env: Map.put(st.env, label, ref), labels: Map.put(st.labels, ref, Atom.to_string(label))}

  defp died(st, pid, reason) do
    name = Map.fetch!(st.alive, pid)
    %{st | alive: Map.delete(st.alive, pid), deaths: [{name, r(reason, st.labels)} | st.deaths]}
  end

  defp settle(st, i) do
    st = st |> drain_downs() |> sync_rounds()
    st = Enum.reduce(live(st), st, &ask(&2, &1, {:"$commit", self(), st.labels}))
    st.deaths |> Enum.sort() |> Enum.reduce(%{st | deaths: []}, fn {name, reason}, st ->
      line(st, "#{i} down #{name} #{reason}")
    end)
  end

  # Round after round, until a whole round finds every live actor still alive.
  defp sync_rounds(st) do
    before = map_size(st.alive)
    st = live(st) |> Enum.reduce(st, &ask(&2, &1, {:"$sync", self()})) |> drain_downs()
    if map_size(st.alive) == before, do: st, else: sync_rounds(st)
  end

  defp live(st), do: st.alive |> Enum.sort_by(fn {_, name} -> name end) |> Enum.map(&elem(&1, 0))

  defp ask(st, pid, msg) do
    send(pid, msg)
    receive do
      {:"$ack", ^pid} -> st
      {:DOWN, _, :process, ^pid, reason} -> died(st, pid, reason)
    after
      @limit -> throw({:stuck, "settling", st})
    end
  end

  defp drain_downs(st) do
    alive = st.alive
    receive do
      {:DOWN, _, :process, pid, reason} when is_map_key(alive, pid) -> drain_downs(died(st, pid, reason))
    after
      0 -> st
    end
  end

  defp finish(st) do
    st =
      Enum.reduce(live(st), st, fn pid, st ->
        info = fn key -> with {_, v} <- Process.info(pid, key), do: v end
        l = st.labels
        line(st, "end #{st.alive[pid]} status=#{r(info.(:status), l)} trap_exit=#{r(info.(:trap_exit), l)}" <>
                 " qlen=#{r(info.(:message_queue_len), l)} name=#{r(info.(:registered_name), l)}" <>
                 " links=#{show(info.(:links), l, true)} monitors=#{show(info.(:monitors), l, true)}" <>
                 " messages=#{r(info.(:messages), l)}")
      end)
    names = Enum.map_join([:n1, :n2], " ", &"#{&1}=#{r(Process.whereis(&1), st.labels)}")
    st = line(st, "end names #{names}")
    for pid <- live(st), do: kill(pid)
    st
  end

  defp kill(pid) do
    ref = Process.monitor(pid)
    Process.exit(pid, :kill)
    receive do {:DOWN, ^ref, :process, ^pid, _} -> :ok end
  end

  # --- rendering ------------------------------------------------------------------------------
  defp show(list, labels, true) when is_list(list),
    do: "[" <> (list |> Enum.map(&r(&1, labels)) |> Enum.sort() |> Enum.join(",")) <> "]"
  defp show(t, labels, true) when is_tuple(t),
    do: "{" <> (t |> Tuple.to_list() |> Enum.map_join(",", &show(&1, labels, true))) <> "}"
  defp show(term, labels, _), do: r(term, labels)

  def r(t, labels) when is_pid(t) or is_reference(t), do: "#" <> Map.get(labels, t, "?")
  def r(t, _) when is_atom(t), do: Atom.to_string(t)
  def r(t, _) when is_integer(t), do: Integer.to_string(t)
  def r({%{__exception__: true} = e, st}, _) when is_list(st), do: exception(e)
  def r({reason, [{m, f, a, loc} | _]}, labels)
      when is_atom(m) and is_atom(f) and (is_integer(a) or is_list(a)) and is_list(loc),
      do: "error(" <> r(reason, labels) <> ")"
  def r(%{__exception__: true} = e, _), do: exception(e)
  def r(t, labels) when is_tuple(t),
    do: "{" <> (t |> Tuple.to_list() |> Enum.map_join(",", &r(&1, labels))) <> "}"
  def r(t, labels) when is_list(t), do: "[" <> Enum.map_join(t, ",", &r(&1, labels)) <> "]"
  def r(t, _), do: "?" <> inspect(t)

  defp exception(%ArgumentError{}), do: "error(badarg)"
  defp exception(%ErlangError{original: original}), do: "error(#{r(original, %{})})"
  defp exception(e), do: "raise(#{inspect(e.__struct__)},#{Exception.message(e)})"
end
