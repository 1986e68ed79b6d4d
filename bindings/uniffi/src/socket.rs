//! The FFI face of the core's WebSocket.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use cloudflare_durable as cfd;
use tokio::sync::watch;

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
/// the client's close can close it), with its one close.
pub(crate) struct SocketShared {
    pub(crate) socket: cfd::WebSocket,
    /// Taken by the first `start_close`; its task says through it that the
    /// close is done.
    closing: Mutex<Option<watch::Sender<bool>>>,
    /// True once the close is done (see `start_close`).
    closed: watch::Receiver<bool>,
}

impl SocketShared {
    /// Shares `socket`, not yet closing.
    pub(crate) fn new(socket: cfd::WebSocket) -> Self {
        let (done, closed) = watch::channel(false);
        Self {
            socket,
            closing: Mutex::new(Some(done)),
            closed,
        }
    }

    /// Starts closing the core socket and returns at once. The first call
    /// spawns the one task that waits for the connection task to end, then
    /// discards the messages not yet taken (the hosts' documented contract:
    /// after a close, the message stream is empty); later calls do nothing.
    pub(crate) fn start_close(self: &Arc<Self>) {
        let Some(done) = self
            .closing
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        else {
            return;
        };
        self.socket.start_close();
        let this = self.clone();
        runtime().spawn(async move {
            this.socket.close().await;
            while let Ok(batch) = this.socket.next_batch(1024).await {
                if batch.is_empty() {
                    break;
                }
            }
            done.send_replace(true);
        });
    }

    /// Waits until the close `start_close` began is done (at once if it is).
    /// Cancel-safe; ends too if the closing task ended without saying so.
    pub(crate) async fn closed(&self) {
        let mut closed = self.closed.clone();
        // An error means the sender is gone: the task ended (it panicked).
        let _ = closed.wait_for(|done| *done).await;
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
    /// It waits for the close `shutdown` started (starting it if need be),
    /// which runs on the runtime: a host that stops waiting (a cancelled
    /// task or coroutine) only ends the wait, and the hosts call `shutdown`
    /// first, so even a wait cancelled before it starts closes. It never
    /// fails: the `Result` lets Swift cancel the wait.
    pub async fn close_and_wait(&self) -> Result<()> {
        self.shared.start_close();
        self.shared.closed().await;
        Ok(())
    }
}
