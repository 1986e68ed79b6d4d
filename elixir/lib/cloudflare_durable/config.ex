defmodule CloudflareDurable.Config do
  @moduledoc """
  Resolves the effective configuration of a call and caches one native client
  per distinct configuration (in `:persistent_term`), so calls share
  connection pools instead of building a client each time.

  Precedence, per key: the call's `opts`, then `config :cloudflare_durable,
  …`, then (for the first three) the environment variables
  `CLOUDFLARE_WORKER_URL`, `CLOUDFLARE_ACCOUNT_ID`, `CLOUDFLARE_API_TOKEN`.

  Keys (times in milliseconds): `:worker_url`, `:account_id`, `:api_token`,
  `:timeout` (default 30000), `:retry_count` (3), `:retry_delay` (500),
  `:websocket_reconnect_delay` (1000), `:websocket_max_reconnect_delay`
  (30000), `:heartbeat_interval` (15000), `:heartbeat_timeout` (10000),
  `:pool_size` (10), `:max_concurrent_requests` (256: HTTP requests in flight
  at once per client; more wait their turn within their timeout, so a burst
  does not open a connection per call), `:send_queue_capacity` (1024),
  `:message_buffer` (4096),
  `:allow_insecure_http` (false; plain `http` is always allowed on loopback),
  `:websocket_auto_reconnect` (true; false ends a socket at its first drop),
  `:default_namespace` (the namespace of objects named without one;
  `"default"`), `:api_base_url` (Cloudflare's v4 API, for
  `list_namespaces`/`list_objects`; `https://api.cloudflare.com/client/v4`).

  `:traceparent` (a W3C trace context) makes that call's requests carry it;
  it derives a client from the cached one without building a new pool.

  A `:timeout` given in a call's `opts` bounds that call as a whole without
  building another client; one from the application configuration is also
  the client's per-attempt limit.
  """

  alias CloudflareDurable.Native

  @client_keys [
    :worker_url,
    :account_id,
    :api_token,
    :timeout,
    :retry_count,
    :retry_delay,
    :websocket_reconnect_delay,
    :websocket_max_reconnect_delay,
    :websocket_auto_reconnect,
    :default_namespace,
    :api_base_url,
    :heartbeat_interval,
    :heartbeat_timeout,
    :pool_size,
    :max_concurrent_requests,
    :send_queue_capacity,
    :message_buffer,
    :allow_insecure_http
  ]

  @env [
    worker_url: "CLOUDFLARE_WORKER_URL",
    account_id: "CLOUDFLARE_ACCOUNT_ID",
    api_token: "CLOUDFLARE_API_TOKEN"
  ]

  @default_timeout 30_000

  @doc """
  The native client and the time limit (ms) for a call with `opts`, or the
  error detail (for example a missing worker URL: reason `:invalid_config`).
  """
  @spec client(keyword()) :: {:ok, Native.client(), pos_integer()} | {:error, tuple()}
  def client(opts) do
    app = Application.get_all_env(:cloudflare_durable)
    base_opts = Keyword.drop(opts, [:timeout, :traceparent])

    options =
      Enum.reduce(@client_keys, %{}, fn key, acc ->
        case value(key, base_opts, app) do
          nil -> acc
          value -> Map.put(acc, key, value)
        end
      end)

    options =
      case Process.whereis(CloudflareDurable.Events) do
        nil -> options
        pid -> Map.put(options, :event_pid, pid)
      end

    timeout = Keyword.get(opts, :timeout) || Keyword.get(app, :timeout) || @default_timeout

    if is_integer(timeout) and timeout > 0 do
      with {:ok, client} <- cached(options),
           {:ok, client} <- traced(client, Keyword.get(opts, :traceparent)),
           do: {:ok, client, timeout}
    else
      {:error,
       {:invalid_config, "invalid_input", "timeout must be a positive integer (ms)", nil, nil}}
    end
  end

  defp traced(client, nil), do: {:ok, client}
  defp traced(client, traceparent), do: Native.with_traceparent(client, traceparent)

  defp value(key, opts, app) do
    case Keyword.fetch(opts, key) do
      {:ok, value} when not is_nil(value) -> value
      _ -> Keyword.get(app, key) || env(key)
    end
  end

  defp env(key) do
    case Keyword.fetch(@env, key) do
      {:ok, name} ->
        case System.get_env(name) do
          "" -> nil
          value -> value
        end

      :error ->
        nil
    end
  end

  defp cached(options), do: CloudflareDurable.ClientCache.get(options)
end
