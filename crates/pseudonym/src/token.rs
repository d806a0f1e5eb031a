//! Keyed tokens (docs/formats.md (tokens)).

use crate::dob::Dob;
use crate::hmac256::PrekeyedHmac;
use crate::key::{hexval, Key};
use crate::nhs::NhsNumber;
use std::fmt;

/// A 32-byte token: `HMAC-SHA256(scope key, domain-separated identifier)`.
/// A pseudonym, not a secret; shown as 64 lowercase hex characters.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Token(pub [u8; 32]);

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Token({})", &self.to_hex_string()[..12])
    }
}

/// A token column value that is not 64 hex characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("token is not 64 hexadecimal characters")]
pub struct TokenParseError;

const HEX: &[u8; 16] = b"0123456789abcdef";

impl Token {
    /// Lowercase hex into a fixed buffer (no allocation).
    pub fn to_hex(&self) -> [u8; 64] {
        let mut out = [0u8; 64];
        for (i, b) in self.0.iter().enumerate() {
            out[2 * i] = HEX[(b >> 4) as usize];
            out[2 * i + 1] = HEX[(b & 15) as usize];
        }
        out
    }

    /// Lowercase hex as a `String`.
    pub fn to_hex_string(&self) -> String {
        String::from_utf8(self.to_hex().to_vec()).expect("hex is ASCII")
    }

    /// Parse 64 hex characters (either case; surrounding whitespace trimmed).
    pub fn from_hex(s: &str) -> Result<Token, TokenParseError> {
        Self::from_hex_bytes(s.as_bytes())
    }

    /// As [`Token::from_hex`], over bytes.
    pub fn from_hex_bytes(s: &[u8]) -> Result<Token, TokenParseError> {
        let s = s.trim_ascii();
        if s.len() != 64 {
            return Err(TokenParseError);
        }
        let mut out = [0u8; 32];
        for (i, o) in out.iter_mut().enumerate() {
            let hi = hexval(s[2 * i]).ok_or(TokenParseError)?;
            let lo = hexval(s[2 * i + 1]).ok_or(TokenParseError)?;
            *o = (hi << 4) | lo;
        }
        Ok(Token(out))
    }
}

/// A pre-keyed HMAC-SHA256 state for one scope key: the SHA-256 chaining
/// values after `key ⊕ ipad` and `key ⊕ opad`, so a token costs two
/// compressions and the key is never re-hashed.
///
/// The state is as good as the key for making tokens, so it is treated as
/// key material: held in a boxed buffer (a move copies only the pointer)
/// that is zeroized on drop, `Debug` redacted, no `Display`, no `Serialize`.
/// The key bytes themselves are not kept.
#[derive(Clone)]
pub struct TokenKey {
    mac: PrekeyedHmac,
}

impl fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenKey(<redacted>)")
    }
}

impl TokenKey {
    /// Key the HMAC state with a scope key.
    pub fn new(key: &Key) -> TokenKey {
        TokenKey {
            mac: PrekeyedHmac::new(key.expose_secret()),
        }
    }

    /// `token_nhs_dob`: HMAC over `"trialink-token-v1" 0x00 "nhs_dob" 0x00 nhs10 0x00 dob_iso`.
    pub fn token_nhs_dob(&self, nhs: &NhsNumber, dob: &Dob) -> Token {
        // Built as one 47-byte message so the HMAC runs a single update.
        let mut msg = [0u8; 47];
        msg[..26].copy_from_slice(b"trialink-token-v1\0nhs_dob\0");
        msg[26..36].copy_from_slice(nhs.as_bytes());
        msg[36] = 0;
        msg[37..47].copy_from_slice(dob.iso().as_bytes());
        let t = self.mac_of(&msg);
        zeroize::Zeroize::zeroize(&mut msg);
        t
    }

    /// `token_nhs`: HMAC over `"trialink-token-v1" 0x00 "nhs" 0x00 nhs10`.
    pub fn token_nhs(&self, nhs: &NhsNumber) -> Token {
        let mut msg = [0u8; 32];
        msg[..22].copy_from_slice(b"trialink-token-v1\0nhs\0");
        msg[22..32].copy_from_slice(nhs.as_bytes());
        let t = self.mac_of(&msg);
        zeroize::Zeroize::zeroize(&mut msg);
        t
    }

    /// HMAC of an arbitrary domain-separated message under this key (for
    /// other keyed values such as blocking keys or invitation references).
    pub fn mac_of(&self, msg: &[u8]) -> Token {
        Token(self.mac.mac(msg))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn token_key_debug_is_redacted() {
        let key = Key::from_bytes(std::array::from_fn(|i| 0xa0 ^ i as u8));
        let tk = TokenKey::new(&key);
        let d = format!("{tk:?} {tk:#?}");
        assert_eq!(format!("{tk:?}"), "TokenKey(<redacted>)");
        let lower = d.to_lowercase();
        assert!(!lower.contains(&hex::encode(key.expose_secret())[..8]), "{d}");
        // Neither the keyed chaining values, in any radix or byte order.
        for w in tk.mac.state_words().iter().flatten() {
            for shown in [
                format!("{w:08x}"),
                format!("{:08x}", w.swap_bytes()),
                w.to_string(),
            ] {
                assert!(!lower.contains(&shown), "{d} shows {shown}");
            }
        }
        // Nor the fingerprint: a keyed state has no business naming its key.
        assert!(!d.contains(&key.fingerprint().to_string()), "{d}");
    }

    #[test]
    fn tokens_match_an_independent_hmac() {
        use hmac::{Hmac, Mac};
        let key = Key::from_bytes([9; 32]);
        let tk = TokenKey::new(&key);
        let nhs = NhsNumber::parse("9991335056").unwrap();
        let dob = Dob::parse(
            "1980-01-05",
            &crate::DobFormats::default(),
            crate::Date::new(2026, 11, 21).unwrap(),
        )
        .unwrap();
        let mut m = Hmac::<sha2::Sha256>::new_from_slice(&[9; 32]).unwrap();
        m.update(b"trialink-token-v1\x00nhs_dob\x009991335056\x001980-01-05");
        let want: [u8; 32] = m.finalize().into_bytes().into();
        assert_eq!(tk.token_nhs_dob(&nhs, &dob).0, want);
        let mut m = Hmac::<sha2::Sha256>::new_from_slice(&[9; 32]).unwrap();
        m.update(b"trialink-token-v1\x00nhs\x009991335056");
        let want: [u8; 32] = m.finalize().into_bytes().into();
        assert_eq!(tk.token_nhs(&nhs).0, want);
    }

    #[test]
    fn hex_round_trip_and_errors() {
        let t = Token([0x5a; 32]);
        assert_eq!(Token::from_hex(&t.to_hex_string()).unwrap(), t);
        assert_eq!(Token::from_hex(&t.to_hex_string().to_uppercase()).unwrap(), t);
        assert!(Token::from_hex("abc").is_err());
        assert!(Token::from_hex(&"g".repeat(64)).is_err());
    }

    proptest! {
        #[test]
        fn hex_parse_never_panics(s in "\\PC{0,70}") {
            let _ = Token::from_hex(&s);
        }
        #[test]
        fn hex_round_trips(b in proptest::array::uniform32(any::<u8>())) {
            let t = Token(b);
            prop_assert_eq!(Token::from_hex(&t.to_hex_string()).unwrap(), t);
        }
    }
}
