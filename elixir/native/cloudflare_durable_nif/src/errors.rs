//! Core errors as Elixir terms: `{reason, kind, message, status, retry_after_ms}`,
//! where `reason` is the original library's atom and `kind` the core's
//! stable `ErrorKind` name.

use cloudflare_durable::{Error, ErrorKind, InputField};
use rustler::{Atom, Encoder, Env, Term};

rustler::atoms! {
    invalid_object_id,
    invalid_key,
    invalid_method_name,
    invalid_params,
    invalid_data,
    invalid_config,
    unauthorized,
    not_found,
    rate_limited,
    server_error,
    http_error,
    timeout,
    network_error,
    invalid_response,
    connection_closed,
    queue_full,
    conflict,
    internal_error,
}

/// The kind of [`Failure::over_budget`].
const OVER_BUDGET: &str = "over_budget";

impl From<crate::scheduler_budget::OverBudget> for Failure {
    fn from(_: crate::scheduler_budget::OverBudget) -> Self {
        Failure::over_budget()
    }
}

/// An error ready to become a term; also built for failures found in the NIF
/// itself (bad terms) and for panics.
#[derive(Debug, Clone)]
pub struct Failure {
    reason: fn() -> Atom,
    kind: &'static str,
    message: String,
    status: Option<u16>,
    retry_after_ms: Option<u64>,
}

impl Failure {
    /// Refused input, with the field that decides the reason atom.
    pub fn invalid(field: InputField, message: impl Into<String>) -> Self {
        Failure {
            reason: field_reason(field),
            kind: ErrorKind::InvalidInput.as_str(),
            message: message.into(),
            status: None,
            retry_after_ms: None,
        }
    }

    /// The NIF's conversion budget on a normal scheduler ran out
    /// (`scheduler_budget`): a payload NIF then runs again on a dirty
    /// scheduler; no other NIF converts payloads, so none reports it.
    pub fn over_budget() -> Self {
        Failure {
            kind: OVER_BUDGET,
            ..Failure::internal("arguments too large to convert on a normal scheduler")
        }
    }

    /// Whether this is [`Failure::over_budget`].
    pub fn is_over_budget(&self) -> bool {
        self.kind == OVER_BUDGET
    }

    /// A bug caught at the boundary (a panic in a task).
    pub fn internal(message: impl Into<String>) -> Self {
        Failure {
            reason: internal_error,
            kind: "internal_error",
            message: message.into(),
            status: None,
            retry_after_ms: None,
        }
    }

    /// The `{reason, kind, message, status, retry_after_ms}` tuple.
    pub fn to_term<'a>(&self, env: Env<'a>) -> Term<'a> {
        (
            (self.reason)(),
            self.kind,
            self.message.as_str(),
            self.status,
            self.retry_after_ms,
        )
            .encode(env)
    }

    /// `{:error, detail}`.
    pub fn error_tuple<'a>(&self, env: Env<'a>) -> Term<'a> {
        (rustler::types::atom::error(), self.to_term(env)).encode(env)
    }
}

fn field_reason(field: InputField) -> fn() -> Atom {
    match field {
        InputField::ObjectName => invalid_object_id,
        InputField::Key => invalid_key,
        InputField::MethodName => invalid_method_name,
        InputField::Params => invalid_params,
        InputField::Value => invalid_data,
        InputField::Config => invalid_config,
    }
}

/// The reason atom of a kind (`field` decides it for refused input).
fn kind_reason(kind: ErrorKind, field: Option<InputField>) -> fn() -> Atom {
    match kind {
        ErrorKind::InvalidInput => field_reason(field.unwrap_or(InputField::Params)),
        ErrorKind::Unauthorized => unauthorized,
        ErrorKind::NotFound => not_found,
        ErrorKind::RateLimited => rate_limited,
        ErrorKind::Server => server_error,
        ErrorKind::Http => http_error,
        ErrorKind::Timeout => timeout,
        ErrorKind::Network => network_error,
        ErrorKind::InvalidResponse => invalid_response,
        ErrorKind::ConnectionClosed => connection_closed,
        ErrorKind::QueueFull => queue_full,
        ErrorKind::Conflict => conflict,
    }
}

impl Failure {
    /// A failure known only by its kind and message (from a core event).
    pub fn from_kind(kind: ErrorKind, message: &str) -> Self {
        Failure {
            reason: kind_reason(kind, None),
            kind: kind.as_str(),
            message: message.to_owned(),
            status: None,
            retry_after_ms: None,
        }
    }
}

impl From<&Error> for Failure {
    fn from(error: &Error) -> Self {
        let kind = error.kind();
        Failure {
            reason: kind_reason(kind, error.input_field()),
            kind: kind.as_str(),
            message: error.to_string(),
            status: error.status(),
            retry_after_ms: error
                .retry_after()
                .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        }
    }
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        Failure::from(&error)
    }
}
