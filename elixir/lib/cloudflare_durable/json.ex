defmodule CloudflareDurable.JSON do
  @moduledoc """
  The NIF's JSON conversion, exposed for tools and tests: the same rules as
  every request (maps with atom or string keys, lists, strings, integers
  within 64 bits, floats, booleans, `nil`; other atoms become strings).
  Runs on a dirty CPU scheduler.
  """

  alias CloudflareDurable.{Error, Native}

  @doc "Decodes JSON text: objects become maps with string keys, `null` becomes `nil`."
  @spec decode(binary()) :: {:ok, term()} | {:error, String.t()}
  def decode(text) when is_binary(text), do: Native.json_decode(text)

  @doc "Encodes a term as JSON text, or `{:error, :invalid_params}` (detail in `CloudflareDurable.Error.last/0`)."
  @spec encode(term()) :: {:ok, String.t()} | {:error, Error.reason()}
  def encode(term) do
    case Native.json_encode(term) do
      {:ok, _} = ok -> ok
      {:error, detail} -> Error.result(detail, [])
    end
  end
end
