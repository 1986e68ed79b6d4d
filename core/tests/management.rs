//! The management API against a loopback stand-in for Cloudflare's v4 API
//! (`tests/harness/cloudflare_api_mock.py`): these machines cannot reach
//! api.cloudflare.com, so the stand-in answers with the documented shapes.

mod support;

use cloudflare_durable::{Client, Config, ErrorKind};
use support::HarnessServer;

fn client(api: &HarnessServer, token: &str) -> Client {
    Client::new(
        Config::builder()
            .worker_url("http://127.0.0.1:9")
            .api_base_url(&api.url)
            .account_id("acc123")
            .api_token(token)
            .retry_count(0)
            .build()
            .unwrap(),
    )
    .unwrap()
}

#[tokio::test]
async fn lists_namespaces_page_by_page() {
    let api = HarnessServer::start("cloudflare_api_mock.py", &["--token", "cf-token"]);
    let client = client(&api, "cf-token");
    let mut all = Vec::new();
    let mut page = 1;
    loop {
        let p = client.list_namespaces(page, 5).await.unwrap();
        assert_eq!(p.total_count, Some(7));
        all.extend(p.namespaces);
        if !p.has_more {
            break;
        }
        page += 1;
    }
    assert_eq!(page, 2);
    assert_eq!(all.len(), 7);
    assert_eq!(all[1].id, "ns-1");
    assert_eq!(all[1].class.as_deref(), Some("Class1"));
    assert_eq!(all[0].use_sqlite, Some(true));
}

#[tokio::test]
async fn lists_objects_with_a_cursor() {
    let api = HarnessServer::start("cloudflare_api_mock.py", &["--token", "cf-token"]);
    let client = client(&api, "cf-token");
    let mut cursor = None;
    let mut objects = Vec::new();
    let mut pages = 0;
    loop {
        let page = client
            .list_objects("ns-1", cursor.as_deref(), 10)
            .await
            .unwrap();
        pages += 1;
        objects.extend(page.objects);
        match page.cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!((pages, objects.len()), (3, 25));
    assert_eq!(objects[3].id, format!("{:064x}", 3));
    assert!(!objects[3].has_stored_data && objects[4].has_stored_data);
    let missing = client.list_objects("ns-9", None, 10).await.unwrap_err();
    assert_eq!(missing.kind(), ErrorKind::NotFound);
}

#[tokio::test]
async fn a_wrong_token_or_missing_account_is_a_clear_error() {
    let api = HarnessServer::start("cloudflare_api_mock.py", &["--token", "cf-token"]);
    let err = client(&api, "wrong")
        .list_namespaces(1, 20)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized);
    assert!(err.to_string().contains("Authentication error"), "{err}");
    assert!(!err.to_string().contains("wrong"));

    let no_account = Client::new(
        Config::builder()
            .worker_url("http://127.0.0.1:9")
            .build()
            .unwrap(),
    )
    .unwrap();
    let err = no_account.list_namespaces(1, 20).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(err.to_string().contains("account_id"));
}
