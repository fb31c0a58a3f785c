//! ed25519 signatures over component bytes, for `plugins.require_signed`.
//!
//! A signature is detached: 64 bytes, stored next to the component as
//! `FILE.wasm.sig` in hex or base64. Keys are 32 bytes, hex or base64.
//!
//! **Must never:** accept a signature by a key not in the trusted list.

use base64::Engine as _;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};

/// Decodes hex or base64 (standard, padded or not).
pub fn decode(text: &str) -> Option<Vec<u8>> {
    let t = text.trim();
    if t.len().is_multiple_of(2) && t.chars().all(|c| c.is_ascii_hexdigit()) {
        return (0..t.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(t.get(i..i + 2)?, 16).ok())
            .collect();
    }
    base64::engine::general_purpose::STANDARD
        .decode(t)
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(t))
        .ok()
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `signature` over `component` was made by one of `trusted_keys`.
pub fn verify(component: &[u8], signature: &[u8], trusted_keys: &[String]) -> bool {
    let Ok(sig) = <[u8; 64]>::try_from(signature) else {
        return false;
    };
    let sig = Signature::from_bytes(&sig);
    trusted_keys.iter().any(|k| {
        decode(k)
            .and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok())
            .and_then(|b| VerifyingKey::from_bytes(&b).ok())
            .is_some_and(|key| key.verify(component, &sig).is_ok())
    })
}

/// Signs `component` with a 32-byte secret key; returns the signature.
pub fn sign(component: &[u8], secret_key: &[u8; 32]) -> [u8; 64] {
    SigningKey::from_bytes(secret_key).sign(component).to_bytes()
}

/// The public key of a 32-byte secret key.
pub fn public_key(secret_key: &[u8; 32]) -> [u8; 32] {
    SigningKey::from_bytes(secret_key).verifying_key().to_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_only_with_trusted_keys() {
        let secret = [7u8; 32];
        let other = [9u8; 32];
        let sig = sign(b"component", &secret);
        let trusted = vec![hex(&public_key(&secret))];
        assert!(verify(b"component", &sig, &trusted));
        assert!(!verify(b"component!", &sig, &trusted));
        assert!(!verify(b"component", &sig, &[hex(&public_key(&other))]));
        assert!(!verify(b"component", &sig[..10], &trusted));
        let b64 = base64::engine::general_purpose::STANDARD.encode(public_key(&secret));
        assert!(verify(b"component", &sig, &[b64]));
    }
}
