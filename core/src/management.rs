//! Cloudflare's v4 management API: the account's Durable Object namespaces
//! and the objects of a namespace, paged. Needs `account_id` and `api_token`.

use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use reqwest::Method;
use serde_json::{Map, Value};

use crate::client::Client;
use crate::error::{Error, InputField, Result};
use crate::protocol;

/// One Durable Object namespace of the account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespaceInfo {
    /// The namespace id.
    pub id: String,
    /// Its name.
    pub name: Option<String>,
    /// The Worker script that defines it.
    pub script: Option<String>,
    /// The class name.
    pub class: Option<String>,
    /// Whether it uses SQLite storage.
    pub use_sqlite: Option<bool>,
}

/// A page of namespaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespacePage {
    /// The namespaces on this page.
    pub namespaces: Vec<NamespaceInfo>,
    /// This page's number (from 1).
    pub page: u32,
    /// Namespaces across all pages, when the API says.
    pub total_count: Option<u64>,
    /// Whether a later page exists.
    pub has_more: bool,
}

/// One object of a namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    /// The object's hex id.
    pub id: String,
    /// Whether the object has stored data.
    pub has_stored_data: bool,
}

/// A page of objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectPage {
    /// The objects on this page.
    pub objects: Vec<ObjectInfo>,
    /// Pass back for the next page; `None` at the end.
    pub cursor: Option<String>,
}

impl Client {
    /// A page of the account's Durable Object namespaces (`page` from 1,
    /// `per_page` 5 to 1000).
    pub async fn list_namespaces(&self, page: u32, per_page: u32) -> Result<NamespacePage> {
        if page == 0 || !(5..=1000).contains(&per_page) {
            return Err(Error::invalid(
                InputField::Params,
                "page starts at 1 and per_page is 5 to 1000",
            ));
        }
        let path = format!(
            "{}/workers/durable_objects/namespaces?page={page}&per_page={per_page}",
            self.account_path()?
        );
        self.management_get("list_namespaces", path, |reply| {
            namespace_page(reply, page, per_page)
        })
        .await
    }

    /// A page of the objects of namespace `namespace_id` (`limit` 10 to 10000).
    pub async fn list_objects(
        &self,
        namespace_id: &str,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<ObjectPage> {
        if namespace_id.is_empty()
            || !namespace_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(Error::invalid(
                InputField::Params,
                format!("namespace id {namespace_id:?} is not an id"),
            ));
        }
        if !(10..=10_000).contains(&limit) {
            return Err(Error::invalid(InputField::Params, "limit is 10 to 10000"));
        }
        let mut path = format!(
            "{}/workers/durable_objects/namespaces/{namespace_id}/objects?limit={limit}",
            self.account_path()?
        );
        if let Some(cursor) = cursor {
            path.push_str(&format!(
                "&cursor={}",
                utf8_percent_encode(cursor, NON_ALPHANUMERIC)
            ));
        }
        self.management_get("list_objects", path, object_page).await
    }

    fn account_path(&self) -> Result<String> {
        let config = self.config();
        let account = config.account_id().ok_or_else(|| {
            Error::invalid(InputField::Config, "the management API needs account_id")
        })?;
        if !config.has_api_token() {
            return Err(Error::invalid(
                InputField::Config,
                "the management API needs api_token",
            ));
        }
        if account.is_empty() || !account.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(Error::invalid(
                InputField::Config,
                "account_id must be alphanumeric",
            ));
        }
        Ok(format!("/accounts/{account}"))
    }

    async fn management_get<T>(
        &self,
        operation: &'static str,
        path: String,
        read: impl FnOnce(Map<String, Value>) -> Result<T>,
    ) -> Result<T> {
        let base = self.config().api_base_url.clone();
        let mut request = self.request_labelled(operation, "management".into(), Method::GET, path);
        request.base_url = Some(base);
        self.execute_object(request, |reply| {
            if reply.get("success").and_then(Value::as_bool) == Some(false) {
                let body = serde_json::to_vec(&reply).unwrap_or_default();
                let (_, message) = protocol::parse_error_body(&body);
                return Err(Error::InvalidResponse(format!(
                    "the API reported failure: {message}"
                )));
            }
            read(reply)
        })
        .await
    }
}

fn as_object(item: Value) -> Result<Map<String, Value>> {
    match item {
        Value::Object(map) => Ok(map),
        other => Err(Error::InvalidResponse(format!(
            "result item is {}",
            protocol::type_name(&other)
        ))),
    }
}

fn required_string(item: &Map<String, Value>, field: &str) -> Result<String> {
    optional_string(item, field)
        .ok_or_else(|| Error::InvalidResponse(format!("result item has no \"{field}\"")))
}

fn optional_string(item: &Map<String, Value>, field: &str) -> Option<String> {
    item.get(field).and_then(Value::as_str).map(str::to_owned)
}

/// Reads a page of the namespaces list.
fn namespace_page(
    mut reply: Map<String, Value>,
    page: u32,
    per_page: u32,
) -> Result<NamespacePage> {
    let namespaces = protocol::take_array(&mut reply, "result")?
        .into_iter()
        .map(|item| {
            let item = as_object(item)?;
            Ok(NamespaceInfo {
                id: required_string(&item, "id")?,
                name: optional_string(&item, "name"),
                script: optional_string(&item, "script"),
                class: optional_string(&item, "class"),
                use_sqlite: item.get("use_sqlite").and_then(Value::as_bool),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let info = reply.get("result_info").cloned().unwrap_or(Value::Null);
    let total_count = info.get("total_count").and_then(Value::as_u64);
    let has_more = match total_count {
        Some(total) => u64::from(page) * u64::from(per_page) < total,
        None => namespaces.len() == per_page as usize,
    };
    Ok(NamespacePage {
        namespaces,
        page,
        total_count,
        has_more,
    })
}

/// Reads a page of the objects list.
fn object_page(mut reply: Map<String, Value>) -> Result<ObjectPage> {
    let objects = protocol::take_array(&mut reply, "result")?
        .into_iter()
        .map(|item| {
            let item = as_object(item)?;
            Ok(ObjectInfo {
                id: required_string(&item, "id")?,
                has_stored_data: item
                    .get("hasStoredData")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let cursor = reply
        .get("result_info")
        .and_then(|i| i.get("cursor"))
        .and_then(Value::as_str)
        .filter(|c| !c.is_empty() && !objects.is_empty())
        .map(str::to_owned);
    Ok(ObjectPage { objects, cursor })
}
