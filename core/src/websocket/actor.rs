//! The connection task behind a [`WebSocket`](super::WebSocket): it owns the
//! socket, reconnects with backoff, sends heartbeats, resumes after the last
//! sequence number seen, resends unanswered calls, and queues sends while
//! disconnected.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;

use super::handshake::{self, Socket};
use super::{Command, ConnectionStatus};
use crate::backoff::Backoff;
use crate::error::{Error, Result};
use crate::events::{Emitter, Event};
use crate::object_ref::ObjectRoute;
use crate::protocol::{self, ServerFrame};
use crate::transport::Transport;

/// How long a close handshake may take before the socket is dropped.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// How one connected period ended.
enum Ended {
    /// The user closed the socket, or dropped the handle.
    ByUser,
    /// The link broke; reconnect.
    Dropped(String),
    /// The server refused us in a way a retry cannot fix.
    Refused(Error),
}

/// A call waiting for its response.
struct PendingCall {
    text: String,
    reply: oneshot::Sender<Result<Value>>,
}

pub(super) struct Actor {
    transport: Arc<Transport>,
    object: String,
    route: ObjectRoute,
    commands: mpsc::Receiver<Command>,
    inbox: mpsc::Sender<Value>,
    status: watch::Sender<ConnectionStatus>,
    /// Turns true when the handle asks to close: it wakes the task even while
    /// it waits for a slow consumer to make room.
    closing: watch::Receiver<bool>,
    final_error: Arc<Mutex<Option<Error>>>,
    /// Sends waiting for a connection, oldest first.
    outbox: VecDeque<String>,
    /// Calls sent (or to send) and not yet answered, by id.
    pending: HashMap<String, PendingCall>,
    /// The last sequence number delivered, for resume and de-duplication.
    last_seq: Option<u64>,
    /// An acknowledgement to give once the task has ended.
    close_ack: Option<oneshot::Sender<()>>,
}

/// The task's ends of the channels it shares with the handle.
pub(super) struct TaskEnds {
    pub commands: mpsc::Receiver<Command>,
    pub inbox: mpsc::Sender<Value>,
    pub status: watch::Sender<ConnectionStatus>,
    pub closing: watch::Receiver<bool>,
    pub final_error: Arc<Mutex<Option<Error>>>,
}

impl Actor {
    pub(super) fn new(
        transport: Arc<Transport>,
        object: String,
        route: ObjectRoute,
        ends: TaskEnds,
    ) -> Self {
        Actor {
            transport,
            object,
            route,
            commands: ends.commands,
            inbox: ends.inbox,
            status: ends.status,
            closing: ends.closing,
            final_error: ends.final_error,
            outbox: VecDeque::new(),
            pending: HashMap::new(),
            last_seq: None,
            close_ack: None,
        }
    }

    fn emitter(&self) -> &Emitter {
        self.transport.emitter()
    }

    /// Runs until closed. `ready` learns the outcome of the first connection.
    pub(super) async fn run(mut self, ready: oneshot::Sender<Result<()>>) {
        let config = self.transport.config().clone();
        let mut backoff = Backoff::new(
            config.websocket_reconnect_delay,
            config.websocket_max_reconnect_delay,
        );
        let mut ready = Some(ready);
        let mut failures_before_first = 0u32;
        let mut reconnects = 0u64;
        let final_error = loop {
            let url = handshake::socket_url(&config, &self.route, self.last_seq);
            match handshake::open(&config, &url).await {
                Ok(socket) => {
                    backoff.reset();
                    let _ = self.status.send(ConnectionStatus::Connected);
                    if let Some(ready) = ready.take() {
                        let _ = ready.send(Ok(()));
                    }
                    self.emitter().emit(Event::WebSocketConnected {
                        object: self.object.clone(),
                        reconnects,
                    });
                    reconnects += 1;
                    match self.connected(socket, &config).await {
                        Ended::ByUser => {
                            self.disconnected("closed by the client".into(), false);
                            break None;
                        }
                        Ended::Dropped(reason) if !config.websocket_auto_reconnect => {
                            self.disconnected(reason.clone(), false);
                            break Some(Error::ConnectionClosed { code: None, reason });
                        }
                        Ended::Refused(error) => {
                            self.disconnected(error.to_string(), false);
                            break Some(error);
                        }
                        Ended::Dropped(reason) => self.disconnected(reason, true),
                    }
                }
                Err(failure) => {
                    if failure.permanent {
                        break Some(failure.error);
                    }
                    if ready.is_some() {
                        failures_before_first += 1;
                        if failures_before_first > config.retry_count {
                            break Some(failure.error);
                        }
                    }
                    tracing::debug!(object = self.object, error = %failure.error, "websocket connect failed");
                }
            }
            let delay = backoff.next_delay();
            if !self.wait_disconnected(delay).await {
                break None;
            }
        };
        self.finish(final_error, ready);
    }

