defmodule CloudflareDurable.ClientCache do
  @moduledoc false
  # The native clients, one per effective configuration, in :persistent_term
  # (a lookup costs no copy). A missing one is built by this process alone:
  # many processes making their first call at once wait for one build
  # (milliseconds) instead of each building its own and replacing the cached
  # one (every replacement of a persistent term costs every process a scan).

  use GenServer

  alias CloudflareDurable.Native

  @doc false
  def start_link(_), do: GenServer.start_link(__MODULE__, :ok, name: __MODULE__)

  @doc "The client for `options`, built on first use."
  @spec get(map()) :: {:ok, Native.client()} | {:error, tuple()}
  def get(options) do
    case :persistent_term.get(key(options), nil) do
      nil -> build(options)
      client -> {:ok, client}
    end
  end

  defp build(options) do
    case Process.whereis(__MODULE__) do
      # The application is not started: no one to share the build with.
      nil -> lookup_or_build(options)
      _pid -> GenServer.call(__MODULE__, {:get, options}, :infinity)
    end
  end

  @impl true
  def init(:ok), do: {:ok, nil}

  @impl true
  def handle_call({:get, options}, _from, state) do
    {:reply, lookup_or_build(options), state}
  end

  defp lookup_or_build(options) do
    key = key(options)

    case :persistent_term.get(key, nil) do
      nil ->
        with {:ok, client} <- Native.new_client(options) do
          :persistent_term.put(key, client)
          {:ok, client}
        end

      client ->
        {:ok, client}
    end
  end

  defp key(options), do: {CloudflareDurable.Config, options}
end
