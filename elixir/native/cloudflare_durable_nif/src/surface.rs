//! The rest of the core's surface: storage batches, listing, transactions,
//! conditional writes, alarms, SQL, batched calls, object ids and the
//! management API. Same pattern as every call: check and convert the
//! arguments here, spawn the work, reply `{ref, result}`.

use cloudflare_durable::serde_json::{json, Map, Value};
use cloudflare_durable::{BatchCall, Condition, InputField, ListOptions, TxOp};
use rustler::types::tuple::get_tuple;
use rustler::{Encoder, Env, ResourceArc, Term};

use crate::errors::Failure;
use crate::scheduler_budget::{self, Outcome};
use crate::{checked, checked_payload, json, object_ref, optional_text, spawn_op, text};
use crate::{ClientRes, Reply};

/// A list, each element converted by `item` (given its index); `message`
/// is the error when `term` is not a list.
fn list_of<'a, T>(
    term: Term<'a>,
    field: InputField,
    message: &str,
    item: impl Fn(Term<'a>, usize) -> Result<T, Failure>,
) -> Result<Vec<T>, Failure> {
    // Cell by cell, each spending the NIF's budget: a long list moves the
    // NIF to a dirty scheduler instead of being walked here in one go.
    let mut items = Vec::new();
    let mut rest = term;
    while !rest.is_empty_list() {
        let (head, tail) = rest
            .list_get_cell()
            .map_err(|_| Failure::invalid(field, message))?;
        scheduler_budget::spend(1)?;
        items.push(item(head, items.len())?);
        rest = tail;
    }
    Ok(items)
}

/// A list of keys (binaries).
fn keys(term: Term) -> Result<Vec<String>, Failure> {
    list_of(
        term,
        InputField::Key,
        "keys must be a list of strings",
        |k, i| text(k, InputField::Key, &format!("keys[{i}]")),
    )
}

fn u32_arg(term: Term, what: &str) -> Result<u32, Failure> {
    term.decode::<u32>().map_err(|_| {
        Failure::invalid(
            InputField::Params,
            format!("{what} must be a non-negative integer"),
        )
    })
}

/// The elements of a tuple whose first element is an atom: `("put", [key, value])`.
fn tagged<'a>(term: Term<'a>, path: &str) -> Result<(String, Vec<Term<'a>>), Failure> {
    let bad = || {
        Failure::invalid(
            InputField::Params,
            format!("{path}: not a {{:op, …}} tuple"),
        )
    };
    let mut parts = get_tuple(term).map_err(|_| bad())?;
    if parts.is_empty() {
        return Err(bad());
    }
    let tag = parts.remove(0).atom_to_string().map_err(|_| bad())?;
    Ok((tag, parts))
}

#[rustler::nif]
fn get_many<'a>(
    env: Env<'a>,
    client: ResourceArc<ClientRes>,
    object: Term<'a>,
    key_list: Term<'a>,
    timeout: Term<'a>,
) -> Outcome<'a> {
    let args = [client.encode(env), object, key_list, timeout];
    checked_payload(env, "get_many", &args, || {
        let object = object_ref(object)?;
        let keys = keys(key_list)?;
        spawn_op(env, &client, timeout, |client| async move {
            let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
            Ok(Reply::Object(client.get_many(object, &refs).await?))
        })
    })
}

#[rustler::nif]
fn put_many<'a>(
    env: Env<'a>,
    client: ResourceArc<ClientRes>,
    object: Term<'a>,
    entries: Term<'a>,
    timeout: Term<'a>,
) -> Outcome<'a> {
    let args = [client.encode(env), object, entries, timeout];
    checked_payload(env, "put_many", &args, || {
        let object = object_ref(object)?;
        let entries = match json(entries, InputField::Value, "entries")? {
            Value::Object(map) => map,
            _ => return Err(Failure::invalid(InputField::Value, "entries must be a map")),
        };
        spawn_op(env, &client, timeout, |client| async move {
            client.put_many(object, &entries).await?;
            Ok(Reply::Ok)
        })
    })
}

#[rustler::nif]
fn delete_many<'a>(
    env: Env<'a>,
    client: ResourceArc<ClientRes>,
    object: Term<'a>,
    key_list: Term<'a>,
    timeout: Term<'a>,
) -> Outcome<'a> {
    let args = [client.encode(env), object, key_list, timeout];
    checked_payload(env, "delete_many", &args, || {
        let object = object_ref(object)?;
        let keys = keys(key_list)?;
        spawn_op(env, &client, timeout, |client| async move {
            let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
            Ok(Reply::Value(
                client.delete_many(object, &refs).await?.into(),
            ))
        })
    })
}

