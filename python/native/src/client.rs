//! `NativeClient`: the core `Client` with a blocking and an awaitable form
//! of every operation. The pure-Python `Client` and `AsyncClient` wrap it.

use std::future::Future;
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;

use cloudflare_durable::serde_json::{json, Map, Value};
use cloudflare_durable::{
    BatchCall, CallOptions, Client, Condition, Config, Error, Event, EventHook, ListOptions,
    ObjectRef, TxOp, WebSocket,
};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString};
use pyo3::IntoPyObjectExt;

use crate::convert::{to_json, to_py as json_to_py, Json, JsonMap};
use crate::errors::{self, core_err, to_py, Failure};
use crate::runtime::{self, attach_from_rust, block_on, future_into_py};
use crate::websocket::NativeWebSocket;

/// Seconds (a Python float) to a `Duration`, refusing NaN, inf and negatives.
pub fn seconds(name: &str, value: f64) -> PyResult<Duration> {
    Duration::try_from_secs_f64(value).map_err(|_| {
        errors::invalid_config(format!(
            "{name} must be a finite, non-negative number of seconds, got {value}"
        ))
    })
}

/// Hands core events to a Python callable chosen by the package (it queues
/// them for a dispatcher thread or the asyncio loop; it never runs user code).
struct Sink(Py<PyAny>);

impl EventHook for Sink {
    fn on_event(&self, event: &Event) {
        let _ = attach_from_rust(|py| {
            let delivered = event_dict(py, event).and_then(|d| self.0.call1(py, (d,)));
            if let Err(e) = delivered {
                e.write_unraisable(py, None);
            }
        });
    }
}

fn event_dict<'py>(py: Python<'py>, event: &Event) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    match event {
        Event::RequestStart {
            object,
            operation,
            method,
        } => {
            d.set_item("type", "request_start")?;
            d.set_item("object", object)?;
            d.set_item("operation", *operation)?;
            d.set_item("method", method)?;
        }
        Event::RequestStop {
            object,
            operation,
            method,
            duration,
            attempts,
            error,
        } => {
            d.set_item("type", "request_stop")?;
            d.set_item("object", object)?;
            d.set_item("operation", *operation)?;
            d.set_item("method", method)?;
            d.set_item("duration", duration.as_secs_f64())?;
            d.set_item("attempts", attempts)?;
            d.set_item("error", error.map(|k| k.as_str()))?;
        }
        Event::WebSocketConnected { object, reconnects } => {
            d.set_item("type", "websocket_connected")?;
            d.set_item("object", object)?;
            d.set_item("reconnects", reconnects)?;
        }
        Event::WebSocketDisconnected {
            object,
            reason,
            will_reconnect,
        } => {
            d.set_item("type", "websocket_disconnected")?;
            d.set_item("object", object)?;
            d.set_item("message", reason)?;
            d.set_item("will_reconnect", will_reconnect)?;
        }
        Event::Error {
            object,
            operation,
            kind,
            message,
        } => {
            d.set_item("type", "error")?;
            d.set_item("object", object)?;
            d.set_item("operation", *operation)?;
            d.set_item("error", kind.as_str())?;
            d.set_item("message", message)?;
        }
    }
    Ok(d)
}

/// Reads an object reference: a name (`str`) or the tuple
/// `(name, id, namespace, jurisdiction, location_hint)` built by the package.
pub fn object_ref(obj: &Bound<'_, PyAny>) -> PyResult<ObjectRef> {
    if let Ok(name) = obj.cast::<PyString>() {
        let name = name.extract::<String>().map_err(|_| {
            errors::invalid(
                "object_name",
                "object name is not valid Unicode (lone surrogate)",
            )
        })?;
        return Ok(ObjectRef::name(name));
    }
    type Spec = (
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
    );
    let (name, id, namespace, jurisdiction, hint): Spec = obj.extract().map_err(|_| {
        pyo3::exceptions::PyTypeError::new_err("object must be a str or an ObjectRef")
    })?;
    let mut r = match (name, id) {
        (Some(name), None) => ObjectRef::name(name),
        (None, Some(id)) => ObjectRef::id(id),
        _ => {
            return Err(pyo3::exceptions::PyTypeError::new_err(
                "an ObjectRef has exactly one of name and id",
            ))
        }
    };
    if let Some(ns) = namespace {
        r = r.in_namespace(ns);
    }
    if let Some(j) = jurisdiction {
        r = r.jurisdiction(j);
    }
    if let Some(h) = hint {
        r = r.location_hint(h);
    }
    Ok(r)
}

