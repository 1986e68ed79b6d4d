defmodule CloudflareDurable.WebSocket.Connection do
  @moduledoc """
  One WebSocket to a Durable Object, as a process supervised by
  `CloudflareDurable.WebSocket.Supervisor`. Open it with
  `CloudflareDurable.Client.open_websocket/2`.

  The Rust core keeps the link up (heartbeats, reconnection with backoff,
  resuming after the last message seen, a send queue while disconnected). A
  native task pushes received messages into this process's mailbox, one batch
  at a time; here each message (a map with string keys) is given to every
  registered handler, in this process, and sent as
  `{:websocket_message, message}` to every subscriber. A handler that raises
  is logged and the connection goes on. Messages that arrive before any
  handler or subscriber exists (such as the `init` sent right after the
  connection opens) are kept, up to 1024, and given to the first handler
  or subscriber.

  When the socket ends for good (closed by the server with a refusal code, or
  auth lost), subscribers get `{:websocket_closed, reason}` and the process
  stops. The process also stops when the process that opened the socket
  exits; stopping it closes the socket and frees the native resource.
  """

  use GenServer, restart: :temporary

  require Logger

  alias CloudflareDurable.{Client, Error, Native}

  @typedoc "A connection process."
  @type t :: pid()
  @typedoc "`:disconnected` means reconnecting; `:closed` once it ended."
  @type status :: :connecting | :connected | :disconnected | :closed
  @typedoc "A message handler, called in the connection process."
  @type handler :: (map() -> any())

  @margin 5_000
  # Most messages kept while nobody listens yet (oldest dropped beyond).
  @early_max 1024

  @doc false
  @spec open(Native.client(), term(), pos_integer(), pid(), keyword()) ::
          {:ok, pid()} | Client.error()
  def open(client, object_id, timeout, owner, opts) do
    spec = {__MODULE__, {client, object_id, timeout, owner}}

    case DynamicSupervisor.start_child(CloudflareDurable.WebSocket.Supervisor, spec) do
      {:ok, pid} ->
        case safe_call(pid, :await_open, timeout + @margin) do
          :ok -> {:ok, pid}
          {:error, detail} -> Error.result(detail, opts)
        end

      {:error, {:shutdown, {:cloudflare_durable, detail}}} ->
        Error.result(detail, opts)

      {:error, reason} ->
        exit({:cannot_start_websocket, reason})
    end
  end

  @doc false
  @spec start_link({Native.client(), term(), pos_integer(), pid()}) :: GenServer.on_start()
  def start_link(args), do: GenServer.start_link(__MODULE__, args)

  @doc """
  Sends a message: a map (encoded as JSON), or a binary holding JSON text.
  `%{type: "update", key: k, value: v}` writes a state key (key defaults to
  `"value"`). Returns once the message is written, or queued while
  reconnecting (`{:error, :queue_full}` when the queue is full).
  """
  @spec send_message(t(), map() | String.t()) :: :ok | {:error, Error.reason()}
  def send_message(pid, message), do: request(pid, {:send, message})

  @doc """
  Calls a method over the socket and returns its result (like
  `CloudflareDurable.Client.call_method/4`, without an HTTP request). A call
  in flight during a reconnect is resent and runs once. Options: `:timeout`
  (ms), `errors: :detailed`.
  """
  @spec call(t(), String.t(), term(), keyword()) :: {:ok, term()} | Client.error()
  def call(pid, method, params, opts \\ []),
    do: request(pid, {:call, method, params, opts[:timeout]}, opts)

  @doc "Calls `handler.(message)` in the connection process for every message received."
  @spec register_handler(t(), handler()) :: :ok
  def register_handler(pid, handler) when is_function(handler, 1),
    do: GenServer.call(pid, {:register_handler, handler})

  @doc "Sends `{:websocket_message, message}` to the calling process for every message received."
  @spec subscribe(t()) :: :ok
  def subscribe(pid), do: GenServer.call(pid, {:subscribe, self()})

  @doc "Stops sending messages to the calling process."
  @spec unsubscribe(t()) :: :ok
  def unsubscribe(pid), do: GenServer.call(pid, {:unsubscribe, self()})

  @doc "The connection's status; `:closed` once its process has ended."
  @spec status(t()) :: status()
  def status(pid) do
    GenServer.call(pid, :status)
  catch
    :exit, _ -> :closed
  end

  @doc "Closes the socket (code 1000) and stops the process. Idempotent."
  @spec close(t()) :: :ok
  def close(pid) do
    GenServer.call(pid, :close, 15_000)
  catch
    :exit, _ -> :ok
  end

  defp request(pid, message, opts \\ []) do
    case safe_call(pid, message, :infinity) do
      {:error, detail} -> Error.result(detail, opts)
      other -> other
    end
  end

  defp safe_call(pid, message, timeout) do
    GenServer.call(pid, message, timeout)
  catch
    :exit, _ ->
      {:error,
       {:connection_closed, "connection_closed", "the connection process has ended", nil, nil}}
  end

  # ------------------------------------------------------------ server

  @impl GenServer
  @spec init({Native.client(), term(), pos_integer(), pid()}) ::
          {:ok, map()} | {:stop, {:shutdown, {:cloudflare_durable, tuple()}}}
  def init({client, object_id, timeout, owner}) do
    Process.flag(:trap_exit, true)

    case Native.ws_open(client, object_id, timeout) do
      ref when is_reference(ref) ->
        {:ok,
         %{
           object_id: object_id,
           timeout: timeout,
           owner: Process.monitor(owner),
           open_ref: ref,
           socket: nil,
           id: nil,
           failure: nil,
           waiters: [],
           handlers: [],
           subscribers: %{},
           pending: %{},
           closer: nil,
           early: :queue.new()
         }}

      {:error, detail} ->
        {:stop, {:shutdown, {:cloudflare_durable, detail}}}
    end
  end

  @impl GenServer
  @spec handle_call(term(), GenServer.from(), map()) ::
          {:reply, term(), map()} | {:noreply, map()} | {:stop, :normal, term(), map()}
  def handle_call(:await_open, from, state) do
    cond do
      state.socket -> {:reply, :ok, state}
      state.failure -> {:stop, :normal, {:error, state.failure}, state}
      true -> {:noreply, %{state | waiters: [from | state.waiters]}}
    end
  end

  def handle_call({:register_handler, handler}, _from, state),
    do: {:reply, :ok, flush_early(%{state | handlers: state.handlers ++ [handler]})}

  def handle_call({:subscribe, pid}, _from, state) do
    subscribers = Map.put_new_lazy(state.subscribers, pid, fn -> Process.monitor(pid) end)

    {:reply, :ok, flush_early(%{state | subscribers: subscribers})}
  end

  def handle_call({:unsubscribe, pid}, _from, state) do
    {ref, subscribers} = Map.pop(state.subscribers, pid)
    if ref, do: Process.demonitor(ref, [:flush])
    {:reply, :ok, %{state | subscribers: subscribers}}
  end

  def handle_call(:status, _from, %{socket: nil} = state), do: {:reply, :connecting, state}
  def handle_call(:status, _from, state), do: {:reply, Native.ws_status(state.socket), state}

  def handle_call(:close, from, %{socket: nil} = state) do
    {:stop, :normal, :ok, reply_all(state, from)}
  end

  def handle_call(:close, from, state) do
    ref = Native.ws_close(state.socket)
    {:noreply, %{state | closer: from, pending: Map.put(state.pending, ref, {from, :close})}}
  end

  def handle_call(_op, _from, %{socket: nil} = state),
    do: {:reply, {:error, not_connected()}, state}

  def handle_call({:send, message}, from, state),
    do: start(Native.ws_send(state.socket, message), from, state)

  def handle_call({:call, method, params, timeout}, from, state),
    do: start(Native.ws_call(state.socket, method, params, timeout || state.timeout), from, state)

  defp start({:error, _} = error, _from, state), do: {:reply, error, state}

  defp start(ref, from, state),
    do: {:noreply, %{state | pending: Map.put(state.pending, ref, {from, :op})}}

  @impl GenServer
  @spec handle_info(term(), map()) :: {:noreply, map()} | {:stop, term(), map()}
  def handle_info({ref, result}, %{open_ref: ref} = state) do
    case result do
      {:ok, socket, id} ->
        Native.ws_ack(socket)
        Enum.each(state.waiters, &GenServer.reply(&1, :ok))
        {:noreply, %{state | socket: socket, id: id, open_ref: nil, waiters: []}}

      {:error, detail} ->
        if state.waiters == [] do
          {:noreply, %{state | failure: detail, open_ref: nil}}
        else
          Enum.each(state.waiters, &GenServer.reply(&1, {:error, detail}))
          {:stop, :normal, %{state | waiters: [], open_ref: nil}}
        end
    end
  end

  def handle_info({:cloudflare_durable_ws, id, {:messages, messages}}, %{id: id} = state) do
    state =
      if state.handlers == [] and state.subscribers == %{} do
        keep_early(messages, state)
      else
        Enum.each(messages, &deliver(&1, state))
        state
      end

    Native.ws_ack(state.socket)
    {:noreply, state}
  end

  def handle_info({:cloudflare_durable_ws, id, {:closed, detail}}, %{id: id} = state) do
    if state.closer do
      # Our own close: the reply to ws_close stops the process.
      {:noreply, state}
    else
      reason = if detail, do: Error.from_detail(detail).reason, else: :closed
      notify(state, {:websocket_closed, reason})
      {:stop, :normal, state}
    end
  end

  def handle_info({ref, result}, state) when is_reference(ref) do
    case Map.pop(state.pending, ref) do
      {{from, :close}, pending} ->
        GenServer.reply(from, :ok)
        # The core reports the disconnect (will_reconnect: false) itself.
        notify(state, {:websocket_closed, :closed})

        {:stop, :normal, %{state | pending: pending, closer: nil}}

      {{from, :op}, pending} ->
        GenServer.reply(from, result)
        {:noreply, %{state | pending: pending}}

      {nil, _} ->
        {:noreply, state}
    end
  end

  def handle_info({:DOWN, ref, :process, _pid, _reason}, %{owner: ref} = state),
    do: {:stop, :normal, state}

  def handle_info({:DOWN, ref, :process, pid, _reason}, state) do
    case state.subscribers do
      %{^pid => ^ref} -> {:noreply, %{state | subscribers: Map.delete(state.subscribers, pid)}}
      _ -> {:noreply, state}
    end
  end

  def handle_info({:EXIT, _from, reason}, state), do: {:stop, reason, state}

  def handle_info(_other, state), do: {:noreply, state}

  @impl GenServer
  @spec terminate(term(), map()) :: :ok
  def terminate(_reason, state) do
    if state.socket && is_nil(state.closer), do: Native.ws_close(state.socket)
    _ = reply_all(state, nil)
    :ok
  end

  defp reply_all(state, except) do
    for {_ref, {from, _}} <- state.pending, from != except do
      GenServer.reply(from, {:error, not_connected()})
    end

    for from <- state.waiters, do: GenServer.reply(from, {:error, not_connected()})
    %{state | pending: %{}, waiters: []}
  end

  defp not_connected,
    do: {:connection_closed, "connection_closed", "the socket is closed", nil, nil}

  defp keep_early(messages, state) do
    early =
      Enum.reduce(messages, state.early, fn message, queue ->
        queue = :queue.in(message, queue)
        if :queue.len(queue) > @early_max, do: :queue.drop(queue), else: queue
      end)

    %{state | early: early}
  end

  defp flush_early(state) do
    Enum.each(:queue.to_list(state.early), &deliver(&1, state))
    %{state | early: :queue.new()}
  end

  defp deliver(message, state) do
    Enum.each(state.handlers, fn handler ->
      try do
        handler.(message)
      catch
        kind, reason ->
          Logger.error(
            "CloudflareDurable WebSocket handler for #{inspect(state.object_id)} failed: " <>
              Exception.format(kind, reason, __STACKTRACE__)
          )
      end
    end)

    notify(state, {:websocket_message, message})
  end

  defp notify(state, message) do
    Enum.each(Map.keys(state.subscribers), &send(&1, message))
  end
end
