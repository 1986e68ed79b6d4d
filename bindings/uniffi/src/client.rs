//! The FFI face of the core's `Client`: every operation, each one call into
//! the core, run on the binding's runtime.

use std::sync::{Arc, Mutex, Weak};

use cloudflare_durable as cfd;
use cloudflare_durable::serde_json::Value;

use crate::events::{ClientEvent, EventQueue};
use crate::socket::{FfiWebSocket, SocketShared};
use crate::surface::*;
use crate::{
    call_options, parse_json, run, run_on_worker, to_json, ClientOptions, DurableObjectError,
    Result,
};

/// Converts the host's object reference, refusing one with both or neither
/// of name and id.
fn object(o: ObjectRef) -> Result<cfd::ObjectRef> {
    o.try_into()
}

/// The FFI face of `cloudflare_durable::Client`. Hosts wrap it (Kotlin
/// `DurableClient`, Swift `DurableClient`); JSON arguments and results are
/// JSON text, and every operation takes an [`ObjectRef`].
#[derive(uniffi::Object)]
pub struct FfiClient {
    inner: cfd::Client,
    sockets: Arc<Mutex<Vec<Weak<SocketShared>>>>,
    events: Arc<EventQueue>,
}

#[uniffi::export]
impl FfiClient {
    /// Builds a client; `InvalidInput` (field `config`) for a bad setting,
    /// `CLOUDFLARE_DURABLE_RUNTIME_THREADS` included.
    #[uniffi::constructor]
    pub fn new(options: ClientOptions) -> Result<Arc<Self>> {
        cfd::runtime_threads()?;
        let events = Arc::new(EventQueue::new());
        let config = options.into_config(events.clone())?;
        Ok(Arc::new(FfiClient {
            inner: cfd::Client::new(config)?,
            sockets: Arc::default(),
            events,
        }))
    }

    /// A client sharing this one's connections, sockets registry and events,
    /// whose requests carry the caller's W3C `traceparent`.
    pub fn with_traceparent(&self, traceparent: String) -> Result<Arc<FfiClient>> {
        Ok(Arc::new(FfiClient {
            inner: self.inner.with_traceparent(&traceparent)?,
            sockets: self.sockets.clone(),
            events: self.events.clone(),
        }))
    }

    /// Stores `state_json` (a JSON object) in the object, one key per member.
    pub async fn initialize(&self, object_ref: ObjectRef, state_json: String) -> Result<()> {
        let (c, o) = (self.inner.clone(), object(object_ref)?);
        let state = parse_json("value", &state_json)?;
        run_on_worker(async move { Ok(c.initialize(o, &state).await?) }).await
    }

    /// Makes `call` (its method with its params); returns the result as JSON
    /// text.
    pub async fn call_method(&self, call: FfiMethodCall) -> Result<String> {
        let (c, o) = (self.inner.clone(), object(call.object_ref)?);
        let params = parse_json("params", &call.params_json)?;
        let options = call_options(call.idempotency_key, call.timeout_ms);
        let method = call.method;
        run_on_worker(async move {
            let result = c.call_method_with(o, &method, &params, options).await?;
            Ok(to_json(&result))
        })
        .await
    }

    /// Runs several calls in one round trip; one outcome per call, in order.
    pub async fn batch(
        &self,
        object_ref: ObjectRef,
        calls: Vec<FfiBatchCall>,
    ) -> Result<Vec<FfiBatchOutcome>> {
        let (c, o) = (self.inner.clone(), object(object_ref)?);
        let calls = calls
            .into_iter()
            .map(FfiBatchCall::into_core)
            .collect::<Result<Vec<_>>>()?;
        run_on_worker(async move {
            let results = c.batch(o, &calls).await?;
            Ok(results.into_iter().map(FfiBatchOutcome::from).collect())
        })
        .await
    }

    /// The object's whole state, as JSON object text.
    pub async fn get_state(&self, object_ref: ObjectRef) -> Result<String> {
        let (c, o) = (self.inner.clone(), object(object_ref)?);
        run_on_worker(async move { Ok(to_json(&Value::Object(c.get_state(o).await?))) }).await
    }

    /// One key's value as JSON text; `NotFound` when absent.
    pub async fn get_state_key(&self, object_ref: ObjectRef, key: String) -> Result<String> {
        let (c, o) = (self.inner.clone(), object(object_ref)?);
        run_on_worker(async move { Ok(to_json(&c.get_state_key(o, &key).await?)) }).await
    }

    /// Sets one key to `value_json` and broadcasts it.
    pub async fn update_state(
        &self,
        object_ref: ObjectRef,
        key: String,
        value_json: String,
    ) -> Result<()> {
        let (c, o) = (self.inner.clone(), object(object_ref)?);
        let value = parse_json("value", &value_json)?;
        run_on_worker(async move { Ok(c.update_state(o, &key, &value).await?) }).await
    }

