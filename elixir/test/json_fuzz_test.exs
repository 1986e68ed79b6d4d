defmodule CloudflareDurable.JsonFuzzTest do
  # Fuzzes the NIF's term -> JSON conversion for a bounded time with a
  # seeded random generator of nested terms (PropEr is not installed here and
  # hex is unreachable). Each term either fails with a clean error naming
  # the path of a bad element, or round-trips through the NIF's JSON
  # encode/decode equal to its normalised form.
  use ExUnit.Case, async: true

  alias CloudflareDurable.Native

  @budget_ms 3_000

  test "random terms: a clean error with a path, or an exact round trip" do
    seed = :erlang.phash2(System.system_time())
    :rand.seed(:exsss, {seed, 17, 42})
    deadline = System.monotonic_time(:millisecond) + @budget_ms

    {cases, errors} = run(deadline, 0, 0, seed)

    IO.puts(
      "json fuzz (elixir): #{cases} cases in #{@budget_ms} ms (#{errors} refused), seed #{seed}"
    )

    assert cases > 100
    assert errors > 0 and errors < cases
  end

  defp run(deadline, cases, errors, seed) do
    if System.monotonic_time(:millisecond) > deadline do
      {cases, errors}
    else
      term = gen(4)

      refused =
        case {normalise(term, "term"), Native.json_encode(term)} do
          {{:ok, expected}, {:ok, text}} ->
            assert {:ok, ^expected} = Native.json_decode(text),
                   "seed #{seed}: #{inspect(term)} did not round-trip"

            0

          {{:error, paths}, {:error, {:invalid_params, "invalid_input", message, nil, nil}}} ->
            assert Enum.any?(paths, &String.starts_with?(message, &1 <> ":")),
                   "seed #{seed}: #{inspect(message)} names none of #{inspect(paths)}"

            1

          {expected, got} ->
            flunk(
              "seed #{seed}: #{inspect(term)}: expected #{inspect(expected)}, got #{inspect(got)}"
            )
        end

      run(deadline, cases + 1, errors + refused, seed)
    end
  end

  # ---- generator: JSON-able leaves most of the time, sometimes not

  defp gen(0), do: leaf()

  defp gen(depth) do
    case :rand.uniform(10) do
      n when n <= 5 -> leaf()
      n when n <= 7 -> for _ <- 1..:rand.uniform(4), do: gen(depth - 1)
      9 -> for _ <- 1..:rand.uniform(4), into: %{}, do: {key(), gen(depth - 1)}
      _ -> for _ <- 1..:rand.uniform(40), into: %{}, do: {key(), gen(depth - 1)}
    end
  end

  defp key do
    case :rand.uniform(20) do
      1 -> :rand.uniform(5)
      2 -> {:k}
      n when n <= 8 -> :"a#{:rand.uniform(50)}"
      _ -> "k#{:rand.uniform(200)}"
    end
  end

  defp leaf do
    case :rand.uniform(60) do
      1 -> {1, 2}
      2 -> self()
      3 -> make_ref()
      4 -> fn -> :ok end
      5 -> [1 | 2]
      6 -> 2 ** (64 + :rand.uniform(100))
      7 -> <<0xFF, :rand.uniform(255)>>
      8 -> <<1::3>>
      n when n <= 14 -> nil
      n when n <= 18 -> :rand.uniform(2) == 1
      n when n <= 22 -> :rand.uniform(2 ** 64) - 2 ** 63 - 1
      n when n <= 26 -> (:rand.uniform() - 0.5) * :math.pow(10, :rand.uniform(600) - 300)
      n when n <= 30 -> :"atom#{:rand.uniform(9)}"
      n when n <= 34 -> :rand.uniform(1000)
      _ -> random_string()
    end
  end

  defp random_string do
    for _ <- 1..:rand.uniform(12), into: "" do
      case :rand.uniform(6) do
        1 -> <<Enum.random([0x0, 0x1F, 0x22, 0x5C, 0x7F])::utf8>>
        2 -> <<Enum.random([0xE9, 0x4E2D, 0x1F600, 0xFFFD])::utf8>>
        _ -> <<Enum.random(?a..?z)>>
      end
    end
  end

  # ---- the documented conversion: {:ok, json_term} | {:error, bad_paths}

  defp normalise(nil, _), do: {:ok, nil}
  defp normalise(b, _) when is_boolean(b), do: {:ok, b}
  defp normalise(a, _) when is_atom(a), do: {:ok, Atom.to_string(a)}

  defp normalise(i, path) when is_integer(i) do
    if i >= -(2 ** 63) and i < 2 ** 64, do: {:ok, i}, else: {:error, [path]}
  end

  defp normalise(f, _) when is_float(f), do: {:ok, f}

  defp normalise(b, path) when is_binary(b) do
    if String.valid?(b), do: {:ok, b}, else: {:error, [path]}
  end

  defp normalise(list, path) when is_list(list) do
    if proper?(list) do
      list
      |> Enum.with_index()
      |> Enum.map(fn {item, i} -> normalise(item, "#{path}[#{i}]") end)
      |> collect(fn items -> items end)
    else
      {:error, [path]}
    end
  end

  defp normalise(%{__struct__: _}, path), do: {:error, [path]}

  defp normalise(map, path) when is_map(map) do
    map
    |> Enum.map(fn {k, v} ->
      if is_atom(k) or (is_binary(k) and String.valid?(k)) do
        name = to_string(k)

        case normalise(v, "#{path}.#{name}") do
          {:ok, v} -> {:ok, {name, v}}
          error -> error
        end
      else
        {:error, [path]}
      end
    end)
    |> collect(&Map.new/1)
  end

  defp normalise(_other, path), do: {:error, [path]}

  defp collect(results, build) do
    case for({:error, paths} <- results, do: paths) do
      [] -> {:ok, build.(for {:ok, v} <- results, do: v)}
      paths -> {:error, List.flatten(paths)}
    end
  end

  defp proper?([]), do: true
  defp proper?([_ | tail]), do: proper?(tail)
  defp proper?(_), do: false
end
