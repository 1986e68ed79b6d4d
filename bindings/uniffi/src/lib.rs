//! uniffi bindings of `cloudflare-durable` for Kotlin and Swift.
//!
//! A thin layer: every operation is one call into the core, and this crate
//! only converts types. JSON values cross the FFI as JSON text (`String`);
//! the host side parses them (kotlinx.serialization's `JsonElement` in
//! Kotlin, `JSONValue` / `Codable` in Swift), see `bindings/kotlin/README.md`.
//!
//! The core's work runs on a process-wide multi-thread tokio runtime owned by
//! this crate ([`runtime`], one worker unless
//! `CLOUDFLARE_DURABLE_RUNTIME_THREADS` says otherwise): HTTP operations run
//! as tasks on it ([`run_on_worker`]), and WebSocket waits are polled in place
//! inside its context ([`run`]), so the core's I/O tasks and timers always
//! live on its workers (uniffi's `async_runtime = "tokio"` would put them all
//! on async-compat's single thread). Messages
//! and events reach the host by a pull model ([`FfiWebSocket::next_batch`],
//! [`FfiClient::next_events`]): no callback ever runs on a Rust thread, and a
//! slow consumer applies backpressure (the core buffers, then stops reading).
//! Kotlin cancels a call by freeing its uniffi future, which drops it; Swift's
//! generated code is rewritten (`bindings/swift_cancellation.py`) to cancel
//! the future of a call that can fail, so every async function here returns a
//! `Result`, even the three that never fail.
//! Panics are caught (by uniffi's scaffolding, or re-raised from a task into
//! it) and surface as the host's internal-error exception; none crosses the
//! FFI.

mod client;
mod events;
mod socket;
mod surface;

use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use cloudflare_durable as cfd;
use cloudflare_durable::serde_json::{self, Value};

pub use client::FfiClient;
pub use events::ClientEvent;
pub use socket::{ConnectionStatus, FfiWebSocket};
pub use surface::*;

uniffi::setup_scaffolding!();

// ---- runtime ------------------------------------------------------------------

/// The process-wide runtime the core runs on, created on first use, with
/// `CLOUDFLARE_DURABLE_RUNTIME_THREADS` threads (by default one thread
/// turning a current-thread runtime; see `cloudflare_durable::runtime_threads`,
/// which `FfiClient::new` checks).
pub(crate) fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<&'static tokio::runtime::Runtime> = OnceLock::new();
    cfd::shared_binding_runtime(&RUNTIME, "cloudflare-durable")
}

/// Polls `future` in place, on whatever thread the host's executor polls
/// from, inside [`runtime`]'s context (for WebSocket waits, where the
/// connection task's hand-off then wakes the host directly; HTTP operations
/// use [`run_on_worker`]): what the core spawns (connection and
/// socket tasks) and its timers live on the runtime's workers, while the
/// future itself needs no thread hop, is dropped in place when the host
/// cancels (no abort race), and panics straight into uniffi's catch.
pub(crate) async fn run<T>(future: impl Future<Output = T>) -> T {
    let mut future = std::pin::pin!(future);
    std::future::poll_fn(move |cx| {
        let _entered = runtime().enter();
        future.as_mut().poll(cx)
    })
    .await
}

/// Runs `future` as a task on a [`runtime`] worker and waits for its output.
/// For HTTP operations: the request and its connection's task then run on
/// the same worker, and only the result crosses to the host's thread. Polled
/// in place instead, the request bounces between the host thread and the
/// connection task (Kotlin `http echo 1`: 5.2 context switches and ~270 µs of
/// client CPU per call in place, 2.8 and ~200 µs as a task). Dropping the
/// returned future (the host cancelled) aborts the task; a panic in it is
/// resumed here, into uniffi's catch, as if it had been polled in place.
pub(crate) async fn run_on_worker<T: Send + 'static>(
    future: impl Future<Output = Result<T>> + Send + 'static,
) -> Result<T> {
    /// Aborts the task when the host drops the call before it finished.
    struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);
    impl<T> Drop for AbortOnDrop<T> {
        fn drop(&mut self) {
            self.0.abort();
        }
    }
    let mut task = AbortOnDrop(runtime().spawn(future));
    match (&mut task.0).await {
        Ok(output) => output,
        Err(ended) if ended.is_panic() => std::panic::resume_unwind(ended.into_panic()),
        Err(_) => Err(DurableObjectError::ConnectionClosed {
            code: None,
            reason: "the operation's task was cancelled (runtime shut down?)".into(),
        }),
    }
}

