# A peer node lost under a stream: what the consumer sees, trapping exits or not.
# `elixir --sname NAME lost_peer.exs`, with ERL_EPMD_PORT set to a running epmd.
# Prints "trap <consumer's exit> <stream's results>" and "notrap <consumer's exit> <results>".
defmodule LostPeer do
  def peer_node(name) do
    paths = Enum.flat_map(:code.get_path(), &[~c"-pa", &1])
    {:ok, peer, node} = :peer.start(%{name: name, args: [~c"-start_epmd", ~c"false" | paths]})
    {:ok, _} = :erpc.call(node, :application, :ensure_all_started, [:elixir])
    spec = Supervisor.child_spec({Task.Supervisor, name: :tasks}, [])
    {:ok, _} = :erpc.call(node, :supervisor, :start_child, [:kernel_sup, spec])
    {peer, node}
  end

  # Asks the peer until `count` tasks run under its supervisor, then SIGKILLs its OS process.
  def kill_when_running(node, os_pid, count) do
    if length(:erpc.call(node, Task.Supervisor, :children, [:tasks])) < count do
      kill_when_running(node, os_pid, count)
    else
      System.cmd("kill", ["-9", List.to_string(os_pid)])
    end
  end

  # Two tasks that never end run on the peer; its OS process is killed once both started.
  def scenario(trap) do
    {_peer, node} = peer_node(if trap, do: :lost_t, else: :lost_n)
    os_pid = :erpc.call(node, :os, :getpid, [])
    parent = self()

    {_, ref} =
      spawn_monitor(fn ->
        Process.flag(:trap_exit, trap)
        spawn(fn -> kill_when_running(node, os_pid, 2) end)

        out =
          Task.Supervisor.async_stream({:tasks, node}, [:infinity, :infinity], :timer, :sleep,
            [], max_concurrency: 2, timeout: :infinity)
          |> Enum.to_list()

        send(parent, {:out, out})
      end)

    reason = receive do {:DOWN, ^ref, _, _, r} -> r end
    out = receive do {:out, out} -> out after 0 -> :none end
    IO.puts("#{if trap, do: "trap", else: "notrap"} #{inspect(reason)} #{inspect(out)}")
  end
end

LostPeer.scenario(true)
LostPeer.scenario(false)
