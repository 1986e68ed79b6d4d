//! Validation of names, keys, method names and payloads before anything is
//! sent, and their encoding as URL path segments.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::error::{Error, InputField, Result};

/// Longest object name, in bytes of UTF-8.
pub const MAX_OBJECT_NAME_BYTES: usize = 512;
/// Longest storage key, in bytes of UTF-8.
pub const MAX_KEY_BYTES: usize = 1024;
/// Longest method name, in bytes.
pub const MAX_METHOD_NAME_BYTES: usize = 128;
/// Largest JSON body the worker accepts, in bytes.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// Largest JSON state value the worker accepts, in bytes.
pub const MAX_VALUE_BYTES: usize = 128 * 1024;

/// Everything but the unreserved characters of RFC 3986, minus `.` too, so
/// that no segment can be a dot segment.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'~');

/// Checks an object name and returns it percent-encoded as one path segment.
pub fn object_name(name: &str) -> Result<String> {
    text_segment(
        name,
        InputField::ObjectName,
        "object name",
        MAX_OBJECT_NAME_BYTES,
    )
}

/// Checks a storage key and returns it percent-encoded as one path segment.
pub fn key(key: &str) -> Result<String> {
    text_segment(key, InputField::Key, "key", MAX_KEY_BYTES)
}

/// Checks a method name: an identifier that does not start with `_`.
pub fn method_name(method: &str) -> Result<&str> {
    let bad = |why: &str| {
        Err(Error::invalid(
            InputField::MethodName,
            format!("{method:?} {why}"),
        ))
    };
    let mut chars = method.chars();
    match chars.next() {
        None => return bad("is empty"),
        Some('_') => return bad("starts with '_' (reserved)"),
        Some(c) if !c.is_ascii_alphabetic() => return bad("must start with a letter"),
        _ => {}
    }
    if method.len() > MAX_METHOD_NAME_BYTES {
        return bad(&format!("is longer than {MAX_METHOD_NAME_BYTES} bytes"));
    }
    if !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return bad("may hold only ASCII letters, digits and '_'");
    }
    Ok(method)
}

/// Checks a hex object id (64 hex digits) and returns it lowercased.
pub fn object_id(hex: &str) -> Result<String> {
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Error::invalid(
            InputField::ObjectName,
            format!("object id {hex:?} is not 64 hex digits"),
        ));
    }
    Ok(hex.to_ascii_lowercase())
}

/// Checks a namespace name: `^[a-z][a-z0-9_]{0,62}$`.
pub fn namespace(ns: &str) -> Result<&str> {
    let ok = ns.len() <= 63
        && ns.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
        && ns
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !ok {
        return Err(Error::invalid(
            InputField::ObjectName,
            format!("namespace {ns:?} must match ^[a-z][a-z0-9_]{{0,62}}$"),
        ));
    }
    Ok(ns)
}

/// Checks a placement hint (jurisdiction or location): 1 to 32 of `[a-z0-9_-]`.
pub fn hint<'a>(what: &str, value: &'a str) -> Result<&'a str> {
    let ok = !value.is_empty()
        && value.len() <= 32
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if !ok {
        return Err(Error::invalid(
            InputField::Params,
            format!("{what} {value:?} must be 1 to 32 of a-z, 0-9, '_' and '-'"),
        ));
    }
    Ok(value)
}

/// Serializes a JSON body and checks it against the worker's size limit.
pub fn body(value: &impl serde::Serialize, field: InputField, limit: usize) -> Result<Vec<u8>> {
    let bytes = serde_json::to_vec(value)
        .map_err(|e| Error::invalid(field, format!("cannot be encoded as JSON: {e}")))?;
    if bytes.len() > limit {
        return Err(Error::invalid(
            field,
            format!(
                "is {} bytes of JSON, over the limit of {limit}",
                bytes.len()
            ),
        ));
    }
    Ok(bytes)
}

fn text_segment(text: &str, field: InputField, what: &str, limit: usize) -> Result<String> {
    if text.is_empty() {
        return Err(Error::invalid(field, format!("{what} is empty")));
    }
    if text.len() > limit {
        return Err(Error::invalid(
            field,
            format!("{what} is {} bytes, over the limit of {limit}", text.len()),
        ));
    }
    if text == "." || text == ".." {
        // URL parsers resolve these as dot segments even percent-encoded.
        return Err(Error::invalid(
            field,
            format!("{what} {text:?} is not allowed (URLs resolve it as a relative path)"),
        ));
    }
    if let Some(c) = text.chars().find(|c| c.is_control()) {
        return Err(Error::invalid(
            field,
            format!("{what} contains the control character {c:?}"),
        ));
    }
    Ok(utf8_percent_encode(text, SEGMENT).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn path_like_names_stay_one_segment() {
        for (name, encoded) in [
            ("counter", "counter"),
            ("a/b", "a%2Fb"),
            ("../x", "%2E%2E%2Fx"),
            ("...", "%2E%2E%2E"),
            ("%2F", "%252F"),
            ("é", "%C3%A9"),
            ("a?b#c", "a%3Fb%23c"),
        ] {
            assert_eq!(object_name(name).unwrap(), encoded);
        }
    }

    #[test]
    fn refuses_bad_names() {
        assert!(object_name("").is_err());
        assert!(object_name(&"x".repeat(MAX_OBJECT_NAME_BYTES + 1)).is_err());
        assert!(object_name("a\nb").is_err());
        assert!(key("\u{0}").is_err());
        assert!(key("..").is_err());
        assert!(object_name(".").is_err());
        assert!(object_name(&"x".repeat(MAX_OBJECT_NAME_BYTES)).is_ok());
    }

    #[test]
    fn method_names_are_identifiers() {
        for good in ["increment", "get_value", "A1"] {
            assert!(method_name(good).is_ok(), "{good}");
        }
        for bad in ["", "_private", "1x", "a-b", "a b", "../x", "é"] {
            assert!(method_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn body_limit() {
        let big = Value::String("x".repeat(MAX_VALUE_BYTES));
        assert!(body(&big, InputField::Value, MAX_VALUE_BYTES).is_err());
        assert!(body(&Value::Null, InputField::Value, MAX_VALUE_BYTES).is_ok());
    }
}
