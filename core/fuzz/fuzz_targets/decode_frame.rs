//! Any text from a WebSocket peer decodes or is refused: never a panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = cloudflare_durable::fuzzing::decode_frame(text);
    }
});
