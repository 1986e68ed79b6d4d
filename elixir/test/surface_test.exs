defmodule CloudflareDurable.SurfaceTest do
  # The whole Durable Object surface against the reference worker (one
  # started by the shared harness for the suite).
  use ExUnit.Case, async: true

  alias CloudflareDurable.{Client, Error, ObjectRef}
  alias CloudflareDurable.WebSocket.Connection
  import CloudflareDurable.TestWorker, only: [unique: 1, wait_until: 1]

  test "objects named by string, {namespace, name}, ObjectRef and :namespace opt are the same object" do
    name = unique("ref")
    {:ok, _} = Client.update_state({"sql", name}, "k", 1)
    assert {:ok, %{"value" => 1}} = Client.get_state(ObjectRef.name(name, namespace: "sql"), "k")
    assert {:ok, %{"value" => 1}} = Client.get_state(name, "k", namespace: "sql")
    # the default namespace holds a different object of the same name
    assert {:error, :not_found} = Client.get_state(name, "k")

    # by hex id: the id a name maps to addresses the same object
    {:ok, hex} = Client.namespace_object_id("sql", name)
    assert hex =~ ~r/^[0-9a-f]{64}$/
    assert {:ok, %{"value" => 1}} = Client.get_state(ObjectRef.id(hex, namespace: "sql"), "k")
    assert {:ok, ^hex} = CloudflareDurable.get_namespace_object("sql", name)
    assert {:ok, ^hex} = Client.get_namespace_object(Client, "sql", name, [])

    # a location hint is accepted; a jurisdiction is refused by workerd (see PROTOCOL.md)
    hinted = ObjectRef.name(unique("hint"), location_hint: "weur")
    assert {:ok, %{"value" => 7}} = Client.call_method(hinted, "echo", %{value: 7})

    assert {:error, :invalid_object_id} = Client.get_state(ObjectRef.id("xyz", namespace: "sql"))

    assert {:error, :invalid_object_id} = Client.get_state({"Bad-NS!", name})
    assert {:error, :invalid_object_id} = Client.get_state({:not, :valid})
  end

  test "new_unique_id gives a fresh id usable as an object" do
    {:ok, a} = Client.new_unique_id(namespace: "sql")
    {:ok, b} = Client.new_unique_id(namespace: "sql")
    assert a != b and a =~ ~r/^[0-9a-f]{64}$/
    ref = ObjectRef.id(a, namespace: "sql")
    {:ok, _} = Client.update_state(ref, "x", "y")
    assert {:ok, %{"value" => "y"}} = Client.get_state(ref, "x")
    # workerd refuses jurisdictions: a clean error, not a crash
    assert {:error, reason} = Client.new_unique_id(namespace: "sql", jurisdiction: "eu")
    assert reason in [:invalid_params, :invalid_object_id]
  end

  test "get_many, put_many, delete_many, delete_all" do
    id = unique("many")
    assert :ok = Client.put_many(id, %{"a" => 1, "b" => [2], c: %{d: 3}})

    assert {:ok, %{"a" => 1, "b" => [2], "c" => %{"d" => 3}}} =
             Client.get_many(id, ["a", "b", "c", "zz"])

    assert {:ok, 2} = Client.delete_many(id, ["a", "b", "nope"])
    assert {:ok, %{"c" => _} = left} = Client.get_many(id, ["a", "b", "c"])
    assert map_size(left) == 1
    :ok = Client.put_many(id, %{"x" => 1, "y" => 2})
    assert {:ok, 3} = Client.delete_all(id)
    assert {:ok, %{}} = Client.get_state(id)

    # limits and bad input, refused before sending
    assert {:error, :invalid_key} = Client.get_many(id, [])
    assert {:error, :invalid_key} = Client.get_many(id, Enum.map(1..129, &"k#{&1}"))
    assert {:error, :invalid_key} = Client.get_many(id, [:not_a_string])
    assert {:error, :invalid_data} = Client.put_many(id, %{})
    assert {:error, :invalid_data} = Client.put_many(id, %{"k" => {1}})
    assert Error.last().message =~ "entries.k"
    assert {:error, :invalid_data} = Client.put_many(id, [1, 2])
    assert {:ok, %{}} = Client.get_state(id)
  end

  test "list pages with a cursor and streams lazily in bounded pages" do
    id = unique("list")
    entries = for i <- 1..250, into: %{}, do: {"k#{String.pad_leading("#{i}", 3, "0")}", i}

    entries
    |> Enum.chunk_every(100)
    |> Enum.each(fn chunk -> :ok = Client.put_many(id, Map.new(chunk)) end)

    :ok = Client.put_many(id, %{"other" => 0})

    {:ok, %{entries: first, cursor: cursor}} = Client.list_page(id, prefix: "k", limit: 100)
    assert length(first) == 100 and is_binary(cursor)
    assert hd(first) == {"k001", 1}
    {:ok, %{entries: second}} = Client.list_page(id, prefix: "k", limit: 100, cursor: cursor)
    assert hd(second) == {"k101", 101}

    stream = Client.list(id, prefix: "k", limit: 60)
    # lazy: taking 5 fetches one page only
    assert Enum.take(stream, 5) |> length() == 5
    all = Enum.to_list(stream)
    assert length(all) == 250
    assert Map.new(all) == entries
    assert Enum.map(all, &elem(&1, 0)) == Enum.sort(Map.keys(entries))

    reversed = Client.list(id, prefix: "k", reverse: true, limit: 1000) |> Enum.take(2)
    assert reversed == [{"k250", 250}, {"k249", 249}]

    assert [{"k010", 10}, {"k011", 11}] =
             Client.list(id, start: "k010", end: "k012") |> Enum.to_list()

    assert {:error, :invalid_params} = Client.list_page(id, limit: 0)
    assert_raise Error, ~r/limit/, fn -> Client.list(id, limit: 5000) |> Enum.to_list() end
  end

  test "transactions apply atomically and a failed check aborts everything" do
    id = unique("tx")
    {:ok, _} = Client.update_state(id, "balance", 10)

    assert {:ok, [%{"value" => 10}, _, _, %{"deleted" => false}]} =
             Client.transaction(id, [
               {:get, "balance"},
               {:check, "balance", 10},
               {:put, "balance", 7},
               {:delete, "missing"}
             ])

    assert {:ok, %{"value" => 7}} = Client.get_state(id, "balance")

    assert {:error, :conflict} =
             Client.transaction(id, [{:put, "balance", 0}, {:check, "balance", 999}])

    assert Error.last().kind == "conflict"
    assert {:ok, %{"value" => 7}} = Client.get_state(id, "balance")

    assert {:error, :conflict} =
             Client.transaction(id, [{:put, "new", 1}, {:check_absent, "balance"}])

    assert {:error, :not_found} = Client.get_state(id, "new")
    assert {:ok, [_]} = Client.transaction(id, [{:check_absent, "new"}])

    assert {:error, :invalid_params} = Client.transaction(id, [{:frobnicate, "x"}])
    assert Error.last().message =~ "ops[0]"
    assert {:error, :invalid_params} = Client.transaction(id, [])
    assert {:error, :invalid_data} = Client.transaction(id, [{:put, "k", self()}])
    assert Error.last().message =~ "ops[0].value"
    assert {:error, :invalid_params} = Client.transaction(id, :nope)
  end

  test "conditional writes: if_equals and if_absent" do
    id = unique("cond")
    assert {:ok, %{"success" => true}} = Client.update_state(id, "k", 1, if_absent: true)
    assert {:error, :conflict} = Client.update_state(id, "k", 2, if_absent: true)
    assert {:ok, _} = Client.update_state(id, "k", 2, if_equals: 1)
    assert {:error, :conflict} = Client.update_state(id, "k", 3, if_equals: 1)

    assert {:error, %Error{reason: :conflict, kind: "conflict"}} =
             Client.update_state(id, "k", 3, if_equals: 1, errors: :detailed)

    assert {:ok, %{"value" => 2}} = Client.get_state(id, "k")
    assert {:error, :invalid_data} = Client.update_state(id, "k", 3, if_equals: {1})
  end

  test "alarms: set, read, delete, and a fired alarm reaches the sockets" do
    id = unique("alarm")
    assert {:ok, nil} = Client.get_alarm(id)
    later = System.os_time(:millisecond) + 3_600_000
    assert :ok = Client.set_alarm(id, later)
    assert {:ok, ^later} = Client.get_alarm(id)
    assert :ok = Client.delete_alarm(id)
    assert {:ok, nil} = Client.get_alarm(id)
    assert :ok = Client.delete_alarm(id)

    {:ok, socket} = Client.open_websocket(id)
    :ok = Connection.subscribe(socket)
    soon = DateTime.add(DateTime.utc_now(), 200, :millisecond)
    assert :ok = Client.set_alarm(id, soon)
    assert_receive {:websocket_message, %{"type" => "alarm", "time" => _}}, 10_000
    wait_until(fn -> Client.get_alarm(id) == {:ok, nil} end)
    :ok = Connection.close(socket)

    assert {:error, :invalid_params} = Client.set_alarm(id, -1)
    assert {:error, :invalid_params} = Client.set_alarm(id, 2 ** 60)
  end

  test "sql on a SQL namespace: columns and rows, bound params" do
    obj = {"sql", unique("sql")}
    {:ok, _} = Client.sql(obj, "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT)")

    {:ok, %{rows_written: written}} =
      Client.sql(obj, "INSERT INTO t (name) VALUES (?), (?)", ["ann", "bob"])

    assert written >= 2

    assert {:ok, %{columns: ["id", "name"], rows: [[1, "ann"], [2, "bob"]]}} =
             Client.sql(obj, "SELECT id, name FROM t ORDER BY id")

    assert {:ok, %{rows: [["bob"]]}} = Client.sql(obj, "SELECT name FROM t WHERE id = ?", [2])
    assert {:error, :invalid_params} = Client.sql(obj, "SELECT ?", [[1]])
    assert {:error, :invalid_params} = Client.sql(obj, "  ")
    assert {:error, reason} = Client.sql(obj, "SELEKT nonsense")
    assert reason in [:invalid_params, :server_error]
  end

  test "batch: per-call results, one failure does not stop the next" do
    id = unique("batch")

    assert {:ok, [{:ok, %{"value" => 2}}, {:error, :not_found}, {:ok, %{"value" => 2}}, {:ok, 5}]} =
             Client.batch(id, [
               {"increment", %{increment: 2}},
               {"no_such_method", %{}},
               {"get_value", %{}},
               {"echo", 5, "key-#{id}"}
             ])

    assert {:error, :invalid_params} = Client.batch(id, [])
    assert {:error, :invalid_method_name} = Client.batch(id, [{"not a method", %{}}])
    assert {:error, :invalid_params} = Client.batch(id, [{"echo", {1, 2}}])
    assert Error.last().message =~ "calls[0].params"
    assert {:ok, %{"value" => 2}} = Client.call_method(id, "get_value", %{})
  end

  test "traceparent: a well-formed one reaches the worker's log, a bad one is refused" do
    tp = "00-#{:crypto.strong_rand_bytes(16) |> Base.encode16(case: :lower)}-00f067aa0ba902b7-01"
    id = unique("trace")
    assert {:ok, 1} = Client.call_method(id, "echo", 1, traceparent: tp)
    log = Path.join(Application.fetch_env!(:cloudflare_durable, :test_worker).dir, "worker.log")
    wait_until(fn -> File.read!(log) =~ tp end)

    assert {:error, %Error{reason: :invalid_params, kind: "invalid_input"}} =
             Client.call_method(id, "echo", 1, traceparent: "garbage", errors: :detailed)
  end

  test "default_namespace applies to objects named without one" do
    name = unique("defns")
    {:ok, _} = Client.update_state(name, "k", "in-sql", default_namespace: "sql")
    assert {:ok, %{"value" => "in-sql"}} = Client.get_state({"sql", name}, "k")
    assert {:error, :not_found} = Client.get_state(name, "k")
  end

  test "auto_reconnect: false ends the socket at its first drop" do
    id = unique("noreconnect")
    {:ok, socket} = Client.open_websocket(id, auto_reconnect: false)
    :ok = Connection.subscribe(socket)
    ref = Process.monitor(socket)
    {:ok, _} = Client.call_method(id, "test_close_sockets", %{code: 1000})
    assert_receive {:websocket_closed, _reason}, 5_000
    assert_receive {:DOWN, ^ref, :process, _, _}, 5_000
    wait_until(fn -> CloudflareDurable.Native.live_sockets() == 0 end)
  end
end