    fn disconnected(&self, reason: String, will_reconnect: bool) {
        if will_reconnect {
            let _ = self.status.send(ConnectionStatus::Reconnecting);
        }
        self.emitter().emit(Event::WebSocketDisconnected {
            object: self.object.clone(),
            reason,
            will_reconnect,
        });
    }

    /// Ends the task: fails what waits, records the error, closes the stream.
    fn finish(mut self, error: Option<Error>, ready: Option<oneshot::Sender<Result<()>>>) {
        let closed = error.clone().unwrap_or_else(|| Error::ConnectionClosed {
            code: Some(1000),
            reason: "the socket was closed".into(),
        });
        if let Some(ready) = ready {
            let _ = ready.send(Err(closed.clone()));
        }
        if let Some(error) = &error {
            self.emitter().emit(Event::Error {
                object: self.object.clone(),
                operation: "websocket",
                kind: error.kind(),
                message: error.to_string(),
            });
        }
        if let Ok(mut slot) = self.final_error.lock() {
            *slot = error;
        }
        for (_, call) in self.pending.drain() {
            let _ = call.reply.send(Err(closed.clone()));
        }
        self.commands.close();
        while let Ok(command) = self.commands.try_recv() {
            match command {
                Command::Send { ack, .. } => drop(ack.send(Err(closed.clone()))),
                Command::Call { reply, .. } => drop(reply.send(Err(closed.clone()))),
                Command::Close { ack } => drop(ack.send(())),
            }
        }
        let _ = self.status.send(ConnectionStatus::Closed);
        if let Some(ack) = self.close_ack.take() {
            let _ = ack.send(());
        }
        // Dropping `self.inbox` here ends the message stream.
    }

