//! Random secrets (session ids, API tokens) and their stored form.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// A secret handed to a client once. Its `Debug` hides the value, and it is not `Serialize`.
pub struct SecretToken(String);

impl SecretToken {
    /// 32 random bytes from the OS generator, URL-safe base64 (43 characters).
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Self(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// Wraps a value a client presented (cookie, header).
    pub fn from_presented(value: &str) -> Self {
        Self(value.to_owned())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The form stored in the database: hex SHA-256. Tokens carry 256 bits of entropy, so a fast
    /// hash is enough (no salt or stretching needed, unlike passwords).
    pub fn hash(&self) -> String {
        hex::encode(Sha256::digest(self.0.as_bytes()))
    }
}

impl fmt::Debug for SecretToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretToken(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_differ_and_are_url_safe() {
        let a = SecretToken::generate();
        let b = SecretToken::generate();
        assert_ne!(a.expose(), b.expose());
        assert_eq!(a.expose().len(), 43);
        assert!(a.expose().bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
    }

    #[test]
    fn the_hash_is_stable_and_not_the_token() {
        let t = SecretToken::from_presented("abc");
        assert_eq!(t.hash(), t.hash());
        assert_ne!(t.hash(), "abc");
        assert_eq!(t.hash().len(), 64);
    }

    #[test]
    fn debug_output_hides_the_token() {
        assert_eq!(format!("{:?}", SecretToken::generate()), "SecretToken(***)");
    }
}
