//! The tag of one operation in flight, which also watches its caller.
//!
//! Every operation NIF returns a tag at once and later sends the calling
//! process `{tag, result}`. The tag is a resource that monitors the caller:
//! if the caller exits first (killed, or a `Task` shut down), the monitor's
//! `down` aborts the operation's task, so its request, retries and backoff
//! stop instead of running to the deadline for no one. That is the Elixir
//! counterpart of cancelling an asyncio task, a coroutine or a Swift task.
//!
//! The monitor lives as long as the tag: the task's saved copy of it (until
//! the reply is sent) or the caller's (until it is garbage). A `down` that
//! comes after the task has ended aborts nothing.

use std::sync::Mutex;

use rustler::{Env, LocalPid, Monitor, ResourceArc};
use tokio::task::AbortHandle;

/// One operation in flight: what aborts it if its caller exits.
#[derive(Default)]
pub struct PendingCall {
    task: Mutex<Option<AbortHandle>>,
}

#[rustler::resource_impl]
impl rustler::Resource for PendingCall {
    fn down<'a>(&'a self, _env: Env<'a>, _pid: LocalPid, _monitor: Monitor) {
        if let Some(task) = self.task.lock().ok().and_then(|mut task| task.take()) {
            task.abort();
        }
    }
}

impl PendingCall {
    /// A new tag watching `caller` (the process running the NIF).
    pub fn watching(env: Env, caller: &LocalPid) -> ResourceArc<PendingCall> {
        let pending = ResourceArc::new(PendingCall::default());
        // None only if the caller is already exiting: nothing to watch then.
        let _ = env.monitor(&pending, caller);
        pending
    }

    /// Attaches the operation's task, to abort if the caller exits.
    pub fn attach(&self, task: AbortHandle) {
        if let Ok(mut slot) = self.task.lock() {
            *slot = Some(task);
        }
    }
}
