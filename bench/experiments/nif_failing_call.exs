# Experiment, not part of the package: the per-call cost of a payload NIF
# that fails validation at once (`call_method` with an object id of the
# wrong shape). It covers the NIF's entry, `checked_payload`'s argument
# list and budget, and the error tuple. No request is made; the worker URL
# points at a closed port. Used for FINDINGS.md, "The NIF's argument list
# for a dirty reschedule" (with nif-lazy-args.patch, whose header says how
# to compare the two builds).
#
#   cd elixir && MIX_ENV=dev mix run --no-compile ../bench/experiments/nif_failing_call.exs
#
# Prints 7 rounds of 1,000,000 calls (after one warm-up round), in ns per call.
alias CloudflareDurable.{Config, Native}
Application.put_env(:cloudflare_durable, :worker_url, "http://127.0.0.1:9")
{:ok, client, _timeout} = Config.client([])
bad = {:name, ""}
calls = 1_000_000

{:error, {:invalid_object_id, "invalid_input", _, _, _}} =
  Native.call_method(client, bad, "echo", 1, nil, nil)

round = fn ->
  {us, :ok} =
    :timer.tc(fn ->
      Enum.each(1..calls, fn _ -> Native.call_method(client, bad, "echo", 1, nil, nil) end)
    end)

  us * 1000 / calls
end

round.()
rounds = for _ <- 1..7, do: round.()
format = &:erlang.float_to_binary(&1, decimals: 1)
IO.puts("ns per call, 7 rounds: " <> Enum.map_join(rounds, " ", format))
IO.puts("median: " <> format.(Enum.at(Enum.sort(rounds), 3)))
