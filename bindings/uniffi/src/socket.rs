//! The FFI face of the core's WebSocket.

use std::sync::Arc;
use std::time::Duration;

use cloudflare_durable as cfd;

use crate::{call_options, parse_json, run, runtime, to_json, FfiSocketCall, Result};

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

/// The core socket, shared by the host object and its client's registry (so
/// the client's close can close it).
pub(crate) struct SocketShared {
    pub(crate) socket: cfd::WebSocket,
}

impl SocketShared {
    /// Starts closing the core socket and returns at once; the wait and the
    /// discarding of unread messages then run on the runtime.
    pub(crate) fn start_close(self: &Arc<Self>) {
        self.socket.start_close();
        let this = self.clone();
        runtime().spawn(async move { this.close().await });
    }

    /// Closes the core socket, waits for its task to end, then discards the
    /// messages not yet taken (the hosts' documented contract: after a
    /// close, the message stream is empty). The core's close no longer waits
    /// behind a full buffer, so the discarding no longer runs alongside it.
    pub(crate) async fn close(&self) {
        self.socket.close().await;
        while let Ok(batch) = self.socket.next_batch(1024).await {
            if batch.is_empty() {
                break;
            }
        }
    }
}

/// The FFI face of `cloudflare_durable::WebSocket`. Hosts wrap it (Kotlin
/// `DurableWebSocket` with a `Flow`, Swift `DurableWebSocket` with an
/// `AsyncSequence`).
#[derive(uniffi::Object)]
pub struct FfiWebSocket {
    pub(crate) shared: Arc<SocketShared>,
}

#[uniffi::export]
impl FfiWebSocket {
    /// The object this socket talks to (its label).
    pub fn object(&self) -> String {
        self.shared.socket.object().to_owned()
    }

    /// The current status.
    pub fn status(&self) -> ConnectionStatus {
        self.shared.socket.status().into()
    }

    /// Waits until the status is `target`, at most `timeout_ms`; true when
    /// reached. It never fails: the `Result` lets Swift cancel it with its task
    /// (see `FfiClient::next_events`).
    pub async fn wait_for_status(&self, target: ConnectionStatus, timeout_ms: u64) -> Result<bool> {
        let shared = self.shared.clone();
        run(async move {
            Ok(shared
                .socket
                .wait_for_status(Duration::from_millis(timeout_ms), |s| {
                    ConnectionStatus::from(s) == target
                })
                .await
                .is_some())
        })
        .await
    }

    /// Sends a JSON message (JSON text); returns once written or queued.
    pub async fn send(&self, message_json: String) -> Result<()> {
        let message = parse_json("value", &message_json)?;
        let shared = self.shared.clone();
        run(async move { Ok(shared.socket.send(&message).await?) }).await
    }

    /// Makes `call` over the socket; returns its result as JSON text.
    pub async fn call(&self, call: FfiSocketCall) -> Result<String> {
        let params = parse_json("params", &call.params_json)?;
        let options = call_options(call.idempotency_key, call.timeout_ms);
        let method = call.method;
        let shared = self.shared.clone();
        run(async move {
            let result = shared.socket.call_with(&method, &params, options).await?;
            Ok(to_json(&result))
        })
        .await
    }

    /// The next message as JSON text, `None` once closed, or the error that
    /// ended the socket (once). One consumer at a time.
    pub async fn next_message(&self) -> Result<Option<String>> {
        // Polled in place (a channel read needs no runtime), so a cancelled
        // pull cannot lose a message that a finished task was holding.
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
        // In place, like next_message.
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
    /// The close runs on the runtime, so a host that stops waiting (a
    /// cancelled task or coroutine) only ends the wait; the hosts call
    /// `shutdown` first, so even a wait cancelled before it starts closes.
    /// It never fails: the `Result` lets Swift cancel the wait.
    pub async fn close_and_wait(&self) -> Result<()> {
        let shared = self.shared.clone();
        run(async move {
            shared.close().await;
            Ok(())
        })
        .await
    }
}
