//! The one error type of the client, with a stable [`ErrorKind`] that every
//! binding maps to its host's idiom.

use std::time::Duration;

/// What part of the caller's input was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InputField {
    /// The object name.
    ObjectName,
    /// A storage key.
    Key,
    /// A method name.
    MethodName,
    /// Method parameters.
    Params,
    /// A state value, or a message sent over a socket.
    Value,
    /// A configuration setting.
    Config,
}

impl InputField {
    /// A stable snake_case name for the field.
    pub fn as_str(self) -> &'static str {
        match self {
            InputField::ObjectName => "object_name",
            InputField::Key => "key",
            InputField::MethodName => "method_name",
            InputField::Params => "params",
            InputField::Value => "value",
            InputField::Config => "config",
        }
    }
}

/// The stable classification of an [`Error`]; bindings map these one to one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The caller's input was refused before anything was sent.
    InvalidInput,
    /// The worker refused the credentials (401/403, or close code 1008).
    Unauthorized,
    /// The object, key, method or route does not exist.
    NotFound,
    /// The worker asked the client to slow down (429).
    RateLimited,
    /// The worker or the object failed (5xx).
    Server,
    /// Another unexpected HTTP status.
    Http,
    /// No answer within the configured time.
    Timeout,
    /// The connection could not be made or broke.
    Network,
    /// The worker answered something that is not the protocol.
    InvalidResponse,
    /// The WebSocket is closed for good.
    ConnectionClosed,
    /// The WebSocket's send queue is full while disconnected.
    QueueFull,
    /// A conditional write or transaction lost a race (409).
    Conflict,
}

impl ErrorKind {
    /// Every kind, in declaration order (used by the cross-language checks).
    pub const ALL: [ErrorKind; 12] = [
        ErrorKind::InvalidInput,
        ErrorKind::Unauthorized,
        ErrorKind::NotFound,
        ErrorKind::RateLimited,
        ErrorKind::Server,
        ErrorKind::Http,
        ErrorKind::Timeout,
        ErrorKind::Network,
        ErrorKind::InvalidResponse,
        ErrorKind::ConnectionClosed,
        ErrorKind::QueueFull,
        ErrorKind::Conflict,
    ];

    /// A stable snake_case name, the same in every language.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidInput => "invalid_input",
            ErrorKind::Unauthorized => "unauthorized",
            ErrorKind::NotFound => "not_found",
            ErrorKind::RateLimited => "rate_limited",
            ErrorKind::Server => "server_error",
            ErrorKind::Http => "http_error",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Network => "network_error",
            ErrorKind::InvalidResponse => "invalid_response",
            ErrorKind::ConnectionClosed => "connection_closed",
            ErrorKind::QueueFull => "queue_full",
            ErrorKind::Conflict => "conflict",
        }
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error from the client. Messages never contain the API token.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The caller's input was refused before anything was sent.
    #[error("invalid {}: {message}", field.as_str())]
    InvalidInput {
        /// Which input was refused.
        field: InputField,
        /// Why, with the offending path for nested values.
        message: String,
    },
    /// The worker refused the credentials.
    #[error("unauthorized ({status}): {message}")]
    Unauthorized {
        /// HTTP status (401 or 403), or the close code.
        status: u16,
        /// The worker's explanation.
        message: String,
    },
    /// The object, key, method or route does not exist.
    #[error("not found: {message}")]
    NotFound {
        /// The worker's explanation.
        message: String,
    },
    /// The worker asked the client to slow down.
    #[error("rate limited{}: {message}", retry_after.map(|d| format!(" (retry after {} ms)", d.as_millis())).unwrap_or_default())]
    RateLimited {
        /// How long the worker asked to wait, from `Retry-After`.
        retry_after: Option<Duration>,
        /// The worker's explanation.
        message: String,
    },
    /// The worker or the object failed.
    #[error("server error ({status}): {body}")]
    Server {
        /// HTTP status (5xx).
        status: u16,
        /// The error message or an excerpt of the body.
        body: String,
    },
    /// Another unexpected HTTP status.
    #[error("unexpected HTTP status {status}: {body}")]
    Http {
        /// HTTP status.
        status: u16,
        /// The error message or an excerpt of the body.
        body: String,
    },
    /// No answer within the configured time.
    #[error("timed out: {0}")]
    Timeout(String),
    /// The connection could not be made or broke.
    #[error("network error: {0}")]
    Network(String),
    /// The worker answered something that is not the protocol.
    #[error("invalid response: {0}")]
    InvalidResponse(String),
    /// The WebSocket is closed for good.
    #[error("connection closed{}: {reason}", code.map(|c| format!(" ({c})")).unwrap_or_default())]
    ConnectionClosed {
        /// The close code, when the peer sent one.
        code: Option<u16>,
        /// Why the connection ended.
        reason: String,
    },
    /// The WebSocket's send queue is full while disconnected.
    #[error("send queue full ({capacity} messages waiting for a reconnect)")]
    QueueFull {
        /// The queue's capacity.
        capacity: usize,
    },
    /// A conditional write or transaction lost a race.
    #[error("conflict: {message}")]
    Conflict {
        /// What did not match.
        message: String,
    },
}

