//! One tokio runtime per process, rebuilt in a `fork()`ed child (the parent's
//! worker threads do not exist there); the bridge from Rust futures to
//! asyncio futures; and the exit-time guard that keeps Rust threads away
//! from the interpreter once it starts shutting down.
//!
//! Why the guard: before Python 3.14, a thread that attaches to the
//! interpreter after finalization began is terminated with `pthread_exit`,
//! which unwinds through Rust frames and crashes the process. So no Rust
//! thread attaches without [`attach_from_rust`], and the `atexit` hook
//! [`shutdown`] (registered when the package is imported) closes every
//! socket, refuses further attaches, and waits for the ones in flight.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, RecvTimeoutError};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use cloudflare_durable::WebSocket;
use futures_util::FutureExt;
use pyo3::prelude::*;
use pyo3::IntoPyObjectExt;
use tokio::runtime::Runtime;
use tokio::task::AbortHandle;

use crate::errors::{self, Failure};

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

/// Set by the `atexit` hook: Rust threads no longer attach to Python.
static SHUTTING_DOWN: AtomicBool = AtomicBool::new(false);
/// Set when the `atexit` hook is done: only finalization remains.
static FINALIZING: AtomicBool = AtomicBool::new(false);
/// Rust threads between "may I attach?" and "done with Python".
static ATTACHING: AtomicUsize = AtomicUsize::new(0);
/// The thread that ran the `atexit` hook (a hash of its id), 0 before.
static EXIT_THREAD: AtomicU64 = AtomicU64::new(0);
/// Every socket opened in this process, for the `atexit` hook to close.
static SOCKETS: Mutex<Vec<Weak<WebSocket>>> = Mutex::new(Vec::new());

thread_local! {
    /// Whether this thread is one of the tokio runtime's.
    static RUNTIME_THREAD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn thread_tag() -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    std::thread::current().id().hash(&mut h);
    h.finish() | 1
}

