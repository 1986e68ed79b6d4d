//! Storage beyond single keys: many keys at once, delete-all, paged listing,
//! transactions and conditional writes.

use reqwest::Method;
use serde_json::{json, Map, Value};

use crate::client::Client;
use crate::error::{Error, InputField, Result};
use crate::object_ref::ObjectRef;
use crate::protocol;
use crate::validate;

/// Most keys or entries in one storage request.
pub const MAX_BATCH_KEYS: usize = 128;

/// What to list, and how.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListOptions {
    /// Only keys starting with this.
    pub prefix: Option<String>,
    /// Only keys at or after this one.
    pub start: Option<String>,
    /// Only keys before this one.
    pub end: Option<String>,
    /// Page size, 1 to 1000 (default 100).
    pub limit: Option<u32>,
    /// Walk from the last key backwards.
    pub reverse: bool,
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq)]
pub struct ListPage {
    /// The entries, in key order (reversed when asked).
    pub entries: Vec<(String, Value)>,
    /// Pass back to get the next page; `None` when the walk is done.
    pub cursor: Option<String>,
}

/// One operation of a [`Client::transaction`].
#[derive(Debug, Clone, PartialEq)]
pub enum TxOp {
    /// Read a key; its result is `{"value": v}` or `{"value": null, "absent": true}`.
    Get {
        /// The key.
        key: String,
    },
    /// Write a key.
    Put {
        /// The key.
        key: String,
        /// The value.
        value: Value,
    },
    /// Delete a key; its result is `{"deleted": bool}`.
    Delete {
        /// The key.
        key: String,
    },
    /// Abort the whole transaction with [`Error::Conflict`] unless the key's
    /// value equals `value`.
    CheckEquals {
        /// The key.
        key: String,
        /// The value it must hold.
        value: Value,
    },
    /// Abort the whole transaction with [`Error::Conflict`] if the key exists.
    CheckAbsent {
        /// The key.
        key: String,
    },
}

/// The condition of a conditional write.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// Write only if the current value equals this one.
    Equals(Value),
    /// Write only if the key does not exist.
    Absent,
}

impl Client {
    /// Reads many keys at once; absent keys are left out of the result.
    pub async fn get_many(
        &self,
        object: impl Into<ObjectRef>,
        keys: &[&str],
    ) -> Result<Map<String, Value>> {
        let object = object.into();
        let body = json!({ "keys": checked_keys(keys)? });
        self.storage_post(
            "get_many",
            &object,
            "/storage/get",
            &body,
            true,
            |mut reply| protocol::take_object(&mut reply, "values"),
        )
        .await
    }

    /// Writes many entries atomically; one broadcast per key.
    pub async fn put_many(
        &self,
        object: impl Into<ObjectRef>,
        entries: &Map<String, Value>,
    ) -> Result<()> {
        let object = object.into();
        if entries.is_empty() || entries.len() > MAX_BATCH_KEYS {
            return Err(Error::invalid(
                InputField::Value,
                format!(
                    "put_many takes 1 to {MAX_BATCH_KEYS} entries, got {}",
                    entries.len()
                ),
            ));
        }
        for (key, value) in entries {
            validate::key(key)?;
            validate::body(value, InputField::Value, validate::MAX_VALUE_BYTES)
                .map_err(|e| prefix_path(e, &format!("entries[{key:?}]")))?;
        }
        let body = json!({ "entries": entries });
        self.storage_post("put_many", &object, "/storage/put", &body, true, |_| Ok(()))
            .await
    }

    /// Deletes many keys at once; returns how many existed.
    pub async fn delete_many(&self, object: impl Into<ObjectRef>, keys: &[&str]) -> Result<u64> {
        let object = object.into();
        let body = json!({ "keys": checked_keys(keys)? });
        self.storage_post(
            "delete_many",
            &object,
            "/storage/delete",
            &body,
            true,
            |reply| count(&reply, "deleted"),
        )
        .await
    }

