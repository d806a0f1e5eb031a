//! NHS number and date-of-birth parsing, key files, scope derivation and keyed
//! tokens: the edge where identifiers enter trialink's pseudonymised domain.
//!
//! * [`NhsNumber`] and [`Dob`] parse and validate identifiers exactly as
//!   docs/formats.md (identifiers) says. Both redact their `Debug`, have no `Display` and no
//!   `Serialize`, and zeroize on drop: a raw identifier lives only inside them.
//! * [`Key`] holds 32 bytes of key material (zeroized on drop, `Debug`
//!   redacted, one accessor). [`keyfile`] reads and writes the key file of docs/formats.md
//!   format; [`Scope`] enforces the scope grammar; [`Key::derive`] is the HKDF
//!   scope derivation; [`Key::fingerprint`] is safe to publish.
//! * [`TokenKey`] is a pre-keyed HMAC-SHA256 state producing the tokens of docs/formats.md;
//!   the keyed state is key material and is zeroized on drop.
//!
//! ```
//! use pseudonym::{Dob, DobFormats, Key, NhsNumber, Scope, TokenKey, Date};
//! let master = Key::from_bytes([7u8; 32]);
//! let scope = Scope::new("registry:bpor").unwrap();
//! let tk = TokenKey::new(&master.derive(&scope));
//! let nhs = NhsNumber::parse("999 133 5056").unwrap();
//! let dob = Dob::parse("1980-01-05", &DobFormats::default(), Date::new(2026, 11, 21).unwrap()).unwrap();
//! let token = tk.token_nhs_dob(&nhs, &dob);
//! assert_eq!(token.to_hex().len(), 64);
//! ```

#![forbid(unsafe_code)]

mod date;
mod dob;
#[cfg(any(fuzzing, test))]
pub mod fuzz_hooks;
pub mod hmac256;
mod key;
pub mod keyfile;
mod nhs;
pub mod normalise;
mod row;
mod scope;
mod token;
mod token_rows;

pub use date::Date;
pub use dob::{Dob, DobError, DobFormat, DobFormatError, DobFormats};
pub use key::{ct_eq, Fingerprint, Key};
pub use nhs::{NhsError, NhsNumber};
pub use normalise::normalise;
pub use row::{Objection, Pseudonymiser, RowField, RowReject, RowTokens};
pub use scope::{Scope, ScopeError};
pub use token::{Token, TokenKey, TokenParseError};
pub use token_rows::{PseudonymiseRun, TokenColumns, TokenOut, TokenRows, TokenTotals};

/// Fuzzing and property-test hooks: parse arbitrary input, never panic.
#[doc(hidden)]
pub mod hooks {
    /// Exercise every parser in this crate on arbitrary bytes.
    pub fn parse_any(data: &[u8]) {
        if let Ok(s) = std::str::from_utf8(data) {
            let _ = crate::keyfile::parse(s);
            let _ = crate::Scope::new(s);
            if let Ok(n) = crate::NhsNumber::parse(s) {
                // round trip: the normalised form parses to itself
                let again = crate::NhsNumber::parse(n.as_str()).expect("normalised NHS number reparses");
                assert_eq!(again.as_str(), n.as_str());
            }
            let as_of = crate::Date::new(2026, 11, 21).expect("valid date");
            if let Ok(d) = crate::Dob::parse(s, &crate::DobFormats::default(), as_of) {
                let iso = d.iso();
                let again = crate::Dob::parse(iso, &crate::DobFormats::default(), as_of)
                    .expect("normalised DOB reparses");
                assert_eq!(again.iso(), iso);
            }
            let _ = crate::DobFormat::new(s);
            let _ = crate::Token::from_hex(s);
        }
    }
}
