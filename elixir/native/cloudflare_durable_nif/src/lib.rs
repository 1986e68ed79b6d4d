//! Rustler NIF exposing the `cloudflare-durable` core to Elixir as
//! `CloudflareDurable.Native`.
//!
//! No NIF here waits on the network: each call checks and converts its
//! arguments, spawns the work on a process-wide tokio runtime and returns a
//! reference at once; the result reaches the calling process as the message
//! `{ref, result}`, sent from a tokio thread. WebSocket messages are pushed to
//! the owning process by a tokio task, one batch per credit the process
//! grants (`ws_ack`), so its mailbox holds at most one batch.

mod convert;
mod errors;
mod pending_call;
mod scheduler_budget;
mod surface;

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use cloudflare_durable::serde_json::{Map, Value};
use cloudflare_durable::{
    runtime_threads, shared_binding_runtime, CallOptions, Client, Config, ConnectionStatus, Error,
    Event, EventHook, InputField, ObjectRef, WebSocket,
};
use futures_util::FutureExt;
use rustler::{Atom, Encoder, Env, LocalPid, NifResult, OwnedEnv, ResourceArc, Term};
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinHandle;

use errors::Failure;
use pending_call::PendingCall;

mod atoms {
    rustler::atoms! {
        ok,
        messages,
        closed,
        cloudflare_durable_ws,
        cloudflare_durable_event,
        websocket_connected,
        websocket_disconnected,
        connecting,
        connected,
        disconnected,
    }
}

/// Most messages handed to Elixir in one batch.
const BATCH: usize = 256;

/// The process-wide runtime, created on first use, with
/// `CLOUDFLARE_DURABLE_RUNTIME_THREADS` threads (by default one thread
/// turning a current-thread runtime; `new_client` reports a bad value).
fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<&'static tokio::runtime::Runtime> = OnceLock::new();
    shared_binding_runtime(&RUNTIME, "cloudflare-durable-nif")
}

/// A core client, shared by every Elixir call with the same configuration.
pub struct ClientRes {
    client: Client,
}

#[rustler::resource_impl]
impl rustler::Resource for ClientRes {}

/// Core WebSockets not yet dropped (diagnostics: proves nothing leaks).
static LIVE_SOCKETS: AtomicU64 = AtomicU64::new(0);

/// A core WebSocket, counted in [`LIVE_SOCKETS`] until dropped (which
/// closes it).
pub struct Tracked(WebSocket);

impl Tracked {
    fn new(socket: WebSocket) -> Self {
        LIVE_SOCKETS.fetch_add(1, Ordering::SeqCst);
        Tracked(socket)
    }
}

impl std::ops::Deref for Tracked {
    type Target = WebSocket;
    fn deref(&self) -> &WebSocket {
        &self.0
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        LIVE_SOCKETS.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A live WebSocket. Dropping the last Elixir reference closes it.
pub struct SocketRes {
    id: u64,
    socket: Arc<Tracked>,
    credits: Arc<Semaphore>,
    reader: Mutex<Option<JoinHandle<()>>>,
}

#[rustler::resource_impl]
impl rustler::Resource for SocketRes {}

impl Drop for SocketRes {
    fn drop(&mut self) {
        if let Ok(mut reader) = self.reader.lock() {
            if let Some(task) = reader.take() {
                task.abort();
            }
        }
        let socket = self.socket.clone();
        runtime().spawn(async move { socket.close().await });
    }
}

/// What a successful operation hands back.
pub(crate) enum Reply {
    Ok,
    Value(Value),
    Object(Map<String, Value>),
    Socket(ResourceArc<SocketRes>),
    /// One `{:ok, v} | {:error, detail}` per call of a batch.
    Batch(Vec<Result<Value, Failure>>),
}

fn encode_outcome<'a>(env: Env<'a>, outcome: Result<Reply, Failure>) -> Term<'a> {
    match outcome {
        Ok(Reply::Ok) => atoms::ok().encode(env),
        Ok(Reply::Value(value)) => (atoms::ok(), convert::json_to_term(env, &value)).encode(env),
        Ok(Reply::Object(object)) => {
            (atoms::ok(), convert::object_to_term(env, &object)).encode(env)
        }
        Ok(Reply::Socket(socket)) => {
            let id = socket.id;
            (atoms::ok(), socket, id).encode(env)
        }
        Ok(Reply::Batch(results)) => {
            let items: Vec<Term> = results
                .iter()
                .map(|r| match r {
                    Ok(value) => (atoms::ok(), convert::json_to_term(env, value)).encode(env),
                    Err(failure) => failure.error_tuple(env),
                })
                .collect();
            (atoms::ok(), items).encode(env)
        }
        Err(failure) => failure.error_tuple(env),
    }
}

