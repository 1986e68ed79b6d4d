//! Runs the language-neutral scenarios of `tests/conformance/scenarios.json`
//! against the local worker, as every binding does.

mod support;

use cloudflare_durable::{Client, Result};
use serde_json::{Map, Value};
use support::{unique, LocalWorker};

fn scenarios() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/conformance/scenarios.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn text(step: &Value, field: &str, run: &str) -> String {
    step[field]
        .as_str()
        .unwrap_or_else(|| panic!("step has no {field}: {step}"))
        .replace("{run}", run)
}

async fn perform(client: &Client, step: &Value, run: &str) -> Result<Value> {
    let object = text(step, "object", run);
    match step["op"].as_str().unwrap() {
        "initialize" => client
            .initialize(&object, &step["state"])
            .await
            .map(|_| Value::Null),
        "call_method" => {
            client
                .call_method(&object, &text(step, "method", run), &step["params"])
                .await
        }
        "get_state" => client.get_state(&object).await.map(Value::Object),
        "get_state_key" => client.get_state_key(&object, &text(step, "key", run)).await,
        "update_state" => client
            .update_state(&object, &text(step, "key", run), &step["value"])
            .await
            .map(|_| Value::Null),
        "delete_state" => client
            .delete_state(&object, &text(step, "key", run))
            .await
            .map(|_| Value::Null),
        other => panic!("unknown op {other}"),
    }
}

fn is_subset(expected: &Map<String, Value>, actual: &Value) -> bool {
    expected.iter().all(|(k, v)| actual.get(k) == Some(v))
}

#[tokio::test]
async fn every_scenario_passes() {
    let worker = LocalWorker::start();
    let client = worker.client();
    let all = scenarios();
    let mut steps = 0;
    for scenario in all["scenarios"].as_array().unwrap() {
        let name = scenario["name"].as_str().unwrap();
        let run = unique("conf");
        for step in scenario["steps"].as_array().unwrap() {
            let outcome = perform(&client, step, &run).await;
            let expect = &step["expect"];
            match (&outcome, expect) {
                (Ok(v), e) if e.get("ok").is_some() => assert_eq!(v, &e["ok"], "{name}: {step}"),
                (Ok(v), e) if e.get("ok_subset").is_some() => {
                    assert!(
                        is_subset(e["ok_subset"].as_object().unwrap(), v),
                        "{name}: {step} gave {v}"
                    )
                }
                (Err(err), e) if e.get("error").is_some() => {
                    assert_eq!(err.kind().as_str(), e["error"], "{name}: {step}: {err}")
                }
                _ => panic!("{name}: {step} gave {outcome:?}"),
            }
            steps += 1;
        }
    }
    assert!(steps > 30, "only {steps} steps ran");
}
