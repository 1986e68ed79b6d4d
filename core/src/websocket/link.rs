//! The state a [`WebSocket`](super::WebSocket) handle shares with its
//! connection task: the socket's write half (or why there is none), the sends
//! queued while disconnected, and the calls waiting for a response.
//!
//! Callers write their frames themselves, under the link's lock, instead of
//! handing them to the connection task: a call costs one task wake-up (the
//! reader handing back the response), not three. Everything that must not
//! interleave (registering a call, sending it, resending the backlog after a
//! reconnect, closing) happens under that one lock, so a call is sent exactly
//! once per connection.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use futures_util::stream::SplitSink;
use futures_util::SinkExt;
use serde_json::Value;
use tokio::sync::{oneshot, watch};
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

use super::handshake::Socket;
use crate::error::{Error, Result};

/// The socket's write half.
pub(super) type Writer = SplitSink<Socket, Message>;

/// Writes one frame within `limit`. A peer that stops reading fills the
/// socket's buffers and would hold the write (and the link's lock) forever;
/// past `limit` the write counts as failed, like a broken connection.
pub(super) async fn write(
    writer: &mut Writer,
    message: Message,
    limit: Duration,
) -> std::result::Result<(), String> {
    match tokio::time::timeout(limit, writer.send(message)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!(
            "the peer took no data for {} ms",
            limit.as_millis()
        )),
    }
}

/// Where the link stands.
pub(super) enum LinkState {
    /// Connected: frames go out at once. `generation` counts connections.
    Up { writer: Writer, generation: u64 },
    /// Between connections: sends wait in the queue, calls in the table.
    Down,
    /// Closed for good, with the error every later operation gets.
    Closed(Error),
}

/// What sits behind the link's lock.
pub(super) struct Link {
    /// The write half, or why there is none.
    pub state: LinkState,
    /// Sends waiting for a connection, oldest first.
    pub outbox: VecDeque<Utf8Bytes>,
}

/// A call sent (or to send) and not yet answered.
pub(super) struct PendingCall {
    /// The frame, resent after a reconnect.
    pub text: Utf8Bytes,
    /// Where the response goes.
    pub reply: oneshot::Sender<Result<Value>>,
}

/// The state shared by the handle, its callers and the connection task.
pub(super) struct Shared {
    /// The write half and the send queue. Held across a write, never across
    /// a wait for the peer's reply.
    pub link: tokio::sync::Mutex<Link>,
    /// Calls not yet answered, by id. A plain lock, never held across an
    /// await: the reader takes responses out of it without the link's lock.
    pub pending: Mutex<HashMap<String, PendingCall>>,
    /// The generation of the last connection a write failed on; the
    /// connection task watches it to give that connection up at once.
    pub broken: watch::Sender<u64>,
    /// At most this many queued sends, and this many unanswered calls.
    pub capacity: usize,
    /// How long one write may wait for the peer to take data.
    pub write_timeout: Duration,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

impl Shared {
    /// A link that is not connected yet.
    pub fn new(capacity: usize, write_timeout: Duration) -> Self {
        Shared {
            link: tokio::sync::Mutex::new(Link {
                state: LinkState::Down,
                outbox: VecDeque::new(),
            }),
            pending: Mutex::new(HashMap::new()),
            broken: watch::channel(0).0,
            capacity,
            write_timeout,
        }
    }

    /// Sends one text frame now, or queues it while disconnected.
    pub async fn send(&self, text: Utf8Bytes) -> Result<()> {
        let mut link = self.link.lock().await;
        match &mut link.state {
            LinkState::Closed(error) => Err(error.clone()),
            LinkState::Down => link.enqueue(text, self.capacity),
            LinkState::Up { writer, generation } => {
                let generation = *generation;
                match write(writer, Message::Text(text.clone()), self.write_timeout).await {
                    Ok(()) => Ok(()),
                    Err(_) => {
                        // Not known to have left: keep it for the next connection.
                        self.lost(&mut link, generation);
                        link.enqueue(text, self.capacity)
                    }
                }
            }
        }
    }

    /// Registers a call under `id` and sends its frame if connected; the
    /// response (or the error that ends the socket) arrives on the receiver.
    pub async fn start_call(
        &self,
        id: String,
        text: Utf8Bytes,
    ) -> Result<oneshot::Receiver<Result<Value>>> {
        let mut link = self.link.lock().await;
        if let LinkState::Closed(error) = &link.state {
            return Err(error.clone());
        }
        let (reply, response) = oneshot::channel();
        {
            let mut pending = self.pending_calls();
            pending.retain(|_, call| !call.reply.is_closed());
            if pending.len() >= self.capacity {
                return Err(Error::QueueFull {
                    capacity: self.capacity,
                });
            }
            pending.insert(
                id,
                PendingCall {
                    text: text.clone(),
                    reply,
                },
            );
        }
        if let LinkState::Up { writer, generation } = &mut link.state {
            let generation = *generation;
            if write(writer, Message::Text(text), self.write_timeout)
                .await
                .is_err()
            {
                // The call stays registered: it is resent on the next connection.
                self.lost(&mut link, generation);
            }
        }
        Ok(response)
    }

    /// Forgets a call whose caller stopped waiting.
    pub fn forget_call(&self, id: &str) {
        self.pending_calls().remove(id);
    }

    /// Hands a response to the call waiting for it, if any.
    pub fn answer(&self, id: &str, outcome: Result<Value>) {
        let call = self.pending_calls().remove(id);
        if let Some(call) = call {
            let _ = call.reply.send(outcome);
        }
    }

    /// The frames to send first on a new connection: unanswered calls, then
    /// queued sends (which the caller drains once they are written).
    pub fn backlog(&self, link: &Link) -> Vec<Utf8Bytes> {
        let mut frames: Vec<Utf8Bytes> = self
            .pending_calls()
            .values()
            .map(|call| call.text.clone())
            .collect();
        frames.extend(link.outbox.iter().cloned());
        frames
    }

    /// Ends the link for good: later operations get `error`, waiting calls
    /// get it now, queued sends are dropped.
    pub fn close(&self, link: &mut Link, error: Error) {
        link.state = LinkState::Closed(error.clone());
        link.outbox.clear();
        let calls: Vec<PendingCall> = self.pending_calls().drain().map(|(_, c)| c).collect();
        for call in calls {
            let _ = call.reply.send(Err(error.clone()));
        }
    }

    /// A write failed on connection `generation`: stop using it and tell the
    /// connection task.
    fn lost(&self, link: &mut Link, generation: u64) {
        link.state = LinkState::Down;
        self.broken.send_replace(generation);
    }

    fn pending_calls(&self) -> std::sync::MutexGuard<'_, HashMap<String, PendingCall>> {
        // A panic while holding this lock cannot leave the table half-updated
        // (every change is one map operation), so a poisoned lock is usable.
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Link {
    /// Queues a send for the next connection, within `capacity`.
    fn enqueue(&mut self, text: Utf8Bytes, capacity: usize) -> Result<()> {
        if self.outbox.len() >= capacity {
            return Err(Error::QueueFull { capacity });
        }
        self.outbox.push_back(text);
        Ok(())
    }
}
