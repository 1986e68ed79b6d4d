//! The connection task behind a [`WebSocket`](super::WebSocket): it owns the
//! socket's read half, reconnects with backoff, sends heartbeats, resumes
//! after the last sequence number seen, and resends unanswered calls and
//! queued sends on each new connection. Callers write their own frames
//! through the shared [`link`](super::link).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::stream::SplitStream;
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;

use super::handshake::{self, Socket};
use super::link::{self, LinkState, Shared};
use super::ConnectionStatus;
use crate::backoff::Backoff;
use crate::error::{Error, Result};
use crate::events::{Emitter, Event};
use crate::object_ref::ObjectRoute;
use crate::protocol::{self, ServerFrame};
use crate::transport::Transport;

/// How long a close handshake may take before the socket is dropped.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// The socket's read half.
type Reader = SplitStream<Socket>;

/// How one connected period ended.
enum Ended {
    /// The user closed the socket, or dropped the handle.
    ByUser,
    /// The link broke; reconnect.
    Dropped(String),
    /// The server refused us in a way a retry cannot fix.
    Refused(Error),
}

pub(super) struct Actor {
    transport: Arc<Transport>,
    object: String,
    route: ObjectRoute,
    shared: Arc<Shared>,
    inbox: mpsc::Sender<Value>,
    status: watch::Sender<ConnectionStatus>,
    /// Turns true when the handle asks to close (or is dropped): it wakes the
    /// task even while it waits for a slow consumer to make room.
    closing: watch::Receiver<bool>,
    final_error: Arc<Mutex<Option<Error>>>,
    /// The last sequence number delivered, for resume and de-duplication.
    last_seq: Option<u64>,
    /// Connections made so far; names each one in the shared link.
    generation: u64,
}