    /// Deletes every key of the object's storage; returns how many there were.
    pub async fn delete_all(&self, object: impl Into<ObjectRef>) -> Result<u64> {
        let object = object.into();
        let body = json!({});
        self.storage_post(
            "delete_all",
            &object,
            "/storage/delete-all",
            &body,
            true,
            |reply| count(&reply, "deleted"),
        )
        .await
    }

    /// One page of the object's keys; pass the returned cursor back (with the
    /// same options) for the next. See [`Client::list`] for a whole walk.
    pub async fn list_page(
        &self,
        object: impl Into<ObjectRef>,
        options: &ListOptions,
        cursor: Option<&str>,
    ) -> Result<ListPage> {
        let object = object.into();
        let route = self.route(&object)?;
        let query = list_query(options, cursor)?;
        let request = self.request(
            "list",
            &object,
            Method::GET,
            route.path("/storage/list", &query),
        );
        self.execute_object(request, list_page_from).await
    }

    /// A walk over the object's keys, one page at a time, in bounded memory.
    pub fn list(&self, object: impl Into<ObjectRef>, options: ListOptions) -> Lister {
        Lister {
            client: self.clone(),
            object: object.into(),
            options,
            cursor: None,
            done: false,
        }
    }

    /// Applies reads, writes and checks atomically, in order; returns one
    /// result per op. A failed check aborts everything with [`Error::Conflict`].
    pub async fn transaction(
        &self,
        object: impl Into<ObjectRef>,
        ops: &[TxOp],
    ) -> Result<Vec<Value>> {
        let object = object.into();
        if ops.is_empty() || ops.len() > MAX_BATCH_KEYS {
            return Err(Error::invalid(
                InputField::Params,
                format!(
                    "a transaction takes 1 to {MAX_BATCH_KEYS} ops, got {}",
                    ops.len()
                ),
            ));
        }
        let ops = ops.iter().map(tx_op_json).collect::<Result<Vec<_>>>()?;
        // Not repeatable: a repeat's checks would fail against its own writes.
        let body = json!({ "ops": ops });
        self.storage_post(
            "transaction",
            &object,
            "/storage/transaction",
            &body,
            false,
            |mut reply| protocol::take_array(&mut reply, "results"),
        )
        .await
    }

    /// Sets a key only if `condition` holds; a lost race is [`Error::Conflict`].
    pub async fn update_state_if(
        &self,
        object: impl Into<ObjectRef>,
        key: &str,
        value: &Value,
        condition: Condition,
    ) -> Result<()> {
        let condition = match condition {
            Condition::Equals(expected) => ("if_equals", expected),
            Condition::Absent => ("if_absent", Value::Bool(true)),
        };
        self.put_state(object.into(), key, value, Some(condition))
            .await
    }

    /// POSTs a storage request and reads its reply with `read`.
    async fn storage_post<T>(
        &self,
        operation: &'static str,
        object: &ObjectRef,
        rest: &str,
        body: &Value,
        repeatable: bool,
        read: impl FnOnce(Map<String, Value>) -> Result<T>,
    ) -> Result<T> {
        let route = self.route(object)?;
        let body = validate::body(body, InputField::Value, validate::MAX_BODY_BYTES)?;
        let mut request = self.request(operation, object, Method::POST, route.path(rest, ""));
        request.body = Some(body.into());
        request.repeatable = repeatable;
        self.execute_object(request, read).await
    }
}

/// A paged walk over an object's keys (see [`Client::list`]).
#[derive(Debug)]
pub struct Lister {
    client: Client,
    object: ObjectRef,
    options: ListOptions,
    cursor: Option<String>,
    done: bool,
}

impl Lister {
    /// The next page of entries, or `None` once the walk is done.
    pub async fn next_page(&mut self) -> Result<Option<Vec<(String, Value)>>> {
        if self.done {
            return Ok(None);
        }
        let page = self
            .client
            .list_page(&self.object, &self.options, self.cursor.as_deref())
            .await?;
        self.cursor = page.cursor;
        self.done = self.cursor.is_none();
        if page.entries.is_empty() && self.done {
            return Ok(None);
        }
        Ok(Some(page.entries))
    }
}

