//! Bytes as lowercase hexadecimal, the one spelling of SHA-256 digests everywhere dspex shows or
//! stores them: source hashes, cache keys, stored texts, model checksums.

use sha2::{Digest, Sha256};

/// `bytes` as lowercase hexadecimal, two digits per byte.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        text.push(char::from(DIGITS[usize::from(byte >> 4)]));
        text.push(char::from(DIGITS[usize::from(byte & 0xf)]));
    }
    text
}

/// The SHA-256 of `bytes`, in hexadecimal.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// The SHA-256 of `value`'s JSON text (`serde_json::to_string`), in hexadecimal, hashed as it
/// is written instead of building the text first.
pub fn sha256_json_hex(value: &impl serde::Serialize) -> Result<String, serde_json::Error> {
    let mut hasher = HashWriter(Sha256::new());
    serde_json::to_writer(&mut hasher, value)?;
    Ok(hex(&hasher.0.finalize()))
}

/// Feeds everything written to it to the hasher.
struct HashWriter(Sha256);

impl std::io::Write for HashWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.update(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_are_lowercase_hex() {
        assert_eq!(hex(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn a_json_digest_is_the_digest_of_the_json_text() {
        let value = serde_json::json!({"b": [1, 2.5, null], "a": "x\"y\n\u{e9}"});
        assert_eq!(
            sha256_json_hex(&value).unwrap(),
            sha256_hex(value.to_string().as_bytes())
        );
    }
}
