//! The command line against a local worker: JSON in, JSON out, readable
//! errors with their exit codes.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// A worker from the harness, stopped on drop.
struct Worker {
    dir: PathBuf,
    url: String,
}

impl Worker {
    fn start() -> Self {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("cfd-cli-{}-{n}", std::process::id()));
        let out = harness(&["start", "--state-dir", dir.to_str().unwrap()]);
        Worker {
            url: String::from_utf8(out.stdout).unwrap().trim().into(),
            dir,
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        harness(&["stop", "--state-dir", self.dir.to_str().unwrap()]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn harness(args: &[&str]) -> Output {
    let out = Command::new("python3")
        .arg(root().join("tests/harness/worker.py"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn cli(worker: &Worker, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cloudflare-durable"))
        .env("CLOUDFLARE_WORKER_URL", &worker.url)
        .env_remove("CLOUDFLARE_API_TOKEN")
        .args(args)
        .output()
        .unwrap()
}

fn json(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn call_state_and_list() {
    let worker = Worker::start();
    let object = format!("cli-{}", std::process::id());
    assert_eq!(
        json(&cli(
            &worker,
            &["call", &object, "increment", r#"{"increment": 5}"#]
        ))["value"],
        5
    );
    assert_eq!(json(&cli(&worker, &["state", "get", &object, "value"])), 5);
    json(&cli(
        &worker,
        &["state", "put", &object, "name", r#"{"a": [1, 2]}"#],
    ));
    assert_eq!(
        json(&cli(&worker, &["state", "get", &object]))["name"]["a"][1],
        2
    );
    json(&cli(&worker, &["state", "delete", &object, "name"]));

    for i in 0..30 {
        json(&cli(
            &worker,
            &["state", "put", &object, &format!("k{i:02}"), &i.to_string()],
        ));
    }
    let out = cli(
        &worker,
        &[
            "state",
            "list",
            &object,
            "--prefix",
            "k",
            "--page-size",
            "7",
        ],
    );
    assert!(out.status.success());
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 30);
    assert_eq!(lines[29], serde_json::json!({"key": "k29", "value": 29}));
}

#[test]
fn errors_are_readable_with_exit_codes() {
    let worker = Worker::start();
    let missing = cli(&worker, &["call", "x", "no_such_method"]);
    assert_eq!(missing.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&missing.stderr).starts_with("error: not_found: "));

    let bad_json = cli(&worker, &["call", "x", "echo", "{not json"]);
    assert_eq!(bad_json.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad_json.stderr).contains("params is not JSON"));

    let absent = cli(&worker, &["state", "get", "x", "nope"]);
    assert_eq!(absent.status.code(), Some(3));

    let unreachable = Command::new(env!("CARGO_BIN_EXE_cloudflare-durable"))
        .args(["--worker-url", "http://127.0.0.1:9", "state", "get", "x"])
        .env("CLOUDFLARE_API_TOKEN", "secret-never-printed")
        .output()
        .unwrap();
    assert_eq!(unreachable.status.code(), Some(6));
    assert!(!String::from_utf8_lossy(&unreachable.stderr).contains("secret-never-printed"));
}