// ---- errors -----------------------------------------------------------------

/// Every error of the client, one variant per core `ErrorKind`. Kotlin sees it
/// as `DurableObjectException`, Swift as the `DurableObjectError` enum.
/// `reason` is the core's full message (never contains the token).
#[derive(Debug, thiserror::Error, uniffi::Error)]
pub enum DurableObjectError {
    /// The caller's input was refused before anything was sent.
    #[error("{reason}")]
    InvalidInput {
        /// Which input: object_name, key, method_name, params, value, config.
        field: String,
        /// The core's message.
        reason: String,
    },
    /// The worker refused the credentials (401/403, or close code 1008).
    #[error("{reason}")]
    Unauthorized {
        /// HTTP status or close code.
        status: u16,
        /// The core's message.
        reason: String,
    },
    /// The object, key, method or route does not exist.
    #[error("{reason}")]
    NotFound {
        /// The core's message.
        reason: String,
    },
    /// The worker asked the client to slow down (429).
    #[error("{reason}")]
    RateLimited {
        /// How long the worker asked to wait, in milliseconds, when it said.
        retry_after_ms: Option<u64>,
        /// The core's message.
        reason: String,
    },
    /// The worker or the object failed (5xx).
    #[error("{reason}")]
    ServerError {
        /// HTTP status.
        status: u16,
        /// The core's message.
        reason: String,
    },
    /// Another unexpected HTTP status.
    #[error("{reason}")]
    HttpError {
        /// HTTP status.
        status: u16,
        /// The core's message.
        reason: String,
    },
    /// No answer within the configured time.
    #[error("{reason}")]
    Timeout {
        /// The core's message.
        reason: String,
    },
    /// The connection could not be made or broke.
    #[error("{reason}")]
    NetworkError {
        /// The core's message.
        reason: String,
    },
    /// The worker answered something that is not the protocol.
    #[error("{reason}")]
    InvalidResponse {
        /// The core's message.
        reason: String,
    },
    /// The WebSocket is closed for good.
    #[error("{reason}")]
    ConnectionClosed {
        /// The close code, when the peer sent one.
        code: Option<u16>,
        /// The core's message.
        reason: String,
    },
    /// The WebSocket's send queue is full while disconnected.
    #[error("{reason}")]
    QueueFull {
        /// The queue's capacity.
        capacity: u64,
        /// The core's message.
        reason: String,
    },
    /// A conditional write or transaction lost a race (409).
    #[error("{reason}")]
    Conflict {
        /// The core's message.
        reason: String,
    },
}

#[uniffi::export]
impl DurableObjectError {
    /// The core's stable kind name (`not_found`, `rate_limited`, …).
    pub fn kind(&self) -> String {
        use DurableObjectError::*;
        match self {
            InvalidInput { .. } => cfd::ErrorKind::InvalidInput,
            Unauthorized { .. } => cfd::ErrorKind::Unauthorized,
            NotFound { .. } => cfd::ErrorKind::NotFound,
            RateLimited { .. } => cfd::ErrorKind::RateLimited,
            ServerError { .. } => cfd::ErrorKind::Server,
            HttpError { .. } => cfd::ErrorKind::Http,
            Timeout { .. } => cfd::ErrorKind::Timeout,
            NetworkError { .. } => cfd::ErrorKind::Network,
            InvalidResponse { .. } => cfd::ErrorKind::InvalidResponse,
            ConnectionClosed { .. } => cfd::ErrorKind::ConnectionClosed,
            QueueFull { .. } => cfd::ErrorKind::QueueFull,
            Conflict { .. } => cfd::ErrorKind::Conflict,
        }
        .as_str()
        .to_owned()
    }