/// Spawns `work` and returns the tag its `{tag, result}` reply will carry: a
/// reference that aborts `work` if the calling process exits first
/// ([`pending_call`]).
pub(crate) fn spawn_reply<'a, F>(env: Env<'a>, deadline: Option<Duration>, work: F) -> Term<'a>
where
    F: Future<Output = Result<Reply, Failure>> + Send + 'static,
{
    let pending = PendingCall::watching(env, &env.pid());
    let tag = pending.encode(env);
    let task = spawn_tagged(env, tag, deadline, work);
    pending.attach(task.abort_handle());
    tag
}

/// Like [`spawn_reply`], but `work` runs to its end even if the caller
/// exits: for a close, which a process often starts as it stops.
fn spawn_reply_to_the_end<'a, F>(env: Env<'a>, work: F) -> Term<'a>
where
    F: Future<Output = Result<Reply, Failure>> + Send + 'static,
{
    let tag = env.make_ref().encode(env);
    spawn_tagged(env, tag, None, work);
    tag
}

/// Spawns `work` under `deadline`; its outcome goes to the calling process
/// as `{tag, result}`.
fn spawn_tagged<'a, F>(
    env: Env<'a>,
    tag: Term<'a>,
    deadline: Option<Duration>,
    work: F,
) -> JoinHandle<()>
where
    F: Future<Output = Result<Reply, Failure>> + Send + 'static,
{
    let pid = env.pid();
    let mut owned = OwnedEnv::new();
    let saved = owned.save(tag);
    runtime().spawn(async move {
        let work = async move {
            match deadline {
                Some(limit) => tokio::time::timeout(limit, work).await.unwrap_or_else(|_| {
                    Err(Failure::from(Error::Timeout(format!(
                        "no result within {} ms",
                        limit.as_millis()
                    ))))
                }),
                None => work.await,
            }
        };
        // A panic becomes an error reply instead of a caller left waiting.
        let outcome = match AssertUnwindSafe(work).catch_unwind().await {
            Ok(outcome) => outcome,
            Err(panic) => Err(Failure::internal(format!(
                "the operation failed: {}",
                cloudflare_durable::panic_message(panic.as_ref())
            ))),
        };
        let _ = owned.send_and_clear(&pid, |env| (saved.load(env), encode_outcome(env, outcome)));
    })
}

/// The tail of every client NIF: checks `timeout` (after the other
/// arguments), then runs `work` with the core client under that deadline and
/// replies `{ref, result}` (see `spawn_reply`).
pub(crate) fn spawn_op<'a, F, Fut>(
    env: Env<'a>,
    client: &ClientRes,
    timeout: Term<'a>,
    work: F,
) -> Result<Term<'a>, Failure>
where
    F: FnOnce(Client) -> Fut,
    Fut: Future<Output = Result<Reply, Failure>> + Send + 'static,
{
    let limit = deadline(timeout)?;
    Ok(spawn_reply(env, limit, work(client.client.clone())))
}

pub(crate) fn text(term: Term, field: InputField, what: &str) -> Result<String, Failure> {
    let binary: rustler::Binary = term
        .decode()
        .map_err(|_| Failure::invalid(field, format!("{what} must be a string")))?;
    std::str::from_utf8(binary.as_slice())
        .map(str::to_owned)
        .map_err(|_| Failure::invalid(field, format!("{what} is not valid UTF-8")))
}

