defmodule CloudflareDurable.Client do
  @moduledoc """
  Calls to Durable Objects behind a Worker: initialize, call methods, read and
  write state, open WebSockets. A drop-in for the original library's
  `CloudflareDurable.Client`.

  Every function takes a trailing `opts` keyword list that overrides the
  configuration for that call (see `CloudflareDurable.Config`: `:worker_url`,
  `:api_token`, `:timeout`, …), plus `errors: :detailed` to get
  `{:error, %CloudflareDurable.Error{}}` instead of a bare atom.

  Results are maps with string keys. The calling process waits in `receive`
  (bounded by the timeout plus a margin) while the request runs on the
  native client's own threads: no scheduler is blocked.
  """

  alias CloudflareDurable.{Config, Error, Native, Telemetry}
  alias CloudflareDurable.WebSocket.Connection

  @typedoc "The name of a Durable Object (1 to 512 bytes of UTF-8)."
  @type object_id :: String.t()
  @typedoc "A method name (`^[A-Za-z][A-Za-z0-9_]*$`)."
  @type method_name :: String.t()
  @typedoc "`{:error, reason}`, or `{:error, %CloudflareDurable.Error{}}` with `errors: :detailed`."
  @type error :: {:error, Error.reason() | Error.t()}

  # Extra wait on top of the timeout: the native side enforces the timeout
  # itself and always replies, so this only guards against a lost reply.
  @margin 5_000

  @doc """
  Stores `data` (a map) in the object, one key per member, and broadcasts
  each key to the object's sockets. Returns `{:ok, %{"success" => true}}`.
  """
  @spec initialize(object_id(), map(), keyword()) :: {:ok, map()} | error()
  def initialize(object_id, data, opts \\ []) do
    request(%{object_id: object_id, operation: :initialize}, opts, fn client, timeout ->
      if is_map(data) do
        Native.initialize(client, object_id, data, timeout)
      else
        {:error, {:invalid_data, "invalid_input", "data must be a map", nil, nil}}
      end
    end)
    |> ok_map(%{"success" => true})
  end

  @doc """
  Calls `method` on the object with `params` and returns its result, such as
  `{:ok, %{"value" => 1}}`. Extra option: `:idempotency_key` (a retry with
  the same key returns the first call's result; one is generated otherwise).
  """
  @spec call_method(object_id(), method_name(), term(), keyword()) :: {:ok, term()} | error()
  def call_method(object_id, method, params, opts \\ []) do
    meta = %{object_id: object_id, operation: :call_method, method: method}

    request(meta, opts, fn client, timeout ->
      Native.call_method(client, object_id, method, params, timeout, opts[:idempotency_key])
    end)
  end

  @doc """
  Reads the object's state.

    * `get_state(id)` or `get_state(id, opts)` — the whole state as a map;
    * `get_state(id, key, opts \\\\ [])` — one key, as the worker replies it:
      `{:ok, %{"key" => key, "value" => value}}`, or `{:error, :not_found}`.
  """
  @spec get_state(object_id(), String.t() | nil | keyword(), keyword()) ::
          {:ok, map()} | error()
  def get_state(object_id, key_or_opts \\ nil, opts \\ [])

  def get_state(object_id, opts, []) when is_list(opts), do: get_state(object_id, nil, opts)

  def get_state(object_id, nil, opts) do
    request(%{object_id: object_id, operation: :get_state}, opts, fn client, timeout ->
      Native.get_state(client, object_id, timeout)
    end)
  end

  def get_state(object_id, key, opts) do
    meta = %{object_id: object_id, operation: :get_state, key: key}

    case request(meta, opts, &Native.get_state_key(&1, object_id, key, &2)) do
      {:ok, value} -> {:ok, %{"key" => key, "value" => value}}
      error -> error
    end
  end

  @doc """
  Sets one key of the object's state and broadcasts it. Returns
  `{:ok, %{"success" => true, "key" => key}}`.
  """
  @spec update_state(object_id(), String.t(), term(), keyword()) :: {:ok, map()} | error()
  def update_state(object_id, key, value, opts \\ []) do
    meta = %{object_id: object_id, operation: :update_state, key: key}

    request(meta, opts, &Native.update_state(&1, object_id, key, value, &2))
    |> ok_map(%{"success" => true, "key" => key})
  end

  @doc """
  Deletes one key of the object's state (no error when it was absent) and
  broadcasts the deletion. Returns `{:ok, %{"success" => true, "key" => key}}`.
  """
  @spec delete_state(object_id(), String.t(), keyword()) :: {:ok, map()} | error()
  def delete_state(object_id, key, opts \\ []) do
    meta = %{object_id: object_id, operation: :delete_state, key: key}

    request(meta, opts, &Native.delete_state(&1, object_id, key, &2))
    |> ok_map(%{"success" => true, "key" => key})
  end

  @doc """
  Opens a WebSocket to the object and returns the pid of its connection
  process (supervised by the package), once the first connection is up.
  Drops reconnect by themselves (resuming where they left off). The socket
  closes when the calling process exits, or with
  `CloudflareDurable.WebSocket.Connection.close/1`.

  The original's `:backoff_initial` and `:backoff_max` options are accepted
  as `:websocket_reconnect_delay` and `:websocket_max_reconnect_delay`.
  """
  @spec open_websocket(object_id(), keyword()) :: {:ok, pid()} | error()
  def open_websocket(object_id, opts \\ []) do
    opts =
      opts
      |> rename(:backoff_initial, :websocket_reconnect_delay)
      |> rename(:backoff_max, :websocket_max_reconnect_delay)

    case Config.client(opts) do
      {:ok, client, timeout} -> Connection.open(client, object_id, timeout, self(), opts)
      {:error, detail} -> Error.result(detail, opts)
    end
  end

  defp rename(opts, from, to) do
    case Keyword.pop(opts, from) do
      {nil, opts} -> opts
      {value, opts} -> Keyword.put_new(opts, to, value)
    end
  end

  @doc false
  @spec await(Native.pending(), pos_integer()) :: {:ok, term()} | :ok | {:error, tuple()}
  def await({:error, _detail} = error, _timeout), do: error

  def await(ref, timeout) when is_reference(ref) do
    receive do
      {^ref, result} -> result
    after
      timeout + @margin ->
        {:error,
         {:timeout, "timeout", "no reply from the native client within #{timeout} ms", nil, nil}}
    end
  end

  defp request(meta, opts, start) do
    started = System.monotonic_time()

    Telemetry.execute(
      [:cloudflare_durable, :request, :start],
      %{system_time: System.system_time(), monotonic_time: started},
      meta
    )

    result =
      case Config.client(opts) do
        {:ok, client, timeout} -> client |> start.(timeout) |> await(timeout)
        {:error, _} = error -> error
      end

    stopped = System.monotonic_time()
    measurements = %{duration: stopped - started, monotonic_time: stopped}

    case result do
      {:error, detail} ->
        error = detail |> Error.from_detail() |> Error.remember()

        Telemetry.execute(
          [:cloudflare_durable, :request, :stop],
          measurements,
          Map.merge(meta, %{result: :error, error: error.reason})
        )

        Telemetry.execute([:cloudflare_durable, :error], %{count: 1}, %{
          error: error.reason,
          object_id: meta.object_id,
          operation: meta.operation,
          message: error.message
        })

        Error.result(detail, opts)

      ok ->
        Telemetry.execute(
          [:cloudflare_durable, :request, :stop],
          measurements,
          Map.put(meta, :result, :ok)
        )

        ok
    end
  end

  defp ok_map(:ok, map), do: {:ok, map}
  defp ok_map(other, _map), do: other
end
