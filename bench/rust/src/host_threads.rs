//! The core called from plain OS threads, the way a binding's blocking call
//! reaches it, with no host language around it. Two diagnostic contenders
//! (not in the targets table) that split a binding's cost per call into the
//! thread crossing and everything else:
//!
//! - `hop`: each calling thread spawns its call on the runtime the bindings
//!   use (`shared_binding_runtime`: by default one current-thread runtime
//!   turned by a thread of its own) and blocks on a channel for the result:
//!   the crossing every binding makes, host thread → runtime thread → host
//!   thread.
//! - `owned`: each calling thread owns a current-thread runtime and a client
//!   and drives its own call (`block_on`): no crossing, what a binding whose
//!   calls run on the caller's thread would cost.

use std::sync::mpsc::sync_channel;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use cloudflare_durable::{shared_binding_runtime, Client};
use tokio::runtime::{Builder, Runtime};

use crate::{core_client, cpu_seconds, http_object, params, BoxError, Env, Window};

/// How the calling threads reach the core.
#[derive(Clone, Copy)]
pub enum Route {
    /// Through the bindings' shared runtime (spawn, then wait on a channel).
    Hop,
    /// On the calling thread's own current-thread runtime.
    Owned,
}

/// Runs the HTTP case with `concurrency` OS threads calling the core by
/// `route`; prints the same JSON line as the async contenders.
pub fn http_case(
    env: Env,
    route: Route,
    method: &'static str,
    concurrency: usize,
) -> Result<(), BoxError> {
    let shared = match route {
        Route::Hop => {
            static RUNTIME: OnceLock<&'static Runtime> = OnceLock::new();
            Some(Arc::new(Shared {
                runtime: shared_binding_runtime(&RUNTIME, "cloudflare-durable"),
                client: core_client(&env, concurrency)?,
            }))
        }
        Route::Owned => None,
    };
    let window = Window::new(&env);
    let mut threads = Vec::new();
    for j in 0..concurrency {
        let (env, window, shared) = (env.clone(), window.clone(), shared.clone());
        threads.push(std::thread::spawn(move || -> Result<Vec<u64>, BoxError> {
            let caller = match shared {
                Some(shared) => Caller::Hop(shared),
                None => Caller::Owned(
                    Builder::new_current_thread().enable_all().build()?,
                    core_client(&env, 1)?,
                ),
            };
            let mut lat = Vec::new();
            let mut n = 0u64;
            loop {
                let begin = Instant::now();
                if window.is_over(begin) {
                    break;
                }
                let result = caller.call(http_object(&env, j, n), method, n);
                n += 1;
                window.record(begin, result, &mut lat);
            }
            Ok(lat)
        }));
    }
    std::thread::sleep(window.t0.saturating_duration_since(Instant::now()));
    let cpu0 = cpu_seconds();
    let w0 = Instant::now();
    std::thread::sleep(window.t1.saturating_duration_since(Instant::now()));
    let cpu = cpu_seconds() - cpu0;
    let wall = w0.elapsed().as_secs_f64();
    let mut lat = Vec::new();
    for t in threads {
        lat.extend(t.join().map_err(|_| "a calling thread panicked")??);
    }
    window.report(cpu, wall, lat);
    Ok(())
}

/// The runtime and client every `Hop` thread shares.
struct Shared {
    runtime: &'static Runtime,
    client: Client,
}

/// One calling thread's way to the core.
enum Caller {
    Hop(Arc<Shared>),
    Owned(Runtime, Client),
}

impl Caller {
    fn call(&self, object: String, method: &'static str, n: u64) -> Result<(), BoxError> {
        let p = params(method, n);
        match self {
            Caller::Hop(shared) => {
                let (tx, rx) = sync_channel(1);
                let client = shared.client.clone();
                shared.runtime.spawn(async move {
                    let outcome = client.call_method(object.as_str(), method, &p).await;
                    let _ = tx.send(outcome.map(drop));
                });
                rx.recv()?.map_err(Into::into)
            }
            Caller::Owned(runtime, client) => {
                runtime.block_on(client.call_method(object.as_str(), method, &p))?;
                Ok(())
            }
        }
    }
}
