//! Several method calls to one object in one round trip.

use reqwest::Method;
use serde_json::{json, Value};

use crate::client::Client;
use crate::error::{Error, InputField, Result};
use crate::idempotency;
use crate::object_ref::ObjectRef;
use crate::protocol;
use crate::validate;

/// Most calls in one batch.
pub const MAX_BATCH_CALLS: usize = 64;

/// One call of a batch.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchCall {
    /// The method.
    pub method: String,
    /// Its params.
    pub params: Value,
    /// Its idempotency key; one is generated when `None`.
    pub idempotency_key: Option<String>,
}

impl BatchCall {
    /// A call of `method` with `params`.
    pub fn new(method: impl Into<String>, params: Value) -> Self {
        BatchCall {
            method: method.into(),
            params,
            idempotency_key: None,
        }
    }
}

impl Client {
    /// Runs the calls in order, in one round trip; each gets its own result
    /// or error, and one failure does not stop the next. The request is safe
    /// to retry: each call carries its idempotency key.
    pub async fn batch(
        &self,
        object: impl Into<ObjectRef>,
        calls: &[BatchCall],
    ) -> Result<Vec<Result<Value>>> {
        let object = object.into();
        if calls.is_empty() || calls.len() > MAX_BATCH_CALLS {
            return Err(Error::invalid(
                InputField::Params,
                format!(
                    "a batch takes 1 to {MAX_BATCH_CALLS} calls, got {}",
                    calls.len()
                ),
            ));
        }
        let mut frames = Vec::with_capacity(calls.len());
        for call in calls {
            let key = match &call.idempotency_key {
                Some(key) => idempotency::check(key.clone())?,
                None => idempotency::generate(),
            };
            frames.push(json!({
                "method": validate::method_name(&call.method)?,
                "params": call.params,
                "idempotency_key": key,
            }));
        }
        let body = validate::body(
            &json!({ "calls": frames }),
            InputField::Params,
            validate::MAX_BODY_BYTES,
        )?;
        let path = self.route(&object)?.path("/batch", "");
        let mut request = self.request("batch", &object, Method::POST, path);
        request.body = Some(body.into());
        self.execute_object(request, |mut reply| {
            let results = protocol::take_array(&mut reply, "results")?;
            if results.len() != calls.len() {
                return Err(Error::InvalidResponse(format!(
                    "batch of {} calls got {} results",
                    calls.len(),
                    results.len()
                )));
            }
            Ok(results.into_iter().map(protocol::batch_result).collect())
        })
        .await
    }
}