fn checked_keys(keys: &[&str]) -> Result<Vec<String>> {
    if keys.is_empty() || keys.len() > MAX_BATCH_KEYS {
        return Err(Error::invalid(
            InputField::Key,
            format!("takes 1 to {MAX_BATCH_KEYS} keys, got {}", keys.len()),
        ));
    }
    keys.iter()
        .map(|k| validate::key(k).map(|_| (*k).to_owned()))
        .collect()
}

fn count(reply: &Map<String, Value>, field: &str) -> Result<u64> {
    reply
        .get(field)
        .and_then(Value::as_u64)
        .ok_or_else(|| Error::InvalidResponse(format!("reply has no count \"{field}\"")))
}

fn list_query(options: &ListOptions, cursor: Option<&str>) -> Result<String> {
    use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
    let mut query = String::new();
    let mut push = |name: &str, value: &str| {
        query.push_str(&format!(
            "&{name}={}",
            utf8_percent_encode(value, NON_ALPHANUMERIC)
        ));
    };
    for (name, value) in [
        ("prefix", &options.prefix),
        ("start", &options.start),
        ("end", &options.end),
    ] {
        if let Some(value) = value {
            if value.chars().any(char::is_control) || value.len() > validate::MAX_KEY_BYTES {
                return Err(Error::invalid(
                    InputField::Key,
                    format!("list {name} is not a valid key bound"),
                ));
            }
            push(name, value);
        }
    }
    if let Some(limit) = options.limit {
        if !(1..=1000).contains(&limit) {
            return Err(Error::invalid(
                InputField::Params,
                format!("list limit {limit} is not in 1..=1000"),
            ));
        }
        push("limit", &limit.to_string());
    }
    if options.reverse {
        push("reverse", "true");
    }
    if let Some(cursor) = cursor {
        push("cursor", cursor);
    }
    Ok(query)
}

fn tx_op_json(op: &TxOp) -> Result<Value> {
    let value_ok =
        |v: &Value| validate::body(v, InputField::Value, validate::MAX_VALUE_BYTES).map(|_| ());
    Ok(match op {
        TxOp::Get { key } => json!({"op": "get", "key": checked_key(key)?}),
        TxOp::Put { key, value } => {
            value_ok(value)?;
            json!({"op": "put", "key": checked_key(key)?, "value": value})
        }
        TxOp::Delete { key } => json!({"op": "delete", "key": checked_key(key)?}),
        TxOp::CheckEquals { key, value } => {
            json!({"op": "check", "key": checked_key(key)?, "equals": value})
        }
        TxOp::CheckAbsent { key } => {
            json!({"op": "check", "key": checked_key(key)?, "absent": true})
        }
    })
}

fn checked_key(key: &str) -> Result<&str> {
    validate::key(key).map(|_| key)
}

fn prefix_path(error: Error, path: &str) -> Error {
    match error {
        Error::InvalidInput { field, message } => Error::InvalidInput {
            field,
            message: format!("{path}: {message}"),
        },
        other => other,
    }
}

/// Reads the reply of `…/storage/list`.
fn list_page_from(mut reply: Map<String, Value>) -> Result<ListPage> {
    let entries = protocol::take_array(&mut reply, "entries")?
        .into_iter()
        .map(|entry| match entry {
            Value::Array(mut pair) if pair.len() == 2 => match (pair.remove(0), pair.remove(0)) {
                (Value::String(key), value) => Ok((key, value)),
                _ => Err(Error::InvalidResponse(
                    "list entry key is not a string".into(),
                )),
            },
            _ => Err(Error::InvalidResponse(
                "list entry is not a [key, value] pair".into(),
            )),
        })
        .collect::<Result<Vec<_>>>()?;
    let cursor = match reply.remove("cursor") {
        None | Some(Value::Null) => None,
        Some(Value::String(cursor)) => Some(cursor),
        Some(_) => return Err(Error::InvalidResponse("list cursor is not a string".into())),
    };
    Ok(ListPage { entries, cursor })
}
