defmodule CloudflareDurable.ObjectRef do
  @moduledoc """
  Names a Durable Object: a namespace (the client's `:default_namespace`, or
  `default`, when `nil`), a name (`idFromName`) or a 64-hex-digit id
  (`idFromString`, from `CloudflareDurable.Client.new_unique_id/2`), and the
  platform's placement hints `:jurisdiction` (`"eu"`, `"fedramp"`) and
  `:location_hint` (`"wnam"`, `"weur"`, …).

  Every function of `CloudflareDurable.Client` that takes an object accepts
  any of:

    * a string — the object of that name;
    * `{namespace, name}`;
    * a `%CloudflareDurable.ObjectRef{}`;

  and the options `:namespace`, `:jurisdiction` and `:location_hint`
  complete what the object itself leaves unset. The name and id are checked
  by the core (a bad one is `{:error, :invalid_object_id}`).
  """

  defstruct namespace: nil, name: nil, id: nil, jurisdiction: nil, location_hint: nil

  @type t :: %__MODULE__{
          namespace: String.t() | nil,
          name: String.t() | nil,
          id: String.t() | nil,
          jurisdiction: String.t() | nil,
          location_hint: String.t() | nil
        }

  @typedoc "Anything that names an object."
  @type spec :: String.t() | {String.t() | nil, String.t()} | t()

  @doc "The object called `name`, with optional `:namespace`, `:jurisdiction`, `:location_hint`."
  @spec name(String.t(), keyword()) :: t()
  def name(name, opts \\ []), do: struct(%__MODULE__{name: name}, take(opts))

  @doc "The object with this hex id, with optional `:namespace`, `:jurisdiction`, `:location_hint`."
  @spec id(String.t(), keyword()) :: t()
  def id(hex, opts \\ []), do: struct(%__MODULE__{id: hex}, take(opts))

  @doc "Normalises any object spec to a struct, completing it from `opts`."
  @spec new(spec() | term(), keyword()) :: t() | term()
  def new(object, opts \\ [])
  def new(%__MODULE__{} = ref, opts), do: complete(ref, opts)
  def new({ns, name}, opts), do: complete(%__MODULE__{namespace: ns, name: name}, opts)
  def new(name, opts), do: complete(%__MODULE__{name: name}, opts)

  @doc "A short label for telemetry and logs: `name`, `id:<hex>`, prefixed by `namespace/`."
  @spec label(spec() | term()) :: term()
  def label(object) when is_binary(object), do: object

  def label(object) do
    case new(object) do
      %__MODULE__{} = ref ->
        base = if ref.id, do: "id:#{ref.id}", else: ref.name
        if ref.namespace, do: "#{ref.namespace}/#{base}", else: base

      other ->
        other
    end
  end

  @doc false
  # What the NIF takes: a bare name when nothing else is set (so every
  # existing call keeps its exact path), else a tuple.
  @spec to_native(spec() | term(), keyword()) :: term()
  def to_native(object, opts) do
    case new(object, opts) do
      %__MODULE__{namespace: nil, id: nil, jurisdiction: nil, location_hint: nil, name: name}
      when is_binary(name) ->
        name

      %__MODULE__{id: id} = ref when not is_nil(id) ->
        {ref.namespace, {:id, id}, ref.jurisdiction, ref.location_hint}

      %__MODULE__{} = ref ->
        {ref.namespace, {:name, ref.name}, ref.jurisdiction, ref.location_hint}
    end
  end

  defp complete(ref, opts) do
    Enum.reduce(take(opts), ref, fn {key, value}, acc ->
      if is_nil(Map.fetch!(acc, key)), do: Map.put(acc, key, value), else: acc
    end)
  end

  defp take(opts) do
    opts
    |> Keyword.take([:namespace, :jurisdiction, :location_hint])
    |> Enum.reject(fn {_, v} -> is_nil(v) end)
  end
end
