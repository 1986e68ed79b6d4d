defmodule CloudflareDurable.BadInputTest do
  use ExUnit.Case

  alias CloudflareDurable.{Client, Error}
  import CloudflareDurable.TestWorker, only: [unique: 1]

  defp bad_terms do
    [
      {{1, 2}, "tuple"},
      {self(), "pid"},
      {make_ref(), "reference"},
      {&Kernel.is_atom/1, "function"},
      {<<0xFF, 0xFE>>, "UTF-8"},
      {[1 | 2], "improper list"},
      {2 ** 70, "64 bits"},
      {-(2 ** 70), "64 bits"},
      {<<1::3>>, "bitstring"},
      {%{{:a} => 1}, "map key"},
      {URI.parse("http://x"), "struct URI"},
      {Port.list() |> hd(), "port"}
    ]
  end

  test "terms JSON cannot hold are :invalid_params with the offending path, nothing sent" do
    id = unique("bad-params")

    for {term, fragment} <- bad_terms() do
      assert {:error, :invalid_params} = Client.call_method(id, "echo", %{a: [1, %{b: term}]})
      error = Error.last()
      assert error.kind == "invalid_input"
      assert error.message =~ "params.a[1].b"
      assert error.message =~ fragment
    end

    # the object was never created: nothing reached the worker
    assert {:ok, %{}} = Client.get_state(id)
  end

  test "bad state values are :invalid_data and nothing is written" do
    id = unique("bad-data")

    for {term, _} <- bad_terms() do
      assert {:error, :invalid_data} = Client.update_state(id, "k", [term])
      assert Error.last().message =~ "value[0]"
      assert {:error, :invalid_data} = Client.initialize(id, %{k: term})
    end

    assert {:error, :invalid_data} = Client.initialize(id, [1, 2])
    assert {:error, :invalid_data} = Client.initialize(id, "text")
    assert {:ok, %{}} = Client.get_state(id)
  end

  test "every JSON-able term round-trips" do
    id = unique("echo")
    # the worker is JavaScript: integers are exact up to 2^53
    big = 2 ** 53

    params = %{
      :atom_key => :atom_value,
      "s" => "héllo ✓",
      "i" => -3,
      "big" => big,
      "f" => 0.5,
      "l" => [true, false, nil],
      "e" => %{},
      "el" => []
    }

    assert {:ok, echoed} = Client.call_method(id, "echo", params)

    assert echoed == %{
             "atom_key" => "atom_value",
             "s" => "héllo ✓",
             "i" => -3,
             "big" => big,
             "f" => 0.5,
             "l" => [true, false, nil],
             "e" => %{},
             "el" => []
           }
  end

  test "64-bit integers encode exactly; beyond is refused" do
    assert {:ok, "[9223372036854775807,18446744073709551615,-9223372036854775808]"} =
             CloudflareDurable.JSON.encode([2 ** 63 - 1, 2 ** 64 - 1, -(2 ** 63)])

    assert {:ok, [18_446_744_073_709_551_615]} =
             CloudflareDurable.JSON.decode("[18446744073709551615]")

    assert {:error, :invalid_params} = CloudflareDurable.JSON.encode([2 ** 64])
  end

  test "bad names, keys and method names are refused locally" do
    assert {:error, :invalid_object_id} = Client.get_state("")
    assert {:error, :invalid_object_id} = Client.get_state(:not_a_string)
    assert {:error, :invalid_object_id} = Client.get_state("a\nb")
    assert {:error, :invalid_object_id} = Client.get_state(<<0xFF>>)
    assert {:error, :invalid_object_id} = Client.initialize(nil, %{})
    assert {:error, :invalid_method_name} = Client.call_method("x", "_private", %{})
    assert {:error, :invalid_method_name} = Client.call_method("x", "a-b", %{})
    assert {:error, :invalid_method_name} = Client.call_method("x", nil, %{})
    assert {:error, :invalid_key} = Client.get_state("x", "")
    assert {:error, :invalid_key} = Client.update_state("x", "..", 1)
    assert {:error, :invalid_key} = Client.delete_state("x", 42)
    assert {:error, :invalid_object_id} = Client.open_websocket("")
  end

  test "oversized bodies are refused before sending" do
    id = unique("big")
    assert {:error, :invalid_data} = Client.update_state(id, "k", String.duplicate("x", 200_000))
    assert Error.last().message =~ "limit"
    assert {:error, :not_found} = Client.get_state(id, "k")
  end
end