    /// The core's message (the same as `reason`).
    pub fn describe(&self) -> String {
        self.to_string()
    }
}

impl From<cfd::Error> for DurableObjectError {
    fn from(error: cfd::Error) -> Self {
        let reason = error.to_string();
        let status = error.status().unwrap_or_default();
        match error.kind() {
            cfd::ErrorKind::InvalidInput => DurableObjectError::InvalidInput {
                field: error
                    .input_field()
                    .map(|f| f.as_str().to_owned())
                    .unwrap_or_default(),
                reason,
            },
            cfd::ErrorKind::Unauthorized => DurableObjectError::Unauthorized { status, reason },
            cfd::ErrorKind::NotFound => DurableObjectError::NotFound { reason },
            cfd::ErrorKind::RateLimited => DurableObjectError::RateLimited {
                retry_after_ms: error.retry_after().map(millis),
                reason,
            },
            cfd::ErrorKind::Server => DurableObjectError::ServerError { status, reason },
            cfd::ErrorKind::Http => DurableObjectError::HttpError { status, reason },
            cfd::ErrorKind::Timeout => DurableObjectError::Timeout { reason },
            cfd::ErrorKind::Network => DurableObjectError::NetworkError { reason },
            cfd::ErrorKind::InvalidResponse => DurableObjectError::InvalidResponse { reason },
            cfd::ErrorKind::ConnectionClosed => DurableObjectError::ConnectionClosed {
                code: error.status(),
                reason,
            },
            cfd::ErrorKind::QueueFull => DurableObjectError::QueueFull {
                capacity: match &error {
                    cfd::Error::QueueFull { capacity } => *capacity as u64,
                    _ => 0,
                },
                reason,
            },
            cfd::ErrorKind::Conflict => DurableObjectError::Conflict { reason },
        }
    }
}

/// Every core error kind name, in the core's order (for the host-side check
/// that each language maps every kind).
#[uniffi::export]
pub fn error_kind_names() -> Vec<String> {
    cfd::ErrorKind::ALL
        .iter()
        .map(|k| k.as_str().to_owned())
        .collect()
}

pub(crate) type Result<T, E = DurableObjectError> = std::result::Result<T, E>;

pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Parses JSON text from the host; the error names the refused input.
pub(crate) fn parse_json(field: &str, text: &str) -> Result<Value> {
    serde_json::from_str(text).map_err(|e| DurableObjectError::InvalidInput {
        field: field.to_owned(),
        reason: format!("invalid {field}: not valid JSON text: {e}"),
    })
}

pub(crate) fn to_json(value: &Value) -> String {
    value.to_string()
}

// ---- configuration ------------------------------------------------------------

