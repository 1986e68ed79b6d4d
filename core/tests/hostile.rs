//! A hostile peer (`tests/harness/hostile_server.py`): garbage, truncated,
//! mistyped and endless replies, a server that hangs, and a WebSocket peer
//! sending invalid frames. Each gets a clear error; nothing panics or hangs.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use cloudflare_durable::{Client, Config, ConfigBuilder, ErrorKind, Event};
use serde_json::json;
use support::{next_of_type, HarnessServer};

fn client(server: &HarnessServer) -> Client {
    client_with(server, |b| {
        b.timeout(Duration::from_secs(2))
            .retry_count(1)
            .retry_delay(Duration::from_millis(10))
    })
}

/// A client of `server`, otherwise with the defaults changed by `configure`.
fn client_with(
    server: &HarnessServer,
    configure: impl FnOnce(ConfigBuilder) -> ConfigBuilder,
) -> Client {
    Client::new(
        configure(Config::builder().worker_url(&server.url))
            .build()
            .unwrap(),
    )
    .unwrap()
}

#[tokio::test]
async fn every_bad_reply_is_a_clear_error() {
    let server = HarnessServer::start("hostile_server.py", &[]);
    let client = client(&server);
    let call = |name: &'static str| {
        let client = client.clone();
        async move {
            client
                .call_method(name, "echo", &json!({}))
                .await
                .unwrap_err()
        }
    };
    for (name, kind) in [
        ("garbage", ErrorKind::InvalidResponse),
        ("html", ErrorKind::InvalidResponse),
        ("not-object", ErrorKind::InvalidResponse),
        ("no-result", ErrorKind::InvalidResponse),
        ("truncated", ErrorKind::Network),
        ("endless", ErrorKind::InvalidResponse),
        ("hang", ErrorKind::Timeout),
        ("proxy-500", ErrorKind::Server),
    ] {
        let err = call(name).await;
        assert_eq!(err.kind(), kind, "{name}: {err}");
        assert!(err.to_string().len() < 1000, "{name}: message not bounded");
    }
    let state = client.get_state("garbage").await.unwrap_err();
    assert_eq!(state.kind(), ErrorKind::InvalidResponse);
}

#[tokio::test]
async fn invalid_frames_are_reported_and_skipped() {
    let server = HarnessServer::start("hostile_server.py", &[]);
    let errors: Arc<Mutex<Vec<String>>> = Arc::default();
    let sink = errors.clone();
    let client = Client::new(
        Config::builder()
            .worker_url(&server.url)
            .websocket_reconnect_delay(Duration::from_millis(20))
            .event_hook(Arc::new(move |e: &Event| {
                if let Event::Error {
                    kind: ErrorKind::InvalidResponse,
                    message,
                    ..
                } = e
                {
                    sink.lock().unwrap().push(message.clone());
                }
            }))
            .build()
            .unwrap(),
    )
    .unwrap();
    let socket = client.websocket("badframes").await.unwrap();
    // The valid frame after the bad ones arrives; the bad ones were reported.
    let update = next_of_type(&socket, "update", Duration::from_secs(10)).await;
    assert_eq!(update["value"], 1);
    let reported = errors.lock().unwrap().clone();
    assert!(reported.len() >= 3, "{reported:?}");
    assert!(
        reported.iter().any(|m| m.contains("binary")),
        "{reported:?}"
    );
    assert!(
        reported.iter().any(|m| m.contains("not JSON")),
        "{reported:?}"
    );
    socket.close().await;
}

