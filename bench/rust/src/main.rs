//! Benchmark contenders in Rust: `core` (the `cloudflare-durable` crate) and
//! `raw` (a bare reqwest / tokio-tungstenite loop: the floor); for HTTP also
//! `core-hop` and `core-owned`, the core called from plain OS threads
//! (`host_threads.rs`).
//!
//! `cfd-bench <raw|core|core-hop|core-owned> <case> [args]`; the cases and
//! the JSON line printed at the end are described in `bench/README.md`.

mod host_threads;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cloudflare_durable::{Client, Config};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Settings shared by every case, from `BENCH_*` environment variables.
#[derive(Clone)]
struct Env {
    url: String,
    seconds: f64,
    warmup: f64,
    objects: usize,
    prefix: String,
}

impl Env {
    fn load() -> Self {
        let var = |k: &str, d: &str| std::env::var(k).unwrap_or_else(|_| d.to_owned());
        Env {
            url: var("BENCH_URL", "http://127.0.0.1:8787")
                .trim_end_matches('/')
                .to_owned(),
            seconds: var("BENCH_SECONDS", "2").parse().unwrap_or(2.0),
            warmup: var("BENCH_WARMUP", "0.5").parse().unwrap_or(0.5),
            objects: var("BENCH_OBJECTS", "16").parse().unwrap_or(16),
            prefix: var("BENCH_PREFIX", "bench"),
        }
    }

    fn ws_url(&self, object: &str) -> String {
        format!(
            "{}/object/{object}/websocket",
            self.url.replacen("http", "ws", 1)
        )
    }
}

/// User + system CPU time of this process, in seconds.
fn cpu_seconds() -> f64 {
    // SAFETY: getrusage writes into the zeroed struct we pass.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// Resident set size of this process, in bytes.
fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

fn idempotency_key() -> String {
    format!("{:032x}", rand::random::<u128>())
}

fn traceparent() -> String {
    format!(
        "00-{:032x}-{:016x}-01",
        rand::random::<u128>() | 1,
        rand::random::<u64>() | 1
    )
}

fn params(method: &str, n: u64) -> Value {
    if method == "increment" {
        json!({"increment": 1})
    } else {
        json!({"text": "hello", "n": n})
    }
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64
}

/// What a timed case reports.
fn report(ops: u64, errors: u64, wall: f64, cpu: f64, mut lat_us: Vec<u64>, extra: Value) {
    lat_us.sort_unstable();
    let mut out = json!({
        "ops": ops,
        "errors": errors,
        "wall_s": wall,
        "cpu_s": cpu,
        "ops_per_s": ops as f64 / wall,
        "cpu_us_per_op": if ops > 0 { cpu * 1e6 / ops as f64 } else { 0.0 },
        "p50_us": percentile(&lat_us, 0.50),
        "p99_us": percentile(&lat_us, 0.99),
    });
    if let (Value::Object(o), Value::Object(e)) = (&mut out, extra) {
        o.extend(e);
    }
    println!("{out}");
}

/// One call of a contender: returns Ok on success.
trait Caller: Send + Sync + 'static {
    fn call(
        &self,
        object: String,
        method: &'static str,
        params: Value,
    ) -> impl std::future::Future<Output = Result<(), BoxError>> + Send;
}

struct Raw {
    http: reqwest::Client,
    base: String,
}

impl Caller for Raw {
    async fn call(
        &self,
        object: String,
        method: &'static str,
        params: Value,
    ) -> Result<(), BoxError> {
        let url = format!("{}/object/{object}/method/{method}", self.base);
        let response = self
            .http
            .post(url)
            .header("Content-Type", "application/json")
            .header("Idempotency-Key", idempotency_key())
            .header("traceparent", traceparent())
            .body(serde_json::to_vec(&params)?)
            .send()
            .await?;
        let ok = response.status().is_success();
        let body = response.bytes().await?;
        let value: Value = serde_json::from_slice(&body)?;
        if !ok || value.get("result").is_none() {
            return Err(format!("bad reply {value}").into());
        }
        Ok(())
    }
}

struct Core(Client);

impl Caller for Core {
    async fn call(
        &self,
        object: String,
        method: &'static str,
        params: Value,
    ) -> Result<(), BoxError> {
        self.0.call_method(object.as_str(), method, &params).await?;
        Ok(())
    }
}

