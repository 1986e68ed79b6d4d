# Elixir contenders: "nif" (CloudflareDurable through the Rustler NIF) and
# "httpc" (OTP's :httpc). Usage and output: bench/README.md.
defmodule Bench do
  @url System.get_env("BENCH_URL", "http://127.0.0.1:8787")
  @seconds String.to_float(System.get_env("BENCH_SECONDS", "2") <> if(String.contains?(System.get_env("BENCH_SECONDS", "2"), "."), do: "", else: ".0"))
  @warmup String.to_float(System.get_env("BENCH_WARMUP", "0.5") <> if(String.contains?(System.get_env("BENCH_WARMUP", "0.5"), "."), do: "", else: ".0"))
  @objects String.to_integer(System.get_env("BENCH_OBJECTS", "16"))
  @prefix System.get_env("BENCH_PREFIX", "bench")
  @open_conc String.to_integer(System.get_env("BENCH_OPEN_CONCURRENCY", "256"))

  # CPU time of this OS process (every thread: schedulers, dirty schedulers,
  # async threads, the NIF's tokio threads) in seconds: the sum of each
  # thread's sum_exec_runtime, the counter getrusage(RUSAGE_SELF) reads.
  def cpu do
    Path.wildcard("/proc/self/task/*/schedstat")
    |> Enum.reduce(0, fn path, acc ->
      case File.read(path) do
        {:ok, text} -> acc + String.to_integer(hd(String.split(text)))
        _ -> acc
      end
    end)
    |> Kernel./(1.0e9)
  end

  def rss do
    File.read!("/proc/self/status")
    |> String.split("\n")
    |> Enum.find_value(fn
      "VmRSS:" <> rest -> rest |> String.trim() |> String.split() |> hd() |> String.to_integer() |> Kernel.*(1024)
      _ -> nil
    end)
  end

  def now, do: System.monotonic_time(:microsecond)

  def hex(bits), do: :crypto.strong_rand_bytes(div(bits, 8)) |> Base.encode16(case: :lower)

  def params("increment", _n), do: %{"increment" => 1}
  def params(_, n), do: %{"text" => "hello", "n" => n}

  def params_json("increment", _n), do: ~s({"increment":1})
  def params_json(_, n), do: ~s({"text":"hello","n":#{n}})

  def obj(j, n), do: "#{@prefix}-h-#{rem(j + n, @objects)}"

  def opts(pool), do: [worker_url: @url, pool_size: pool]

  def pct([], _), do: 0
  def pct(sorted, p), do: Enum.at(sorted, round((length(sorted) - 1) * p))

  def emit(map), do: IO.puts(json(map))

  # Flat maps of numbers and strings are all this script prints.
  def json(map) do
    body =
      map
      |> Enum.map(fn {k, v} ->
        val = if is_binary(v), do: inspect(v), else: to_string(v)
        ~s("#{k}":#{val})
      end)
      |> Enum.join(",")

    "{" <> body <> "}"
  end

  def report(ops, errors, wall_s, cpu_s, lat, extra \\ %{}) do
    sorted = Enum.sort(lat)

    emit(
      Map.merge(
        %{
          ops: ops,
          errors: errors,
          wall_s: wall_s,
          cpu_s: cpu_s,
          ops_per_s: if(wall_s > 0, do: ops / wall_s, else: 0.0),
          cpu_us_per_op: if(ops > 0, do: cpu_s * 1.0e6 / ops, else: 0.0),
          p50_us: pct(sorted, 0.5),
          p99_us: pct(sorted, 0.99)
        },
        extra
      )
    )
  end

  # --- one call per contender -------------------------------------------------

  def call("nif", pool, o, m, n) do
    case CloudflareDurable.Client.call_method(o, m, params(m, n), opts(pool)) do
      {:ok, _} -> :ok
      other -> {:error, other}
    end
  end

  def call("httpc", _pool, o, m, n) do
    url = String.to_charlist("#{@url}/object/#{o}/method/#{m}")

    headers = [
      {~c"idempotency-key", String.to_charlist(hex(128))},
      {~c"traceparent", String.to_charlist("00-#{hex(128)}-#{hex(64)}-01")}
    ]

    case :httpc.request(:post, {url, headers, ~c"application/json", params_json(m, n)}, [],
           body_format: :binary
         ) do
      # OTP 25 has no JSON decoder: the peer checks the reply's shape only.
      {:ok, {{_, 200, _}, _, body}} ->
        if :binary.match(body, "\"result\"") != :nomatch, do: :ok, else: {:error, body}

      other ->
        {:error, other}
    end
  end

  def setup("httpc", conc) do
    {:ok, _} = Application.ensure_all_started(:inets)
    :ok = :httpc.set_options(max_sessions: conc, max_keep_alive_length: 1_000_000, keep_alive_timeout: 60_000)
  end

  def setup(_, _), do: :ok

  # --- HTTP -------------------------------------------------------------------

  def http(who, method, conc) do
    setup(who, conc)
    start = now()
    t0 = start + round(@warmup * 1.0e6)
    t1 = t0 + round(@seconds * 1.0e6)
    parent = self()

    for j <- 0..(conc - 1) do
      spawn_link(fn -> send(parent, {:done, worker(who, conc, method, j, 0, t0, t1, [], 0)}) end)
    end

    Process.sleep(max(0, div(t0 - now(), 1000)))
    c0 = cpu()
    w0 = now()
    Process.sleep(max(0, div(t1 - now(), 1000)))
    c1 = cpu()
    w1 = now()

    {lat, errors} =
      Enum.reduce(1..conc, {[], 0}, fn _, {l, e} ->
        receive do
          {:done, {l2, e2}} -> {l2 ++ l, e + e2}
        end
      end)

    report(length(lat), errors, (w1 - w0) / 1.0e6, c1 - c0, lat)
  end

  def worker(who, pool, method, j, n, t0, t1, lat, errors) do
    begin = now()

    if begin >= t1 do
      {lat, errors}
    else
      result = call(who, pool, obj(j, n), method, n)
      done = now()

      cond do
        # Calls that complete inside the window count.
        done < t0 or done > t1 ->
          worker(who, pool, method, j, n + 1, t0, t1, lat, errors)
        result == :ok -> worker(who, pool, method, j, n + 1, t0, t1, [done - begin | lat], errors)
        true ->
          if errors == 0, do: IO.puts(:stderr, "error: #{inspect(result)}")
          worker(who, pool, method, j, n + 1, t0, t1, lat, errors + 1)
      end
    end
  end

  # --- WebSocket ----------------------------------------------------------------

  alias CloudflareDurable.WebSocket.Connection

  def open!(name) do
    {:ok, socket} = CloudflareDurable.Client.open_websocket(name, opts(1))
    socket
  end

  def ws_seq("nif") do
    socket = open!("#{@prefix}-ws")
    start = now()
    t0 = start + round(@warmup * 1.0e6)
    t1 = t0 + round(@seconds * 1.0e6)
    {lat, c0, w0} = seq_loop(socket, 0, t0, t1, [], nil)
    report(length(lat), 0, (now() - w0) / 1.0e6, cpu() - c0, lat)
    Connection.close(socket)
  end

  def ws_seq(_), do: System.halt(3)

  defp seq_loop(socket, n, t0, t1, lat, mark) do
    begin = now()

    if begin >= t1 do
      {lat, elem(mark, 0), elem(mark, 1)}
    else
      mark = if begin >= t0 and mark == nil, do: {cpu(), begin}, else: mark
      {:ok, _} = Connection.call(socket, "echo", params("echo", n))
      lat = if begin >= t0, do: [now() - begin | lat], else: lat
      seq_loop(socket, n + 1, t0, t1, lat, mark)
    end
  end

  def ws_burst("nif", count) do
    socket = open!("#{@prefix}-burst")
    :ok = Connection.subscribe(socket)
    wait_type("init")
    c0 = cpu()
    ready = now()
    IO.puts("READY")
    first = receive_burst(count, 0, nil)
    c = cpu() - c0
    finish = now()
    span = (finish - (first || ready)) / 1.0e6

    emit(%{
      ops: count,
      errors: 0,
      wall_s: (finish - ready) / 1.0e6,
      cpu_s: c,
      ops_per_s: count / span,
      cpu_us_per_op: c * 1.0e6 / count,
      first_to_last_s: span
    })

    Connection.close(socket)
  end

  def ws_burst(_, _), do: System.halt(3)

  defp wait_type(type) do
    receive do
      {:websocket_message, %{"type" => ^type}} -> :ok
      {:websocket_message, _} -> wait_type(type)
    after
      30_000 -> raise "no #{type} frame within 30 s"
    end
  end

  defp receive_burst(count, count, first), do: first

  defp receive_burst(count, got, first) do
    receive do
      {:websocket_message, %{"type" => "bench"}} -> receive_burst(count, got + 1, first || now())
      {:websocket_message, _} -> receive_burst(count, got, first)
    after
      60_000 -> raise "burst stalled at #{got}/#{count}"
    end
  end

  def sockets("nif", count) do
    # The native client exists before the baseline.
    {:ok, _} = CloudflareDurable.Client.call_method("#{@prefix}-s-0", "echo", %{}, opts(1))
    r0 = rss()
    c0 = cpu()
    t0 = now()

    # A socket lives as long as the process that opened it (its owner), so
    # each is opened by a holder process that stays alive until the end; the
    # stream's task only waits for its holder's result. (Opening from the
    # task itself closed every socket as its task exited, before the
    # measurement.)
    held =
      0..(count - 1)
      |> Task.async_stream(
        fn i ->
          waiter = self()

          holder =
            spawn(fn ->
              name = "#{@prefix}-s-#{rem(i, 100)}"
              send(waiter, {:opened, self(), CloudflareDurable.Client.open_websocket(name, opts(1))})

              receive do
                :close -> :ok
              end
            end)

          receive do
            {:opened, ^holder, result} -> {holder, result}
          end
        end,
        max_concurrency: @open_conc,
        timeout: 120_000
      )
      |> Enum.flat_map(fn
        {:ok, {holder, {:ok, pid}}} ->
          [{holder, pid}]

        other ->
          IO.puts(:stderr, "error: #{inspect(other)}")
          []
      end)

    open_s = (now() - t0) / 1.0e6
    c = cpu() - c0
    Process.sleep(1000)
    r1 = rss()
    n = length(held)

    emit(%{
      ops: n,
      errors: count - n,
      wall_s: open_s,
      cpu_s: c,
      open_s: open_s,
      rss_before: r0,
      rss_after: r1,
      bytes_per_socket: max(0, r1 - r0) / max(1, n),
      cpu_us_per_op: c * 1.0e6 / max(1, n)
    })

    Enum.each(held, fn {holder, pid} ->
      Connection.close(pid)
      send(holder, :close)
    end)
  end

  def sockets(_, _), do: System.halt(3)

  # --- scheduler probe ------------------------------------------------------------

  def probe(who, inflight) do
    setup(who, inflight)
    start = now()
    t0 = start + round(@warmup * 1.0e6)
    t1 = t0 + round(@seconds * 1.0e6)
    parent = self()
    # The VM's own report of a process or port (a NIF call included) that
    # ran 1 ms or more without being scheduled out: a blocked scheduler.
    monitor = spawn_link(fn -> long_schedules(t0, t1, 0, 0) end)
    :erlang.system_monitor(monitor, [{:long_schedule, 1}])

    for j <- 0..(inflight - 1) do
      spawn_link(fn ->
        send(parent, {:done, worker(who, 256, "echo", j, 0, t0, t1, [], 0)})
      end)
    end

    probe_pid = spawn_link(fn -> send(parent, {:probe, probe_loop(t0, t1, [])}) end)
    _ = probe_pid
    Process.sleep(max(0, div(t0 - now(), 1000)))
    c0 = cpu()
    w0 = now()
    Process.sleep(max(0, div(t1 - now(), 1000)))
    c1 = cpu()
    w1 = now()

    {lat, errors} =
      Enum.reduce(1..inflight, {[], 0}, fn _, {l, e} ->
        receive do
          {:done, {l2, e2}} -> {l2 ++ l, e + e2}
        end
      end)

    {delays, late} =
      receive do
        {:probe, d} -> {Enum.sort(Enum.map(d, &elem(&1, 0))), Enum.sort(Enum.map(d, &elem(&1, 1)))}
      end

    :erlang.system_monitor(:undefined)
    send(monitor, {:report, self()})

    {long_count, long_max_ms} =
      receive do
        {:long_schedules, count, max} -> {count, max}
      end

    report(length(lat), errors, (w1 - w0) / 1.0e6, c1 - c0, lat, %{
      probe_samples: length(delays),
      probe_p50_us: pct(delays, 0.5),
      probe_p99_us: pct(delays, 0.99),
      probe_max_us: List.last(delays) || 0,
      timer_late_p50_us: pct(late, 0.5),
      timer_late_p99_us: pct(late, 0.99),
      long_schedules: long_count,
      long_schedule_max_ms: long_max_ms
    })
  end

  # Counts the VM's long_schedule reports inside the window.
  defp long_schedules(t0, t1, count, max) do
    receive do
      {:monitor, _who, :long_schedule, info} ->
        t = now()

        if t >= t0 and t <= t1 do
          long_schedules(t0, t1, count + 1, Kernel.max(max, info[:timeout] || 0))
        else
          long_schedules(t0, t1, count, max)
        end

      {:report, to} ->
        send(to, {:long_schedules, count, max})
    end
  end

  # Scheduling delay: how long a runnable process waits to run again after
  # yielding, sampled every ~1 ms while the calls are in flight.
  defp probe_loop(t0, t1, acc) do
    t = now()

    cond do
      t >= t1 ->
        acc

      t < t0 ->
        Process.sleep(1)
        probe_loop(t0, t1, acc)

      true ->
        :erlang.yield()
        t2 = now()
        Process.sleep(1)
        # {yield delay, lateness of a 1 ms timer}
        probe_loop(t0, t1, [{t2 - t, now() - t2 - 1000} | acc])
    end
  end
end

[who, case_name | args] = System.argv()

case {case_name, args} do
  {"http", [method, conc]} -> Bench.http(who, method, String.to_integer(conc))
  {"ws_seq", []} -> Bench.ws_seq(who)
  {"ws_burst", [n]} -> Bench.ws_burst(who, String.to_integer(n))
  {"sockets", [n]} -> Bench.sockets(who, String.to_integer(n))
  {"probe", [n]} -> Bench.probe(who, String.to_integer(n))
  _ -> System.halt(2)
end
