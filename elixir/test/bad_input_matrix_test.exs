defmodule CloudflareDurable.BadInputMatrixTest do
  # The bad-input matrix: every bad input gets a clear {:error, reason}, the
  # caller survives, nothing is half-sent (the object stays untouched). Also
  # the hostile peer tests/harness/hostile_server.py (loopback).
  use ExUnit.Case, async: true

  alias CloudflareDurable.{Client, Error}
  alias CloudflareDurable.WebSocket.Connection
  import CloudflareDurable.TestWorker, only: [unique: 1, wait_until: 1, wait_until: 2]

  @hostile Path.expand("../../tests/harness/hostile_server.py", __DIR__)
  @invalid_utf8 <<0xFF, 0xFE, 0xFD>>

  defp bad_terms do
    [
      {1, 2},
      self(),
      make_ref(),
      fn -> :ok end,
      &Kernel.is_atom/1,
      [1 | 2],
      [1, 2 | :tail],
      2 ** 64,
      -(2 ** 63) - 1,
      2 ** 1000,
      @invalid_utf8,
      <<1::7>>,
      %{{1} => 1},
      %{1 => 1},
      URI.parse("http://x"),
      hd(Port.list()),
      Enum.reduce(1..600, 1, fn _, acc -> [acc] end)
    ]
  end

  test "bad inputs of every kind: clear errors, nothing sent, caller alive" do
    id = unique("matrix")
    tried = :counters.new(1, [])

    check = fn result, reasons ->
      :counters.add(tried, 1, 1)
      assert {:error, reason} = result
      assert reason in reasons, "got #{inspect(reason)}, wanted one of #{inspect(reasons)}"
      assert %Error{message: message} = Error.last()
      assert is_binary(message) and message != ""
    end

    # object names: empty, huge, invalid UTF-8, not strings
    for name <- ["", String.duplicate("n", 513), @invalid_utf8, :atom, 42, {1, 2, 3}] do
      check.(Client.call_method(name, "echo", %{}), [:invalid_object_id])
      check.(Client.update_state(name, "k", 1), [:invalid_object_id])
    end

    # method names that are not identifiers
    for method <-
          ["", "1abc", "a-b", "a b", "../x", "a/b", "é", String.duplicate("m", 129)] ++
            [@invalid_utf8, :echo, nil] do
      check.(Client.call_method(id, method, %{}), [:invalid_method_name])
    end

    # keys: empty, huge, invalid UTF-8, not strings
    for key <- ["", String.duplicate("k", 1025), @invalid_utf8, 7] do
      check.(Client.update_state(id, key, 1), [:invalid_key])
      check.(Client.get_state(id, key), [:invalid_key])
      check.(Client.delete_state(id, key), [:invalid_key])
    end

    # terms JSON cannot hold, everywhere a term goes
    for term <- bad_terms() do
      check.(Client.call_method(id, "echo", %{a: [term]}), [:invalid_params])
      check.(Client.update_state(id, "k", %{a: term}), [:invalid_data])
      check.(Client.initialize(id, %{k: term}), [:invalid_data])
      check.(Client.put_many(id, %{"k" => term}), [:invalid_data])
      check.(Client.transaction(id, [{:put, "k", term}]), [:invalid_data])
      check.(Client.batch(id, [{"echo", term}]), [:invalid_params])
    end

    # payloads over the limits: 1 MiB body, 128 KiB value
    big_body = String.duplicate("x", 1024 * 1024 + 1)
    big_value = String.duplicate("v", 128 * 1024 + 1)
    check.(Client.call_method(id, "echo", %{data: big_body}), [:invalid_params])
    check.(Client.update_state(id, "k", big_value), [:invalid_data])
    check.(Client.put_many(id, %{"k" => big_value}), [:invalid_data])
    check.(Client.transaction(id, [{:put, "k", big_value}]), [:invalid_data])
    check.(Client.initialize(id, %{k: big_value}), [:invalid_data, :invalid_params])

    # nothing reached the object
    assert {:ok, %{}} = Client.get_state(id)
    assert {:ok, nil} = Client.get_alarm(id)
    n = :counters.get(tried, 1)
    IO.puts("bad-input matrix (elixir): #{n} bad inputs tried, each a clear {:error, reason}")
    assert n >= 140
  end

  test "path-like object names address exactly one object of that name" do
    victim = unique("victim")
    {:ok, _} = Client.update_state(victim, "k", "untouched")

    for name <- ["../#{victim}", "a/b", "%2F", ".", "..", "#{victim}/..", "?x=1", "#frag"] do
      case Client.update_state(name, "probe", name) do
        {:ok, _} ->
          assert {:ok, %{"value" => ^name}} = Client.get_state(name, "probe")

        {:error, reason} ->
          assert reason == :invalid_object_id
      end
    end

    assert {:ok, %{"k" => "untouched"} = state} = Client.get_state(victim)
    refute Map.has_key?(state, "probe")
  end

  describe "a hostile server" do
    setup do
      dir =
        Path.join(System.tmp_dir!(), "cfd-elixir-hostile-#{System.unique_integer([:positive])}")

      File.mkdir_p!(dir)
      {out, 0} = System.cmd("python3", [@hostile, "start", "--state-dir", dir])
      url = out |> String.split("\n", trim: true) |> List.last() |> String.trim()

      on_exit(fn ->
        System.cmd("python3", [@hostile, "stop", "--state-dir", dir])
        File.rm_rf!(dir)
      end)

      [opts: [worker_url: url, retry_count: 0, timeout: 2_000]]
    end

    test "bad replies are clear errors and the caller survives", %{opts: opts} do
      expected = [:invalid_response, :network_error, :timeout, :server_error, :http_error]

      for name <- ~w(garbage truncated html endless not-object no-result hang proxy-500) do
        for result <- [Client.call_method(name, "echo", %{}, opts), Client.get_state(name, opts)] do
          assert {:error, reason} = result, "#{name}: #{inspect(result)}"
          assert reason in expected, "#{name}: #{inspect(reason)}"
        end

        # initialize reads nothing from a 2xx reply, so a 200 with a bad body
        # is a success there; everything else is a clean error
        case Client.initialize(name, %{a: 1}, opts) do
          {:ok, %{"success" => true}} -> assert name in ~w(garbage html not-object no-result)
          {:error, reason} -> assert reason in expected, "#{name}: #{inspect(reason)}"
        end
      end

      assert Process.alive?(self())
    end

    test "a call whose caller exits is abandoned: its request is closed at once", %{opts: opts} do
      hanging = fn ->
        {:ok, %{"hanging" => n}} = Client.call_method("hanging", "count", %{}, opts)
        n
      end

      caller =
        spawn(fn ->
          Client.call_method("hang", "echo", %{}, Keyword.put(opts, :timeout, 30_000))
        end)

      wait_until(fn -> hanging.() == 1 end)
      Process.exit(caller, :kill)
      # Without the abort the request stays open until its 30 s deadline.
      wait_until(fn -> hanging.() == 0 end, 5_000)
      # A caller that stays alive keeps its call open until the call's own deadline.
      waiting = Task.async(fn -> Client.call_method("hang", "echo", %{}, opts) end)
      wait_until(fn -> hanging.() == 1 end)
      assert {:error, :timeout} = Task.await(waiting, 10_000)
    end

    test "max_concurrent_requests bounds the requests a burst has in flight", %{opts: opts} do
      held_at_once = fn tag, opts ->
        1..6
        |> Enum.map(fn _ -> Task.async(fn -> Client.call_method("held", tag, %{}, opts) end) end)
        |> Enum.map(fn task ->
          assert {:ok, %{"max_in_flight" => n}} = Task.await(task, 10_000)
          n
        end)
        |> Enum.max()
      end

      assert held_at_once.("bounded", Keyword.put(opts, :max_concurrent_requests, 2)) == 2
      assert held_at_once.("unbounded", opts) >= 4

      assert {:error, :invalid_config} =
               Client.get_state("x", Keyword.put(opts, :max_concurrent_requests, 0))

      assert Error.last().message =~ "max_concurrent_requests"
    end

    test "a WebSocket sending bad frames: the valid update still arrives or the socket ends cleanly",
         %{opts: opts} do
      case Client.open_websocket("badframes", opts) do
        {:ok, socket} ->
          :ok = Connection.subscribe(socket)

          assert_receive msg, 10_000

          assert match?({:websocket_message, %{"type" => "update"}}, msg) or
                   match?({:websocket_closed, _}, msg) or
                   match?({:websocket_message, %{"type" => "error"}}, msg),
                 inspect(msg)

          :ok = Connection.close(socket)

        {:error, reason} ->
          assert reason in [:invalid_response, :network_error, :connection_closed, :timeout]
      end
    end
  end
end
