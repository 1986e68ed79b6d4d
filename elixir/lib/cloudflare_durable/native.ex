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