/// Decodes an object: a binary (a name in the default namespace) or
/// `{namespace | nil, {:name, name} | {:id, hex}, jurisdiction | nil,
/// location_hint | nil}` (built by `CloudflareDurable.ObjectRef`).
pub(crate) fn object_ref(term: Term) -> Result<ObjectRef, Failure> {
    if term.is_binary() {
        return Ok(ObjectRef::name(text(
            term,
            InputField::ObjectName,
            "object id",
        )?));
    }
    let bad = || {
        Failure::invalid(
            InputField::ObjectName,
            "object id must be a string, {namespace, name} or %CloudflareDurable.ObjectRef{}",
        )
    };
    let parts = rustler::types::tuple::get_tuple(term).map_err(|_| bad())?;
    let [ns, address, jurisdiction, hint] = parts.as_slice() else {
        return Err(bad());
    };
    let address = rustler::types::tuple::get_tuple(*address).map_err(|_| bad())?;
    let [tag, value] = address.as_slice() else {
        return Err(bad());
    };
    let tag = tag.atom_to_string().map_err(|_| bad())?;
    let value = text(*value, InputField::ObjectName, "object id")?;
    let mut object = match tag.as_str() {
        "name" => ObjectRef::name(value),
        "id" => ObjectRef::id(value),
        _ => return Err(bad()),
    };
    if let Some(ns) = optional_text(*ns, InputField::ObjectName, "namespace")? {
        object = object.in_namespace(ns);
    }
    if let Some(j) = optional_text(*jurisdiction, InputField::ObjectName, "jurisdiction")? {
        object = object.jurisdiction(j);
    }
    if let Some(h) = optional_text(*hint, InputField::ObjectName, "location_hint")? {
        object = object.location_hint(h);
    }
    Ok(object)
}

/// `nil` (or any atom) is `None`, a binary is its text.
pub(crate) fn optional_text(
    term: Term,
    field: InputField,
    what: &str,
) -> Result<Option<String>, Failure> {
    if term.is_atom() {
        Ok(None)
    } else {
        text(term, field, what).map(Some)
    }
}

pub(crate) fn json(term: Term, field: InputField, root: &str) -> Result<Value, Failure> {
    convert::term_to_json(term, root).map_err(|e| match e {
        convert::NotJson::Invalid(message) => Failure::invalid(field, message),
        convert::NotJson::OverBudget => Failure::over_budget(),
    })
}

pub(crate) fn deadline(term: Term) -> Result<Option<Duration>, Failure> {
    if term.is_atom() {
        return Ok(None);
    }
    term.decode::<u64>()
        .map(|ms| Some(Duration::from_millis(ms.max(1))))
        .map_err(|_| {
            Failure::invalid(
                InputField::Config,
                "timeout must be a non-negative integer (ms)",
            )
        })
}

/// Runs a NIF body that may fail before spawning anything: the failure is
/// returned as `{:error, detail}` at once.
pub(crate) fn checked<'a>(
    env: Env<'a>,
    body: impl FnOnce() -> Result<Term<'a>, Failure>,
) -> Term<'a> {
    body().unwrap_or_else(|failure| failure.error_tuple(env))
}

/// Like [`checked`], for a NIF that converts a payload: on a normal
/// scheduler the conversion has a budget, and a payload too large for it
/// sends the NIF `name`, with the same `args` (every argument but the
/// environment), to a dirty CPU scheduler before anything is spawned.
pub(crate) fn checked_payload<'a>(
    env: Env<'a>,
    name: &'static str,
    args: &[Term<'a>],
    body: impl FnOnce() -> Result<Term<'a>, Failure>,
) -> scheduler_budget::Outcome<'a> {
    scheduler_budget::start();
    match body() {
        Ok(term) => scheduler_budget::Outcome::Done(term),
        Err(failure) if failure.is_over_budget() => scheduler_budget::Outcome::Dirty {
            name,
            args: args.to_vec(),
            fallback: Failure::internal("this NIF could not move to a dirty scheduler")
                .error_tuple(env),
        },
        Err(failure) => scheduler_budget::Outcome::Done(failure.error_tuple(env)),
    }
}

// ---------------------------------------------------------------- clients

/// Forwards the core's WebSocket events to one process, from a tokio task.
struct PidHook {
    events: mpsc::UnboundedSender<Event>,
}

impl EventHook for PidHook {
    fn on_event(&self, event: &Event) {
        let wanted = match event {
            Event::WebSocketConnected { .. } | Event::WebSocketDisconnected { .. } => true,
            Event::Error { operation, .. } => *operation == "websocket",
            _ => false,
        };
        if wanted {
            let _ = self.events.send(event.clone());
        }
    }
}

