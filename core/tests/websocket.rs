//! WebSockets against the real local worker: live updates, calls, resume,
//! reconnection, heartbeats, refusals and the send queue.

mod support;

use std::time::Duration;

use cloudflare_durable::{Client, ConnectionStatus, ErrorKind};
use serde_json::json;
use support::{next_of_type, unique, LocalWorker};

const WAIT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn init_then_live_updates_and_calls() {
    let worker = LocalWorker::start();
    let client = worker.client();
    let object = unique("live");
    client
        .initialize(&object, &json!({"value": 1}))
        .await
        .unwrap();

    let socket = client.websocket(&object).await.unwrap();
    assert_eq!(socket.status(), ConnectionStatus::Connected);
    let init = next_of_type(&socket, "init", WAIT).await;
    assert_eq!(init["state"], json!({"value": 1}));

    client
        .call_method(&object, "increment", &json!({"increment": 4}))
        .await
        .unwrap();
    let update = next_of_type(&socket, "update", WAIT).await;
    assert_eq!(
        (update["key"].clone(), update["value"].clone()),
        (json!("value"), json!(5))
    );
    assert!(update["seq"].as_u64().unwrap() > init["seq"].as_u64().unwrap());

    let result = socket
        .call("increment", &json!({"increment": 1}))
        .await
        .unwrap();
    assert_eq!(result, json!({"value": 6}));
    let err = socket.call("no_such_method", &json!({})).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);

    // The original library's send_message(%{type: "update", value: 42}).
    socket
        .send(&json!({"type": "update", "value": 42}))
        .await
        .unwrap();
    let echoed = loop {
        let update = next_of_type(&socket, "update", WAIT).await;
        if update["value"] == 42 {
            break update;
        }
    };
    assert_eq!(echoed["key"], "value");
    assert_eq!(
        client.get_state_key(&object, "value").await.unwrap(),
        json!(42)
    );

    socket.close().await;
    assert_eq!(socket.status(), ConnectionStatus::Closed);
    assert!(socket.next_message().await.unwrap().is_none());
    assert_eq!(
        socket.send(&json!({})).await.unwrap_err().kind(),
        ErrorKind::ConnectionClosed
    );
}

#[tokio::test]
async fn user_events_reach_every_socket() {
    let worker = LocalWorker::start();
    let client = worker.client();
    let object = unique("doc");
    let ada = client.websocket(&object).await.unwrap();
    let bob = client.websocket(&object).await.unwrap();
    client
        .call_method(&object, "join", &json!({"editor": "ada"}))
        .await
        .unwrap();
    client
        .call_method(
            &object,
            "update",
            &json!({"editor": "ada", "content": "Hello"}),
        )
        .await
        .unwrap();
    for socket in [&ada, &bob] {
        let join = next_of_type(socket, "join", WAIT).await;
        assert_eq!(join["editor"], "ada");
        let edit = next_of_type(socket, "edit", WAIT).await;
        assert_eq!(
            (edit["content"].clone(), edit["version"].clone()),
            (json!("Hello"), json!(1))
        );
    }
}

#[tokio::test]
async fn reconnects_after_a_restart_and_resumes_without_gaps_or_duplicates() {
    let worker = LocalWorker::start();
    let client = worker.client();
    let object = unique("resume");
    let socket = client.websocket(&object).await.unwrap();
    next_of_type(&socket, "init", WAIT).await;
    for _ in 0..3 {
        client
            .call_method(&object, "increment", &json!({}))
            .await
            .unwrap();
    }
    for expected in 1..=3 {
        assert_eq!(
            next_of_type(&socket, "update", WAIT).await["value"],
            expected
        );
    }

    worker.restart();
    // Broadcasts made while the socket is down are replayed on reconnect.
    let writer = Client::new(worker.config().retry_count(10).build().unwrap()).unwrap();
    for _ in 0..3 {
        writer
            .call_method(&object, "increment", &json!({}))
            .await
            .unwrap();
    }
    assert_eq!(
        socket
            .wait_for_status(WAIT, |s| s == ConnectionStatus::Connected)
            .await,
        Some(ConnectionStatus::Connected)
    );
    let mut seen = Vec::new();
    let mut last_seq = 0;
    while seen.len() < 3 {
        let message = tokio::time::timeout(WAIT, socket.next_message())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        if message["type"] == "update" {
            let seq = message["seq"].as_u64().unwrap();
            assert!(seq > last_seq, "out of order or duplicate: {message}");
            last_seq = seq;
            seen.push(message["value"].as_u64().unwrap());
        } else {
            assert_ne!(
                message["type"], "resync",
                "the log reaches back: no resync expected"
            );
        }
    }
    assert_eq!(seen, vec![4, 5, 6]);
    assert_eq!(
        socket.call("get_value", &json!({})).await.unwrap(),
        json!({"value": 6})
    );
}