    /// Sets one key only if `condition` holds; a lost race is `Conflict`.
    pub async fn update_state_if(
        &self,
        object_ref: ObjectRef,
        key: String,
        value_json: String,
        condition: FfiCondition,
    ) -> Result<()> {
        let (c, o) = (self.inner.clone(), object(object_ref)?);
        let value = parse_json("value", &value_json)?;
        let condition = condition.into_core()?;
        run_on_worker(async move { Ok(c.update_state_if(o, &key, &value, condition).await?) }).await
    }

    /// Deletes one key (no error when absent) and broadcasts the deletion.
    pub async fn delete_state(&self, object_ref: ObjectRef, key: String) -> Result<()> {
        let (c, o) = (self.inner.clone(), object(object_ref)?);
        run_on_worker(async move { Ok(c.delete_state(o, &key).await?) }).await
    }

    /// Reads many keys; returns a JSON object text of those that exist.
    pub async fn get_many(&self, object_ref: ObjectRef, keys: Vec<String>) -> Result<String> {
        let (c, o) = (self.inner.clone(), object(object_ref)?);
        run_on_worker(async move {
            let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
            Ok(to_json(&Value::Object(c.get_many(o, &keys).await?)))
        })
        .await
    }

    /// Writes the members of `entries_json` (a JSON object) atomically.
    pub async fn put_many(&self, object_ref: ObjectRef, entries_json: String) -> Result<()> {
        let (c, o) = (self.inner.clone(), object(object_ref)?);
        let entries = match parse_json("value", &entries_json)? {
            Value::Object(map) => map,
            _ => {
                return Err(DurableObjectError::InvalidInput {
                    field: "value".into(),
                    reason: "put_many takes a JSON object of entries".into(),
                })
            }
        };
        run_on_worker(async move { Ok(c.put_many(o, &entries).await?) }).await
    }

    /// Deletes many keys; returns how many existed.
    pub async fn delete_many(&self, object_ref: ObjectRef, keys: Vec<String>) -> Result<u64> {
        let (c, o) = (self.inner.clone(), object(object_ref)?);
        run_on_worker(async move {
            let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
            Ok(c.delete_many(o, &keys).await?)
        })
        .await
    }

    /// Deletes every key; returns how many there were.
    pub async fn delete_all(&self, object_ref: ObjectRef) -> Result<u64> {
        let (c, o) = (self.inner.clone(), object(object_ref)?);
        run_on_worker(async move { Ok(c.delete_all(o).await?) }).await
    }

    /// One page of keys; pass the cursor back (same options) for the next.
    pub async fn list_page(
        &self,
        object_ref: ObjectRef,
        options: ListOptions,
        cursor: Option<String>,
    ) -> Result<FfiListPage> {
        let (c, o) = (self.inner.clone(), object(object_ref)?);
        run_on_worker(async move {
            let page = c.list_page(o, &options.into(), cursor.as_deref()).await?;
            Ok(FfiListPage {
                entries: entries(page.entries),
                cursor: page.cursor,
            })
        })
        .await
    }

    /// A paged walk over the object's keys (nothing is fetched until the
    /// first `next_page`).
    pub fn list(&self, object_ref: ObjectRef, options: ListOptions) -> Result<Arc<FfiLister>> {
        let lister = self.inner.list(object(object_ref)?, options.into());
        Ok(Arc::new(FfiLister {
            inner: Arc::new(tokio::sync::Mutex::new(lister)),
        }))
    }

    /// Applies the ops atomically, in order; one result (JSON text) per op.
    pub async fn transaction(
        &self,
        object_ref: ObjectRef,
        ops: Vec<FfiTxOp>,
    ) -> Result<Vec<String>> {
        let (c, o) = (self.inner.clone(), object(object_ref)?);
        let ops = ops
            .into_iter()
            .map(FfiTxOp::into_core)
            .collect::<Result<Vec<_>>>()?;
        run_on_worker(async move {
            let results = c.transaction(o, &ops).await?;
            Ok(results.iter().map(to_json).collect())
        })
        .await
    }

    /// The alarm's time (ms since the Unix epoch), if one is set.
    pub async fn get_alarm(&self, object_ref: ObjectRef) -> Result<Option<u64>> {
        let (c, o) = (self.inner.clone(), object(object_ref)?);
        run_on_worker(async move { Ok(c.get_alarm(o).await?) }).await
    }

    /// Sets the alarm to `time_ms` (ms since the Unix epoch).
    pub async fn set_alarm(&self, object_ref: ObjectRef, time_ms: u64) -> Result<()> {
        let (c, o) = (self.inner.clone(), object(object_ref)?);
        run_on_worker(async move { Ok(c.set_alarm(o, time_ms).await?) }).await
    }

    /// Deletes the alarm (no error when none was set).
    pub async fn delete_alarm(&self, object_ref: ObjectRef) -> Result<()> {
        let (c, o) = (self.inner.clone(), object(object_ref)?);
        run_on_worker(async move { Ok(c.delete_alarm(o).await?) }).await
    }

