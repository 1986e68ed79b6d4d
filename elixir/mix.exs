defmodule Mix.Tasks.Compile.CloudflareDurableNif do
  @moduledoc "Builds the Rust NIF with cargo and copies it into `priv/`."
  use Mix.Task.Compiler

  @crate "cloudflare_durable_nif"

  @impl Mix.Task.Compiler
  def run(_args) do
    workspace = Path.expand("..", __DIR__)

    cargo =
      System.find_executable("cargo") ||
        Mix.raise("cargo is not on PATH: it is needed to build #{@crate}")

    Mix.shell().info("Compiling #{@crate} (cargo build --release)")

    {_, status} =
      System.cmd(cargo, ["build", "-p", @crate, "--release"],
        cd: workspace,
        into: IO.stream(:stdio, :line),
        stderr_to_stdout: true
      )

    if status != 0, do: Mix.raise("cargo build of #{@crate} failed (exit #{status})")

    source = Path.join([target_dir(cargo, workspace), "release", library_name()])

    for dir <- [Path.join(__DIR__, "priv"), Path.join(Mix.Project.app_path(), "priv")] do
      File.mkdir_p!(dir)
      dest = Path.join(dir, "#{@crate}.so")
      unless same_file?(source, dest), do: File.cp!(source, dest)
    end

    {:ok, []}
  end

  defp target_dir(cargo, workspace) do
    case System.get_env("CARGO_TARGET_DIR") do
      dir when is_binary(dir) and dir != "" ->
        Path.expand(dir, workspace)

      _ ->
        {json, 0} =
          System.cmd(cargo, ["metadata", "--format-version", "1", "--no-deps"], cd: workspace)

        [_, dir] = Regex.run(~r/"target_directory":"((?:[^"\\]|\\.)*)"/, json)
        dir
    end
  end

  defp library_name do
    case :os.type() do
      {:unix, :darwin} -> "lib#{@crate}.dylib"
      _ -> "lib#{@crate}.so"
    end
  end

  defp same_file?(a, b) do
    with {:ok, sa} <- File.stat(a), {:ok, sb} <- File.stat(b) do
      sa.size == sb.size and sa.mtime <= sb.mtime
    else
      _ -> false
    end
  end
end

defmodule CloudflareDurable.MixProject do
  use Mix.Project

  def project do
    [
      app: :cloudflare_durable,
      version: "0.1.0",
      elixir: "~> 1.14",
      start_permanent: Mix.env() == :prod,
      compilers: [:cloudflare_durable_nif] ++ Mix.compilers(),
      elixirc_paths: elixirc_paths(Mix.env()),
      deps: [],
      description:
        "Elixir client for Cloudflare Durable Objects, a NIF over the cloudflare-durable Rust core."
    ]
  end

  def application do
    [
      extra_applications: [:logger],
      mod: {CloudflareDurable.Application, []}
    ]
  end

  defp elixirc_paths(:test), do: ["lib", "test/support"]
  defp elixirc_paths(_), do: ["lib"]
end