#[tokio::test]
async fn a_frozen_worker_is_detected_by_the_heartbeat() {
    let worker = LocalWorker::start();
    let client = Client::new(
        worker
            .config()
            .heartbeat_interval(Duration::from_millis(100))
            .heartbeat_timeout(Duration::from_millis(200))
            .build()
            .unwrap(),
    )
    .unwrap();
    let socket = client.websocket(&unique("frozen")).await.unwrap();
    worker.freeze();
    let status = socket
        .wait_for_status(WAIT, |s| s == ConnectionStatus::Reconnecting)
        .await;
    worker.thaw();
    assert_eq!(status, Some(ConnectionStatus::Reconnecting));
    assert_eq!(
        socket
            .wait_for_status(WAIT, |s| s == ConnectionStatus::Connected)
            .await,
        Some(ConnectionStatus::Connected)
    );
    assert_eq!(
        socket.call("echo", &json!({"ok": true})).await.unwrap(),
        json!({"ok": true})
    );
}

#[tokio::test]
async fn a_worker_that_stops_reading_holds_no_send_and_no_close() {
    let worker = LocalWorker::start();
    let client = Client::new(
        worker
            .config()
            .timeout(Duration::from_millis(500))
            .build()
            .unwrap(),
    )
    .unwrap();
    let socket = client.websocket(&unique("stalled")).await.unwrap();
    worker.freeze();
    // 64 frames of 512 KiB: several times what the loopback socket's
    // buffers hold, so some write finds them full while the worker is stopped.
    let filler = json!({"type": "filler", "pad": "x".repeat(512 * 1024)});
    let mut outcomes = Vec::new();
    for _ in 0..64 {
        outcomes.push(tokio::time::timeout(WAIT, socket.send(&filler)).await);
    }
    let given_up = socket
        .wait_for_status(WAIT, |s| s == ConnectionStatus::Reconnecting)
        .await;
    let closed = tokio::time::timeout(WAIT, socket.close()).await;
    worker.thaw();
    assert!(
        outcomes.iter().all(|o| o.is_ok()),
        "a send waited past {WAIT:?} on a worker that does not read"
    );
    // Each send either left, or was queued for the next connection.
    assert!(outcomes.iter().all(|o| matches!(o, Ok(Ok(())))));
    assert_eq!(given_up, Some(ConnectionStatus::Reconnecting));
    assert!(closed.is_ok(), "close waited past {WAIT:?}");
    assert_eq!(socket.status(), ConnectionStatus::Closed);
}

#[tokio::test]
async fn sends_wait_in_the_queue_while_disconnected() {
    let worker = LocalWorker::start();
    let client = Client::new(worker.config().send_queue_capacity(2).build().unwrap()).unwrap();
    let object = unique("queue");
    let socket = client.websocket(&object).await.unwrap();
    worker.kill();
    assert!(socket
        .wait_for_status(WAIT, |s| s == ConnectionStatus::Reconnecting)
        .await
        .is_some());

    socket
        .send(&json!({"type": "update", "key": "a", "value": 1}))
        .await
        .unwrap();
    socket
        .send(&json!({"type": "update", "key": "b", "value": 2}))
        .await
        .unwrap();
    let full = socket
        .send(&json!({"type": "update", "key": "c", "value": 3}))
        .await
        .unwrap_err();
    assert_eq!(full.kind(), ErrorKind::QueueFull);

    worker.restart();
    assert!(socket
        .wait_for_status(WAIT, |s| s == ConnectionStatus::Connected)
        .await
        .is_some());
    // The queued writes went out on reconnect, in order, and the refused one did not.
    let result = socket.call("get_value", &json!({})).await;
    assert!(result.is_ok());
    let state = client.get_state(&object).await.unwrap();
    assert_eq!(serde_json::Value::Object(state), json!({"a": 1, "b": 2}));
}

