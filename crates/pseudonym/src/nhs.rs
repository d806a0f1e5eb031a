//! NHS numbers (docs/formats.md (identifiers)).

use std::fmt;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// A valid NHS number: ten ASCII digits passing the Modulus 11 check, not one
/// of the repeated-digit placeholders.
///
/// `Debug` is redacted; there is no `Display` and no `Serialize`. The digits
/// are reached only through [`NhsNumber::as_str`] and are zeroized on drop.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct NhsNumber([u8; 10]);

/// Why an NHS number was rejected. Never carries the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NhsError {
    /// Empty after trimming.
    #[error("NHS number is missing")]
    Missing,
    /// Not ten digits after removing spaces and hyphens.
    #[error("NHS number is not 10 digits (spaces and hyphens are allowed)")]
    Format,
    /// The Modulus 11 check digit does not match (or the check value is 10).
    #[error("NHS number fails the Modulus 11 check digit")]
    CheckDigit,
    /// One of `0000000000` … `9999999999`: a placeholder, not a number.
    #[error("NHS number is a repeated-digit placeholder")]
    Placeholder,
}

impl NhsError {
    /// A stable reason code for rejects files.
    pub fn code(self) -> &'static str {
        match self {
            NhsError::Missing => "nhs_missing",
            NhsError::Format => "nhs_format",
            NhsError::CheckDigit => "nhs_check_digit",
            NhsError::Placeholder => "nhs_placeholder",
        }
    }
}

/// The Modulus 11 check digit for nine digits (0–9 each), or `None` when the
/// check value is 10 (no valid number has these nine digits).
pub fn check_digit(first9: &[u8; 9]) -> Option<u8> {
    let sum: u32 = first9
        .iter()
        .enumerate()
        .map(|(i, &d)| d as u32 * (10 - i as u32))
        .sum();
    match 11 - (sum % 11) {
        11 => Some(0),
        10 => None,
        c => Some(c as u8),
    }
}

impl NhsNumber {
    /// Parse an NHS number: trim surrounding whitespace, remove ASCII spaces
    /// and hyphens, then require ten ASCII digits with a valid check digit.
    pub fn parse(input: &str) -> Result<NhsNumber, NhsError> {
        Self::parse_bytes(input.as_bytes())
    }

    /// As [`NhsNumber::parse`], over bytes (CSV fields need not be UTF-8).
    pub fn parse_bytes(input: &[u8]) -> Result<NhsNumber, NhsError> {
        Self::parse_trimmed(input.trim_ascii())
    }

    /// As [`NhsNumber::parse_bytes`], after normalising what is unambiguous
    /// ([`crate::normalise`]): Unicode spaces and hyphens, zero-width
    /// characters, Unicode decimal digits (full-width, Arabic-Indic …) and a
    /// leading `'`. For lists whose safety matters more than interchange
    /// strictness (objections, the cohort at invitation); docs/formats.md (identifiers)
    /// strict form stays [`NhsNumber::parse`].
    pub fn parse_normalised(input: &[u8]) -> Result<NhsNumber, NhsError> {
        match crate::normalise::normalise(input) {
            std::borrow::Cow::Borrowed(b) => Self::parse_trimmed(b),
            std::borrow::Cow::Owned(v) => Self::parse_trimmed(&zeroize::Zeroizing::new(v)),
        }
    }

    fn parse_trimmed(t: &[u8]) -> Result<NhsNumber, NhsError> {
        if t.is_empty() {
            return Err(NhsError::Missing);
        }
        let mut d = NhsNumber([0u8; 10]);
        let mut n = 0usize;
        for &c in t {
            match c {
                b' ' | b'-' => continue,
                b'0'..=b'9' => {
                    if n == 10 {
                        return Err(NhsError::Format);
                    }
                    d.0[n] = c;
                    n += 1;
                }
                _ => return Err(NhsError::Format),
            }
        }
        if n != 10 {
            return Err(NhsError::Format);
        }
        let mut first9 = [0u8; 9];
        for (i, v) in first9.iter_mut().enumerate() {
            *v = d.0[i] - b'0';
        }
        let check = check_digit(&first9);
        first9.zeroize();
        if check != Some(d.0[9] - b'0') {
            return Err(NhsError::CheckDigit);
        }
        if d.0.iter().all(|&c| c == d.0[0]) {
            return Err(NhsError::Placeholder);
        }
        Ok(d)
    }

