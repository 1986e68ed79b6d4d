defmodule CloudflareDurable.ReconnectTest do
  use ExUnit.Case

  alias CloudflareDurable.{Client, TestWorker}
  alias CloudflareDurable.WebSocket.Connection
  import TestWorker, only: [unique: 1, wait_until: 1]

  test "a socket reconnects after a worker restart and resumes its messages" do
    worker = Application.fetch_env!(:cloudflare_durable, :test_worker)
    id = unique("restart")
    {:ok, _} = Client.initialize(id, %{value: 0})
    {:ok, socket} = Client.open_websocket(id)
    :ok = Connection.subscribe(socket)
    assert_receive {:websocket_message, %{"type" => "init"}}, 5_000

    :ok = TestWorker.restart(worker)
    wait_until(fn -> Connection.status(socket) == :connected end)

    # HTTP works again, and the update reaches the reconnected socket
    assert {:ok, %{"value" => 7}} = Client.call_method(id, "increment", %{increment: 7})
    assert_receive {:websocket_message, %{"type" => "update", "value" => 7}}, 10_000

    # a call over the socket works after the restart too
    assert {:ok, %{"value" => 7}} = Connection.call(socket, "get_value", %{})
    :ok = Connection.close(socket)
  end
end
