defmodule :telemetry do
  @moduledoc false
  # Test-only stand-in for the `telemetry` library (hex is not reachable
  # here), implementing the part of its documented API the tests use:
  # attach/4, attach_many/4, detach/1 and execute/3. It proves the package
  # emits the right events through `:telemetry.execute/3` when the module
  # exists. It is compiled only in the test environment.

  @agent :telemetry_stub_handlers

  def attach(id, event, fun, config), do: attach_many(id, [event], fun, config)

  def attach_many(id, events, fun, config) do
    ensure_started()

    Agent.get_and_update(@agent, fn handlers ->
      if Map.has_key?(handlers, id),
        do: {{:error, :already_exists}, handlers},
        else: {:ok, Map.put(handlers, id, {events, fun, config})}
    end)
  end

  def detach(id) do
    ensure_started()

    Agent.get_and_update(@agent, fn handlers ->
      if Map.has_key?(handlers, id),
        do: {:ok, Map.delete(handlers, id)},
        else: {{:error, :not_found}, handlers}
    end)
  end

  def execute(event, measurements, metadata) do
    ensure_started()

    for {id, {events, fun, config}} <- Agent.get(@agent, & &1), event in events do
      try do
        fun.(event, measurements, metadata, config)
      rescue
        _ -> detach(id)
      end
    end

    :ok
  end

  defp ensure_started do
    case Agent.start(fn -> %{} end, name: @agent) do
      {:ok, _} -> :ok
      {:error, {:already_started, _}} -> :ok
    end
  end
end
