//! Idempotency keys: generated per call, or checked when the caller brings one.

use rand::Rng;
use reqwest::header::HeaderValue;

use crate::error::{Error, InputField, Result};

/// Longest idempotency key the protocol accepts.
pub const MAX_IDEMPOTENCY_KEY_BYTES: usize = 128;

/// A fresh random key: 128 bits as 32 hex digits.
pub(crate) fn generate() -> String {
    let mut key = String::with_capacity(32);
    crate::hex::push(&mut key, rand::rng().random::<u128>(), 32);
    key
}

/// A checked or generated key as a header value, without a copy.
pub(crate) fn header(key: String) -> Result<HeaderValue> {
    HeaderValue::try_from(key).map_err(|_| {
        Error::invalid(
            InputField::Params,
            "idempotency key is not a valid header value",
        )
    })
}

/// Checks a caller's key: 1 to 128 printable ASCII characters.
pub(crate) fn check(key: String) -> Result<String> {
    if key.is_empty()
        || key.len() > MAX_IDEMPOTENCY_KEY_BYTES
        || !key.bytes().all(|b| (0x21..=0x7e).contains(&b))
    {
        return Err(Error::invalid(
            InputField::Params,
            format!("idempotency key must be 1 to {MAX_IDEMPOTENCY_KEY_BYTES} printable ASCII characters"),
        ));
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    #[test]
    fn generated_keys_differ_and_pass_the_check() {
        let (a, b) = (super::generate(), super::generate());
        assert_ne!(a, b);
        assert_eq!(super::check(a).unwrap().len(), 32);
        assert!(super::check(String::new()).is_err());
        assert!(super::check("a b".into()).is_err());
    }
}
