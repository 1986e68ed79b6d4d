# One reference worker for the whole suite, through the shared harness.
worker = CloudflareDurable.TestWorker.start()
Application.put_env(:cloudflare_durable, :worker_url, worker.url)
Application.put_env(:cloudflare_durable, :test_worker, worker)
# Short reconnect delays so reconnection tests do not wait long.
Application.put_env(:cloudflare_durable, :websocket_reconnect_delay, 100)
Application.put_env(:cloudflare_durable, :websocket_max_reconnect_delay, 1_000)
Application.put_env(:cloudflare_durable, :retry_delay, 50)
Application.put_env(:cloudflare_durable, :timeout, 10_000)

ExUnit.after_suite(fn _ -> CloudflareDurable.TestWorker.stop(worker) end)
ExUnit.start(capture_log: true)
