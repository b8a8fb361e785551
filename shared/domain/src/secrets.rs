//! Bearer secrets (API keys, session tokens, sign-in codes, claim tokens).
//!
//! Each is 32 random bytes shown once to its owner; only the SHA-256 is ever stored, so a
//! leaked table does not leak credentials.

use rand::RngCore;
use sha2::{Digest, Sha256};

/// A fresh secret with its prefix (`sk_`, `cs_`, …) and 32 bytes of OS randomness in hex.
pub fn new_secret(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("{prefix}{}", hex::encode(bytes))
}

/// The stored form of a secret.
pub fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

pub const API_KEY_PREFIX: &str = "sk_";
pub const SESSION_PREFIX: &str = "cs_";
pub const SIGN_IN_CODE_PREFIX: &str = "sic_";
pub const CLAIM_TOKEN_PREFIX: &str = "ct_";

/// Whether `s` is one of the secrets this system makes (a known prefix, then 64 hex digits; or
/// a webhook signing secret, `whsec_` and base64): what must never be written anywhere but to
/// its owner.
pub fn is_secret(s: &str) -> bool {
    let bearer = [API_KEY_PREFIX, SESSION_PREFIX, SIGN_IN_CODE_PREFIX, CLAIM_TOKEN_PREFIX].iter().any(|p| {
        s.strip_prefix(p).is_some_and(|rest| rest.len() == 64 && rest.bytes().all(|b| b.is_ascii_hexdigit()))
    });
    let signing = s.strip_prefix("whsec_").is_some_and(|rest| {
        rest.len() >= 32 && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b))
    });
    bearer || signing
}

/// The longest secret any endpoint accepts; longer input is refused before hashing.
pub const MAX_SECRET_LEN: usize = 128;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_random_and_hash_is_stable() {
        let a = new_secret(API_KEY_PREFIX);
        let b = new_secret(API_KEY_PREFIX);
        assert_ne!(a, b);
        assert_eq!(a.len(), 3 + 64);
        assert_eq!(hash(&a), hash(&a));
        assert_eq!(hash(&a).len(), 64);
        assert!(is_secret(&a) && is_secret(&new_secret(CLAIM_TOKEN_PREFIX)));
        assert!(is_secret(&crate::webhooks::new_secret()) && !is_secret("whsec_short"));
        assert!(!is_secret("sk_short") && !is_secret(&hash(&a)) && !is_secret("cs_test_a1b2"));
        assert!(!hash(&a).contains(&a));
    }
}
