//! Decoding of the wire protocol (`worker/PROTOCOL.md`): error bodies, HTTP
//! replies and WebSocket frames.

use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// The longest body excerpt kept in an error message, in bytes.
const EXCERPT_LIMIT: usize = 300;

/// Reads `{"error": {"kind", "message"}}`, or falls back to an excerpt of the
/// body for anything else (a proxy's HTML page, plain text).
pub(crate) fn parse_error_body(body: &[u8]) -> (Option<String>, String) {
    if let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(body) {
        match map.get("error") {
            Some(Value::Object(err)) => {
                let kind = err.get("kind").and_then(Value::as_str).map(str::to_owned);
                let message = err
                    .get("message")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .unwrap_or_else(|| excerpt(body));
                return (kind, message);
            }
            Some(Value::String(message)) => return (None, message.clone()),
            _ => {}
        }
        // Cloudflare's v4 API: {"success": false, "errors": [{"code", "message"}]}.
        if let Some(Value::Array(errors)) = map.get("errors") {
            let messages: Vec<String> = errors
                .iter()
                .filter_map(|e| {
                    let message = e.get("message")?.as_str()?;
                    Some(match e.get("code").and_then(Value::as_i64) {
                        Some(code) => format!("{message} (code {code})"),
                        None => message.to_owned(),
                    })
                })
                .collect();
            if !messages.is_empty() {
                return (None, excerpt(messages.join("; ").as_bytes()));
            }
        }
    }
    (None, excerpt(body))
}

/// At most [`EXCERPT_LIMIT`] bytes of a body as text, cut on a char boundary.
pub(crate) fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return "(empty body)".to_owned();
    }
    if text.len() <= EXCERPT_LIMIT {
        return text.to_owned();
    }
    let mut end = EXCERPT_LIMIT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// Parses a success body as a JSON object.
pub(crate) fn parse_object(body: &[u8]) -> Result<Map<String, Value>> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(Error::InvalidResponse(format!(
            "expected a JSON object, got {}",
            type_name(&other)
        ))),
        Err(e) => Err(Error::InvalidResponse(format!(
            "body is not JSON ({e}): {}",
            excerpt(body)
        ))),
    }
}

/// Takes a required member out of a reply object.
pub(crate) fn take_field(map: &mut Map<String, Value>, field: &str) -> Result<Value> {
    map.remove(field)
        .ok_or_else(|| Error::InvalidResponse(format!("reply has no \"{field}\" member")))
}

/// Takes a required member that must be a JSON object.
pub(crate) fn take_object(map: &mut Map<String, Value>, field: &str) -> Result<Map<String, Value>> {
    match take_field(map, field)? {
        Value::Object(object) => Ok(object),
        other => Err(Error::InvalidResponse(format!(
            "\"{field}\" is {}, not an object",
            type_name(&other)
        ))),
    }
}

/// Takes a required member that must be a JSON array.
pub(crate) fn take_array(map: &mut Map<String, Value>, field: &str) -> Result<Vec<Value>> {
    match take_field(map, field)? {
        Value::Array(items) => Ok(items),
        other => Err(Error::InvalidResponse(format!(
            "\"{field}\" is {}, not an array",
            type_name(&other)
        ))),
    }
}

/// The JSON type of a value, for messages.
pub(crate) fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A decoded server-to-client WebSocket frame.
#[derive(Debug)]
pub(crate) enum ServerFrame {
    /// The answer to a call made over the socket.
    Response {
        /// The call's id.
        id: String,
        /// The result, or the remote error.
        outcome: Result<Value>,
    },
    /// Anything delivered to the user: `init`, `update`, `resync`, `error`
    /// and user events; `seq` when the frame carries one.
    Message {
        /// The frame's `type`.
        kind: String,
        /// The frame's sequence number.
        seq: Option<u64>,
        /// The whole frame.
        value: Value,
    },
}

