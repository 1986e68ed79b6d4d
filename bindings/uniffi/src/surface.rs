//! Records and enums of the rest of the Durable Object surface: object
//! references, listing, transactions, conditional writes, SQL, batches and
//! the management API. JSON values are JSON text, as everywhere.

use cloudflare_durable as cfd;
use cloudflare_durable::serde_json::Value;

use crate::{parse_json, to_json, DurableObjectError, Result};

/// Which object of which namespace: exactly one of `name` or `id` (64 hex
/// digits), plus an optional namespace (the client's default otherwise),
/// jurisdiction (`eu`, `fedramp`) and location hint (`wnam`, `weur`, …).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ObjectRef {
    /// The object's name (`idFromName`).
    #[uniffi(default)]
    pub name: Option<String>,
    /// The object's hex id (`idFromString`).
    #[uniffi(default)]
    pub id: Option<String>,
    /// The namespace; the client's default when `None`.
    #[uniffi(default)]
    pub namespace: Option<String>,
    /// Restricts the object to a jurisdiction.
    #[uniffi(default)]
    pub jurisdiction: Option<String>,
    /// Where a new object should be placed.
    #[uniffi(default)]
    pub location_hint: Option<String>,
}

impl TryFrom<ObjectRef> for cfd::ObjectRef {
    type Error = DurableObjectError;

    fn try_from(o: ObjectRef) -> Result<Self> {
        let mut r = match (o.name, o.id) {
            (Some(name), None) => cfd::ObjectRef::name(name),
            (None, Some(id)) => cfd::ObjectRef::id(id),
            _ => {
                return Err(DurableObjectError::InvalidInput {
                    field: "object_name".into(),
                    reason: "an object reference takes exactly one of name or id".into(),
                })
            }
        };
        if let Some(ns) = o.namespace {
            r = r.in_namespace(ns);
        }
        if let Some(j) = o.jurisdiction {
            r = r.jurisdiction(j);
        }
        if let Some(h) = o.location_hint {
            r = r.location_hint(h);
        }
        Ok(r)
    }
}

/// What to list, and how (the core's `ListOptions`).
#[derive(Debug, Clone, Default, PartialEq, Eq, uniffi::Record)]
pub struct ListOptions {
    /// Only keys starting with this.
    #[uniffi(default)]
    pub prefix: Option<String>,
    /// Only keys at or after this one.
    #[uniffi(default)]
    pub start: Option<String>,
    /// Only keys before this one.
    #[uniffi(default)]
    pub end: Option<String>,
    /// Page size, 1 to 1000 (default 100).
    #[uniffi(default)]
    pub limit: Option<u32>,
    /// Walk from the last key backwards.
    #[uniffi(default)]
    pub reverse: bool,
}

impl From<ListOptions> for cfd::ListOptions {
    fn from(o: ListOptions) -> Self {
        cfd::ListOptions {
            prefix: o.prefix,
            start: o.start,
            end: o.end,
            limit: o.limit,
            reverse: o.reverse,
        }
    }
}

/// One stored entry: a key and its value as JSON text.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct FfiEntry {
    /// The key.
    pub key: String,
    /// The value, JSON text.
    pub value_json: String,
}

pub(crate) fn entries(entries: Vec<(String, Value)>) -> Vec<FfiEntry> {
    entries
        .into_iter()
        .map(|(key, value)| FfiEntry {
            key,
            value_json: to_json(&value),
        })
        .collect()
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct FfiListPage {
    /// The entries, in key order (reversed when asked).
    pub entries: Vec<FfiEntry>,
    /// Pass back for the next page; `None` when the walk is done.
    pub cursor: Option<String>,
}

/// One operation of a transaction (the core's `TxOp`).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum FfiTxOp {
    /// Read a key: `{"value": v}` or `{"value": null, "absent": true}`.
    Get {
        /// The key.
        key: String,
    },
    /// Write a key.
    Put {
        /// The key.
        key: String,
        /// The value, JSON text.
        value_json: String,
    },
    /// Delete a key: `{"deleted": bool}`.
    Delete {
        /// The key.
        key: String,
    },
    /// Abort everything with `Conflict` unless the key holds this value.
    CheckEquals {
        /// The key.
        key: String,
        /// The value, JSON text.
        value_json: String,
    },
    /// Abort everything with `Conflict` if the key exists.
    CheckAbsent {
        /// The key.
        key: String,
    },
}

impl FfiTxOp {
    pub(crate) fn into_core(self) -> Result<cfd::TxOp> {
        Ok(match self {
            FfiTxOp::Get { key } => cfd::TxOp::Get { key },
            FfiTxOp::Put { key, value_json } => cfd::TxOp::Put {
                key,
                value: parse_json("value", &value_json)?,
            },
            FfiTxOp::Delete { key } => cfd::TxOp::Delete { key },
            FfiTxOp::CheckEquals { key, value_json } => cfd::TxOp::CheckEquals {
                key,
                value: parse_json("value", &value_json)?,
            },
            FfiTxOp::CheckAbsent { key } => cfd::TxOp::CheckAbsent { key },
        })
    }
}

/// The condition of a conditional write (the core's `Condition`).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum FfiCondition {
    /// Write only if the current value equals this one (JSON text).
    Equals {
        /// The expected value, JSON text.
        value_json: String,
    },
    /// Write only if the key does not exist.
    Absent,
}

