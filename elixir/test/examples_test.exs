defmodule MyApp.DistributedCounter do
  @moduledoc false
  # The README's distributed counter, verbatim apart from this comment.
  alias CloudflareDurable.Client

  def create(id, start_value \\ 0) do
    Client.initialize("counter-#{id}", %{value: start_value})
  end

  def increment(id, amount \\ 1) do
    case Client.call_method("counter-#{id}", "increment", %{increment: amount}) do
      {:ok, result} -> {:ok, result["value"]}
      {:error, _} = error -> error
    end
  end

  def get_value(id) do
    case Client.call_method("counter-#{id}", "get_value", %{}) do
      {:ok, result} -> {:ok, result["value"]}
      {:error, _} = error -> error
    end
  end

  def subscribe(id, pid) do
    with {:ok, socket} <- Client.open_websocket("counter-#{id}") do
      CloudflareDurable.WebSocket.Connection.register_handler(socket, fn message ->
        send(pid, {:counter_update, id, message["value"]})
      end)

      {:ok, socket}
    end
  end
end

defmodule CloudflareDurable.ExamplesTest do
  use ExUnit.Case

  alias CloudflareDurable.WebSocket.Connection
  import CloudflareDurable.TestWorker, only: [unique: 1]

  test "README: distributed counter" do
    id = unique("dc")
    assert {:ok, %{"success" => true}} = MyApp.DistributedCounter.create(id, 10)
    assert {:ok, socket} = MyApp.DistributedCounter.subscribe(id, self())
    assert_receive {:counter_update, ^id, nil}, 5_000
    assert {:ok, 11} = MyApp.DistributedCounter.increment(id)
    assert {:ok, 16} = MyApp.DistributedCounter.increment(id, 5)
    assert {:ok, 16} = MyApp.DistributedCounter.get_value(id)
    assert_receive {:counter_update, ^id, 11}, 5_000
    assert_receive {:counter_update, ^id, 16}, 5_000
    :ok = Connection.close(socket)
  end

  test "README: collaborative document" do
    doc = unique("document")
    test = self()

    {:ok, _} =
      CloudflareDurable.Client.initialize(doc, %{
        content: "Initial document content",
        version: 1,
        editors: []
      })

    {:ok, socket} = CloudflareDurable.Client.open_websocket(doc)

    CloudflareDurable.WebSocket.Connection.register_handler(socket, fn message ->
      case message do
        %{"type" => "edit", "editor" => editor, "version" => version} ->
          send(test, {:edit, editor, version})

        %{"type" => "join", "editor" => editor} ->
          send(test, {:join, editor})

        %{"type" => "leave", "editor" => editor} ->
          send(test, {:leave, editor})

        _ ->
          :ok
      end
    end)

    {:ok, joined} = CloudflareDurable.Client.call_method(doc, "join", %{editor: "user-456"})
    assert "user-456" in joined["editors"]

    {:ok, edited} =
      CloudflareDurable.Client.call_method(doc, "update", %{
        editor: "user-456",
        content: "Updated document content"
      })

    assert %{"content" => "Updated document content", "version" => 1} = edited
    {:ok, _} = CloudflareDurable.Client.call_method(doc, "leave", %{editor: "user-456"})

    assert_receive {:join, "user-456"}, 5_000
    assert_receive {:edit, "user-456", 1}, 5_000
    assert_receive {:leave, "user-456"}, 5_000
    :ok = Connection.close(socket)
  end
end