#[rustler::nif]
fn delete_all<'a>(
    env: Env<'a>,
    client: ResourceArc<ClientRes>,
    object: Term<'a>,
    timeout: Term<'a>,
) -> Term<'a> {
    checked(env, || {
        let object = object_ref(object)?;
        spawn_op(env, &client, timeout, |client| async move {
            Ok(Reply::Value(client.delete_all(object).await?.into()))
        })
    })
}

/// One page: replies `{:ok, %{"entries" => [[k, v], …], "cursor" => c | nil}}`.
/// `options` is `{prefix, start, end, limit, reverse}` (nil for unset).
#[rustler::nif]
fn list_page<'a>(
    env: Env<'a>,
    client: ResourceArc<ClientRes>,
    object: Term<'a>,
    options: Term<'a>,
    cursor: Term<'a>,
    timeout: Term<'a>,
) -> Term<'a> {
    checked(env, || {
        let object = object_ref(object)?;
        let bad = || {
            Failure::invalid(
                InputField::Params,
                "list options must be {prefix, start, end, limit, reverse}",
            )
        };
        let parts = get_tuple(options).map_err(|_| bad())?;
        let [prefix, start, end, limit, reverse] = parts.as_slice() else {
            return Err(bad());
        };
        let options = ListOptions {
            prefix: optional_text(*prefix, InputField::Key, "prefix")?,
            start: optional_text(*start, InputField::Key, "start")?,
            end: optional_text(*end, InputField::Key, "end")?,
            limit: if limit.is_atom() {
                None
            } else {
                Some(u32_arg(*limit, "limit")?)
            },
            reverse: reverse.decode::<bool>().map_err(|_| bad())?,
        };
        let cursor = optional_text(cursor, InputField::Params, "cursor")?;
        spawn_op(env, &client, timeout, |client| async move {
            let page = client
                .list_page(object, &options, cursor.as_deref())
                .await?;
            let entries: Vec<Value> = page
                .entries
                .into_iter()
                .map(|(k, v)| json!([k, v]))
                .collect();
            Ok(Reply::Value(
                json!({"entries": entries, "cursor": page.cursor}),
            ))
        })
    })
}

fn tx_op(term: Term, i: usize) -> Result<TxOp, Failure> {
    let path = format!("ops[{i}]");
    let (tag, args) = tagged(term, &path)?;
    let key = |t: Term| text(t, InputField::Key, &format!("{path}.key"));
    let value = |t: Term| json(t, InputField::Value, &format!("{path}.value"));
    Ok(match (tag.as_str(), args.as_slice()) {
        ("get", [k]) => TxOp::Get { key: key(*k)? },
        ("put", [k, v]) => TxOp::Put {
            key: key(*k)?,
            value: value(*v)?,
        },
        ("delete", [k]) => TxOp::Delete { key: key(*k)? },
        ("check", [k, v]) => TxOp::CheckEquals {
            key: key(*k)?,
            value: value(*v)?,
        },
        ("check_absent", [k]) => TxOp::CheckAbsent { key: key(*k)? },
        _ => {
            return Err(Failure::invalid(
                InputField::Params,
                format!(
                    "{path}: expected {{:get, key}}, {{:put, key, value}}, {{:delete, key}}, \
                     {{:check, key, value}} or {{:check_absent, key}}"
                ),
            ))
        }
    })
}

#[rustler::nif]
fn transaction<'a>(
    env: Env<'a>,
    client: ResourceArc<ClientRes>,
    object: Term<'a>,
    ops: Term<'a>,
    timeout: Term<'a>,
) -> Outcome<'a> {
    let args = [client.encode(env), object, ops, timeout];
    checked_payload(env, "transaction", &args, || {
        let object = object_ref(object)?;
        let ops = list_of(
            ops,
            InputField::Params,
            "ops must be a list of tuples",
            tx_op,
        )?;
        spawn_op(env, &client, timeout, |client| async move {
            Ok(Reply::Value(Value::Array(
                client.transaction(object, &ops).await?,
            )))
        })
    })
}