fn core_client(env: &Env, pool: usize) -> Result<Client, BoxError> {
    Ok(Client::new(
        Config::builder()
            .worker_url(env.url.clone())
            .pool_size(pool)
            .build()?,
    )?)
}

/// The measured window of a timed HTTP case, shared by its callers: calls
/// that complete inside it count, as a latency or as an error.
#[derive(Clone)]
struct Window {
    t0: Instant,
    t1: Instant,
    errors: Arc<AtomicU64>,
}

impl Window {
    /// Opens `env.warmup` from now and lasts `env.seconds`.
    fn new(env: &Env) -> Self {
        let t0 = Instant::now() + Duration::from_secs_f64(env.warmup);
        Window {
            t0,
            t1: t0 + Duration::from_secs_f64(env.seconds),
            errors: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Whether a call starting at `now` is too late to count.
    fn is_over(&self, now: Instant) -> bool {
        now >= self.t1
    }

    /// Records the outcome of a call that began at `begin` and just ended.
    fn record(&self, begin: Instant, result: Result<(), BoxError>, lat: &mut Vec<u64>) {
        let done = Instant::now();
        if done < self.t0 || done > self.t1 {
            return;
        }
        match result {
            Ok(()) => lat.push((done - begin).as_micros() as u64),
            Err(e) => {
                if self.errors.fetch_add(1, Ordering::Relaxed) == 0 {
                    eprintln!("error: {e}");
                }
            }
        }
    }

    /// Prints the case's line from the CPU and wall time of the window.
    fn report(&self, cpu: f64, wall: f64, lat: Vec<u64>) {
        let errors = self.errors.load(Ordering::Relaxed);
        report(lat.len() as u64, errors, wall, cpu, lat, json!({}));
    }
}

/// The object the `n`th call of caller `j` goes to.
fn http_object(env: &Env, j: usize, n: u64) -> String {
    format!("{}-h-{}", env.prefix, (j + n as usize) % env.objects)
}

async fn http_case<C: Caller>(env: Env, caller: C, method: &'static str, concurrency: usize) {
    let caller = Arc::new(caller);
    let window = Window::new(&env);
    let mut tasks = Vec::new();
    for j in 0..concurrency {
        let (caller, env, window) = (caller.clone(), env.clone(), window.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut n = 0u64;
            loop {
                let begin = Instant::now();
                if window.is_over(begin) {
                    break;
                }
                let object = http_object(&env, j, n);
                let result = caller.call(object, method, params(method, n)).await;
                n += 1;
                window.record(begin, result, &mut lat);
            }
            lat
        }));
    }
    tokio::time::sleep_until(window.t0.into()).await;
    let cpu0 = cpu_seconds();
    let w0 = Instant::now();
    tokio::time::sleep_until(window.t1.into()).await;
    let cpu = cpu_seconds() - cpu0;
    let wall = w0.elapsed().as_secs_f64();
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await.expect("worker task"));
    }
    window.report(cpu, wall, lat);
}

type RawSocket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn raw_connect(env: &Env, object: &str) -> Result<RawSocket, BoxError> {
    // The same 8 KiB read buffer as the core, so that the floor is the same
    // socket without the client around it (tungstenite's default, 128 KiB,
    // zero-filled before every read, costs CPU per read and ~125 KiB per
    // idle socket). BENCH_WS_READ_BUFFER (bytes) overrides it; "default"
    // keeps tungstenite's. Nagle off, as the core does.
    let mut config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default();
    match std::env::var("BENCH_WS_READ_BUFFER").ok().as_deref() {
        Some("default") => {}
        Some(size) => config = config.read_buffer_size(size.parse()?),
        None => config = config.read_buffer_size(8 * 1024),
    }
    let (socket, _) =
        tokio_tungstenite::connect_async_with_config(env.ws_url(object), Some(config), true)
            .await?;
    Ok(socket)
}

/// Reads text frames until one satisfies `pick`.
async fn raw_until(
    socket: &mut RawSocket,
    pick: impl Fn(&Value) -> bool,
) -> Result<Value, BoxError> {
    while let Some(message) = socket.next().await {
        if let Message::Text(text) = message? {
            if text.as_str() == "pong" {
                continue;
            }
            let value: Value = serde_json::from_str(text.as_str())?;
            if pick(&value) {
                return Ok(value);
            }
        }
    }
    Err("socket closed".into())
}

