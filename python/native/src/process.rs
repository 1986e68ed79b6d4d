//! Who this process is: its id and its Python main thread, read once and
//! kept until a `fork()`.
//!
//! Every operation checks that it runs in the process that made its client
//! (a forked child must not use its parent's runtime or sockets). On this
//! glibc each `getpid` is a syscall, and an asyncio call made several; with
//! the id cached here the check is an atomic load.
//!
//! Only the main thread runs Python's signal handlers, so only it needs to
//! wake up during a blocking wait to let Ctrl-C through; other threads wait
//! without waking (see `runtime::block_on`).
//!
//! A `pthread_atfork` child handler forgets the cached id and makes the
//! forking thread the main one, as CPython does in the child.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Once;

use pyo3::prelude::*;

/// The cached id, 0 when not read yet in this process.
static PID: AtomicU32 = AtomicU32::new(0);
/// Whether the fork handler is registered (otherwise nothing is cached).
static WATCHING: AtomicBool = AtomicBool::new(false);
/// Python's main thread (its `threading.get_ident()`), 0 when unknown.
static MAIN_THREAD: AtomicU64 = AtomicU64::new(0);

/// Runs in the child right after `fork()`: only atomic stores and
/// `pthread_self`, as a handler there must take no lock.
extern "C" fn after_fork_in_child() {
    PID.store(0, Ordering::SeqCst);
    // SAFETY: pthread_self has no preconditions.
    MAIN_THREAD.store(unsafe { libc::pthread_self() } as u64, Ordering::SeqCst);
}

/// Registers the fork handler and remembers the main thread (once; called
/// when the module is imported).
pub fn watch(py: Python<'_>) -> PyResult<()> {
    let main = py
        .import("threading")?
        .call_method0("main_thread")?
        .getattr("ident")?
        .extract::<Option<u64>>()?;
    MAIN_THREAD.store(main.unwrap_or(0), Ordering::SeqCst);
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: registers a handler that only stores to atomics.
        let registered =
            unsafe { libc::pthread_atfork(None, None, Some(after_fork_in_child)) } == 0;
        WATCHING.store(registered, Ordering::SeqCst);
    });
    Ok(())
}

/// This process's id: the cached one, else read now (and cached when the
/// fork handler is registered).
pub fn process_id() -> u32 {
    if !WATCHING.load(Ordering::Relaxed) {
        return std::process::id();
    }
    match PID.load(Ordering::Relaxed) {
        0 => {
            let pid = std::process::id();
            PID.store(pid, Ordering::Relaxed);
            pid
        }
        pid => pid,
    }
}

/// Whether the calling thread may have to run Python's signal handlers: it
/// is the main thread, or the main thread is not known (or not tracked
/// across forks).
pub fn may_run_signal_handlers() -> bool {
    let main = MAIN_THREAD.load(Ordering::Relaxed);
    // SAFETY: pthread_self has no preconditions.
    main == 0 || !WATCHING.load(Ordering::Relaxed) || main == unsafe { libc::pthread_self() } as u64
}
