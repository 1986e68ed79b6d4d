//! The client: every HTTP operation of the protocol, and the door to
//! WebSockets.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use reqwest::Method;
use serde_json::{Map, Value};

use crate::config::Config;
use crate::error::{Error, InputField, Result};
use crate::idempotency;
use crate::protocol;
use crate::transport::{Request, Transport};
use crate::validate;
use crate::websocket::WebSocket;

/// Options of one method call.
#[derive(Debug, Clone, Default)]
pub struct CallOptions {
    /// The idempotency key; one is generated when `None`. Reuse a key to make
    /// a retry of your own return the first call's result.
    pub idempotency_key: Option<String>,
    /// Time limit of each attempt; the client's `timeout` when `None`.
    pub timeout: Option<Duration>,
}

/// A client for one worker. Cheap to clone: clones share the connection pool.
#[derive(Clone, Debug)]
pub struct Client {
    transport: Arc<Transport>,
}

impl Client {
    /// Builds a client from a validated configuration.
    pub fn new(config: Config) -> Result<Self> {
        Ok(Client {
            transport: Arc::new(Transport::new(config)?),
        })
    }

    /// Builds a client from the `CLOUDFLARE_*` environment variables.
    pub fn from_env() -> Result<Self> {
        Client::new(Config::from_env().build()?)
    }

    /// This client's configuration.
    pub fn config(&self) -> &Config {
        self.transport.config()
    }

    /// Stores `state` (a JSON object) in the object, one key per member,
    /// atomically, and broadcasts each key to the object's sockets.
    pub async fn initialize(&self, object: &str, state: &Value) -> Result<()> {
        let segment = validate::object_name(object)?;
        if !state.is_object() {
            return Err(Error::invalid(
                InputField::Value,
                format!(
                    "state must be a JSON object, got {}",
                    protocol::type_name(state)
                ),
            ));
        }
        let body = validate::body(state, InputField::Value, validate::MAX_BODY_BYTES)?;
        let request = self.request(
            "initialize",
            object,
            Method::POST,
            format!("/initialize/{segment}"),
        );
        self.transport
            .execute(Request {
                body: Some(body.into()),
                ..request
            })
            .await?;
        Ok(())
    }

    /// Calls `method` on the object with `params` and returns its result.
    /// Safe to retry: every call carries an idempotency key.
    pub async fn call_method(&self, object: &str, method: &str, params: &Value) -> Result<Value> {
        self.call_method_with(object, method, params, CallOptions::default())
            .await
    }

    /// [`call_method`](Self::call_method) with per-call options.
    pub async fn call_method_with(
        &self,
        object: &str,
        method: &str,
        params: &Value,
        options: CallOptions,
    ) -> Result<Value> {
        let segment = validate::object_name(object)?;
        let method = validate::method_name(method)?;
        let key = match options.idempotency_key {
            Some(key) => idempotency::check(key)?,
            None => idempotency::generate(),
        };
        let body = validate::body(params, InputField::Params, validate::MAX_BODY_BYTES)?;
        let mut request = self.request(
            "call_method",
            object,
            Method::POST,
            format!("/object/{segment}/method/{method}"),
        );
        request.method_name = Some(method.to_owned());
        request.body = Some(body.into());
        request.idempotency_key = Some(key);
        if let Some(timeout) = options.timeout {
            request.timeout = timeout;
        }
        let reply = self.transport.execute(request).await?;
        protocol::take_field(&mut protocol::parse_object(&reply)?, "result")
    }

    /// The object's whole state, as a JSON object.
    pub async fn get_state(&self, object: &str) -> Result<Map<String, Value>> {
        let segment = validate::object_name(object)?;
        let reply = self
            .transport
            .execute(self.request(
                "get_state",
                object,
                Method::GET,
                format!("/object/{segment}/state"),
            ))
            .await?;
        match protocol::take_field(&mut protocol::parse_object(&reply)?, "data")? {
            Value::Object(state) => Ok(state),
            other => Err(Error::InvalidResponse(format!(
                "\"data\" is {}, not an object",
                protocol::type_name(&other)
            ))),
        }
    }

    /// One key of the object's state; [`Error::NotFound`] when absent.
    pub async fn get_state_key(&self, object: &str, key: &str) -> Result<Value> {
        let path = key_path(object, key)?;
        let reply = self
            .transport
            .execute(self.request("get_state", object, Method::GET, path))
            .await?;
        protocol::take_field(&mut protocol::parse_object(&reply)?, "value")
    }

    /// Sets one key of the object's state and broadcasts it.
    pub async fn update_state(&self, object: &str, key: &str, value: &Value) -> Result<()> {
        let path = key_path(object, key)?;
        validate::body(value, InputField::Value, validate::MAX_VALUE_BYTES)?;
        let body = serde_json::to_vec(&serde_json::json!({ "value": value }))
            .map_err(|e| Error::invalid(InputField::Value, e.to_string()))?;
        let request = self.request("update_state", object, Method::PUT, path);
        self.transport
            .execute(Request {
                body: Some(Bytes::from(body)),
                ..request
            })
            .await?;
        Ok(())
    }

    /// Deletes one key of the object's state (no error when it was absent)
    /// and broadcasts the deletion.
    pub async fn delete_state(&self, object: &str, key: &str) -> Result<()> {
        let path = key_path(object, key)?;
        self.transport
            .execute(self.request("delete_state", object, Method::DELETE, path))
            .await?;
        Ok(())
    }

    /// Opens a WebSocket to the object. Returns once the first connection is
    /// up, or with the error that prevented it; later drops reconnect by
    /// themselves. Must be called within a tokio runtime.
    pub async fn websocket(&self, object: &str) -> Result<WebSocket> {
        let segment = validate::object_name(object)?;
        WebSocket::connect(self.transport.clone(), object.to_owned(), segment).await
    }

    fn request(
        &self,
        operation: &'static str,
        object: &str,
        http_method: Method,
        path: String,
    ) -> Request {
        Request {
            operation,
            object: object.to_owned(),
            method_name: None,
            http_method,
            path,
            body: None,
            idempotency_key: None,
            timeout: self.config().timeout,
        }
    }
}

fn key_path(object: &str, key: &str) -> Result<String> {
    let object = validate::object_name(object)?;
    let key = validate::key(key)?;
    Ok(format!("/object/{object}/state/{key}"))
}
