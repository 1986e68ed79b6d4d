defmodule CloudflareDurable.TelemetryTest do
  use ExUnit.Case

  alias CloudflareDurable.Client
  alias CloudflareDurable.WebSocket.Connection
  import CloudflareDurable.TestWorker, only: [unique: 1]

  @events [
    [:cloudflare_durable, :request, :start],
    [:cloudflare_durable, :request, :stop],
    [:cloudflare_durable, :error],
    [:cloudflare_durable, :websocket, :connected],
    [:cloudflare_durable, :websocket, :disconnected]
  ]

  def forward(event, measurements, metadata, pid),
    do: send(pid, {:telemetry, event, measurements, metadata})

  setup do
    id = "test-#{System.unique_integer([:positive])}"
    :ok = :telemetry.attach_many(id, @events, &__MODULE__.forward/4, self())
    on_exit(fn -> :telemetry.detach(id) end)
  end

  test "request start and stop around a call, with the original metadata" do
    id = unique("tele")
    {:ok, _} = Client.call_method(id, "increment", %{})

    assert_received {:telemetry, [:cloudflare_durable, :request, :start], %{system_time: _},
                     %{object_id: ^id, method: "increment"}}

    assert_received {:telemetry, [:cloudflare_durable, :request, :stop], %{duration: d},
                     %{object_id: ^id, method: "increment", result: :ok}}

    assert is_integer(d) and d > 0

    {:ok, _} = Client.get_state(id)

    assert_received {:telemetry, [:cloudflare_durable, :request, :stop], _,
                     %{object_id: ^id, operation: :get_state}}
  end

  test "errors emit [:cloudflare_durable, :error] with the reason" do
    id = unique("tele-err")
    {:error, :not_found} = Client.call_method(id, "missing", %{})

    assert_received {:telemetry, [:cloudflare_durable, :error], %{count: 1},
                     %{error: :not_found, object_id: ^id, operation: :call_method}}

    assert_received {:telemetry, [:cloudflare_durable, :request, :stop], _,
                     %{result: :error, error: :not_found}}

    {:error, :invalid_params} = Client.call_method(id, "echo", {:tuple})
    assert_received {:telemetry, [:cloudflare_durable, :error], _, %{error: :invalid_params}}
  end

  test "websocket connected and disconnected, from the core's event hook" do
    id = unique("tele-ws")
    {:ok, socket} = Client.open_websocket(id)

    assert_receive {:telemetry, [:cloudflare_durable, :websocket, :connected], %{count: 1},
                    %{object_id: ^id, reconnects: 0}},
                   5_000

    # a server-side close (1000) is a drop: the core reports it and reconnects
    {:ok, _} = Client.call_method(id, "test_close_sockets", %{code: 1000})

    assert_receive {:telemetry, [:cloudflare_durable, :websocket, :disconnected], _,
                    %{object_id: ^id, will_reconnect: true}},
                   5_000

    assert_receive {:telemetry, [:cloudflare_durable, :websocket, :connected], _,
                    %{object_id: ^id, reconnects: 1}},
                   5_000

    :ok = Connection.close(socket)

    assert_receive {:telemetry, [:cloudflare_durable, :websocket, :disconnected], _,
                    %{object_id: ^id, will_reconnect: false}},
                   5_000

    # exactly one disconnect for a user close: the core's, no duplicate
    # (the core's event goes through the Events process before telemetry,
    # so a round trip through it flushes anything still in flight)
    _ = :sys.get_state(CloudflareDurable.Events)

    refute_received {:telemetry, [:cloudflare_durable, :websocket, :disconnected], _,
                     %{object_id: ^id}}
  end

  test "a refused socket reports an error event" do
    id = unique("tele-refuse")
    {:ok, _socket} = Client.open_websocket(id)
    {:ok, _} = Client.call_method(id, "test_close_sockets", %{code: 4003, reason: "no"})

    assert_receive {:telemetry, [:cloudflare_durable, :error], _,
                    %{error: :connection_closed, object_id: ^id, operation: :websocket}},
                   5_000
  end
end
