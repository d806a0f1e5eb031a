//! CLKs (Cryptographic Long-term Keys) byte-identical to clkhash 0.18 for
//! linkage schema v3, and trialink's opt-in hardening.
//!
//! ```text
//! secret ──HKDF(kdf.hash, salt, info)──► K0/K1 per feature (ignored ones count)
//! value ──missingValue / format (date→%Y%m%d, integer→decimal)──► tokens
//!       ──ngram (padded, positional) | exact──► k bits per token
//!       ──blakeHash (BLAKE2b keyed K0, salt str(j)) | doubleHash (HMAC-SHA1 K0, HMAC-MD5 K1)
//!       ──OR over features, XOR-fold──► bits, bit 0 = MSB of byte 0 ──► base64
//! ```
//!
//! Bits are held as `u64` words in which bit position `p` is bit `63 − p mod 64`
//! of word `p / 64`, so that the big-endian bytes of the words are exactly
//! clkhash's serialisation, and popcounts (for Dice) work on whole words.
//!
//! Extensions under the schema's `"trialink"` key (see [`schema::Hardening`]):
//! record-level salting, randomised response, and keyed blocking keys
//! ([`ClkEncoder::blocking_keys`]). Salting and randomised response change
//! the bits, so such CLKs only link with CLKs made under the same schema.
//!
//! Modules: `secret` (the key material), `encoder` (the schema bound to a
//! secret, records to CLKs and blocking keys), `hashing` (tokens to bits),
//! `cache` (repeated tokens and values), `normalise` (values and
//! transforms), `codec` (base64), `describe` (schema digests and
//! descriptions), [`schema`] (parsing), [`row`] (the row engine).

pub mod blake2b;
mod cache;
mod codec;
pub mod datefmt;
mod describe;
mod encoder;
mod error;
mod hashing;
mod normalise;
pub mod prefixmac;
pub mod row;
pub mod run;
pub mod schema;
mod secret;

pub use cache::TokenCache;
pub use codec::{bytes_to_words, from_base64, push_base64, to_base64, to_bytes, ClkDecodeError};
pub use describe::schema_digest;
pub use encoder::{ClkEncoder, Scratch};
pub use error::{EncoderError, ValueError, ValueProblem};
pub use hashing::words_for;
pub use normalise::{
    apply_transform, apply_transform_into, field_filter, soundex, soundex_into, FIELD_FILTER_K,
};
pub use secret::{ClkSecret, SecretFileError};

#[cfg(test)]
mod tests {
    use super::normalise::{canonical_integer, day_number};
    use super::schema::Transform;
    use super::*;

    #[test]
    fn canonical_integers_like_python() {
        assert_eq!(canonical_integer(" +007 ").unwrap().0, "7");
        assert_eq!(canonical_integer("-0").unwrap().0, "0");
        assert_eq!(canonical_integer("-1_000").unwrap().0, "-1000");
        assert!(canonical_integer("1__0").is_none());
        assert!(canonical_integer("_1").is_none());
        assert!(canonical_integer("1.0").is_none());
        assert!(canonical_integer("").is_none());
    }

