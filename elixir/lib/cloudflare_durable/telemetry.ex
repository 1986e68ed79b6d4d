defmodule CloudflareDurable.Telemetry do
  @moduledoc """
  Emits the package's telemetry events through `:telemetry` when the host
  application has it.

  `:telemetry` is not a dependency of this package (it is built without hex).
  The first emit checks whether the `:telemetry` module is available (one
  code-server lookup per VM, remembered in `:persistent_term`); then each
  emit calls `:telemetry.execute/3` via `apply/3`, or drops the event when
  `:telemetry` is absent. Add `{:telemetry, "~> 1.0"}` to your own
  application to receive them.

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
    if available?() do
      _ = apply(:telemetry, :execute, [event, measurements, metadata])
    end

    :ok
  end

  @doc """
  Looks `:telemetry` up once, when the application starts, and remembers the
  answer. Idempotent.
  """
  @spec init() :: :ok
  def init do
    available = Code.ensure_loaded?(:telemetry) and function_exported?(:telemetry, :execute, 3)
    :persistent_term.put({__MODULE__, :available}, available)
  end

  # Looking :telemetry up in the code server on every event cost ~2.5 ms of
  # BEAM CPU per call, and a first lookup from 1,000 processes at once kept
  # the schedulers busy for seconds (bench/results/FINDINGS.md): the answer
  # is found once by init/0, at application start.
  defp available? do
    case :persistent_term.get({__MODULE__, :available}, :unknown) do
      :unknown ->
        # Only if the application was not started (the module used alone).
        init()
        :persistent_term.get({__MODULE__, :available})

      available ->
        available
    end
  end
end