/// Runs `f` attached to the interpreter from a thread that may not be a
/// Python thread; `None` (and `f` not run) once the interpreter is shutting
/// down. Threads already attached just run `f`.
pub fn attach_from_rust<R>(f: impl FnOnce(Python<'_>) -> R) -> Option<R> {
    if !RUNTIME_THREAD.with(|t| t.get()) {
        // A Python thread (it runs Python code, so finalization handles it).
        return Python::try_attach(f);
    }
    ATTACHING.fetch_add(1, Ordering::SeqCst);
    let result = if SHUTTING_DOWN.load(Ordering::SeqCst) {
        None
    } else {
        Python::try_attach(f)
    };
    ATTACHING.fetch_sub(1, Ordering::SeqCst);
    result
}

/// Remembers a socket so that the `atexit` hook can close it.
pub fn track_socket(socket: &Arc<WebSocket>) {
    let mut sockets = SOCKETS.lock().unwrap_or_else(|p| p.into_inner());
    sockets.retain(|w| w.strong_count() > 0);
    sockets.push(Arc::downgrade(socket));
}

/// The `atexit` hook: closes every socket of this process (at most 2 s),
/// stops Rust threads from attaching to Python, and waits (at most 2 s)
/// for those already attaching. Idempotent.
#[pyfunction]
pub fn shutdown(py: Python<'_>) {
    if SHUTTING_DOWN.swap(true, Ordering::SeqCst) {
        return;
    }
    EXIT_THREAD.store(thread_tag(), Ordering::SeqCst);
    let sockets: Vec<Arc<WebSocket>> = {
        let mut guard = SOCKETS.lock().unwrap_or_else(|p| p.into_inner());
        guard.drain(..).filter_map(|w| w.upgrade()).collect()
    };
    let ours = current_pid() == Some(crate::process::process_id());
    if ours && !sockets.is_empty() {
        // Every close starts now, so all of them run within the bound.
        let close = crate::client::close_all(sockets);
        let _ = block_on(py, async move {
            let _ = tokio::time::timeout(Duration::from_secs(2), close).await;
        });
    }
    py.detach(|| {
        let deadline = Instant::now() + Duration::from_secs(2);
        while ATTACHING.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
    });
    FINALIZING.store(true, Ordering::SeqCst);
}

/// The name of the runtime's threads (Linux shows its first 15 bytes).
const RUNTIME_THREAD_NAME: &str = "cloudflare-durable";

/// Marks the calling thread as one of the runtime's (see [`attach_from_rust`]).
fn mark_runtime_thread() {
    RUNTIME_THREAD.with(|t| t.set(true));
}

/// The pid that built the current runtime, if any.
pub fn current_pid() -> Option<u32> {
    let current = CURRENT.load(Ordering::Acquire);
    // SAFETY: a published pointer is never freed (see CURRENT).
    (!current.is_null()).then(|| unsafe { (*current).pid })
}

/// This process's runtime, built on first use (and again after a fork), with
/// `CLOUDFLARE_DURABLE_RUNTIME_THREADS` threads (by default one thread
/// turning a current-thread runtime: `cloudflare_durable::binding_runtime_builder`).
pub fn get() -> std::io::Result<&'static Runtime> {
    let pid = crate::process::process_id();
    loop {
        let current = CURRENT.load(Ordering::Acquire);
        if !current.is_null() {
            // SAFETY: a published pointer is never freed (see CURRENT).
            let entry = unsafe { &*current };
            if entry.pid == pid {
                return Ok(&entry.runtime);
            }
        }
        // Bad values are reported when a client is built (NativeClient::new).
        let threads = cloudflare_durable::runtime_threads()
            .unwrap_or(cloudflare_durable::DEFAULT_RUNTIME_THREADS);
        let runtime = cloudflare_durable::binding_runtime_builder(threads)
            .enable_all()
            .thread_name(RUNTIME_THREAD_NAME)
            .on_thread_start(mark_runtime_thread)
            .build()?;
        let fresh = Box::into_raw(Box::new(ProcessRuntime { pid, runtime }));
        // SAFETY: `fresh` is freed below only if it was never published, and
        // only once no turning thread holds it (dropping `turning` joins it).
        let runtime: &'static Runtime = unsafe { &(*fresh).runtime };
        // The thread that turns a current-thread runtime starts before the
        // runtime is published: a runtime handed out always has it.
        let turning = match cloudflare_durable::prepare_turning_thread(
            runtime,
            RUNTIME_THREAD_NAME,
            mark_runtime_thread,
        ) {
            Ok(turning) => turning,
            Err(e) => {
                // SAFETY: never published, and no thread holds it.
                let unused = unsafe { Box::from_raw(fresh) };
                unused.runtime.shutdown_background();
                return Err(e);
            }
        };
        match CURRENT.compare_exchange(current, fresh, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => {
                turning.start();
                return Ok(runtime);
            }
            Err(_) => {
                // Another thread won the race: drop ours and use theirs.
                drop(turning);
                // SAFETY: `fresh` was never published, and its thread is joined.
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

/// Runs `future` on a runtime worker and waits for its output with the GIL
/// released, in short slices so that Ctrl-C (a pending signal) still
/// interrupts the wait; an interrupted future is aborted. Best for HTTP
/// requests: the request and its connection's task then run on the same
/// worker, and only the result crosses to this thread.
///
/// Only the main thread runs signal handlers, so only it wakes up in
/// slices; another thread sleeps until the result (at 256 threads the
/// slices cost each call several extra GIL acquisitions).
///
/// A daemon thread still waiting here once the interpreter is finalizing
/// stays parked instead of re-attaching (which would kill it mid-Rust-frame).
pub fn block_on<T, F>(py: Python<'_>, future: F) -> PyResult<T>
where
    T: Send + 'static,
    F: Future<Output = T> + Send + 'static,
{
    let runtime = get_py()?;
    let (tx, rx) = sync_channel(1);
    let task = runtime.spawn(async move {
        let _ = tx.send(unwinding(future).await);
    });
    let sliced = crate::process::may_run_signal_handlers();
    let mut rx = rx;
    loop {
        let (back, received) = py.detach(move || {
            let received = if sliced {
                rx.recv_timeout(SIGNAL_SLICE)
            } else {
                rx.recv().map_err(|_| RecvTimeoutError::Disconnected)
            };
            park_if_finalizing();
            (rx, received)
        });
        rx = back;
        match received {
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(panic)) => return Err(errors::internal(panic)),
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

/// Like [`block_on`], but this thread polls the future itself (inside the
/// runtime, whose workers drive the I/O). Best for waits on a WebSocket
/// (messages, calls): the connection task's hand-off wakes this thread
/// directly, one thread hand-off fewer than through a worker. A thread
/// already inside the runtime (a signal handler running during such a wait)
/// falls back to [`block_on`]. As there, only the main thread wakes up in
/// slices to let Ctrl-C through; and a thread whose wait ends once the
/// interpreter is finalizing parks instead of re-attaching.
pub fn block_on_here<T, F>(py: Python<'_>, future: F) -> PyResult<T>
where
    T: Send + 'static,
    F: Future<Output = T> + Send + 'static,
{
    if tokio::runtime::Handle::try_current().is_ok() {
        return block_on(py, future);
    }
    let runtime = get_py()?;
    let sliced = crate::process::may_run_signal_handlers();
    py.detach(move || {
        runtime.block_on(async move {
            let mut future = std::pin::pin!(unwinding(future));
            if !sliced {
                let value = future.await;
                park_if_finalizing();
                return value.map_err(errors::internal);
            }
            loop {
                if let Ok(value) = tokio::time::timeout(SIGNAL_SLICE, &mut future).await {
                    park_if_finalizing();
                    return value.map_err(errors::internal);
                }
                park_if_finalizing();
                if let Some(Err(interrupt)) = Python::try_attach(|py| py.check_signals()) {
                    return Err(interrupt);
                }
            }
        })
    })
}

/// Runs `future`, turning a panic inside it into its message, so that a
/// bug surfaces as an `InternalError` instead of a caller left waiting.
async fn unwinding<T>(future: impl Future<Output = T>) -> Result<T, String> {
    AssertUnwindSafe(future)
        .catch_unwind()
        .await
        .map_err(|panic| {
            let message = cloudflare_durable::panic_message(panic.as_ref());
            format!("the operation failed: {message}")
        })
}

/// A thread other than the exit hook's, waiting while the interpreter
/// finalizes, must never attach again: it parks for good.
fn park_if_finalizing() {
    if FINALIZING.load(Ordering::SeqCst) && EXIT_THREAD.load(Ordering::SeqCst) != thread_tag() {
        loop {
            std::thread::park();
        }
    }
}

/// Cancels the Rust task behind an asyncio future when that future is
/// cancelled (it is the future's done-callback; a no-op otherwise).
#[pyclass(module = "cloudflare_durable._native", frozen)]
pub struct Canceller(AbortHandle);

#[pymethods]
impl Canceller {
    fn __call__(&self, future: &Bound<'_, PyAny>) -> PyResult<()> {
        if future.call_method0("cancelled")?.is_truthy()? {
            self.0.abort();
        }
        Ok(())
    }
}

/// Wraps a Rust future into an asyncio future of the running loop. The
/// outcome goes back through the loop's completion queue
/// ([`crate::completions`]): no Rust thread takes the GIL, and the result is
/// converted to Python on the loop's thread. Cancelling the asyncio future
/// aborts the Rust task.
pub fn future_into_py<'py, F, T, E>(py: Python<'py>, fut: F) -> PyResult<Bound<'py, PyAny>>
where
    F: Future<Output = Result<T, E>> + Send + 'static,
    T: for<'a> IntoPyObject<'a> + Send + 'static,
    E: Into<Failure> + Send + 'static,
{
    let runtime = get_py()?;
    let (future, completer) = crate::completions::new_future(py)?;
    let task = runtime.spawn(async move {
        let result = unwinding(fut).await;
        completer.complete(Box::new(move |py| {
            let converted = match result {
                Ok(Ok(v)) => v.into_py_any(py).map_err(Failure::Py),
                Ok(Err(e)) => Err(e.into()),
                Err(panic) => Err(Failure::Internal(panic)),
            };
            match converted {
                Ok(value) => (true, value),
                Err(error) => (false, error.into_pyerr(py).into_value(py).into_any()),
            }
        }));
    });
    future.call_method1(
        pyo3::intern!(py, "add_done_callback"),
        (Canceller(task.abort_handle()),),
    )?;
    Ok(future)
}

/// A panic inside a native task, in each way an operation runs, reaches
/// Python as the package's `InternalError` (no panic is reachable from
/// input, so these tests make their own). They embed an interpreter.
#[cfg(test)]
mod tests {
    use std::ffi::CString;

    use pyo3::types::PyDict;

    use super::*;
    use crate::errors::Failure;

    async fn boom() -> u8 {
        panic!("boom (a test's own panic)")
    }

    /// Loads the package's `_errors.py` as `cloudflare_durable._errors`,
    /// where the native module finds the exception classes (without the
    /// package's `__init__`, which needs the built module). Published only
    /// once run: the other test may be loading it at the same time.
    fn internal_error_class(py: Python<'_>) -> Bound<'_, PyAny> {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../src/cloudflare_durable/_errors.py"
        );
        let code = format!(
            "import importlib.util, sys, types\n\
             if 'cloudflare_durable._errors' not in sys.modules:\n\
             \x20   sys.modules.setdefault('cloudflare_durable', types.ModuleType('cloudflare_durable'))\n\
             \x20   spec = importlib.util.spec_from_file_location('cloudflare_durable._errors', {path:?})\n\
             \x20   module = importlib.util.module_from_spec(spec)\n\
             \x20   spec.loader.exec_module(module)\n\
             \x20   sys.modules.setdefault('cloudflare_durable._errors', module)\n"
        );
        // Its own globals: two tests' runs must not share `module`.
        let globals = PyDict::new(py);
        py.run(&CString::new(code).unwrap(), Some(&globals), None)
            .unwrap();
        py.import("cloudflare_durable._errors")
            .unwrap()
            .getattr("InternalError")
            .unwrap()
    }

    #[test]
    fn a_panic_in_a_blocking_operation_raises_internal_error() {
        Python::initialize();
        Python::attach(|py| {
            let internal = internal_error_class(py);
            for (how, outcome) in [
                ("block_on", block_on(py, boom())),
                ("block_on_here", block_on_here(py, boom())),
            ] {
                let error = outcome.expect_err("a panicked operation returned a value");
                assert!(error.is_instance(py, &internal), "{how}: {error}");
                assert!(error.to_string().contains("boom"), "{how}: {error}");
            }
        });
    }

    #[pyfunction]
    fn panicking(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
        future_into_py(py, async { Ok::<_, Failure>(boom().await) })
    }

    #[test]
    fn a_panic_in_an_awaited_operation_raises_internal_error() {
        Python::initialize();
        Python::attach(|py| {
            let globals = PyDict::new(py);
            globals
                .set_item("InternalError", internal_error_class(py))
                .unwrap();
            globals
                .set_item("panicking", wrap_pyfunction!(panicking, py).unwrap())
                .unwrap();
            // Bounded: before the fix the future never resolved.
            let code = c"import asyncio\n\
                async def main():\n\
                \x20   try:\n\
                \x20       await asyncio.wait_for(panicking(), 10)\n\
                \x20   except InternalError as e:\n\
                \x20       return str(e)\n\
                \x20   return 'no exception'\n\
                outcome = asyncio.run(main())\n";
            py.run(code, Some(&globals), None).unwrap();
            let outcome: String = globals
                .get_item("outcome")
                .unwrap()
                .unwrap()
                .extract()
                .unwrap();
            assert!(outcome.contains("boom"), "{outcome}");
        });
    }
}