/// Runs a core operation: blocking (GIL released) when `aio` is false, else
/// returns an asyncio future.
fn run<'py, F, T>(py: Python<'py>, aio: bool, fut: F) -> PyResult<Bound<'py, PyAny>>
where
    F: Future<Output = Result<T, Error>> + Send + 'static,
    T: for<'a> IntoPyObject<'a> + Send + 'static,
{
    if aio {
        future_into_py(py, fut)
    } else {
        block_on(py, fut)?.map_err(to_py)?.into_bound_py_any(py)
    }
}

/// Per-call results of a batch on their way to Python: each the value, or
/// the exception instance (not raised).
struct BatchOut(Vec<Result<Value, Error>>);

impl<'py> IntoPyObject<'py> for BatchOut {
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let list = PyList::empty(py);
        for item in &self.0 {
            match item {
                Ok(v) => list.append(json_to_py(py, v)?)?,
                Err(e) => list.append(core_err(py, e).into_value(py))?,
            }
        }
        Ok(list.into_any())
    }
}

/// A client for one worker. Every operation blocks (GIL released) unless
/// called with `aio=True`, which returns an asyncio future instead. Safe to
/// share between threads.
#[pyclass(module = "cloudflare_durable._native", frozen)]
pub struct NativeClient {
    client: RwLock<Option<Client>>,
    pid: u32,
    sockets: Mutex<Vec<Weak<WebSocket>>>,
}

impl NativeClient {
    /// The core client (carrying `traceparent` when given), unless closed
    /// or inherited across `fork()`.
    fn client(&self, traceparent: Option<&str>) -> PyResult<Client> {
        let pid = crate::process::process_id();
        if pid != self.pid {
            return Err(errors::closed(format!(
                "this client was created in process {} and cannot be used after fork() \
                 (in process {pid}); create a new client in the child process",
                self.pid
            )));
        }
        runtime::get_py()?;
        let client = match self.client.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
        .ok_or_else(|| errors::closed("the client is closed"))?;
        match traceparent {
            Some(tp) => client.with_traceparent(tp).map_err(to_py),
            None => Ok(client),
        }
    }

    /// The core client (as `client`) and the object reference an operation
    /// addresses, checked in that order.
    fn target(
        &self,
        object: &Bound<'_, PyAny>,
        traceparent: Option<&str>,
    ) -> PyResult<(Client, ObjectRef)> {
        Ok((self.client(traceparent)?, object_ref(object)?))
    }

    /// Remembers a socket so that `close()` (and the exit hook) can close it.
    pub fn track(&self, socket: &Arc<WebSocket>) {
        runtime::track_socket(socket);
        let mut sockets = self.sockets.lock().unwrap_or_else(|p| p.into_inner());
        sockets.retain(|w| w.strong_count() > 0);
        sockets.push(Arc::downgrade(socket));
    }

    /// Forgets the core client and returns the sockets still open.
    fn take_for_close(&self) -> Vec<Arc<WebSocket>> {
        if let Ok(mut guard) = self.client.write() {
            guard.take();
        }
        let mut sockets = self.sockets.lock().unwrap_or_else(|p| p.into_inner());
        sockets.drain(..).filter_map(|w| w.upgrade()).collect()
    }
}

/// A call's options from its Python arguments (`timeout` in seconds).
pub fn call_options(
    idempotency_key: Option<String>,
    timeout: Option<f64>,
) -> PyResult<CallOptions> {
    Ok(CallOptions {
        idempotency_key,
        timeout: timeout.map(|t| seconds("timeout", t)).transpose()?,
    })
}

