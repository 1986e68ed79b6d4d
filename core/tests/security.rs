//! Security defaults: TLS certificates are verified, plain http leaves
//! loopback only on request, and the token never shows.

mod support;

use cloudflare_durable::{Client, Config, ErrorKind};
use serde_json::json;
use support::HarnessServer;

#[tokio::test]
async fn a_self_signed_certificate_is_refused() {
    let server = HarnessServer::start("tls_server.py", &[]);
    let client = Client::new(
        Config::builder()
            .worker_url(&server.url)
            .api_token("tls-secret-token")
            .retry_count(0)
            .build()
            .unwrap(),
    )
    .unwrap();
    // The server would answer {"result": "insecure"} to a client that
    // skipped verification.
    let err = client
        .call_method("x", "echo", &json!({}))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Network, "{err}");
    assert!(
        err.to_string().to_lowercase().contains("certificate"),
        "{err}"
    );
    assert!(!err.to_string().contains("tls-secret-token"));
    let socket = client.websocket("x").await.unwrap_err();
    assert_eq!(socket.kind(), ErrorKind::Network, "{socket}");
}

#[test]
fn plain_http_beyond_loopback_needs_an_opt_in() {
    let refused = Config::builder()
        .worker_url("http://example.com")
        .build()
        .unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::InvalidInput);
    assert!(Config::builder()
        .worker_url("http://example.com")
        .allow_insecure_http(true)
        .build()
        .is_ok());
}
