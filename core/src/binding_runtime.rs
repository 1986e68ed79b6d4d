//! The process-wide tokio runtime a host binding runs the core on (Python,
//! Elixir, Kotlin, Swift), sized by [`crate::runtime_threads`].
//!
//! With one thread (the default) it is a current-thread runtime turned by a
//! thread of its own, not a multi-thread runtime with one worker: a
//! binding's calls are spawned from the host's threads, and the
//! current-thread scheduler wakes and parks its one thread more cheaply.
//! Measured with the calls spawned from plain OS threads (`cfd-bench
//! core-hop`, echo, 4 s windows, alternated three times): 91-104 µs of
//! client CPU per call against 112-113 at concurrency 16, 106-110 against
//! 112-136 at 256, and the same at 1. Python's clients cost less in 15 of
//! 18 alternated pairs; the Elixir NIF and Kotlin showed no difference
//! beyond the spread (bench/results/FINDINGS.md).

use std::sync::mpsc::sync_channel;
use std::sync::mpsc::SyncSender;
use std::sync::OnceLock;
use std::thread::JoinHandle;

use tokio::runtime::{Builder, Runtime, RuntimeFlavor};

use crate::runtime_threads::{runtime_threads, DEFAULT_RUNTIME_THREADS};

/// A builder for a binding's runtime with `threads` threads: current-thread
/// for one (turn it with [`prepare_turning_thread`]), multi-thread otherwise.
/// The caller adds `enable_all`, names and hooks.
pub fn binding_runtime_builder(threads: usize) -> Builder {
    if threads <= 1 {
        Builder::new_current_thread()
    } else {
        let mut builder = Builder::new_multi_thread();
        builder.worker_threads(threads);
        builder
    }
}

/// Starts the thread, named `name`, that turns a current-thread `runtime`
/// for the rest of the process (after running `on_start` on it): it owns
/// the I/O and timer drivers, so tasks spawned from any thread run there,
/// and `block_on` from other threads waits on it. A multi-thread runtime
/// has workers of its own: nothing is started. (Bindings that publish the
/// runtime themselves use [`prepare_turning_thread`].)
fn turn_on_own_thread(
    runtime: &'static Runtime,
    name: &str,
    on_start: impl FnOnce() + Send + 'static,
) -> std::io::Result<()> {
    prepare_turning_thread(runtime, name, on_start).map(TurningThread::start)
}

/// The thread that will turn a current-thread runtime, started but waiting
/// for [`TurningThread::start`]; dropped without it, the thread ends
/// (joined) without touching the runtime. Lets a binding start the thread
/// before it publishes the runtime, so that a runtime it hands out always
/// has its thread (a thread that cannot start is an error, not a runtime
/// whose tasks never run), and drop it if another thread published first.
pub struct TurningThread {
    go: Option<(SyncSender<bool>, JoinHandle<()>)>,
}

impl TurningThread {
    /// Lets the thread turn the runtime, for the rest of the process.
    pub fn start(mut self) {
        if let Some((go, _thread)) = self.go.take() {
            let _ = go.send(true);
        }
    }
}

impl Drop for TurningThread {
    fn drop(&mut self) {
        if let Some((go, thread)) = self.go.take() {
            let _ = go.send(false);
            let _ = thread.join();
        }
    }
}

/// Starts the thread, named `name`, that will turn a current-thread
/// `runtime` for the rest of the process (after running `on_start` on it),
/// owning its I/O and timer drivers; it waits for [`TurningThread::start`].
/// For a multi-thread runtime, no thread.
pub fn prepare_turning_thread(
    runtime: &'static Runtime,
    name: &str,
    on_start: impl FnOnce() + Send + 'static,
) -> std::io::Result<TurningThread> {
    if runtime.handle().runtime_flavor() != RuntimeFlavor::CurrentThread {
        return Ok(TurningThread { go: None });
    }
    let (go, gate) = sync_channel::<bool>(1);
    let thread = std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            if gate.recv() == Ok(true) {
                on_start();
                runtime.block_on(std::future::pending::<()>());
            }
        })?;
    Ok(TurningThread {
        go: Some((go, thread)),
    })
}

