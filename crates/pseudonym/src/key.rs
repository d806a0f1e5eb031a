//! Key material, fingerprints and HKDF scope derivation (docs/formats.md (key file)).

use crate::scope::Scope;
use ring::hkdf;
use sha2::{Digest, Sha256};
use std::fmt;
use zeroize::Zeroize;

/// 32 bytes of key material (a master key or a derived scope key).
///
/// Zeroized on drop; `Debug` shows only the fingerprint; no `Display`, no
/// `Serialize`, no `Clone` (derive again or re-read instead). The bytes are
/// reached only through [`Key::expose_secret`].
pub struct Key(Box<[u8; 32]>);

impl Drop for Key {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key(<redacted>, fingerprint {})", self.fingerprint())
    }
}

/// The public identifier of a key: the first 8 bytes of
/// `SHA-256("trialink-key-fingerprint-v1" || key)`, shown as 16 lowercase hex
/// characters. Safe to publish.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Fingerprint(pub [u8; 8]);

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl Fingerprint {
    /// Parse 16 hex characters.
    pub fn parse(s: &str) -> Option<Fingerprint> {
        let b = s.as_bytes();
        if b.len() != 16 {
            return None;
        }
        let mut out = [0u8; 8];
        for (i, o) in out.iter_mut().enumerate() {
            *o = (hexval(b[2 * i])? << 4) | hexval(b[2 * i + 1])?;
        }
        Some(Fingerprint(out))
    }
}

pub(crate) fn hexval(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

struct Len32;
impl hkdf::KeyType for Len32 {
    fn len(&self) -> usize {
        32
    }
}

/// Compare two byte strings in time independent of where they differ.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut acc = 0u8;
    for (x, y) in a.iter().zip(b) {
        acc |= x ^ y;
    }
    std::hint::black_box(acc) == 0
}

impl Key {
    /// A fresh 256-bit key from the operating system's random generator.
    pub fn generate() -> Result<Key, ring::error::Unspecified> {
        use ring::rand::SecureRandom;
        let mut k = Key(Box::new([0u8; 32]));
        ring::rand::SystemRandom::new().fill(&mut k.0[..])?;
        Ok(k)
    }

    /// Wrap existing bytes (the caller zeroizes its own copy).
    pub fn from_bytes(bytes: [u8; 32]) -> Key {
        let mut b = bytes;
        let k = Key(Box::new(b));
        b.zeroize();
        k
    }

    /// Build from a closure writing into the key buffer, so no copy of the
    /// secret is left on the stack (used by the key-file parser).
    pub(crate) fn fill_with<E>(f: impl FnOnce(&mut [u8; 32]) -> Result<(), E>) -> Result<Key, E> {
        let mut k = Key(Box::new([0u8; 32]));
        f(&mut k.0)?;
        Ok(k)
    }

    /// The key bytes. The only accessor.
    pub fn expose_secret(&self) -> &[u8; 32] {
        &self.0
    }

    /// This key's fingerprint.
    pub fn fingerprint(&self) -> Fingerprint {
        let mut h = Sha256::new();
        h.update(b"trialink-key-fingerprint-v1");
        h.update(&self.0[..]);
        let d = h.finalize();
        let mut f = [0u8; 8];
        f.copy_from_slice(&d[..8]);
        Fingerprint(f)
    }

    /// HKDF-SHA256(salt = "trialink-v1", ikm = self, info), 32 bytes.
    pub fn derive_info(&self, info: &[u8]) -> Key {
        let salt = hkdf::Salt::new(hkdf::HKDF_SHA256, b"trialink-v1");
        let prk = salt.extract(&self.0[..]);
        let infos = [info];
        let okm = prk
            .expand(&infos, Len32)
            .expect("32 bytes is a valid HKDF-SHA256 length");
        Key::fill_with(|buf| okm.fill(&mut buf[..])).expect("32 bytes is a valid HKDF-SHA256 length")
    }

    /// The scope key: HKDF-SHA256(salt = "trialink-v1", ikm = master, info =
    /// "scope:" || scope).
    pub fn derive(&self, scope: &Scope) -> Key {
        let mut info = Vec::with_capacity(6 + scope.as_str().len());
        info.extend_from_slice(b"scope:");
        info.extend_from_slice(scope.as_str().as_bytes());
        self.derive_info(&info)
    }

    /// The CLK secret for `encode --key` (docs/formats.md (CLK secret from a key)): the 64 lowercase hex
    /// characters of HKDF-SHA256(salt = "trialink-v1", ikm = key, info =
    /// "clk-secret"). Returned in a zeroizing string.
    pub fn clk_secret(&self) -> zeroize::Zeroizing<String> {
        let k = self.derive_info(b"clk-secret");
        let mut s = zeroize::Zeroizing::new(String::with_capacity(64));
        for b in k.expose_secret() {
            s.push(char::from(b"0123456789abcdef"[(b >> 4) as usize]));
            s.push(char::from(b"0123456789abcdef"[(b & 15) as usize]));
        }
        s
    }

    /// Constant-time equality of two keys.
    pub fn ct_eq(&self, other: &Key) -> bool {
        ct_eq(&self.0[..], &other.0[..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_differ() {
        let a = Key::generate().unwrap();
        let b = Key::generate().unwrap();
        assert!(!a.ct_eq(&b));
        assert_ne!(a.expose_secret(), &[0u8; 32]);
    }

    #[test]
    fn debug_shows_only_fingerprint() {
        let k = Key::from_bytes([0xab; 32]);
        let s = format!("{k:?}");
        assert!(!s.contains("abab"), "{s}");
        assert!(s.contains(&k.fingerprint().to_string()));
    }

    #[test]
    fn fingerprint_parse_round_trip() {
        let f = Key::from_bytes([1; 32]).fingerprint();
        assert_eq!(Fingerprint::parse(&f.to_string()), Some(f));
        assert_eq!(Fingerprint::parse("xyz"), None);
    }

    #[test]
    fn ct_eq_works() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
    }
}
