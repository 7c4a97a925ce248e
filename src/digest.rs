//! sha256 as serpent writes it: 64 lowercase hex digits, for sources, keys and packages alike.

use sha2::{Digest, Sha256};

/// The sha256 of `bytes`, in hex.
pub fn sha256(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// A digest in lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &byte in bytes {
        out.push(DIGITS[usize::from(byte >> 4)] as char);
        out.push(DIGITS[usize::from(byte & 0x0f)] as char);
    }
    out
}

/// Whether `text` is a sha256 as serpent writes one: exactly 64 lowercase hex digits (so it is
/// also safe as a file name).
pub fn is_sha256(text: &str) -> bool {
    text.len() == 64
        && text
            .bytes()
            .all(|byte| matches!(byte, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_and_names() {
        let hello = sha256(b"hello\n");
        assert_eq!(
            hello,
            "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"
        );
        assert!(is_sha256(&hello));
        assert!(!is_sha256(&hello.to_uppercase()));
        assert!(!is_sha256(&hello[1..]));
        assert!(!is_sha256(&format!("{}g", &hello[1..])));
        assert!(!is_sha256("../../etc/passwd"));
    }
}
