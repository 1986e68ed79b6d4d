//! W3C trace context (`traceparent`): carried on every request so one trace
//! follows a call from the host app into the object.

use rand::Rng;
use reqwest::header::HeaderValue;

use crate::error::{Error, InputField, Result};

/// A fresh `traceparent` (version 00, random trace and span ids, sampled).
pub(crate) fn generate() -> String {
    let mut rng = rand::rng();
    let mut value = String::with_capacity(55);
    value.push_str("00-");
    crate::hex::push(&mut value, rng.random::<u128>() | 1, 32);
    value.push('-');
    crate::hex::push(&mut value, u128::from(rng.random::<u64>() | 1), 16);
    value.push_str("-01");
    value
}

/// `value` (generated or checked) as a header value, without a copy.
pub(crate) fn header(value: String) -> Result<HeaderValue> {
    HeaderValue::try_from(value).map_err(|_| {
        Error::invalid(
            InputField::Params,
            "traceparent is not a valid header value",
        )
    })
}

/// Checks a caller's `traceparent`: `00-<32 hex>-<16 hex>-<2 hex>`, ids not all zero.
pub(crate) fn check(value: &str) -> Result<String> {
    let parts: Vec<&str> = value.split('-').collect();
    let hex = |s: &str, n: usize| {
        s.len() == n
            && s.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    };
    let ok = parts.len() == 4
        && hex(parts[0], 2)
        && parts[0] != "ff"
        && hex(parts[1], 32)
        && hex(parts[2], 16)
        && hex(parts[3], 2)
        && parts[1].bytes().any(|b| b != b'0')
        && parts[2].bytes().any(|b| b != b'0');
    if !ok {
        return Err(Error::invalid(
            InputField::Params,
            format!(
                "traceparent {value:?} is not W3C trace context (00-<32 hex>-<16 hex>-<2 hex>)"
            ),
        ));
    }
    Ok(value.to_owned())
}

#[cfg(test)]
mod tests {
    #[test]
    fn generated_values_pass_the_check() {
        let tp = super::generate();
        assert_eq!(super::check(&tp).unwrap(), tp);
        assert!(super::check("00-00000000000000000000000000000000-0000000000000001-01").is_err());
        assert!(super::check("nope").is_err());
    }
}
