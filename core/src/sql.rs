//! SQL on an object's SQLite storage, for classes that opt in.

use reqwest::Method;
use serde_json::{json, Map, Value};

use crate::client::Client;
use crate::error::{Error, InputField, Result};
use crate::object_ref::ObjectRef;
use crate::protocol;
use crate::validate;

/// The outcome of one SQL statement.
#[derive(Debug, Clone, PartialEq)]
pub struct SqlResult {
    /// Column names, in order.
    pub columns: Vec<String>,
    /// Rows, each with one value per column.
    pub rows: Vec<Vec<Value>>,
    /// Rows the statement read.
    pub rows_read: u64,
    /// Rows the statement wrote.
    pub rows_written: u64,
}

impl Client {
    /// Runs one statement with bound parameters (`?` placeholders).
    pub async fn sql(
        &self,
        object: impl Into<ObjectRef>,
        query: &str,
        params: &[Value],
    ) -> Result<SqlResult> {
        let object = object.into();
        if query.trim().is_empty() {
            return Err(Error::invalid(InputField::Params, "SQL query is empty"));
        }
        for (i, p) in params.iter().enumerate() {
            if p.is_object() || p.is_array() {
                return Err(Error::invalid(
                    InputField::Params,
                    format!(
                        "params[{i}] is {}; SQL binds only scalars",
                        protocol::type_name(p)
                    ),
                ));
            }
        }
        let body = validate::body(
            &json!({"query": query, "params": params}),
            InputField::Params,
            validate::MAX_BODY_BYTES,
        )?;
        let path = self.route(&object)?.path("/sql", "");
        let mut request = self.request("sql", &object, Method::POST, path);
        request.body = Some(body.into());
        // A statement may write (an INSERT twice is two rows).
        request.repeatable = false;
        self.execute_object(request, sql_result).await
    }
}

/// Reads the reply of `…/sql`.
fn sql_result(mut reply: Map<String, Value>) -> Result<SqlResult> {
    let columns = protocol::take_array(&mut reply, "columns")?
        .into_iter()
        .map(|c| match c {
            Value::String(c) => Ok(c),
            _ => Err(Error::InvalidResponse("column name is not a string".into())),
        })
        .collect::<Result<Vec<_>>>()?;
    let rows = protocol::take_array(&mut reply, "rows")?
        .into_iter()
        .map(|r| match r {
            Value::Array(r) => Ok(r),
            _ => Err(Error::InvalidResponse("row is not an array".into())),
        })
        .collect::<Result<Vec<_>>>()?;
    let number = |name| reply.get(name).and_then(Value::as_u64).unwrap_or(0);
    Ok(SqlResult {
        rows_read: number("rows_read"),
        rows_written: number("rows_written"),
        columns,
        rows,
    })
}
