defmodule CloudflareDurable.WebSocket.Supervisor do
  @moduledoc "The DynamicSupervisor of WebSocket connection processes."
  use DynamicSupervisor

  @doc false
  @spec start_link(term()) :: Supervisor.on_start()
  def start_link(_arg), do: DynamicSupervisor.start_link(__MODULE__, nil, name: __MODULE__)

  @impl DynamicSupervisor
  @spec init(nil) :: {:ok, DynamicSupervisor.sup_flags()}
  def init(nil), do: DynamicSupervisor.init(strategy: :one_for_one)

  @doc "Stops a connection process (its socket closes)."
  @spec stop_connection(pid()) :: :ok | {:error, :not_found}
  def stop_connection(pid), do: DynamicSupervisor.terminate_child(__MODULE__, pid)

  @doc "The pids of the open connections."
  @spec list_connections() :: [pid()]
  def list_connections do
    for {_, pid, _, _} <- DynamicSupervisor.which_children(__MODULE__), is_pid(pid), do: pid
  end
end
