//! The whole Durable Object surface against the local worker: namespaces and
//! ids, storage many/all, paged listing, transactions, conditional writes,
//! alarms, SQL and batched calls.

mod support;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cloudflare_durable::{BatchCall, Condition, ErrorKind, ListOptions, ObjectRef, TxOp};
use serde_json::{json, Map, Value};
use support::{next_of_type, unique, LocalWorker};

#[tokio::test]
async fn namespaces_and_ids_address_objects() {
    let worker = LocalWorker::start();
    let client = worker.client();
    let name = unique("ns");
    let sql = ObjectRef::name(&name).in_namespace("sql");
    client
        .update_state(&sql, "k", &json!("in sql"))
        .await
        .unwrap();
    client
        .update_state(name.as_str(), "k", &json!("in default"))
        .await
        .unwrap();
    assert_eq!(
        client.get_state_key(&sql, "k").await.unwrap(),
        json!("in sql")
    );
    assert_eq!(
        client.get_state_key(name.as_str(), "k").await.unwrap(),
        json!("in default")
    );

    // The id a name maps to addresses the same object.
    let id = client
        .namespace_object_id(Some("sql"), &name)
        .await
        .unwrap();
    assert_eq!(id.len(), 64);
    let by_id = ObjectRef::id(&id).in_namespace("sql");
    assert_eq!(
        client.get_state_key(&by_id, "k").await.unwrap(),
        json!("in sql")
    );

    // A new unique id is a fresh, empty object.
    let fresh = client.new_unique_id(None, None).await.unwrap();
    assert_ne!(fresh, id);
    let fresh = ObjectRef::id(fresh);
    client.initialize(&fresh, &json!({"a": 1})).await.unwrap();
    assert_eq!(client.get_state(&fresh).await.unwrap()["a"], 1);

    let hinted = ObjectRef::name(unique("hint")).location_hint("weur");
    client.update_state(&hinted, "k", &json!(1)).await.unwrap();

    let unknown = client
        .get_state(ObjectRef::name("x").in_namespace("nope"))
        .await
        .unwrap_err();
    assert_eq!(unknown.kind(), ErrorKind::NotFound);
}

#[tokio::test]
async fn storage_many_all_and_listing() {
    let worker = LocalWorker::start();
    let client = worker.client();
    let object = unique("store");
    let socket = client.websocket(&object).await.unwrap();
    next_of_type(&socket, "init", Duration::from_secs(5)).await;

    let mut entries = Map::new();
    for i in 0..100 {
        entries.insert(format!("item:{i:03}"), json!(i));
    }
    for chunk in entries.iter().collect::<Vec<_>>().chunks(50) {
        let chunk: Map<String, Value> = chunk
            .iter()
            .map(|(k, v)| ((*k).clone(), (*v).clone()))
            .collect();
        client.put_many(&object, &chunk).await.unwrap();
    }
    client
        .put_many(
            &object,
            &[("other".to_string(), json!("x"))].into_iter().collect(),
        )
        .await
        .unwrap();
    // Every write broadcasts.
    let first = next_of_type(&socket, "update", Duration::from_secs(5)).await;
    assert!(first["key"].as_str().unwrap().starts_with("item:"));

    let got = client
        .get_many(&object, &["item:001", "item:050", "absent"])
        .await
        .unwrap();
    assert_eq!(Value::Object(got), json!({"item:001": 1, "item:050": 50}));

    // Walk with a small page size: all 100 items, in order, in 7 pages.
    let mut lister = client.list(
        &object,
        ListOptions {
            prefix: Some("item:".into()),
            limit: Some(16),
            ..Default::default()
        },
    );
    let (mut seen, mut pages) = (Vec::new(), 0);
    while let Some(page) = lister.next_page().await.unwrap() {
        pages += 1;
        assert!(page.len() <= 16);
        seen.extend(page.into_iter().map(|(k, _)| k));
    }
    assert_eq!(pages, 7);
    assert_eq!(seen, entries.keys().cloned().collect::<Vec<_>>());

    let reversed = client
        .list_page(
            &object,
            &ListOptions {
                start: Some("item:010".into()),
                end: Some("item:020".into()),
                reverse: true,
                ..Default::default()
            },
            None,
        )
        .await
        .unwrap();
    let keys: Vec<_> = reversed.entries.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys.first(), Some(&"item:019"));
    assert_eq!(keys.len(), 10);
    assert!(reversed.cursor.is_none());

    assert_eq!(
        client
            .delete_many(&object, &["item:000", "item:001", "absent"])
            .await
            .unwrap(),
        2
    );
    assert_eq!(client.delete_all(&object).await.unwrap(), 99);
    assert!(client.get_state(&object).await.unwrap().is_empty());
}

