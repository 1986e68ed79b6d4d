//! Conversions between Erlang terms and JSON, written as explicit walks so
//! that atom-keyed maps work, integers beyond 64 bits and improper lists are
//! refused with the offending path, and nothing can panic on odd input.

use std::fmt::Write;

use cloudflare_durable::serde_json::{Map, Number, Value};
use rustler::types::map::MapIterator;
use rustler::{Binary, Encoder, Env, Term, TermType};

use crate::scheduler_budget::{self, OverBudget};

/// Deepest nesting accepted, so a pathological term cannot exhaust the stack.
const MAX_DEPTH: usize = 512;

/// Why a term was not converted.
#[derive(Debug)]
pub enum NotJson {
    /// It is not JSON: a human message naming the path (`params.a[2]`).
    Invalid(String),
    /// The NIF's budget on a normal scheduler ran out (see
    /// `scheduler_budget`): convert it again on a dirty scheduler.
    OverBudget,
}

impl From<OverBudget> for NotJson {
    fn from(_: OverBudget) -> Self {
        NotJson::OverBudget
    }
}

/// Converts a term to JSON, spending the running NIF's budget. `root` names
/// the value in messages (`params`).
pub fn term_to_json(term: Term, root: &str) -> Result<Value, NotJson> {
    let mut path = root.to_owned();
    walk(term, &mut path, 0)
}

fn fail(path: &str, what: impl std::fmt::Display) -> NotJson {
    NotJson::Invalid(format!("{path}: {what}"))
}

fn walk(term: Term, path: &mut String, depth: usize) -> Result<Value, NotJson> {
    if depth > MAX_DEPTH {
        return Err(fail(path, format!("nested deeper than {MAX_DEPTH} levels")));
    }
    scheduler_budget::spend(1)?;
    match term.get_type() {
        TermType::Atom => {
            let name = term
                .atom_to_string()
                .map_err(|_| fail(path, "unreadable atom"))?;
            Ok(match name.as_str() {
                "nil" => Value::Null,
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                _ => Value::String(name),
            })
        }
        TermType::Binary => Ok(Value::String(utf8(term, path)?)),
        TermType::Integer => {
            if let Ok(i) = term.decode::<i64>() {
                Ok(Value::from(i))
            } else if let Ok(u) = term.decode::<u64>() {
                Ok(Value::from(u))
            } else {
                Err(fail(path, "integer does not fit in 64 bits"))
            }
        }
        TermType::Float => {
            let f: f64 = term.decode().map_err(|_| fail(path, "unreadable float"))?;
            Number::from_f64(f)
                .map(Value::Number)
                .ok_or_else(|| fail(path, "non-finite float"))
        }
        TermType::List => list(term, path, depth),
        TermType::Map => map(term, path, depth),
        TermType::Tuple => Err(fail(path, "a tuple cannot be encoded as JSON (use a list)")),
        TermType::Pid => Err(fail(path, "a pid cannot be encoded as JSON")),
        TermType::Port => Err(fail(path, "a port cannot be encoded as JSON")),
        TermType::Ref => Err(fail(path, "a reference cannot be encoded as JSON")),
        TermType::Fun => Err(fail(path, "a function cannot be encoded as JSON")),
        _ => Err(fail(path, "this term cannot be encoded as JSON")),
    }
}

fn utf8(term: Term, path: &str) -> Result<String, NotJson> {
    let binary: Binary = term
        .decode()
        .map_err(|_| fail(path, "a bitstring cannot be encoded as JSON"))?;
    scheduler_budget::spend_text(binary.len())?;
    std::str::from_utf8(binary.as_slice())
        .map(str::to_owned)
        .map_err(|_| fail(path, "binary is not valid UTF-8"))
}

fn list(term: Term, path: &mut String, depth: usize) -> Result<Value, NotJson> {
    let mut items = Vec::new();
    let mut rest = term;
    loop {
        if rest.is_empty_list() {
            return Ok(Value::Array(items));
        }
        let Ok((head, tail)) = rest.list_get_cell() else {
            return Err(fail(path, "improper list cannot be encoded as JSON"));
        };
        let len = path.len();
        // Into the path's own buffer: no allocation per element.
        let _ = write!(path, "[{}]", items.len());
        let item = walk(head, path, depth + 1);
        path.truncate(len);
        items.push(item?);
        rest = tail;
    }
}

fn map(term: Term, path: &mut String, depth: usize) -> Result<Value, NotJson> {
    let iter = MapIterator::new(term).ok_or_else(|| fail(path, "unreadable map"))?;
    let mut object = Map::new();
    for (key, value) in iter {
        let name = match key.get_type() {
            TermType::Atom => {
                let name = key
                    .atom_to_string()
                    .map_err(|_| fail(path, "unreadable atom key"))?;
                if name == "__struct__" {
                    let module = value.atom_to_string().unwrap_or_default();
                    return Err(fail(
                        path,
                        format!(
                            "struct {} cannot be encoded as JSON (convert it to a map)",
                            module.trim_start_matches("Elixir.")
                        ),
                    ));
                }
                name
            }
            TermType::Binary => utf8(key, path)?,
            _ => {
                return Err(fail(
                    path,
                    "map key is neither an atom nor a string, which JSON cannot hold",
                ))
            }
        };
        let len = path.len();
        path.push('.');
        path.push_str(&name);
        let converted = walk(value, path, depth + 1);
        path.truncate(len);
        object.insert(name, converted?);
    }
    Ok(Value::Object(object))
}

/// Converts JSON to a term: objects become maps with string keys, `null`
/// becomes `nil`.
pub fn json_to_term<'a>(env: Env<'a>, value: &Value) -> Term<'a> {
    match value {
        Value::Null => rustler::types::atom::nil().encode(env),
        Value::Bool(b) => b.encode(env),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.encode(env)
            } else if let Some(u) = n.as_u64() {
                u.encode(env)
            } else {
                n.as_f64().unwrap_or(0.0).encode(env)
            }
        }
        Value::String(s) => s.encode(env),
        Value::Array(items) => items
            .iter()
            .map(|item| json_to_term(env, item))
            .collect::<Vec<_>>()
            .encode(env),
        Value::Object(object) => object_to_term(env, object),
    }
}

/// Largest map built in one `enif_make_map_from_arrays` call. Above 32 keys
/// the BEAM builds a hash map, and OTP 25 does that with scheduler-local
/// data: from a process-independent environment (a tokio thread, where
/// replies are built) it crashed the VM in `erts_qsort`. Bigger objects are
/// built by inserting one key at a time.
const FLATMAP_MAX: usize = 32;

/// A JSON object as a map with string keys.
pub fn object_to_term<'a>(env: Env<'a>, object: &Map<String, Value>) -> Term<'a> {
    let keys: Vec<Term> = object.keys().map(|k| k.encode(env)).collect();
    let values: Vec<Term> = object.values().map(|v| json_to_term(env, v)).collect();
    if keys.len() <= FLATMAP_MAX {
        // Keys of a JSON object are distinct, so this cannot fail.
        if let Ok(map) = Term::map_from_term_arrays(env, &keys, &values) {
            return map;
        }
    }
    keys.iter()
        .zip(values.iter())
        .fold(Term::map_new(env), |map, (k, v)| {
            map.map_put(*k, *v).unwrap_or(map)
        })
}