/// Decodes one text frame.
pub(crate) fn decode_frame(text: &str) -> Result<ServerFrame> {
    let value: Value = serde_json::from_str(text).map_err(|e| {
        Error::InvalidResponse(format!(
            "frame is not JSON ({e}): {}",
            excerpt(text.as_bytes())
        ))
    })?;
    let Value::Object(mut map) = value else {
        return Err(Error::InvalidResponse(format!(
            "frame is {}, not an object",
            type_name(&value)
        )));
    };
    let kind = match map.get("type") {
        Some(Value::String(kind)) => kind.clone(),
        _ => {
            return Err(Error::InvalidResponse(
                "frame has no string \"type\"".into(),
            ))
        }
    };
    if kind == "response" {
        let id = match map.get("id") {
            Some(Value::String(id)) => id.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => {
                return Err(Error::InvalidResponse(
                    "response frame has no \"id\"".into(),
                ))
            }
        };
        let success = map
            .get("success")
            .and_then(Value::as_bool)
            .unwrap_or(!map.contains_key("error"));
        let outcome = if success {
            Ok(map.remove("result").unwrap_or(Value::Null))
        } else {
            Err(remote_error(map.remove("error")))
        };
        return Ok(ServerFrame::Response { id, outcome });
    }
    let seq = map.get("seq").and_then(Value::as_u64);
    Ok(ServerFrame::Message {
        kind,
        seq,
        value: Value::Object(map),
    })
}

/// One result of a batch: `{"ok": true, "result"}` or `{"ok": false, "error"}`.
pub(crate) fn batch_result(item: Value) -> Result<Value> {
    match item {
        Value::Object(mut map) => match map.get("ok").and_then(Value::as_bool) {
            Some(true) => Ok(map.remove("result").unwrap_or(Value::Null)),
            Some(false) => Err(remote_error(map.remove("error"))),
            None => Err(Error::InvalidResponse(
                "batch result has no boolean \"ok\"".into(),
            )),
        },
        other => Err(Error::InvalidResponse(format!(
            "batch result is {}",
            type_name(&other)
        ))),
    }
}

/// Maps the `error` member of a `response` frame to an [`Error`].
fn remote_error(error: Option<Value>) -> Error {
    match error {
        Some(Value::Object(err)) => {
            let kind = err.get("kind").and_then(Value::as_str);
            let message = err
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("(no message)")
                .to_owned();
            Error::from_remote(0, kind, message, None)
        }
        Some(Value::String(message)) => Error::Server {
            status: 500,
            body: message,
        },
        _ => Error::Server {
            status: 500,
            body: "call failed without an error message".into(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn decodes_response_success_and_failure() {
        let ok =
            decode_frame(r#"{"type":"response","id":"7","success":true,"result":{"value":1}}"#)
                .unwrap();
        assert!(matches!(ok, ServerFrame::Response { ref id, outcome: Ok(_) } if id == "7"));
        let err = decode_frame(
            r#"{"type":"response","id":"8","success":false,"error":{"kind":"not_found","message":"no"}}"#,
        )
        .unwrap();
        match err {
            ServerFrame::Response {
                outcome: Err(e), ..
            } => assert_eq!(e.kind(), ErrorKind::NotFound),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn decodes_messages_with_seq() {
        match decode_frame(r#"{"type":"update","key":"value","value":3,"seq":12}"#).unwrap() {
            ServerFrame::Message { kind, seq, .. } => {
                assert_eq!(kind, "update");
                assert_eq!(seq, Some(12));
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn refuses_garbage() {
        for bad in [
            "",
            "nope",
            "[1]",
            "{}",
            r#"{"type":5}"#,
            r#"{"type":"response"}"#,
        ] {
            assert_eq!(
                decode_frame(bad).unwrap_err().kind(),
                ErrorKind::InvalidResponse,
                "{bad}"
            );
        }
    }

    #[test]
    fn excerpt_is_bounded_and_char_safe() {
        let long = "é".repeat(400);
        let cut = excerpt(long.as_bytes());
        assert!(cut.len() <= EXCERPT_LIMIT + "…".len());
        assert_eq!(
            parse_error_body(b"<html>oops</html>").1,
            "<html>oops</html>"
        );
    }
}
