//! # cloudflare-durable
//!
//! An async client for Cloudflare Durable Objects behind a Worker that speaks
//! the CloudflareDurable protocol (`worker/PROTOCOL.md`): initialize an object
//! with state, call its methods, read and write its storage, and open a
//! WebSocket for live updates and calls, with retries, reconnection and
//! events. Every language binding of the project wraps this crate.
//!
//! ```no_run
//! # async fn demo() -> cloudflare_durable::Result<()> {
//! use cloudflare_durable::{Client, Config};
//! use serde_json::json;
//!
//! let client = Client::new(Config::builder().worker_url("http://127.0.0.1:8787").build()?)?;
//! client.initialize("counter", &json!({"value": 0})).await?;
//! let result = client.call_method("counter", "increment", &json!({"increment": 1})).await?;
//! assert_eq!(result["value"], 1);
//! let socket = client.websocket("counter").await?;
//! while let Some(message) = socket.next_message().await? {
//!     println!("{message}");
//! }
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

mod alarms;
mod backoff;
mod batch;
mod binding_runtime;
mod client;
mod config;
mod error;
mod events;
mod hex;
mod idempotency;
mod management;
mod namespaces;
mod object_ref;
mod panic_message;
mod protocol;
mod runtime_threads;
mod secret;
mod sql;
mod storage;
mod trace;
mod transport;
pub mod validate;
mod websocket;

pub use batch::{BatchCall, MAX_BATCH_CALLS};
pub use binding_runtime::{
    binding_runtime_builder, prepare_turning_thread, shared_binding_runtime, TurningThread,
};
pub use client::{CallOptions, Client};
pub use config::{
    Config, ConfigBuilder, DEFAULT_API_BASE_URL, ENV_ACCOUNT_ID, ENV_API_TOKEN, ENV_WORKER_URL,
    MAX_CONFIG_DURATION, MAX_CONFIG_SIZE,
};
pub use error::{Error, ErrorKind, InputField, Result};
pub use events::{Event, EventHook};
pub use idempotency::MAX_IDEMPOTENCY_KEY_BYTES;
pub use management::{NamespaceInfo, NamespacePage, ObjectInfo, ObjectPage};
pub use object_ref::{Address, ObjectRef};
pub use panic_message::panic_message;
pub use runtime_threads::{
    runtime_threads, DEFAULT_RUNTIME_THREADS, MAX_RUNTIME_THREADS, RUNTIME_THREADS_ENV,
};
pub use secret::ApiToken;
pub use sql::SqlResult;
pub use storage::{Condition, ListOptions, ListPage, Lister, TxOp, MAX_BATCH_KEYS};
pub use websocket::{ConnectionStatus, WebSocket};

/// Re-exported so bindings and users name the same JSON type.
pub use serde_json;

#[cfg(test)]
mod assertions {
    fn send_sync<T: Send + Sync>() {}

    #[test]
    fn public_types_are_send_and_sync() {
        send_sync::<super::Client>();
        send_sync::<super::WebSocket>();
        send_sync::<super::Error>();
        send_sync::<super::Config>();
    }
}

/// Entry points for the fuzz targets in `core/fuzz/`; not part of the API.
#[doc(hidden)]
pub mod fuzzing {
    /// Decodes a server frame; returns whether it was accepted.
    pub fn decode_frame(text: &str) -> bool {
        crate::protocol::decode_frame(text).is_ok()
    }

    /// Reads an error body; returns the kind and message.
    pub fn parse_error_body(body: &[u8]) -> (Option<String>, String) {
        crate::protocol::parse_error_body(body)
    }

    /// Maps a status and body to an error, as the transport does.
    pub fn error_from_status(status: u16, body: &[u8]) -> crate::Error {
        let (kind, message) = crate::protocol::parse_error_body(body);
        crate::Error::from_remote(status, kind.as_deref(), message, None)
    }
}
