//! The README's demo: create a counter, increment it, and watch the update
//! arrive live over a WebSocket.
//!
//! `make demo` starts a local worker and runs this with its URL in
//! `CLOUDFLARE_WORKER_URL`.

use std::time::Duration;

use cloudflare_durable::{Client, Result};
use serde_json::json;

#[tokio::main]
async fn main() -> Result<()> {
    let client = Client::from_env()?;
    println!("worker: {}", client.config().worker_url());

    let counter = format!("demo-counter-{}", std::process::id());
    client.initialize(&counter, &json!({"value": 0})).await?;
    println!("initialized {counter} with value 0");

    let socket = client.websocket(&counter).await?;
    let init = socket.next_message().await?.expect("an init message");
    println!("websocket connected, state: {}", init["state"]);

    for step in 1..=3 {
        let result = client
            .call_method(&counter, "increment", &json!({"increment": step}))
            .await?;
        println!("increment by {step} over HTTP -> {result}");
        let update = tokio::time::timeout(Duration::from_secs(5), socket.next_message())
            .await
            .expect("a live update within 5 s")?
            .expect("the socket is open");
        println!("  live update over the WebSocket: {update}");
    }

    let over_socket = socket.call("get_value", &json!({})).await?;
    println!("get_value over the WebSocket -> {over_socket}");
    socket.close().await;
    Ok(())
}
