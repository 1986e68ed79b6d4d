//! The native half of the `cloudflare_durable` Python package: thin PyO3
//! wrappers over the `cloudflare-durable` core. Everything here converts
//! types and moves results to Python; all logic (validation, retries,
//! reconnection, the protocol) lives in the core.
//!
//! Python users import `cloudflare_durable`, never this module directly.

mod client;
mod completions;
mod convert;
mod errors;
mod process;
mod runtime;
mod websocket;

use pyo3::prelude::*;

/// The `cloudflare_durable._native` module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    process::watch(m.py())?;
    m.add_class::<client::NativeClient>()?;
    m.add_class::<websocket::NativeWebSocket>()?;
    m.add_function(wrap_pyfunction!(convert::to_json_value, m)?)?;
    m.add_function(wrap_pyfunction!(error_kinds, m)?)?;
    m.add_function(wrap_pyfunction!(runtime_pid, m)?)?;
    m.add_function(wrap_pyfunction!(runtime::shutdown, m)?)?;
    m.add_class::<completions::LoopCompletions>()?;
    m.add_class::<runtime::Canceller>()?;
    m.add("CORE_VERSION", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}

/// The core's stable error kind names, in declaration order.
#[pyfunction]
fn error_kinds() -> Vec<&'static str> {
    cloudflare_durable::ErrorKind::ALL
        .iter()
        .map(|k| k.as_str())
        .collect()
}

/// The pid of the process whose tokio runtime is current (None before first use).
#[pyfunction]
fn runtime_pid() -> Option<u32> {
    runtime::current_pid()
}
