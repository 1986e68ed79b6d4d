//! `NativeWebSocket`: the core `WebSocket` with blocking and awaitable
//! send, call, receive (in batches) and close.

use std::sync::Arc;

use cloudflare_durable::WebSocket;
use pyo3::prelude::*;

use crate::client::{call_options, seconds};
use crate::convert::{to_json, Json, JsonBatch};
use crate::errors::{self, to_py};
use crate::runtime::{block_on, block_on_here, future_into_py};

/// One live WebSocket. Safe to share between threads; one reader at a time.
#[pyclass(module = "cloudflare_durable._native", frozen)]
pub struct NativeWebSocket {
    socket: Arc<WebSocket>,
    pid: u32,
}

impl NativeWebSocket {
    pub fn new(socket: Arc<WebSocket>) -> Self {
        NativeWebSocket {
            socket,
            pid: crate::process::process_id(),
        }
    }

    fn socket(&self) -> PyResult<Arc<WebSocket>> {
        if crate::process::process_id() != self.pid {
            return Err(errors::closed(
                "this WebSocket was opened before fork(); open a new one in the child process",
            ));
        }
        Ok(self.socket.clone())
    }
}

#[pymethods]
impl NativeWebSocket {
    /// The object this socket talks to.
    #[getter]
    fn object(&self) -> String {
        self.socket.object().to_owned()
    }

    /// `"connecting"`, `"connected"`, `"reconnecting"` or `"closed"`.
    #[getter]
    fn status(&self) -> &'static str {
        self.socket.status().as_str()
    }

    /// Sends a JSON message (queued while reconnecting).
    fn send(&self, py: Python<'_>, message: &Bound<'_, PyAny>) -> PyResult<()> {
        let socket = self.socket()?;
        let message = to_json(message, "message")?;
        block_on_here(py, async move { socket.send(&message).await })?.map_err(to_py)
    }

    /// Awaitable form of `send`.
    fn send_async<'py>(
        &self,
        py: Python<'py>,
        message: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let socket = self.socket()?;
        let message = to_json(message, "message")?;
        future_into_py(py, async move { socket.send(&message).await })
    }

    /// Calls a method over the socket and returns its result.
    #[pyo3(signature = (method, params, idempotency_key=None, timeout=None))]
    fn call(
        &self,
        py: Python<'_>,
        method: String,
        params: &Bound<'_, PyAny>,
        idempotency_key: Option<String>,
        timeout: Option<f64>,
    ) -> PyResult<Json> {
        let socket = self.socket()?;
        let params = to_json(params, "params")?;
        let options = call_options(idempotency_key, timeout)?;
        block_on_here(py, async move {
            socket.call_with(&method, &params, options).await
        })?
        .map(Json)
        .map_err(to_py)
    }

    /// Awaitable form of `call`.
    #[pyo3(signature = (method, params, idempotency_key=None, timeout=None))]
    fn call_async<'py>(
        &self,
        py: Python<'py>,
        method: String,
        params: &Bound<'py, PyAny>,
        idempotency_key: Option<String>,
        timeout: Option<f64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let socket = self.socket()?;
        let params = to_json(params, "params")?;
        let options = call_options(idempotency_key, timeout)?;
        future_into_py(py, async move {
            socket.call_with(&method, &params, options).await.map(Json)
        })
    }

    /// Waits for messages (GIL released, Ctrl-C honoured) and returns those
    /// waiting, at most `max`: a non-empty list, `[]` once the socket is
    /// closed, or `None` when `timeout` seconds passed without a message.
    /// Raises the error that ended the socket, once.
    #[pyo3(signature = (max=256, timeout=None))]
    fn next_batch(
        &self,
        py: Python<'_>,
        max: usize,
        timeout: Option<f64>,
    ) -> PyResult<Option<JsonBatch>> {
        let socket = self.socket()?;
        let limit = timeout.map(|t| seconds("timeout", t)).transpose()?;
        let outcome = block_on_here(py, async move {
            match limit {
                Some(limit) => tokio::time::timeout(limit, socket.next_batch(max))
                    .await
                    .ok(),
                None => Some(socket.next_batch(max).await),
            }
        })?;
        match outcome {
            None => Ok(None),
            Some(Ok(batch)) => Ok(Some(JsonBatch(batch))),
            Some(Err(e)) => Err(to_py(e)),
        }
    }

    /// Awaitable form of `next_batch` (no timeout; `[]` once closed).
    #[pyo3(signature = (max=256))]
    fn next_batch_async<'py>(&self, py: Python<'py>, max: usize) -> PyResult<Bound<'py, PyAny>> {
        let socket = self.socket()?;
        future_into_py(
            py,
            async move { socket.next_batch(max).await.map(JsonBatch) },
        )
    }

    /// Waits until the status is `status` (or the socket closes), at most
    /// `timeout` seconds; returns the status reached.
    fn wait_for_status(&self, py: Python<'_>, status: String, timeout: f64) -> PyResult<String> {
        let socket = self.socket()?;
        let limit = seconds("timeout", timeout)?;
        let reached = block_on(py, async move {
            socket
                .wait_for_status(limit, |s| s.as_str() == status || s.as_str() == "closed")
                .await
        })?;
        Ok(reached
            .unwrap_or_else(|| self.socket.status())
            .as_str()
            .to_owned())
    }

    /// Closes the socket (code 1000); idempotent. The close is started
    /// before the wait, so an interrupted wait (Ctrl-C) still closes.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        if crate::process::process_id() != self.pid {
            return Ok(());
        }
        self.socket.start_close();
        let socket = self.socket.clone();
        block_on(py, async move { socket.close().await })
    }

    /// Awaitable form of `close`. The close is started here, so a cancelled
    /// wait (even one cancelled before the runtime ran it) still closes.
    fn close_async<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        if crate::process::process_id() == self.pid {
            self.socket.start_close();
        }
        let socket = self.socket.clone();
        future_into_py(py, async move {
            socket.close().await;
            Ok::<(), crate::errors::Failure>(())
        })
    }
}
