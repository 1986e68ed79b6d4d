//! Shared helpers of the integration tests: a local worker started through
//! the project's harness (`tests/harness/worker.py`), and bounded waits.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use cloudflare_durable::{Client, Config, ConfigBuilder, WebSocket};
use serde_json::Value;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// A workerd process running the reference worker with a fresh storage
/// directory; killed on drop.
pub struct LocalWorker {
    state_dir: tempfile_dir::TempDir,
    pub url: String,
}

impl LocalWorker {
    /// Starts a worker without auth.
    pub fn start() -> Self {
        Self::start_with(None)
    }

    /// Starts a worker that requires `token`, when given.
    pub fn start_with(token: Option<&str>) -> Self {
        let state_dir = tempfile_dir::TempDir::new();
        let mut args = vec![
            "start".to_string(),
            "--state-dir".into(),
            state_dir.path().display().to_string(),
        ];
        if let Some(token) = token {
            args.push("--token".into());
            args.push(token.into());
        }
        let out = harness(&args);
        let url = String::from_utf8(out).unwrap().trim().to_string();
        assert!(
            url.starts_with("http://127.0.0.1:"),
            "unexpected harness output {url:?}"
        );
        LocalWorker { state_dir, url }
    }

    /// What the worker has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.state_dir.path().join("worker.log")).unwrap_or_default()
    }

    /// SIGKILLs the worker and starts it again on the same port and storage.
    pub fn restart(&self) {
        self.run("restart");
    }

    /// SIGKILLs the worker, leaving it down.
    pub fn kill(&self) {
        self.run("kill");
    }

    /// Freezes the worker with SIGSTOP.
    pub fn freeze(&self) {
        self.run("freeze");
    }

    /// Resumes a frozen worker with SIGCONT.
    pub fn thaw(&self) {
        self.run("thaw");
    }

    fn run(&self, verb: &str) {
        harness(&[
            verb.into(),
            "--state-dir".into(),
            self.state_dir.path().display().to_string(),
        ]);
    }

    /// A config builder pointed at this worker, with quick retries for tests.
    pub fn config(&self) -> ConfigBuilder {
        Config::builder()
            .worker_url(&self.url)
            .timeout(Duration::from_secs(10))
            .retry_delay(Duration::from_millis(50))
            .websocket_reconnect_delay(Duration::from_millis(50))
            .websocket_max_reconnect_delay(Duration::from_millis(500))
    }

    /// A client for this worker.
    pub fn client(&self) -> Client {
        Client::new(self.config().build().unwrap()).unwrap()
    }
}

impl Drop for LocalWorker {
    fn drop(&mut self) {
        let _ = Command::new("python3")
            .arg(repo_root().join("tests/harness/worker.py"))
            .args(["stop", "--state-dir"])
            .arg(self.state_dir.path())
            .output();
    }
}

fn harness(args: &[String]) -> Vec<u8> {
    let out = Command::new("python3")
        .arg(repo_root().join("tests/harness/worker.py"))
        .args(args)
        .output()
        .expect("python3 runs the harness");
    assert!(
        out.status.success(),
        "harness {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// A name unique to this test process and call, so tests never share objects.
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// The next message whose `type` is `kind`, skipping others, within `limit`.
pub async fn next_of_type(socket: &WebSocket, kind: &str, limit: Duration) -> Value {
    let wait = async {
        loop {
            match socket.next_message().await {
                Ok(Some(message)) if message["type"] == kind => return message,
                Ok(Some(_)) => continue,
                other => panic!("socket ended while waiting for {kind:?}: {other:?}"),
            }
        }
    };
    tokio::time::timeout(limit, wait)
        .await
        .unwrap_or_else(|_| panic!("no {kind:?} message within {limit:?}"))
}

/// A minimal temporary directory (the test suite avoids extra crates).
pub mod tempfile_dir {
    use std::path::{Path, PathBuf};

    /// A directory removed on drop.
    pub struct TempDir(PathBuf);

    impl TempDir {
        pub fn new() -> Self {
            let dir = std::env::temp_dir().join(super::unique("cfd-test"));
            std::fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }

        pub fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

impl LocalWorker {
    /// The worker's TCP port.
    pub fn port(&self) -> u16 {
        self.url
            .rsplit(':')
            .next()
            .unwrap()
            .trim_end_matches('/')
            .parse()
            .unwrap()
    }
}

/// The harness's loopback proxy (`tests/harness/fault_proxy.py`) in front of
/// a worker, dropping replies at `drop_rate`; killed on drop.
pub struct FaultProxy {
    state_dir: tempfile_dir::TempDir,
    pub url: String,
}

impl FaultProxy {
    pub fn start(target: &LocalWorker, drop_rate: f64) -> Self {
        let state_dir = tempfile_dir::TempDir::new();
        let out = proxy(&[
            "start",
            "--state-dir",
            &state_dir.path().display().to_string(),
            "--target-port",
            &target.port().to_string(),
            "--drop-rate",
            &drop_rate.to_string(),
        ]);
        let url = String::from_utf8(out).unwrap().trim().to_string();
        FaultProxy { state_dir, url }
    }

    /// The proxy's counters: connections, replies_dropped, cuts.
    pub fn stats(&self) -> Value {
        serde_json::from_slice(&proxy(&[
            "stats",
            "--state-dir",
            &self.state_dir.path().display().to_string(),
        ]))
        .unwrap()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        proxy(&[
            "stop",
            "--state-dir",
            &self.state_dir.path().display().to_string(),
        ]);
    }
}

fn proxy(args: &[&str]) -> Vec<u8> {
    let out = Command::new("python3")
        .arg(repo_root().join("tests/harness/fault_proxy.py"))
        .args(args)
        .output()
        .expect("python3 runs the proxy");
    assert!(
        out.status.success(),
        "proxy {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// A helper server of the harness (`tests/harness/<script>`) started with
/// `start --state-dir DIR [args]`, which prints its URL; stopped on drop.
pub struct HarnessServer {
    script: &'static str,
    state_dir: tempfile_dir::TempDir,
    pub url: String,
}

impl HarnessServer {
    pub fn start(script: &'static str, args: &[&str]) -> Self {
        let state_dir = tempfile_dir::TempDir::new();
        let out = Command::new("python3")
            .arg(repo_root().join("tests/harness").join(script))
            .args(["start", "--state-dir"])
            .arg(state_dir.path())
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{script}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        HarnessServer {
            script,
            url: String::from_utf8(out.stdout).unwrap().trim().into(),
            state_dir,
        }
    }
}

impl Drop for HarnessServer {
    fn drop(&mut self) {
        let _ = Command::new("python3")
            .arg(repo_root().join("tests/harness").join(self.script))
            .args(["stop", "--state-dir"])
            .arg(self.state_dir.path())
            .output();
    }
}