    /// Runs one SQL statement; `params_json` is a JSON array of scalars.
    pub async fn sql(
        &self,
        object_ref: ObjectRef,
        query: String,
        params_json: String,
    ) -> Result<FfiSqlResult> {
        let (c, o) = (self.inner.clone(), object(object_ref)?);
        let params = match parse_json("params", &params_json)? {
            Value::Array(params) => params,
            _ => {
                return Err(DurableObjectError::InvalidInput {
                    field: "params".into(),
                    reason: "SQL params must be a JSON array".into(),
                })
            }
        };
        run_on_worker(async move { Ok(c.sql(o, &query, &params).await?.into()) }).await
    }

    /// A new unique object id in `namespace` (the default when `None`).
    pub async fn new_unique_id(
        &self,
        namespace: Option<String>,
        jurisdiction: Option<String>,
    ) -> Result<String> {
        let c = self.inner.clone();
        run_on_worker(async move {
            Ok(
                c.new_unique_id(namespace.as_deref(), jurisdiction.as_deref())
                    .await?,
            )
        })
        .await
    }

    /// The id `name` maps to in `namespace` (the default when `None`).
    pub async fn namespace_object_id(
        &self,
        namespace: Option<String>,
        name: String,
    ) -> Result<String> {
        let c = self.inner.clone();
        run_on_worker(async move { Ok(c.namespace_object_id(namespace.as_deref(), &name).await?) })
            .await
    }

    /// One page of the account's namespaces (Cloudflare's management API;
    /// needs `account_id` and `api_token`).
    pub async fn list_namespaces(&self, page: u32, per_page: u32) -> Result<NamespacePage> {
        let c = self.inner.clone();
        run_on_worker(async move { Ok(c.list_namespaces(page, per_page).await?.into()) }).await
    }

    /// One page of a namespace's objects (management API).
    pub async fn list_objects(
        &self,
        namespace_id: String,
        cursor: Option<String>,
        limit: u32,
    ) -> Result<ObjectPage> {
        let c = self.inner.clone();
        run_on_worker(async move {
            Ok(c.list_objects(&namespace_id, cursor.as_deref(), limit)
                .await?
                .into())
        })
        .await
    }

    /// Opens a WebSocket; returns once the first connection is up.
    pub async fn websocket(&self, object_ref: ObjectRef) -> Result<Arc<FfiWebSocket>> {
        let (c, o) = (self.inner.clone(), object(object_ref)?);
        let socket = run(async move { c.websocket(o).await }).await?;
        let shared = Arc::new(SocketShared::new(socket));
        if let Ok(mut sockets) = self.sockets.lock() {
            sockets.retain(|s| s.strong_count() > 0);
            sockets.push(Arc::downgrade(&shared));
        }
        Ok(Arc::new(FfiWebSocket { shared }))
    }

    /// The client's events queued since the first pull (at least one, at
    /// most `max`); waits for the first; empty once the client is shut down.
    /// One consumer at a time; cancel-safe. It never fails: it returns a
    /// `Result` so that Swift's generated code, which cancels only calls that
    /// can fail (`bindings/swift_cancellation.py`), cancels it with its task.
    pub async fn next_events(&self, max: u32) -> Result<Vec<ClientEvent>> {
        // In place (a channel read), so a cancelled pull loses nothing.
        Ok(self.events.next(max.max(1) as usize).await)
    }

    /// Events dropped because the host pulled too slowly (queue of 1,024).
    pub fn events_dropped(&self) -> u64 {
        self.events.dropped()
    }

    /// Starts closing every socket this client opened, ends event pulls, and
    /// returns at once. Called by the hosts' `close()` (named `shutdown`
    /// because uniffi's Kotlin objects already have a `close()` that frees
    /// the native object).
    pub fn shutdown(&self) {
        self.events.close();
        let sockets = match self.sockets.lock() {
            Ok(mut sockets) => std::mem::take(&mut *sockets),
            Err(_) => return,
        };
        for socket in sockets.iter().filter_map(Weak::upgrade) {
            socket.start_close();
        }
    }
}

/// A paged walk over an object's keys, in bounded memory (the core's
/// `Lister`). Hosts wrap it as a Kotlin `Flow` / Swift `AsyncSequence`.
#[derive(uniffi::Object)]
pub struct FfiLister {
    inner: Arc<tokio::sync::Mutex<cfd::Lister>>,
}

#[uniffi::export]
impl FfiLister {
    /// The next page of entries, or `None` once the walk is done.
    pub async fn next_page(&self) -> Result<Option<Vec<FfiEntry>>> {
        let lister = self.inner.clone();
        run_on_worker(async move {
            let page = lister.lock().await.next_page().await?;
            Ok(page.map(entries))
        })
        .await
    }
}