fn event_term<'a>(env: Env<'a>, event: &Event) -> Option<Term<'a>> {
    let payload = match event {
        Event::WebSocketConnected { object, reconnects } => {
            (atoms::websocket_connected(), object.as_str(), *reconnects).encode(env)
        }
        Event::WebSocketDisconnected {
            object,
            reason,
            will_reconnect,
        } => (
            atoms::websocket_disconnected(),
            object.as_str(),
            reason.as_str(),
            *will_reconnect,
        )
            .encode(env),
        Event::Error {
            object,
            operation,
            kind,
            message,
        } => {
            let reason = Failure::from_kind(*kind, message).to_term(env);
            (
                rustler::types::atom::error(),
                object.as_str(),
                *operation,
                reason,
            )
                .encode(env)
        }
        _ => return None,
    };
    Some((atoms::cloudflare_durable_event(), payload).encode(env))
}

fn opt<'a, T: rustler::Decoder<'a>>(
    map: Term<'a>,
    key: &str,
    expected: &str,
) -> Result<Option<T>, Failure> {
    let env = map.get_env();
    let atom = Atom::from_str(env, key)
        .map_err(|_| Failure::invalid(InputField::Config, format!("bad option name {key}")))?;
    match map.map_get(atom) {
        Err(_) => Ok(None),
        Ok(value) if value == rustler::types::atom::nil().to_term(env) => Ok(None),
        Ok(value) => value
            .decode::<T>()
            .map(Some)
            .map_err(|_| Failure::invalid(InputField::Config, format!("{key} must be {expected}"))),
    }
}

fn build_config(options: Term) -> Result<Config, Failure> {
    if !options.is_map() {
        return Err(Failure::invalid(
            InputField::Config,
            "options must be a map",
        ));
    }
    let mut builder = Config::builder();
    if let Some(url) = opt::<String>(options, "worker_url", "a string")? {
        builder = builder.worker_url(url);
    }
    if let Some(id) = opt::<String>(options, "account_id", "a string")? {
        builder = builder.account_id(id);
    }
    if let Some(token) = opt::<String>(options, "api_token", "a string")? {
        builder = builder.api_token(token);
    }
    let ms = "a non-negative integer (milliseconds)";
    let count = "a positive integer";
    if let Some(v) = opt::<u64>(options, "timeout", ms)? {
        builder = builder.timeout(Duration::from_millis(v));
    }
    if let Some(v) = opt::<u32>(options, "retry_count", "a non-negative integer")? {
        builder = builder.retry_count(v);
    }
    if let Some(v) = opt::<u64>(options, "retry_delay", ms)? {
        builder = builder.retry_delay(Duration::from_millis(v));
    }
    if let Some(v) = opt::<u64>(options, "websocket_reconnect_delay", ms)? {
        builder = builder.websocket_reconnect_delay(Duration::from_millis(v));
    }
    if let Some(v) = opt::<u64>(options, "websocket_max_reconnect_delay", ms)? {
        builder = builder.websocket_max_reconnect_delay(Duration::from_millis(v));
    }
    if let Some(v) = opt::<u64>(options, "heartbeat_interval", ms)? {
        builder = builder.heartbeat_interval(Duration::from_millis(v));
    }
    if let Some(v) = opt::<u64>(options, "heartbeat_timeout", ms)? {
        builder = builder.heartbeat_timeout(Duration::from_millis(v));
    }
    if let Some(v) = opt::<usize>(options, "pool_size", count)? {
        builder = builder.pool_size(v);
    }
    if let Some(v) = opt::<usize>(options, "max_concurrent_requests", count)? {
        builder = builder.max_concurrent_requests(v);
    }
    if let Some(v) = opt::<usize>(options, "send_queue_capacity", count)? {
        builder = builder.send_queue_capacity(v);
    }
    if let Some(v) = opt::<usize>(options, "message_buffer", count)? {
        builder = builder.message_buffer(v);
    }
    if let Some(v) = opt::<bool>(options, "websocket_auto_reconnect", "a boolean")? {
        builder = builder.websocket_auto_reconnect(v);
    }
    if let Some(ns) = opt::<String>(options, "default_namespace", "a string")? {
        builder = builder.default_namespace(ns);
    }
    if let Some(url) = opt::<String>(options, "api_base_url", "a string")? {
        builder = builder.api_base_url(url);
    }
    if let Some(v) = opt::<bool>(options, "allow_insecure_http", "a boolean")? {
        builder = builder.allow_insecure_http(v);
    }
    if let Some(pid) = opt::<LocalPid>(options, "event_pid", "a pid")? {
        let (events, mut inbox) = mpsc::unbounded_channel::<Event>();
        runtime().spawn(async move {
            let mut owned = OwnedEnv::new();
            while let Some(event) = inbox.recv().await {
                let sent = owned.send_and_clear(&pid, |env| {
                    event_term(env, &event).unwrap_or_else(|| atoms::ok().encode(env))
                });
                if sent.is_err() {
                    break;
                }
            }
        });
        builder = builder.event_hook(Arc::new(PidHook { events }));
    }
    builder.build().map_err(Failure::from)
}

