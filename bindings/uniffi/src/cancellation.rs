//! Ends a pending event pull from the host's side.
//!
//! Kotlin cancels a suspended uniffi call by dropping its Rust future. Swift's
//! generated code, rewritten by `bindings/swift_cancellation.py`, cancels the
//! future of a call that can fail, which then throws `CancellationError`; but
//! a call that cannot fail is awaited with `try!`, where that error would be
//! a crash, so it is left uncancelled. The event pull is such a call: a
//! cancelled Swift task would wait in `next_events` until the next event.
//! Swift's event iterator passes an `FfiCancellation` and calls
//! [`FfiCancellation::cancel`] from its task cancellation handler instead; the
//! pull then returns empty at once, having taken nothing (it is cancel-safe).

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::sync::Notify;

/// A one-way switch a host flips to end the pulls that were given it.
#[derive(Debug, Default, uniffi::Object)]
pub struct FfiCancellation {
    cancelled: AtomicBool,
    notify: Notify,
}

#[uniffi::export]
impl FfiCancellation {
    /// A switch not yet flipped.
    #[uniffi::constructor]
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Flips the switch: pulls waiting on it, and any later pull given it,
    /// return empty at once. Idempotent; callable from any thread.
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::SeqCst);
        self.notify.notify_waiters();
    }

    /// Whether [`FfiCancellation::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst)
    }
}

impl FfiCancellation {
    /// Completes once cancelled (at once if it already is).
    async fn cancelled(&self) {
        loop {
            let notified = self.notify.notified();
            let mut notified = std::pin::pin!(notified);
            // Registered before the check, so a cancel in between still wakes it.
            notified.as_mut().enable();
            if self.is_cancelled() {
                return;
            }
            notified.await;
        }
    }

    /// `pull`'s output, or `empty` once cancelled; `pull` is dropped then,
    /// which loses nothing for a cancel-safe pull.
    pub(crate) async fn or_empty<T>(&self, pull: impl Future<Output = T>, empty: T) -> T {
        tokio::select! {
            biased;
            () = self.cancelled() => empty,
            output = pull => output,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_cancel_ends_a_pending_pull_and_any_later_one() {
        let cancellation = FfiCancellation::new();
        let flip = cancellation.clone();
        let pending = tokio::spawn(async move {
            flip.or_empty(std::future::pending::<Vec<u8>>(), vec![])
                .await
        });
        tokio::task::yield_now().await;
        cancellation.cancel();
        assert_eq!(pending.await.unwrap(), Vec::<u8>::new());
        let later = cancellation.or_empty(std::future::pending::<Vec<u8>>(), vec![]);
        assert_eq!(later.await, Vec::<u8>::new());
    }

    #[tokio::test]
    async fn a_ready_pull_wins_until_cancelled() {
        let cancellation = FfiCancellation::new();
        assert_eq!(
            cancellation.or_empty(async { vec![1u8] }, vec![]).await,
            vec![1]
        );
        assert!(!cancellation.is_cancelled());
    }
}