async fn ws_seq(env: Env, contender: &str) -> Result<(), BoxError> {
    let object = format!("{}-ws", env.prefix);
    let start = Instant::now();
    let t0 = start + Duration::from_secs_f64(env.warmup);
    let t1 = t0 + Duration::from_secs_f64(env.seconds);
    let mut lat = Vec::new();
    let mut cpu0 = None;
    let mut n = 0u64;
    let mut core_socket = None;
    let mut raw_socket = None;
    if contender == "core" {
        let client = core_client(&env, 1)?;
        core_socket = Some((client.clone(), client.websocket(object.as_str()).await?));
    } else {
        let mut socket = raw_connect(&env, &object).await?;
        raw_until(&mut socket, |v| v["type"] == "init").await?;
        raw_socket = Some(socket);
    }
    loop {
        let begin = Instant::now();
        if begin >= t1 {
            break;
        }
        if begin >= t0 && cpu0.is_none() {
            cpu0 = Some((cpu_seconds(), begin));
        }
        let p = params("echo", n);
        if let Some((_, socket)) = &core_socket {
            socket.call("echo", &p).await?;
        } else if let Some(socket) = &mut raw_socket {
            let id = n.to_string();
            let frame = json!({"type": "method", "id": id, "method": "echo", "params": p,
                               "idempotency_key": idempotency_key()});
            socket.send(Message::text(frame.to_string())).await?;
            let reply = raw_until(socket, |v| {
                v["type"] == "response" && v["id"] == id.as_str()
            })
            .await?;
            if reply["success"] != true {
                return Err(format!("bad reply {reply}").into());
            }
        }
        n += 1;
        if begin >= t0 {
            lat.push(begin.elapsed().as_micros() as u64);
        }
    }
    let (c0, w0) = cpu0.ok_or("no measured call")?;
    let wall = w0.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - c0;
    report(lat.len() as u64, 0, wall, cpu, lat, json!({}));
    if let Some((_, socket)) = core_socket {
        socket.close().await;
    }
    Ok(())
}

async fn ws_burst(env: Env, contender: &str, count: u64) -> Result<(), BoxError> {
    let object = format!("{}-burst", env.prefix);
    let mut core_socket = None;
    let mut raw_socket = None;
    if contender == "core" {
        let client = core_client(&env, 1)?;
        let socket = client.websocket(object.as_str()).await?;
        loop {
            let m = socket.next_message().await?.ok_or("closed before init")?;
            if m["type"] == "init" {
                break;
            }
        }
        core_socket = Some((client, socket));
    } else {
        let mut socket = raw_connect(&env, &object).await?;
        raw_until(&mut socket, |v| v["type"] == "init").await?;
        raw_socket = Some(socket);
    }
    let cpu0 = cpu_seconds();
    let ready = Instant::now();
    println!("READY");
    let mut received = 0u64;
    let mut first = None;
    while received < count {
        let batch: Vec<Value> = if let Some((_, socket)) = &core_socket {
            socket.next_batch(256).await?
        } else if let Some(socket) = &mut raw_socket {
            vec![raw_until(socket, |_| true).await?]
        } else {
            unreachable!()
        };
        if batch.is_empty() {
            return Err("socket closed".into());
        }
        for m in batch {
            if m["type"] == "bench" {
                first.get_or_insert_with(Instant::now);
                received += 1;
            }
        }
    }
    let cpu = cpu_seconds() - cpu0;
    let first = first.unwrap_or(ready);
    let span = first.elapsed().as_secs_f64();
    let wall = ready.elapsed().as_secs_f64();
    let mut out = json!({
        "ops": received, "errors": 0, "wall_s": wall, "cpu_s": cpu,
        "ops_per_s": received as f64 / span.max(1e-9),
        "cpu_us_per_op": cpu * 1e6 / received as f64,
    });
    out["first_to_last_s"] = json!(span);
    println!("{out}");
    if let Some((_, socket)) = core_socket {
        socket.close().await;
    }
    Ok(())
}