/// Builds a client from an options map (milliseconds for durations);
/// `{:ok, client}` or `{:error, detail}`. Does no I/O, but building the TLS
/// configuration and the pool takes milliseconds (3-13 ms measured), so it
/// runs on a dirty scheduler, never a normal one.
#[rustler::nif(schedule = "DirtyCpu")]
fn new_client<'a>(env: Env<'a>, options: Term<'a>) -> Term<'a> {
    checked(env, || {
        runtime_threads().map_err(Failure::from)?;
        let config = build_config(options)?;
        let client = Client::new(config).map_err(Failure::from)?;
        Ok((atoms::ok(), ResourceArc::new(ClientRes { client })).encode(env))
    })
}

/// A clone of `client` whose requests carry the W3C `traceparent`;
/// `{:ok, client}` or `{:error, detail}`. Does no I/O.
#[rustler::nif]
fn with_traceparent<'a>(
    env: Env<'a>,
    client: ResourceArc<ClientRes>,
    traceparent: Term<'a>,
) -> Term<'a> {
    checked(env, || {
        let traceparent = text(traceparent, InputField::Params, "traceparent")?;
        let client = client
            .client
            .with_traceparent(&traceparent)
            .map_err(Failure::from)?;
        Ok((atoms::ok(), ResourceArc::new(ClientRes { client })).encode(env))
    })
}

// ---------------------------------------------------------------- HTTP

#[rustler::nif]
fn initialize<'a>(
    env: Env<'a>,
    client: ResourceArc<ClientRes>,
    object: Term<'a>,
    state: Term<'a>,
    timeout: Term<'a>,
) -> scheduler_budget::Outcome<'a> {
    let args = [client.encode(env), object, state, timeout];
    checked_payload(env, "initialize", &args, || {
        let object = object_ref(object)?;
        let state = json(state, InputField::Value, "data")?;
        spawn_op(env, &client, timeout, |client| async move {
            client.initialize(object, &state).await?;
            Ok(Reply::Ok)
        })
    })
}

#[rustler::nif]
fn call_method<'a>(
    env: Env<'a>,
    client: ResourceArc<ClientRes>,
    object: Term<'a>,
    method: Term<'a>,
    params: Term<'a>,
    timeout: Term<'a>,
    idempotency_key: Term<'a>,
) -> scheduler_budget::Outcome<'a> {
    let args = [
        client.encode(env),
        object,
        method,
        params,
        timeout,
        idempotency_key,
    ];
    checked_payload(env, "call_method", &args, || {
        let object = object_ref(object)?;
        let method = text(method, InputField::MethodName, "method name")?;
        let params = json(params, InputField::Params, "params")?;
        let limit = deadline(timeout)?;
        let key = if idempotency_key.is_atom() {
            None
        } else {
            Some(text(
                idempotency_key,
                InputField::Params,
                "idempotency_key",
            )?)
        };
        let client = client.client.clone();
        let options = CallOptions {
            idempotency_key: key,
            timeout: limit,
        };
        Ok(spawn_reply(env, limit, async move {
            let result = client
                .call_method_with(object, &method, &params, options)
                .await?;
            Ok(Reply::Value(result))
        }))
    })
}

#[rustler::nif]
fn get_state<'a>(
    env: Env<'a>,
    client: ResourceArc<ClientRes>,
    object: Term<'a>,
    timeout: Term<'a>,
) -> Term<'a> {
    checked(env, || {
        let object = object_ref(object)?;
        spawn_op(env, &client, timeout, |client| async move {
            Ok(Reply::Object(client.get_state(object).await?))
        })
    })
}

