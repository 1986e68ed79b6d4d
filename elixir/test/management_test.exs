defmodule CloudflareDurable.ManagementTest do
  # Cloudflare's v4 management API, tested against
  # tests/harness/cloudflare_api_mock.py: a LOOPBACK STAND-IN for
  # api.cloudflare.com (unreachable here), answering with the documented
  # response shapes. No real Cloudflare account is involved.
  use ExUnit.Case, async: true

  alias CloudflareDurable.{Client, Error}

  @mock Path.expand("../../tests/harness/cloudflare_api_mock.py", __DIR__)

  setup_all do
    dir = Path.join(System.tmp_dir!(), "cfd-elixir-api-#{System.unique_integer([:positive])}")
    File.mkdir_p!(dir)
    {out, 0} = System.cmd("python3", [@mock, "start", "--state-dir", dir, "--token", "tok"])
    url = out |> String.split("\n", trim: true) |> List.last() |> String.trim()

    on_exit(fn ->
      System.cmd("python3", [@mock, "stop", "--state-dir", dir])
      File.rm_rf!(dir)
    end)

    [opts: [api_base_url: url, account_id: "acc123", api_token: "tok"]]
  end

  test "list_namespaces pages through the account's namespaces", %{opts: opts} do
    {:ok, first} = Client.list_namespaces([per_page: 5] ++ opts)
    assert %{page: 1, total_count: 7, has_more: true, namespaces: ns} = first
    assert length(ns) == 5
    assert %{"id" => "ns-0", "class" => "Class0", "use_sqlite" => true} = hd(ns)
    {:ok, second} = Client.list_namespaces([page: 2, per_page: 5] ++ opts)
    assert %{has_more: false, namespaces: [_, _]} = second
    assert {:error, :invalid_params} = Client.list_namespaces([per_page: 1] ++ opts)
  end

  test "list_objects follows the cursor to the end", %{opts: opts} do
    {:ok, %{objects: page1, cursor: cursor}} = Client.list_objects("ns-1", [limit: 10] ++ opts)
    assert length(page1) == 10 and is_binary(cursor)

    {:ok, %{objects: page2, cursor: c2}} =
      Client.list_objects("ns-1", [limit: 10, cursor: cursor] ++ opts)

    {:ok, %{objects: page3, cursor: nil}} =
      Client.list_objects("ns-1", [limit: 10, cursor: c2] ++ opts)

    all = page1 ++ page2 ++ page3
    assert length(all) == 25
    assert Enum.all?(all, &(&1["id"] =~ ~r/^[0-9a-f]{64}$/))
    assert Enum.count(all, & &1["has_stored_data"]) == 16
    assert {:error, :invalid_params} = Client.list_objects("../x", opts)
    assert {:error, :not_found} = Client.list_objects("ns-99", opts)
  end

  test "a wrong token is :unauthorized and the token never appears", %{opts: opts} do
    opts = Keyword.put(opts, :api_token, "wrong-secret-123")

    assert {:error, %Error{reason: :unauthorized} = e} =
             Client.list_namespaces([errors: :detailed] ++ opts)

    refute e.message =~ "wrong-secret-123"
    assert {:error, :invalid_config} = Client.list_namespaces(Keyword.delete(opts, :account_id))
  end
end
