defmodule CloudflareDurable.AuthTest do
  use ExUnit.Case

  alias CloudflareDurable.{Client, Error, TestWorker}
  alias CloudflareDurable.WebSocket.Connection

  @token "elixir-secret-token"

  setup_all do
    worker = TestWorker.start(["--token", @token])
    on_exit(fn -> TestWorker.stop(worker) end)
    %{url: worker.url}
  end

  test "the right token works for HTTP and WebSockets", %{url: url} do
    opts = [worker_url: url, api_token: @token]
    id = TestWorker.unique("auth")
    assert {:ok, %{"success" => true}} = Client.initialize(id, %{value: 1}, opts)
    assert {:ok, %{"value" => 2}} = Client.call_method(id, "increment", %{}, opts)
    assert {:ok, socket} = Client.open_websocket(id, opts)
    assert {:ok, %{"value" => 2}} = Connection.call(socket, "get_value", %{})
    :ok = Connection.close(socket)
  end

  test "a wrong or missing token is :unauthorized, and the token is never in messages", %{
    url: url
  } do
    assert {:error, :unauthorized} =
             Client.get_state("x", worker_url: url, api_token: "wrong-token-123")

    assert %Error{status: 401} = error = Error.last()
    refute error.message =~ "wrong-token-123"
    assert {:error, :unauthorized} = Client.get_state("x", worker_url: url)

    assert {:error, :unauthorized} =
             Client.open_websocket("x", worker_url: url, api_token: "wrong-token-123")
  end
end
