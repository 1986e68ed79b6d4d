defmodule CloudflareDurable.ClientCacheTest do
  # Many processes making their first call with the same settings at once
  # share one native client: it is built once, not once per process (each
  # build takes milliseconds, and each replacement of the cached one would
  # make every process in the VM pay for a persistent-term update).
  use ExUnit.Case, async: true

  alias CloudflareDurable.Config

  test "500 concurrent first uses of one configuration build a single client" do
    # A pool size no other test uses makes a configuration nobody cached yet.
    opts = [worker_url: "http://127.0.0.1:1", pool_size: 7919]

    clients =
      1..500
      |> Enum.map(fn _ -> Task.async(fn -> Config.client(opts) end) end)
      |> Enum.map(&Task.await(&1, 30_000))
      |> Enum.map(fn {:ok, client, _timeout} -> client end)

    assert length(clients) == 500
    assert clients |> Enum.uniq() |> length() == 1
  end
end
