defmodule CloudflareDurable.FaultsTest do
  # The fault suite (mirrors core/tests/faults.rs): one counter incremented
  # 1,000 times from 4 processes through tests/harness/fault_proxy.py (a
  # loopback proxy that drops replies AFTER the request reached the worker),
  # while the worker is SIGKILLed and restarted >= 10 times by the harness.
  # Every call carries an explicit idempotency key; every call reported
  # successful must count exactly once, and a subscriber talking to the
  # worker directly must see a gap-free `seq` sequence or explicit resyncs.
  use ExUnit.Case, async: false

  alias CloudflareDurable.{Client, TestWorker}
  alias CloudflareDurable.WebSocket.Connection

  @moduletag :faults
  @moduletag timeout: 180_000

  @proxy Path.expand("../../tests/harness/fault_proxy.py", __DIR__)
  @calls 1_000
  @concurrency 4
  @restarts 10

  setup do
    worker = TestWorker.start()
    port = Path.join(worker.dir, "worker.json") |> File.read!() |> port()
    pdir = Path.join(worker.dir, "proxy")
    File.mkdir_p!(pdir)

    {out, 0} =
      System.cmd("python3", [
        @proxy,
        "start",
        "--state-dir",
        pdir,
        "--target-port",
        "#{port}",
        "--drop-rate",
        "0.05",
        "--seed",
        "7"
      ])

    proxy_url = out |> String.split("\n", trim: true) |> List.last() |> String.trim()

    on_exit(fn ->
      System.cmd("python3", [@proxy, "stop", "--state-dir", pdir])
      TestWorker.stop(worker)
    end)

    [worker: worker, proxy_url: proxy_url, proxy_dir: pdir]
  end

  defp port(json) do
    {:ok, %{"port" => port}} = CloudflareDurable.Native.json_decode(json)
    port
  end

  test "exactly once under SIGKILLs and dropped replies", ctx do
    object = TestWorker.unique("faults")
    via_proxy = [worker_url: ctx.proxy_url, retry_count: 12, retry_delay: 20, timeout: 30_000]
    direct = [worker_url: ctx.worker.url]
    {:ok, _} = Client.initialize(object, %{value: 0}, direct)

    # The subscriber talks to the worker directly, so it lives through the kills.
    {:ok, socket} = Client.open_websocket(object, direct)
    :ok = Connection.subscribe(socket)

    successes = :counters.new(1, [:atomics])
    started = :counters.new(1, [:atomics])

    callers =
      for _ <- 1..@concurrency do
        Task.async(fn -> caller(object, via_proxy, successes, started, [], []) end)
      end

    killer =
      Task.async(fn ->
        for n <- 1..@restarts do
          due = div(n * @calls, @restarts + 1)
          TestWorker.wait_until(fn -> :counters.get(successes, 1) >= due end, 120_000)
          TestWorker.restart(ctx.worker)
        end

        @restarts
      end)

    {keys, unresolved} =
      callers
      |> Task.await_many(170_000)
      |> Enum.reduce({[], []}, fn {k, u}, {ks, us} -> {k ++ ks, u ++ us} end)

    restarts = Task.await(killer, 120_000)

    # A call that exhausted its retries may or may not have run: resolve it
    # by repeating it with the same key, which runs it at most once.
    for key <- unresolved do
      {:ok, _} =
        Client.call_method(
          object,
          "increment",
          %{increment: 1},
          [idempotency_key: key] ++ via_proxy
        )

      :counters.add(successes, 1, 1)
    end

    keys = keys ++ unresolved
    successes = :counters.get(successes, 1)
    {:ok, %{"value" => final}} = Client.call_method(object, "get_value", %{}, direct)
    {:ok, %{"counts" => counts}} = Client.call_method(object, "test_count", %{}, direct)
    duplicates = Enum.count(keys, &(Map.get(counts, &1, 0) > 1))
    lost = Enum.count(keys, &(Map.get(counts, &1, 0) == 0))
    {updates, resyncs} = watch_until(final, 0, 0, nil, nil)
    {stats, 0} = System.cmd("python3", [@proxy, "stats", "--state-dir", ctx.proxy_dir])
    {:ok, stats} = CloudflareDurable.Native.json_decode(stats)

    IO.puts(
      "faults (elixir): calls=#{@calls} restarts=#{restarts} replies_dropped=#{stats["replies_dropped"]} " <>
        "successes=#{successes} failed_then_resolved=#{length(unresolved)} final=#{final} " <>
        "duplicates=#{duplicates} lost=#{lost} updates_seen=#{updates} resyncs=#{resyncs}"
    )

    assert length(Enum.uniq(keys)) == @calls
    assert successes == @calls
    assert final == successes, "lost or doubled increments"
    assert duplicates == 0
    assert lost == 0
    assert restarts >= @restarts
    assert stats["replies_dropped"] > 0, "the proxy dropped nothing: #{inspect(stats)}"
    assert Connection.status(socket) == :connected
    :ok = Connection.close(socket)
  end

  defp caller(object, opts, successes, started, keys, unresolved) do
    :counters.add(started, 1, 1)

    if :counters.get(started, 1) > @calls do
      {keys, unresolved}
    else
      key = TestWorker.unique("inc")

      case Client.call_method(
             object,
             "increment",
             %{increment: 1},
             [idempotency_key: key] ++ opts
           ) do
        {:ok, _} ->
          :counters.add(successes, 1, 1)
          caller(object, opts, successes, started, [key | keys], unresolved)

        {:error, _} ->
          caller(object, opts, successes, started, keys, [key | unresolved])
      end
    end
  end

  # Reads the subscriber until it shows `target`; every update must follow
  # the previous by exactly one `seq`, unless a resync (or init) came between.
  defp watch_until(target, updates, resyncs, _last, target), do: {updates, resyncs}

  defp watch_until(target, updates, resyncs, last, _value) do
    receive do
      {:websocket_message, %{"type" => type} = m} when type in ["init", "resync"] ->
        value = get_in(m, ["state", "value"]) || 0

        watch_until(
          target,
          updates,
          resyncs + if(type == "resync", do: 1, else: 0),
          m["seq"],
          value
        )

      {:websocket_message, %{"type" => "update", "seq" => seq, "value" => value} = m} ->
        if last, do: assert(seq == last + 1, "gap or duplicate without a resync: #{inspect(m)}")
        watch_until(target, updates + 1, resyncs, seq, value)

      {:websocket_message, _other} ->
        watch_until(target, updates, resyncs, last, nil)
    after
      30_000 -> flunk("the subscriber never reached #{target}")
    end
  end
end