#[rustler::nif]
fn get_state_key<'a>(
    env: Env<'a>,
    client: ResourceArc<ClientRes>,
    object: Term<'a>,
    key: Term<'a>,
    timeout: Term<'a>,
) -> Term<'a> {
    checked(env, || {
        let object = object_ref(object)?;
        let key = text(key, InputField::Key, "key")?;
        spawn_op(env, &client, timeout, |client| async move {
            Ok(Reply::Value(client.get_state_key(object, &key).await?))
        })
    })
}

#[rustler::nif]
fn update_state<'a>(
    env: Env<'a>,
    client: ResourceArc<ClientRes>,
    object: Term<'a>,
    key: Term<'a>,
    value: Term<'a>,
    timeout: Term<'a>,
) -> scheduler_budget::Outcome<'a> {
    let args = [client.encode(env), object, key, value, timeout];
    checked_payload(env, "update_state", &args, || {
        let object = object_ref(object)?;
        let key = text(key, InputField::Key, "key")?;
        let value = json(value, InputField::Value, "value")?;
        spawn_op(env, &client, timeout, |client| async move {
            client.update_state(object, &key, &value).await?;
            Ok(Reply::Ok)
        })
    })
}

#[rustler::nif]
fn delete_state<'a>(
    env: Env<'a>,
    client: ResourceArc<ClientRes>,
    object: Term<'a>,
    key: Term<'a>,
    timeout: Term<'a>,
) -> Term<'a> {
    checked(env, || {
        let object = object_ref(object)?;
        let key = text(key, InputField::Key, "key")?;
        spawn_op(env, &client, timeout, |client| async move {
            client.delete_state(object, &key).await?;
            Ok(Reply::Ok)
        })
    })
}

// ---------------------------------------------------------------- WebSocket

/// Opens a WebSocket; replies `{ref, {:ok, socket, id}}` to the caller, which
/// then receives `{:cloudflare_durable_ws, id, {:messages, list}}` (one per
/// credit granted with `ws_ack/1`, none before the first) and finally
/// `{:cloudflare_durable_ws, id, {:closed, nil | detail}}`.
#[rustler::nif]
fn ws_open<'a>(
    env: Env<'a>,
    client: ResourceArc<ClientRes>,
    object: Term<'a>,
    timeout: Term<'a>,
) -> Term<'a> {
    static NEXT_ID: AtomicU64 = AtomicU64::new(1);
    checked(env, || {
        let object = object_ref(object)?;
        let pid = env.pid();
        spawn_op(env, &client, timeout, move |client| async move {
            let socket = Arc::new(Tracked::new(client.websocket(object).await?));
            let credits = Arc::new(Semaphore::new(0));
            let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
            // The reader starts before the reply is sent, so that the resource
            // (whose drop stops it) always knows it.
            let reader = runtime().spawn(read_loop(pid, id, socket.clone(), credits.clone()));
            Ok(Reply::Socket(ResourceArc::new(SocketRes {
                id,
                socket,
                credits,
                reader: Mutex::new(Some(reader)),
            })))
        })
    })
}

async fn read_loop(pid: LocalPid, id: u64, socket: Arc<Tracked>, credits: Arc<Semaphore>) {
    let mut owned = OwnedEnv::new();
    loop {
        match credits.acquire().await {
            Ok(permit) => permit.forget(),
            Err(_) => return,
        }
        let outcome = socket.next_batch(BATCH).await;
        let sent = owned.send_and_clear(&pid, |env| {
            let payload = match &outcome {
                Ok(batch) if !batch.is_empty() => {
                    let items: Vec<Term> = batch
                        .iter()
                        .map(|m| convert::json_to_term(env, m))
                        .collect();
                    (atoms::messages(), items).encode(env)
                }
                Ok(_) => (atoms::closed(), rustler::types::atom::nil()).encode(env),
                Err(error) => (atoms::closed(), Failure::from(error).to_term(env)).encode(env),
            };
            (atoms::cloudflare_durable_ws(), id, payload)
        });
        let ended = !matches!(&outcome, Ok(batch) if !batch.is_empty());
        if ended || sent.is_err() {
            return;
        }
    }
}

/// Grants the reader one more batch.
#[rustler::nif]
fn ws_ack(socket: ResourceArc<SocketRes>) -> Atom {
    socket.credits.add_permits(1);
    atoms::ok()
}