/// Not hostile, but only this peer shows the request as sent: every call
/// carries its own W3C `traceparent` and idempotency key, or the caller's.
#[tokio::test]
async fn each_call_sends_a_traceparent_and_an_idempotency_key() {
    let server = HarnessServer::start("hostile_server.py", &[]);
    let client = client(&server);
    let sent = |client: Client, key: Option<&str>| {
        let options = cloudflare_durable::CallOptions {
            idempotency_key: key.map(str::to_owned),
            timeout: None,
        };
        async move {
            client
                .call_method_with("headers", "echo", &json!({}), options)
                .await
                .unwrap()
        }
    };
    let is_hex = |s: &str, n: usize| {
        s.len() == n
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    let (first, second) = (
        sent(client.clone(), None).await,
        sent(client.clone(), None).await,
    );
    for headers in [&first, &second] {
        let traceparent = headers["traceparent"].as_str().unwrap();
        let parts: Vec<&str> = traceparent.split('-').collect();
        assert_eq!(parts.len(), 4, "{traceparent}");
        assert_eq!((parts[0], parts[3]), ("00", "01"), "{traceparent}");
        assert!(
            is_hex(parts[1], 32) && is_hex(parts[2], 16),
            "{traceparent}"
        );
        assert!(
            is_hex(headers["idempotency-key"].as_str().unwrap(), 32),
            "{headers}"
        );
    }
    assert_ne!(first["traceparent"], second["traceparent"]);
    assert_ne!(first["idempotency-key"], second["idempotency-key"]);

    let theirs = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let traced = client.with_traceparent(theirs).unwrap();
    let headers = sent(traced, Some("my-key-1")).await;
    assert_eq!(headers["traceparent"], json!(theirs));
    assert_eq!(headers["idempotency-key"], json!("my-key-1"));
}

#[tokio::test]
async fn only_repeatable_requests_are_retried_after_an_ambiguous_failure() {
    let server = HarnessServer::start("hostile_server.py", &[]);
    let attempts: Arc<Mutex<Vec<(&'static str, u32)>>> = Arc::default();
    let sink = attempts.clone();
    let client = Client::new(
        Config::builder()
            .worker_url(&server.url)
            .retry_count(3)
            .retry_delay(Duration::from_millis(5))
            .event_hook(Arc::new(move |e: &Event| {
                if let Event::RequestStop {
                    operation,
                    attempts,
                    ..
                } = e
                {
                    sink.lock().unwrap().push((operation, *attempts));
                }
            }))
            .build()
            .unwrap(),
    )
    .unwrap();
    // A 502 may come after the object ran the request: a read is repeated,
    // a transaction (whose checks would fail against its own writes) is not.
    client.get_state("proxy-500").await.unwrap_err();
    let tx = [cloudflare_durable::TxOp::Put {
        key: "k".into(),
        value: json!(1),
    }];
    client.transaction("proxy-500", &tx).await.unwrap_err();
    client
        .sql("proxy-500", "INSERT INTO t VALUES (1)", &[])
        .await
        .unwrap_err();
    let seen = attempts.lock().unwrap().clone();
    assert_eq!(seen, vec![("get_state", 4), ("transaction", 1), ("sql", 1)]);
}

#[tokio::test]
async fn a_bad_success_reply_is_reported_in_the_events() {
    let server = HarnessServer::start("hostile_server.py", &[]);
    let seen: Arc<Mutex<Vec<Event>>> = Arc::default();
    let sink = seen.clone();
    let client = Client::new(
        Config::builder()
            .worker_url(&server.url)
            .retry_count(0)
            .event_hook(Arc::new(move |e: &Event| {
                sink.lock().unwrap().push(e.clone())
            }))
            .build()
            .unwrap(),
    )
    .unwrap();
    for name in ["garbage", "no-result"] {
        let err = client
            .call_method(name, "echo", &json!({}))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidResponse);
    }
    let events = seen.lock().unwrap().clone();
    let stops: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::RequestStop { error, .. } => Some(*error),
            _ => None,
        })
        .collect();
    assert_eq!(stops, vec![Some(ErrorKind::InvalidResponse); 2]);
    let errors = events
        .iter()
        .filter(|e| {
            matches!(
                e,
                Event::Error {
                    kind: ErrorKind::InvalidResponse,
                    ..
                }
            )
        })
        .count();
    assert_eq!(errors, 2);
}

/// Calls `held` `n` times at once under `tag`; each reply is the most
/// requests of that tag the server held at once.
async fn held_at_once(client: &Client, tag: &str, n: usize) -> Vec<u64> {
    let calls = (0..n).map(|_| {
        let client = client.clone();
        let tag = tag.to_owned();
        async move {
            let reply = client.call_method("held", &tag, &json!({})).await.unwrap();
            reply["max_in_flight"].as_u64().unwrap()
        }
    });
    futures_util::future::join_all(calls).await
}

#[tokio::test]
async fn requests_in_flight_stay_within_max_concurrent_requests() {
    let server = HarnessServer::start("hostile_server.py", &[]);
    let bounded = client_with(&server, |b| b.max_concurrent_requests(2));
    let seen = held_at_once(&bounded, "bounded", 6).await;
    assert_eq!(seen.iter().max(), Some(&2), "{seen:?}");
    // Without the bound the same burst reaches the server at once.
    let seen = held_at_once(&client(&server), "unbounded", 6).await;
    assert!(seen.iter().max().unwrap() >= &4, "{seen:?}");
}

#[tokio::test]
async fn waiting_for_a_request_slot_counts_against_the_timeout() {
    let server = HarnessServer::start("hostile_server.py", &[]);
    let client = client_with(&server, |b| b.max_concurrent_requests(1).retry_count(0));
    let within = |ms| cloudflare_durable::CallOptions {
        idempotency_key: None,
        timeout: Some(Duration::from_millis(ms)),
    };
    // One call takes the only slot and hangs; wait (bounded) until the
    // server holds it, asking through a second client with no bound.
    let hung = tokio::spawn({
        let client = client.clone();
        async move {
            client
                .call_method_with("hang", "echo", &json!({}), within(3000))
                .await
        }
    });
    let observer = client_with(&server, |b| b);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let reply = observer.call_method("hanging", "count", &json!({})).await;
        if reply.unwrap()["hanging"] == 1 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the hung call never reached the server"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let started = std::time::Instant::now();
    let outcome = client
        .call_method_with("held", "slot", &json!({}), within(200))
        .await;
    let after = started.elapsed();
    let err = outcome.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert!(err.to_string().contains("max_concurrent_requests"), "{err}");
    assert!(after < Duration::from_millis(2500), "waited {after:?}");
    assert_eq!(hung.await.unwrap().unwrap_err().kind(), ErrorKind::Timeout);
    // The slot is free again once the hung call gave up.
    assert_eq!(
        client
            .call_method("held", "after", &json!({}))
            .await
            .unwrap()["max_in_flight"],
        1
    );
}
