//! The client: the protocol's basic operations (initialize, methods, state)
//! and the door to WebSockets. The rest of the surface lives in `storage.rs`,
//! `alarms.rs`, `sql.rs`, `batch.rs` and `namespaces.rs`.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::HeaderValue;
use reqwest::Method;
use serde_json::{json, Map, Value};

use crate::config::Config;
use crate::error::{Error, InputField, Result};
use crate::idempotency;
use crate::object_ref::{Address, ObjectRef, ObjectRoute};
use crate::protocol;
use crate::trace;
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
    pub(crate) transport: Arc<Transport>,
    /// The caller's `traceparent`, checked, sent instead of a fresh one.
    traceparent: Option<HeaderValue>,
}

impl Client {
    /// Builds a client from a validated configuration.
    pub fn new(config: Config) -> Result<Self> {
        Ok(Client {
            transport: Arc::new(Transport::new(config)?),
            traceparent: None,
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

    /// A clone whose requests carry the caller's W3C `traceparent` (from the
    /// host's current span) instead of a fresh one.
    pub fn with_traceparent(&self, traceparent: &str) -> Result<Client> {
        Ok(Client {
            transport: self.transport.clone(),
            traceparent: Some(trace::header(trace::check(traceparent)?)?),
        })
    }

    /// Stores `state` (a JSON object) in the object, one key per member,
    /// atomically, and broadcasts each key to the object's sockets.
    pub async fn initialize(&self, object: impl Into<ObjectRef>, state: &Value) -> Result<()> {
        let object = object.into();
        let route = self.route(&object)?;
        if !state.is_object() {
            return Err(Error::invalid(
                InputField::Value,
                format!(
                    "state must be a JSON object, got {}",
                    protocol::type_name(state)
                ),
            ));
        }
        let (path, body) = match object.address() {
            Address::Name(_) => {
                let name_route = format!(
                    "{}/initialize{}",
                    route.ns,
                    &route.object["/object".len()..]
                );
                (
                    crate::object_ref::query(name_route, &route.hints, ""),
                    state.clone(),
                )
            }
            // `/initialize/{id}` takes names only; by id, a put of the entries
            // does the same (atomic, one broadcast per key).
            Address::Id(_) => (route.path("/storage/put", ""), json!({ "entries": state })),
        };
        let body = validate::body(&body, InputField::Value, validate::MAX_BODY_BYTES)?;
        let mut request = self.request("initialize", &object, Method::POST, path);
        request.body = Some(body.into());
        self.execute_unit(request).await
    }

    /// Calls `method` on the object with `params` and returns its result.
    /// Safe to retry: every call carries an idempotency key.
    pub async fn call_method(
        &self,
        object: impl Into<ObjectRef>,
        method: &str,
        params: &Value,
    ) -> Result<Value> {
        self.call_method_with(object, method, params, CallOptions::default())
            .await
    }

    /// [`call_method`](Self::call_method) with per-call options.
    pub async fn call_method_with(
        &self,
        object: impl Into<ObjectRef>,
        method: &str,
        params: &Value,
        options: CallOptions,
    ) -> Result<Value> {
        let object = object.into();
        let route = self.route(&object)?;
        let method = validate::method_name(method)?;
        let key = match options.idempotency_key {
            Some(key) => idempotency::check(key)?,
            None => idempotency::generate(),
        };
        let body = validate::body(params, InputField::Params, validate::MAX_BODY_BYTES)?;
        let mut request = self.request(
            "call_method",
            &object,
            Method::POST,
            route.path(&format!("/method/{method}"), ""),
        );
        request.method_name = Some(method.to_owned());
        request.body = Some(body.into());
        request.idempotency_key = Some(idempotency::header(key)?);
        if let Some(timeout) = options.timeout {
            request.timeout = timeout;
        }
        self.execute_object(request, |mut reply| {
            protocol::take_field(&mut reply, "result")
        })
        .await
    }

    /// The object's whole state, as a JSON object.
    pub async fn get_state(&self, object: impl Into<ObjectRef>) -> Result<Map<String, Value>> {
        let object = object.into();
        let path = self.route(&object)?.path("/state", "");
        self.execute_object(
            self.request("get_state", &object, Method::GET, path),
            |mut reply| protocol::take_object(&mut reply, "data"),
        )
        .await
    }

    /// One key of the object's state; [`Error::NotFound`] when absent.
    pub async fn get_state_key(&self, object: impl Into<ObjectRef>, key: &str) -> Result<Value> {
        let object = object.into();
        let path = self.key_path(&object, key)?;
        self.execute_object(
            self.request("get_state", &object, Method::GET, path),
            |mut reply| protocol::take_field(&mut reply, "value"),
        )
        .await
    }

    /// Sets one key of the object's state and broadcasts it.
    pub async fn update_state(
        &self,
        object: impl Into<ObjectRef>,
        key: &str,
        value: &Value,
    ) -> Result<()> {
        self.put_state(object.into(), key, value, None).await
    }

    /// Deletes one key of the object's state (no error when it was absent)
    /// and broadcasts the deletion.
    pub async fn delete_state(&self, object: impl Into<ObjectRef>, key: &str) -> Result<()> {
        let object = object.into();
        let path = self.key_path(&object, key)?;
        self.execute_unit(self.request("delete_state", &object, Method::DELETE, path))
            .await
    }

    /// Opens a WebSocket to the object. Returns once the first connection is
    /// up, or with the error that prevented it; later drops reconnect by
    /// themselves. Must be called within a tokio runtime.
    pub async fn websocket(&self, object: impl Into<ObjectRef>) -> Result<WebSocket> {
        let object = object.into();
        let route = self.route(&object)?;
        WebSocket::connect(self.transport.clone(), object.label(), route).await
    }

    /// `PUT …/state/{key}` with an optional condition member.
    pub(crate) async fn put_state(
        &self,
        object: ObjectRef,
        key: &str,
        value: &Value,
        condition: Option<(&str, Value)>,
    ) -> Result<()> {
        let path = self.key_path(&object, key)?;
        validate::body(value, InputField::Value, validate::MAX_VALUE_BYTES)?;
        let unconditional = condition.is_none();
        let mut body = Map::new();
        body.insert("value".into(), value.clone());
        if let Some((name, condition)) = condition {
            body.insert(name.into(), condition);
        }
        let body = validate::body(
            &Value::Object(body),
            InputField::Value,
            validate::MAX_BODY_BYTES,
        )?;
        let mut request = self.request("update_state", &object, Method::PUT, path);
        request.body = Some(Bytes::from(body));
        // A conditional write that succeeded would lose its race on a repeat.
        request.repeatable = unconditional;
        self.execute_unit(request).await
    }

    pub(crate) fn route(&self, object: &ObjectRef) -> Result<ObjectRoute> {
        object.route(self.config().default_namespace.as_deref())
    }

    fn key_path(&self, object: &ObjectRef, key: &str) -> Result<String> {
        let route = self.route(object)?;
        Ok(route.path(&format!("/state/{}", validate::key(key)?), ""))
    }

    /// Runs a request, parses its reply as a JSON object and reads it with
    /// `read`; a reply that fails either is reported as the request's error.
    pub(crate) async fn execute_object<T>(
        &self,
        request: Request,
        read: impl FnOnce(Map<String, Value>) -> Result<T>,
    ) -> Result<T> {
        self.transport
            .execute(request, |body| read(protocol::parse_object(&body)?))
            .await
    }

    /// Runs a request whose reply carries nothing the caller needs.
    pub(crate) async fn execute_unit(&self, request: Request) -> Result<()> {
        self.transport.execute(request, |_| Ok(())).await
    }

    /// A request for `object`, with this client's timeout and trace context.
    pub(crate) fn request(
        &self,
        operation: &'static str,
        object: &ObjectRef,
        http_method: Method,
        path: String,
    ) -> Request {
        self.request_labelled(operation, object.label(), http_method, path)
    }

    pub(crate) fn request_labelled(
        &self,
        operation: &'static str,
        label: String,
        http_method: Method,
        path: String,
    ) -> Request {
        Request {
            operation,
            object: label,
            method_name: None,
            http_method,
            path,
            body: None,
            idempotency_key: None,
            timeout: self.config().timeout,
            // A generated id is always a valid header value.
            traceparent: self
                .traceparent
                .clone()
                .or_else(|| trace::header(trace::generate()).ok()),
            base_url: None,
            repeatable: true,
        }
    }
}
