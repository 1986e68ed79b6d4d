defmodule CloudflareDurable do
  @moduledoc """
  Elixir client for Cloudflare Durable Objects, built on the
  `cloudflare-durable` Rust core through a NIF. Same API as the original
  `cloudflare_durable` library: these functions delegate to
  `CloudflareDurable.Client`; WebSockets are driven with
  `CloudflareDurable.WebSocket.Connection`.
  """

  alias CloudflareDurable.{Client, Error}
  alias CloudflareDurable.WebSocket.Connection

  @doc "See `CloudflareDurable.Client.initialize/3`."
  @spec initialize(Client.object_id(), map(), keyword()) :: {:ok, map()} | Client.error()
  defdelegate initialize(object_id, data, opts \\ []), to: Client

  @doc "See `CloudflareDurable.Client.call_method/4`."
  @spec call_method(Client.object_id(), Client.method_name(), term(), keyword()) ::
          {:ok, term()} | Client.error()
  defdelegate call_method(object_id, method, params, opts \\ []), to: Client

  @doc "See `CloudflareDurable.Client.open_websocket/2`."
  @spec open_websocket(Client.object_id(), keyword()) :: {:ok, pid()} | Client.error()
  defdelegate open_websocket(object_id, opts \\ []), to: Client

  @doc "See `CloudflareDurable.Client.get_state/3`."
  @spec get_state(Client.object_id(), String.t() | nil | keyword(), keyword()) ::
          {:ok, map()} | Client.error()
  defdelegate get_state(object_id, key \\ nil, opts \\ []), to: Client

  @doc "See `CloudflareDurable.Client.update_state/4`."
  @spec update_state(Client.object_id(), String.t(), term(), keyword()) ::
          {:ok, map()} | Client.error()
  defdelegate update_state(object_id, key, value, opts \\ []), to: Client

  @doc "See `CloudflareDurable.Client.delete_state/3`."
  @spec delete_state(Client.object_id(), String.t(), keyword()) ::
          {:ok, map()} | Client.error()
  defdelegate delete_state(object_id, key, opts \\ []), to: Client

  @doc """
  Sends a message over a socket opened with `open_websocket/2`: a map, or a
  binary holding JSON text (as the original's `websocket_send/2` took).
  """
  @spec websocket_send(pid(), map() | String.t()) :: :ok | {:error, Error.reason()}
  def websocket_send(socket, message), do: Connection.send_message(socket, message)

  @doc "Closes a socket opened with `open_websocket/2`."
  @spec websocket_close(pid()) :: :ok
  def websocket_close(socket), do: Connection.close(socket)

  @doc "The detail of the last error returned to the calling process; see `CloudflareDurable.Error`."
  @spec last_error() :: Error.t() | nil
  defdelegate last_error(), to: Error, as: :last
end