/// Sends a message (a term, or a binary holding JSON text); replies `:ok`.
#[rustler::nif]
fn ws_send<'a>(
    env: Env<'a>,
    socket: ResourceArc<SocketRes>,
    message: Term<'a>,
) -> scheduler_budget::Outcome<'a> {
    let args = [socket.encode(env), message];
    checked_payload(env, "ws_send", &args, || {
        let value = if message.is_binary() {
            // Budgeted before the text is even copied.
            let bytes = message.decode::<rustler::Binary>().map_or(0, |b| b.len());
            scheduler_budget::spend_text(bytes)?;
            let raw = text(message, InputField::Value, "message")?;
            cloudflare_durable::serde_json::from_str::<Value>(&raw).map_err(|e| {
                Failure::invalid(
                    InputField::Value,
                    format!("message: a binary message must hold JSON text ({e})"),
                )
            })?
        } else {
            json(message, InputField::Value, "message")?
        };
        let socket = socket.socket.clone();
        Ok(spawn_reply(env, None, async move {
            socket.send(&value).await?;
            Ok(Reply::Ok)
        }))
    })
}

/// Calls a method over the socket; replies `{:ok, result}`.
#[rustler::nif]
fn ws_call<'a>(
    env: Env<'a>,
    socket: ResourceArc<SocketRes>,
    method: Term<'a>,
    params: Term<'a>,
    timeout: Term<'a>,
) -> scheduler_budget::Outcome<'a> {
    let args = [socket.encode(env), method, params, timeout];
    checked_payload(env, "ws_call", &args, || {
        let method = text(method, InputField::MethodName, "method name")?;
        let params = json(params, InputField::Params, "params")?;
        let limit = deadline(timeout)?;
        let socket = socket.socket.clone();
        let options = CallOptions {
            idempotency_key: None,
            timeout: limit,
        };
        Ok(spawn_reply(env, None, async move {
            Ok(Reply::Value(
                socket.call_with(&method, &params, options).await?,
            ))
        }))
    })
}

/// Closes the socket (code 1000); replies `:ok` once the connection task ended.
/// The close goes on if the caller exits (`terminate/2` starts one as it stops).
#[rustler::nif]
fn ws_close(env: Env, socket: ResourceArc<SocketRes>) -> Term {
    let socket = socket.socket.clone();
    spawn_reply_to_the_end(env, async move {
        socket.close().await;
        Ok(Reply::Ok)
    })
}

/// The socket's status: `:connecting`, `:connected`, `:disconnected`
/// (reconnecting) or `:closed`.
#[rustler::nif]
fn ws_status(socket: ResourceArc<SocketRes>) -> Atom {
    match socket.socket.status() {
        ConnectionStatus::Connecting => atoms::connecting(),
        ConnectionStatus::Connected => atoms::connected(),
        ConnectionStatus::Reconnecting => atoms::disconnected(),
        ConnectionStatus::Closed => atoms::closed(),
    }
}

/// How many core WebSockets exist (open, or closing and not yet freed).
#[rustler::nif]
fn live_sockets() -> u64 {
    LIVE_SOCKETS.load(Ordering::SeqCst)
}

// ---------------------------------------------------------------- JSON

/// Decodes JSON text into a term (maps with string keys, `null` as `nil`).
#[rustler::nif(schedule = "DirtyCpu")]
fn json_decode<'a>(env: Env<'a>, text: rustler::Binary<'a>) -> NifResult<Term<'a>> {
    Ok(
        match cloudflare_durable::serde_json::from_slice::<Value>(text.as_slice()) {
            Ok(value) => (atoms::ok(), convert::json_to_term(env, &value)).encode(env),
            Err(e) => (rustler::types::atom::error(), e.to_string()).encode(env),
        },
    )
}

/// Encodes a term as JSON text with the same rules as every request body.
#[rustler::nif(schedule = "DirtyCpu")]
fn json_encode<'a>(env: Env<'a>, term: Term<'a>) -> Term<'a> {
    scheduler_budget::start(); // a dirty scheduler: no limit
    match json(term, InputField::Params, "term") {
        Ok(value) => (atoms::ok(), value.to_string()).encode(env),
        Err(failure) => failure.error_tuple(env),
    }
}

rustler::init!("Elixir.CloudflareDurable.Native");
