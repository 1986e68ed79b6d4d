//! This process's id, read once and kept until a `fork()`.
//!
//! Every operation checks that it runs in the process that made its client
//! (a forked child must not use its parent's runtime or sockets). On this
//! glibc each `getpid` is a syscall, and an asyncio call made several; with
//! the id cached here the check is an atomic load. A `pthread_atfork` child
//! handler forgets the cached id, so a child reads its own.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Once;

/// The cached id, 0 when not read yet in this process.
static PID: AtomicU32 = AtomicU32::new(0);
/// Whether the fork handler is registered (otherwise nothing is cached).
static WATCHING: AtomicBool = AtomicBool::new(false);

/// Runs in the child right after `fork()`: only an atomic store, as a
/// handler there must do nothing that could need a lock.
extern "C" fn forget_in_child() {
    PID.store(0, Ordering::SeqCst);
}

/// Registers the fork handler (once; called when the module is imported).
pub fn watch_forks() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: registers a handler that only stores to an atomic.
        let registered = unsafe { libc::pthread_atfork(None, None, Some(forget_in_child)) } == 0;
        WATCHING.store(registered, Ordering::SeqCst);
    });
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
