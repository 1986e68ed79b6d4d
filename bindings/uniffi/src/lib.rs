//! uniffi bindings of `cloudflare-durable` for Kotlin and Swift.
//!
//! A thin layer: every operation is one call into the core, and this crate
//! only converts types. JSON values cross the FFI as JSON text (`String`);
//! the host side parses them (kotlinx.serialization's `JsonElement` in
//! Kotlin, `JSONValue` / `Codable` in Swift), see `bindings/kotlin/README.md`.
//!
//! Async functions run on uniffi's process-wide tokio runtime
//! (`async_runtime = "tokio"`). Messages reach the host by a pull model
//! ([`FfiWebSocket::next_batch`]): no callback ever runs on a Rust thread, and
//! a slow consumer applies backpressure (the core buffers, then stops reading).
//! Panics are caught by uniffi's scaffolding and surface as the host's
//! internal-error exception; none crosses the FFI.

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use cloudflare_durable as cfd;
use cloudflare_durable::serde_json::{self, Value};

uniffi::setup_scaffolding!();

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

type Result<T, E = DurableObjectError> = std::result::Result<T, E>;

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Parses JSON text from the host; the error names the refused input.
fn parse_json(field: &str, text: &str) -> Result<Value> {
    serde_json::from_str(text).map_err(|e| DurableObjectError::InvalidInput {
        field: field.to_owned(),
        reason: format!("invalid {field}: not valid JSON text: {e}"),
    })
}

fn to_json(value: &Value) -> String {
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
    /// Allow plain http to a host that is not loopback (false).
    #[uniffi(default)]
    pub allow_insecure_http: Option<bool>,
}

impl ClientOptions {
    fn into_config(self) -> Result<cfd::Config> {
        let ms = Duration::from_millis;
        let mut b = cfd::Config::builder().worker_url(self.worker_url);
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
        if let Some(v) = self.allow_insecure_http {
            b = b.allow_insecure_http(v);
        }
        Ok(b.build()?)
    }
}

/// Per-call options of a method call.
fn call_options(idempotency_key: Option<String>, timeout_ms: Option<u64>) -> cfd::CallOptions {
    cfd::CallOptions {
        idempotency_key,
        timeout: timeout_ms.map(Duration::from_millis),
    }
}

// ---- client -------------------------------------------------------------------

/// The FFI face of `cloudflare_durable::Client`. Hosts wrap it (Kotlin
/// `DurableClient`, Swift `DurableClient`); JSON arguments and results are
/// JSON text.
#[derive(uniffi::Object)]
pub struct FfiClient {
    inner: cfd::Client,
    sockets: Mutex<Vec<Weak<SocketShared>>>,
}

#[uniffi::export(async_runtime = "tokio")]
impl FfiClient {
    /// Builds a client; `InvalidInput` (field `config`) for a bad setting.
    #[uniffi::constructor]
    pub fn new(options: ClientOptions) -> Result<Arc<Self>> {
        let config = options.into_config()?;
        Ok(Arc::new(FfiClient {
            inner: cfd::Client::new(config)?,
            sockets: Mutex::new(Vec::new()),
        }))
    }

    /// Stores `state_json` (a JSON object) in the object, one key per member.
    pub async fn initialize(&self, object: String, state_json: String) -> Result<()> {
        let state = parse_json("value", &state_json)?;
        Ok(self.inner.initialize(&object, &state).await?)
    }

    /// Calls `method` with `params_json`; returns the result as JSON text.
    pub async fn call_method(
        &self,
        object: String,
        method: String,
        params_json: String,
        idempotency_key: Option<String>,
        timeout_ms: Option<u64>,
    ) -> Result<String> {
        let params = parse_json("params", &params_json)?;
        let options = call_options(idempotency_key, timeout_ms);
        let result = self
            .inner
            .call_method_with(&object, &method, &params, options)
            .await?;
        Ok(to_json(&result))
    }

    /// The object's whole state, as JSON object text.
    pub async fn get_state(&self, object: String) -> Result<String> {
        let state = self.inner.get_state(&object).await?;
        Ok(to_json(&Value::Object(state)))
    }

    /// One key's value as JSON text; `NotFound` when absent.
    pub async fn get_state_key(&self, object: String, key: String) -> Result<String> {
        Ok(to_json(&self.inner.get_state_key(&object, &key).await?))
    }

    /// Sets one key to `value_json` and broadcasts it.
    pub async fn update_state(
        &self,
        object: String,
        key: String,
        value_json: String,
    ) -> Result<()> {
        let value = parse_json("value", &value_json)?;
        Ok(self.inner.update_state(&object, &key, &value).await?)
    }

    /// Deletes one key (no error when absent) and broadcasts the deletion.
    pub async fn delete_state(&self, object: String, key: String) -> Result<()> {
        Ok(self.inner.delete_state(&object, &key).await?)
    }

    /// Opens a WebSocket; returns once the first connection is up.
    pub async fn websocket(&self, object: String) -> Result<Arc<FfiWebSocket>> {
        let socket = self.inner.websocket(&object).await?;
        let shared = Arc::new(SocketShared {
            socket,
            runtime: tokio::runtime::Handle::current(),
        });
        if let Ok(mut sockets) = self.sockets.lock() {
            sockets.retain(|s| s.strong_count() > 0);
            sockets.push(Arc::downgrade(&shared));
        }
        Ok(Arc::new(FfiWebSocket { shared }))
    }