/// Client settings; `None` keeps the core's default. Durations are in
/// milliseconds.
#[derive(Debug, Clone, uniffi::Record)]
pub struct ClientOptions {
    /// The worker's base URL (`https://…`, or `http://` on loopback).
    pub worker_url: String,
    /// Bearer token sent as `Authorization: Bearer …`.
    #[uniffi(default)]
    pub api_token: Option<String>,
    /// Cloudflare account id.
    #[uniffi(default)]
    pub account_id: Option<String>,
    /// Time limit of one HTTP attempt and default for socket calls (30 000).
    #[uniffi(default)]
    pub timeout_ms: Option<u64>,
    /// Retries after the first attempt (3).
    #[uniffi(default)]
    pub retry_count: Option<u32>,
    /// Base backoff delay between retries (500).
    #[uniffi(default)]
    pub retry_delay_ms: Option<u64>,
    /// First delay before a WebSocket reconnect (1 000).
    #[uniffi(default)]
    pub websocket_reconnect_delay_ms: Option<u64>,
    /// Longest delay between WebSocket reconnects (30 000).
    #[uniffi(default)]
    pub websocket_max_reconnect_delay_ms: Option<u64>,
    /// How often an idle WebSocket sends a heartbeat (15 000).
    #[uniffi(default)]
    pub heartbeat_interval_ms: Option<u64>,
    /// How long a heartbeat may go unanswered (10 000).
    #[uniffi(default)]
    pub heartbeat_timeout_ms: Option<u64>,
    /// Messages kept for sending while disconnected (1 024).
    #[uniffi(default)]
    pub send_queue_capacity: Option<u32>,
    /// Received messages buffered before reading pauses (4 096).
    #[uniffi(default)]
    pub message_buffer: Option<u32>,
    /// Idle HTTP connections kept per host (10).
    #[uniffi(default)]
    pub pool_size: Option<u32>,
    /// HTTP requests in flight at once (256); more wait their turn within
    /// their timeout, so a burst does not open a connection per call.
    #[uniffi(default)]
    pub max_concurrent_requests: Option<u32>,
    /// Allow plain http to a host that is not loopback (false).
    #[uniffi(default)]
    pub allow_insecure_http: Option<bool>,
    /// Whether a dropped WebSocket reconnects by itself (true); when false a
    /// drop ends it with `ConnectionClosed`.
    #[uniffi(default)]
    pub websocket_auto_reconnect: Option<bool>,
    /// The namespace of objects named without one (`default`).
    #[uniffi(default)]
    pub default_namespace: Option<String>,
    /// Base URL of Cloudflare's v4 REST API, for the management calls
    /// (`https://api.cloudflare.com/client/v4`).
    #[uniffi(default)]
    pub api_base_url: Option<String>,
}

impl ClientOptions {
    fn into_config(self, hook: Arc<dyn cfd::EventHook>) -> Result<cfd::Config> {
        let ms = Duration::from_millis;
        let mut b = cfd::Config::builder()
            .worker_url(self.worker_url)
            .event_hook(hook);
        if let Some(v) = self.api_token {
            b = b.api_token(v);
        }
        if let Some(v) = self.account_id {
            b = b.account_id(v);
        }
        if let Some(v) = self.timeout_ms {
            b = b.timeout(ms(v));
        }
        if let Some(v) = self.retry_count {
            b = b.retry_count(v);
        }
        if let Some(v) = self.retry_delay_ms {
            b = b.retry_delay(ms(v));
        }
        if let Some(v) = self.websocket_reconnect_delay_ms {
            b = b.websocket_reconnect_delay(ms(v));
        }
        if let Some(v) = self.websocket_max_reconnect_delay_ms {
            b = b.websocket_max_reconnect_delay(ms(v));
        }
        if let Some(v) = self.heartbeat_interval_ms {
            b = b.heartbeat_interval(ms(v));
        }
        if let Some(v) = self.heartbeat_timeout_ms {
            b = b.heartbeat_timeout(ms(v));
        }
        if let Some(v) = self.send_queue_capacity {
            b = b.send_queue_capacity(v as usize);
        }
        if let Some(v) = self.message_buffer {
            b = b.message_buffer(v as usize);
        }
        if let Some(v) = self.pool_size {
            b = b.pool_size(v as usize);
        }
        if let Some(v) = self.max_concurrent_requests {
            b = b.max_concurrent_requests(v as usize);
        }
        if let Some(v) = self.allow_insecure_http {
            b = b.allow_insecure_http(v);
        }
        if let Some(v) = self.websocket_auto_reconnect {
            b = b.websocket_auto_reconnect(v);
        }
        if let Some(v) = self.default_namespace {
            b = b.default_namespace(v);
        }
        if let Some(v) = self.api_base_url {
            b = b.api_base_url(v);
        }
        Ok(b.build()?)
    }
}

/// Per-call options of a method call.
pub(crate) fn call_options(
    idempotency_key: Option<String>,
    timeout_ms: Option<u64>,
) -> cfd::CallOptions {
    cfd::CallOptions {
        idempotency_key,
        timeout: timeout_ms.map(Duration::from_millis),
    }
}