/// `condition` is `{:equals, value}` or `:absent`.
#[rustler::nif]
fn update_state_if<'a>(
    env: Env<'a>,
    client: ResourceArc<ClientRes>,
    object: Term<'a>,
    key: Term<'a>,
    value: Term<'a>,
    condition: Term<'a>,
    timeout: Term<'a>,
) -> Outcome<'a> {
    let args = [client.encode(env), object, key, value, condition, timeout];
    checked_payload(env, "update_state_if", &args, || {
        let object = object_ref(object)?;
        let key = text(key, InputField::Key, "key")?;
        let value = json(value, InputField::Value, "value")?;
        let condition = if condition.is_atom() {
            Condition::Absent
        } else {
            let (tag, args) = tagged(condition, "condition")?;
            match (tag.as_str(), args.as_slice()) {
                ("equals", [v]) => Condition::Equals(json(*v, InputField::Value, "if_equals")?),
                _ => {
                    return Err(Failure::invalid(
                        InputField::Params,
                        "condition must be {:equals, value} or :absent",
                    ))
                }
            }
        };
        spawn_op(env, &client, timeout, |client| async move {
            client
                .update_state_if(object, &key, &value, condition)
                .await?;
            Ok(Reply::Ok)
        })
    })
}

#[rustler::nif]
fn get_alarm<'a>(
    env: Env<'a>,
    client: ResourceArc<ClientRes>,
    object: Term<'a>,
    timeout: Term<'a>,
) -> Term<'a> {
    checked(env, || {
        let object = object_ref(object)?;
        spawn_op(env, &client, timeout, |client| async move {
            Ok(Reply::Value(client.get_alarm(object).await?.into()))
        })
    })
}

#[rustler::nif]
fn set_alarm<'a>(
    env: Env<'a>,
    client: ResourceArc<ClientRes>,
    object: Term<'a>,
    time_ms: Term<'a>,
    timeout: Term<'a>,
) -> Term<'a> {
    checked(env, || {
        let object = object_ref(object)?;
        let time_ms = time_ms.decode::<u64>().map_err(|_| {
            Failure::invalid(
                InputField::Params,
                "alarm time must be a non-negative integer (ms since the epoch)",
            )
        })?;
        spawn_op(env, &client, timeout, |client| async move {
            client.set_alarm(object, time_ms).await?;
            Ok(Reply::Ok)
        })
    })
}

#[rustler::nif]
fn delete_alarm<'a>(
    env: Env<'a>,
    client: ResourceArc<ClientRes>,
    object: Term<'a>,
    timeout: Term<'a>,
) -> Term<'a> {
    checked(env, || {
        let object = object_ref(object)?;
        spawn_op(env, &client, timeout, |client| async move {
            client.delete_alarm(object).await?;
            Ok(Reply::Ok)
        })
    })
}

/// Replies `{:ok, %{"columns", "rows", "rows_read", "rows_written"}}`.
#[rustler::nif]
fn sql<'a>(
    env: Env<'a>,
    client: ResourceArc<ClientRes>,
    object: Term<'a>,
    query: Term<'a>,
    params: Term<'a>,
    timeout: Term<'a>,
) -> Outcome<'a> {
    let args = [client.encode(env), object, query, params, timeout];
    checked_payload(env, "sql", &args, || {
        let object = object_ref(object)?;
        let query = text(query, InputField::Params, "query")?;
        let params = match json(params, InputField::Params, "params")? {
            Value::Array(items) => items,
            _ => {
                return Err(Failure::invalid(
                    InputField::Params,
                    "params must be a list",
                ))
            }
        };
        spawn_op(env, &client, timeout, |client| async move {
            let result = client.sql(object, &query, &params).await?;
            Ok(Reply::Value(json!({
                "columns": result.columns,
                "rows": result.rows,
                "rows_read": result.rows_read,
                "rows_written": result.rows_written,
            })))
        })
    })
}

fn batch_call(term: Term, i: usize) -> Result<BatchCall, Failure> {
    let path = format!("calls[{i}]");
    let bad = || {
        Failure::invalid(
            InputField::Params,
            format!("{path}: expected {{method, params}} or {{method, params, idempotency_key}}"),
        )
    };
    let parts = get_tuple(term).map_err(|_| bad())?;
    let (method, params, key) = match parts.as_slice() {
        [m, p] => (*m, *p, None),
        [m, p, k] => (*m, *p, Some(*k)),
        _ => return Err(bad()),
    };
    let mut call = BatchCall::new(
        text(method, InputField::MethodName, &format!("{path}.method"))?,
        json(params, InputField::Params, &format!("{path}.params"))?,
    );
    if let Some(key) = key {
        call.idempotency_key =
            optional_text(key, InputField::Params, &format!("{path}.idempotency_key"))?;
    }
    Ok(call)
}

