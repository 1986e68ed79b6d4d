defmodule CloudflareDurable.Error do
  @moduledoc """
  The detail of a failed operation.

  Every function of the package returns `{:error, reason}` with a bare atom,
  as the original library did, so existing `{:error, :not_found}` matches keep
  working. The detail behind the atom is available two ways:

    * `CloudflareDurable.Error.last/0` returns the detail of the last error
      seen by the calling process (kept in its process dictionary);
    * pass `errors: :detailed` in any function's options to get
      `{:error, %CloudflareDurable.Error{}}` instead of the bare atom.

  It is an exception, so `raise error` works.

  Fields: `reason` (the atom returned), `kind` (the core's stable error kind,
  the same in every language: `"invalid_input"`, `"unauthorized"`,
  `"not_found"`, `"rate_limited"`, `"server_error"`, `"http_error"`,
  `"timeout"`, `"network_error"`, `"invalid_response"`,
  `"connection_closed"`, `"queue_full"`, `"conflict"`), `message` (never
  contains the API token; for refused terms it names the offending path, such
  as `params.items[2]`), `status` (HTTP status or close code, or `nil`) and
  `retry_after` (milliseconds the worker asked to wait, or `nil`).
  """

  defexception [:reason, :kind, :message, :status, :retry_after]

  @typedoc "Reason atoms returned as `{:error, reason}`."
  @type reason ::
          :invalid_object_id
          | :invalid_key
          | :invalid_method_name
          | :invalid_params
          | :invalid_data
          | :invalid_config
          | :unauthorized
          | :not_found
          | :rate_limited
          | :server_error
          | :http_error
          | :timeout
          | :network_error
          | :invalid_response
          | :connection_closed
          | :queue_full
          | :conflict
          | :internal_error

  @type t :: %__MODULE__{
          reason: reason(),
          kind: String.t(),
          message: String.t(),
          status: non_neg_integer() | nil,
          retry_after: non_neg_integer() | nil
        }

  @key {__MODULE__, :last}

  @doc "The detail of the last error returned to the calling process, or `nil`."
  @spec last() :: t() | nil
  def last, do: Process.get(@key)

  @doc "Builds the struct from the native detail tuple."
  @spec from_detail(tuple()) :: t()
  def from_detail({reason, kind, message, status, retry_after}) do
    %__MODULE__{
      reason: reason,
      kind: kind,
      message: message,
      status: status,
      retry_after: retry_after
    }
  end

  @doc false
  @spec remember(t()) :: t()
  def remember(%__MODULE__{} = error) do
    Process.put(@key, error)
    error
  end

  @doc """
  Turns a native error into the value returned to the caller: the bare
  reason atom, or the struct when `opts` holds `errors: :detailed`; the
  detail is always remembered for `last/0`.
  """
  @spec result(tuple(), keyword()) :: {:error, reason() | t()}
  def result(detail, opts) do
    error = detail |> from_detail() |> remember()
    if Keyword.get(opts, :errors) == :detailed, do: {:error, error}, else: {:error, error.reason}
  end
end