/// The runtime in `cell`, built and started on first use with the
/// environment's thread count (a bad value falls back to the default: a
/// client build reports it). Its threads are named `name`. The runtime
/// lives as long as the process.
///
/// # Panics
///
/// If the runtime or its thread cannot start (the operating system refused
/// a thread or an epoll instance); bindings turn a panic into an error.
pub fn shared_binding_runtime(
    cell: &'static OnceLock<&'static Runtime>,
    name: &'static str,
) -> &'static Runtime {
    cell.get_or_init(|| {
        let threads = runtime_threads().unwrap_or(DEFAULT_RUNTIME_THREADS);
        let runtime: &'static Runtime = Box::leak(Box::new(
            binding_runtime_builder(threads)
                .thread_name(name)
                .enable_all()
                .build()
                .expect("cannot start the tokio runtime"),
        ));
        turn_on_own_thread(runtime, name, || {}).expect("cannot start the tokio runtime's thread");
        runtime
    })
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc::channel;
    use std::time::Duration;

    use super::*;

    #[test]
    fn one_thread_builds_a_current_thread_runtime_and_more_a_multi_thread_one() {
        let one = binding_runtime_builder(1).enable_all().build().unwrap();
        assert_eq!(one.handle().runtime_flavor(), RuntimeFlavor::CurrentThread);
        let three: &'static Runtime = Box::leak(Box::new(
            binding_runtime_builder(3).enable_all().build().unwrap(),
        ));
        assert_eq!(three.handle().runtime_flavor(), RuntimeFlavor::MultiThread);
        // A multi-thread runtime needs no thread of ours: nothing is started.
        turn_on_own_thread(three, "cfd-test-multi", || panic!("not started")).unwrap();
    }

    #[test]
    fn a_turning_thread_dropped_before_it_starts_ends_and_one_started_turns() {
        let runtime: &'static Runtime = Box::leak(Box::new(
            binding_runtime_builder(1).enable_all().build().unwrap(),
        ));
        // Dropped unstarted: joined at once, without running `on_start`.
        drop(prepare_turning_thread(runtime, "cfd-test-dropped", || panic!("ran")).unwrap());
        let (tx, rx) = channel();
        let turning = prepare_turning_thread(runtime, "cfd-test-turning", || {}).unwrap();
        runtime.spawn(async move { tx.send(1).unwrap() });
        // Spawned before the thread starts: queued, then run once it does.
        assert!(rx.recv_timeout(Duration::from_millis(50)).is_err());
        turning.start();
        assert_eq!(rx.recv_timeout(Duration::from_secs(10)).unwrap(), 1);
    }

    #[test]
    fn work_from_other_threads_runs_on_the_shared_runtime_with_its_timers() {
        static CELL: OnceLock<&'static Runtime> = OnceLock::new();
        let runtime = shared_binding_runtime(&CELL, "cfd-test-shared");
        assert!(std::ptr::eq(
            runtime,
            shared_binding_runtime(&CELL, "cfd-test-shared")
        ));
        // Spawned from a thread that is not the runtime's: runs on it.
        let (tx, rx) = channel();
        runtime.spawn(async move {
            tokio::time::sleep(Duration::from_millis(5)).await;
            tx.send(7).unwrap();
        });
        assert_eq!(rx.recv_timeout(Duration::from_secs(10)).unwrap(), 7);
        // Waited for on two other threads at once, while the runtime's own
        // thread holds the drivers: both timers fire.
        let waiters: Vec<_> = (0..2)
            .map(|i| {
                std::thread::spawn(move || {
                    runtime.block_on(async move {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                        i
                    })
                })
            })
            .collect();
        let got: Vec<i32> = waiters.into_iter().map(|w| w.join().unwrap()).collect();
        assert_eq!(got, vec![0, 1]);
    }
}
