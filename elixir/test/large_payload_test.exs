defmodule CloudflareDurable.LargePayloadTest do
  # Not async: the VM's system monitor is global.
  use ExUnit.Case

  alias CloudflareDurable.Client
  alias CloudflareDurable.WebSocket.Connection
  import CloudflareDurable.TestWorker, only: [unique: 1]

  @rounds 5
  # A run this long on a normal scheduler is what the NIFs must never cause
  # (the VM's own `long_schedule` monitor reports it).
  @bound_ms 20
  # About 730 KB of JSON: under the 1 MiB body limit, far over the NIFs'
  # conversion budget on a normal scheduler.
  @items Enum.to_list(1..120_000)
  # About 6.9 MB of JSON: converted (on a dirty scheduler), then refused.
  @too_many Enum.to_list(1..1_000_000)
  @pad String.duplicate("x", 400_000)

  # Runs `fun` while the VM reports every process that runs @bound_ms or
  # longer without being scheduled out; returns its result and the longest
  # such run (0 if none). The reports go to a process of their own: the VM
  # does not report the monitoring process itself.
  defp with_long_runs(fun) do
    collector = spawn_link(fn -> collect(0) end)
    previous = :erlang.system_monitor(collector, [{:long_schedule, @bound_ms}])

    result =
      try do
        fun.()
      after
        restore(previous)
      end

    send(collector, {:report, self()})
    assert_receive {:longest, longest}, 10_000
    {result, longest}
  end

  defp collect(longest) do
    receive do
      {:monitor, _pid, :long_schedule, info} -> collect(max(longest, info[:timeout]))
      {:report, to} -> send(to, {:longest, longest})
    end
  end

  defp restore(:undefined), do: :erlang.system_monitor(:undefined)
  defp restore({pid, options}), do: :erlang.system_monitor(pid, options)

  defp round_trip(id, socket) do
    {
      Client.call_method(id, "echo", %{"items" => @items}),
      Client.call_method(id, "echo", %{"items" => @too_many}),
      Connection.call(socket, "echo", %{"items" => @items}, timeout: 30_000),
      # JSON text, ~400 KB: budgeted by its bytes (the worker answers the
      # unknown type with an error frame; the send itself succeeds).
      Connection.send_message(socket, ~s({"type":"filler","pad":"#{@pad}"})),
      Client.batch(
        id,
        Enum.map(1..64, fn _ -> {"echo", %{"items" => Enum.take(@items, 1_000)}} end)
      )
    }
  end

  # OS preemption on a shared 2-core machine can stretch any run, so the
  # bound applies to the best of up to @rounds rounds; a NIF converting on a
  # normal scheduler would exceed it in every round.
  test "large payloads are converted on a dirty scheduler, never on a normal one" do
    id = unique("large")
    {:ok, socket} = Client.open_websocket(id)

    longest =
      Enum.reduce_while(1..@rounds, [], fn _, runs ->
        {{echoed, refused, called, sent, batched}, longest} =
          with_long_runs(fn -> round_trip(id, socket) end)

        assert {:ok, %{"items" => @items}} = echoed
        assert {:error, :invalid_params} = refused
        assert {:ok, %{"items" => @items}} = called
        assert :ok = sent
        assert {:ok, results} = batched
        assert length(results) == 64
        assert Enum.all?(results, &match?({:ok, %{"items" => [1, 2 | _]}}, &1))
        if longest < @bound_ms, do: {:halt, [longest | runs]}, else: {:cont, [longest | runs]}
      end)

    IO.puts(
      "\nlongest runs on a normal scheduler per round (ms, 0 = none of #{@bound_ms}+): #{inspect(Enum.reverse(longest))}"
    )

    assert Enum.min(longest) < @bound_ms
    Connection.close(socket)
  end
end
