//! Every HTTP operation and every error kind, against the real local worker.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use cloudflare_durable::{Client, ErrorKind, Event};
use serde_json::json;
use support::{unique, LocalWorker};

#[tokio::test]
async fn every_operation_round_trips() {
    let worker = LocalWorker::start();
    let client = worker.client();
    let object = unique("ops");

    client
        .initialize(&object, &json!({"value": 5, "name": "x"}))
        .await
        .unwrap();
    let state = client.get_state(&object).await.unwrap();
    assert_eq!(
        serde_json::Value::Object(state),
        json!({"value": 5, "name": "x"})
    );

    let result = client
        .call_method(&object, "increment", &json!({"increment": 2}))
        .await
        .unwrap();
    assert_eq!(result, json!({"value": 7}));
    assert_eq!(
        client
            .call_method(&object, "get_value", &json!({}))
            .await
            .unwrap(),
        json!({"value": 7})
    );

    client
        .update_state(&object, "name", &json!({"nested": [1, 2]}))
        .await
        .unwrap();
    assert_eq!(
        client.get_state_key(&object, "name").await.unwrap(),
        json!({"nested": [1, 2]})
    );

    client.delete_state(&object, "name").await.unwrap();
    let err = client.get_state_key(&object, "name").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert_eq!(err.status(), Some(404));
}

#[tokio::test]
async fn error_kinds_from_the_worker() {
    let worker = LocalWorker::start();
    let client = worker.client();
    let object = unique("errors");

    let not_found = client
        .call_method(&object, "nope", &json!({}))
        .await
        .unwrap_err();
    assert_eq!(not_found.kind(), ErrorKind::NotFound);

    let server = client
        .call_method(
            &object,
            "test_fail",
            &json!({"status": 500, "message": "boom"}),
        )
        .await
        .unwrap_err();
    assert_eq!(server.kind(), ErrorKind::Server);
    assert_eq!(server.status(), Some(500));
    assert!(server.to_string().contains("boom"), "{server}");

    // Retry-After beyond what the client waits out is reported at once.
    let limited = client
        .call_method(
            &object,
            "test_fail",
            &json!({"status": 429, "message": "slow", "retry_after": 120}),
        )
        .await
        .unwrap_err();
    assert_eq!(limited.kind(), ErrorKind::RateLimited);
    assert_eq!(limited.retry_after(), Some(Duration::from_secs(120)));

    let teapot = client
        .call_method(
            &object,
            "test_fail",
            &json!({"status": 418, "message": "teapot"}),
        )
        .await
        .unwrap_err();
    assert_eq!(teapot.kind(), ErrorKind::Http);
    assert_eq!(teapot.status(), Some(418));
}

#[tokio::test]
async fn rate_limit_is_retried_after_the_delay_the_worker_asks() {
    let worker = LocalWorker::start();
    let client = worker.client();
    let object = unique("limited");
    // A short Retry-After is honoured and retried until the retries run out.
    let err = client
        .call_method(
            &object,
            "test_fail",
            &json!({"status": 429, "message": "slow", "retry_after": 0.05}),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::RateLimited);
    let runs = client
        .call_method(&object, "test_count", &json!({}))
        .await
        .unwrap();
    // Failures are not remembered, so the call's one idempotency key ran
    // 1 + retry_count times (test_count's own key ran once).
    let mut counts: Vec<u64> = runs["counts"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .collect();
    counts.sort();
    assert_eq!(counts, vec![1, 4], "{runs}");
}

#[tokio::test]
async fn bad_input_never_reaches_the_network() {
    // Nothing listens on this port: any request would be a network error.
    let client = Client::new(
        cloudflare_durable::Config::builder()
            .worker_url("http://127.0.0.1:9")
            .retry_count(0)
            .build()
            .unwrap(),
    )
    .unwrap();
    let cases = [
        client.get_state("").await.unwrap_err(),
        client.get_state(&"x".repeat(513)).await.unwrap_err(),
        client.get_state("a\u{7}b").await.unwrap_err(),
        client
            .call_method("o", "_hidden", &json!({}))
            .await
            .unwrap_err(),
        client
            .call_method("o", "a.b", &json!({}))
            .await
            .unwrap_err(),
        client.initialize("o", &json!([1])).await.unwrap_err(),
        client.update_state("o", "", &json!(1)).await.unwrap_err(),
        client
            .update_state("o", "k", &json!("x".repeat(200 * 1024)))
            .await
            .unwrap_err(),
    ];
    for err in cases {
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    }
}

#[tokio::test]
async fn large_replies_read_in_many_chunks_arrive_whole() {
    let worker = LocalWorker::start();
    let client = worker.client();
    let object = unique("large");
    // Several values near the 128 KiB limit: the reply is far larger than one
    // read of the connection, so its body comes in many chunks.
    let value: String = (0..120 * 1024)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    for key in ["a", "b", "c"] {
        client
            .update_state(&object, key, &json!(value))
            .await
            .unwrap();
    }
    let state = client.get_state(&object).await.unwrap();
    assert_eq!(state.len(), 3);
    for key in ["a", "b", "c"] {
        assert_eq!(state[key], json!(value), "{key}");
    }
    assert_eq!(
        client.get_state_key(&object, "b").await.unwrap(),
        json!(value)
    );
}

#[tokio::test]
async fn network_errors_are_reported_after_retries() {
    let client = Client::new(
        cloudflare_durable::Config::builder()
            .worker_url("http://127.0.0.1:9")
            .retry_count(2)
            .retry_delay(Duration::from_millis(10))
            .build()
            .unwrap(),
    )
    .unwrap();
    let err = client.get_state("o").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Network, "{err}");
}

