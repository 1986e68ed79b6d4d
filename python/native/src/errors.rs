//! Core errors to the package's Python exception hierarchy, which is defined
//! in pure Python (`cloudflare_durable/_errors.py`) so that classes can also
//! derive from `ValueError`, `TimeoutError` and `ConnectionError`.

use cloudflare_durable::Error;
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;

static FACTORY: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

fn build(
    py: Python<'_>,
    kind: &str,
    message: String,
    status: Option<u16>,
    retry_after: Option<f64>,
    field: Option<&str>,
) -> PyErr {
    let factory = FACTORY.get_or_try_init(py, || {
        py.import("cloudflare_durable._errors")?
            .getattr("_from_native")
            .map(Bound::unbind)
    });
    let factory = match factory {
        Ok(f) => f,
        Err(e) => return e,
    };
    match factory.call1(py, (kind, message, status, retry_after, field)) {
        Ok(exc) => PyErr::from_value(exc.into_bound(py)),
        Err(e) => e,
    }
}

/// The Python exception for a core error, built while attached.
pub fn core_err(py: Python<'_>, error: &Error) -> PyErr {
    build(
        py,
        error.kind().as_str(),
        error.to_string(),
        error.status(),
        error.retry_after().map(|d| d.as_secs_f64()),
        error.input_field().map(|f| f.as_str()),
    )
}

/// The Python exception for a core error (attaches briefly).
pub fn to_py(error: Error) -> PyErr {
    crate::runtime::attach_from_rust(|py| core_err(py, &error))
        .unwrap_or_else(|| PyRuntimeError::new_err("the interpreter is shutting down"))
}

/// Why an awaited operation failed: a Python error, or a core error turned
/// into one only once attached (on its way to the event loop).
pub enum Failure {
    /// Already a Python exception.
    Py(PyErr),
    /// A core error.
    Core(Error),
    /// A panic in the native code, with its message: an `InternalError`.
    Internal(String),
}

impl From<PyErr> for Failure {
    fn from(e: PyErr) -> Self {
        Failure::Py(e)
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Core(e)
    }
}

impl Failure {
    /// The Python exception.
    pub fn into_pyerr(self, py: Python<'_>) -> PyErr {
        match self {
            Failure::Py(e) => e,
            Failure::Core(e) => core_err(py, &e),
            Failure::Internal(message) => build(py, "internal_error", message, None, None, None),
        }
    }
}

/// The exception of `kind` with `message` (and `field`), attaching briefly;
/// a plain `RuntimeError` once the interpreter is shutting down.
fn attached(kind: &str, message: String, field: Option<&str>) -> PyErr {
    crate::runtime::attach_from_rust(|py| build(py, kind, message.clone(), None, None, field))
        .unwrap_or_else(|| PyRuntimeError::new_err(message))
}

/// An `InternalError` for a panic in the native code (attaches briefly).
pub fn internal(message: impl Into<String>) -> PyErr {
    attached("internal_error", message.into(), None)
}

/// A `ConnectionClosedError` with this message.
pub fn closed(message: impl Into<String>) -> PyErr {
    attached("connection_closed", message.into(), None)
}

/// An `InvalidInputError` about the configuration.
pub fn invalid_config(message: impl Into<String>) -> PyErr {
    let message = message.into();
    crate::runtime::attach_from_rust(|py| {
        build(
            py,
            "invalid_input",
            format!("invalid config: {message}"),
            None,
            None,
            Some("config"),
        )
    })
    .unwrap_or_else(|| PyRuntimeError::new_err(message))
}

/// An `InvalidInputError` about `field` (e.g. `object_name`).
pub fn invalid(field: &'static str, message: impl Into<String>) -> PyErr {
    attached("invalid_input", message.into(), Some(field))
}
