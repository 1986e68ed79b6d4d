defmodule CloudflareDurable.Events do
  @moduledoc """
  Receives the Rust core's lifecycle events (sent from a tokio thread to this
  process's mailbox) and emits them as telemetry. Started by the application;
  clients built while it runs report to it.
  """

  use GenServer

  alias CloudflareDurable.{Error, Telemetry}

  @doc false
  @spec start_link(keyword()) :: GenServer.on_start()
  def start_link(_opts), do: GenServer.start_link(__MODULE__, nil, name: __MODULE__)

  @impl GenServer
  @spec init(nil) :: {:ok, nil}
  def init(nil), do: {:ok, nil}

  @impl GenServer
  @spec handle_info(term(), nil) :: {:noreply, nil}
  def handle_info({:cloudflare_durable_event, event}, state) do
    emit(event)
    {:noreply, state}
  end

  def handle_info(_other, state), do: {:noreply, state}

  defp emit({:websocket_connected, object, reconnects}) do
    Telemetry.execute([:cloudflare_durable, :websocket, :connected], %{count: 1}, %{
      object_id: object,
      reconnects: reconnects
    })
  end

  defp emit({:websocket_disconnected, object, reason, will_reconnect}) do
    Telemetry.execute([:cloudflare_durable, :websocket, :disconnected], %{count: 1}, %{
      object_id: object,
      reason: reason,
      will_reconnect: will_reconnect
    })
  end

  defp emit({:error, object, _operation, detail}) do
    error = Error.from_detail(detail)

    Telemetry.execute([:cloudflare_durable, :error], %{count: 1}, %{
      error: error.reason,
      object_id: object,
      operation: :websocket,
      message: error.message
    })
  end

  defp emit(_other), do: :ok
end