#[tokio::test]
async fn application_close_codes_end_the_socket_for_good() {
    let worker = LocalWorker::start();
    let client = worker.client();
    let object = unique("refused");
    let socket = client.websocket(&object).await.unwrap();
    client
        .call_method(
            &object,
            "test_close_sockets",
            &json!({"code": 4001, "reason": "go away"}),
        )
        .await
        .unwrap();
    let ended = loop {
        match tokio::time::timeout(WAIT, socket.next_message())
            .await
            .unwrap()
        {
            Ok(Some(_)) => continue,
            other => break other,
        }
    };
    let err = ended.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionClosed);
    assert_eq!(err.status(), Some(4001));
    assert!(err.to_string().contains("go away"));
    assert_eq!(socket.status(), ConnectionStatus::Closed);
}

#[tokio::test]
async fn a_normal_server_close_reconnects() {
    let worker = LocalWorker::start();
    let client = worker.client();
    let object = unique("bounce");
    let socket = client.websocket(&object).await.unwrap();
    client
        .call_method(
            &object,
            "test_close_sockets",
            &json!({"code": 1001, "reason": "bye"}),
        )
        .await
        .unwrap();
    assert!(socket
        .wait_for_status(WAIT, |s| s == ConnectionStatus::Reconnecting)
        .await
        .is_some());
    assert!(socket
        .wait_for_status(WAIT, |s| s == ConnectionStatus::Connected)
        .await
        .is_some());
    assert_eq!(socket.call("echo", &json!(7)).await.unwrap(), json!(7));
}

#[tokio::test]
async fn an_unreachable_worker_fails_the_first_connect() {
    let client = Client::new(
        cloudflare_durable::Config::builder()
            .worker_url("http://127.0.0.1:9")
            .retry_count(1)
            .websocket_reconnect_delay(Duration::from_millis(10))
            .build()
            .unwrap(),
    )
    .unwrap();
    let err = client.websocket("x").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Network, "{err}");
}

#[tokio::test]
async fn close_completes_while_the_consumer_lags() {
    let worker = LocalWorker::start();
    let client = Client::new(worker.config().message_buffer(2).build().unwrap()).unwrap();
    let object = unique("lag");
    let socket = client.websocket(&object).await.unwrap();
    // Nobody reads: the buffer fills and the connection task waits for room.
    for i in 0..20 {
        client.update_state(&object, "k", &json!(i)).await.unwrap();
    }
    tokio::time::timeout(WAIT, socket.close())
        .await
        .expect("close() returned");
    assert_eq!(socket.status(), ConnectionStatus::Closed);
}

#[tokio::test]
async fn without_auto_reconnect_a_drop_ends_the_socket() {
    let worker = LocalWorker::start();
    let client = Client::new(
        worker
            .config()
            .websocket_auto_reconnect(false)
            .build()
            .unwrap(),
    )
    .unwrap();
    let socket = client.websocket(&unique("once")).await.unwrap();
    worker.kill();
    let ended = loop {
        match tokio::time::timeout(WAIT, socket.next_message())
            .await
            .unwrap()
        {
            Ok(Some(_)) => continue,
            other => break other,
        }
    };
    assert_eq!(ended.unwrap_err().kind(), ErrorKind::ConnectionClosed);
    assert_eq!(socket.status(), ConnectionStatus::Closed);
}

#[tokio::test]
async fn a_started_close_finishes_with_no_one_waiting() {
    let worker = LocalWorker::start();
    let client = worker.client();
    let socket = client.websocket(&unique("start-close")).await.unwrap();
    assert_eq!(socket.status(), ConnectionStatus::Connected);
    // A close whose wait is dropped before its first poll (a host that gave
    // up at once) after the close was started.
    socket.start_close();
    drop(socket.close());
    let closed = socket
        .wait_for_status(WAIT, |s| s == ConnectionStatus::Closed)
        .await;
    assert_eq!(closed, Some(ConnectionStatus::Closed));
    assert_eq!(
        socket.send(&json!({})).await.unwrap_err().kind(),
        ErrorKind::ConnectionClosed
    );
}
