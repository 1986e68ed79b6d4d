defmodule CloudflareDurable.Telemetry do
  @moduledoc """
  Emits the package's telemetry events through `:telemetry` when the host
  application has it.

  `:telemetry` is not a dependency of this package (it is built without hex).
  Each emit checks at run time whether the `:telemetry` module is available
  and then calls `:telemetry.execute/3` via `apply/3`; without it, events are
  dropped at the cost of one code-server lookup. Add `{:telemetry, "~> 1.0"}`
  to your own application to receive them.

  Events:

    * `[:cloudflare_durable, :request, :start]` — measurements
      `%{system_time, monotonic_time}`; metadata `%{object_id, operation}`
      plus `method` for `call_method`.
    * `[:cloudflare_durable, :request, :stop]` — measurements
      `%{duration, monotonic_time}` (native time units, as `:telemetry.span/3`);
      metadata as start plus `result: :ok | :error` and `error` (the reason
      atom) on failure.
    * `[:cloudflare_durable, :error]` — measurements `%{count: 1}`; metadata
      `%{error, object_id, operation, message}`.
    * `[:cloudflare_durable, :websocket, :connected]` — `%{count: 1}`;
      `%{object_id, reconnects}`.
    * `[:cloudflare_durable, :websocket, :disconnected]` — `%{count: 1}`;
      `%{object_id, reason, will_reconnect}`.

  Request events are emitted in the calling process, around the call. The
  WebSocket events, and errors of WebSocket connections, come from the Rust
  core's event hook through the `CloudflareDurable.Events` process.
  """

  @doc "Emits `event` if `:telemetry` is available; always returns `:ok`."
  @spec execute([atom()], map(), map()) :: :ok
  def execute(event, measurements, metadata) do
    if Code.ensure_loaded?(:telemetry) and function_exported?(:telemetry, :execute, 3) do
      _ = apply(:telemetry, :execute, [event, measurements, metadata])
    end

    :ok
  end
end