async fn sockets(env: Env, contender: &str, count: usize) -> Result<(), BoxError> {
    let open_concurrency: usize = std::env::var("BENCH_OPEN_CONCURRENCY")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    let client = core_client(&env, 1)?;
    let rss0 = rss_bytes();
    let start = Instant::now();
    let cpu0 = cpu_seconds();
    let gate = Arc::new(tokio::sync::Semaphore::new(open_concurrency));
    let mut tasks = Vec::new();
    for i in 0..count {
        let object = format!("{}-s-{}", env.prefix, i % 100);
        let (env, client, gate) = (env.clone(), client.clone(), gate.clone());
        let core = contender == "core";
        tasks.push(tokio::spawn(async move {
            let permit = gate.acquire_owned().await.expect("semaphore");
            if core {
                let socket = client.websocket(object.as_str()).await?;
                drop(permit);
                Ok::<_, BoxError>((Some(socket), None))
            } else {
                let socket = raw_connect(&env, &object).await?;
                drop(permit);
                // A real client keeps reading: a reader task per socket.
                let (write, mut read) = socket.split();
                let reader =
                    tokio::spawn(async move { while let Some(Ok(_)) = read.next().await {} });
                Ok((None, Some((write, reader))))
            }
        }));
    }
    let mut held = Vec::new();
    let mut errors = 0u64;
    for t in tasks {
        match t.await.expect("open task") {
            Ok(s) => held.push(s),
            Err(e) => {
                if errors == 0 {
                    eprintln!("error: {e}");
                }
                errors += 1;
            }
        }
    }
    let open_s = start.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    // Let the init frames arrive and settle.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss1 = rss_bytes();
    let n = held.len() as u64;
    println!(
        "{}",
        json!({
            "ops": n, "errors": errors, "wall_s": open_s, "cpu_s": cpu,
            "open_s": open_s, "rss_before": rss0, "rss_after": rss1,
            "bytes_per_socket": (rss1.saturating_sub(rss0)) as f64 / n.max(1) as f64,
            "cpu_us_per_op": cpu * 1e6 / n.max(1) as f64,
        })
    );
    for (core_socket, raw) in held {
        if let Some(s) = core_socket {
            drop(s);
        }
        if let Some((mut write, reader)) = raw {
            let _ = write.close().await;
            reader.abort();
        }
    }
    Ok(())
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: cfd-bench <raw|core> <http METHOD CONC | ws_seq | ws_burst N | sockets N>, or cfd-bench <core-hop|core-owned> http METHOD CONC";
    if args.len() < 3 {
        eprintln!("{usage}");
        std::process::exit(2);
    }
    let env = Env::load();
    let contender = args[1].as_str();
    let arg = |i: usize| args.get(i).cloned().unwrap_or_default();
    if !["raw", "core", "core-hop", "core-owned"].contains(&contender) {
        eprintln!("{usage}");
        std::process::exit(2);
    }
    if contender.starts_with("core-") && args[2] != "http" {
        // This contender has no such case (bench/README.md).
        std::process::exit(3);
    }
    let result: Result<(), BoxError> = match args[2].as_str() {
        "http" => {
            let method: &'static str = if arg(3) == "increment" {
                "increment"
            } else {
                "echo"
            };
            let conc: usize = arg(4).parse().unwrap_or(1);
            match contender {
                "core-hop" | "core-owned" => {
                    let route = if contender == "core-hop" {
                        host_threads::Route::Hop
                    } else {
                        host_threads::Route::Owned
                    };
                    // Off the async runtime: the case blocks its thread and
                    // drops runtimes of its own.
                    tokio::task::spawn_blocking(move || {
                        host_threads::http_case(env, route, method, conc)
                    })
                    .await
                    .map_err(|e| -> BoxError { e.to_string().into() })
                    .and_then(|r| r)
                }
                "core" => match core_client(&env, conc) {
                    Ok(c) => {
                        http_case(env, Core(c), method, conc).await;
                        Ok(())
                    }
                    Err(e) => Err(e),
                },
                _ => {
                    let http = reqwest::Client::builder()
                        .pool_max_idle_per_host(conc)
                        .build()
                        .expect("reqwest client");
                    let base = env.url.clone();
                    http_case(env, Raw { http, base }, method, conc).await;
                    Ok(())
                }
            }
        }
        "ws_seq" => ws_seq(env, contender).await,
        "ws_burst" => ws_burst(env, contender, arg(3).parse().unwrap_or(2000)).await,
        "sockets" => sockets(env, contender, arg(3).parse().unwrap_or(5000)).await,
        _ => Err(usage.into()),
    };
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
