defmodule CloudflareDurable.Native do
  @moduledoc false
  # Stubs of the Rust NIF (native/cloudflare_durable_nif). Every function
  # that touches the network returns a reference at once; the result arrives
  # later as the message `{ref, result}`. Errors are
  # `{:error, {reason, kind, message, status, retry_after_ms}}`.

  @on_load :load_nif

  @typedoc "An opaque native client."
  @type client :: reference()
  @typedoc "An opaque native WebSocket."
  @type socket :: reference()
  @typedoc "Error detail as the NIF returns it."
  @type detail ::
          {atom(), String.t(), String.t(), non_neg_integer() | nil, non_neg_integer() | nil}
  @type pending :: reference() | {:error, detail()}
  @type ms :: non_neg_integer() | nil

  @doc false
  @spec load_nif() :: :ok | {:error, term()}
  def load_nif do
    path = :filename.join(:code.priv_dir(:cloudflare_durable), ~c"cloudflare_durable_nif")
    :erlang.load_nif(path, 0)
  end

  @spec new_client(map()) :: {:ok, client()} | {:error, detail()}
  def new_client(_options), do: fallback()

  @spec with_traceparent(client(), term()) :: {:ok, client()} | {:error, detail()}
  def with_traceparent(_client, _traceparent), do: fallback()

  @spec initialize(client(), term(), term(), ms()) :: pending()
  def initialize(_client, _object, _state, _timeout), do: fallback()

  @spec call_method(client(), term(), term(), term(), ms(), String.t() | nil) :: pending()
  def call_method(_client, _object, _method, _params, _timeout, _key), do: fallback()

  @spec get_state(client(), term(), ms()) :: pending()
  def get_state(_client, _object, _timeout), do: fallback()

  @spec get_state_key(client(), term(), term(), ms()) :: pending()
  def get_state_key(_client, _object, _key, _timeout), do: fallback()

  @spec update_state(client(), term(), term(), term(), ms()) :: pending()
  def update_state(_client, _object, _key, _value, _timeout), do: fallback()

  @spec delete_state(client(), term(), term(), ms()) :: pending()
  def delete_state(_client, _object, _key, _timeout), do: fallback()

  @spec get_many(client(), term(), term(), ms()) :: pending()
  def get_many(_client, _object, _keys, _timeout), do: fallback()

  @spec put_many(client(), term(), term(), ms()) :: pending()
  def put_many(_client, _object, _entries, _timeout), do: fallback()

  @spec delete_many(client(), term(), term(), ms()) :: pending()
  def delete_many(_client, _object, _keys, _timeout), do: fallback()

  @spec delete_all(client(), term(), ms()) :: pending()
  def delete_all(_client, _object, _timeout), do: fallback()

  @spec list_page(client(), term(), tuple(), term(), ms()) :: pending()
  def list_page(_client, _object, _options, _cursor, _timeout), do: fallback()

  @spec transaction(client(), term(), term(), ms()) :: pending()
  def transaction(_client, _object, _ops, _timeout), do: fallback()

  @spec update_state_if(client(), term(), term(), term(), term(), ms()) :: pending()
  def update_state_if(_client, _object, _key, _value, _condition, _timeout), do: fallback()

  @spec get_alarm(client(), term(), ms()) :: pending()
  def get_alarm(_client, _object, _timeout), do: fallback()

  @spec set_alarm(client(), term(), term(), ms()) :: pending()
  def set_alarm(_client, _object, _time_ms, _timeout), do: fallback()

  @spec delete_alarm(client(), term(), ms()) :: pending()
  def delete_alarm(_client, _object, _timeout), do: fallback()

  @spec sql(client(), term(), term(), term(), ms()) :: pending()
  def sql(_client, _object, _query, _params, _timeout), do: fallback()

  @spec batch(client(), term(), term(), ms()) :: pending()
  def batch(_client, _object, _calls, _timeout), do: fallback()

  @spec new_unique_id(client(), term(), term(), ms()) :: pending()
  def new_unique_id(_client, _namespace, _jurisdiction, _timeout), do: fallback()

  @spec namespace_object_id(client(), term(), term(), ms()) :: pending()
  def namespace_object_id(_client, _namespace, _name, _timeout), do: fallback()

  @spec list_namespaces(client(), term(), term(), ms()) :: pending()
  def list_namespaces(_client, _page, _per_page, _timeout), do: fallback()

  @spec list_objects(client(), term(), term(), term(), ms()) :: pending()
  def list_objects(_client, _namespace_id, _cursor, _limit, _timeout), do: fallback()

  @spec ws_open(client(), term(), ms()) :: pending()
  def ws_open(_client, _object, _timeout), do: fallback()

  @spec ws_ack(socket()) :: :ok
  def ws_ack(_socket), do: fallback()

  @spec ws_send(socket(), term()) :: pending()
  def ws_send(_socket, _message), do: fallback()

  @spec ws_call(socket(), term(), term(), ms()) :: pending()
  def ws_call(_socket, _method, _params, _timeout), do: fallback()

  @spec ws_close(socket()) :: reference()
  def ws_close(_socket), do: fallback()

  @spec ws_status(socket()) :: :connecting | :connected | :disconnected | :closed
  def ws_status(_socket), do: fallback()

  @spec live_sockets() :: non_neg_integer()
  def live_sockets, do: fallback()

  @spec json_decode(binary()) :: {:ok, term()} | {:error, String.t()}
  def json_decode(_text), do: fallback()

  @spec json_encode(term()) :: {:ok, String.t()} | {:error, detail()}
  def json_encode(_term), do: fallback()

  # Replaced by the NIF when it loads; raises if it did not.
  defp fallback, do: :erlang.nif_error(:nif_not_loaded)
end