#[tokio::test]
async fn timeout_is_its_own_kind() {
    let worker = LocalWorker::start();
    let client = Client::new(
        worker
            .config()
            .timeout(Duration::from_millis(200))
            .retry_count(0)
            .build()
            .unwrap(),
    )
    .unwrap();
    let err = client
        .call_method(&unique("slow"), "test_sleep", &json!({"ms": 2000}))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
}

#[tokio::test]
async fn a_call_retried_after_a_timeout_runs_once() {
    let worker = LocalWorker::start();
    let object = unique("once");
    let client = Client::new(
        worker
            .config()
            .timeout(Duration::from_millis(300))
            .retry_count(5)
            .build()
            .unwrap(),
    )
    .unwrap();
    // The first attempt times out while the object sleeps; the retries carry
    // the same idempotency key and get the stored result.
    let options = cloudflare_durable::CallOptions {
        idempotency_key: Some(unique("key")),
        timeout: None,
    };
    let key = options.idempotency_key.clone().unwrap();
    let result = client
        .call_method_with(&object, "test_sleep", &json!({"ms": 500}), options)
        .await;
    assert_eq!(result.unwrap(), json!({"slept": 500}));
    let runs = client
        .call_method(&object, "test_count", &json!({"key": key}))
        .await
        .unwrap();
    assert_eq!(runs["count"], 1, "{runs}");
}

#[tokio::test]
async fn auth_on_requires_the_token() {
    let worker = LocalWorker::start_with(Some("s3cret-token"));
    let object = unique("auth");

    let anonymous = worker.client();
    let err = anonymous.get_state(&object).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized);

    let wrong = Client::new(worker.config().api_token("wrong-token").build().unwrap()).unwrap();
    let err = wrong
        .call_method(&object, "echo", &json!({}))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized);
    assert!(!err.to_string().contains("wrong-token"));
    let socket_err = wrong.websocket(&object).await.unwrap_err();
    assert_eq!(socket_err.kind(), ErrorKind::Unauthorized);

    let right = Client::new(worker.config().api_token("s3cret-token").build().unwrap()).unwrap();
    right.update_state(&object, "k", &json!(1)).await.unwrap();
    assert_eq!(right.get_state_key(&object, "k").await.unwrap(), json!(1));
    let socket = right.websocket(&object).await.unwrap();
    socket.close().await;
}

#[tokio::test]
async fn events_report_start_stop_and_errors() {
    let worker = LocalWorker::start();
    let seen: Arc<Mutex<Vec<Event>>> = Arc::default();
    let sink = seen.clone();
    let client = Client::new(
        worker
            .config()
            .event_hook(Arc::new(move |e: &Event| {
                sink.lock().unwrap().push(e.clone())
            }))
            .build()
            .unwrap(),
    )
    .unwrap();
    let object = unique("events");
    client
        .call_method(&object, "echo", &json!({"a": 1}))
        .await
        .unwrap();
    client
        .call_method(&object, "missing", &json!({}))
        .await
        .unwrap_err();

    let events = seen.lock().unwrap().clone();
    assert!(
        matches!(&events[0], Event::RequestStart { operation: "call_method", method: Some(m), .. } if m == "echo")
    );
    assert!(matches!(
        &events[1],
        Event::RequestStop {
            error: None,
            attempts: 1,
            ..
        }
    ));
    assert!(events.iter().any(|e| matches!(
        e,
        Event::Error {
            kind: ErrorKind::NotFound,
            ..
        }
    )));
    assert!(events.iter().any(|e| matches!(
        e,
        Event::RequestStop {
            error: Some(ErrorKind::NotFound),
            ..
        }
    )));
}

#[tokio::test]
async fn calls_survive_a_worker_restart() {
    let worker = LocalWorker::start();
    let client = Client::new(worker.config().retry_count(8).build().unwrap()).unwrap();
    let object = unique("restart");
    client
        .call_method(&object, "increment", &json!({}))
        .await
        .unwrap();
    worker.restart();
    // Storage survives the SIGKILL; the client reconnects by itself.
    let value = client
        .call_method(&object, "increment", &json!({}))
        .await
        .unwrap();
    assert_eq!(value, json!({"value": 2}));
}
