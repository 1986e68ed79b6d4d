defmodule CloudflareDurable.SchedulerTest do
  use ExUnit.Case

  alias CloudflareDurable.{Client, Config, Native}

  @calls 500
  @rounds 5

  # A probe process yields in a loop and records how long each yield took to
  # be scheduled again (microseconds). A NIF that blocked a scheduler would
  # show up as a long gap.
  defp probe(parent) do
    spawn_link(fn -> probe_loop(parent, []) end)
  end

  defp probe_loop(parent, gaps) do
    receive do
      :stop -> send(parent, {:gaps, gaps})
    after
      0 ->
        t0 = :erlang.monotonic_time(:microsecond)
        :erlang.yield()
        t1 = :erlang.monotonic_time(:microsecond)
        probe_loop(parent, [t1 - t0 | gaps])
    end
  end

  defp measure(fun) do
    pid = probe(self())
    result = fun.()
    send(pid, :stop)
    assert_receive {:gaps, gaps}, 10_000
    {result, stats(gaps)}
  end

  defp stats(gaps) do
    sorted = Enum.sort(gaps)
    n = length(sorted)

    %{
      samples: n,
      max_us: List.last(sorted),
      p99_us: Enum.at(sorted, min(n - 1, div(n * 99, 100))),
      mean_us: Float.round(Enum.sum(sorted) / max(n, 1), 2)
    }
  end

  # One round: @calls processes each start a call (the NIF returns a ref) and
  # wait for its reply in `receive`. Returns the probe's figures, the longest
  # time a process spent inside the NIF call, and the most calls in flight.
  defp load_round(n) do
    in_flight = :counters.new(2, [])
    {:ok, client, timeout} = Config.client([])

    {results, probe} =
      measure(fn ->
        1..@calls
        |> Enum.map(fn i ->
          Task.async(fn ->
            :counters.add(in_flight, 1, 1)
            now = :counters.get(in_flight, 1)
            if now > :counters.get(in_flight, 2), do: :counters.put(in_flight, 2, now)
            object = "sched-#{n}-#{rem(i, 25)}"
            t0 = :erlang.monotonic_time(:microsecond)
            ref = Native.call_method(client, object, "test_sleep", %{ms: 200}, timeout, nil)
            t1 = :erlang.monotonic_time(:microsecond)
            result = Client.await(ref, timeout)
            :counters.sub(in_flight, 1, 1)
            {result, t1 - t0}
          end)
        end)
        |> Task.await_many(60_000)
      end)

    assert Enum.all?(results, &match?({{:ok, %{"slept" => 200}}, _}, &1))
    nif_max = results |> Enum.map(&elem(&1, 1)) |> Enum.max()
    Map.merge(probe, %{nif_call_max_us: nif_max, max_in_flight: :counters.get(in_flight, 2)})
  end

  # A scheduler blocked by a NIF would delay the probe in every round; this
  # shared 2-core machine also has OS-level preemption from other builds,
  # which is sporadic. So the bound applies to the best of up to @rounds
  # rounds, and every round's figures are printed.
  test "hundreds of concurrent calls never block a scheduler" do
    {_, idle} = measure(fn -> Process.sleep(300) end)
    IO.puts("\nscheduler probe, idle: #{inspect(idle)}")

    rounds =
      Enum.reduce_while(1..@rounds, [], fn n, acc ->
        figures = load_round(n)
        IO.puts("scheduler probe, #{@calls} concurrent calls, round #{n}: #{inspect(figures)}")
        # the calls really overlapped: processes waited in receive, not in the NIF
        assert figures.max_in_flight > @calls / 2
        assert figures.samples > 100
        if figures.max_us < 50_000, do: {:halt, [figures | acc]}, else: {:cont, [figures | acc]}
      end)

    best = Enum.min_by(rounds, & &1.max_us)
    assert best.max_us < 50_000
  end
end