/// Closes every socket at once and waits for them all. Each close is started
/// before any wait, so the closes run together, and an interrupted or
/// cancelled wait still closes them all.
pub(crate) fn close_all(sockets: Vec<Arc<WebSocket>>) -> impl std::future::Future<Output = ()> {
    for socket in &sockets {
        socket.start_close();
    }
    async move {
        for socket in sockets {
            socket.close().await;
        }
    }
}

fn tx_op(op: &Bound<'_, PyAny>, i: usize) -> PyResult<TxOp> {
    let (kind, key, value): (String, String, Bound<'_, PyAny>) = op.extract()?;
    let path = format!("ops[{i}].value");
    Ok(match kind.as_str() {
        "get" => TxOp::Get { key },
        "put" => TxOp::Put {
            key,
            value: to_json(&value, &path)?,
        },
        "delete" => TxOp::Delete { key },
        "check_equals" => TxOp::CheckEquals {
            key,
            value: to_json(&value, &path)?,
        },
        "check_absent" => TxOp::CheckAbsent { key },
        other => {
            return Err(pyo3::exceptions::PyTypeError::new_err(format!(
                "ops[{i}] has unknown kind {other:?}"
            )))
        }
    })
}

#[pymethods]
impl NativeClient {
    /// Builds a client; unset values come from `CLOUDFLARE_*` variables, then defaults.
    #[new]
    #[pyo3(signature = (*, worker_url=None, account_id=None, api_token=None, timeout=None,
        retry_count=None, retry_delay=None, websocket_reconnect_delay=None,
        websocket_max_reconnect_delay=None, heartbeat_interval=None, heartbeat_timeout=None,
        send_queue_capacity=None, message_buffer=None, pool_size=None,
        max_concurrent_requests=None, allow_insecure_http=false, event_sink=None, default_namespace=None, api_base_url=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        worker_url: Option<String>,
        account_id: Option<String>,
        api_token: Option<String>,
        timeout: Option<f64>,
        retry_count: Option<u32>,
        retry_delay: Option<f64>,
        websocket_reconnect_delay: Option<f64>,
        websocket_max_reconnect_delay: Option<f64>,
        heartbeat_interval: Option<f64>,
        heartbeat_timeout: Option<f64>,
        send_queue_capacity: Option<usize>,
        message_buffer: Option<usize>,
        pool_size: Option<usize>,
        max_concurrent_requests: Option<usize>,
        allow_insecure_http: bool,
        event_sink: Option<Py<PyAny>>,
        default_namespace: Option<String>,
        api_base_url: Option<String>,
    ) -> PyResult<Self> {
        let mut b = Config::builder();
        if let Some(v) = worker_url {
            b = b.worker_url(v);
        }
        if let Some(v) = account_id {
            b = b.account_id(v);
        }
        if let Some(v) = api_token {
            b = b.api_token(v);
        }
        b = b.with_env();
        if let Some(v) = default_namespace {
            b = b.default_namespace(v);
        }
        if let Some(v) = api_base_url {
            b = b.api_base_url(v);
        }
        if let Some(v) = timeout {
            b = b.timeout(seconds("timeout", v)?);
        }
        if let Some(v) = retry_count {
            b = b.retry_count(v);
        }
        if let Some(v) = retry_delay {
            b = b.retry_delay(seconds("retry_delay", v)?);
        }
        if let Some(v) = websocket_reconnect_delay {
            b = b.websocket_reconnect_delay(seconds("websocket_reconnect_delay", v)?);
        }
        if let Some(v) = websocket_max_reconnect_delay {
            b = b.websocket_max_reconnect_delay(seconds("websocket_max_reconnect_delay", v)?);
        }
        if let Some(v) = heartbeat_interval {
            b = b.heartbeat_interval(seconds("heartbeat_interval", v)?);
        }
        if let Some(v) = heartbeat_timeout {
            b = b.heartbeat_timeout(seconds("heartbeat_timeout", v)?);
        }
        if let Some(v) = send_queue_capacity {
            b = b.send_queue_capacity(v);
        }
        if let Some(v) = message_buffer {
            b = b.message_buffer(v);
        }
        if let Some(v) = pool_size {
            b = b.pool_size(v);
        }
        if let Some(v) = max_concurrent_requests {
            b = b.max_concurrent_requests(v);
        }
        b = b.allow_insecure_http(allow_insecure_http);
        if let Some(sink) = event_sink {
            b = b.event_hook(Arc::new(Sink(sink)));
        }
        let config = b.build().map_err(to_py)?;
        cloudflare_durable::runtime_threads().map_err(to_py)?;
        let client = Client::new(config).map_err(to_py)?;
        Ok(NativeClient {
            client: RwLock::new(Some(client)),
            pid: crate::process::process_id(),
            sockets: Mutex::new(Vec::new()),
        })
    }

    /// The worker URL in use.
    #[getter]
    fn worker_url(&self) -> PyResult<String> {
        Ok(self.client(None)?.config().worker_url().to_string())
    }

    /// The per-attempt timeout, in seconds.
    #[getter]
    fn timeout(&self) -> PyResult<f64> {
        Ok(self.client(None)?.config().timeout().as_secs_f64())
    }

    /// Whether `close()` was called.
    #[getter]
    fn closed(&self) -> bool {
        self.client.read().map(|g| g.is_none()).unwrap_or(true)
    }

    /// Checks a W3C `traceparent` as the core does (raises `InvalidInputError`).
    fn check_traceparent(&self, traceparent: &str) -> PyResult<()> {
        self.client(Some(traceparent)).map(|_| ())
    }

    /// Stores `state` (a dict) in the object, one key per member.
    #[pyo3(signature = (object, state, aio=false, traceparent=None))]
    fn initialize<'py>(
        &self,
        py: Python<'py>,
        object: &Bound<'py, PyAny>,
        state: &Bound<'py, PyAny>,
        aio: bool,
        traceparent: Option<&str>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (client, object) = self.target(object, traceparent)?;
        let state = to_json(state, "state")?;
        run(
            py,
            aio,
            async move { client.initialize(object, &state).await },
        )
    }

    /// Calls a method of the object and returns its result.
    #[pyo3(signature = (object, method, params, idempotency_key=None, timeout=None, aio=false, traceparent=None))]
    #[allow(clippy::too_many_arguments)]
    fn call_method<'py>(
        &self,
        py: Python<'py>,
        object: &Bound<'py, PyAny>,
        method: String,
        params: &Bound<'py, PyAny>,
        idempotency_key: Option<String>,
        timeout: Option<f64>,
        aio: bool,
        traceparent: Option<&str>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (client, object) = self.target(object, traceparent)?;
        let params = to_json(params, "params")?;
        let options = call_options(idempotency_key, timeout)?;
        run(py, aio, async move {
            client
                .call_method_with(object, &method, &params, options)
                .await
                .map(Json)
        })
    }

    /// The object's whole state (a dict), or one key's value when `key` is
    /// given (`NotFoundError` when absent).
    #[pyo3(signature = (object, key=None, aio=false, traceparent=None))]
    fn get_state<'py>(
        &self,
        py: Python<'py>,
        object: &Bound<'py, PyAny>,
        key: Option<String>,
        aio: bool,
        traceparent: Option<&str>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (client, object) = self.target(object, traceparent)?;
        run(py, aio, async move {
            match key {
                None => client
                    .get_state(object)
                    .await
                    .map(|m| Json(Value::Object(m))),
                Some(key) => client.get_state_key(object, &key).await.map(Json),
            }
        })
    }

    /// Sets one key; with `if_equals` (a 1-tuple holding the expected value)
    /// or `if_absent`, only when that holds (`ConflictError` otherwise).
    #[pyo3(signature = (object, key, value, if_equals=None, if_absent=false, aio=false, traceparent=None))]
    #[allow(clippy::too_many_arguments)]
    fn update_state<'py>(
        &self,
        py: Python<'py>,
        object: &Bound<'py, PyAny>,
        key: String,
        value: &Bound<'py, PyAny>,
        if_equals: Option<&Bound<'py, PyAny>>,
        if_absent: bool,
        aio: bool,
        traceparent: Option<&str>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (client, object) = self.target(object, traceparent)?;
        let value = to_json(value, "value")?;
        let condition = match (if_equals, if_absent) {
            (Some(_), true) => {
                return Err(pyo3::exceptions::PyTypeError::new_err(
                    "pass if_equals or if_absent, not both",
                ))
            }
            (Some(expected), false) => Some(Condition::Equals(to_json(
                &expected.get_item(0)?,
                "if_equals",
            )?)),
            (None, true) => Some(Condition::Absent),
            (None, false) => None,
        };
        run(py, aio, async move {
            match condition {
                None => client.update_state(object, &key, &value).await,
                Some(c) => client.update_state_if(object, &key, &value, c).await,
            }
        })
    }

    /// Deletes one key of the object's state.
    #[pyo3(signature = (object, key, aio=false, traceparent=None))]
    fn delete_state<'py>(
        &self,
        py: Python<'py>,
        object: &Bound<'py, PyAny>,
        key: String,
        aio: bool,
        traceparent: Option<&str>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (client, object) = self.target(object, traceparent)?;
        run(
            py,
            aio,
            async move { client.delete_state(object, &key).await },
        )
    }

    /// Reads many keys (a dict of those present).
    #[pyo3(signature = (object, keys, aio=false, traceparent=None))]
    fn get_many<'py>(
        &self,
        py: Python<'py>,
        object: &Bound<'py, PyAny>,
        keys: Vec<String>,
        aio: bool,
        traceparent: Option<&str>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (client, object) = self.target(object, traceparent)?;
        run(py, aio, async move {
            let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
            client.get_many(object, &refs).await.map(JsonMap)
        })
    }

    /// Writes many entries (a dict) atomically.
    #[pyo3(signature = (object, entries, aio=false, traceparent=None))]
    fn put_many<'py>(
        &self,
        py: Python<'py>,
        object: &Bound<'py, PyAny>,
        entries: &Bound<'py, PyDict>,
        aio: bool,
        traceparent: Option<&str>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (client, object) = self.target(object, traceparent)?;
        let entries = match to_json(entries.as_any(), "entries")? {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        run(
            py,
            aio,
            async move { client.put_many(object, &entries).await },
        )
    }

    /// Deletes many keys; returns how many existed.
    #[pyo3(signature = (object, keys, aio=false, traceparent=None))]
    fn delete_many<'py>(
        &self,
        py: Python<'py>,
        object: &Bound<'py, PyAny>,
        keys: Vec<String>,
        aio: bool,
        traceparent: Option<&str>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (client, object) = self.target(object, traceparent)?;
        run(py, aio, async move {
            let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
            client.delete_many(object, &refs).await
        })
    }

    /// Deletes every key; returns how many there were.
    #[pyo3(signature = (object, aio=false, traceparent=None))]
    fn delete_all<'py>(
        &self,
        py: Python<'py>,
        object: &Bound<'py, PyAny>,
        aio: bool,
        traceparent: Option<&str>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (client, object) = self.target(object, traceparent)?;
        run(py, aio, async move { client.delete_all(object).await })
    }

    /// One page of keys: `{"entries": [[key, value], …], "cursor": str | None}`.
    #[pyo3(signature = (object, prefix=None, start=None, end=None, limit=None, reverse=false,
        cursor=None, aio=false, traceparent=None))]
    #[allow(clippy::too_many_arguments)]
    fn list_page<'py>(
        &self,
        py: Python<'py>,
        object: &Bound<'py, PyAny>,
        prefix: Option<String>,
        start: Option<String>,
        end: Option<String>,
        limit: Option<u32>,
        reverse: bool,
        cursor: Option<String>,
        aio: bool,
        traceparent: Option<&str>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (client, object) = self.target(object, traceparent)?;
        let options = ListOptions {
            prefix,
            start,
            end,
            limit,
            reverse,
        };
        run(py, aio, async move {
            let page = client
                .list_page(object, &options, cursor.as_deref())
                .await?;
            let entries: Vec<Value> = page
                .entries
                .into_iter()
                .map(|(k, v)| json!([k, v]))
                .collect();
            Ok(Json(json!({"entries": entries, "cursor": page.cursor})))
        })
    }

    /// Applies ops (`(kind, key, value)` tuples) atomically; one result each.
    #[pyo3(signature = (object, ops, aio=false, traceparent=None))]
    fn transaction<'py>(
        &self,
        py: Python<'py>,
        object: &Bound<'py, PyAny>,
        ops: Vec<Bound<'py, PyAny>>,
        aio: bool,
        traceparent: Option<&str>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (client, object) = self.target(object, traceparent)?;
        let ops = ops
            .iter()
            .enumerate()
            .map(|(i, op)| tx_op(op, i))
            .collect::<PyResult<Vec<_>>>()?;
        run(py, aio, async move {
            client
                .transaction(object, &ops)
                .await
                .map(|r| Json(Value::Array(r)))
        })
    }

    /// The alarm time (ms since the epoch) or None.
    #[pyo3(signature = (object, aio=false, traceparent=None))]
    fn get_alarm<'py>(
        &self,
        py: Python<'py>,
        object: &Bound<'py, PyAny>,
        aio: bool,
        traceparent: Option<&str>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (client, object) = self.target(object, traceparent)?;
        run(py, aio, async move { client.get_alarm(object).await })
    }

    /// Sets the alarm (ms since the epoch).
    #[pyo3(signature = (object, time_ms, aio=false, traceparent=None))]
    fn set_alarm<'py>(
        &self,
        py: Python<'py>,
        object: &Bound<'py, PyAny>,
        time_ms: u64,
        aio: bool,
        traceparent: Option<&str>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (client, object) = self.target(object, traceparent)?;
        run(
            py,
            aio,
            async move { client.set_alarm(object, time_ms).await },
        )
    }

    /// Deletes the alarm.
    #[pyo3(signature = (object, aio=false, traceparent=None))]
    fn delete_alarm<'py>(
        &self,
        py: Python<'py>,
        object: &Bound<'py, PyAny>,
        aio: bool,
        traceparent: Option<&str>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (client, object) = self.target(object, traceparent)?;
        run(py, aio, async move { client.delete_alarm(object).await })
    }

    /// Runs one SQL statement: `{"columns", "rows", "rows_read", "rows_written"}`.
    #[pyo3(signature = (object, query, params, aio=false, traceparent=None))]
    fn sql<'py>(
        &self,
        py: Python<'py>,
        object: &Bound<'py, PyAny>,
        query: String,
        params: Vec<Bound<'py, PyAny>>,
        aio: bool,
        traceparent: Option<&str>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (client, object) = self.target(object, traceparent)?;
        let params = params
            .iter()
            .enumerate()
            .map(|(i, p)| to_json(p, &format!("params[{i}]")))
            .collect::<PyResult<Vec<_>>>()?;
        run(py, aio, async move {
            let r = client.sql(object, &query, &params).await?;
            Ok(Json(json!({
                "columns": r.columns,
                "rows": r.rows,
                "rows_read": r.rows_read,
                "rows_written": r.rows_written,
            })))
        })
    }

    /// Runs `(method, params, idempotency_key)` calls in one round trip; a
    /// list of each call's result or exception instance.
    #[pyo3(signature = (object, calls, aio=false, traceparent=None))]
    fn batch<'py>(
        &self,
        py: Python<'py>,
        object: &Bound<'py, PyAny>,
        calls: Vec<(String, Bound<'py, PyAny>, Option<String>)>,
        aio: bool,
        traceparent: Option<&str>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (client, object) = self.target(object, traceparent)?;
        let calls = calls
            .into_iter()
            .enumerate()
            .map(|(i, (method, params, key))| {
                Ok(BatchCall {
                    method,
                    params: to_json(&params, &format!("calls[{i}].params"))?,
                    idempotency_key: key,
                })
            })
            .collect::<PyResult<Vec<_>>>()?;
        run(py, aio, async move {
            client.batch(object, &calls).await.map(BatchOut)
        })
    }

    /// A new unique object id (64 hex digits).
    #[pyo3(signature = (namespace=None, jurisdiction=None, aio=false, traceparent=None))]
    fn new_unique_id<'py>(
        &self,
        py: Python<'py>,
        namespace: Option<String>,
        jurisdiction: Option<String>,
        aio: bool,
        traceparent: Option<&str>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let client = self.client(traceparent)?;
        run(py, aio, async move {
            client
                .new_unique_id(namespace.as_deref(), jurisdiction.as_deref())
                .await
        })
    }

    /// The id the name maps to in the namespace.
    #[pyo3(signature = (name, namespace=None, aio=false, traceparent=None))]
    fn namespace_object_id<'py>(
        &self,
        py: Python<'py>,
        name: String,
        namespace: Option<String>,
        aio: bool,
        traceparent: Option<&str>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let client = self.client(traceparent)?;
        run(py, aio, async move {
            client
                .namespace_object_id(namespace.as_deref(), &name)
                .await
        })
    }

    /// A page of namespaces: `{"namespaces": [...], "page", "total_count", "has_more"}`.
    #[pyo3(signature = (page, per_page, aio=false))]
    fn list_namespaces<'py>(
        &self,
        py: Python<'py>,
        page: u32,
        per_page: u32,
        aio: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let client = self.client(None)?;
        run(py, aio, async move {
            let p = client.list_namespaces(page, per_page).await?;
            let namespaces: Vec<Value> = p
                .namespaces
                .into_iter()
                .map(|n| {
                    json!({"id": n.id, "name": n.name, "script": n.script,
                           "class": n.class, "use_sqlite": n.use_sqlite})
                })
                .collect();
            Ok(Json(json!({"namespaces": namespaces, "page": p.page,
                "total_count": p.total_count, "has_more": p.has_more})))
        })
    }

    /// A page of a namespace's objects: `{"objects": [...], "cursor"}`.
    #[pyo3(signature = (namespace_id, cursor=None, limit=1000, aio=false))]
    fn list_objects<'py>(
        &self,
        py: Python<'py>,
        namespace_id: String,
        cursor: Option<String>,
        limit: u32,
        aio: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let client = self.client(None)?;
        run(py, aio, async move {
            let p = client
                .list_objects(&namespace_id, cursor.as_deref(), limit)
                .await?;
            let objects: Vec<Value> = p
                .objects
                .into_iter()
                .map(|o| json!({"id": o.id, "has_stored_data": o.has_stored_data}))
                .collect();
            Ok(Json(json!({"objects": objects, "cursor": p.cursor})))
        })
    }

    /// Opens a WebSocket to the object (returns once connected).
    #[pyo3(signature = (object, traceparent=None))]
    fn websocket(
        &self,
        py: Python<'_>,
        object: &Bound<'_, PyAny>,
        traceparent: Option<&str>,
    ) -> PyResult<NativeWebSocket> {
        let (client, object) = self.target(object, traceparent)?;
        let socket = block_on(py, async move { client.websocket(object).await })?
            .map(Arc::new)
            .map_err(to_py)?;
        self.track(&socket);
        Ok(NativeWebSocket::new(socket))
    }

    /// Awaitable form of `websocket`.
    #[pyo3(signature = (object, traceparent=None))]
    fn websocket_async<'py>(
        slf: Bound<'py, Self>,
        object: &Bound<'py, PyAny>,
        traceparent: Option<&str>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let client = slf.get().client(traceparent)?;
        let object = object_ref(object)?;
        let owner = slf.unbind();
        future_into_py(py, async move {
            let socket = Arc::new(client.websocket(object).await.map_err(Failure::Core)?);
            owner.get().track(&socket);
            Ok::<_, Failure>(NativeWebSocket::new(socket))
        })
    }

    /// Closes every socket this client opened and releases its connection
    /// pool. Idempotent; later operations raise `ConnectionClosedError`.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let sockets = self.take_for_close();
        if sockets.is_empty() || crate::process::process_id() != self.pid {
            return Ok(());
        }
        block_on(py, close_all(sockets))
    }

    /// Awaitable form of `close`.
    fn close_async<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let sockets = self.take_for_close();
        let forked = crate::process::process_id() != self.pid;
        // Started here, not in the task: a wait cancelled before the runtime
        // ran it still closes every socket.
        let closing = (!forked).then(|| close_all(sockets));
        future_into_py(py, async move {
            if let Some(closing) = closing {
                closing.await;
            }
            Ok::<(), Failure>(())
        })
    }
}