impl Error {
    /// The stable classification of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::InvalidInput { .. } => ErrorKind::InvalidInput,
            Error::Unauthorized { .. } => ErrorKind::Unauthorized,
            Error::NotFound { .. } => ErrorKind::NotFound,
            Error::RateLimited { .. } => ErrorKind::RateLimited,
            Error::Server { .. } => ErrorKind::Server,
            Error::Http { .. } => ErrorKind::Http,
            Error::Timeout(_) => ErrorKind::Timeout,
            Error::Network(_) => ErrorKind::Network,
            Error::InvalidResponse(_) => ErrorKind::InvalidResponse,
            Error::ConnectionClosed { .. } => ErrorKind::ConnectionClosed,
            Error::QueueFull { .. } => ErrorKind::QueueFull,
            Error::Conflict { .. } => ErrorKind::Conflict,
        }
    }

    /// The HTTP status (or close code) behind this error, when there is one.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Unauthorized { status, .. }
            | Error::Server { status, .. }
            | Error::Http { status, .. } => Some(*status),
            Error::NotFound { .. } => Some(404),
            Error::RateLimited { .. } => Some(429),
            Error::Conflict { .. } => Some(409),
            Error::ConnectionClosed { code, .. } => *code,
            _ => None,
        }
    }

    /// How long the worker asked to wait, for [`ErrorKind::RateLimited`].
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::RateLimited { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The refused input field, for [`ErrorKind::InvalidInput`].
    pub fn input_field(&self) -> Option<InputField> {
        match self {
            Error::InvalidInput { field, .. } => Some(*field),
            _ => None,
        }
    }

    /// Whether a retry of the same request may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self.kind(),
            ErrorKind::Network | ErrorKind::Timeout | ErrorKind::Server | ErrorKind::RateLimited
        )
    }

    pub(crate) fn invalid(field: InputField, message: impl Into<String>) -> Self {
        Error::InvalidInput {
            field,
            message: message.into(),
        }
    }

    /// Builds the error for a non-success HTTP status, from the protocol's
    /// JSON error body when there is one, else from an excerpt of the body.
    #[cfg(test)]
    pub(crate) fn from_status(status: u16, body: &[u8], retry_after: Option<Duration>) -> Self {
        let (kind, message) = crate::protocol::parse_error_body(body);
        Self::from_remote(status, kind.as_deref(), message, retry_after)
    }

    /// Builds the error for a failure reported by the worker, by status and
    /// (when the worker named one) the protocol's error kind.
    pub(crate) fn from_remote(
        status: u16,
        kind: Option<&str>,
        message: String,
        retry_after: Option<Duration>,
    ) -> Self {
        match (status, kind) {
            (_, Some("conflict")) => Error::Conflict { message },
            (_, Some("invalid_input")) | (400 | 409 | 413 | 422, None) => {
                Error::invalid(InputField::Params, message)
            }
            (_, Some("unauthorized")) | (401 | 403, _) => Error::Unauthorized {
                status: if status == 0 { 401 } else { status },
                message,
            },
            (_, Some("not_found")) | (404, _) => Error::NotFound { message },
            (_, Some("rate_limited")) | (429, _) => Error::RateLimited {
                retry_after,
                message,
            },
            (_, Some("server_error")) | (500..=599, _) => Error::Server {
                status: if status == 0 { 500 } else { status },
                body: message,
            },
            _ => Error::Http {
                status,
                body: message,
            },
        }
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_have_distinct_stable_names() {
        let names: std::collections::HashSet<_> =
            ErrorKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(names.len(), ErrorKind::ALL.len());
    }

    #[test]
    fn status_maps_to_kind() {
        assert_eq!(
            Error::from_status(401, b"", None).kind(),
            ErrorKind::Unauthorized
        );
        assert_eq!(
            Error::from_status(404, b"nope", None).kind(),
            ErrorKind::NotFound
        );
        assert_eq!(
            Error::from_status(503, b"<html>", None).kind(),
            ErrorKind::Server
        );
        assert_eq!(
            Error::from_status(418, b"teapot", None).kind(),
            ErrorKind::Http
        );
        let limited = Error::from_status(429, b"", Some(Duration::from_secs(2)));
        assert_eq!(limited.retry_after(), Some(Duration::from_secs(2)));
    }

    #[test]
    fn protocol_body_gives_message() {
        let body = br#"{"error":{"kind":"not_found","message":"no method 'x'"}}"#;
        let err = Error::from_status(404, body, None);
        assert_eq!(err.to_string(), "not found: no method 'x'");
    }
}
