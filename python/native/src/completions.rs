//! How finished operations reach their asyncio loop without a Rust thread
//! ever taking the GIL: a tokio thread pushes the outcome (still a Rust
//! value) onto the loop's queue and, if the queue was empty, writes one byte
//! to a socket pair the loop watches (`loop.add_reader`). The loop's thread
//! then drains the whole queue in one callback, converting each result to
//! Python and setting its future. Under load one wake-up completes many
//! calls; no thread contends for the GIL with the loop.

use std::cell::RefCell;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;

/// Turns a finished operation into (ok, value-or-exception), on the loop.
pub type Deliver = Box<dyn FnOnce(Python<'_>) -> (bool, Py<PyAny>) + Send>;

/// One finished operation: its asyncio future and how to fill it.
struct Done {
    future: Py<PyAny>,
    deliver: Deliver,
}

/// The queue of one loop and the socket pair that wakes it.
struct Queue {
    /// The process that made the socket pair: a forked child makes its own.
    pid: u32,
    done: Mutex<Vec<Done>>,
    /// Whether a wake-up byte is already on its way.
    signalled: AtomicBool,
    wake: UnixStream,
    watched: UnixStream,
}

impl Queue {
    fn push(&self, done: Done) {
        self.done
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(done);
        if !self.signalled.swap(true, Ordering::AcqRel) {
            // A full socket buffer means a wake-up is pending anyway.
            let _ = (&self.wake).write(&[1]);
        }
    }
}

/// The completion queue of one asyncio loop; `drain` is its reader callback.
#[pyclass(module = "cloudflare_durable._native", frozen)]
pub struct LoopCompletions {
    queue: Arc<Queue>,
}

#[pymethods]
impl LoopCompletions {
    /// Completes every queued future (the loop calls it when woken).
    fn drain(&self, py: Python<'_>) {
        // At most one wake-up byte is pending (`signalled` guards the write),
        // so one read empties the socket; a byte left behind only calls
        // `drain` once more (the loop's reader is level-triggered).
        let _ = (&self.queue.watched).read(&mut [0u8; 64]);
        // Cleared before taking the queue: a push after the take signals again.
        self.queue.signalled.store(false, Ordering::Release);
        let done = std::mem::take(&mut *self.queue.done.lock().unwrap_or_else(|e| e.into_inner()));
        for Done { future, deliver } in done {
            let (ok, value) = deliver(py);
            if let Err(e) = complete(py, future.bind(py), ok, value.bind(py)) {
                e.write_unraisable(py, Some(future.bind(py)));
            }
        }
    }
}

/// Sets an asyncio future's outcome unless it was cancelled meanwhile.
fn complete(
    py: Python<'_>,
    future: &Bound<'_, PyAny>,
    ok: bool,
    value: &Bound<'_, PyAny>,
) -> PyResult<()> {
    if future.call_method0(intern!(py, "done"))?.is_truthy()? {
        return Ok(());
    }
    let setter = if ok {
        intern!(py, "set_result")
    } else {
        intern!(py, "set_exception")
    };
    future.call_method1(setter, (value,))?;
    Ok(())
}

/// Where a tokio task sends the outcome of the future it completes.
pub struct Completer {
    queue: Arc<Queue>,
    future: Py<PyAny>,
}

impl Completer {
    /// Queues the outcome for the loop (no GIL needed).
    pub fn complete(self, deliver: Deliver) {
        self.queue.push(Done {
            future: self.future,
            deliver,
        });
    }
}

thread_local! {
    /// The loop this thread last created a future for, and its queue.
    static CURRENT: RefCell<Option<(Py<PyAny>, Arc<Queue>)>> = const { RefCell::new(None) };
}

/// A new future on the running loop, and the completer that fills it.
pub fn new_future<'py>(py: Python<'py>) -> PyResult<(Bound<'py, PyAny>, Completer)> {
    static GET_RUNNING_LOOP: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let get_running_loop = GET_RUNNING_LOOP.get_or_try_init(py, || {
        py.import("asyncio")?
            .getattr("get_running_loop")
            .map(Bound::unbind)
    })?;
    let event_loop = get_running_loop.call0(py)?.into_bound(py);
    let queue = queue_for(py, &event_loop)?;
    let future = event_loop.call_method0(intern!(py, "create_future"))?;
    let completer = Completer {
        queue,
        future: future.clone().unbind(),
    };
    Ok((future, completer))
}

/// The queue of `event_loop`, made and registered with it on first use.
fn queue_for(py: Python<'_>, event_loop: &Bound<'_, PyAny>) -> PyResult<Arc<Queue>> {
    let cached = CURRENT.with(|current| {
        current
            .borrow()
            .as_ref()
            .filter(|(cached_loop, queue)| {
                cached_loop.bind(py).is(event_loop) && queue.pid == crate::process::process_id()
            })
            .map(|(_, queue)| queue.clone())
    });
    if let Some(queue) = cached {
        return Ok(queue);
    }
    let (wake, watched) = UnixStream::pair().map_err(io_error)?;
    wake.set_nonblocking(true).map_err(io_error)?;
    watched.set_nonblocking(true).map_err(io_error)?;
    let fd = watched.as_raw_fd();
    let queue = Arc::new(Queue {
        pid: crate::process::process_id(),
        done: Mutex::new(Vec::new()),
        signalled: AtomicBool::new(false),
        wake,
        watched,
    });
    let completions = Bound::new(
        py,
        LoopCompletions {
            queue: queue.clone(),
        },
    )?;
    event_loop.call_method1(
        intern!(py, "add_reader"),
        (fd, completions.getattr(intern!(py, "drain"))?),
    )?;
    // The previous loop of this thread (usually closed by now) keeps its own
    // queue for the futures it still has.
    CURRENT.with(|current| {
        *current.borrow_mut() = Some((event_loop.clone().unbind(), queue.clone()));
    });
    Ok(queue)
}

fn io_error(e: std::io::Error) -> PyErr {
    crate::errors::closed(format!("cannot set up the event loop wake-up: {e}"))
}
