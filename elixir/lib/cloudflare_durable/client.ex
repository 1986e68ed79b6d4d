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

  alias CloudflareDurable.{Config, Error, Native, ObjectRef, Telemetry}
  alias CloudflareDurable.WebSocket.Connection

  @typedoc """
  A Durable Object: its name (1 to 512 bytes of UTF-8), `{namespace, name}`,
  or a `%CloudflareDurable.ObjectRef{}` (by name or hex id, with placement
  hints). The options `:namespace`, `:jurisdiction` and `:location_hint`
  complete it.
  """
  @type object_id :: ObjectRef.spec()
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
    request(%{object_id: label(object_id), operation: :initialize}, opts, fn client, timeout ->
      if is_map(data) do
        Native.initialize(client, native(object_id, opts), data, timeout)
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
    meta = %{object_id: label(object_id), operation: :call_method, method: method}
    object = native(object_id, opts)

    request(meta, opts, fn client, timeout ->
      Native.call_method(client, object, method, params, timeout, opts[:idempotency_key])
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
    request(%{object_id: label(object_id), operation: :get_state}, opts, fn client, timeout ->
      Native.get_state(client, native(object_id, opts), timeout)
    end)
  end

  def get_state(object_id, key, opts) do
    meta = %{object_id: label(object_id), operation: :get_state, key: key}
    object = native(object_id, opts)

    case request(meta, opts, &Native.get_state_key(&1, object, key, &2)) do
      {:ok, value} -> {:ok, %{"key" => key, "value" => value}}
      error -> error
    end
  end

  @doc """
  Sets one key of the object's state and broadcasts it. Returns
  `{:ok, %{"success" => true, "key" => key}}`.

  Conditional writes: `if_equals: v` writes only if the key holds `v`;
  `if_absent: true` only if the key does not exist. A lost race is
  `{:error, :conflict}` and nothing is written.
  """
  @spec update_state(object_id(), String.t(), term(), keyword()) :: {:ok, map()} | error()
  def update_state(object_id, key, value, opts \\ []) do
    meta = %{object_id: label(object_id), operation: :update_state, key: key}
    object = native(object_id, opts)

    start =
      cond do
        Keyword.has_key?(opts, :if_equals) ->
          &Native.update_state_if(&1, object, key, value, {:equals, opts[:if_equals]}, &2)

        opts[:if_absent] == true ->
          &Native.update_state_if(&1, object, key, value, :absent, &2)

        true ->
          &Native.update_state(&1, object, key, value, &2)
      end

    request(meta, opts, start)
    |> ok_map(%{"success" => true, "key" => key})
  end

  @doc """
  Deletes one key of the object's state (no error when it was absent) and
  broadcasts the deletion. Returns `{:ok, %{"success" => true, "key" => key}}`.
  """
  @spec delete_state(object_id(), String.t(), keyword()) :: {:ok, map()} | error()
  def delete_state(object_id, key, opts \\ []) do
    meta = %{object_id: label(object_id), operation: :delete_state, key: key}
    object = native(object_id, opts)

    request(meta, opts, &Native.delete_state(&1, object, key, &2))
    |> ok_map(%{"success" => true, "key" => key})
  end

  @doc """
  Opens a WebSocket to the object and returns the pid of its connection
  process (supervised by the package), once the first connection is up.
  Drops reconnect by themselves (resuming where they left off). The socket
  closes when the calling process exits, or with
  `CloudflareDurable.WebSocket.Connection.close/1`.

  The original's `:backoff_initial`, `:backoff_max` and `:auto_reconnect`
  options are accepted as `:websocket_reconnect_delay`,
  `:websocket_max_reconnect_delay` and `:websocket_auto_reconnect` (with
  `auto_reconnect: false`, the first drop ends the socket: subscribers get
  `{:websocket_closed, reason}`).
  """
  @spec open_websocket(object_id(), keyword()) :: {:ok, pid()} | error()
  def open_websocket(object_id, opts \\ []) do
    opts =
      opts
      |> rename(:backoff_initial, :websocket_reconnect_delay)
      |> rename(:backoff_max, :websocket_max_reconnect_delay)
      |> rename(:auto_reconnect, :websocket_auto_reconnect)

    case Config.client(opts) do
      {:ok, client, timeout} ->
        Connection.open(client, native(object_id, opts), timeout, self(), opts)

      {:error, detail} ->
        Error.result(detail, opts)
    end
  end

  defp rename(opts, from, to) do
    case Keyword.pop(opts, from) do
      {nil, opts} -> opts
      {value, opts} -> Keyword.put_new(opts, to, value)
    end
  end

  defp native(object, opts), do: ObjectRef.to_native(object, opts)
  defp label(object), do: ObjectRef.label(object)

  # ------------------------------------------------------------ storage

  @doc """
  Reads many keys at once (1 to 128): `{:ok, %{key => value}}`, absent keys
  left out.
  """
  @spec get_many(object_id(), [String.t()], keyword()) :: {:ok, map()} | error()
  def get_many(object_id, keys, opts \\ []) do
    object = native(object_id, opts)
    request(meta(object_id, :get_many), opts, &Native.get_many(&1, object, keys, &2))
  end

  @doc """
  Writes many entries (a map, 1 to 128 entries) atomically; each key is
  broadcast to the object's sockets. Returns `:ok`.
  """
  @spec put_many(object_id(), map(), keyword()) :: :ok | error()
  def put_many(object_id, entries, opts \\ []) do
    object = native(object_id, opts)
    request(meta(object_id, :put_many), opts, &Native.put_many(&1, object, entries, &2))
  end

  @doc "Deletes many keys at once; `{:ok, how_many_existed}`."
  @spec delete_many(object_id(), [String.t()], keyword()) ::
          {:ok, non_neg_integer()} | error()
  def delete_many(object_id, keys, opts \\ []) do
    object = native(object_id, opts)
    request(meta(object_id, :delete_many), opts, &Native.delete_many(&1, object, keys, &2))
  end

  @doc "Deletes every key of the object's storage; `{:ok, how_many_there_were}`."
  @spec delete_all(object_id(), keyword()) :: {:ok, non_neg_integer()} | error()
  def delete_all(object_id, opts \\ []) do
    object = native(object_id, opts)
    request(meta(object_id, :delete_all), opts, &Native.delete_all(&1, object, &2))
  end

  @doc """
  One page of the object's keys: `{:ok, %{entries: [{key, value}], cursor:
  cursor | nil}}`. Options: `:prefix`, `:start` (inclusive), `:end`
  (exclusive), `:limit` (page size, 1 to 1000; default 100), `:reverse`,
  `:cursor` (from the previous page, with the same options).
  """
  @spec list_page(object_id(), keyword()) ::
          {:ok, %{entries: [{String.t(), term()}], cursor: String.t() | nil}} | error()
  def list_page(object_id, opts \\ []) do
    object = native(object_id, opts)
    options = list_options(opts)

    case request(
           meta(object_id, :list),
           opts,
           &Native.list_page(&1, object, options, opts[:cursor], &2)
         ) do
      {:ok, %{"entries" => entries, "cursor" => cursor}} ->
        {:ok, %{entries: Enum.map(entries, fn [k, v] -> {k, v} end), cursor: cursor}}

      error ->
        error
    end
  end

  @doc """
  The object's entries as a lazy `Stream` of `{key, value}`, fetched one page
  (`:limit`, default 100) at a time as the stream is consumed, so memory stays
  bounded by one page. Takes `list_page/2`'s options. A failed page raises
  `CloudflareDurable.Error` from the consuming process.
  """
  @spec list(object_id(), keyword()) :: Enumerable.t()
  def list(object_id, opts \\ []) do
    opts = Keyword.put(opts, :errors, :detailed)

    Stream.resource(
      fn -> {:start, nil} end,
      fn
        :done ->
          {:halt, :done}

        {_, cursor} ->
          case list_page(object_id, Keyword.put(opts, :cursor, cursor)) do
            {:ok, %{entries: entries, cursor: nil}} -> {entries, :done}
            {:ok, %{entries: entries, cursor: next}} -> {entries, {:more, next}}
            {:error, %Error{} = error} -> raise error
          end
      end,
      fn _ -> :ok end
    )
  end

  defp list_options(opts) do
    {opts[:prefix], opts[:start], opts[:end], opts[:limit], opts[:reverse] == true}
  end

  @typedoc "One operation of a transaction."
  @type tx_op ::
          {:get, String.t()}
          | {:put, String.t(), term()}
          | {:delete, String.t()}
          | {:check, String.t(), term()}
          | {:check_absent, String.t()}

  @doc """
  Applies the operations atomically, in order (1 to 128): `{:get, key}`,
  `{:put, key, value}`, `{:delete, key}`, and the checks `{:check, key,
  value}` (the key must hold `value`) and `{:check_absent, key}`. Returns
  one result per op (`%{"value" => v}` or `%{"value" => nil, "absent" =>
  true}` for a get, `%{"deleted" => bool}` for a delete). A failed check
  aborts everything: `{:error, :conflict}`.
  """
  @spec transaction(object_id(), [tx_op()], keyword()) :: {:ok, [term()]} | error()
  def transaction(object_id, ops, opts \\ []) do
    object = native(object_id, opts)
    request(meta(object_id, :transaction), opts, &Native.transaction(&1, object, ops, &2))
  end

  # ------------------------------------------------------------ alarms

  @doc "The object's alarm: `{:ok, ms_since_epoch}` or `{:ok, nil}`."
  @spec get_alarm(object_id(), keyword()) :: {:ok, non_neg_integer() | nil} | error()
  def get_alarm(object_id, opts \\ []) do
    object = native(object_id, opts)
    request(meta(object_id, :get_alarm), opts, &Native.get_alarm(&1, object, &2))
  end

  @doc """
  Sets the object's alarm to `time` (milliseconds since the Unix epoch, or a
  `DateTime`). When it fires, the object's sockets receive
  `%{"type" => "alarm", "time" => t, "seq" => n}`. Returns `:ok`.
  """
  @spec set_alarm(object_id(), non_neg_integer() | DateTime.t(), keyword()) :: :ok | error()
  def set_alarm(object_id, time, opts \\ [])

  def set_alarm(object_id, %DateTime{} = time, opts),
    do: set_alarm(object_id, DateTime.to_unix(time, :millisecond), opts)

  def set_alarm(object_id, time, opts) do
    object = native(object_id, opts)
    request(meta(object_id, :set_alarm), opts, &Native.set_alarm(&1, object, time, &2))
  end

  @doc "Deletes the object's alarm (`:ok` when none was set)."
  @spec delete_alarm(object_id(), keyword()) :: :ok | error()
  def delete_alarm(object_id, opts \\ []) do
    object = native(object_id, opts)
    request(meta(object_id, :delete_alarm), opts, &Native.delete_alarm(&1, object, &2))
  end

  # ------------------------------------------------------------ SQL, batches

  @doc """
  Runs one SQL statement with `?` parameters (scalars) on an object of a
  SQL-enabled namespace: `{:ok, %{columns: [name], rows: [[value]],
  rows_read: n, rows_written: n}}`.
  """
  @spec sql(object_id(), String.t(), list(), keyword()) ::
          {:ok,
           %{
             columns: [String.t()],
             rows: [list()],
             rows_read: non_neg_integer(),
             rows_written: non_neg_integer()
           }}
          | error()
  def sql(object_id, query, params \\ [], opts \\ []) do
    object = native(object_id, opts)

    case request(meta(object_id, :sql), opts, &Native.sql(&1, object, query, params, &2)) do
      {:ok, %{"columns" => c, "rows" => r, "rows_read" => read, "rows_written" => written}} ->
        {:ok, %{columns: c, rows: r, rows_read: read, rows_written: written}}

      error ->
        error
    end
  end

  @doc """
  Runs several method calls on one object in one round trip (1 to 64), in
  order: each is `{method, params}` or `{method, params, idempotency_key}`.
  Returns `{:ok, results}` with one `{:ok, result}` or `{:error, reason}`
  per call (one failure does not stop the next); `{:error, reason}` as a
  whole only when the batch itself failed.
  """
  @spec batch(object_id(), [{String.t(), term()} | {String.t(), term(), String.t()}], keyword()) ::
          {:ok, [{:ok, term()} | error()]} | error()
  def batch(object_id, calls, opts \\ []) do
    object = native(object_id, opts)

    case request(meta(object_id, :batch), opts, &Native.batch(&1, object, calls, &2)) do
      {:ok, results} ->
        {:ok,
         Enum.map(results, fn
           {:ok, _} = ok -> ok
           {:error, detail} -> Error.result(detail, opts)
         end)}

      error ->
        error
    end
  end

  # ------------------------------------------------------------ ids

  @doc """
  A new unique object id (64 hex digits) in `:namespace` (the configured
  default when unset), optionally with a `:jurisdiction`. Address the object
  with `CloudflareDurable.ObjectRef.id/2`.
  """
  @spec new_unique_id(keyword()) :: {:ok, String.t()} | error()
  def new_unique_id(opts \\ []) do
    meta = %{object_id: opts[:namespace] || "default", operation: :new_unique_id}

    request(
      meta,
      opts,
      &Native.new_unique_id(&1, opts[:namespace], opts[:jurisdiction], &2)
    )
  end

  @doc "The id (64 hex digits) that `name` maps to in `namespace` (`nil`: the default)."
  @spec namespace_object_id(String.t() | nil, String.t(), keyword()) ::
          {:ok, String.t()} | error()
  def namespace_object_id(namespace, name, opts \\ []) do
    meta = %{object_id: "#{namespace || "default"}/#{name}", operation: :namespace_object_id}
    request(meta, opts, &Native.namespace_object_id(&1, namespace, name, &2))
  end

  @doc """
  The original library's `get_namespace_object/4`: the object id that
  `name` maps to in `namespace`, as `{:ok, id}`. The first argument (the
  original's client process) is ignored.
  """
  @spec get_namespace_object(term(), String.t() | nil, String.t(), keyword()) ::
          {:ok, String.t()} | error()
  def get_namespace_object(_client, namespace, name, opts \\ []),
    do: namespace_object_id(namespace, name, opts)

  # ------------------------------------------------------------ management API

  @doc """
  A page of the account's Durable Object namespaces, from Cloudflare's v4 API
  (needs `:account_id` and `:api_token`; `:api_base_url` overrides the API's
  address). Options `:page` (from 1) and `:per_page` (5 to 1000, default 20).
  Returns `{:ok, %{namespaces: [map], page: n, total_count: n | nil,
  has_more: bool}}`; each namespace has `"id"`, `"name"`, `"script"`,
  `"class"`, `"use_sqlite"`.
  """
  @spec list_namespaces(keyword()) :: {:ok, map()} | error()
  def list_namespaces(opts \\ []) do
    page = Keyword.get(opts, :page, 1)
    per_page = Keyword.get(opts, :per_page, 20)
    meta = %{object_id: "management", operation: :list_namespaces}

    case request(meta, opts, &Native.list_namespaces(&1, page, per_page, &2)) do
      {:ok, reply} ->
        {:ok,
         %{
           namespaces: reply["namespaces"],
           page: reply["page"],
           total_count: reply["total_count"],
           has_more: reply["has_more"]
         }}

      error ->
        error
    end
  end

  @doc """
  A page of the objects of namespace `namespace_id` (management API):
  `{:ok, %{objects: [%{"id" => hex, "has_stored_data" => bool}], cursor:
  cursor | nil}}`. Options `:cursor` and `:limit` (10 to 10000, default 1000).
  """
  @spec list_objects(String.t(), keyword()) :: {:ok, map()} | error()
  def list_objects(namespace_id, opts \\ []) do
    limit = Keyword.get(opts, :limit, 1000)
    meta = %{object_id: "management", operation: :list_objects}

    case request(
           meta,
           opts,
           &Native.list_objects(&1, namespace_id, opts[:cursor], limit, &2)
         ) do
      {:ok, reply} -> {:ok, %{objects: reply["objects"], cursor: reply["cursor"]}}
      error -> error
    end
  end

  defp meta(object_id, operation), do: %{object_id: label(object_id), operation: operation}

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
