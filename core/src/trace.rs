//! W3C trace context (`traceparent`): carried on every request so one trace
//! follows a call from the host app into the object.

use rand::Rng;

use crate::error::{Error, InputField, Result};

/// A fresh `traceparent` (version 00, random trace and span ids, sampled).
pub(crate) fn generate() -> String {
    let mut rng = rand::rng();
    format!(
        "00-{:032x}-{:016x}-01",
        rng.random::<u128>() | 1,
        rng.random::<u64>() | 1
    )
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