#[tokio::test]
async fn transactions_and_conditional_writes() {
    let worker = LocalWorker::start();
    let client = worker.client();
    let object = unique("tx");
    client
        .initialize(&object, &json!({"balance": 10}))
        .await
        .unwrap();

    let results = client
        .transaction(
            &object,
            &[
                TxOp::CheckEquals {
                    key: "balance".into(),
                    value: json!(10),
                },
                TxOp::Put {
                    key: "balance".into(),
                    value: json!(7),
                },
                TxOp::Put {
                    key: "spent".into(),
                    value: json!(3),
                },
                TxOp::Get {
                    key: "balance".into(),
                },
            ],
        )
        .await
        .unwrap();
    assert_eq!(results[3], json!({"value": 7}));

    // A failed check rolls everything back.
    let err = client
        .transaction(
            &object,
            &[
                TxOp::Put {
                    key: "balance".into(),
                    value: json!(0),
                },
                TxOp::CheckEquals {
                    key: "balance".into(),
                    value: json!(10),
                },
            ],
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert_eq!(
        client.get_state_key(&object, "balance").await.unwrap(),
        json!(7)
    );

    client
        .update_state_if(&object, "balance", &json!(5), Condition::Equals(json!(7)))
        .await
        .unwrap();
    let lost = client
        .update_state_if(&object, "balance", &json!(1), Condition::Equals(json!(7)))
        .await
        .unwrap_err();
    assert_eq!(lost.kind(), ErrorKind::Conflict);
    client
        .update_state_if(&object, "fresh", &json!(1), Condition::Absent)
        .await
        .unwrap();
    let taken = client
        .update_state_if(&object, "fresh", &json!(2), Condition::Absent)
        .await
        .unwrap_err();
    assert_eq!(taken.kind(), ErrorKind::Conflict);
    assert_eq!(
        client.get_state_key(&object, "balance").await.unwrap(),
        json!(5)
    );
}

#[tokio::test]
async fn alarms_fire_and_reach_the_sockets() {
    let worker = LocalWorker::start();
    let client = worker.client();
    let object = unique("alarm");
    assert_eq!(client.get_alarm(&object).await.unwrap(), None);
    let socket = client.websocket(&object).await.unwrap();

    let far = now_ms() + 3_600_000;
    client.set_alarm(&object, far).await.unwrap();
    assert_eq!(client.get_alarm(&object).await.unwrap(), Some(far));
    client.delete_alarm(&object).await.unwrap();
    assert_eq!(client.get_alarm(&object).await.unwrap(), None);

    let soon = now_ms() + 200;
    client.set_alarm(&object, soon).await.unwrap();
    let fired = next_of_type(&socket, "alarm", Duration::from_secs(10)).await;
    assert_eq!(fired["time"], soon);
    assert_eq!(client.get_alarm(&object).await.unwrap(), None);
}

#[tokio::test]
async fn sql_with_bound_parameters_and_read_only_mode() {
    let worker = LocalWorker::start();
    let client = worker.client();
    let rw = ObjectRef::name(unique("sql")).in_namespace("sql");
    client
        .sql(
            &rw,
            "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)",
            &[],
        )
        .await
        .unwrap();
    let inserted = client
        .sql(
            &rw,
            "INSERT INTO notes (body) VALUES (?), (?)",
            &[json!("a'; DROP TABLE notes; --"), json!("b")],
        )
        .await
        .unwrap();
    assert_eq!(inserted.rows_written, 2);
    let selected = client
        .sql(
            &rw,
            "SELECT id, body FROM notes WHERE id >= ? ORDER BY id",
            &[json!(1)],
        )
        .await
        .unwrap();
    assert_eq!(selected.columns, vec!["id", "body"]);
    assert_eq!(
        selected.rows,
        vec![
            vec![json!(1), json!("a'; DROP TABLE notes; --")],
            vec![json!(2), json!("b")]
        ]
    );
    let bad = client.sql(&rw, "SELEKT nonsense", &[]).await.unwrap_err();
    assert!(
        matches!(bad.kind(), ErrorKind::InvalidInput | ErrorKind::Server),
        "{bad}"
    );

    let ro = ObjectRef::name(unique("sqlro")).in_namespace("sqlro");
    let refused = client
        .sql(&ro, "CREATE TABLE t (x)", &[])
        .await
        .unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::InvalidInput, "{refused}");
    assert_eq!(
        client
            .sql(&ro, "SELECT 1 + ? AS two", &[json!(1)])
            .await
            .unwrap()
            .rows,
        vec![vec![json!(2)]]
    );

    let off = client
        .sql(unique("nosql").as_str(), "SELECT 1", &[])
        .await
        .unwrap_err();
    assert_eq!(off.kind(), ErrorKind::NotFound);
}

#[tokio::test]
async fn batched_calls_run_in_order_with_their_own_results() {
    let worker = LocalWorker::start();
    let client = worker.client();
    let object = unique("batch");
    let results = client
        .batch(
            &object,
            &[
                BatchCall::new("increment", json!({"increment": 2})),
                BatchCall::new("no_such_method", json!({})),
                BatchCall::new("increment", json!({"increment": 3})),
                BatchCall::new("get_value", json!({})),
            ],
        )
        .await
        .unwrap();
    assert_eq!(results[0].as_ref().unwrap(), &json!({"value": 2}));
    assert_eq!(results[1].as_ref().unwrap_err().kind(), ErrorKind::NotFound);
    assert_eq!(results[3].as_ref().unwrap(), &json!({"value": 5}));
}

#[tokio::test]
async fn the_callers_trace_context_is_accepted() {
    let worker = LocalWorker::start();
    let client = worker.client();
    let traced = client
        .with_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
        .unwrap();
    traced
        .call_method(unique("trace").as_str(), "echo", &json!(1))
        .await
        .unwrap();
    assert_eq!(
        client.with_traceparent("garbage").unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}