impl FfiCondition {
    pub(crate) fn into_core(self) -> Result<cfd::Condition> {
        Ok(match self {
            FfiCondition::Equals { value_json } => {
                cfd::Condition::Equals(parse_json("value", &value_json)?)
            }
            FfiCondition::Absent => cfd::Condition::Absent,
        })
    }
}

/// One method call, everything [`FfiClient::call_method`](crate::FfiClient::call_method)
/// needs in one record: the host lowers it into a single buffer, where five
/// arguments cost a JVM host five native allocations (JNA) per call.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct FfiMethodCall {
    /// The object.
    pub object_ref: ObjectRef,
    /// The method.
    pub method: String,
    /// Its params, JSON text.
    pub params_json: String,
    /// Its idempotency key; one is generated when `None`.
    #[uniffi(default)]
    pub idempotency_key: Option<String>,
    /// The call's own deadline in milliseconds; the client's when `None`.
    #[uniffi(default)]
    pub timeout_ms: Option<u64>,
}

/// One method call over a socket, in one record for the same reason as
/// [`FfiMethodCall`].
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct FfiSocketCall {
    /// The method.
    pub method: String,
    /// Its params, JSON text.
    pub params_json: String,
    /// Its idempotency key; one is generated when `None`.
    #[uniffi(default)]
    pub idempotency_key: Option<String>,
    /// The call's own deadline in milliseconds; the socket's when `None`.
    #[uniffi(default)]
    pub timeout_ms: Option<u64>,
}

/// One call of a batch.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct FfiBatchCall {
    /// The method.
    pub method: String,
    /// Its params, JSON text.
    pub params_json: String,
    /// Its idempotency key; one is generated when `None`.
    #[uniffi(default)]
    pub idempotency_key: Option<String>,
}

impl FfiBatchCall {
    pub(crate) fn into_core(self) -> Result<cfd::BatchCall> {
        Ok(cfd::BatchCall {
            params: parse_json("params", &self.params_json)?,
            method: self.method,
            idempotency_key: self.idempotency_key,
        })
    }
}

/// The outcome of one call of a batch: its result or its error.
#[derive(Debug, uniffi::Enum)]
pub enum FfiBatchOutcome {
    /// The call returned this result (JSON text).
    Success {
        /// The result, JSON text.
        result_json: String,
    },
    /// The call failed.
    Failure {
        /// Why.
        error: DurableObjectError,
    },
}

impl From<cfd::Result<Value>> for FfiBatchOutcome {
    fn from(r: cfd::Result<Value>) -> Self {
        match r {
            Ok(value) => FfiBatchOutcome::Success {
                result_json: to_json(&value),
            },
            Err(e) => FfiBatchOutcome::Failure { error: e.into() },
        }
    }
}

/// The outcome of one SQL statement.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct FfiSqlResult {
    /// Column names, in order.
    pub columns: Vec<String>,
    /// The rows as one JSON array of arrays (one value per column).
    pub rows_json: String,
    /// Rows the statement read.
    pub rows_read: u64,
    /// Rows the statement wrote.
    pub rows_written: u64,
}

impl From<cfd::SqlResult> for FfiSqlResult {
    fn from(r: cfd::SqlResult) -> Self {
        let rows = Value::Array(r.rows.into_iter().map(Value::Array).collect());
        FfiSqlResult {
            columns: r.columns,
            rows_json: to_json(&rows),
            rows_read: r.rows_read,
            rows_written: r.rows_written,
        }
    }
}

/// A Durable Objects namespace of the account (management API).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct NamespaceInfo {
    /// The namespace id.
    pub id: String,
    /// Its name.
    pub name: Option<String>,
    /// The Worker script that defines it.
    pub script: Option<String>,
    /// The class name (`class` in Cloudflare's API).
    pub class_name: Option<String>,
    /// Whether it uses SQLite storage.
    pub use_sqlite: Option<bool>,
}

/// One page of namespaces.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct NamespacePage {
    /// The namespaces.
    pub namespaces: Vec<NamespaceInfo>,
    /// This page's number (from 1).
    pub page: u32,
    /// How many there are in all, when the API said.
    pub total_count: Option<u64>,
    /// Whether a next page exists.
    pub has_more: bool,
}

impl From<cfd::NamespacePage> for NamespacePage {
    fn from(p: cfd::NamespacePage) -> Self {
        NamespacePage {
            namespaces: p
                .namespaces
                .into_iter()
                .map(|n| NamespaceInfo {
                    id: n.id,
                    name: n.name,
                    script: n.script,
                    class_name: n.class,
                    use_sqlite: n.use_sqlite,
                })
                .collect(),
            page: p.page,
            total_count: p.total_count,
            has_more: p.has_more,
        }
    }
}

/// An object of a namespace (management API).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ObjectInfo {
    /// The object's hex id.
    pub id: String,
    /// Whether it has stored data.
    pub has_stored_data: bool,
}

/// One page of objects.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ObjectPage {
    /// The objects.
    pub objects: Vec<ObjectInfo>,
    /// Pass back for the next page; `None` at the end.
    pub cursor: Option<String>,
}

impl From<cfd::ObjectPage> for ObjectPage {
    fn from(p: cfd::ObjectPage) -> Self {
        ObjectPage {
            objects: p
                .objects
                .into_iter()
                .map(|o| ObjectInfo {
                    id: o.id,
                    has_stored_data: o.has_stored_data,
                })
                .collect(),
            cursor: p.cursor,
        }
    }
}
