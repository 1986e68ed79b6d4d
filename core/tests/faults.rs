//! The fault suite: a counter incremented 1,000 times while the worker is
//! SIGKILLed and restarted at least 10 times and a loopback proxy drops
//! replies after the request reached the object. Every call the client
//! reports as done must count exactly once, and a subscriber must see a
//! gap-free sequence of updates or explicit resyncs.

mod support;

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use cloudflare_durable::{CallOptions, Client, ConnectionStatus};
use serde_json::{json, Value};
use support::{unique, FaultProxy, LocalWorker};

const CONCURRENCY: u64 = 4;

/// Calls and restarts: 1,000 and 10 by default; `CFD_SOAK_CALLS` and
/// `CFD_SOAK_RESTARTS` make a longer soak (`CFD_SOAK_CALLS=20000
/// CFD_SOAK_RESTARTS=100 cargo test --test faults`).
fn sizes() -> (u64, u64) {
    let var = |name, default| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    (var("CFD_SOAK_CALLS", 1_000), var("CFD_SOAK_RESTARTS", 10))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exactly_once_under_kills_and_dropped_replies() {
    let (calls, restarts_wanted) = sizes();
    let worker = Arc::new(LocalWorker::start());
    let proxy = FaultProxy::start(&worker, 0.05);
    let object = unique("faults");
    let config = worker
        .config()
        .worker_url(&proxy.url)
        .timeout(Duration::from_secs(3))
        .retry_count(12)
        .retry_delay(Duration::from_millis(20));
    let client = Client::new(config.build().unwrap()).unwrap();
    client
        .initialize(&object, &json!({"value": 0}))
        .await
        .unwrap();

    // The subscriber talks to the worker directly, so it lives through the kills.
    let subscriber = Client::new(worker.config().build().unwrap()).unwrap();
    let socket = Arc::new(subscriber.websocket(&object).await.unwrap());

    let successes = Arc::new(AtomicU64::new(0));
    let started = Arc::new(AtomicU64::new(0));
    let mut callers = Vec::new();
    for _ in 0..CONCURRENCY {
        let (client, object, successes, started) = (
            client.clone(),
            object.clone(),
            successes.clone(),
            started.clone(),
        );
        callers.push(tokio::spawn(async move {
            let mut keys = Vec::new();
            let mut unresolved = Vec::new();
            while started.fetch_add(1, Ordering::SeqCst) < calls {
                let key = unique("inc");
                let options = CallOptions {
                    idempotency_key: Some(key.clone()),
                    timeout: None,
                };
                match client
                    .call_method_with(&object, "increment", &json!({"increment": 1}), options)
                    .await
                {
                    Ok(_) => {
                        successes.fetch_add(1, Ordering::SeqCst);
                        keys.push(key);
                    }
                    Err(_) => unresolved.push(key),
                }
            }
            (keys, unresolved)
        }));
    }

    // Restart the worker evenly over the run.
    let killer = {
        let (worker, successes) = (worker.clone(), successes.clone());
        tokio::spawn(async move {
            let mut restarts = 0;
            while restarts < restarts_wanted {
                let due = (restarts + 1) * calls / (restarts_wanted + 1);
                while successes.load(Ordering::SeqCst) < due {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                let w = worker.clone();
                tokio::task::spawn_blocking(move || w.restart())
                    .await
                    .unwrap();
                restarts += 1;
            }
            restarts
        })
    };

    let mut keys = Vec::new();
    let mut unresolved = Vec::new();
    for caller in callers {
        let (k, u) = caller.await.unwrap();
        keys.extend(k);
        unresolved.extend(u);
    }
    let restarts = tokio::time::timeout(Duration::from_secs(60), killer)
        .await
        .unwrap()
        .unwrap();
    // A call that exhausted its retries may or may not have run: resolve it
    // by repeating it with the same key, which runs it at most once.
    let failed_first = unresolved.len();
    resolve_over_http(&client, &object, &unresolved).await;
    successes.fetch_add(failed_first as u64, Ordering::SeqCst);
    keys.extend(unresolved);

    let successes = successes.load(Ordering::SeqCst);
    let (final_value, duplicates) = final_value_and_duplicates(&client, &object, &keys).await;
    let unique_keys: HashSet<_> = keys.iter().collect();

    // The subscriber catches up to the final value, in order.
    let (updates, resyncs) = watch_until(&socket, final_value).await;
    let stats = proxy.stats();
    println!(
        "calls={calls} successes={successes} failed_then_resolved={failed_first} final={final_value} \
         restarts={restarts} replies_dropped={} duplicates={duplicates} updates_seen={updates} resyncs={resyncs}",
        stats["replies_dropped"]
    );
    assert_eq!(unique_keys.len() as u64, calls);
    assert_eq!(successes, calls);
    assert_eq!(final_value, successes, "lost or doubled increments");
    assert_eq!(duplicates, 0);
    assert!(restarts >= restarts_wanted);
    assert!(
        stats["replies_dropped"].as_u64().unwrap() > 0,
        "the proxy dropped nothing: {stats}"
    );
    assert_eq!(socket.status(), ConnectionStatus::Connected);
}

/// Calls over one shared WebSocket from several tasks at once, through a
/// proxy that cuts the connection after a request reached the object, while
/// the worker is SIGKILLed and restarted: every call resent after a
/// reconnect runs once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socket_calls_exactly_once_under_kills_and_cut_connections() {
    const CALLS: u64 = 1_000;
    const RESTARTS: u64 = 10;
    let worker = Arc::new(LocalWorker::start());
    let proxy = FaultProxy::start(&worker, 0.02);
    let object = unique("socket-faults");
    let config = worker
        .config()
        .worker_url(&proxy.url)
        .timeout(Duration::from_secs(5))
        .retry_count(12)
        .retry_delay(Duration::from_millis(20))
        .websocket_reconnect_delay(Duration::from_millis(20))
        .websocket_max_reconnect_delay(Duration::from_millis(200));
    let client = Client::new(config.build().unwrap()).unwrap();
    client
        .initialize(&object, &json!({"value": 0}))
        .await
        .unwrap();
    let socket = Arc::new(client.websocket(&object).await.unwrap());

    let started = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicU64::new(0));
    let mut callers = Vec::new();
    for _ in 0..CONCURRENCY {
        let (socket, started, done) = (socket.clone(), started.clone(), done.clone());
        callers.push(tokio::spawn(async move {
            let mut answered = Vec::new();
            let mut unresolved = Vec::new();
            while started.fetch_add(1, Ordering::SeqCst) < CALLS {
                let key = unique("sock-inc");
                let options = CallOptions {
                    idempotency_key: Some(key.clone()),
                    timeout: None,
                };
                match socket
                    .call_with("increment", &json!({"increment": 1}), options)
                    .await
                {
                    Ok(_) => answered.push(key),
                    Err(_) => unresolved.push(key),
                }
                done.fetch_add(1, Ordering::SeqCst);
            }
            (answered, unresolved)
        }));
    }
    let killer = {
        let (worker, done) = (worker.clone(), done.clone());
        tokio::spawn(async move {
            for restart in 0..RESTARTS {
                let due = (restart + 1) * CALLS / (RESTARTS + 1);
                while done.load(Ordering::SeqCst) < due {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                let w = worker.clone();
                tokio::task::spawn_blocking(move || w.restart())
                    .await
                    .unwrap();
            }
        })
    };
    let mut keys = Vec::new();
    let mut unresolved = Vec::new();
    for caller in callers {
        let (a, u) = caller.await.unwrap();
        keys.extend(a);
        unresolved.extend(u);
    }
    tokio::time::timeout(Duration::from_secs(60), killer)
        .await
        .unwrap()
        .unwrap();
    let answered = keys.len();
    // A call that timed out may or may not have run: repeating its key over
    // HTTP runs it at most once.
    resolve_over_http(&client, &object, &unresolved).await;
    keys.extend(unresolved);
    let (final_value, duplicates) = final_value_and_duplicates(&client, &object, &keys).await;
    let cuts = proxy.stats()["replies_dropped"].as_u64().unwrap();
    println!(
        "socket calls={CALLS} answered_over_socket={answered} resolved_over_http={} final={final_value} \
         restarts={RESTARTS} connections_cut={cuts} duplicates={duplicates}",
        CALLS as usize - answered
    );
    assert_eq!(keys.iter().collect::<HashSet<_>>().len() as u64, CALLS);
    assert_eq!(final_value, CALLS, "lost or doubled increments");
    assert_eq!(duplicates, 0);
    assert!(cuts > 0, "the proxy cut nothing");
    assert!(answered > 0, "no call was answered over the socket");
}

/// Repeats each increment whose outcome is unknown with its key, over
/// HTTP: it runs at most once, so afterwards each has run exactly once.
async fn resolve_over_http(client: &Client, object: &str, keys: &[String]) {
    for key in keys {
        let options = CallOptions {
            idempotency_key: Some(key.clone()),
            timeout: None,
        };
        client
            .call_method_with(object, "increment", &json!({"increment": 1}), options)
            .await
            .unwrap();
    }
}

/// The counter's final value, and how many of `keys` the object ran more
/// than once (from its per-key run counts, a test hook).
async fn final_value_and_duplicates(
    client: &Client,
    object: &str,
    keys: &[String],
) -> (u64, usize) {
    let final_value = client
        .call_method(object, "get_value", &json!({}))
        .await
        .unwrap()["value"]
        .as_u64()
        .unwrap();
    let counts = client
        .call_method(object, "test_count", &json!({}))
        .await
        .unwrap();
    let counts = counts["counts"].as_object().unwrap();
    let duplicates = keys
        .iter()
        .filter(|k| counts.get(k.as_str()).and_then(Value::as_u64).unwrap_or(0) > 1)
        .count();
    (final_value, duplicates)
}

/// Reads the subscriber until it shows `target`; checks every broadcast
/// follows the previous by exactly one `seq`, unless a resync came between.
async fn watch_until(socket: &cloudflare_durable::WebSocket, target: u64) -> (u64, u64) {
    let (mut updates, mut resyncs, mut last_seq, mut value) = (0, 0, None::<u64>, 0);
    let watch = async {
        while value != target {
            let message = socket.next_message().await.unwrap().unwrap();
            let seq = message["seq"].as_u64();
            match message["type"].as_str().unwrap() {
                "init" | "resync" => {
                    resyncs += u64::from(message["type"] == "resync");
                    last_seq = seq;
                    value = message["state"]["value"].as_u64().unwrap_or(0);
                }
                "update" => {
                    let seq = seq.unwrap();
                    if let Some(last) = last_seq {
                        assert_eq!(
                            seq,
                            last + 1,
                            "gap or duplicate without a resync: {message}"
                        );
                    }
                    last_seq = Some(seq);
                    value = message["value"].as_u64().unwrap();
                    updates += 1;
                }
                _ => {}
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(30), watch)
        .await
        .unwrap_or_else(|_| panic!("the subscriber never reached {target}"));
    (updates, resyncs)
}
