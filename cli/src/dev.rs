//! `cloudflare-durable dev`: runs the reference worker (`worker/`) locally on
//! npm's workerd, installing it first when needed.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use cloudflare_durable::{Error, InputField};
use tokio::process::Command;

/// How long workerd may take to answer after it starts.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// Arguments of `dev`.
#[derive(clap::Args, Debug)]
pub struct DevArgs {
    /// Loopback port to listen on.
    #[arg(long, default_value_t = 8787)]
    port: u16,
    /// The worker directory (default: `worker/` found from the current
    /// directory or from this binary's location).
    #[arg(long, env = "CLOUDFLARE_DURABLE_WORKER_DIR")]
    worker_dir: Option<PathBuf>,
    /// Where objects store their data (default: `<worker dir>/.storage`).
    #[arg(long)]
    storage: Option<PathBuf>,
}

/// Runs workerd until Ctrl-C or until it exits.
pub async fn run(args: &DevArgs) -> Result<(), Error> {
    let dir = match &args.worker_dir {
        Some(dir) => dir.clone(),
        None => find_worker_dir().ok_or_else(|| {
            config_error(
                "cannot find worker/workerd.capnp; run from the repository or pass --worker-dir",
            )
        })?,
    };
    let workerd = dir.join("node_modules/.bin/workerd");
    if !workerd.exists() {
        eprintln!("installing workerd (npm ci in {})…", dir.display());
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&dir)
            .status()
            .await
            .map_err(|e| config_error(&format!("cannot run npm: {e}")))?;
        if !status.success() {
            return Err(config_error("npm ci failed"));
        }
    }
    let storage = args.storage.clone().unwrap_or_else(|| dir.join(".storage"));
    std::fs::create_dir_all(&storage)
        .map_err(|e| config_error(&format!("cannot create {}: {e}", storage.display())))?;
    let address = format!("127.0.0.1:{}", args.port);
    let mut child = Command::new(&workerd)
        .arg("serve")
        .arg(dir.join("workerd.capnp"))
        .arg(format!("--socket-addr=http={address}"))
        .arg(format!("--directory-path=disk={}", storage.display()))
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| config_error(&format!("cannot start {}: {e}", workerd.display())))?;
    let started = Instant::now();
    while tokio::net::TcpStream::connect(&address).await.is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(Error::Network(format!(
                "workerd exited before listening ({status})"
            )));
        }
        if started.elapsed() > READY_TIMEOUT {
            return Err(Error::Timeout("workerd did not listen within 30 s".into()));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!(
        "worker running at http://{address} (storage in {}); Ctrl-C stops it",
        storage.display()
    );
    println!("http://{address}");
    tokio::select! {
        status = child.wait() => {
            let status = status.map_err(|e| Error::Network(e.to_string()))?;
            if !status.success() {
                return Err(Error::Network(format!("workerd exited ({status})")));
            }
        }
        _ = tokio::signal::ctrl_c() => {
            // SIGKILL: workerd's SIGTERM waits for open sockets to go away.
            let _ = child.kill().await;
        }
    }
    Ok(())
}

fn find_worker_dir() -> Option<PathBuf> {
    let starts = [std::env::current_dir().ok(), std::env::current_exe().ok()];
    starts.into_iter().flatten().find_map(|start| {
        start
            .ancestors()
            .map(|dir| dir.join("worker"))
            .find(|dir| Path::new(&dir.join("workerd.capnp")).exists())
    })
}

fn config_error(message: &str) -> Error {
    Error::InvalidInput {
        field: InputField::Config,
        message: message.to_owned(),
    }
}
