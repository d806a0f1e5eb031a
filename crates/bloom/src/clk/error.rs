//! Why an encoder cannot be built, and why one value cannot be encoded
//! (positions and reasons, never the value).

use super::*;

/// Why an encoder could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncoderError {
    /// HKDF cannot produce `2 × features × keySize` bytes (more than 255 hash blocks).
    #[error("the schema needs {needed} bytes of key material, more than HKDF can derive ({max}); use fewer features or a smaller keySize")]
    TooMuchKeyMaterial {
        /// Bytes needed.
        needed: usize,
        /// HKDF's limit for the hash.
        max: usize,
    },
    /// The secret is empty.
    #[error("the CLK secret is empty")]
    EmptySecret,
}

/// Why one value of a record could not be encoded. Names the feature and the
/// rule, never the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("feature `{feature}`: {problem}")]
pub struct ValueError {
    /// The feature's identifier (the CSV column).
    pub feature: String,
    /// What is wrong.
    pub problem: ValueProblem,
}

/// What is wrong with a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueProblem {
    /// Not a base-10 integer.
    #[error("expected a base-10 integer")]
    NotAnInteger,
    /// Outside `minimum..=maximum`.
    #[error("integer outside the schema's range")]
    OutOfRange,
    /// Does not match the date format or is not a real date.
    #[error("expected a real date in the schema's format `{0}`")]
    NotADate(String),
    /// Not one of the enum's values.
    #[error("expected one of the schema's enum values")]
    NotInEnum,
    /// Shorter than `minLength`.
    #[error("shorter than minLength {0}")]
    TooShort(usize),
    /// Longer than `maxLength`.
    #[error("longer than maxLength {0}")]
    TooLong(usize),
    /// Not in the required case.
    #[error("expected {0} case")]
    WrongCase(&'static str),
    /// Does not match the string format's `pattern` in full.
    #[error("does not match the schema's pattern")]
    PatternMismatch,
    /// Has characters the encoding cannot represent.
    #[error("has characters that {0} cannot encode")]
    NotEncodable(&'static str),
    /// Longer than [`schema::MAX_VALUE_BYTES`] bytes: refused before any
    /// hashing, so one long cell cannot cost minutes.
    #[error(
        "longer than {} bytes (the encoder's limit for one value)",
        schema::MAX_VALUE_BYTES
    )]
    ValueTooLong,
}

impl ValueProblem {
    /// A short reason code for rejects files.
    pub fn code(&self) -> &'static str {
        match self {
            ValueProblem::NotAnInteger => "not_an_integer",
            ValueProblem::OutOfRange => "out_of_range",
            ValueProblem::NotADate(_) => "not_a_date",
            ValueProblem::NotInEnum => "not_in_enum",
            ValueProblem::TooShort(_) => "too_short",
            ValueProblem::TooLong(_) => "too_long",
            ValueProblem::WrongCase(_) => "wrong_case",
            ValueProblem::PatternMismatch => "pattern_mismatch",
            ValueProblem::NotEncodable(_) => "not_encodable",
            ValueProblem::ValueTooLong => "value_too_long",
        }
    }
}
