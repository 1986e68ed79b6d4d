//! One tokio runtime per process, rebuilt in a `fork()`ed child (the parent's
//! worker threads do not exist there), and the glue that lets
//! `pyo3-async-runtimes` spawn onto it.

use std::cell::OnceCell;
use std::future::Future;
use std::pin::Pin;
use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::mpsc::{sync_channel, RecvTimeoutError};
use std::time::Duration;

use pyo3::prelude::*;
use pyo3_async_runtimes::generic::{ContextExt, Runtime as GenericRuntime};
use pyo3_async_runtimes::TaskLocals;
use tokio::runtime::Runtime;

use crate::errors;

/// A runtime and the process that built it.
struct ProcessRuntime {
    pid: u32,
    runtime: Runtime,
}

/// The current process's runtime. A parent's runtime seen from a forked
/// child is leaked, never dropped: its threads are gone, so dropping it
/// could wait for them forever.
static CURRENT: AtomicPtr<ProcessRuntime> = AtomicPtr::new(ptr::null_mut());

/// How long a blocking wait sleeps between two checks for Ctrl-C.
const SIGNAL_SLICE: Duration = Duration::from_millis(50);

/// The pid that built the current runtime, if any.
pub fn current_pid() -> Option<u32> {
    let current = CURRENT.load(Ordering::Acquire);
    // SAFETY: a published pointer is never freed (see CURRENT).
    (!current.is_null()).then(|| unsafe { (*current).pid })
}

/// This process's runtime, built on first use (and again after a fork).
pub fn get() -> std::io::Result<&'static Runtime> {
    let pid = std::process::id();
    loop {
        let current = CURRENT.load(Ordering::Acquire);
        if !current.is_null() {
            // SAFETY: a published pointer is never freed (see CURRENT).
            let entry = unsafe { &*current };
            if entry.pid == pid {
                return Ok(&entry.runtime);
            }
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("cloudflare-durable")
            .build()?;
        let fresh = Box::into_raw(Box::new(ProcessRuntime { pid, runtime }));
        match CURRENT.compare_exchange(current, fresh, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => {
                // SAFETY: just published; never freed.
                return Ok(unsafe { &(*fresh).runtime });
            }
            Err(_) => {
                // Another thread won the race: drop ours and use theirs.
                // SAFETY: `fresh` was never published.
                let lost = unsafe { Box::from_raw(fresh) };
                lost.runtime.shutdown_background();
            }
        }
    }
}

/// The runtime, or a Python error saying why it could not start.
pub fn get_py() -> PyResult<&'static Runtime> {
    get().map_err(|e| errors::closed(format!("cannot start the tokio runtime: {e}")))
}

fn get_or_panic() -> &'static Runtime {
    // Only reached after `get_py` succeeded in this process (every entry
    // point calls it first), so this does not fail in practice; PyO3 turns
    // a panic into a Python exception anyway.
    get().expect("cannot start the tokio runtime")
}

/// Runs `future` on the runtime and waits for it with the GIL released, in
/// short slices so that Ctrl-C (a pending signal) still interrupts the wait;
/// an interrupted future is aborted.
pub fn block_on<T, F>(py: Python<'_>, future: F) -> PyResult<T>
where
    T: Send + 'static,
    F: Future<Output = T> + Send + 'static,
{
    let runtime = get_py()?;
    let (tx, rx) = sync_channel(1);
    let task = runtime.spawn(async move {
        let _ = tx.send(future.await);
    });
    let mut rx = rx;
    loop {
        let (back, received) = py.detach(move || {
            let received = rx.recv_timeout(SIGNAL_SLICE);
            (rx, received)
        });
        rx = back;
        match received {
            Ok(value) => return Ok(value),
            Err(RecvTimeoutError::Timeout) => {
                if let Err(interrupt) = py.check_signals() {
                    task.abort();
                    return Err(interrupt);
                }
            }
            Err(RecvTimeoutError::Disconnected) => {
                return Err(errors::closed(
                    "the operation's task ended without a result (runtime shut down?)",
                ))
            }
        }
    }
}

/// The `pyo3-async-runtimes` runtime: spawns onto this process's runtime.
pub struct ForkAwareTokio;

tokio::task_local! {
    static TASK_LOCALS: OnceCell<TaskLocals>;
}

impl GenericRuntime for ForkAwareTokio {
    type JoinError = tokio::task::JoinError;
    type JoinHandle = tokio::task::JoinHandle<()>;

    fn spawn<F>(fut: F) -> Self::JoinHandle
    where
        F: Future<Output = ()> + Send + 'static,
    {
        get_or_panic().spawn(fut)
    }

    fn spawn_blocking<F>(f: F) -> Self::JoinHandle
    where
        F: FnOnce() + Send + 'static,
    {
        get_or_panic().spawn_blocking(f)
    }
}

impl ContextExt for ForkAwareTokio {
    fn scope<F, R>(locals: TaskLocals, fut: F) -> Pin<Box<dyn Future<Output = R> + Send>>
    where
        F: Future<Output = R> + Send + 'static,
    {
        let cell = OnceCell::new();
        let _ = cell.set(locals);
        Box::pin(TASK_LOCALS.scope(cell, fut))
    }

    fn get_task_locals() -> Option<TaskLocals> {
        TASK_LOCALS
            .try_with(|cell| cell.get().cloned())
            .unwrap_or_default()
    }
}

/// Wraps a Rust future into a Python awaitable bound to the running loop.
pub fn future_into_py<'py, F, T>(py: Python<'py>, fut: F) -> PyResult<Bound<'py, PyAny>>
where
    F: Future<Output = PyResult<T>> + Send + 'static,
    T: for<'a> IntoPyObject<'a> + Send + 'static,
{
    get_py()?;
    pyo3_async_runtimes::generic::future_into_py::<ForkAwareTokio, F, T>(py, fut)
}
