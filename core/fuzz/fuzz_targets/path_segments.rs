//! Whatever the name or key, a valid one encodes to a single path segment
//! of unreserved characters and `%XX` escapes that decodes back to itself.
#![no_main]

use cloudflare_durable::validate;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    for encoded in [validate::object_name(text), validate::key(text)].into_iter().flatten() {
        assert!(
            encoded.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_~%".contains(&b)),
            "unsafe byte in {encoded:?}"
        );
        let decoded = percent_decode(&encoded);
        assert_eq!(decoded, text.as_bytes());
    }
    let _ = validate::method_name(text);
});

fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap();
            out.push(u8::from_str_radix(hex, 16).unwrap());
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}
