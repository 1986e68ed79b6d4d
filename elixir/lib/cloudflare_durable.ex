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
  The original library's `get_namespace_object/3`: the object id (64 hex
  digits) that `name` maps to in `namespace`. See
  `CloudflareDurable.Client.namespace_object_id/3`.
  """
  @spec get_namespace_object(String.t() | nil, String.t(), keyword()) ::
          {:ok, String.t()} | Client.error()
  def get_namespace_object(namespace, name, opts \\ []),
    do: Client.get_namespace_object(Client, namespace, name, opts)

  @doc "See `CloudflareDurable.Client.get_many/3`."
  @spec get_many(Client.object_id(), [String.t()], keyword()) :: {:ok, map()} | Client.error()
  defdelegate get_many(object_id, keys, opts \\ []), to: Client

  @doc "See `CloudflareDurable.Client.put_many/3`."
  @spec put_many(Client.object_id(), map(), keyword()) :: :ok | Client.error()
  defdelegate put_many(object_id, entries, opts \\ []), to: Client

  @doc "See `CloudflareDurable.Client.delete_many/3`."
  @spec delete_many(Client.object_id(), [String.t()], keyword()) ::
          {:ok, non_neg_integer()} | Client.error()
  defdelegate delete_many(object_id, keys, opts \\ []), to: Client

  @doc "See `CloudflareDurable.Client.delete_all/2`."
  @spec delete_all(Client.object_id(), keyword()) :: {:ok, non_neg_integer()} | Client.error()
  defdelegate delete_all(object_id, opts \\ []), to: Client

  @doc "See `CloudflareDurable.Client.list_page/2`."
  @spec list_page(Client.object_id(), keyword()) :: {:ok, map()} | Client.error()
  defdelegate list_page(object_id, opts \\ []), to: Client

  @doc "See `CloudflareDurable.Client.list/2` (a lazy, paged `Stream`)."
  @spec list(Client.object_id(), keyword()) :: Enumerable.t()
  defdelegate list(object_id, opts \\ []), to: Client

  @doc "See `CloudflareDurable.Client.transaction/3`."
  @spec transaction(Client.object_id(), [Client.tx_op()], keyword()) ::
          {:ok, [term()]} | Client.error()
  defdelegate transaction(object_id, ops, opts \\ []), to: Client

  @doc "See `CloudflareDurable.Client.get_alarm/2`."
  @spec get_alarm(Client.object_id(), keyword()) ::
          {:ok, non_neg_integer() | nil} | Client.error()
  defdelegate get_alarm(object_id, opts \\ []), to: Client

  @doc "See `CloudflareDurable.Client.set_alarm/3`."
  @spec set_alarm(Client.object_id(), non_neg_integer() | DateTime.t(), keyword()) ::
          :ok | Client.error()
  defdelegate set_alarm(object_id, time, opts \\ []), to: Client

  @doc "See `CloudflareDurable.Client.delete_alarm/2`."
  @spec delete_alarm(Client.object_id(), keyword()) :: :ok | Client.error()
  defdelegate delete_alarm(object_id, opts \\ []), to: Client

  @doc "See `CloudflareDurable.Client.sql/4`."
  @spec sql(Client.object_id(), String.t(), list(), keyword()) :: {:ok, map()} | Client.error()
  defdelegate sql(object_id, query, params \\ [], opts \\ []), to: Client

  @doc "See `CloudflareDurable.Client.batch/3`."
  @spec batch(Client.object_id(), list(), keyword()) :: {:ok, list()} | Client.error()
  defdelegate batch(object_id, calls, opts \\ []), to: Client

  @doc "See `CloudflareDurable.Client.new_unique_id/1`."
  @spec new_unique_id(keyword()) :: {:ok, String.t()} | Client.error()
  defdelegate new_unique_id(opts \\ []), to: Client

  @doc "See `CloudflareDurable.Client.namespace_object_id/3`."
  @spec namespace_object_id(String.t() | nil, String.t(), keyword()) ::
          {:ok, String.t()} | Client.error()
  defdelegate namespace_object_id(namespace, name, opts \\ []), to: Client

  @doc "See `CloudflareDurable.Client.list_namespaces/1` (Cloudflare's management API)."
  @spec list_namespaces(keyword()) :: {:ok, map()} | Client.error()
  defdelegate list_namespaces(opts \\ []), to: Client

  @doc "See `CloudflareDurable.Client.list_objects/2` (Cloudflare's management API)."
  @spec list_objects(String.t(), keyword()) :: {:ok, map()} | Client.error()
  defdelegate list_objects(namespace_id, opts \\ []), to: Client

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
