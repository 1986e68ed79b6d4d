//! Lower-case hexadecimal digits written straight into a string: the ids
//! made for every request (`traceparent`, idempotency keys), without the
//! cost of `core::fmt` on each call.

const DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Appends the low `digits` hex digits of `value` (at most 32), most
/// significant first, zero-padded: `push(s, 0xab, 4)` appends `"00ab"`.
pub(crate) fn push(out: &mut String, value: u128, digits: usize) {
    let digits = digits.min(32);
    let mut buf = [0u8; 32];
    for (i, byte) in buf[..digits].iter_mut().enumerate() {
        let shift = (digits - 1 - i) * 4;
        *byte = DIGITS[((value >> shift) & 0xf) as usize];
    }
    // Hex digits are ASCII, so this never fails.
    if let Ok(text) = std::str::from_utf8(&buf[..digits]) {
        out.push_str(text);
    }
}

#[cfg(test)]
mod tests {
    use super::push;

    #[test]
    fn matches_the_formatter_zero_padded() {
        for value in [
            0u128,
            1,
            0xab,
            u64::MAX as u128,
            u128::MAX,
            0x0123_4567_89ab_cdef,
        ] {
            let mut s = String::new();
            push(&mut s, value, 32);
            assert_eq!(s, format!("{value:032x}"));
            let mut s = String::from("x-");
            push(&mut s, value & u64::MAX as u128, 16);
            assert_eq!(s, format!("x-{:016x}", value & u64::MAX as u128));
        }
        let mut s = String::new();
        push(&mut s, 0xab, 4);
        assert_eq!(s, "00ab");
    }
}