    #[test]
    fn value_length_cap_is_a_counted_reject_not_work() {
        let schema = schema::Schema::from_json(
            r#"{"version":3,"clkConfig":{"l":1024,"kdf":{"type":"HKDF"}},"features":[
              {"identifier":"name","format":{"type":"string"},"hashing":{"comparison":{"type":"ngram","n":2},"strategy":{"bitsPerToken":1024}}}]}"#,
        )
        .unwrap();
        let enc = ClkEncoder::new(schema, &ClkSecret::from_bytes(b"s")).unwrap();
        let at_cap = "a".repeat(schema::MAX_VALUE_BYTES);
        assert!(enc.encode(&[&at_cap]).is_ok());
        // Multi-byte characters count by bytes: 1025 bytes is over.
        let over = format!("{}é", "a".repeat(schema::MAX_VALUE_BYTES - 1));
        let e = enc.encode(&[&over]).unwrap_err();
        assert_eq!(e.problem, ValueProblem::ValueTooLong);
        assert_eq!(e.problem.code(), "value_too_long");
        assert_eq!(e.feature, "name");
        // A 300 KB cell is refused at once (it took ~2 minutes to hash).
        let huge = "b".repeat(300_000);
        let t = std::time::Instant::now();
        assert_eq!(
            enc.encode(&[&huge]).unwrap_err().problem,
            ValueProblem::ValueTooLong
        );
        assert!(t.elapsed().as_secs_f64() < 1.0);
        assert!(!e.to_string().contains("aaaa"));
    }

    #[test]
    fn soundex_examples() {
        assert_eq!(soundex("Robert"), "R163");
        assert_eq!(soundex("Rupert"), "R163");
        assert_eq!(soundex("Ashcraft"), "A261");
        assert_eq!(soundex("Tymczak"), "T522");
        assert_eq!(soundex("Pfister"), "P236");
        assert_eq!(soundex("Müller"), "M460");
        assert_eq!(soundex("O'Brien"), "O165");
        assert_eq!(soundex("123"), "");
    }

    #[test]
    fn postcode_district() {
        assert_eq!(apply_transform(Transform::PostcodeDistrict, "ec1a 1bb"), "EC1A");
        assert_eq!(apply_transform(Transform::PostcodeDistrict, "M1 1AE"), "M1");
        assert_eq!(apply_transform(Transform::PostcodeDistrict, "M1"), "M1");
        assert_eq!(apply_transform(Transform::PostcodeSector, "ec1a 1bb"), "EC1A1");
        assert_eq!(apply_transform(Transform::DayPairEven, "19700101"), "0");
        assert_eq!(apply_transform(Transform::DayPairOdd, "19700101"), "0");
        assert_eq!(apply_transform(Transform::DayPairEven, "19700102"), "0");
        assert_eq!(apply_transform(Transform::DayPairOdd, "19700102"), "1");
        assert_eq!(day_number("20000301"), Some(11_017));
        assert_eq!(day_number("19691231"), Some(-1));
        assert_eq!(apply_transform(Transform::DayPairEven, "2000"), "");
        // Over four years of consecutive dates (leap day included): dates
        // one day apart agree on exactly one day pair, two apart on none.
        let mut dates = Vec::new();
        for y in 1999..2003 {
            for m in 1..=12 {
                let days = [
                    31,
                    if y % 4 == 0 { 29 } else { 28 },
                    31,
                    30,
                    31,
                    30,
                    31,
                    31,
                    30,
                    31,
                    30,
                    31,
                ][m - 1];
                for d in 1..=days {
                    dates.push(format!("{y}{m:02}{d:02}"));
                }
            }
        }
        let pair = |d: &str| {
            (
                apply_transform(Transform::DayPairEven, d),
                apply_transform(Transform::DayPairOdd, d),
            )
        };
        for w in dates.windows(3) {
            let (a, b, c) = (pair(&w[0]), pair(&w[1]), pair(&w[2]));
            assert_eq!(u8::from(a.0 == b.0) + u8::from(a.1 == b.1), 1, "{w:?}");
            assert!(a.0 != c.0 && a.1 != c.1, "{w:?}");
        }
    }

    #[test]
    fn secret_file_loses_one_newline() {
        assert_eq!(ClkSecret::from_file_content(b"abc\n\n").expose(), b"abc\n");
        assert_eq!(ClkSecret::from_file_content(b"abc\r\n").expose(), b"abc");
        assert_eq!(ClkSecret::from_file_content(b"abc").expose(), b"abc");
        assert_eq!(
            format!("{:?}", ClkSecret::from_bytes(b"x")),
            "ClkSecret(<redacted>)"
        );
        assert_eq!(ClkSecret::from_trialink_key(&[1; 32]).expose().len(), 64);
    }
}
