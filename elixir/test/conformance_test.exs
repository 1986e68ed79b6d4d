defmodule CloudflareDurable.ConformanceTest do
  use ExUnit.Case

  alias CloudflareDurable.{Client, JSON}

  @file_path Path.expand("../../tests/conformance/scenarios.json", __DIR__)
  @external_resource @file_path
  {:ok, doc} = CloudflareDurable.Native.json_decode(File.read!(@file_path))
  @scenarios doc["scenarios"]

  test "the scenarios file decodes with the NIF's JSON decoder" do
    assert {:ok, %{"scenarios" => [_ | _]}} = JSON.decode(File.read!(@file_path))
  end

  for scenario <- @scenarios do
    @scenario scenario
    test "conformance: #{scenario["name"]}" do
      run = "ex#{System.system_time(:millisecond)}#{System.unique_integer([:positive])}"

      for step <- @scenario["steps"] do
        step = Map.new(step, fn {k, v} -> {k, subst(v, run)} end)
        check(step, perform(step))
      end
    end
  end

  defp subst(v, run) when is_binary(v), do: String.replace(v, "{run}", run)
  defp subst(v, _), do: v

  defp perform(%{"op" => "initialize"} = s),
    do: Client.initialize(s["object"], s["state"], errors: :detailed) |> unit()

  defp perform(%{"op" => "call_method"} = s),
    do: Client.call_method(s["object"], s["method"], s["params"], errors: :detailed)

  defp perform(%{"op" => "get_state"} = s), do: Client.get_state(s["object"], errors: :detailed)

  defp perform(%{"op" => "get_state_key"} = s) do
    case Client.get_state(s["object"], s["key"], errors: :detailed) do
      {:ok, %{"value" => v}} -> {:ok, v}
      other -> other
    end
  end

  defp perform(%{"op" => "update_state"} = s),
    do: Client.update_state(s["object"], s["key"], s["value"], errors: :detailed) |> unit()

  defp perform(%{"op" => "delete_state"} = s),
    do: Client.delete_state(s["object"], s["key"], errors: :detailed) |> unit()

  defp unit({:ok, _}), do: {:ok, nil}
  defp unit(other), do: other

  defp check(%{"expect" => %{"ok" => expected}} = step, result),
    do: assert(result == {:ok, expected}, "#{inspect(step)} gave #{inspect(result)}")

  defp check(%{"expect" => %{"ok_subset" => subset}} = step, result) do
    assert {:ok, map} = result, "#{inspect(step)} gave #{inspect(result)}"
    for {k, v} <- subset, do: assert(map[k] == v, "#{inspect(step)}: #{k} is #{inspect(map[k])}")
  end

  defp check(%{"expect" => %{"error" => kind}} = step, result) do
    assert {:error, %CloudflareDurable.Error{kind: ^kind}} = result,
           "#{inspect(step)} gave #{inspect(result)}"
  end
end
