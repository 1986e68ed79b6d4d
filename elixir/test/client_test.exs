defmodule CloudflareDurable.ClientTest do
  use ExUnit.Case

  alias CloudflareDurable.{Client, Config, Error}
  import CloudflareDurable.TestWorker, only: [unique: 1]

  test "the README's counter: initialize, increment, get_value" do
    id = unique("counter")
    assert {:ok, %{"success" => true}} = Client.initialize(id, %{value: 0})
    assert {:ok, %{"value" => 1}} = Client.call_method(id, "increment", %{increment: 1})
    assert {:ok, %{"value" => 1}} = Client.call_method(id, "get_value", %{})

    assert {:ok, %{"value" => 3}} =
             CloudflareDurable.call_method(id, "increment", %{"increment" => 2})
  end

  test "CloudflareDurable delegates every operation to Client" do
    id = unique("delegate")
    assert {:ok, %{"success" => true}} = CloudflareDurable.initialize(id, %{a: 1})
    assert {:ok, %{"a" => 1}} = CloudflareDurable.get_state(id)
    assert {:ok, %{"key" => "a", "value" => 1}} = CloudflareDurable.get_state(id, "a")

    assert {:ok, %{"success" => true, "key" => "b"}} =
             CloudflareDurable.update_state(id, "b", [1, "two"])

    assert {:ok, %{"success" => true, "key" => "a"}} = CloudflareDurable.delete_state(id, "a")
    assert {:ok, %{"b" => [1, "two"]}} = CloudflareDurable.get_state(id, nil, [])
  end

  test "state functions with their original shapes and every arity" do
    id = unique("state")
    assert {:ok, %{}} = Client.get_state(id)

    assert {:ok, %{"success" => true, "key" => "k"}} =
             Client.update_state(id, "k", %{n: 1.5, ok: true, none: nil, tag: :atom})

    assert {:ok, %{"key" => "k", "value" => value}} = Client.get_state(id, "k")
    assert value == %{"n" => 1.5, "ok" => true, "none" => nil, "tag" => "atom"}
    assert {:ok, %{"k" => ^value}} = Client.get_state(id, timeout: 5_000)
    assert {:ok, %{"key" => "k"}} = Client.get_state(id, "k", timeout: 5_000)
    assert {:ok, %{"success" => true}} = Client.update_state(id, "k2", 2, timeout: 5_000)

    assert {:ok, %{"success" => true, "key" => "k"}} =
             Client.delete_state(id, "k", timeout: 5_000)

    assert {:error, :not_found} = Client.get_state(id, "k")
    assert {:ok, %{"success" => true, "key" => "never"}} = Client.delete_state(id, "never")
    assert {:ok, %{"success" => true}} = Client.initialize(id, %{"x" => 1}, timeout: 5_000)
    assert {:ok, %{"x" => 1, "k2" => 2}} = Client.get_state(id)
  end

  test "errors are the original's atoms, with detail on demand" do
    id = unique("errors")
    assert {:error, :not_found} = Client.call_method(id, "no_such_method", %{})
    assert %Error{reason: :not_found, kind: "not_found", status: 404} = Error.last()
    assert CloudflareDurable.last_error() == Error.last()

    assert {:error, :server_error} =
             Client.call_method(id, "test_fail", %{status: 500, message: "boom"})

    assert Error.last().message =~ "boom"

    assert {:error, %Error{reason: :rate_limited, retry_after: 120_000, status: 429}} =
             Client.call_method(
               id,
               "test_fail",
               %{status: 429, message: "slow", retry_after: 120},
               errors: :detailed
             )

    # A Retry-After too large for any duration saturates instead of failing.
    assert {:error, %Error{reason: :rate_limited, retry_after: huge}} =
             Client.call_method(
               id,
               "test_fail",
               %{status: 429, retry_after: 1.0e300},
               errors: :detailed
             )

    assert huge > 1.0e18

    assert {:error, :http_error} = Client.call_method(id, "test_fail", %{status: 418})
    assert %Error{status: 418} = Error.last()

    assert {:error, %Error{} = e} = Client.get_state(id, "missing", errors: :detailed)
    assert Exception.message(e) =~ "not found"
  end

  test "timeout: the worker sleeping past the call's timeout gives :timeout" do
    id = unique("slow")

    assert {:error, :timeout} =
             Client.call_method(id, "test_sleep", %{ms: 2_000}, timeout: 300, retry_count: 0)

    assert {:ok, %{"slept" => 10}} = Client.call_method(id, "test_sleep", %{ms: 10})
  end

  test "a missing worker URL is a clear error, not a crash" do
    saved = Application.get_env(:cloudflare_durable, :worker_url)
    env = System.get_env("CLOUDFLARE_WORKER_URL")
    Application.delete_env(:cloudflare_durable, :worker_url)
    System.delete_env("CLOUDFLARE_WORKER_URL")

    try do
      assert {:error, :invalid_config} = Client.get_state("x")
      assert Error.last().message =~ "worker_url is not set"
      assert {:error, :invalid_config} = Client.open_websocket("x")
      # the environment variable is the fallback
      System.put_env("CLOUDFLARE_WORKER_URL", saved)
      assert {:ok, _} = Client.get_state(unique("env"))
    after
      Application.put_env(:cloudflare_durable, :worker_url, saved)

      if env,
        do: System.put_env("CLOUDFLARE_WORKER_URL", env),
        else: System.delete_env("CLOUDFLARE_WORKER_URL")
    end
  end

  # The NIF reads CLOUDFLARE_DURABLE_RUNTIME_THREADS from the OS environment,
  # which System.put_env does not change (OTP keeps its own copy), so each
  # case runs in a VM of its own, started with the variable set.
  defp in_vm_with_runtime_threads(value) do
    code = ~S"""
    result = CloudflareDurable.Client.get_state("runtime-threads-#{System.unique_integer([:positive])}")

    workers =
      Enum.count(File.ls!("/proc/self/task"), fn task ->
        File.read!("/proc/self/task/#{task}/comm") == "cloudflare-dura\n"
      end)

    IO.puts(inspect({elem(result, 0), workers, CloudflareDurable.Error.last()}))
    """

    env = [
      {"CLOUDFLARE_DURABLE_RUNTIME_THREADS", value},
      {"CLOUDFLARE_WORKER_URL", Application.fetch_env!(:cloudflare_durable, :worker_url)},
      {"MIX_ENV", "test"}
    ]

    {out, 0} = System.cmd("mix", ["run", "--no-compile", "-e", code], env: env)
    out |> String.split("\n", trim: true) |> List.last()
  end

  test "CLOUDFLARE_DURABLE_RUNTIME_THREADS sets the runtime's worker count" do
    assert in_vm_with_runtime_threads("3") =~ ~r/^\{:ok, 3, /
    assert in_vm_with_runtime_threads("") =~ ~r/^\{:ok, 1, /
  end

  test "a bad CLOUDFLARE_DURABLE_RUNTIME_THREADS is refused when a client is built" do
    out = in_vm_with_runtime_threads("zero")
    assert out =~ ~r/^\{:error, 0, /
    assert out =~ "reason: :invalid_config"
    assert out =~ ~s(CLOUDFLARE_DURABLE_RUNTIME_THREADS must be a whole number from 1 to 256)
  end

  test "opts override the configuration per call" do
    assert {:error, :network_error} =
             Client.get_state("x", worker_url: "http://127.0.0.1:1", retry_count: 0)

    assert {:error, :invalid_config} = Client.get_state("x", worker_url: "ftp://example.com")
    assert {:error, :invalid_config} = Client.get_state("x", timeout: -1)
    assert {:error, :invalid_config} = Client.get_state("x", pool_size: "ten")
    assert Error.last().message =~ "pool_size"
    assert {:error, :invalid_config} = Client.get_state("x", max_concurrent_requests: 2 ** 62)
    assert Error.last().message =~ "max_concurrent_requests must be at most 16777216"
    assert {:error, :invalid_config} = Client.open_websocket("x", heartbeat_interval: 10 ** 15)
    assert Error.last().message =~ "heartbeat_interval must be at most 365 days"
    assert {:ok, _} = Client.get_state(unique("ok"), pool_size: 2)
  end

  test "clients are cached per effective configuration" do
    {:ok, a, _} = Config.client([])
    {:ok, b, 1234} = Config.client(timeout: 1234)
    {:ok, c, _} = Config.client(retry_count: 7)
    assert a == b
    refute a == c
    {:ok, d, _} = Config.client(retry_count: 7)
    assert c == d
  end

  test "idempotency key: a repeated call returns the first result without running again" do
    id = unique("idem")
    key = "key-#{System.unique_integer([:positive])}"
    assert {:ok, %{"value" => 1}} = Client.call_method(id, "increment", %{}, idempotency_key: key)
    assert {:ok, %{"value" => 1}} = Client.call_method(id, "increment", %{}, idempotency_key: key)
    assert {:ok, %{"value" => 1}} = Client.call_method(id, "get_value", %{})
  end

  test "replies holding maps of more than 32 keys (hash maps on the BEAM) decode intact" do
    # regression: building a >32-key map from a tokio thread crashed OTP 25
    big = for i <- 1..1_000, into: %{}, do: {"k#{i}", %{"v" => i}}

    assert {:ok, %{"nested" => ^big, "top" => 1}} =
             Client.call_method(unique("bigmap"), "echo", %{nested: big, top: 1})
  end
end