    /// The normalised ten digits.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("ASCII digits")
    }

    /// The normalised ten digits as bytes.
    pub fn as_bytes(&self) -> &[u8; 10] {
        &self.0
    }
}

impl fmt::Debug for NhsNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NhsNumber(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_numbers() {
        assert_eq!(NhsNumber::parse("9434765919").unwrap().as_str(), "9434765919");
        assert_eq!(NhsNumber::parse(" 943 476 5919 ").unwrap().as_str(), "9434765919");
        assert_eq!(NhsNumber::parse("943-476-5919").unwrap().as_str(), "9434765919");
        assert_eq!(NhsNumber::parse("9434765918").unwrap_err(), NhsError::CheckDigit);
        assert_eq!(NhsNumber::parse("").unwrap_err(), NhsError::Missing);
        assert_eq!(NhsNumber::parse("   ").unwrap_err(), NhsError::Missing);
        assert_eq!(NhsNumber::parse("94347659190").unwrap_err(), NhsError::Format);
        assert_eq!(NhsNumber::parse("943476591").unwrap_err(), NhsError::Format);
        assert_eq!(NhsNumber::parse("943476591x").unwrap_err(), NhsError::Format);
        // docs/formats.md (identifiers) (and the shared vectors): ASCII digits only
        assert_eq!(
            NhsNumber::parse("９４３４７６５９１９").unwrap_err(),
            NhsError::Format
        );
        // unambiguous Unicode forms are normalised on request
        for messy in [
            "９４３４７６５９１９",
            "٩٤٣٤٧٦٥٩١٩",
            "'9434765919",
            "943\u{00A0}476\u{00A0}5919",
            "943\u{200B}476\u{200B}5919",
        ] {
            let n = NhsNumber::parse_normalised(messy.as_bytes()).unwrap();
            assert_eq!(n.as_str(), "9434765919", "{messy:?}");
        }
        let strict = |s: &str| NhsNumber::parse_normalised(s.as_bytes()).unwrap_err();
        assert_eq!(strict("''9434765919"), NhsError::Format);
        assert_eq!(strict("943476591\u{00B2}"), NhsError::Format);
    }

    #[test]
    fn placeholders_rejected() {
        for d in 0..=9u8 {
            let s: String = std::iter::repeat_n((b'0' + d) as char, 10).collect();
            let e = NhsNumber::parse(&s).unwrap_err();
            assert!(e == NhsError::Placeholder || e == NhsError::CheckDigit, "{d}");
        }
        assert_eq!(NhsNumber::parse("0000000000").unwrap_err(), NhsError::Placeholder);
    }

    #[test]
    fn debug_is_redacted() {
        let n = NhsNumber::parse("9434765919").unwrap();
        let s = format!("{n:?}");
        assert!(!s.contains("943"), "{s}");
    }

    proptest! {
        #[test]
        fn parse_never_panics(s in "\\PC{0,20}") {
            let _ = NhsNumber::parse(&s);
        }

        #[test]
        fn single_digit_errors_fail(first9 in proptest::array::uniform9(0u8..10), pos in 0usize..10, delta in 1u8..10) {
            if let Some(c) = check_digit(&first9) {
                let mut digits: Vec<u8> = first9.to_vec();
                digits.push(c);
                let good: String = digits.iter().map(|d| (b'0' + d) as char).collect();
                if NhsNumber::parse(&good).is_ok() {
                    digits[pos] = (digits[pos] + delta) % 10;
                    let bad: String = digits.iter().map(|d| (b'0' + d) as char).collect();
                    prop_assert!(NhsNumber::parse(&bad).is_err());
                }
            }
        }
    }
}
