//! `NativeClient`: the core `Client` with a blocking and an awaitable form
//! of every operation. The pure-Python `Client` and `AsyncClient` wrap it.

use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;

use cloudflare_durable::{CallOptions, Client, Config, Event, EventHook, WebSocket};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::convert::{to_json, Json, JsonMap};
use crate::errors::{self, to_py};
use crate::runtime::{self, block_on, future_into_py};
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
        let _ = Python::try_attach(|py| {
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

/// A client for one worker (blocking methods, and `*_async` ones that return
/// awaitables). Safe to share between threads.
#[pyclass(module = "cloudflare_durable._native", frozen)]
pub struct NativeClient {
    client: RwLock<Option<Client>>,
    pid: u32,
    sockets: Mutex<Vec<Weak<WebSocket>>>,
}

impl NativeClient {
    /// The core client, unless closed or inherited across `fork()`.
    fn client(&self) -> PyResult<Client> {
        let pid = std::process::id();
        if pid != self.pid {
            return Err(errors::closed(format!(
                "this client was created in process {} and cannot be used after fork() \
                 (in process {pid}); create a new client in the child process",
                self.pid
            )));
        }
        runtime::get_py()?;
        match self.client.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
        .ok_or_else(|| errors::closed("the client is closed"))
    }

    /// Remembers a socket so that `close()` can close it.
    pub fn track(&self, socket: &Arc<WebSocket>) {
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

    fn options(idempotency_key: Option<String>, timeout: Option<f64>) -> PyResult<CallOptions> {
        Ok(CallOptions {
            idempotency_key,
            timeout: timeout.map(|t| seconds("timeout", t)).transpose()?,
        })
    }
}

async fn close_all(sockets: Vec<Arc<WebSocket>>) {
    for socket in sockets {
        socket.close().await;
    }
}

#[pymethods]
impl NativeClient {
    /// Builds a client; unset values come from `CLOUDFLARE_*` variables, then defaults.
    #[new]
    #[pyo3(signature = (*, worker_url=None, account_id=None, api_token=None, timeout=None,
        retry_count=None, retry_delay=None, websocket_reconnect_delay=None,
        websocket_max_reconnect_delay=None, heartbeat_interval=None, heartbeat_timeout=None,
        send_queue_capacity=None, message_buffer=None, pool_size=None,
        allow_insecure_http=false, event_sink=None))]
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
        allow_insecure_http: bool,
        event_sink: Option<Py<PyAny>>,
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
        b = b.allow_insecure_http(allow_insecure_http);
        if let Some(sink) = event_sink {
            b = b.event_hook(Arc::new(Sink(sink)));
        }
        let config = b.build().map_err(to_py)?;
        let client = Client::new(config).map_err(to_py)?;
        Ok(NativeClient {
            client: RwLock::new(Some(client)),
            pid: std::process::id(),
            sockets: Mutex::new(Vec::new()),
        })
    }

    /// The worker URL in use.
    #[getter]
    fn worker_url(&self) -> PyResult<String> {
        Ok(self.client()?.config().worker_url().to_string())
    }

    /// The per-attempt timeout, in seconds.
    #[getter]
    fn timeout(&self) -> PyResult<f64> {
        Ok(self.client()?.config().timeout().as_secs_f64())
    }

    /// Whether `close()` was called.
    #[getter]
    fn closed(&self) -> bool {
        self.client.read().map(|g| g.is_none()).unwrap_or(true)
    }

    /// Stores `state` (a dict) in the object, one key per member.
    fn initialize(&self, py: Python<'_>, object: String, state: &Bound<'_, PyAny>) -> PyResult<()> {
        let client = self.client()?;
        let state = to_json(state, "state")?;
        block_on(py, async move { client.initialize(&object, &state).await })?.map_err(to_py)
    }

    /// Awaitable form of `initialize`.
    fn initialize_async<'py>(
        &self,
        py: Python<'py>,
        object: String,
        state: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let client = self.client()?;
        let state = to_json(state, "state")?;
        future_into_py(py, async move {
            client.initialize(&object, &state).await.map_err(to_py)
        })
    }

    /// Calls a method of the object and returns its result.
    #[pyo3(signature = (object, method, params, idempotency_key=None, timeout=None))]
    fn call_method(
        &self,
        py: Python<'_>,
        object: String,
        method: String,
        params: &Bound<'_, PyAny>,
        idempotency_key: Option<String>,
        timeout: Option<f64>,
    ) -> PyResult<Json> {
        let client = self.client()?;
        let params = to_json(params, "params")?;
        let options = Self::options(idempotency_key, timeout)?;
        block_on(py, async move {
            client
                .call_method_with(&object, &method, &params, options)
                .await
        })?
        .map(Json)
        .map_err(to_py)
    }

    /// Awaitable form of `call_method`.
    #[pyo3(signature = (object, method, params, idempotency_key=None, timeout=None))]
    fn call_method_async<'py>(
        &self,
        py: Python<'py>,
        object: String,
        method: String,
        params: &Bound<'py, PyAny>,
        idempotency_key: Option<String>,
        timeout: Option<f64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let client = self.client()?;
        let params = to_json(params, "params")?;
        let options = Self::options(idempotency_key, timeout)?;
        future_into_py(py, async move {
            client
                .call_method_with(&object, &method, &params, options)
                .await
                .map(Json)
                .map_err(to_py)
        })
    }

    /// The object's whole state, as a dict.
    fn get_state(&self, py: Python<'_>, object: String) -> PyResult<JsonMap> {
        let client = self.client()?;
        block_on(py, async move { client.get_state(&object).await })?
            .map(JsonMap)
            .map_err(to_py)
    }

    /// Awaitable form of `get_state`.
    fn get_state_async<'py>(&self, py: Python<'py>, object: String) -> PyResult<Bound<'py, PyAny>> {
        let client = self.client()?;
        future_into_py(py, async move {
            client.get_state(&object).await.map(JsonMap).map_err(to_py)
        })
    }

    /// One key of the object's state (`NotFoundError` when absent).
    fn get_state_key(&self, py: Python<'_>, object: String, key: String) -> PyResult<Json> {
        let client = self.client()?;
        block_on(py, async move { client.get_state_key(&object, &key).await })?
            .map(Json)
            .map_err(to_py)
    }

    /// Awaitable form of `get_state_key`.
    fn get_state_key_async<'py>(
        &self,
        py: Python<'py>,
        object: String,
        key: String,
    ) -> PyResult<Bound<'py, PyAny>> {
        let client = self.client()?;
        future_into_py(py, async move {
            client
                .get_state_key(&object, &key)
                .await
                .map(Json)
                .map_err(to_py)
        })
    }

    /// Sets one key of the object's state.
    fn update_state(
        &self,
        py: Python<'_>,
        object: String,
        key: String,
        value: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let client = self.client()?;
        let value = to_json(value, "value")?;
        block_on(py, async move {
            client.update_state(&object, &key, &value).await
        })?
        .map_err(to_py)
    }

    /// Awaitable form of `update_state`.
    fn update_state_async<'py>(
        &self,
        py: Python<'py>,
        object: String,
        key: String,
        value: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let client = self.client()?;
        let value = to_json(value, "value")?;
        future_into_py(py, async move {
            client
                .update_state(&object, &key, &value)
                .await
                .map_err(to_py)
        })
    }

    /// Deletes one key of the object's state.
    fn delete_state(&self, py: Python<'_>, object: String, key: String) -> PyResult<()> {
        let client = self.client()?;
        block_on(py, async move { client.delete_state(&object, &key).await })?.map_err(to_py)
    }

    /// Awaitable form of `delete_state`.
    fn delete_state_async<'py>(
        &self,
        py: Python<'py>,
        object: String,
        key: String,
    ) -> PyResult<Bound<'py, PyAny>> {
        let client = self.client()?;
        future_into_py(py, async move {
            client.delete_state(&object, &key).await.map_err(to_py)
        })
    }

    /// Opens a WebSocket to the object (returns once connected).
    fn websocket(&self, py: Python<'_>, object: String) -> PyResult<NativeWebSocket> {
        let client = self.client()?;
        let socket = block_on(py, async move { client.websocket(&object).await })?
            .map(Arc::new)
            .map_err(to_py)?;
        self.track(&socket);
        Ok(NativeWebSocket::new(socket))
    }

    /// Awaitable form of `websocket`.
    fn websocket_async<'py>(slf: Bound<'py, Self>, object: String) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let client = slf.get().client()?;
        let owner = slf.unbind();
        future_into_py(py, async move {
            let socket = Arc::new(client.websocket(&object).await.map_err(to_py)?);
            owner.get().track(&socket);
            Ok(NativeWebSocket::new(socket))
        })
    }

    /// Closes every socket this client opened and releases its connection
    /// pool. Idempotent; later operations raise `ConnectionClosedError`.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let sockets = self.take_for_close();
        if sockets.is_empty() || std::process::id() != self.pid {
            return Ok(());
        }
        block_on(py, close_all(sockets))
    }

    /// Awaitable form of `close`.
    fn close_async<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let sockets = self.take_for_close();
        if std::process::id() != self.pid {
            return future_into_py(py, async { Ok(()) });
        }
        future_into_py(py, async move {
            close_all(sockets).await;
            Ok(())
        })
    }
}