    /// Starts closing every socket this client opened; returns at once.
    /// Called by the hosts' `close()` (named `shutdown` because uniffi's
    /// Kotlin objects already have a `close()` that frees the native object).
    pub fn shutdown(&self) {
        let sockets = match self.sockets.lock() {
            Ok(mut sockets) => std::mem::take(&mut *sockets),
            Err(_) => return,
        };
        for socket in sockets.iter().filter_map(Weak::upgrade) {
            socket.start_close();
        }
    }
}

// ---- websocket ----------------------------------------------------------------

/// Where a WebSocket stands (the core's `ConnectionStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum ConnectionStatus {
    /// The first connection is being made.
    Connecting,
    /// Connected: sends go out at once.
    Connected,
    /// The link dropped; sends wait in the queue until it is back.
    Reconnecting,
    /// Closed for good.
    Closed,
}

impl From<cfd::ConnectionStatus> for ConnectionStatus {
    fn from(s: cfd::ConnectionStatus) -> Self {
        match s {
            cfd::ConnectionStatus::Connecting => ConnectionStatus::Connecting,
            cfd::ConnectionStatus::Connected => ConnectionStatus::Connected,
            cfd::ConnectionStatus::Reconnecting => ConnectionStatus::Reconnecting,
            cfd::ConnectionStatus::Closed => ConnectionStatus::Closed,
        }
    }
}

/// The core socket plus the runtime it lives on (to close it from a
/// synchronous host `close()` or from the client's).
struct SocketShared {
    socket: cfd::WebSocket,
    runtime: tokio::runtime::Handle,
}

impl SocketShared {
    /// Closes the core socket on the runtime, without waiting.
    fn start_close(self: &Arc<Self>) {
        let this = self.clone();
        self.runtime.spawn(async move { this.close().await });
    }

    /// Closes the core socket and waits for its task to end. Messages not yet
    /// taken are discarded meanwhile, so a full buffer (a consumer that
    /// stopped reading) cannot keep the connection task from seeing the close.
    async fn close(&self) {
        let drain = async {
            while let Ok(batch) = self.socket.next_batch(1024).await {
                if batch.is_empty() {
                    break;
                }
            }
        };
        tokio::join!(self.socket.close(), drain);
    }
}

/// The FFI face of `cloudflare_durable::WebSocket`. Hosts wrap it (Kotlin
/// `DurableWebSocket` with a `Flow`, Swift `DurableWebSocket` with an
/// `AsyncSequence`).
#[derive(uniffi::Object)]
pub struct FfiWebSocket {
    shared: Arc<SocketShared>,
}

#[uniffi::export(async_runtime = "tokio")]
impl FfiWebSocket {
    /// The object this socket talks to.
    pub fn object(&self) -> String {
        self.shared.socket.object().to_owned()
    }

    /// The current status.
    pub fn status(&self) -> ConnectionStatus {
        self.shared.socket.status().into()
    }

    /// Waits until the status is `target`, at most `timeout_ms`; true when
    /// reached.
    pub async fn wait_for_status(&self, target: ConnectionStatus, timeout_ms: u64) -> bool {
        self.shared
            .socket
            .wait_for_status(Duration::from_millis(timeout_ms), |s| {
                ConnectionStatus::from(s) == target
            })
            .await
            .is_some()
    }

    /// Sends a JSON message (JSON text); returns once written or queued.
    pub async fn send(&self, message_json: String) -> Result<()> {
        let message = parse_json("value", &message_json)?;
        Ok(self.shared.socket.send(&message).await?)
    }

    /// Calls a method over the socket; returns its result as JSON text.
    pub async fn call(
        &self,
        method: String,
        params_json: String,
        idempotency_key: Option<String>,
        timeout_ms: Option<u64>,
    ) -> Result<String> {
        let params = parse_json("params", &params_json)?;
        let options = call_options(idempotency_key, timeout_ms);
        let result = self
            .shared
            .socket
            .call_with(&method, &params, options)
            .await?;
        Ok(to_json(&result))
    }

    /// The next message as JSON text, `None` once closed, or the error that
    /// ended the socket (once). One consumer at a time.
    pub async fn next_message(&self) -> Result<Option<String>> {
        Ok(self
            .shared
            .socket
            .next_message()
            .await?
            .map(|m| to_json(&m)))
    }

    /// Every message already waiting (at least one, at most `max`) as JSON
    /// text; empty once closed, or the error that ended the socket (once).
    /// Cancel-safe: a cancelled call loses no message.
    pub async fn next_batch(&self, max: u32) -> Result<Vec<String>> {
        let batch = self.shared.socket.next_batch(max.max(1) as usize).await?;
        Ok(batch.iter().map(to_json).collect())
    }

    /// Starts closing (code 1000) and returns at once; see `close_and_wait`.
    /// Called by the hosts' `close()`.
    pub fn shutdown(&self) {
        self.shared.start_close();
    }

    /// Closes (code 1000) and waits for the connection task to end. Pending
    /// calls fail with `ConnectionClosed`; messages not yet taken are dropped.
    pub async fn close_and_wait(&self) {
        self.shared.close().await;
    }
}