    /// Serves commands while waiting to reconnect; false when asked to close.
    async fn wait_disconnected(&mut self, delay: Duration) -> bool {
        let deadline = tokio::time::sleep(delay);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                _ = &mut deadline => return true,
                _ = close_requested(&mut self.closing) => return false,
                command = self.commands.recv() => match command {
                    None => return false,
                    Some(Command::Close { ack }) => {
                        self.close_ack = Some(ack);
                        return false;
                    }
                    Some(Command::Send { text, ack }) => {
                        let _ = ack.send(self.enqueue(text));
                    }
                    Some(Command::Call { id, text, reply }) => self.register(id, text, reply),
                },
            }
        }
    }

    fn enqueue(&mut self, text: String) -> Result<()> {
        let capacity = self.transport.config().send_queue_capacity;
        if self.outbox.len() >= capacity {
            return Err(Error::QueueFull { capacity });
        }
        self.outbox.push_back(text);
        Ok(())
    }

    fn register(&mut self, id: String, text: String, reply: oneshot::Sender<Result<Value>>) {
        self.pending.retain(|_, call| !call.reply.is_closed());
        let capacity = self.transport.config().send_queue_capacity;
        if self.pending.len() >= capacity {
            let _ = reply.send(Err(Error::QueueFull { capacity }));
            return;
        }
        self.pending.insert(id, PendingCall { text, reply });
    }

    /// Serves one connected period until it ends.
    async fn connected(&mut self, mut socket: Socket, config: &crate::Config) -> Ended {
        // What waited for this connection goes first: calls, then queued sends.
        let mut backlog: Vec<String> = self.pending.values().map(|c| c.text.clone()).collect();
        backlog.extend(self.outbox.iter().cloned());
        let queued = self.outbox.len();
        for text in backlog {
            if let Err(e) = socket.send(Message::text(text)).await {
                return Ended::Dropped(format!("send failed: {e}"));
            }
        }
        self.outbox.drain(..queued);

        let mut heartbeat = tokio::time::interval(config.heartbeat_interval);
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        heartbeat.tick().await;
        let dead_after = config.heartbeat_interval + config.heartbeat_timeout;
        let mut last_heard = Instant::now();
        loop {
            tokio::select! {
                frame = socket.next() => {
                    last_heard = Instant::now();
                    match frame {
                        Some(Ok(Message::Text(text))) => {
                            if text.as_str() != "pong" {
                                self.on_text(text.as_str()).await;
                                // Time spent waiting on a slow consumer is not silence.
                                last_heard = Instant::now();
                            }
                        }
                        Some(Ok(Message::Binary(_))) => self.bad_frame("binary frame (the protocol is text only)".into()),
                        Some(Ok(Message::Close(frame))) => return close_outcome(frame),
                        Some(Ok(_)) => {}
                        Some(Err(e)) => return Ended::Dropped(format!("read failed: {e}")),
                        None => return Ended::Dropped("the server ended the stream".into()),
                    }
                }
                command = self.commands.recv() => match command {
                    None => {
                        close_gracefully(&mut socket).await;
                        return Ended::ByUser;
                    }
                    Some(Command::Close { ack }) => {
                        self.close_ack = Some(ack);
                        close_gracefully(&mut socket).await;
                        return Ended::ByUser;
                    }
                    Some(Command::Send { text, ack }) => {
                        if let Err(e) = socket.send(Message::text(text.clone())).await {
                            // Not known to have left: keep it for the next connection.
                            let _ = ack.send(self.enqueue(text));
                            return Ended::Dropped(format!("send failed: {e}"));
                        }
                        let _ = ack.send(Ok(()));
                    }
                    Some(Command::Call { id, text, reply }) => {
                        self.register(id, text.clone(), reply);
                        if let Err(e) = socket.send(Message::text(text)).await {
                            return Ended::Dropped(format!("send failed: {e}"));
                        }
                    }
                },
                _ = close_requested(&mut self.closing) => {
                    close_gracefully(&mut socket).await;
                    return Ended::ByUser;
                }
                _ = heartbeat.tick() => {
                    if last_heard.elapsed() > dead_after {
                        return Ended::Dropped(format!(
                            "no heartbeat answer within {} ms",
                            dead_after.as_millis()
                        ));
                    }
                    if let Err(e) = socket.send(Message::text("ping")).await {
                        return Ended::Dropped(format!("heartbeat failed: {e}"));
                    }
                }
            }
        }
    }

    /// Routes one text frame: a response to its call, anything else to the
    /// stream (dropping replayed duplicates).
    async fn on_text(&mut self, text: &str) {
        match protocol::decode_frame(text) {
            Ok(ServerFrame::Response { id, outcome }) => {
                if let Some(call) = self.pending.remove(&id) {
                    let _ = call.reply.send(outcome);
                }
            }
            Ok(ServerFrame::Message { kind, seq, value }) => {
                if let Some(seq) = seq {
                    let snapshot = kind == "init" || kind == "resync";
                    if !snapshot && self.last_seq.is_some_and(|last| seq <= last) {
                        return;
                    }
                    self.last_seq = Some(seq);
                }
                tokio::select! {
                    _ = self.inbox.send(value) => {}
                    // Closing while the consumer lags: the message is dropped
                    // with everything else still unread.
                    _ = close_requested(&mut self.closing) => {}
                }
            }
            Err(error) => self.bad_frame(error.to_string()),
        }
    }

    fn bad_frame(&self, message: String) {
        self.emitter().emit(Event::Error {
            object: self.object.clone(),
            operation: "websocket",
            kind: crate::ErrorKind::InvalidResponse,
            message,
        });
    }
}

/// Resolves once the handle asked to close (or is gone).
async fn close_requested(closing: &mut watch::Receiver<bool>) {
    let _ = closing.wait_for(|closing| *closing).await;
}

/// Sends a 1000 close and waits briefly for the peer's reply.
async fn close_gracefully(socket: &mut Socket) {
    let frame = CloseFrame {
        code: CloseCode::Normal,
        reason: "client closed".into(),
    };
    let close = async {
        socket.close(Some(frame)).await?;
        while socket.next().await.is_some() {}
        Ok::<(), tokio_tungstenite::tungstenite::Error>(())
    };
    let _ = tokio::time::timeout(CLOSE_GRACE, close).await;
}

/// Whether a close from the server ends the socket for good: 1008 (policy,
/// as for auth) and 4000-4999 (the application's refusals) do.
fn close_outcome(frame: Option<CloseFrame>) -> Ended {
    let Some(frame) = frame else {
        return Ended::Dropped("the server closed without a code".into());
    };
    let code = u16::from(frame.code);
    let reason = frame.reason.to_string();
    if code == 1008 || (4000..=4999).contains(&code) {
        return Ended::Refused(Error::ConnectionClosed {
            code: Some(code),
            reason: if reason.is_empty() {
                "refused by the server".into()
            } else {
                reason
            },
        });
    }
    Ended::Dropped(format!("the server closed the socket ({code} {reason})"))
}