/// The task's ends of what it shares with the handle.
pub(super) struct TaskEnds {
    pub shared: Arc<Shared>,
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
            shared: ends.shared,
            inbox: ends.inbox,
            status: ends.status,
            closing: ends.closing,
            final_error: ends.final_error,
            last_seq: None,
            generation: 0,
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
        let final_error = loop {
            let url = handshake::socket_url(&config, &self.route, self.last_seq);
            let opened = tokio::select! {
                // Boxed: the handshake's large state lives only while it runs,
                // not in every idle socket's task.
                opened = Box::pin(handshake::open(&config, &url)) => opened,
                _ = close_requested(&mut self.closing) => break None,
            };
            match opened {
                Ok(socket) => {
                    backoff.reset();
                    match self.connected(socket, &config, &mut ready).await {
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
            let waited = tokio::select! {
                _ = tokio::time::sleep(delay) => true,
                _ = close_requested(&mut self.closing) => false,
            };
            if !waited {
                break None;
            }
        };
        self.finish(final_error, ready).await;
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
    async fn finish(self, error: Option<Error>, ready: Option<oneshot::Sender<Result<()>>>) {
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
        {
            let mut link = self.shared.link.lock().await;
            self.shared.close(&mut link, closed);
        }
        let _ = self.status.send(ConnectionStatus::Closed);
        // Dropping `self.inbox` here ends the message stream.
    }

    /// Serves one connected period until it ends, and takes the write half
    /// back from the link when it does.
    async fn connected(
        &mut self,
        socket: Socket,
        config: &crate::Config,
        ready: &mut Option<oneshot::Sender<Result<()>>>,
    ) -> Ended {
        self.generation += 1;
        let generation = self.generation;
        let (mut writer, reader) = socket.split();
        {
            // What waited for this connection goes first: calls, then queued
            // sends. Under the lock, so no caller sends in between.
            let mut link = self.shared.link.lock().await;
            if let LinkState::Closed(_) = link.state {
                return Ended::ByUser;
            }
            let backlog = self.shared.backlog(&link);
            let queued = link.outbox.len();
            for text in backlog {
                let sent = link::write(&mut writer, Message::Text(text), self.shared.write_timeout);
                if let Err(e) = sent.await {
                    return Ended::Dropped(format!("send failed: {e}"));
                }
            }
            link.outbox.drain(..queued);
            link.state = LinkState::Up { writer, generation };
        }
        let _ = self.status.send(ConnectionStatus::Connected);
        if let Some(ready) = ready.take() {
            let _ = ready.send(Ok(()));
        }
        self.emitter().emit(Event::WebSocketConnected {
            object: self.object.clone(),
            reconnects: generation - 1,
        });
        let ended = self.serve(reader, config, generation).await;
        if !matches!(ended, Ended::ByUser) {
            let mut link = self.shared.link.lock().await;
            if matches!(link.state, LinkState::Up { generation: g, .. } if g == generation) {
                link.state = LinkState::Down;
            }
        }
        ended
    }

    /// Reads frames, answers calls, sends heartbeats, until the connection
    /// ends.
    async fn serve(
        &mut self,
        mut reader: Reader,
        config: &crate::Config,
        generation: u64,
    ) -> Ended {
        let mut broken = self.shared.broken.subscribe();
        let mut heartbeat = tokio::time::interval(config.heartbeat_interval);
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        heartbeat.tick().await;
        let dead_after = config.heartbeat_interval + config.heartbeat_timeout;
        let mut last_heard = Instant::now();
        loop {
            tokio::select! {
                frame = reader.next() => {
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
                _ = link_broken(&mut broken, generation) => {
                    return Ended::Dropped("send failed".into());
                }
                _ = close_requested(&mut self.closing) => {
                    self.close_gracefully(reader).await;
                    return Ended::ByUser;
                }
                _ = heartbeat.tick() => {
                    if last_heard.elapsed() > dead_after {
                        return Ended::Dropped(format!(
                            "no heartbeat answer within {} ms",
                            dead_after.as_millis()
                        ));
                    }
                    // A caller mid-write holds the link: skip this ping rather
                    // than stop reading (the peer may be waiting for us to read).
                    if let Ok(mut link) = self.shared.link.try_lock() {
                        if let LinkState::Up { writer, .. } = &mut link.state {
                            let ping = link::write(writer, Message::text("ping"), config.heartbeat_timeout);
                            if let Err(e) = ping.await {
                                return Ended::Dropped(format!("heartbeat failed: {e}"));
                            }
                        }
                    }
                }
            }
        }
    }

    /// Takes the write half out of the link (so no caller writes again),
    /// sends a 1000 close and waits briefly for the peer's reply.
    async fn close_gracefully(&self, mut reader: Reader) {
        let closed = Error::ConnectionClosed {
            code: Some(1000),
            reason: "the socket was closed".into(),
        };
        let state = {
            let mut link = self.shared.link.lock().await;
            std::mem::replace(&mut link.state, LinkState::Closed(closed))
        };
        let LinkState::Up { mut writer, .. } = state else {
            return;
        };
        let frame = CloseFrame {
            code: CloseCode::Normal,
            reason: "client closed".into(),
        };
        let close = async {
            writer.send(Message::Close(Some(frame))).await?;
            while reader.next().await.is_some() {}
            Ok::<(), tokio_tungstenite::tungstenite::Error>(())
        };
        let _ = tokio::time::timeout(CLOSE_GRACE, close).await;
    }

    /// Routes one text frame: a response to its call, anything else to the
    /// stream (dropping replayed duplicates).
    async fn on_text(&mut self, text: &str) {
        match protocol::decode_frame(text) {
            Ok(ServerFrame::Response { id, outcome }) => self.shared.answer(&id, outcome),
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

/// Resolves once a caller's write failed on connection `generation`.
async fn link_broken(broken: &mut watch::Receiver<u64>, generation: u64) {
    let _ = broken.wait_for(|g| *g == generation).await;
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
