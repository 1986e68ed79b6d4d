defmodule CloudflareDurable.Application do
  @moduledoc false
  use Application

  @impl Application
  @spec start(Application.start_type(), term()) :: {:ok, pid()} | {:error, term()}
  def start(_type, _args) do
    :ok = CloudflareDurable.Telemetry.init()

    children = [
      CloudflareDurable.ClientCache,
      CloudflareDurable.Events,
      CloudflareDurable.WebSocket.Supervisor
    ]

    Supervisor.start_link(children, strategy: :one_for_one, name: CloudflareDurable.Supervisor)
  end
end
