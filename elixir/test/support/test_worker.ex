defmodule CloudflareDurable.TestWorker do
  @moduledoc false
  # Runs the reference worker through the shared harness tests/harness/worker.py.

  @harness Path.expand("../../../tests/harness/worker.py", __DIR__)

  @doc "Starts a worker; returns %{url: url, dir: state_dir}."
  def start(args \\ []) do
    dir = Path.join(System.tmp_dir!(), "cfd-elixir-#{System.unique_integer([:positive])}")
    File.mkdir_p!(dir)
    {out, status} = harness(["start", "--state-dir", dir | args])
    if status != 0, do: raise("worker did not start:\n#{out}")
    url = out |> String.split("\n", trim: true) |> List.last() |> String.trim()
    %{url: url, dir: dir}
  end

  @doc "Stops the worker and removes its state directory."
  def stop(%{dir: dir}) do
    harness!(["stop", "--state-dir", dir])
    File.rm_rf!(dir)
    :ok
  end

  def restart(%{dir: dir}), do: harness!(["restart", "--state-dir", dir])

  defp harness!(args) do
    {out, status} = harness(args)
    if status != 0, do: raise("harness #{inspect(args)} failed:\n#{out}")
    :ok
  end

  defp harness(args), do: System.cmd("python3", [@harness | args], stderr_to_stdout: true)

  @doc "Polls `fun` until it returns a truthy value, at most `limit` ms."
  def wait_until(fun, limit \\ 10_000) do
    deadline = System.monotonic_time(:millisecond) + limit
    do_wait(fun, deadline)
  end

  defp do_wait(fun, deadline) do
    case fun.() do
      result when result not in [nil, false] ->
        result

      _ ->
        if System.monotonic_time(:millisecond) > deadline do
          raise "condition not reached in time"
        else
          receive after: (20 -> :ok)
          do_wait(fun, deadline)
        end
    end
  end

  @doc "A name unique to this test run."
  def unique(prefix),
    do: "#{prefix}-#{System.system_time(:millisecond)}-#{System.unique_integer([:positive])}"
end