/// Replies `{:ok, [{:ok, result} | {:error, detail}, …]}`.
#[rustler::nif]
fn batch<'a>(
    env: Env<'a>,
    client: ResourceArc<ClientRes>,
    object: Term<'a>,
    calls: Term<'a>,
    timeout: Term<'a>,
) -> Outcome<'a> {
    let args = [client.encode(env), object, calls, timeout];
    checked_payload(env, "batch", &args, || {
        let object = object_ref(object)?;
        let calls = list_of(
            calls,
            InputField::Params,
            "calls must be a list of tuples",
            batch_call,
        )?;
        spawn_op(env, &client, timeout, |client| async move {
            let results = client.batch(object, &calls).await?;
            Ok(Reply::Batch(
                results
                    .into_iter()
                    .map(|r| r.map_err(Failure::from))
                    .collect(),
            ))
        })
    })
}

#[rustler::nif]
fn new_unique_id<'a>(
    env: Env<'a>,
    client: ResourceArc<ClientRes>,
    namespace: Term<'a>,
    jurisdiction: Term<'a>,
    timeout: Term<'a>,
) -> Term<'a> {
    checked(env, || {
        let namespace = optional_text(namespace, InputField::ObjectName, "namespace")?;
        let jurisdiction = optional_text(jurisdiction, InputField::ObjectName, "jurisdiction")?;
        spawn_op(env, &client, timeout, |client| async move {
            let id = client
                .new_unique_id(namespace.as_deref(), jurisdiction.as_deref())
                .await?;
            Ok(Reply::Value(Value::String(id)))
        })
    })
}

#[rustler::nif]
fn namespace_object_id<'a>(
    env: Env<'a>,
    client: ResourceArc<ClientRes>,
    namespace: Term<'a>,
    name: Term<'a>,
    timeout: Term<'a>,
) -> Term<'a> {
    checked(env, || {
        let namespace = optional_text(namespace, InputField::ObjectName, "namespace")?;
        let name = text(name, InputField::ObjectName, "object name")?;
        spawn_op(env, &client, timeout, |client| async move {
            let id = client
                .namespace_object_id(namespace.as_deref(), &name)
                .await?;
            Ok(Reply::Value(Value::String(id)))
        })
    })
}

/// Replies `{:ok, %{"namespaces" => [...], "page", "total_count", "has_more"}}`.
#[rustler::nif]
fn list_namespaces<'a>(
    env: Env<'a>,
    client: ResourceArc<ClientRes>,
    page: Term<'a>,
    per_page: Term<'a>,
    timeout: Term<'a>,
) -> Term<'a> {
    checked(env, || {
        let page = u32_arg(page, "page")?;
        let per_page = u32_arg(per_page, "per_page")?;
        spawn_op(env, &client, timeout, |client| async move {
            let page = client.list_namespaces(page, per_page).await?;
            let namespaces: Vec<Value> = page
                .namespaces
                .into_iter()
                .map(|n| {
                    json!({"id": n.id, "name": n.name, "script": n.script,
                           "class": n.class, "use_sqlite": n.use_sqlite})
                })
                .collect();
            Ok(Reply::Value(json!({
                "namespaces": namespaces,
                "page": page.page,
                "total_count": page.total_count,
                "has_more": page.has_more,
            })))
        })
    })
}

/// Replies `{:ok, %{"objects" => [%{"id", "has_stored_data"}], "cursor"}}`.
#[rustler::nif]
fn list_objects<'a>(
    env: Env<'a>,
    client: ResourceArc<ClientRes>,
    namespace_id: Term<'a>,
    cursor: Term<'a>,
    page_size: Term<'a>,
    timeout: Term<'a>,
) -> Term<'a> {
    checked(env, || {
        let namespace_id = text(namespace_id, InputField::Params, "namespace id")?;
        let cursor = optional_text(cursor, InputField::Params, "cursor")?;
        let page_size = u32_arg(page_size, "limit")?;
        spawn_op(env, &client, timeout, |client| async move {
            let page = client
                .list_objects(&namespace_id, cursor.as_deref(), page_size)
                .await?;
            let objects: Vec<Value> = page
                .objects
                .into_iter()
                .map(|o| json!({"id": o.id, "has_stored_data": o.has_stored_data}))
                .collect();
            let mut reply = Map::new();
            reply.insert("objects".into(), Value::Array(objects));
            reply.insert("cursor".into(), page.cursor.into());
            Ok(Reply::Object(reply))
        })
    })
}
